/* Verification policies read from text: the JSON policy file of
 * docs/attestation.md "Policy file" and the command line's options, which
 * share one setter (lm_policy_set) so that a knob means the same in both.
 * The file is untrusted-ish input: strict types, no unknown keys. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "attest/attest_int.h"
#include "lambda/attest.h"
#include "lambda/log.h"
#include "lambda/util.h"

#define POLICY_JSON_MAX (1u << 20)

enum kind { K_BOOL, K_HEX, K_STR, K_LIST, K_INT };

struct knob {
	const char *key;
	enum kind kind;
};

/* Every key of the file, in the order of struct lm_policy. */
static const struct knob knobs[] = {
	{ "allow_simulated_insecure", K_BOOL },
	{ "allow_debug", K_BOOL },
	{ "expect_measurement", K_HEX },
	{ "nonce", K_HEX },
	{ "report_data", K_HEX },
	{ "at", K_STR },
	{ "collateral", K_STR },
	{ "certs", K_LIST },
	{ "root", K_STR },
	{ "accept_tcb", K_LIST },
	{ "mrenclave", K_HEX },
	{ "mrsigner", K_HEX },
	{ "mrtd", K_HEX },
	{ "rtmr0", K_HEX },
	{ "rtmr1", K_HEX },
	{ "rtmr2", K_HEX },
	{ "rtmr3", K_HEX },
	{ "host_data", K_HEX },
	{ "allow_migration_agent", K_BOOL },
	{ "deny_smt", K_BOOL },
	{ "max_vmpl", K_INT },
	{ "min_tcb", K_INT },
	{ "product", K_STR },
};

void lm_policy_file_init(struct lm_policy_file *pf)
{
	memset(pf, 0, sizeof(*pf));
}

void lm_policy_file_free(struct lm_policy_file *pf)
{
	if (!pf)
		return;
	free(pf->collateral);
	free(pf->root);
	for (size_t i = 0; i < LM_POLICY_CERTS_MAX; i++)
		free(pf->certs[i]);
	lm_policy_file_init(pf);
}

static const struct knob *knob_find(const char *key)
{
	for (size_t i = 0; i < sizeof(knobs) / sizeof(knobs[0]); i++)
		if (strcmp(knobs[i].key, key) == 0)
			return &knobs[i];
	return NULL;
}

/* Decodes hex text of exactly want bytes (want 0: 1..max bytes). */
static int set_hex(const char *key, const char *text, uint8_t *buf, size_t want, size_t max, size_t *size)
{
	size_t n = strlen(text);

	if (n == 0 || n % 2 || n / 2 > max || (want && n / 2 != want) || lm_hex_decode(buf, n / 2, text) < 0) {
		if (want)
			lm_err("policy: %s must be %zu bytes of hex", key, want);
		else
			lm_err("policy: %s must be 1 to %zu bytes of hex", key, max);
		return LM_EFORMAT;
	}
	if (size)
		*size = n / 2;
	return 0;
}

static int set_str(char **slot, const char *text)
{
	char *s = strdup(text);

	if (!s)
		return LM_ENOMEM;
	free(*slot);
	*slot = s;
	return 0;
}

static int set_accept_tcb(struct lm_policy *p, const char *text)
{
	char buf[512], *save = NULL, *tok;
	unsigned bits = 0;

	if (strlen(text) >= sizeof(buf) || !*text) {
		lm_err("policy: accept_tcb must list TCB statuses");
		return LM_EFORMAT;
	}
	snprintf(buf, sizeof(buf), "%s", text);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		enum lm_tcb_status s = lm_tcb_status_from_name(tok);

		if (s == LM_TCB_UNKNOWN) {
			lm_err("policy: accept_tcb: unknown TCB status \"%s\" (UpToDate, SWHardeningNeeded, "
			       "ConfigurationNeeded, ConfigurationAndSWHardeningNeeded, OutOfDate, "
			       "OutOfDateConfigurationNeeded, Revoked)",
			       tok);
			return LM_EFORMAT;
		}
		bits |= LM_TCB_ACCEPT(s);
	}
	if (!bits) {
		lm_err("policy: accept_tcb must list TCB statuses");
		return LM_EFORMAT;
	}
	p->accept_tcb = bits;
	return 0;
}

static int set_bool(const char *key, const char *text, bool *out)
{
	if (strcmp(text, "true") == 0)
		*out = true;
	else if (strcmp(text, "false") == 0)
		*out = false;
	else {
		lm_err("policy: %s must be true or false", key);
		return LM_EFORMAT;
	}
	return 0;
}

static int set_u64(const char *key, const char *text, uint64_t *out)
{
	char *end = NULL;
	unsigned long long v;

	errno = 0;
	if (!*text || *text == '-' || *text == '+' || *text == ' ')
		goto bad;
	v = strtoull(text, &end, strncmp(text, "0x", 2) == 0 || strncmp(text, "0X", 2) == 0 ? 16 : 10);
	if (errno || !end || *end)
		goto bad;
	*out = v;
	return 0;
bad:
	lm_err("policy: %s must be a decimal or 0x-prefixed hex number", key);
	return LM_EFORMAT;
}

/* expect_measurement: "sha256:", "sha384:" or "sha512:" hex of exactly
 * that digest's size, or bare hex of 32, 48 or 64 bytes. A shorter pin
 * would compare against nothing a platform measures and pins nothing. */
static int set_measurement(struct lm_policy_file *pf, const char *text)
{
	static const struct { const char *prefix; size_t size; } algs[] = {
		{ "sha256:", 32 }, { "sha384:", 48 }, { "sha512:", 64 },
	};
	struct lm_policy *p = &pf->policy;
	size_t want = 0, size;
	int r;

	if (strchr(text, ':')) {
		for (size_t i = 0; i < sizeof(algs) / sizeof(algs[0]); i++)
			if (strncasecmp(text, algs[i].prefix, 7) == 0)	/* "SHA384:" too */
				want = algs[i].size;
		if (!want) {
			lm_err("policy: expect_measurement must be hex or \"sha256:\", \"sha384:\", \"sha512:\" hex");
			return LM_EFORMAT;
		}
		text += 7;
	}
	if (want) {
		/* e.g. "policy: expect_measurement must be 48 bytes of hex" */
		if ((r = set_hex("expect_measurement", text, pf->measurement, want, want, &size)) < 0)
			return r;
	} else if ((r = set_hex("expect_measurement", text, pf->measurement, 0, LM_MEASUREMENT_MAX, &size)) < 0) {
		return r;
	} else if (size != 32 && size != 48 && size != 64) {
		lm_err("policy: expect_measurement is %zu bytes; a measurement is 32, 48 or 64 bytes "
		       "(64, 96 or 128 hex digits)", size);
		return LM_EFORMAT;
	}
	p->expect_measurement_size = size;
	p->expect_measurement = pf->measurement;
	return 0;
}

int lm_policy_set(struct lm_policy_file *pf, const char *key, const char *text)
{
	struct lm_policy *p;
	uint64_t u;
	int r;

	if (!pf || !key || !text)
		return LM_EINVAL;
	p = &pf->policy;
	if (!knob_find(key)) {
		lm_err("policy: unknown key \"%s\"", key);
		return LM_EINVAL;
	}
	if (strcmp(key, "allow_simulated_insecure") == 0)
		return set_bool(key, text, &p->allow_simulated_insecure);
	if (strcmp(key, "allow_debug") == 0)
		return set_bool(key, text, &p->allow_debug);
	if (strcmp(key, "allow_migration_agent") == 0)
		return set_bool(key, text, &p->allow_migration_agent);
	if (strcmp(key, "deny_smt") == 0)
		return set_bool(key, text, &p->deny_smt);
	if (strcmp(key, "expect_measurement") == 0)
		return set_measurement(pf, text);
	if (strcmp(key, "nonce") == 0) {
		if ((r = set_hex(key, text, pf->nonce, 0, LM_NONCE_MAX, &p->expect_nonce_size)) < 0)
			return r;
		p->expect_nonce = pf->nonce;
		return 0;
	}
	if (strcmp(key, "report_data") == 0) {
		if ((r = set_hex(key, text, pf->report_data, LM_REPORT_DATA_BYTES, LM_REPORT_DATA_BYTES, NULL)) < 0)
			return r;
		p->expect_report_data = pf->report_data;
		return 0;
	}
	if (strcmp(key, "mrenclave") == 0) {
		if ((r = set_hex(key, text, pf->mrenclave, 32, 32, NULL)) < 0)
			return r;
		p->expect_mrenclave = pf->mrenclave;
		return 0;
	}
	if (strcmp(key, "mrsigner") == 0) {
		if ((r = set_hex(key, text, pf->mrsigner, 32, 32, NULL)) < 0)
			return r;
		p->expect_mrsigner = pf->mrsigner;
		return 0;
	}
	if (strcmp(key, "mrtd") == 0) {
		if ((r = set_hex(key, text, pf->mrtd, 48, 48, NULL)) < 0)
			return r;
		p->expect_mrtd = pf->mrtd;
		return 0;
	}
	if (strncmp(key, "rtmr", 4) == 0) {
		int i = key[4] - '0';

		if ((r = set_hex(key, text, pf->rtmr[i], 48, 48, NULL)) < 0)
			return r;
		p->expect_rtmr[i] = pf->rtmr[i];
		return 0;
	}
	if (strcmp(key, "host_data") == 0) {
		if ((r = set_hex(key, text, pf->host_data, 32, 32, NULL)) < 0)
			return r;
		p->expect_host_data = pf->host_data;
		return 0;
	}
	if (strcmp(key, "accept_tcb") == 0)
		return set_accept_tcb(p, text);
	if (strcmp(key, "at") == 0) {
		time_t t;

		if (lm_time_parse(text, &t) < 0) {
			lm_err("policy: at must be an RFC 3339 time, e.g. 2026-01-24T10:30:00Z");
			return LM_EFORMAT;
		}
		p->at = t;
		return 0;
	}
	if (strcmp(key, "collateral") == 0 || strcmp(key, "root") == 0 || strcmp(key, "certs") == 0) {
		if (!*text) {
			lm_err("policy: %s must be a file name", key);
			return LM_EFORMAT;
		}
		if (strcmp(key, "collateral") == 0) {
			if ((r = set_str(&pf->collateral, text)) == 0)
				p->collateral_dir = pf->collateral;
			return r;
		}
		if (strcmp(key, "root") == 0) {
			if ((r = set_str(&pf->root, text)) == 0)
				p->root_file = pf->root;
			return r;
		}
		if (p->cert_file_count == LM_POLICY_CERTS_MAX) {
			lm_err("policy: certs: at most %d files", LM_POLICY_CERTS_MAX);
			return LM_ETOOBIG;
		}
		if ((r = set_str(&pf->certs[p->cert_file_count], text)) < 0)
			return r;
		p->cert_file_count++;
		p->cert_files = (const char *const *)pf->certs;
		return 0;
	}
	if (strcmp(key, "max_vmpl") == 0) {
		if ((r = set_u64(key, text, &u)) < 0)
			return r;
		if (u > 3) {
			lm_err("policy: max_vmpl must be 0 to 3");
			return LM_EFORMAT;
		}
		p->max_vmpl = (int)u;
		p->has_max_vmpl = true;
		return 0;
	}
	if (strcmp(key, "min_tcb") == 0)
		return set_u64(key, text, &p->min_tcb);
	/* product */
	if (strcmp(text, "Milan") && strcmp(text, "Genoa") && strcmp(text, "Turin")) {
		lm_err("policy: product must be Milan, Genoa or Turin");
		return LM_EFORMAT;
	}
	snprintf(pf->product, sizeof(pf->product), "%s", text);
	p->product = pf->product;
	return 0;
}

/* Applies one member of the file, after checking its JSON type. */
static int load_member(struct lm_policy_file *pf, const struct knob *k, const json_t *val)
{
	char num[32];
	size_t i;
	const json_t *item;
	int r;

	switch (k->kind) {
	case K_BOOL:
		if (!json_is_boolean(val))
			break;
		return lm_policy_set(pf, k->key, json_is_true(val) ? "true" : "false");
	case K_HEX:
	case K_STR:
		if (!json_is_string(val) || strlen(json_string_value(val)) != json_string_length(val))
			break;
		return lm_policy_set(pf, k->key, json_string_value(val));
	case K_INT:
		if (json_is_integer(val)) {
			if (json_integer_value(val) < 0)
				break;
			snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(val));
			return lm_policy_set(pf, k->key, num);
		}
		if (strcmp(k->key, "min_tcb") == 0 && json_is_string(val))
			return lm_policy_set(pf, k->key, json_string_value(val));
		break;
	case K_LIST:
		if (!json_is_array(val) || json_array_size(val) == 0)
			break;
		if (strcmp(k->key, "accept_tcb") == 0) {
			char list[512] = "";
			size_t n = 0;

			json_array_foreach(val, i, item) {
				if (!json_is_string(item))
					goto type;
				n += (size_t)snprintf(list + n, sizeof(list) - n, "%s%s", i ? "," : "",
						      json_string_value(item));
				if (n >= sizeof(list) || strchr(json_string_value(item), ',')) {
					lm_err("policy: accept_tcb: not a list of TCB statuses");
					return LM_EFORMAT;
				}
			}
			return lm_policy_set(pf, k->key, list);
		}
		json_array_foreach(val, i, item) {
			if (!json_is_string(item))
				goto type;
			if ((r = lm_policy_set(pf, k->key, json_string_value(item))) < 0)
				return r;
		}
		return 0;
	}
type:
	lm_err("policy: %s must be %s", k->key,
	       k->kind == K_BOOL   ? "true or false"
	       : k->kind == K_LIST ? "a non-empty array of strings"
	       : k->kind == K_INT  ? "a non-negative integer"
				   : "a string");
	return LM_EFORMAT;
}

int lm_policy_load(struct lm_policy_file *pf, const char *json, size_t size)
{
	json_t *root, *val;
	json_error_t jerr;
	const char *key;
	int r = 0;

	if (!pf || !json)
		return LM_EINVAL;
	if (size > POLICY_JSON_MAX) {
		lm_err("policy: larger than %u bytes", POLICY_JSON_MAX);
		return LM_ETOOBIG;
	}
	if (!(root = json_loadb(json, size, JSON_REJECT_DUPLICATES, &jerr))) {
		lm_err("policy: not JSON (line %d): %s", jerr.line, jerr.text);
		return LM_EFORMAT;
	}
	if (!json_is_object(root)) {
		lm_err("policy: must be a JSON object");
		r = LM_EFORMAT;
		goto out;
	}
	json_object_foreach(root, key, val) {
		const struct knob *k = knob_find(key);

		if (!k) {
			lm_err("policy: unknown key \"%s\"", key);
			r = LM_EFORMAT;
			goto out;
		}
		if ((r = load_member(pf, k, val)) < 0) {
			if (r == LM_EINVAL)
				r = LM_EFORMAT;
			goto out;
		}
	}
out:
	json_decref(root);
	return r;
}
