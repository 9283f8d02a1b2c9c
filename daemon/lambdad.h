/* lambdad, the control plane: the daemon's shared state and the pieces each
 * daemon/ file provides. One file per concern: main.c (options, signals,
 * log), state.c (data directory, lock, keys, first start), http.c (TLS
 * listener, routing, errors), auth.c (tokens), api_*.c (the endpoints of
 * docs/api.md). */
#ifndef LAMBDAD_H
#define LAMBDAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <event2/http.h>
#include <jansson.h>
#include <openssl/ssl.h>

#include "lambda/err.h"
#include "lambda/store.h"

#define LMD_BODY_MAX (1u << 20)		/* docs/api.md: larger bodies answer 413 */
#define LMD_TOKEN_SIZE 82		/* "lmt_" + 12 hex + "_" + 64 hex + NUL */
#define LMD_MAX_CONNECTIONS 1024	/* default --max-connections */
#define LMD_IDLE_TIMEOUT_S 30		/* default --idle-timeout */
#define LMD_MAX_INSTANCES 32		/* default --max-instances */
#define LMD_MIN_VOLUME (32ull << 20)	/* the smallest volume LUKS2 and ext4 fit in */
#define LMD_MAX_VOLUME (64ull << 30)	/* default --max-volume-size */
#define LMD_EXIT_BUSY 4			/* the data dir is locked by another lambdad */

struct lmd_pending;
struct lmd_waiter;

struct lmd_options {
	const char *data_dir;
	const char *listen;		/* "127.0.0.1:7443" or "[::1]:7443" */
	const char *region;
	const char *guest_path;		/* may be NULL */
	const char *trace_path;		/* --trace-requests, may be NULL */
	bool foreground;
	unsigned max_connections;	/* open client connections at once */
	unsigned idle_timeout_s;	/* TLS handshake and idle connection timeout */
	unsigned max_instances;		/* per tenant, not counting deleted ones */
	uint64_t max_volume_size;	/* bytes */
};

struct lmd {
	struct lmd_options opt;
	struct event_base *base;
	struct evhttp *http;
	SSL_CTX *ssl;
	struct lm_store *store;
	struct lm_agent *agent;
	char *audit_key_pem;		/* Ed25519 private key: wiped on exit */
	char *audit_pub_pem;
	int lock_fd;
	FILE *trace;
	struct lmd_pending *pending;	/* requests waiting for a guest */
	struct lmd_release *releases;	/* instances whose key release started */
	struct lmd_waiter *waiters;	/* GET /v1/instances/{id}?wait= requests held */
	/* Set when the audit log fails verification (at start or on append):
	 * lambdad then serves reads only, so that `lambda audit verify` can
	 * show the damage, and refuses every change it could not audit. */
	bool audit_broken;
	char audit_problem[256];
	/* auth.refused rows are rate-limited (auth.c): refusals since the
	 * last row, folded into the next one. */
	uint64_t refused_at_ms;
	unsigned long refused_held;
	char refused_reason[16];
	struct event *refused_timer;
	/* Open client connections (http.c): at max_connections the listener
	 * pauses, so further clients wait in the kernel's backlog instead of
	 * taking descriptors. */
	unsigned conns;
	struct evconnlistener *listener;
	bool is_accept_paused;
	uint64_t cap_logged_ms;		/* when the cap was last logged */
};

/* One request being served. */
struct lmd_req {
	struct lmd *d;
	struct evhttp_request *req;
	struct lm_tenant tenant;	/* the caller, once authenticated */
	char id[LM_ID_MAX];		/* the {id} of the path, or "" */
	const char *query;		/* raw query string or NULL */
	json_t *body;			/* parsed JSON object of POST bodies, or NULL */
};

/* ---- state.c ---- */

/* Opens DIR (made with mode 0700), takes DIR/lambdad.lock (LM_EBUSY with
 * *owner set to the holder's pid when another lambdad has it), writes
 * DIR/lambdad.pid, and on the first start makes the CA, the server
 * certificate, the audit key pair and the admin tenant with its token. */
LM_MUST_CHECK int lmd_state_open(struct lmd *d, long *owner);
void lmd_state_close(struct lmd *d);

/* Paths inside the data dir. */
void lmd_path(const struct lmd *d, char *out, size_t out_size, const char *name);

/* ---- http.c ---- */

/* Splits --listen "HOST:PORT" or "[V6]:PORT"; LM_EINVAL when malformed. */
LM_MUST_CHECK int lmd_listen_parse(const char *s, char *host, size_t host_size, unsigned short *port);

LM_MUST_CHECK int lmd_http_start(struct lmd *d);
void lmd_http_stop(struct lmd *d);

/* The HTTP status for an LM_E* code. */
int lm_http_status(int r);

/* Replies with a JSON document (consumed) and the given status. */
void lmd_reply_json(struct evhttp_request *req, int status, json_t *doc);

/* Replies {"error": {"code", "message"}} with status; the code string is
 * the one docs/api.md gives for the status. */
void lmd_reply_error(struct evhttp_request *req, int status, const char *fmt, ...) LM_PRINTF(3, 4);

/* Replies for an LM_E* code with lm_http_status(r) and message. */
void lmd_reply_code(struct evhttp_request *req, int r, const char *message);

/* Returns the value of query parameter key (a new string) or NULL. */
char *lmd_query_get(const struct lmd_req *rq, const char *key);

/* Asynchronous replies: a pending request survives until the guest
 * answers; when the client goes away first, its req becomes NULL. */
struct lmd_pending {
	struct lmd *d;
	struct evhttp_request *req;	/* NULL once the client left */
	struct lm_tenant tenant;
	char id[LM_ID_MAX];
	struct lmd_pending *next;
};
LM_MUST_CHECK int lmd_pending_new(struct lmd_req *rq, struct lmd_pending **out);
/* Detaches p from its connection, frees it and returns the request to
 * answer, or NULL when the client has gone. */
struct evhttp_request *lmd_pending_finish(struct lmd_pending *p);

/* ---- auth.c ---- */

/* Authenticates the bearer token of rq into rq->tenant. On failure replies
 * 401, appends auth.refused and returns LM_EDENIED. */
LM_MUST_CHECK int lmd_auth(struct lmd_req *rq);

/* Writes the auth.refused row of refusals still held by the rate limit
 * and frees its timer (at shutdown, while the store is open). */
void lmd_auth_flush(struct lmd *d);

/* Makes a token for tenant_id, stores its id and hash, and writes the
 * token text into out (LMD_TOKEN_SIZE bytes; the caller wipes it). */
LM_MUST_CHECK int lmd_token_issue(struct lmd *d, const char *tenant_id, char out[static LMD_TOKEN_SIZE]);

/* Appends an audit event; metadata (consumed, may be NULL) is a JSON
 * object of metadata only. Logs on failure. */
/* Marks the audit log broken (bad_seq 0 when unknown): lambdad then
 * answers only GET requests. */
void lmd_audit_broken(struct lmd *d, uint64_t bad_seq, const char *why);

/* Checks, before a change is made, that the audit log can take its
 * event: the stored head is the one the checkpoint names. Otherwise marks
 * the log broken and returns LM_EVERIFY. */
LM_MUST_CHECK int lmd_audit_ready(struct lmd *d);

LM_MUST_CHECK int lmd_audit(struct lmd *d, const char *type, const char *actor, const char *resource,
			    const char *action, json_t *metadata);

/* ---- api_*.c: handlers ---- */

void lmd_api_health(struct lmd_req *rq);
void lmd_api_instance_create(struct lmd_req *rq);
void lmd_api_instance_list(struct lmd_req *rq);
void lmd_api_instance_get(struct lmd_req *rq);
void lmd_api_instance_delete(struct lmd_req *rq);
void lmd_api_instance_attest(struct lmd_req *rq);
void lmd_api_instance_secrets(struct lmd_req *rq);
void lmd_api_instance_logs(struct lmd_req *rq);
void lmd_api_instance_stop(struct lmd_req *rq);
void lmd_api_instance_start(struct lmd_req *rq);
void lmd_api_instance_rotate(struct lmd_req *rq);
void lmd_api_tenant_create(struct lmd_req *rq);
void lmd_api_audit(struct lmd_req *rq);

/* The embedded agent's status callback (api_instances.c). */
void lmd_on_status(void *ctx, const char *instance_id, const char *status, int exit_code);
void lmd_releases_free(struct lmd *d);

/* At start-up: instances recorded as pending, awaiting_key or running lost
 * their guest with the previous lambdad; marks them failed, audited. */
void lmd_instances_recover(struct lmd *d);

/* Answers the held GET /v1/instances/{id}?wait= requests for instance_id
 * whose wait is over (api_instances.c); called on every status change
 * and deletion. */
void lmd_waiters_wake(struct lmd *d, const char *instance_id);
/* Answers every held request with 503 (shutdown). */
void lmd_waiters_free(struct lmd *d);

#endif
