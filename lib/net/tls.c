/* The one TLS set-up of the project (DESIGN.md section 7): TLS 1.3 only,
 * exactly LM_TLS_CIPHERSUITES, no compression, no renegotiation, no session
 * tickets. lambdad's listener and every libcurl client call this on their
 * SSL_CTX, so the policy lives in one place. */
#include <openssl/ssl.h>

#include "lambda/log.h"
#include "lambda/net.h"

int lm_tls_configure(SSL_CTX *ctx)
{
	int r;

	if (!ctx)
		return LM_EINVAL;
	if ((r = LM_OSSL(SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION))) < 0 ||
	    (r = LM_OSSL(SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION))) < 0 ||
	    (r = LM_OSSL(SSL_CTX_set_ciphersuites(ctx, LM_TLS_CIPHERSUITES))) < 0)
		return r;
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_TICKET);
	/* Servers issue no TLS 1.3 session tickets: no resumption state to
	 * protect, and every connection authenticates afresh. Harmless on a
	 * client context. */
	if ((r = LM_OSSL(SSL_CTX_set_num_tickets(ctx, 0))) < 0)
		return r;
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	return 0;
}
