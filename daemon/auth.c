/* Bearer tokens and the audit helper. A token reads
 * "lmt_<12 hex id>_<64 hex secret>"; the store keeps the id ("tok_" + the
 * 12 hex) and SHA-256 of the 32 secret bytes, compared in constant time. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/event.h>
#include <event2/http.h>
#include <openssl/evp.h>

#include "lambda/audit.h"
#include "lambda/log.h"
#include "lambda/secret.h"
#include "lambda/util.h"
#include "lambdad.h"

#define TOKEN_ID_HEX 12
#define TOKEN_SECRET_BYTES 32
#define REFUSED_EVERY_MS 1000	/* at most one auth.refused row a second */

static int secret_hash(uint8_t out[static LM_HASH_BYTES], const uint8_t *secret, size_t size)
{
	unsigned int n = 0;

	if (EVP_Digest(secret, size, out, &n, EVP_sha256(), NULL) != 1 || n != LM_HASH_BYTES)
		return lm_log_ossl("EVP_Digest");
	return 0;
}

static bool is_lower_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

int lmd_token_issue(struct lmd *d, const char *tenant_id, char out[static LMD_TOKEN_SIZE])
{
	uint8_t id[TOKEN_ID_HEX / 2], secret[TOKEN_SECRET_BYTES], hash[LM_HASH_BYTES];
	char id_hex[TOKEN_ID_HEX + 1], secret_hex[2 * TOKEN_SECRET_BYTES + 1], store_id[LM_ID_MAX];
	int r;

	if ((r = lm_random(id, sizeof(id))) < 0 || (r = lm_random(secret, sizeof(secret))) < 0 ||
	    (r = secret_hash(hash, secret, sizeof(secret))) < 0)
		goto out;
	lm_hex_encode(id_hex, id, sizeof(id));
	lm_hex_encode(secret_hex, secret, sizeof(secret));
	snprintf(store_id, sizeof(store_id), "tok_%s", id_hex);
	if ((r = lm_store_token_add(d->store, store_id, tenant_id, hash)) < 0)
		goto out;
	snprintf(out, LMD_TOKEN_SIZE, "lmt_%s_%s", id_hex, secret_hex);
	r = 0;
out:
	lm_memzero(secret, sizeof(secret));
	lm_memzero(secret_hex, sizeof(secret_hex));
	return r;
}

static int check_token(struct lmd *d, const char *token, struct lm_tenant *tenant)
{
	uint8_t secret[TOKEN_SECRET_BYTES], want[LM_HASH_BYTES], got[LM_HASH_BYTES];
	char store_id[LM_ID_MAX];
	int r;

	if (strlen(token) != LMD_TOKEN_SIZE - 1 || strncmp(token, "lmt_", 4) != 0 || token[4 + TOKEN_ID_HEX] != '_' ||
	    !is_lower_hex(token + 4, TOKEN_ID_HEX))
		return LM_EDENIED;
	snprintf(store_id, sizeof(store_id), "tok_%.*s", TOKEN_ID_HEX, token + 4);
	if (lm_hex_decode(secret, sizeof(secret), token + 5 + TOKEN_ID_HEX) < 0) {
		r = LM_EDENIED;
		goto out;
	}
	if ((r = secret_hash(got, secret, sizeof(secret))) < 0)
		goto out;
	r = lm_store_token_get(d->store, store_id, want, tenant);
	if (r == LM_ENOENT) {
		r = LM_EDENIED;
		goto out;
	} else if (r < 0) {
		goto out;
	}
	r = lm_ct_equal(want, got, sizeof(want)) ? 0 : LM_EDENIED;
out:
	lm_memzero(secret, sizeof(secret));
	lm_memzero(got, sizeof(got));
	return r;
}

/* A flood of bad tokens must not cost a signed append each, yet no refusal
 * may go unrecorded: refusals within REFUSED_EVERY_MS of the last row are
 * counted, and the timer writes them as one row {"count": N} when the
 * second is over. */
static void refused_write(struct lmd *d)
{
	unsigned long n = d->refused_held;

	if (!n)
		return;
	d->refused_held = 0;
	d->refused_at_ms = lm_now_ms();
	if (lmd_audit(d, "auth.refused", "anonymous", "", "authenticate",
		      json_pack("{s:s, s:I}", "reason", d->refused_reason, "count", (json_int_t)n)) < 0)
		lm_warn("%lu refused authentications could not be audited", n);
}

static void refused_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	refused_write(arg);
}

static void refused_note(struct lmd *d, const char *reason)
{
	uint64_t now = lm_now_ms(), wait_ms;
	struct timeval tv;

	d->refused_held++;
	snprintf(d->refused_reason, sizeof(d->refused_reason), "%s", reason);
	if (now - d->refused_at_ms >= REFUSED_EVERY_MS || !d->base) {
		refused_write(d);
		return;
	}
	if (!d->refused_timer && !(d->refused_timer = evtimer_new(d->base, refused_timer_cb, d))) {
		refused_write(d);	/* no timer: write now rather than lose it */
		return;
	}
	if (evtimer_pending(d->refused_timer, NULL))
		return;
	wait_ms = REFUSED_EVERY_MS - (now - d->refused_at_ms);
	tv.tv_sec = (time_t)(wait_ms / 1000);
	tv.tv_usec = (suseconds_t)(wait_ms % 1000) * 1000;
	evtimer_add(d->refused_timer, &tv);
}

void lmd_auth_flush(struct lmd *d)
{
	refused_write(d);
	if (d->refused_timer)
		event_free(d->refused_timer);
	d->refused_timer = NULL;
}

int lmd_auth(struct lmd_req *rq)
{
	const char *h = evhttp_find_header(evhttp_request_get_input_headers(rq->req), "Authorization");
	const char *why = "missing bearer token";
	int r = LM_EDENIED;

	if (h && strncasecmp(h, "Bearer ", 7) == 0) {
		r = check_token(rq->d, h + 7, &rq->tenant);
		why = "invalid token";
	}
	if (r == 0)
		return 0;
	if (r != LM_EDENIED) {
		lmd_reply_code(rq->req, r, "cannot check the token now");
		return r;
	}
	/* The refused token text is never logged nor audited. */
	refused_note(rq->d, h ? "invalid token" : "no token");
	lmd_reply_error(rq->req, 401, "%s", why);
	return LM_EDENIED;
}

void lmd_audit_broken(struct lmd *d, uint64_t bad_seq, const char *why)
{
	d->audit_broken = true;
	if (bad_seq)
		snprintf(d->audit_problem, sizeof(d->audit_problem), "audit log broken at seq %llu: %s",
			 (unsigned long long)bad_seq, why);
	else
		snprintf(d->audit_problem, sizeof(d->audit_problem), "audit log broken: %s", why);
	lm_err("%s; serving reads only until an operator restores the log (lambda audit verify)",
	       d->audit_problem);
}

int lmd_audit_ready(struct lmd *d)
{
	struct lm_audit_checkpoint cp;
	struct lm_audit_event last;
	int r, rc;

	if (d->audit_broken)
		return LM_EVERIFY;
	r = lm_store_audit_last(d->store, &last);
	rc = lm_store_checkpoint_get(d->store, &cp);
	if ((r < 0 && r != LM_ENOENT) || (rc < 0 && rc != LM_ENOENT)) {
		lm_err("cannot read the audit head: %s", lm_strerror(r < 0 && r != LM_ENOENT ? r : rc));
		return r < 0 && r != LM_ENOENT ? r : rc;
	}
	if (r == LM_ENOENT && rc == LM_ENOENT)
		return 0;	/* an empty log */
	if (r == LM_ENOENT || rc == LM_ENOENT || cp.seq != last.seq || !lm_ct_equal(cp.hash, last.hash, LM_HASH_BYTES)) {
		lmd_audit_broken(d, 0,
				 rc == LM_ENOENT ? "the signed checkpoint is missing"
						 : "the log head does not match the signed checkpoint");
		return LM_EVERIFY;
	}
	return 0;
}

int lmd_audit(struct lmd *d, const char *type, const char *actor, const char *resource, const char *action,
	      json_t *metadata)
{
	char *text = metadata ? json_dumps(metadata, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	int r;

	json_decref(metadata);
	if (metadata && !text)
		return LM_ENOMEM;
	if (d->audit_broken) {
		free(text);
		return LM_EVERIFY;
	}
	r = lm_audit_append(d->store, d->audit_key_pem, type, actor, resource ? resource : "", action, text, NULL);
	if (r == LM_EVERIFY)
		lmd_audit_broken(d, 0, "the log head does not match the signed checkpoint");
	else if (r < 0)
		lm_err("audit %s %s: %s", type, resource ? resource : "", lm_strerror(r));
	free(text);
	return r;
}
