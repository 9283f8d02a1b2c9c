/* The CLI's connection to its platform: reads the configuration, sends
 * JSON requests through lm_client and turns HTTP errors into LM_E* codes
 * with the server's message shown to the user. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "client.h"
#include "lambda/json.h"
#include "lambda/log.h"

static char g_endpoint[256];

int cli_connect(struct lm_client **out)
{
	struct cli_config cfg = { 0 };
	char path[4096] = "";
	int r;

	r = cli_config_load(&cfg);
	if (r == LM_ENOENT) {
		if (cli_config_path(path, sizeof(path)) == 0)
			cli_error("no platform configured (%s missing): run 'lambda up'", path);
		else
			cli_error("no platform configured: run 'lambda up'");
		return LM_EUNAVAIL;
	}
	if (r < 0) {
		cli_error("cannot read the configuration: %s", lm_strerror(r));
		return r;
	}
	/* Said here: libcurl would report a missing CA as a refused server. */
	if (access(cfg.ca_file, R_OK) != 0) {
		cli_error("the configuration's ca_file %s: %s", cfg.ca_file, strerror(errno));
		cli_config_clear(&cfg);
		return LM_EINVAL;
	}
	snprintf(g_endpoint, sizeof(g_endpoint), "%s", cfg.endpoint);
	r = lm_client_new(cfg.endpoint, cfg.ca_file, cfg.token, out);
	if (r < 0)
		cli_error("bad configuration: endpoint %s: %s", cfg.endpoint, lm_strerror(r));
	cli_config_clear(&cfg);
	return r;
}

static int status_code(long status)
{
	switch (status) {
	case 400: return LM_EINVAL;
	case 401:
	case 403: return LM_EDENIED;
	case 404: return LM_ENOENT;
	case 409: return LM_ESTATE;
	case 413: return LM_ETOOBIG;
	case 422: return LM_EWRONGKEY;	/* the released key does not open the volume */
	case 503: return LM_EUNAVAIL;	/* e.g. a control plane serving reads only */
	default: return LM_EIO;
	}
}

/* Prints the message of an error reply {"error": {"code", "message"}}. */
static void print_error(long status, const char *resp, size_t size)
{
	json_t *doc = json_loadb(resp, size, 0, NULL);
	const char *msg = lm_json_str(json_object_get(doc, "error"), "message");

	if (msg)
		cli_error("%s", msg);
	else
		cli_error("the platform answered HTTP %ld", status);
	json_decref(doc);
}

static int request(struct lm_client *c, const char *method, const char *path, const char *body, char **resp,
		   size_t *size)
{
	long status = 0;
	int r = lm_client_request(c, method, path, body, &status, resp, size);

	if (r == LM_EUNAVAIL) {
		cli_error("platform not reachable at %s: is it running? (lambda up)", g_endpoint[0] ? g_endpoint : "?");
		return r;
	}
	if (r == LM_EAUTH) {
		cli_error("TLS connection to %s refused: the server is not the configured platform", g_endpoint);
		return LM_EUNAVAIL;
	}
	if (r < 0) {
		cli_error("request to %s failed: %s", g_endpoint, lm_strerror(r));
		return r;
	}
	if (status < 200 || status > 299) {
		print_error(status, *resp, *size);
		free(*resp);
		*resp = NULL;
		return status_code(status);
	}
	return 0;
}

int cli_api(struct lm_client *c, const char *method, const char *path, json_t *body, json_t **resp)
{
	char *text = NULL, *reply = NULL;
	size_t size = 0;
	json_error_t jerr;
	json_t *doc;
	int r;

	if (body && !(text = json_dumps(body, JSON_COMPACT)))
		return LM_ENOMEM;
	r = request(c, method, path, text, &reply, &size);
	free(text);
	if (r < 0)
		return r;
	if (!resp) {
		free(reply);
		return 0;
	}
	doc = json_loadb(reply, size, 0, &jerr);
	free(reply);
	if (!doc) {
		cli_error("the platform sent malformed JSON: %s", jerr.text);
		return LM_EFORMAT;
	}
	*resp = doc;
	return 0;
}

int cli_api_raw(struct lm_client *c, const char *path, char **out, size_t *size)
{
	return request(c, "GET", path, NULL, out, size);
}
