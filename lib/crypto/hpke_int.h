/* HPKE internals that tests need: an explicit context with a sequence
 * number and a sender setup that takes the ephemeral private key, so that
 * the RFC 9180 test vectors can be checked byte for byte. Production code
 * uses lm_hpke_seal()/lm_hpke_open() of lambda/crypto.h, which draw a fresh
 * ephemeral key every time. */
#ifndef LAMBDA_HPKE_INT_H
#define LAMBDA_HPKE_INT_H

#include <stddef.h>
#include <stdint.h>

#include "lambda/crypto.h"

#define LM_HPKE_NONCE_BYTES 12
#define LM_HPKE_SECRET_BYTES 32		/* Nsecret = Nh of HKDF-SHA256 */
#define LM_HPKE_AEAD_AES128GCM 0x0001	/* only for the RFC 9180 A.1 check */
#define LM_HPKE_AEAD_AES256GCM 0x0002	/* our suite */
#define LM_HPKE_INFO_MAX 1024	/* longest info string accepted */

/* A base-mode context (RFC 9180 5.1). key is NULL until set up. */
struct lm_hpke_ctx {
	struct lm_secret *key;		/* AEAD key, 32 bytes */
	uint8_t base_nonce[LM_HPKE_NONCE_BYTES];
	uint64_t seq;
};

/* SetupBaseS with the ephemeral private key sk_e instead of a random one:
 * writes enc (the ephemeral public key) and fills ctx. LM_EFORMAT for a
 * low-order pk_r. */
LM_MUST_CHECK int lm_hpke_setup_base_s(struct lm_hpke_ctx *ctx, uint8_t enc[static LM_HPKE_ENC_BYTES],
				       const struct lm_secret *sk_e, const uint8_t pk_r[static LM_X25519_BYTES],
				       const uint8_t *info, size_t info_size);

/* SetupBaseR: the recipient's side of the above. */
LM_MUST_CHECK int lm_hpke_setup_base_r(struct lm_hpke_ctx *ctx, const struct lm_secret *sk_r,
				       const uint8_t enc[static LM_HPKE_ENC_BYTES], const uint8_t *info,
				       size_t info_size);

/* ContextS.Seal / ContextR.Open at ctx->seq, then seq + 1. ct holds
 * size + 16 bytes; pt of open holds ct_size - 16 bytes. */
LM_MUST_CHECK int lm_hpke_ctx_seal(struct lm_hpke_ctx *ctx, const uint8_t *aad, size_t aad_size, const uint8_t *pt,
				   size_t size, uint8_t *ct);
LM_MUST_CHECK int lm_hpke_ctx_open(struct lm_hpke_ctx *ctx, const uint8_t *aad, size_t aad_size, const uint8_t *ct,
				   size_t ct_size, uint8_t *pt);

/* Wipes ctx; a zeroed or already cleared ctx is accepted. */
void lm_hpke_ctx_clear(struct lm_hpke_ctx *ctx);

/* DHKEM(X25519, HKDF-SHA256) Encap with the ephemeral private key sk_e,
 * and Decap (RFC 9180 4.1): the KEM shared secret into ss. */
LM_MUST_CHECK int lm_hpke_encap(uint8_t ss[static LM_HPKE_SECRET_BYTES], uint8_t enc[static LM_HPKE_ENC_BYTES],
				const struct lm_secret *sk_e, const uint8_t pk_r[static LM_X25519_BYTES]);
LM_MUST_CHECK int lm_hpke_decap(uint8_t ss[static LM_HPKE_SECRET_BYTES], const uint8_t enc[static LM_HPKE_ENC_BYTES],
				const struct lm_secret *sk_r);

/* KeySchedule for mode_base (RFC 9180 5.1) of the suite DHKEM(X25519,
 * HKDF-SHA256), HKDF-SHA256 and aead_id: the AEAD key (key_size = Nk) and
 * base nonce. Taking aead_id lets tests check it against RFC 9180 A.1,
 * whose suite differs from ours only in the AEAD. */
LM_MUST_CHECK int lm_hpke_key_schedule(uint8_t *key, size_t key_size, uint8_t base_nonce[static LM_HPKE_NONCE_BYTES],
				       uint16_t aead_id, const uint8_t ss[static LM_HPKE_SECRET_BYTES],
				       const uint8_t *info, size_t info_size);

/* lm_hpke_seal() with the ephemeral private key given. */
LM_MUST_CHECK int lm_hpke_seal_with_ephemeral(const struct lm_secret *sk_e,
					      const uint8_t pk_r[static LM_X25519_BYTES], const uint8_t *info,
					      size_t info_size, const uint8_t *aad, size_t aad_size,
					      const uint8_t *pt, size_t pt_size, uint8_t enc[static LM_HPKE_ENC_BYTES],
					      uint8_t **ct, size_t *ct_size);

#endif
