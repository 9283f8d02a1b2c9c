/* Private interface of the attest module: the backend ops struct that each
 * evidence kind implements (one file per backend), the registry that finds
 * them, the helpers that record checks in a verdict, and the raw formats
 * that tests and fuzz targets reach directly. Not installed. */
#ifndef LAMBDA_ATTEST_INT_H
#define LAMBDA_ATTEST_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>

#include "lambda/attest.h"

/* One evidence kind. detect() looks at raw bytes (a report or quote file)
 * and returns 1 when they are of this kind, 0 otherwise; it must not trust
 * the bytes. verify() records its checks in *out with lm_verdict_add() and
 * returns 0 when the document was usable, whatever the verdict, or a
 * negative LM_E* code (LM_EFORMAT: the evidence inside cannot be parsed).
 * A document that lm_verify_raw() made around a bare report has only
 * platform and evidence set (measurement is NULL): a backend that needs
 * the document's fields records a failed check instead. vf is the verifier
 * context the call runs in (never NULL): its trust material is p's, and
 * the backend keeps what it parsed and verified once there (see struct
 * lm_verifier below). */
struct lm_attest_backend {
	enum lm_platform platform;
	const char *name;
	int (*detect)(const uint8_t *raw, size_t size);
	int (*verify)(struct lm_verifier *vf, const struct lm_evidence *ev, const struct lm_policy *p,
		      struct lm_verdict *out);
	/* Optional: makes the document of a raw report or quote, filling what
	 * it signs (report_data, measurement) so that verify() checks the same
	 * fields as for a document. Without it lm_verify_raw() sets only
	 * platform and evidence. */
	int (*wrap)(const uint8_t *raw, size_t size, struct lm_evidence **out);
};

/* ---- The verifier context (verifier.c) ----
 * What a backend parsed from the policy's trust material (roots,
 * certificate files, collateral) and checked once, kept for the life of
 * the verifier: one state per backend kind, made on first use. And a cache
 * of verified chains, keyed by SHA-256 of the exact bytes they were
 * verified from; an entry only ever records signatures (and other checks
 * that do not depend on time) that verified: validity windows and
 * revocation are checked again on every call. Entries are never replaced
 * or freed before the verifier, so a value found may be used without the
 * lock. */
enum lm_verifier_state_kind {
	LM_VSTATE_SNP,
	LM_VSTATE_DCAP,
	LM_VSTATE_TPM,
	LM_VSTATE_MAX,
};

#define LM_VERIFIER_CACHE_MAX 4096
/* Evidence bytes larger than this are parsed on every call, never kept:
 * a long-lived verifier fed arbitrary evidence holds at most
 * LM_VERIFIER_CACHE_MAX small entries. Certificate chains are a few KiB. */
#define LM_VERIFIER_PARSED_BYTES_MAX (64u << 10)

struct lm_verifier_entry {
	uint8_t key[32];
	void *value;
	void (*free_fn)(void *);
};

struct lm_verifier {
	struct lm_policy policy;	/* trust-material strings point to the copies below */
	char *collateral_dir;
	char *root_file;
	char **cert_files;
	unsigned flags;
	pthread_mutex_t lock;
	void *state[LM_VSTATE_MAX];
	void (*state_free[LM_VSTATE_MAX])(void *);
	struct lm_verifier_entry *cache;
	size_t cache_count, cache_cap;
};

/* The backend state of kind, made with make(vf, &state) on the first call
 * (under the verifier's lock) and freed with free_fn with the verifier.
 * make() records trust-material problems in its state (so that each
 * verification reports them as failed checks); only a failure to allocate
 * is returned. */
LM_MUST_CHECK int lm_verifier_state(struct lm_verifier *vf, enum lm_verifier_state_kind kind,
				    int (*make)(struct lm_verifier *vf, void **out), void (*free_fn)(void *),
				    void **out);

/* Whether verified chains may be reused (LM_VERIFIER_NO_CHAIN_CACHE unset). */
bool lm_verifier_caches_chains(const struct lm_verifier *vf);

/* The cached value of key, or NULL. */
void *lm_verifier_cache_get(struct lm_verifier *vf, const uint8_t key[static 32]);

/* Stores value under key: true when the cache took it (it frees it with
 * free_fn), false when the caller keeps it (chains not cached, key already
 * there because another thread was first, cache full). */
bool lm_verifier_cache_put(struct lm_verifier *vf, const uint8_t key[static 32], void *value,
			   void (*free_fn)(void *));

/* The same store for parsed objects that carry no verdict (certificates
 * as parsed from bytes, public keys made from bytes): used even with
 * LM_VERIFIER_NO_CHAIN_CACHE, since every signature over or by them is
 * still verified on each call. Keys must not collide with chain keys
 * (each starts with its own tag). */
void *lm_verifier_parsed_get(struct lm_verifier *vf, const uint8_t key[static 32]);
bool lm_verifier_parsed_put(struct lm_verifier *vf, const uint8_t key[static 32], void *value,
			    void (*free_fn)(void *));

/* SHA-256 of the concatenation of n (pointer, size) parts: a cache key. */
LM_MUST_CHECK int lm_verifier_key(uint8_t out[static 32], size_t n, const void *const *parts, const size_t *sizes);

/* backends.c: the registry. Each returns a static backend or NULL. */
const struct lm_attest_backend *lm_attest_backend_find(enum lm_platform platform);
const struct lm_attest_backend *lm_attest_backend_detect(const uint8_t *raw, size_t size);

/* The backends, one file each. */
extern const struct lm_attest_backend lm_attest_simulated;
extern const struct lm_attest_backend lm_attest_snp;	/* snp.c */
extern const struct lm_attest_backend lm_attest_tdx;	/* dcap.c */
extern const struct lm_attest_backend lm_attest_sgx;	/* dcap.c */

/* Resets *v for a verification of platform: no checks, not verified. */
void lm_verdict_init(struct lm_verdict *v, enum lm_platform platform);

/* Appends a check; the detail is formatted, truncated to fit. Keeps
 * first_failed and verified up to date, so a verdict with no failed check
 * and at least one check is verified. Past LM_CHECK_MAX checks the last slot
 * becomes a failed "too many checks" entry: a backend bug must never pass. */
void lm_verdict_add(struct lm_verdict *v, const char *name, bool ok, const char *fmt, ...) LM_PRINTF(4, 5);

/* Sets v->measurement to "<alg>:<hex of m>". */
void lm_verdict_set_measurement(struct lm_verdict *v, const char *alg, const uint8_t *m, size_t size);

/* evidence.c: allocation of documents for backends that make them. The
 * result is zeroed apart from version = 1; free it with lm_evidence_free(). */
LM_MUST_CHECK int lm_evidence_new(struct lm_evidence **out);

/* The parsed platform_info of a document (parsed once per text, kept
 * beside the document), or NULL when absent or not JSON. Lives as long as
 * lm_evidence_info()'s strings, with the same thread caveat. */
const struct json_t *lm_evidence_info_object(const struct lm_evidence *ev);

/* Splits a measurement "<alg>:<hex>" into its decoded bytes (at most
 * LM_MEASUREMENT_MAX) and checks alg against want (NULL: any of sha256,
 * sha384, sha512). */
LM_MUST_CHECK int lm_measurement_decode(const char *text, const char *want, uint8_t out[static LM_MEASUREMENT_MAX],
					size_t *size);

/* ---- simulated.c: the raw simulated report (docs/formats.md) ---- */

#define LM_SIM_MAGIC "LMSIMRP1"
#define LM_SIM_VERSION 1u
#define LM_SIM_FLAG_DEBUG 0x1u
#define LM_SIM_INSTANCE_BYTES 64
#define LM_SIM_SIG_BYTES 64
#define LM_SIM_SIGNED_BYTES (8 + 4 + 4 + LM_SIM_MEASUREMENT_BYTES + LM_REPORT_DATA_BYTES + LM_SIM_INSTANCE_BYTES)
#define LM_SIM_REPORT_BYTES (LM_SIM_SIGNED_BYTES + LM_SIM_SIG_BYTES)

struct lm_sim_report {
	uint32_t version;
	uint32_t flags;
	uint8_t measurement[LM_SIM_MEASUREMENT_BYTES];
	uint8_t report_data[LM_REPORT_DATA_BYTES];
	char instance_id[LM_SIM_INSTANCE_BYTES];	/* NUL-terminated */
	uint8_t signature[LM_SIM_SIG_BYTES];
};

/* Parses a raw report strictly (exact size, magic, version, known flags,
 * NUL-padded instance id); does not check the signature. */
LM_MUST_CHECK int lm_sim_report_parse(const uint8_t *raw, size_t size, struct lm_sim_report *out);

/* lm_sim_evidence_make() with report flags (LM_SIM_FLAG_DEBUG), for tests
 * and development tools. */
LM_MUST_CHECK int lm_sim_evidence_make_flags(const char *key_pem, const char *instance_id,
					     const uint8_t measurement[static LM_SIM_MEASUREMENT_BYTES],
					     const uint8_t *nonce, size_t nonce_size, const uint8_t *guest_pk,
					     size_t guest_pk_size, uint32_t flags, struct lm_evidence **out);

#endif
