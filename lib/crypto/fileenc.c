/* The encrypted file format of DESIGN.md section 5: header parsing and key
 * wrap, the segment writer and reader (push parsers sharing one buffer per
 * stream), the fd loops behind `lambda encrypt` / `lambda decrypt`, and the
 * journaled key rotation (docs/formats.md "Encrypted files").
 *
 * Buffers: the writer keeps S + 16 bytes: plaintext is read straight into
 * it, a segment is sealed in place with its tag behind it and written out
 * from there; the at most 16 bytes of look-ahead that told us the segment
 * was not the last wait in a small stack spill meanwhile. The reader keeps
 * S + 32 bytes: a segment is known not to be the last once more than S + 16
 * bytes are buffered, it is opened in place and the at most 16 look-ahead
 * bytes move to the front. So each byte is copied at most once on feed()
 * and not at all on the fd paths. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>

#include "crypto/fileenc_int.h"
#include "lambda/log.h"
#include "lambda/util.h"

#define WRAP_AAD_BYTES 28
#define SEG_AAD_BYTES 20
#define TAG LM_FILEENC_TAG_BYTES
#define JOURNAL_MAGIC "LMBDAEJ1"
#define JOURNAL_HASH_OFFSET (8 + SEG_AAD_BYTES + 2 * LM_FILEENC_SLOT_BYTES)
#define JOURNAL_BYTES (JOURNAL_HASH_OFFSET + 32)

static void be32_put(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t be32_get(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* "lmk_" + hex, as lm_key_id_format() prints it; kept local so the format
 * code needs nothing of the CMK half of lib/crypto. */
static void id_str(char out[static LM_KEY_ID_STR_SIZE], const uint8_t id[static LM_KEY_ID_BYTES])
{
	memcpy(out, "lmk_", 4);
	lm_hex_encode(out + 4, id, LM_KEY_ID_BYTES);
}

/* One AES-256-GCM operation with a fresh context: the key wrap. Returns
 * LM_EAUTH, without logging, when decryption fails its tag. */
static int gcm_oneshot(int enc, const uint8_t *key, const uint8_t *nonce, const uint8_t *aad, size_t aad_size,
		       const uint8_t *in, size_t size, uint8_t *out, uint8_t *tag)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int n, r;

	if (!c)
		return LM_ENOMEM;
	if ((r = LM_OSSL(EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, key, nonce, enc))) < 0 ||
	    (r = LM_OSSL(EVP_CipherUpdate(c, NULL, &n, aad, (int)aad_size))) < 0 ||
	    (r = LM_OSSL(EVP_CipherUpdate(c, out, &n, in, (int)size))) < 0)
		goto out;
	if (!enc && (r = LM_OSSL(EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, TAG, tag))) < 0)
		goto out;
	if (EVP_CipherFinal_ex(c, out + n, &n) != 1) {
		if (enc) {
			r = lm_log_ossl("AES-256-GCM");
		} else {
			ERR_clear_error();
			lm_memzero(out, size);
			r = LM_EAUTH;
		}
		goto out;
	}
	r = enc ? LM_OSSL(EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, TAG, tag)) : 0;
out:
	EVP_CIPHER_CTX_free(c);
	return r;
}

int lm_fileenc_header_parse(struct lm_fileenc_header *out, const uint8_t *buf, size_t size)
{
	size_t n = size < 7 ? size : 7;
	uint32_t s;

	if (memcmp(buf, LM_FILEENC_MAGIC, n) != 0) {
		lm_err("not a lambda encrypted file (bad magic)");
		return LM_EFORMAT;
	}
	if (size >= 8 && buf[7] != '1') {
		lm_err("unsupported encrypted file version (magic byte 0x%02x, this build reads '1')", buf[7]);
		return LM_EFORMAT;
	}
	if (size < LM_FILEENC_HEADER_BYTES) {
		lm_err("truncated header: %zu of %d bytes", size, LM_FILEENC_HEADER_BYTES);
		return LM_EFORMAT;
	}
	s = be32_get(buf + 8);
	if (s < LM_FILEENC_SEGMENT_MIN || s > LM_FILEENC_SEGMENT_MAX) {
		lm_err("segment size %u out of range (%u..%u)", s, LM_FILEENC_SEGMENT_MIN, LM_FILEENC_SEGMENT_MAX);
		return LM_EFORMAT;
	}
	if (buf[19] != 0) {
		lm_err("reserved header byte is 0x%02x, not 0", buf[19]);
		return LM_EFORMAT;
	}
	out->segment_size = s;
	memcpy(out->nonce_prefix, buf + 12, LM_FILEENC_PREFIX_BYTES);
	memcpy(out->key_id, buf + 20, LM_KEY_ID_BYTES);
	memcpy(out->wrap_nonce, buf + 28, LM_FILEENC_NONCE_BYTES);
	memcpy(out->wrapped_key, buf + 40, sizeof(out->wrapped_key));
	return 0;
}

int lm_fileenc_header_open(const uint8_t hdr[static LM_FILEENC_HEADER_BYTES], const struct lm_secret *file_kek,
			   const uint8_t key_id[static LM_KEY_ID_BYTES], struct lm_secret **file_key)
{
	struct lm_fileenc_header h;
	struct lm_secret *key = NULL;
	char want[LM_KEY_ID_STR_SIZE], have[LM_KEY_ID_STR_SIZE];
	int r;

	if (!file_kek || file_kek->size != LM_KEY_BYTES)
		return LM_EINVAL;
	if ((r = lm_fileenc_header_parse(&h, hdr, LM_FILEENC_HEADER_BYTES)) < 0)
		return r;
	id_str(want, h.key_id);
	if (memcmp(h.key_id, key_id, LM_KEY_ID_BYTES) != 0) {
		id_str(have, key_id);
		/* The key id is authenticated only by the key it names: a damaged
		 * header reads as a key nobody has. */
		lm_err("wrong key: the file is encrypted for key %s, the key given is %s "
		       "(if no such key exists, the file's header is damaged)", want, have);
		return LM_EWRONGKEY;
	}
	if ((r = lm_secret_new(LM_KEY_BYTES, &key)) < 0)
		return r;
	r = gcm_oneshot(0, file_kek->data, h.wrap_nonce, hdr, WRAP_AAD_BYTES, h.wrapped_key, LM_KEY_BYTES,
			key->data, h.wrapped_key + LM_KEY_BYTES);
	if (r == LM_EAUTH)
		lm_err("header failed authentication: bytes 0..87 were modified (key %s)", want);
	if (r < 0)
		goto out;
	*file_key = key;
	key = NULL;
out:
	lm_secret_free(key);
	lm_memzero(&h, sizeof(h));
	return r;
}

/* ---- segment AEAD: one context, keyed once, re-nonced per segment ---- */

struct seg_aead {
	EVP_CIPHER_CTX *ctx;
	uint8_t nonce[LM_FILEENC_NONCE_BYTES];
	uint8_t aad[SEG_AAD_BYTES];
};

static int seg_init(struct seg_aead *a, const struct lm_secret *file_key, const uint8_t *hdr, int enc)
{
	a->ctx = EVP_CIPHER_CTX_new();
	if (!a->ctx)
		return LM_ENOMEM;
	memcpy(a->nonce, hdr + 12, LM_FILEENC_PREFIX_BYTES);
	memcpy(a->aad, hdr, SEG_AAD_BYTES);
	return LM_OSSL(EVP_CipherInit_ex(a->ctx, EVP_aes_256_gcm(), NULL, file_key->data, NULL, enc));
}

/* Seals (enc) or opens size bytes from in to out (which may be in), segment
 * idx, with the tag at tag. An open that fails its tag returns LM_EAUTH
 * without logging; out then holds the keystream-xored bytes, which the
 * caller can turn back into the ciphertext by sealing with the same nonce
 * (GCM is CTR mode underneath). */
static int seg_run(struct seg_aead *a, int enc, uint8_t *out, const uint8_t *in, size_t size, uint64_t idx,
		   int last, uint8_t *tag)
{
	int n = 0, fin;

	be32_put(a->nonce + LM_FILEENC_PREFIX_BYTES, (uint32_t)idx);
	a->nonce[11] = last ? 1 : 0;
	if (EVP_CipherInit_ex(a->ctx, NULL, NULL, NULL, a->nonce, enc) != 1 ||
	    EVP_CipherUpdate(a->ctx, NULL, &n, a->aad, SEG_AAD_BYTES) != 1 ||
	    (size && EVP_CipherUpdate(a->ctx, out, &n, in, (int)size) != 1) ||
	    (!enc && EVP_CIPHER_CTX_ctrl(a->ctx, EVP_CTRL_GCM_SET_TAG, TAG, tag) != 1))
		return lm_log_ossl("segment AES-256-GCM");
	fin = EVP_CipherFinal_ex(a->ctx, out + n, &n);
	if (!enc && fin != 1) {
		ERR_clear_error();
		return LM_EAUTH;
	}
	if (fin != 1 || (enc && EVP_CIPHER_CTX_ctrl(a->ctx, EVP_CTRL_GCM_GET_TAG, TAG, tag) != 1))
		return lm_log_ossl("segment AES-256-GCM");
	return 0;
}

/* ---- writer ---- */

struct lm_fileenc_writer {
	struct seg_aead a;
	lm_fileenc_out_fn fn;
	void *ctx;
	uint8_t *buf;
	size_t cap, fill;	/* cap = S + 16 */
	uint32_t seg_size;
	uint64_t next;		/* index of the next segment */
	int err;
	bool finished;
};

int lm_fileenc_writer_new(struct lm_fileenc_writer **out, const struct lm_secret *file_kek,
			  const uint8_t key_id[static LM_KEY_ID_BYTES], uint32_t segment_size, lm_fileenc_out_fn fn,
			  void *ctx)
{
	struct lm_fileenc_writer *w = NULL;
	struct lm_secret *key = NULL;
	uint8_t hdr[LM_FILEENC_HEADER_BYTES];
	int r;

	if (segment_size == 0)
		segment_size = LM_FILEENC_SEGMENT_DEFAULT;
	if (segment_size < LM_FILEENC_SEGMENT_MIN || segment_size > LM_FILEENC_SEGMENT_MAX) {
		lm_err("segment size %u out of range (%u..%u)", segment_size, LM_FILEENC_SEGMENT_MIN,
		       LM_FILEENC_SEGMENT_MAX);
		return LM_EINVAL;
	}
	if (!file_kek || file_kek->size != LM_KEY_BYTES || !fn)
		return LM_EINVAL;
	if (!(w = calloc(1, sizeof(*w))))
		return LM_ENOMEM;
	w->fn = fn;
	w->ctx = ctx;
	w->seg_size = segment_size;
	w->cap = (size_t)segment_size + TAG;
	if (!(w->buf = malloc(w->cap))) {
		r = LM_ENOMEM;
		goto out;
	}
	memcpy(hdr, LM_FILEENC_MAGIC, LM_FILEENC_MAGIC_BYTES);
	be32_put(hdr + 8, segment_size);
	hdr[19] = 0;
	memcpy(hdr + 20, key_id, LM_KEY_ID_BYTES);
	if ((r = lm_random(hdr + 12, LM_FILEENC_PREFIX_BYTES)) < 0 ||
	    (r = lm_random(hdr + 28, LM_FILEENC_NONCE_BYTES)) < 0 || (r = lm_secret_new(LM_KEY_BYTES, &key)) < 0 ||
	    (r = lm_random(key->data, LM_KEY_BYTES)) < 0 ||
	    (r = gcm_oneshot(1, file_kek->data, hdr + 28, hdr, WRAP_AAD_BYTES, key->data, LM_KEY_BYTES, hdr + 40,
			     hdr + 40 + LM_KEY_BYTES)) < 0 ||
	    (r = seg_init(&w->a, key, hdr, 1)) < 0 || (r = fn(ctx, hdr, sizeof(hdr))) < 0)
		goto out;
	*out = w;
	w = NULL;
out:
	lm_secret_free(key);
	lm_fileenc_writer_free(w);
	return r;
}

/* Seals every segment that is known not to be the last: those followed by
 * at least one more byte. */
static int writer_process(struct lm_fileenc_writer *w)
{
	size_t s = w->seg_size;
	uint8_t spill[TAG];
	int r = 0;

	while (w->fill > s) {
		size_t extra = w->fill - s;	/* <= 16: the buffer holds S + 16 */

		if (w->next >= UINT32_MAX) {
			lm_err("input too large: an encrypted file holds at most 2^32 segments of %zu bytes", s);
			r = LM_ETOOBIG;
			break;
		}
		memcpy(spill, w->buf + s, extra);
		if ((r = seg_run(&w->a, 1, w->buf, w->buf, s, w->next, 0, w->buf + s)) < 0 ||
		    (r = w->fn(w->ctx, w->buf, s + TAG)) < 0)
			break;
		memcpy(w->buf, spill, extra);
		w->fill = extra;
		w->next++;
	}
	lm_memzero(spill, sizeof(spill));
	return r < 0 ? (w->err = r) : 0;
}

int lm_fileenc_writer_feed(struct lm_fileenc_writer *w, const void *data, size_t size)
{
	const uint8_t *p = data;
	int r;

	if (w->err || w->finished)
		return w->err ? w->err : LM_EINVAL;
	while (size) {
		size_t n = w->cap - w->fill < size ? w->cap - w->fill : size;

		memcpy(w->buf + w->fill, p, n);
		w->fill += n;
		p += n;
		size -= n;
		if ((r = writer_process(w)) < 0)
			return r;
	}
	return 0;
}

int lm_fileenc_writer_finish(struct lm_fileenc_writer *w)
{
	int r;

	if (w->err || w->finished)
		return w->err ? w->err : LM_EINVAL;
	if ((r = seg_run(&w->a, 1, w->buf, w->buf, w->fill, w->next, 1, w->buf + w->fill)) < 0 ||
	    (r = w->fn(w->ctx, w->buf, w->fill + TAG)) < 0)
		return w->err = r;
	w->finished = true;
	return 0;
}

void lm_fileenc_writer_free(struct lm_fileenc_writer *w)
{
	if (!w)
		return;
	EVP_CIPHER_CTX_free(w->a.ctx);
	lm_free_wiped_size(w->buf, w->cap);
	lm_memzero(w, sizeof(*w));
	free(w);
}

void lm_fileenc_writer_set_counter(struct lm_fileenc_writer *w, uint64_t next_segment)
{
	w->next = next_segment;
}

/* ---- reader ---- */

struct lm_fileenc_reader {
	struct seg_aead a;
	const struct lm_secret *kek;
	uint8_t key_id[LM_KEY_ID_BYTES];
	lm_fileenc_out_fn fn;
	void *ctx;
	uint8_t hdr[LM_FILEENC_HEADER_BYTES];
	size_t hdr_fill;
	uint8_t *buf;		/* NULL until the header opened */
	size_t cap, fill;	/* cap = S + 32 */
	uint32_t seg_size;
	uint64_t next;
	int err;
	bool finished;
};

int lm_fileenc_reader_new(struct lm_fileenc_reader **out, const struct lm_secret *file_kek,
			  const uint8_t key_id[static LM_KEY_ID_BYTES], lm_fileenc_out_fn fn, void *ctx)
{
	struct lm_fileenc_reader *r;

	if (!file_kek || file_kek->size != LM_KEY_BYTES || !fn)
		return LM_EINVAL;
	if (!(r = calloc(1, sizeof(*r))))
		return LM_ENOMEM;
	r->kek = file_kek;
	memcpy(r->key_id, key_id, LM_KEY_ID_BYTES);
	r->fn = fn;
	r->ctx = ctx;
	*out = r;
	return 0;
}

static int reader_start(struct lm_fileenc_reader *r)
{
	struct lm_secret *key = NULL;
	int e;

	if ((e = lm_fileenc_header_open(r->hdr, r->kek, r->key_id, &key)) < 0)
		return e;
	r->seg_size = be32_get(r->hdr + 8);
	r->cap = (size_t)r->seg_size + 2 * TAG;
	if (!(r->buf = malloc(r->cap)))
		e = LM_ENOMEM;
	else
		e = seg_init(&r->a, key, r->hdr, 0);
	lm_secret_free(key);
	return e;
}

/* Tries to open buf[0..size) + tag as segment idx/last; on failure turns
 * the bytes back into the ciphertext. */
static bool probe(struct lm_fileenc_reader *r, size_t size, uint64_t idx, int last)
{
	uint8_t junk[TAG];

	if (idx > UINT32_MAX)
		return false;
	if (seg_run(&r->a, 0, r->buf, r->buf, size, idx, last, r->buf + size) == 0)
		return true;
	if (seg_run(&r->a, 1, r->buf, r->buf, size, idx, last, junk) < 0)
		r->fill = 0;	/* cannot restore: later probes see garbage and fail */
	return false;
}

/* Segment idx (size bytes + tag at the front of buf) failed; says why as
 * precisely as the bytes allow. The buffer is restored first. */
static int reader_diagnose(struct lm_fileenc_reader *r, size_t size, uint64_t idx, int last)
{
	uint8_t junk[TAG];
	unsigned long long i = idx;

	if (seg_run(&r->a, 1, r->buf, r->buf, size, idx, last, junk) < 0)
		goto generic;
	if (probe(r, size, idx, !last)) {
		if (!last)
			lm_err("trailing data after the last segment (segment %llu)", i);
		else
			lm_err("truncated: the file ends after segment %llu, its last segment is missing", i);
		return LM_EFORMAT;
	}
	for (int d = -2; d <= 2; d++) {
		if (d == 0 || (d < 0 && idx < (uint64_t)-d))
			continue;
		for (int f = 0; f <= 1; f++)
			if (probe(r, size, idx + (uint64_t)(int64_t)d, f)) {
				lm_err("segment %llu failed authentication: it is segment %llu (segments reordered "
				       "or duplicated)",
				       i, (unsigned long long)(idx + (uint64_t)(int64_t)d));
				return LM_EAUTH;
			}
	}
	/* A short last segment with bytes appended to it. */
	for (size_t t = 1; last && t <= 64 && t <= size; t++)
		if (probe(r, size - t, idx, 1)) {
			lm_err("trailing data: %zu bytes after the last segment", t);
			return LM_EFORMAT;
		}
generic:
	lm_err("segment %llu failed authentication: the file was modified or truncated", i);
	return LM_EAUTH;
}

/* Opens every buffered segment known not to be the last. */
static int reader_process(struct lm_fileenc_reader *r)
{
	size_t s = r->seg_size;
	int e;

	while (r->fill > s + TAG) {
		if (r->next >= UINT32_MAX) {
			lm_err("segment counter overflow: more than 2^32 segments");
			return r->err = LM_EFORMAT;
		}
		if (seg_run(&r->a, 0, r->buf, r->buf, s, r->next, 0, r->buf + s) < 0)
			return r->err = reader_diagnose(r, s, r->next, 0);
		if ((e = r->fn(r->ctx, r->buf, s)) < 0)
			return r->err = e;
		r->fill -= s + TAG;
		memmove(r->buf, r->buf + s + TAG, r->fill);
		r->next++;
	}
	return 0;
}

/* Header bytes are collected apart; returns how many of size it took. */
static int reader_header(struct lm_fileenc_reader *r, const uint8_t *p, size_t size, size_t *used)
{
	size_t n = LM_FILEENC_HEADER_BYTES - r->hdr_fill;
	struct lm_fileenc_header h;
	int e;

	if (n > size)
		n = size;
	memcpy(r->hdr + r->hdr_fill, p, n);
	r->hdr_fill += n;
	*used = n;
	if (r->hdr_fill < LM_FILEENC_HEADER_BYTES) {
		/* Refuse a wrong magic or version as soon as it shows. */
		size_t m = r->hdr_fill < 7 ? r->hdr_fill : 7;

		if (memcmp(r->hdr, LM_FILEENC_MAGIC, m) != 0 || (r->hdr_fill >= 8 && r->hdr[7] != '1'))
			return r->err = lm_fileenc_header_parse(&h, r->hdr, r->hdr_fill);
		return 0;
	}
	return (e = reader_start(r)) < 0 ? (r->err = e) : 0;
}

int lm_fileenc_reader_feed(struct lm_fileenc_reader *r, const void *data, size_t size)
{
	const uint8_t *p = data;
	int e;

	if (r->err || r->finished)
		return r->err ? r->err : LM_EINVAL;
	while (size) {
		size_t n;

		if (!r->buf) {
			if ((e = reader_header(r, p, size, &n)) < 0)
				return e;
		} else {
			n = r->cap - r->fill < size ? r->cap - r->fill : size;
			memcpy(r->buf + r->fill, p, n);
			r->fill += n;
			if ((e = reader_process(r)) < 0)
				return e;
		}
		p += n;
		size -= n;
	}
	return 0;
}

int lm_fileenc_reader_finish(struct lm_fileenc_reader *r)
{
	struct lm_fileenc_header h;
	size_t n;
	int e;

	if (r->err || r->finished)
		return r->err ? r->err : LM_EINVAL;
	if (!r->buf) {
		if (r->hdr_fill == 0)
			lm_err("empty input: not a lambda encrypted file");
		else if (lm_fileenc_header_parse(&h, r->hdr, r->hdr_fill) == 0)
			lm_err("truncated header");
		return r->err = LM_EFORMAT;
	}
	if (r->fill == 0) {
		lm_err("truncated: the file ends after its header, the last segment is missing");
		return r->err = LM_EFORMAT;
	}
	if (r->fill < TAG) {
		lm_err("truncated: segment %llu has %zu bytes, less than its %d-byte tag", (unsigned long long)r->next,
		       r->fill, TAG);
		return r->err = LM_EFORMAT;
	}
	n = r->fill - TAG;
	if (seg_run(&r->a, 0, r->buf, r->buf, n, r->next, 1, r->buf + n) < 0)
		return r->err = reader_diagnose(r, n, r->next, 1);
	if (n == 0 && r->next > 0) {
		/* Only a writer with the key can make this; still not ours. */
		lm_err("malformed: empty last segment after segment %llu", (unsigned long long)r->next - 1);
		return r->err = LM_EFORMAT;
	}
	if ((e = r->fn(r->ctx, r->buf, n)) < 0)
		return r->err = e;
	r->finished = true;
	return 0;
}

void lm_fileenc_reader_free(struct lm_fileenc_reader *r)
{
	if (!r)
		return;
	EVP_CIPHER_CTX_free(r->a.ctx);
	lm_free_wiped_size(r->buf, r->cap);
	lm_memzero(r, sizeof(*r));
	free(r);
}

void lm_fileenc_reader_set_counter(struct lm_fileenc_reader *r, uint64_t next_segment)
{
	r->next = next_segment;
}

/* ---- file descriptors ---- */

static int write_all(int fd, const uint8_t *p, size_t size)
{
	while (size) {
		ssize_t n = write(fd, p, size);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			lm_err("write: %s", n < 0 ? strerror(errno) : "no progress");
			return LM_EIO;
		}
		p += n;
		size -= (size_t)n;
	}
	return 0;
}

static int fd_out(void *ctx, const uint8_t *buf, size_t size)
{
	return write_all(*(int *)ctx, buf, size);
}

static int read_some(int fd, uint8_t *p, size_t size, size_t *got)
{
	ssize_t n;

	do
		n = read(fd, p, size);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		lm_err("read: %s", strerror(errno));
		return LM_EIO;
	}
	*got = (size_t)n;
	return 0;
}

int lm_fileenc_encrypt_fd(int out_fd, int in_fd, const struct lm_secret *file_kek,
			  const uint8_t key_id[static LM_KEY_ID_BYTES], uint32_t segment_size)
{
	struct lm_fileenc_writer *w = NULL;
	size_t n;
	int r;

	if ((r = lm_fileenc_writer_new(&w, file_kek, key_id, segment_size, fd_out, &out_fd)) < 0)
		return r;
	(void)posix_fadvise(in_fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	for (;;) {
		/* Read straight into the segment buffer. */
		if ((r = read_some(in_fd, w->buf + w->fill, w->cap - w->fill, &n)) < 0)
			goto out;
		if (n == 0)
			break;
		w->fill += n;
		if ((r = writer_process(w)) < 0)
			goto out;
	}
	r = lm_fileenc_writer_finish(w);
out:
	lm_fileenc_writer_free(w);
	return r;
}

int lm_fileenc_decrypt_fd(int out_fd, int in_fd, const struct lm_secret *file_kek,
			  const uint8_t key_id[static LM_KEY_ID_BYTES])
{
	struct lm_fileenc_reader *rd = NULL;
	uint8_t hdr[LM_FILEENC_HEADER_BYTES];
	size_t n;
	int r;

	if ((r = lm_fileenc_reader_new(&rd, file_kek, key_id, fd_out, &out_fd)) < 0)
		return r;
	(void)posix_fadvise(in_fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	while (!rd->buf) {
		if ((r = read_some(in_fd, hdr, LM_FILEENC_HEADER_BYTES - rd->hdr_fill, &n)) < 0)
			goto out;
		if (n == 0)
			goto finish;
		if ((r = lm_fileenc_reader_feed(rd, hdr, n)) < 0)
			goto out;
	}
	for (;;) {
		if ((r = read_some(in_fd, rd->buf + rd->fill, rd->cap - rd->fill, &n)) < 0)
			goto out;
		if (n == 0)
			break;
		rd->fill += n;
		if ((r = reader_process(rd)) < 0)
			goto out;
	}
finish:
	r = lm_fileenc_reader_finish(rd);
out:
	lm_fileenc_reader_free(rd);
	return r;
}

/* ---- key rotation ----
 * journal = "LMBDAEJ1" || file bytes 0..19 || old bytes 20..87 || new bytes
 * 20..87 || SHA-256 of everything before (196 bytes). */

static int journal_path(char *out, size_t size, const char *path)
{
	if ((size_t)snprintf(out, size, "%s%s", path, LM_FILEENC_JOURNAL_SUFFIX) >= size) {
		lm_err("%s: path too long", path);
		return LM_EINVAL;
	}
	return 0;
}

static int fsync_dir_of(const char *path)
{
	char tmp[PATH_MAX];
	int fd, r = 0;

	snprintf(tmp, sizeof(tmp), "%s", path);
	fd = open(dirname(tmp), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) != 0) {
		lm_err("%s: syncing its directory: %s", path, strerror(errno));
		r = LM_EIO;
	}
	if (fd >= 0)
		close(fd);
	return r;
}

static int pread_header(int fd, const char *path, uint8_t hdr[static LM_FILEENC_HEADER_BYTES])
{
	ssize_t n;

	do
		n = pread(fd, hdr, LM_FILEENC_HEADER_BYTES, 0);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		lm_err("%s: %s", path, strerror(errno));
		return LM_EIO;
	}
	if (n < LM_FILEENC_HEADER_BYTES) {
		struct lm_fileenc_header h;

		if (lm_fileenc_header_parse(&h, hdr, (size_t)n) == 0)
			lm_err("%s: truncated header", path);
		return LM_EFORMAT;
	}
	return 0;
}

static int pwrite_sync(int fd, const char *path, const uint8_t *p, size_t size, off_t off)
{
	while (size) {
		ssize_t n = pwrite(fd, p, size, off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			lm_err("%s: write: %s", path, n < 0 ? strerror(errno) : "no progress");
			return LM_EIO;
		}
		p += n;
		size -= (size_t)n;
		off += n;
	}
	if (fsync(fd) != 0) {
		lm_err("%s: fsync: %s", path, strerror(errno));
		return LM_EIO;
	}
	return 0;
}

static int open_rw(const char *path, int *fd)
{
	*fd = open(path, O_RDWR | O_CLOEXEC);
	if (*fd < 0) {
		lm_err("%s: %s", path, strerror(errno));
		return errno == ENOENT ? LM_ENOENT : LM_EIO;
	}
	return 0;
}

static int journal_write(const char *jpath, const uint8_t old_hdr[static LM_FILEENC_HEADER_BYTES],
			 const uint8_t new_slot[static LM_FILEENC_SLOT_BYTES])
{
	uint8_t j[JOURNAL_BYTES];
	int fd, r;

	memcpy(j, JOURNAL_MAGIC, 8);
	memcpy(j + 8, old_hdr, LM_FILEENC_HEADER_BYTES);
	memcpy(j + 8 + LM_FILEENC_HEADER_BYTES, new_slot, LM_FILEENC_SLOT_BYTES);
	if ((r = LM_OSSL(EVP_Digest(j, JOURNAL_HASH_OFFSET, j + JOURNAL_HASH_OFFSET, NULL, EVP_sha256(), NULL))) < 0)
		return r;
	fd = open(jpath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		int e = errno;

		lm_err("%s: %s", jpath, e == EEXIST ? "exists: another key rotation is running" : strerror(e));
		return e == EEXIST ? LM_EBUSY : LM_EIO;
	}
	if ((r = write_all(fd, j, sizeof(j))) == 0 && fsync(fd) != 0) {
		lm_err("%s: fsync: %s", jpath, strerror(errno));
		r = LM_EIO;
	}
	close(fd);
	if (r == 0)
		r = fsync_dir_of(jpath);
	if (r < 0)
		unlink(jpath);
	return r;
}

static int journal_remove(const char *jpath)
{
	if (unlink(jpath) != 0 && errno != ENOENT) {
		lm_err("%s: %s", jpath, strerror(errno));
		return LM_EIO;
	}
	return fsync_dir_of(jpath);
}

int lm_fileenc_recover(const char *path)
{
	char jpath[PATH_MAX];
	uint8_t *j = NULL, hdr[LM_FILEENC_HEADER_BYTES], md[32];
	const uint8_t *new_slot;
	size_t size;
	int fd = -1, r;

	if ((r = journal_path(jpath, sizeof(jpath), path)) < 0)
		return r;
	if (access(jpath, F_OK) != 0)
		return 0;
	if ((r = lm_file_read(jpath, 4096, &j, &size)) < 0)
		return r;
	if (size != JOURNAL_BYTES || memcmp(j, JOURNAL_MAGIC, 8) != 0 ||
	    EVP_Digest(j, JOURNAL_HASH_OFFSET, md, NULL, EVP_sha256(), NULL) != 1 ||
	    !lm_ct_equal(md, j + JOURNAL_HASH_OFFSET, sizeof(md))) {
		/* Written before the file was touched, so rolling back is
		 * dropping it. */
		ERR_clear_error();
		lm_warn("%s: discarding an incomplete key rotation journal; the file keeps its previous key", path);
		r = journal_remove(jpath);
		goto out;
	}
	if ((r = open_rw(path, &fd)) < 0 || (r = pread_header(fd, path, hdr)) < 0)
		goto out;
	if (memcmp(hdr, j + 8, SEG_AAD_BYTES) != 0) {
		lm_err("%s does not belong to %s (bytes 0..19 differ); left in place", jpath, path);
		r = LM_ESTATE;
		goto out;
	}
	new_slot = j + 8 + LM_FILEENC_HEADER_BYTES;
	if (memcmp(hdr + LM_FILEENC_SLOT_OFFSET, new_slot, LM_FILEENC_SLOT_BYTES) != 0 &&
	    (r = pwrite_sync(fd, path, new_slot, LM_FILEENC_SLOT_BYTES, LM_FILEENC_SLOT_OFFSET)) < 0)
		goto out;
	lm_warn("%s: completed an interrupted key rotation", path);
	r = journal_remove(jpath);
out:
	if (fd >= 0)
		close(fd);
	free(j);
	return r;
}

int lm_fileenc_rotate_until(const char *path, const struct lm_secret *old_kek,
			    const uint8_t old_id[static LM_KEY_ID_BYTES], const struct lm_secret *new_kek,
			    const uint8_t new_id[static LM_KEY_ID_BYTES], enum lm_fileenc_stop stop)
{
	struct lm_secret *key = NULL, *check = NULL;
	uint8_t hdr[LM_FILEENC_HEADER_BYTES], nh[LM_FILEENC_HEADER_BYTES];
	char jpath[PATH_MAX];
	int fd = -1, r;

	if (!new_kek || new_kek->size != LM_KEY_BYTES)
		return LM_EINVAL;
	if ((r = journal_path(jpath, sizeof(jpath), path)) < 0 || (r = lm_fileenc_recover(path)) < 0 ||
	    (r = open_rw(path, &fd)) < 0 || (r = pread_header(fd, path, hdr)) < 0 ||
	    (r = lm_fileenc_header_open(hdr, old_kek, old_id, &key)) < 0)
		goto out;
	memcpy(nh, hdr, LM_FILEENC_HEADER_BYTES);
	memcpy(nh + 20, new_id, LM_KEY_ID_BYTES);
	if ((r = lm_random(nh + 28, LM_FILEENC_NONCE_BYTES)) < 0 ||
	    (r = gcm_oneshot(1, new_kek->data, nh + 28, nh, WRAP_AAD_BYTES, key->data, LM_KEY_BYTES, nh + 40,
			     nh + 40 + LM_KEY_BYTES)) < 0 ||
	    (r = lm_fileenc_header_open(nh, new_kek, new_id, &check)) < 0)
		goto out;
	if (!lm_ct_equal(check->data, key->data, LM_KEY_BYTES)) {
		r = LM_ECRYPTO;
		goto out;
	}
	if ((r = journal_write(jpath, hdr, nh + LM_FILEENC_SLOT_OFFSET)) < 0 || stop == LM_FILEENC_STOP_AFTER_JOURNAL)
		goto out;
	if (stop == LM_FILEENC_STOP_TORN_WRITE) {
		r = pwrite_sync(fd, path, nh + LM_FILEENC_SLOT_OFFSET, LM_FILEENC_SLOT_BYTES / 2, LM_FILEENC_SLOT_OFFSET);
		goto out;
	}
	if ((r = pwrite_sync(fd, path, nh + LM_FILEENC_SLOT_OFFSET, LM_FILEENC_SLOT_BYTES, LM_FILEENC_SLOT_OFFSET)) < 0) {
		lm_err("%s: the rotation completes from %s on the next run", path, jpath);
		goto out;
	}
	if (stop != LM_FILEENC_STOP_BEFORE_UNLINK)
		r = journal_remove(jpath);
out:
	if (fd >= 0)
		close(fd);
	lm_secret_free(key);
	lm_secret_free(check);
	return r;
}

int lm_fileenc_rotate(const char *path, const struct lm_secret *old_kek, const uint8_t old_id[static LM_KEY_ID_BYTES],
		      const struct lm_secret *new_kek, const uint8_t new_id[static LM_KEY_ID_BYTES])
{
	return lm_fileenc_rotate_until(path, old_kek, old_id, new_kek, new_id, LM_FILEENC_STOP_NONE);
}
