/* The store front end: picks the backend from the URL given to
 * lm_store_open() and checks every argument once before a backend sees it
 * (see store_int.h for what backends may rely on). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lambda/log.h"
#include "lambda/util.h"
#include "store/store_int.h"

const char *const lm_store_statuses[] = {
	"pending", "awaiting_key", "running", "exited", "failed", "stopped", "deleted", NULL,
};

/* True when s is NUL-terminated within size bytes (and non-empty when
 * is_required). */
static bool str_ok(const char *s, size_t size, bool is_required)
{
	size_t n;

	if (!s)
		return false;
	n = strnlen(s, size);
	return n < size && (n > 0 || !is_required);
}

#define FIELD_OK(rec, field, is_required) str_ok((rec)->field, sizeof((rec)->field), is_required)

static bool status_ok(const char *status)
{
	for (size_t i = 0; lm_store_statuses[i]; i++)
		if (status && strcmp(status, lm_store_statuses[i]) == 0)
			return true;
	return false;
}

/* Whether url starts with a URL scheme ("name://"); a plain path does not. */
static bool has_scheme(const char *url, const char *scheme)
{
	size_t n = strlen(scheme);

	return strncmp(url, scheme, n) == 0 && strncmp(url + n, "://", 3) == 0;
}

int lm_store_open(const char *url, struct lm_store **out)
{
	const char *path = url;

	if (!url || !*url || !out)
		return LM_EINVAL;
	if (has_scheme(url, "postgresql") || has_scheme(url, "postgres")) {
		/* Never log the URL itself: it may carry a password. */
		lm_err("store: the PostgreSQL backend is not available in this build yet; "
		       "use \"sqlite:PATH\" or a plain path");
		return LM_ENOTSUP;
	}
	if (strncmp(url, "sqlite:", 7) == 0) {
		path = url + 7;
		/* "sqlite:///var/lib/x.db" names the absolute path /var/lib/x.db. */
		if (strncmp(path, "//", 2) == 0)
			path += 2;
	} else {
		const char *p = url;

		while ((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '+' || *p == '-' || *p == '.')
			p++;
		if (p != url && strncmp(p, "://", 3) == 0) {
			lm_err("store: unknown store URL scheme \"%.*s\"; use \"sqlite:PATH\" or a plain path",
			       (int)(p - url), url);
			return LM_ENOTSUP;
		}
	}
	if (!*path) {
		lm_err("store: empty database path");
		return LM_EINVAL;
	}
	return lm_store_sqlite_open(path, out);
}

void lm_store_close(struct lm_store *st)
{
	if (st)
		st->ops->close(st);
}

int lm_store_tenant_create(struct lm_store *st, const char *name, bool is_admin, struct lm_tenant *out)
{
	struct lm_tenant t = { .is_admin = is_admin };
	int r;

	if (!st || !out || !str_ok(name, sizeof(t.name), true))
		return LM_EINVAL;
	if ((r = lm_id_new(t.id, sizeof(t.id), "ten")) < 0)
		return r;
	memcpy(t.name, name, strlen(name) + 1);
	if ((r = st->ops->tenant_create(st, t.id, t.name, is_admin)) < 0)
		return r;
	*out = t;
	return 0;
}

int lm_store_token_add(struct lm_store *st, const char *token_id, const char *tenant_id,
		       const uint8_t hash[static LM_HASH_BYTES])
{
	if (!st || !hash || !str_ok(token_id, LM_ID_MAX, true) || !str_ok(tenant_id, LM_ID_MAX, true))
		return LM_EINVAL;
	return st->ops->token_add(st, token_id, tenant_id, hash);
}

int lm_store_token_get(struct lm_store *st, const char *token_id, uint8_t hash[static LM_HASH_BYTES],
		       struct lm_tenant *tenant)
{
	uint8_t h[LM_HASH_BYTES];
	struct lm_tenant t;
	int r;

	if (!st || !hash || !tenant || !str_ok(token_id, LM_ID_MAX, true))
		return LM_EINVAL;
	if ((r = st->ops->token_get(st, token_id, h, &t)) < 0)
		return r;
	memcpy(hash, h, sizeof(h));
	*tenant = t;
	return 0;
}

int lm_store_instance_insert(struct lm_store *st, const struct lm_instance_rec *rec)
{
	if (!st || !rec || !FIELD_OK(rec, id, true) || !FIELD_OK(rec, tenant_id, true) ||
	    !FIELD_OK(rec, type, true) || !FIELD_OK(rec, region, true) || !FIELD_OK(rec, image, false) ||
	    !FIELD_OK(rec, volume_id, false) || !FIELD_OK(rec, key_id, false) || !FIELD_OK(rec, status, true) ||
	    !status_ok(rec->status) || rec->volume_size > INT64_MAX) {
		lm_err("store: invalid instance record");
		return LM_EINVAL;
	}
	return st->ops->instance_insert(st, rec);
}

int lm_store_instance_set_status(struct lm_store *st, const char *id, const char *status, bool has_exit_code,
				 int exit_code)
{
	if (!st || !str_ok(id, LM_ID_MAX, true) || !status_ok(status)) {
		lm_err("store: invalid instance id or status");
		return LM_EINVAL;
	}
	return st->ops->instance_set_status(st, id, status, has_exit_code, exit_code, time(NULL));
}

int lm_store_instance_set_key_id(struct lm_store *st, const char *id, const char *key_id)
{
	if (!st || !str_ok(id, LM_ID_MAX, true) || !str_ok(key_id, LM_NAME_MAX, true)) {
		lm_err("store: invalid instance id or key id");
		return LM_EINVAL;
	}
	return st->ops->instance_set_key_id(st, id, key_id, time(NULL));
}

int lm_store_instance_get(struct lm_store *st, const char *tenant_id, const char *id, struct lm_instance_rec *out)
{
	struct lm_instance_rec rec;
	int r;

	if (!st || !out || !str_ok(id, LM_ID_MAX, true) || (tenant_id && !str_ok(tenant_id, LM_ID_MAX, true)))
		return LM_EINVAL;
	if ((r = st->ops->instance_get(st, tenant_id, id, &rec)) < 0)
		return r;
	*out = rec;
	return 0;
}

int lm_store_instance_list(struct lm_store *st, const char *tenant_id, struct lm_instance_rec **out,
			   size_t *count)
{
	if (!st || !out || !count || (tenant_id && !str_ok(tenant_id, LM_ID_MAX, true)))
		return LM_EINVAL;
	return st->ops->instance_list(st, tenant_id, out, count);
}

int lm_store_instance_delete(struct lm_store *st, const char *id)
{
	if (!st || !str_ok(id, LM_ID_MAX, true))
		return LM_EINVAL;
	return st->ops->instance_delete(st, id);
}

int lm_store_metrics_insert(struct lm_store *st, const struct lm_metrics *m)
{
	if (!st || !m || !FIELD_OK(m, instance_id, true) || !isfinite(m->cpu_percent) || m->cpu_percent < 0 ||
	    m->memory_bytes > INT64_MAX || m->network_in_bytes > INT64_MAX || m->network_out_bytes > INT64_MAX ||
	    m->disk_read_bytes > INT64_MAX || m->disk_write_bytes > INT64_MAX) {
		lm_err("store: invalid metrics sample");
		return LM_EINVAL;
	}
	return st->ops->metrics_insert(st, m);
}

int lm_store_metrics_latest(struct lm_store *st, const char *tenant_id, struct lm_metrics **out, size_t *count)
{
	if (!st || !out || !count || (tenant_id && !str_ok(tenant_id, LM_ID_MAX, true)))
		return LM_EINVAL;
	return st->ops->metrics_latest(st, tenant_id, out, count);
}

int lm_store_write_tx(struct lm_store *st, int (*fn)(struct lm_store *st, void *ctx), void *ctx)
{
	int r, r2;

	if (!st || !fn)
		return LM_EINVAL;
	if (st->is_in_tx) {
		/* A nested call would commit the outer transaction early. */
		lm_err("store: lm_store_write_tx called inside a write transaction");
		return LM_ESTATE;
	}
	if ((r = st->ops->tx_begin(st)) < 0)
		return r;
	st->is_in_tx = true;
	r = fn(st, ctx);
	st->is_in_tx = false;
	r2 = st->ops->tx_end(st, r == 0);
	return r < 0 ? r : r2;
}

int lm_store_audit_last(struct lm_store *st, struct lm_audit_event *out)
{
	if (!st || !out)
		return LM_EINVAL;
	return st->ops->audit_last(st, out);
}

int lm_store_audit_insert(struct lm_store *st, const struct lm_audit_event *ev)
{
	if (!st || !ev || ev->seq == 0 || ev->seq > INT64_MAX || !FIELD_OK(ev, event_id, true) ||
	    !FIELD_OK(ev, timestamp, true) || !FIELD_OK(ev, event_type, true) || !FIELD_OK(ev, actor, true) ||
	    !FIELD_OK(ev, resource, false) || !FIELD_OK(ev, action, true) || !FIELD_OK(ev, metadata, true)) {
		lm_err("store: invalid audit row");
		return LM_EINVAL;
	}
	return st->ops->audit_insert(st, ev);
}

int lm_store_audit_list(struct lm_store *st, uint64_t from_seq, size_t limit, struct lm_audit_event **out,
			size_t *count)
{
	if (!st || !out || !count)
		return LM_EINVAL;
	if (from_seq > INT64_MAX)
		from_seq = INT64_MAX;
	return st->ops->audit_list(st, from_seq, limit, out, count);
}

int lm_store_checkpoint_put(struct lm_store *st, const struct lm_audit_checkpoint *cp)
{
	if (!st || !cp || cp->seq == 0 || cp->seq > INT64_MAX || !FIELD_OK(cp, timestamp, true))
		return LM_EINVAL;
	return st->ops->checkpoint_put(st, cp);
}

int lm_store_checkpoint_get(struct lm_store *st, struct lm_audit_checkpoint *out)
{
	struct lm_audit_checkpoint cp;
	int r;

	if (!st || !out)
		return LM_EINVAL;
	if ((r = st->ops->checkpoint_get(st, &cp)) < 0)
		return r;
	*out = cp;
	return 0;
}
