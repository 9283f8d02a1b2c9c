/* Unit tests for lib/attest/policy.c: the JSON policy file sets every knob
 * of struct lm_policy, refuses unknown keys, wrong types and bad values,
 * and lm_policy_set() (the command line's path) overrides the file. Also
 * the HCL report parser of tpm_hcl.c on a report built here. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "attest/tpm_int.h"
#include "lambda/attest.h"
#include "lambda/err.h"

#define H48 "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f"
#define H32 "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf"
#define H64 H32 H32

static const char full[] =
	"{\"allow_simulated_insecure\": true, \"allow_debug\": true,"
	" \"expect_measurement\": \"sha384:" H48 "\", \"nonce\": \"9009\", \"report_data\": \"" H64 "\","
	" \"accept_tcb\": [\"UpToDate\", \"OutOfDate\"], \"mrenclave\": \"" H32 "\", \"mrsigner\": \"" H32 "\","
	" \"mrtd\": \"" H48 "\", \"rtmr0\": \"" H48 "\", \"rtmr1\": \"" H48 "\", \"rtmr2\": \"" H48 "\","
	" \"rtmr3\": \"" H48 "\", \"host_data\": \"" H32 "\", \"allow_migration_agent\": true, \"deny_smt\": true,"
	" \"max_vmpl\": 1, \"min_tcb\": \"0x7300000000000803\", \"product\": \"Genoa\","
	" \"certs\": [\"a.der\", \"b.pem\"], \"collateral\": \"coll\", \"root\": \"root.pem\","
	" \"at\": \"2025-01-01T00:00:00Z\"}";

static int load(struct lm_policy_file *pf, const char *text)
{
	lm_policy_file_init(pf);
	return lm_policy_load(pf, text, strlen(text));
}

static void test_every_knob(void **state)
{
	struct lm_policy_file pf;
	const struct lm_policy *p = &pf.policy;

	(void)state;
	assert_int_equal(load(&pf, full), 0);
	assert_true(p->allow_simulated_insecure && p->allow_debug && p->allow_migration_agent && p->deny_smt);
	assert_int_equal(p->expect_measurement_size, 48);
	assert_int_equal(p->expect_measurement[47], 0x2f);
	assert_int_equal(p->expect_nonce_size, 2);
	assert_int_equal(p->expect_nonce[0], 0x90);
	assert_int_equal(p->expect_report_data[63], 0xbf);
	assert_int_equal(p->accept_tcb, LM_TCB_ACCEPT(LM_TCB_UP_TO_DATE) | LM_TCB_ACCEPT(LM_TCB_OUT_OF_DATE));
	assert_int_equal(p->expect_mrenclave[0], 0xa0);
	assert_int_equal(p->expect_mrsigner[31], 0xbf);
	assert_int_equal(p->expect_mrtd[1], 0x01);
	for (int i = 0; i < 4; i++)
		assert_non_null(p->expect_rtmr[i]);
	assert_int_equal(p->expect_host_data[0], 0xa0);
	assert_true(p->has_max_vmpl);
	assert_int_equal(p->max_vmpl, 1);
	assert_true(p->min_tcb == 0x7300000000000803ull);
	assert_string_equal(p->product, "Genoa");
	assert_int_equal(p->cert_file_count, 2);
	assert_string_equal(p->cert_files[1], "b.pem");
	assert_string_equal(p->collateral_dir, "coll");
	assert_string_equal(p->root_file, "root.pem");
	assert_int_equal((long long)p->at, 1735689600LL);
	lm_policy_file_free(&pf);
	assert_null(pf.policy.expect_nonce);
}

static void test_cli_overrides(void **state)
{
	struct lm_policy_file pf;

	(void)state;
	assert_int_equal(load(&pf, "{\"allow_debug\": true, \"max_vmpl\": 2, \"nonce\": \"01\", \"certs\": [\"x\"]}"), 0);
	assert_int_equal(lm_policy_set(&pf, "allow_debug", "false"), 0);
	assert_int_equal(lm_policy_set(&pf, "max_vmpl", "0"), 0);
	assert_int_equal(lm_policy_set(&pf, "nonce", "0203"), 0);
	assert_int_equal(lm_policy_set(&pf, "certs", "y"), 0);
	assert_false(pf.policy.allow_debug);
	assert_int_equal(pf.policy.max_vmpl, 0);
	assert_int_equal(pf.policy.expect_nonce_size, 2);
	assert_int_equal(pf.policy.expect_nonce[1], 3);
	assert_int_equal(pf.policy.cert_file_count, 2);
	assert_int_equal(lm_policy_set(&pf, "no_such_knob", "1"), LM_EINVAL);
	/* The algorithm prefix is case-insensitive, its size still checked. */
	assert_int_equal(lm_policy_set(&pf, "expect_measurement", "SHA384:" H48), 0);
	assert_int_equal(pf.policy.expect_measurement_size, 48);
	assert_int_equal(lm_policy_set(&pf, "expect_measurement", "SHA256:" H48), LM_EFORMAT);
	lm_policy_file_free(&pf);
}

static void test_rejects(void **state)
{
	static const char *const bad[] = {
		"{\"allow_debug\": true, \"allow_debgu\": true}",	/* unknown key */
		"{\"allow_debug\": \"yes\"}",				/* wrong type */
		"{\"max_vmpl\": 4}",
		"{\"max_vmpl\": -1}",
		"{\"mrtd\": \"" H32 "\"}",				/* 32 bytes, not 48 */
		"{\"mrenclave\": \"zz\"}",
		"{\"report_data\": \"" H32 "\"}",
		"{\"accept_tcb\": [\"UpToDate\", \"Fine\"]}",
		"{\"accept_tcb\": []}",
		"{\"accept_tcb\": \"UpToDate\"}",
		"{\"certs\": [1]}",
		"{\"at\": \"yesterday\"}",
		"{\"product\": \"Naples\"}",
		"{\"min_tcb\": \"0x\"}",
		"{\"expect_measurement\": \"md5:00\"}",
		"{\"expect_measurement\": \"sha384:00\"}",			/* 1 byte pins nothing */
		"{\"expect_measurement\": \"sha384:" H32 "\"}",		/* sha384 is 48 bytes */
		"{\"expect_measurement\": \"sha256:\"}",
		"{\"expect_measurement\": \"00\"}",			/* bare: 32, 48 or 64 */
		"{\"expect_measurement\": \"" H48 H48 "\"}",
		"{\"nonce\": \"\"}",
		"{\"allow_debug\": true, \"allow_debug\": false}",	/* duplicate */
		"[]",
		"{\"allow_debug\": tru",				/* truncated */
		"",
	};
	struct lm_policy_file pf;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int r = load(&pf, bad[i]);

		if (r != LM_EFORMAT)
			fail_msg("accepted or wrong error %d: %s", r, bad[i]);
		lm_policy_file_free(&pf);
	}
}

/* An HCL report made here: header, an SNP report slot, the runtime data
 * header and claims holding a fresh RSA key as HCLAkPub. */
static void test_hcl(void **state)
{
	static const char claims_fmt[] =
		"{\"keys\":[{\"kid\":\"HCLAkPub\",\"kty\":\"RSA\",\"e\":\"AQAB\",\"n\":\"%s\"}]}";
	EVP_PKEY *key = EVP_RSA_gen(2048), *got = NULL;
	BIGNUM *n = NULL;
	uint8_t nbin[256], *raw, rd[64];
	char nb64[400], claims[600];
	struct lm_tpm_hcl hcl;
	size_t len, size;
	int b64;

	(void)state;
	assert_non_null(key);
	assert_int_equal(EVP_PKEY_get_bn_param(key, "n", &n), 1);
	assert_int_equal(BN_bn2binpad(n, nbin, sizeof(nbin)), 256);
	b64 = EVP_EncodeBlock((unsigned char *)nb64, nbin, sizeof(nbin));
	for (int i = 0; i < b64; i++)
		nb64[i] = nb64[i] == '+' ? '-' : nb64[i] == '/' ? '_' : nb64[i];
	while (b64 && nb64[b64 - 1] == '=')
		nb64[--b64] = '\0';
	len = (size_t)snprintf(claims, sizeof(claims), claims_fmt, nb64);
	size = LM_HCL_OFF_CLAIMS + len + 16;
	raw = calloc(1, size);
	assert_non_null(raw);
	memcpy(raw, "HCLA", 4);
	raw[4] = 1;
	raw[LM_HCL_OFF_RUNTIME] = (uint8_t)(20 + len), raw[LM_HCL_OFF_RUNTIME + 1] = (uint8_t)((20 + len) >> 8);
	raw[LM_HCL_OFF_RUNTIME + 8] = 2;
	raw[LM_HCL_OFF_RUNTIME + 12] = 1;
	raw[LM_HCL_OFF_RUNTIME + 16] = (uint8_t)len, raw[LM_HCL_OFF_RUNTIME + 17] = (uint8_t)(len >> 8);
	memcpy(raw + LM_HCL_OFF_CLAIMS, claims, len);

	assert_int_equal(lm_tpm_hcl_parse(raw, size, &hcl), 0);
	assert_int_equal(hcl.claims_size, len);
	assert_int_equal(lm_tpm_hcl_ak(&hcl, &got), 0);
	assert_int_equal(EVP_PKEY_eq(got, key), 1);
	EVP_PKEY_free(got);
	/* The binding: REPORT_DATA starts with SHA-256 of the claims. */
	memset(rd, 0, sizeof(rd));
	assert_int_equal(lm_tpm_hcl_bound(&hcl, rd), 0);
	assert_int_equal(EVP_Digest(claims, len, rd, NULL, EVP_sha256(), NULL), 1);
	assert_int_equal(lm_tpm_hcl_bound(&hcl, rd), 1);
	rd[31] ^= 1;
	assert_int_equal(lm_tpm_hcl_bound(&hcl, rd), 0);

	/* Truncated, wrong type, wrong hash type, claims past the end. */
	assert_int_equal(lm_tpm_hcl_parse(raw, size - 17, &hcl), LM_EFORMAT);
	raw[LM_HCL_OFF_RUNTIME + 8] = 3;
	assert_int_equal(lm_tpm_hcl_parse(raw, size, &hcl), LM_EFORMAT);
	raw[LM_HCL_OFF_RUNTIME + 8] = 2;
	raw[LM_HCL_OFF_RUNTIME + 12] = 7;
	assert_int_equal(lm_tpm_hcl_parse(raw, size, &hcl), LM_EFORMAT);
	raw[LM_HCL_OFF_RUNTIME + 12] = 1;
	raw[0] = 'X';
	assert_int_equal(lm_tpm_hcl_parse(raw, size, &hcl), LM_EFORMAT);
	raw[0] = 'H';
	/* A claims text without HCLAkPub has no AK. */
	memcpy(raw + LM_HCL_OFF_CLAIMS + 10, "XCLAkPub", 8);
	assert_int_equal(lm_tpm_hcl_parse(raw, size, &hcl), 0);
	assert_int_equal(lm_tpm_hcl_ak(&hcl, &got), LM_EFORMAT);
	free(raw);
	BN_free(n);
	EVP_PKEY_free(key);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_knob),
		cmocka_unit_test(test_cli_overrides),
		cmocka_unit_test(test_rejects),
		cmocka_unit_test(test_hcl),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
