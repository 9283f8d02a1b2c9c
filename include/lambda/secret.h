/* Secret memory: key material lives only in struct lm_secret, which is
 * locked in RAM, excluded from core dumps and wiped when freed. */
#ifndef LAMBDA_SECRET_H
#define LAMBDA_SECRET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lambda/err.h"

struct lm_secret {
	size_t size;
	uint8_t *data;
};

/* Allocates a zeroed secret of size bytes (size > 0). The caller owns the
 * result and releases it with lm_secret_free(). */
LM_MUST_CHECK int lm_secret_new(size_t size, struct lm_secret **out);

/* Allocates a secret holding a copy of size bytes at src. */
LM_MUST_CHECK int lm_secret_dup(const void *src, size_t size, struct lm_secret **out);

/* Wipes and frees s; NULL is accepted. */
void lm_secret_free(struct lm_secret *s);

/* Wipes size bytes at p in a way the compiler keeps. */
void lm_memzero(void *p, size_t size);

/* Constant-time comparison; returns 1 when equal, 0 otherwise. */
int lm_ct_equal(const void *a, const void *b, size_t size);

/* Whether all size bytes at p are zero, in time that does not depend on
 * where a non-zero byte is. */
bool lm_is_zero(const void *p, size_t size);

/* Wipes and frees a heap string or buffer of size bytes; NULL is accepted.
 * lm_free_wiped() wipes up to the terminating NUL of a string. */
void lm_free_wiped_size(void *p, size_t size);
void lm_free_wiped(char *s);

/* For key-holding processes: no core dumps, no ptrace by non-root peers. */
LM_MUST_CHECK int lm_process_harden(void);

#endif
