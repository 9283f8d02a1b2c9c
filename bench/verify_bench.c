/* verify_bench: verifications per second of one piece of evidence, for
 * bench/verify.sh (docs/benchmarks.md "Verification"). Not a test. Loads
 * the inputs once, then calls the library's verifier N times with the same
 * policy, so that the time measured is lm_verify_raw()/lm_verify_evidence()
 * alone: every call loads the certificates and collateral and checks every
 * signature again.
 *
 *   verify_bench N raw EVIDENCE AT [--cert F]... [--collateral DIR]
 *   verify_bench N tpm ATTEST AT SIG AK PCRS LOG NONCE [--cert F]...
 *
 * Prints "<kind> <N> <seconds> <verifications/s> <verified 0/1>". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

int main(int argc, char **argv)
{
	struct lm_policy_file pf;
	struct lm_evidence *ev = NULL;
	struct lm_verdict v;
	struct timespec t0, t1;
	uint8_t *raw = NULL;
	size_t raw_size = 0;
	long n;
	int i, first_opt;
	double s;

	if (argc < 5 || (n = atol(argv[1])) <= 0 || (strcmp(argv[2], "raw") && strcmp(argv[2], "tpm"))) {
		fprintf(stderr, "usage: verify_bench N raw EVIDENCE AT [--cert F]... [--collateral DIR]\n"
				"       verify_bench N tpm ATTEST AT SIG AK PCRS LOG NONCE [--cert F]...\n");
		return 2;
	}
	lm_policy_file_init(&pf);
	if (lm_policy_set(&pf, "at", argv[4]) < 0)
		return 2;
	first_opt = strcmp(argv[2], "tpm") == 0 ? 10 : 5;
	if (argc < first_opt)
		return 2;
	for (i = first_opt; i + 1 < argc; i += 2)
		if (lm_policy_set(&pf, strcmp(argv[i], "--cert") == 0 ? "certs" : argv[i] + 2, argv[i + 1]) < 0)
			return 2;
	raw = slurp(argv[3], &raw_size);
	if (strcmp(argv[2], "tpm") == 0) {
		struct lm_tpm_parts parts;
		uint8_t *certs[LM_POLICY_CERTS_MAX];
		size_t sizes[LM_POLICY_CERTS_MAX];
		uint8_t *pcrs;
		size_t pcrs_size;

		memset(&parts, 0, sizeof(parts));
		parts.attest = raw, parts.attest_size = raw_size;
		parts.signature = slurp(argv[5], &parts.signature_size);
		parts.ak_public = slurp(argv[6], &parts.ak_public_size);
		pcrs = slurp(argv[7], &pcrs_size);
		parts.pcrs_json = (const char *const *)&pcrs;
		parts.pcrs_count = 1;
		parts.event_log = slurp(argv[8], &parts.event_log_size);
		for (size_t c = 0; c < pf.policy.cert_file_count; c++)
			certs[c] = slurp(pf.policy.cert_files[c], &sizes[c]);
		parts.certs = (const uint8_t *const *)certs;
		parts.cert_sizes = sizes;
		parts.cert_count = pf.policy.cert_file_count;
		if (lm_policy_set(&pf, "nonce", argv[9]) < 0 || lm_tpm_evidence_make(&parts, &ev) < 0) {
			fprintf(stderr, "verify_bench: unusable TPM files\n");
			return 2;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (long k = 0; k < n; k++) {
		int r = ev ? lm_verify_evidence(ev, &pf.policy, &v) : lm_verify_raw(raw, raw_size, &pf.policy, &v);

		if (r < 0) {
			fprintf(stderr, "verify_bench: unusable evidence (%d)\n", r);
			return 2;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	printf("%s %ld %.3f %.1f %d\n", argv[2], n, s, (double)n / s, v.verified);
	lm_evidence_free(ev);
	lm_policy_file_free(&pf);
	free(raw);
	return 0;
}
