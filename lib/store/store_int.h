/* Private to lib/store: the backend interface behind include/lambda/store.h.
 *
 * Each backend (store_sqlite.c; store_pg.c later) fills one struct
 * lm_store_ops and embeds struct lm_store at the start of its handle.
 * store.c checks arguments once for every backend (string sizes, status
 * names, counter ranges), so that a backend only translates to its
 * database and may rely on:
 *   - every string argument and every string field of a record argument is
 *     NUL-terminated within its field, non-empty where the header says so;
 *   - uint64_t counters fit in int64_t (SQL INTEGER);
 *   - status is one of LM_STORE_STATUSES.
 * A backend returns exactly the codes of store.h: LM_ENOENT for a missing
 * row, LM_EEXIST for a duplicate key, LM_EBUSY when the database stayed
 * locked, LM_EFORMAT for a stored value that does not fit its field. */
#ifndef LAMBDA_STORE_INT_H
#define LAMBDA_STORE_INT_H

#include "lambda/store.h"

struct lm_store_ops {
	const char *name;
	void (*close)(struct lm_store *st);

	int (*tenant_create)(struct lm_store *st, const char *id, const char *name, bool is_admin);
	int (*token_add)(struct lm_store *st, const char *token_id, const char *tenant_id,
			 const uint8_t hash[static LM_HASH_BYTES]);
	int (*token_get)(struct lm_store *st, const char *token_id, uint8_t hash[static LM_HASH_BYTES],
			 struct lm_tenant *tenant);

	int (*instance_insert)(struct lm_store *st, const struct lm_instance_rec *rec);
	int (*instance_set_status)(struct lm_store *st, const char *id, const char *status, bool has_exit_code,
				   int exit_code, time_t now);
	int (*instance_set_key_id)(struct lm_store *st, const char *id, const char *key_id, time_t now);
	int (*instance_get)(struct lm_store *st, const char *tenant_id, const char *id,
			    struct lm_instance_rec *out);
	int (*instance_list)(struct lm_store *st, const char *tenant_id, struct lm_instance_rec **out,
			     size_t *count);
	int (*instance_delete)(struct lm_store *st, const char *id);

	int (*metrics_insert)(struct lm_store *st, const struct lm_metrics *m);
	int (*metrics_latest)(struct lm_store *st, const char *tenant_id, struct lm_metrics **out, size_t *count);

	/* Begins a transaction that excludes other writers before anything
	 * is read (SQLite: BEGIN IMMEDIATE; PostgreSQL will need a table or
	 * advisory lock, since its default isolation lets two appenders read
	 * the same head), and ends it: commit when is_commit, roll back
	 * otherwise. store.c runs fn between the two and refuses nesting. */
	int (*tx_begin)(struct lm_store *st);
	int (*tx_end)(struct lm_store *st, bool is_commit);

	int (*audit_last)(struct lm_store *st, struct lm_audit_event *out);
	int (*audit_insert)(struct lm_store *st, const struct lm_audit_event *ev);
	int (*audit_list)(struct lm_store *st, uint64_t from_seq, size_t limit, struct lm_audit_event **out,
			  size_t *count);
	int (*checkpoint_put)(struct lm_store *st, const struct lm_audit_checkpoint *cp);
	int (*checkpoint_get)(struct lm_store *st, struct lm_audit_checkpoint *out);
};

/* The common head of every backend's handle. */
struct lm_store {
	const struct lm_store_ops *ops;
	bool is_in_tx;
};

/* The instance states of store.h, in lifecycle order, NULL-terminated. */
extern const char *const lm_store_statuses[];

/* Opens (creating on first use) the SQLite database at path. */
LM_MUST_CHECK int lm_store_sqlite_open(const char *path, struct lm_store **out);

#endif
