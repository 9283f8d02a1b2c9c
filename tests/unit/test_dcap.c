/* Unit tests for the Intel DCAP verifier (lib/attest/dcap*.c). A test PKI
 * made here stands in for Intel's: a root CA with the Intel root's name
 * (a look-alike, which must fail the pinned check unless passed as the
 * root file), a PCK Platform CA, a PCK certificate with the SGX extensions
 * in hand-written DER, a TCB Signing certificate, CRLs, TCB Info and QE
 * Identity JSON signed like Intel's, and synthetic v3/v4/v5 quotes. Each
 * check is made to fail on its own. When $LAMBDA_SHARED/vectors exists,
 * the real samples of its MANIFEST (cases 14-29) run too. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "attest/attest_int.h"
#include "attest/dcap_int.h"
#include "lambda/util.h"

#define DAY 86400
#define T0 ((time_t)1893456000)	/* 2030-01-01T00:00:00Z: the verification time */

static const uint8_t g_fmspc[6] = { 0x00, 0x90, 0x6e, 0xd5, 0x00, 0x00 };
static const uint8_t g_qe_mrsigner[32] = { 0xdc, 0x9e, 0x2a, 0x7c, 1, 2, 3, 4 };
static const uint8_t g_mrtd[48] = { 0x11, 0x22, 0x33 };
static const uint8_t g_mrenclave[32] = { 0x44, 0x55, 0x66 };
static const uint8_t g_mrsigner[32] = { 0x77, 0x88 };
static const uint8_t g_report_data[64] = { 'h', 'e', 'l', 'l', 'o' };

/* The test PKI. */
static EVP_PKEY *g_root_key, *g_ca_key, *g_pck_key, *g_tcb_key, *g_ak;
static X509 *g_root, *g_ca, *g_pck, *g_tcb;
static char g_tmp[64] = "/tmp/test_dcap.XXXXXX";
static char g_root_path[128];

/* ---- DER and certificates ---- */

static size_t tlv(uint8_t *out, uint8_t tag, const uint8_t *val, size_t n)
{
	size_t h = 0;

	out[h++] = tag;
	if (n < 128) {
		out[h++] = (uint8_t)n;
	} else if (n < 256) {
		out[h++] = 0x81;
		out[h++] = (uint8_t)n;
	} else {
		out[h++] = 0x82;
		out[h++] = (uint8_t)(n >> 8);
		out[h++] = (uint8_t)n;
	}
	memmove(out + h, val, n);
	return h + n;
}

/* SEQUENCE { OID 1.2.840.113741.1.13.1.<arcs>, value } */
static size_t sgx_pair(uint8_t *out, const uint8_t *arcs, size_t arc_count, const uint8_t *val, size_t val_size)
{
	uint8_t oid[16] = { 0x2a, 0x86, 0x48, 0x86, 0xf8, 0x4d, 0x01, 0x0d, 0x01 }, body[512];
	size_t n;

	memcpy(oid + 9, arcs, arc_count);
	n = tlv(body, 0x06, oid, 9 + arc_count);
	memcpy(body + n, val, val_size);
	n += val_size;
	return tlv(out, 0x30, body, n);
}

static size_t sgx_extension(uint8_t *out, const uint8_t comps[16], uint16_t pcesvn, const uint8_t fmspc[6])
{
	uint8_t tcb[1024], all[2048], v[64], arcs[2] = { 2, 0 };
	uint8_t ppid[16] = { 9 }, pceid[2] = { 0, 0 }, cpusvn[16];
	size_t t = 0, a = 0, n;

	memcpy(cpusvn, comps, 16);
	for (int i = 1; i <= 16; i++) {
		uint8_t iv[2] = { 0, comps[i - 1] };
		size_t off = comps[i - 1] & 0x80 ? 0 : 1;	/* keep INTEGERs positive */

		arcs[1] = (uint8_t)i;
		n = tlv(v, 0x02, iv + off, 2 - off);
		t += sgx_pair(tcb + t, arcs, 2, v, n);
	}
	{
		uint8_t pv[3] = { 0, (uint8_t)(pcesvn >> 8), (uint8_t)pcesvn };

		arcs[1] = 17;
		n = tlv(v, 0x02, pv + 1, 2);
		(void)pv[0];
		t += sgx_pair(tcb + t, arcs, 2, v, n);
	}
	arcs[1] = 18;
	n = tlv(v, 0x04, cpusvn, 16);
	t += sgx_pair(tcb + t, arcs, 2, v, n);

	arcs[0] = 1;
	n = tlv(v, 0x04, ppid, 16);
	a += sgx_pair(all + a, arcs, 1, v, n);
	{
		uint8_t seq[1100];
		size_t s = tlv(seq, 0x30, tcb, t);

		arcs[0] = 2;
		a += sgx_pair(all + a, arcs, 1, seq, s);
	}
	arcs[0] = 3;
	n = tlv(v, 0x04, pceid, 2);
	a += sgx_pair(all + a, arcs, 1, v, n);
	arcs[0] = 4;
	n = tlv(v, 0x04, fmspc, 6);
	a += sgx_pair(all + a, arcs, 1, v, n);
	arcs[0] = 5;
	v[0] = 0;
	n = tlv(v, 0x0a, v, 1);
	a += sgx_pair(all + a, arcs, 1, v, n);
	return tlv(out, 0x30, all, a);
}

static EVP_PKEY *p256(void)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");

	assert_non_null(k);
	return k;
}

struct cert_opt {
	const char *cn;
	X509 *issuer;		/* NULL: self-signed */
	EVP_PKEY *issuer_key;
	EVP_PKEY *key;
	long serial;
	time_t not_before, not_after;
	bool is_ca;
	const uint8_t *sgx_ext;
	size_t sgx_ext_size;
};

static X509 *make_cert(const struct cert_opt *o)
{
	X509 *x = X509_new();
	X509_NAME *name = X509_NAME_new();
	X509V3_CTX v3;
	X509_EXTENSION *ext;

	assert_non_null(x);
	assert_int_equal(X509_set_version(x, 2), 1);
	ASN1_INTEGER_set(X509_get_serialNumber(x), o->serial);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)o->cn, -1, -1, 0);
	X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"Intel Corporation", -1, -1, 0);
	X509_set_subject_name(x, name);
	X509_set_issuer_name(x, o->issuer ? X509_get_subject_name(o->issuer) : name);
	X509_NAME_free(name);
	ASN1_TIME_set(X509_getm_notBefore(x), o->not_before);
	ASN1_TIME_set(X509_getm_notAfter(x), o->not_after);
	X509_set_pubkey(x, o->key);
	X509V3_set_ctx(&v3, o->issuer ? o->issuer : x, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &v3, NID_basic_constraints, o->is_ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
	X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	ext = X509V3_EXT_conf_nid(NULL, &v3, NID_key_usage,
				  o->is_ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature,nonRepudiation");
	X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	if (o->sgx_ext) {
		ASN1_OBJECT *obj = OBJ_txt2obj("1.2.840.113741.1.13.1", 1);
		ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();

		ASN1_OCTET_STRING_set(os, o->sgx_ext, (int)o->sgx_ext_size);
		ext = X509_EXTENSION_create_by_OBJ(NULL, obj, 0, os);
		assert_non_null(ext);
		X509_add_ext(x, ext, -1);
		X509_EXTENSION_free(ext);
		ASN1_OCTET_STRING_free(os);
		ASN1_OBJECT_free(obj);
	}
	assert_true(X509_sign(x, o->issuer_key, EVP_sha256()) > 0);
	return x;
}

static X509 *make_pck(time_t not_after, const uint8_t comps[16], uint16_t pcesvn, const uint8_t fmspc[6])
{
	uint8_t ext[2048];
	size_t n = sgx_extension(ext, comps, pcesvn, fmspc);
	struct cert_opt o = { "Intel SGX PCK Certificate", g_ca, g_ca_key, g_pck_key, 77, T0 - 400 * DAY, not_after,
			      false, ext, n };

	return make_cert(&o);
}

static X509_CRL *make_crl(X509 *issuer, EVP_PKEY *key, long revoked, time_t this_update, time_t next_update)
{
	X509_CRL *crl = X509_CRL_new();
	ASN1_TIME *t = ASN1_TIME_new();

	X509_CRL_set_version(crl, 1);
	X509_CRL_set_issuer_name(crl, X509_get_subject_name(issuer));
	ASN1_TIME_set(t, this_update);
	X509_CRL_set1_lastUpdate(crl, t);
	ASN1_TIME_set(t, next_update);
	X509_CRL_set1_nextUpdate(crl, t);
	if (revoked) {
		X509_REVOKED *r = X509_REVOKED_new();
		ASN1_INTEGER *s = ASN1_INTEGER_new();

		ASN1_INTEGER_set(s, revoked);
		X509_REVOKED_set_serialNumber(r, s);
		ASN1_TIME_set(t, this_update);
		X509_REVOKED_set_revocationDate(r, t);
		X509_CRL_add0_revoked(crl, r);
		ASN1_INTEGER_free(s);
	}
	ASN1_TIME_free(t);
	assert_true(X509_CRL_sign(crl, key, EVP_sha256()) > 0);
	return crl;
}

/* Raw r || s ECDSA-SHA256. */
static void sign_raw(EVP_PKEY *key, const void *data, size_t size, uint8_t out[64])
{
	uint8_t der[80];
	size_t n = sizeof(der);
	const unsigned char *p = der;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	ECDSA_SIG *s;

	assert_int_equal(EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key), 1);
	assert_int_equal(EVP_DigestSign(md, der, &n, data, size), 1);
	EVP_MD_CTX_free(md);
	s = d2i_ECDSA_SIG(NULL, &p, (long)n);
	assert_non_null(s);
	memset(out, 0, 64);
	BN_bn2binpad(ECDSA_SIG_get0_r(s), out, 32);
	BN_bn2binpad(ECDSA_SIG_get0_s(s), out + 32, 32);
	ECDSA_SIG_free(s);
}

static void ak_xy(uint8_t out[64])
{
	uint8_t pt[65];
	size_t n = sizeof(pt);

	assert_int_equal(EVP_PKEY_get_octet_string_param(g_ak, "pub", pt, sizeof(pt), &n), 1);
	assert_int_equal(n, 65);
	memcpy(out, pt + 1, 64);
}

/* ---- files ---- */

static void write_file(const char *dir, const char *name, const void *data, size_t size)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_non_null(f = fopen(path, "wb"));
	assert_int_equal(fwrite(data, 1, size, f), size);
	fclose(f);
}

static void write_cert(const char *dir, const char *name, X509 *x)
{
	unsigned char *der = NULL;
	int n = i2d_X509(x, &der);

	write_file(dir, name, der, (size_t)n);
	OPENSSL_free(der);
}

static void write_crl(const char *dir, const char *name, X509_CRL *c)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *p;
	long n;

	PEM_write_bio_X509_CRL(b, c);	/* PEM here, DER for certificates: both are read */
	n = BIO_get_mem_data(b, &p);
	write_file(dir, name, p, (size_t)n);
	BIO_free(b);
	X509_CRL_free(c);
}

static char *pem_of(X509 *x)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *p, *out;
	long n;

	PEM_write_bio_X509(b, x);
	n = BIO_get_mem_data(b, &p);
	out = malloc((size_t)n + 1);
	memcpy(out, p, (size_t)n);
	out[n] = 0;
	BIO_free(b);
	return out;
}

/* {"<key>":<body>,"signature":"<hex r||s of body>"} */
static void write_signed_json(const char *dir, const char *name, const char *key, const char *body, EVP_PKEY *signer)
{
	uint8_t sig[64];
	char hex[129], *doc;
	size_t n = strlen(body) + strlen(key) + 200;

	sign_raw(signer, body, strlen(body), sig);
	lm_hex_encode(hex, sig, 64);
	doc = malloc(n);
	snprintf(doc, n, "{\"%s\":%s,\"signature\":\"%s\"}", key, body, hex);
	write_file(dir, name, doc, strlen(doc));
	free(doc);
}

/* ---- collateral ---- */

struct level {
	uint8_t sgx;		/* every SGX component */
	uint16_t pcesvn;
	uint8_t tdx[3];		/* TDX components 0..2, the rest 0 */
	const char *status;
	const char *advisories;	/* JSON array text or NULL */
};

struct coll {
	bool tdx;
	time_t ti_issue, ti_next;
	uint8_t fmspc[6];
	struct level levels[4];
	int level_count;
	const char *module_status;	/* TDX_01 level status, isvsvn 2 */
	time_t qe_issue, qe_next;
	uint8_t qe_mrsigner_first;
	uint16_t qe_isvsvn_up;		/* UpToDate from this isvsvn; below OutOfDate from 0 */
	long pck_revoked;
	time_t pck_crl_next;
	bool no_root_crl, no_pck_crl, no_qe, no_ti, no_tcb_cert;
};

static void default_coll(struct coll *c, bool tdx)
{
	memset(c, 0, sizeof(*c));
	c->tdx = tdx;
	c->ti_issue = c->qe_issue = T0 - DAY;
	c->ti_next = c->qe_next = T0 + 30 * DAY;
	memcpy(c->fmspc, g_fmspc, 6);
	c->levels[0] = (struct level){ 5, 10, { 0, 0, 3 }, "UpToDate", NULL };
	c->levels[1] = (struct level){ 3, 9, { 0, 0, 2 }, "OutOfDate", "[\"INTEL-SA-00001\",\"INTEL-SA-00002\"]" };
	c->level_count = 2;
	c->module_status = "UpToDate";
	c->qe_mrsigner_first = g_qe_mrsigner[0];
	c->qe_isvsvn_up = 8;
	c->pck_crl_next = T0 + 30 * DAY;
}

static void comps_json(char *out, size_t size, uint8_t first3[3], uint8_t all, bool tdx)
{
	size_t n = 0;

	n += (size_t)snprintf(out + n, size - n, "[");
	for (int i = 0; i < 16; i++) {
		unsigned svn = tdx ? (i < 3 ? first3[i] : 0) : all;

		n += (size_t)snprintf(out + n, size - n, "%s{\"svn\":%u,\"category\":\"BIOS\"}", i ? "," : "", svn);
	}
	snprintf(out + n, size - n, "]");
}

static void write_collateral(const char *dir, const struct coll *c)
{
	char body[16384], t1[32], t2[32], fm[13], comps[1024], tdx[1024];
	size_t n = 0;

	if (!c->no_root_crl)
		write_crl(dir, "x1", make_crl(g_root, g_root_key, 0, T0 - DAY, T0 + 300 * DAY));
	if (!c->no_pck_crl)
		write_crl(dir, "x2", make_crl(g_ca, g_ca_key, c->pck_revoked, T0 - DAY, c->pck_crl_next));
	if (!c->no_tcb_cert)
		write_cert(dir, "x3", g_tcb);

	lm_time_format(t1, sizeof(t1), c->ti_issue);
	lm_time_format(t2, sizeof(t2), c->ti_next);
	lm_hex_encode(fm, c->fmspc, 6);
	n += (size_t)snprintf(body + n, sizeof(body) - n,
			      "{\"id\":\"%s\",\"version\":3,\"issueDate\":\"%s\",\"nextUpdate\":\"%s\",\"fmspc\":\"%s\","
			      "\"pceId\":\"0000\",\"tcbType\":0,\"tcbEvaluationDataNumber\":17,",
			      c->tdx ? "TDX" : "SGX", t1, t2, fm);
	if (c->tdx)
		n += (size_t)snprintf(body + n, sizeof(body) - n,
				      "\"tdxModule\":{\"mrsigner\":\"%096d\",\"attributes\":\"0000000000000000\","
				      "\"attributesMask\":\"FFFFFFFFFFFFFFFF\"},\"tdxModuleIdentities\":[{\"id\":\"TDX_01\","
				      "\"mrsigner\":\"%096d\",\"attributes\":\"0000000000000000\",\"attributesMask\":"
				      "\"FFFFFFFFFFFFFFFF\",\"tcbLevels\":[{\"tcb\":{\"isvsvn\":2},\"tcbDate\":"
				      "\"2029-01-01T00:00:00Z\",\"tcbStatus\":\"%s\"}]}],",
				      0, 0, c->module_status);
	n += (size_t)snprintf(body + n, sizeof(body) - n, "\"tcbLevels\":[");
	for (int i = 0; i < c->level_count; i++) {
		const struct level *l = &c->levels[i];
		uint8_t d3[3];

		memcpy(d3, l->tdx, 3);
		comps_json(comps, sizeof(comps), d3, l->sgx, false);
		comps_json(tdx, sizeof(tdx), d3, 0, true);
		n += (size_t)snprintf(body + n, sizeof(body) - n,
				      "%s{\"tcb\":{\"sgxtcbcomponents\":%s,\"pcesvn\":%u%s%s},\"tcbDate\":"
				      "\"2029-06-01T00:00:00Z\",\"tcbStatus\":\"%s\"%s%s}",
				      i ? "," : "", comps, l->pcesvn, c->tdx ? ",\"tdxtcbcomponents\":" : "",
				      c->tdx ? tdx : "", l->status, l->advisories ? ",\"advisoryIDs\":" : "",
				      l->advisories ? l->advisories : "");
	}
	snprintf(body + n, sizeof(body) - n, "]}");
	if (!c->no_ti)
		write_signed_json(dir, "x4", "tcbInfo", body, g_tcb_key);

	lm_time_format(t1, sizeof(t1), c->qe_issue);
	lm_time_format(t2, sizeof(t2), c->qe_next);
	{
		char mrs[65];
		uint8_t m[32];

		memcpy(m, g_qe_mrsigner, 32);
		m[0] = c->qe_mrsigner_first;
		lm_hex_encode(mrs, m, 32);
		snprintf(body, sizeof(body),
			 "{\"id\":\"%s\",\"version\":2,\"issueDate\":\"%s\",\"nextUpdate\":\"%s\","
			 "\"tcbEvaluationDataNumber\":17,\"miscselect\":\"00000000\",\"miscselectMask\":\"FFFFFFFF\","
			 "\"attributes\":\"11000000000000000000000000000000\",\"attributesMask\":"
			 "\"FBFFFFFFFFFFFFFF0000000000000000\",\"mrsigner\":\"%s\",\"isvprodid\":%d,\"tcbLevels\":["
			 "{\"tcb\":{\"isvsvn\":%u},\"tcbDate\":\"2029-01-01T00:00:00Z\",\"tcbStatus\":\"UpToDate\"},"
			 "{\"tcb\":{\"isvsvn\":0},\"tcbDate\":\"2028-01-01T00:00:00Z\",\"tcbStatus\":\"OutOfDate\","
			 "\"advisoryIDs\":[\"INTEL-SA-00099\"]}]}",
			 c->tdx ? "TD_QE" : "QE", t1, t2, mrs, c->tdx ? 2 : 1, c->qe_isvsvn_up);
	}
	if (!c->no_qe)
		write_signed_json(dir, "x5", "enclaveIdentity", body, g_tcb_key);
}

/* ---- quotes ---- */

struct qopt {
	int version;		/* 3, 4, 5 */
	bool tdx, td15;
	bool bad_qe_report_data, debug;
	uint8_t tee_tcb_svn[3];
	uint16_t qe_isvsvn;
	uint32_t sig_len_delta;	/* added to the declared signature data length */
	size_t trailing;	/* bytes appended after the quote */
	X509 *quote_root;	/* the root in the quote's chain: NULL g_root */
	bool no_quote_root;	/* the quote's chain stops at the CA */
};

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)v);
	put16(p + 2, (uint16_t)(v >> 16));
}

static uint8_t *make_quote(const struct qopt *o, size_t *size)
{
	size_t body_size = o->tdx ? (o->td15 ? 648 : 584) : 384, n = 0, chain_size;
	char *pck_pem = pem_of(g_pck), *ca_pem = pem_of(g_ca), *chain;
	char *root_pem = o->no_quote_root ? strdup("") : pem_of(o->quote_root ? o->quote_root : g_root);
	uint8_t *q, auth[32], qe[384], md[32], *sigdata;
	size_t qe_part, sig_size;

	chain_size = strlen(pck_pem) + strlen(ca_pem) + strlen(root_pem);
	chain = malloc(chain_size + 1);
	snprintf(chain, chain_size + 1, "%s%s%s", pck_pem, ca_pem, root_pem);
	free(pck_pem);
	free(ca_pem);
	free(root_pem);
	q = calloc(1, 8192 + o->trailing);
	assert_non_null(q);

	put16(q, (uint16_t)o->version);
	put16(q + 2, 2);
	put32(q + 4, o->tdx ? 0x81 : 0);
	put16(q + 8, 8);
	put16(q + 10, 10);
	q[12] = 0x93;
	n = 48;
	if (o->version == 5) {
		put16(q + n, o->tdx ? (o->td15 ? 3 : 2) : 1);
		put32(q + n + 2, (uint32_t)body_size);
		n += 6;
	}
	if (o->tdx) {
		uint8_t *b = q + n;

		memcpy(b, o->tee_tcb_svn, 3);
		if (o->debug)
			b[120] = 0x01;
		memcpy(b + 136, g_mrtd, 48);
		for (int i = 0; i < 4; i++)
			b[328 + 48 * i] = (uint8_t)(0xa0 + i);
		memcpy(b + 520, g_report_data, 64);
	} else {
		uint8_t *b = q + n;

		b[48] = o->debug ? 0x07 : 0x05;
		memcpy(b + 64, g_mrenclave, 32);
		memcpy(b + 128, g_mrsigner, 32);
		memcpy(b + 320, g_report_data, 64);
	}
	n += body_size;
	sigdata = q + n + 4;

	/* QE report: signed by the PCK key, binding the attestation key. */
	memset(auth, 0x5a, sizeof(auth));
	memset(qe, 0, sizeof(qe));
	qe[48] = 0x11;
	memcpy(qe + 128, g_qe_mrsigner, 32);
	put16(qe + 256, o->tdx ? 2 : 1);
	put16(qe + 258, o->qe_isvsvn);
	ak_xy(sigdata + 64);
	{
		uint8_t buf[96];

		memcpy(buf, sigdata + 64, 64);
		memcpy(buf + 64, auth, 32);
		EVP_Digest(buf, sizeof(buf), md, NULL, EVP_sha256(), NULL);
	}
	memcpy(qe + 320, md, 32);
	if (o->bad_qe_report_data)
		qe[321] ^= 1;

	/* qe report, its signature, auth data, cert data (type 5) */
	{
		uint8_t *p = sigdata + 128 + (o->version == 3 ? 0 : 6);

		memcpy(p, qe, 384);
		sign_raw(g_pck_key, qe, 384, p + 384);
		put16(p + 448, sizeof(auth));
		memcpy(p + 450, auth, sizeof(auth));
		put16(p + 482, 5);
		put32(p + 484, (uint32_t)chain_size);
		memcpy(p + 488, chain, chain_size);
		qe_part = 488 + chain_size;
	}
	if (o->version != 3) {
		put16(sigdata + 128, 6);
		put32(sigdata + 130, (uint32_t)qe_part);
		sig_size = 128 + 6 + qe_part;
	} else {
		sig_size = 128 + qe_part;
	}
	sign_raw(g_ak, q, n, sigdata);
	put32(q + n, (uint32_t)sig_size + o->sig_len_delta);
	free(chain);
	*size = n + 4 + sig_size + o->trailing;
	return q;
}

/* ---- running ---- */

struct run {
	char dir[128];
	struct lm_policy p;
	struct lm_verdict v;
	int rc;
};

static void run_quote(struct run *r, const struct qopt *o, const struct coll *c, bool with_root)
{
	struct lm_evidence *ev = NULL;
	static int seq;
	uint8_t *q;
	size_t size;

	snprintf(r->dir, sizeof(r->dir), "%s/c%d", g_tmp, seq++);
	assert_int_equal(mkdir(r->dir, 0700), 0);
	if (c)
		write_collateral(r->dir, c);
	if (!r->p.at)
		r->p.at = T0;
	if (c)
		r->p.collateral_dir = r->dir;
	if (with_root)
		r->p.root_file = g_root_path;
	q = make_quote(o, &size);
	r->rc = lm_dcap_evidence_from_quote(q, size, &ev);
	if (r->rc == 0)
		r->rc = lm_verify_evidence(ev, &r->p, &r->v);
	lm_evidence_free(ev);
	free(q);
}

static const struct lm_check *find_check(const struct lm_verdict *v, const char *name)
{
	for (size_t i = 0; i < v->check_count; i++)
		if (strcmp(v->checks[i].name, name) == 0)
			return &v->checks[i];
	return NULL;
}

static int failed_count(const struct lm_verdict *v)
{
	int n = 0;

	for (size_t i = 0; i < v->check_count; i++)
		n += !v->checks[i].ok;
	return n;
}

static void print_failed(const struct lm_verdict *v)
{
	for (size_t i = 0; i < v->check_count; i++)
		if (!v->checks[i].ok)
			print_message("  failed %s: %s\n", v->checks[i].name, v->checks[i].detail);
}

/* The verdict failed, first at check name; alone: no other check failed. */
static void expect_fail(const struct run *r, const char *name, bool alone)
{
	assert_int_equal(r->rc, 0);
	if (r->v.verified || r->v.first_failed < 0 || strcmp(r->v.checks[r->v.first_failed].name, name) != 0 ||
	    (alone && failed_count(&r->v) != 1))
		print_failed(&r->v);
	assert_false(r->v.verified);
	assert_string_equal(r->v.checks[r->v.first_failed].name, name);
	if (alone)
		assert_int_equal(failed_count(&r->v), 1);
}

static void expect_ok(const struct run *r, const char *status)
{
	assert_int_equal(r->rc, 0);
	if (!r->v.verified)
		print_failed(&r->v);
	assert_true(r->v.verified);
	assert_string_equal(r->v.tcb_status, status);
}

static const struct qopt q_tdx4 = { .version = 4, .tdx = true, .tee_tcb_svn = { 2, 1, 3 }, .qe_isvsvn = 8 };
static const struct qopt q_tdx5 = { .version = 5, .tdx = true, .td15 = true, .tee_tcb_svn = { 2, 1, 3 }, .qe_isvsvn = 8 };
static const struct qopt q_sgx3 = { .version = 3, .qe_isvsvn = 8 };

/* ---- setup ---- */

static int group_setup(void **state)
{
	static const uint8_t comps[16] = { 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5 };
	struct cert_opt o;

	(void)state;
	if (!mkdtemp(g_tmp))
		return -1;
	g_root_key = p256();
	g_ca_key = p256();
	g_pck_key = p256();
	g_tcb_key = p256();
	g_ak = p256();
	o = (struct cert_opt){ "Intel SGX Root CA", NULL, g_root_key, g_root_key, 1, T0 - 1000 * DAY, T0 + 9000 * DAY,
			       true, NULL, 0 };
	g_root = make_cert(&o);
	o = (struct cert_opt){ "Intel SGX PCK Platform CA", g_root, g_root_key, g_ca_key, 2, T0 - 900 * DAY,
			       T0 + 5000 * DAY, true, NULL, 0 };
	g_ca = make_cert(&o);
	o = (struct cert_opt){ "Intel SGX TCB Signing", g_root, g_root_key, g_tcb_key, 3, T0 - 900 * DAY,
			       T0 + 2000 * DAY, false, NULL, 0 };
	g_tcb = make_cert(&o);
	g_pck = make_pck(T0 + 1000 * DAY, comps, 10, g_fmspc);
	snprintf(g_root_path, sizeof(g_root_path), "%s/root.pem", g_tmp);
	{
		char *pem = pem_of(g_root);

		write_file(g_tmp, "root.pem", pem, strlen(pem));
		free(pem);
	}
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	X509_free(g_root);
	X509_free(g_ca);
	X509_free(g_pck);
	X509_free(g_tcb);
	EVP_PKEY_free(g_root_key);
	EVP_PKEY_free(g_ca_key);
	EVP_PKEY_free(g_pck_key);
	EVP_PKEY_free(g_tcb_key);
	EVP_PKEY_free(g_ak);
	if (lm_rm_rf(g_tmp) < 0)
		return -1;
	return 0;
}

/* ---- tests: success paths ---- */

static void test_tdx_v4_ok(void **state)
{
	struct run r = { 0 };
	struct coll c;

	(void)state;
	default_coll(&c, true);
	run_quote(&r, &q_tdx4, &c, true);
	expect_ok(&r, "UpToDate");
	assert_string_equal(r.v.advisories, "");
	assert_int_equal(r.v.platform, LM_PLATFORM_TDX);
	assert_memory_equal(r.v.measurement, "sha384:112233", 13);
	assert_non_null(find_check(&r.v, "tdx module"));
}

static void test_tdx_v5_ok(void **state)
{
	struct run r = { 0 };
	struct coll c;

	(void)state;
	default_coll(&c, true);
	run_quote(&r, &q_tdx5, &c, true);
	expect_ok(&r, "UpToDate");
	assert_string_equal(find_check(&r.v, "quote format")->detail, "quote v5, TD report 1.5, ECDSA P-256");
}

static void test_sgx_v3_ok(void **state)
{
	struct run r = { 0 };
	struct coll c;

	(void)state;
	default_coll(&c, false);
	run_quote(&r, &q_sgx3, &c, true);
	expect_ok(&r, "UpToDate");
	assert_int_equal(r.v.platform, LM_PLATFORM_SGX);
	assert_memory_equal(r.v.measurement, "sha256:445566", 13);
}

static void test_trailing_bytes_ignored(void **state)
{
	struct qopt o = q_tdx4;
	struct run r = { 0 };
	struct coll c;

	(void)state;
	o.trailing = 100;
	default_coll(&c, true);
	run_quote(&r, &o, &c, true);
	expect_ok(&r, "UpToDate");
}

/* ---- each check failing ---- */

/* The chain inside the quote must be the one that verified: a look-alike
 * root there fails even with the genuine root given, a missing one too;
 * the genuine root re-issued (same name and key, self-signed) is fine. */
static void test_quote_chain_copy(void **state)
{
	EVP_PKEY *other = p256();
	struct cert_opt lookalike = { "Intel SGX Root CA", NULL, other, other, 1, T0 - 1000 * DAY, T0 + 9000 * DAY,
				      true, NULL, 0 };
	struct cert_opt reissue = { "Intel SGX Root CA", NULL, g_root_key, g_root_key, 77, T0 - 500 * DAY,
				    T0 + 9500 * DAY, true, NULL, 0 };
	struct qopt o = q_tdx4;
	struct run r = { 0 };
	struct coll c;

	(void)state;
	default_coll(&c, true);
	o.quote_root = make_cert(&lookalike);
	run_quote(&r, &o, &c, true);
	expect_fail(&r, "pck chain", false);	/* and the CRL checks that need its chain */
	assert_non_null(strstr(find_check(&r.v, "pck chain")->detail, "not the one the chain verified with"));
	X509_free(o.quote_root);

	memset(&r, 0, sizeof(r));
	o.quote_root = make_cert(&reissue);
	run_quote(&r, &o, &c, true);
	expect_ok(&r, "UpToDate");
	X509_free(o.quote_root);

	memset(&r, 0, sizeof(r));
	o.quote_root = NULL;
	o.no_quote_root = true;
	run_quote(&r, &o, &c, true);
	expect_fail(&r, "pck chain", false);
	EVP_PKEY_free(other);
}

static void test_lookalike_root(void **state)
{
	struct run r = { 0 };
	struct coll c;

	(void)state;
	default_coll(&c, true);
	run_quote(&r, &q_tdx4, &c, false);	/* built-in pinned root: ours is a look-alike */
	expect_fail(&r, "pck chain", false);
	assert_false(find_check(&r.v, "tcb info")->ok);	/* its TCB Signing cert cannot chain either */
}

static void test_quote_byte_flipped(void **state)
{
	struct run r = { 0 };
	struct lm_evidence *ev = NULL;
	struct coll c;
	uint8_t *q;
	size_t size;

	(void)state;
	default_coll(&c, true);
	run_quote(&r, &q_tdx4, &c, true);	/* collateral dir */
	q = make_quote(&q_tdx4, &size);
	q[48 + 136] ^= 0x01;	/* MRTD */
	assert_int_equal(lm_dcap_evidence_from_quote(q, size, &ev), 0);
	assert_int_equal(lm_verify_evidence(ev, &r.p, &r.v), 0);
	expect_fail(&r, "quote signature", true);
	lm_evidence_free(ev);
	free(q);
}

static void test_qe_report_signature(void **state)
{
	struct run r = { 0 };
	struct lm_evidence *ev = NULL;
	struct coll c;
	uint8_t *q;
	size_t size;

	(void)state;
	default_coll(&c, false);
	run_quote(&r, &q_sgx3, &c, true);
	q = make_quote(&q_sgx3, &size);
	q[436 + 128 + 384 + 5] ^= 0x80;	/* inside the QE report signature */
	assert_int_equal(lm_dcap_evidence_from_quote(q, size, &ev), 0);
	assert_int_equal(lm_verify_evidence(ev, &r.p, &r.v), 0);
	expect_fail(&r, "qe report signature", true);
	lm_evidence_free(ev);
	free(q);
}

static void test_qe_report_data(void **state)
{
	struct qopt o = q_tdx4;
	struct run r = { 0 };
	struct coll c;

	(void)state;
	o.bad_qe_report_data = true;
	default_coll(&c, true);
	run_quote(&r, &o, &c, true);
	expect_fail(&r, "qe report data", true);
}

static void test_revoked_pck(void **state)
{
	struct run r = { 0 };
	struct coll c;

	(void)state;
	default_coll(&c, true);
	c.pck_revoked = 77;
	run_quote(&r, &q_tdx4, &c, true);
	expect_fail(&r, "pck crl", true);
}

static void test_expired_pck(void **state)
{
	static const uint8_t comps[16] = { 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5 };
	X509 *good = g_pck;
	struct run r = { 0 };
	struct coll c;

	(void)state;
	g_pck = make_pck(T0 - DAY, comps, 10, g_fmspc);
	default_coll(&c, true);
	run_quote(&r, &q_tdx4, &c, true);
	X509_free(g_pck);
	g_pck = good;
	expect_fail(&r, "pck chain", false);
	assert_non_null(strstr(find_check(&r.v, "pck chain")->detail, "expired"));
}

static void test_expired_crl(void **state)
{
	struct run r = { 0 };
	struct coll c;

	(void)state;
	default_coll(&c, true);
	c.pck_crl_next = T0 - 1;
	run_quote(&r, &q_tdx4, &c, true);
	expect_fail(&r, "pck crl", true);
}

static void test_expired_tcb_info(void **state)
{
	struct run r = { 0 };
	struct coll c;

	(void)state;
	default_coll(&c, true);
	c.ti_next = T0 - 1;
	run_quote(&r, &q_tdx4, &c, true);
	expect_fail(&r, "tcb info", false);	/* and so no accepted status */
	assert_string_equal(r.v.tcb_status, "UpToDate");
	assert_false(find_check(&r.v, "tcb status")->ok);
}

static void test_expired_qe_identity(void **state)
{
	struct run r = { 0 };
	struct coll c;

	(void)state;
	default_coll(&c, false);
	c.qe_issue = T0 + 1;	/* not yet valid */
	run_quote(&r, &q_sgx3, &c, true);
	expect_fail(&r, "qe identity", false);
}

static void test_fmspc_mismatch(void **state)
{
	struct run r = { 0 };
	struct coll c;

	(void)state;
	default_coll(&c, true);
	c.fmspc[5] = 1;
	run_quote(&r, &q_tdx4, &c, true);
	expect_fail(&r, "fmspc", false);
	assert_string_equal(r.v.tcb_status, "");
}

static void test_qe_identity_mismatch(void **state)
{
	struct run r = { 0 };
	struct coll c;

	(void)state;
	default_coll(&c, true);
	c.qe_mrsigner_first ^= 0xff;
	run_quote(&r, &q_tdx4, &c, true);
	expect_fail(&r, "qe identity", false);
}

static void test_missing_collateral(void **state)
{
	struct run r = { 0 };

	(void)state;
	run_quote(&r, &q_tdx4, NULL, true);
	expect_fail(&r, "root ca crl", false);
	assert_false(find_check(&r.v, "pck crl")->ok);
	assert_false(find_check(&r.v, "qe identity")->ok);
	assert_false(find_check(&r.v, "tcb info")->ok);
	/* but the quote itself is sound */
	assert_true(find_check(&r.v, "quote signature")->ok);
	assert_true(find_check(&r.v, "pck chain")->ok);
}

static void test_missing_each(void **state)
{
	static const char *const names[] = { "root ca crl", "pck crl", "qe identity", "tcb info",
					       "qe identity" /* no TCB Signing certificate: both documents fail */ };

	(void)state;
	for (int i = 0; i < 5; i++) {
		struct run r = { 0 };
		struct coll c;

		default_coll(&c, false);
		c.no_root_crl = i == 0;
		c.no_pck_crl = i == 1;
		c.no_qe = i == 2;
		c.no_ti = i == 3;
		c.no_tcb_cert = i == 4;
		run_quote(&r, &q_sgx3, &c, true);
		expect_fail(&r, names[i], false);
	}
}

static void test_declared_length(void **state)
{
	struct qopt o = q_tdx4;
	struct run r = { 0 };
	struct coll c;

	(void)state;
	default_coll(&c, true);
	o.sig_len_delta = 1;	/* one more than the quote holds */
	run_quote(&r, &o, &c, true);
	assert_int_equal(r.rc, LM_EFORMAT);
	o.trailing = 8;	/* the byte exists now, but lies inside the declared data */
	memset(&r, 0, sizeof(r));
	run_quote(&r, &o, &c, true);
	assert_int_equal(r.rc, LM_EFORMAT);
}

static void test_truncated(void **state)
{
	struct lm_dcap_quote q;
	uint8_t *raw;
	size_t size;

	(void)state;
	raw = make_quote(&q_tdx5, &size);
	assert_int_equal(lm_dcap_quote_parse(raw, size, &q), 0);
	for (size_t n = 0; n < size; n += 37)
		assert_int_equal(lm_dcap_quote_parse(raw, n, &q), LM_EFORMAT);
	raw[0] = 6;	/* unknown version */
	assert_int_equal(lm_dcap_quote_parse(raw, size, &q), LM_EFORMAT);
	free(raw);
}

static void test_debug_and_pins(void **state)
{
	static const uint8_t other[64] = { 1 };
	struct qopt o = q_sgx3;
	struct coll c;

	(void)state;
	default_coll(&c, false);
	o.debug = true;
	{
		struct run r = { 0 };

		run_quote(&r, &o, &c, true);
		expect_fail(&r, "debug", true);
	}
	{
		struct run r = { .p = { .allow_debug = true } };

		run_quote(&r, &o, &c, true);
		expect_ok(&r, "UpToDate");
	}
	{
		struct run r = { .p = { .expect_mrenclave = g_mrenclave, .expect_mrsigner = g_mrsigner,
					.expect_report_data = g_report_data } };

		run_quote(&r, &q_sgx3, &c, true);
		expect_ok(&r, "UpToDate");
	}
	{
		struct run r = { .p = { .expect_mrenclave = other } };

		run_quote(&r, &q_sgx3, &c, true);
		expect_fail(&r, "mrenclave", true);
	}
	{
		struct run r = { .p = { .expect_mrsigner = other } };

		run_quote(&r, &q_sgx3, &c, true);
		expect_fail(&r, "mrsigner", true);
	}
	{
		struct run r = { .p = { .expect_report_data = other } };

		run_quote(&r, &q_sgx3, &c, true);
		expect_fail(&r, "report data", true);
	}
}

static void test_tdx_pins(void **state)
{
	static const uint8_t other[48] = { 1 };
	uint8_t rtmr2[48] = { 0xa2 };
	struct coll c;

	(void)state;
	default_coll(&c, true);
	{
		struct run r = { .p = { .expect_mrtd = g_mrtd, .expect_rtmr = { NULL, NULL, rtmr2, NULL } } };

		run_quote(&r, &q_tdx4, &c, true);
		expect_ok(&r, "UpToDate");
	}
	{
		struct run r = { .p = { .expect_mrtd = other } };

		run_quote(&r, &q_tdx4, &c, true);
		expect_fail(&r, "mrtd", true);
	}
	{
		struct run r = { .p = { .expect_rtmr = { NULL, other, NULL, NULL } } };

		run_quote(&r, &q_tdx4, &c, true);
		expect_fail(&r, "rtmr1", true);
	}
	{
		struct qopt o = q_tdx4;
		struct run r = { 0 };

		o.debug = true;
		run_quote(&r, &o, &c, true);
		expect_fail(&r, "debug", true);
	}
}

/* ---- the TCB algorithm ---- */

static void test_each_status(void **state)
{
	(void)state;
	for (int s = LM_TCB_UP_TO_DATE; s <= LM_TCB_REVOKED; s++) {
		const char *name = lm_tcb_status_name((enum lm_tcb_status)s);
		struct coll c;

		assert_int_equal(lm_tcb_status_from_name(name), s);
		default_coll(&c, s % 2 == 0);
		c.levels[0].status = name;
		c.levels[0].advisories = "[\"INTEL-SA-00615\"]";
		{
			struct run r = { 0 };

			run_quote(&r, c.tdx ? &q_tdx4 : &q_sgx3, &c, true);
			assert_string_equal(r.v.tcb_status, name);
			assert_string_equal(r.v.advisories, "INTEL-SA-00615");
			if (s == LM_TCB_UP_TO_DATE)
				expect_ok(&r, name);
			else
				expect_fail(&r, "tcb status", true);
		}
		{
			struct run r = { .p = { .accept_tcb = LM_TCB_ACCEPT(s) } };

			run_quote(&r, c.tdx ? &q_tdx4 : &q_sgx3, &c, true);
			expect_ok(&r, name);
		}
	}
	assert_null(lm_tcb_status_name(LM_TCB_UNKNOWN));
	assert_int_equal(lm_tcb_status_from_name("Upto"), LM_TCB_UNKNOWN);
}

static void test_level_order(void **state)
{
	struct coll c;

	(void)state;
	/* The platform (SGX comps 5, PCESVN 10) is below the first level: the
	 * second applies, with its advisories. */
	default_coll(&c, false);
	c.levels[0].sgx = 6;
	{
		struct run r = { .p = { .accept_tcb = LM_TCB_ACCEPT(LM_TCB_OUT_OF_DATE) } };

		char *json = NULL;

		run_quote(&r, &q_sgx3, &c, true);
		expect_ok(&r, "OutOfDate");
		assert_string_equal(r.v.advisories, "INTEL-SA-00001,INTEL-SA-00002");
		assert_int_equal(lm_verdict_to_json(&r.v, &json), 0);
		assert_non_null(strstr(json, "\"tcb_status\": \"OutOfDate\""));
		assert_non_null(strstr(json, "\"INTEL-SA-00002\""));
		free(json);
	}
	/* PCESVN above the platform's */
	default_coll(&c, false);
	c.levels[0].pcesvn = 11;
	{
		struct run r = { .p = { .accept_tcb = LM_TCB_ACCEPT(LM_TCB_OUT_OF_DATE) } };

		run_quote(&r, &q_sgx3, &c, true);
		expect_ok(&r, "OutOfDate");
	}
	/* Below every level: not supported. */
	default_coll(&c, false);
	c.levels[1].sgx = 6;
	c.levels[0].sgx = 6;
	{
		struct run r = { .p = { .accept_tcb = ~0u } };

		run_quote(&r, &q_sgx3, &c, true);
		expect_fail(&r, "tcb level", false);
		assert_string_equal(r.v.tcb_status, "");
	}
	/* TDX: TEE_TCB_SVN[2] = 3 meets level 0; 2 only level 1. */
	default_coll(&c, true);
	{
		struct qopt o = q_tdx4;
		struct run r = { 0 };

		o.tee_tcb_svn[2] = 2;
		run_quote(&r, &o, &c, true);
		expect_fail(&r, "tcb status", true);
		assert_string_equal(r.v.tcb_status, "OutOfDate");
	}
	/* With TEE_TCB_SVN[1] = 0 bytes 0-1 count, and the tdxModule applies. */
	default_coll(&c, true);
	c.levels[0].tdx[0] = 3;
	{
		struct qopt o = q_tdx4;
		struct run r = { .p = { .accept_tcb = LM_TCB_ACCEPT(LM_TCB_OUT_OF_DATE) } };

		o.tee_tcb_svn[1] = 0;	/* svn[0] = 2 < 3 */
		run_quote(&r, &o, &c, true);
		expect_ok(&r, "OutOfDate");
		o.tee_tcb_svn[1] = 1;	/* module TDX_01: bytes 0-1 skipped */
		memset(&r.v, 0, sizeof(r.v));
		run_quote(&r, &o, &c, true);
		expect_fail(&r, "tcb status", true);
		assert_string_equal(r.v.tcb_status, "UpToDate");
	}
}

static void test_module_and_qe_converge(void **state)
{
	struct coll c;

	(void)state;
	default_coll(&c, true);
	c.module_status = "OutOfDate";
	{
		struct run r = { 0 };

		run_quote(&r, &q_tdx4, &c, true);
		assert_string_equal(r.v.tcb_status, "OutOfDate");
	}
	c.levels[0].status = "ConfigurationNeeded";
	{
		struct run r = { 0 };

		run_quote(&r, &q_tdx4, &c, true);
		assert_string_equal(r.v.tcb_status, "OutOfDateConfigurationNeeded");
	}
	c.module_status = "Revoked";
	{
		struct run r = { 0 };

		run_quote(&r, &q_tdx4, &c, true);
		assert_string_equal(r.v.tcb_status, "Revoked");
	}
	/* An unknown module version: no identity TDX_05 */
	default_coll(&c, true);
	{
		struct qopt o = q_tdx4;
		struct run r = { 0 };

		o.tee_tcb_svn[1] = 5;
		run_quote(&r, &o, &c, true);
		expect_fail(&r, "tdx module", false);
	}
	/* A module SVN below every module level */
	{
		struct qopt o = q_tdx4;
		struct run r = { 0 };

		o.tee_tcb_svn[0] = 1;
		run_quote(&r, &o, &c, true);
		expect_fail(&r, "tcb level", false);
	}
	/* QE ISVSVN below the UpToDate level: QE OutOfDate, its advisory too */
	default_coll(&c, false);
	c.qe_isvsvn_up = 9;
	{
		struct run r = { 0 };

		run_quote(&r, &q_sgx3, &c, true);
		expect_fail(&r, "tcb status", true);
		assert_string_equal(r.v.tcb_status, "OutOfDate");
		assert_string_equal(r.v.advisories, "INTEL-SA-00099");
	}
}

static void test_collateral_by_content(void **state)
{
	struct lm_dcap_collateral *col = NULL;
	char dir[160];
	struct coll c;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/bycontent", g_tmp);
	assert_int_equal(mkdir(dir, 0700), 0);
	default_coll(&c, true);
	write_collateral(dir, &c);
	write_file(dir, "tcbinfo.json", "not json", 8);	/* a misleading name */
	write_file(dir, "pck-crl.der", "{\"other\":1}", 11);
	{	/* a CRL stored as hex text counts too */
		X509_CRL *crl = make_crl(g_root, g_root_key, 0, T0 - DAY, T0 + DAY);
		unsigned char *der = NULL;
		int n = i2d_X509_CRL(crl, &der);
		char *hex = malloc(2 * (size_t)n + 2);

		lm_hex_encode(hex, der, (size_t)n);
		strcat(hex, "\n");
		write_file(dir, "zz", hex, strlen(hex));
		free(hex);
		OPENSSL_free(der);
		X509_CRL_free(crl);
	}
	assert_int_equal(lm_dcap_collateral_new(&col), 0);
	assert_int_equal(lm_dcap_collateral_load_dir(col, dir), 0);
	assert_int_equal(col->tcb_info_count, 1);
	assert_int_equal(col->qe_identity_count, 1);
	assert_int_equal(sk_X509_CRL_num(col->crls), 3);
	assert_int_equal(sk_X509_num(col->certs), 1);
	assert_true(col->tcb_infos[0]->is_tdx);
	assert_int_equal(col->tcb_infos[0]->module_count, 2);
	assert_string_equal(col->qe_identities[0]->id, "TD_QE");
	lm_dcap_collateral_free(col);
	assert_int_equal(lm_dcap_collateral_new(&col), 0);
	assert_int_equal(lm_dcap_collateral_load_dir(col, "/nonexistent/dir"), LM_ENOENT);
	lm_dcap_collateral_free(col);
}

static void test_json_signed_bytes(void **state)
{
	static const char doc[] = "{ \"signature\" : \"%s\", \"enclaveIdentity\" :{\"id\":\"QE\",\"version\":2,"
				  "\"issueDate\":\"2029-01-01T00:00:00Z\",\"nextUpdate\":\"2031-01-01T00:00:00Z\","
				  "\"tcbEvaluationDataNumber\":1,\"miscselect\":\"00000000\",\"miscselectMask\":"
				  "\"FFFFFFFF\",\"attributes\":\"11000000000000000000000000000000\",\"attributesMask\":"
				  "\"FBFFFFFFFFFFFFFF0000000000000000\",\"mrsigner\":\"%064d\",\"isvprodid\":1,"
				  "\"tcbLevels\":[{\"tcb\":{\"isvsvn\":1},\"tcbDate\":\"2029-01-01T00:00:00Z\","
				  "\"tcbStatus\":\"UpToDate\",\"advisoryIDs\":[\"A,B\"]}]} }";
	struct lm_qe_identity *q = NULL;
	char text[2048], sig[129];

	(void)state;
	memset(sig, 'a', 128);
	sig[128] = 0;
	snprintf(text, sizeof(text), doc, sig, 0);
	/* an advisory id with a comma would corrupt the list: refused */
	assert_int_equal(lm_qe_identity_parse((uint8_t *)text, strlen(text), &q), LM_EFORMAT);
	strstr(text, "A,B")[1] = '-';
	assert_int_equal(lm_qe_identity_parse((uint8_t *)text, strlen(text), &q), 0);
	/* the body is the exact text of the value, whitespace outside excluded */
	assert_int_equal(q->body[0], '{');
	assert_int_equal(q->body[q->body_size - 1], '}');
	assert_non_null(strstr(text, "{\"id\":\"QE\""));
	assert_memory_equal(q->body, strstr(text, "{\"id\":\"QE\""), q->body_size);
	lm_qe_identity_free(q);
}

/* ---- the real samples of $LAMBDA_SHARED/vectors (MANIFEST cases 14-29) ---- */

struct vcase {
	int number;
	const char *quote;
	const char *files;	/* space-separated, relative to vectors/ */
	const char *at;		/* NULL: now */
	unsigned accept;
	bool verified;
	const char *first_failed;	/* when not verified */
	const char *status;
	const char *advisories;
};

#define T23 "tdx/tdx-2023-06-pck-platform-crl.der tdx/tdx-2023-06-qeidentity-tdqe.json " \
	    "tdx/tdx-2023-06-tcbinfo-50806f000000.json tdx/intel-root-ca-crl-2023-04.der " \
	    "tdx/intel-tcb-signing-2018-chain.pem"
#define T25 "tdx/tdx-2025-02-pck-platform-crl.der tdx/tdx-2025-02-qeidentity-tdqe.json " \
	    "tdx/tdx-2025-02-tcbinfo-00806f050000.json tdx/intel-root-ca-crl-2024-03.der " \
	    "tdx/intel-tcb-signing-2018-chain.pem"
#define S25 "sgx/sgx-2025-06-00a067110000-qeidentity.json sgx/sgx-2025-06-00a067110000-tcbinfo.json " \
	    "sgx/sgx-2025-06-00a067110000-root-ca-crl.der sgx/intel-tcb-signing-2025-chain.pem "
#define T26 "tdx/tdx-2026-02-pck-crl.der tdx/tdx-2026-02-qeidentity.json tdx/tdx-2026-02-root-ca-crl.der " \
	    "tdx/tdx-2026-02-tcbinfo-90c06f000000.json "
#define ALL ~0u
#define ACC(s) LM_TCB_ACCEPT(s)

static const struct vcase g_cases[] = {
	{ 14, "tdx/tdx-v4-gotdx-spr-quote.dat", T23, "2023-07-01T00:00:00Z", ALL, false, "tcb level", "", "" },
	{ 15, "tdx/tdx-v4-gotdx-spr-quote.dat", T23, NULL, ALL, false, "root ca crl", "", "" },
	{ 16, "tdx/tdx-v4-gotdx-spr-quote.dat", T25, "2025-02-20T00:00:00Z", ALL, false, "fmspc", "", "" },
	{ 17, "tdx/tdx-v4-dcaprs-00806f050000-quote.dat", T25, "2025-02-20T00:00:00Z", 0, false, "tcb status",
	  "OutOfDate", "INTEL-SA-00960,INTEL-SA-00982,INTEL-SA-00986" },
	{ 17, "tdx/tdx-v4-dcaprs-00806f050000-quote.dat", T25, "2025-02-20T00:00:00Z", ACC(LM_TCB_OUT_OF_DATE), true,
	  NULL, "OutOfDate", "INTEL-SA-00960,INTEL-SA-00982,INTEL-SA-00986" },
	{ 18, "tdx/tdx-v4-phala-b0c06f000000-quote.dat",
	  "tdx/tdx-2025-06-b0c06f000000-pck-crl.der tdx/tdx-2025-06-b0c06f000000-qeidentity.json "
	  "tdx/tdx-2025-06-b0c06f000000-root-ca-crl.der tdx/tdx-2025-06-b0c06f000000-tcbinfo.json "
	  "tdx/intel-tcb-signing-2025-chain.pem",
	  "2025-07-01T00:00:00Z", 0, true, NULL, "UpToDate", "" },
	{ 19, "tdx/tdx-v5-gotdx-90c06f000000-quote.dat", T26 "tdx/intel-tcb-signing-2025-chain.pem",
	  "2026-02-25T00:00:00Z", 0, true, NULL, "UpToDate", "" },
	{ 20, "tdx/tdx-v5-gotdx-90c06f000000-quote.dat", T26 "tdx/intel-tcb-signing-2018-chain.pem",
	  "2026-02-25T00:00:00Z", 0, false, "qe identity", "UpToDate", "" },
	{ 21, "tdx/tdx-v4-near-20a06f000000-quote.dat",
	  "tdx/tdx-2025-09-20a06f000000-pck-crl.der tdx/tdx-2025-09-20a06f000000-qeidentity.json "
	  "tdx/tdx-2025-09-20a06f000000-root-ca-crl.der tdx/tdx-2025-09-20a06f000000-tcbinfo.json "
	  "tdx/intel-tcb-signing-2025-chain.pem",
	  "2025-09-15T00:00:00Z", 0, true, NULL, "UpToDate", "" },
	{ 22, "tdx/tdx-v4-coco-00a06d080000-quote.dat",
	  "tdx/tdx-2025-10-pck-platform-crl.der tdx/tdx-2025-10-qeidentity-tdqe.json "
	  "tdx/tdx-2025-10-tcbinfo-00a06d080000.json tdx/intel-root-ca-crl-2025-03.der "
	  "tdx/intel-tcb-signing-2025-chain.pem",
	  "2025-11-01T00:00:00Z", ACC(LM_TCB_OUT_OF_DATE), true, NULL, "OutOfDate", "" },
	{ 23, "tdx/tdx-v4-gotdx-spr-quote-NEG-body-0x3C.dat", T23, "2023-07-01T00:00:00Z", ALL, false,
	  "quote signature", "", "" },
	{ 24, "sgx/sgx-v3-coco-occlum-00606a000000-quote.dat",
	  "sgx/sgx-2025-02-pck-platform-crl.der sgx/sgx-2025-02-qeidentity-qe.json "
	  "sgx/sgx-2025-02-tcbinfo-v2-00606a000000.json sgx/intel-root-ca-crl-2024-03.der "
	  "sgx/intel-tcb-signing-2018-chain.pem",
	  "2025-02-20T00:00:00Z", ACC(LM_TCB_OUT_OF_DATE), false, "debug", "OutOfDate", "" },
	{ 25, "sgx/sgx-v3-phala-00a067110000-quote.dat",
	  S25 "sgx/sgx-2025-06-00a067110000-pck-crl.der sgx/intel-pck-processor-ca-chain.pem", "2025-07-01T00:00:00Z",
	  ACC(LM_TCB_CONFIGURATION_AND_SW_HARDENING_NEEDED), true, NULL, "ConfigurationAndSWHardeningNeeded",
	  "INTEL-SA-00289,INTEL-SA-00615" },
	{ 26, "sgx/sgx-v3-phala-00a067110000-quote.dat",
	  S25 "tdx/tdx-2025-06-b0c06f000000-pck-crl.der sgx/intel-pck-platform-ca-chain.pem", "2025-07-01T00:00:00Z",
	  ALL, false, "pck crl", "ConfigurationAndSWHardeningNeeded", "INTEL-SA-00289,INTEL-SA-00615" },
	{ 27, "sgx/sgx-v3-tlsn-00906ed50000-quote.dat",
	  "sgx/sgx-2025-09-tcbinfo-00906ed50000.json sgx/intel-pck-processor-ca-chain.pem "
	  "sgx/intel-tcb-signing-2025-chain.pem",
	  "2025-10-01T00:00:00Z", ALL, false, "root ca crl", "SWHardeningNeeded", "INTEL-SA-00334,INTEL-SA-00615" },
	{ 28, "sgx/sgx-v3-chinenyeokafor-90c06f000000-quote.dat",
	  "sgx/intel-pck-platform-ca-chain.pem sgx/intel-sgx-root-ca.pem", "2025-06-01T00:00:00Z", ALL, false,
	  "root ca crl", "", "" },
	{ 29, "sgx/sgx-v3-phala-00a067110000-quote-NEG-reportdata-flip.dat",
	  S25 "sgx/sgx-2025-06-00a067110000-pck-crl.der sgx/intel-pck-processor-ca-chain.pem", "2025-07-01T00:00:00Z",
	  ALL, false, "quote signature", "ConfigurationAndSWHardeningNeeded", "INTEL-SA-00289,INTEL-SA-00615" },
};

static void copy_file(const char *from, const char *dir)
{
	uint8_t *data = NULL;
	size_t size;
	const char *base = strrchr(from, '/');

	assert_int_equal(lm_file_read(from, 1u << 20, &data, &size), 0);
	write_file(dir, base ? base + 1 : from, data, size);
	free(data);
}

static void test_real_vectors(void **state)
{
	const char *shared = getenv("LAMBDA_SHARED");
	char vec[512], path[1024];
	struct stat st;

	(void)state;
	snprintf(vec, sizeof(vec), "%s/vectors", shared ? shared : "../shared");
	snprintf(path, sizeof(path), "%s/tdx/tdx-v4-gotdx-spr-quote.dat", vec);
	if (stat(path, &st) != 0)
		skip();
	for (size_t i = 0; i < sizeof(g_cases) / sizeof(g_cases[0]); i++) {
		const struct vcase *k = &g_cases[i];
		struct lm_evidence *ev = NULL;
		struct lm_policy p = { .accept_tcb = k->accept };
		struct lm_verdict v;
		char dir[160], files[1024], *save = NULL;
		uint8_t *q = NULL;
		size_t size;

		snprintf(dir, sizeof(dir), "%s/case%zu", g_tmp, i);
		assert_int_equal(mkdir(dir, 0700), 0);
		snprintf(files, sizeof(files), "%s", k->files);
		for (char *f = strtok_r(files, " ", &save); f; f = strtok_r(NULL, " ", &save)) {
			snprintf(path, sizeof(path), "%s/%s", vec, f);
			copy_file(path, dir);
		}
		p.collateral_dir = dir;
		if (k->at)
			assert_int_equal(lm_time_parse(k->at, &p.at), 0);
		snprintf(path, sizeof(path), "%s/%s", vec, k->quote);
		assert_int_equal(lm_file_read(path, 1u << 20, &q, &size), 0);
		assert_int_equal(lm_dcap_evidence_from_quote(q, size, &ev), 0);
		assert_int_equal(lm_verify_evidence(ev, &p, &v), 0);
		if (v.verified != k->verified ||
		    (!k->verified && (v.first_failed < 0 || strcmp(v.checks[v.first_failed].name, k->first_failed) != 0)) ||
		    strcmp(v.tcb_status, k->status) != 0 || strcmp(v.advisories, k->advisories) != 0) {
			print_message("case %d (%s): verified %d, status \"%s\" [%s]\n", k->number, k->quote, v.verified,
				      v.tcb_status, v.advisories);
			print_failed(&v);
			fail();
		}
		lm_evidence_free(ev);
		free(q);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tdx_v4_ok),
		cmocka_unit_test(test_tdx_v5_ok),
		cmocka_unit_test(test_sgx_v3_ok),
		cmocka_unit_test(test_trailing_bytes_ignored),
		cmocka_unit_test(test_lookalike_root),
		cmocka_unit_test(test_quote_chain_copy),
		cmocka_unit_test(test_quote_byte_flipped),
		cmocka_unit_test(test_qe_report_signature),
		cmocka_unit_test(test_qe_report_data),
		cmocka_unit_test(test_revoked_pck),
		cmocka_unit_test(test_expired_pck),
		cmocka_unit_test(test_expired_crl),
		cmocka_unit_test(test_expired_tcb_info),
		cmocka_unit_test(test_expired_qe_identity),
		cmocka_unit_test(test_fmspc_mismatch),
		cmocka_unit_test(test_qe_identity_mismatch),
		cmocka_unit_test(test_missing_collateral),
		cmocka_unit_test(test_missing_each),
		cmocka_unit_test(test_declared_length),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_debug_and_pins),
		cmocka_unit_test(test_tdx_pins),
		cmocka_unit_test(test_each_status),
		cmocka_unit_test(test_level_order),
		cmocka_unit_test(test_module_and_qe_converge),
		cmocka_unit_test(test_collateral_by_content),
		cmocka_unit_test(test_json_signed_bytes),
		cmocka_unit_test(test_real_vectors),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
