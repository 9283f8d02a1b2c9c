/* Private to lib/volume: the LUKS2 on-disk header parser and the layout
 * our volumes must have (DESIGN.md section 4). */
#ifndef LAMBDA_VOLUME_INT_H
#define LAMBDA_VOLUME_INT_H

#include <stddef.h>
#include <stdint.h>

#include "lambda/err.h"

#define LM_LUKS2_BIN_SIZE 4096u			/* binary header before the JSON area */
#define LM_LUKS2_HDR_MIN (16u << 10)		/* smallest hdr_size the format allows */
#define LM_LUKS2_HDR_MAX (4u << 20)		/* largest hdr_size the format allows */
#define LM_VOLUME_DATA_OFFSET (16ull << 20)	/* data segment offset, bytes */
#define LM_VOLUME_SECTOR_SIZE 4096u
#define LM_VOLUME_KEY_BYTES 64u			/* aes-xts with two 256-bit keys */

/* Skips the SHA-256 header checksums, so that a fuzzer reaches the JSON
 * checks; never used outside fuzzing. */
#define LM_LUKS2_PARSE_NO_CSUM 0x1u

/* Reads hdr_size from the first binary header in buf (size bytes) after
 * checking magic and version; LM_EFORMAT otherwise. */
LM_MUST_CHECK int lm_luks2_hdr_size(const uint8_t *buf, size_t size, uint64_t *hdr_size);

/* Checks both LUKS2 header copies (primary at 0, secondary at hdr_size) in
 * buf against the layout above: magic, version, offsets, sha256 checksums,
 * and in each JSON area one of the states of docs/architecture.md "Key
 * rotation": at rest, exactly one crypt segment with aes-xts-plain64,
 * 4096-byte sectors and the expected offset, one luks2 keyslot with
 * pbkdf2-sha256 and a 512-bit key, one digest; during a rotation a second
 * such keyslot and digest; during a reencryption also the contiguous
 * reencryption segments, one forward checksum-protected reencrypt keyslot,
 * its digest and the online-reencrypt-v2 requirement. Never a token or
 * "cipher_null". One copy may fail its checksum (an interrupted header
 * write: libcryptsetup skips it), not both; two good copies may differ in
 * sequence id. LM_EFORMAT with the reason logged otherwise. */
LM_MUST_CHECK int lm_luks2_header_check(const uint8_t *buf, size_t size, unsigned flags);

/* On a header that passed lm_luks2_header_check with a reencryption in
 * progress: 1 when its primary copy says the whole data area is already
 * under the new key (one data segment, bound to the digest of the
 * backup-final segment) and only the final metadata update is missing,
 * with *keyslot = the keyslot of the new key; 0 otherwise; LM_EFORMAT when
 * it cannot tell. */
LM_MUST_CHECK int lm_luks2_reencrypt_is_done(const uint8_t *buf, size_t size, int *keyslot);

struct crypt_device;
struct lm_secret;

/* Shared by luks2.c and rotate.c. */
int lm_volume_valid_secret(const struct lm_secret *s);

/* crypt_init with our log callback. */
LM_MUST_CHECK int lm_volume_cs_init(const char *path, struct crypt_device **out);

/* Checks the header of path with our parser, then loads it into a new
 * crypt device and checks it again through the libcryptsetup API. */
LM_MUST_CHECK int lm_volume_load_checked(const char *path, struct crypt_device **out);

#endif
