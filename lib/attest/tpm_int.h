/* TPM 2.0: the structures of TPM 2.0 Part 2 that a quote verifier reads
 * (TPMS_ATTEST with TPMS_QUOTE_INFO, TPMT_SIGNATURE, TPMT_PUBLIC for RSA and
 * ECC keys), PCR banks, and the TCG PC Client crypto-agile event log.
 * Private to lib/attest.
 *
 * tpm_structs.c   parsers of untrusted marshalled bytes (big-endian)
 * tpm_eventlog.c  event log parser and PCR replay (little-endian log)
 * tpm.c           the verifier (backend lm_attest_tpm) and the document maker */
#ifndef LAMBDA_ATTEST_TPM_INT_H
#define LAMBDA_ATTEST_TPM_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "lambda/attest.h"
#include "lambda/err.h"

/* TPM_ALG_ID values (Part 2, table 9). */
#define LM_TPM_ALG_RSA 0x0001u
#define LM_TPM_ALG_SHA1 0x0004u
#define LM_TPM_ALG_NULL 0x0010u
#define LM_TPM_ALG_SHA256 0x000Bu
#define LM_TPM_ALG_SHA384 0x000Cu
#define LM_TPM_ALG_SHA512 0x000Du
#define LM_TPM_ALG_RSASSA 0x0014u
#define LM_TPM_ALG_RSAPSS 0x0016u
#define LM_TPM_ALG_ECDSA 0x0018u
#define LM_TPM_ALG_ECC 0x0023u

#define LM_TPM_GENERATED_VALUE 0xff544347u	/* "\xffTCG" */
#define LM_TPM_ST_ATTEST_QUOTE 0x8018u

/* TPMA_OBJECT bits (Part 2, table 31). */
#define LM_TPMA_FIXED_TPM (1u << 1)
#define LM_TPMA_FIXED_PARENT (1u << 4)
#define LM_TPMA_SENSITIVE_DATA_ORIGIN (1u << 5)
#define LM_TPMA_RESTRICTED (1u << 16)
#define LM_TPMA_DECRYPT (1u << 17)
#define LM_TPMA_SIGN (1u << 18)
#define LM_TPMA_X509SIGN (1u << 19)
/* Bits TPM 2.0 Part 2 (TPMA_OBJECT) reserves: 0, 3, 8-9, 12-15, 20-31. */
#define LM_TPMA_RESERVED 0xfff0f309u

/* Bounds. A selection has at most one entry per supported bank; a TPM has
 * at most 32 PCRs per bank (sizeofSelect <= 4). */
#define LM_TPM_DIGEST_MAX 64
#define LM_TPM_NAME_MAX (2 + LM_TPM_DIGEST_MAX)
#define LM_TPM_DATA_MAX 64		/* TPM2B_DATA: sizeof(TPMT_HA) */
#define LM_TPM_PCR_MAX 32
#define LM_TPM_SELECT_MAX 4
#define LM_TPM_BANK_MAX 5		/* SHA-1, SHA-256, SHA-384, SHA-512 and one spare */
#define LM_TPM_RSA_MAX 512		/* 4096-bit keys */
#define LM_TPM_ECC_MAX 66		/* P-521 coordinates */

/* Digest size of a TPM hash algorithm, 0 when not supported here. */
size_t lm_tpm_hash_size(uint16_t alg);
/* "sha1", "sha256", ... or NULL. */
const char *lm_tpm_hash_name(uint16_t alg);
/* The digest of a TPM hash algorithm, fetched once per process; NULL when
 * not supported here. */
const EVP_MD *lm_tpm_md(uint16_t alg);
/* The reverse, for PCR files; 0 when unknown. */
uint16_t lm_tpm_hash_from_name(const char *name);

struct lm_tpm_pcr_select {
	uint16_t hash;
	uint32_t mask;			/* bit i: PCR i selected */
};

/* TPMS_ATTEST of type TPM_ST_ATTEST_QUOTE. */
struct lm_tpm_quote {
	uint8_t signer[LM_TPM_NAME_MAX];	/* qualifiedSigner */
	size_t signer_size;
	uint8_t extra[LM_TPM_DATA_MAX];		/* extraData: the nonce */
	size_t extra_size;
	uint64_t clock;
	uint32_t reset_count, restart_count;
	bool safe;
	uint64_t firmware_version;
	struct lm_tpm_pcr_select sel[LM_TPM_BANK_MAX];
	size_t sel_count;
	uint8_t pcr_digest[LM_TPM_DIGEST_MAX];
	size_t pcr_digest_size;
};

/* Parses a marshalled TPMS_ATTEST strictly: magic TPM_GENERATED_VALUE,
 * type quote, bounded TPM2B sizes, a PCR selection with known banks, no
 * bank twice, sizeofSelect <= 4, and no trailing bytes. */
LM_MUST_CHECK int lm_tpm_quote_parse(const uint8_t *raw, size_t size, struct lm_tpm_quote *out);

/* TPMT_SIGNATURE for RSASSA, RSAPSS and ECDSA. */
struct lm_tpm_signature {
	uint16_t alg;			/* LM_TPM_ALG_RSASSA, _RSAPSS, _ECDSA */
	uint16_t hash;
	uint8_t sig[LM_TPM_RSA_MAX];	/* RSA */
	size_t sig_size;
	uint8_t r[LM_TPM_ECC_MAX], s[LM_TPM_ECC_MAX];	/* ECDSA */
	size_t r_size, s_size;
};

LM_MUST_CHECK int lm_tpm_signature_parse(const uint8_t *raw, size_t size, struct lm_tpm_signature *out);

/* TPMT_PUBLIC of an RSA or ECC key. */
struct lm_tpm_public {
	uint16_t type;			/* LM_TPM_ALG_RSA or _ECC */
	uint16_t name_alg;
	uint32_t attributes;
	uint16_t scheme, scheme_hash;	/* LM_TPM_ALG_NULL when none */
	uint16_t key_bits;		/* RSA */
	uint32_t exponent;		/* RSA; 0 means 65537 */
	uint8_t modulus[LM_TPM_RSA_MAX];
	size_t modulus_size;
	uint16_t curve;			/* ECC: TPM_ECC_CURVE */
	uint8_t x[LM_TPM_ECC_MAX], y[LM_TPM_ECC_MAX];
	size_t x_size, y_size;
	const uint8_t *raw;		/* the TPMT_PUBLIC bytes inside the input */
	size_t raw_size;
};

/* Parses a TPMT_PUBLIC, or a TPM2B_PUBLIC (the same with a uint16 size in
 * front, as tpm2-tools writes it). out->raw points into raw. */
LM_MUST_CHECK int lm_tpm_public_parse(const uint8_t *raw, size_t size, struct lm_tpm_public *out);

/* PCR values of several banks. */
struct lm_tpm_bank {
	uint16_t hash;
	size_t digest_size;
	uint32_t present;		/* bit i: pcr[i] known */
	uint8_t pcr[LM_TPM_PCR_MAX][LM_TPM_DIGEST_MAX];
};

struct lm_tpm_pcrs {
	struct lm_tpm_bank bank[LM_TPM_BANK_MAX];
	size_t bank_count;
};

/* The bank of pcrs for hash, or NULL. */
struct lm_tpm_bank *lm_tpm_pcrs_bank(struct lm_tpm_pcrs *pcrs, uint16_t hash);

/* ---- tpm_eventlog.c ---- */

#define LM_TPM_EVENTLOG_MAX (16u << 20)
#define LM_TPM_EVENTS_MAX 100000u

struct lm_tpm_eventlog_info {
	size_t event_count;		/* TCG_PCR_EVENT2 records, EV_NO_ACTION included */
	uint8_t locality;		/* from the StartupLocality event, else 0 */
	bool has_locality;
	uint32_t touched;		/* bit i: some event extended PCR i */
};

/* Parses a crypto-agile event log (a TCG_PCR_EVENT carrying the
 * "Spec ID Event03" header, then TCG_PCR_EVENT2 records) and replays it:
 * *out gets one bank per algorithm of the header that this build knows and
 * hashes lists (every such algorithm when hashes is NULL), with every PCR
 * the log extends marked present (PCR0 starts at the StartupLocality
 * locality when the log has that event). Banks not asked for are parsed and
 * must be complete, but not hashed: a verifier replays only the banks a
 * quote covers. */
LM_MUST_CHECK int lm_tpm_eventlog_replay(const uint8_t *log, size_t size, const uint16_t *hashes,
					 size_t hash_count, struct lm_tpm_pcrs *out,
					 struct lm_tpm_eventlog_info *info);

extern const struct lm_attest_backend lm_attest_tpm;

/* ---- tpm_hcl.c: the HCL attestation report of an Azure confidential VM ----
 * The paravisor (HCL) of an SEV-SNP guest publishes a report that binds
 * its vTPM's attestation key to SNP: a 32-byte header ("HCLA", version,
 * report size, request type), the SNP ATTESTATION_REPORT at 0x20, then at
 * 0x4c0 the runtime data header (u32 data_size, version, report_type 2 =
 * SNP, hash_type 1/2/3 = SHA-256/384/512, claims_size; little-endian) and
 * the runtime claims JSON at 0x4d4. REPORT_DATA starts with the hash of the
 * claims bytes, and the claims hold the AK as the RSA JWK "HCLAkPub". */

#define LM_HCL_MAGIC "HCLA"
#define LM_HCL_OFF_SNP 0x20
#define LM_HCL_OFF_RUNTIME 0x4c0
#define LM_HCL_OFF_CLAIMS 0x4d4
#define LM_HCL_REPORT_TYPE_SNP 2u
#define LM_HCL_MAX (64u << 10)

struct lm_tpm_hcl {
	const uint8_t *snp_report;	/* points into the parsed buffer, 1184 bytes */
	size_t snp_report_size;
	const uint8_t *claims;		/* the runtime claims JSON bytes */
	size_t claims_size;
	uint32_t hash_type;		/* 1 SHA-256, 2 SHA-384, 3 SHA-512 */
};

/* Parses the layout strictly (magic, version 1, report type SNP, a known
 * hash type, claims inside the buffer); does not verify anything. */
LM_MUST_CHECK int lm_tpm_hcl_parse(const uint8_t *raw, size_t size, struct lm_tpm_hcl *out);

/* 1 when raw starts like an HCL report, else 0. */
int lm_tpm_hcl_detect(const uint8_t *raw, size_t size);

/* The RSA public key of the JWK with kid "HCLAkPub" in the claims. The
 * caller frees *out with EVP_PKEY_free(). */
LM_MUST_CHECK int lm_tpm_hcl_ak(const struct lm_tpm_hcl *hcl, EVP_PKEY **out);

/* Checks that REPORT_DATA (64 bytes of the SNP report) starts with the hash
 * of the claims: 1 bound, 0 not, negative on error. */
LM_MUST_CHECK int lm_tpm_hcl_bound(const struct lm_tpm_hcl *hcl, const uint8_t report_data[static 64]);

#endif
