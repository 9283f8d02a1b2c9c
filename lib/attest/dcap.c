/* The Intel DCAP verifier: two backends, lm_attest_tdx (TDX quotes v4/v5)
 * and lm_attest_sgx (SGX quotes v3, and v4/v5 with an SGX body), sharing
 * this code. The checks, in verdict order (docs/attestation.md, "Intel TDX
 * and SGX"):
 *   platform, quote format, collateral (only when it cannot be read),
 *   pck chain        PCK leaf -> PCK Platform/Processor CA -> Intel SGX Root
 *                    CA (built in, pinned by key, or --root), at time T
 *   root ca crl      a Root CA CRL valid at T; the PCK CA is not revoked
 *   pck crl          a CRL of the PCK's own issuer valid at T; PCK not revoked
 *   qe report signature, qe report data, quote signature
 *   qe identity      signed by the TCB Signing certificate, valid at T, and
 *                    matching the QE report (MRSIGNER, ISVPRODID, masked
 *                    MISCSELECT and ATTRIBUTES)
 *   tcb info         for the quote's TEE kind, signed likewise, valid at T
 *   fmspc            the PCK's FMSPC and PCE ID are the TCB Info's
 *   tdx module       (TDX) MRSIGNERSEAM and SEAM attributes match the module
 *   tcb level        Intel's algorithm found a level (dcap_tcb.c)
 *   tcb status       the converged status is one the policy accepts
 *   debug, report consistency, nonce binding, measurement, the pinned
 *   mrenclave/mrsigner or mrtd/rtmr0..3, and report data.
 * Every piece of collateral is chosen by content: CRLs by issuer name and
 * signature, TCB Info by TEE kind and FMSPC, QE Identity by id, signing
 * certificates by the key that verifies the document. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "attest/attest_int.h"
#include "attest/dcap_int.h"
#include "lambda/log.h"
#include "lambda/util.h"

#define ROOT_FILE_MAX (1u << 20)
#define TCB_SIGNING_CN "Intel SGX TCB Signing"
#define PLATFORM_CA_CN "Intel SGX PCK Platform CA"
#define PROCESSOR_CA_CN "Intel SGX PCK Processor CA"

/* A TCB Signing certificate that verified a collateral document, with its
 * chain to the root as verified without the time (X509_V_FLAG_NO_CHECK_TIME:
 * signatures, names, CA constraints). */
struct signer {
	X509 *cert;			/* borrowed from the collateral */
	STACK_OF(X509) *chain;		/* cert, root; NULL when it did not chain */
	char why[160];			/* why not, without the time */
};

/* What was checked once of one signed collateral document. */
struct doc_check {
	bool sig_ok;			/* some TCB Signing key verified it */
	struct signer *signers;		/* the certificates whose key verified it */
	size_t signer_count;
};

/* What a verifier keeps for DCAP: the root, the collateral with each
 * document's signature and signer chain checked once, and each CRL's
 * signature checked against the root and the collateral's CA certificates
 * once. Time-dependent checks (windows, the CRL valid at T, revocation)
 * are left to each verification. */
struct dcap_vstate {
	int root_error;
	X509 *root;
	bool root_pinned;
	X509_STORE *store;		/* holds root */
	struct lm_dcap_collateral *col;
	bool dir_failed;
	bool *file_failed;		/* per policy cert file */
	struct doc_check *tcb_checks;	/* per col->tcb_infos */
	struct doc_check *qe_checks;	/* per col->qe_identities */
	struct crl_sig {
		STACK_OF(X509) *verified_by;	/* issuers (root, collateral CAs) whose key verified it */
	} *crl_sigs;			/* per col->crls */
};

/* A verified PCK chain, cached under SHA-256 of the quote's certification
 * data: the PCK and the path to the root whose signatures verified. */
struct pck_entry {
	X509 *pck;
	STACK_OF(X509) *chain;
};

struct dcap_ctx {
	struct lm_verifier *vf;
	const struct dcap_vstate *st;
	const struct lm_evidence *ev;
	const struct lm_policy *p;
	struct lm_verdict *v;
	time_t at;
	char at_text[32];
	struct lm_dcap_quote q;
	X509 *root;			/* trust anchor */
	bool root_pinned;		/* built in: also compare keys with the pin */
	struct lm_dcap_collateral *col;
	bool col_loaded;
	STACK_OF(X509) *pool;		/* untrusted: quote chain, collateral, cert files */
	X509 *pck;			/* leaf of the quote's chain */
	int quote_first, quote_count;	/* the quote's own certificates in pool */
	STACK_OF(X509) *pck_chain;	/* verified chain, leaf first */
	struct lm_pck_info pck_info;
	bool has_pck_info;
	X509_CRL *root_crl;		/* valid at T, or NULL */
	uint8_t pck_key[32];		/* cache key of the certification data */
	bool pck_cacheable;
	const struct pck_entry *pck_cached;	/* the PCK chain verified before, or NULL */
};

/* ---- small crypto helpers ---- */

static int time_of(const ASN1_TIME *t, time_t *out)
{
	struct tm tm;

	if (!t || ASN1_TIME_to_tm(t, &tm) != 1)
		return LM_EFORMAT;
	*out = timegm(&tm);
	return 0;
}

static void cn_of(const X509_NAME *name, char *out, size_t size)
{
	out[0] = 0;
	if (name && X509_NAME_get_text_by_NID((X509_NAME *)name, NID_commonName, out, (int)size) < 0)
		out[0] = 0;
	ERR_clear_error();
}

/* Verifies a raw r || s P-256 ECDSA-SHA256 signature of data. */
static bool ecdsa_raw_verify(EVP_PKEY *key, const uint8_t sig[static 64], const uint8_t *data, size_t size)
{
	ECDSA_SIG *s = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(sig, 32, NULL), *ss = BN_bin2bn(sig + 32, 32, NULL);
	unsigned char *der = NULL;
	EVP_MD_CTX *md = NULL;
	bool ok = false;
	int n;

	if (!s || !r || !ss || !key) {
		BN_free(r);
		BN_free(ss);
		goto out;
	}
	ECDSA_SIG_set0(s, r, ss);
	if ((n = i2d_ECDSA_SIG(s, &der)) <= 0 || !(md = EVP_MD_CTX_new()))
		goto out;
	ok = EVP_PKEY_get_base_id(key) == EVP_PKEY_EC && EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, key) == 1 &&
	     EVP_DigestVerify(md, der, (size_t)n, data, size) == 1;
out:
	EVP_MD_CTX_free(md);
	OPENSSL_free(der);
	ECDSA_SIG_free(s);
	ERR_clear_error();
	return ok;
}

/* The attestation key: a raw x || y point on P-256. */
static EVP_PKEY *p256_key(const uint8_t xy[static 64])
{
	uint8_t point[65];
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *pctx = NULL;
	EVP_PKEY *key = NULL;

	point[0] = 0x04;
	memcpy(point + 1, xy, 64);
	if (!bld || !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) ||
	    !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof(point)) ||
	    !(params = OSSL_PARAM_BLD_to_param(bld)) || !(pctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)) ||
	    EVP_PKEY_fromdata_init(pctx) != 1 || EVP_PKEY_fromdata(pctx, &key, EVP_PKEY_PUBLIC_KEY, params) != 1)
		key = NULL;
	EVP_PKEY_CTX_free(pctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	ERR_clear_error();
	return key;
}

/* Verifies leaf up to the anchor at time T (or, when !at_time, at no
 * particular time: X509_V_FLAG_NO_CHECK_TIME) with the untrusted pool; on
 * success *chain holds the path, leaf first, anchor last. */
static bool chain_verify_at(struct dcap_ctx *c, X509 *leaf, bool at_time, STACK_OF(X509) **chain, char *why,
			    size_t why_size)
{
	/* The verifier's store of the root, made once; a store of its own
	 * while the verifier's state is being made. */
	X509_STORE *store = c->st && c->st->store ? NULL : X509_STORE_new();
	X509_STORE_CTX *sctx = X509_STORE_CTX_new();
	STACK_OF(X509) *got = NULL;
	bool ok = false;

	if ((!store && !(c->st && c->st->store)) || !sctx || (store && X509_STORE_add_cert(store, c->root) != 1) ||
	    X509_STORE_CTX_init(sctx, store ? store : c->st->store, leaf, c->pool) != 1) {
		snprintf(why, why_size, "cannot set up certificate verification");
		goto out;
	}
	if (at_time)
		X509_VERIFY_PARAM_set_time(X509_STORE_CTX_get0_param(sctx), c->at);
	else
		X509_VERIFY_PARAM_set_flags(X509_STORE_CTX_get0_param(sctx), X509_V_FLAG_NO_CHECK_TIME);
	if (X509_verify_cert(sctx) != 1) {
		if (at_time)
			snprintf(why, why_size, "%s at %s",
				 X509_verify_cert_error_string(X509_STORE_CTX_get_error(sctx)), c->at_text);
		else
			snprintf(why, why_size, "%s", X509_verify_cert_error_string(X509_STORE_CTX_get_error(sctx)));
		goto out;
	}
	got = X509_STORE_CTX_get1_chain(sctx);
	if (!got || sk_X509_num(got) < 2 || X509_cmp(sk_X509_value(got, sk_X509_num(got) - 1), c->root) != 0 ||
	    (c->root_pinned && !lm_dcap_is_intel_root(sk_X509_value(got, sk_X509_num(got) - 1)))) {
		snprintf(why, why_size, "does not end at the pinned Intel SGX Root CA");
		goto out;
	}
	*chain = got;
	got = NULL;
	ok = true;
out:
	sk_X509_pop_free(got, X509_free);
	X509_STORE_CTX_free(sctx);
	X509_STORE_free(store);
	ERR_clear_error();
	return ok;
}

static bool chain_verify(struct dcap_ctx *c, X509 *leaf, STACK_OF(X509) **chain, char *why, size_t why_size)
{
	return chain_verify_at(c, leaf, true, chain, why, why_size);
}

/* The validity windows of a chain whose signatures verified before, at T,
 * as X509_verify_cert() checks them: true when every certificate is
 * valid, else false with why as chain_verify() words it. */
static bool chain_windows(const struct dcap_ctx *c, STACK_OF(X509) *chain, char *why, size_t why_size)
{
	time_t t = c->at;

	for (int i = 0; i < sk_X509_num(chain); i++) {
		X509 *x = sk_X509_value(chain, i);
		int err = X509_cmp_time(X509_get0_notBefore(x), &t) >= 0  ? X509_V_ERR_CERT_NOT_YET_VALID
			  : X509_cmp_time(X509_get0_notAfter(x), &t) <= 0 ? X509_V_ERR_CERT_HAS_EXPIRED
									  : X509_V_OK;

		if (err != X509_V_OK) {
			snprintf(why, why_size, "%s at %s", X509_verify_cert_error_string(err), c->at_text);
			return false;
		}
	}
	return true;
}

/* ---- trust material ---- */

static int load_root(struct dcap_ctx *c)
{
	const unsigned char *p;
	uint8_t *data = NULL;
	size_t size;
	BIO *bio;
	int r;

	if (!c->p->root_file) {
		c->root_pinned = true;
		return lm_dcap_intel_root(&c->root);
	}
	if ((r = lm_file_read(c->p->root_file, ROOT_FILE_MAX, &data, &size)) < 0) {
		lm_err("%s: cannot read the root certificate", c->p->root_file);
		return r;
	}
	if ((bio = BIO_new_mem_buf(data, (int)size))) {
		c->root = PEM_read_bio_X509(bio, NULL, NULL, NULL);
		BIO_free(bio);
	}
	if (!c->root) {
		p = data;
		c->root = d2i_X509(NULL, &p, (long)size);
	}
	free(data);
	ERR_clear_error();
	if (!c->root) {
		lm_err("%s: not a PEM or DER certificate", c->p->root_file);
		return LM_EFORMAT;
	}
	return 0;
}

static int pool_add_pem(STACK_OF(X509) *pool, const char *pem, size_t size, X509 **first)
{
	BIO *bio = BIO_new_mem_buf(pem, (int)size);
	X509 *x;
	int n = 0;

	if (!bio)
		return LM_ENOMEM;
	while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL))) {
		if (n++ == 0 && first) {
			X509_up_ref(x);
			*first = x;
		}
		if (!sk_X509_push(pool, x)) {
			X509_free(x);
			BIO_free(bio);
			return LM_ENOMEM;
		}
	}
	BIO_free(bio);
	ERR_clear_error();
	return n;
}

/* ---- the verifier's state ---- */

static void doc_checks_free(struct doc_check *d, size_t n)
{
	for (size_t i = 0; d && i < n; i++) {
		for (size_t j = 0; j < d[i].signer_count; j++)
			sk_X509_pop_free(d[i].signers[j].chain, X509_free);
		free(d[i].signers);
	}
	free(d);
}

static void vstate_free(void *p)
{
	struct dcap_vstate *st = p;

	if (!st)
		return;
	if (st->col) {
		doc_checks_free(st->tcb_checks, st->col->tcb_info_count);
		doc_checks_free(st->qe_checks, st->col->qe_identity_count);
		for (int i = 0; st->crl_sigs && i < sk_X509_CRL_num(st->col->crls); i++)
			sk_X509_free(st->crl_sigs[i].verified_by);
	}
	free(st->crl_sigs);
	lm_dcap_collateral_free(st->col);
	X509_STORE_free(st->store);
	X509_free(st->root);
	free(st->file_failed);
	free(st);
}

/* The TCB Signing certificates of the collateral whose key verifies a
 * document, each with its chain to the root verified without the time. */
static int doc_check_make(struct dcap_ctx *c, const uint8_t *body, size_t body_size, const uint8_t sig[static 64],
			  struct doc_check *out)
{
	for (int i = 0; i < sk_X509_num(c->col->certs); i++) {
		X509 *x = sk_X509_value(c->col->certs, i);
		struct signer *sg, *grown;
		char cn[80];

		cn_of(X509_get_subject_name(x), cn, sizeof(cn));
		if (strcmp(cn, TCB_SIGNING_CN) != 0 || !ecdsa_raw_verify(X509_get0_pubkey(x), sig, body, body_size))
			continue;
		out->sig_ok = true;
		if (!(grown = realloc(out->signers, (out->signer_count + 1) * sizeof(*grown))))
			return LM_ENOMEM;
		out->signers = grown;
		sg = &out->signers[out->signer_count++];
		memset(sg, 0, sizeof(*sg));
		sg->cert = x;
		if (c->root && !chain_verify_at(c, x, false, &sg->chain, sg->why, sizeof(sg->why)))
			sg->chain = NULL;
	}
	return 0;
}

static int vstate_make(struct lm_verifier *vf, void **out)
{
	struct dcap_vstate *st = calloc(1, sizeof(*st));
	struct dcap_ctx c;
	int r = LM_ENOMEM;

	memset(&c, 0, sizeof(c));
	c.p = &vf->policy;
	if (!st || lm_dcap_collateral_new(&st->col) < 0 || !(c.pool = sk_X509_new_null()) ||
	    (c.p->cert_file_count && !(st->file_failed = calloc(c.p->cert_file_count, sizeof(bool)))))
		goto fail;
	if ((st->root_error = load_root(&c)) < 0) {
		if (st->root_error == LM_ENOMEM)
			goto fail;
	}
	st->root = c.root;
	st->root_pinned = c.root_pinned;
	c.root = NULL;
	c.col = st->col;
	if (c.p->collateral_dir && lm_dcap_collateral_load_dir(st->col, c.p->collateral_dir) < 0)
		st->dir_failed = true;
	for (size_t i = 0; i < c.p->cert_file_count; i++)
		if (lm_dcap_collateral_add_file(st->col, c.p->cert_files[i]) < 0)
			st->file_failed[i] = true;
	for (int i = 0; i < sk_X509_num(st->col->certs); i++)
		if (!sk_X509_push(c.pool, sk_X509_value(st->col->certs, i)))
			goto fail;
	c.root = st->root;
	if ((st->col->tcb_info_count && !(st->tcb_checks = calloc(st->col->tcb_info_count, sizeof(*st->tcb_checks)))) ||
	    (st->col->qe_identity_count &&
	     !(st->qe_checks = calloc(st->col->qe_identity_count, sizeof(*st->qe_checks)))) ||
	    (sk_X509_CRL_num(st->col->crls) &&
	     !(st->crl_sigs = calloc((size_t)sk_X509_CRL_num(st->col->crls), sizeof(*st->crl_sigs)))))
		goto fail;
	for (size_t i = 0; i < st->col->tcb_info_count; i++) {
		const struct lm_tcb_info *t = st->col->tcb_infos[i];

		if ((r = doc_check_make(&c, t->body, t->body_size, t->signature, &st->tcb_checks[i])) < 0)
			goto fail;
	}
	for (size_t i = 0; i < st->col->qe_identity_count; i++) {
		const struct lm_qe_identity *q = st->col->qe_identities[i];

		if ((r = doc_check_make(&c, q->body, q->body_size, q->signature, &st->qe_checks[i])) < 0)
			goto fail;
	}
	r = LM_ENOMEM;
	/* Each CRL against the issuers known now: the root and the
	 * collateral's certificates of the CRL's issuer name. */
	for (int i = 0; i < sk_X509_CRL_num(st->col->crls); i++) {
		X509_CRL *crl = sk_X509_CRL_value(st->col->crls, i);

		if (!(st->crl_sigs[i].verified_by = sk_X509_new_null()))
			goto fail;
		for (int j = -1; j < sk_X509_num(st->col->certs); j++) {
			X509 *x = j < 0 ? st->root : sk_X509_value(st->col->certs, j);

			bool seen = false;

			if (!x || X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_subject_name(x)) != 0)
				continue;
			/* The same certificate twice (the root beside each chain): once. */
			for (int k = 0; k < sk_X509_num(st->crl_sigs[i].verified_by) && !seen; k++)
				seen = X509_cmp(sk_X509_value(st->crl_sigs[i].verified_by, k), x) == 0;
			if (seen)
				continue;
			if (X509_CRL_verify(crl, X509_get0_pubkey(x)) == 1 && !sk_X509_push(st->crl_sigs[i].verified_by, x))
				goto fail;
			ERR_clear_error();
		}
	}
	if (st->root && (!(st->store = X509_STORE_new()) || X509_STORE_add_cert(st->store, st->root) != 1))
		goto fail;
	sk_X509_free(c.pool);
	*out = st;
	return 0;
fail:
	sk_X509_free(c.pool);
	vstate_free(st);
	return r < 0 ? r : LM_ENOMEM;
}

static void certs_free(void *p)
{
	sk_X509_pop_free(p, X509_free);
}

/* Adds references to certs to the pool; the first is the PCK. */
static int pool_push(struct dcap_ctx *c, STACK_OF(X509) *certs)
{
	c->quote_first = sk_X509_num(c->pool);
	c->quote_count = sk_X509_num(certs);
	for (int i = 0; i < sk_X509_num(certs); i++) {
		X509 *x = sk_X509_value(certs, i);

		if (i == 0) {
			X509_up_ref(x);
			c->pck = x;
		}
		X509_up_ref(x);
		if (!sk_X509_push(c->pool, x)) {
			X509_free(x);
			return LM_ENOMEM;
		}
	}
	return 0;
}

/* The certificates of the quote's certification data, PCK first, into the
 * pool: parsed once per verifier for the same bytes (parsing only; the
 * chain is verified by the caller). */
static int pool_add_quote_certs(struct dcap_ctx *c)
{
	const void *parts[2] = { "dcap-pck-parsed", c->q.cert_data };
	const size_t sizes[2] = { 15, c->q.cert_size };
	STACK_OF(X509) *certs;
	uint8_t key[32];
	bool keyed = c->q.cert_size <= LM_VERIFIER_PARSED_BYTES_MAX && lm_verifier_key(key, 2, parts, sizes) == 0;
	int r;

	if (keyed && (certs = lm_verifier_parsed_get(c->vf, key)))
		return pool_push(c, certs);
	if (!(certs = sk_X509_new_null()))
		return LM_ENOMEM;
	if ((r = pool_add_pem(certs, (const char *)c->q.cert_data, c->q.cert_size, NULL)) < 0 ||
	    (r = pool_push(c, certs)) < 0 || !keyed || !lm_verifier_parsed_put(c->vf, key, certs, certs_free))
		certs_free(certs);
	return r < 0 ? r : 0;
}

static void pck_entry_free(void *p)
{
	struct pck_entry *e = p;

	if (!e)
		return;
	X509_free(e->pck);
	sk_X509_pop_free(e->chain, X509_free);
	free(e);
}

/* The verifier's collateral (its failures recorded as checks, never
 * skipped), the document's chain and the quote's own PCK chain: from the
 * verifier's cache when its signatures verified before for the same
 * certification data bytes. */
static int load_material(struct dcap_ctx *c)
{
	int r;

	c->col = c->st->col;
	if (!(c->pool = sk_X509_new_null()))
		return LM_ENOMEM;
	c->col_loaded = true;
	if (c->st->dir_failed) {
		lm_verdict_add(c->v, "collateral", false, "cannot read the collateral directory %s",
			       c->p->collateral_dir);
		c->col_loaded = false;
	}
	for (size_t i = 0; i < c->p->cert_file_count; i++)
		if (c->st->file_failed[i]) {
			lm_verdict_add(c->v, "collateral", false, "cannot read %s", c->p->cert_files[i]);
			c->col_loaded = false;
		}
	for (int i = 0; i < sk_X509_num(c->col->certs); i++) {
		X509 *x = sk_X509_value(c->col->certs, i);

		X509_up_ref(x);
		if (!sk_X509_push(c->pool, x)) {
			X509_free(x);
			return LM_ENOMEM;
		}
	}
	for (size_t i = 0; i < c->ev->certificate_count; i++)
		if (c->ev->certificate_chain[i] &&
		    (r = pool_add_pem(c->pool, c->ev->certificate_chain[i], strlen(c->ev->certificate_chain[i]), NULL)) < 0)
			return r;
	if (c->q.cert_type == 5 && c->q.cert_size <= INT32_MAX) {
		if (lm_verifier_caches_chains(c->vf) && c->ev->certificate_count == 0) {
			const void *parts[2] = { "dcap-pck", c->q.cert_data };
			const size_t sizes[2] = { 8, c->q.cert_size };

			if ((r = lm_verifier_key(c->pck_key, 2, parts, sizes)) < 0)
				return r;
			c->pck_cacheable = true;
			if ((c->pck_cached = lm_verifier_cache_get(c->vf, c->pck_key))) {
				X509_up_ref(c->pck_cached->pck);
				c->pck = c->pck_cached->pck;
				return 0;
			}
		}
		return pool_add_quote_certs(c);
	}
	return 0;
}

/* ---- checks ---- */

/* Whether x is chain member j re-issued: the same subject and key, and
 * signed by the key of member j + 1 (a root: its own). */
static bool reissue_of(X509 *x, STACK_OF(X509) *chain, int j)
{
	X509 *m = sk_X509_value(chain, j);
	X509 *issuer = j + 1 < sk_X509_num(chain) ? sk_X509_value(chain, j + 1) : m;
	bool ok = X509_NAME_cmp(X509_get_subject_name(x), X509_get_subject_name(m)) == 0 &&
		  EVP_PKEY_eq(X509_get0_pubkey(x), X509_get0_pubkey(m)) == 1 &&
		  X509_verify(x, X509_get0_pubkey(issuer)) == 1;

	ERR_clear_error();
	return ok;
}

/* The quote carries its whole chain (PCK, CA, root) as PEM: every block
 * must parse, and every certificate must be one of the verified chain (or
 * a re-issue of one, validly signed), so a damaged or foreign CA or root in
 * the quote is refused even where the collateral supplied the genuine one,
 * as Intel's QVL does. */
static bool quote_chain_is_verified(const struct dcap_ctx *c, char *why, size_t why_size)
{
	static const char begin[] = "-----BEGIN ";	/* any PEM block: each must be a certificate */
	const uint8_t *p = c->q.cert_data, *end = p + c->q.cert_size;
	int blocks = 0;

	while (p < end && (p = memmem(p, (size_t)(end - p), begin, sizeof(begin) - 1))) {
		blocks++;
		p += sizeof(begin) - 1;
	}
	if (blocks != c->quote_count) {
		snprintf(why, why_size, "%d of its %d PEM blocks are certificates that parse", c->quote_count, blocks);
		return false;
	}
	/* Type 5 is the whole chain: a block whose marker was damaged is
	 * skipped by any PEM reader, so count what must be there. */
	if (c->quote_count != 3) {
		snprintf(why, why_size, "%d certificates, expected PCK, CA and root", c->quote_count);
		return false;
	}
	for (int i = 0; i < c->quote_count; i++) {
		X509 *x = sk_X509_value(c->pool, c->quote_first + i);
		bool found = false;

		for (int j = 0; j < sk_X509_num(c->pck_chain) && !found; j++)
			found = X509_cmp(x, sk_X509_value(c->pck_chain, j)) == 0 || reissue_of(x, c->pck_chain, j);
		if (!found) {
			char cn[80];

			cn_of(X509_get_subject_name(x), cn, sizeof(cn));
			snprintf(why, why_size, "certificate %d (\"%s\") is not the one the chain verified with", i + 1,
				 cn);
			return false;
		}
	}
	return true;
}

static void check_pck_chain(struct dcap_ctx *c)
{
	char why[200], issuer[80];
	int len;

	if (c->q.cert_type != 5) {
		lm_verdict_add(c->v, "pck chain", false, "certification data type %u: only type 5 (PCK chain) is supported",
			       c->q.cert_type);
		return;
	}
	if (!c->pck) {
		lm_verdict_add(c->v, "pck chain", false, "no PEM certificate in the quote's certification data");
		return;
	}
	if (lm_pck_info_parse(c->pck, &c->pck_info) == 0)
		c->has_pck_info = true;
	cn_of(X509_get_issuer_name(c->pck), issuer, sizeof(issuer));
	if (strcmp(issuer, PLATFORM_CA_CN) != 0 && strcmp(issuer, PROCESSOR_CA_CN) != 0) {
		lm_verdict_add(c->v, "pck chain", false, "PCK certificate issued by \"%s\", not a PCK CA", issuer);
		return;
	}
	if (!c->has_pck_info) {
		lm_verdict_add(c->v, "pck chain", false, "PCK certificate without usable SGX extensions");
		return;
	}
	if (c->pck_cached) {
		if (!chain_windows(c, c->pck_cached->chain, why, sizeof(why))) {
			lm_verdict_add(c->v, "pck chain", false, "PCK certificate: %s", why);
			return;
		}
		c->pck_chain = sk_X509_dup(c->pck_cached->chain);
		for (int i = 0; c->pck_chain && i < sk_X509_num(c->pck_chain); i++)
			X509_up_ref(sk_X509_value(c->pck_chain, i));
		if (!c->pck_chain) {
			lm_verdict_add(c->v, "pck chain", false, "out of memory");
			return;
		}
	} else if (!chain_verify(c, c->pck, &c->pck_chain, why, sizeof(why))) {
		lm_verdict_add(c->v, "pck chain", false, "PCK certificate: %s", why);
		return;
	} else if (!quote_chain_is_verified(c, why, sizeof(why))) {
		lm_verdict_add(c->v, "pck chain", false, "the quote's certification data: %s", why);
		sk_X509_pop_free(c->pck_chain, X509_free);
		c->pck_chain = NULL;
		return;
	} else if (c->pck_cacheable) {
		struct pck_entry *e = calloc(1, sizeof(*e));

		if (e && (e->chain = sk_X509_dup(c->pck_chain))) {
			for (int i = 0; i < sk_X509_num(e->chain); i++)
				X509_up_ref(sk_X509_value(e->chain, i));
			X509_up_ref(c->pck);
			e->pck = c->pck;
			if (lm_verifier_cache_put(c->vf, c->pck_key, e, pck_entry_free))
				e = NULL;
		}
		pck_entry_free(e);
	}
	if ((len = sk_X509_num(c->pck_chain)) != 3) {
		lm_verdict_add(c->v, "pck chain", false, "chain of %d certificates, expected PCK, %s, root", len, issuer);
		sk_X509_pop_free(c->pck_chain, X509_free);
		c->pck_chain = NULL;
		return;
	}
	lm_verdict_add(c->v, "pck chain", true, "PCK -> %s -> %s at %s", issuer,
		       c->root_pinned ? "Intel SGX Root CA (pinned key)" : "root from --root", c->at_text);
}

/* Whether CRL i of the collateral is signed by issuer: as checked when the
 * verifier loaded it, for the root and the collateral's own certificates
 * (the same bytes), else verified now. */
static bool crl_signed_by(const struct dcap_ctx *c, int i, X509_CRL *crl, X509 *issuer)
{
	STACK_OF(X509) *known = c->st->crl_sigs ? c->st->crl_sigs[i].verified_by : NULL;

	for (int j = 0; j < sk_X509_num(known); j++)
		if (X509_cmp(sk_X509_value(known, j), issuer) == 0)
			return true;
	if (issuer == c->root)
		return false;	/* checked at load: it did not verify */
	for (int j = 0; j < sk_X509_num(c->col->certs); j++)
		if (X509_cmp(sk_X509_value(c->col->certs, j), issuer) == 0)
			return false;
	return X509_CRL_verify(crl, X509_get0_pubkey(issuer)) == 1;
}

/* The CRL of issuer valid at T (the newest of them): matched by issuer name
 * and by signature under the issuer's key. */
static X509_CRL *find_crl(struct dcap_ctx *c, X509 *issuer, char *why, size_t why_size)
{
	X509_CRL *best = NULL;
	time_t best_this = 0;
	int seen = 0;
	char cn[80];

	cn_of(X509_get_subject_name(issuer), cn, sizeof(cn));
	for (int i = 0; i < sk_X509_CRL_num(c->col->crls); i++) {
		X509_CRL *crl = sk_X509_CRL_value(c->col->crls, i);
		time_t t_this, t_next;

		if (X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_subject_name(issuer)) != 0 ||
		    !crl_signed_by(c, i, crl, issuer)) {
			ERR_clear_error();
			continue;
		}
		seen++;
		if (time_of(X509_CRL_get0_lastUpdate(crl), &t_this) < 0 ||
		    time_of(X509_CRL_get0_nextUpdate(crl), &t_next) < 0 || c->at < t_this || c->at > t_next)
			continue;
		if (!best || t_this > best_this) {
			best = crl;
			best_this = t_this;
		}
	}
	if (!best) {
		if (seen)
			snprintf(why, why_size, "%d CRL(s) of %s in the collateral, none valid at %s", seen, cn,
				 c->at_text);
		else
			snprintf(why, why_size, "no CRL issued and signed by %s in the collateral (missing)", cn);
	}
	return best;
}

static bool is_revoked(X509_CRL *crl, X509 *cert)
{
	X509_REVOKED *rev = NULL;

	return X509_CRL_get0_by_cert(crl, &rev, cert) == 1;
}

static void check_crls(struct dcap_ctx *c)
{
	char why[200], cn[80];
	X509_CRL *crl;
	X509 *ca;

	if (!c->pck_chain) {
		lm_verdict_add(c->v, "root ca crl", false, "not checked: no verified PCK chain");
		lm_verdict_add(c->v, "pck crl", false, "not checked: no verified PCK chain");
		return;
	}
	ca = sk_X509_value(c->pck_chain, 1);
	cn_of(X509_get_subject_name(ca), cn, sizeof(cn));
	if (!(crl = find_crl(c, c->root, why, sizeof(why))))
		lm_verdict_add(c->v, "root ca crl", false, "%s", why);
	else if (is_revoked(crl, ca))
		lm_verdict_add(c->v, "root ca crl", false, "%s is revoked by the Root CA CRL", cn);
	else
		lm_verdict_add(c->v, "root ca crl", true, "Root CA CRL valid at %s; %s not revoked", c->at_text, cn);
	c->root_crl = crl;
	if (!(crl = find_crl(c, ca, why, sizeof(why))))
		lm_verdict_add(c->v, "pck crl", false, "%s", why);
	else if (is_revoked(crl, c->pck))
		lm_verdict_add(c->v, "pck crl", false, "the PCK certificate is revoked by the %s CRL", cn);
	else
		lm_verdict_add(c->v, "pck crl", true, "%s CRL valid at %s; PCK not revoked", cn, c->at_text);
}

static void pkey_free(void *p)
{
	EVP_PKEY_free(p);
}

/* The quote's attestation key as an EVP_PKEY: made from its 64 bytes once
 * per verifier (a public key, kept under SHA-256 of its bytes even without
 * the chain cache; the signature is verified on every call). The caller
 * frees the result. */
static EVP_PKEY *attest_key(struct dcap_ctx *c)
{
	const void *parts[2] = { "dcap-ak", c->q.attest_key };
	const size_t sizes[2] = { 7, 64 };
	uint8_t key[32];
	EVP_PKEY *k;

	if (lm_verifier_key(key, 2, parts, sizes) < 0)
		return p256_key(c->q.attest_key);
	if ((k = lm_verifier_parsed_get(c->vf, key))) {
		EVP_PKEY_up_ref(k);
		return k;
	}
	if ((k = p256_key(c->q.attest_key))) {
		EVP_PKEY_up_ref(k);
		if (!lm_verifier_parsed_put(c->vf, key, k, pkey_free))
			EVP_PKEY_free(k);
	}
	return k;
}

static void check_signatures(struct dcap_ctx *c)
{
	const uint8_t *rd = c->q.qe_report.report_data;
	static const uint8_t zero[32];
	uint8_t md[32];
	EVP_MD_CTX *h = EVP_MD_CTX_new();
	EVP_PKEY *ak;
	bool ok;

	if (!c->pck)
		lm_verdict_add(c->v, "qe report signature", false, "not checked: no PCK certificate");
	else if (ecdsa_raw_verify(X509_get0_pubkey(c->pck), c->q.qe_report_signature, c->q.qe_report_raw, 384))
		lm_verdict_add(c->v, "qe report signature", true, "QE report signed by the PCK key");
	else
		lm_verdict_add(c->v, "qe report signature", false, "QE report signature does not verify with the PCK key");

	ok = h && EVP_DigestInit_ex(h, EVP_sha256(), NULL) == 1 && EVP_DigestUpdate(h, c->q.attest_key, 64) == 1 &&
	     EVP_DigestUpdate(h, c->q.qe_auth_data, c->q.qe_auth_size) == 1 && EVP_DigestFinal_ex(h, md, NULL) == 1;
	EVP_MD_CTX_free(h);
	ok = ok && CRYPTO_memcmp(md, rd, 32) == 0 && memcmp(rd + 32, zero, 32) == 0;
	lm_verdict_add(c->v, "qe report data", ok,
		       ok ? "QE report data = SHA-256(attestation key || QE authentication data)"
			  : "QE report data is not SHA-256(attestation key || QE authentication data) || zeros");

	ak = attest_key(c);
	if (!ak)
		lm_verdict_add(c->v, "quote signature", false, "the attestation key is not a P-256 point");
	else if (ecdsa_raw_verify(ak, c->q.signature, c->q.signed_data, c->q.signed_size))
		lm_verdict_add(c->v, "quote signature", true, "header and body signed by the attestation key");
	else
		lm_verdict_add(c->v, "quote signature", false, "quote signature does not verify with the attestation key");
	EVP_PKEY_free(ak);
}

/* A signed collateral document (TCB Info, QE Identity): valid at T, and
 * signed by a TCB Signing certificate that chains to the root at T and is
 * not on the Root CA CRL. *sig_ok tells whether the signature itself
 * verified with some TCB Signing key. The signatures were checked when the
 * verifier loaded the collateral (dc); the windows and the revocation are
 * checked here. */
static bool check_signed_doc(struct dcap_ctx *c, const struct doc_check *dc, time_t issue, time_t next, bool *sig_ok,
			     char *why, size_t why_size)
{
	char chain_why[200] = "", t1[32], t2[32];
	bool found = false;

	*sig_ok = dc->sig_ok;
	for (size_t i = 0; i < dc->signer_count && !found; i++) {
		const struct signer *sg = &dc->signers[i];

		if (!sg->chain) {
			snprintf(chain_why, sizeof(chain_why), "%s at %s", sg->why, c->at_text);
			continue;
		}
		if (!chain_windows(c, sg->chain, chain_why, sizeof(chain_why)))
			continue;
		found = sk_X509_num(sg->chain) == 2 && !(c->root_crl && is_revoked(c->root_crl, sg->cert));
		if (!found)
			snprintf(chain_why, sizeof(chain_why), "not issued directly by the root, or revoked");
	}
	if (!*sig_ok) {
		snprintf(why, why_size, "signature does not verify with any TCB Signing certificate in the collateral");
		return false;
	}
	if (!found) {
		snprintf(why, why_size, "TCB Signing certificate: %s", chain_why);
		return false;
	}
	lm_time_format(t1, sizeof(t1), issue);
	lm_time_format(t2, sizeof(t2), next);
	if (c->at < issue || c->at > next) {
		snprintf(why, why_size, "valid %s..%s, not at %s (%s)", t1, t2, c->at_text,
			 c->at < issue ? "not yet valid" : "expired");
		return false;
	}
	snprintf(why, why_size, "signed by the TCB Signing certificate, valid %s..%s", t1, t2);
	return true;
}

static const struct lm_qe_identity *check_qe_identity(struct dcap_ctx *c, bool *usable)
{
	const char *want = c->q.tee_type == LM_DCAP_TEE_TDX ? "TD_QE" : "QE";
	const struct lm_qe_identity *best = NULL;
	const struct lm_sgx_report *qr = &c->q.qe_report;
	char why[256] = "", best_why[256] = "";
	bool best_ok = false, best_sig = false;

	*usable = false;
	for (size_t i = 0; i < c->col->qe_identity_count; i++) {
		const struct lm_qe_identity *qe = c->col->qe_identities[i];
		bool sig_ok, ok;

		if (strcmp(qe->id, want) != 0)
			continue;
		ok = check_signed_doc(c, &c->st->qe_checks[i], qe->issue_date, qe->next_update, &sig_ok, why,
				      sizeof(why));
		/* Prefer a valid one, then one whose signature verified, then the newest. */
		if (!best || ok > best_ok || (ok == best_ok && sig_ok > best_sig) ||
		    (ok == best_ok && sig_ok == best_sig && qe->issue_date > best->issue_date)) {
			best = qe;
			best_ok = ok;
			best_sig = sig_ok;
			snprintf(best_why, sizeof(best_why), "%s", why);
		}
	}
	if (!best) {
		lm_verdict_add(c->v, "qe identity", false, "no %s identity in the collateral (missing)", want);
		return NULL;
	}
	if (!best_ok) {
		lm_verdict_add(c->v, "qe identity", false, "%s identity: %s", want, best_why);
		return best_sig ? best : NULL;
	}
	if (memcmp(qr->mr_signer, best->mr_signer, 32) != 0)
		lm_verdict_add(c->v, "qe identity", false, "QE MRSIGNER is not the %s identity's", want);
	else if (qr->isv_prod_id != best->isv_prod_id)
		lm_verdict_add(c->v, "qe identity", false, "QE ISVPRODID %u, the identity says %u", qr->isv_prod_id,
			       best->isv_prod_id);
	else if ((qr->misc_select & best->misc_select_mask) != best->misc_select)
		lm_verdict_add(c->v, "qe identity", false, "QE MISCSELECT 0x%08x does not match under the mask",
			       qr->misc_select);
	else {
		for (int i = 0; i < 16; i++)
			if ((qr->attributes[i] & best->attributes_mask[i]) != best->attributes[i]) {
				lm_verdict_add(c->v, "qe identity", false, "QE ATTRIBUTES do not match under the mask");
				return NULL;
			}
		lm_verdict_add(c->v, "qe identity", true, "%s identity (%s) matches the QE report, ISVSVN %u", want,
			       best_why, qr->isv_svn);
		*usable = true;
	}
	return *usable ? best : NULL;
}

static bool fmspc_match(const struct lm_tcb_info *t, const struct lm_pck_info *pck)
{
	return memcmp(t->fmspc, pck->fmspc, 6) == 0 && memcmp(t->pce_id, pck->pce_id, 2) == 0;
}

/* Chooses the TCB Info for this quote and checks it and the FMSPC. Returns
 * the document when its signature verified (even if not valid at T, so
 * that the status can still be shown), with *usable when fully valid. */
static const struct lm_tcb_info *check_tcb_info(struct dcap_ctx *c, bool *usable)
{
	bool tdx = c->q.tee_type == LM_DCAP_TEE_TDX;
	const struct lm_tcb_info *best = NULL;
	bool best_ok = false, best_sig = false, best_fm = false;
	char why[256] = "", best_why[256] = "", a[13], b[13];

	*usable = false;
	for (size_t i = 0; i < c->col->tcb_info_count; i++) {
		const struct lm_tcb_info *t = c->col->tcb_infos[i];
		bool sig_ok, ok, fm;

		if (t->is_tdx != tdx)
			continue;
		fm = c->has_pck_info && fmspc_match(t, &c->pck_info);
		ok = check_signed_doc(c, &c->st->tcb_checks[i], t->issue_date, t->next_update, &sig_ok, why,
				      sizeof(why));
		if (!best || fm > best_fm || (fm == best_fm && ok > best_ok) ||
		    (fm == best_fm && ok == best_ok && sig_ok > best_sig) ||
		    (fm == best_fm && ok == best_ok && sig_ok == best_sig && t->issue_date > best->issue_date)) {
			best = t;
			best_fm = fm;
			best_ok = ok;
			best_sig = sig_ok;
			snprintf(best_why, sizeof(best_why), "%s", why);
		}
	}
	if (!best) {
		lm_verdict_add(c->v, "tcb info", false, "no %s TCB Info in the collateral (missing)", tdx ? "TDX" : "SGX");
		lm_verdict_add(c->v, "fmspc", false, "not checked: no TCB Info");
		return NULL;
	}
	lm_verdict_add(c->v, "tcb info", best_ok, "%s TCB Info v%d (evaluation data %d): %s", tdx ? "TDX" : "SGX",
		       best->version, best->tcb_evaluation_data_number, best_why);
	lm_hex_encode(b, best->fmspc, 6);
	if (!c->has_pck_info) {
		lm_verdict_add(c->v, "fmspc", false, "not checked: no PCK certificate");
		return NULL;
	}
	lm_hex_encode(a, c->pck_info.fmspc, 6);
	if (!best_fm) {
		lm_verdict_add(c->v, "fmspc", false, "PCK FMSPC %s / PCE ID %02x%02x, TCB Info has %s / %02x%02x", a,
			       c->pck_info.pce_id[0], c->pck_info.pce_id[1], b, best->pce_id[0], best->pce_id[1]);
		return NULL;
	}
	lm_verdict_add(c->v, "fmspc", true, "FMSPC %s and PCE ID match the TCB Info", a);
	*usable = best_ok;
	return best_sig ? best : NULL;
}

static void add_advisories(struct lm_verdict *v, const struct lm_tcb_level *lv)
{
	for (size_t i = 0; lv && i < lv->advisory_count; i++) {
		const char *id = lv->advisories[i];
		size_t have = strlen(v->advisories), n = strlen(id);
		const char *p = v->advisories;
		bool dup = false;

		while ((p = strstr(p, id))) {
			if ((p == v->advisories || p[-1] == ',') && (p[n] == 0 || p[n] == ','))
				dup = true;
			p += n;
		}
		if (dup || have + n + 2 > sizeof(v->advisories))
			continue;
		snprintf(v->advisories + have, sizeof(v->advisories) - have, "%s%s", have ? "," : "", id);
	}
}

static void check_tdx_module(struct dcap_ctx *c, const struct lm_tcb_info *ti)
{
	const struct lm_td_report *td = &c->q.td;
	const struct lm_tdx_module *m = lm_tdx_module_find(ti, td->tee_tcb_svn);

	if (!m) {
		lm_verdict_add(c->v, "tdx module", false, "no TDX module identity TDX_%02X in the TCB Info",
			       td->tee_tcb_svn[1]);
		return;
	}
	if (memcmp(m->mr_signer, td->mr_signer_seam, 48) != 0) {
		lm_verdict_add(c->v, "tdx module", false, "MRSIGNERSEAM is not the %s module signer", *m->id ? m->id : "TDX");
		return;
	}
	for (int i = 0; i < 8; i++)
		if ((td->seam_attributes[i] & m->attributes_mask[i]) != m->attributes[i]) {
			lm_verdict_add(c->v, "tdx module", false, "SEAM attributes do not match the module identity");
			return;
		}
	lm_verdict_add(c->v, "tdx module", true, "module %s (TEE_TCB_SVN %u.%u): signer and attributes match",
		       *m->id ? m->id : "tdxModule", td->tee_tcb_svn[1], td->tee_tcb_svn[0]);
}

static void check_tcb(struct dcap_ctx *c, const struct lm_tcb_info *ti, bool ti_usable,
		      const struct lm_qe_identity *qe, bool qe_usable)
{
	unsigned accept = c->p->accept_tcb ? c->p->accept_tcb : LM_TCB_ACCEPT(LM_TCB_UP_TO_DATE);
	struct lm_tcb_result res;
	const char *name;

	if (!ti || !c->has_pck_info) {
		if (c->q.tee_type == LM_DCAP_TEE_TDX)
			lm_verdict_add(c->v, "tdx module", false, "not checked: no usable TCB Info");
		lm_verdict_add(c->v, "tcb level", false, "not evaluated: no usable TCB Info for this platform");
		lm_verdict_add(c->v, "tcb status", false, "unknown: collateral missing or unusable");
		return;
	}
	if (c->q.tee_type == LM_DCAP_TEE_TDX)
		check_tdx_module(c, ti);
	if (lm_tcb_evaluate(ti, &c->pck_info, &c->q, qe, &res) < 0) {
		lm_verdict_add(c->v, "tcb level", false, "%s", res.why);
		lm_verdict_add(c->v, "tcb status", false, "no status: the TCB is not supported");
		return;
	}
	lm_verdict_add(c->v, "tcb level", true, "level of %s: %s%s%s%s", "TCB Info",
		       lm_tcb_status_name(res.platform_status), res.module_level ? ", TDX module " : "",
		       res.module_level ? lm_tcb_status_name(res.module_level->status) : "",
		       res.qe_level ? "" : (qe ? ", QE ISVSVN below every level" : ", QE not evaluated"));
	name = lm_tcb_status_name(res.status);
	snprintf(c->v->tcb_status, sizeof(c->v->tcb_status), "%s", name);
	add_advisories(c->v, res.level);
	add_advisories(c->v, res.module_level);
	add_advisories(c->v, res.qe_level);
	if (!ti_usable || !qe_usable || !qe)
		lm_verdict_add(c->v, "tcb status", false, "%s%s%s, but the collateral is incomplete or not valid at %s",
			       name, c->v->advisories[0] ? " " : "", c->v->advisories, c->at_text);
	else if (accept & LM_TCB_ACCEPT(res.status))
		lm_verdict_add(c->v, "tcb status", true, "%s%s%s, accepted by policy", name,
			       c->v->advisories[0] ? " " : "", c->v->advisories);
	else
		lm_verdict_add(c->v, "tcb status", false, "%s%s%s is not an accepted status (%s)", name,
			       c->v->advisories[0] ? " " : "", c->v->advisories,
			       c->p->accept_tcb ? "policy" : "default: UpToDate only");
}

static void check_pin(struct lm_verdict *v, const char *name, const uint8_t *want, const uint8_t *got, size_t size)
{
	char hex[2 * 64 + 1];

	if (!want)
		return;
	lm_hex_encode(hex, got, size);
	if (CRYPTO_memcmp(want, got, size) == 0)
		lm_verdict_add(v, name, true, "%s as expected", hex);
	else
		lm_verdict_add(v, name, false, "%.32s... is not the expected value", hex);
}

static void check_policy(struct dcap_ctx *c)
{
	const struct lm_policy *p = c->p;
	bool tdx = c->q.tee_type == LM_DCAP_TEE_TDX;
	const uint8_t *rd = tdx ? c->q.td.report_data : c->q.enclave.report_data;
	const uint8_t *m = tdx ? c->q.td.mr_td : c->q.enclave.mr_enclave;
	size_t m_size = tdx ? 48 : 32;
	bool debug = tdx ? (c->q.td.td_attributes[0] & 0x01) : (c->q.enclave.attributes[0] & 0x02);
	char hex[2 * 48 + 1];

	if (debug)
		lm_verdict_add(c->v, "debug", p->allow_debug, "%s debug attribute set%s", tdx ? "TD" : "enclave",
			       p->allow_debug ? ", allowed by policy" : ": the host can read its memory");
	else
		lm_verdict_add(c->v, "debug", true, "debug attribute clear");

	/* The document must not show anything the quote does not sign. */
	{
		uint8_t dm[LM_MEASUREMENT_MAX];
		size_t dm_size;
		bool ok = memcmp(c->ev->report_data, rd, 64) == 0;

		if (c->ev->measurement)
			ok = ok && lm_measurement_decode(c->ev->measurement, tdx ? "sha384" : "sha256", dm, &dm_size) == 0 &&
			     dm_size == m_size && memcmp(dm, m, m_size) == 0;
		lm_verdict_add(c->v, "report consistency", ok,
			       ok ? "document report_data and measurement are the quote's"
				  : "document report_data or measurement differ from the signed quote");
	}
	{
		const char *pk_hex = lm_evidence_info(c->ev, "guest_public_key");
		uint8_t want[64], *pk = NULL;
		size_t pk_size = 0;

		if (pk_hex && lm_hex_decode_alloc(pk_hex, &pk, &pk_size) == 0 && pk_size &&
		    lm_report_data_bind(want, p->expect_nonce ? p->expect_nonce : c->ev->nonce,
					p->expect_nonce ? p->expect_nonce_size : c->ev->nonce_size, pk, pk_size) == 0) {
			bool ok = memcmp(want, rd, 64) == 0 &&
				  (!p->expect_nonce || (p->expect_nonce_size == c->ev->nonce_size &&
							memcmp(p->expect_nonce, c->ev->nonce, c->ev->nonce_size) == 0));

			lm_verdict_add(c->v, "nonce binding", ok,
				       ok ? "report_data = SHA-512(nonce || guest public key)"
					  : "report_data is not SHA-512(expected nonce || guest public key)");
		} else if (p->expect_nonce) {
			lm_verdict_add(c->v, "nonce binding", false, "no guest public key to bind the nonce to");
		} else {
			lm_verdict_add(c->v, "nonce binding", true, "not bound: no nonce expected, no guest key");
		}
		free(pk);
	}
	lm_hex_encode(hex, m, m_size);
	if (!p->expect_measurement)
		lm_verdict_add(c->v, "measurement", true, "not pinned (%s:%s)", tdx ? "sha384" : "sha256", hex);
	else if (p->expect_measurement_size == m_size && CRYPTO_memcmp(p->expect_measurement, m, m_size) == 0)
		lm_verdict_add(c->v, "measurement", true, "%s:%s as expected", tdx ? "sha384" : "sha256", hex);
	else
		lm_verdict_add(c->v, "measurement", false, "%.32s... is not the expected measurement", hex);

	if (tdx) {
		static const char *const names[4] = { "rtmr0", "rtmr1", "rtmr2", "rtmr3" };

		check_pin(c->v, "mrtd", p->expect_mrtd, c->q.td.mr_td, 48);
		for (int i = 0; i < 4; i++)
			check_pin(c->v, names[i], p->expect_rtmr[i], c->q.td.rtmr[i], 48);
		if (p->expect_mrenclave || p->expect_mrsigner)
			lm_verdict_add(c->v, "mrenclave", false, "MRENCLAVE/MRSIGNER pinned, but this is a TDX quote");
	} else {
		check_pin(c->v, "mrenclave", p->expect_mrenclave, c->q.enclave.mr_enclave, 32);
		check_pin(c->v, "mrsigner", p->expect_mrsigner, c->q.enclave.mr_signer, 32);
		if (p->expect_mrtd)
			lm_verdict_add(c->v, "mrtd", false, "MRTD pinned, but this is an SGX quote");
		for (int i = 0; i < 4; i++)
			if (p->expect_rtmr[i]) {
				lm_verdict_add(c->v, "rtmr0", false, "RTMRs pinned, but this is an SGX quote");
				break;
			}
	}
	check_pin(c->v, "report data", p->expect_report_data, rd, 64);
}

static int dcap_verify(struct lm_verifier *vf, const struct lm_evidence *ev, const struct lm_policy *p,
		       struct lm_verdict *v, bool want_tdx)
{
	const struct lm_qe_identity *qe;
	const struct lm_tcb_info *ti;
	struct dcap_ctx c;
	bool qe_usable, ti_usable;
	void *st;
	int r;

	memset(&c, 0, sizeof(c));
	c.vf = vf;
	c.ev = ev;
	c.p = p;
	c.v = v;
	c.at = p->at ? p->at : time(NULL);
	lm_time_format(c.at_text, sizeof(c.at_text), c.at);
	if (!ev->evidence || (r = lm_dcap_quote_parse(ev->evidence, ev->evidence_size, &c.q)) < 0)
		return LM_EFORMAT;
	if ((c.q.tee_type == LM_DCAP_TEE_TDX) != want_tdx) {
		lm_verdict_add(v, "platform", false, "the quote is %s, the document says %s",
			       c.q.tee_type == LM_DCAP_TEE_TDX ? "TDX" : "SGX", lm_platform_name(ev->platform));
		return 0;
	}
	lm_verdict_add(v, "platform", true, "%s", want_tdx ? "Intel TDX" : "Intel SGX");
	lm_verdict_add(v, "quote format", true, "quote v%u, %s, ECDSA P-256", c.q.version,
		       c.q.body_type == 1 ? "SGX enclave report" : c.q.body_type == 2 ? "TD report 1.0" : "TD report 1.5");
	if (want_tdx)
		lm_verdict_set_measurement(v, "sha384", c.q.td.mr_td, 48);
	else
		lm_verdict_set_measurement(v, "sha256", c.q.enclave.mr_enclave, 32);

	if ((r = lm_verifier_state(vf, LM_VSTATE_DCAP, vstate_make, vstate_free, &st)) < 0)
		return r;
	c.st = st;
	if (c.st->root_error < 0) {
		lm_verdict_add(v, "pck chain", false, "no usable root certificate");
		return 0;
	}
	c.root = c.st->root;
	c.root_pinned = c.st->root_pinned;
	if ((r = load_material(&c)) < 0)
		goto out;
	check_pck_chain(&c);
	check_crls(&c);
	check_signatures(&c);
	qe = check_qe_identity(&c, &qe_usable);
	ti = check_tcb_info(&c, &ti_usable);
	check_tcb(&c, ti, ti_usable && c.col_loaded, qe, qe_usable);
	check_policy(&c);
	r = 0;
out:
	sk_X509_pop_free(c.pck_chain, X509_free);
	sk_X509_pop_free(c.pool, X509_free);
	X509_free(c.pck);
	return r;
}

int lm_dcap_evidence_from_quote(const uint8_t *raw, size_t size, struct lm_evidence **out)
{
	struct lm_evidence *ev = NULL;
	struct lm_dcap_quote q;
	bool tdx;
	int r;

	if (!raw || !out)
		return LM_EINVAL;
	if ((r = lm_dcap_quote_parse(raw, size, &q)) < 0)
		return r;
	tdx = q.tee_type == LM_DCAP_TEE_TDX;
	if ((r = lm_evidence_new(&ev)) < 0)
		return r;
	if (!(ev->evidence = malloc(size)) || !(ev->measurement = malloc(7 + 2 * 48 + 1))) {
		lm_evidence_free(ev);
		return LM_ENOMEM;
	}
	memcpy(ev->evidence, raw, size);
	ev->evidence_size = size;
	ev->platform = tdx ? LM_PLATFORM_TDX : LM_PLATFORM_SGX;
	memcpy(ev->report_data, tdx ? q.td.report_data : q.enclave.report_data, LM_REPORT_DATA_BYTES);
	memcpy(ev->measurement, tdx ? "sha384:" : "sha256:", 8);
	lm_hex_encode(ev->measurement + 7, tdx ? q.td.mr_td : q.enclave.mr_enclave, tdx ? 48 : 32);
	*out = ev;
	return 0;
}

static int tdx_detect(const uint8_t *raw, size_t size)
{
	return lm_dcap_detect(raw, size) && size >= 8 && raw[4] == 0x81 && raw[5] == 0 && raw[6] == 0 && raw[7] == 0;
}

static int sgx_detect(const uint8_t *raw, size_t size)
{
	return lm_dcap_detect(raw, size) && size >= 8 && raw[4] == 0 && raw[5] == 0 && raw[6] == 0 && raw[7] == 0;
}

static int tdx_verify(struct lm_verifier *vf, const struct lm_evidence *ev, const struct lm_policy *p,
		      struct lm_verdict *v)
{
	return dcap_verify(vf, ev, p, v, true);
}

static int sgx_verify(struct lm_verifier *vf, const struct lm_evidence *ev, const struct lm_policy *p,
		      struct lm_verdict *v)
{
	return dcap_verify(vf, ev, p, v, false);
}

const struct lm_attest_backend lm_attest_tdx = {
	.platform = LM_PLATFORM_TDX,
	.name = "tdx",
	.detect = tdx_detect,
	.verify = tdx_verify,
	.wrap = lm_dcap_evidence_from_quote,
};

const struct lm_attest_backend lm_attest_sgx = {
	.platform = LM_PLATFORM_SGX,
	.name = "sgx",
	.detect = sgx_detect,
	.verify = sgx_verify,
	.wrap = lm_dcap_evidence_from_quote,
};
