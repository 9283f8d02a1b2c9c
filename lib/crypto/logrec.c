/* Encrypted log records: what an instance writes for each chunk of its
 * workload's stdout or stderr, stored by the agent as opaque bytes and
 * opened on the customer's machine (format in docs/formats.md). */
#include <stdlib.h>
#include <string.h>

#include "crypto_int.h"
#include "lambda/crypto.h"
#include "lambda/log.h"
#include "lambda/util.h"

#define LOGREC_VERSION 1
#define LOGREC_AAD_PREFIX "lambda/v1 log:"
#define LOGREC_AAD_HEADER 14	/* version, stream, seq, length */
#define LOGREC_NONCE_OFF 14
#define LOGREC_ID_MAX 128	/* longest instance id */

static void put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint64_t get_be64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static void put_be32(uint8_t *p, uint32_t v)
{
	for (int i = 3; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* aad = "lambda/v1 log:" || instance id || 0x00 || header bytes 0..13. The
 * NUL keeps the id and the header apart, so that no two (id, header) pairs
 * give the same aad. */
static int make_aad(uint8_t *aad, size_t aad_cap, size_t *aad_size, const char *instance_id,
		    const uint8_t header[static LOGREC_AAD_HEADER])
{
	size_t prefix = strlen(LOGREC_AAD_PREFIX), id;

	if (!instance_id)
		return LM_EINVAL;
	id = strlen(instance_id);
	if (id == 0 || id > LOGREC_ID_MAX || prefix + id + 1 + LOGREC_AAD_HEADER > aad_cap)
		return LM_EINVAL;
	memcpy(aad, LOGREC_AAD_PREFIX, prefix);
	memcpy(aad + prefix, instance_id, id);
	aad[prefix + id] = 0;
	memcpy(aad + prefix + id + 1, header, LOGREC_AAD_HEADER);
	*aad_size = prefix + id + 1 + LOGREC_AAD_HEADER;
	return 0;
}

static int check_key(const struct lm_secret *k)
{
	return k && k->data && k->size == LM_KEY_BYTES ? 0 : LM_EINVAL;
}

int lm_logrec_seal(const struct lm_secret *log_key, const char *instance_id, int stream, uint64_t seq,
		   const uint8_t *msg, size_t size, uint8_t **out, size_t *out_size)
{
	uint8_t aad[sizeof(LOGREC_AAD_PREFIX) + LOGREC_ID_MAX + 1 + LOGREC_AAD_HEADER];
	size_t aad_size, total;
	uint8_t *rec;
	int r;

	if ((r = check_key(log_key)) < 0 || !out || !out_size || (size && !msg) || stream < 1 || stream > LM_LOGREC_STREAM_END)
		return LM_EINVAL;
	if (size > LM_LOGREC_MAX_MESSAGE)
		return LM_ETOOBIG;
	total = LM_LOGREC_HEADER_BYTES + size + LM_GCM_TAG_BYTES;
	rec = malloc(total);
	if (!rec)
		return LM_ENOMEM;
	rec[0] = LOGREC_VERSION;
	rec[1] = (uint8_t)stream;
	put_be64(rec + 2, seq);
	put_be32(rec + 10, (uint32_t)(size + LM_GCM_TAG_BYTES));
	if ((r = lm_random(rec + LOGREC_NONCE_OFF, LM_GCM_NONCE_BYTES)) < 0 ||
	    (r = make_aad(aad, sizeof(aad), &aad_size, instance_id, rec)) < 0 ||
	    (r = lm_gcm_seal(rec + LM_LOGREC_HEADER_BYTES, rec + LM_LOGREC_HEADER_BYTES + size, log_key->data,
			     rec + LOGREC_NONCE_OFF, aad, aad_size, msg, size)) < 0) {
		free(rec);
		return r;
	}
	*out = rec;
	*out_size = total;
	return 0;
}

int lm_logrec_open(const struct lm_secret *log_key, const char *instance_id, const uint8_t *buf, size_t size,
		   size_t *used, int *stream, uint64_t *seq, uint8_t **msg, size_t *msg_size)
{
	uint8_t aad[sizeof(LOGREC_AAD_PREFIX) + LOGREC_ID_MAX + 1 + LOGREC_AAD_HEADER];
	size_t aad_size, ct_size, pt_size;
	uint8_t *pt;
	int r;

	if ((r = check_key(log_key)) < 0 || !used || !stream || !seq || !msg || !msg_size || (size && !buf))
		return LM_EINVAL;
	if (size < LM_LOGREC_HEADER_BYTES) {
		lm_debug("log record: %zu bytes, shorter than its header", size);
		return LM_EFORMAT;
	}
	ct_size = get_be32(buf + 10);
	if (buf[0] != LOGREC_VERSION || buf[1] < 1 || buf[1] > LM_LOGREC_STREAM_END || ct_size < LM_GCM_TAG_BYTES ||
	    ct_size > LM_LOGREC_MAX_MESSAGE + LM_GCM_TAG_BYTES) {
		lm_err("log record: bad header (version %u, stream %u, length %zu)", buf[0], buf[1], ct_size);
		return LM_EFORMAT;
	}
	if (size - LM_LOGREC_HEADER_BYTES < ct_size) {
		lm_debug("log record: truncated (%zu of %zu bytes)", size, LM_LOGREC_HEADER_BYTES + ct_size);
		return LM_EFORMAT;
	}
	if ((r = make_aad(aad, sizeof(aad), &aad_size, instance_id, buf)) < 0)
		return r;
	pt_size = ct_size - LM_GCM_TAG_BYTES;
	pt = malloc(pt_size + 1);	/* + 1: an empty message still gets a buffer */
	if (!pt)
		return LM_ENOMEM;
	r = lm_gcm_open(pt, log_key->data, buf + LOGREC_NONCE_OFF, aad, aad_size, buf + LM_LOGREC_HEADER_BYTES,
			pt_size, buf + LM_LOGREC_HEADER_BYTES + pt_size);
	if (r < 0) {
		free(pt);
		if (r == LM_EAUTH)
			lm_debug("log record %llu: authentication failed", (unsigned long long)get_be64(buf + 2));
		return r;
	}
	*used = LM_LOGREC_HEADER_BYTES + ct_size;
	*stream = buf[1];
	*seq = get_be64(buf + 2);
	*msg = pt;
	*msg_size = pt_size;
	return 0;
}
