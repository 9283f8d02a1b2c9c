/* Fuzz target 'guest_channel': the agent's and the guest's frame parser on
 * arbitrary bytes. The first byte picks where the rest is split in two, so
 * partial headers and bodies take the same path as in the event loops, and
 * the split result must equal the one-shot result. */
#include <stdint.h>
#include <stdlib.h>

#include "channel.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct count {
	size_t frames;
};

static int on_frame(void *ctx, json_t *msg)
{
	struct count *c = ctx;

	if (!json_is_object(msg))
		abort();
	c->frames++;
	return 0;
}

static int parse(const uint8_t *data, size_t size, size_t split, size_t *frames)
{
	struct lm_chan_parser p;
	struct count c = { 0 };
	int r;

	lm_chan_init(&p, on_frame, &c);
	r = lm_chan_feed(&p, data, split);
	if (r == 0)
		r = lm_chan_feed(&p, data + split, size - split);
	if (r == 0)
		r = lm_chan_finish(&p);
	else
		lm_chan_reset(&p);
	*frames = c.frames;
	return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t split, whole_frames, split_frames;
	int whole, parts;

	if (size < 1)
		return 0;
	split = size > 1 ? data[0] % size : 0;
	data++;
	size--;
	if (split > size)
		split = size;
	whole = parse(data, size, size, &whole_frames);
	parts = parse(data, size, split, &split_frames);
	if (whole != parts || whole_frames != split_frames)
		abort();
	return 0;
}
