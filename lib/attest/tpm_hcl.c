/* The HCL attestation report of an Azure SEV-SNP confidential VM: the
 * paravisor's report that carries the SNP ATTESTATION_REPORT and the
 * runtime claims whose hash is in its REPORT_DATA, among them the vTPM's
 * attestation key. Layout in tpm_int.h; the TPM backend (tpm.c) verifies
 * the chain SNP report -> claims -> AK -> quote. Untrusted bytes. */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include "attest/snp_int.h"
#include "attest/tpm_int.h"
#include "lambda/json.h"
#include "lambda/log.h"
#include "lambda/util.h"

#define JWK_MAX 2048	/* characters of a base64url member: 8192-bit moduli */

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int lm_tpm_hcl_detect(const uint8_t *raw, size_t size)
{
	return raw && size >= LM_HCL_OFF_CLAIMS && memcmp(raw, LM_HCL_MAGIC, 4) == 0;
}

static const EVP_MD *hcl_md(uint32_t hash_type)
{
	return hash_type == 1 ? EVP_sha256() : hash_type == 2 ? EVP_sha384() : hash_type == 3 ? EVP_sha512() : NULL;
}

int lm_tpm_hcl_parse(const uint8_t *raw, size_t size, struct lm_tpm_hcl *out)
{
	uint32_t data_size, claims_size;

	if (!raw || !out)
		return LM_EINVAL;
	memset(out, 0, sizeof(*out));
	if (!lm_tpm_hcl_detect(raw, size)) {
		lm_err("HCL report: no \"HCLA\" header or shorter than %u bytes", LM_HCL_OFF_CLAIMS);
		return LM_EFORMAT;
	}
	if (size > LM_HCL_MAX) {
		lm_err("HCL report: larger than %u bytes", LM_HCL_MAX);
		return LM_ETOOBIG;
	}
	if (le32(raw + 4) != 1) {
		lm_err("HCL report: version %u (only 1 is known)", le32(raw + 4));
		return LM_EFORMAT;
	}
	data_size = le32(raw + LM_HCL_OFF_RUNTIME);
	claims_size = le32(raw + LM_HCL_OFF_RUNTIME + 16);
	if (le32(raw + LM_HCL_OFF_RUNTIME + 8) != LM_HCL_REPORT_TYPE_SNP) {
		lm_err("HCL report: report type %u is not SEV-SNP (2)", le32(raw + LM_HCL_OFF_RUNTIME + 8));
		return LM_EFORMAT;
	}
	out->hash_type = le32(raw + LM_HCL_OFF_RUNTIME + 12);
	if (!hcl_md(out->hash_type)) {
		lm_err("HCL report: unknown runtime claims hash type %u", out->hash_type);
		return LM_EFORMAT;
	}
	if (claims_size == 0 || claims_size > size - LM_HCL_OFF_CLAIMS || data_size < 20 ||
	    data_size - 20 != claims_size) {
		lm_err("HCL report: runtime claims of %u bytes (data size %u) do not fit the %zu-byte report",
		       claims_size, data_size, size);
		return LM_EFORMAT;
	}
	out->snp_report = raw + LM_HCL_OFF_SNP;
	out->snp_report_size = LM_SNP_REPORT_BYTES;
	out->claims = raw + LM_HCL_OFF_CLAIMS;
	out->claims_size = claims_size;
	return 0;
}

int lm_tpm_hcl_bound(const struct lm_tpm_hcl *hcl, const uint8_t report_data[static 64])
{
	uint8_t h[EVP_MAX_MD_SIZE];
	unsigned n = 0;
	const EVP_MD *md = hcl_md(hcl->hash_type);

	if (!md)
		return LM_EINVAL;
	if (!EVP_Digest(hcl->claims, hcl->claims_size, h, &n, md, NULL))
		return lm_log_ossl("EVP_Digest");
	return n <= 64 && memcmp(h, report_data, n) == 0;
}

/* Decodes a base64url JWK member (no padding) into a BIGNUM. */
static int jwk_bn(const json_t *jwk, const char *key, BIGNUM **out)
{
	const char *s = lm_json_str(jwk, key);
	char buf[JWK_MAX + 4];
	uint8_t *bin = NULL;
	size_t n, size;
	int r;

	if (!s || (n = strlen(s)) == 0 || n > JWK_MAX || n % 4 == 1) {
		lm_err("HCL report: HCLAkPub.%s missing or not base64url", key);
		return LM_EFORMAT;
	}
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (c == '-')
			c = '+';
		else if (c == '_')
			c = '/';
		else if (c == '+' || c == '/' || c == '=') {
			lm_err("HCL report: HCLAkPub.%s is not base64url", key);
			return LM_EFORMAT;
		}
		buf[i] = c;
	}
	while (n % 4)
		buf[n++] = '=';
	buf[n] = '\0';
	if ((r = lm_base64_decode(buf, &bin, &size)) < 0 || size == 0) {
		free(bin);
		lm_err("HCL report: HCLAkPub.%s is not base64url", key);
		return r < 0 ? r : LM_EFORMAT;
	}
	*out = BN_bin2bn(bin, (int)size, NULL);
	free(bin);
	return *out ? 0 : LM_ENOMEM;
}

int lm_tpm_hcl_ak(const struct lm_tpm_hcl *hcl, EVP_PKEY **out)
{
	json_t *claims, *keys, *jwk, *ak = NULL;
	json_error_t jerr;
	BIGNUM *n = NULL, *e = NULL;
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	size_t i;
	int r = LM_EFORMAT;

	*out = NULL;
	if (!(claims = json_loadb((const char *)hcl->claims, hcl->claims_size, JSON_REJECT_DUPLICATES, &jerr))) {
		lm_err("HCL report: runtime claims are not JSON (line %d): %s", jerr.line, jerr.text);
		return LM_EFORMAT;
	}
	keys = json_object_get(claims, "keys");
	json_array_foreach(keys, i, jwk) {
		const char *kid = lm_json_str(jwk, "kid");

		if (kid && strcmp(kid, "HCLAkPub") == 0) {
			if (ak) {
				lm_err("HCL report: two HCLAkPub keys in the runtime claims");
				goto out;
			}
			ak = jwk;
		}
	}
	if (!ak || !lm_json_str(ak, "kty") || strcmp(lm_json_str(ak, "kty"), "RSA") != 0) {
		lm_err("HCL report: the runtime claims hold no RSA key HCLAkPub");
		goto out;
	}
	if ((r = jwk_bn(ak, "n", &n)) < 0 || (r = jwk_bn(ak, "e", &e)) < 0)
		goto out;
	r = LM_ENOMEM;
	if (!(bld = OSSL_PARAM_BLD_new()) || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) || !(params = OSSL_PARAM_BLD_to_param(bld)) ||
	    !(ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL)))
		goto out;
	if (EVP_PKEY_fromdata_init(ctx) != 1 || EVP_PKEY_fromdata(ctx, out, EVP_PKEY_PUBLIC_KEY, params) != 1) {
		ERR_clear_error();
		lm_err("HCL report: HCLAkPub is not a usable RSA key");
		r = LM_EFORMAT;
		goto out;
	}
	r = 0;
out:
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_free(n);
	BN_free(e);
	json_decref(claims);
	return r;
}
