/* The CLI's configuration file: where the platform is, which CA to trust
 * and the tenant token. Written by `lambda up` with mode 0600; refused when
 * group or others can read it, as the token would be exposed. */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <jansson.h>

#include "client.h"
#include "lambda/json.h"
#include "lambda/log.h"
#include "lambda/secret.h"
#include "lambda/util.h"

const char *g_cli_config_path;

int cli_config_path(char *out, size_t out_size)
{
	const char *env;
	int n;

	if (g_cli_config_path)
		n = snprintf(out, out_size, "%s", g_cli_config_path);
	else if ((env = getenv("LAMBDA_CONFIG")) && *env)
		n = snprintf(out, out_size, "%s", env);
	else if ((env = getenv("XDG_CONFIG_HOME")) && *env == '/')
		n = snprintf(out, out_size, "%s/lambda/config.json", env);
	else if ((env = getenv("HOME")) && *env)
		n = snprintf(out, out_size, "%s/.config/lambda/config.json", env);
	else
		return LM_ENOENT;
	return n > 0 && (size_t)n < out_size ? 0 : LM_EINVAL;
}

void cli_config_clear(struct cli_config *cfg)
{
	free(cfg->endpoint);
	free(cfg->ca_file);
	lm_free_wiped(cfg->token);
	free(cfg->data_dir);
	free(cfg->audit_public_key);
	memset(cfg, 0, sizeof(*cfg));
}

static int dup_member(const json_t *doc, const char *key, bool required, char **out)
{
	const char *v = lm_json_str(doc, key);

	if (!v) {
		if (json_object_get(doc, key) || required)
			return LM_EFORMAT;
		return 0;
	}
	return (*out = strdup(v)) ? 0 : LM_ENOMEM;
}

int cli_config_load(struct cli_config *cfg)
{
	static const char *const keys[] = { "endpoint", "ca_file", "token", "data_dir",
						    "allow_simulated_insecure", "audit_public_key", NULL };
	char path[PATH_MAX], bad[64];
	struct cli_config c = { 0 };
	uint8_t *text = NULL;
	size_t size = 0;
	json_t *doc = NULL;
	int r;

	if ((r = cli_config_path(path, sizeof(path))) < 0)
		return r;
	/* No configuration is not an error here: callers that need one say so. */
	if (access(path, F_OK) < 0 && errno == ENOENT)
		return LM_ENOENT;
	if ((r = lm_file_read_private(path, 1 << 20, &text, &size)) < 0)
		return r;
	doc = json_loadb((const char *)text, size, 0, NULL);
	if (!doc || lm_json_only_keys(doc, keys, bad, sizeof(bad)) < 0) {
		lm_err("%s: not a lambda configuration%s%s", path, doc ? ": unknown field " : "", doc ? bad : "");
		r = LM_EFORMAT;
		goto out;
	}
	if ((r = dup_member(doc, "endpoint", true, &c.endpoint)) < 0 ||
	    (r = dup_member(doc, "ca_file", true, &c.ca_file)) < 0 ||
	    (r = dup_member(doc, "token", false, &c.token)) < 0 ||
	    (r = dup_member(doc, "data_dir", false, &c.data_dir)) < 0 ||
	    (r = dup_member(doc, "audit_public_key", false, &c.audit_public_key)) < 0) {
		if (r == LM_EFORMAT)
			lm_err("%s: endpoint and ca_file are required strings, token, data_dir and "
			       "audit_public_key optional ones", path);
		goto out;
	}
	if (json_object_get(doc, "allow_simulated_insecure") &&
	    !json_is_boolean(json_object_get(doc, "allow_simulated_insecure"))) {
		lm_err("%s: allow_simulated_insecure must be true or false", path);
		r = LM_EFORMAT;
		goto out;
	}
	c.allow_simulated_insecure = json_is_true(json_object_get(doc, "allow_simulated_insecure"));
	*cfg = c;
	memset(&c, 0, sizeof(c));
	r = 0;
out:
	cli_config_clear(&c);
	if (doc) {
		/* The token's copy inside the JSON tree is wiped too. */
		json_t *tok = json_object_get(doc, "token");

		if (json_is_string(tok))
			lm_memzero((char *)json_string_value(tok), json_string_length(tok));
	}
	json_decref(doc);
	lm_free_wiped_size(text, size);
	return r;
}

int cli_config_save(const struct cli_config *cfg, char *path_out, size_t path_size)
{
	char path[PATH_MAX], dir[PATH_MAX], *slash, *text = NULL;
	json_t *doc;
	int r;

	if ((r = cli_config_path(path, sizeof(path))) < 0) {
		lm_err("no place for the configuration: set HOME, XDG_CONFIG_HOME or LAMBDA_CONFIG");
		return r;
	}
	snprintf(dir, sizeof(dir), "%s", path);
	if ((slash = strrchr(dir, '/')) && slash != dir) {
		*slash = 0;
		if ((r = lm_mkdir_p(dir, 0700)) < 0)
			return r;
	}
	doc = json_pack("{s:s, s:s, s:s?, s:s?, s:b, s:s?}", "endpoint", cfg->endpoint, "ca_file", cfg->ca_file,
			"token", cfg->token, "data_dir", cfg->data_dir, "allow_simulated_insecure",
			cfg->allow_simulated_insecure, "audit_public_key", cfg->audit_public_key);
	if (!doc || !(text = json_dumps(doc, JSON_INDENT(2)))) {
		r = LM_ENOMEM;
		goto out;
	}
	if ((r = lm_file_write_replace(path, text, strlen(text), 0600)) < 0)
		goto out;
	snprintf(path_out, path_size, "%s", path);
out:
	if (doc) {
		json_t *tok = json_object_get(doc, "token");

		if (json_is_string(tok))
			lm_memzero((char *)json_string_value(tok), json_string_length(tok));
	}
	json_decref(doc);
	lm_free_wiped(text);
	return r;
}

bool cli_endpoint_is_loopback(const char *endpoint)
{
	char host[256];
	const char *p = endpoint, *end;
	struct in6_addr a6;
	struct in_addr a4;
	size_t n;

	if (!p)
		return false;
	if (strncmp(p, "https://", 8) == 0)
		p += 8;
	else if (strncmp(p, "http://", 7) == 0)
		p += 7;
	if (*p == '[') {	/* [v6]:port */
		end = strchr(++p, ']');
		if (!end)
			return false;
	} else {
		end = p + strcspn(p, ":/?#");
	}
	n = (size_t)(end - p);
	if (n == 0 || n >= sizeof(host))
		return false;
	memcpy(host, p, n);
	host[n] = 0;
	if (strcasecmp(host, "localhost") == 0)
		return true;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, host, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6);
	return false;
}
