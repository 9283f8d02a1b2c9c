/* Unit tests for lib/attest: the evidence document parser and writer, the
 * simulated backend end to end, and each verification check failing on its
 * own. Evidence is made here with fresh Ed25519 keys. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "attest/attest_int.h"
#include "lambda/json.h"
#include "lambda/util.h"

static char *g_key_a, *g_key_b;
static const uint8_t g_nonce[32] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 };
static const uint8_t g_guest_pk[32] = { 0xaa, 0xbb, 0xcc, 0xdd };
static uint8_t g_measurement[LM_SIM_MEASUREMENT_BYTES];

static int group_setup(void **state)
{
	(void)state;
	if (lm_sim_key_generate(&g_key_a) < 0 || lm_sim_key_generate(&g_key_b) < 0 ||
	    lm_sim_measurement(g_measurement, "docker.io/library/alpine:3.19", "compute-4x", "default") < 0)
		return -1;
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	lm_free_wiped(g_key_a);
	lm_free_wiped(g_key_b);
	return 0;
}

static struct lm_evidence *make_doc(const char *key, uint32_t flags)
{
	struct lm_evidence *ev = NULL;

	assert_int_equal(lm_sim_evidence_make_flags(key, "inst_abc123", g_measurement, g_nonce, sizeof(g_nonce),
						    g_guest_pk, sizeof(g_guest_pk), flags, &ev),
			 0);
	return ev;
}

static const struct lm_policy g_allow = { .allow_simulated_insecure = true };

static void verify(const struct lm_evidence *ev, const struct lm_policy *p, struct lm_verdict *v)
{
	assert_int_equal(lm_verify_evidence(ev, p, v), 0);
	assert_int_equal(v->check_count, 6);
}

/* Exactly the check called name failed, and it is the first failure. */
static void assert_only_failed(const struct lm_verdict *v, const char *name)
{
	bool seen = false;

	assert_false(v->verified);
	assert_true(v->first_failed >= 0);
	assert_string_equal(v->checks[v->first_failed].name, name);
	for (size_t i = 0; i < v->check_count; i++) {
		bool is_it = strcmp(v->checks[i].name, name) == 0;

		if (v->checks[i].ok == is_it)
			fail_msg("check '%s' ok=%d: %s", v->checks[i].name, v->checks[i].ok, v->checks[i].detail);
		seen |= is_it;
	}
	assert_true(seen);
}

static void set_str(char **field, const char *value)
{
	free(*field);
	*field = strdup(value);
	assert_non_null(*field);
}

static void test_roundtrip(void **state)
{
	static const char *const names[] = { "platform", "signature", "report consistency", "nonce binding",
					     "measurement", "debug" };
	struct lm_evidence *ev = make_doc(g_key_a, 0), *back = NULL;
	struct lm_verdict v;
	char *json, *vjson, hex[2 * sizeof(g_guest_pk) + 1];
	json_t *root;

	(void)state;
	assert_int_equal(lm_evidence_to_json(ev, &json), 0);
	assert_int_equal(lm_evidence_parse((const uint8_t *)json, strlen(json), &back), 0);
	assert_int_equal(back->version, 1);
	assert_int_equal(back->platform, LM_PLATFORM_SIMULATED);
	assert_string_equal(back->instance_id, "inst_abc123");
	assert_string_equal(back->measurement, ev->measurement);
	assert_int_equal(strncmp(back->measurement, "sha384:", 7), 0);
	assert_string_equal(back->enclave_id, ev->enclave_id);
	assert_string_equal(back->timestamp, ev->timestamp);
	assert_int_equal(back->nonce_size, sizeof(g_nonce));
	assert_memory_equal(back->nonce, g_nonce, sizeof(g_nonce));
	assert_memory_equal(back->report_data, ev->report_data, LM_REPORT_DATA_BYTES);
	assert_int_equal(back->evidence_size, LM_SIM_REPORT_BYTES);
	assert_memory_equal(back->evidence, ev->evidence, LM_SIM_REPORT_BYTES);
	assert_int_equal(back->certificate_count, 1);
	assert_non_null(strstr(back->certificate_chain[0], "BEGIN PUBLIC KEY"));
	assert_string_equal(back->signature, ev->signature);
	lm_hex_encode(hex, g_guest_pk, sizeof(g_guest_pk));
	assert_string_equal(lm_evidence_info(back, "guest_public_key"), hex);
	assert_non_null(strstr(lm_evidence_info(back, "insecure"), "no protection"));
	assert_null(lm_evidence_info(back, "nope"));
	/* A parsed document keeps platform_info as an object, not text, and
	 * writes it out again. */
	assert_null(back->platform_info);
	{
		struct lm_evidence *again = NULL;
		char *json2;

		assert_int_equal(lm_evidence_to_json(back, &json2), 0);
		assert_int_equal(lm_evidence_parse((const uint8_t *)json2, strlen(json2), &again), 0);
		assert_string_equal(lm_evidence_info(again, "guest_public_key"), hex);
		/* text set by the caller wins over the parsed object */
		set_str(&again->platform_info, "{\"guest_public_key\":\"aa\"}");
		assert_string_equal(lm_evidence_info(again, "guest_public_key"), "aa");
		assert_null(lm_evidence_info(again, "insecure"));
		free(again->platform_info);
		again->platform_info = NULL;
		assert_null(lm_evidence_info(again, "guest_public_key"));
		lm_evidence_free(again);
		free(json2);
	}

	verify(back, &g_allow, &v);
	assert_true(v.verified);
	assert_int_equal(v.first_failed, -1);
	assert_int_equal(v.platform, LM_PLATFORM_SIMULATED);
	assert_string_equal(v.measurement, ev->measurement);
	for (size_t i = 0; i < 6; i++) {
		assert_string_equal(v.checks[i].name, names[i]);
		assert_true(v.checks[i].ok);
	}
	assert_non_null(strstr(v.checks[4].detail, "not pinned"));

	assert_int_equal(lm_verdict_to_json(&v, &vjson), 0);
	root = json_loads(vjson, 0, NULL);
	assert_non_null(root);
	assert_true(json_is_true(json_object_get(root, "verified")));
	assert_string_equal(lm_json_str(root, "platform"), "simulated");
	assert_string_equal(lm_json_str(root, "measurement"), ev->measurement);
	assert_int_equal(json_array_size(json_object_get(root, "checks")), 6);
	assert_string_equal(lm_json_str(json_array_get(json_object_get(root, "checks"), 3), "name"), "nonce binding");
	json_decref(root);
	free(vjson);
	free(json);
	lm_evidence_free(back);
	lm_evidence_free(ev);
}

static void test_simulated_refused(void **state)
{
	struct lm_evidence *ev = make_doc(g_key_a, 0);
	struct lm_policy p = { 0 };
	struct lm_verdict v;

	(void)state;
	verify(ev, &p, &v);
	assert_only_failed(&v, "platform");
	assert_non_null(strstr(v.checks[0].detail, "no protection"));
	/* No policy at all is the strictest policy. */
	assert_int_equal(lm_verify_evidence(ev, NULL, &v), 0);
	assert_only_failed(&v, "platform");
	lm_evidence_free(ev);
}

static void test_signature_report_flip(void **state)
{
	struct lm_evidence *ev = make_doc(g_key_a, 0);
	char hex[2 * LM_SIM_MEASUREMENT_BYTES + 1];
	struct lm_verdict v;

	(void)state;
	/* An attacker changes the measurement in the report and in the
	 * document alike: only the signature can notice. */
	ev->evidence[16 + 5] ^= 0x01;
	lm_hex_encode(hex, ev->evidence + 16, LM_SIM_MEASUREMENT_BYTES);
	free(ev->measurement);
	assert_true(asprintf(&ev->measurement, "sha384:%s", hex) > 0);
	verify(ev, &g_allow, &v);
	assert_only_failed(&v, "signature");
	lm_evidence_free(ev);
}

static void test_signature_sig_flip(void **state)
{
	struct lm_evidence *ev = make_doc(g_key_a, 0);
	struct lm_verdict v;

	(void)state;
	ev->evidence[LM_SIM_SIGNED_BYTES + 7] ^= 0x80;
	lm_hex_encode(ev->signature, ev->evidence + LM_SIM_SIGNED_BYTES, LM_SIM_SIG_BYTES);
	verify(ev, &g_allow, &v);
	assert_only_failed(&v, "signature");
	lm_evidence_free(ev);
}

static void test_signature_other_key(void **state)
{
	struct lm_evidence *ev = make_doc(g_key_a, 0), *other = make_doc(g_key_b, 0);
	struct lm_verdict v;

	(void)state;
	/* Swap in another key and its matching enclave id. */
	set_str(&ev->certificate_chain[0], other->certificate_chain[0]);
	set_str(&ev->enclave_id, other->enclave_id);
	verify(ev, &g_allow, &v);
	assert_only_failed(&v, "signature");

	/* A chain that holds no usable key also fails the signature. */
	set_str(&ev->certificate_chain[0], "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n");
	assert_int_equal(lm_verify_evidence(ev, &g_allow, &v), 0);
	assert_false(v.verified);
	assert_string_equal(v.checks[v.first_failed].name, "signature");
	lm_evidence_free(other);
	lm_evidence_free(ev);
}

static void test_nonce_mismatch(void **state)
{
	struct lm_evidence *ev = make_doc(g_key_a, 0);
	uint8_t other[32];
	struct lm_policy p = g_allow;
	struct lm_verdict v;

	(void)state;
	p.expect_nonce = g_nonce;
	p.expect_nonce_size = sizeof(g_nonce);
	verify(ev, &p, &v);
	assert_true(v.verified);
	assert_non_null(strstr(v.checks[3].detail, "expected nonce"));

	memcpy(other, g_nonce, sizeof(other));
	other[31] ^= 1;
	p.expect_nonce = other;
	verify(ev, &p, &v);
	assert_only_failed(&v, "nonce binding");

	p.expect_nonce_size = 16;	/* a prefix of the right nonce is not it */
	p.expect_nonce = g_nonce;
	verify(ev, &p, &v);
	assert_only_failed(&v, "nonce binding");

	/* Replacing the document's nonce breaks the binding. */
	ev->nonce[0] ^= 0xff;
	verify(ev, &g_allow, &v);
	assert_only_failed(&v, "nonce binding");
	lm_evidence_free(ev);
}

static void test_report_data_unbound(void **state)
{
	struct lm_evidence *ev = make_doc(g_key_a, 0);
	struct lm_verdict v;

	(void)state;
	/* A host that swaps in its own guest key must be caught. */
	set_str(&ev->platform_info, "{\"guest_public_key\":\"aabbccde\",\"insecure\":\"x\"}");
	verify(ev, &g_allow, &v);
	assert_only_failed(&v, "nonce binding");

	set_str(&ev->platform_info, "{\"insecure\":\"x\"}");
	verify(ev, &g_allow, &v);
	assert_only_failed(&v, "nonce binding");

	set_str(&ev->platform_info, "{\"guest_public_key\":\"not hex\"}");
	verify(ev, &g_allow, &v);
	assert_only_failed(&v, "nonce binding");
	lm_evidence_free(ev);
}

static void test_measurement(void **state)
{
	struct lm_evidence *ev = make_doc(g_key_a, 0);
	uint8_t other[LM_SIM_MEASUREMENT_BYTES];
	struct lm_policy p = g_allow;
	struct lm_verdict v;

	(void)state;
	p.expect_measurement = g_measurement;
	p.expect_measurement_size = sizeof(g_measurement);
	verify(ev, &p, &v);
	assert_true(v.verified);
	assert_non_null(strstr(v.checks[4].detail, "as expected"));

	assert_int_equal(lm_sim_measurement(other, "docker.io/library/alpine:3.19", "compute-8x", "default"), 0);
	p.expect_measurement = other;
	verify(ev, &p, &v);
	assert_only_failed(&v, "measurement");

	p.expect_measurement = g_measurement;
	p.expect_measurement_size = 32;
	verify(ev, &p, &v);
	assert_only_failed(&v, "measurement");
	lm_evidence_free(ev);
}

static void test_debug(void **state)
{
	struct lm_evidence *ev = make_doc(g_key_a, LM_SIM_FLAG_DEBUG);
	struct lm_policy p = g_allow;
	struct lm_verdict v;

	(void)state;
	verify(ev, &p, &v);
	assert_only_failed(&v, "debug");
	p.allow_debug = true;
	verify(ev, &p, &v);
	assert_true(v.verified);
	lm_evidence_free(ev);
}

static void test_document_disagrees(void **state)
{
	struct lm_evidence *ev;
	uint8_t other[LM_SIM_MEASUREMENT_BYTES];
	char hex[2 * LM_SIM_MEASUREMENT_BYTES + 1];
	struct lm_verdict v;

	(void)state;
	assert_int_equal(lm_sim_measurement(other, "evil", "compute-4x", "default"), 0);
	lm_hex_encode(hex, other, sizeof(other));
	ev = make_doc(g_key_a, 0);
	free(ev->measurement);
	assert_true(asprintf(&ev->measurement, "sha384:%s", hex) > 0);
	verify(ev, &g_allow, &v);
	assert_only_failed(&v, "report consistency");
	assert_non_null(strstr(v.checks[2].detail, "measurement"));
	/* The verdict reports the signed measurement, not the document's. */
	assert_null(strstr(v.measurement, hex));
	lm_evidence_free(ev);

	ev = make_doc(g_key_a, 0);
	ev->report_data[63] ^= 1;
	verify(ev, &g_allow, &v);
	assert_only_failed(&v, "report consistency");
	lm_evidence_free(ev);

	ev = make_doc(g_key_a, 0);
	strcpy(ev->instance_id, "inst_other");
	verify(ev, &g_allow, &v);
	assert_only_failed(&v, "report consistency");
	lm_evidence_free(ev);

	ev = make_doc(g_key_a, 0);
	ev->signature[0] = ev->signature[0] == '0' ? '1' : '0';
	verify(ev, &g_allow, &v);
	assert_only_failed(&v, "report consistency");
	free(ev->signature);
	ev->signature = NULL;
	verify(ev, &g_allow, &v);
	assert_only_failed(&v, "report consistency");
	lm_evidence_free(ev);

	ev = make_doc(g_key_a, 0);
	ev->enclave_id[3] = ev->enclave_id[3] == 'a' ? 'b' : 'a';
	verify(ev, &g_allow, &v);
	assert_only_failed(&v, "report consistency");
	lm_evidence_free(ev);
}

/* ---- parser negatives: a valid document, edited with jansson ---- */

static json_t *doc_json(void)
{
	struct lm_evidence *ev = make_doc(g_key_a, 0);
	json_t *root;
	char *text;

	assert_int_equal(lm_evidence_to_json(ev, &text), 0);
	root = json_loads(text, 0, NULL);
	assert_non_null(root);
	free(text);
	lm_evidence_free(ev);
	return root;
}

/* Parses root, consuming it, and returns the result code. */
static int parse_json(json_t *root)
{
	struct lm_evidence *ev = NULL;
	char *text = json_dumps(root, JSON_COMPACT);
	int r;

	assert_non_null(text);
	r = lm_evidence_parse((const uint8_t *)text, strlen(text), &ev);
	if (r == 0)
		lm_evidence_free(ev);
	free(text);
	json_decref(root);
	return r;
}

static int parse_with(const char *key, json_t *value)
{
	json_t *root = doc_json();

	if (value)
		json_object_set_new(root, key, value);
	else
		json_object_del(root, key);
	return parse_json(root);
}

static char *repeat(char c, size_t n)
{
	char *s = malloc(n + 1);

	assert_non_null(s);
	memset(s, c, n);
	s[n] = 0;
	return s;
}

static void test_parse_truncated(void **state)
{
	struct lm_evidence *ev = make_doc(g_key_a, 0), *back;
	char *text;
	size_t n;

	(void)state;
	assert_int_equal(lm_evidence_to_json(ev, &text), 0);
	n = strlen(text);
	for (size_t i = 0; i < n; i++) {
		back = NULL;
		if (lm_evidence_parse((const uint8_t *)text, i, &back) != LM_EFORMAT)
			fail_msg("a %zu-byte prefix of %zu parsed", i, n);
		assert_null(back);
	}
	assert_int_equal(lm_evidence_parse((const uint8_t *)text, n, &back), 0);
	lm_evidence_free(back);
	assert_int_equal(lm_evidence_parse((const uint8_t *)"[]", 2, &back), LM_EFORMAT);
	assert_int_equal(lm_evidence_parse((const uint8_t *)"{\"version\":1,\"version\":1}", 25, &back), LM_EFORMAT);
	free(text);
	lm_evidence_free(ev);
}

static void test_parse_fields(void **state)
{
	char *s;

	(void)state;
	assert_int_equal(parse_with("extra", json_string("x")), LM_EFORMAT);
	assert_int_equal(parse_with("version", json_integer(2)), LM_EFORMAT);
	assert_int_equal(parse_with("version", json_string("1")), LM_EFORMAT);
	assert_int_equal(parse_with("version", json_real(1.0)), LM_EFORMAT);
	assert_int_equal(parse_with("version", NULL), LM_EFORMAT);
	assert_int_equal(parse_with("platform", json_string("AMD SEV")), LM_EFORMAT);
	assert_int_equal(parse_with("platform", json_string("sev-snp")), LM_EFORMAT);
	assert_int_equal(parse_with("platform", json_string("AMD SEV-SNP")), 0);
	assert_int_equal(parse_with("instance_id", json_string("")), LM_EFORMAT);
	assert_int_equal(parse_with("instance_id", json_string("inst x")), LM_EFORMAT);
	assert_int_equal(parse_with("instance_id", json_integer(5)), LM_EFORMAT);
	assert_int_equal(parse_with("nonce", json_string("zz")), LM_EFORMAT);
	assert_int_equal(parse_with("nonce", json_string("abc")), LM_EFORMAT);
	assert_int_equal(parse_with("nonce", NULL), LM_EFORMAT);
	assert_int_equal(parse_with("report_data", json_string("00")), LM_EFORMAT);
	assert_int_equal(parse_with("enclave_id", json_string("xy")), LM_EFORMAT);
	assert_int_equal(parse_with("enclave_id", json_string("")), LM_EFORMAT);
	assert_int_equal(parse_with("measurement", json_string("md5:00")), LM_EFORMAT);
	assert_int_equal(parse_with("measurement", json_string("sha384:00")), LM_EFORMAT);
	assert_int_equal(parse_with("measurement", json_string("00ff")), LM_EFORMAT);
	assert_int_equal(parse_with("timestamp", json_string("yesterday")), LM_EFORMAT);
	assert_int_equal(parse_with("evidence", json_string("@@@@")), LM_EFORMAT);
	assert_int_equal(parse_with("evidence", json_string("TE1T")), 0);	/* parses; verify says EFORMAT */
	assert_int_equal(parse_with("evidence", json_string("TE1T\n")), LM_EFORMAT);
	assert_int_equal(parse_with("evidence", json_string("TE=T")), LM_EFORMAT);
	assert_int_equal(parse_with("evidence", json_string("TE1")), LM_EFORMAT);
	assert_int_equal(parse_with("evidence", json_string("")), LM_EFORMAT);
	assert_int_equal(parse_with("signature", json_string("0g")), LM_EFORMAT);
	assert_int_equal(parse_with("signature", NULL), 0);
	assert_int_equal(parse_with("platform_info", json_string("x")), LM_EFORMAT);
	assert_int_equal(parse_with("platform_info", NULL), 0);
	assert_int_equal(parse_with("certificate_chain", json_string("x")), LM_EFORMAT);
	assert_int_equal(parse_with("certificate_chain", json_pack("[i]", 1)), LM_EFORMAT);
	assert_int_equal(parse_with("certificate_chain", json_pack("[s]", "not pem")), LM_EFORMAT);

	/* Sizes: nonce 64 bytes is the most, evidence 1 MiB, 16 PEMs. */
	s = repeat('a', 2 * LM_NONCE_MAX);
	assert_int_equal(parse_with("nonce", json_string(s)), 0);
	free(s);
	s = repeat('a', 2 * LM_NONCE_MAX + 2);
	assert_int_equal(parse_with("nonce", json_string(s)), LM_EFORMAT);
	free(s);
	s = repeat('a', 2 * LM_REPORT_DATA_BYTES + 2);
	assert_int_equal(parse_with("report_data", json_string(s)), LM_EFORMAT);
	free(s);
	s = repeat('A', 4 * ((1u << 20) / 3 + 2));
	assert_int_equal(parse_with("evidence", json_string(s)), LM_EFORMAT);
	free(s);
	{
		json_t *chain = json_array();

		for (int i = 0; i < 17; i++)
			json_array_append_new(chain, json_string("-----BEGIN PUBLIC KEY-----\n"));
		assert_int_equal(parse_with("certificate_chain", json_deep_copy(chain)), LM_EFORMAT);
		json_array_remove(chain, 0);
		assert_int_equal(parse_with("certificate_chain", chain), 0);
	}
}

static void test_parse_oversized(void **state)
{
	struct lm_evidence *ev = NULL;
	size_t n = (4u << 20) + 1;
	uint8_t *big = calloc(1, n);

	(void)state;
	assert_non_null(big);
	memset(big, ' ', n);
	big[0] = '{';
	assert_int_equal(lm_evidence_parse(big, n, &ev), LM_ETOOBIG);
	assert_null(ev);
	free(big);
}

/* ---- the raw report ---- */

static void test_raw_report(void **state)
{
	struct lm_evidence *ev = make_doc(g_key_a, 0);
	struct lm_sim_report rep;
	uint8_t raw[LM_SIM_REPORT_BYTES];
	struct lm_verdict v;

	(void)state;
	memcpy(raw, ev->evidence, sizeof(raw));
	assert_int_equal(lm_sim_report_parse(raw, sizeof(raw), &rep), 0);
	assert_string_equal(rep.instance_id, "inst_abc123");
	assert_int_equal(rep.version, 1);
	assert_int_equal(rep.flags, 0);
	assert_memory_equal(rep.measurement, g_measurement, sizeof(g_measurement));
	assert_int_equal(lm_attest_detect(raw, sizeof(raw)), LM_PLATFORM_SIMULATED);
	assert_int_equal(lm_attest_detect(raw, sizeof(raw) - 1), LM_PLATFORM_UNKNOWN);

	assert_int_equal(lm_sim_report_parse(raw, sizeof(raw) - 1, &rep), LM_EFORMAT);
	raw[0] = 'X';
	assert_int_equal(lm_sim_report_parse(raw, sizeof(raw), &rep), LM_EFORMAT);
	raw[0] = 'L';
	raw[11] = 2;	/* version 2 */
	assert_int_equal(lm_sim_report_parse(raw, sizeof(raw), &rep), LM_EFORMAT);
	raw[11] = 1;
	raw[15] = 2;	/* unknown flag */
	assert_int_equal(lm_sim_report_parse(raw, sizeof(raw), &rep), LM_EFORMAT);
	raw[15] = 0;
	raw[128 + 40] = 'x';	/* byte after the id's NUL */
	assert_int_equal(lm_sim_report_parse(raw, sizeof(raw), &rep), LM_EFORMAT);
	memset(raw + 128, 'x', 64);	/* unterminated */
	assert_int_equal(lm_sim_report_parse(raw, sizeof(raw), &rep), LM_EFORMAT);
	memset(raw + 128, 0, 64);	/* empty */
	assert_int_equal(lm_sim_report_parse(raw, sizeof(raw), &rep), LM_EFORMAT);

	/* Evidence that is no report makes the document unusable. */
	ev->evidence_size--;
	assert_int_equal(lm_verify_evidence(ev, &g_allow, &v), LM_EFORMAT);
	lm_evidence_free(ev);
}

static void test_measurement_known(void **state)
{
	static const char canon[] = "{\"image\":\"img/x\",\"sandbox\":\"strict\",\"type\":\"compute-4x\"}";
	uint8_t m[LM_SIM_MEASUREMENT_BYTES], want[LM_SIM_MEASUREMENT_BYTES], m2[LM_SIM_MEASUREMENT_BYTES];

	(void)state;
	assert_int_equal(EVP_Digest(canon, strlen(canon), want, NULL, EVP_sha384(), NULL), 1);
	assert_int_equal(lm_sim_measurement(m, "img/x", "compute-4x", "strict"), 0);
	assert_memory_equal(m, want, sizeof(m));
	assert_int_equal(lm_sim_measurement(m2, "img/x", "strict", "compute-4x"), 0);
	assert_memory_not_equal(m, m2, sizeof(m));
	assert_int_equal(lm_sim_measurement(m2, "img/x", NULL, "strict"), LM_EINVAL);
}

static void test_bind_and_names(void **state)
{
	uint8_t rd[LM_REPORT_DATA_BYTES], want[LM_REPORT_DATA_BYTES], cat[sizeof(g_nonce) + sizeof(g_guest_pk)];

	(void)state;
	memcpy(cat, g_nonce, sizeof(g_nonce));
	memcpy(cat + sizeof(g_nonce), g_guest_pk, sizeof(g_guest_pk));
	assert_int_equal(EVP_Digest(cat, sizeof(cat), want, NULL, EVP_sha512(), NULL), 1);
	assert_int_equal(lm_report_data_bind(rd, g_nonce, sizeof(g_nonce), g_guest_pk, sizeof(g_guest_pk)), 0);
	assert_memory_equal(rd, want, sizeof(rd));

	for (int p = LM_PLATFORM_SIMULATED; p <= LM_PLATFORM_TPM; p++)
		assert_int_equal(lm_platform_from_name(lm_platform_name((enum lm_platform)p)), p);
	assert_string_equal(lm_platform_name(LM_PLATFORM_SNP), "AMD SEV-SNP");
	assert_int_equal(lm_platform_from_name("tdx"), LM_PLATFORM_TDX);
	assert_int_equal(lm_platform_from_name("AMD"), LM_PLATFORM_UNKNOWN);
	assert_int_equal(lm_platform_from_name(NULL), LM_PLATFORM_UNKNOWN);
}

static void test_no_backend_and_verdict(void **state)
{
	struct lm_evidence *ev = make_doc(g_key_a, 0);
	struct lm_verdict v;

	(void)state;
	/* A platform without a verifier in this build is never verified. */
	ev->platform = LM_PLATFORM_UNKNOWN;
	assert_int_equal(lm_verify_evidence(ev, &g_allow, &v), 0);
	assert_false(v.verified);
	assert_string_equal(v.checks[0].name, "platform");

	lm_verdict_init(&v, LM_PLATFORM_SIMULATED);
	for (int i = 0; i < LM_CHECK_MAX + 3; i++)
		lm_verdict_add(&v, "x", true, "check %d", i);
	assert_false(v.verified);
	assert_int_equal(v.check_count, LM_CHECK_MAX);
	assert_int_equal(v.first_failed, LM_CHECK_MAX - 1);
	lm_evidence_free(ev);
}

static void test_make_rejects(void **state)
{
	struct lm_evidence *ev = NULL;
	char *long_id = repeat('i', 64);

	(void)state;
	assert_int_equal(lm_sim_evidence_make(g_key_a, long_id, g_measurement, g_nonce, sizeof(g_nonce), g_guest_pk,
					      sizeof(g_guest_pk), &ev),
			 LM_EINVAL);
	assert_int_equal(lm_sim_evidence_make(g_key_a, "inst_1", g_measurement, g_nonce, LM_NONCE_MAX + 1,
					      g_guest_pk, sizeof(g_guest_pk), &ev),
			 LM_EINVAL);
	assert_true(lm_sim_evidence_make("not a key", "inst_1", g_measurement, g_nonce, sizeof(g_nonce), g_guest_pk,
					 sizeof(g_guest_pk), &ev) < 0);
	assert_null(ev);
	free(long_id);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_simulated_refused),
		cmocka_unit_test(test_signature_report_flip),
		cmocka_unit_test(test_signature_sig_flip),
		cmocka_unit_test(test_signature_other_key),
		cmocka_unit_test(test_nonce_mismatch),
		cmocka_unit_test(test_report_data_unbound),
		cmocka_unit_test(test_measurement),
		cmocka_unit_test(test_debug),
		cmocka_unit_test(test_document_disagrees),
		cmocka_unit_test(test_parse_truncated),
		cmocka_unit_test(test_parse_fields),
		cmocka_unit_test(test_parse_oversized),
		cmocka_unit_test(test_raw_report),
		cmocka_unit_test(test_measurement_known),
		cmocka_unit_test(test_bind_and_names),
		cmocka_unit_test(test_no_backend_and_verdict),
		cmocka_unit_test(test_make_rejects),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
