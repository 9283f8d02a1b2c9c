/* The guest channel (docs/formats.md, "Guest channel"): frames of a u32
 * big-endian length and one JSON object, on the socket between the agent and
 * each lambda-guest. The parser is init/feed/finish so the event loops of
 * both sides and the fuzz target run the same code on untrusted bytes.
 * Private to agent/ and guest/. */
#ifndef LAMBDA_AGENT_CHANNEL_H
#define LAMBDA_AGENT_CHANNEL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lambda/err.h"

#define LM_CHAN_FRAME_MAX (1u << 20)	/* largest frame body */
#define LM_CHAN_HEADER_BYTES 4

/* Where lambda-guest mounts an unlocked volume: LM_GUEST_RUN_ROOT/<instance
 * id>. The agent clears what a killed guest left there (lm_volume_cleanup). */
#define LM_GUEST_RUN_ROOT "/run/lambda-guest"

/* Called once per complete frame with its object (borrowed: valid during
 * the call only). A negative return stops the parser and is returned by
 * lm_chan_feed(). */
typedef int (*lm_chan_frame_fn)(void *ctx, json_t *msg);

struct lm_chan_parser {
	lm_chan_frame_fn on_frame;
	void *ctx;
	uint8_t header[LM_CHAN_HEADER_BYTES];
	size_t header_have;
	uint8_t *body;			/* the frame being read, or NULL */
	size_t body_size, body_have;
	int error;			/* sticky: the first failure */
};

void lm_chan_init(struct lm_chan_parser *p, lm_chan_frame_fn on_frame, void *ctx);

/* Consumes size bytes, calling on_frame for each frame they complete.
 * Returns 0, or the first error: LM_ETOOBIG for a length over
 * LM_CHAN_FRAME_MAX, LM_EFORMAT for a zero length, bad JSON or a non-object
 * body, or what on_frame returned. After an error every later call returns
 * it again: the stream cannot be resynchronised. */
LM_MUST_CHECK int lm_chan_feed(struct lm_chan_parser *p, const uint8_t *data, size_t size);

/* Ends the stream: LM_EFORMAT when it stopped inside a frame, the sticky
 * error if there was one, else 0. Releases the parser's buffer either way. */
LM_MUST_CHECK int lm_chan_finish(struct lm_chan_parser *p);

/* Drops any partial frame and releases the buffer, for a stream that is
 * being abandoned anyway. */
void lm_chan_reset(struct lm_chan_parser *p);

/* Encodes msg (an object) as one frame in a new buffer *out of *size bytes. */
LM_MUST_CHECK int lm_chan_encode(const json_t *msg, uint8_t **out, size_t *size);

/* Encodes msg and writes the whole frame to the blocking socket fd. */
LM_MUST_CHECK int lm_chan_write(int fd, const json_t *msg);

#endif
