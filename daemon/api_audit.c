/* /v1/audit (admin only): the hash-chained events, the signed checkpoint
 * and the public key that verifies it, so `lambda audit verify` can check
 * the log without trusting lambdad. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lambda/log.h"
#include "lambda/util.h"
#include "lambdad.h"

static json_t *hex_json(const uint8_t *data, size_t size)
{
	char hex[2 * 64 + 1];

	lm_hex_encode(hex, data, size);
	return json_string(hex);
}

/* The largest page of GET /v1/audit?limit=N: about 3 MiB of JSON. */
#define AUDIT_PAGE_MAX 10000

void lmd_api_audit(struct lmd_req *rq)
{
	struct lm_audit_event *ev = NULL;
	struct lm_audit_checkpoint cp;
	size_t count = 0;
	char *from = lmd_query_get(rq, "from"), *limit_text = lmd_query_get(rq, "limit"), *end;
	unsigned long long seq = 1, limit = 0;
	json_t *events, *doc;
	int r;

	if (!rq->tenant.is_admin) {
		lmd_reply_error(rq->req, 403, "only the admin tenant may read the audit log");
		goto out;
	}
	if (from) {
		errno = 0;
		seq = strtoull(from, &end, 10);
		if (errno || *end || !*from || from[0] == '-') {
			lmd_reply_error(rq->req, 400, "bad value of 'from': a sequence number");
			goto out;
		}
	}
	if (limit_text) {
		errno = 0;
		limit = strtoull(limit_text, &end, 10);
		if (errno || *end || !*limit_text || limit_text[0] == '-' || limit < 1 || limit > AUDIT_PAGE_MAX) {
			lmd_reply_error(rq->req, 400, "bad value of 'limit': 1 to %d events", AUDIT_PAGE_MAX);
			goto out;
		}
	}
	if ((r = lm_store_audit_list(rq->d->store, seq, (size_t)limit, &ev, &count)) < 0) {
		lmd_reply_code(rq->req, r, "cannot read the audit log");
		goto out;
	}
	events = json_array();
	for (size_t i = 0; events && i < count; i++) {
		json_t *meta = json_loads(ev[i].metadata[0] ? ev[i].metadata : "{}", 0, NULL);

		json_array_append_new(events,
				      json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:o}", "seq",
						(json_int_t)ev[i].seq, "event_id", ev[i].event_id, "timestamp",
						ev[i].timestamp, "event_type", ev[i].event_type, "actor", ev[i].actor,
						"resource", ev[i].resource, "action", ev[i].action, "metadata",
						meta ? meta : json_object(), "prev_hash",
						hex_json(ev[i].prev_hash, LM_HASH_BYTES), "hash",
						hex_json(ev[i].hash, LM_HASH_BYTES)));
	}
	doc = json_pack("{s:o, s:s}", "events", events, "public_key", rq->d->audit_pub_pem);
	r = lm_store_checkpoint_get(rq->d->store, &cp);
	if (r == 0)
		json_object_set_new(doc, "checkpoint",
				    json_pack("{s:I, s:o, s:s, s:o}", "seq", (json_int_t)cp.seq, "hash",
					      hex_json(cp.hash, LM_HASH_BYTES), "timestamp", cp.timestamp, "signature",
					      hex_json(cp.signature, sizeof(cp.signature))));
	else if (r == LM_ENOENT)
		json_object_set_new(doc, "checkpoint", json_null());
	else {
		json_decref(doc);
		lmd_reply_code(rq->req, r, "cannot read the audit checkpoint");
		goto out;
	}
	lmd_reply_json(rq->req, 200, doc);
out:
	free(ev);
	free(from);
	free(limit_text);
}
