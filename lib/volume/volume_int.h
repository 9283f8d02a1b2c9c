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
 * buf against the layout above: magic, version, offsets, checksums, equal
 * sequence ids, and in each JSON area exactly one crypt segment with
 * aes-xts-plain64, 4096-byte sectors and the expected offset, only keyslot
 * 0 of type luks2 with pbkdf2-sha256 and a 512-bit key, no token, no
 * "cipher_null" anywhere. LM_EFORMAT with the reason logged otherwise. */
LM_MUST_CHECK int lm_luks2_header_check(const uint8_t *buf, size_t size, unsigned flags);

#endif
