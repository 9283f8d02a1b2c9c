/* The AMD SEV-SNP verifier against a test PKI made here: ARKs (RSA,
 * self-signed with RSASSA-PSS SHA-384), ASKs and ASVKs, and P-384 VCEKs and
 * VLEKs with AMD's extensions, signing synthetic reports. Each check is made
 * to fail alone. When $LAMBDA_SHARED/vectors exists, real reports from AMD
 * hardware are verified too (cases 1-13 of its MANIFEST.md). */
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
#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>

#include "attest/attest_int.h"
#include "attest/snp_int.h"
#include "lambda/util.h"

#define T0 ((time_t)1767225600)	/* 2026-01-01T00:00:00Z */
#define YEAR ((time_t)365 * 86400)

enum { MILAN, GENOA, TURIN, PRODUCTS };

static const char *const g_names[PRODUCTS] = { "Milan", "Genoa", "Turin" };
static EVP_PKEY *g_ark_key, *g_ask_key, *g_other_ask_key, *g_vcek_key, *g_other_vcek_key;
static X509 *g_ark[PRODUCTS], *g_ask[PRODUCTS], *g_asvk[PRODUCTS];
static char g_root_path[PRODUCTS][64];
static char g_dir[] = "/tmp/test_snp.XXXXXX";

static const uint8_t g_chip_id[64] = { 0xc3, 0x84, 0x27, 0xa3, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };

/* What a VCEK or VLEK says about itself. */
struct leaf_spec {
	int product;
	bool vlek;
	const char *product_name;	/* NULL: none */
	struct lm_snp_tcb tcb;
	const uint8_t *hwid;		/* NULL: g_chip_id */
	size_t hwid_size;		/* 0: the product's */
	bool hwid_wrapped;		/* DER OCTET STRING around the bytes */
	time_t not_before, not_after;	/* 0: T0 -+ a year */
	EVP_PKEY *key;			/* NULL: g_vcek_key */
	EVP_PKEY *issuer_key;		/* NULL: g_ask_key */
	const char *issuer_cn;		/* NULL: SEV-<product> or SEV-VLEK-<product> */
};

static const struct lm_snp_tcb g_tcb = { .fmc = 1, .bootloader = 3, .tee = 2, .snp = 8, .microcode = 115 };

static void add_name(X509_NAME *n, const char *cn)
{
	assert_int_equal(X509_NAME_add_entry_by_txt(n, "O", MBSTRING_ASC,
						    (const unsigned char *)"Advanced Micro Devices", -1, -1, 0), 1);
	assert_int_equal(X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0), 1);
}

static void sign_pss(X509 *x, EVP_PKEY *key)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;

	assert_non_null(md);
	assert_int_equal(EVP_DigestSignInit(md, &pctx, EVP_sha384(), NULL, key), 1);
	assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING), 1);
	assert_int_equal(EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, 48), 1);
	assert_int_equal(EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha384()), 1);
	assert_true(X509_sign_ctx(x, md) > 0);
	EVP_MD_CTX_free(md);
}

static X509 *cert_new(const char *cn, EVP_PKEY *key, const char *issuer_cn, EVP_PKEY *issuer_key, time_t nb,
		      time_t na)
{
	X509 *x = X509_new();

	assert_non_null(x);
	assert_int_equal(X509_set_version(x, 2), 1);
	assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), 1), 1);
	add_name(X509_get_subject_name(x), cn);
	add_name(X509_get_issuer_name(x), issuer_cn);
	assert_non_null(X509_time_adj_ex(X509_getm_notBefore(x), 0, 0, &nb));
	assert_non_null(X509_time_adj_ex(X509_getm_notAfter(x), 0, 0, &na));
	assert_int_equal(X509_set_pubkey(x, key), 1);
	(void)issuer_key;
	return x;
}

/* Adds extension oid whose contents are the DER in der. */
static void add_raw_ext(X509 *x, const char *oid, const uint8_t *der, int size)
{
	ASN1_OBJECT *obj = OBJ_txt2obj(oid, 1);
	ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
	X509_EXTENSION *ext;

	assert_non_null(obj);
	assert_non_null(os);
	assert_int_equal(ASN1_OCTET_STRING_set(os, der, size), 1);
	ext = X509_EXTENSION_create_by_OBJ(NULL, obj, 0, os);
	assert_non_null(ext);
	assert_int_equal(X509_add_ext(x, ext, -1), 1);
	X509_EXTENSION_free(ext);
	ASN1_OCTET_STRING_free(os);
	ASN1_OBJECT_free(obj);
}

static void add_int_ext(X509 *x, const char *oid, long v)
{
	ASN1_INTEGER *n = ASN1_INTEGER_new();
	unsigned char *der = NULL;
	int size;

	assert_int_equal(ASN1_INTEGER_set(n, v), 1);
	size = i2d_ASN1_INTEGER(n, &der);
	assert_true(size > 0);
	add_raw_ext(x, oid, der, size);
	OPENSSL_free(der);
	ASN1_INTEGER_free(n);
}

static void add_ia5_ext(X509 *x, const char *oid, const char *s)
{
	ASN1_IA5STRING *str = ASN1_IA5STRING_new();
	unsigned char *der = NULL;
	int size;

	assert_int_equal(ASN1_STRING_set(str, s, -1), 1);
	size = i2d_ASN1_IA5STRING(str, &der);
	assert_true(size > 0);
	add_raw_ext(x, oid, der, size);
	OPENSSL_free(der);
	ASN1_IA5STRING_free(str);
}

static X509 *make_leaf(const struct leaf_spec *s)
{
	char issuer[64];
	const uint8_t *hwid = s->hwid ? s->hwid : g_chip_id;
	size_t hwid_size = s->hwid_size ? s->hwid_size : s->product == TURIN ? 8 : 64;
	time_t nb = s->not_before ? s->not_before : T0 - YEAR, na = s->not_after ? s->not_after : T0 + YEAR;
	X509 *x;

	if (s->issuer_cn)
		snprintf(issuer, sizeof(issuer), "%s", s->issuer_cn);
	else
		snprintf(issuer, sizeof(issuer), "SEV-%s%s", s->vlek ? "VLEK-" : "", g_names[s->product]);
	x = cert_new(s->vlek ? "SEV-VLEK" : "SEV-VCEK", s->key ? s->key : g_vcek_key, issuer, NULL, nb, na);
	add_int_ext(x, "1.3.6.1.4.1.3704.1.1", 1);
	if (s->product_name)
		add_ia5_ext(x, "1.3.6.1.4.1.3704.1.2", s->product_name);
	add_int_ext(x, "1.3.6.1.4.1.3704.1.3.1", s->tcb.bootloader);
	add_int_ext(x, "1.3.6.1.4.1.3704.1.3.2", s->tcb.tee);
	add_int_ext(x, "1.3.6.1.4.1.3704.1.3.3", s->tcb.snp);
	add_int_ext(x, "1.3.6.1.4.1.3704.1.3.8", s->tcb.microcode);
	if (s->product == TURIN)
		add_int_ext(x, "1.3.6.1.4.1.3704.1.3.9", s->tcb.fmc);
	if (s->vlek) {
		add_ia5_ext(x, "1.3.6.1.4.1.3704.1.5", "CN=cloud.example");
	} else if (s->hwid_wrapped) {
		uint8_t der[2 + 64];

		der[0] = 0x04;
		der[1] = (uint8_t)hwid_size;
		memcpy(der + 2, hwid, hwid_size);
		add_raw_ext(x, "1.3.6.1.4.1.3704.1.4", der, (int)hwid_size + 2);
	} else {
		add_raw_ext(x, "1.3.6.1.4.1.3704.1.4", hwid, (int)hwid_size);
	}
	sign_pss(x, s->issuer_key ? s->issuer_key : g_ask_key);
	return x;
}

/* lm_snp_verify_report() in a verifier made for the call (no chain cache:
 * every signature checked). */
static int snp_verify_report(const uint8_t *raw, size_t size, const char *const *pem, size_t n,
			     const struct lm_policy *p, struct lm_verdict *v)
{
	struct lm_verifier *vf = NULL;
	int r = lm_verifier_new(p, LM_VERIFIER_NO_CHAIN_CACHE, &vf);

	if (r == 0)
		r = lm_snp_verify_report(vf, raw, size, pem, n, p, v, NULL);
	lm_verifier_free(vf);
	return r;
}

static char *to_pem(X509 *x)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *p, *out;
	long n;

	assert_int_equal(PEM_write_bio_X509(bio, x), 1);
	n = BIO_get_mem_data(bio, &p);
	out = malloc((size_t)n + 1);
	assert_non_null(out);
	memcpy(out, p, (size_t)n);
	out[n] = 0;
	BIO_free(bio);
	return out;
}

static int group_setup(void **state)
{
	(void)state;
	if (!mkdtemp(g_dir))
		return -1;
	g_ark_key = EVP_RSA_gen(2048);
	g_ask_key = EVP_RSA_gen(2048);
	g_other_ask_key = EVP_RSA_gen(2048);
	g_vcek_key = EVP_EC_gen("P-384");
	g_other_vcek_key = EVP_EC_gen("P-384");
	if (!g_ark_key || !g_ask_key || !g_other_ask_key || !g_vcek_key || !g_other_vcek_key)
		return -1;
	for (int p = 0; p < PRODUCTS; p++) {
		char ark[32], ask[32], asvk[32];
		FILE *f;

		snprintf(ark, sizeof(ark), "ARK-%s", g_names[p]);
		snprintf(ask, sizeof(ask), "SEV-%s", g_names[p]);
		snprintf(asvk, sizeof(asvk), "SEV-VLEK-%s", g_names[p]);
		g_ark[p] = cert_new(ark, g_ark_key, ark, NULL, T0 - 5 * YEAR, T0 + 20 * YEAR);
		sign_pss(g_ark[p], g_ark_key);
		g_ask[p] = cert_new(ask, g_ask_key, ark, NULL, T0 - 5 * YEAR, T0 + 20 * YEAR);
		sign_pss(g_ask[p], g_ark_key);
		g_asvk[p] = cert_new(asvk, g_ask_key, ark, NULL, T0 - 5 * YEAR, T0 + 20 * YEAR);
		sign_pss(g_asvk[p], g_ark_key);
		snprintf(g_root_path[p], sizeof(g_root_path[p]), "%s/ark-%d.pem", g_dir, p);
		if (!(f = fopen(g_root_path[p], "w")) || PEM_write_X509(f, g_ark[p]) != 1 || fclose(f) != 0)
			return -1;
	}
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	for (int p = 0; p < PRODUCTS; p++) {
		X509_free(g_ark[p]);
		X509_free(g_ask[p]);
		X509_free(g_asvk[p]);
	}
	EVP_PKEY_free(g_ark_key);
	EVP_PKEY_free(g_ask_key);
	EVP_PKEY_free(g_other_ask_key);
	EVP_PKEY_free(g_vcek_key);
	EVP_PKEY_free(g_other_vcek_key);
	return lm_rm_rf(g_dir) < 0 ? -1 : 0;
}

/* ---- synthetic reports ---- */

struct report_spec {
	int product;
	uint32_t version;		/* 0: 2 (Milan), 3 (Genoa), 5 (Turin) */
	uint64_t policy;		/* 0: 0x30000 */
	uint32_t vmpl;
	uint32_t signing_key;		/* LM_SNP_KEY_* */
	const struct lm_snp_tcb *tcb;	/* NULL: g_tcb */
	uint8_t cpuid_family, cpuid_model; /* 0: the product's */
	bool zero_chip_id;
	EVP_PKEY *key;			/* NULL: g_vcek_key */
};

static void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void report_sign(uint8_t raw[static LM_SNP_REPORT_BYTES], EVP_PKEY *key)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	uint8_t der[128];
	size_t der_size = sizeof(der);
	const unsigned char *p = der;
	const BIGNUM *r, *s;
	ECDSA_SIG *sig;

	assert_int_equal(EVP_DigestSignInit(md, NULL, EVP_sha384(), NULL, key), 1);
	assert_int_equal(EVP_DigestSign(md, der, &der_size, raw, LM_SNP_SIGNED_BYTES), 1);
	sig = d2i_ECDSA_SIG(NULL, &p, (long)der_size);
	assert_non_null(sig);
	ECDSA_SIG_get0(sig, &r, &s);
	memset(raw + LM_SNP_OFF_SIG_R, 0, LM_SNP_REPORT_BYTES - LM_SNP_OFF_SIG_R);
	assert_int_equal(BN_bn2lebinpad(r, raw + LM_SNP_OFF_SIG_R, 72), 72);
	assert_int_equal(BN_bn2lebinpad(s, raw + LM_SNP_OFF_SIG_S, 72), 72);
	ECDSA_SIG_free(sig);
	EVP_MD_CTX_free(md);
}

static void make_report(uint8_t raw[static LM_SNP_REPORT_BYTES], const struct report_spec *s)
{
	static const uint8_t fam[PRODUCTS] = { 0x19, 0x19, 0x1a }, model[PRODUCTS] = { 0x01, 0x11, 0x02 };
	static const uint32_t ver[PRODUCTS] = { 2, 3, 5 };
	enum lm_snp_product prod = (enum lm_snp_product)(s->product + LM_SNP_PRODUCT_MILAN);
	uint32_t version = s->version ? s->version : ver[s->product];

	memset(raw, 0, LM_SNP_REPORT_BYTES);
	put_le32(raw + LM_SNP_OFF_VERSION, version);
	put_le32(raw + LM_SNP_OFF_GUEST_SVN, 7);
	put_le64(raw + LM_SNP_OFF_POLICY, s->policy ? s->policy : 0x30000);
	put_le32(raw + LM_SNP_OFF_VMPL, s->vmpl);
	put_le32(raw + LM_SNP_OFF_SIGNATURE_ALGO, 1);
	put_le64(raw + LM_SNP_OFF_CURRENT_TCB, lm_snp_tcb_encode(s->tcb ? s->tcb : &g_tcb, prod));
	put_le64(raw + LM_SNP_OFF_PLATFORM_INFO, 0x25);
	put_le32(raw + LM_SNP_OFF_KEY_INFO, s->signing_key << LM_SNP_KEY_INFO_SIGNING_SHIFT);
	for (int i = 0; i < 64; i++)
		raw[LM_SNP_OFF_REPORT_DATA + i] = (uint8_t)(0x40 + i);
	for (int i = 0; i < 48; i++)
		raw[LM_SNP_OFF_MEASUREMENT + i] = (uint8_t)(0x90 + i);
	for (int i = 0; i < 32; i++)
		raw[LM_SNP_OFF_HOST_DATA + i] = (uint8_t)(0xc0 + i);
	put_le64(raw + LM_SNP_OFF_REPORTED_TCB, lm_snp_tcb_encode(s->tcb ? s->tcb : &g_tcb, prod));
	if (version >= 3) {
		raw[LM_SNP_OFF_CPUID_FAM_ID] = s->cpuid_family ? s->cpuid_family : fam[s->product];
		raw[LM_SNP_OFF_CPUID_MOD_ID] = s->cpuid_family ? s->cpuid_model : model[s->product];
		raw[LM_SNP_OFF_CPUID_STEP] = 1;
	}
	if (!s->zero_chip_id && s->signing_key == LM_SNP_KEY_VCEK)
		memcpy(raw + LM_SNP_OFF_CHIP_ID, g_chip_id, s->product == TURIN ? 8 : 64);
	put_le64(raw + LM_SNP_OFF_COMMITTED_TCB, lm_snp_tcb_encode(s->tcb ? s->tcb : &g_tcb, prod));
	raw[LM_SNP_OFF_CURRENT_BUILD] = 4;
	raw[LM_SNP_OFF_CURRENT_BUILD + 1] = 52;
	raw[LM_SNP_OFF_CURRENT_BUILD + 2] = 1;
	put_le64(raw + LM_SNP_OFF_LAUNCH_TCB, lm_snp_tcb_encode(s->tcb ? s->tcb : &g_tcb, prod));
	if (version >= 5) {
		put_le64(raw + LM_SNP_OFF_LAUNCH_MIT_VECTOR, 0x3);
		put_le64(raw + LM_SNP_OFF_CURRENT_MIT_VECTOR, 0x7);
	}
	report_sign(raw, s->key ? s->key : g_vcek_key);
}

/* Verifies raw with leaf and the intermediate(s) as PEM, the product's test
 * ARK as root (unless the policy names one), at T0 unless p->at is set. */
static void run(const uint8_t *raw, X509 *leaf, X509 *mid, X509 *mid2, int product, const struct lm_policy *pol,
		struct lm_verdict *v)
{
	struct lm_policy p = pol ? *pol : (struct lm_policy){ 0 };
	char *pem[3] = { NULL, NULL, NULL };
	size_t n = 0;

	if (!p.root_file)
		p.root_file = g_root_path[product];
	if (!p.at)
		p.at = T0;
	if (leaf)
		pem[n++] = to_pem(leaf);
	if (mid)
		pem[n++] = to_pem(mid);
	if (mid2)
		pem[n++] = to_pem(mid2);
	lm_verdict_init(v, LM_PLATFORM_SNP);
	assert_int_equal(snp_verify_report(raw, LM_SNP_REPORT_BYTES, (const char *const *)pem, n, &p, v), 0);
	for (size_t i = 0; i < n; i++)
		free(pem[i]);
}

static const char *first_failed(const struct lm_verdict *v)
{
	return v->first_failed < 0 ? "" : v->checks[v->first_failed].name;
}

static void print_failed(const struct lm_verdict *v)
{
	for (size_t i = 0; i < v->check_count; i++)
		if (!v->checks[i].ok)
			print_message("  %s: %s\n", v->checks[i].name, v->checks[i].detail);
}

static void expect_verified(const struct lm_verdict *v)
{
	print_failed(v);
	assert_true(v->verified);
	assert_int_equal(v->first_failed, -1);
}

static void expect_fail(const struct lm_verdict *v, const char *check)
{
	if (strcmp(first_failed(v), check) != 0)
		print_failed(v);
	assert_false(v->verified);
	assert_string_equal(first_failed(v), check);
}

static bool check_ok(const struct lm_verdict *v, const char *name)
{
	for (size_t i = 0; i < v->check_count; i++)
		if (strcmp(v->checks[i].name, name) == 0)
			return v->checks[i].ok;
	fail_msg("no check %s", name);
	return false;
}

static X509 *vcek(int product)
{
	static const char *const pn[PRODUCTS] = { "Milan-B0", "Genoa", "Turin" };
	struct leaf_spec s = { .product = product, .product_name = pn[product], .tcb = g_tcb };

	return make_leaf(&s);
}

/* ---- tests ---- */

static void test_valid_each_version(void **state)
{
	uint8_t raw[LM_SNP_REPORT_BYTES];
	struct lm_verdict v;

	(void)state;
	for (int p = 0; p < PRODUCTS; p++) {
		struct report_spec s = { .product = p };
		X509 *leaf = vcek(p);

		make_report(raw, &s);
		run(raw, leaf, g_ask[p], NULL, p, NULL, &v);
		expect_verified(&v);
		assert_true(strncmp(v.measurement, "sha384:909192", 13) == 0);
		X509_free(leaf);
	}
}

static void test_parse_fields(void **state)
{
	uint8_t raw[LM_SNP_REPORT_BYTES];
	struct report_spec s = { .product = TURIN, .policy = 0xb0000, .vmpl = 2 };
	struct lm_snp_report rep;
	struct lm_snp_tcb t;

	(void)state;
	make_report(raw, &s);
	assert_int_equal(lm_snp_report_parse(raw, sizeof(raw), &rep), 0);
	assert_int_equal(rep.version, 5);
	assert_int_equal(rep.guest_svn, 7);
	assert_int_equal(rep.policy, 0xb0000);
	assert_int_equal(rep.vmpl, 2);
	assert_int_equal(rep.platform_info, 0x25);
	assert_true(rep.has_cpuid);
	assert_int_equal(rep.cpuid_fam_id, 0x1a);
	assert_int_equal(rep.cpuid_mod_id, 0x02);
	assert_true(rep.has_mit_vector);
	assert_int_equal(rep.launch_mit_vector, 3);
	assert_int_equal(rep.current_mit_vector, 7);
	assert_int_equal(rep.current_major, 1);
	assert_int_equal(rep.current_minor, 52);
	assert_int_equal(rep.current_build, 4);
	assert_int_equal(rep.report_data[0], 0x40);
	assert_int_equal(rep.measurement[0], 0x90);
	assert_int_equal(rep.host_data[0], 0xc0);
	assert_memory_equal(rep.chip_id, g_chip_id, 8);
	/* Turin's layout: FMC, bootloader, TEE, SNP, ..., microcode. */
	assert_int_equal(rep.reported_tcb, 0x7300000008020301ull);
	lm_snp_tcb_decode(rep.reported_tcb, LM_SNP_PRODUCT_TURIN, &t);
	assert_int_equal(t.fmc, 1);
	assert_int_equal(t.bootloader, 3);
	assert_int_equal(t.tee, 2);
	assert_int_equal(t.snp, 8);
	assert_int_equal(t.microcode, 115);
	/* Milan's: bootloader, TEE, 4 reserved, SNP, microcode. */
	assert_int_equal(lm_snp_tcb_encode(&g_tcb, LM_SNP_PRODUCT_MILAN), 0x7308000000000203ull);

	/* v2: the CPUID bytes are reserved and never read as a product. */
	raw[0] = 2;
	raw[LM_SNP_OFF_CPUID_FAM_ID] = 0x19;
	assert_int_equal(lm_snp_report_parse(raw, sizeof(raw), &rep), 0);
	assert_false(rep.has_cpuid);
	assert_int_equal(rep.cpuid_fam_id, 0);
	assert_false(rep.has_mit_vector);
	assert_int_equal(lm_attest_detect(raw, sizeof(raw)), LM_PLATFORM_SNP);
}

static void test_parse_rejects(void **state)
{
	uint8_t raw[LM_SNP_REPORT_BYTES], bad[LM_SNP_REPORT_BYTES + 1];
	struct report_spec s = { .product = MILAN };
	struct lm_snp_report rep;
	static const struct {
		size_t off;
		uint8_t value;
	} flips[] = {
		{ LM_SNP_OFF_VERSION, 4 },	{ LM_SNP_OFF_VERSION, 1 },	  { LM_SNP_OFF_VERSION + 1, 2 },
		{ LM_SNP_OFF_VMPL, 4 },		{ LM_SNP_OFF_SIGNATURE_ALGO, 2 }, { LM_SNP_OFF_KEY_INFO, 3 << 2 },
		{ LM_SNP_OFF_KEY_INFO, 0x20 },	{ LM_SNP_OFF_SIG_RESERVED, 1 },	  { LM_SNP_REPORT_BYTES - 1, 0x80 },
	};

	(void)state;
	make_report(raw, &s);
	assert_int_equal(lm_snp_report_parse(raw, sizeof(raw) - 1, &rep), LM_EFORMAT);
	memcpy(bad, raw, sizeof(raw));
	bad[sizeof(raw)] = 0;
	assert_int_equal(lm_snp_report_parse(bad, sizeof(bad), &rep), LM_EFORMAT);
	assert_int_equal(lm_attest_detect(raw, sizeof(raw) - 1), LM_PLATFORM_UNKNOWN);
	for (size_t i = 0; i < sizeof(flips) / sizeof(flips[0]); i++) {
		memcpy(bad, raw, sizeof(raw));
		bad[flips[i].off] = flips[i].value;
		assert_int_equal(lm_snp_report_parse(bad, sizeof(raw), &rep), LM_EFORMAT);
		assert_int_equal(lm_attest_detect(bad, sizeof(raw)), LM_PLATFORM_UNKNOWN);
	}
}

static void test_products(void **state)
{
	(void)state;
	assert_int_equal(lm_snp_product_from_cpuid(0x19, 0x01), LM_SNP_PRODUCT_MILAN);
	assert_int_equal(lm_snp_product_from_cpuid(0x19, 0x11), LM_SNP_PRODUCT_GENOA);
	assert_int_equal(lm_snp_product_from_cpuid(0x19, 0xa0), LM_SNP_PRODUCT_GENOA);
	assert_int_equal(lm_snp_product_from_cpuid(0x1a, 0x02), LM_SNP_PRODUCT_TURIN);
	assert_int_equal(lm_snp_product_from_cpuid(0x19, 0x50), LM_SNP_PRODUCT_UNKNOWN);
	assert_int_equal(lm_snp_product_from_cpuid(0x17, 0x01), LM_SNP_PRODUCT_UNKNOWN);
	assert_int_equal(lm_snp_product_from_name("Milan-B0"), LM_SNP_PRODUCT_MILAN);
	assert_int_equal(lm_snp_product_from_name("Genoa"), LM_SNP_PRODUCT_GENOA);
	assert_int_equal(lm_snp_product_from_name("Turin"), LM_SNP_PRODUCT_TURIN);
	assert_int_equal(lm_snp_product_from_name("Milanese"), LM_SNP_PRODUCT_UNKNOWN);
	assert_int_equal(lm_snp_product_from_name(""), LM_SNP_PRODUCT_UNKNOWN);
}

static void test_flipped_byte(void **state)
{
	uint8_t raw[LM_SNP_REPORT_BYTES];
	struct report_spec s = { .product = MILAN };
	X509 *leaf = vcek(MILAN);
	struct lm_verdict v;

	(void)state;
	make_report(raw, &s);
	raw[LM_SNP_OFF_MEASUREMENT] ^= 1;
	run(raw, leaf, g_ask[MILAN], NULL, MILAN, NULL, &v);
	expect_fail(&v, "signature");
	make_report(raw, &s);
	raw[LM_SNP_OFF_SIG_S + 3] ^= 0x80;
	run(raw, leaf, g_ask[MILAN], NULL, MILAN, NULL, &v);
	expect_fail(&v, "signature");
	X509_free(leaf);
}

static void test_wrong_vcek(void **state)
{
	uint8_t raw[LM_SNP_REPORT_BYTES];
	struct report_spec s = { .product = GENOA, .key = g_other_vcek_key };
	X509 *leaf = vcek(GENOA);
	struct lm_verdict v;

	(void)state;
	make_report(raw, &s);
	run(raw, leaf, g_ask[GENOA], NULL, GENOA, NULL, &v);
	expect_fail(&v, "signature");
	X509_free(leaf);
}

static void test_chain_failures(void **state)
{
	uint8_t raw[LM_SNP_REPORT_BYTES];
	struct report_spec s = { .product = MILAN };
	struct leaf_spec other = { .product = MILAN, .product_name = "Milan-B0", .tcb = g_tcb,
				   .issuer_key = g_other_ask_key };
	struct leaf_spec expired = { .product = MILAN, .product_name = "Milan-B0", .tcb = g_tcb,
				     .not_before = T0 - 3 * YEAR, .not_after = T0 - YEAR };
	struct lm_policy builtin = { .root_file = NULL };
	X509 *leaf = vcek(MILAN), *x;
	struct lm_verdict v;

	(void)state;
	make_report(raw, &s);
	/* Signed by a different ASK of the same name. */
	x = make_leaf(&other);
	run(raw, x, g_ask[MILAN], NULL, MILAN, NULL, &v);
	expect_fail(&v, "certificate chain");
	assert_true(check_ok(&v, "signature"));
	X509_free(x);
	/* Expired at --at, valid a year earlier. */
	x = make_leaf(&expired);
	run(raw, x, g_ask[MILAN], NULL, MILAN, NULL, &v);
	expect_fail(&v, "certificate chain");
	assert_non_null(strstr(v.checks[v.first_failed].detail, "expired"));
	builtin.at = T0 - 2 * YEAR;
	run(raw, x, g_ask[MILAN], NULL, MILAN, &builtin, &v);
	expect_verified(&v);
	X509_free(x);
	/* Not yet valid. */
	builtin.at = T0 - 4 * YEAR;
	run(raw, leaf, g_ask[MILAN], NULL, MILAN, &builtin, &v);
	expect_fail(&v, "certificate chain");
	/* No ASK given. */
	run(raw, leaf, NULL, NULL, MILAN, NULL, &v);
	expect_fail(&v, "certificate chain");
	/* The test ARK is not one of AMD's: the built-in roots refuse it. */
	{
		struct lm_policy p = { .at = T0 };
		char *pem[3] = { to_pem(leaf), to_pem(g_ask[MILAN]), to_pem(g_ark[MILAN]) };

		lm_verdict_init(&v, LM_PLATFORM_SNP);
		assert_int_equal(snp_verify_report(raw, sizeof(raw), (const char *const *)pem, 3, &p, &v), 0);
		expect_fail(&v, "certificate chain");
		assert_non_null(strstr(v.checks[v.first_failed].detail, "trusted ARK"));
		for (int i = 0; i < 3; i++)
			free(pem[i]);
	}
	/* A VCEK under an ASVK. */
	{
		struct leaf_spec via_asvk = { .product = MILAN, .product_name = "Milan-B0", .tcb = g_tcb,
					      .issuer_cn = "SEV-VLEK-Milan" };

		x = make_leaf(&via_asvk);
		run(raw, x, g_asvk[MILAN], NULL, MILAN, NULL, &v);
		expect_fail(&v, "certificate chain");
		X509_free(x);
	}
	X509_free(leaf);
}

static void test_vlek(void **state)
{
	uint8_t raw[LM_SNP_REPORT_BYTES];
	struct report_spec s = { .product = MILAN, .version = 3, .signing_key = LM_SNP_KEY_VLEK };
	struct leaf_spec ls = { .product = MILAN, .vlek = true, .product_name = "Milan", .tcb = g_tcb };
	struct leaf_spec via_ask = { .product = MILAN, .vlek = true, .product_name = "Milan", .tcb = g_tcb,
				     .issuer_cn = "SEV-Milan" };
	X509 *vlek = make_leaf(&ls), *leaf = vcek(MILAN), *x;
	struct lm_verdict v;

	(void)state;
	make_report(raw, &s);
	run(raw, vlek, g_asvk[MILAN], NULL, MILAN, NULL, &v);
	expect_verified(&v);
	/* The report names the VLEK; a VCEK (even with the same key) is refused. */
	run(raw, leaf, g_ask[MILAN], NULL, MILAN, NULL, &v);
	expect_fail(&v, "signing key");
	/* A VLEK must chain through an ASVK. */
	x = make_leaf(&via_ask);
	run(raw, x, g_ask[MILAN], g_asvk[MILAN], MILAN, NULL, &v);
	expect_fail(&v, "certificate chain");
	X509_free(x);
	/* A VCEK report checked with a VLEK. */
	s.signing_key = LM_SNP_KEY_VCEK;
	make_report(raw, &s);
	run(raw, vlek, g_asvk[MILAN], NULL, MILAN, NULL, &v);
	expect_fail(&v, "signing key");
	/* An unsigned report. */
	s.signing_key = LM_SNP_KEY_NONE;
	make_report(raw, &s);
	run(raw, leaf, g_ask[MILAN], NULL, MILAN, NULL, &v);
	expect_fail(&v, "signing key");
	X509_free(vlek);
	X509_free(leaf);
}

static void test_tcb_and_chip_id(void **state)
{
	uint8_t raw[LM_SNP_REPORT_BYTES], other_id[64];
	struct lm_snp_tcb newer = g_tcb;
	struct report_spec s = { .product = MILAN };
	struct leaf_spec ls = { .product = MILAN, .product_name = "Milan-B0", .tcb = g_tcb, .hwid_wrapped = true };
	X509 *x;
	struct lm_verdict v;

	(void)state;
	/* hwID wrapped in an OCTET STRING, as some VCEKs carry it. */
	make_report(raw, &s);
	x = make_leaf(&ls);
	run(raw, x, g_ask[MILAN], NULL, MILAN, NULL, &v);
	expect_verified(&v);
	X509_free(x);
	/* The VCEK is for another TCB. */
	newer.microcode = 116;
	ls.tcb = newer;
	x = make_leaf(&ls);
	run(raw, x, g_ask[MILAN], NULL, MILAN, NULL, &v);
	expect_fail(&v, "tcb");
	X509_free(x);
	/* The VCEK is for another chip. */
	memcpy(other_id, g_chip_id, sizeof(other_id));
	other_id[63] ^= 1;
	ls.tcb = g_tcb;
	ls.hwid = other_id;
	x = make_leaf(&ls);
	run(raw, x, g_ask[MILAN], NULL, MILAN, NULL, &v);
	expect_fail(&v, "chip id");
	X509_free(x);
	/* Turin: 8-byte hwID, the rest of CHIP_ID must be zero. */
	s.product = TURIN;
	make_report(raw, &s);
	x = vcek(TURIN);
	raw[LM_SNP_OFF_CHIP_ID + 8] = 1;
	report_sign(raw, g_vcek_key);
	run(raw, x, g_ask[TURIN], NULL, TURIN, NULL, &v);
	expect_fail(&v, "chip id");
	/* Turin's TCB read with Milan's layout would not match. */
	make_report(raw, &s);
	put_le64(raw + LM_SNP_OFF_REPORTED_TCB, lm_snp_tcb_encode(&g_tcb, LM_SNP_PRODUCT_MILAN));
	report_sign(raw, g_vcek_key);
	run(raw, x, g_ask[TURIN], NULL, TURIN, NULL, &v);
	expect_fail(&v, "tcb");
	X509_free(x);
	/* A Turin VCEK without fmcSPL. */
	{
		struct leaf_spec nofmc = { .product = TURIN, .product_name = "Turin", .tcb = g_tcb };

		nofmc.product = MILAN;	/* builds without fmcSPL */
		nofmc.hwid_size = 8;
		nofmc.issuer_cn = "SEV-Turin";
		make_report(raw, &s);
		x = make_leaf(&nofmc);
		run(raw, x, g_ask[TURIN], NULL, TURIN, NULL, &v);
		expect_fail(&v, "tcb");
		X509_free(x);
	}
}

static void test_product(void **state)
{
	uint8_t raw[LM_SNP_REPORT_BYTES];
	struct report_spec s = { .product = GENOA };
	struct leaf_spec noname = { .product = MILAN, .tcb = g_tcb };
	struct lm_policy p = { .product = "Milan" };
	X509 *milan = vcek(MILAN), *x;
	struct lm_verdict v;

	(void)state;
	/* A Genoa report (CPUID) with Milan's VCEK, ASK and ARK. */
	make_report(raw, &s);
	run(raw, milan, g_ask[MILAN], NULL, MILAN, NULL, &v);
	expect_fail(&v, "product");
	/* A Genoa report, Genoa ARK, but a VCEK that says Milan. */
	{
		struct leaf_spec ls = { .product = GENOA, .product_name = "Milan-B0", .tcb = g_tcb };

		x = make_leaf(&ls);
		run(raw, x, g_ask[GENOA], NULL, GENOA, NULL, &v);
		expect_fail(&v, "product");
		X509_free(x);
	}
	/* Unknown CPUID. */
	s.cpuid_family = 0x19;
	s.cpuid_model = 0x60;
	make_report(raw, &s);
	x = vcek(GENOA);
	run(raw, x, g_ask[GENOA], NULL, GENOA, NULL, &v);
	expect_fail(&v, "product");
	X509_free(x);
	/* v2 and a VCEK without productName: the product must come from the
	 * policy, and it must agree with the chain. */
	s = (struct report_spec){ .product = MILAN };
	make_report(raw, &s);
	x = make_leaf(&noname);
	run(raw, x, g_ask[MILAN], NULL, MILAN, NULL, &v);
	expect_fail(&v, "product");
	run(raw, x, g_ask[MILAN], NULL, MILAN, &p, &v);
	expect_verified(&v);
	p.product = "Genoa";
	run(raw, x, g_ask[MILAN], NULL, MILAN, &p, &v);
	expect_fail(&v, "product");
	X509_free(x);
	X509_free(milan);
}

static void test_policy(void **state)
{
	uint8_t raw[LM_SNP_REPORT_BYTES], want[64];
	struct report_spec s = { .product = GENOA };
	X509 *leaf = vcek(GENOA);
	struct lm_policy p;
	struct lm_verdict v;
	struct lm_snp_tcb min = g_tcb;

	(void)state;
	s.policy = 0x30000 | LM_SNP_POLICY_DEBUG;
	make_report(raw, &s);
	run(raw, leaf, g_ask[GENOA], NULL, GENOA, NULL, &v);
	expect_fail(&v, "debug");
	p = (struct lm_policy){ .allow_debug = true };
	run(raw, leaf, g_ask[GENOA], NULL, GENOA, &p, &v);
	expect_verified(&v);

	s.policy = 0x30000 | LM_SNP_POLICY_MIGRATE_MA;
	make_report(raw, &s);
	run(raw, leaf, g_ask[GENOA], NULL, GENOA, NULL, &v);
	expect_fail(&v, "migration agent");
	p = (struct lm_policy){ .allow_migration_agent = true };
	run(raw, leaf, g_ask[GENOA], NULL, GENOA, &p, &v);
	expect_verified(&v);

	s.policy = 0x20000;	/* SMT not allowed */
	make_report(raw, &s);
	p = (struct lm_policy){ .deny_smt = true };
	run(raw, leaf, g_ask[GENOA], NULL, GENOA, &p, &v);
	expect_verified(&v);
	s.policy = 0x30000;
	make_report(raw, &s);
	run(raw, leaf, g_ask[GENOA], NULL, GENOA, &p, &v);
	expect_fail(&v, "smt");

	s.policy = 0x10000;	/* reserved bit 17 clear */
	make_report(raw, &s);
	run(raw, leaf, g_ask[GENOA], NULL, GENOA, NULL, &v);
	expect_fail(&v, "report format");
	s.policy = 0;

	s.vmpl = 2;
	make_report(raw, &s);
	p = (struct lm_policy){ .has_max_vmpl = true, .max_vmpl = 1 };
	run(raw, leaf, g_ask[GENOA], NULL, GENOA, &p, &v);
	expect_fail(&v, "vmpl");
	p.max_vmpl = 2;
	run(raw, leaf, g_ask[GENOA], NULL, GENOA, &p, &v);
	expect_verified(&v);
	s.vmpl = 0;

	make_report(raw, &s);
	p = (struct lm_policy){ .min_tcb = lm_snp_tcb_encode(&min, LM_SNP_PRODUCT_GENOA) };
	run(raw, leaf, g_ask[GENOA], NULL, GENOA, &p, &v);
	expect_verified(&v);
	min.snp = 9;
	min.microcode = 0;
	p.min_tcb = lm_snp_tcb_encode(&min, LM_SNP_PRODUCT_GENOA);
	run(raw, leaf, g_ask[GENOA], NULL, GENOA, &p, &v);
	expect_fail(&v, "minimum tcb");

	memcpy(want, raw + LM_SNP_OFF_MEASUREMENT, 48);
	p = (struct lm_policy){ .expect_measurement = want, .expect_measurement_size = 48 };
	run(raw, leaf, g_ask[GENOA], NULL, GENOA, &p, &v);
	expect_verified(&v);
	want[47] ^= 1;
	run(raw, leaf, g_ask[GENOA], NULL, GENOA, &p, &v);
	expect_fail(&v, "measurement");
	p.expect_measurement_size = 32;
	run(raw, leaf, g_ask[GENOA], NULL, GENOA, &p, &v);
	expect_fail(&v, "measurement");

	memcpy(want, raw + LM_SNP_OFF_HOST_DATA, 32);
	p = (struct lm_policy){ .expect_host_data = want };
	run(raw, leaf, g_ask[GENOA], NULL, GENOA, &p, &v);
	expect_verified(&v);
	want[0] ^= 1;
	run(raw, leaf, g_ask[GENOA], NULL, GENOA, &p, &v);
	expect_fail(&v, "host data");

	memcpy(want, raw + LM_SNP_OFF_REPORT_DATA, 64);
	p = (struct lm_policy){ .expect_report_data = want };
	run(raw, leaf, g_ask[GENOA], NULL, GENOA, &p, &v);
	expect_verified(&v);
	want[63] ^= 1;
	run(raw, leaf, g_ask[GENOA], NULL, GENOA, &p, &v);
	expect_fail(&v, "report data");
	X509_free(leaf);
}

/* A verifier context: the cached chain gives the same verdicts as a
 * fresh verification, its windows are checked at each call's time, a
 * flipped report still fails its signature, and a policy with other trust
 * material is refused. */
static void test_verifier_context(void **state)
{
	uint8_t raw[LM_SNP_REPORT_BYTES];
	struct report_spec s = { .product = MILAN };
	char vcek_path[96], ask_path[96];
	const char *files[2] = { vcek_path, ask_path };
	struct lm_policy p = { .cert_files = files, .cert_file_count = 2, .at = T0 }, other;
	struct lm_verifier *vf = NULL;
	X509 *leaf = vcek(MILAN);
	unsigned char *der = NULL;
	struct lm_verdict v, fresh;
	int n;
	FILE *f;

	(void)state;
	p.root_file = g_root_path[MILAN];
	make_report(raw, &s);
	snprintf(vcek_path, sizeof(vcek_path), "%s/vf-vcek.der", g_dir);
	snprintf(ask_path, sizeof(ask_path), "%s/vf-ask.pem", g_dir);
	n = i2d_X509(leaf, &der);
	assert_true(n > 0);
	assert_int_equal(lm_file_write_replace(vcek_path, der, (size_t)n, 0644), 0);
	OPENSSL_free(der);
	f = fopen(ask_path, "w");
	assert_non_null(f);
	assert_int_equal(PEM_write_X509(f, g_ask[MILAN]), 1);
	assert_int_equal(fclose(f), 0);

	assert_int_equal(lm_verifier_new(&p, 0x80, &vf), LM_EINVAL);
	assert_int_equal(lm_verifier_new(&p, 0, &vf), 0);
	for (int i = 0; i < 3; i++) {	/* first call fills the cache, the others use it */
		assert_int_equal(lm_verifier_verify_raw(vf, raw, sizeof(raw), NULL, &v), 0);
		expect_verified(&v);
	}
	assert_int_equal(lm_verify_raw(raw, sizeof(raw), &p, &fresh), 0);
	assert_int_equal(v.check_count, fresh.check_count);
	for (size_t i = 0; i < v.check_count; i++)
		assert_string_equal(v.checks[i].detail, fresh.checks[i].detail);

	/* The VCEK is valid T0 -+ a year: a cached chain is still expired later. */
	other = p;
	other.at = T0 + 2 * YEAR;
	assert_int_equal(lm_verifier_verify_raw(vf, raw, sizeof(raw), &other, &v), 0);
	expect_fail(&v, "certificate chain");
	assert_non_null(strstr(v.checks[v.first_failed].detail, "expired"));
	other.at = T0 - 2 * YEAR;
	assert_int_equal(lm_verifier_verify_raw(vf, raw, sizeof(raw), &other, &v), 0);
	expect_fail(&v, "certificate chain");
	assert_non_null(strstr(v.checks[v.first_failed].detail, "not yet valid"));

	/* The signature of each report is checked on every call. */
	raw[LM_SNP_OFF_MEASUREMENT] ^= 1;
	assert_int_equal(lm_verifier_verify_raw(vf, raw, sizeof(raw), NULL, &v), 0);
	expect_fail(&v, "signature");
	raw[LM_SNP_OFF_MEASUREMENT] ^= 1;

	/* Per-call pins apply; other trust material does not. */
	other = p;
	other.max_vmpl = -1;
	other.deny_smt = false;
	other.expect_report_data = raw;	/* not the report's REPORT_DATA */
	assert_int_equal(lm_verifier_verify_raw(vf, raw, sizeof(raw), &other, &v), 0);
	expect_fail(&v, "report data");
	other = p;
	other.root_file = g_root_path[GENOA];
	assert_int_equal(lm_verifier_verify_raw(vf, raw, sizeof(raw), &other, &v), LM_EINVAL);
	other = p;
	other.cert_file_count = 1;
	assert_int_equal(lm_verifier_verify_raw(vf, raw, sizeof(raw), &other, &v), LM_EINVAL);
	lm_verifier_free(vf);

	/* Without the chain cache: the same verdict. */
	assert_int_equal(lm_verifier_new(&p, LM_VERIFIER_NO_CHAIN_CACHE, &vf), 0);
	assert_int_equal(lm_verifier_verify_raw(vf, raw, sizeof(raw), NULL, &v), 0);
	expect_verified(&v);
	lm_verifier_free(vf);
	lm_verifier_free(NULL);
	X509_free(leaf);
}

/* Through the public API: a raw report with certificate files (DER VCEK,
 * PEM ASK) and a document whose report_data binds a nonce and a guest key. */
static void test_public_api(void **state)
{
	uint8_t raw[LM_SNP_REPORT_BYTES], nonce[16] = { 9, 8, 7 }, pk[32] = { 0x11, 0x22 }, rd[64];
	struct report_spec s = { .product = TURIN };
	char vcek_path[96], ask_path[96], *pem = NULL, *b64 = NULL, *json = NULL, hex_rd[129], hex_m[97];
	char hex_nonce[33], hex_pk[65];
	const char *files[2] = { vcek_path, ask_path };
	struct lm_policy p = { .cert_files = files, .cert_file_count = 2, .at = T0 };
	struct lm_evidence *ev = NULL;
	X509 *leaf = vcek(TURIN);
	unsigned char *der = NULL;
	struct lm_verdict v;
	int n;
	FILE *f;

	(void)state;
	p.root_file = g_root_path[TURIN];
	make_report(raw, &s);
	snprintf(vcek_path, sizeof(vcek_path), "%s/vcek.der", g_dir);
	snprintf(ask_path, sizeof(ask_path), "%s/ask.pem", g_dir);
	n = i2d_X509(leaf, &der);
	assert_true(n > 0);
	assert_int_equal(lm_file_write_replace(vcek_path, der, (size_t)n, 0644), 0);
	OPENSSL_free(der);
	f = fopen(ask_path, "w");
	assert_non_null(f);
	assert_int_equal(PEM_write_X509(f, g_ask[TURIN]), 1);
	assert_int_equal(PEM_write_X509(f, g_ark[TURIN]), 1);
	assert_int_equal(fclose(f), 0);

	assert_int_equal(lm_verify_raw(raw, sizeof(raw), &p, &v), 0);
	expect_verified(&v);
	assert_int_equal(v.platform, LM_PLATFORM_SNP);
	p.expect_nonce = nonce;
	p.expect_nonce_size = sizeof(nonce);
	assert_int_equal(lm_verify_raw(raw, sizeof(raw), &p, &v), 0);
	expect_fail(&v, "nonce binding");
	assert_int_equal(lm_verify_raw(raw, sizeof(raw) - 1, &p, &v), LM_EFORMAT);

	/* A document: report_data = SHA-512(nonce || guest key). */
	assert_int_equal(lm_report_data_bind(rd, nonce, sizeof(nonce), pk, sizeof(pk)), 0);
	memcpy(raw + LM_SNP_OFF_REPORT_DATA, rd, 64);
	report_sign(raw, g_vcek_key);
	pem = to_pem(g_ask[TURIN]);
	assert_int_equal(lm_base64_encode(raw, sizeof(raw), &b64), 0);
	lm_hex_encode(hex_rd, rd, 64);
	lm_hex_encode(hex_m, raw + LM_SNP_OFF_MEASUREMENT, 48);
	lm_hex_encode(hex_nonce, nonce, sizeof(nonce));
	lm_hex_encode(hex_pk, pk, sizeof(pk));
	{
		json_t *doc = json_pack("{s:i, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:[s], s:{s:s}}", "version", 1,
					"instance_id", "inst_snp", "platform", "AMD SEV-SNP", "enclave_id", "00",
					"measurement", "", "nonce", hex_nonce, "report_data", hex_rd, "timestamp",
					"2026-01-01T00:00:00Z", "evidence", b64, "certificate_chain", pem,
					"platform_info", "guest_public_key", hex_pk);
		char m[128];

		assert_non_null(doc);
		snprintf(m, sizeof(m), "sha384:%s", hex_m);
		json_object_set_new(doc, "measurement", json_string(m));
		json = json_dumps(doc, 0);
		json_decref(doc);
	}
	assert_non_null(json);
	assert_int_equal(lm_evidence_parse((const uint8_t *)json, strlen(json), &ev), 0);
	p.cert_files = files;
	p.cert_file_count = 1;	/* the VCEK file; the ASK comes from the document */
	assert_int_equal(lm_verify_evidence(ev, &p, &v), 0);
	expect_verified(&v);
	assert_true(check_ok(&v, "nonce binding"));
	assert_true(check_ok(&v, "report consistency"));
	nonce[0] ^= 1;
	assert_int_equal(lm_verify_evidence(ev, &p, &v), 0);
	expect_fail(&v, "nonce binding");
	nonce[0] ^= 1;
	ev->report_data[0] ^= 1;
	assert_int_equal(lm_verify_evidence(ev, &p, &v), 0);
	expect_fail(&v, "report consistency");

	lm_evidence_free(ev);
	free(json);
	free(b64);
	free(pem);
	X509_free(leaf);
}

/* ---- real reports: $LAMBDA_SHARED/vectors/MANIFEST.md cases 1-13 ---- */

static void test_shared_vectors(void **state)
{
	static const struct {
		int n;
		const char *report, *cert, *chain, *at;
		const char *fails;	/* first failed check, NULL: verified */
		bool allow_debug;
	} cases[] = {
		{ 1, "snp-milan-gosevguest-report.bin", "snp-milan-gosevguest-vcek.der", "amd-milan-ask-ark.pem",
		  "2022-09-24T01:00:00Z", "debug", false },
		{ 1, "snp-milan-gosevguest-report.bin", "snp-milan-gosevguest-vcek.der", "amd-milan-ask-ark.pem",
		  "2022-09-24T01:00:00Z", NULL, true },
		{ 2, "snp-milan-coco-report.bin", "snp-milan-coco-vcek.der", "amd-milan-ask-ark.pem",
		  "2025-01-01T00:00:00Z", NULL, false },
		{ 3, "snp-milan-coco-vlek-report-v3.bin", "snp-milan-coco-vlek.der", "amd-milan-asvk-ark.pem",
		  "2025-06-01T00:00:00Z", NULL, false },
		{ 4, "snp-milan-coco-vlek-report-v3.bin", "snp-milan-coco-vlek.der", "amd-milan-asvk-ark.pem", NULL,
		  "certificate chain", false },
		{ 5, "snp-milan-coco-vlek-report-v3.bin", "snp-milan-coco-vcek.der", "amd-milan-ask-ark.pem",
		  "2025-06-01T00:00:00Z", "signing key", false },
		{ 6, "snp-genoa-coco-report-v3.bin", "snp-genoa-coco-vcek.der", "amd-genoa-ask-ark.pem",
		  "2026-01-01T00:00:00Z", NULL, false },
		{ 7, "snp-turin-anolis-report-v5.bin", "snp-turin-anolis-vcek.der", "amd-turin-ask-ark.pem",
		  "2026-12-01T00:00:00Z", NULL, false },
		{ 8, "snp-milan-gcp-teekit-report-v5.bin", "snp-milan-gcp-teekit-vcek.pem", "amd-milan-ask-ark.pem",
		  "2026-01-01T00:00:00Z", NULL, false },
		{ 9, "snp-milan-gcp-teekit-reportdata-v5.bin", "snp-milan-gcp-teekit-vcek.pem", "amd-milan-ask-ark.pem",
		  "2026-01-01T00:00:00Z", NULL, false },
		{ 10, "snp-milan-anolis-vlek-report-v2.bin", "snp-milan-anolis-vlek.der", "amd-milan-asvk-ark.pem",
		  "2025-01-15T00:00:00Z", NULL, false },
		{ 11, "snp-milan-coco-report.bin", "snp-milan-coco-vcek.der", "amd-genoa-ask-ark.pem",
		  "2025-01-01T00:00:00Z", "certificate chain", false },
		{ 12, "snp-milan-coco-report-NEG-measurement-flip.bin", "snp-milan-coco-vcek.der",
		  "amd-milan-ask-ark.pem", "2025-01-01T00:00:00Z", "signature", false },
		{ 13, "snp-milan-coco-report.bin", "snp-milan-coco-vcek-NEG-invalid-new.der", "amd-milan-ask-ark.pem",
		  "2025-01-01T00:00:00Z", "certificate chain", false },
	};
	const char *shared = getenv("LAMBDA_SHARED");
	char dir[512];
	struct stat st;

	(void)state;
	if (!shared || snprintf(dir, sizeof(dir), "%s/vectors/snp", shared) >= (int)sizeof(dir) ||
	    stat(dir, &st) != 0) {
		skip();
		return;
	}
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char report[600], cert[600], chain[600];
		const char *files[2] = { cert, chain };
		struct lm_policy p = { .cert_files = files, .cert_file_count = 2, .allow_debug = cases[i].allow_debug };
		struct lm_verdict v;
		uint8_t *raw = NULL;
		size_t size;

		snprintf(report, sizeof(report), "%s/%s", dir, cases[i].report);
		snprintf(cert, sizeof(cert), "%s/%s", dir, cases[i].cert);
		snprintf(chain, sizeof(chain), "%s/%s", dir, cases[i].chain);
		if (cases[i].at)
			assert_int_equal(lm_time_parse(cases[i].at, &p.at), 0);
		assert_int_equal(lm_file_read(report, 1 << 20, &raw, &size), 0);
		assert_int_equal(lm_attest_detect(raw, size), LM_PLATFORM_SNP);
		assert_int_equal(lm_verify_raw(raw, size, &p, &v), 0);
		print_message("case %d %s: %s\n", cases[i].n, cases[i].report,
			      v.verified ? "verified" : first_failed(&v));
		if (cases[i].fails)
			expect_fail(&v, cases[i].fails);
		else
			expect_verified(&v);
		free(raw);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_fields),
		cmocka_unit_test(test_verifier_context),
		cmocka_unit_test(test_parse_rejects),
		cmocka_unit_test(test_products),
		cmocka_unit_test(test_valid_each_version),
		cmocka_unit_test(test_flipped_byte),
		cmocka_unit_test(test_wrong_vcek),
		cmocka_unit_test(test_chain_failures),
		cmocka_unit_test(test_vlek),
		cmocka_unit_test(test_tcb_and_chip_id),
		cmocka_unit_test(test_product),
		cmocka_unit_test(test_policy),
		cmocka_unit_test(test_public_api),
		cmocka_unit_test(test_shared_vectors),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
