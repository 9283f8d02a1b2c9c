/* AES-256-XTS for the user-space volume back-end, bit-compatible with
 * dm-crypt's aes-xts-plain64 on 4096-byte sectors. Owns the tweak
 * convention: plain64 is the little-endian 64-bit sector number padded with
 * zeros to 16 bytes, and without iv_large_sectors dm-crypt counts that
 * number in 512-byte units from the start of the data segment, so 4096-byte
 * sector k is tweaked with 8k. OpenSSL does the cipher (EVP_aes_256_xts);
 * one whole data unit goes through one EVP_CipherUpdate, as XTS requires. */
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "lambda/log.h"
#include "volume/volume_int.h"

#define XTS_TWEAK_BYTES 16
#define SECTOR_TWEAK_STEP (LM_VOLUME_SECTOR_SIZE / 512u)

struct lm_xts {
	EVP_CIPHER_CTX *enc, *dec;
};

void lm_xts_free(struct lm_xts *x)
{
	if (!x)
		return;
	EVP_CIPHER_CTX_free(x->enc);	/* OpenSSL cleanses the key schedule */
	EVP_CIPHER_CTX_free(x->dec);
	free(x);
}

int lm_xts_new(const uint8_t key[static LM_VOLUME_KEY_BYTES], struct lm_xts **out)
{
	struct lm_xts *x = calloc(1, sizeof(*x));
	int r;

	if (!x)
		return LM_ENOMEM;
	x->enc = EVP_CIPHER_CTX_new();
	x->dec = EVP_CIPHER_CTX_new();
	if (!x->enc || !x->dec) {
		r = LM_ENOMEM;
		goto out;
	}
	if ((r = LM_OSSL(EVP_EncryptInit_ex(x->enc, EVP_aes_256_xts(), NULL, key, NULL))) < 0 ||
	    (r = LM_OSSL(EVP_DecryptInit_ex(x->dec, EVP_aes_256_xts(), NULL, key, NULL))) < 0)
		goto out;
	*out = x;
	x = NULL;
	r = 0;
out:
	lm_xts_free(x);
	return r;
}

int lm_xts_unit(struct lm_xts *x, bool is_encrypt, uint64_t tweak, uint8_t *out, const uint8_t *in, size_t size)
{
	EVP_CIPHER_CTX *ctx;
	uint8_t iv[XTS_TWEAK_BYTES] = { 0 };
	int n = 0;

	if (!x || !out || !in || size < 16 || size % 16 || size > INT32_MAX)
		return LM_EINVAL;
	for (int i = 0; i < 8; i++)
		iv[i] = (uint8_t)(tweak >> (8 * i));
	ctx = is_encrypt ? x->enc : x->dec;
	if (LM_OSSL(EVP_CipherInit_ex2(ctx, NULL, NULL, iv, is_encrypt, NULL)) < 0 ||
	    LM_OSSL(EVP_CipherUpdate(ctx, out, &n, in, (int)size)) < 0)
		return LM_ECRYPTO;
	if ((size_t)n != size) {
		lm_err("xts: OpenSSL processed %d of %zu bytes", n, size);
		return LM_ECRYPTO;
	}
	return 0;
}

int lm_xts_sectors(struct lm_xts *x, bool is_encrypt, uint64_t first, uint8_t *out, const uint8_t *in, size_t count)
{
	int r;

	if (first > UINT64_MAX / SECTOR_TWEAK_STEP - count)
		return LM_EINVAL;
	for (size_t i = 0; i < count; i++) {
		size_t at = i * LM_VOLUME_SECTOR_SIZE;

		if ((r = lm_xts_unit(x, is_encrypt, (first + i) * SECTOR_TWEAK_STEP, out + at, in + at,
				     LM_VOLUME_SECTOR_SIZE)) < 0)
			return r;
	}
	return 0;
}
