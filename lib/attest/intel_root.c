/* The Intel SGX Root CA: the trust anchor of every DCAP quote and of the
 * TCB Info and QE Identity collateral. It is a public certificate; we also
 * pin the SHA-256 of its SubjectPublicKeyInfo, so that a certificate that
 * merely carries the same name (a look-alike root) is never accepted as
 * the anchor, whatever store or file it arrives through. */
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "attest/dcap_int.h"
#include "lambda/log.h"

static const char g_intel_root_pem[] =
	"-----BEGIN CERTIFICATE-----\n"
	"MIICjzCCAjSgAwIBAgIUImUM1lqdNInzg7SVUr9QGzknBqwwCgYIKoZIzj0EAwIw\n"
	"aDEaMBgGA1UEAwwRSW50ZWwgU0dYIFJvb3QgQ0ExGjAYBgNVBAoMEUludGVsIENv\n"
	"cnBvcmF0aW9uMRQwEgYDVQQHDAtTYW50YSBDbGFyYTELMAkGA1UECAwCQ0ExCzAJ\n"
	"BgNVBAYTAlVTMB4XDTE4MDUyMTEwNDUxMFoXDTQ5MTIzMTIzNTk1OVowaDEaMBgG\n"
	"A1UEAwwRSW50ZWwgU0dYIFJvb3QgQ0ExGjAYBgNVBAoMEUludGVsIENvcnBvcmF0\n"
	"aW9uMRQwEgYDVQQHDAtTYW50YSBDbGFyYTELMAkGA1UECAwCQ0ExCzAJBgNVBAYT\n"
	"AlVTMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEC6nEwMDIYZOj/iPWsCzaEKi7\n"
	"1OiOSLRFhWGjbnBVJfVnkY4u3IjkDYYL0MxO4mqsyYjlBalTVYxFP2sJBK5zlKOB\n"
	"uzCBuDAfBgNVHSMEGDAWgBQiZQzWWp00ifODtJVSv1AbOScGrDBSBgNVHR8ESzBJ\n"
	"MEegRaBDhkFodHRwczovL2NlcnRpZmljYXRlcy50cnVzdGVkc2VydmljZXMuaW50\n"
	"ZWwuY29tL0ludGVsU0dYUm9vdENBLmRlcjAdBgNVHQ4EFgQUImUM1lqdNInzg7SV\n"
	"Ur9QGzknBqwwDgYDVR0PAQH/BAQDAgEGMBIGA1UdEwEB/wQIMAYBAf8CAQEwCgYI\n"
	"KoZIzj0EAwIDSQAwRgIhAOW/5QkR+S9CiSDcNoowLuPRLsWGf/Yi7GSX94BgwTwg\n"
	"AiEA4J0lrHoMs+Xo5o/sX6O9QWxHRAvZUGOdRQ7cvqRXaqI=\n"
	"-----END CERTIFICATE-----\n"	;

/* SHA-256 of the DER SubjectPublicKeyInfo of the certificate above. */
static const uint8_t g_intel_root_spki_sha256[32] = {
	0xa0, 0xaf, 0x03, 0x12, 0x89, 0xf5, 0xd5, 0xd4, 0x13, 0x2f, 0x91, 0x86, 0x06, 0x8a, 0x7f, 0xc1,
	0x36, 0x28, 0x63, 0x3b, 0xa2, 0x35, 0x77, 0x74, 0x72, 0xe2, 0x9b, 0x6b, 0x6c, 0x67, 0xa4, 0x9e,
};

int lm_dcap_spki_sha256(X509 *cert, uint8_t out[static 32])
{
	unsigned char *der = NULL;
	int n, r;

	if ((n = i2d_PUBKEY(X509_get0_pubkey(cert), &der)) <= 0)
		return lm_log_ossl("i2d_PUBKEY");
	r = LM_OSSL(EVP_Digest(der, (size_t)n, out, NULL, EVP_sha256(), NULL));
	OPENSSL_free(der);
	return r;
}

bool lm_dcap_is_intel_root(X509 *cert)
{
	uint8_t md[32];

	return cert && lm_dcap_spki_sha256(cert, md) == 0 &&
	       CRYPTO_memcmp(md, g_intel_root_spki_sha256, sizeof(md)) == 0;
}

int lm_dcap_intel_root(X509 **out)
{
	BIO *bio = BIO_new_mem_buf(g_intel_root_pem, -1);
	X509 *cert;

	if (!bio)
		return LM_ENOMEM;
	cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	BIO_free(bio);
	if (!cert)
		return lm_log_ossl("built-in Intel SGX Root CA");
	if (!lm_dcap_is_intel_root(cert)) {	/* the PEM and the pin must agree */
		X509_free(cert);
		lm_err("built-in Intel SGX Root CA does not match its pinned key");
		return LM_ECRYPTO;
	}
	*out = cert;
	return 0;
}
