/* An instance's LUKS2 volume, through libcryptsetup (DESIGN.md section 4):
 * aes-xts-plain64 with a 512-bit volume key made by libcryptsetup,
 * 4096-byte sectors, one keyslot whose passphrase is the raw 32-byte volume
 * keyslot passphrase, pbkdf2-sha256 with 1000 iterations. The image file
 * comes from the untrusted host, so its header is checked before use. */
#ifndef LAMBDA_VOLUME_H
#define LAMBDA_VOLUME_H

#include <stdint.h>

#include "lambda/err.h"
#include "lambda/secret.h"

#define LM_VOLUME_MIN_SIZE (32ull << 20)	/* LUKS2 header (16 MiB) + data */

/* Creates a sparse image of size bytes at path (refusing an existing path)
 * and formats it as above with passphrase in keyslot 0. */
LM_MUST_CHECK int lm_volume_create(const char *path, uint64_t size, const struct lm_secret *passphrase);

/* Checks the LUKS2 header of path: one crypt segment with aes-xts-plain64,
 * a 512-bit key and 4096-byte sectors; no cipher_null in any segment or
 * keyslot; keyslot 0 with pbkdf2-sha256 at rest, or one of the transitional
 * states of a key rotation (docs/architecture.md "Key rotation": two such
 * keyslots; a LUKS2 reencryption in progress). LM_EFORMAT with the reason
 * logged otherwise. */
LM_MUST_CHECK int lm_volume_check_header(const char *path);

/* Checks that passphrase opens a keyslot of path (no device is
 * activated). LM_EWRONGKEY when it does not. */
LM_MUST_CHECK int lm_volume_check_passphrase(const char *path, const struct lm_secret *passphrase);

/* Where a volume stands in a key rotation. */
enum lm_volume_state {
	LM_VOLUME_AT_REST,		/* one keyslot (0) */
	LM_VOLUME_ROTATING,		/* two keyslots: a rotation was interrupted */
	LM_VOLUME_REENCRYPTING,		/* a reencryption was interrupted */
};

/* Checks the header of path and says which state it is in. */
LM_MUST_CHECK int lm_volume_state(const char *path, enum lm_volume_state *out);

/* Progress of a reencryption: done of total data bytes. A non-zero return
 * stops it after the current hot zone, leaving it resumable. */
typedef int (*lm_volume_progress_fn)(void *ctx, uint64_t done, uint64_t total);

/* Re-wraps the volume key of path from the keyslot that old_pass opens to
 * one that new_pass opens, in a crash-safe order: add the new keyslot,
 * check that new_pass opens it, destroy the old one, leaving the new
 * keyslot as keyslot 0 (the layout of lm_volume_create). After a crash at
 * any point the volume opens with old_pass or new_pass; running it again
 * with the same arguments finishes the rotation (when new_pass already
 * opens the volume, old_pass is not needed and need not open anything).
 * LM_EWRONGKEY, leaving the volume unchanged, when neither passphrase opens
 * it or a keyslot opens with neither; LM_ESTATE during an interrupted
 * reencryption (finish it with lm_volume_reencrypt); LM_EINVAL when both
 * passphrases are equal. */
LM_MUST_CHECK int lm_volume_rewrap(const char *path, const struct lm_secret *old_pass,
				   const struct lm_secret *new_pass);

/* Replaces the volume key of path too: re-wraps to new_pass as above, then
 * runs an offline LUKS2 reencryption (no device is activated) of the whole
 * data segment to a new random volume key under new_pass, cipher
 * unchanged, reporting progress through progress (may be NULL). Resumes an
 * interrupted reencryption when one is found (then old_pass is not
 * needed). Nothing may use the volume meanwhile. LM_EBUSY when progress
 * stopped it (resumable); other errors as lm_volume_rewrap. */
LM_MUST_CHECK int lm_volume_reencrypt(const char *path, const struct lm_secret *old_pass,
				      const struct lm_secret *new_pass, lm_volume_progress_fn progress, void *ctx);

#endif
