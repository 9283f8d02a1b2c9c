/* Unit tests for lib/net: the TLS 1.3 policy of lm_tls_configure() (driven
 * over memory BIOs between a real server and client context), the platform
 * PKI, and the client's failure modes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "lambda/net.h"
#include "lambda/util.h"

struct pki {
	char dir[64];
	char ca[128], ca_key[128], cert[128], key[128];
};

static int pki_setup(void **state)
{
	struct pki *p = calloc(1, sizeof(*p));

	assert_non_null(p);
	strcpy(p->dir, "/tmp/lm-test-net-XXXXXX");
	assert_non_null(mkdtemp(p->dir));
	snprintf(p->ca, sizeof(p->ca), "%s/ca.pem", p->dir);
	snprintf(p->ca_key, sizeof(p->ca_key), "%s/ca.key", p->dir);
	snprintf(p->cert, sizeof(p->cert), "%s/server.pem", p->dir);
	snprintf(p->key, sizeof(p->key), "%s/server.key", p->dir);
	assert_int_equal(lm_pki_make_ca(p->ca, p->ca_key), 0);
	assert_int_equal(lm_pki_make_server(p->ca, p->ca_key, p->cert, p->key), 0);
	*state = p;
	return 0;
}

static int pki_teardown(void **state)
{
	struct pki *p = *state;

	assert_int_equal(lm_rm_rf(p->dir), 0);
	free(p);
	return 0;
}

static SSL_CTX *server_ctx(const struct pki *p)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	assert_non_null(ctx);
	assert_int_equal(lm_tls_configure(ctx), 0);
	assert_int_equal(SSL_CTX_use_certificate_chain_file(ctx, p->cert), 1);
	assert_int_equal(SSL_CTX_use_PrivateKey_file(ctx, p->key, SSL_FILETYPE_PEM), 1);
	return ctx;
}

/* A client context that trusts the platform CA and checks the name. */
static SSL_CTX *client_ctx(const struct pki *p)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	assert_non_null(ctx);
	assert_int_equal(SSL_CTX_load_verify_locations(ctx, p->ca, NULL), 1);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	return ctx;
}

/* Runs a handshake between the two contexts over memory BIOs. Returns 1 on
 * success and stores the negotiated suite name in suite. */
static int handshake(SSL_CTX *sctx, SSL_CTX *cctx, char *suite, size_t suite_size)
{
	SSL *s = SSL_new(sctx), *c = SSL_new(cctx);
	BIO *sb, *cb;
	int done_s = 0, done_c = 0, ok = 0;

	assert_non_null(s);
	assert_non_null(c);
	assert_int_equal(BIO_new_bio_pair(&sb, 0, &cb, 0), 1);
	SSL_set_bio(s, sb, sb);
	SSL_set_bio(c, cb, cb);
	SSL_set_accept_state(s);
	SSL_set_connect_state(c);
	assert_int_equal(SSL_set1_host(c, "localhost"), 1);
	for (int i = 0; i < 20 && !(done_s && done_c); i++) {
		int rc = SSL_do_handshake(c), rs;

		if (rc == 1)
			done_c = 1;
		else if (SSL_get_error(c, rc) != SSL_ERROR_WANT_READ)
			break;
		rs = SSL_do_handshake(s);
		if (rs == 1)
			done_s = 1;
		else if (SSL_get_error(s, rs) != SSL_ERROR_WANT_READ)
			break;
	}
	if (done_s && done_c) {
		ok = 1;
		assert_int_equal(SSL_version(c), TLS1_3_VERSION);
		assert_int_equal(SSL_version(s), TLS1_3_VERSION);
		snprintf(suite, suite_size, "%s", SSL_CIPHER_get_name(SSL_get_current_cipher(c)));
	}
	ERR_clear_error();
	SSL_free(s);
	SSL_free(c);
	return ok;
}

static void test_configure_null(void **state)
{
	(void)state;
	assert_int_equal(lm_tls_configure(NULL), LM_EINVAL);
}

static void test_handshake_policy(void **state)
{
	struct pki *p = *state;
	SSL_CTX *sctx = server_ctx(p), *cctx = client_ctx(p);
	char suite[64] = "";

	assert_int_equal(SSL_CTX_get_min_proto_version(sctx), TLS1_3_VERSION);
	assert_int_equal(SSL_CTX_get_max_proto_version(sctx), TLS1_3_VERSION);
	assert_int_equal(SSL_CTX_get_num_tickets(sctx), 0);
	assert_true(SSL_CTX_get_options(sctx) & SSL_OP_NO_COMPRESSION);
	assert_true(SSL_CTX_get_options(sctx) & SSL_OP_NO_RENEGOTIATION);

	/* Both sides configured: TLS 1.3 and one of the two suites. */
	assert_int_equal(lm_tls_configure(cctx), 0);
	assert_int_equal(handshake(sctx, cctx, suite, sizeof(suite)), 1);
	assert_true(strcmp(suite, "TLS_AES_256_GCM_SHA384") == 0 || strcmp(suite, "TLS_CHACHA20_POLY1305_SHA256") == 0);
	SSL_CTX_free(cctx);

	/* A plain client that prefers ChaCha20 gets it: the second suite is
	 * really enabled on the server. */
	cctx = client_ctx(p);
	assert_int_equal(SSL_CTX_set_ciphersuites(cctx, "TLS_CHACHA20_POLY1305_SHA256"), 1);
	assert_int_equal(handshake(sctx, cctx, suite, sizeof(suite)), 1);
	assert_string_equal(suite, "TLS_CHACHA20_POLY1305_SHA256");
	SSL_CTX_free(cctx);
	SSL_CTX_free(sctx);
}

static void test_refuses_tls12(void **state)
{
	struct pki *p = *state;
	SSL_CTX *sctx = server_ctx(p), *cctx = client_ctx(p);
	char suite[64];

	assert_int_equal(SSL_CTX_set_max_proto_version(cctx, TLS1_2_VERSION), 1);
	assert_int_equal(handshake(sctx, cctx, suite, sizeof(suite)), 0);
	SSL_CTX_free(cctx);

	/* A configured client also refuses a TLS 1.2-only server. */
	cctx = client_ctx(p);
	assert_int_equal(lm_tls_configure(cctx), 0);
	SSL_CTX_free(sctx);
	sctx = SSL_CTX_new(TLS_server_method());
	assert_int_equal(SSL_CTX_use_certificate_chain_file(sctx, p->cert), 1);
	assert_int_equal(SSL_CTX_use_PrivateKey_file(sctx, p->key, SSL_FILETYPE_PEM), 1);
	assert_int_equal(SSL_CTX_set_max_proto_version(sctx, TLS1_2_VERSION), 1);
	assert_int_equal(handshake(sctx, cctx, suite, sizeof(suite)), 0);
	SSL_CTX_free(cctx);
	SSL_CTX_free(sctx);
}

static void test_refuses_other_suites(void **state)
{
	struct pki *p = *state;
	SSL_CTX *sctx = server_ctx(p), *cctx = client_ctx(p);
	char suite[64];

	assert_int_equal(SSL_CTX_set_ciphersuites(cctx, "TLS_AES_128_GCM_SHA256"), 1);
	assert_int_equal(handshake(sctx, cctx, suite, sizeof(suite)), 0);
	SSL_CTX_free(cctx);

	cctx = client_ctx(p);
	assert_int_equal(SSL_CTX_set_ciphersuites(cctx, "TLS_AES_128_CCM_SHA256"), 1);
	assert_int_equal(handshake(sctx, cctx, suite, sizeof(suite)), 0);
	SSL_CTX_free(cctx);
	SSL_CTX_free(sctx);
}

static void test_wrong_name_or_ca(void **state)
{
	struct pki *p = *state;
	SSL_CTX *sctx = server_ctx(p), *cctx;
	char other_ca[160], other_key[160], suite[64];

	/* A client that trusts another CA refuses the server. */
	snprintf(other_ca, sizeof(other_ca), "%s/other.pem", p->dir);
	snprintf(other_key, sizeof(other_key), "%s/other.key", p->dir);
	assert_int_equal(lm_pki_make_ca(other_ca, other_key), 0);
	cctx = SSL_CTX_new(TLS_client_method());
	assert_int_equal(lm_tls_configure(cctx), 0);
	assert_int_equal(SSL_CTX_load_verify_locations(cctx, other_ca, NULL), 1);
	SSL_CTX_set_verify(cctx, SSL_VERIFY_PEER, NULL);
	assert_int_equal(handshake(sctx, cctx, suite, sizeof(suite)), 0);
	SSL_CTX_free(cctx);
	SSL_CTX_free(sctx);
}

static void test_pki_files(void **state)
{
	struct pki *p = *state;
	char path[160];
	struct stat st;
	X509 *cert;
	FILE *f;

	assert_int_equal(stat(p->ca_key, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(stat(p->key, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	/* Never overwrites. */
	assert_int_equal(lm_pki_make_ca(p->ca, p->ca_key), LM_EEXIST);
	/* A CA certificate with the wrong key is refused. */
	snprintf(path, sizeof(path), "%s/x.pem", p->dir);
	assert_int_equal(lm_pki_make_server(p->ca, p->key, path, path), LM_ECRYPTO);
	ERR_clear_error();

	f = fopen(p->cert, "r");
	assert_non_null(f);
	cert = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	assert_non_null(cert);
	assert_int_equal(X509_check_host(cert, "localhost", 0, 0, NULL), 1);
	assert_int_equal(X509_check_ip_asc(cert, "127.0.0.1", 0), 1);
	assert_int_equal(X509_check_ip_asc(cert, "::1", 0), 1);
	assert_int_not_equal(X509_check_host(cert, "example.com", 0, 0, NULL), 1);
	assert_int_equal(X509_check_ca(cert), 0);
	X509_free(cert);
}

static void test_client_errors(void **state)
{
	struct pki *p = *state;
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	struct lm_client *c;
	char url[64], *resp = NULL;
	size_t size;
	long status = 0;
	int fd;

	assert_int_equal(lm_client_new("http://127.0.0.1:1", p->ca, NULL, &c), LM_EINVAL);
	assert_int_equal(lm_client_new("https://127.0.0.1:1", NULL, NULL, &c), LM_EINVAL);

	/* A port that nobody listens on: LM_EUNAVAIL. */
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	close(fd);
	snprintf(url, sizeof(url), "https://127.0.0.1:%u/", ntohs(sa.sin_port));
	assert_int_equal(lm_client_new(url, p->ca, "lmt_000000000000_00", &c), 0);
	assert_int_equal(lm_client_request(c, "GET", "v1/health", NULL, &status, &resp, &size), LM_EINVAL);
	assert_int_equal(lm_client_request(c, "GET", "/v1/health", NULL, &status, &resp, &size), LM_EUNAVAIL);
	assert_null(resp);
	lm_client_free(c);
	lm_client_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_configure_null),
		cmocka_unit_test_setup_teardown(test_handshake_policy, pki_setup, pki_teardown),
		cmocka_unit_test_setup_teardown(test_refuses_tls12, pki_setup, pki_teardown),
		cmocka_unit_test_setup_teardown(test_refuses_other_suites, pki_setup, pki_teardown),
		cmocka_unit_test_setup_teardown(test_wrong_name_or_ca, pki_setup, pki_teardown),
		cmocka_unit_test_setup_teardown(test_pki_files, pki_setup, pki_teardown),
		cmocka_unit_test_setup_teardown(test_client_errors, pki_setup, pki_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
