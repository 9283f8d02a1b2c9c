/* One-shot AES-256-GCM with a 96-bit nonce and a 128-bit tag, the AEAD of
 * HPKE suite 0x0002 and of the log records. */
#include <limits.h>

#include <openssl/err.h>
#include <openssl/evp.h>

#include "crypto_int.h"
#include "lambda/log.h"
#include "lambda/secret.h"

int lm_gcm_seal(uint8_t *ct, uint8_t tag[static LM_GCM_TAG_BYTES], const uint8_t key[static LM_GCM_KEY_BYTES],
		const uint8_t nonce[static LM_GCM_NONCE_BYTES], const uint8_t *aad, size_t aad_size, const uint8_t *pt,
		size_t size)
{
	uint8_t fin[LM_GCM_TAG_BYTES];	/* GCM's final step outputs nothing */
	EVP_CIPHER_CTX *ctx;
	int n, r;

	if (size > INT_MAX || aad_size > INT_MAX || (size && (!pt || !ct)) || (aad_size && !aad))
		return LM_EINVAL;
	ctx = EVP_CIPHER_CTX_new();
	if (!ctx)
		return lm_log_ossl("EVP_CIPHER_CTX_new");
	if ((r = LM_OSSL(EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, nonce))) < 0 ||
	    (aad_size && (r = LM_OSSL(EVP_EncryptUpdate(ctx, NULL, &n, aad, (int)aad_size))) < 0) ||
	    (size && (r = LM_OSSL(EVP_EncryptUpdate(ctx, ct, &n, pt, (int)size))) < 0) ||
	    (r = LM_OSSL(EVP_EncryptFinal_ex(ctx, fin, &n))) < 0 ||
	    (r = LM_OSSL(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, LM_GCM_TAG_BYTES, tag))) < 0)
		goto out;
	r = 0;
out:
	EVP_CIPHER_CTX_free(ctx);	/* wipes the key schedule */
	return r;
}

int lm_gcm_open(uint8_t *pt, const uint8_t key[static LM_GCM_KEY_BYTES],
		const uint8_t nonce[static LM_GCM_NONCE_BYTES], const uint8_t *aad, size_t aad_size,
		const uint8_t *ct, size_t size, const uint8_t tag[static LM_GCM_TAG_BYTES])
{
	uint8_t fin[LM_GCM_TAG_BYTES];	/* GCM's final step outputs nothing */
	EVP_CIPHER_CTX *ctx;
	int n, r;

	if (size > INT_MAX || aad_size > INT_MAX || (size && (!pt || !ct)) || (aad_size && !aad))
		return LM_EINVAL;
	ctx = EVP_CIPHER_CTX_new();
	if (!ctx)
		return lm_log_ossl("EVP_CIPHER_CTX_new");
	if ((r = LM_OSSL(EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, nonce))) < 0 ||
	    (aad_size && (r = LM_OSSL(EVP_DecryptUpdate(ctx, NULL, &n, aad, (int)aad_size))) < 0) ||
	    (size && (r = LM_OSSL(EVP_DecryptUpdate(ctx, pt, &n, ct, (int)size))) < 0) ||
	    (r = LM_OSSL(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, LM_GCM_TAG_BYTES, (void *)tag))) < 0)
		goto out;
	/* A failed tag check is an expected outcome (tampering, a wrong key),
	 * not a library fault: no error-queue noise, and no plaintext kept. */
	if (EVP_DecryptFinal_ex(ctx, fin, &n) != 1) {
		ERR_clear_error();
		lm_memzero(pt, size);
		r = LM_EAUTH;
		goto out;
	}
	r = 0;
out:
	EVP_CIPHER_CTX_free(ctx);
	return r;
}
