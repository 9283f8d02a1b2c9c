/* Attestation evidence: the evidence document of DESIGN.md section 5, the
 * verification policy, per-check verdicts and the evidence backends (one
 * file each under lib/attest/ behind struct lm_attest_backend in
 * attest_int.h). Verification works on any machine; producing evidence
 * needs the hardware, or the `simulated` backend, which offers no
 * protection and is refused unless the policy allows it explicitly. */
#ifndef LAMBDA_ATTEST_H
#define LAMBDA_ATTEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "lambda/err.h"
#include "lambda/secret.h"

enum lm_platform {
	LM_PLATFORM_UNKNOWN = 0,
	LM_PLATFORM_SIMULATED,
	LM_PLATFORM_SGX,
	LM_PLATFORM_TDX,
	LM_PLATFORM_SNP,
	LM_PLATFORM_TPM,
};

/* "simulated", "Intel SGX", "Intel TDX", "AMD SEV-SNP", "TPM 2.0". */
const char *lm_platform_name(enum lm_platform p);
enum lm_platform lm_platform_from_name(const char *name);

#define LM_NONCE_MAX 64
#define LM_REPORT_DATA_BYTES 64
#define LM_MEASUREMENT_MAX 64

/* The evidence document. Every pointer member is owned by the document
 * (heap strings and buffers that lm_evidence_free() frees, so a caller may
 * replace one with its own malloc'd value). Documents come from
 * lm_evidence_parse() or a backend's make function, never from the
 * caller's own allocation: the module keeps private state beside them. */
struct lm_evidence {
	int version;				/* 1 */
	char instance_id[64];
	enum lm_platform platform;
	char *enclave_id;			/* hex */
	char *measurement;			/* "sha384:<hex>" */
	uint8_t nonce[LM_NONCE_MAX];
	size_t nonce_size;
	uint8_t report_data[LM_REPORT_DATA_BYTES];
	char timestamp[32];			/* RFC 3339 */
	uint8_t *evidence;			/* raw report or quote */
	size_t evidence_size;
	char **certificate_chain;		/* PEM strings */
	size_t certificate_count;
	char *signature;			/* hex, may be NULL */
	char *platform_info;			/* JSON object text, may be NULL; NULL in a parsed
						 * document, which keeps the object: read it with
						 * lm_evidence_info() */
};

/* Parses an evidence document (JSON, at most 4 MiB, else LM_ETOOBIG).
 * Rejects unknown fields, wrong types, bad encodings and fields over their
 * bounds with LM_EFORMAT, naming the field in the log. The caller frees *out with lm_evidence_free(). */
LM_MUST_CHECK int lm_evidence_parse(const uint8_t *data, size_t size, struct lm_evidence **out);

/* Serialises a document as indented JSON; the caller frees *out. */
LM_MUST_CHECK int lm_evidence_to_json(const struct lm_evidence *ev, char **out);

void lm_evidence_free(struct lm_evidence *ev);

/* Returns the string member key of the platform_info object, or NULL. The
 * string lives until the document is freed or platform_info is replaced.
 * Not safe to call on one document from two threads at once. */
const char *lm_evidence_info(const struct lm_evidence *ev, const char *key);

/* TCB status of a platform as Intel's collateral names it (also used for
 * the accepted set of lm_policy.accept_tcb, one bit per status). */
enum lm_tcb_status {
	LM_TCB_UNKNOWN = 0,
	LM_TCB_UP_TO_DATE,
	LM_TCB_SW_HARDENING_NEEDED,
	LM_TCB_CONFIGURATION_NEEDED,
	LM_TCB_CONFIGURATION_AND_SW_HARDENING_NEEDED,
	LM_TCB_OUT_OF_DATE,
	LM_TCB_OUT_OF_DATE_CONFIGURATION_NEEDED,
	LM_TCB_REVOKED,
};

/* "UpToDate", "SWHardeningNeeded", ...; NULL for LM_TCB_UNKNOWN. */
const char *lm_tcb_status_name(enum lm_tcb_status s);
enum lm_tcb_status lm_tcb_status_from_name(const char *name);

#define LM_TCB_ACCEPT(s) (1u << (s))

/* What the verifier requires and what it verifies with. Zero-initialise,
 * then set what applies: a zero field means "not pinned" or the safe
 * default. Byte fields point to caller-owned buffers of the size named. */
struct lm_policy {
	bool allow_simulated_insecure;
	bool allow_debug;
	const uint8_t *expect_measurement;	/* NULL: any */
	size_t expect_measurement_size;
	const uint8_t *expect_nonce;		/* NULL: the document's own */
	size_t expect_nonce_size;
	const uint8_t *expect_report_data;	/* 64 bytes; NULL: not checked */
	time_t at;				/* validity time; 0 = now */

	/* Trust material for hardware evidence. */
	const char *collateral_dir;		/* DCAP: TCB Info, QE Identity, CRLs, certificates */
	const char *const *cert_files;		/* extra certificates (VCEK/VLEK, ASK, PCK, AK chain) */
	size_t cert_file_count;
	const char *root_file;			/* replaces the built-in roots (PEM or DER) */

	/* Intel SGX / TDX */
	unsigned accept_tcb;			/* LM_TCB_ACCEPT() bits; 0: UpToDate only */
	const uint8_t *expect_mrenclave;	/* 32 */
	const uint8_t *expect_mrsigner;		/* 32 */
	const uint8_t *expect_mrtd;		/* 48 */
	const uint8_t *expect_rtmr[4];		/* 48 each */

	/* AMD SEV-SNP */
	const uint8_t *expect_host_data;	/* 32 */
	bool allow_migration_agent;
	bool deny_smt;				/* refuse guests that allow SMT */
	int max_vmpl;				/* highest VMPL accepted, 0..3; -1: any */
	bool has_max_vmpl;
	uint64_t min_tcb;			/* SNP TCB_VERSION; 0: any */
	const char *product;			/* "Milan", "Genoa", "Turin": for v2 reports */
};

/* ---- Policy files (docs/attestation.md "Policy file") ----
 * A policy read from JSON text, with the buffers and strings its pointers
 * refer to: policy points into the same struct, so keep it in place (do
 * not copy it) while policy is in use. */
#define LM_POLICY_CERTS_MAX 32

struct lm_policy_file {
	struct lm_policy policy;
	uint8_t measurement[LM_MEASUREMENT_MAX];
	uint8_t nonce[LM_NONCE_MAX];
	uint8_t report_data[LM_REPORT_DATA_BYTES];
	uint8_t mrenclave[32];
	uint8_t mrsigner[32];
	uint8_t mrtd[48];
	uint8_t rtmr[4][48];
	uint8_t host_data[32];
	char product[16];
	char *collateral;			/* heap, owned */
	char *root;				/* heap, owned */
	char *certs[LM_POLICY_CERTS_MAX];	/* heap, owned; policy.cert_files points here */
};

/* An empty policy (every knob at its safe default). */
void lm_policy_file_init(struct lm_policy_file *pf);

/* Frees the owned strings and resets pf as lm_policy_file_init() does. */
void lm_policy_file_free(struct lm_policy_file *pf);

/* Sets one knob from text, as a command line gives it: key is a policy
 * file key ("allow_debug", "mrtd", "rtmr2", "accept_tcb", "certs", ...),
 * text its value (booleans "true"/"false", bytes as hex, accept_tcb a
 * comma-separated list of TCB statuses, certs one more file, at RFC 3339,
 * max_vmpl 0..3, min_tcb a decimal or 0x-prefixed hex TCB_VERSION).
 * LM_EINVAL for an unknown key, LM_EFORMAT for a bad value; both logged
 * with the key's name. */
LM_MUST_CHECK int lm_policy_set(struct lm_policy_file *pf, const char *key, const char *text);

/* Applies a JSON policy file (one object, at most 1 MiB) to pf: every key
 * known, of its type (booleans, strings, max_vmpl an integer, min_tcb an
 * integer or a string, accept_tcb and certs arrays of strings). Unknown
 * keys and bad values are refused (LM_EFORMAT) with the key named in the
 * log; pf may then hold part of the file, so free it. */
LM_MUST_CHECK int lm_policy_load(struct lm_policy_file *pf, const char *json, size_t size);

#define LM_CHECK_MAX 48
#define LM_CHECK_NAME_MAX 48
#define LM_CHECK_DETAIL_MAX 256

struct lm_check {
	char name[LM_CHECK_NAME_MAX];		/* "signature", "nonce binding", ... */
	bool ok;
	char detail[LM_CHECK_DETAIL_MAX];
};

struct lm_verdict {
	bool verified;				/* every check ok */
	enum lm_platform platform;
	char measurement[2 * LM_MEASUREMENT_MAX + 16];	/* "sha384:<hex>" */
	struct lm_check checks[LM_CHECK_MAX];
	size_t check_count;
	int first_failed;			/* index into checks, or -1 */
	char tcb_status[48];			/* Intel TCB status, "" when none */
	char advisories[512];			/* comma-separated advisory ids */
};

/* Verifies a document against policy, filling *out with one entry per
 * check made (the checks every backend makes are "signature",
 * "nonce binding", "measurement", "platform", "debug"). Returns 0 when the
 * document was usable, whatever the verdict (see out->verified), and
 * LM_EFORMAT when the evidence inside cannot be parsed. */
LM_MUST_CHECK int lm_verify_evidence(const struct lm_evidence *ev, const struct lm_policy *policy,
				     struct lm_verdict *out);

/* Verifies a raw report or quote (not a document) of a kind that can be
 * verified on its own (SEV-SNP today), with the certificates of
 * policy->cert_files. The checks that need a document (nonce binding with
 * a guest key) are left out; pin policy->expect_report_data instead.
 * Returns as lm_verify_evidence(), and LM_EFORMAT for raw bytes of no
 * such kind. */
LM_MUST_CHECK int lm_verify_raw(const uint8_t *raw, size_t size, const struct lm_policy *policy,
				struct lm_verdict *out);

/* ---- Verifier contexts ----
 * A verifier for many pieces of evidence under the same trust material
 * (policy->root_file, cert_files, collateral_dir): the roots, certificate
 * files and collateral are read, parsed and their signatures checked once,
 * on the first verification of each kind, and kept until
 * lm_verifier_free(). Chains verified from the evidence (an SEV-SNP VCEK or
 * VLEK with its ASK/ASVK, a DCAP quote's PCK chain, a TPM AK certificate
 * chain) are cached too, keyed by SHA-256 of their exact bytes, unless
 * LM_VERIFIER_NO_CHAIN_CACHE. Only what does not depend on time is reused:
 * every validity window (certificates, CRLs, TCB Info, QE Identity) is
 * checked against the verification time and every revocation is looked up
 * on each call; docs/attestation.md "Verifier contexts" has the details.
 * Files changed on disk after the first verification are not re-read: make
 * a new verifier. One verifier may be used from several threads at once.
 * lm_verify_evidence() and lm_verify_raw() are a verifier made and freed
 * around one call. */
struct lm_verifier;

#define LM_VERIFIER_NO_CHAIN_CACHE 0x1u	/* verify the evidence's own chain on every call */

/* Copies policy's trust-material paths (the other fields are taken from
 * policy too, as the default of each call). LM_EINVAL for bad flags. The
 * caller frees *out with lm_verifier_free(). */
LM_MUST_CHECK int lm_verifier_new(const struct lm_policy *policy, unsigned flags, struct lm_verifier **out);

void lm_verifier_free(struct lm_verifier *vf);

/* lm_verify_evidence() and lm_verify_raw() in the verifier. policy NULL:
 * the verifier's own; else its pins, time and knobs apply, and its trust
 * material must be the verifier's (same paths, or all unset), else
 * LM_EINVAL. Not safe on one document from two threads at once (see
 * lm_evidence_info()). */
LM_MUST_CHECK int lm_verifier_verify(struct lm_verifier *vf, const struct lm_evidence *ev,
				     const struct lm_policy *policy, struct lm_verdict *out);
LM_MUST_CHECK int lm_verifier_verify_raw(struct lm_verifier *vf, const uint8_t *raw, size_t size,
					 const struct lm_policy *policy, struct lm_verdict *out);

/* Recognises a raw report or quote (not a document) by its format: returns
 * its platform, or LM_PLATFORM_UNKNOWN. Reads at most size bytes. */
enum lm_platform lm_attest_detect(const uint8_t *raw, size_t size);

/* Wraps a raw Intel TDX or SGX quote (captured elsewhere) into a document
 * that carries only the quote: platform, evidence, report_data and
 * measurement taken from it. LM_EFORMAT when raw is not a DCAP quote. The
 * caller frees *out with lm_evidence_free(). */
LM_MUST_CHECK int lm_dcap_evidence_from_quote(const uint8_t *raw, size_t size, struct lm_evidence **out);

/* Serialises a verdict as {"verified", "platform", "measurement",
 * "checks": [{"name", "ok", "detail"}]}, plus "tcb_status" and
 * "advisories" (array of ids) when a TCB status was determined; the caller
 * frees *out. */
LM_MUST_CHECK int lm_verdict_to_json(const struct lm_verdict *v, char **out);

/* report_data = SHA-512(nonce || public key): how a guest binds its
 * ephemeral key to a verifier's nonce. */
LM_MUST_CHECK int lm_report_data_bind(uint8_t out[static LM_REPORT_DATA_BYTES], const uint8_t *nonce,
				      size_t nonce_size, const uint8_t *pubkey, size_t pubkey_size);

/* ---- The simulated backend ----
 * A software "TEE": an Ed25519 key held by the node signs a report of the
 * launch measurement and the report data. Labelled insecure everywhere. */

#define LM_SIM_MEASUREMENT_BYTES 48	/* SHA-384 */

/* Makes a new simulated attestation key, PEM private key in *pem (caller
 * frees with lm_free_wiped()). */
LM_MUST_CHECK int lm_sim_key_generate(char **pem);

/* The measurement of a simulated instance: SHA-384 of its launch
 * description, the canonical JSON {"image":...,"sandbox":...,"type":...}
 * (keys sorted, no spaces). Stable for the same launch. */
LM_MUST_CHECK int lm_sim_measurement(uint8_t out[static LM_SIM_MEASUREMENT_BYTES], const char *image,
				     const char *type, const char *sandbox_profile);

/* Produces a full evidence document for instance_id: a raw simulated report
 * (docs/formats.md) signed with key_pem, binding report_data =
 * SHA-512(nonce || guest_pk), with platform "simulated", the guest public
 * key in platform_info.guest_public_key (hex) and the signing key's public
 * key as the one certificate_chain entry (PEM public key). */
LM_MUST_CHECK int lm_sim_evidence_make(const char *key_pem, const char *instance_id,
				       const uint8_t measurement[static LM_SIM_MEASUREMENT_BYTES],
				       const uint8_t *nonce, size_t nonce_size, const uint8_t *guest_pk,
				       size_t guest_pk_size, struct lm_evidence **out);

/* ---- TPM 2.0 quotes ----
 * The files a TPM tool writes for one TPM2_Quote, as read from disk. A
 * TPM has no single evidence file: lm_tpm_evidence_make() joins them into
 * one document (platform "TPM 2.0", docs/attestation.md "TPM 2.0"). */
struct lm_tpm_parts {
	const uint8_t *attest;			/* TPMS_ATTEST */
	size_t attest_size;
	const uint8_t *signature;		/* TPMT_SIGNATURE (or a raw RSASSA signature) */
	size_t signature_size;
	const uint8_t *ak_public;		/* TPMT_PUBLIC, TPM2B_PUBLIC, or PEM/DER SubjectPublicKeyInfo */
	size_t ak_public_size;
	const char *const *pcrs_json;		/* PCR files, docs/formats.md "TPM PCR values" */
	size_t pcrs_count;
	const uint8_t *event_log;		/* crypto-agile event log, may be NULL */
	size_t event_log_size;
	const uint8_t *const *certs;		/* AK certificate chain, PEM or DER, may be empty */
	const size_t *cert_sizes;
	size_t cert_count;
};

/* Makes the document: evidence = the TPMS_ATTEST, measurement = the quoted
 * PCR digest, enclave_id = the AK's TPM name (or SHA-256 of its
 * SubjectPublicKeyInfo), an empty nonce (freshness then needs the
 * verifier's own nonce), platform_info {"signature", "ak_public", "pcrs",
 * "event_log"} and the certificates as PEM. Checks formats only, not the
 * signature. The caller frees *out with lm_evidence_free(). */
LM_MUST_CHECK int lm_tpm_evidence_make(const struct lm_tpm_parts *parts, struct lm_evidence **out);

#endif
