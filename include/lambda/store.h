/* The control plane's store: tenants, tokens, instances, metrics and the
 * audit log. Metadata only: no column can hold customer data. One
 * interface, one file per backend (store_sqlite.c; PostgreSQL later),
 * chosen by the URL given to lm_store_open(). */
#ifndef LAMBDA_STORE_H
#define LAMBDA_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "lambda/err.h"

struct lm_store;

#define LM_ID_MAX 32
#define LM_NAME_MAX 64
#define LM_HASH_BYTES 32

/* Opens the store at url: "sqlite:PATH" or a plain path (SQLite, created
 * with its schema on first use, WAL mode, mode 0600). */
LM_MUST_CHECK int lm_store_open(const char *url, struct lm_store **out);
void lm_store_close(struct lm_store *st);

/* ---- tenants and API tokens ---- */

struct lm_tenant {
	char id[LM_ID_MAX];		/* "ten_..." */
	char name[LM_NAME_MAX];
	bool is_admin;			/* may create tenants */
};

/* Creates a tenant with a fresh id; LM_EEXIST when the name is taken. */
LM_MUST_CHECK int lm_store_tenant_create(struct lm_store *st, const char *name, bool is_admin,
					 struct lm_tenant *out);

/* Stores a token of tenant_id: only its public id ("tok_...") and the
 * SHA-256 of its secret part. */
LM_MUST_CHECK int lm_store_token_add(struct lm_store *st, const char *token_id, const char *tenant_id,
				     const uint8_t hash[static LM_HASH_BYTES]);

/* Looks a token up by its public id: returns the stored hash and the
 * tenant. LM_ENOENT when unknown. The caller compares hashes in constant
 * time. */
LM_MUST_CHECK int lm_store_token_get(struct lm_store *st, const char *token_id, uint8_t hash[static LM_HASH_BYTES],
				     struct lm_tenant *tenant);

/* ---- instances ---- */

struct lm_instance_rec {
	char id[LM_ID_MAX];		/* "inst_..." */
	char tenant_id[LM_ID_MAX];
	char type[LM_NAME_MAX];		/* "compute-4x" */
	char region[LM_NAME_MAX];
	char image[128];		/* image reference; "process" runtime: "host" */
	char volume_id[LM_ID_MAX];	/* "vol_..." */
	uint64_t volume_size;		/* bytes */
	char key_id[LM_NAME_MAX];	/* "lmk_..." of the CMK the customer uses (public) */
	char status[16];		/* pending, awaiting_key, running, exited, failed, stopped, deleted */
	int exit_code;			/* valid when has_exit_code */
	bool has_exit_code;
	time_t created_at, updated_at;
};

LM_MUST_CHECK int lm_store_instance_insert(struct lm_store *st, const struct lm_instance_rec *rec);

/* Sets status (and exit code when has_exit_code) of instance id. */
LM_MUST_CHECK int lm_store_instance_set_status(struct lm_store *st, const char *id, const char *status,
					       bool has_exit_code, int exit_code);

/* Records the public key id (lmk_...) of the CMK instance id is now
 * keyed with, after a key rotation. LM_ENOENT when there is no such
 * instance. */
LM_MUST_CHECK int lm_store_instance_set_key_id(struct lm_store *st, const char *id, const char *key_id);

/* Reads instance id; with tenant_id not NULL, an instance of another tenant
 * is LM_ENOENT, exactly like a missing one. */
LM_MUST_CHECK int lm_store_instance_get(struct lm_store *st, const char *tenant_id, const char *id,
					struct lm_instance_rec *out);

/* Lists the instances of tenant_id (all with NULL), oldest first, in a new
 * array the caller frees with free(). */
LM_MUST_CHECK int lm_store_instance_list(struct lm_store *st, const char *tenant_id, struct lm_instance_rec **out,
					 size_t *count);

LM_MUST_CHECK int lm_store_instance_delete(struct lm_store *st, const char *id);

/* ---- metrics: exactly the six counters of DESIGN.md section 6 ---- */

struct lm_metrics {
	char instance_id[LM_ID_MAX];
	time_t timestamp;
	double cpu_percent;
	uint64_t memory_bytes, network_in_bytes, network_out_bytes, disk_read_bytes, disk_write_bytes;
};

LM_MUST_CHECK int lm_store_metrics_insert(struct lm_store *st, const struct lm_metrics *m);

/* The newest sample of each instance of tenant_id (all with NULL). */
LM_MUST_CHECK int lm_store_metrics_latest(struct lm_store *st, const char *tenant_id, struct lm_metrics **out,
					  size_t *count);

/* ---- audit rows (the chain itself is lib/audit) ---- */

struct lm_audit_event {
	uint64_t seq;			/* 1, 2, 3, ... */
	char event_id[LM_ID_MAX];	/* "evt_..." */
	char timestamp[32];		/* RFC 3339 */
	char event_type[LM_NAME_MAX];	/* "instance.created" */
	char actor[LM_NAME_MAX];	/* tenant id, "system" or "anonymous" */
	char resource[LM_NAME_MAX];	/* "inst_..." or "" */
	char action[LM_NAME_MAX];	/* "create", "release_key", ... */
	char metadata[512];		/* JSON object text: type, region, status; never data */
	uint8_t prev_hash[LM_HASH_BYTES];
	uint8_t hash[LM_HASH_BYTES];
};

struct lm_audit_checkpoint {
	uint64_t seq;			/* the head the checkpoint covers */
	uint8_t hash[LM_HASH_BYTES];
	char timestamp[32];
	uint8_t signature[64];		/* Ed25519 */
};

/* Runs fn(st, ctx) inside one write transaction that excludes other
 * writers (so that reading the chain head and appending are atomic);
 * commits when fn returns 0, rolls back otherwise and returns fn's code. */
LM_MUST_CHECK int lm_store_write_tx(struct lm_store *st, int (*fn)(struct lm_store *st, void *ctx), void *ctx);

/* The newest audit row; LM_ENOENT when the log is empty. */
LM_MUST_CHECK int lm_store_audit_last(struct lm_store *st, struct lm_audit_event *out);
LM_MUST_CHECK int lm_store_audit_insert(struct lm_store *st, const struct lm_audit_event *ev);

/* Audit rows with seq >= from_seq in seq order, at most limit (0: all), in
 * a new array the caller frees with free(). */
LM_MUST_CHECK int lm_store_audit_list(struct lm_store *st, uint64_t from_seq, size_t limit,
				      struct lm_audit_event **out, size_t *count);

/* The single stored checkpoint, replaced by each append. */
LM_MUST_CHECK int lm_store_checkpoint_put(struct lm_store *st, const struct lm_audit_checkpoint *cp);
LM_MUST_CHECK int lm_store_checkpoint_get(struct lm_store *st, struct lm_audit_checkpoint *out);

#endif
