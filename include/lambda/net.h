/* Networking: the one TLS 1.3 set-up every listener and client uses
 * (DESIGN.md section 7), and the HTTPS JSON client of the CLI. */
#ifndef LAMBDA_NET_H
#define LAMBDA_NET_H

#include <stddef.h>

#include "lambda/err.h"
#include "lambda/util.h"

typedef struct ssl_ctx_st SSL_CTX;

/* Exactly these two suites, TLS 1.3 only. */
#define LM_TLS_CIPHERSUITES "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"

/* Restricts ctx to TLS 1.3 with LM_TLS_CIPHERSUITES, no compression, no
 * renegotiation, no session tickets on servers. Used by lambdad's listener
 * and, through libcurl's SSL context callback, by every client. */
LM_MUST_CHECK int lm_tls_configure(SSL_CTX *ctx);

struct lm_client;

/* A client of the API at endpoint ("https://127.0.0.1:7443"), trusting only
 * the CA certificate in ca_file, sending token as a bearer token (may be
 * NULL). */
LM_MUST_CHECK int lm_client_new(const char *endpoint, const char *ca_file, const char *token,
				struct lm_client **out);
void lm_client_free(struct lm_client *c);

/* Sends one request (body: JSON text or NULL) and returns the HTTP status
 * and the response body (a new NUL-terminated buffer of *resp_size bytes).
 * LM_EUNAVAIL when the endpoint cannot be reached. */
LM_MUST_CHECK int lm_client_request(struct lm_client *c, const char *method, const char *path, const char *body,
				    long *status, char **resp, size_t *resp_size);

/* ---- the platform PKI of a single-node control plane ---- */

/* Makes the platform CA: an ECDSA P-256 key (written to key_path, mode
 * 0600) and a self-signed CA certificate valid for 10 years (cert_path,
 * mode 0644). Never overwrites: LM_EEXIST. */
LM_MUST_CHECK int lm_pki_make_ca(const char *cert_path, const char *key_path);

/* Issues a server certificate for 127.0.0.1, ::1 and localhost (subject
 * alternative names) with a fresh P-256 key (key_path, mode 0600), signed
 * by the CA in ca_cert_path/ca_key_path, valid for 10 years. */
LM_MUST_CHECK int lm_pki_make_server(const char *ca_cert_path, const char *ca_key_path, const char *cert_path,
				     const char *key_path);

/* Limits of lm_client_request(): connect + transfer time and reply size. */
#define LM_CLIENT_TIMEOUT_S 30
/* An instance's whole log store (LM_FILE_MAX, lambda logs) with room to spare. */
#define LM_CLIENT_MAX_BODY (LM_FILE_MAX + (1u << 20))

#endif
