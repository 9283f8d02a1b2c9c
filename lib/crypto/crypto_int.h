/* Private helpers shared by the files of lib/crypto: the two halves of
 * HKDF-SHA256 (HPKE needs them apart) and one-shot AES-256-GCM. */
#ifndef LAMBDA_CRYPTO_INT_H
#define LAMBDA_CRYPTO_INT_H

#include <stddef.h>
#include <stdint.h>

#include "lambda/err.h"

#define LM_SHA256_BYTES 32
#define LM_GCM_KEY_BYTES 32
#define LM_GCM_NONCE_BYTES 12
#define LM_GCM_TAG_BYTES 16

/* HKDF-Extract (RFC 5869 2.2): prk = HMAC-SHA256(salt, ikm). An empty salt
 * stands for 32 zero bytes, as the RFC says. */
LM_MUST_CHECK int lm_hkdf_extract(uint8_t prk[static LM_SHA256_BYTES], const uint8_t *salt, size_t salt_size,
				  const uint8_t *ikm, size_t ikm_size);

/* HKDF-Expand (RFC 5869 2.3) of a 32-byte prk; out_size <= 255 * 32. */
LM_MUST_CHECK int lm_hkdf_expand(uint8_t *out, size_t out_size, const uint8_t prk[static LM_SHA256_BYTES],
				 const uint8_t *info, size_t info_size);

/* AES-256-GCM with a 12-byte nonce: writes size bytes of ciphertext to ct
 * (which may equal pt) and the 16-byte tag to tag. */
LM_MUST_CHECK int lm_gcm_seal(uint8_t *ct, uint8_t tag[static LM_GCM_TAG_BYTES],
			      const uint8_t key[static LM_GCM_KEY_BYTES], const uint8_t nonce[static LM_GCM_NONCE_BYTES],
			      const uint8_t *aad, size_t aad_size, const uint8_t *pt, size_t size);

/* The inverse; LM_EAUTH when the tag does not verify, and then pt holds
 * nothing of the plaintext (it is wiped). */
LM_MUST_CHECK int lm_gcm_open(uint8_t *pt, const uint8_t key[static LM_GCM_KEY_BYTES],
			      const uint8_t nonce[static LM_GCM_NONCE_BYTES], const uint8_t *aad, size_t aad_size,
			      const uint8_t *ct, size_t size, const uint8_t tag[static LM_GCM_TAG_BYTES]);

#endif
