/* Intel DCAP (SGX quote v3, TDX quote v4 and v5): the parsed quote, the PCK
 * certificate's SGX extensions, and the collateral (TCB Info, QE Identity,
 * CRLs, certificates) used to verify them. Private to lib/attest.
 *
 * dcap_quote.c   parses quotes (untrusted bytes) into struct lm_dcap_quote
 * dcap_pck.c     reads the PCK certificate's SGX extensions
 * dcap_collateral.c  loads collateral by content and parses TCB Info / QE Identity
 * dcap_tcb.c     Intel's TCB level algorithm
 * dcap.c         the verifier: chains, signatures, identity, TCB, policy */
#ifndef LAMBDA_ATTEST_DCAP_INT_H
#define LAMBDA_ATTEST_DCAP_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/x509.h>

#include "lambda/attest.h"
#include "lambda/err.h"

#define LM_DCAP_TEE_SGX 0x00000000u
#define LM_DCAP_TEE_TDX 0x00000081u

/* SGX enclave report body (384 bytes): the quoted enclave in SGX quotes,
 * and the QE report in every quote. */
struct lm_sgx_report {
	uint8_t cpu_svn[16];
	uint32_t misc_select;
	uint8_t isv_ext_prod_id[16];
	uint8_t attributes[16];
	uint8_t mr_enclave[32];
	uint8_t mr_signer[32];
	uint8_t config_id[64];
	uint16_t isv_prod_id;
	uint16_t isv_svn;
	uint16_t config_svn;
	uint8_t isv_family_id[16];
	uint8_t report_data[64];
};

/* TD report body: 1.0 (584 bytes) and 1.5 (648 bytes, has_15 set). */
struct lm_td_report {
	uint8_t tee_tcb_svn[16];
	uint8_t mr_seam[48];
	uint8_t mr_signer_seam[48];
	uint8_t seam_attributes[8];
	uint8_t td_attributes[8];
	uint8_t xfam[8];
	uint8_t mr_td[48];
	uint8_t mr_config_id[48];
	uint8_t mr_owner[48];
	uint8_t mr_owner_config[48];
	uint8_t rtmr[4][48];
	uint8_t report_data[64];
	bool has_15;
	uint8_t tee_tcb_svn2[16];
	uint8_t mr_service_td[48];
};

struct lm_dcap_quote {
	/* header */
	uint16_t version;		/* 3, 4 or 5 */
	uint16_t att_key_type;		/* 2: ECDSA-256-with-P-256 */
	uint32_t tee_type;		/* LM_DCAP_TEE_SGX or LM_DCAP_TEE_TDX */
	uint16_t qe_svn, pce_svn;
	uint8_t qe_vendor_id[16];
	uint8_t user_data[20];
	/* body */
	uint16_t body_type;		/* v5: 1 SGX, 2 TD 1.0, 3 TD 1.5; earlier: derived */
	struct lm_sgx_report enclave;	/* tee_type SGX */
	struct lm_td_report td;		/* tee_type TDX */
	/* signed region: header and body, as bytes of the quote */
	const uint8_t *signed_data;
	size_t signed_size;
	/* signature data */
	uint8_t signature[64];		/* r || s, big-endian */
	uint8_t attest_key[64];		/* x || y of the P-256 attestation key */
	struct lm_sgx_report qe_report;
	const uint8_t *qe_report_raw;	/* 384 bytes inside the quote */
	uint8_t qe_report_signature[64];
	const uint8_t *qe_auth_data;
	size_t qe_auth_size;
	uint16_t cert_type;		/* innermost certification data type (5) */
	const uint8_t *cert_data;	/* type 5: PEM chain, PCK first */
	size_t cert_size;
};

/* Parses size bytes of a quote; pointers in *out point into data, which
 * must outlive it. Trailing bytes after the declared signature data are
 * ignored; a declared length that does not fit is LM_EFORMAT. */
LM_MUST_CHECK int lm_dcap_quote_parse(const uint8_t *data, size_t size, struct lm_dcap_quote *out);

/* Decodes a 384-byte SGX report body. */
void lm_sgx_report_decode(const uint8_t raw[static 384], struct lm_sgx_report *out);

/* 1 when raw parses as a DCAP quote, else 0 (backend detection). */
int lm_dcap_detect(const uint8_t *raw, size_t size);

/* The SGX extensions of a PCK certificate (OID 1.2.840.113741.1.13.1). */
struct lm_pck_info {
	uint8_t fmspc[6];
	uint8_t pce_id[2];
	uint8_t cpu_svn[16];
	uint8_t sgx_tcb_comp[16];	/* SGX TCB comp 01..16 SVNs */
	uint16_t pce_svn;
	bool is_processor_ca;		/* issued by the PCK Processor CA (else Platform CA) */
};

LM_MUST_CHECK int lm_pck_info_parse(X509 *pck, struct lm_pck_info *out);

/* ---- collateral ---- */

#define LM_TCB_ADVISORIES_MAX 64

struct lm_tcb_level {
	uint8_t sgx_comp[16];
	uint16_t pce_svn;
	uint16_t isv_svn;		/* QE and TDX module identity levels */
	uint8_t tdx_comp[16];		/* TDX TCB Info only */
	time_t tcb_date;
	enum lm_tcb_status status;
	char **advisories;		/* advisory ids, may be empty */
	size_t advisory_count;
};

/* TCB Info v2 (SGX) or v3 (SGX or TDX), with its signature checked
 * separately: body is the exact bytes of the "tcbInfo" value, which the
 * signature covers. */
struct lm_tcb_info {
	int version;			/* 2 or 3 */
	bool is_tdx;			/* id "TDX" */
	uint8_t fmspc[6];
	uint8_t pce_id[2];
	int tcb_type;
	int tcb_evaluation_data_number;
	time_t issue_date, next_update;
	/* TDX module identity (v3 TDX): mrsigner + attributes per TDX module id */
	struct lm_tdx_module {
		char id[32];		/* "TDX_01"...; "" for the v3 single tdxModule */
		uint8_t mr_signer[48];
		uint8_t attributes[8], attributes_mask[8];
		struct lm_tcb_level *levels;	/* isv_svn, status, advisories */
		size_t level_count;
	} *modules;
	size_t module_count;
	struct lm_tcb_level *levels;
	size_t level_count;
	uint8_t *body;			/* bytes the signature covers */
	size_t body_size;
	uint8_t signature[64];		/* r || s */
};

/* QE Identity (enclave identity v2), for the QE (SGX) or the TD-QE (TDX). */
struct lm_qe_identity {
	char id[16];			/* "QE", "TD_QE", "QVE" */
	int version;
	time_t issue_date, next_update;
	uint32_t misc_select, misc_select_mask;
	uint8_t attributes[16], attributes_mask[16];
	uint8_t mr_signer[32];
	uint16_t isv_prod_id;
	struct lm_tcb_level *levels;	/* isv_svn, status, advisories */
	size_t level_count;
	uint8_t *body;			/* bytes of the "enclaveIdentity" value */
	size_t body_size;
	uint8_t signature[64];
};

/* Everything found in a collateral directory, used by content only: files
 * are classified by what they hold, never by name. */
struct lm_dcap_collateral {
	STACK_OF(X509) *certs;
	STACK_OF(X509_CRL) *crls;
	struct lm_tcb_info **tcb_infos;
	size_t tcb_info_count;
	struct lm_qe_identity **qe_identities;
	size_t qe_identity_count;
};

/* Parses one TCB Info or QE Identity JSON document (the PCS format
 * {"tcbInfo": {...}, "signature": "hex"} / {"enclaveIdentity": ...}). */
LM_MUST_CHECK int lm_tcb_info_parse(const uint8_t *json, size_t size, struct lm_tcb_info **out);
LM_MUST_CHECK int lm_qe_identity_parse(const uint8_t *json, size_t size, struct lm_qe_identity **out);
void lm_tcb_info_free(struct lm_tcb_info *t);
void lm_qe_identity_free(struct lm_qe_identity *q);

/* Loads every certificate (PEM or DER, chains too), CRL (PEM or DER), TCB
 * Info and QE Identity in dir. Unrecognised files are skipped with a debug
 * log. Also used for single files given on the command line. */
LM_MUST_CHECK int lm_dcap_collateral_new(struct lm_dcap_collateral **out);
LM_MUST_CHECK int lm_dcap_collateral_add_data(struct lm_dcap_collateral *c, const uint8_t *data, size_t size,
					       const char *name);
LM_MUST_CHECK int lm_dcap_collateral_add_file(struct lm_dcap_collateral *c, const char *path);
LM_MUST_CHECK int lm_dcap_collateral_load_dir(struct lm_dcap_collateral *c, const char *dir);
void lm_dcap_collateral_free(struct lm_dcap_collateral *c);

/* ---- intel_root.c ---- */

/* The built-in Intel SGX Root CA; the caller frees *out. */
LM_MUST_CHECK int lm_dcap_intel_root(X509 **out);
/* Whether cert carries the pinned key of the Intel SGX Root CA. */
bool lm_dcap_is_intel_root(X509 *cert);
LM_MUST_CHECK int lm_dcap_spki_sha256(X509 *cert, uint8_t out[static 32]);

/* ---- dcap_tcb.c: Intel's TCB level algorithm ---- */

/* The outcome of the TCB evaluation of one quote. */
struct lm_tcb_result {
	enum lm_tcb_status status;		/* converged: platform, TDX module, QE */
	enum lm_tcb_status platform_status;	/* of the selected TCB Info level */
	const struct lm_tcb_level *sgx_level;	/* first level matching the SGX components and PCESVN */
	const struct lm_tcb_level *level;	/* the level that decides (TDX: matching TEE_TCB_SVN too) */
	const struct lm_tdx_module *module;	/* TDX module identity used, or NULL */
	const struct lm_tcb_level *module_level;
	const struct lm_tcb_level *qe_level;	/* NULL without QE Identity */
	char why[160];				/* when the evaluation fails */
};

/* The first level (in the document's order, newest first) whose SGX
 * components and PCESVN are all <= the platform's (from the PCK
 * certificate); for TDX the first such level whose TDX components are also
 * <= the quote's TEE_TCB_SVN (bytes 0-1 skipped when TEE_TCB_SVN[1] > 0:
 * the module's own SVN is judged by the TDX module identity). */
const struct lm_tcb_level *lm_tcb_select(const struct lm_tcb_info *ti, const struct lm_pck_info *pck,
					 const uint8_t *tee_tcb_svn /* NULL for SGX */,
					 const struct lm_tcb_level **sgx_level);

/* The QE Identity level for the QE's ISVSVN: the first with isv_svn <=
 * it, or NULL (then the QE counts as Revoked). */
const struct lm_tcb_level *lm_qe_level_select(const struct lm_qe_identity *qe, uint16_t isv_svn);

/* The TDX module identity a TD report must match: "TDX_<hex of
 * TEE_TCB_SVN[1]>" from tdxModuleIdentities, or tdxModule when
 * TEE_TCB_SVN[1] is 0. NULL when missing. */
const struct lm_tdx_module *lm_tdx_module_find(const struct lm_tcb_info *ti, const uint8_t tee_tcb_svn[static 16]);

/* Runs the whole evaluation. qe may be NULL (not known): the result is
 * then the platform's status alone. Returns 0 with out->status set, or
 * LM_EVERIFY with out->why ("TCB level not found", TDX module
 * mismatch...). */
LM_MUST_CHECK int lm_tcb_evaluate(const struct lm_tcb_info *ti, const struct lm_pck_info *pck,
				  const struct lm_dcap_quote *q, const struct lm_qe_identity *qe,
				  struct lm_tcb_result *out);

#endif
