/* The platform PKI of a single-node control plane: one ECDSA P-256 CA made
 * on the first start of lambdad, and the listener's certificate for the
 * loopback names, signed by it. Clients trust only this CA (CURLOPT_CAINFO),
 * never the system store. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "lambda/log.h"
#include "lambda/net.h"
#include "lambda/secret.h"
#include "lambda/util.h"

#define PKI_DAYS (10L * 365 + 3)

static int make_key(EVP_PKEY **out)
{
	EVP_PKEY *pkey = EVP_EC_gen("P-256");

	if (!pkey)
		return lm_log_ossl("EVP_EC_gen(P-256)");
	*out = pkey;
	return 0;
}

/* Writes key as unencrypted PKCS#8 PEM to a new file of mode 0600; the PEM
 * text is wiped from memory afterwards. */
static int save_key(const char *path, EVP_PKEY *key)
{
	BIO *bio = BIO_new(BIO_s_secmem());
	char *data;
	long size;
	int r;

	if (!bio)
		return lm_log_ossl("BIO_new");
	if ((r = LM_OSSL(PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL))) < 0)
		goto out;
	size = BIO_get_mem_data(bio, &data);
	r = lm_file_write_new(path, data, (size_t)size, 0600);
out:
	BIO_free(bio);	/* secure heap BIO: cleansed on free */
	return r;
}

static int save_cert(const char *path, X509 *cert)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data;
	long size;
	int r;

	if (!bio)
		return lm_log_ossl("BIO_new");
	if ((r = LM_OSSL(PEM_write_bio_X509(bio, cert))) < 0)
		goto out;
	size = BIO_get_mem_data(bio, &data);
	r = lm_file_write_new(path, data, (size_t)size, 0644);
out:
	BIO_free(bio);
	return r;
}

static int load_pem(const char *path, bool is_key, void **out)
{
	uint8_t *text = NULL;
	size_t size = 0;
	BIO *bio = NULL;
	void *obj;
	int r;

	r = is_key ? lm_file_read_private(path, 1 << 20, &text, &size) : lm_file_read(path, 1 << 20, &text, &size);
	if (r < 0)
		return r;
	if (!(bio = BIO_new_mem_buf(text, (int)size))) {
		r = lm_log_ossl("BIO_new_mem_buf");
		goto out;
	}
	obj = is_key ? (void *)PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : (void *)PEM_read_bio_X509(bio, NULL, NULL, NULL);
	if (!obj) {
		lm_log_ossl(path);
		r = LM_EFORMAT;
		goto out;
	}
	*out = obj;
	r = 0;
out:
	BIO_free(bio);
	if (is_key)
		lm_free_wiped_size(text, size);
	else
		free(text);
	return r;
}

static int add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	int r;

	X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
	if (!(ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value)))
		return lm_log_ossl(value);
	r = LM_OSSL(X509_add_ext(cert, ext, -1));
	X509_EXTENSION_free(ext);
	return r;
}

/* A certificate for key with subject CN=cn, valid from now for PKI_DAYS,
 * with a random 128-bit serial; not yet signed. */
static int cert_new(EVP_PKEY *key, const char *cn, X509 **out)
{
	X509 *cert = X509_new();
	uint8_t serial[16];
	BIGNUM *bn = NULL;
	X509_NAME *name;
	int r = LM_ECRYPTO;

	if (!cert)
		return lm_log_ossl("X509_new");
	if ((r = lm_random(serial, sizeof(serial))) < 0)
		goto out;
	serial[0] &= 0x7f;	/* positive */
	serial[0] |= 0x40;	/* and not shortened */
	if (!(bn = BN_bin2bn(serial, sizeof(serial), NULL)) || !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)) ||
	    !X509_gmtime_adj(X509_getm_notBefore(cert), -3600) ||
	    !X509_gmtime_adj(X509_getm_notAfter(cert), PKI_DAYS * 24 * 3600)) {
		r = lm_log_ossl("certificate fields");
		goto out;
	}
	name = X509_get_subject_name(cert);
	if ((r = LM_OSSL(X509_set_version(cert, X509_VERSION_3))) < 0 ||
	    (r = LM_OSSL(X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"lambda", -1, -1,
						     0))) < 0 ||
	    (r = LM_OSSL(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1,
						     0))) < 0 ||
	    (r = LM_OSSL(X509_set_pubkey(cert, key))) < 0)
		goto out;
	*out = cert;
	cert = NULL;
	r = 0;
out:
	BN_free(bn);
	X509_free(cert);
	return r;
}

int lm_pki_make_ca(const char *cert_path, const char *key_path)
{
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	int r;

	if ((r = make_key(&key)) < 0 || (r = cert_new(key, "lambda platform CA", &cert)) < 0)
		goto out;
	if ((r = LM_OSSL(X509_set_issuer_name(cert, X509_get_subject_name(cert)))) < 0 ||
	    (r = add_ext(cert, cert, NID_basic_constraints, "critical,CA:TRUE,pathlen:0")) < 0 ||
	    (r = add_ext(cert, cert, NID_key_usage, "critical,keyCertSign,cRLSign")) < 0 ||
	    (r = add_ext(cert, cert, NID_subject_key_identifier, "hash")) < 0)
		goto out;
	if (X509_sign(cert, key, EVP_sha256()) <= 0) {
		r = lm_log_ossl("X509_sign");
		goto out;
	}
	/* The key first: a certificate without its key is useless, a key
	 * without a certificate is simply remade after removal. */
	if ((r = save_key(key_path, key)) < 0 || (r = save_cert(cert_path, cert)) < 0)
		goto out;
	lm_info("made platform CA %s", cert_path);
out:
	X509_free(cert);
	EVP_PKEY_free(key);
	return r;
}

int lm_pki_make_server(const char *ca_cert_path, const char *ca_key_path, const char *cert_path,
		       const char *key_path)
{
	EVP_PKEY *ca_key = NULL, *key = NULL;
	X509 *ca = NULL, *cert = NULL;
	int r;

	if ((r = load_pem(ca_cert_path, false, (void **)&ca)) < 0 ||
	    (r = load_pem(ca_key_path, true, (void **)&ca_key)) < 0)
		goto out;
	if ((r = LM_OSSL(X509_check_private_key(ca, ca_key))) < 0)
		goto out;
	if ((r = make_key(&key)) < 0 || (r = cert_new(key, "localhost", &cert)) < 0)
		goto out;
	if ((r = LM_OSSL(X509_set_issuer_name(cert, X509_get_subject_name(ca)))) < 0 ||
	    (r = add_ext(cert, ca, NID_basic_constraints, "critical,CA:FALSE")) < 0 ||
	    (r = add_ext(cert, ca, NID_key_usage, "critical,digitalSignature")) < 0 ||
	    (r = add_ext(cert, ca, NID_ext_key_usage, "serverAuth")) < 0 ||
	    (r = add_ext(cert, ca, NID_subject_alt_name, "IP:127.0.0.1,IP:::1,DNS:localhost")) < 0 ||
	    (r = add_ext(cert, ca, NID_authority_key_identifier, "keyid:always")) < 0)
		goto out;
	if (X509_sign(cert, ca_key, EVP_sha256()) <= 0) {
		r = lm_log_ossl("X509_sign");
		goto out;
	}
	if ((r = save_key(key_path, key)) < 0 || (r = save_cert(cert_path, cert)) < 0)
		goto out;
	lm_info("issued server certificate %s", cert_path);
out:
	X509_free(cert);
	X509_free(ca);
	EVP_PKEY_free(key);
	EVP_PKEY_free(ca_key);
	return r;
}
