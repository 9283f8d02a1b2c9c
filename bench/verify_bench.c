/* verify_bench: verifications per second of one piece of evidence, for
 * bench/verify.sh (docs/benchmarks.md "Verification"). Not a test. Reads
 * the input files once, then makes N verifications the way a verifier
 * service does: per verification, parse the evidence (the raw report or
 * quote; for TPM the evidence document's JSON) and verify everything.
 *
 *   verify_bench N MODE raw EVIDENCE AT [--cert F]... [--collateral DIR]
 *   verify_bench N MODE tpm ATTEST AT SIG AK PCRS LOG NONCE [--cert F]...
 *
 * MODE: oneshot  lm_verify_raw()/lm_verify_evidence(): every call reads
 *                and parses the trust material and checks every signature
 *       nochain  one verifier (LM_VERIFIER_NO_CHAIN_CACHE) for the N
 *                calls: trust material parsed and collateral signatures
 *                checked once, the evidence's chain verified on every call
 *       cached   one verifier: the evidence's chain is verified once too
 *       nochain-verify, cached-verify  (tpm) as nochain and cached, but the
 *                document is parsed once, outside the clock: the cost of
 *                verification without the cost of the JSON transport
 *       bounds   (tpm) no verification: the pieces of one that are not
 *                signature checks and that no TPM verifier can skip, each
 *                timed alone, for the lower bounds of docs/benchmarks.md:
 *                jansson's parse of the PCR file and of the document, the
 *                event-log replay of the quoted banks, and OpenSSL's
 *                X509_verify_cert() of the AK chain (its two signatures
 *                included; the script subtracts them)
 *
 * Prints "<kind> <mode> <N> <seconds> <verifications/s> <verified 0/1>";
 * bounds prints "tpm bound-<piece> <N> <seconds> <calls/s>" per piece. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include "attest/tpm_int.h"
#include "lambda/attest.h"
#include "lambda/util.h"

#define READ_MAX (16u << 20)

static uint8_t *slurp(const char *path, size_t *size)
{
	uint8_t *p = NULL;

	if (lm_file_read(path, READ_MAX, &p, size) < 0) {
		fprintf(stderr, "verify_bench: cannot read %s\n", path);
		exit(2);
	}
	return p;
}

/* The TPM files joined into an evidence document, as JSON text. */
static char *tpm_document(char **argv, const struct lm_policy *pol, uint8_t *attest, size_t attest_size)
{
	struct lm_tpm_parts parts;
	struct lm_evidence *ev = NULL;
	uint8_t *certs[LM_POLICY_CERTS_MAX];
	size_t sizes[LM_POLICY_CERTS_MAX];
	uint8_t *pcrs;
	size_t pcrs_size;
	char *json = NULL;

	memset(&parts, 0, sizeof(parts));
	parts.attest = attest, parts.attest_size = attest_size;
	parts.signature = slurp(argv[0], &parts.signature_size);
	parts.ak_public = slurp(argv[1], &parts.ak_public_size);
	pcrs = slurp(argv[2], &pcrs_size);
	parts.pcrs_json = (const char *const *)&pcrs;
	parts.pcrs_count = 1;
	parts.event_log = slurp(argv[3], &parts.event_log_size);
	for (size_t c = 0; c < pol->cert_file_count; c++)
		certs[c] = slurp(pol->cert_files[c], &sizes[c]);
	parts.certs = (const uint8_t *const *)certs;
	parts.cert_sizes = sizes;
	parts.cert_count = pol->cert_file_count;
	if (lm_tpm_evidence_make(&parts, &ev) < 0 || lm_evidence_to_json(ev, &json) < 0) {
		fprintf(stderr, "verify_bench: unusable TPM files\n");
		exit(2);
	}
	lm_evidence_free(ev);
	for (size_t c = 0; c < pol->cert_file_count; c++)
		free(certs[c]);
	free((void *)parts.signature);
	free((void *)parts.ak_public);
	free(pcrs);
	free((void *)parts.event_log);
	return json;
}

static double seconds_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

static X509 *cert_file(const char *path)
{
	size_t size;
	uint8_t *der = slurp(path, &size);
	const uint8_t *p = der;
	X509 *x = d2i_X509(NULL, &p, (long)size);

	free(der);
	if (!x) {
		fprintf(stderr, "verify_bench: %s is not a DER certificate\n", path);
		exit(2);
	}
	return x;
}

#define BOUND(name, n, body)                                                                       \
	do {                                                                                       \
		struct timespec t0_;                                                               \
		double s_;                                                                         \
		clock_gettime(CLOCK_MONOTONIC, &t0_);                                              \
		for (long k_ = 0; k_ < (n); k_++) {                                                \
			body;                                                                      \
		}                                                                                  \
		s_ = seconds_since(&t0_);                                                          \
		printf("tpm bound-%s %ld %.3f %.1f\n", name, (long)(n), s_, (double)(n) / s_);     \
	} while (0)

/* The bounds mode (see the top): argv as for a TPM verification, the AK
 * certificate, intermediate and root as the three --cert files. */
static int tpm_bounds(long n, char **argv, const char *doc, const struct lm_policy *pol)
{
	struct lm_tpm_quote q;
	struct lm_tpm_pcrs *replay = malloc(sizeof(*replay));
	struct lm_tpm_eventlog_info info;
	uint16_t quoted[LM_TPM_BANK_MAX];
	size_t attest_size, pcrs_size, log_size;
	uint8_t *attest = slurp(argv[3], &attest_size);
	uint8_t *pcrs = slurp(argv[7], &pcrs_size);
	uint8_t *log = slurp(argv[8], &log_size);
	X509_STORE *store = X509_STORE_new();
	STACK_OF(X509) *untrusted = sk_X509_new_null();
	X509 *leaf, *mid, *root;
	int bad = 0;

	if (!replay || !store || !untrusted || pol->cert_file_count != 3 ||
	    lm_tpm_quote_parse(attest, attest_size, &q) < 0) {
		fprintf(stderr, "verify_bench: bounds needs the quote and --cert AK-CERT INTERMEDIATE ROOT\n");
		return 2;
	}
	for (size_t i = 0; i < q.sel_count; i++)
		quoted[i] = q.sel[i].hash;
	leaf = cert_file(pol->cert_files[0]);
	mid = cert_file(pol->cert_files[1]);
	root = cert_file(pol->cert_files[2]);
	if (!X509_STORE_add_cert(store, root) || !sk_X509_push(untrusted, mid))
		return 2;
	BOUND("pcr-file", n * 10, {
		json_t *j = json_loadb((const char *)pcrs, pcrs_size, JSON_REJECT_DUPLICATES, NULL);
		bad |= !j;
		json_decref(j);
	});
	BOUND("document", n, {
		json_t *j = json_loadb(doc, strlen(doc), JSON_REJECT_DUPLICATES, NULL);
		bad |= !j;
		json_decref(j);
	});
	BOUND("replay", n * 10,
	      bad |= lm_tpm_eventlog_replay(log, log_size, quoted, q.sel_count, replay, &info) < 0);
	BOUND("ak-chain", n, {
		X509_STORE_CTX *ctx = X509_STORE_CTX_new();
		bad |= !ctx || !X509_STORE_CTX_init(ctx, store, leaf, untrusted);
		X509_STORE_CTX_set_time(ctx, 0, pol->at);
		bad |= X509_verify_cert(ctx) != 1;
		X509_STORE_CTX_free(ctx);
	});
	X509_free(leaf);
	X509_free(root);
	sk_X509_pop_free(untrusted, X509_free);
	X509_STORE_free(store);
	free(replay);
	free(attest);
	free(pcrs);
	free(log);
	if (bad)
		fprintf(stderr, "verify_bench: a bound's piece failed on these inputs\n");
	return bad ? 2 : 0;
}

/* One verification: parse the evidence, verify it. */
static int verify_once(struct lm_verifier *vf, const struct lm_policy *pol, const char *doc, const uint8_t *raw,
		       size_t raw_size, struct lm_verdict *v)
{
	struct lm_evidence *ev = NULL;
	int r;

	if (!doc)
		return vf ? lm_verifier_verify_raw(vf, raw, raw_size, NULL, v) : lm_verify_raw(raw, raw_size, pol, v);
	if ((r = lm_evidence_parse((const uint8_t *)doc, strlen(doc), &ev)) < 0)
		return r;
	r = vf ? lm_verifier_verify(vf, ev, NULL, v) : lm_verify_evidence(ev, pol, v);
	lm_evidence_free(ev);
	return r;
}

int main(int argc, char **argv)
{
	struct lm_policy_file pf;
	struct lm_verifier *vf = NULL;
	struct lm_evidence *parsed = NULL;
	struct lm_verdict v;
	struct timespec t0, t1;
	const char *mode;
	char *doc = NULL;
	uint8_t *raw = NULL;
	size_t raw_size = 0;
	bool tpm;
	long n;
	int i, first_opt;
	double s;

	if (argc < 6 || (n = atol(argv[1])) <= 0 || (strcmp(argv[3], "raw") && strcmp(argv[3], "tpm")) ||
	    (strcmp(argv[2], "oneshot") && strcmp(argv[2], "nochain") && strcmp(argv[2], "cached") &&
	     strcmp(argv[2], "nochain-verify") && strcmp(argv[2], "cached-verify") && strcmp(argv[2], "bounds"))) {
		fprintf(stderr, "usage: verify_bench N oneshot|nochain|cached raw EVIDENCE AT [--cert F]... "
				"[--collateral DIR]\n"
				"       verify_bench N oneshot|nochain|cached tpm ATTEST AT SIG AK PCRS LOG NONCE "
				"[--cert F]...\n");
		return 2;
	}
	mode = argv[2];
	argv += 1, argc -= 1;	/* now as before MODE: argv[2] the kind */
	tpm = strcmp(argv[2], "tpm") == 0;
	lm_policy_file_init(&pf);
	if (lm_policy_set(&pf, "at", argv[4]) < 0)
		return 2;
	first_opt = tpm ? 10 : 5;
	if (argc < first_opt)
		return 2;
	for (i = first_opt; i + 1 < argc; i += 2)
		if (lm_policy_set(&pf, strcmp(argv[i], "--cert") == 0 ? "certs" : argv[i] + 2, argv[i + 1]) < 0)
			return 2;
	raw = slurp(argv[3], &raw_size);
	if (tpm) {
		doc = tpm_document(argv + 5, &pf.policy, raw, raw_size);
		if (lm_policy_set(&pf, "nonce", argv[9]) < 0)
			return 2;
		if (strcmp(mode, "bounds") == 0) {
			i = tpm_bounds(n, argv, doc, &pf.policy);
			free(doc);
			lm_policy_file_free(&pf);
			free(raw);
			return i;
		}
	}
	if (strcmp(mode, "oneshot") != 0 &&
	    lm_verifier_new(&pf.policy, strncmp(mode, "nochain", 7) == 0 ? LM_VERIFIER_NO_CHAIN_CACHE : 0, &vf) < 0)
		return 2;
	if (strstr(mode, "-verify")) {
		if (!doc || lm_evidence_parse((const uint8_t *)doc, strlen(doc), &parsed) < 0)
			return 2;
	}
	/* One verification outside the clock: a verifier reads its trust
	 * material on first use, once for its lifetime. */
	if (vf && verify_once(vf, &pf.policy, doc, raw, raw_size, &v) < 0)
		return 2;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (long k = 0; k < n; k++) {
		int r = parsed ? lm_verifier_verify(vf, parsed, NULL, &v) : verify_once(vf, &pf.policy, doc, raw, raw_size, &v);

		if (r < 0) {
			fprintf(stderr, "verify_bench: unusable evidence (%d)\n", r);
			return 2;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	printf("%s %s %ld %.3f %.1f %d\n", argv[2], mode, n, s, (double)n / s, v.verified);
	lm_evidence_free(parsed);
	lm_verifier_free(vf);
	free(doc);
	lm_policy_file_free(&pf);
	free(raw);
	return 0;
}
