/* AMD's SEV-SNP certificates: the built-in ARKs (AMD Root Keys) of Milan,
 * Genoa and Turin, pinned by the SHA-256 of their SubjectPublicKeyInfo; the
 * loading of certificates from PEM or DER; the AMD extensions of a VCEK or
 * VLEK; and the chain ARK (self-signed) -> ASK or ASVK -> VCEK or VLEK, all
 * signed with RSASSA-PSS SHA-384. Certificates are told apart by content
 * (self-signed or not, key type, subject), never by file name.
 *
 * The ARKs below are AMD's public root certificates as the AMD Key
 * Distribution Service serves them (kdsintf.amd.com/vcek/v1/<product>/
 * cert_chain, second certificate). */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "attest/attest_int.h"
#include "attest/snp_int.h"
#include "lambda/log.h"
#include "lambda/util.h"

#define CERT_FILE_MAX (1u << 20)

static const char g_ark_milan[] =
	"-----BEGIN CERTIFICATE-----\n"
	"MIIGYzCCBBKgAwIBAgIDAQAAMEYGCSqGSIb3DQEBCjA5oA8wDQYJYIZIAWUDBAIC\n"
	"BQChHDAaBgkqhkiG9w0BAQgwDQYJYIZIAWUDBAICBQCiAwIBMKMDAgEBMHsxFDAS\n"
	"BgNVBAsMC0VuZ2luZWVyaW5nMQswCQYDVQQGEwJVUzEUMBIGA1UEBwwLU2FudGEg\n"
	"Q2xhcmExCzAJBgNVBAgMAkNBMR8wHQYDVQQKDBZBZHZhbmNlZCBNaWNybyBEZXZp\n"
	"Y2VzMRIwEAYDVQQDDAlBUkstTWlsYW4wHhcNMjAxMDIyMTcyMzA1WhcNNDUxMDIy\n"
	"MTcyMzA1WjB7MRQwEgYDVQQLDAtFbmdpbmVlcmluZzELMAkGA1UEBhMCVVMxFDAS\n"
	"BgNVBAcMC1NhbnRhIENsYXJhMQswCQYDVQQIDAJDQTEfMB0GA1UECgwWQWR2YW5j\n"
	"ZWQgTWljcm8gRGV2aWNlczESMBAGA1UEAwwJQVJLLU1pbGFuMIICIjANBgkqhkiG\n"
	"9w0BAQEFAAOCAg8AMIICCgKCAgEA0Ld52RJOdeiJlqK2JdsVmD7FktuotWwX1fNg\n"
	"W41XY9Xz1HEhSUmhLz9Cu9DHRlvgJSNxbeYYsnJfvyjx1MfU0V5tkKiU1EesNFta\n"
	"1kTA0szNisdYc9isqk7mXT5+KfGRbfc4V/9zRIcE8jlHN61S1ju8X93+6dxDUrG2\n"
	"SzxqJ4BhqyYmUDruPXJSX4vUc01P7j98MpqOS95rORdGHeI52Naz5m2B+O+vjsC0\n"
	"60d37jY9LFeuOP4Meri8qgfi2S5kKqg/aF6aPtuAZQVR7u3KFYXP59XmJgtcog05\n"
	"gmI0T/OitLhuzVvpZcLph0odh/1IPXqx3+MnjD97A7fXpqGd/y8KxX7jksTEzAOg\n"
	"bKAeam3lm+3yKIcTYMlsRMXPcjNbIvmsBykD//xSniusuHBkgnlENEWx1UcbQQrs\n"
	"+gVDkuVPhsnzIRNgYvM48Y+7LGiJYnrmE8xcrexekBxrva2V9TJQqnN3Q53kt5vi\n"
	"Qi3+gCfmkwC0F0tirIZbLkXPrPwzZ0M9eNxhIySb2npJfgnqz55I0u33wh4r0ZNQ\n"
	"eTGfw03MBUtyuzGesGkcw+loqMaq1qR4tjGbPYxCvpCq7+OgpCCoMNit2uLo9M18\n"
	"fHz10lOMT8nWAUvRZFzteXCm+7PHdYPlmQwUw3LvenJ/ILXoQPHfbkH0CyPfhl1j\n"
	"WhJFZasCAwEAAaN+MHwwDgYDVR0PAQH/BAQDAgEGMB0GA1UdDgQWBBSFrBrRQ/fI\n"
	"rFXUxR1BSKvVeErUUzAPBgNVHRMBAf8EBTADAQH/MDoGA1UdHwQzMDEwL6AtoCuG\n"
	"KWh0dHBzOi8va2RzaW50Zi5hbWQuY29tL3ZjZWsvdjEvTWlsYW4vY3JsMEYGCSqG\n"
	"SIb3DQEBCjA5oA8wDQYJYIZIAWUDBAICBQChHDAaBgkqhkiG9w0BAQgwDQYJYIZI\n"
	"AWUDBAICBQCiAwIBMKMDAgEBA4ICAQC6m0kDp6zv4Ojfgy+zleehsx6ol0ocgVel\n"
	"ETobpx+EuCsqVFRPK1jZ1sp/lyd9+0fQ0r66n7kagRk4Ca39g66WGTJMeJdqYriw\n"
	"STjjDCKVPSesWXYPVAyDhmP5n2v+BYipZWhpvqpaiO+EGK5IBP+578QeW/sSokrK\n"
	"dHaLAxG2LhZxj9aF73fqC7OAJZ5aPonw4RE299FVarh1Tx2eT3wSgkDgutCTB1Yq\n"
	"zT5DuwvAe+co2CIVIzMDamYuSFjPN0BCgojl7V+bTou7dMsqIu/TW/rPCX9/EUcp\n"
	"KGKqPQ3P+N9r1hjEFY1plBg93t53OOo49GNI+V1zvXPLI6xIFVsh+mto2RtgEX/e\n"
	"pmMKTNN6psW88qg7c1hTWtN6MbRuQ0vm+O+/2tKBF2h8THb94OvvHHoFDpbCELlq\n"
	"HnIYhxy0YKXGyaW1NjfULxrrmxVW4wcn5E8GddmvNa6yYm8scJagEi13mhGu4Jqh\n"
	"3QU3sf8iUSUr09xQDwHtOQUVIqx4maBZPBtSMf+qUDtjXSSq8lfWcd8bLr9mdsUn\n"
	"JZJ0+tuPMKmBnSH860llKk+VpVQsgqbzDIvOLvD6W1Umq25boxCYJ+TuBoa4s+HH\n"
	"CViAvgT9kf/rBq1d+ivj6skkHxuzcxbk1xv6ZGxrteJxVH7KlX7YRdZ6eARKwLe4\n"
	"AFZEAwoKCQ==\n"
	"-----END CERTIFICATE-----\n"
;
static const char g_ark_genoa[] =
	"-----BEGIN CERTIFICATE-----\n"
	"MIIGYzCCBBKgAwIBAgIDAgAAMEYGCSqGSIb3DQEBCjA5oA8wDQYJYIZIAWUDBAIC\n"
	"BQChHDAaBgkqhkiG9w0BAQgwDQYJYIZIAWUDBAICBQCiAwIBMKMDAgEBMHsxFDAS\n"
	"BgNVBAsMC0VuZ2luZWVyaW5nMQswCQYDVQQGEwJVUzEUMBIGA1UEBwwLU2FudGEg\n"
	"Q2xhcmExCzAJBgNVBAgMAkNBMR8wHQYDVQQKDBZBZHZhbmNlZCBNaWNybyBEZXZp\n"
	"Y2VzMRIwEAYDVQQDDAlBUkstR2Vub2EwHhcNMjIwMTI2MTUzNDM3WhcNNDcwMTI2\n"
	"MTUzNDM3WjB7MRQwEgYDVQQLDAtFbmdpbmVlcmluZzELMAkGA1UEBhMCVVMxFDAS\n"
	"BgNVBAcMC1NhbnRhIENsYXJhMQswCQYDVQQIDAJDQTEfMB0GA1UECgwWQWR2YW5j\n"
	"ZWQgTWljcm8gRGV2aWNlczESMBAGA1UEAwwJQVJLLUdlbm9hMIICIjANBgkqhkiG\n"
	"9w0BAQEFAAOCAg8AMIICCgKCAgEA3Cd95S/uFOuRIskW9vz9VDBF69NDQF79oRhL\n"
	"/L2PVQGhK3YdfEBgpF/JiwWFBsT/fXDhzA01p3LkcT/7LdjcRfKXjHl+0Qq/M4dZ\n"
	"kh6QDoUeKzNBLDcBKDDGWo3v35NyrxbA1DnkYwUKU5AAk4P94tKXLp80oxt84ahy\n"
	"HoLmc/LqsGsp+oq1Bz4PPsYLwTG4iMKVaaT90/oZ4I8oibSru92vJhlqWO27d/Rx\n"
	"c3iUMyhNeGToOvgx/iUo4gGpG61NDpkEUvIzuKcaMx8IdTpWg2DF6SwF0IgVMffn\n"
	"vtJmA68BwJNWo1E4PLJdaPfBifcJpuBFwNVQIPQEVX3aP89HJSp8YbY9lySS6PlV\n"
	"EqTBBtaQmi4ATGmMR+n2K/e+JAhU2Gj7jIpJhOkdH9firQDnmlA2SFfJ/Cc0mGNz\n"
	"W9RmIhyOUnNFoclmkRhl3/AQU5Ys9Qsan1jT/EiyT+pCpmnA+y9edvhDCbOG8F2o\n"
	"xHGRdTBkylungrkXJGYiwGrR8kaiqv7NN8QhOBMqYjcbrkEr0f8QMKklIS5ruOfq\n"
	"lLMCBw8JLB3LkjpWgtD7OpxkzSsohN47Uom86RY6lp72g8eXHP1qYrnvhzaG1S70\n"
	"vw6OkbaaC9EjiH/uHgAJQGxon7u0Q7xgoREWA/e7JcBQwLg80Hq/sbRuqesxz7wB\n"
	"WSY254cCAwEAAaN+MHwwDgYDVR0PAQH/BAQDAgEGMB0GA1UdDgQWBBSfXfn+Ddjz\n"
	"WtAzGiXvgSlPvjGoWzAPBgNVHRMBAf8EBTADAQH/MDoGA1UdHwQzMDEwL6AtoCuG\n"
	"KWh0dHBzOi8va2RzaW50Zi5hbWQuY29tL3ZjZWsvdjEvR2Vub2EvY3JsMEYGCSqG\n"
	"SIb3DQEBCjA5oA8wDQYJYIZIAWUDBAICBQChHDAaBgkqhkiG9w0BAQgwDQYJYIZI\n"
	"AWUDBAICBQCiAwIBMKMDAgEBA4ICAQAdIlPBC7DQmvH7kjlOznFx3i21SzOPDs5L\n"
	"7SgFjMC9rR07292GQCA7Z7Ulq97JQaWeD2ofGGse5swj4OQfKfVv/zaJUFjvosZO\n"
	"nfZ63epu8MjWgBSXJg5QE/Al0zRsZsp53DBTdA+Uv/s33fexdenT1mpKYzhIg/cK\n"
	"tz4oMxq8JKWJ8Po1CXLzKcfrTphjlbkh8AVKMXeBd2SpM33B1YP4g1BOdk013kqb\n"
	"7bRHZ1iB2JHG5cMKKbwRCSAAGHLTzASgDcXr9Fp7Z3liDhGu/ci1opGmkp12QNiJ\n"
	"uBbkTU+xDZHm5X8Jm99BX7NEpzlOwIVR8ClgBDyuBkBC2ljtr3ZSaUIYj2xuyWN9\n"
	"5KFY49nWxcz90CFa3Hzmy4zMQmBe9dVyls5eL5p9bkXcgRMDTbgmVZiAf4afe8DL\n"
	"dmQcYcMFQbHhgVzMiyZHGJgcCrQmA7MkTwEIds1wx/HzMcwU4qqNBAoZV7oeIIPx\n"
	"dqFXfPqHqiRlEbRDfX1TG5NFVaeByX0GyH6jzYVuezETzruaky6fp2bl2bczxPE8\n"
	"HdS38ijiJmm9vl50RGUeOAXjSuInGR4bsRufeGPB9peTa9BcBOeTWzstqTUB/F/q\n"
	"aZCIZKr4X6TyfUuSDz/1JDAGl+lxdM0P9+lLaP9NahQjHCVf0zf1c1salVuGFk2w\n"
	"/wMz1R1BHg==\n"
	"-----END CERTIFICATE-----\n"
;
static const char g_ark_turin[] =
	"-----BEGIN CERTIFICATE-----\n"
	"MIIGYzCCBBKgAwIBAgIDAwAAMEYGCSqGSIb3DQEBCjA5oA8wDQYJYIZIAWUDBAIC\n"
	"BQChHDAaBgkqhkiG9w0BAQgwDQYJYIZIAWUDBAICBQCiAwIBMKMDAgEBMHsxFDAS\n"
	"BgNVBAsMC0VuZ2luZWVyaW5nMQswCQYDVQQGEwJVUzEUMBIGA1UEBwwLU2FudGEg\n"
	"Q2xhcmExCzAJBgNVBAgMAkNBMR8wHQYDVQQKDBZBZHZhbmNlZCBNaWNybyBEZXZp\n"
	"Y2VzMRIwEAYDVQQDDAlBUkstVHVyaW4wHhcNMjMwNTE1MjAwMzEyWhcNNDgwNTE1\n"
	"MjAwMzEyWjB7MRQwEgYDVQQLDAtFbmdpbmVlcmluZzELMAkGA1UEBhMCVVMxFDAS\n"
	"BgNVBAcMC1NhbnRhIENsYXJhMQswCQYDVQQIDAJDQTEfMB0GA1UECgwWQWR2YW5j\n"
	"ZWQgTWljcm8gRGV2aWNlczESMBAGA1UEAwwJQVJLLVR1cmluMIICIjANBgkqhkiG\n"
	"9w0BAQEFAAOCAg8AMIICCgKCAgEAwaAriB7EIuVc4ZB1wD3YfDxL+9eyS7+izm0J\n"
	"j3W772NINCWl8Bj3w/JD2ZjmbRxWdIq/4d9iarCKorXloJUB1jRdgxqccTx1aOoi\n"
	"g4+2w1XhVVJT7K457wT5ZLNJgQaxqa9Etkwjd6+9sOhlCDE9l43kQ0R2BikVJa/u\n"
	"yyVOSwEk5w5tXKOuG9jvq6QtAMJasW38wlqRDaKEGtZ9VUgGon27ZuL4sTJuC/az\n"
	"z9/iQBw8kEilzOl95AiTkeY5jSEBDWbAqnZk5qlM7kISKG20kgQm14mhNKDI2p2o\n"
	"ua+zuAG7i52epoRF2GfU0TYk/yf+vCNB2tnechFQuP2e8bLk95ZdqPi9/UWw4JXj\n"
	"tdEA4u2JYplSSUPQVAXKt6LVqujtJcM59JKr2u0XQ75KwxcMp15gSXhBfInvPAwu\n"
	"AY4dEwwGqT8oIg4esPHwEsmChhYeDIxPG9R4fx9O0q6p8Gb+HXlTiS47P9YNeOpi\n"
	"dOUKzDl/S1OvyhDtSL8LJc24QATFydo/iD/KUdvFTRlD0crkAMkZLoWQ8hLDGc6B\n"
	"ZJXsdd7Zf2e4UW3tI/1oh/2t23Ot3zyhTcv5gDbABu0LjVe98uRnS15SMwK//lJt\n"
	"9e5BqKvgABkSoABf+B4VFtPVEX0ygrYaFaI9i5ABrxnVBmzXpRb21iI1NlNCfOGU\n"
	"PIhVpWECAwEAAaN+MHwwDgYDVR0PAQH/BAQDAgEGMB0GA1UdDgQWBBRkoF9x4wwK\n"
	"ZNg7deUBWZ4r7gYDRDAPBgNVHRMBAf8EBTADAQH/MDoGA1UdHwQzMDEwL6AtoCuG\n"
	"KWh0dHBzOi8va2RzaW50Zi5hbWQuY29tL3ZjZWsvdjEvVHVyaW4vY3JsMEYGCSqG\n"
	"SIb3DQEBCjA5oA8wDQYJYIZIAWUDBAICBQChHDAaBgkqhkiG9w0BAQgwDQYJYIZI\n"
	"AWUDBAICBQCiAwIBMKMDAgEBA4ICAQA/i6Mz4IETMK8YU/HxP7Bfej5i4aXhenJo\n"
	"TuiDX0nqx5CDJm9ELhskxAkJ/oLA1O92UoLybfFk4gEpKFtyfiUYex9LogZj5ix0\n"
	"sb2qfSSy9CRnOktGqfpel4e3KAhLgF5n2qZrqyq/8EPPldtSjEXn78sZMlIlUcQK\n"
	"SnnNCQZVFpktDfDiEiGNuitux3ghHUrcVuxSbZcrXDbsbMF7NDdfLUUS9TijrL33\n"
	"lrCXJs7m8kggGyCusiRQKHli1AEswiA4xU+8xsZrByYTopiGYtbJK8s0UCCXylyO\n"
	"uKSubvdAnMDJ5GDD0+DX46LSfv7fgGNSG+LOBWdif7KoQf9cIhKJtxGxZCn/tvHm\n"
	"wMzu4Jnx8N2vRnT+8DpBqhxtNvdXmrZUelSeQakx4djMKvmTR8Gd25EnC4RppCkj\n"
	"bmPxY3zPd1X7raalTn34EOF9DeLsC9JfzkDuojxpHWMm30wKnDo20mlDQk/zKCDa\n"
	"2Zc+YjtsTZCrTbvdgCukTKNZOUUVlWRu+sO/OwrmS2p16seHTIqHEbE1LntPv3gk\n"
	"CcHGDSUAKx9c0Aol+Dj9xpb2nmGqoDeJ59Ja6REkHCdw5TduXyqqMqfD1AX0/QDN\n"
	"devCMKlWBRCQ7DFlog3H1a+r/kuMUZ/Ij9yyKlSgYZMJ4VgNKDgTQdcsAL0MCEMr\n"
	"zpacMwFusA==\n"
	"-----END CERTIFICATE-----\n"
;

static const struct {
	enum lm_snp_product product;
	const char *pem;
	uint8_t spki_sha256[32];
} g_roots[] = {
	{ LM_SNP_PRODUCT_MILAN, g_ark_milan,
	  { 0x9f, 0x05, 0x6b, 0xee, 0x44, 0x37, 0x7e, 0x29, 0x30, 0x8c, 0xb5, 0xff, 0xa8, 0x95, 0xbd, 0xfb,
	    0x62, 0xd1, 0x88, 0x81, 0xfa, 0x6b, 0xed, 0x8d, 0x6f, 0x07, 0x5b, 0x02, 0x04, 0x08, 0x9c, 0xb9 } },
	{ LM_SNP_PRODUCT_GENOA, g_ark_genoa,
	  { 0x42, 0x9a, 0x69, 0xc9, 0x42, 0x2a, 0xa2, 0x58, 0xee, 0x4d, 0x8d, 0xb5, 0xfc, 0xda, 0x9c, 0x64,
	    0x70, 0xef, 0x15, 0xf8, 0xcd, 0x5a, 0x9c, 0xeb, 0xd6, 0xcb, 0xc7, 0xd9, 0x0b, 0x86, 0x38, 0x31 } },
	{ LM_SNP_PRODUCT_TURIN, g_ark_turin,
	  { 0x4f, 0x12, 0x54, 0x10, 0x56, 0x3a, 0x2a, 0xb9, 0xa5, 0x03, 0x56, 0xf9, 0x24, 0x3f, 0x6f, 0xe0,
	    0xb6, 0xf7, 0x3d, 0xe9, 0x86, 0x03, 0xf5, 0x3f, 0x90, 0x33, 0x9c, 0x70, 0xe9, 0xd7, 0xad, 0x08 } },
};

#define ROOT_COUNT (sizeof(g_roots) / sizeof(g_roots[0]))

/* The AMD extensions, under 1.3.6.1.4.1.3704.1. */
#define OID_AMD "1.3.6.1.4.1.3704.1."
#define OID_PRODUCT_NAME OID_AMD "2"
#define OID_BL_SPL OID_AMD "3.1"
#define OID_TEE_SPL OID_AMD "3.2"
#define OID_SNP_SPL OID_AMD "3.3"
#define OID_UCODE_SPL OID_AMD "3.8"
#define OID_FMC_SPL OID_AMD "3.9"
#define OID_HWID OID_AMD "4"
#define OID_CSP_ID OID_AMD "5"

static int spki_sha256(X509 *cert, uint8_t out[static 32])
{
	unsigned char *der = NULL;
	int n = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &der);
	int r;

	if (n <= 0)
		return lm_log_ossl("i2d_X509_PUBKEY");
	r = LM_OSSL(EVP_Digest(der, (size_t)n, out, NULL, EVP_sha256(), NULL));
	OPENSSL_free(der);
	return r;
}

enum lm_snp_product lm_snp_root_pinned(X509 *ark)
{
	uint8_t md[32];

	if (!ark || spki_sha256(ark, md) < 0)
		return LM_SNP_PRODUCT_UNKNOWN;
	for (size_t i = 0; i < ROOT_COUNT; i++)
		if (memcmp(md, g_roots[i].spki_sha256, sizeof(md)) == 0)
			return g_roots[i].product;
	return LM_SNP_PRODUCT_UNKNOWN;
}

int lm_snp_certs_load(const uint8_t *data, size_t size, STACK_OF(X509) *stack)
{
	BIO *bio;
	X509 *x;
	int n = 0;

	if (!data || !stack || size > INT32_MAX)
		return LM_EINVAL;
	if (!memmem(data, size, "-----BEGIN", 10)) {
		const unsigned char *p = data;

		x = d2i_X509(NULL, &p, (long)size);
		if (!x || p != data + size) {
			X509_free(x);
			ERR_clear_error();
			lm_err("SEV-SNP certificates: neither PEM nor one DER certificate");
			return LM_EFORMAT;
		}
		if (!sk_X509_push(stack, x)) {
			X509_free(x);
			return LM_ENOMEM;
		}
		return 0;
	}
	if (!(bio = BIO_new_mem_buf(data, (int)size)))
		return LM_ENOMEM;
	while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL))) {
		if (!sk_X509_push(stack, x)) {
			X509_free(x);
			BIO_free(bio);
			return LM_ENOMEM;
		}
		n++;
	}
	BIO_free(bio);
	ERR_clear_error();	/* the end of the PEM stream reads as an error */
	if (n == 0) {
		lm_err("SEV-SNP certificates: no PEM certificate found");
		return LM_EFORMAT;
	}
	return 0;
}

static bool is_self_signed(X509 *x)
{
	EVP_PKEY *key = X509_get0_pubkey(x);
	bool ok = X509_NAME_cmp(X509_get_subject_name(x), X509_get_issuer_name(x)) == 0 && key &&
		  X509_verify(x, key) == 1;

	ERR_clear_error();
	return ok;
}

/* The built-in ARKs, parsed, pinned and self-signature checked once: a
 * process-wide read-only cache (never freed; X509 objects are safe to
 * share between threads for verification). */
static STACK_OF(X509) *g_builtin;
static int g_builtin_error;
static pthread_once_t g_builtin_once = PTHREAD_ONCE_INIT;

static void builtin_once(void)
{
	STACK_OF(X509) *all = sk_X509_new_null(), *roots = sk_X509_new_null();
	int r = LM_ENOMEM;

	if (!all || !roots)
		goto out;
	for (size_t i = 0; i < ROOT_COUNT; i++) {
		if ((r = lm_snp_certs_load((const uint8_t *)g_roots[i].pem, strlen(g_roots[i].pem), all)) < 0)
			goto out;
		if (lm_snp_root_pinned(sk_X509_value(all, sk_X509_num(all) - 1)) != g_roots[i].product) {
			lm_err("SEV-SNP: built-in ARK-%s does not match its pinned key",
			       lm_snp_product_name(g_roots[i].product));
			r = LM_ECRYPTO;
			goto out;
		}
	}
	r = LM_ENOMEM;
	while (sk_X509_num(all) > 0) {
		X509 *x = sk_X509_shift(all);

		if (is_self_signed(x) && sk_X509_push(roots, x))
			continue;
		X509_free(x);
	}
	if (sk_X509_num(roots) != (int)ROOT_COUNT) {
		lm_err("SEV-SNP: a built-in ARK is not self-signed");
		r = LM_ECRYPTO;
		goto out;
	}
	g_builtin = roots;
	roots = NULL;
	r = 0;
out:
	g_builtin_error = r;
	sk_X509_pop_free(all, X509_free);
	sk_X509_pop_free(roots, X509_free);
}

int lm_snp_roots_load(const char *root_file, STACK_OF(X509) **out)
{
	STACK_OF(X509) *all = NULL, *roots = NULL;
	uint8_t *data = NULL;
	size_t size;
	int r;

	if (!out)
		return LM_EINVAL;
	if (!(all = sk_X509_new_null()) || !(roots = sk_X509_new_null())) {
		r = LM_ENOMEM;
		goto out;
	}
	if (root_file) {
		if ((r = lm_file_read(root_file, CERT_FILE_MAX, &data, &size)) < 0)
			goto out;
		if ((r = lm_snp_certs_load(data, size, all)) < 0) {
			lm_err("%s: no certificate", root_file);
			goto out;
		}
	} else {
		/* The built-in ARKs are parsed and checked once per process
		 * (builtin_once); each call gets its own references. */
		pthread_once(&g_builtin_once, builtin_once);
		if (g_builtin_error < 0) {
			r = g_builtin_error;
			goto out;
		}
		for (int i = 0; i < sk_X509_num(g_builtin); i++) {
			X509 *x = sk_X509_value(g_builtin, i);

			if (!sk_X509_push(roots, x)) {
				r = LM_ENOMEM;
				goto out;
			}
			X509_up_ref(x);
		}
		*out = roots;
		roots = NULL;
		r = 0;
		goto out;
	}
	/* Only self-signed certificates are roots; the ASK that a cert_chain
	 * file carries beside its ARK is not one. */
	while (sk_X509_num(all) > 0) {
		X509 *x = sk_X509_shift(all);

		if (is_self_signed(x) && sk_X509_push(roots, x))
			continue;
		X509_free(x);
	}
	if (sk_X509_num(roots) == 0) {
		lm_err("%s: no self-signed root certificate", root_file ? root_file : "built-in ARKs");
		r = LM_EFORMAT;
		goto out;
	}
	*out = roots;
	roots = NULL;
	r = 0;
out:
	sk_X509_pop_free(all, X509_free);
	sk_X509_pop_free(roots, X509_free);
	free(data);
	return r;
}

static bool common_name(X509 *cert, char *out, size_t out_size)
{
	int n = X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, out, (int)out_size);

	if (n <= 0 || (size_t)n >= out_size) {
		out[0] = 0;
		return false;
	}
	return true;
}

enum lm_snp_product lm_snp_cert_product(X509 *cert, bool *is_asvk)
{
	char cn[64];

	if (is_asvk)
		*is_asvk = false;
	if (!cert || !common_name(cert, cn, sizeof(cn)))
		return LM_SNP_PRODUCT_UNKNOWN;
	if (strncmp(cn, "ARK-", 4) == 0)
		return lm_snp_product_from_name(cn + 4);
	if (strncmp(cn, "SEV-VLEK-", 9) == 0) {
		if (is_asvk)
			*is_asvk = true;
		return lm_snp_product_from_name(cn + 9);
	}
	if (strncmp(cn, "SEV-", 4) == 0)
		return lm_snp_product_from_name(cn + 4);
	return LM_SNP_PRODUCT_UNKNOWN;
}

/* The contents of extension oid, or NULL when absent. */
static const ASN1_OCTET_STRING *ext_data(X509 *cert, const char *oid, int *err)
{
	ASN1_OBJECT *obj = OBJ_txt2obj(oid, 1);
	int i;

	if (!obj) {
		*err = LM_ENOMEM;
		return NULL;
	}
	i = X509_get_ext_by_OBJ(cert, obj, -1);
	ASN1_OBJECT_free(obj);
	return i < 0 ? NULL : X509_EXTENSION_get_data(X509_get_ext(cert, i));
}

/* An SPL: a DER INTEGER 0..255. Returns 1 found, 0 absent, or LM_EFORMAT. */
static int ext_spl(X509 *cert, const char *oid, uint8_t *out)
{
	int err = 0;
	const ASN1_OCTET_STRING *d = ext_data(cert, oid, &err);
	const unsigned char *p;
	ASN1_INTEGER *n;
	int64_t v;

	if (err)
		return err;
	if (!d)
		return 0;
	p = ASN1_STRING_get0_data(d);
	n = d2i_ASN1_INTEGER(NULL, &p, ASN1_STRING_length(d));
	if (!n || p != ASN1_STRING_get0_data(d) + ASN1_STRING_length(d) || ASN1_INTEGER_get_int64(&v, n) != 1 ||
	    v < 0 || v > 255) {
		ASN1_INTEGER_free(n);
		ERR_clear_error();
		lm_err("SEV-SNP certificate: extension %s is not an integer 0..255", oid);
		return LM_EFORMAT;
	}
	ASN1_INTEGER_free(n);
	*out = (uint8_t)v;
	return 1;
}

int lm_snp_cert_info(X509 *cert, struct lm_snp_cert_info *out)
{
	struct lm_snp_cert_info info;
	const ASN1_OCTET_STRING *d;
	char cn[64];
	int err = 0, r, found = 0;

	if (!cert || !out)
		return LM_EINVAL;
	memset(&info, 0, sizeof(info));
	info.is_vlek = (common_name(cert, cn, sizeof(cn)) && strcmp(cn, "SEV-VLEK") == 0) ||
		       ext_data(cert, OID_CSP_ID, &err);
	if (err)
		return err;

	/* productName: an IA5String (some issuers used UTF8String). */
	if ((d = ext_data(cert, OID_PRODUCT_NAME, &err))) {
		const unsigned char *p = ASN1_STRING_get0_data(d);
		ASN1_STRING *s = d2i_ASN1_PRINTABLE(NULL, &p, ASN1_STRING_length(d));

		if (!s || p != ASN1_STRING_get0_data(d) + ASN1_STRING_length(d) ||
		    (size_t)ASN1_STRING_length(s) >= sizeof(info.product) ||
		    memchr(ASN1_STRING_get0_data(s), 0, (size_t)ASN1_STRING_length(s))) {
			ASN1_STRING_free(s);
			ERR_clear_error();
			lm_err("SEV-SNP certificate: malformed productName");
			return LM_EFORMAT;
		}
		memcpy(info.product, ASN1_STRING_get0_data(s), (size_t)ASN1_STRING_length(s));
		ASN1_STRING_free(s);
	}
	if (err)
		return err;

	if ((r = ext_spl(cert, OID_BL_SPL, &info.tcb.bootloader)) < 0)
		return r;
	found += r;
	if ((r = ext_spl(cert, OID_TEE_SPL, &info.tcb.tee)) < 0)
		return r;
	found += r;
	if ((r = ext_spl(cert, OID_SNP_SPL, &info.tcb.snp)) < 0)
		return r;
	found += r;
	if ((r = ext_spl(cert, OID_UCODE_SPL, &info.tcb.microcode)) < 0)
		return r;
	found += r;
	info.has_tcb = found == 4;
	if ((r = ext_spl(cert, OID_FMC_SPL, &info.tcb.fmc)) < 0)
		return r;
	info.has_fmc = r == 1;

	/* hwID: AMD's KDS has served it both as raw bytes and wrapped in a
	 * DER OCTET STRING; accept either, 8 (Turin) or 64 bytes. */
	if ((d = ext_data(cert, OID_HWID, &err))) {
		const uint8_t *p = ASN1_STRING_get0_data(d);
		size_t n = (size_t)ASN1_STRING_length(d);

		if (n >= 2 && p[0] == 0x04 && p[1] == n - 2 && (n - 2 == 8 || n - 2 == LM_SNP_CHIP_ID_BYTES)) {
			p += 2;
			n -= 2;
		}
		if (n != LM_SNP_TURIN_CHIP_ID_BYTES && n != LM_SNP_CHIP_ID_BYTES) {
			lm_err("SEV-SNP certificate: hwID of %zu bytes", n);
			return LM_EFORMAT;
		}
		memcpy(info.hwid, p, n);
		info.hwid_size = n;
	}
	if (err)
		return err;
	*out = info;
	return 0;
}

/* RSASSA-PSS with SHA-384, as AMD signs every certificate of the chain. */
static bool is_pss_sha384(X509 *x)
{
	int md = NID_undef, pk = NID_undef;
	bool ok = X509_get_signature_nid(x) == NID_rsassaPss && X509_get_signature_info(x, &md, &pk, NULL, NULL) == 1 &&
		  md == NID_sha384;

	ERR_clear_error();
	return ok;
}

static bool signed_by(X509 *child, X509 *parent)
{
	EVP_PKEY *key = X509_get0_pubkey(parent);
	bool ok = key && EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA &&
		  X509_NAME_cmp(X509_get_issuer_name(child), X509_get_subject_name(parent)) == 0 &&
		  X509_verify(child, key) == 1;

	ERR_clear_error();
	return ok;
}

/* NULL when cert is valid at at, else why not. */
static const char *validity(X509 *cert, time_t at)
{
	time_t t = at;

	if (X509_cmp_time(X509_get0_notBefore(cert), &t) >= 0)
		return "not yet valid";
	if (X509_cmp_time(X509_get0_notAfter(cert), &t) <= 0)
		return "expired";
	return NULL;
}

/* The checks of a chain after its signatures: the ASK (ASVK) names the
 * product, the ARK (already found to sign it) is self-signed when
 * check_ark_sig, every link is RSASSA-PSS SHA-384 and valid at at. */
static int chain_finish(X509 *leaf, bool vlek, X509 *ask, X509 *ark, bool check_ark_sig, time_t at,
			struct lm_snp_chain *out)
{
	const char *leaf_name = vlek ? "VLEK" : "VCEK", *mid_name = vlek ? "ASVK" : "ASK", *why;
	char ask_cn[64] = "?", ark_cn[64] = "?";
	bool is_asvk;
	struct {
		X509 *cert;
		const char *name;
	} links[3];

	common_name(ask, ask_cn, sizeof(ask_cn));
	if (lm_snp_cert_product(ask, &is_asvk) == LM_SNP_PRODUCT_UNKNOWN || is_asvk != vlek) {
		snprintf(out->detail, sizeof(out->detail), "%s is not an %s: a %s chains through an %s", ask_cn,
			 mid_name, leaf_name, mid_name);
		return 0;
	}
	if (!ark) {
		snprintf(out->detail, sizeof(out->detail),
			 "%s (%s) is not signed by a trusted ARK (the built-in Milan, Genoa and Turin ARKs, or --root)",
			 mid_name, ask_cn);
		return 0;
	}
	common_name(ark, ark_cn, sizeof(ark_cn));
	if (check_ark_sig && !is_self_signed(ark)) {
		snprintf(out->detail, sizeof(out->detail), "the root %s is not self-signed", ark_cn);
		return 0;
	}
	links[0].cert = leaf;
	links[0].name = leaf_name;
	links[1].cert = ask;
	links[1].name = mid_name;
	links[2].cert = ark;
	links[2].name = "ARK";
	for (size_t i = 0; i < 3; i++) {
		if (!is_pss_sha384(links[i].cert)) {
			snprintf(out->detail, sizeof(out->detail), "the %s is not signed with RSASSA-PSS SHA-384",
				 links[i].name);
			return 0;
		}
		if ((why = validity(links[i].cert, at))) {
			char when[32];

			lm_time_format(when, sizeof(when), at);
			snprintf(out->detail, sizeof(out->detail), "the %s is %s at %s", links[i].name, why, when);
			return 0;
		}
	}
	out->ask = ask;
	out->ark = ark;
	out->ark_product = lm_snp_root_pinned(ark);
	if (out->ark_product == LM_SNP_PRODUCT_UNKNOWN)
		out->ark_product = lm_snp_cert_product(ark, NULL);
	out->ok = true;
	snprintf(out->detail, sizeof(out->detail), "%s -> %s (%s) -> %s (%s)", leaf_name, mid_name, ask_cn, ark_cn,
		 lm_snp_root_pinned(ark) != LM_SNP_PRODUCT_UNKNOWN ? "AMD key, pinned" : "from --root");
	return 0;
}

int lm_snp_chain_verify(X509 *leaf, bool vlek, STACK_OF(X509) *intermediates, STACK_OF(X509) *anchors, time_t at,
			struct lm_snp_chain *out)
{
	const char *leaf_name = vlek ? "VLEK" : "VCEK", *mid_name = vlek ? "ASVK" : "ASK";
	char leaf_issuer[64] = "?";
	X509 *ask = NULL, *ark = NULL;
	bool named = false;

	if (!leaf || !intermediates || !anchors || !out)
		return LM_EINVAL;
	memset(out, 0, sizeof(*out));
	X509_NAME_get_text_by_NID(X509_get_issuer_name(leaf), NID_commonName, leaf_issuer, sizeof(leaf_issuer));

	for (int i = 0; i < sk_X509_num(intermediates) && !ask; i++) {
		X509 *c = sk_X509_value(intermediates, i);

		if (c == leaf || is_self_signed(c) ||
		    X509_NAME_cmp(X509_get_subject_name(c), X509_get_issuer_name(leaf)) != 0)
			continue;
		named = true;
		if (signed_by(leaf, c))
			ask = c;
	}
	if (!ask) {
		if (named)
			snprintf(out->detail, sizeof(out->detail), "the %s's signature does not verify with its issuer %s",
				 leaf_name, leaf_issuer);
		else
			snprintf(out->detail, sizeof(out->detail),
				 "no %s named %s (the %s's issuer) among the certificates", mid_name, leaf_issuer,
				 leaf_name);
		return 0;
	}
	for (int i = 0; i < sk_X509_num(anchors) && !ark; i++)
		if (signed_by(ask, sk_X509_value(anchors, i)))
			ark = sk_X509_value(anchors, i);
	return chain_finish(leaf, vlek, ask, ark, true, at, out);
}

int lm_snp_chain_recheck(X509 *leaf, bool vlek, X509 *ask, X509 *ark, time_t at, struct lm_snp_chain *out)
{
	if (!leaf || !ask || !ark || !out)
		return LM_EINVAL;
	memset(out, 0, sizeof(*out));
	return chain_finish(leaf, vlek, ask, ark, false, at, out);
}
