/* Customer keys and the primitives built on them (DESIGN.md section 4 and 5):
 * the CMK file, key ids, the HKDF-SHA256 hierarchy, HPKE key release and the
 * encrypted log records an instance writes. All secrets are struct
 * lm_secret; see lambda/secret.h. */
#ifndef LAMBDA_CRYPTO_H
#define LAMBDA_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#include "lambda/err.h"
#include "lambda/secret.h"

#define LM_KEY_BYTES 32			/* CMK and every derived key */
#define LM_KEY_ID_BYTES 8		/* the bytes behind "lmk_" */
#define LM_KEY_ID_STR_SIZE 21		/* "lmk_" + 16 hex + NUL */
#define LM_KEY_NAME_MAX 64		/* longest CMK name */
#define LM_HKDF_SALT "lambda/v1"

/* ---- CMK files: PEM "LAMBDA MASTER KEY", mode 0600 ---- */

/* Makes a new random 32-byte CMK. */
LM_MUST_CHECK int lm_cmk_generate(struct lm_secret **out);

/* Writes cmk to a new file at path (mode 0600, never overwrites: LM_EEXIST)
 * with "# " comment lines for name, key id and creation time. name holds
 * 1..LM_KEY_NAME_MAX printable ASCII characters without newlines. */
LM_MUST_CHECK int lm_cmk_save(const char *path, const struct lm_secret *cmk, const char *name);

/* Reads a CMK file. Refuses a file that group or others can access
 * (LM_EKEYPERM) and malformed content (LM_EFORMAT). *name_out, when
 * name_out is not NULL, gets the name from the comment lines or NULL; the
 * caller frees it. Never logs key bytes or rejected key text. */
LM_MUST_CHECK int lm_cmk_load(const char *path, struct lm_secret **out, char **name_out);

/* Parses CMK PEM text of size bytes (the part of lm_cmk_load() after the
 * read; also the fuzz entry point). */
LM_MUST_CHECK int lm_cmk_parse(const uint8_t *text, size_t size, struct lm_secret **out, char **name_out);

/* Key id bytes of a CMK: the first 8 bytes of SHA-256("lambda/v1 key-id" || CMK). */
LM_MUST_CHECK int lm_key_id(uint8_t out[static LM_KEY_ID_BYTES], const struct lm_secret *cmk);

/* "lmk_" + lowercase hex of id. */
void lm_key_id_format(char out[static LM_KEY_ID_STR_SIZE], const uint8_t id[static LM_KEY_ID_BYTES]);

/* ---- HKDF hierarchy ---- */

/* RFC 5869 HKDF-SHA256 (extract and expand). out_size <= 255 * 32. */
LM_MUST_CHECK int lm_hkdf_sha256(uint8_t *out, size_t out_size, const uint8_t *salt, size_t salt_size,
				 const uint8_t *ikm, size_t ikm_size, const uint8_t *info, size_t info_size);

/* HKDF-SHA256 with salt "lambda/v1", L = 32 and info = prefix || suffix
 * (suffix may be NULL). The building block of the functions below. */
LM_MUST_CHECK int lm_key_derive(struct lm_secret **out, const struct lm_secret *ikm, const char *prefix,
				const char *suffix);

/* region KEK   = derive(CMK, "region-kek:" + region)
 * instance KEK = derive(region KEK, "instance-kek:" + instance id)
 * volume slot  = derive(instance KEK, "volume-slot:" + volume id)
 * file KEK     = derive(CMK, "file-kek")
 * log key      = derive(instance KEK, "instance-logs") */
LM_MUST_CHECK int lm_key_region_kek(struct lm_secret **out, const struct lm_secret *cmk, const char *region);
LM_MUST_CHECK int lm_key_instance_kek(struct lm_secret **out, const struct lm_secret *region_kek,
				      const char *instance_id);
LM_MUST_CHECK int lm_key_volume_slot(struct lm_secret **out, const struct lm_secret *instance_kek,
				     const char *volume_id);
LM_MUST_CHECK int lm_key_file_kek(struct lm_secret **out, const struct lm_secret *cmk);
LM_MUST_CHECK int lm_key_instance_logs(struct lm_secret **out, const struct lm_secret *instance_kek);

/* ---- HPKE (RFC 9180 base mode, DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM) ---- */

#define LM_X25519_BYTES 32
#define LM_HPKE_ENC_BYTES 32
#define LM_HPKE_TAG_BYTES 16
#define LM_HPKE_INFO_PREFIX "lambda/v1 key-release:"

/* Makes an X25519 key pair: public key into pk, private key into *sk. */
LM_MUST_CHECK int lm_hpke_keygen(uint8_t pk[static LM_X25519_BYTES], struct lm_secret **sk);

/* Seals pt (pt_size bytes) to the recipient public key pk_r with a one-shot
 * base-mode context (sequence number 0). Writes the encapsulated key into
 * enc and a new buffer of pt_size + 16 bytes into *ct. Refuses a
 * low-order pk_r whose shared secret is all zero (LM_EFORMAT) and an empty
 * pt (LM_EINVAL: lm_hpke_open() returns the plaintext as a secret, which
 * is never empty); info is at most 1024 bytes. */
LM_MUST_CHECK int lm_hpke_seal(const uint8_t pk_r[static LM_X25519_BYTES], const uint8_t *info, size_t info_size,
			       const uint8_t *aad, size_t aad_size, const uint8_t *pt, size_t pt_size,
			       uint8_t enc[static LM_HPKE_ENC_BYTES], uint8_t **ct, size_t *ct_size);

/* Opens what lm_hpke_seal() made, with the recipient private key sk_r.
 * The plaintext comes back as a secret. LM_EAUTH when the tag fails. */
LM_MUST_CHECK int lm_hpke_open(const struct lm_secret *sk_r, const uint8_t enc[static LM_HPKE_ENC_BYTES],
			       const uint8_t *info, size_t info_size, const uint8_t *aad, size_t aad_size,
			       const uint8_t *ct, size_t ct_size, struct lm_secret **pt);

/* ---- Encrypted log records (docs/formats.md) ----
 * record = version (1 byte, 1) || stream (1 byte: 1 stdout, 2 stderr,
 *          3 end of a run: the message is the workload's exit code in decimal)
 *          || seq (8 bytes, big-endian) || length (4 bytes, big-endian, of
 *          the ciphertext with its tag) || nonce (12 random bytes)
 *          || AES-256-GCM(log key, nonce, message, aad) || tag (16)
 * aad = "lambda/v1 log:" || instance id || 0x00 || the first 14 bytes. */

#define LM_LOGREC_HEADER_BYTES 26
#define LM_LOGREC_STREAM_END 3	/* the guest's last record of a run */
#define LM_LOGREC_MAX_MESSAGE 65536

/* Encrypts one message of size bytes (<= LM_LOGREC_MAX_MESSAGE) into a new
 * record *out of *out_size bytes. */
LM_MUST_CHECK int lm_logrec_seal(const struct lm_secret *log_key, const char *instance_id, int stream,
				 uint64_t seq, const uint8_t *msg, size_t size, uint8_t **out, size_t *out_size);

/* Reads the record at the start of buf (size bytes available). On success
 * sets *used to its length and returns its stream, seq and plaintext in a
 * new buffer *msg of *msg_size bytes. LM_EFORMAT for a truncated or bad
 * header, LM_EAUTH when the tag fails (a wrong key or tampering). */
LM_MUST_CHECK int lm_logrec_open(const struct lm_secret *log_key, const char *instance_id, const uint8_t *buf,
				 size_t size, size_t *used, int *stream, uint64_t *seq, uint8_t **msg,
				 size_t *msg_size);

#endif
