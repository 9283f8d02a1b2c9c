/* /v1/tenants (admin only) and /v1/health. A new tenant's token is
 * returned once and never stored in clear. */
#include <string.h>

#include "lambda/json.h"
#include "lambda/log.h"
#include "lambda/secret.h"
#include "lambdad.h"

void lmd_api_health(struct lmd_req *rq)
{
	lmd_reply_json(rq->req, 200, json_pack("{s:s, s:s}", "status", "ok", "version", LAMBDA_VERSION));
}

void lmd_api_tenant_create(struct lmd_req *rq)
{
	const char *name = lm_json_str(rq->body, "name");
	struct lm_tenant t;
	char token[LMD_TOKEN_SIZE];
	size_t n = name ? strlen(name) : 0;
	int r;

	if (!rq->tenant.is_admin) {
		lmd_reply_error(rq->req, 403, "only the admin tenant may create tenants");
		return;
	}
	if (!name) {
		lmd_reply_error(rq->req, 400, "missing field 'name'");
		return;
	}
	if (n == 0 || n >= LM_NAME_MAX || strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789._-") != n) {
		lmd_reply_error(rq->req, 400, "bad value of 'name': 1 to %d characters of a-z 0-9 . _ -", LM_NAME_MAX - 1);
		return;
	}
	r = lm_store_tenant_create(rq->d->store, name, false, &t);
	if (r == LM_EEXIST) {
		lmd_reply_error(rq->req, 409, "tenant '%s' exists", name);
		return;
	}
	if (r < 0 || (r = lmd_token_issue(rq->d, t.id, token)) < 0) {
		lmd_reply_code(rq->req, r, "cannot create the tenant");
		return;
	}
	/* An unaudited tenant gets no token: it exists, but nobody can act
	 * as it. */
	if ((r = lmd_audit(rq->d, "tenant.created", rq->tenant.id, t.id, "create", json_pack("{s:s}", "name", name))) <
	    0) {
		lm_err("%s: tenant creation not audited: its token is withheld", t.id);
		lm_memzero(token, sizeof(token));
		lmd_reply_error(rq->req, 503, "the tenant could not be audited; its token is withheld");
		return;
	}
	lm_info("tenant %s (%s) created", t.id, name);
	lmd_reply_json(rq->req, 201,
		       json_pack("{s:{s:s, s:s}, s:s}", "tenant", "id", t.id, "name", t.name, "token", token));
	lm_memzero(token, sizeof(token));
}
