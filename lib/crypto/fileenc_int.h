/* Private hooks of lib/crypto/fileenc.c for its unit tests: the segment
 * counter (to reach the 2^32 limit without 16 TiB of data) and a rotation
 * that stops at a chosen point, as a crash there would. */
#ifndef LAMBDA_FILEENC_INT_H
#define LAMBDA_FILEENC_INT_H

#include "lambda/fileenc.h"

void lm_fileenc_writer_set_counter(struct lm_fileenc_writer *w, uint64_t next_segment);
void lm_fileenc_reader_set_counter(struct lm_fileenc_reader *r, uint64_t next_segment);

enum lm_fileenc_stop {
	LM_FILEENC_STOP_NONE,
	LM_FILEENC_STOP_AFTER_JOURNAL,	/* journal durable, file untouched */
	LM_FILEENC_STOP_TORN_WRITE,	/* journal durable, half of the new slot written */
	LM_FILEENC_STOP_BEFORE_UNLINK,	/* file updated, journal still there */
};

LM_MUST_CHECK int lm_fileenc_rotate_until(const char *path, const struct lm_secret *old_kek,
					  const uint8_t old_id[static LM_KEY_ID_BYTES],
					  const struct lm_secret *new_kek,
					  const uint8_t new_id[static LM_KEY_ID_BYTES], enum lm_fileenc_stop stop);

#endif
