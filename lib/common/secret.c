/* Locked, dump-excluded, wiped-on-free memory for keys. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include <openssl/crypto.h>

#include "lambda/log.h"
#include "lambda/secret.h"

/* Each secret gets its own mapping so that mlock and MADV_DONTDUMP cover it
 * exactly; secrets are few and small, so the page granularity costs little. */
int lm_secret_new(size_t size, struct lm_secret **out)
{
	struct lm_secret *s;
	void *p;

	if (size == 0)
		return LM_EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return LM_ENOMEM;
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		free(s);
		return LM_ENOMEM;
	}
	/* mlock can fail under a low RLIMIT_MEMLOCK; the secret is still wiped
	 * on free and kept out of dumps, so go on with a debug note. */
	if (mlock(p, size) != 0)
		lm_debug("mlock of %zu bytes failed: %s", size, strerror(errno));
	(void)madvise(p, size, MADV_DONTDUMP);
	s->size = size;
	s->data = p;
	*out = s;
	return 0;
}

int lm_secret_dup(const void *src, size_t size, struct lm_secret **out)
{
	struct lm_secret *s;
	int r;

	if ((r = lm_secret_new(size, &s)) < 0)
		return r;
	memcpy(s->data, src, size);
	*out = s;
	return 0;
}

void lm_secret_free(struct lm_secret *s)
{
	if (!s)
		return;
	OPENSSL_cleanse(s->data, s->size);
	munlock(s->data, s->size);
	munmap(s->data, s->size);
	free(s);
}

void lm_memzero(void *p, size_t size)
{
	if (p && size)
		OPENSSL_cleanse(p, size);
}

int lm_ct_equal(const void *a, const void *b, size_t size)
{
	return CRYPTO_memcmp(a, b, size) == 0;
}

bool lm_is_zero(const void *p, size_t size)
{
	const unsigned char *b = p;
	unsigned char acc = 0;

	for (size_t i = 0; i < size; i++)
		acc |= b[i];
	return acc == 0;
}

void lm_free_wiped_size(void *p, size_t size)
{
	if (!p)
		return;
	OPENSSL_cleanse(p, size);
	free(p);
}

void lm_free_wiped(char *s)
{
	if (s)
		lm_free_wiped_size(s, strlen(s));
}

int lm_process_harden(void)
{
	struct rlimit no_core = { 0, 0 };

	if (setrlimit(RLIMIT_CORE, &no_core) != 0 ||
	    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
		lm_err("cannot disable core dumps: %s", strerror(errno));
		return LM_EIO;
	}
	return 0;
}
