/* AMD SEV-SNP: the parsed attestation report, the product lines and their
 * TCB_VERSION layouts, the VCEK/VLEK extensions and the certificate chain to
 * AMD's roots. Private to lib/attest.
 *
 * snp_report.c  parses reports (untrusted bytes) into struct lm_snp_report
 * snp_roots.c   the built-in ARKs, certificate loading, VCEK extensions and
 *               the ARK -> ASK/ASVK -> VCEK/VLEK chain
 * snp.c         the verifier: chain, signature, product, TCB, policy
 *
 * Layouts follow AMD's SEV-SNP ABI specification (56860), "ATTESTATION_REPORT
 * Structure", and the VCEK certificate specification (57230). */
#ifndef LAMBDA_ATTEST_SNP_INT_H
#define LAMBDA_ATTEST_SNP_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/x509.h>

#include "lambda/attest.h"
#include "lambda/err.h"

#define LM_SNP_REPORT_BYTES 0x4a0	/* 1184 */
#define LM_SNP_SIGNED_BYTES 0x2a0	/* the signature covers bytes 0x000..0x29f */
#define LM_SNP_SIG_COMPONENT_BYTES 72	/* R and S, little-endian, zero-padded */
#define LM_SNP_MEASUREMENT_BYTES 48
#define LM_SNP_HOST_DATA_BYTES 32
#define LM_SNP_CHIP_ID_BYTES 64
#define LM_SNP_TURIN_CHIP_ID_BYTES 8	/* Turin's hwID: the rest of CHIP_ID is zero */

/* Offsets of the fields in the report. */
#define LM_SNP_OFF_VERSION 0x000
#define LM_SNP_OFF_GUEST_SVN 0x004
#define LM_SNP_OFF_POLICY 0x008
#define LM_SNP_OFF_FAMILY_ID 0x010
#define LM_SNP_OFF_IMAGE_ID 0x020
#define LM_SNP_OFF_VMPL 0x030
#define LM_SNP_OFF_SIGNATURE_ALGO 0x034
#define LM_SNP_OFF_CURRENT_TCB 0x038
#define LM_SNP_OFF_PLATFORM_INFO 0x040
#define LM_SNP_OFF_KEY_INFO 0x048
#define LM_SNP_OFF_REPORT_DATA 0x050
#define LM_SNP_OFF_MEASUREMENT 0x090
#define LM_SNP_OFF_HOST_DATA 0x0c0
#define LM_SNP_OFF_ID_KEY_DIGEST 0x0e0
#define LM_SNP_OFF_AUTHOR_KEY_DIGEST 0x110
#define LM_SNP_OFF_REPORT_ID 0x140
#define LM_SNP_OFF_REPORT_ID_MA 0x160
#define LM_SNP_OFF_REPORTED_TCB 0x180
#define LM_SNP_OFF_CPUID_FAM_ID 0x188	/* v3 and later */
#define LM_SNP_OFF_CPUID_MOD_ID 0x189
#define LM_SNP_OFF_CPUID_STEP 0x18a
#define LM_SNP_OFF_CHIP_ID 0x1a0
#define LM_SNP_OFF_COMMITTED_TCB 0x1e0
#define LM_SNP_OFF_CURRENT_BUILD 0x1e8	/* build, minor, major */
#define LM_SNP_OFF_COMMITTED_BUILD 0x1ec
#define LM_SNP_OFF_LAUNCH_TCB 0x1f0
#define LM_SNP_OFF_LAUNCH_MIT_VECTOR 0x1f8	/* v5 and later */
#define LM_SNP_OFF_CURRENT_MIT_VECTOR 0x200
#define LM_SNP_OFF_SIG_R 0x2a0
#define LM_SNP_OFF_SIG_S 0x2e8
#define LM_SNP_OFF_SIG_RESERVED 0x330	/* to the end: reserved, zero, not signed */

#define LM_SNP_SIG_ALGO_ECDSA_P384_SHA384 1u

/* GUEST_POLICY bits. */
#define LM_SNP_POLICY_SMT (1ull << 16)
#define LM_SNP_POLICY_RESERVED_1 (1ull << 17)	/* must be one */
#define LM_SNP_POLICY_MIGRATE_MA (1ull << 18)
#define LM_SNP_POLICY_DEBUG (1ull << 19)
#define LM_SNP_POLICY_SINGLE_SOCKET (1ull << 20)

/* PLATFORM_INFO bits. */
#define LM_SNP_PLATFORM_SMT_EN (1ull << 0)
#define LM_SNP_PLATFORM_TSME_EN (1ull << 1)

/* KEY_INFO (offset 0x48): bit 0 AUTHOR_KEY_EN, bit 1 MASK_CHIP_KEY, bits
 * 4:2 SIGNING_KEY, the rest reserved. */
#define LM_SNP_KEY_INFO_AUTHOR_KEY_EN 0x1u
#define LM_SNP_KEY_INFO_MASK_CHIP_KEY 0x2u
#define LM_SNP_KEY_INFO_SIGNING_SHIFT 2
#define LM_SNP_KEY_INFO_SIGNING_MASK 0x7u
#define LM_SNP_KEY_INFO_RESERVED 0xffffffe0u

enum lm_snp_signing_key {
	LM_SNP_KEY_VCEK = 0,
	LM_SNP_KEY_VLEK = 1,
	LM_SNP_KEY_NONE = 7,	/* the report is not signed */
};

struct lm_snp_report {
	uint32_t version;		/* 2, 3 or 5 */
	uint32_t guest_svn;
	uint64_t policy;
	uint8_t family_id[16];
	uint8_t image_id[16];
	uint32_t vmpl;
	uint32_t signature_algo;
	uint64_t current_tcb;
	uint64_t platform_info;
	uint32_t key_info;
	bool author_key_en;
	bool mask_chip_key;
	enum lm_snp_signing_key signing_key;
	uint8_t report_data[LM_REPORT_DATA_BYTES];
	uint8_t measurement[LM_SNP_MEASUREMENT_BYTES];
	uint8_t host_data[LM_SNP_HOST_DATA_BYTES];
	uint8_t id_key_digest[48];
	uint8_t author_key_digest[48];
	uint8_t report_id[32];
	uint8_t report_id_ma[32];
	uint64_t reported_tcb;
	bool has_cpuid;			/* v3+: the three bytes below are meaningful */
	uint8_t cpuid_fam_id;
	uint8_t cpuid_mod_id;
	uint8_t cpuid_step;
	uint8_t chip_id[LM_SNP_CHIP_ID_BYTES];
	uint64_t committed_tcb;
	uint8_t current_build, current_minor, current_major;
	uint8_t committed_build, committed_minor, committed_major;
	uint64_t launch_tcb;
	bool has_mit_vector;		/* v5+ */
	uint64_t launch_mit_vector;
	uint64_t current_mit_vector;
	uint8_t sig_r[LM_SNP_SIG_COMPONENT_BYTES];	/* little-endian, as in the report */
	uint8_t sig_s[LM_SNP_SIG_COMPONENT_BYTES];
};

/* Parses a report strictly: exactly 1184 bytes, version 2, 3 or 5,
 * SIGNATURE_ALGO 1, VMPL 0..3, a defined SIGNING_KEY and zero reserved
 * KEY_INFO bits. Does not check the signature. */
LM_MUST_CHECK int lm_snp_report_parse(const uint8_t *raw, size_t size, struct lm_snp_report *out);

/* 1 when raw passes the checks of lm_snp_report_parse(), else 0; logs nothing. */
int lm_snp_report_detect(const uint8_t *raw, size_t size);

/* ---- products and TCB_VERSION ---- */

enum lm_snp_product {
	LM_SNP_PRODUCT_UNKNOWN = 0,
	LM_SNP_PRODUCT_MILAN,
	LM_SNP_PRODUCT_GENOA,
	LM_SNP_PRODUCT_TURIN,
};

/* "Milan", "Genoa", "Turin"; "unknown". */
const char *lm_snp_product_name(enum lm_snp_product p);

/* From a product name as certificates and callers write it: "Milan",
 * "Milan-B0", "Genoa", "Turin" (the stepping suffix is ignored). */
enum lm_snp_product lm_snp_product_from_name(const char *name);

/* From the report's CPUID family and model (v3+ only; a v2 report has no
 * CPUID and its bytes there must not be read as one). */
enum lm_snp_product lm_snp_product_from_cpuid(uint8_t family, uint8_t model);

/* A TCB_VERSION split into its security patch levels. Milan and Genoa:
 * bytes bootloader, TEE, 4 reserved, SNP, microcode; Turin: FMC,
 * bootloader, TEE, SNP, 3 reserved, microcode. */
struct lm_snp_tcb {
	uint8_t fmc;		/* Turin only */
	uint8_t bootloader;
	uint8_t tee;
	uint8_t snp;
	uint8_t microcode;
};

void lm_snp_tcb_decode(uint64_t tcb, enum lm_snp_product p, struct lm_snp_tcb *out);
uint64_t lm_snp_tcb_encode(const struct lm_snp_tcb *t, enum lm_snp_product p);

/* "fmc=1 bl=3 tee=2 snp=5 ucode=97" (fmc only for Turin). */
void lm_snp_tcb_format(char *out, size_t out_size, const struct lm_snp_tcb *t, enum lm_snp_product p);

/* ---- certificates (snp_roots.c) ---- */

/* What a VCEK or VLEK carries in its AMD extensions (1.3.6.1.4.1.3704.1.x). */
struct lm_snp_cert_info {
	bool is_vlek;			/* subject SEV-VLEK, or the csp_id extension */
	char product[32];		/* productName (.1.2), "" when absent */
	bool has_tcb;			/* blSPL, teeSPL, snpSPL and ucodeSPL all present */
	bool has_fmc;			/* fmcSPL (.3.9, Turin) */
	struct lm_snp_tcb tcb;
	uint8_t hwid[LM_SNP_CHIP_ID_BYTES];	/* hwID (.1.4), 0 bytes for a VLEK */
	size_t hwid_size;
};

/* Reads the AMD extensions of a VCEK/VLEK. LM_EFORMAT when an extension
 * present is malformed; missing ones are reported through the flags. */
LM_MUST_CHECK int lm_snp_cert_info(X509 *cert, struct lm_snp_cert_info *out);

/* Appends the certificates of a PEM (one or more) or DER buffer to *stack. */
LM_MUST_CHECK int lm_snp_certs_load(const uint8_t *data, size_t size, STACK_OF(X509) *stack);

/* The trust anchors: the built-in ARKs of Milan, Genoa and Turin (each
 * checked against its pinned SubjectPublicKeyInfo SHA-256 when loaded), or
 * the self-signed certificates of root_file when not NULL. The caller frees
 * *out with OSSL_STACK_OF_X509_free()-style sk_X509_pop_free(). */
LM_MUST_CHECK int lm_snp_roots_load(const char *root_file, STACK_OF(X509) **out);

/* The product whose built-in ARK has this key, or LM_SNP_PRODUCT_UNKNOWN. */
enum lm_snp_product lm_snp_root_pinned(X509 *ark);

/* The product a certificate names in its subject CN ("ARK-Milan",
 * "SEV-Milan", "SEV-VLEK-Genoa"), and whether it is an ASVK. */
enum lm_snp_product lm_snp_cert_product(X509 *cert, bool *is_asvk);

/* The result of a chain check. */
struct lm_snp_chain {
	bool ok;
	X509 *ask;			/* borrowed from the inputs, NULL if not found */
	X509 *ark;
	enum lm_snp_product ark_product;
	char detail[LM_CHECK_DETAIL_MAX];
};

/* Verifies leaf (a VCEK, or a VLEK when vlek) up to an anchor at time at:
 * an intermediate of intermediates named by the leaf's issuer (an ASK for
 * a VCEK, an ASVK for a VLEK) signs it, an anchor signs the intermediate,
 * the anchor is self-signed, every signature is RSASSA-PSS with SHA-384,
 * and every certificate is valid at at. Returns 0 with out->ok set or
 * cleared; a negative code only when the check could not run. */
LM_MUST_CHECK int lm_snp_chain_verify(X509 *leaf, bool vlek, STACK_OF(X509) *intermediates,
				      STACK_OF(X509) *anchors, time_t at, struct lm_snp_chain *out);

/* The checks of lm_snp_chain_verify() that do not verify a signature, for
 * a chain whose signatures verified before (the same bytes, kept by a
 * verifier context): ask and ark name the product, every link is
 * RSASSA-PSS SHA-384 and valid at at. */
LM_MUST_CHECK int lm_snp_chain_recheck(X509 *leaf, bool vlek, X509 *ask, X509 *ark, time_t at,
				       struct lm_snp_chain *out);

/* ---- the verifier (snp.c) ---- */

/* Verifies a raw report with the certificates of extra_pem (PEM strings,
 * e.g. a document's certificate_chain) and of policy->cert_files, in the
 * verifier context vf (whose trust material p must be). Records every
 * check in *v (already initialised). For other backends that carry an SNP
 * report inside their evidence (a vTPM's HCL report). */
LM_MUST_CHECK int lm_snp_verify_report(struct lm_verifier *vf, const uint8_t *raw, size_t size,
				       const char *const *extra_pem, size_t extra_count, const struct lm_policy *p,
				       struct lm_verdict *v, struct lm_snp_report *out);

#endif
