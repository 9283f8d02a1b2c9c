/* The AMD SEV-SNP backend: verifies an ATTESTATION_REPORT (v2, v3, v5)
 * against AMD's roots and the policy. The report is signed with ECDSA
 * P-384 by the VCEK (a key of the chip at a given TCB) or the VLEK (a key
 * AMD issues to a cloud provider), as its KEY_INFO says; the VCEK chains
 * through the ASK, the VLEK through the ASVK, to the product's ARK. The
 * certificate's TCB extensions must be the report's REPORTED_TCB and, for a
 * VCEK, its hwID the report's CHIP_ID. docs/attestation.md lists the checks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "attest/attest_int.h"
#include "attest/snp_int.h"
#include "lambda/log.h"
#include "lambda/secret.h"
#include "lambda/util.h"

#define CERT_FILE_MAX (1u << 20)

/* What a verifier keeps for SEV-SNP: the certificates of the policy's
 * files, each with its DER hash and AMD extensions read once, and the
 * trust anchors. A file that cannot be read or parsed makes every
 * verification fail with error (as without a verifier). */
struct snp_state {
	int error;
	STACK_OF(X509) *certs;
	struct snp_cert_meta {
		int info_r;		/* lm_snp_cert_info() result */
		struct lm_snp_cert_info info;
	} *meta;
	STACK_OF(X509) *anchors;
};

/* A verified chain, cached under SHA-256("snp" || vlek || leaf DER): the
 * ASK/ASVK and ARK (of the verifier's own certificates and anchors) whose
 * signatures verified the leaf and each other. */
struct snp_chain_entry {
	X509 *ask, *ark;
};

/* Everything one verification works with; freed by ctx_free(). */
struct snp_ctx {
	const struct snp_state *st;
	const uint8_t *raw;
	struct lm_snp_report rep;
	STACK_OF(X509) *certs;		/* every certificate given */
	STACK_OF(X509) *anchors;	/* trusted ARKs */
	X509 *leaf;			/* borrowed from certs */
	struct lm_snp_cert_info info;
	struct lm_snp_chain chain;
	bool sig_ok;
	enum lm_snp_product product;
};

static void state_free(void *p)
{
	struct snp_state *st = p;

	if (!st)
		return;
	sk_X509_pop_free(st->certs, X509_free);
	sk_X509_pop_free(st->anchors, X509_free);
	free(st->meta);
	free(st);
}

static int state_make(struct lm_verifier *vf, void **out)
{
	const struct lm_policy *p = &vf->policy;
	struct snp_state *st = calloc(1, sizeof(*st));
	uint8_t *data = NULL;
	size_t size;
	int r;

	if (!st || !(st->certs = sk_X509_new_null())) {
		state_free(st);
		return LM_ENOMEM;
	}
	for (size_t i = 0; i < p->cert_file_count && !st->error; i++) {
		if ((r = lm_file_read(p->cert_files[i], CERT_FILE_MAX, &data, &size)) < 0) {
			lm_err("%s: cannot read the certificate file", p->cert_files[i]);
			st->error = r;
			break;
		}
		r = lm_snp_certs_load(data, size, st->certs);
		free(data);
		if (r < 0) {
			lm_err("%s: not a PEM or DER certificate file", p->cert_files[i]);
			st->error = r;
		}
	}
	if (!st->error && (r = lm_snp_roots_load(p->root_file, &st->anchors)) < 0)
		st->error = r;
	if (st->error == LM_ENOMEM) {
		state_free(st);
		return LM_ENOMEM;
	}
	if (!st->error && sk_X509_num(st->certs) > 0) {
		if (!(st->meta = calloc((size_t)sk_X509_num(st->certs), sizeof(*st->meta)))) {
			state_free(st);
			return LM_ENOMEM;
		}
		for (int i = 0; i < sk_X509_num(st->certs); i++) {
			st->meta[i].info_r = lm_snp_cert_info(sk_X509_value(st->certs, i), &st->meta[i].info);
			ERR_clear_error();
		}
	}
	*out = st;
	return 0;
}

static void chain_entry_free(void *p)
{
	struct snp_chain_entry *e = p;

	if (!e)
		return;
	X509_free(e->ask);
	X509_free(e->ark);
	free(e);
}

static bool in_stack(STACK_OF(X509) *sk, X509 *x)
{
	for (int i = 0; sk && i < sk_X509_num(sk); i++)
		if (sk_X509_value(sk, i) == x)
			return true;
	return false;
}

static void ctx_free(struct snp_ctx *c)
{
	sk_X509_pop_free(c->certs, X509_free);
	sk_X509_pop_free(c->anchors, X509_free);
}

static const char *key_name(enum lm_snp_signing_key k)
{
	return k == LM_SNP_KEY_VCEK ? "VCEK" : k == LM_SNP_KEY_VLEK ? "VLEK" : "no key";
}

/* ---- certificates ---- */

static int load_certs(struct snp_ctx *c, const char *const *extra_pem, size_t extra_count)
{
	int r;

	if (c->st->error)
		return c->st->error;
	if (!(c->certs = sk_X509_dup(c->st->certs)) || !(c->anchors = sk_X509_dup(c->st->anchors))) {
		sk_X509_free(c->certs);
		c->certs = NULL;
		return LM_ENOMEM;
	}
	for (int i = 0; i < sk_X509_num(c->certs); i++)
		X509_up_ref(sk_X509_value(c->certs, i));
	for (int i = 0; i < sk_X509_num(c->anchors); i++)
		X509_up_ref(sk_X509_value(c->anchors, i));
	for (size_t i = 0; i < extra_count; i++)
		if ((r = lm_snp_certs_load((const uint8_t *)extra_pem[i], strlen(extra_pem[i]), c->certs)) < 0) {
			lm_err("SEV-SNP evidence: certificate_chain[%zu] is not a PEM certificate", i);
			return r;
		}
	return 0;
}

/* ECDSA P-384 SHA-384 over bytes 0x000..0x29f; R and S little-endian. */
static int report_signature_ok(const struct snp_ctx *c, EVP_PKEY *key, bool *ok)
{
	BIGNUM *r = NULL, *s = NULL;
	ECDSA_SIG *sig = NULL;
	EVP_MD_CTX *md = NULL;
	unsigned char *der = NULL;
	char group[32] = "";
	int n, ret = 0;

	*ok = false;
	if (!key || EVP_PKEY_get_base_id(key) != EVP_PKEY_EC ||
	    EVP_PKEY_get_group_name(key, group, sizeof(group), NULL) != 1 || strcmp(group, "secp384r1") != 0) {
		ERR_clear_error();
		return 0;
	}
	if (!(r = BN_lebin2bn(c->rep.sig_r, LM_SNP_SIG_COMPONENT_BYTES, NULL)) ||
	    !(s = BN_lebin2bn(c->rep.sig_s, LM_SNP_SIG_COMPONENT_BYTES, NULL)) || !(sig = ECDSA_SIG_new())) {
		ret = LM_ENOMEM;
		goto out;
	}
	if (ECDSA_SIG_set0(sig, r, s) != 1) {
		ret = LM_ENOMEM;
		goto out;
	}
	r = s = NULL;
	if ((n = i2d_ECDSA_SIG(sig, &der)) <= 0 || !(md = EVP_MD_CTX_new())) {
		ret = LM_ENOMEM;
		goto out;
	}
	*ok = EVP_DigestVerifyInit(md, NULL, EVP_sha384(), NULL, key) == 1 &&
	      EVP_DigestVerify(md, der, (size_t)n, c->raw, LM_SNP_SIGNED_BYTES) == 1;
out:
	ERR_clear_error();
	EVP_MD_CTX_free(md);
	OPENSSL_free(der);
	ECDSA_SIG_free(sig);
	BN_free(r);
	BN_free(s);
	return ret;
}

/* The VCEK or VLEK the report names: of the certificates of that kind, the
 * one whose key verifies the report, else the first. */
static int pick_leaf(struct snp_ctx *c, struct lm_verdict *v)
{
	bool want_vlek = c->rep.signing_key == LM_SNP_KEY_VLEK, other = false;
	X509 *first = NULL;
	int r;

	if (c->rep.signing_key == LM_SNP_KEY_NONE) {
		lm_verdict_add(v, "signing key", false, "KEY_INFO.SIGNING_KEY=7: the report is not signed");
		return 0;
	}
	for (int i = 0; i < sk_X509_num(c->certs); i++) {
		X509 *x = sk_X509_value(c->certs, i);
		EVP_PKEY *key = X509_get0_pubkey(x);
		struct lm_snp_cert_info info;
		bool ok;

		ERR_clear_error();
		if (!key || EVP_PKEY_get_base_id(key) != EVP_PKEY_EC)
			continue;
		if (i < sk_X509_num(c->st->certs) && c->st->meta) {
			r = c->st->meta[i].info_r;	/* the verifier's own file, read once */
			info = c->st->meta[i].info;
		} else {
			r = lm_snp_cert_info(x, &info);
		}
		if (r < 0) {
			if (r != LM_EFORMAT)
				return r;
			continue;	/* malformed AMD extensions: not a usable VCEK/VLEK */
		}
		if (info.is_vlek != want_vlek) {
			other = true;
			continue;
		}
		if ((r = report_signature_ok(c, key, &ok)) < 0)
			return r;
		if (!first || ok) {
			first = x;
			c->info = info;
		}
		if (ok) {
			c->sig_ok = true;
			break;
		}
	}
	c->leaf = first;
	if (!first) {
		lm_verdict_add(v, "signing key", false,
			       "the report is signed by the %s (KEY_INFO.SIGNING_KEY=%u) but no %s certificate was "
			       "given%s",
			       key_name(c->rep.signing_key), (unsigned)c->rep.signing_key, key_name(c->rep.signing_key),
			       other ? want_vlek ? " (only a VCEK)" : " (only a VLEK)" : "");
		return 0;
	}
	lm_verdict_add(v, "signing key", true, "%s, as KEY_INFO.SIGNING_KEY says", key_name(c->rep.signing_key));
	return 0;
}

/* The chain of the leaf: from the verifier's cache when its signatures
 * verified before (then only the checks that depend on time and names
 * run), else verified in full and, when the ASK and ARK are the
 * verifier's own, cached. */
static int leaf_chain(struct snp_ctx *c, struct lm_verifier *vf, time_t at)
{
	uint8_t key[32], vlek = c->info.is_vlek;
	struct snp_chain_entry *e;
	unsigned char *der = NULL;
	int n, r;

	if (!lm_verifier_caches_chains(vf))
		return lm_snp_chain_verify(c->leaf, c->info.is_vlek, c->certs, c->anchors, at, &c->chain);
	if ((n = i2d_X509(c->leaf, &der)) <= 0)
		return LM_ENOMEM;
	{
		const void *parts[3] = { "snp", &vlek, der };
		const size_t sizes[3] = { 3, 1, (size_t)n };

		r = lm_verifier_key(key, 3, parts, sizes);
	}
	OPENSSL_free(der);
	if (r < 0)
		return r;
	if ((e = lm_verifier_cache_get(vf, key)))
		return lm_snp_chain_recheck(c->leaf, c->info.is_vlek, e->ask, e->ark, at, &c->chain);
	if ((r = lm_snp_chain_verify(c->leaf, c->info.is_vlek, c->certs, c->anchors, at, &c->chain)) < 0)
		return r;
	/* The signatures verified even when a window did not: the chain
	 * found is worth keeping whenever its links are the verifier's. */
	if (c->chain.ok && in_stack(c->st->certs, c->chain.ask) && in_stack(c->st->anchors, c->chain.ark)) {
		if (!(e = calloc(1, sizeof(*e))))
			return LM_ENOMEM;
		X509_up_ref(c->chain.ask);
		X509_up_ref(c->chain.ark);
		e->ask = c->chain.ask;
		e->ark = c->chain.ark;
		if (!lm_verifier_cache_put(vf, key, e, chain_entry_free))
			chain_entry_free(e);
	}
	return 0;
}

static void check_chain(struct snp_ctx *c, struct lm_verifier *vf, const struct lm_policy *p, struct lm_verdict *v)
{
	time_t at = p->at ? p->at : time(NULL);
	int r;

	if (!c->leaf) {
		lm_verdict_add(v, "certificate chain", false, "no %s certificate to check",
			       key_name(c->rep.signing_key));
		return;
	}
	r = leaf_chain(c, vf, at);
	if (r < 0)
		lm_verdict_add(v, "certificate chain", false, "the chain could not be checked (%s)", lm_strerror(r));
	else
		lm_verdict_add(v, "certificate chain", c->chain.ok, "%s", c->chain.detail);
}

static void check_signature(struct snp_ctx *c, struct lm_verdict *v)
{
	if (!c->leaf)
		lm_verdict_add(v, "signature", false, "no %s to verify the report with", key_name(c->rep.signing_key));
	else if (c->sig_ok)
		lm_verdict_add(v, "signature", true, "ECDSA P-384 SHA-384 signature of the report by the %s",
			       key_name(c->rep.signing_key));
	else
		lm_verdict_add(v, "signature", false, "the report's ECDSA P-384 signature does not verify with the %s",
			       key_name(c->rep.signing_key));
}

/* The product: from CPUID in v3+, else from the certificate, else from the
 * policy; every source present must agree, and with the ARK and ASK. */
static void check_product(struct snp_ctx *c, const struct lm_policy *p, struct lm_verdict *v)
{
	enum lm_snp_product cpu = LM_SNP_PRODUCT_UNKNOWN, cert = LM_SNP_PRODUCT_UNKNOWN, pol = LM_SNP_PRODUCT_UNKNOWN;
	enum lm_snp_product ask = LM_SNP_PRODUCT_UNKNOWN, ark = LM_SNP_PRODUCT_UNKNOWN;
	char src[160] = "", bad[160] = "";
	const char *from;

	if (c->rep.has_cpuid) {
		cpu = lm_snp_product_from_cpuid(c->rep.cpuid_fam_id, c->rep.cpuid_mod_id);
		if (cpu == LM_SNP_PRODUCT_UNKNOWN) {
			lm_verdict_add(v, "product", false, "CPUID family 0x%02x model 0x%02x is no known SEV-SNP product",
				       c->rep.cpuid_fam_id, c->rep.cpuid_mod_id);
			return;
		}
	}
	if (c->leaf && c->info.product[0]) {
		cert = lm_snp_product_from_name(c->info.product);
		if (cert == LM_SNP_PRODUCT_UNKNOWN) {
			lm_verdict_add(v, "product", false, "the %s names an unknown product \"%s\"",
				       key_name(c->rep.signing_key), c->info.product);
			return;
		}
	}
	if (p->product) {
		pol = lm_snp_product_from_name(p->product);
		if (pol == LM_SNP_PRODUCT_UNKNOWN) {
			lm_verdict_add(v, "product", false, "the policy names an unknown product \"%s\"", p->product);
			return;
		}
	}
	if (c->chain.ask)
		ask = lm_snp_cert_product(c->chain.ask, NULL);
	if (c->chain.ark)
		ark = c->chain.ark_product;

	if (cpu) {
		c->product = cpu;
		from = "CPUID";
	} else if (cert) {
		c->product = cert;
		from = "certificate";
	} else if (pol) {
		c->product = pol;
		from = "policy";
	} else {
		lm_verdict_add(v, "product", false,
			       "a v%u report has no CPUID and neither the certificate nor the policy names the product",
			       c->rep.version);
		return;
	}
#define SOURCE(var, label)                                                                                          \
	do {                                                                                                        \
		if (var) {                                                                                          \
			size_t n_ = strlen(var == c->product ? src : bad);                                          \
			snprintf((var == c->product ? src : bad) + n_, sizeof(src) - n_, ", %s %s", label,           \
				 lm_snp_product_name(var));                                                         \
		}                                                                                                   \
	} while (0)
	SOURCE(cpu, "CPUID");
	SOURCE(cert, "certificate");
	SOURCE(pol, "policy");
	SOURCE(ask, c->info.is_vlek ? "ASVK" : "ASK");
	SOURCE(ark, "ARK");
#undef SOURCE
	if (bad[0])
		lm_verdict_add(v, "product", false, "%s (from %s) but%s", lm_snp_product_name(c->product), from,
			       bad + 1);
	else
		lm_verdict_add(v, "product", true, "%s (%s)", lm_snp_product_name(c->product), src + 2);
}

static void check_tcb(struct snp_ctx *c, struct lm_verdict *v)
{
	struct lm_snp_tcb rep, cert;
	char a[64], b[64];
	bool turin = c->product == LM_SNP_PRODUCT_TURIN;

	if (!c->leaf || !c->info.has_tcb) {
		lm_verdict_add(v, "tcb", false, c->leaf ? "the %s lacks the blSPL/teeSPL/snpSPL/ucodeSPL extensions"
							: "no %s to compare REPORTED_TCB with",
			       key_name(c->rep.signing_key));
		return;
	}
	if (c->product == LM_SNP_PRODUCT_UNKNOWN) {
		lm_verdict_add(v, "tcb", false, "the product, hence the TCB_VERSION layout, is unknown");
		return;
	}
	lm_snp_tcb_decode(c->rep.reported_tcb, c->product, &rep);
	cert = c->info.tcb;
	if (!turin)
		cert.fmc = 0;
	lm_snp_tcb_format(a, sizeof(a), &rep, c->product);
	lm_snp_tcb_format(b, sizeof(b), &cert, c->product);
	if (turin && !c->info.has_fmc) {
		lm_verdict_add(v, "tcb", false, "a Turin %s must carry fmcSPL", key_name(c->rep.signing_key));
		return;
	}
	if (memcmp(&rep, &cert, sizeof(rep)) != 0 || lm_snp_tcb_encode(&rep, c->product) != c->rep.reported_tcb)
		lm_verdict_add(v, "tcb", false, "REPORTED_TCB %s (0x%016llx) is not the %s's %s", a,
			       (unsigned long long)c->rep.reported_tcb, key_name(c->rep.signing_key), b);
	else
		lm_verdict_add(v, "tcb", true, "REPORTED_TCB %s, as the %s certifies", a, key_name(c->rep.signing_key));
}

static void check_chip_id(struct snp_ctx *c, struct lm_verdict *v)
{
	size_t want = c->product == LM_SNP_PRODUCT_TURIN ? LM_SNP_TURIN_CHIP_ID_BYTES : LM_SNP_CHIP_ID_BYTES;
	char hex[2 * 8 + 1];

	if (!c->leaf) {
		lm_verdict_add(v, "chip id", false, "no certificate to compare CHIP_ID with");
		return;
	}
	if (c->info.is_vlek) {
		lm_verdict_add(v, "chip id", true, "VLEK: a cloud provider's key, not bound to one chip");
		return;
	}
	if (c->info.hwid_size == 0) {
		lm_verdict_add(v, "chip id", false, "the VCEK has no hwID extension");
		return;
	}
	if (lm_is_zero(c->rep.chip_id, sizeof(c->rep.chip_id))) {
		lm_verdict_add(v, "chip id", true, "CHIP_ID masked by the host (all zero); the VCEK is per chip");
		return;
	}
	if (c->product != LM_SNP_PRODUCT_UNKNOWN && c->info.hwid_size != want) {
		lm_verdict_add(v, "chip id", false, "the VCEK's hwID has %zu bytes, %s's has %zu", c->info.hwid_size,
			       lm_snp_product_name(c->product), want);
		return;
	}
	lm_hex_encode(hex, c->rep.chip_id, 8);
	if (memcmp(c->info.hwid, c->rep.chip_id, c->info.hwid_size) != 0 ||
	    !lm_is_zero(c->rep.chip_id + c->info.hwid_size, sizeof(c->rep.chip_id) - c->info.hwid_size))
		lm_verdict_add(v, "chip id", false, "CHIP_ID %s... is not the VCEK's hwID", hex);
	else
		lm_verdict_add(v, "chip id", true, "CHIP_ID %s... is the VCEK's hwID (%zu bytes)", hex,
			       c->info.hwid_size);
}

/* ---- the evidence document around the report ---- */

static void check_consistency(const struct lm_evidence *ev, const struct snp_ctx *c, struct lm_verdict *v)
{
	uint8_t m[LM_MEASUREMENT_MAX];
	size_t m_size;
	char bad[64] = "";

	if (lm_measurement_decode(ev->measurement, "sha384", m, &m_size) < 0 ||
	    memcmp(m, c->rep.measurement, LM_SNP_MEASUREMENT_BYTES) != 0)
		strcat(bad, ", measurement");
	if (memcmp(ev->report_data, c->rep.report_data, LM_REPORT_DATA_BYTES) != 0)
		strcat(bad, ", report_data");
	if (bad[0])
		lm_verdict_add(v, "report consistency", false, "document differs from the signed report in: %s",
			       bad + 2);
	else
		lm_verdict_add(v, "report consistency", true, "document measurement and report_data are the report's");
}

static int check_nonce(const struct lm_evidence *ev, const struct snp_ctx *c, const struct lm_policy *p,
		       struct lm_verdict *v)
{
	const char *pk_hex = ev ? lm_evidence_info(ev, "guest_public_key") : NULL;
	const uint8_t *nonce;
	uint8_t want[LM_REPORT_DATA_BYTES], *pk = NULL;
	size_t nonce_size, pk_size;
	int r;

	if (!ev || !ev->measurement) {
		/* A bare report: no guest key to bind; only a pinned
		 * report_data (check_report_data) proves freshness. */
		if (p->expect_nonce)
			lm_verdict_add(v, "nonce binding", false,
				       "a bare report carries no guest public key to bind the nonce with; pin "
				       "report_data instead");
		return 0;
	}
	nonce = ev->nonce;
	nonce_size = ev->nonce_size;
	if (p->expect_nonce) {
		if (p->expect_nonce_size != ev->nonce_size ||
		    (ev->nonce_size && memcmp(p->expect_nonce, ev->nonce, ev->nonce_size) != 0)) {
			lm_verdict_add(v, "nonce binding", false, "the document's nonce is not the expected nonce");
			return 0;
		}
		nonce = p->expect_nonce;
		nonce_size = p->expect_nonce_size;
	}
	if (!pk_hex || lm_hex_decode_alloc(pk_hex, &pk, &pk_size) < 0 || pk_size == 0) {
		free(pk);
		lm_verdict_add(v, "nonce binding", false, "platform_info.guest_public_key missing or not hex");
		return 0;
	}
	r = lm_report_data_bind(want, nonce, nonce_size, pk, pk_size);
	free(pk);
	if (r < 0)
		return r;
	lm_verdict_add(v, "nonce binding", memcmp(want, c->rep.report_data, LM_REPORT_DATA_BYTES) == 0,
		       memcmp(want, c->rep.report_data, LM_REPORT_DATA_BYTES) == 0
			       ? "REPORT_DATA = SHA-512(nonce || guest public key)"
			       : "REPORT_DATA is not SHA-512(nonce || guest public key)");
	return 0;
}

/* ---- policy ---- */

static void check_bytes(struct lm_verdict *v, const char *name, const char *field, const uint8_t *got, size_t size,
			const uint8_t *want, size_t want_size)
{
	char hex[2 * LM_REPORT_DATA_BYTES + 1];

	lm_hex_encode(hex, got, size);
	if (!want)
		lm_verdict_add(v, name, true, "not pinned (%s %.32s%s)", field, hex, size > 16 ? "..." : "");
	else if (want_size == size && memcmp(want, got, size) == 0)
		lm_verdict_add(v, name, true, "%s %.32s%s as expected", field, hex, size > 16 ? "..." : "");
	else if (want_size != size)
		lm_verdict_add(v, name, false, "expected %zu bytes, %s has %zu", want_size, field, size);
	else
		lm_verdict_add(v, name, false, "%s %.32s... is not the expected value", field, hex);
}

static void check_min_tcb(const struct snp_ctx *c, const struct lm_policy *p, struct lm_verdict *v)
{
	struct lm_snp_tcb got, min;
	char a[64], b[64];

	if (!p->min_tcb) {
		lm_verdict_add(v, "minimum tcb", true, "no minimum TCB set");
		return;
	}
	if (c->product == LM_SNP_PRODUCT_UNKNOWN) {
		lm_verdict_add(v, "minimum tcb", false, "the product, hence the TCB_VERSION layout, is unknown");
		return;
	}
	lm_snp_tcb_decode(c->rep.reported_tcb, c->product, &got);
	lm_snp_tcb_decode(p->min_tcb, c->product, &min);
	lm_snp_tcb_format(a, sizeof(a), &got, c->product);
	lm_snp_tcb_format(b, sizeof(b), &min, c->product);
	/* Every SPL at least the minimum's: a newer bootloader does not make
	 * up for old microcode. */
	if (got.fmc < min.fmc || got.bootloader < min.bootloader || got.tee < min.tee || got.snp < min.snp ||
	    got.microcode < min.microcode)
		lm_verdict_add(v, "minimum tcb", false, "REPORTED_TCB %s is below the minimum %s", a, b);
	else
		lm_verdict_add(v, "minimum tcb", true, "REPORTED_TCB %s >= %s", a, b);
}

static void check_policy(const struct snp_ctx *c, const struct lm_policy *p, struct lm_verdict *v)
{
	const struct lm_snp_report *r = &c->rep;
	bool debug = r->policy & LM_SNP_POLICY_DEBUG, ma = r->policy & LM_SNP_POLICY_MIGRATE_MA;
	bool smt = r->policy & LM_SNP_POLICY_SMT;

	check_bytes(v, "report data", "REPORT_DATA", r->report_data, LM_REPORT_DATA_BYTES, p->expect_report_data,
		    LM_REPORT_DATA_BYTES);
	check_bytes(v, "measurement", "MEASUREMENT", r->measurement, LM_SNP_MEASUREMENT_BYTES, p->expect_measurement,
		    p->expect_measurement_size);
	check_bytes(v, "host data", "HOST_DATA", r->host_data, LM_SNP_HOST_DATA_BYTES, p->expect_host_data,
		    LM_SNP_HOST_DATA_BYTES);
	lm_verdict_add(v, "debug", !debug || p->allow_debug, "%s",
		       !debug ? "GUEST_POLICY.DEBUG clear"
		       : p->allow_debug ? "GUEST_POLICY.DEBUG set, allowed by policy"
					: "GUEST_POLICY.DEBUG set: the host may read and change the guest's memory");
	lm_verdict_add(v, "migration agent", !ma || p->allow_migration_agent, "%s",
		       !ma ? "GUEST_POLICY.MIGRATE_MA clear"
		       : p->allow_migration_agent ? "GUEST_POLICY.MIGRATE_MA set, allowed by policy"
						  : "GUEST_POLICY.MIGRATE_MA set: a migration agent may export the guest");
	lm_verdict_add(v, "smt", !smt || !p->deny_smt, "GUEST_POLICY.SMT %s%s, platform SMT %s",
		       smt ? "allowed" : "not allowed", smt && p->deny_smt ? " but the policy denies SMT" : "",
		       r->platform_info & LM_SNP_PLATFORM_SMT_EN ? "enabled" : "disabled");
	if (p->has_max_vmpl && p->max_vmpl >= 0)
		lm_verdict_add(v, "vmpl", r->vmpl <= (unsigned)p->max_vmpl, "VMPL %u, at most %d accepted", r->vmpl,
			       p->max_vmpl);
	else
		lm_verdict_add(v, "vmpl", true, "VMPL %u (any accepted)", r->vmpl);
	check_min_tcb(c, p, v);
}

/* ---- the whole verification ---- */

static int verify(struct lm_verifier *vf, const uint8_t *raw, size_t size, const struct lm_evidence *ev,
		  const char *const *extra_pem, size_t extra_count, const struct lm_policy *p, struct lm_verdict *v,
		  struct lm_snp_report *out)
{
	struct snp_ctx c;
	void *st;
	int r;

	memset(&c, 0, sizeof(c));
	c.raw = raw;
	if ((r = lm_snp_report_parse(raw, size, &c.rep)) < 0)
		return r;
	if ((r = lm_verifier_state(vf, LM_VSTATE_SNP, state_make, state_free, &st)) < 0)
		return r;
	c.st = st;
	if ((r = load_certs(&c, extra_pem, extra_count)) < 0)
		goto out;
	lm_verdict_set_measurement(v, "sha384", c.rep.measurement, sizeof(c.rep.measurement));

	lm_verdict_add(v, "report format", (c.rep.policy & LM_SNP_POLICY_RESERVED_1) != 0,
		       "ATTESTATION_REPORT v%u, firmware %u.%u.%u, GUEST_POLICY 0x%llx%s", c.rep.version,
		       c.rep.current_major, c.rep.current_minor, c.rep.current_build, (unsigned long long)c.rep.policy,
		       c.rep.policy & LM_SNP_POLICY_RESERVED_1 ? "" : ": bit 17 must be one");
	if ((r = pick_leaf(&c, v)) < 0)
		goto out;
	check_chain(&c, vf, p, v);
	check_signature(&c, v);
	check_product(&c, p, v);
	check_tcb(&c, v);
	check_chip_id(&c, v);
	if (ev && ev->measurement)
		check_consistency(ev, &c, v);
	if ((r = check_nonce(ev, &c, p, v)) < 0)
		goto out;
	check_policy(&c, p, v);
	if (out)
		*out = c.rep;
	r = 0;
out:
	ctx_free(&c);
	return r;
}

int lm_snp_verify_report(struct lm_verifier *vf, const uint8_t *raw, size_t size, const char *const *extra_pem,
			 size_t extra_count, const struct lm_policy *p, struct lm_verdict *v, struct lm_snp_report *out)
{
	if (!vf || !raw || !v || (extra_count && !extra_pem))
		return LM_EINVAL;
	return verify(vf, raw, size, NULL, extra_pem, extra_count, p ? p : &vf->policy, v, out);
}

static int snp_detect(const uint8_t *raw, size_t size)
{
	return lm_snp_report_detect(raw, size);
}

static int snp_verify(struct lm_verifier *vf, const struct lm_evidence *ev, const struct lm_policy *p,
		      struct lm_verdict *v)
{
	return verify(vf, ev->evidence, ev->evidence_size, ev, (const char *const *)ev->certificate_chain,
		      ev->certificate_count, p, v, NULL);
}

const struct lm_attest_backend lm_attest_snp = {
	.platform = LM_PLATFORM_SNP,
	.name = "AMD SEV-SNP",
	.detect = snp_detect,
	.verify = snp_verify,
};
