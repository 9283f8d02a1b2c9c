/* The TPM 2.0 backend: verifies a TPM2_Quote. The document carries the
 * TPMS_ATTEST bytes as its evidence and, in platform_info, the
 * TPMT_SIGNATURE ("signature"), the attestation key ("ak_public": a
 * TPMT_PUBLIC, TPM2B_PUBLIC or DER SubjectPublicKeyInfo), the PCR values
 * ("pcrs"), optionally the event log ("event_log") and the expected AK name
 * ("ak_name"); certificate_chain holds the AK certificate and its issuers.
 * docs/attestation.md, section "TPM 2.0", lists the checks. Also builds
 * such documents from the separate files TPM tools write. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "attest/attest_int.h"
#include "attest/snp_int.h"
#include "attest/tpm_int.h"
#include "lambda/json.h"
#include "lambda/log.h"
#include "lambda/secret.h"
#include "lambda/util.h"

#define TPM_ECC_NIST_P256 0x0003u
#define TPM_ECC_NIST_P384 0x0004u
#define TPM_ECC_NIST_P521 0x0005u
#define AK_REQUIRED (LM_TPMA_FIXED_TPM | LM_TPMA_FIXED_PARENT | LM_TPMA_SENSITIVE_DATA_ORIGIN | \
		     LM_TPMA_RESTRICTED | LM_TPMA_SIGN)
#define PCRS_JSON_MAX (1u << 20)
#define BOOT_PCRS 0x3ffu	/* PCRs 0-9: firmware and boot loader, all in the TCG event log */

static const EVP_MD *tpm_md(uint16_t alg)
{
	return lm_tpm_md(alg);
}

static int tpm_hash(uint16_t alg, const void *data, size_t size, uint8_t *out)
{
	const EVP_MD *md = tpm_md(alg);

	if (!md)
		return LM_EINVAL;
	return LM_OSSL(EVP_Digest(data, size, out, NULL, md, NULL));
}

/* "0-7,9" for a PCR mask. */
static void mask_text(uint32_t mask, char *out, size_t out_size)
{
	size_t n = 0;

	out[0] = 0;
	for (int i = 0; i < LM_TPM_PCR_MAX && n < out_size; i++) {
		int j = i;

		if (!(mask & (1u << i)))
			continue;
		while (j + 1 < LM_TPM_PCR_MAX && (mask & (1u << (j + 1))))
			j++;
		n += (size_t)snprintf(out + n, out_size - n, j > i ? "%s%d-%d" : "%s%d", n ? "," : "", i, j);
		i = j;
	}
	if (!mask)
		snprintf(out, out_size, "none");
}

/* ---- the attestation key ---- */

struct ak {
	EVP_PKEY *key;
	bool has_public;		/* a TPMT_PUBLIC: attributes and name known */
	struct lm_tpm_public pub;
	uint8_t name[LM_TPM_NAME_MAX];
	size_t name_size;
	uint8_t spki_hash[32];		/* SHA-256 of the DER SubjectPublicKeyInfo */
};

static int rsa_key(const struct lm_tpm_public *k, EVP_PKEY **out)
{
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	BIGNUM *n = BN_bin2bn(k->modulus, (int)k->modulus_size, NULL);
	BIGNUM *e = BN_new();
	int r = LM_ENOMEM;

	if (!bld || !n || !e || !BN_set_word(e, k->exponent ? k->exponent : 65537))
		goto out;
	if (!OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) || !(params = OSSL_PARAM_BLD_to_param(bld)) ||
	    !(ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL)))
		goto out;
	if ((r = LM_OSSL(EVP_PKEY_fromdata_init(ctx))) < 0 ||
	    (r = LM_OSSL(EVP_PKEY_fromdata(ctx, out, EVP_PKEY_PUBLIC_KEY, params))) < 0)
		goto out;
	r = 0;
out:
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_free(n);
	BN_free(e);
	return r;
}

static int ecc_key(const struct lm_tpm_public *k, EVP_PKEY **out)
{
	const char *group;
	size_t field, pt_size;
	uint8_t pt[1 + 2 * LM_TPM_ECC_MAX];
	OSSL_PARAM params[3];
	EVP_PKEY_CTX *ctx = NULL;
	int r;

	switch (k->curve) {
	case TPM_ECC_NIST_P256:
		group = "P-256", field = 32;
		break;
	case TPM_ECC_NIST_P384:
		group = "P-384", field = 48;
		break;
	case TPM_ECC_NIST_P521:
		group = "P-521", field = 66;
		break;
	default:
		lm_err("TPMT_PUBLIC: unsupported ECC curve 0x%04x", k->curve);
		return LM_EFORMAT;
	}
	if (k->x_size > field || k->y_size > field) {
		lm_err("TPMT_PUBLIC: ECC point larger than its curve");
		return LM_EFORMAT;
	}
	/* TPM coordinates may be shorter than the field: left-pad them. */
	memset(pt, 0, sizeof(pt));
	pt[0] = 0x04;
	memcpy(pt + 1 + field - k->x_size, k->x, k->x_size);
	memcpy(pt + 1 + 2 * field - k->y_size, k->y, k->y_size);
	pt_size = 1 + 2 * field;
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)group, 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, pt, pt_size);
	params[2] = OSSL_PARAM_construct_end();
	if (!(ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)))
		return LM_ENOMEM;
	if ((r = LM_OSSL(EVP_PKEY_fromdata_init(ctx))) == 0)
		r = EVP_PKEY_fromdata(ctx, out, EVP_PKEY_PUBLIC_KEY, params) == 1 ? 0 : LM_EFORMAT;
	EVP_PKEY_CTX_free(ctx);
	if (r == LM_EFORMAT) {
		ERR_clear_error();
		lm_err("TPMT_PUBLIC: ECC point is not on its curve");
	}
	return r;
}

static void ak_clear(struct ak *ak)
{
	EVP_PKEY_free(ak->key);
	memset(ak, 0, sizeof(*ak));
}

/* Loads a TPMT_PUBLIC, TPM2B_PUBLIC, DER or PEM SubjectPublicKeyInfo. */
static int ak_load(const uint8_t *raw, size_t size, struct ak *out)
{
	struct ak ak;
	uint8_t *der = NULL;
	int der_size, r;

	memset(&ak, 0, sizeof(ak));
	if (size > 0 && raw[0] != 0x30 && !(size > 10 && memcmp(raw, "-----BEGIN", 10) == 0)) {
		if ((r = lm_tpm_public_parse(raw, size, &ak.pub)) < 0)
			return r;
		ak.has_public = true;
		/* Name = nameAlg || H_nameAlg(TPMT_PUBLIC) (Part 1, 16). */
		ak.name[0] = (uint8_t)(ak.pub.name_alg >> 8);
		ak.name[1] = (uint8_t)ak.pub.name_alg;
		ak.name_size = 2 + lm_tpm_hash_size(ak.pub.name_alg);
		if ((r = tpm_hash(ak.pub.name_alg, ak.pub.raw, ak.pub.raw_size, ak.name + 2)) < 0)
			return r;
		ak.pub.raw = NULL;	/* points into raw, which the caller frees */
		r = ak.pub.type == LM_TPM_ALG_RSA ? rsa_key(&ak.pub, &ak.key) : ecc_key(&ak.pub, &ak.key);
		if (r < 0)
			return r;
	} else if (size > 0 && raw[0] == 0x30) {
		const uint8_t *p = raw;

		if (!(ak.key = d2i_PUBKEY(NULL, &p, (long)size)) || p != raw + size) {
			ERR_clear_error();
			EVP_PKEY_free(ak.key);
			lm_err("AK: not a TPMT_PUBLIC nor a DER SubjectPublicKeyInfo");
			return LM_EFORMAT;
		}
	} else {
		BIO *bio = BIO_new_mem_buf(raw, (int)size);

		if (!bio)
			return LM_ENOMEM;
		ak.key = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
		BIO_free(bio);
		if (!ak.key) {
			ERR_clear_error();
			lm_err("AK: not a PEM public key");
			return LM_EFORMAT;
		}
	}
	if (EVP_PKEY_get_base_id(ak.key) != EVP_PKEY_RSA && EVP_PKEY_get_base_id(ak.key) != EVP_PKEY_EC) {
		EVP_PKEY_free(ak.key);
		lm_err("AK: neither an RSA nor an EC key");
		return LM_EFORMAT;
	}
	if ((der_size = i2d_PUBKEY(ak.key, &der)) <= 0) {
		EVP_PKEY_free(ak.key);
		return lm_log_ossl("i2d_PUBKEY");
	}
	r = tpm_hash(LM_TPM_ALG_SHA256, der, (size_t)der_size, ak.spki_hash);
	OPENSSL_free(der);
	if (r < 0) {
		EVP_PKEY_free(ak.key);
		return r;
	}
	*out = ak;
	return 0;
}

static void ak_entry_free(void *p)
{
	struct ak *ak = p;

	if (ak)
		EVP_PKEY_free(ak->key);
	free(ak);
}

/* ak_load() once per verifier for the same bytes (a public key and its
 * TPM name: nothing here verifies a signature, so this holds without the
 * chain cache too). */
static int ak_load_cached(struct lm_verifier *vf, const uint8_t *raw, size_t size, struct ak *out)
{
	const void *parts[2] = { "tpm-ak-public", raw };
	const size_t sizes[2] = { 13, size };
	uint8_t key[32];
	struct ak *e;
	int r;

	if (size > LM_VERIFIER_PARSED_BYTES_MAX || lm_verifier_key(key, 2, parts, sizes) < 0)
		return ak_load(raw, size, out);
	if ((e = lm_verifier_parsed_get(vf, key))) {
		*out = *e;
		EVP_PKEY_up_ref(out->key);
		return 0;
	}
	if ((r = ak_load(raw, size, out)) < 0)
		return r;
	if ((e = malloc(sizeof(*e)))) {
		*e = *out;
		EVP_PKEY_up_ref(e->key);
		if (!lm_verifier_parsed_put(vf, key, e, ak_entry_free))
			ak_entry_free(e);
	}
	return 0;
}

/* ---- PCR values ---- */

/* One bank: {"hash": "sha256", "pcrs": {"0": "<hex>", ...}}. */
static int pcrs_add_bank(const json_t *obj, struct lm_tpm_pcrs *out)
{
	const json_t *values = json_object_get(obj, "pcrs"), *v;
	const char *name = lm_json_str(obj, "hash"), *key;
	uint16_t hash = lm_tpm_hash_from_name(name);
	struct lm_tpm_bank *b;

	if (!json_is_object(obj) || !hash || !json_is_object(values)) {
		lm_err("PCR values: each bank must be {\"hash\": \"sha1|sha256|sha384|sha512\", \"pcrs\": {...}}");
		return LM_EFORMAT;
	}
	if (lm_tpm_pcrs_bank(out, hash) || out->bank_count == LM_TPM_BANK_MAX) {
		lm_err("PCR values: bank %s given twice", name);
		return LM_EFORMAT;
	}
	b = &out->bank[out->bank_count];
	memset(b, 0, sizeof(*b));
	b->hash = hash;
	b->digest_size = lm_tpm_hash_size(hash);
	json_object_foreach((json_t *)values, key, v) {
		char *end = NULL;
		unsigned long i = strtoul(key, &end, 10);

		/* Decimal digits only: strtoul would also take " 5", "+5" and
		 * "-0", which alias "5" and "0". */
		if (!key[0] || strspn(key, "0123456789") != strlen(key) || *end || (key[0] == '0' && key[1]) ||
		    i >= LM_TPM_PCR_MAX || !json_is_string(v) ||
		    strlen(json_string_value(v)) != 2 * b->digest_size ||
		    lm_hex_decode(b->pcr[i], b->digest_size, json_string_value(v)) < 0) {
			lm_err("PCR values: %s PCR \"%s\" must be an index 0..31 with a %zu-byte hex value", name, key,
			       b->digest_size);
			return LM_EFORMAT;
		}
		b->present |= 1u << i;
	}
	out->bank_count++;
	return 0;
}

/* A bank object or an array of them. */
static int pcrs_parse(const json_t *j, struct lm_tpm_pcrs *out)
{
	size_t i;
	json_t *item;
	int r;

	memset(out, 0, sizeof(*out));
	if (json_is_array(j)) {
		json_array_foreach((json_t *)j, i, item)
			if ((r = pcrs_add_bank(item, out)) < 0)
				return r;
		return 0;
	}
	return pcrs_add_bank(j, out);
}

/* ---- signature ---- */

static int verify_signature(const struct ak *ak, const struct lm_tpm_signature *sig, const uint8_t *msg,
			    size_t msg_size, bool *ok)
{
	uint8_t digest[LM_TPM_DIGEST_MAX], *der = NULL;
	size_t digest_size = lm_tpm_hash_size(sig->hash);
	const uint8_t *s = sig->sig;
	size_t s_size = sig->sig_size;
	EVP_PKEY_CTX *ctx = NULL;
	ECDSA_SIG *ec = NULL;
	int r, der_size;

	*ok = false;
	if ((r = tpm_hash(sig->hash, msg, msg_size, digest)) < 0)
		return r;
	if (!(ctx = EVP_PKEY_CTX_new(ak->key, NULL))) {
		r = LM_ENOMEM;
		goto out;
	}
	if ((r = LM_OSSL(EVP_PKEY_verify_init(ctx))) < 0)
		goto out;
	if (sig->alg == LM_TPM_ALG_ECDSA) {
		BIGNUM *br = BN_bin2bn(sig->r, (int)sig->r_size, NULL), *bs = BN_bin2bn(sig->s, (int)sig->s_size, NULL);

		if (!br || !bs || !(ec = ECDSA_SIG_new()) || !ECDSA_SIG_set0(ec, br, bs)) {
			BN_free(br);
			BN_free(bs);
			r = LM_ENOMEM;
			goto out;
		}
		if ((der_size = i2d_ECDSA_SIG(ec, &der)) <= 0) {
			r = lm_log_ossl("i2d_ECDSA_SIG");
			goto out;
		}
		s = der;
		s_size = (size_t)der_size;
	} else {
		if ((r = LM_OSSL(EVP_PKEY_CTX_set_rsa_padding(ctx, sig->alg == LM_TPM_ALG_RSAPSS ? RSA_PKCS1_PSS_PADDING
											  : RSA_PKCS1_PADDING))) < 0)
			goto out;
		/* TPMs sign PSS with the largest salt or one of the hash size;
		 * both are recovered from the signature. */
		if (sig->alg == LM_TPM_ALG_RSAPSS &&
		    (r = LM_OSSL(EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, RSA_PSS_SALTLEN_AUTO))) < 0)
			goto out;
	}
	if ((r = LM_OSSL(EVP_PKEY_CTX_set_signature_md(ctx, tpm_md(sig->hash)))) < 0)
		goto out;
	*ok = EVP_PKEY_verify(ctx, s, s_size, digest, digest_size) == 1;
	ERR_clear_error();
	r = 0;
out:
	OPENSSL_free(der);
	ECDSA_SIG_free(ec);
	EVP_PKEY_CTX_free(ctx);
	return r;
}

/* ---- the parts of a document ---- */

struct parts {
	const json_t *info;		/* the document's, borrowed */
	uint8_t *sig_raw, *ak_raw, *log, *hcl;
	size_t sig_raw_size, ak_raw_size, log_size, hcl_size;
	const json_t *pcrs;
	const char *ak_name;
};

static void parts_free(struct parts *p)
{
	free(p->sig_raw);
	free(p->ak_raw);
	free(p->log);
	free(p->hcl);
	memset(p, 0, sizeof(*p));
}

/* Decodes the base64 member key of info when present; a member that is
 * there but not base64 fails. */
static int info_b64(const json_t *info, const char *key, uint8_t **out, size_t *size)
{
	const json_t *v = json_object_get(info, key);

	if (!v)
		return 0;
	if (!json_is_string(v) || lm_base64_decode(json_string_value(v), out, size) < 0 || *size == 0) {
		lm_err("TPM evidence: platform_info.%s must be non-empty base64", key);
		return LM_EFORMAT;
	}
	return 0;
}

static int parts_load(const struct lm_evidence *ev, struct parts *p)
{
	int r;

	memset(p, 0, sizeof(*p));
	/* The document's own parse of platform_info, kept beside it. */
	if (!(p->info = lm_evidence_info_object(ev)) || !json_is_object(p->info)) {
		lm_err("TPM evidence: platform_info missing or not a JSON object");
		return LM_EFORMAT;
	}
	if ((r = info_b64(p->info, "signature", &p->sig_raw, &p->sig_raw_size)) < 0 ||
	    (r = info_b64(p->info, "ak_public", &p->ak_raw, &p->ak_raw_size)) < 0 ||
	    (r = info_b64(p->info, "event_log", &p->log, &p->log_size)) < 0 ||
	    (r = info_b64(p->info, "hcl_report", &p->hcl, &p->hcl_size)) < 0)
		return r;
	p->pcrs = json_object_get(p->info, "pcrs");
	if (json_object_get(p->info, "ak_name") && !(p->ak_name = lm_json_str(p->info, "ak_name"))) {
		lm_err("TPM evidence: platform_info.ak_name must be a hex string");
		return LM_EFORMAT;
	}
	return 0;
}

/* ---- checks ---- */

struct tpm_state {
	struct lm_tpm_quote q;
	struct lm_tpm_signature sig;
	bool has_sig;
	struct ak ak;
	bool has_ak;
	struct lm_tpm_pcrs pcrs;
	bool has_pcrs;
	bool pcrs_bound;		/* pcr digest verified */
};

/* Malformed parts of a document are unusable input (LM_EFORMAT), as the
 * same files given apart are to lm_tpm_evidence_make(); missing ones fail
 * their check. */
static int check_ak(struct lm_verifier *vf, struct tpm_state *st, const struct parts *p, struct lm_verdict *v)
{
	char name[2 * LM_TPM_NAME_MAX + 1];
	int r;

	if (!p->ak_raw) {
		lm_verdict_add(v, "ak", false, "no attestation key (platform_info.ak_public)");
		return 0;
	}
	if ((r = ak_load_cached(vf, p->ak_raw, p->ak_raw_size, &st->ak)) < 0) {
		if (r == LM_EFORMAT)
			lm_err("TPM evidence: platform_info.ak_public is not a usable TPMT_PUBLIC or "
			       "SubjectPublicKeyInfo");
		return r;
	}
	st->has_ak = true;
	if (!st->ak.has_public) {
		lm_verdict_add(v, "ak", true,
			       "bare %s public key: its TPM attributes (restricted signing) cannot be checked, "
			       "so its trust rests on the ak certificate",
			       EVP_PKEY_get_base_id(st->ak.key) == EVP_PKEY_RSA ? "RSA" : "EC");
		return 0;
	}
	lm_hex_encode(name, st->ak.name, st->ak.name_size);
	if ((st->ak.pub.attributes & AK_REQUIRED) != AK_REQUIRED || (st->ak.pub.attributes & LM_TPMA_DECRYPT)) {
		lm_verdict_add(v, "ak", false,
			       "objectAttributes 0x%08x: not a restricted signing key created in the TPM "
			       "(needs fixedTPM|fixedParent|sensitiveDataOrigin|restricted|sign, no decrypt); name %s",
			       st->ak.pub.attributes, name);
		return 0;
	}
	/* A TPM makes no key with reserved bits, nor a restricted one that
	 * signs certificates (x509sign needs restricted clear). */
	if (st->ak.pub.attributes & (LM_TPMA_RESERVED | LM_TPMA_X509SIGN)) {
		lm_verdict_add(v, "ak", false,
			       "objectAttributes 0x%08x: reserved bits or x509sign set, which no TPM makes for a "
			       "restricted signing key; name %s",
			       st->ak.pub.attributes, name);
		return 0;
	}
	lm_verdict_add(v, "ak", true, "restricted signing %s key, attributes 0x%08x, name %s",
		       st->ak.pub.type == LM_TPM_ALG_RSA ? "RSA" : "ECC", st->ak.pub.attributes, name);
	return 0;
}

static int check_ak_name(const struct tpm_state *st, const struct parts *p, struct lm_verdict *v)
{
	uint8_t want[LM_TPM_NAME_MAX];
	size_t n;

	if (!p->ak_name)
		return 0;
	n = strlen(p->ak_name) / 2;
	if (n == 0 || n > sizeof(want) || strlen(p->ak_name) % 2 || lm_hex_decode(want, n, p->ak_name) < 0) {
		lm_err("TPM evidence: platform_info.ak_name is not a hex TPM name of 1 to %zu bytes", sizeof(want));
		return LM_EFORMAT;
	}
	if (!st->has_ak || !st->ak.has_public)
		lm_verdict_add(v, "ak name", false, "the AK name needs the AK's TPMT_PUBLIC, not a bare key");
	else if (n != st->ak.name_size || memcmp(want, st->ak.name, n) != 0)
		lm_verdict_add(v, "ak name", false, "the AK's name is not the expected %s", p->ak_name);
	else
		lm_verdict_add(v, "ak name", true, "the AK's name is the expected one");
	return 0;
}

/* A raw RSASSA signature (as some clouds publish it) is taken when it has
 * exactly the modulus size, with the AK's scheme hash or SHA-256. No
 * TPMT_SIGNATURE has that size: an RSA one is 6 bytes longer, an ECDSA one
 * far shorter, so this is tried first. */
static bool raw_rsa_signature(const struct tpm_state *st, const struct parts *p, struct lm_tpm_signature *sig)
{
	if (!st->has_ak || EVP_PKEY_get_base_id(st->ak.key) != EVP_PKEY_RSA ||
	    p->sig_raw_size != (size_t)EVP_PKEY_get_size(st->ak.key) || p->sig_raw_size > sizeof(sig->sig))
		return false;
	memset(sig, 0, sizeof(*sig));
	sig->alg = LM_TPM_ALG_RSASSA;
	sig->hash = st->ak.has_public && st->ak.pub.scheme == LM_TPM_ALG_RSASSA ? st->ak.pub.scheme_hash
										: LM_TPM_ALG_SHA256;
	memcpy(sig->sig, p->sig_raw, p->sig_raw_size);
	sig->sig_size = p->sig_raw_size;
	return lm_tpm_hash_size(sig->hash) != 0;
}

static const char *alg_name(uint16_t alg)
{
	return alg == LM_TPM_ALG_RSASSA ? "RSASSA" : alg == LM_TPM_ALG_RSAPSS ? "RSAPSS" : "ECDSA";
}

static int check_signature(struct tpm_state *st, const struct lm_evidence *ev, const struct parts *p,
			   struct lm_verdict *v)
{
	bool ok, raw = false;
	int r;

	if (!p->sig_raw) {
		lm_verdict_add(v, "signature", false, "no TPMT_SIGNATURE (platform_info.signature)");
		return 0;
	}
	if (raw_rsa_signature(st, p, &st->sig)) {
		raw = true;
	} else if (lm_tpm_signature_parse(p->sig_raw, p->sig_raw_size, &st->sig) < 0) {
		if (!st->has_ak) {	/* it may be a raw signature, whose size only the AK tells */
			lm_verdict_add(v, "signature", false, "no attestation key to read it with");
			return 0;
		}
		lm_err("TPM evidence: platform_info.signature is neither a TPMT_SIGNATURE (RSASSA, RSAPSS or "
		       "ECDSA) nor a raw RSA signature of the AK's size");
		return LM_EFORMAT;
	}
	st->has_sig = true;
	if (!st->has_ak) {
		lm_verdict_add(v, "signature", false, "no usable attestation key to check it with");
		return 0;
	}
	if ((st->sig.alg == LM_TPM_ALG_ECDSA) != (EVP_PKEY_get_base_id(st->ak.key) == EVP_PKEY_EC)) {
		lm_verdict_add(v, "signature", false, "%s signature but the AK is an %s key", alg_name(st->sig.alg),
			       EVP_PKEY_get_base_id(st->ak.key) == EVP_PKEY_EC ? "EC" : "RSA");
		return 0;
	}
	if (st->ak.has_public && st->ak.pub.scheme != LM_TPM_ALG_NULL &&
	    (st->ak.pub.scheme != st->sig.alg || st->ak.pub.scheme_hash != st->sig.hash)) {
		lm_verdict_add(v, "signature", false, "%s/%s signature but the AK's scheme is 0x%04x/0x%04x",
			       alg_name(st->sig.alg), lm_tpm_hash_name(st->sig.hash), st->ak.pub.scheme,
			       st->ak.pub.scheme_hash);
		return 0;
	}
	if (st->sig.hash == LM_TPM_ALG_SHA1) {
		lm_verdict_add(v, "signature", false, "SHA-1 signatures are refused");
		return 0;
	}
	if ((r = verify_signature(&st->ak, &st->sig, ev->evidence, ev->evidence_size, &ok)) < 0)
		return r;
	lm_verdict_add(v, "signature", ok, "%s%s/%s signature of the TPMS_ATTEST by the AK %s",
		       raw ? "raw " : "", alg_name(st->sig.alg), lm_tpm_hash_name(st->sig.hash),
		       ok ? "verifies" : "does NOT verify");
	return 0;
}

static void check_nonce(const struct tpm_state *st, const struct lm_evidence *ev, const struct lm_policy *pol,
			struct lm_verdict *v)
{
	const uint8_t *want = pol->expect_nonce ? pol->expect_nonce : ev->nonce;
	size_t want_size = pol->expect_nonce ? pol->expect_nonce_size : ev->nonce_size;
	char got[2 * LM_TPM_DATA_MAX + 1];

	lm_hex_encode(got, st->q.extra, st->q.extra_size);
	if (!want_size) {
		lm_verdict_add(v, "nonce", false, "no expected nonce (--nonce): extraData %s proves no freshness",
			       st->q.extra_size ? got : "(empty)");
		return;
	}
	if (pol->expect_nonce && ev->nonce_size &&
	    (ev->nonce_size != want_size || memcmp(ev->nonce, want, want_size) != 0)) {
		lm_verdict_add(v, "nonce", false, "the document's nonce is not the expected nonce");
		return;
	}
	if (st->q.extra_size != want_size || memcmp(st->q.extra, want, want_size) != 0) {
		lm_verdict_add(v, "nonce", false, "extraData %s is not the %s nonce", got,
			       pol->expect_nonce ? "expected" : "document's");
		return;
	}
	lm_verdict_add(v, "nonce", true, "extraData equals the %s nonce", pol->expect_nonce ? "expected" : "document's");
}

static void check_report_data(const struct tpm_state *st, const struct lm_policy *pol, struct lm_verdict *v)
{
	if (!pol->expect_report_data)
		return;
	if (st->q.extra_size == LM_REPORT_DATA_BYTES &&
	    memcmp(st->q.extra, pol->expect_report_data, LM_REPORT_DATA_BYTES) == 0)
		lm_verdict_add(v, "report data", true, "extraData is the expected 64-byte report data");
	else
		lm_verdict_add(v, "report data", false, "extraData is not the expected 64-byte report data");
}

/* The quoted PCR values in selection order, concatenated. */
static bool quoted_values(const struct tpm_state *st, uint8_t *out, size_t max, size_t *size, char *why,
			  size_t why_size)
{
	size_t n = 0;

	for (size_t i = 0; i < st->q.sel_count; i++) {
		struct lm_tpm_bank *b = lm_tpm_pcrs_bank((struct lm_tpm_pcrs *)&st->pcrs, st->q.sel[i].hash);
		uint32_t missing;

		missing = b ? st->q.sel[i].mask & ~b->present : st->q.sel[i].mask;
		if (missing) {
			char list[96];

			mask_text(missing, list, sizeof(list));
			snprintf(why, why_size, "no %s value supplied for quoted PCR %s",
				 lm_tpm_hash_name(st->q.sel[i].hash), list);
			return false;
		}
		for (int j = 0; b && j < LM_TPM_PCR_MAX; j++) {
			if (!(st->q.sel[i].mask & (1u << j)))
				continue;
			if (n + b->digest_size > max)
				return false;
			memcpy(out + n, b->pcr[j], b->digest_size);
			n += b->digest_size;
		}
	}
	*size = n;
	return true;
}

static int check_pcrs(struct tpm_state *st, const struct parts *p, struct lm_verdict *v)
{
	uint8_t values[LM_TPM_BANK_MAX * LM_TPM_PCR_MAX * LM_TPM_DIGEST_MAX], digest[LM_TPM_DIGEST_MAX];
	char sel[256] = "", why[160];
	size_t n = 0, size;
	uint16_t hash;
	int r;

	for (size_t i = 0; i < st->q.sel_count; i++) {
		char list[96];

		mask_text(st->q.sel[i].mask, list, sizeof(list));
		n += (size_t)snprintf(sel + n, sizeof(sel) - n, "%s%s:%s", i ? " " : "",
				      lm_tpm_hash_name(st->q.sel[i].hash), list);
		if (n >= sizeof(sel))
			n = sizeof(sel) - 1;
	}
	if (!p->pcrs) {
		lm_verdict_add(v, "pcr selection", false, "quoted %s; PCR values (platform_info.pcrs) missing", sel);
		return 0;
	}
	if ((r = pcrs_parse(p->pcrs, &st->pcrs)) < 0) {
		lm_err("TPM evidence: platform_info.pcrs is malformed (docs/formats.md \"TPM PCR values\")");
		return r;
	}
	st->has_pcrs = true;
	if (!quoted_values(st, values, sizeof(values), &size, why, sizeof(why))) {
		lm_verdict_add(v, "pcr selection", false, "quoted %s; %s", sel, why);
		return 0;
	}
	lm_verdict_add(v, "pcr selection", true, "quoted %s, every value supplied", sel);

	/* TPM2_Quote hashes the values with the signing scheme's hash. */
	hash = st->has_sig ? st->sig.hash : LM_TPM_ALG_SHA256;
	if (st->q.pcr_digest_size != lm_tpm_hash_size(hash)) {
		lm_verdict_add(v, "pcr digest", false, "pcrDigest has %zu bytes, the %s signature hash %zu",
			       st->q.pcr_digest_size, lm_tpm_hash_name(hash), lm_tpm_hash_size(hash));
		return 0;
	}
	if ((r = tpm_hash(hash, values, size, digest)) < 0)
		return r;
	st->pcrs_bound = memcmp(digest, st->q.pcr_digest, st->q.pcr_digest_size) == 0;
	lm_verdict_add(v, "pcr digest", st->pcrs_bound, "%s of the supplied PCR values %s the quoted pcrDigest",
		       lm_tpm_hash_name(hash), st->pcrs_bound ? "equals" : "does NOT equal");
	return 0;
}

static int check_event_log(const struct tpm_state *st, const struct parts *p, struct lm_verdict *v)
{
	struct lm_tpm_eventlog_info info;
	struct lm_tpm_pcrs *replay;
	uint16_t quoted[LM_TPM_BANK_MAX];
	char detail[LM_CHECK_DETAIL_MAX] = "", list[96];
	size_t compared = 0;
	bool ok = true;
	int r;

	if (!p->log)
		return 0;
	if (!st->has_pcrs) {
		lm_verdict_add(v, "event log", false, "no PCR values to replay the event log against");
		return 0;
	}
	if (!(replay = malloc(sizeof(*replay))))
		return LM_ENOMEM;
	for (size_t i = 0; i < st->q.sel_count; i++)
		quoted[i] = st->q.sel[i].hash;
	if ((r = lm_tpm_eventlog_replay(p->log, p->log_size, quoted, st->q.sel_count, replay, &info)) < 0) {
		free(replay);
		if (r == LM_EFORMAT)
			lm_err("TPM evidence: platform_info.event_log is not a well-formed TCG crypto-agile event log");
		return r;
	}
	/* Only quoted PCRs count: other values are not covered by the signature. */
	for (size_t i = 0; i < st->q.sel_count && ok; i++) {
		const struct lm_tpm_bank *got = lm_tpm_pcrs_bank((struct lm_tpm_pcrs *)&st->pcrs, st->q.sel[i].hash);
		const struct lm_tpm_bank *want = lm_tpm_pcrs_bank(replay, st->q.sel[i].hash);
		uint32_t m;

		if (!got || !want)
			continue;
		m = st->q.sel[i].mask & want->present & got->present;
		for (int j = 0; j < LM_TPM_PCR_MAX; j++) {
			if (!(m & (1u << j)))
				continue;
			compared++;
			if (memcmp(got->pcr[j], want->pcr[j], want->digest_size) != 0) {
				ok = false;
				snprintf(detail, sizeof(detail),
					 "replaying %zu events does not give the %s value of PCR %d",
					 info.event_count, lm_tpm_hash_name(want->hash), j);
				break;
			}
		}
		/* Firmware logs every extension of PCRs 0-7 (TCG PC Client
		 * Platform Firmware Profile) and boot loaders log theirs into
		 * 8 and 9 through it: a quoted boot PCR the log never extends
		 * must still hold its reset value (all zero), or the events
		 * that explain it were removed. Later PCRs (IMA's 10, ...) are
		 * measured by the OS into other logs and are not judged. */
		m = st->q.sel[i].mask & got->present & ~want->present & BOOT_PCRS;
		for (int j = 0; ok && j < LM_TPM_PCR_MAX; j++) {
			if (!(m & (1u << j)) || lm_is_zero(got->pcr[j], got->digest_size))
				continue;
			ok = false;
			snprintf(detail, sizeof(detail),
				 "quoted %s PCR %d holds a measurement, but the event log (%zu events) has no "
				 "event for it: events were removed",
				 lm_tpm_hash_name(got->hash), j, info.event_count);
		}
	}
	free(replay);
	if (ok && !compared) {
		ok = false;
		snprintf(detail, sizeof(detail), "the event log (%zu events) extends none of the quoted PCRs",
			 info.event_count);
	}
	if (ok) {
		mask_text(info.touched, list, sizeof(list));
		snprintf(detail, sizeof(detail), "%zu events replayed: %zu quoted PCR values match (PCRs %s)%s%s",
			 info.event_count, compared, list, info.has_locality ? ", PCR0 from StartupLocality" : "", "");
	}
	lm_verdict_add(v, "event log", ok && st->pcrs_bound, "%s%s", detail,
		       ok && !st->pcrs_bound ? " (but the PCR values are not bound to the quote)" : "");
	return 0;
}

static void check_measurement(const struct tpm_state *st, const struct lm_policy *pol, struct lm_verdict *v)
{
	char got[2 * LM_TPM_DIGEST_MAX + 1];
	const char *alg = lm_tpm_hash_name(st->has_sig ? st->sig.hash : LM_TPM_ALG_SHA256);

	lm_hex_encode(got, st->q.pcr_digest, st->q.pcr_digest_size);
	if (!pol->expect_measurement) {
		lm_verdict_add(v, "measurement", true, "not pinned (%s:%s, the quoted PCR digest)", alg, got);
		return;
	}
	if (pol->expect_measurement_size == st->q.pcr_digest_size &&
	    memcmp(pol->expect_measurement, st->q.pcr_digest, st->q.pcr_digest_size) == 0)
		lm_verdict_add(v, "measurement", true, "PCR digest %s:%s as expected", alg, got);
	else
		lm_verdict_add(v, "measurement", false, "PCR digest %s:%.16s... is not the expected measurement", alg,
			       got);
}

/* The document's own fields must say what the quote says. */
static void check_consistency(const struct tpm_state *st, const struct lm_evidence *ev, struct lm_verdict *v)
{
	uint8_t m[LM_MEASUREMENT_MAX], id[LM_TPM_NAME_MAX];
	size_t m_size;
	char bad[64] = "";

	if (!ev->measurement || lm_measurement_decode(ev->measurement, NULL, m, &m_size) < 0 ||
	    m_size != st->q.pcr_digest_size || memcmp(m, st->q.pcr_digest, m_size) != 0)
		strcat(bad, ", measurement");
	if (st->has_ak) {
		const uint8_t *want = st->ak.has_public ? st->ak.name : st->ak.spki_hash;
		size_t want_size = st->ak.has_public ? st->ak.name_size : sizeof(st->ak.spki_hash);

		if (!ev->enclave_id || strlen(ev->enclave_id) != 2 * want_size ||
		    lm_hex_decode(id, want_size, ev->enclave_id) < 0 || memcmp(id, want, want_size) != 0)
			strcat(bad, ", enclave_id");
	}
	if (bad[0])
		lm_verdict_add(v, "document consistency", false, "document differs from the quote in: %s", bad + 2);
	else
		lm_verdict_add(v, "document consistency", true,
			       "measurement is the quoted PCR digest, enclave_id the AK's %s",
			       st->has_ak && st->ak.has_public ? "name" : "key hash");
}

/* ---- the AK certificate ---- */

/* Appends the certificates of a PEM text (one or more) or one DER
 * certificate to sk. */
static int certs_add(STACK_OF(X509) *sk, const uint8_t *data, size_t size)
{
	BIO *bio;
	X509 *x;
	int n = 0;

	if (size > 0 && data[0] == 0x30) {
		const uint8_t *p = data;

		if (!(x = d2i_X509(NULL, &p, (long)size)) || p != data + size || !sk_X509_push(sk, x)) {
			X509_free(x);
			ERR_clear_error();
			return LM_EFORMAT;
		}
		return 0;
	}
	if (!(bio = BIO_new_mem_buf(data, (int)size)))
		return LM_ENOMEM;
	while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL))) {
		if (!sk_X509_push(sk, x)) {
			X509_free(x);
			BIO_free(bio);
			return LM_ENOMEM;
		}
		n++;
	}
	ERR_clear_error();
	BIO_free(bio);
	return n ? 0 : LM_EFORMAT;
}

static int certs_add_file(STACK_OF(X509) *sk, const char *path)
{
	uint8_t *data = NULL;
	size_t size;
	int r;

	if ((r = lm_file_read(path, 1u << 20, &data, &size)) < 0)
		return r;
	r = certs_add(sk, data, size);
	free(data);
	if (r == LM_EFORMAT)
		lm_err("%s: no PEM or DER certificate", path);
	return r;
}

static bool self_signed(X509 *x)
{
	return X509_check_issued(x, x) == X509_V_OK;
}

/* What a verifier keeps for TPM quotes: the policy's certificates parsed
 * once, split into trust anchors (root_file, or else the self-signed
 * cert_files) and untrusted intermediates, and the X509_STORE of the
 * anchors. A file that cannot be read fails the "ak certificate" check of
 * every verification, as without a verifier. */
struct tpm_vstate {
	const char *bad_file;		/* the file that could not be read, or NULL */
	STACK_OF(X509) *given;		/* not anchors */
	STACK_OF(X509) *anchors;
	X509_STORE *store;
};

static void vstate_free(void *p)
{
	struct tpm_vstate *vs = p;

	if (!vs)
		return;
	sk_X509_pop_free(vs->given, X509_free);
	sk_X509_pop_free(vs->anchors, X509_free);
	X509_STORE_free(vs->store);
	free(vs);
}

static int vstate_make(struct lm_verifier *vf, void **out)
{
	const struct lm_policy *pol = &vf->policy;
	struct tpm_vstate *vs = calloc(1, sizeof(*vs));
	STACK_OF(X509) *files = sk_X509_new_null();
	int r = LM_ENOMEM;

	if (!vs || !files || !(vs->given = sk_X509_new_null()) || !(vs->anchors = sk_X509_new_null()) ||
	    !(vs->store = X509_STORE_new()))
		goto fail;
	for (size_t i = 0; i < pol->cert_file_count && !vs->bad_file; i++)
		if ((r = certs_add_file(files, pol->cert_files[i])) < 0) {
			if (r == LM_ENOMEM)
				goto fail;
			vs->bad_file = pol->cert_files[i];
		}
	if (!vs->bad_file && pol->root_file && (r = certs_add_file(vs->anchors, pol->root_file)) < 0) {
		if (r == LM_ENOMEM)
			goto fail;
		vs->bad_file = pol->root_file;
	}
	r = LM_ENOMEM;
	while (sk_X509_num(files) > 0) {
		X509 *x = sk_X509_shift(files);

		if (!sk_X509_push(!pol->root_file && self_signed(x) ? vs->anchors : vs->given, x)) {
			X509_free(x);
			goto fail;
		}
	}
	for (int i = 0; i < sk_X509_num(vs->anchors); i++)
		if (!X509_STORE_add_cert(vs->store, sk_X509_value(vs->anchors, i)))
			goto fail;
	sk_X509_free(files);
	ERR_clear_error();
	*out = vs;
	return 0;
fail:
	sk_X509_pop_free(files, X509_free);
	vstate_free(vs);
	return r;
}

/* A verified AK chain, cached under SHA-256 of the AK's public area and
 * the document's certificates: the path from the AK certificate to the
 * anchor whose signatures verified, and the leaf's issuer for the detail. */
struct ak_chain_entry {
	STACK_OF(X509) *chain;
	char issuer[128];
};

static void ak_chain_free(void *p)
{
	struct ak_chain_entry *e = p;

	if (!e)
		return;
	sk_X509_pop_free(e->chain, X509_free);
	free(e);
}

static int ak_chain_key(const struct parts *p, const struct lm_evidence *ev, uint8_t key[static 32])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	uint64_t n = p->ak_raw_size;
	int ok = md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 && EVP_DigestUpdate(md, "tpm-ak", 6) == 1 &&
		 EVP_DigestUpdate(md, &n, sizeof(n)) == 1 && EVP_DigestUpdate(md, p->ak_raw, p->ak_raw_size) == 1;

	for (size_t i = 0; ok && i < ev->certificate_count; i++) {
		n = strlen(ev->certificate_chain[i]);
		ok = EVP_DigestUpdate(md, &n, sizeof(n)) == 1 &&
		     EVP_DigestUpdate(md, ev->certificate_chain[i], (size_t)n) == 1;
	}
	ok = ok && EVP_DigestFinal_ex(md, key, NULL) == 1;
	EVP_MD_CTX_free(md);
	return ok ? 0 : LM_ECRYPTO;
}

/* The validity windows of a chain verified before, at the call's time:
 * X509_V_OK or the error X509_verify_cert() would have given. */
static int chain_windows(STACK_OF(X509) *chain, time_t at)
{
	time_t t = at ? at : time(NULL);

	for (int i = 0; i < sk_X509_num(chain); i++) {
		X509 *x = sk_X509_value(chain, i);

		if (X509_cmp_time(X509_get0_notBefore(x), &t) >= 0)
			return X509_V_ERR_CERT_NOT_YET_VALID;
		if (X509_cmp_time(X509_get0_notAfter(x), &t) <= 0)
			return X509_V_ERR_CERT_HAS_EXPIRED;
	}
	return X509_V_OK;
}

static void certs_free(void *p)
{
	sk_X509_pop_free(p, X509_free);
}

/* certs_add() of a document's PEM, parsed once per verifier for the same
 * bytes (parsing only: the chain is verified by the caller). */
static int certs_add_parsed(struct lm_verifier *vf, STACK_OF(X509) *sk, const char *pem)
{
	size_t n = strlen(pem);
	const void *parts[2] = { "tpm-pem", pem };
	const size_t sizes[2] = { 7, n };
	STACK_OF(X509) *certs;
	uint8_t key[32];
	bool keyed = n <= LM_VERIFIER_PARSED_BYTES_MAX && lm_verifier_key(key, 2, parts, sizes) == 0;
	int r = 0;

	if (!keyed || !(certs = lm_verifier_parsed_get(vf, key))) {
		if (!(certs = sk_X509_new_null()))
			return LM_ENOMEM;
		if ((r = certs_add(certs, (const uint8_t *)pem, n)) < 0) {
			certs_free(certs);
			return r;
		}
		if (!keyed || !lm_verifier_parsed_put(vf, key, certs, certs_free)) {
			while (sk_X509_num(certs) > 0) {	/* hand ours over */
				X509 *x = sk_X509_shift(certs);

				if (!sk_X509_push(sk, x)) {
					X509_free(x);
					r = LM_ENOMEM;
				}
			}
			certs_free(certs);
			return r;
		}
	}
	for (int i = 0; i < sk_X509_num(certs); i++) {
		X509 *x = sk_X509_value(certs, i);

		if (!sk_X509_push(sk, x))
			return LM_ENOMEM;
		X509_up_ref(x);
	}
	return 0;
}

/* Chains the certificate holding the AK's key to the trust anchors: the
 * policy's root_file, or else the self-signed certificates among the
 * policy's cert_files (the verifier's own files; the document's
 * certificates are never anchors). A chain whose signatures verified
 * before for the same AK and document certificates is taken from the
 * verifier's cache, its windows checked again. */
static int check_ak_cert(struct lm_verifier *vf, const struct tpm_state *st, const struct parts *p,
			 const struct lm_evidence *ev, const struct lm_policy *pol, struct lm_verdict *v)
{
	STACK_OF(X509) *untrusted = sk_X509_new_null();
	X509_STORE_CTX *ctx = NULL;
	struct ak_chain_entry *e = NULL;
	struct tpm_vstate *vs;
	uint8_t key[32];
	bool cache = false;
	void *vsp;
	X509 *leaf = NULL;
	int r = LM_ENOMEM, err;

	if (!untrusted)
		goto out;
	if ((r = lm_verifier_state(vf, LM_VSTATE_TPM, vstate_make, vstate_free, &vsp)) < 0)
		goto out;
	vs = vsp;
	if (vs->bad_file) {
		lm_verdict_add(v, "ak certificate", false, "%s: unreadable or not a certificate", vs->bad_file);
		r = 0;
		goto out;
	}
	if (st->has_ak && p->ak_raw && lm_verifier_caches_chains(vf)) {
		if ((r = ak_chain_key(p, ev, key)) < 0)
			goto out;
		cache = true;
		if ((e = lm_verifier_cache_get(vf, key))) {
			if ((err = chain_windows(e->chain, pol->at)) == X509_V_OK)
				lm_verdict_add(v, "ak certificate", true, "AK certificate (issuer %s) chains to a trusted root",
					       e->issuer);
			else
				lm_verdict_add(v, "ak certificate", false, "AK certificate chain does not verify: %s",
					       X509_verify_cert_error_string(err));
			e = NULL;
			r = 0;
			goto out;
		}
	}
	r = LM_ENOMEM;
	for (size_t i = 0; i < ev->certificate_count; i++)
		if (certs_add_parsed(vf, untrusted, ev->certificate_chain[i]) < 0) {
			lm_verdict_add(v, "ak certificate", false, "certificate_chain[%zu] is not a PEM certificate", i);
			r = 0;
			goto out;
		}
	if (sk_X509_num(untrusted) + sk_X509_num(vs->given) + (pol->root_file ? 0 : sk_X509_num(vs->anchors)) == 0) {
		lm_verdict_add(v, "ak trust", false,
			       "AK not certified: software or unknown TPM (give its AK certificate chain, or trust "
			       "this AK by other means)");
		r = 0;
		goto out;
	}
	for (int i = 0; i < sk_X509_num(vs->given); i++) {
		X509 *x = sk_X509_value(vs->given, i);

		if (!sk_X509_push(untrusted, x))
			goto out;
		X509_up_ref(x);
	}
	for (int i = 0; i < sk_X509_num(untrusted) && !leaf && st->has_ak; i++) {
		EVP_PKEY *k = X509_get0_pubkey(sk_X509_value(untrusted, i));

		if (k && EVP_PKEY_eq(k, st->ak.key) == 1)
			leaf = sk_X509_value(untrusted, i);
	}
	ERR_clear_error();
	if (!leaf) {
		lm_verdict_add(v, "ak certificate", false, "no given certificate holds the AK's public key");
		r = 0;
		goto out;
	}
	if (sk_X509_num(vs->anchors) == 0) {
		lm_verdict_add(v, "ak certificate", false,
			       "no trust anchor: give the issuing root with --root (or a self-signed --cert)");
		r = 0;
		goto out;
	}
	if (!(ctx = X509_STORE_CTX_new()) || !X509_STORE_CTX_init(ctx, vs->store, leaf, untrusted))
		goto out;
	if (pol->at)
		X509_STORE_CTX_set_time(ctx, 0, pol->at);
	if (X509_verify_cert(ctx) == 1) {
		char subject[128] = "";

		X509_NAME_oneline(X509_get_issuer_name(leaf), subject, sizeof(subject));
		lm_verdict_add(v, "ak certificate", true, "AK certificate (issuer %s) chains to a trusted root", subject);
		if (cache && (e = calloc(1, sizeof(*e)))) {
			snprintf(e->issuer, sizeof(e->issuer), "%s", subject);
			if (!(e->chain = X509_STORE_CTX_get1_chain(ctx)) || !lm_verifier_cache_put(vf, key, e, ak_chain_free))
				ak_chain_free(e);
			e = NULL;
		}
	} else {
		lm_verdict_add(v, "ak certificate", false, "AK certificate chain does not verify: %s",
			       X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
	}
	ERR_clear_error();
	r = 0;
out:
	X509_STORE_CTX_free(ctx);
	sk_X509_pop_free(untrusted, X509_free);
	return r;
}

/* ---- an Azure vTPM: the AK vouched for by SEV-SNP through the HCL report ---- */

/* Copies the checks of the SNP report's own verdict into v as "snp <name>". */
static bool merge_snp(const struct lm_verdict *snp, struct lm_verdict *v)
{
	for (size_t i = 0; i < snp->check_count; i++) {
		const struct lm_check *c = &snp->checks[i];

		lm_verdict_add(v, "snp report", c->ok, "%s", c->detail);
		size_t n = strnlen(c->name, LM_CHECK_NAME_MAX);

		if (n + 4 < LM_CHECK_NAME_MAX) {
			char *name = v->checks[v->check_count - 1].name;

			memcpy(name, "snp ", 4);
			memcpy(name + 4, c->name, n);
			name[4 + n] = '\0';
		}
	}
	return snp->verified;
}

/* The chain of trust of an Azure confidential VM's vTPM: the SNP report
 * inside the HCL report verifies (signature, VCEK/VLEK chain to AMD's root,
 * the SNP policy knobs), its REPORT_DATA holds the hash of the runtime
 * claims, and the claims' HCLAkPub is the key that signed the quote. Takes
 * the place of the AK certificate. The VCEK and ASK come from the
 * document's certificate_chain or the policy's cert_files; the ARK is
 * pinned (lm_snp_roots_load). */
static int check_hcl(struct lm_verifier *vf, const struct tpm_state *st, const struct lm_evidence *ev,
		     const struct parts *p, const struct lm_policy *pol, struct lm_verdict *v)
{
	struct lm_tpm_hcl hcl;
	struct lm_verdict *snp = NULL;
	struct lm_snp_report rep;
	struct lm_policy sp;
	EVP_PKEY *ak = NULL;
	bool snp_ok, bound = false, same = false;
	int r;

	if ((r = lm_tpm_hcl_parse(p->hcl, p->hcl_size, &hcl)) < 0) {
		lm_err("TPM evidence: platform_info.hcl_report is not an HCL attestation report");
		return r;
	}
	lm_verdict_add(v, "hcl report", true, "HCL report with an SEV-SNP report and %zu bytes of runtime claims",
		       hcl.claims_size);
	if (!(snp = malloc(sizeof(*snp))))
		return LM_ENOMEM;
	/* The quote's pins (nonce, report data, measurement) are the TPM's;
	 * the SNP report is held to the platform knobs only. */
	sp = *pol;
	sp.expect_nonce = NULL, sp.expect_nonce_size = 0;
	sp.expect_report_data = NULL;
	sp.expect_measurement = NULL, sp.expect_measurement_size = 0;
	lm_verdict_init(snp, LM_PLATFORM_SNP);
	r = lm_snp_verify_report(vf, hcl.snp_report, hcl.snp_report_size, (const char *const *)ev->certificate_chain,
				 ev->certificate_count, &sp, snp, &rep);
	if (r == LM_EFORMAT) {
		lm_verdict_add(v, "snp report", false, "the SEV-SNP report inside the HCL report is malformed");
		r = 0;
		goto out;
	}
	if (r < 0)
		goto out;
	snp_ok = merge_snp(snp, v);
	if ((r = lm_tpm_hcl_bound(&hcl, rep.report_data)) < 0)
		goto out;
	bound = r == 1;
	lm_verdict_add(v, "hcl claims binding", bound, "%s",
		       bound ? "SNP REPORT_DATA starts with the hash of the HCL runtime claims"
			     : "SNP REPORT_DATA does not hold the hash of the HCL runtime claims");
	if (lm_tpm_hcl_ak(&hcl, &ak) < 0) {
		lm_verdict_add(v, "hcl ak", false, "the runtime claims hold no usable HCLAkPub key");
	} else {
		same = st->has_ak && EVP_PKEY_eq(ak, st->ak.key) == 1;
		ERR_clear_error();
		lm_verdict_add(v, "hcl ak", same, "%s",
			       same ? "the quote's AK is HCLAkPub of the runtime claims"
				    : "the quote's AK is not HCLAkPub of the runtime claims");
	}
	lm_verdict_add(v, "ak trust", snp_ok && bound && same, "%s",
		       snp_ok && bound && same ? "AK bound to a verified SEV-SNP report through the HCL runtime claims"
					       : "the AK is not vouched for: the SNP report, the claims binding or "
						 "HCLAkPub failed");
	r = 0;
out:
	EVP_PKEY_free(ak);
	free(snp);
	return r;
}

/* ---- the backend ---- */

/* The measurement of a quote is its PCR digest, named by its size. */
static const char *measurement_alg(size_t size)
{
	return size == 32 ? "sha256" : size == 48 ? "sha384" : size == 64 ? "sha512" : NULL;
}

static int tpm_detect(const uint8_t *raw, size_t size)
{
	struct lm_tpm_quote q;

	return size >= 6 && raw[0] == 0xff && raw[1] == 'T' && raw[2] == 'C' && raw[3] == 'G' &&
	       lm_tpm_quote_parse(raw, size, &q) == 0;
}

static int tpm_verify(struct lm_verifier *vf, const struct lm_evidence *ev, const struct lm_policy *pol,
		      struct lm_verdict *v)
{
	struct tpm_state *st = NULL;
	struct parts p;
	char sel_fw[64];
	int r;

	memset(&p, 0, sizeof(p));
	if (!(st = calloc(1, sizeof(*st))))
		return LM_ENOMEM;
	/* The format first: absurd selections end here, before any crypto. */
	if ((r = lm_tpm_quote_parse(ev->evidence, ev->evidence_size, &st->q)) < 0 || (r = parts_load(ev, &p)) < 0)
		goto out;
	snprintf(sel_fw, sizeof(sel_fw), "0x%016llx", (unsigned long long)st->q.firmware_version);
	lm_verdict_add(v, "attest format", true, "TPMS_ATTEST quote, TPM firmware %s, resetCount %u", sel_fw,
		       st->q.reset_count);
	if (measurement_alg(st->q.pcr_digest_size))
		lm_verdict_set_measurement(v, measurement_alg(st->q.pcr_digest_size), st->q.pcr_digest,
					   st->q.pcr_digest_size);
	if ((r = check_ak(vf, st, &p, v)) < 0 || (r = check_ak_name(st, &p, v)) < 0 ||
	    (r = check_signature(st, ev, &p, v)) < 0)
		goto out;
	check_nonce(st, ev, pol, v);
	check_report_data(st, pol, v);
	if ((r = check_pcrs(st, &p, v)) < 0 || (r = check_event_log(st, &p, v)) < 0)
		goto out;
	check_measurement(st, pol, v);
	check_consistency(st, ev, v);
	r = p.hcl ? check_hcl(vf, st, ev, &p, pol, v) : check_ak_cert(vf, st, &p, ev, pol, v);
out:
	parts_free(&p);
	ak_clear(&st->ak);
	free(st);
	return r;
}

const struct lm_attest_backend lm_attest_tpm = {
	.platform = LM_PLATFORM_TPM,
	.name = "tpm",
	.detect = tpm_detect,
	.verify = tpm_verify,
};

/* ---- making documents ---- */

static int b64_set(json_t *info, const char *key, const uint8_t *data, size_t size)
{
	char *text = NULL;
	int r;

	if ((r = lm_base64_encode(data, size, &text)) < 0)
		return r;
	r = json_object_set_new(info, key, json_string(text)) == 0 ? 0 : LM_ENOMEM;
	free(text);
	return r;
}

static int cert_pems(const struct lm_tpm_parts *in, struct lm_evidence *ev)
{
	STACK_OF(X509) *sk = sk_X509_new_null();
	BIO *bio = NULL;
	int r = LM_ENOMEM;

	if (!sk)
		return LM_ENOMEM;
	for (size_t i = 0; i < in->cert_count; i++)
		if ((r = certs_add(sk, in->certs[i], in->cert_sizes[i])) < 0) {
			lm_err("AK certificate %zu: not a PEM or DER certificate", i + 1);
			goto out;
		}
	if (sk_X509_num(sk) > 16) {
		lm_err("AK certificate chain: more than 16 certificates");
		r = LM_ETOOBIG;
		goto out;
	}
	if (!(ev->certificate_chain = calloc((size_t)sk_X509_num(sk) + 1, sizeof(char *))))
		goto out;
	for (int i = 0; i < sk_X509_num(sk); i++) {
		char *p;
		long n;

		if (!(bio = BIO_new(BIO_s_mem())) || !PEM_write_bio_X509(bio, sk_X509_value(sk, i)))
			goto out;
		n = BIO_get_mem_data(bio, &p);
		if (n <= 0 || !(ev->certificate_chain[i] = strndup(p, (size_t)n)))
			goto out;
		ev->certificate_count++;
		BIO_free(bio);
		bio = NULL;
	}
	r = 0;
out:
	BIO_free(bio);
	sk_X509_pop_free(sk, X509_free);
	return r;
}

/* Joins the PCR files into one bank object or an array of banks, after
 * checking them. */
static int pcrs_join(const struct lm_tpm_parts *in, json_t **out)
{
	json_t *all = json_array(), *j;
	struct lm_tpm_pcrs *check = malloc(sizeof(*check));
	json_error_t jerr;
	int r = LM_ENOMEM;

	if (!all || !check)
		goto out;
	for (size_t i = 0; i < in->pcrs_count; i++) {
		size_t k;
		json_t *item;

		if (!(j = json_loads(in->pcrs_json[i], JSON_REJECT_DUPLICATES, &jerr))) {
			lm_err("PCR values %zu: not JSON (line %d): %s", i + 1, jerr.line, jerr.text);
			r = LM_EFORMAT;
			goto out;
		}
		if (json_is_array(j)) {
			json_array_foreach(j, k, item)
				json_array_append(all, item);
		} else {
			json_array_append(all, j);
		}
		json_decref(j);
	}
	if ((r = pcrs_parse(all, check)) < 0)
		goto out;
	if (json_array_size(all) == 1)
		*out = json_incref(json_array_get(all, 0));
	else
		*out = json_incref(all);
	r = 0;
out:
	free(check);
	json_decref(all);
	return r;
}

int lm_tpm_evidence_make(const struct lm_tpm_parts *in, struct lm_evidence **out)
{
	struct lm_evidence *ev = NULL;
	struct lm_tpm_quote q;
	struct lm_tpm_signature sig;
	struct lm_tpm_eventlog_info info;
	struct lm_tpm_pcrs *replay = NULL;
	struct ak ak;
	struct lm_tpm_hcl hcl;
	bool has_hcl = false;
	json_t *info_obj = NULL, *pcrs = NULL;
	uint8_t *der = NULL;
	int der_size, r;

	memset(&ak, 0, sizeof(ak));
	if (!in || !out || !in->attest || !in->signature || !in->ak_public || !in->pcrs_count ||
	    (in->cert_count && (!in->certs || !in->cert_sizes)))
		return LM_EINVAL;
	if ((r = lm_tpm_quote_parse(in->attest, in->attest_size, &q)) < 0)
		goto out;
	if (!measurement_alg(q.pcr_digest_size)) {
		lm_err("TPMS_ATTEST: pcrDigest of %zu bytes (SHA-1 signing schemes are not supported)",
		       q.pcr_digest_size);
		r = LM_EFORMAT;
		goto out;
	}
	if (lm_tpm_hcl_detect(in->ak_public, in->ak_public_size)) {
		/* An Azure vTPM: the AK is HCLAkPub of the HCL report. */
		EVP_PKEY *k = NULL;

		if ((r = lm_tpm_hcl_parse(in->ak_public, in->ak_public_size, &hcl)) < 0 ||
		    (r = lm_tpm_hcl_ak(&hcl, &k)) < 0)
			goto out;
		der_size = i2d_PUBKEY(k, &der);
		EVP_PKEY_free(k);
		if (der_size <= 0) {
			r = lm_log_ossl("i2d_PUBKEY");
			goto out;
		}
		r = ak_load(der, (size_t)der_size, &ak);
		OPENSSL_free(der);
		der = NULL;
		if (r < 0)
			goto out;
		has_hcl = true;
	} else if ((r = ak_load(in->ak_public, in->ak_public_size, &ak)) < 0) {
		goto out;
	}
	/* A raw RSA signature of the AK's size first, as check_signature does. */
	if ((EVP_PKEY_get_base_id(ak.key) != EVP_PKEY_RSA || in->signature_size != (size_t)EVP_PKEY_get_size(ak.key)) &&
	    lm_tpm_signature_parse(in->signature, in->signature_size, &sig) < 0) {
		lm_err("signature: neither a TPMT_SIGNATURE nor a raw RSA signature of the AK's size");
		r = LM_EFORMAT;
		goto out;
	}
	if (in->event_log) {
		if (!(replay = malloc(sizeof(*replay)))) {
			r = LM_ENOMEM;
			goto out;
		}
		/* Checks the log's format; the verifier compares the values. */
		if ((r = lm_tpm_eventlog_replay(in->event_log, in->event_log_size, NULL, 0, replay, &info)) < 0)
			goto out;
	}
	if ((r = pcrs_join(in, &pcrs)) < 0)
		goto out;
	if (!(info_obj = json_object())) {
		r = LM_ENOMEM;
		goto out;
	}
	if ((r = b64_set(info_obj, "signature", in->signature, in->signature_size)) < 0)
		goto out;
	if (ak.has_public) {
		r = b64_set(info_obj, "ak_public", in->ak_public, in->ak_public_size);
	} else if ((der_size = i2d_PUBKEY(ak.key, &der)) <= 0) {
		r = lm_log_ossl("i2d_PUBKEY");
	} else {
		r = b64_set(info_obj, "ak_public", der, (size_t)der_size);
	}
	if (r < 0 || (in->event_log && (r = b64_set(info_obj, "event_log", in->event_log, in->event_log_size)) < 0) ||
	    (has_hcl && (r = b64_set(info_obj, "hcl_report", in->ak_public, in->ak_public_size)) < 0))
		goto out;
	if (json_object_set(info_obj, "pcrs", pcrs) != 0) {
		r = LM_ENOMEM;
		goto out;
	}

	if ((r = lm_evidence_new(&ev)) < 0)
		goto out;
	ev->platform = LM_PLATFORM_TPM;
	snprintf(ev->instance_id, sizeof(ev->instance_id), "tpm-quote");
	if (!(ev->measurement = malloc(8 + 2 * LM_TPM_DIGEST_MAX)) ||
	    !(ev->enclave_id = malloc(2 * LM_TPM_NAME_MAX + 1)) || !(ev->evidence = malloc(in->attest_size))) {
		r = LM_ENOMEM;
		goto out;
	}
	sprintf(ev->measurement, "%s:", measurement_alg(q.pcr_digest_size));
	lm_hex_encode(ev->measurement + strlen(ev->measurement), q.pcr_digest, q.pcr_digest_size);
	if (ak.has_public)
		lm_hex_encode(ev->enclave_id, ak.name, ak.name_size);
	else
		lm_hex_encode(ev->enclave_id, ak.spki_hash, sizeof(ak.spki_hash));
	memcpy(ev->evidence, in->attest, in->attest_size);
	ev->evidence_size = in->attest_size;
	lm_time_format(ev->timestamp, sizeof(ev->timestamp), time(NULL));
	if ((r = cert_pems(in, ev)) < 0)
		goto out;
	if (!(ev->platform_info = json_dumps(info_obj, JSON_COMPACT | JSON_SORT_KEYS))) {
		r = LM_ENOMEM;
		goto out;
	}
	*out = ev;
	ev = NULL;
	r = 0;
out:
	lm_evidence_free(ev);
	OPENSSL_free(der);
	json_decref(info_obj);
	json_decref(pcrs);
	free(replay);
	ak_clear(&ak);
	return r;
}
