/* Encrypted files (DESIGN.md section 5, docs/formats.md "Encrypted files"):
 * the streaming AES-256-GCM format of `lambda encrypt` / `lambda decrypt`
 * and the crash-safe key rotation of such a file.
 *
 *   0   8  magic "LMBDAEF1"
 *   8   4  segment size S, big-endian (4096 <= S <= 16777216)
 *   12  7  nonce prefix P
 *   19  1  0 (reserved)
 *   20  8  key id (the bytes behind "lmk_")
 *   28  12 wrap nonce W
 *   40  48 AES-256-GCM(file KEK, W, file key, aad = bytes 0..27) with tag
 *   88     segments: AES-256-GCM(file key, P || u32be(i) || last, aad = bytes
 *          0..19), S plaintext bytes each, the last one 1..S (0 only for an
 *          empty file), each followed by its 16-byte tag.
 *
 * Writer and reader are push parsers (new/feed/finish): the caller feeds
 * bytes in any split and receives output through a callback, one segment at
 * a time, in constant memory (one segment buffer). The reader hands out a
 * segment's plaintext only after its tag verified; the whole file is
 * authentic only once lm_fileenc_reader_finish() returned 0. The keys are
 * borrowed: the caller keeps ownership and must keep them alive until the
 * writer or reader is freed. */
#ifndef LAMBDA_FILEENC_H
#define LAMBDA_FILEENC_H

#include <stddef.h>
#include <stdint.h>

#include "lambda/crypto.h"
#include "lambda/err.h"
#include "lambda/secret.h"

#define LM_FILEENC_MAGIC "LMBDAEF1"
#define LM_FILEENC_MAGIC_BYTES 8
#define LM_FILEENC_HEADER_BYTES 88
#define LM_FILEENC_TAG_BYTES 16
#define LM_FILEENC_PREFIX_BYTES 7
#define LM_FILEENC_NONCE_BYTES 12
#define LM_FILEENC_SEGMENT_DEFAULT 65536u
#define LM_FILEENC_SEGMENT_MIN 4096u
#define LM_FILEENC_SEGMENT_MAX 16777216u
#define LM_FILEENC_SLOT_OFFSET 20	/* key rotation rewrites bytes 20..87 */
#define LM_FILEENC_SLOT_BYTES 68
#define LM_FILEENC_JOURNAL_SUFFIX ".lambda-rotate"

/* The fields of a header that passed the format checks (no key needed). */
struct lm_fileenc_header {
	uint32_t segment_size;
	uint8_t nonce_prefix[LM_FILEENC_PREFIX_BYTES];
	uint8_t key_id[LM_KEY_ID_BYTES];
	uint8_t wrap_nonce[LM_FILEENC_NONCE_BYTES];
	uint8_t wrapped_key[LM_KEY_BYTES + LM_FILEENC_TAG_BYTES];
};

/* Receives output: size bytes at buf, valid only during the call. Returns 0
 * or a negative LM_E* code, which aborts the writer or reader and is passed
 * back to its caller. */
typedef int (*lm_fileenc_out_fn)(void *ctx, const uint8_t *buf, size_t size);

/* Checks the first size bytes of a file against the header format: LM_EFORMAT
 * (with a logged reason) for a short header, wrong magic or version, a
 * segment size out of range or a non-zero reserved byte. Fills *out on
 * success. The fuzz entry point 'fileenc_header'. */
LM_MUST_CHECK int lm_fileenc_header_parse(struct lm_fileenc_header *out, const uint8_t *buf, size_t size);

/* Parses hdr and unwraps its file key with file_kek, whose key id is key_id.
 * LM_EWRONGKEY when the file names another key id (the log names the id the
 * file wants), LM_EAUTH when the wrapped key fails authentication. The file
 * key comes back in *file_key, owned by the caller. */
LM_MUST_CHECK int lm_fileenc_header_open(const uint8_t hdr[static LM_FILEENC_HEADER_BYTES],
					 const struct lm_secret *file_kek,
					 const uint8_t key_id[static LM_KEY_ID_BYTES], struct lm_secret **file_key);

/* ---- writer ---- */
struct lm_fileenc_writer;

/* Starts an encrypted file for the file KEK file_kek with key id key_id and
 * segment size segment_size (0 = LM_FILEENC_SEGMENT_DEFAULT; LM_EINVAL when
 * out of range). Makes a random file key, P and W and emits the header
 * through fn before returning. */
LM_MUST_CHECK int lm_fileenc_writer_new(struct lm_fileenc_writer **out, const struct lm_secret *file_kek,
					const uint8_t key_id[static LM_KEY_ID_BYTES], uint32_t segment_size,
					lm_fileenc_out_fn fn, void *ctx);

/* Encrypts size more plaintext bytes. LM_ETOOBIG when the file would need
 * more than 2^32 segments. After an error the writer only accepts _free. */
LM_MUST_CHECK int lm_fileenc_writer_feed(struct lm_fileenc_writer *w, const void *data, size_t size);

/* Emits the last segment. */
LM_MUST_CHECK int lm_fileenc_writer_finish(struct lm_fileenc_writer *w);

/* Wipes and frees; NULL is accepted. */
void lm_fileenc_writer_free(struct lm_fileenc_writer *w);

/* ---- reader ---- */
struct lm_fileenc_reader;

/* Starts reading a file encrypted for file_kek (key id key_id); plaintext
 * goes to fn one authenticated segment at a time. */
LM_MUST_CHECK int lm_fileenc_reader_new(struct lm_fileenc_reader **out, const struct lm_secret *file_kek,
					const uint8_t key_id[static LM_KEY_ID_BYTES], lm_fileenc_out_fn fn,
					void *ctx);

/* Consumes size more bytes of the file. Errors: LM_EFORMAT (bad header,
 * trailing data after the last segment, segment counter overflow),
 * LM_EWRONGKEY, LM_EAUTH (a modified, reordered or duplicated segment or
 * header). After an error the reader only accepts _free. */
LM_MUST_CHECK int lm_fileenc_reader_feed(struct lm_fileenc_reader *r, const void *data, size_t size);

/* Ends the input: checks and emits the last segment. LM_EFORMAT for a
 * truncated header or segment or a missing last segment, LM_EAUTH when the
 * last segment does not authenticate. Only a 0 here means the whole file was
 * authentic. */
LM_MUST_CHECK int lm_fileenc_reader_finish(struct lm_fileenc_reader *r);

/* Wipes and frees; NULL is accepted. */
void lm_fileenc_reader_free(struct lm_fileenc_reader *r);

/* ---- whole streams on file descriptors ---- */

/* Encrypts everything readable from in_fd into out_fd (large reads and
 * writes, no copy beyond the segment buffer). Does not close either fd. */
LM_MUST_CHECK int lm_fileenc_encrypt_fd(int out_fd, int in_fd, const struct lm_secret *file_kek,
					const uint8_t key_id[static LM_KEY_ID_BYTES], uint32_t segment_size);

/* Decrypts in_fd into out_fd. Plaintext reaches out_fd segment by segment
 * as each authenticates, so out_fd holds an authentic file only when this
 * returns 0: write to a temporary file and rename it on success. */
LM_MUST_CHECK int lm_fileenc_decrypt_fd(int out_fd, int in_fd, const struct lm_secret *file_kek,
					const uint8_t key_id[static LM_KEY_ID_BYTES]);

/* ---- key rotation ---- */

/* Re-wraps the file key of the encrypted file at path from old_kek (key id
 * old_id) to new_kek (new_id), rewriting bytes 20..87 only, crash-safely
 * through the journal path + LM_FILEENC_JOURNAL_SUFFIX (docs/formats.md).
 * Applies a journal left by an interrupted rotation first. */
LM_MUST_CHECK int lm_fileenc_rotate(const char *path, const struct lm_secret *old_kek,
				    const uint8_t old_id[static LM_KEY_ID_BYTES], const struct lm_secret *new_kek,
				    const uint8_t new_id[static LM_KEY_ID_BYTES]);

/* Completes or discards the journal of an interrupted rotation of path: a
 * complete journal is rolled forward (the new key slot is written), an
 * incomplete one, written before the file was touched, is removed. 0 when
 * there is nothing to do; LM_ESTATE when the journal belongs to another
 * file (left in place). */
LM_MUST_CHECK int lm_fileenc_recover(const char *path);

#endif
