/* DCAP collateral: Intel PCS TCB Info (v2 SGX, v3 SGX/TDX) and Enclave
 * Identity (v2: the QE and the TD-QE) documents, and a bag of everything a
 * collateral directory holds. Files are classified by what they contain,
 * never by their name: JSON documents by their top-level key, certificates
 * and CRLs by parsing them as PEM or DER. Which of them applies to a quote
 * is decided later, by issuer, FMSPC and signing key (dcap.c).
 *
 * The signature of a TCB Info or QE Identity covers the exact bytes of the
 * "tcbInfo" / "enclaveIdentity" value as served, so besides parsing the
 * JSON we cut that value out of the raw text. */
#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <limits.h>

#include <jansson.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "attest/dcap_int.h"
#include "lambda/json.h"
#include "lambda/log.h"
#include "lambda/util.h"

#define COLLATERAL_FILE_MAX (1u << 20)
#define COLLATERAL_FILES_MAX 4096
#define LEVELS_MAX 256
#define MODULES_MAX 64

/* ---- the raw bytes of a top-level member ---- */

static size_t skip_ws(const uint8_t *s, size_t n, size_t i)
{
	while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
		i++;
	return i;
}

/* Index just past the string starting at s[i] == '"', or 0. */
static size_t skip_string(const uint8_t *s, size_t n, size_t i)
{
	for (i++; i < n; i++) {
		if (s[i] == '\\')
			i++;
		else if (s[i] == '"')
			return i + 1;
	}
	return 0;
}

/* Index just past the value starting at s[i], or 0. Only needs to find the
 * extent: jansson has already validated the whole document. */
static size_t skip_value(const uint8_t *s, size_t n, size_t i)
{
	int depth = 0;

	if (i >= n)
		return 0;
	if (s[i] == '"')
		return skip_string(s, n, i);
	for (; i < n; i++) {
		if (s[i] == '"') {
			size_t e = skip_string(s, n, i);

			if (!e)
				return 0;
			i = e - 1;
		} else if (s[i] == '{' || s[i] == '[') {
			depth++;
		} else if (s[i] == '}' || s[i] == ']') {
			if (depth == 0)
				return i;
			if (--depth == 0)
				return i + 1;
		} else if (depth == 0 && s[i] == ',') {
			return i;
		}
	}
	return depth == 0 ? i : 0;
}

/* Finds the raw text of top-level member key of the JSON object text. */
static int raw_member(const uint8_t *s, size_t n, const char *key, const uint8_t **out, size_t *out_size)
{
	size_t i = skip_ws(s, n, 0), klen = strlen(key);

	if (i >= n || s[i] != '{')
		return LM_EFORMAT;
	i++;
	for (;;) {
		size_t ks, ke, vs, ve;

		i = skip_ws(s, n, i);
		if (i >= n || s[i] != '"')
			return LM_EFORMAT;
		ks = i;
		if (!(ke = skip_string(s, n, i)))
			return LM_EFORMAT;
		i = skip_ws(s, n, ke);
		if (i >= n || s[i] != ':')
			return LM_EFORMAT;
		vs = skip_ws(s, n, i + 1);
		if (!(ve = skip_value(s, n, vs)) || ve <= vs)
			return LM_EFORMAT;
		/* Keys with escapes never match: Intel's keys are plain. */
		if (ke - ks - 2 == klen && memcmp(s + ks + 1, key, klen) == 0) {
			*out = s + vs;
			*out_size = ve - vs;
			return 0;
		}
		i = skip_ws(s, n, ve);
		if (i < n && s[i] == ',') {
			i++;
			continue;
		}
		return LM_EFORMAT;
	}
}

/* ---- field helpers ---- */

static int get_hex(const json_t *obj, const char *key, uint8_t *out, size_t size)
{
	const char *s = lm_json_str(obj, key);

	if (!s || strlen(s) != 2 * size || lm_hex_decode(out, size, s) < 0) {
		lm_err("dcap collateral: \"%s\" missing or not %zu hex bytes", key, size);
		return LM_EFORMAT;
	}
	return 0;
}

static int get_int(const json_t *obj, const char *key, long long max, long long *out)
{
	json_t *v = json_object_get(obj, key);

	if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > max) {
		lm_err("dcap collateral: \"%s\" missing or not an integer in 0..%lld", key, max);
		return LM_EFORMAT;
	}
	*out = json_integer_value(v);
	return 0;
}

static int get_time(const json_t *obj, const char *key, time_t *out)
{
	const char *s = lm_json_str(obj, key);

	if (!s || lm_time_parse(s, out) < 0) {
		lm_err("dcap collateral: \"%s\" missing or not an RFC 3339 time", key);
		return LM_EFORMAT;
	}
	return 0;
}

static int get_signature(const json_t *doc, uint8_t out[static 64])
{
	return get_hex(doc, "signature", out, 64);
}

static void levels_free(struct lm_tcb_level *levels, size_t count)
{
	for (size_t i = 0; levels && i < count; i++) {
		for (size_t j = 0; j < levels[i].advisory_count; j++)
			free(levels[i].advisories[j]);
		free(levels[i].advisories);
	}
	free(levels);
}

/* tcbDate, tcbStatus and advisoryIDs of one level; the tcb member is read
 * by the caller. */
static int parse_level_common(const json_t *lv, struct lm_tcb_level *out)
{
	json_t *adv = json_object_get(lv, "advisoryIDs");
	const char *st = lm_json_str(lv, "tcbStatus");
	size_t i;
	json_t *a;
	int r;

	if ((r = get_time(lv, "tcbDate", &out->tcb_date)) < 0)
		return r;
	if (!st || (out->status = lm_tcb_status_from_name(st)) == LM_TCB_UNKNOWN) {
		lm_err("dcap collateral: unknown tcbStatus \"%s\"", st ? st : "(missing)");
		return LM_EFORMAT;
	}
	if (!adv)
		return 0;
	if (!json_is_array(adv) || json_array_size(adv) > LM_TCB_ADVISORIES_MAX) {
		lm_err("dcap collateral: advisoryIDs is not an array of at most %d ids", LM_TCB_ADVISORIES_MAX);
		return LM_EFORMAT;
	}
	if (json_array_size(adv) && !(out->advisories = calloc(json_array_size(adv), sizeof(char *))))
		return LM_ENOMEM;
	json_array_foreach(adv, i, a) {
		const char *id = json_string_value(a);

		if (!id || !*id || strlen(id) > 32 || strpbrk(id, ", \t\n")) {
			lm_err("dcap collateral: bad advisory id");
			return LM_EFORMAT;
		}
		if (!(out->advisories[i] = strdup(id)))
			return LM_ENOMEM;
		out->advisory_count = i + 1;
	}
	return 0;
}

/* Levels of an enclave identity or TDX module identity: tcb {isvsvn}. */
static int parse_isv_levels(const json_t *arr, struct lm_tcb_level **out, size_t *count)
{
	struct lm_tcb_level *levels;
	size_t i, n;
	json_t *lv;
	int r = 0;

	if (!json_is_array(arr) || (n = json_array_size(arr)) == 0 || n > LEVELS_MAX) {
		lm_err("dcap collateral: tcbLevels missing, empty or too long");
		return LM_EFORMAT;
	}
	if (!(levels = calloc(n, sizeof(*levels))))
		return LM_ENOMEM;
	json_array_foreach(arr, i, lv) {
		long long svn;

		if ((r = get_int(json_object_get(lv, "tcb"), "isvsvn", 65535, &svn)) < 0 ||
		    (r = parse_level_common(lv, &levels[i])) < 0)
			break;
		levels[i].isv_svn = (uint16_t)svn;
	}
	if (r < 0) {
		levels_free(levels, n);
		return r;
	}
	*out = levels;
	*count = n;
	return 0;
}

/* SVNs of a v3 component array: exactly 16 objects with "svn". */
static int parse_components(const json_t *arr, uint8_t out[static 16])
{
	size_t i;
	json_t *c;

	if (!json_is_array(arr) || json_array_size(arr) != 16) {
		lm_err("dcap collateral: TCB component array must hold 16 entries");
		return LM_EFORMAT;
	}
	json_array_foreach(arr, i, c) {
		long long svn;
		int r;

		if ((r = get_int(c, "svn", 255, &svn)) < 0)
			return r;
		out[i] = (uint8_t)svn;
	}
	return 0;
}

static int parse_platform_level(const json_t *lv, const struct lm_tcb_info *t, struct lm_tcb_level *out)
{
	json_t *tcb = json_object_get(lv, "tcb");
	long long v;
	int r;

	if (!json_is_object(tcb)) {
		lm_err("dcap collateral: tcbLevels entry without tcb");
		return LM_EFORMAT;
	}
	if (t->version == 2) {
		for (int i = 0; i < 16; i++) {
			char key[20];

			snprintf(key, sizeof(key), "sgxtcbcomp%02dsvn", i + 1);
			if ((r = get_int(tcb, key, 255, &v)) < 0)
				return r;
			out->sgx_comp[i] = (uint8_t)v;
		}
	} else {
		if ((r = parse_components(json_object_get(tcb, "sgxtcbcomponents"), out->sgx_comp)) < 0)
			return r;
		if (t->is_tdx &&
		    (r = parse_components(json_object_get(tcb, "tdxtcbcomponents"), out->tdx_comp)) < 0)
			return r;
	}
	if ((r = get_int(tcb, "pcesvn", 65535, &v)) < 0)
		return r;
	out->pce_svn = (uint16_t)v;
	return parse_level_common(lv, out);
}

static int parse_module(const json_t *m, const char *id, struct lm_tdx_module *out)
{
	int r;

	snprintf(out->id, sizeof(out->id), "%s", id);
	if ((r = get_hex(m, "mrsigner", out->mr_signer, 48)) < 0 ||
	    (r = get_hex(m, "attributes", out->attributes, 8)) < 0 ||
	    (r = get_hex(m, "attributesMask", out->attributes_mask, 8)) < 0)
		return r;
	if (*id)
		return parse_isv_levels(json_object_get(m, "tcbLevels"), &out->levels, &out->level_count);
	return 0;
}

void lm_tcb_info_free(struct lm_tcb_info *t)
{
	if (!t)
		return;
	for (size_t i = 0; t->modules && i < t->module_count; i++)
		levels_free(t->modules[i].levels, t->modules[i].level_count);
	free(t->modules);
	levels_free(t->levels, t->level_count);
	free(t->body);
	free(t);
}

static int parse_tcb_info_body(const json_t *ti, struct lm_tcb_info *t)
{
	const char *id = lm_json_str(ti, "id");
	json_t *levels = json_object_get(ti, "tcbLevels"), *ids, *lv, *m;
	long long v;
	size_t i;
	int r;

	if ((r = get_int(ti, "version", 100, &v)) < 0)
		return r;
	t->version = (int)v;
	if (t->version != 2 && t->version != 3) {
		lm_err("dcap collateral: TCB Info version %d (2 and 3 are supported)", t->version);
		return LM_EFORMAT;
	}
	if (t->version == 3 && (!id || (strcmp(id, "SGX") != 0 && strcmp(id, "TDX") != 0))) {
		lm_err("dcap collateral: TCB Info v3 id must be SGX or TDX");
		return LM_EFORMAT;
	}
	t->is_tdx = id && strcmp(id, "TDX") == 0;
	if ((r = get_time(ti, "issueDate", &t->issue_date)) < 0 ||
	    (r = get_time(ti, "nextUpdate", &t->next_update)) < 0 || (r = get_hex(ti, "fmspc", t->fmspc, 6)) < 0 ||
	    (r = get_hex(ti, "pceId", t->pce_id, 2)) < 0 || (r = get_int(ti, "tcbType", 255, &v)) < 0)
		return r;
	t->tcb_type = (int)v;
	if ((r = get_int(ti, "tcbEvaluationDataNumber", 1000000, &v)) < 0)
		return r;
	t->tcb_evaluation_data_number = (int)v;
	if (t->tcb_type != 0) {
		lm_err("dcap collateral: TCB Info tcbType %d (only 0 is defined)", t->tcb_type);
		return LM_EFORMAT;
	}

	if (t->is_tdx) {
		ids = json_object_get(ti, "tdxModuleIdentities");
		if (ids && (!json_is_array(ids) || json_array_size(ids) > MODULES_MAX)) {
			lm_err("dcap collateral: tdxModuleIdentities is not a short array");
			return LM_EFORMAT;
		}
		m = json_object_get(ti, "tdxModule");
		if (!json_is_object(m)) {
			lm_err("dcap collateral: TDX TCB Info without tdxModule");
			return LM_EFORMAT;
		}
		if (!(t->modules = calloc(1 + json_array_size(ids), sizeof(*t->modules))))
			return LM_ENOMEM;
		t->module_count = 1;
		if ((r = parse_module(m, "", &t->modules[0])) < 0)
			return r;
		json_array_foreach(ids, i, m) {
			const char *mid = lm_json_str(m, "id");

			if (!mid || !*mid || strlen(mid) >= sizeof(t->modules[0].id)) {
				lm_err("dcap collateral: TDX module identity without a usable id");
				return LM_EFORMAT;
			}
			t->module_count++;
			if ((r = parse_module(m, mid, &t->modules[i + 1])) < 0)
				return r;
		}
	}

	if (!json_is_array(levels) || json_array_size(levels) == 0 || json_array_size(levels) > LEVELS_MAX) {
		lm_err("dcap collateral: TCB Info tcbLevels missing, empty or too long");
		return LM_EFORMAT;
	}
	if (!(t->levels = calloc(json_array_size(levels), sizeof(*t->levels))))
		return LM_ENOMEM;
	json_array_foreach(levels, i, lv) {
		t->level_count = i + 1;
		if ((r = parse_platform_level(lv, t, &t->levels[i])) < 0)
			return r;
	}
	return 0;
}

/* Loads the document and the raw text of member key. */
static int load_doc(const uint8_t *json, size_t size, const char *key, json_t **doc, uint8_t **body,
		    size_t *body_size)
{
	const uint8_t *raw;
	size_t raw_size;
	json_error_t err;
	json_t *d;

	if (!json || size > COLLATERAL_FILE_MAX)
		return LM_EFORMAT;
	d = json_loadb((const char *)json, size, JSON_REJECT_DUPLICATES, &err);
	if (!d || !json_is_object(d) || !json_is_object(json_object_get(d, key)) ||
	    raw_member(json, size, key, &raw, &raw_size) < 0) {
		json_decref(d);
		return LM_EFORMAT;
	}
	if (!(*body = malloc(raw_size))) {
		json_decref(d);
		return LM_ENOMEM;
	}
	memcpy(*body, raw, raw_size);
	*body_size = raw_size;
	*doc = d;
	return 0;
}

int lm_tcb_info_parse(const uint8_t *json, size_t size, struct lm_tcb_info **out)
{
	struct lm_tcb_info *t;
	json_t *doc = NULL;
	int r;

	if (!out)
		return LM_EINVAL;
	if (!(t = calloc(1, sizeof(*t))))
		return LM_ENOMEM;
	if ((r = load_doc(json, size, "tcbInfo", &doc, &t->body, &t->body_size)) < 0 ||
	    (r = get_signature(doc, t->signature)) < 0 ||
	    (r = parse_tcb_info_body(json_object_get(doc, "tcbInfo"), t)) < 0) {
		lm_tcb_info_free(t);
		json_decref(doc);
		return r;
	}
	json_decref(doc);
	*out = t;
	return 0;
}

void lm_qe_identity_free(struct lm_qe_identity *q)
{
	if (!q)
		return;
	levels_free(q->levels, q->level_count);
	free(q->body);
	free(q);
}

static int parse_qe_body(const json_t *ei, struct lm_qe_identity *q)
{
	const char *id = lm_json_str(ei, "id");
	uint8_t misc[4], mask[4];
	long long v;
	int r;

	if (!id || strlen(id) >= sizeof(q->id)) {
		lm_err("dcap collateral: enclave identity without a usable id");
		return LM_EFORMAT;
	}
	snprintf(q->id, sizeof(q->id), "%s", id);
	if ((r = get_int(ei, "version", 100, &v)) < 0)
		return r;
	q->version = (int)v;
	if (q->version != 2) {
		lm_err("dcap collateral: enclave identity version %d (2 is supported)", q->version);
		return LM_EFORMAT;
	}
	if ((r = get_time(ei, "issueDate", &q->issue_date)) < 0 ||
	    (r = get_time(ei, "nextUpdate", &q->next_update)) < 0 || (r = get_hex(ei, "miscselect", misc, 4)) < 0 ||
	    (r = get_hex(ei, "miscselectMask", mask, 4)) < 0 ||
	    (r = get_hex(ei, "attributes", q->attributes, 16)) < 0 ||
	    (r = get_hex(ei, "attributesMask", q->attributes_mask, 16)) < 0 ||
	    (r = get_hex(ei, "mrsigner", q->mr_signer, 32)) < 0 || (r = get_int(ei, "isvprodid", 65535, &v)) < 0)
		return r;
	/* The JSON gives MISCSELECT as the big-endian hex of the 32-bit value. */
	q->misc_select = (uint32_t)misc[0] << 24 | (uint32_t)misc[1] << 16 | (uint32_t)misc[2] << 8 | misc[3];
	q->misc_select_mask = (uint32_t)mask[0] << 24 | (uint32_t)mask[1] << 16 | (uint32_t)mask[2] << 8 | mask[3];
	q->isv_prod_id = (uint16_t)v;
	return parse_isv_levels(json_object_get(ei, "tcbLevels"), &q->levels, &q->level_count);
}

int lm_qe_identity_parse(const uint8_t *json, size_t size, struct lm_qe_identity **out)
{
	struct lm_qe_identity *q;
	json_t *doc = NULL;
	int r;

	if (!out)
		return LM_EINVAL;
	if (!(q = calloc(1, sizeof(*q))))
		return LM_ENOMEM;
	if ((r = load_doc(json, size, "enclaveIdentity", &doc, &q->body, &q->body_size)) < 0 ||
	    (r = get_signature(doc, q->signature)) < 0 ||
	    (r = parse_qe_body(json_object_get(doc, "enclaveIdentity"), q)) < 0) {
		lm_qe_identity_free(q);
		json_decref(doc);
		return r;
	}
	json_decref(doc);
	*out = q;
	return 0;
}

/* ---- the collateral bag ---- */

int lm_dcap_collateral_new(struct lm_dcap_collateral **out)
{
	struct lm_dcap_collateral *c;

	if (!out)
		return LM_EINVAL;
	if (!(c = calloc(1, sizeof(*c))) || !(c->certs = sk_X509_new_null()) || !(c->crls = sk_X509_CRL_new_null())) {
		lm_dcap_collateral_free(c);
		return LM_ENOMEM;
	}
	*out = c;
	return 0;
}

void lm_dcap_collateral_free(struct lm_dcap_collateral *c)
{
	if (!c)
		return;
	sk_X509_pop_free(c->certs, X509_free);
	sk_X509_CRL_pop_free(c->crls, X509_CRL_free);
	for (size_t i = 0; i < c->tcb_info_count; i++)
		lm_tcb_info_free(c->tcb_infos[i]);
	free(c->tcb_infos);
	for (size_t i = 0; i < c->qe_identity_count; i++)
		lm_qe_identity_free(c->qe_identities[i]);
	free(c->qe_identities);
	free(c);
}

static int push_cert(struct lm_dcap_collateral *c, X509 *x)
{
	if (!sk_X509_push(c->certs, x)) {
		X509_free(x);
		return LM_ENOMEM;
	}
	return 0;
}

static int push_crl(struct lm_dcap_collateral *c, X509_CRL *x)
{
	if (!sk_X509_CRL_push(c->crls, x)) {
		X509_CRL_free(x);
		return LM_ENOMEM;
	}
	return 0;
}

static int add_json(struct lm_dcap_collateral *c, const uint8_t *data, size_t size, const char *name)
{
	struct lm_tcb_info *t;
	struct lm_qe_identity *q;
	void *grown;

	if (lm_tcb_info_parse(data, size, &t) == 0) {
		if (!(grown = realloc(c->tcb_infos, (c->tcb_info_count + 1) * sizeof(*c->tcb_infos)))) {
			lm_tcb_info_free(t);
			return LM_ENOMEM;
		}
		c->tcb_infos = grown;
		c->tcb_infos[c->tcb_info_count++] = t;
		return 0;
	}
	if (lm_qe_identity_parse(data, size, &q) == 0) {
		if (!(grown = realloc(c->qe_identities, (c->qe_identity_count + 1) * sizeof(*c->qe_identities)))) {
			lm_qe_identity_free(q);
			return LM_ENOMEM;
		}
		c->qe_identities = grown;
		c->qe_identities[c->qe_identity_count++] = q;
		return 0;
	}
	lm_warn("%s: JSON that is neither a TCB Info nor a QE Identity document; skipped", name);
	return 0;
}

static int add_pem(struct lm_dcap_collateral *c, const uint8_t *data, size_t size, const char *name)
{
	STACK_OF(X509_INFO) *infos;
	BIO *bio = BIO_new_mem_buf(data, (int)size);
	int r = 0, found = 0;

	if (!bio)
		return LM_ENOMEM;
	infos = PEM_X509_INFO_read_bio(bio, NULL, NULL, NULL);
	BIO_free(bio);
	ERR_clear_error();
	for (int i = 0; infos && i < sk_X509_INFO_num(infos); i++) {
		X509_INFO *xi = sk_X509_INFO_value(infos, i);

		if (r == 0 && xi->x509) {
			r = push_cert(c, xi->x509);
			xi->x509 = NULL;
			found++;
		}
		if (r == 0 && xi->crl) {
			r = push_crl(c, xi->crl);
			xi->crl = NULL;
			found++;
		}
	}
	sk_X509_INFO_pop_free(infos, X509_INFO_free);
	if (r == 0 && !found)
		lm_warn("%s: PEM without certificates or CRLs; skipped", name);
	return r;
}

static int add_der(struct lm_dcap_collateral *c, const uint8_t *data, size_t size, const char *name)
{
	const unsigned char *p = data;
	X509_CRL *crl;
	X509 *x;

	if (size > LONG_MAX)
		return LM_ETOOBIG;
	if ((x = d2i_X509(NULL, &p, (long)size)) && p == data + size)
		return push_cert(c, x);
	X509_free(x);
	p = data;
	if ((crl = d2i_X509_CRL(NULL, &p, (long)size)) && p == data + size)
		return push_crl(c, crl);
	X509_CRL_free(crl);
	ERR_clear_error();
	lm_debug("%s: not a certificate, CRL, TCB Info or QE Identity; skipped", name);
	return 0;
}

/* Some tools store DER as hex text (Intel PCS serves CRLs that way in
 * JSON bundles): decode and classify the bytes. */
static int add_hex(struct lm_dcap_collateral *c, const uint8_t *data, size_t size, const char *name)
{
	uint8_t *der = NULL;
	size_t der_size;
	char *text;
	int r;

	while (size && (data[size - 1] == '\n' || data[size - 1] == '\r' || data[size - 1] == ' '))
		size--;
	if (!(text = malloc(size + 1)))
		return LM_ENOMEM;
	memcpy(text, data, size);
	text[size] = 0;
	r = lm_hex_decode_alloc(text, &der, &der_size);
	free(text);
	if (r < 0) {
		lm_debug("%s: not a certificate, CRL, TCB Info or QE Identity; skipped", name);
		return 0;
	}
	r = add_der(c, der, der_size, name);
	free(der);
	return r;
}

static bool is_hex_text(const uint8_t *data, size_t size)
{
	size_t i;

	for (i = 0; i < size && isxdigit(data[i]); i++)
		;
	for (; i < size && (data[i] == '\n' || data[i] == '\r' || data[i] == ' '); i++)
		;
	return size >= 2 && i == size;
}

int lm_dcap_collateral_add_data(struct lm_dcap_collateral *c, const uint8_t *data, size_t size, const char *name)
{
	size_t i = 0;

	if (!c || !data)
		return LM_EINVAL;
	while (i < size && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r'))
		i++;
	if (i < size && data[i] == '{')
		return add_json(c, data, size, name);
	if (memmem(data, size, "-----BEGIN", 10))
		return add_pem(c, data, size, name);
	if (is_hex_text(data, size))
		return add_hex(c, data, size, name);
	return add_der(c, data, size, name);
}

int lm_dcap_collateral_add_file(struct lm_dcap_collateral *c, const char *path)
{
	uint8_t *data = NULL;
	size_t size;
	int r;

	if (!c || !path)
		return LM_EINVAL;
	if ((r = lm_file_read(path, COLLATERAL_FILE_MAX, &data, &size)) < 0) {
		lm_err("%s: cannot read collateral: %s", path, lm_strerror(r));
		return r;
	}
	r = lm_dcap_collateral_add_data(c, data, size, path);
	free(data);
	return r;
}

int lm_dcap_collateral_load_dir(struct lm_dcap_collateral *c, const char *dir)
{
	struct dirent **list = NULL;
	int n, r = 0;

	if (!c || !dir)
		return LM_EINVAL;
	if ((n = scandir(dir, &list, NULL, alphasort)) < 0) {
		lm_err("%s: cannot read the collateral directory", dir);
		return LM_ENOENT;
	}
	if (n > COLLATERAL_FILES_MAX) {
		lm_err("%s: more than %d files", dir, COLLATERAL_FILES_MAX);
		r = LM_ETOOBIG;
	}
	for (int i = 0; i < n; i++) {
		char path[4096];
		struct stat st;

		if (r == 0 && list[i]->d_name[0] != '.' &&
		    snprintf(path, sizeof(path), "%s/%s", dir, list[i]->d_name) < (int)sizeof(path) &&
		    stat(path, &st) == 0 && S_ISREG(st.st_mode))
			r = lm_dcap_collateral_add_file(c, path);
		free(list[i]);
	}
	free(list);
	return r;
}
