/* Small helpers every module uses: files, hex and base64, time, ids. */
#ifndef LAMBDA_UTIL_H
#define LAMBDA_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "lambda/err.h"

#define LM_FILE_MAX (64u << 20)	/* largest file read whole into memory */

/* Reads a whole file (at most max bytes) into a new NUL-terminated buffer
 * that the caller frees; *size excludes the NUL. */
LM_MUST_CHECK int lm_file_read(const char *path, size_t max, uint8_t **out, size_t *size);

/* As lm_file_read(), but for files that hold secrets: refuses (LM_EKEYPERM)
 * a file that group or others can read or write or that another user owns,
 * as ssh does, and (LM_EINVAL) anything but a regular file, e.g. a FIFO that
 * would block the read; symlinks are followed and the target is checked.
 * Returns the content in a buffer the caller releases with lm_free_wiped_size(). */
LM_MUST_CHECK int lm_file_read_private(const char *path, size_t max, uint8_t **out, size_t *size);

/* Writes data to a new file at path with the given mode. The file appears
 * whole or not at all (temporary file, fsync, link), and an existing path is
 * never replaced: LM_EEXIST. */
LM_MUST_CHECK int lm_file_write_new(const char *path, const void *data, size_t size, mode_t mode);

/* Writes data to path atomically (temporary file, fsync, rename), replacing
 * any file there. */
LM_MUST_CHECK int lm_file_write_replace(const char *path, const void *data, size_t size, mode_t mode);

/* Creates directory path and its parents with the given mode. */
LM_MUST_CHECK int lm_mkdir_p(const char *path, mode_t mode);

/* Removes path recursively; a missing path is not an error. */
LM_MUST_CHECK int lm_rm_rf(const char *path);

/* Lowercase hex of size bytes into out, which must hold 2 * size + 1. */
void lm_hex_encode(char *out, const void *in, size_t size);

/* Decodes exactly size bytes from the hex string in (upper or lower case,
 * no separators). Returns LM_EFORMAT on a bad digit or length. */
LM_MUST_CHECK int lm_hex_decode(uint8_t *out, size_t size, const char *in);

/* Decodes hex of any even length into a new buffer. */
LM_MUST_CHECK int lm_hex_decode_alloc(const char *in, uint8_t **out, size_t *size);

/* Standard base64 with padding; the result is a new NUL-terminated string. */
LM_MUST_CHECK int lm_base64_encode(const void *in, size_t size, char **out);
LM_MUST_CHECK int lm_base64_decode(const char *in, uint8_t **out, size_t *size);

/* Fills buf with size random bytes from the OpenSSL DRBG. */
LM_MUST_CHECK int lm_random(void *buf, size_t size);

/* Makes an id "prefix" + "_" + 12 random lowercase hex digits, into out
 * (at least 32 bytes). */
LM_MUST_CHECK int lm_id_new(char *out, size_t out_size, const char *prefix);

/* RFC 3339 UTC time, "2026-01-24T10:30:00Z"; out holds at least 21 bytes. */
void lm_time_format(char *out, size_t out_size, time_t t);

/* Parses RFC 3339 (Z or +hh:mm offset, optional fraction) into *out. */
LM_MUST_CHECK int lm_time_parse(const char *s, time_t *out);

/* Monotonic clock in milliseconds. */
uint64_t lm_now_ms(void);

#endif
