/* /v1/instances: metadata in the store, work through the embedded agent.
 * Attestation and key release are asynchronous: the evhttp request waits
 * in a struct lmd_pending until the guest answers. The sealed key-release
 * blob is relayed unopened; its bytes are never logged nor audited. */
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

#include "lambda/agent.h"
#include "lambda/json.h"
#include "lambda/log.h"
#include "lambda/runtime.h"
#include "lambda/util.h"
#include "lambdad.h"

#define VOLUME_DEFAULT (64ull << 20)
#define NONCE_MIN 16
#define NONCE_MAX 64
#define HPKE_ENC_BYTES 32
#define WAIT_DEFAULT_S 20
#define WAIT_MAX_S 60

/* The statuses of docs/api.md; a wait names a set of them as a bit mask.
 * The final ones end every wait. */
static const char *const g_statuses[] = { "pending", "awaiting_key", "running", "exited", "failed", "deleted" };
#define STATUS_FINAL ((1u << 3) | (1u << 4) | (1u << 5))

/* A GET /v1/instances/{id}?wait=... held until the instance's status is in
 * want (or final), the instance is gone, or the timeout: a client waiting
 * for its instance learns of the change at once instead of polling. */
struct lmd_waiter {
	struct lmd *d;
	struct evhttp_request *req;
	struct event *timer;
	char tenant[LM_ID_MAX];
	char id[LM_ID_MAX];
	unsigned want;
	struct lmd_waiter *next;
};

/* Instances whose key release has been accepted: docs/api.md accepts the
 * blob once. */
struct lmd_release {
	char id[LM_ID_MAX];
	struct lmd_release *next;
};

static bool release_started(struct lmd *d, const char *id)
{
	for (struct lmd_release *r = d->releases; r; r = r->next)
		if (strcmp(r->id, id) == 0)
			return true;
	return false;
}

static void release_forget(struct lmd *d, const char *id)
{
	for (struct lmd_release **pp = &d->releases; *pp; pp = &(*pp)->next)
		if (strcmp((*pp)->id, id) == 0) {
			struct lmd_release *r = *pp;

			*pp = r->next;
			free(r);
			return;
		}
}

void lmd_releases_free(struct lmd *d)
{
	while (d->releases) {
		struct lmd_release *r = d->releases;

		d->releases = r->next;
		free(r);
	}
}

static json_t *instance_json(const struct lm_instance_rec *rec)
{
	char created[32], updated[32];

	lm_time_format(created, sizeof(created), rec->created_at);
	lm_time_format(updated, sizeof(updated), rec->updated_at);
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:s, s:s, s:o, s:s, s:s}", "id", rec->id, "type", rec->type,
			 "region", rec->region, "image", rec->image, "volume_id", rec->volume_id, "volume_size",
			 (json_int_t)rec->volume_size, "key_id", rec->key_id, "status", rec->status, "exit_code",
			 rec->has_exit_code ? json_integer(rec->exit_code) : json_null(), "created_at", created,
			 "updated_at", updated);
}

/* Names: 1..63 characters of [a-z0-9._-]. */
static bool valid_name(const char *s, size_t max)
{
	size_t n = s ? strlen(s) : 0;

	return n > 0 && n < max && strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789._-") == n;
}

/* A name as an error message may echo it: only valid names are shown. */
static const char *shown_name(const char *s, size_t max)
{
	if (valid_name(s, max))
		return s;
	return *s ? "(not a name: a-z, 0-9, '.', '_', '-')" : "(empty)";
}

static bool valid_key_id(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	return n == 20 && strncmp(s, "lmk_", 4) == 0 && strspn(s + 4, "0123456789abcdef") == 16;
}

/* True when key is present but not a JSON string. */
static bool not_string(json_t *body, const char *key)
{
	json_t *v = json_object_get(body, key);

	return v && !json_is_string(v);
}

/* "compute-1x, compute-2x, ..." from the instance type table. */
static void type_names(char *out, size_t size)
{
	size_t n = 0;

	out[0] = 0;
	for (const struct lm_instance_type *t = lm_instance_types; t->name && n < size; t++)
		n += (size_t)snprintf(out + n, size - n, "%s%s", n ? ", " : "", t->name);
}

static unsigned long long mib(uint64_t bytes)
{
	return (unsigned long long)(bytes >> 20);
}

/* Counts the tenant's instances that are not deleted. */
static int count_instances(struct lmd *d, const char *tenant_id, size_t *out)
{
	struct lm_instance_rec *recs = NULL;
	size_t count = 0, n = 0;
	int r;

	if ((r = lm_store_instance_list(d->store, tenant_id, &recs, &count)) < 0)
		return r;
	for (size_t i = 0; i < count; i++)
		n += strcmp(recs[i].status, "deleted") != 0;
	free(recs);
	*out = n;
	return 0;
}

/* Checks a create request against the body rules, the instance types, the
 * region this node serves, the volume range and the tenant's quota before
 * anything is made; replies and returns LM_EINVAL (or the store error)
 * when it is refused. */
static int check_create(struct lmd_req *rq, uint64_t *volume_size)
{
	static const char *const strings[] = { "type", "region", "image", "key_id", NULL };
	struct lmd *d = rq->d;
	struct lm_instance_rec rec;
	json_t *size = json_object_get(rq->body, "volume_size");
	const char *type = lm_json_str(rq->body, "type"), *region = lm_json_str(rq->body, "region");
	const char *image = lm_json_str(rq->body, "image"), *key_id = lm_json_str(rq->body, "key_id");
	char names[160];
	size_t count = 0;
	int r;

	for (size_t i = 0; strings[i]; i++) {
		if (not_string(rq->body, strings[i])) {
			lmd_reply_error(rq->req, 400, "bad value of '%s': must be a string", strings[i]);
			return LM_EINVAL;
		}
	}
	if (!type || !region) {
		lmd_reply_error(rq->req, 400, "missing field '%s'", !type ? "type" : "region");
		return LM_EINVAL;
	}
	if (!valid_name(type, sizeof(rec.type)) || !lm_instance_type_find(type)) {
		type_names(names, sizeof(names));
		lmd_reply_error(rq->req, 400, "unknown instance type '%.*s': one of %s", (int)sizeof(rec.type),
				shown_name(type, sizeof(rec.type)), names);
		return LM_EINVAL;
	}
	if (!valid_name(region, sizeof(rec.region)) || strcmp(region, d->opt.region) != 0) {
		lmd_reply_error(rq->req, 400, "region %.*s is not served here; this platform serves %s",
				(int)sizeof(rec.region), shown_name(region, sizeof(rec.region)), d->opt.region);
		return LM_EINVAL;
	}
	if (image && !valid_name(image, sizeof(rec.image))) {
		lmd_reply_error(rq->req, 400, "bad value of 'image': 1 to %zu characters of a-z, 0-9, '.', '_' "
				"and '-'", sizeof(rec.image) - 1);
		return LM_EINVAL;
	}
	if (key_id && !valid_key_id(key_id)) {
		lmd_reply_error(rq->req, 400, "bad value of 'key_id': expected lmk_ and 16 hex digits");
		return LM_EINVAL;
	}
	*volume_size = VOLUME_DEFAULT;
	if (size) {
		if (!json_is_integer(size) || json_integer_value(size) < (json_int_t)LMD_MIN_VOLUME ||
		    (uint64_t)json_integer_value(size) > d->opt.max_volume_size) {
			lmd_reply_error(rq->req, 400,
					"bad value of 'volume_size': bytes from %llu (%llu MiB) to %llu (%llu MiB)",
					(unsigned long long)LMD_MIN_VOLUME, mib(LMD_MIN_VOLUME),
					(unsigned long long)d->opt.max_volume_size, mib(d->opt.max_volume_size));
			return LM_EINVAL;
		}
		*volume_size = (uint64_t)json_integer_value(size);
	}
	if ((r = count_instances(d, rq->tenant.id, &count)) < 0) {
		lmd_reply_code(rq->req, r, "cannot count the tenant's instances");
		return r;
	}
	if (count >= d->opt.max_instances) {
		lmd_reply_error(rq->req, 409,
				"tenant %s has %zu instances, the most this platform allows: delete one first",
				rq->tenant.id, count);
		return LM_EINVAL;
	}
	return 0;
}

void lmd_api_instance_create(struct lmd_req *rq)
{
	struct lmd *d = rq->d;
	struct lm_instance_rec rec = { 0 };
	const char *type = lm_json_str(rq->body, "type"), *region = lm_json_str(rq->body, "region");
	const char *image = lm_json_str(rq->body, "image"), *key_id = lm_json_str(rq->body, "key_id");
	struct lm_launch launch;
	int r;

	if ((r = check_create(rq, &rec.volume_size)) < 0)
		return;	/* check_create() replied */
	if ((r = lm_id_new(rec.id, sizeof(rec.id), "inst")) < 0 ||
	    (r = lm_id_new(rec.volume_id, sizeof(rec.volume_id), "vol")) < 0) {
		lmd_reply_code(rq->req, r, NULL);
		return;
	}
	snprintf(rec.tenant_id, sizeof(rec.tenant_id), "%s", rq->tenant.id);
	snprintf(rec.type, sizeof(rec.type), "%s", type);
	snprintf(rec.region, sizeof(rec.region), "%s", region);
	snprintf(rec.image, sizeof(rec.image), "%s", image ? image : "host");
	snprintf(rec.key_id, sizeof(rec.key_id), "%s", key_id ? key_id : "");
	snprintf(rec.status, sizeof(rec.status), "pending");
	rec.created_at = rec.updated_at = time(NULL);
	if (!d->agent) {
		lmd_reply_error(rq->req, 503, "this node has no agent to run instances");
		return;
	}
	if ((r = lm_store_instance_insert(d->store, &rec)) < 0) {
		lmd_reply_code(rq->req, r, "cannot record the instance");
		return;
	}
	if ((r = lmd_audit(d, "instance.created", rq->tenant.id, rec.id, "create",
			   json_pack("{s:s, s:s, s:s, s:I}", "type", rec.type, "region", rec.region, "image", rec.image,
				     "volume_size", (json_int_t)rec.volume_size))) < 0) {
		if (lm_store_instance_delete(d->store, rec.id) < 0)
			lm_err("%s: cannot remove the unaudited instance", rec.id);
		lmd_reply_code(rq->req, r, "cannot audit the instance");
		return;
	}
	launch = (struct lm_launch){ .instance_id = rec.id, .type = rec.type, .image = rec.image,
				     .volume_id = rec.volume_id, .volume_size = rec.volume_size };
	if ((r = lm_agent_launch(d->agent, &launch)) < 0) {
		lm_err("%s: launch failed: %s", rec.id, lm_strerror(r));
		lmd_on_status(d, rec.id, "failed", -1);
		lmd_reply_code(rq->req, LM_EUNAVAIL, "the node could not launch the instance");
		return;
	}
	lm_info("%s created for %s (%s, %s)", rec.id, rq->tenant.id, rec.type, rec.region);
	/* The agent may already have moved it on. */
	if (lm_store_instance_get(d->store, NULL, rec.id, &rec) < 0)
		lm_warn("%s: cannot re-read the instance", rec.id);
	lmd_reply_json(rq->req, 201, instance_json(&rec));
}

void lmd_api_instance_list(struct lmd_req *rq)
{
	struct lm_instance_rec *recs = NULL;
	size_t count = 0;
	json_t *arr;
	int r;

	if ((r = lm_store_instance_list(rq->d->store, rq->tenant.id, &recs, &count)) < 0) {
		lmd_reply_code(rq->req, r, NULL);
		return;
	}
	arr = json_array();
	for (size_t i = 0; arr && i < count; i++)
		if (strcmp(recs[i].status, "deleted") != 0)
			json_array_append_new(arr, instance_json(&recs[i]));
	free(recs);
	lmd_reply_json(rq->req, 200, json_pack("{s:o}", "instances", arr));
}

/* Reads the caller's instance rq->id; replies 404 for another tenant's. */
static int get_own(struct lmd_req *rq, struct lm_instance_rec *rec)
{
	int r = lm_store_instance_get(rq->d->store, rq->tenant.id, rq->id, rec);

	if (r == 0 && strcmp(rec->status, "deleted") == 0)
		r = LM_ENOENT;
	if (r == LM_ENOENT)
		lmd_reply_error(rq->req, 404, "no instance %s", rq->id);
	else if (r < 0)
		lmd_reply_code(rq->req, r, NULL);
	return r;
}

static unsigned status_bit(const char *status)
{
	for (size_t i = 0; i < sizeof(g_statuses) / sizeof(g_statuses[0]); i++)
		if (strcmp(status, g_statuses[i]) == 0)
			return 1u << i;
	return 0;
}

/* Parses "running,exited" into a mask; 0 for an unknown or empty entry. */
static unsigned parse_wait(const char *list)
{
	unsigned mask = 0;
	char name[32];

	while (*list) {
		size_t n = strcspn(list, ",");
		unsigned bit;

		if (n == 0 || n >= sizeof(name))
			return 0;
		memcpy(name, list, n);
		name[n] = 0;
		if (!(bit = status_bit(name)))
			return 0;
		mask |= bit;
		list += n;
		if (*list == ',' && !*++list)
			return 0;
	}
	return mask;
}

static void waiter_unlink(struct lmd_waiter *w)
{
	for (struct lmd_waiter **pp = &w->d->waiters; *pp; pp = &(*pp)->next)
		if (*pp == w) {
			*pp = w->next;
			break;
		}
}

/* Detaches w from its connection, frees it and returns its request
 * (NULL when the client has gone). */
static struct evhttp_request *waiter_finish(struct lmd_waiter *w)
{
	struct evhttp_request *req = w->req;

	waiter_unlink(w);
	if (req)
		evhttp_connection_set_closecb(evhttp_request_get_connection(req), NULL, NULL);
	event_free(w->timer);
	free(w);
	return req;
}

static void waiter_closed(struct evhttp_connection *conn, void *arg)
{
	struct lmd_waiter *w = arg;

	(void)conn;
	w->req = NULL;	/* evhttp frees the request with its connection */
	(void)waiter_finish(w);
}

/* Answers w with the instance as it is now (404 once it is gone). */
static void waiter_answer(struct lmd_waiter *w)
{
	struct lmd *d = w->d;
	struct lm_instance_rec rec;
	char id[LM_ID_MAX], tenant[LM_ID_MAX];
	struct evhttp_request *req;
	int r;

	memcpy(id, w->id, sizeof(id));
	memcpy(tenant, w->tenant, sizeof(tenant));
	if (!(req = waiter_finish(w)))
		return;
	r = lm_store_instance_get(d->store, tenant, id, &rec);
	if (r == 0 && strcmp(rec.status, "deleted") == 0)
		r = LM_ENOENT;
	if (r == LM_ENOENT)
		lmd_reply_error(req, 404, "no instance %s", id);
	else if (r < 0)
		lmd_reply_code(req, r, NULL);
	else
		lmd_reply_json(req, 200, instance_json(&rec));
}

static void waiter_timeout(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	waiter_answer(arg);
}

void lmd_waiters_wake(struct lmd *d, const char *instance_id)
{
	struct lm_instance_rec rec;
	struct lmd_waiter *w, *next;
	unsigned bit = STATUS_FINAL;	/* gone or unreadable: answer them all */

	if (lm_store_instance_get(d->store, NULL, instance_id, &rec) == 0)
		bit = status_bit(rec.status);
	for (w = d->waiters; w; w = next) {
		next = w->next;
		if (strcmp(w->id, instance_id) == 0 && (bit & (w->want | STATUS_FINAL)))
			waiter_answer(w);	/* frees w; next stays valid */
	}
}

void lmd_waiters_free(struct lmd *d)
{
	while (d->waiters) {
		struct evhttp_request *req = waiter_finish(d->waiters);

		if (req)
			lmd_reply_error(req, 503, "lambdad is shutting down");
	}
}

/* ?wait=S1,S2[&timeout=SECONDS]: holds the request while the status is
 * none of S1, S2 nor final, up to the timeout (docs/api.md). */
static void instance_get_wait(struct lmd_req *rq, const struct lm_instance_rec *rec, const char *list)
{
	char *tmo = lmd_query_get(rq, "timeout");
	unsigned want = parse_wait(list);
	long seconds = WAIT_DEFAULT_S;
	struct timeval tv = { 0 };
	struct lmd_waiter *w = NULL;
	char *end = NULL;

	if (!want) {
		lmd_reply_error(rq->req, 400, "bad value of 'wait': a comma-separated list of statuses");
		goto out;
	}
	if (tmo) {
		seconds = strtol(tmo, &end, 10);
		if (!*tmo || *end || seconds < 0 || seconds > WAIT_MAX_S) {
			lmd_reply_error(rq->req, 400, "bad value of 'timeout': 0 to %d seconds", WAIT_MAX_S);
			goto out;
		}
	}
	if ((status_bit(rec->status) & (want | STATUS_FINAL)) || seconds == 0) {
		lmd_reply_json(rq->req, 200, instance_json(rec));
		goto out;
	}
	if (!(w = calloc(1, sizeof(*w))) ||
	    !(w->timer = evtimer_new(rq->d->base, waiter_timeout, w))) {
		free(w);
		lmd_reply_code(rq->req, LM_ENOMEM, NULL);
		goto out;
	}
	w->d = rq->d;
	w->req = rq->req;
	w->want = want;
	memcpy(w->id, rec->id, sizeof(w->id));
	memcpy(w->tenant, rq->tenant.id, sizeof(w->tenant));
	tv.tv_sec = seconds;
	evtimer_add(w->timer, &tv);
	evhttp_connection_set_closecb(evhttp_request_get_connection(rq->req), waiter_closed, w);
	w->next = rq->d->waiters;
	rq->d->waiters = w;
out:
	free(tmo);
}

/* The instance, plus "rotation": {"done", "total"} (data bytes) while a
 * key rotation runs, so that the CLI can show a reencryption's progress. */
static json_t *instance_rotation_json(struct lmd *d, const struct lm_instance_rec *rec)
{
	json_t *doc = instance_json(rec);
	uint64_t done, total;

	if (doc && d->agent && lm_agent_rotation_progress(d->agent, rec->id, &done, &total) == 0)
		json_object_set_new(doc, "rotation",
				    json_pack("{s:I, s:I}", "done", (json_int_t)done, "total", (json_int_t)total));
	return doc;
}

void lmd_api_instance_get(struct lmd_req *rq)
{
	struct lm_instance_rec rec;
	char *wait = rq->query ? lmd_query_get(rq, "wait") : NULL;

	if (get_own(rq, &rec) == 0) {
		if (wait)
			instance_get_wait(rq, &rec, wait);
		else
			lmd_reply_json(rq->req, 200, instance_rotation_json(rq->d, &rec));
	}
	free(wait);
}

void lmd_api_instance_delete(struct lmd_req *rq)
{
	struct lmd *d = rq->d;
	struct lm_instance_rec rec;
	char *keep = lmd_query_get(rq, "keep_volume");
	bool keep_volume = keep && strcmp(keep, "true") == 0;
	int r;

	if (keep && !keep_volume && strcmp(keep, "false") != 0) {
		lmd_reply_error(rq->req, 400, "bad value of 'keep_volume': true or false");
		goto out;
	}
	if (get_own(rq, &rec) < 0)
		goto out;
	if (d->agent && (r = lm_agent_delete(d->agent, rec.id, keep_volume)) < 0 && r != LM_ENOENT) {
		lmd_reply_code(rq->req, r, "the node could not stop the instance");
		goto out;
	}
	release_forget(d, rec.id);
	if ((r = lm_store_instance_delete(d->store, rec.id)) < 0) {
		lmd_reply_code(rq->req, r, NULL);
		goto out;
	}
	if (lmd_audit(d, "instance.deleted", rq->tenant.id, rec.id, "delete",
		      json_pack("{s:b}", "keep_volume", keep_volume)) < 0)
		lm_warn("%s: deletion not audited", rec.id);
	lmd_waiters_wake(d, rec.id);
	lmd_reply_json(rq->req, 200, json_pack("{s:s, s:s}", "id", rec.id, "status", "deleted"));
out:
	free(keep);
}

static void attest_done(void *ctx, int r, const char *body, const char *error_message)
{
	struct lmd_pending *p = ctx;
	struct lmd *d = p->d;
	char id[LM_ID_MAX], tenant[LM_ID_MAX];
	struct evhttp_request *req;
	json_t *doc = NULL;

	memcpy(id, p->id, sizeof(id));
	memcpy(tenant, p->tenant.id, sizeof(tenant));
	req = lmd_pending_finish(p);
	if (r == 0 && !(doc = json_loads(body ? body : "", 0, NULL)))
		r = LM_EFORMAT;
	if (r == 0 && lmd_audit(d, "instance.attested", tenant, id, "attest", NULL) < 0)
		lm_warn("%s: attestation not audited", id);
	if (!req) {
		json_decref(doc);
		return;
	}
	if (r == 0)
		lmd_reply_json(req, 200, doc);
	else if (r == LM_ENOENT || r == LM_ESTATE || r == LM_EUNAVAIL)
		lmd_reply_code(req, r, error_message);
	else
		lmd_reply_error(req, 502, "%s", error_message ? error_message : lm_strerror(r));
}

void lmd_api_instance_attest(struct lmd_req *rq)
{
	struct lm_instance_rec rec;
	struct lmd_pending *p;
	char *hex = lmd_query_get(rq, "nonce");
	uint8_t *nonce = NULL;
	size_t size = 0;
	int r;

	if (!hex || lm_hex_decode_alloc(hex, &nonce, &size) < 0 || size < NONCE_MIN || size > NONCE_MAX) {
		lmd_reply_error(rq->req, 400, "bad value of 'nonce': %d to %d bytes in hex", NONCE_MIN, NONCE_MAX);
		goto out;
	}
	if (get_own(rq, &rec) < 0)
		goto out;
	if (strcmp(rec.status, "pending") == 0) {
		lmd_reply_error(rq->req, 409, "instance %s is pending: its guest has no key yet", rec.id);
		goto out;
	}
	if (!rq->d->agent) {
		lmd_reply_error(rq->req, 503, "this node has no agent");
		goto out;
	}
	if ((r = lmd_pending_new(rq, &p)) < 0) {
		lmd_reply_code(rq->req, r, NULL);
		goto out;
	}
	if ((r = lm_agent_attest(rq->d->agent, rec.id, nonce, size, attest_done, p)) < 0) {
		(void)lmd_pending_finish(p);
		if (r == LM_ENOENT)
			lmd_reply_error(rq->req, 409,
					"%s has no running guest (status %s): start it with 'lambda start instance %s ...'",
					rec.id, rec.status, rec.id);
		else
			lmd_reply_code(rq->req, r, "the guest cannot attest now");
	}
out:
	free(nonce);
	free(hex);
}

static void release_done(void *ctx, int r, const char *body, const char *error_message)
{
	struct lmd_pending *p = ctx;
	struct lmd *d = p->d;
	char id[LM_ID_MAX], tenant[LM_ID_MAX];
	struct lm_instance_rec rec;
	struct evhttp_request *req;

	(void)body;
	memcpy(id, p->id, sizeof(id));
	memcpy(tenant, p->tenant.id, sizeof(tenant));
	req = lmd_pending_finish(p);
	if (r == 0 && lmd_audit(d, "instance.key_released", tenant, id, "release_key", NULL) < 0)
		lm_warn("%s: key release not audited", id);
	if (r < 0) {
		lm_warn("%s: key release failed: %s", id, lm_strerror(r));
		/* The guest still awaits a key (e.g. the customer's right one). */
		release_forget(d, id);
	}
	if (!req)
		return;
	if (r < 0) {
		/* A key that does not open the volume is the customer's to fix
		 * (another master key): 422, not a guest fault. */
		lmd_reply_error(req, r == LM_EWRONGKEY ? 422 : 502, "%s",
				error_message ? error_message : "the guest could not use the key");
		return;
	}
	if ((r = lm_store_instance_get(d->store, tenant, id, &rec)) < 0) {
		lmd_reply_code(req, r, NULL);
		return;
	}
	lmd_reply_json(req, 200, instance_json(&rec));
}

void lmd_api_instance_secrets(struct lmd_req *rq)
{
	struct lmd *d = rq->d;
	const char *enc = lm_json_str(rq->body, "enc"), *ct = lm_json_str(rq->body, "ciphertext");
	struct lm_instance_rec rec;
	struct lmd_release *rel;
	struct lmd_pending *p;
	uint8_t *raw = NULL;
	size_t size = 0;
	char *sealed = NULL;
	int r;

	if (!enc || !ct) {
		lmd_reply_error(rq->req, 400, "missing field '%s'", !enc ? "enc" : "ciphertext");
		return;
	}
	if (lm_base64_decode(enc, &raw, &size) < 0 || size != HPKE_ENC_BYTES) {
		lmd_reply_error(rq->req, 400, "bad value of 'enc': base64 of %d bytes", HPKE_ENC_BYTES);
		goto out;
	}
	free(raw);
	raw = NULL;
	if (lm_base64_decode(ct, &raw, &size) < 0 || size < 16) {
		lmd_reply_error(rq->req, 400, "bad value of 'ciphertext': base64 of a sealed blob");
		goto out;
	}
	if (get_own(rq, &rec) < 0)
		goto out;
	if (strcmp(rec.status, "awaiting_key") != 0 || release_started(d, rec.id)) {
		lmd_reply_error(rq->req, 409, "instance %s does not await a key (status %s)", rec.id,
				release_started(d, rec.id) ? "key already released" : rec.status);
		goto out;
	}
	if (!d->agent) {
		lmd_reply_error(rq->req, 503, "this node has no agent");
		goto out;
	}
	if (!(sealed = json_dumps(rq->body, JSON_COMPACT)) || !(rel = calloc(1, sizeof(*rel)))) {
		lmd_reply_code(rq->req, LM_ENOMEM, NULL);
		goto out;
	}
	memcpy(rel->id, rec.id, sizeof(rel->id));
	rel->next = d->releases;
	d->releases = rel;
	if ((r = lmd_pending_new(rq, &p)) < 0) {
		release_forget(d, rec.id);
		lmd_reply_code(rq->req, r, NULL);
		goto out;
	}
	if ((r = lm_agent_release(d->agent, rec.id, sealed, release_done, p)) < 0) {
		(void)lmd_pending_finish(p);
		release_forget(d, rec.id);
		lmd_reply_code(rq->req, r == LM_ENOENT ? LM_EUNAVAIL : r, "the guest cannot take the key now");
	}
out:
	free(sealed);
	free(raw);
}

void lmd_api_instance_logs(struct lmd_req *rq)
{
	struct lm_instance_rec rec;
	struct evbuffer *out;
	uint8_t *data = NULL;
	size_t size = 0;
	int r;

	if (get_own(rq, &rec) < 0)
		return;
	if (!rq->d->agent) {
		lmd_reply_error(rq->req, 503, "this node has no agent");
		return;
	}
	r = lm_agent_logs(rq->d->agent, rec.id, &data, &size);
	if (r == LM_ENOENT) {
		r = 0;	/* no record yet: an empty stream */
		size = 0;
	}
	if (r < 0) {
		lmd_reply_code(rq->req, r, "cannot read the instance's logs");
		return;
	}
	if (!(out = evbuffer_new())) {
		free(data);
		lmd_reply_code(rq->req, LM_ENOMEM, NULL);
		return;
	}
	evbuffer_add(out, data ? (const void *)data : "", size);
	evhttp_add_header(evhttp_request_get_output_headers(rq->req), "Content-Type", "application/octet-stream");
	evhttp_add_header(evhttp_request_get_output_headers(rq->req), "Cache-Control", "no-store");
	evhttp_send_reply(rq->req, 200, "OK", out);
	evbuffer_free(out);
	free(data);
}

void lmd_on_status(void *ctx, const char *instance_id, const char *status, int exit_code)
{
	struct lmd *d = ctx;
	bool has_exit = (strcmp(status, "exited") == 0 || strcmp(status, "failed") == 0) && exit_code >= 0;
	int r;

	if ((r = lm_store_instance_set_status(d->store, instance_id, status, has_exit, exit_code)) < 0) {
		lm_err("%s: cannot record status %s: %s", instance_id, status, lm_strerror(r));
		return;
	}
	lm_info("%s: %s%s", instance_id, status, has_exit ? " (exit code recorded)" : "");
	if (lmd_audit(d, "instance.status_changed", "system", instance_id, "status",
		      json_pack("{s:s, s:o}", "status", status, "exit_code",
				has_exit ? json_integer(exit_code) : json_null())) < 0)
		lm_warn("%s: status change not audited", instance_id);
	lmd_waiters_wake(d, instance_id);
}

void lmd_instances_recover(struct lmd *d)
{
	static const char *const live[] = { "pending", "awaiting_key", "running" };
	struct lm_instance_rec *recs = NULL;
	size_t count = 0;
	int r;

	if ((r = lm_store_instance_list(d->store, NULL, &recs, &count)) < 0) {
		lm_err("cannot list instances to recover: %s", lm_strerror(r));
		return;
	}
	for (size_t i = 0; i < count; i++) {
		bool was_live = false;

		for (size_t j = 0; j < sizeof(live) / sizeof(live[0]); j++)
			was_live |= strcmp(recs[i].status, live[j]) == 0;
		if (!was_live)
			continue;
		if ((r = lm_store_instance_set_status(d->store, recs[i].id, "failed", false, 0)) < 0) {
			lm_err("%s: cannot record status failed: %s", recs[i].id, lm_strerror(r));
			continue;
		}
		lm_warn("%s: was %s when lambdad stopped; its guest is gone: failed", recs[i].id, recs[i].status);
		if (lmd_audit(d, "instance.status_changed", "system", recs[i].id, "status",
			      json_pack("{s:s, s:n, s:s, s:s}", "status", "failed", "exit_code", "from", recs[i].status,
					"reason", "lambdad restarted")) < 0)
			lm_warn("%s: status change not audited", recs[i].id);
	}
	free(recs);
}

/* Status names a stop or start may leave from. */
static bool status_in(const char *status, const char *const set[])
{
	for (size_t i = 0; set[i]; i++)
		if (strcmp(status, set[i]) == 0)
			return true;
	return false;
}

/* POST /v1/instances/{id}/stop: the guest closes the volume and exits;
 * the record and the volume image stay. Blocks the loop while the guest
 * stops (up to 15 s), as delete does. */
void lmd_api_instance_stop(struct lmd_req *rq)
{
	static const char *const stoppable[] = { "pending", "awaiting_key", "running", "exited", "failed", NULL };
	struct lmd *d = rq->d;
	struct lm_instance_rec rec;
	char from[sizeof(rec.status)];
	int r;

	if (get_own(rq, &rec) < 0)
		return;
	if (!status_in(rec.status, stoppable)) {
		lmd_reply_error(rq->req, 409, "instance %s is %s", rec.id, rec.status);
		return;
	}
	if (!d->agent) {
		lmd_reply_error(rq->req, 503, "this node has no agent");
		return;
	}
	/* Before its first key an instance has no volume: stopped, it could
	 * never start again. One started again, or being rotated, has one. */
	if ((strcmp(rec.status, "pending") == 0 || strcmp(rec.status, "awaiting_key") == 0) &&
	    !lm_agent_has_volume(d->agent, rec.id)) {
		lmd_reply_error(rq->req, 409, "instance %s is %s and has no volume yet, so there is nothing to "
				"stop and keep; delete it instead", rec.id, rec.status);
		return;
	}
	if ((r = lm_agent_stop(d->agent, rec.id)) < 0 && r != LM_ENOENT) {
		lmd_reply_code(rq->req, r, "the node could not stop the instance");
		return;
	}
	release_forget(d, rec.id);
	memcpy(from, rec.status, sizeof(from));
	if ((r = lm_store_instance_set_status(d->store, rec.id, "stopped", rec.has_exit_code, rec.exit_code)) < 0) {
		lmd_reply_code(rq->req, r, "cannot record the stop");
		return;
	}
	if (lmd_audit(d, "instance.stopped", rq->tenant.id, rec.id, "stop", json_pack("{s:s}", "from", from)) < 0)
		lm_warn("%s: stop not audited", rec.id);
	lm_info("%s stopped (was %s)", rec.id, from);
	if ((r = lm_store_instance_get(d->store, rq->tenant.id, rec.id, &rec)) < 0) {
		lmd_reply_code(rq->req, r, NULL);
		return;
	}
	lmd_reply_json(rq->req, 200, instance_json(&rec));
}

/* POST /v1/instances/{id}/start: a new guest on the existing volume; the
 * customer then attests it and releases the key again, as at creation. */
void lmd_api_instance_start(struct lmd_req *rq)
{
	static const char *const startable[] = { "exited", "failed", "stopped", NULL };
	struct lmd *d = rq->d;
	struct lm_instance_rec rec;
	struct lm_launch launch;
	char from[sizeof(rec.status)];
	int r;

	if (get_own(rq, &rec) < 0)
		return;
	if (!status_in(rec.status, startable)) {
		lmd_reply_error(rq->req, 409, "instance %s is %s: only exited, failed or stopped instances start",
				rec.id, rec.status);
		return;
	}
	if (!d->agent) {
		lmd_reply_error(rq->req, 503, "this node has no agent");
		return;
	}
	launch = (struct lm_launch){ .instance_id = rec.id, .type = rec.type, .image = rec.image,
				     .volume_id = rec.volume_id, .volume_size = rec.volume_size };
	r = lm_agent_start(d->agent, &launch);
	if (r == LM_ENOENT) {
		lmd_reply_error(rq->req, 409, "instance %s has no volume on this node to start from (its key "
				"was never released, or the volume was removed): delete it and create a new one",
				rec.id);
		return;
	}
	if (r < 0) {
		lm_err("%s: start failed: %s", rec.id, lm_strerror(r));
		lmd_reply_code(rq->req, LM_EUNAVAIL, "the node could not start the instance");
		return;
	}
	release_forget(d, rec.id);
	memcpy(from, rec.status, sizeof(from));
	/* The guest reports awaiting_key from the event loop, after this. */
	if ((r = lm_store_instance_set_status(d->store, rec.id, "pending", false, 0)) < 0) {
		lmd_reply_code(rq->req, r, "cannot record the start");
		return;
	}
	if (lmd_audit(d, "instance.started", rq->tenant.id, rec.id, "start", json_pack("{s:s}", "from", from)) < 0)
		lm_warn("%s: start not audited", rec.id);
	lm_info("%s started again (was %s)", rec.id, from);
	if ((r = lm_store_instance_get(d->store, rq->tenant.id, rec.id, &rec)) < 0) {
		lmd_reply_code(rq->req, r, NULL);
		return;
	}
	lmd_reply_json(rq->req, 200, instance_json(&rec));
}

/* ---- key rotation ---- */

struct rotate_pending {
	struct lmd_pending *p;
	bool reencrypt;
};

static void rotate_done(void *ctx, int r, const char *body, const char *error_message)
{
	struct rotate_pending *rp = ctx;
	struct lmd *d = rp->p->d;
	char id[LM_ID_MAX], tenant[LM_ID_MAX], new_key_id[LM_NAME_MAX] = "";
	bool reencrypt = rp->reencrypt;
	struct lm_instance_rec rec;
	struct evhttp_request *req;
	json_t *reply = NULL;

	memcpy(id, rp->p->id, sizeof(id));
	memcpy(tenant, rp->p->tenant.id, sizeof(tenant));
	req = lmd_pending_finish(rp->p);
	free(rp);
	if (r == 0) {
		reply = json_loads(body ? body : "", 0, NULL);
		if (!valid_key_id(lm_json_str(reply, "new_key_id"))) {
			lm_err("%s: the guest's rotation reply names no key id", id);
			r = LM_EFORMAT;
			error_message = "malformed reply from the instance's guest";
		} else {
			snprintf(new_key_id, sizeof(new_key_id), "%s", lm_json_str(reply, "new_key_id"));
		}
	}
	json_decref(reply);
	if (r == 0) {
		/* The volume opens with the new key only from now on: record it
		 * even when the client has gone. */
		if ((r = lm_store_instance_set_key_id(d->store, id, new_key_id)) < 0)
			lm_err("%s: rotated to %s but cannot record it: %s", id, new_key_id, lm_strerror(r));
		if (lmd_audit(d, "instance.key_rotated", tenant, id, "rotate_key",
			      json_pack("{s:b, s:s}", "reencrypt", reencrypt, "new_key_id", new_key_id)) < 0)
			lm_warn("%s: key rotation not audited", id);
		lm_info("%s: volume key rotated to %s%s", id, new_key_id, reencrypt ? " (reencrypted)" : "");
	} else {
		lm_warn("%s: key rotation failed: %s", id, lm_strerror(r));
	}
	if (!req)
		return;
	if (r < 0) {
		if (r == LM_EWRONGKEY)
			lmd_reply_error(req, 422, "%s", error_message ? error_message : "wrong key");
		else if (r == LM_ESTATE || r == LM_EUNAVAIL || r == LM_EBUSY)
			lmd_reply_code(req, r, error_message);
		else
			lmd_reply_error(req, 502, "%s", error_message ? error_message : "the guest could not rotate");
		return;
	}
	if ((r = lm_store_instance_get(d->store, tenant, id, &rec)) < 0) {
		lmd_reply_code(req, r, NULL);
		return;
	}
	reply = instance_json(&rec);
	if (reply)
		json_object_set_new(reply, "reencrypted", json_boolean(reencrypt));
	lmd_reply_json(req, 200, reply);
}

/* POST /v1/instances/{id}/rotate {"enc", "ciphertext", "reencrypt"}: the
 * sealed key-rotation blob, relayed unopened to the guest, which needs to
 * be up (awaiting_key, running, or exited/failed with its guest still
 * there). A reencryption needs the workload stopped: 409 while running. */
void lmd_api_instance_rotate(struct lmd_req *rq)
{
	static const char *const rotatable[] = { "awaiting_key", "running", "exited", "failed", NULL };
	struct lmd *d = rq->d;
	const char *enc = lm_json_str(rq->body, "enc"), *ct = lm_json_str(rq->body, "ciphertext");
	json_t *re = json_object_get(rq->body, "reencrypt");
	struct lm_instance_rec rec;
	struct rotate_pending *rp = NULL;
	json_t *sealed = NULL;
	char *text = NULL;
	uint8_t *raw = NULL;
	size_t size = 0;
	bool is_releasing;
	int r;

	if (!enc || !ct) {
		lmd_reply_error(rq->req, 400, "missing field '%s'", !enc ? "enc" : "ciphertext");
		return;
	}
	if (re && !json_is_boolean(re)) {
		lmd_reply_error(rq->req, 400, "bad value of 'reencrypt': true or false");
		return;
	}
	if (lm_base64_decode(enc, &raw, &size) < 0 || size != HPKE_ENC_BYTES) {
		lmd_reply_error(rq->req, 400, "bad value of 'enc': base64 of %d bytes", HPKE_ENC_BYTES);
		goto out;
	}
	free(raw);
	raw = NULL;
	if (lm_base64_decode(ct, &raw, &size) < 0 || size < 16) {
		lmd_reply_error(rq->req, 400, "bad value of 'ciphertext': base64 of a sealed blob");
		goto out;
	}
	if (get_own(rq, &rec) < 0)
		goto out;
	/* A release in flight is the guest's first use of the volume: not
	 * at the same time as a rotation. */
	is_releasing = strcmp(rec.status, "awaiting_key") == 0 && release_started(d, rec.id);
	if (!status_in(rec.status, rotatable) || is_releasing) {
		lmd_reply_error(rq->req, 409, "instance %s is %s: a key rotation needs its guest up (start it first)",
				rec.id, is_releasing ? "taking its key" : rec.status);
		goto out;
	}
	if (json_is_true(re) && strcmp(rec.status, "running") == 0) {
		lmd_reply_error(rq->req, 409, "instance %s is running: a reencryption needs it stopped", rec.id);
		goto out;
	}
	if (!d->agent) {
		lmd_reply_error(rq->req, 503, "this node has no agent");
		goto out;
	}
	sealed = json_pack("{s:s, s:s}", "enc", enc, "ciphertext", ct);
	if (!sealed || !(text = json_dumps(sealed, JSON_COMPACT)) || !(rp = calloc(1, sizeof(*rp)))) {
		lmd_reply_code(rq->req, LM_ENOMEM, NULL);
		goto out;
	}
	rp->reencrypt = json_is_true(re);
	if ((r = lmd_pending_new(rq, &rp->p)) < 0) {
		lmd_reply_code(rq->req, r, NULL);
		goto out;
	}
	if ((r = lm_agent_rotate(d->agent, rec.id, text, rp->reencrypt, rotate_done, rp)) < 0) {
		(void)lmd_pending_finish(rp->p);
		lmd_reply_code(rq->req, r == LM_ENOENT ? LM_EUNAVAIL : r,
			       r == LM_EBUSY ? "a key rotation is already running" : "the guest cannot rotate now");
		goto out;
	}
	rp = NULL;
out:
	free(rp);
	free(text);
	json_decref(sealed);
	free(raw);
}
