/* lambdad's HTTPS front: evhttp over OpenSSL bufferevents configured with
 * lm_tls_configure(), the routing table of docs/api.md, body limits, strict
 * JSON parsing, the error body shape and the --trace-requests diagnostic. */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/ssl.h>
#include <sys/socket.h>

#include "lambda/json.h"
#include "lambda/log.h"
#include "lambda/net.h"
#include "lambda/util.h"
#include "lambdad.h"

/* evhttp itself refuses bodies above this with a bare 413 before any
 * handler runs; between LMD_BODY_MAX and it, lambdad answers 413 with the
 * JSON error body. The gap bounds what one connection can buffer. */
#define EVHTTP_BODY_MAX (4u * LMD_BODY_MAX)

enum { NO_AUTH = 0, NEEDS_AUTH = 1 };

static const char *const f_instance[] = { "type", "region", "image", "volume_size", "key_id", NULL };
static const char *const f_secrets[] = { "enc", "ciphertext", NULL };
static const char *const f_rotate[] = { "enc", "ciphertext", "reencrypt", NULL };
static const char *const f_tenant[] = { "name", NULL };

static const struct route {
	enum evhttp_cmd_type method;
	const char *pattern;		/* "{id}" matches one id segment */
	void (*fn)(struct lmd_req *rq);
	int auth;
	const char *const *fields;	/* allowed body fields (POST), or NULL */
} g_routes[] = {
	{ EVHTTP_REQ_GET, "/v1/health", lmd_api_health, NO_AUTH, NULL },
	{ EVHTTP_REQ_POST, "/v1/instances", lmd_api_instance_create, NEEDS_AUTH, f_instance },
	{ EVHTTP_REQ_GET, "/v1/instances", lmd_api_instance_list, NEEDS_AUTH, NULL },
	{ EVHTTP_REQ_GET, "/v1/instances/{id}", lmd_api_instance_get, NEEDS_AUTH, NULL },
	{ EVHTTP_REQ_DELETE, "/v1/instances/{id}", lmd_api_instance_delete, NEEDS_AUTH, NULL },
	{ EVHTTP_REQ_GET, "/v1/instances/{id}/attestation", lmd_api_instance_attest, NEEDS_AUTH, NULL },
	{ EVHTTP_REQ_POST, "/v1/instances/{id}/secrets", lmd_api_instance_secrets, NEEDS_AUTH, f_secrets },
	{ EVHTTP_REQ_GET, "/v1/instances/{id}/logs", lmd_api_instance_logs, NEEDS_AUTH, NULL },
	{ EVHTTP_REQ_POST, "/v1/instances/{id}/stop", lmd_api_instance_stop, NEEDS_AUTH, NULL },
	{ EVHTTP_REQ_POST, "/v1/instances/{id}/start", lmd_api_instance_start, NEEDS_AUTH, NULL },
	{ EVHTTP_REQ_POST, "/v1/instances/{id}/rotate", lmd_api_instance_rotate, NEEDS_AUTH, f_rotate },
	{ EVHTTP_REQ_POST, "/v1/tenants", lmd_api_tenant_create, NEEDS_AUTH, f_tenant },
	{ EVHTTP_REQ_GET, "/v1/audit", lmd_api_audit, NEEDS_AUTH, NULL },
};

int lm_http_status(int r)
{
	switch (r) {
	case LM_OK:
		return 200;
	case LM_EINVAL:
	case LM_EFORMAT:
		return 400;
	case LM_EDENIED:
		return 401;
	case LM_ENOENT:
		return 404;
	case LM_EEXIST:
	case LM_ESTATE:
		return 409;
	case LM_ETOOBIG:
		return 413;
	case LM_EUNAVAIL:
	case LM_EBUSY:
	case LM_ENOTSUP:
		return 503;
	default:
		return 500;
	}
}

static const char *status_code_name(int status)
{
	switch (status) {
	case 400: return "invalid_request";
	case 401: return "unauthenticated";
	case 403: return "forbidden";
	case 404: return "not_found";
	case 405: return "method_not_allowed";
	case 409: return "conflict";
	case 413: return "too_large";
	case 422: return "wrong_key";
	case 502: return "guest_error";
	case 503: return "unavailable";
	default: return "internal";
	}
}

static const char *reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 413: return "Payload Too Large";
	case 422: return "Unprocessable Content";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	default: return "Internal Server Error";
	}
}

static void send_buf(struct evhttp_request *req, int status, const char *type, const void *data, size_t size)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	struct evbuffer *out = evbuffer_new();

	evhttp_add_header(h, "Content-Type", type);
	evhttp_add_header(h, "Cache-Control", "no-store");
	if (status == 401)
		evhttp_add_header(h, "WWW-Authenticate", "Bearer realm=\"lambda\"");
	if (!out) {
		evhttp_send_error(req, 500, NULL);
		return;
	}
	evbuffer_add(out, data, size);
	evhttp_send_reply(req, status, reason(status), out);
	evbuffer_free(out);
}

void lmd_reply_json(struct evhttp_request *req, int status, json_t *doc)
{
	char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;

	json_decref(doc);
	if (!text) {
		static const char oom[] = "{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\"}}";

		send_buf(req, 500, "application/json", oom, sizeof(oom) - 1);
		return;
	}
	send_buf(req, status, "application/json", text, strlen(text));
	free(text);
}

void lmd_reply_error(struct evhttp_request *req, int status, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	lmd_reply_json(req, status, json_pack("{s:{s:s, s:s}}", "error", "code", status_code_name(status), "message", msg));
}

void lmd_reply_code(struct evhttp_request *req, int r, const char *message)
{
	int status = lm_http_status(r);

	lmd_reply_error(req, status, "%s", message ? message : lm_strerror(r));
}

char *lmd_query_get(const struct lmd_req *rq, const char *key)
{
	struct evkeyvalq q = { 0 };
	const char *v;
	char *copy = NULL;

	if (!rq->query || evhttp_parse_query_str(rq->query, &q) != 0)
		return NULL;
	if ((v = evhttp_find_header(&q, key)))
		copy = strdup(v);
	evhttp_clear_headers(&q);
	return copy;
}

/* ---- asynchronous replies ---- */

static void pending_closed(struct evhttp_connection *conn, void *arg)
{
	struct lmd_pending *p = arg;

	(void)conn;
	p->req = NULL;	/* evhttp frees the request with its connection */
}

int lmd_pending_new(struct lmd_req *rq, struct lmd_pending **out)
{
	struct lmd_pending *p = calloc(1, sizeof(*p));

	if (!p)
		return LM_ENOMEM;
	p->d = rq->d;
	p->req = rq->req;
	p->tenant = rq->tenant;
	memcpy(p->id, rq->id, sizeof(p->id));
	evhttp_connection_set_closecb(evhttp_request_get_connection(rq->req), pending_closed, p);
	p->next = rq->d->pending;
	rq->d->pending = p;
	*out = p;
	return 0;
}

struct evhttp_request *lmd_pending_finish(struct lmd_pending *p)
{
	struct evhttp_request *req;
	struct lmd_pending **pp;

	for (pp = &p->d->pending; *pp; pp = &(*pp)->next)
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	req = p->req;
	if (req)
		evhttp_connection_set_closecb(evhttp_request_get_connection(req), NULL, NULL);
	free(p);
	return req;
}

/* ---- routing ---- */

/* Matches path against pattern; {id} takes one segment of [a-z0-9_]. */
static bool match(const char *pattern, const char *path, char id[static LM_ID_MAX])
{
	while (*pattern) {
		if (strncmp(pattern, "{id}", 4) == 0) {
			size_t n = strcspn(path, "/");

			if (n == 0 || n >= LM_ID_MAX || strspn(path, "abcdefghijklmnopqrstuvwxyz0123456789_") < n)
				return false;
			memcpy(id, path, n);
			id[n] = 0;
			path += n;
			pattern += 4;
			continue;
		}
		if (*pattern++ != *path++)
			return false;
	}
	return *path == 0;
}

static const char *method_name(enum evhttp_cmd_type m)
{
	switch (m) {
	case EVHTTP_REQ_GET: return "GET";
	case EVHTTP_REQ_POST: return "POST";
	case EVHTTP_REQ_PUT: return "PUT";
	case EVHTTP_REQ_DELETE: return "DELETE";
	case EVHTTP_REQ_HEAD: return "HEAD";
	case EVHTTP_REQ_OPTIONS: return "OPTIONS";
	case EVHTTP_REQ_TRACE: return "TRACE";
	case EVHTTP_REQ_CONNECT: return "CONNECT";
	case EVHTTP_REQ_PATCH: return "PATCH";
	default: return "OTHER";
	}
}

/* --trace-requests: every request lambdad receives, body included, so that
 * a test can prove which bytes reached the control plane. A refused
 * oversized body is recorded by its size only (body NULL). */
static void trace(struct lmd *d, enum evhttp_cmd_type m, const char *uri, const uint8_t *body, size_t size)
{
	if (!d->trace)
		return;
	fprintf(d->trace, "%s %s %zu\n", method_name(m), uri, size);
	if (body && size)
		fwrite(body, 1, size, d->trace);
	fputc('\n', d->trace);
	fflush(d->trace);
}

static void handle(struct evhttp_request *req, void *arg)
{
	struct lmd *d = arg;
	struct lmd_req rq = { .d = d, .req = req };
	enum evhttp_cmd_type m = evhttp_request_get_command(req);
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
	const struct route *rt = NULL;
	bool path_known = false;
	size_t size = evbuffer_get_length(in);
	uint8_t *body = NULL;
	char bad[64];
	json_error_t jerr;

	if (!path) {
		lmd_reply_error(req, 400, "malformed request target");
		return;
	}
	if (size > LMD_BODY_MAX) {
		trace(d, m, evhttp_request_get_uri(req), NULL, size);
		lmd_reply_error(req, 413, "body of %zu bytes is over the limit of %u", size, LMD_BODY_MAX);
		return;
	}
	body = evbuffer_pullup(in, -1);
	trace(d, m, evhttp_request_get_uri(req), body, size);
	rq.query = evhttp_uri_get_query(uri);

	for (size_t i = 0; i < sizeof(g_routes) / sizeof(g_routes[0]); i++) {
		if (!match(g_routes[i].pattern, path, rq.id))
			continue;
		path_known = true;
		if (g_routes[i].method == m) {
			rt = &g_routes[i];
			break;
		}
	}
	if (!rt) {
		if (path_known)
			lmd_reply_error(req, 405, "%s is not allowed on %s", method_name(m), path);
		else
			lmd_reply_error(req, 404, "no such endpoint %s", path);
		return;
	}
	/* A change that cannot be audited is not made: the log is checked
	 * before the handler acts, not after. */
	if (m != EVHTTP_REQ_GET && lmd_audit_ready(d) < 0 && !d->audit_broken) {
		lmd_reply_error(req, 503, "the audit log cannot be read now; the change was not made");
		return;
	}
	if (d->audit_broken && m != EVHTTP_REQ_GET) {
		lmd_reply_error(req, 503, "%s; the control plane accepts no changes", d->audit_problem);
		return;
	}
	if (rt->auth == NEEDS_AUTH && lmd_auth(&rq) < 0)
		return;	/* lmd_auth() replied */
	if (rt->fields && size == 0) {
		lmd_reply_error(req, 400, "the body is empty: send a JSON object");
		return;
	}
	if (rt->fields) {
		rq.body = json_loadb((const char *)body, size, JSON_REJECT_DUPLICATES, &jerr);
		if (!rq.body) {
			lmd_reply_error(req, 400, "malformed JSON: %s", jerr.text);
			return;
		}
		if (!json_is_object(rq.body)) {
			lmd_reply_error(req, 400, "the body must be a JSON object");
			goto out;
		}
		if (lm_json_only_keys(rq.body, rt->fields, bad, sizeof(bad)) < 0) {
			lmd_reply_error(req, 400, "unknown field '%s'", bad);
			goto out;
		}
	} else if (size > 0) {
		lmd_reply_error(req, 400, "this endpoint takes no body");
		return;
	}
	rt->fn(&rq);
out:
	json_decref(rq.body);
}

/* Connection accounting. Each connection owns one SSL object, freed with
 * its bufferevent however the connection ends; an ex_data slot of the SSL
 * (whose free callback runs then) counts the connection out. evhttp's
 * close callback is not used: pending requests take it. */
static int g_conn_idx = -1;

#define CAP_LOG_MS 60000

static void conn_gone(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
	struct lmd *d = ptr;

	(void)parent;
	(void)ad;
	(void)idx;
	(void)argl;
	(void)argp;
	if (!d)
		return;
	d->conns--;
	if (d->is_accept_paused && d->listener && d->conns < d->opt.max_connections) {
		d->is_accept_paused = false;
		evconnlistener_enable(d->listener);
	}
}

/* At the cap, the listener pauses: further clients wait in the kernel's
 * backlog, holding no descriptor of lambdad, until a connection closes
 * (idle ones do within --idle-timeout). Logged once per burst. */
static void conn_count(struct lmd *d)
{
	if (++d->conns < d->opt.max_connections || d->is_accept_paused || !d->listener)
		return;
	d->is_accept_paused = true;
	evconnlistener_disable(d->listener);
	/* A burst flaps at the cap: one line per CAP_LOG_MS. */
	if (d->cap_logged_ms && lm_now_ms() - d->cap_logged_ms < CAP_LOG_MS)
		return;
	d->cap_logged_ms = lm_now_ms();
	lm_warn("%u client connections open, the limit (--max-connections): new ones wait until one closes",
		d->conns);
}

static struct bufferevent *make_tls_bev(struct event_base *base, void *arg)
{
	struct lmd *d = arg;
	struct bufferevent *bev;
	SSL *ssl = SSL_new(d->ssl);

	if (!ssl)
		return NULL;
	if (!SSL_set_ex_data(ssl, g_conn_idx, d)) {
		SSL_free(ssl);
		return NULL;
	}
	conn_count(d);
	bev = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	if (!bev) {
		SSL_free(ssl);
		return NULL;
	}
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	return bev;
}

/* Splits "HOST:PORT" or "[V6]:PORT". */
int lmd_listen_parse(const char *s, char *host, size_t host_size, unsigned short *port)
{
	const char *colon;
	char *end;
	size_t n;
	long p;

	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (!close || close[1] != ':')
			return LM_EINVAL;
		n = (size_t)(close - s - 1);
		s++;
		colon = close + 1;
	} else {
		if (!(colon = strrchr(s, ':')))
			return LM_EINVAL;
		n = (size_t)(colon - s);
	}
	if (n == 0 || n >= host_size)
		return LM_EINVAL;
	memcpy(host, s, n);
	host[n] = 0;
	p = strtol(colon + 1, &end, 10);
	if (*end || p < 1 || p > 65535)
		return LM_EINVAL;
	*port = (unsigned short)p;
	return 0;
}

int lmd_http_start(struct lmd *d)
{
	char host[128], cert[4096], key[4096];
	struct evhttp_bound_socket *bound;
	unsigned short port;
	int one = 1;
	int r;

	if (lmd_listen_parse(d->opt.listen, host, sizeof(host), &port) < 0) {
		lm_err("--listen %s: expected ADDRESS:PORT, e.g. 127.0.0.1:7443", d->opt.listen);
		return LM_EINVAL;
	}
	lmd_path(d, cert, sizeof(cert), "server.pem");
	lmd_path(d, key, sizeof(key), "server.key");
	if (!(d->ssl = SSL_CTX_new(TLS_server_method())))
		return lm_log_ossl("SSL_CTX_new");
	if ((r = lm_tls_configure(d->ssl)) < 0 ||
	    (r = LM_OSSL(SSL_CTX_use_certificate_chain_file(d->ssl, cert))) < 0 ||
	    (r = LM_OSSL(SSL_CTX_use_PrivateKey_file(d->ssl, key, SSL_FILETYPE_PEM))) < 0 ||
	    (r = LM_OSSL(SSL_CTX_check_private_key(d->ssl))) < 0)
		return r;
	if (g_conn_idx < 0 && (g_conn_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, conn_gone)) < 0)
		return lm_log_ossl("SSL_get_ex_new_index");
	if (!(d->http = evhttp_new(d->base)))
		return LM_ENOMEM;
	evhttp_set_bevcb(d->http, make_tls_bev, d);
	evhttp_set_max_body_size(d->http, EVHTTP_BODY_MAX);
	evhttp_set_max_headers_size(d->http, 64 * 1024);
	/* One timeout for reads and writes: the TLS handshake and the wait
	 * for a request are reads of the connection's bufferevent. */
	evhttp_set_timeout_tv(d->http, &(struct timeval){ .tv_sec = d->opt.idle_timeout_s });
	/* Every method libevent knows reaches the router, which answers the
	 * JSON 405 of docs/api.md instead of libevent's HTML 501. */
	evhttp_set_allowed_methods(d->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_DELETE | EVHTTP_REQ_PUT |
						    EVHTTP_REQ_HEAD | EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE |
						    EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH);
	evhttp_set_gencb(d->http, handle, d);
	if (!(bound = evhttp_bind_socket_with_handle(d->http, host, port))) {
		lm_err("cannot listen on %s: address in use or not available", d->opt.listen);
		return LM_EBUSY;
	}
	d->listener = evhttp_bound_socket_get_listener(bound);
	/* evhttp writes a reply as the header record, then the body record:
	 * with Nagle on, the second small segment waits for the peer's
	 * delayed ACK (about 40 ms per response on Linux). Accepted sockets
	 * inherit TCP_NODELAY from the listener on Linux, and libevent 2.1
	 * offers no hook that sees the accepted fd before the first reply. */
	if (setsockopt(evhttp_bound_socket_get_fd(bound), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0)
		lm_warn("TCP_NODELAY on the listener: %s; replies may be delayed", strerror(errno));
	lm_info("listening on https://%s", d->opt.listen);
	return 0;
}

void lmd_http_stop(struct lmd *d)
{
	/* Requests still waiting for a guest are answered before the
	 * connections go away, so no pending entry outlives its request. */
	while (d->pending) {
		struct evhttp_request *req = lmd_pending_finish(d->pending);

		if (req)
			lmd_reply_error(req, 503, "lambdad is shutting down");
	}
	lmd_waiters_free(d);
	d->listener = NULL;	/* freed with d->http */
	if (d->http)
		evhttp_free(d->http);
	d->http = NULL;
	SSL_CTX_free(d->ssl);
	d->ssl = NULL;
}
