/* Frame parser and encoder of the guest channel: u32 big-endian length
 * (1..LM_CHAN_FRAME_MAX) followed by that many bytes of one JSON object.
 * Both ends feed it bytes from the other side, which they do not trust. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "channel.h"
#include "lambda/log.h"

void lm_chan_init(struct lm_chan_parser *p, lm_chan_frame_fn on_frame, void *ctx)
{
	memset(p, 0, sizeof(*p));
	p->on_frame = on_frame;
	p->ctx = ctx;
}

static int chan_fail(struct lm_chan_parser *p, int r)
{
	free(p->body);
	p->body = NULL;
	p->error = r;
	return r;
}

/* Parses the completed body and hands it to the callback. */
static int chan_deliver(struct lm_chan_parser *p)
{
	json_error_t jerr;
	json_t *msg;
	int r;

	msg = json_loadb((const char *)p->body, p->body_size, JSON_REJECT_DUPLICATES, &jerr);
	free(p->body);
	p->body = NULL;
	p->header_have = 0;
	if (!msg) {
		lm_warn("guest channel: frame is not valid JSON (%s at %d)", jerr.text, jerr.position);
		return LM_EFORMAT;
	}
	if (!json_is_object(msg)) {
		lm_warn("guest channel: frame is not a JSON object");
		json_decref(msg);
		return LM_EFORMAT;
	}
	r = p->on_frame ? p->on_frame(p->ctx, msg) : 0;
	json_decref(msg);
	return r < 0 ? r : 0;
}

int lm_chan_feed(struct lm_chan_parser *p, const uint8_t *data, size_t size)
{
	int r;

	if (p->error)
		return p->error;
	while (size > 0) {
		size_t n;

		if (p->header_have < LM_CHAN_HEADER_BYTES) {
			n = LM_CHAN_HEADER_BYTES - p->header_have;
			if (n > size)
				n = size;
			memcpy(p->header + p->header_have, data, n);
			p->header_have += n;
			data += n;
			size -= n;
			if (p->header_have < LM_CHAN_HEADER_BYTES)
				break;
			p->body_size = (size_t)p->header[0] << 24 | (size_t)p->header[1] << 16 |
				       (size_t)p->header[2] << 8 | p->header[3];
			if (p->body_size == 0) {
				lm_warn("guest channel: empty frame");
				return chan_fail(p, LM_EFORMAT);
			}
			if (p->body_size > LM_CHAN_FRAME_MAX) {
				lm_warn("guest channel: frame of %zu bytes exceeds %u", p->body_size,
					LM_CHAN_FRAME_MAX);
				return chan_fail(p, LM_ETOOBIG);
			}
			p->body = malloc(p->body_size);
			if (!p->body)
				return chan_fail(p, LM_ENOMEM);
			p->body_have = 0;
			continue;
		}
		n = p->body_size - p->body_have;
		if (n > size)
			n = size;
		memcpy(p->body + p->body_have, data, n);
		p->body_have += n;
		data += n;
		size -= n;
		if (p->body_have == p->body_size && (r = chan_deliver(p)) < 0)
			return chan_fail(p, r);
	}
	return 0;
}

int lm_chan_finish(struct lm_chan_parser *p)
{
	int r = p->error;

	if (!r && p->header_have > 0) {
		lm_warn("guest channel: stream ended inside a frame");
		r = LM_EFORMAT;
	}
	free(p->body);
	p->body = NULL;
	p->header_have = 0;
	p->error = r;
	return r;
}

void lm_chan_reset(struct lm_chan_parser *p)
{
	free(p->body);
	p->body = NULL;
	p->header_have = 0;
}

int lm_chan_encode(const json_t *msg, uint8_t **out, size_t *size)
{
	size_t body_size;
	uint8_t *buf;

	if (!json_is_object(msg))
		return LM_EINVAL;
	body_size = json_dumpb(msg, NULL, 0, JSON_COMPACT);
	if (body_size == 0 || body_size > LM_CHAN_FRAME_MAX)
		return body_size ? LM_ETOOBIG : LM_ENOMEM;
	buf = malloc(LM_CHAN_HEADER_BYTES + body_size);
	if (!buf)
		return LM_ENOMEM;
	if (json_dumpb(msg, (char *)buf + LM_CHAN_HEADER_BYTES, body_size, JSON_COMPACT) != body_size) {
		free(buf);
		return LM_ENOMEM;
	}
	buf[0] = (uint8_t)(body_size >> 24);
	buf[1] = (uint8_t)(body_size >> 16);
	buf[2] = (uint8_t)(body_size >> 8);
	buf[3] = (uint8_t)body_size;
	*out = buf;
	*size = LM_CHAN_HEADER_BYTES + body_size;
	return 0;
}

int lm_chan_write(int fd, const json_t *msg)
{
	uint8_t *frame;
	size_t size, done = 0;
	int r;

	if ((r = lm_chan_encode(msg, &frame, &size)) < 0)
		return r;
	while (done < size) {
		/* send(), not write(): a closed peer must give EPIPE, not SIGPIPE. */
		ssize_t n = send(fd, frame + done, size - done, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			lm_err("guest channel: write failed: %s", strerror(errno));
			r = LM_EIO;
			break;
		}
		done += (size_t)n;
	}
	free(frame);
	return r;
}
