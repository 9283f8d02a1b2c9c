/* The HTTPS JSON client of the CLI over libcurl: TLS through
 * lm_tls_configure(), trusting the platform CA only, peer and host
 * verified, bounded in time and in reply size. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <openssl/ssl.h>

#include "lambda/log.h"
#include "lambda/net.h"
#include "lambda/secret.h"

struct lm_client {
	CURL *curl;
	char *endpoint;		/* without a trailing slash */
	char *ca_file;
	char *auth_header;	/* "Authorization: Bearer lmt_..." (secret) or NULL */
};

struct reply {
	char *data;
	size_t size, cap;
	bool too_big;
};

static CURLcode ssl_ctx_cb(CURL *curl, void *ssl_ctx, void *arg)
{
	(void)curl;
	(void)arg;
	return lm_tls_configure(ssl_ctx) == 0 ? CURLE_OK : CURLE_SSL_CIPHER;
}

static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct reply *rep = arg;
	size_t n = size * nmemb;

	if (n > LM_CLIENT_MAX_BODY - rep->size) {
		rep->too_big = true;
		return 0;	/* aborts the transfer */
	}
	if (rep->size + n + 1 > rep->cap) {
		size_t cap = rep->cap ? rep->cap : 4096;
		char *p;

		while (cap < rep->size + n + 1)
			cap *= 2;
		if (!(p = realloc(rep->data, cap)))
			return 0;
		rep->data = p;
		rep->cap = cap;
	}
	memcpy(rep->data + rep->size, ptr, n);
	rep->size += n;
	rep->data[rep->size] = 0;
	return n;
}

int lm_client_new(const char *endpoint, const char *ca_file, const char *token, struct lm_client **out)
{
	struct lm_client *c;
	size_t n;

	if (!endpoint || !ca_file || strncmp(endpoint, "https://", 8) != 0)
		return LM_EINVAL;
	if (!(c = calloc(1, sizeof(*c))))
		return LM_ENOMEM;
	if (!(c->endpoint = strdup(endpoint)) || !(c->ca_file = strdup(ca_file)))
		goto nomem;
	n = strlen(c->endpoint);
	while (n > 8 && c->endpoint[n - 1] == '/')
		c->endpoint[--n] = 0;
	if (token) {
		size_t size = strlen("Authorization: Bearer ") + strlen(token) + 1;

		if (!(c->auth_header = malloc(size)))
			goto nomem;
		snprintf(c->auth_header, size, "Authorization: Bearer %s", token);
	}
	if (!(c->curl = curl_easy_init()))
		goto nomem;
	*out = c;
	return 0;
nomem:
	lm_client_free(c);
	return LM_ENOMEM;
}

void lm_client_free(struct lm_client *c)
{
	if (!c)
		return;
	if (c->curl)
		curl_easy_cleanup(c->curl);
	free(c->endpoint);
	free(c->ca_file);
	lm_free_wiped(c->auth_header);
	free(c);
}

/* Frees a header list, wiping each entry first (one carries the token). */
static void slist_free_wiped(struct curl_slist *list)
{
	for (struct curl_slist *l = list; l; l = l->next)
		lm_memzero(l->data, strlen(l->data));
	curl_slist_free_all(list);
}

static int map_curl_error(CURLcode cc, const char *url, const char *errbuf, const struct reply *rep)
{
	const char *why = errbuf[0] ? errbuf : curl_easy_strerror(cc);

	switch (cc) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_GOT_NOTHING:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
		lm_debug("%s: %s", url, why);
		return LM_EUNAVAIL;
	case CURLE_WRITE_ERROR:
		if (rep->too_big) {
			lm_err("%s: reply larger than %u bytes", url, LM_CLIENT_MAX_BODY);
			return LM_ETOOBIG;
		}
		return LM_ENOMEM;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SSL_CIPHER:
		lm_err("%s: TLS: %s", url, why);
		return LM_EAUTH;
	default:
		lm_err("%s: %s", url, why);
		return LM_EIO;
	}
}

int lm_client_request(struct lm_client *c, const char *method, const char *path, const char *body, long *status,
		      char **resp, size_t *resp_size)
{
	char errbuf[CURL_ERROR_SIZE] = "";
	struct curl_slist *headers = NULL, *h;
	struct reply rep = { 0 };
	CURL *curl = c->curl;
	char *url = NULL;
	size_t url_size;
	CURLcode cc;
	int r;

	if (!method || !path || path[0] != '/')
		return LM_EINVAL;
	url_size = strlen(c->endpoint) + strlen(path) + 1;
	if (!(url = malloc(url_size)))
		return LM_ENOMEM;
	snprintf(url, url_size, "%s%s", c->endpoint, path);

	if (!(h = curl_slist_append(headers, "Accept: application/json")))
		goto nomem;
	headers = h;
	if (body) {
		if (!(h = curl_slist_append(headers, "Content-Type: application/json")))
			goto nomem;
		headers = h;
	}
	if (c->auth_header) {
		if (!(h = curl_slist_append(headers, c->auth_header)))
			goto nomem;
		headers = h;
	}

	curl_easy_reset(curl);
	/* Each option below is part of the security policy: one CA, verified
	 * peer and name, TLS 1.3 with the two suites, no redirects. */
	if (curl_easy_setopt(curl, CURLOPT_URL, url) != CURLE_OK ||
	    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "https") != CURLE_OK ||
	    curl_easy_setopt(curl, CURLOPT_CAINFO, c->ca_file) != CURLE_OK ||
	    curl_easy_setopt(curl, CURLOPT_CAPATH, NULL) != CURLE_OK ||
	    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L) != CURLE_OK ||
	    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L) != CURLE_OK ||
	    curl_easy_setopt(curl, CURLOPT_SSLVERSION, (long)(CURL_SSLVERSION_TLSv1_3 | CURL_SSLVERSION_MAX_TLSv1_3)) !=
		    CURLE_OK ||
	    curl_easy_setopt(curl, CURLOPT_TLS13_CIPHERS, LM_TLS_CIPHERSUITES) != CURLE_OK ||
	    curl_easy_setopt(curl, CURLOPT_SSL_CTX_FUNCTION, ssl_ctx_cb) != CURLE_OK ||
	    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK ||
	    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
	    curl_easy_setopt(curl, CURLOPT_TIMEOUT, (long)LM_CLIENT_TIMEOUT_S) != CURLE_OK ||
	    curl_easy_setopt(curl, CURLOPT_MAXFILESIZE, (long)LM_CLIENT_MAX_BODY) != CURLE_OK ||
	    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method) != CURLE_OK ||
	    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers) != CURLE_OK ||
	    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, write_cb) != CURLE_OK ||
	    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &rep) != CURLE_OK ||
	    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf) != CURLE_OK) {
		lm_err("libcurl refused an option: it must be built with OpenSSL and TLS 1.3");
		r = LM_ENOTSUP;
		goto out;
	}
	if (strcmp(method, "HEAD") == 0)
		(void)curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
	if (body &&
	    (curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body) != CURLE_OK ||
	     curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body)) != CURLE_OK)) {
		r = LM_EIO;
		goto out;
	}

	cc = curl_easy_perform(curl);
	if (cc != CURLE_OK) {
		if (cc == CURLE_FILESIZE_EXCEEDED) {
			rep.too_big = true;
			cc = CURLE_WRITE_ERROR;
		}
		r = map_curl_error(cc, url, errbuf, &rep);
		goto out;
	}
	if (!rep.data && !(rep.data = calloc(1, 1)))
		goto nomem;
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, status);
	*resp = rep.data;
	*resp_size = rep.size;
	rep.data = NULL;
	r = 0;
	goto out;
nomem:
	r = LM_ENOMEM;
out:
	/* Drop the references to this call's buffers before freeing them. */
	(void)curl_easy_setopt(curl, CURLOPT_HTTPHEADER, NULL);
	slist_free_wiped(headers);
	free(rep.data);
	free(url);
	return r;
}
