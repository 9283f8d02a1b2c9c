/* HPKE (RFC 9180) base mode for one suite only: DHKEM(X25519, HKDF-SHA256)
 * 0x0020, HKDF-SHA256 0x0001, AES-256-GCM 0x0002. The KEM, the labeled
 * HKDF and the key schedule are written here on OpenSSL 3.0 primitives
 * (EVP_PKEY X25519, EVP_KDF HKDF, EVP AES-GCM); OpenSSL 3.0 has no HPKE. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include "crypto_int.h"
#include "hpke_int.h"
#include "lambda/log.h"

#define HPKE_VERSION "HPKE-v1"
#define HPKE_VERSION_SIZE 7
#define HPKE_MODE_BASE 0x00
#define HPKE_LABEL_MAX 16	/* longest label used below */

/* suite_id of the KEM ("KEM" || kem_id) and of the whole suite
 * ("HPKE" || kem_id || kdf_id || aead_id), RFC 9180 4.1 and 5.1. */
static const uint8_t g_kem_suite[] = { 'K', 'E', 'M', 0x00, 0x20 };
static const uint8_t g_hpke_suite[] = { 'H', 'P', 'K', 'E', 0x00, 0x20, 0x00, 0x01,
					(uint8_t)(LM_HPKE_AEAD_AES256GCM >> 8), (uint8_t)LM_HPKE_AEAD_AES256GCM };

/* Room for "HPKE-v1" || suite_id || label || the longest ikm or info. */
#define LABELED_BUF (2 + HPKE_VERSION_SIZE + sizeof(g_hpke_suite) + HPKE_LABEL_MAX + LM_HPKE_INFO_MAX)

/* LabeledExtract(salt, label, ikm) = Extract(salt, "HPKE-v1" || suite_id || label || ikm) */
static int labeled_extract(uint8_t prk[static LM_SHA256_BYTES], const uint8_t *suite, size_t suite_size,
			   const uint8_t *salt, size_t salt_size, const char *label, const uint8_t *ikm,
			   size_t ikm_size)
{
	size_t label_size = strlen(label), n = 0;
	uint8_t buf[LABELED_BUF];
	int r;

	if (label_size > HPKE_LABEL_MAX || ikm_size > LM_HPKE_INFO_MAX)
		return LM_EINVAL;
	memcpy(buf + n, HPKE_VERSION, HPKE_VERSION_SIZE);
	n += HPKE_VERSION_SIZE;
	memcpy(buf + n, suite, suite_size);
	n += suite_size;
	memcpy(buf + n, label, label_size);
	n += label_size;
	if (ikm_size)
		memcpy(buf + n, ikm, ikm_size);
	n += ikm_size;
	r = lm_hkdf_extract(prk, salt, salt_size, buf, n);
	lm_memzero(buf, n);	/* the ikm may be a DH output */
	return r;
}

/* LabeledExpand(prk, label, info, L) =
 *   Expand(prk, I2OSP(L, 2) || "HPKE-v1" || suite_id || label || info, L) */
static int labeled_expand(uint8_t *out, size_t out_size, const uint8_t prk[static LM_SHA256_BYTES],
			  const uint8_t *suite, size_t suite_size, const char *label, const uint8_t *info,
			  size_t info_size)
{
	size_t label_size = strlen(label), n = 0;
	uint8_t buf[LABELED_BUF];

	if (label_size > HPKE_LABEL_MAX || info_size > LM_HPKE_INFO_MAX || out_size > 0xffff)
		return LM_EINVAL;
	buf[n++] = (uint8_t)(out_size >> 8);
	buf[n++] = (uint8_t)out_size;
	memcpy(buf + n, HPKE_VERSION, HPKE_VERSION_SIZE);
	n += HPKE_VERSION_SIZE;
	memcpy(buf + n, suite, suite_size);
	n += suite_size;
	memcpy(buf + n, label, label_size);
	n += label_size;
	if (info_size)
		memcpy(buf + n, info, info_size);
	n += info_size;
	return lm_hkdf_expand(out, out_size, prk, buf, n);
}

/* X25519(sk, pk) into dh. OpenSSL already fails a derivation whose result
 * is all zero (a low-order or zero public key, RFC 7748 6.1); the explicit
 * check below keeps that promise independent of the library version.
 * Both cases are bad input: LM_EFORMAT. */
static int x25519(uint8_t dh[static LM_X25519_BYTES], const uint8_t sk[static LM_X25519_BYTES],
		  const uint8_t pk[static LM_X25519_BYTES])
{
	static const uint8_t zero[LM_X25519_BYTES];
	EVP_PKEY *priv = NULL, *peer = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	size_t size = LM_X25519_BYTES;
	int r;

	priv = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, sk, LM_X25519_BYTES);
	peer = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, pk, LM_X25519_BYTES);
	if (!priv || !peer) {
		r = lm_log_ossl("EVP_PKEY_new_raw_key(X25519)");
		goto out;
	}
	ctx = EVP_PKEY_CTX_new(priv, NULL);
	if (!ctx) {
		r = lm_log_ossl("EVP_PKEY_CTX_new");
		goto out;
	}
	if ((r = LM_OSSL(EVP_PKEY_derive_init(ctx))) < 0)
		goto out;
	if (EVP_PKEY_derive_set_peer(ctx, peer) != 1 || EVP_PKEY_derive(ctx, dh, &size) != 1) {
		ERR_clear_error();
		lm_err("HPKE: X25519 with this public key fails (low-order point)");
		r = LM_EFORMAT;
		goto out;
	}
	if (size != LM_X25519_BYTES || CRYPTO_memcmp(dh, zero, LM_X25519_BYTES) == 0) {
		lm_memzero(dh, LM_X25519_BYTES);
		lm_err("HPKE: X25519 shared secret is zero (low-order public key)");
		r = LM_EFORMAT;
		goto out;
	}
	r = 0;
out:
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(priv);	/* clears its private key copy */
	EVP_PKEY_free(peer);
	return r;
}

/* DHKEM ExtractAndExpand (RFC 9180 4.1):
 *   eae_prk = LabeledExtract("", "eae_prk", dh)
 *   shared_secret = LabeledExpand(eae_prk, "shared_secret", enc || pkR, 32) */
static int kem_shared_secret(uint8_t ss[static LM_HPKE_SECRET_BYTES], const uint8_t dh[static LM_X25519_BYTES],
			     const uint8_t enc[static LM_HPKE_ENC_BYTES], const uint8_t pk_r[static LM_X25519_BYTES])
{
	uint8_t prk[LM_SHA256_BYTES], kem_context[LM_HPKE_ENC_BYTES + LM_X25519_BYTES];
	int r;

	memcpy(kem_context, enc, LM_HPKE_ENC_BYTES);
	memcpy(kem_context + LM_HPKE_ENC_BYTES, pk_r, LM_X25519_BYTES);
	if ((r = labeled_extract(prk, g_kem_suite, sizeof(g_kem_suite), NULL, 0, "eae_prk", dh,
				 LM_X25519_BYTES)) < 0)
		goto out;
	r = labeled_expand(ss, LM_HPKE_SECRET_BYTES, prk, g_kem_suite, sizeof(g_kem_suite), "shared_secret",
			   kem_context, sizeof(kem_context));
out:
	lm_memzero(prk, sizeof(prk));
	return r;
}

/* KeySchedule for mode_base with the default (empty) psk and psk_id,
 * RFC 9180 5.1, for the suite whose suite_id names aead_id. */
int lm_hpke_key_schedule(uint8_t *key, size_t key_size, uint8_t base_nonce[static LM_HPKE_NONCE_BYTES],
			 uint16_t aead_id, const uint8_t ss[static LM_HPKE_SECRET_BYTES], const uint8_t *info,
			 size_t info_size)
{
	uint8_t ksc[1 + 2 * LM_SHA256_BYTES], secret[LM_SHA256_BYTES], suite[sizeof(g_hpke_suite)];
	int r;

	if (!key || key_size == 0 || key_size > LM_GCM_KEY_BYTES || (info_size && !info))
		return LM_EINVAL;
	memcpy(suite, g_hpke_suite, sizeof(suite));
	suite[8] = (uint8_t)(aead_id >> 8);
	suite[9] = (uint8_t)aead_id;
	ksc[0] = HPKE_MODE_BASE;
	if ((r = labeled_extract(ksc + 1, suite, sizeof(suite), NULL, 0, "psk_id_hash", NULL, 0)) < 0 ||
	    (r = labeled_extract(ksc + 1 + LM_SHA256_BYTES, suite, sizeof(suite), NULL, 0, "info_hash", info,
				 info_size)) < 0 ||
	    (r = labeled_extract(secret, suite, sizeof(suite), ss, LM_HPKE_SECRET_BYTES, "secret", NULL, 0)) < 0 ||
	    (r = labeled_expand(key, key_size, secret, suite, sizeof(suite), "key", ksc, sizeof(ksc))) < 0 ||
	    (r = labeled_expand(base_nonce, LM_HPKE_NONCE_BYTES, secret, suite, sizeof(suite), "base_nonce", ksc,
				sizeof(ksc))) < 0)
		lm_memzero(key, key_size);
	lm_memzero(secret, sizeof(secret));
	return r;
}

/* The key schedule of our suite into a fresh context; fills ctx on success
 * only. */
static int key_schedule(struct lm_hpke_ctx *ctx, const uint8_t ss[static LM_HPKE_SECRET_BYTES], const uint8_t *info,
			size_t info_size)
{
	struct lm_secret *key = NULL;
	int r;

	if ((r = lm_secret_new(LM_GCM_KEY_BYTES, &key)) < 0 ||
	    (r = lm_hpke_key_schedule(key->data, key->size, ctx->base_nonce, LM_HPKE_AEAD_AES256GCM, ss, info,
				      info_size)) < 0) {
		lm_secret_free(key);
		return r;
	}
	ctx->key = key;
	ctx->seq = 0;
	return 0;
}

static int check_setup_args(const struct lm_hpke_ctx *ctx, const struct lm_secret *sk, const uint8_t *info,
			    size_t info_size)
{
	if (!ctx || !sk || !sk->data || sk->size != LM_X25519_BYTES || (info_size && !info))
		return LM_EINVAL;
	if (info_size > LM_HPKE_INFO_MAX) {
		lm_err("HPKE: info of %zu bytes is longer than %d", info_size, LM_HPKE_INFO_MAX);
		return LM_EINVAL;
	}
	return 0;
}

int lm_hpke_encap(uint8_t ss[static LM_HPKE_SECRET_BYTES], uint8_t enc[static LM_HPKE_ENC_BYTES],
		  const struct lm_secret *sk_e, const uint8_t pk_r[static LM_X25519_BYTES])
{
	uint8_t dh[LM_X25519_BYTES], pk_e[LM_HPKE_ENC_BYTES];
	size_t size = sizeof(pk_e);
	EVP_PKEY *e;
	int r;

	if (!sk_e || !sk_e->data || sk_e->size != LM_X25519_BYTES)
		return LM_EINVAL;
	e = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, sk_e->data, sk_e->size);
	if (!e || EVP_PKEY_get_raw_public_key(e, pk_e, &size) != 1 || size != sizeof(pk_e)) {
		r = lm_log_ossl("HPKE: ephemeral public key");
		goto out;
	}
	if ((r = x25519(dh, sk_e->data, pk_r)) < 0 || (r = kem_shared_secret(ss, dh, pk_e, pk_r)) < 0)
		goto out;
	memcpy(enc, pk_e, sizeof(pk_e));
out:
	EVP_PKEY_free(e);
	lm_memzero(dh, sizeof(dh));
	return r;
}

int lm_hpke_decap(uint8_t ss[static LM_HPKE_SECRET_BYTES], const uint8_t enc[static LM_HPKE_ENC_BYTES],
		  const struct lm_secret *sk_r)
{
	uint8_t dh[LM_X25519_BYTES], pk_r[LM_X25519_BYTES];
	size_t size = sizeof(pk_r);
	EVP_PKEY *k;
	int r;

	if (!sk_r || !sk_r->data || sk_r->size != LM_X25519_BYTES)
		return LM_EINVAL;
	k = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, sk_r->data, sk_r->size);
	if (!k || EVP_PKEY_get_raw_public_key(k, pk_r, &size) != 1 || size != sizeof(pk_r)) {
		r = lm_log_ossl("HPKE: recipient public key");
		goto out;
	}
	if ((r = x25519(dh, sk_r->data, enc)) < 0)
		goto out;
	r = kem_shared_secret(ss, dh, enc, pk_r);
out:
	EVP_PKEY_free(k);
	lm_memzero(dh, sizeof(dh));
	return r;
}

int lm_hpke_setup_base_s(struct lm_hpke_ctx *ctx, uint8_t enc[static LM_HPKE_ENC_BYTES],
			 const struct lm_secret *sk_e, const uint8_t pk_r[static LM_X25519_BYTES],
			 const uint8_t *info, size_t info_size)
{
	uint8_t ss[LM_HPKE_SECRET_BYTES], e[LM_HPKE_ENC_BYTES];
	struct lm_hpke_ctx c = { 0 };
	int r;

	if ((r = check_setup_args(ctx, sk_e, info, info_size)) < 0)
		return r;
	if ((r = lm_hpke_encap(ss, e, sk_e, pk_r)) < 0 || (r = key_schedule(&c, ss, info, info_size)) < 0)
		goto out;
	memcpy(enc, e, sizeof(e));
	*ctx = c;
out:
	lm_memzero(ss, sizeof(ss));
	return r;
}

int lm_hpke_setup_base_r(struct lm_hpke_ctx *ctx, const struct lm_secret *sk_r,
			 const uint8_t enc[static LM_HPKE_ENC_BYTES], const uint8_t *info, size_t info_size)
{
	uint8_t ss[LM_HPKE_SECRET_BYTES];
	struct lm_hpke_ctx c = { 0 };
	int r;

	if ((r = check_setup_args(ctx, sk_r, info, info_size)) < 0)
		return r;
	if ((r = lm_hpke_decap(ss, enc, sk_r)) < 0 || (r = key_schedule(&c, ss, info, info_size)) < 0)
		goto out;
	*ctx = c;
out:
	lm_memzero(ss, sizeof(ss));
	return r;
}

/* ComputeNonce(seq) = base_nonce XOR I2OSP(seq, Nn). The context refuses to
 * go on once seq would wrap (RFC 9180 5.2 MessageLimitReachedError). */
static int next_nonce(struct lm_hpke_ctx *ctx, uint8_t nonce[static LM_HPKE_NONCE_BYTES])
{
	if (!ctx->key || ctx->seq == UINT64_MAX)
		return LM_ESTATE;
	memcpy(nonce, ctx->base_nonce, LM_HPKE_NONCE_BYTES);
	for (int i = 0; i < 8; i++)
		nonce[LM_HPKE_NONCE_BYTES - 1 - i] ^= (uint8_t)(ctx->seq >> (8 * i));
	return 0;
}

int lm_hpke_ctx_seal(struct lm_hpke_ctx *ctx, const uint8_t *aad, size_t aad_size, const uint8_t *pt, size_t size,
		     uint8_t *ct)
{
	uint8_t nonce[LM_HPKE_NONCE_BYTES];
	int r;

	if (!ctx || !ct)
		return LM_EINVAL;
	if ((r = next_nonce(ctx, nonce)) < 0 ||
	    (r = lm_gcm_seal(ct, ct + size, ctx->key->data, nonce, aad, aad_size, pt, size)) < 0)
		return r;
	ctx->seq++;
	return 0;
}

int lm_hpke_ctx_open(struct lm_hpke_ctx *ctx, const uint8_t *aad, size_t aad_size, const uint8_t *ct,
		     size_t ct_size, uint8_t *pt)
{
	uint8_t nonce[LM_HPKE_NONCE_BYTES];
	size_t size;
	int r;

	if (!ctx || !ct)
		return LM_EINVAL;
	if (ct_size < LM_HPKE_TAG_BYTES)
		return LM_EFORMAT;
	size = ct_size - LM_HPKE_TAG_BYTES;
	if ((r = next_nonce(ctx, nonce)) < 0 ||
	    (r = lm_gcm_open(pt, ctx->key->data, nonce, aad, aad_size, ct, size, ct + size)) < 0)
		return r;
	ctx->seq++;
	return 0;
}

void lm_hpke_ctx_clear(struct lm_hpke_ctx *ctx)
{
	if (!ctx)
		return;
	lm_secret_free(ctx->key);
	lm_memzero(ctx, sizeof(*ctx));
}

int lm_hpke_keygen(uint8_t pk[static LM_X25519_BYTES], struct lm_secret **sk)
{
	struct lm_secret *s = NULL;
	EVP_PKEY *k = NULL;
	size_t size;
	int r;

	if (!sk)
		return LM_EINVAL;
	if ((r = lm_secret_new(LM_X25519_BYTES, &s)) < 0)
		return r;
	k = EVP_PKEY_Q_keygen(NULL, NULL, "X25519");
	if (!k) {
		r = lm_log_ossl("EVP_PKEY_Q_keygen(X25519)");
		goto out;
	}
	size = s->size;
	if ((r = LM_OSSL(EVP_PKEY_get_raw_private_key(k, s->data, &size))) < 0)
		goto out;
	size = LM_X25519_BYTES;
	if ((r = LM_OSSL(EVP_PKEY_get_raw_public_key(k, pk, &size))) < 0)
		goto out;
	*sk = s;
	s = NULL;
out:
	EVP_PKEY_free(k);
	lm_secret_free(s);
	return r;
}

int lm_hpke_seal_with_ephemeral(const struct lm_secret *sk_e, const uint8_t pk_r[static LM_X25519_BYTES],
				const uint8_t *info, size_t info_size, const uint8_t *aad, size_t aad_size,
				const uint8_t *pt, size_t pt_size, uint8_t enc[static LM_HPKE_ENC_BYTES], uint8_t **ct,
				size_t *ct_size)
{
	struct lm_hpke_ctx ctx = { 0 };
	uint8_t e[LM_HPKE_ENC_BYTES];
	uint8_t *buf = NULL;
	int r;

	/* lm_hpke_open() returns the plaintext as a secret, which cannot be
	 * empty, so an empty message is refused here already. */
	if (!ct || !ct_size || !pt || pt_size == 0 || pt_size > INT_MAX - LM_HPKE_TAG_BYTES)
		return LM_EINVAL;
	buf = malloc(pt_size + LM_HPKE_TAG_BYTES);
	if (!buf)
		return LM_ENOMEM;
	if ((r = lm_hpke_setup_base_s(&ctx, e, sk_e, pk_r, info, info_size)) < 0 ||
	    (r = lm_hpke_ctx_seal(&ctx, aad, aad_size, pt, pt_size, buf)) < 0)
		goto out;
	memcpy(enc, e, sizeof(e));
	*ct = buf;
	*ct_size = pt_size + LM_HPKE_TAG_BYTES;
	buf = NULL;
out:
	lm_hpke_ctx_clear(&ctx);
	free(buf);
	return r;
}

int lm_hpke_seal(const uint8_t pk_r[static LM_X25519_BYTES], const uint8_t *info, size_t info_size,
		 const uint8_t *aad, size_t aad_size, const uint8_t *pt, size_t pt_size,
		 uint8_t enc[static LM_HPKE_ENC_BYTES], uint8_t **ct, size_t *ct_size)
{
	uint8_t pk_e[LM_X25519_BYTES];
	struct lm_secret *sk_e = NULL;
	int r;

	if ((r = lm_hpke_keygen(pk_e, &sk_e)) < 0)
		return r;
	r = lm_hpke_seal_with_ephemeral(sk_e, pk_r, info, info_size, aad, aad_size, pt, pt_size, enc, ct, ct_size);
	lm_secret_free(sk_e);
	return r;
}

int lm_hpke_open(const struct lm_secret *sk_r, const uint8_t enc[static LM_HPKE_ENC_BYTES], const uint8_t *info,
		 size_t info_size, const uint8_t *aad, size_t aad_size, const uint8_t *ct, size_t ct_size,
		 struct lm_secret **pt)
{
	struct lm_hpke_ctx ctx = { 0 };
	struct lm_secret *out = NULL;
	int r;

	if (!pt || !ct)
		return LM_EINVAL;
	if (ct_size <= LM_HPKE_TAG_BYTES || ct_size > INT_MAX) {
		lm_err("HPKE: ciphertext of %zu bytes is too short or too long", ct_size);
		return LM_EFORMAT;
	}
	if ((r = lm_secret_new(ct_size - LM_HPKE_TAG_BYTES, &out)) < 0 ||
	    (r = lm_hpke_setup_base_r(&ctx, sk_r, enc, info, info_size)) < 0 ||
	    (r = lm_hpke_ctx_open(&ctx, aad, aad_size, ct, ct_size, out->data)) < 0)
		goto out;
	*pt = out;
	out = NULL;
out:
	lm_hpke_ctx_clear(&ctx);
	lm_secret_free(out);
	return r;
}
