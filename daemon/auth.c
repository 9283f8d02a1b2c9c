/* Bearer tokens and the audit helper. A token reads
 * "lmt_<12 hex id>_<64 hex secret>"; the store keeps the id ("tok_" + the
 * 12 hex) and SHA-256 of the 32 secret bytes, compared in constant time. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/http.h>
#include <openssl/evp.h>

#include "lambda/audit.h"
#include "lambda/log.h"
#include "lambda/secret.h"
#include "lambda/util.h"
#include "lambdad.h"

#define TOKEN_ID_HEX 12
#define TOKEN_SECRET_BYTES 32

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
	if (lmd_audit(rq->d, "auth.refused", "anonymous", "", "authenticate",
		      json_pack("{s:s}", "reason", h ? "invalid token" : "no token")) < 0)
		lm_warn("auth.refused could not be audited");
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
