/* Unit tests for lib/crypto/fileenc.c: round trips at the segment
 * boundaries and in any feed split, the exact layout, and every way a file
 * can be wrong (header fields, wrong key, bit flips in every byte,
 * truncation at every length, reordered, duplicated and extended segments,
 * the segment counter limit), plus key rotation and its crash recovery. */
#include <fcntl.h>
#include <libgen.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "crypto/fileenc_int.h"
#include "lambda/secret.h"
#include "lambda/util.h"

#define S 4096u

struct buf {
	uint8_t *p;
	size_t size;
};

static int buf_out(void *ctx, const uint8_t *data, size_t size)
{
	struct buf *b = ctx;

	b->p = realloc(b->p, b->size + size + 1);
	assert_non_null(b->p);
	memcpy(b->p + b->size, data, size);
	b->size += size;
	return 0;
}

static struct lm_secret *g_kek, *g_kek2;
static const uint8_t g_id[LM_KEY_ID_BYTES] = { 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8 };
static const uint8_t g_id2[LM_KEY_ID_BYTES] = { 0xb1, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8 };

static int setup(void **state)
{
	(void)state;
	if (lm_secret_new(LM_KEY_BYTES, &g_kek) < 0 || lm_random(g_kek->data, LM_KEY_BYTES) < 0 ||
	    lm_secret_new(LM_KEY_BYTES, &g_kek2) < 0 || lm_random(g_kek2->data, LM_KEY_BYTES) < 0)
		return -1;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	lm_secret_free(g_kek);
	lm_secret_free(g_kek2);
	return 0;
}

static uint8_t *pattern(size_t size)
{
	uint8_t *p = malloc(size + 1);

	assert_non_null(p);
	for (size_t i = 0; i < size; i++)
		p[i] = (uint8_t)(i * 131 + (i >> 12));
	return p;
}

static struct buf encrypt(const uint8_t *pt, size_t size, uint32_t seg, size_t piece)
{
	struct lm_fileenc_writer *w = NULL;
	struct buf out = { NULL, 0 };

	assert_int_equal(lm_fileenc_writer_new(&w, g_kek, g_id, seg, buf_out, &out), 0);
	for (size_t off = 0; off < size; off += piece)
		assert_int_equal(lm_fileenc_writer_feed(w, pt + off, size - off < piece ? size - off : piece), 0);
	assert_int_equal(lm_fileenc_writer_finish(w), 0);
	lm_fileenc_writer_free(w);
	return out;
}

/* Decrypts ct in pieces; returns the result code and the plaintext. */
static int decrypt_with(const struct lm_secret *kek, const uint8_t *id, const uint8_t *ct, size_t size, size_t piece,
			struct buf *out)
{
	struct lm_fileenc_reader *rd = NULL;
	int r = 0;

	out->p = NULL;
	out->size = 0;
	assert_int_equal(lm_fileenc_reader_new(&rd, kek, id, buf_out, out), 0);
	for (size_t off = 0; off < size && r == 0; off += piece)
		r = lm_fileenc_reader_feed(rd, ct + off, size - off < piece ? size - off : piece);
	if (r == 0)
		r = lm_fileenc_reader_finish(rd);
	lm_fileenc_reader_free(rd);
	return r;
}

static int decrypt(const uint8_t *ct, size_t size)
{
	struct buf out;
	int r = decrypt_with(g_kek, g_id, ct, size, 1000, &out);

	free(out.p);
	return r;
}

static void test_roundtrip(void **state)
{
	static const size_t sizes[] = { 0, 1, S - 1, S, S + 1, 2 * S, 3 * S + 5, 200000 };
	static const size_t pieces[] = { 1, 17, S, S + 16, S + 17, 1 << 20 };
	uint8_t *pt = pattern(200000);

	(void)state;
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t n = sizes[i], segs = n ? (n + S - 1) / S : 1;
		struct buf ct = encrypt(pt, n, S, 777);

		/* layout: header, then each segment with its tag */
		assert_int_equal(ct.size, LM_FILEENC_HEADER_BYTES + n + 16 * segs);
		assert_memory_equal(ct.p, "LMBDAEF1\x00\x00\x10\x00", 12);
		assert_int_equal(ct.p[19], 0);
		assert_memory_equal(ct.p + 20, g_id, 8);
		for (size_t j = 0; j < sizeof(pieces) / sizeof(pieces[0]); j++) {
			struct buf out;

			if (pieces[j] == 1 && n > 20000)
				continue;
			assert_int_equal(decrypt_with(g_kek, g_id, ct.p, ct.size, pieces[j], &out), 0);
			assert_int_equal(out.size, n);
			if (n)
				assert_memory_equal(out.p, pt, n);
			free(out.p);
		}
		free(ct.p);
	}
	free(pt);
}

static void test_fd_paths(void **state)
{
	char dir[] = "/tmp/lm-fileenc-XXXXXX", a[300], b[300], c[300];
	size_t n = 5 * LM_FILEENC_SEGMENT_DEFAULT + 3, size;
	uint8_t *pt = pattern(n), *back;
	int in, out;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(a, sizeof(a), "%s/a", dir);
	snprintf(b, sizeof(b), "%s/b", dir);
	snprintf(c, sizeof(c), "%s/c", dir);
	assert_int_equal(lm_file_write_new(a, pt, n, 0600), 0);
	in = open(a, O_RDONLY);
	out = open(b, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_int_equal(lm_fileenc_encrypt_fd(out, in, g_kek, g_id, 0), 0);
	close(in);
	close(out);
	in = open(b, O_RDONLY);
	out = open(c, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_int_equal(lm_fileenc_decrypt_fd(out, in, g_kek, g_id), 0);
	close(in);
	close(out);
	assert_int_equal(lm_file_read(c, LM_FILE_MAX, &back, &size), 0);
	assert_int_equal(size, n);
	assert_memory_equal(back, pt, n);
	free(back);
	/* bad segment size */
	in = open(a, O_RDONLY);
	assert_int_equal(lm_fileenc_encrypt_fd(1, in, g_kek, g_id, 4095), LM_EINVAL);
	assert_int_equal(lm_fileenc_encrypt_fd(1, in, g_kek, g_id, LM_FILEENC_SEGMENT_MAX + 1), LM_EINVAL);
	close(in);
	free(pt);
	assert_int_equal(lm_rm_rf(dir), 0);
}

static void test_header_errors(void **state)
{
	uint8_t *pt = pattern(100);
	struct buf ct = encrypt(pt, 100, S, 100);
	uint8_t *m = malloc(ct.size);
	struct buf out;

	(void)state;
#define MUTATE(off, val, want)                                                  \
	do {                                                                    \
		memcpy(m, ct.p, ct.size);                                       \
		m[off] = (val);                                                 \
		assert_int_equal(decrypt(m, ct.size), want);                    \
	} while (0)
	MUTATE(0, 'X', LM_EFORMAT);		/* magic */
	MUTATE(7, '2', LM_EFORMAT);		/* version */
	MUTATE(8, 0x01, LM_EFORMAT);		/* S = 16 MiB + 4096 */
	MUTATE(10, 0x0f, LM_EFORMAT);		/* S = 3840 */
	MUTATE(19, 0x01, LM_EFORMAT);		/* reserved */
	MUTATE(20, 0x00, LM_EWRONGKEY);		/* key id */
	MUTATE(10, 0x20, LM_EAUTH);		/* S = 8192: in range, authenticated */
	MUTATE(12, ct.p[12] ^ 1, LM_EAUTH);	/* nonce prefix */
	MUTATE(30, ct.p[30] ^ 1, LM_EAUTH);	/* wrap nonce */
	MUTATE(50, ct.p[50] ^ 1, LM_EAUTH);	/* wrapped key */
	MUTATE(87, ct.p[87] ^ 1, LM_EAUTH);	/* wrap tag */
#undef MUTATE
	/* the right id with another KEK */
	assert_int_equal(decrypt_with(g_kek2, g_id, ct.p, ct.size, 64, &out), LM_EAUTH);
	free(out.p);
	/* another key id */
	assert_int_equal(decrypt_with(g_kek, g_id2, ct.p, ct.size, 64, &out), LM_EWRONGKEY);
	free(out.p);
	/* a wrong magic is refused without waiting for the whole header */
	{
		struct lm_fileenc_reader *rd;

		assert_int_equal(lm_fileenc_reader_new(&rd, g_kek, g_id, buf_out, &out), 0);
		assert_int_equal(lm_fileenc_reader_feed(rd, "LMBDAEF2", 8), LM_EFORMAT);
		lm_fileenc_reader_free(rd);
		assert_int_equal(lm_fileenc_reader_new(&rd, g_kek, g_id, buf_out, &out), 0);
		assert_int_equal(lm_fileenc_reader_feed(rd, "PK\x03\x04", 4), LM_EFORMAT);
		lm_fileenc_reader_free(rd);
	}
	/* header parse on its own */
	{
		struct lm_fileenc_header h;

		assert_int_equal(lm_fileenc_header_parse(&h, ct.p, ct.size), 0);
		assert_int_equal(h.segment_size, S);
		assert_memory_equal(h.key_id, g_id, 8);
		assert_int_equal(lm_fileenc_header_parse(&h, ct.p, 87), LM_EFORMAT);
	}
	free(m);
	free(ct.p);
	free(pt);
}

/* Every single-bit flip anywhere is refused; nothing from the flipped
 * segment onward is ever handed out. */
static void test_bitflips(void **state)
{
	size_t n = 2 * S + 100;
	uint8_t *pt = pattern(n);
	struct buf ct = encrypt(pt, n, S, n);
	uint8_t *m = malloc(ct.size);

	(void)state;
	for (size_t off = 0; off < ct.size; off++) {
		for (int bit = 0; bit < 8; bit += (off < 88 ? 1 : 7)) {
			struct buf out;
			int r;

			memcpy(m, ct.p, ct.size);
			m[off] ^= (uint8_t)(1 << bit);
			r = decrypt_with(g_kek, g_id, m, ct.size, 5000, &out);
			assert_true(r < 0);
			if (off >= 20 && off < 28)
				assert_int_equal(r, LM_EWRONGKEY);
			else if (off >= 88)
				assert_int_equal(r, LM_EAUTH);
			else if (off >= 12 && off < 19)
				assert_int_equal(r, LM_EAUTH);
			/* plaintext only up to the segment before the flip */
			if (off >= 88)
				assert_true(out.size <= (off - 88) / (S + 16) * S);
			free(out.p);
		}
	}
	free(m);
	free(ct.p);
	free(pt);
}

static void test_truncation(void **state)
{
	size_t n = 3 * S + 50;
	uint8_t *pt = pattern(n);
	struct buf ct = encrypt(pt, n, S, n);

	(void)state;
	for (size_t len = 0; len < ct.size; len++) {
		int r = decrypt(ct.p, len);
		size_t body = len > 88 ? len - 88 : 0;

		assert_true(r < 0);
		if (len <= 88 || body % (S + 16) == 0 || body % (S + 16) < 16)
			assert_int_equal(r, LM_EFORMAT);	/* header, boundary, or less than a tag */
		else
			assert_int_equal(r, LM_EAUTH);		/* mid-segment */
	}
	free(ct.p);
	free(pt);
}

static void test_reorder_extend(void **state)
{
	size_t n = 3 * S + 50, seg = S + 16;
	uint8_t *pt = pattern(n);
	struct buf ct = encrypt(pt, n, S, n);
	struct buf full = encrypt(pt, 2 * S, S, S);
	uint8_t *m = malloc(ct.size + 2 * seg);

	(void)state;
	/* swap segments 0 and 1 */
	memcpy(m, ct.p, ct.size);
	memcpy(m + 88, ct.p + 88 + seg, seg);
	memcpy(m + 88 + seg, ct.p + 88, seg);
	assert_int_equal(decrypt(m, ct.size), LM_EAUTH);
	/* duplicate segment 1 in place of segment 2 */
	memcpy(m, ct.p, ct.size);
	memcpy(m + 88 + 2 * seg, ct.p + 88 + seg, seg);
	assert_int_equal(decrypt(m, ct.size), LM_EAUTH);
	/* segment 0 inserted twice */
	memcpy(m, ct.p, 88 + seg);
	memcpy(m + 88 + seg, ct.p + 88, ct.size - 88);
	assert_int_equal(decrypt(m, ct.size + seg), LM_EAUTH);
	/* drop segment 1 */
	memcpy(m, ct.p, 88 + seg);
	memcpy(m + 88 + seg, ct.p + 88 + 2 * seg, ct.size - 88 - 2 * seg);
	assert_int_equal(decrypt(m, ct.size - seg), LM_EAUTH);
	/* trailing bytes after a short last segment, and after a full one */
	memcpy(m, ct.p, ct.size);
	memcpy(m + ct.size, "trail", 5);
	assert_int_equal(decrypt(m, ct.size + 5), LM_EFORMAT);
	memcpy(m, full.p, full.size);
	m[full.size] = 0;
	assert_int_equal(decrypt(m, full.size + 1), LM_EFORMAT);
	/* a whole extra segment after the last one */
	memcpy(m, full.p, full.size);
	memcpy(m + full.size, full.p + 88, seg);
	assert_int_equal(decrypt(m, full.size + seg), LM_EFORMAT);
	/* truncated exactly at the last segment boundary */
	assert_int_equal(decrypt(full.p, full.size - seg), LM_EFORMAT);
	free(m);
	free(full.p);
	free(ct.p);
	free(pt);
}

static void test_counter_limit(void **state)
{
	uint8_t *pt = pattern(2 * S + 1);
	struct lm_fileenc_writer *w;
	struct lm_fileenc_reader *rd;
	struct buf ct = { NULL, 0 }, out = { NULL, 0 };

	(void)state;
	/* segment 2^32 - 1 as the last one is fine */
	assert_int_equal(lm_fileenc_writer_new(&w, g_kek, g_id, S, buf_out, &ct), 0);
	lm_fileenc_writer_set_counter(w, UINT32_MAX);
	assert_int_equal(lm_fileenc_writer_feed(w, pt, S), 0);
	assert_int_equal(lm_fileenc_writer_finish(w), 0);
	lm_fileenc_writer_free(w);
	assert_int_equal(lm_fileenc_reader_new(&rd, g_kek, g_id, buf_out, &out), 0);
	lm_fileenc_reader_set_counter(rd, UINT32_MAX);
	assert_int_equal(lm_fileenc_reader_feed(rd, ct.p, ct.size), 0);
	assert_int_equal(lm_fileenc_reader_finish(rd), 0);
	lm_fileenc_reader_free(rd);
	assert_int_equal(out.size, S);
	free(out.p);
	out.p = NULL;
	out.size = 0;
	/* but another segment after it is not */
	ct.size = 0;
	assert_int_equal(lm_fileenc_writer_new(&w, g_kek, g_id, S, buf_out, &ct), 0);
	lm_fileenc_writer_set_counter(w, UINT32_MAX);
	assert_int_equal(lm_fileenc_writer_feed(w, pt, S + 1), LM_ETOOBIG);
	assert_int_equal(lm_fileenc_writer_finish(w), LM_ETOOBIG);
	lm_fileenc_writer_free(w);
	free(ct.p);
	ct = encrypt(pt, 2 * S + 1, S, 99);
	assert_int_equal(lm_fileenc_reader_new(&rd, g_kek, g_id, buf_out, &out), 0);
	lm_fileenc_reader_set_counter(rd, UINT32_MAX);
	assert_int_equal(lm_fileenc_reader_feed(rd, ct.p, ct.size), LM_EFORMAT);
	lm_fileenc_reader_free(rd);
	assert_int_equal(out.size, 0);
	free(ct.p);
	free(pt);
}

struct rot {
	char dir[64], path[128], journal[160];
	uint8_t *orig;
	size_t size;
};

static void rot_setup(struct rot *t)
{
	uint8_t *pt = pattern(10000);
	struct buf ct = encrypt(pt, 10000, S, 10000);

	snprintf(t->dir, sizeof(t->dir), "/tmp/lm-rotate-XXXXXX");
	assert_non_null(mkdtemp(t->dir));
	snprintf(t->path, sizeof(t->path), "%s/f.lmbd", t->dir);
	snprintf(t->journal, sizeof(t->journal), "%s%s", t->path, LM_FILEENC_JOURNAL_SUFFIX);
	assert_int_equal(lm_file_write_new(t->path, ct.p, ct.size, 0600), 0);
	t->orig = ct.p;
	t->size = ct.size;
	free(pt);
}

/* The file opens with kek/id, gives the original plaintext and differs
 * from the original only in bytes 20..87. */
static void rot_check(struct rot *t, const struct lm_secret *kek, const uint8_t *id)
{
	uint8_t *now, *pt = pattern(10000);
	struct buf out;
	size_t size;

	assert_int_equal(lm_file_read(t->path, LM_FILE_MAX, &now, &size), 0);
	assert_int_equal(size, t->size);
	assert_memory_equal(now, t->orig, 20);
	assert_memory_equal(now + 88, t->orig + 88, size - 88);
	assert_int_equal(decrypt_with(kek, id, now, size, 4096, &out), 0);
	assert_int_equal(out.size, 10000);
	assert_memory_equal(out.p, pt, 10000);
	free(out.p);
	free(now);
	free(pt);
	assert_int_not_equal(access(t->journal, F_OK), 0);
}

static void rot_done(struct rot *t)
{
	free(t->orig);
	assert_int_equal(lm_rm_rf(t->dir), 0);
}

static void test_rotate(void **state)
{
	struct rot t;

	(void)state;
	rot_setup(&t);
	assert_int_equal(lm_fileenc_rotate(t.path, g_kek, g_id, g_kek2, g_id2), 0);
	rot_check(&t, g_kek2, g_id2);
	{
		uint8_t *now;
		size_t size;
		struct buf out;

		assert_int_equal(lm_file_read(t.path, LM_FILE_MAX, &now, &size), 0);
		assert_int_equal(decrypt_with(g_kek, g_id, now, size, 4096, &out), LM_EWRONGKEY);
		free(out.p);
		free(now);
	}
	/* the old key no longer opens it: nothing changes */
	assert_int_equal(lm_fileenc_rotate(t.path, g_kek, g_id, g_kek2, g_id2), LM_EWRONGKEY);
	assert_int_equal(lm_fileenc_rotate(t.path, g_kek, g_id2, g_kek, g_id), LM_EAUTH);
	rot_check(&t, g_kek2, g_id2);
	/* and back */
	assert_int_equal(lm_fileenc_rotate(t.path, g_kek2, g_id2, g_kek, g_id), 0);
	rot_check(&t, g_kek, g_id);
	rot_done(&t);
}

static void test_rotate_crash(void **state)
{
	static const enum lm_fileenc_stop stops[] = { LM_FILEENC_STOP_AFTER_JOURNAL, LM_FILEENC_STOP_TORN_WRITE,
						      LM_FILEENC_STOP_BEFORE_UNLINK };
	struct rot t;

	(void)state;
	/* a complete journal rolls forward, whatever state the file is in */
	for (size_t i = 0; i < sizeof(stops) / sizeof(stops[0]); i++) {
		rot_setup(&t);
		assert_int_equal(lm_fileenc_rotate_until(t.path, g_kek, g_id, g_kek2, g_id2, stops[i]), 0);
		assert_int_equal(access(t.journal, F_OK), 0);
		assert_int_equal(lm_fileenc_recover(t.path), 0);
		rot_check(&t, g_kek2, g_id2);
		rot_done(&t);
	}
	/* an interrupted rotation is completed by the next rotation, too */
	rot_setup(&t);
	assert_int_equal(lm_fileenc_rotate_until(t.path, g_kek, g_id, g_kek2, g_id2, LM_FILEENC_STOP_TORN_WRITE), 0);
	assert_int_equal(lm_fileenc_rotate(t.path, g_kek2, g_id2, g_kek, g_id), 0);
	rot_check(&t, g_kek, g_id);
	rot_done(&t);
	/* a torn journal is dropped: the file keeps its old key */
	rot_setup(&t);
	assert_int_equal(lm_fileenc_rotate_until(t.path, g_kek, g_id, g_kek2, g_id2, LM_FILEENC_STOP_AFTER_JOURNAL), 0);
	assert_int_equal(truncate(t.journal, 100), 0);
	assert_int_equal(lm_fileenc_recover(t.path), 0);
	rot_check(&t, g_kek, g_id);
	rot_done(&t);
	/* a journal with a bad checksum likewise */
	rot_setup(&t);
	assert_int_equal(lm_fileenc_rotate_until(t.path, g_kek, g_id, g_kek2, g_id2, LM_FILEENC_STOP_AFTER_JOURNAL), 0);
	{
		/* Flip the byte rather than overwrite it: an overwrite with a
		 * value the byte already had would change nothing. */
		int fd = open(t.journal, O_RDWR);
		uint8_t b;

		assert_int_equal(pread(fd, &b, 1, 150), 1);
		b ^= 0xff;
		assert_int_equal(pwrite(fd, &b, 1, 150), 1);
		close(fd);
	}
	assert_int_equal(lm_fileenc_recover(t.path), 0);
	rot_check(&t, g_kek, g_id);
	rot_done(&t);
	/* a journal of another file is left alone */
	rot_setup(&t);
	assert_int_equal(lm_fileenc_rotate_until(t.path, g_kek, g_id, g_kek2, g_id2, LM_FILEENC_STOP_AFTER_JOURNAL), 0);
	{
		uint8_t *pt = pattern(10);
		struct buf other = encrypt(pt, 10, S, 10);

		assert_int_equal(unlink(t.path), 0);
		assert_int_equal(lm_file_write_new(t.path, other.p, other.size, 0600), 0);
		assert_int_equal(lm_fileenc_recover(t.path), LM_ESTATE);
		assert_int_equal(access(t.journal, F_OK), 0);
		assert_int_equal(lm_fileenc_rotate(t.path, g_kek, g_id, g_kek2, g_id2), LM_ESTATE);
		free(other.p);
		free(pt);
	}
	rot_done(&t);
	/* nothing to recover */
	assert_int_equal(lm_fileenc_recover("/nonexistent/file"), 0);
}

/* The valid seeds of the reader fuzz corpus were written by the independent
 * implementation tests/tools/lmbdaef1.py under the fuzz key (bytes 0..31,
 * key id 01..08); the name says the plaintext size. */
static void test_reference_vectors(void **state)
{
	static const size_t sizes[] = { 0, 1, 4096, 4097, 12298 };
	const char *data = getenv("LAMBDA_TEST_DATA");
	struct lm_secret *kek;
	uint8_t id[LM_KEY_ID_BYTES] = { 1, 2, 3, 4, 5, 6, 7, 8 };

	(void)state;
	if (!data)
		skip();
	assert_int_equal(lm_secret_new(LM_KEY_BYTES, &kek), 0);
	for (size_t i = 0; i < LM_KEY_BYTES; i++)
		kek->data[i] = (uint8_t)i;
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		char path[4096];
		uint8_t *ct;
		size_t size, len;
		struct buf out;

		/* LAMBDA_TEST_DATA is <source>/tests/data, which need not exist */
		snprintf(path, sizeof(path), "%s", data);
		len = strlen(dirname(path));
		snprintf(path + len, sizeof(path) - len, "/fuzz/corpus/fileenc_reader/valid-%zu", sizes[i]);
		assert_int_equal(lm_file_read(path, LM_FILE_MAX, &ct, &size), 0);
		assert_int_equal(decrypt_with(kek, id, ct, size, 333, &out), 0);
		assert_int_equal(out.size, sizes[i]);
		free(out.p);
		ct[size - 1] ^= 1;
		assert_int_equal(decrypt_with(kek, id, ct, size, 333, &out), LM_EAUTH);
		free(out.p);
		free(ct);
	}
	lm_secret_free(kek);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_fd_paths),
		cmocka_unit_test(test_header_errors),
		cmocka_unit_test(test_bitflips),
		cmocka_unit_test(test_truncation),
		cmocka_unit_test(test_reorder_extend),
		cmocka_unit_test(test_counter_limit),
		cmocka_unit_test(test_rotate),
		cmocka_unit_test(test_rotate_crash),
		cmocka_unit_test(test_reference_vectors),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
