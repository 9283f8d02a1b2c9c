/* The evidence document of DESIGN.md section 5: strict parsing and
 * serialisation, platform names, the report-data binding and the JSON form
 * of a verdict. Every field of a document is checked here once, so that
 * backends work on decoded, bounded values. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "attest/attest_int.h"
#include "lambda/json.h"
#include "lambda/log.h"
#include "lambda/util.h"

#define DOC_MAX (4u << 20)		/* whole document */
#define EVIDENCE_MAX (1u << 20)		/* decoded raw report or quote */
#define CERT_COUNT_MAX 16
#define CERT_MAX (64u << 10)		/* one PEM certificate or key */
#define ENCLAVE_ID_MAX 64		/* bytes, hex encoded in the document */
#define SIGNATURE_MAX 1024		/* bytes, hex encoded in the document */

/* A document as allocated by this module: the public struct first, then
 * the parsed platform_info that lm_evidence_info() answers from. A
 * document made in code sets ev->platform_info as text; info is then its
 * parse, refreshed whenever the text no longer matches info_src, so a
 * caller may replace the text. A parsed document keeps the object it read
 * (from_doc) and no text: writing a large platform_info (a TPM event log)
 * back out as text would cost as much as reading the document. */
struct evidence_box {
	struct lm_evidence ev;
	json_t *info;
	char *info_src;
	bool from_doc;
};

static const struct {
	enum lm_platform platform;
	const char *name, *short_name;
} g_platforms[] = {
	{ LM_PLATFORM_SIMULATED, "simulated", "simulated" },
	{ LM_PLATFORM_SGX, "Intel SGX", "sgx" },
	{ LM_PLATFORM_TDX, "Intel TDX", "tdx" },
	{ LM_PLATFORM_SNP, "AMD SEV-SNP", "sev-snp" },
	{ LM_PLATFORM_TPM, "TPM 2.0", "tpm" },
};

#define PLATFORM_COUNT (sizeof(g_platforms) / sizeof(g_platforms[0]))

const char *lm_platform_name(enum lm_platform p)
{
	for (size_t i = 0; i < PLATFORM_COUNT; i++)
		if (g_platforms[i].platform == p)
			return g_platforms[i].name;
	return "unknown";
}

/* Accepts the document names ("AMD SEV-SNP") and the backend names of
 * DESIGN.md section 3 ("sev-snp"). */
enum lm_platform lm_platform_from_name(const char *name)
{
	if (!name)
		return LM_PLATFORM_UNKNOWN;
	for (size_t i = 0; i < PLATFORM_COUNT; i++)
		if (strcmp(g_platforms[i].name, name) == 0 || strcmp(g_platforms[i].short_name, name) == 0)
			return g_platforms[i].platform;
	return LM_PLATFORM_UNKNOWN;
}

int lm_report_data_bind(uint8_t out[static LM_REPORT_DATA_BYTES], const uint8_t *nonce, size_t nonce_size,
			const uint8_t *pubkey, size_t pubkey_size)
{
	uint8_t md[LM_REPORT_DATA_BYTES];
	EVP_MD_CTX *ctx;
	int r;

	if ((nonce_size && !nonce) || (pubkey_size && !pubkey))
		return LM_EINVAL;
	ctx = EVP_MD_CTX_new();
	if (!ctx)
		return LM_ENOMEM;
	if ((r = LM_OSSL(EVP_DigestInit_ex(ctx, EVP_sha512(), NULL))) < 0 ||
	    (r = LM_OSSL(EVP_DigestUpdate(ctx, nonce, nonce_size))) < 0 ||
	    (r = LM_OSSL(EVP_DigestUpdate(ctx, pubkey, pubkey_size))) < 0 ||
	    (r = LM_OSSL(EVP_DigestFinal_ex(ctx, md, NULL))) < 0)
		goto out;
	memcpy(out, md, sizeof(md));
	r = 0;
out:
	EVP_MD_CTX_free(ctx);
	return r;
}

int lm_measurement_decode(const char *text, const char *want, uint8_t out[static LM_MEASUREMENT_MAX],
			  size_t *size)
{
	static const struct {
		const char *alg;
		size_t size;
	} algs[] = { { "sha256", 32 }, { "sha384", 48 }, { "sha512", 64 } };
	const char *colon = strchr(text, ':');

	if (!colon)
		return LM_EFORMAT;
	for (size_t i = 0; i < sizeof(algs) / sizeof(algs[0]); i++) {
		size_t n = strlen(algs[i].alg);

		if ((size_t)(colon - text) != n || strncmp(text, algs[i].alg, n) != 0)
			continue;
		if (want && strcmp(want, algs[i].alg) != 0)
			return LM_EFORMAT;
		if (lm_hex_decode(out, algs[i].size, colon + 1) < 0)
			return LM_EFORMAT;
		*size = algs[i].size;
		return 0;
	}
	return LM_EFORMAT;
}

int lm_evidence_new(struct lm_evidence **out)
{
	struct evidence_box *box = calloc(1, sizeof(*box));

	if (!box)
		return LM_ENOMEM;
	box->ev.version = 1;
	*out = &box->ev;
	return 0;
}

void lm_evidence_free(struct lm_evidence *ev)
{
	struct evidence_box *box = (struct evidence_box *)ev;

	if (!ev)
		return;
	free(ev->enclave_id);
	free(ev->measurement);
	free(ev->evidence);
	for (size_t i = 0; i < ev->certificate_count; i++)
		free(ev->certificate_chain[i]);
	free(ev->certificate_chain);
	free(ev->signature);
	free(ev->platform_info);
	json_decref(box->info);
	free(box->info_src);
	free(box);
}

const struct json_t *lm_evidence_info_object(const struct lm_evidence *ev)
{
	struct evidence_box *box = (struct evidence_box *)ev;

	if (!ev)
		return NULL;
	if (!ev->platform_info)
		return box->from_doc ? box->info : NULL;
	if (!box->info_src || strcmp(box->info_src, ev->platform_info) != 0) {
		box->from_doc = false;
		json_decref(box->info);
		free(box->info_src);
		box->info = json_loads(ev->platform_info, JSON_REJECT_DUPLICATES, NULL);
		box->info_src = strdup(ev->platform_info);
		if (!box->info || !box->info_src) {
			json_decref(box->info);
			free(box->info_src);
			box->info = NULL;
			box->info_src = NULL;
			return NULL;
		}
	}
	return box->info;
}

const char *lm_evidence_info(const struct lm_evidence *ev, const char *key)
{
	const json_t *info = key ? lm_evidence_info_object(ev) : NULL;

	return info ? lm_json_str(info, key) : NULL;
}

/* ---- parsing ---- */

static int bad_field(const char *field, const char *why)
{
	lm_err("evidence document: field \"%s\": %s", field, why);
	return LM_EFORMAT;
}

/* Fetches string member name; a missing member is an error when required,
 * otherwise *out stays NULL. */
static int get_str(const json_t *root, const char *name, bool required, const char **out)
{
	json_t *v = json_object_get(root, name);

	*out = NULL;
	if (!v)
		return required ? bad_field(name, "missing") : 0;
	if (!json_is_string(v))
		return bad_field(name, "must be a string");
	*out = json_string_value(v);
	return 0;
}

static bool is_hex(const char *s)
{
	for (; *s; s++)
		if (!isxdigit((unsigned char)*s))
			return false;
	return true;
}

/* A hex string of 1..max bytes, copied as text. */
static int get_hex_text(const json_t *root, const char *name, bool required, size_t max, char **out)
{
	const char *s;
	size_t n;
	int r;

	if ((r = get_str(root, name, required, &s)) < 0 || !s)
		return r;
	n = strlen(s);
	if (n == 0 || n % 2 || !is_hex(s))
		return bad_field(name, "must be a non-empty hex string");
	if (n / 2 > max)
		return bad_field(name, "too long");
	*out = strdup(s);
	return *out ? 0 : LM_ENOMEM;
}

/* Standard base64 with padding and nothing else: no white space, padding
 * only at the end. The decoder alone is more lenient. */
static bool is_base64(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || n % 4)
		return false;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (isalnum(c) || c == '+' || c == '/')
			continue;
		if (c == '=' && (i == n - 1 || (i == n - 2 && s[n - 1] == '=')))
			continue;
		return false;
	}
	return true;
}

static int parse_scalars(const json_t *root, struct lm_evidence *ev)
{
	const char *s;
	json_t *v;
	size_t n;
	int r;

	v = json_object_get(root, "version");
	if (!v)
		return bad_field("version", "missing");
	if (!json_is_integer(v) || json_integer_value(v) != 1)
		return bad_field("version", "must be the number 1");

	if ((r = get_str(root, "instance_id", true, &s)) < 0)
		return r;
	n = strlen(s);
	if (n == 0 || n >= sizeof(ev->instance_id))
		return bad_field("instance_id", "must hold 1 to 63 characters");
	for (size_t i = 0; i < n; i++)
		if (s[i] <= 0x20 || s[i] >= 0x7f)
			return bad_field("instance_id", "must be printable ASCII without spaces");
	memcpy(ev->instance_id, s, n + 1);

	if ((r = get_str(root, "platform", true, &s)) < 0)
		return r;
	ev->platform = lm_platform_from_name(s);
	if (ev->platform == LM_PLATFORM_UNKNOWN || strcmp(lm_platform_name(ev->platform), s) != 0)
		return bad_field("platform", "unknown platform name");

	if ((r = get_hex_text(root, "enclave_id", true, ENCLAVE_ID_MAX, &ev->enclave_id)) < 0)
		return r;

	if ((r = get_str(root, "measurement", true, &s)) < 0)
		return r;
	{
		uint8_t m[LM_MEASUREMENT_MAX];

		if (lm_measurement_decode(s, NULL, m, &n) < 0)
			return bad_field("measurement", "must be sha256:, sha384: or sha512: and the digest in hex");
	}
	if (!(ev->measurement = strdup(s)))
		return LM_ENOMEM;

	if ((r = get_str(root, "nonce", true, &s)) < 0)
		return r;
	n = strlen(s);
	if (n % 2 || n / 2 > LM_NONCE_MAX || lm_hex_decode(ev->nonce, n / 2, s) < 0)
		return bad_field("nonce", "must be hex of at most 64 bytes");
	ev->nonce_size = n / 2;

	if ((r = get_str(root, "report_data", true, &s)) < 0)
		return r;
	if (lm_hex_decode(ev->report_data, LM_REPORT_DATA_BYTES, s) < 0)
		return bad_field("report_data", "must be hex of exactly 64 bytes");

	if ((r = get_str(root, "timestamp", true, &s)) < 0)
		return r;
	{
		time_t t;

		if (strlen(s) >= sizeof(ev->timestamp) || lm_time_parse(s, &t) < 0)
			return bad_field("timestamp", "must be an RFC 3339 time");
	}
	memcpy(ev->timestamp, s, strlen(s) + 1);

	return get_hex_text(root, "signature", false, SIGNATURE_MAX, &ev->signature);
}

static int parse_blobs(const json_t *root, struct lm_evidence *ev)
{
	const char *s;
	json_t *v, *item;
	size_t n, i;
	int r;

	if ((r = get_str(root, "evidence", true, &s)) < 0)
		return r;
	n = strlen(s);
	if (n > 4 * ((EVIDENCE_MAX + 2) / 3))
		return bad_field("evidence", "larger than 1 MiB");
	if (!is_base64(s, n) || lm_base64_decode(s, &ev->evidence, &ev->evidence_size) < 0)
		return bad_field("evidence", "must be non-empty standard base64");
	if (ev->evidence_size == 0 || ev->evidence_size > EVIDENCE_MAX)
		return bad_field("evidence", "must hold 1 byte to 1 MiB");

	v = json_object_get(root, "certificate_chain");
	if (!v)
		return bad_field("certificate_chain", "missing");
	if (!json_is_array(v))
		return bad_field("certificate_chain", "must be an array of PEM strings");
	if (json_array_size(v) > CERT_COUNT_MAX)
		return bad_field("certificate_chain", "more than 16 entries");
	n = json_array_size(v);
	if (n) {
		ev->certificate_chain = calloc(n, sizeof(char *));
		if (!ev->certificate_chain)
			return LM_ENOMEM;
	}
	json_array_foreach(v, i, item) {
		if (!json_is_string(item) || json_string_length(item) > CERT_MAX ||
		    !strstr(json_string_value(item), "-----BEGIN "))
			return bad_field("certificate_chain", "entries must be PEM strings of at most 64 KiB");
		if (!(ev->certificate_chain[i] = strdup(json_string_value(item))))
			return LM_ENOMEM;
		ev->certificate_count = i + 1;
	}

	v = json_object_get(root, "platform_info");
	if (v) {
		if (!json_is_object(v))
			return bad_field("platform_info", "must be an object");
		struct evidence_box *box = (struct evidence_box *)ev;

		box->info = json_incref(v);
		box->from_doc = true;
	}
	return 0;
}

int lm_evidence_parse(const uint8_t *data, size_t size, struct lm_evidence **out)
{
	static const char *const fields[] = {
		"version", "instance_id", "platform", "enclave_id", "measurement", "nonce", "report_data",
		"timestamp", "evidence", "certificate_chain", "signature", "platform_info", NULL,
	};
	struct lm_evidence *ev = NULL;
	json_error_t jerr;
	json_t *root = NULL;
	char bad[64];
	int r;

	if (!data || !out)
		return LM_EINVAL;
	if (size > DOC_MAX) {
		lm_err("evidence document: larger than %u bytes", DOC_MAX);
		return LM_ETOOBIG;
	}
	root = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		lm_err("evidence document: not valid JSON (line %d, column %d): %s", jerr.line, jerr.column,
		       jerr.text);
		return LM_EFORMAT;
	}
	if (!json_is_object(root)) {
		lm_err("evidence document: not a JSON object");
		r = LM_EFORMAT;
		goto out;
	}
	if (lm_json_only_keys(root, fields, bad, sizeof(bad)) < 0) {
		r = bad_field(bad, "unknown field");
		goto out;
	}
	if ((r = lm_evidence_new(&ev)) < 0 || (r = parse_scalars(root, ev)) < 0 ||
	    (r = parse_blobs(root, ev)) < 0)
		goto out;
	*out = ev;
	ev = NULL;
	r = 0;
out:
	lm_evidence_free(ev);
	json_decref(root);
	return r;
}

/* ---- serialisation ---- */

static int set_new(json_t *obj, const char *key, json_t *v)
{
	if (!v || json_object_set_new(obj, key, v) < 0)
		return LM_ENOMEM;
	return 0;
}

static int set_hex(json_t *obj, const char *key, const uint8_t *p, size_t size)
{
	char *hex = malloc(2 * size + 1);
	int r;

	if (!hex)
		return LM_ENOMEM;
	lm_hex_encode(hex, p, size);
	r = set_new(obj, key, json_string(hex));
	free(hex);
	return r;
}

int lm_evidence_to_json(const struct lm_evidence *ev, char **out)
{
	json_t *root = NULL, *chain = NULL, *info = NULL;
	char *b64 = NULL, *text;
	int r;

	if (!ev || !out || !ev->measurement || !ev->enclave_id || !ev->evidence ||
	    ev->nonce_size > LM_NONCE_MAX || ev->platform == LM_PLATFORM_UNKNOWN)
		return LM_EINVAL;
	if (!(root = json_object()) || !(chain = json_array())) {
		r = LM_ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < ev->certificate_count; i++)
		if (json_array_append_new(chain, json_string(ev->certificate_chain[i])) < 0) {
			r = LM_ENOMEM;
			goto out;
		}
	if (ev->platform_info && !(info = json_loads(ev->platform_info, JSON_REJECT_DUPLICATES, NULL))) {
		lm_err("evidence document: platform_info is not valid JSON");
		r = LM_EINVAL;
		goto out;
	}
	if (!ev->platform_info)	/* a parsed document keeps its object */
		info = json_incref((json_t *)lm_evidence_info_object(ev));
	if ((r = lm_base64_encode(ev->evidence, ev->evidence_size, &b64)) < 0)
		goto out;
	if ((r = set_new(root, "version", json_integer(ev->version))) < 0 ||
	    (r = set_new(root, "instance_id", json_string(ev->instance_id))) < 0 ||
	    (r = set_new(root, "platform", json_string(lm_platform_name(ev->platform)))) < 0 ||
	    (r = set_new(root, "enclave_id", json_string(ev->enclave_id))) < 0 ||
	    (r = set_new(root, "measurement", json_string(ev->measurement))) < 0 ||
	    (r = set_hex(root, "nonce", ev->nonce, ev->nonce_size)) < 0 ||
	    (r = set_hex(root, "report_data", ev->report_data, LM_REPORT_DATA_BYTES)) < 0 ||
	    (r = set_new(root, "timestamp", json_string(ev->timestamp))) < 0 ||
	    (r = set_new(root, "evidence", json_string(b64))) < 0)
		goto out;
	r = set_new(root, "certificate_chain", chain);
	chain = NULL;	/* owned by root now, or freed by a failed set_new */
	if (r < 0 || (ev->signature && (r = set_new(root, "signature", json_string(ev->signature))) < 0))
		goto out;
	if (info) {
		r = set_new(root, "platform_info", info);
		info = NULL;
		if (r < 0)
			goto out;
	}
	if (!(text = json_dumps(root, JSON_INDENT(2)))) {
		r = LM_ENOMEM;
		goto out;
	}
	*out = text;
	r = 0;
out:
	free(b64);
	json_decref(info);
	json_decref(chain);
	json_decref(root);
	return r;
}

int lm_verdict_to_json(const struct lm_verdict *v, char **out)
{
	json_t *root = NULL, *checks = NULL;
	char *text;
	int r;

	if (!v || !out || v->check_count > LM_CHECK_MAX)
		return LM_EINVAL;
	if (!(root = json_object()) || !(checks = json_array())) {
		r = LM_ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < v->check_count; i++) {
		json_t *c = json_pack("{s:s, s:b, s:s}", "name", v->checks[i].name, "ok", v->checks[i].ok, "detail",
				      v->checks[i].detail);

		if (!c || json_array_append_new(checks, c) < 0) {
			r = LM_ENOMEM;
			goto out;
		}
	}
	if ((r = set_new(root, "verified", json_boolean(v->verified))) < 0 ||
	    (r = set_new(root, "platform", json_string(lm_platform_name(v->platform)))) < 0 ||
	    (r = set_new(root, "measurement", v->measurement[0] ? json_string(v->measurement) : json_null())) < 0)
		goto out;
	if (v->tcb_status[0]) {	/* Intel evidence: the status and its advisory ids */
		json_t *adv = json_array();
		char ids[sizeof(v->advisories)], *save = NULL;

		snprintf(ids, sizeof(ids), "%s", v->advisories);
		for (char *id = strtok_r(ids, ",", &save); adv && id; id = strtok_r(NULL, ",", &save))
			if (json_array_append_new(adv, json_string(id)) < 0) {
				json_decref(adv);
				adv = NULL;
			}
		if ((r = set_new(root, "tcb_status", json_string(v->tcb_status))) < 0 ||
		    (r = set_new(root, "advisories", adv)) < 0)
			goto out;
	}
	r = set_new(root, "checks", checks);
	checks = NULL;
	if (r < 0)
		goto out;
	if (!(text = json_dumps(root, JSON_INDENT(2)))) {
		r = LM_ENOMEM;
		goto out;
	}
	*out = text;
	r = 0;
out:
	json_decref(checks);
	json_decref(root);
	return r;
}
