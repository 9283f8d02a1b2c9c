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

/* Checks the LUKS2 header of path: exactly one crypt segment with
 * aes-xts-plain64, a 512-bit key and 4096-byte sectors; no cipher_null in
 * any segment or keyslot; only keyslot 0 with pbkdf2. LM_EFORMAT with the
 * reason logged otherwise. */
LM_MUST_CHECK int lm_volume_check_header(const char *path);

/* Checks that passphrase opens a keyslot of path (no device is
 * activated). LM_EWRONGKEY when it does not. */
LM_MUST_CHECK int lm_volume_check_passphrase(const char *path, const struct lm_secret *passphrase);

#endif
