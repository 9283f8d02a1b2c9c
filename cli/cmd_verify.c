/* lambda verify: checks an evidence document offline, on the customer's
 * machine, and prints each check. The policy is built from the options;
 * options map onto struct lm_policy fields one by one, so new ones (trust
 * roots, collateral, policy files) are added as entries in verify_opts and
 * cases in parse_option(). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmds.h"
#include "lambda/attest.h"
#include "lambda/util.h"

#define DOC_READ_MAX (4u << 20)
#define CERT_FILES_MAX 16

const char cmd_verify_manual[] =
	"Verifies an evidence document (the output of 'lambda attest'), or a raw AMD\n"
	"SEV-SNP attestation report with --cert, offline and prints\n"
	"one line per check, marked \xe2\x9c\x93 (passed) or \xe2\x9c\x97 (failed), then \"verified\" or\n"
	"\"NOT VERIFIED: <first failed check>\".\n"
	"\n"
	"options:\n"
	"  --allow-simulated-insecure  accept evidence of the simulated backend. Simulated\n"
	"                              evidence is signed by a software key that the operator\n"
	"                              holds: it offers NO protection and proves nothing about\n"
	"                              the instance. Use it for development and tests only.\n"
	"  --expect-measurement M      require this launch measurement, as \"sha384:<hex>\" or\n"
	"                              bare hex. Without it any measurement passes (\"not pinned\").\n"
	"  --nonce HEX                 require the evidence to be bound to this nonce (the one\n"
	"                              you sent when asking for it), proving it is fresh.\n"
	"  --cert FILE                 a certificate file (PEM, one or more, or DER) to verify\n"
	"                              hardware evidence with: the VCEK or VLEK of an AMD\n"
	"                              SEV-SNP report and its ASK/ASVK. Repeatable.\n"
	"  --root FILE                 trust this root certificate (PEM or DER) instead of the\n"
	"                              built-in vendor roots.\n"
	"  --at RFC3339                check validity at this time instead of now, e.g.\n"
	"                              2026-01-24T10:30:00Z.\n"
	"  --json                      print the verdict as JSON: {\"verified\", \"platform\",\n"
	"                              \"measurement\", \"checks\": [{\"name\", \"ok\", \"detail\"}]}.\n"
	"\n"
	"checks:\n"
	"  platform            the evidence kind is one this policy accepts; simulated\n"
	"                      evidence is refused unless --allow-simulated-insecure.\n"
	"  signature           the report is signed by the key in certificate_chain (for\n"
	"                      hardware evidence: a key that chains to the vendor's root).\n"
	"  report consistency  the document's measurement, report_data, instance_id,\n"
	"                      enclave_id and signature are those of the signed report, so\n"
	"                      nothing shown comes from unsigned fields.\n"
	"  nonce binding       report_data = SHA-512(nonce || guest public key): the guest's\n"
	"                      key, to which secrets are sealed, belongs to this evidence,\n"
	"                      and with --nonce the evidence is fresh.\n"
	"  measurement         the launch measurement equals --expect-measurement.\n"
	"  debug               the debug flag is clear (a debuggable instance can be read\n"
	"                      by the host).\n"
	"  AMD SEV-SNP reports add: report format, signing key, certificate chain, product,\n"
	"  tcb, chip id, report data, host data, migration agent, smt, vmpl, minimum tcb\n"
	"  (see docs/attestation.md).\n"
	"\n"
	"exit status:\n"
	"  0  verified\n"
	"  1  not verified: a check failed\n"
	"  2  unusable input: bad options, or a document that cannot be read, is\n"
	"     truncated or corrupted (the message names the problem)\n"
	"\n"
	"examples:\n"
	"  lambda attest inst_abc123 --nonce 5f1c... --output a.json\n"
	"  lambda verify a.json --nonce 5f1c... --expect-measurement sha384:9a3e...\n"
	"  lambda verify a.json --allow-simulated-insecure --json\n"
	"  lambda verify report.bin --cert vcek.der --cert ask-ark.pem --at 2025-01-01T00:00:00Z\n";

enum {
	OPT_ALLOW_SIMULATED = 0x100,
	OPT_EXPECT_MEASUREMENT,
	OPT_NONCE,
	OPT_AT,
	OPT_CERT,
	OPT_ROOT,
	OPT_JSON,
	OPT_HELP,
};

static const struct option verify_opts[] = {
	{ "allow-simulated-insecure", no_argument, NULL, OPT_ALLOW_SIMULATED },
	{ "expect-measurement", required_argument, NULL, OPT_EXPECT_MEASUREMENT },
	{ "nonce", required_argument, NULL, OPT_NONCE },
	{ "at", required_argument, NULL, OPT_AT },
	{ "cert", required_argument, NULL, OPT_CERT },
	{ "root", required_argument, NULL, OPT_ROOT },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "help", no_argument, NULL, OPT_HELP },
	{ NULL, 0, NULL, 0 },
};

struct verify_args {
	struct lm_policy policy;
	uint8_t measurement[LM_MEASUREMENT_MAX];
	uint8_t nonce[LM_NONCE_MAX];
	const char *certs[CERT_FILES_MAX];
	bool json;
	bool help;
};

static int parse_hex_option(const char *opt, const char *text, uint8_t *buf, size_t max, size_t *size)
{
	uint8_t *p = NULL;
	size_t n = 0;

	if (lm_hex_decode_alloc(text, &p, &n) < 0 || n == 0) {
		free(p);
		cli_error("%s: not a hex string", opt);
		return -1;
	}
	if (n > max) {
		free(p);
		cli_error("%s: longer than %zu bytes", opt, max);
		return -1;
	}
	memcpy(buf, p, n);
	*size = n;
	free(p);
	return 0;
}

/* Returns 0, or -1 after printing why the option is unusable. */
static int parse_option(int c, const char *arg, struct verify_args *a)
{
	time_t t;

	switch (c) {
	case OPT_ALLOW_SIMULATED:
		a->policy.allow_simulated_insecure = true;
		return 0;
	case OPT_EXPECT_MEASUREMENT:
		if (strncmp(arg, "sha384:", 7) == 0)
			arg += 7;
		if (parse_hex_option("--expect-measurement", arg, a->measurement, sizeof(a->measurement),
				     &a->policy.expect_measurement_size) < 0)
			return -1;
		a->policy.expect_measurement = a->measurement;
		return 0;
	case OPT_NONCE:
		if (parse_hex_option("--nonce", arg, a->nonce, sizeof(a->nonce), &a->policy.expect_nonce_size) < 0)
			return -1;
		a->policy.expect_nonce = a->nonce;
		return 0;
	case OPT_AT:
		if (lm_time_parse(arg, &t) < 0) {
			cli_error("--at: not an RFC 3339 time (e.g. 2026-01-24T10:30:00Z)");
			return -1;
		}
		a->policy.at = t;
		return 0;
	case OPT_CERT:
		if (a->policy.cert_file_count == CERT_FILES_MAX) {
			cli_error("--cert: at most %d files", CERT_FILES_MAX);
			return -1;
		}
		a->certs[a->policy.cert_file_count++] = arg;
		a->policy.cert_files = a->certs;
		return 0;
	case OPT_ROOT:
		a->policy.root_file = arg;
		return 0;
	case OPT_JSON:
		a->json = true;
		return 0;
	case OPT_HELP:
		a->help = true;
		return 0;
	default:
		return -1;	/* getopt_long printed the problem */
	}
}

static void print_verdict(const struct lm_verdict *v)
{
	bool color = cli_is_tty();

	for (size_t i = 0; i < v->check_count; i++) {
		const struct lm_check *c = &v->checks[i];

		printf("%s%s%s %s: %s\n", color ? (c->ok ? "\033[32m" : "\033[31m") : "",
		       c->ok ? "\xe2\x9c\x93" : "\xe2\x9c\x97", color ? "\033[0m" : "", c->name, c->detail);
	}
	if (v->verified)
		printf("verified\n");
	else
		printf("NOT VERIFIED: %s\n", v->first_failed >= 0 ? v->checks[v->first_failed].name : "no checks");
}

int cmd_verify(int argc, char **argv)
{
	struct verify_args a;
	struct lm_evidence *ev = NULL;
	struct lm_verdict v;
	uint8_t *doc = NULL;
	char *json = NULL;
	const char *path;
	size_t size;
	int c, r, rc = LM_EXIT_USAGE;

	memset(&a, 0, sizeof(a));
	while ((c = getopt_long(argc, argv, "", verify_opts, NULL)) != -1)
		if (parse_option(c, optarg, &a) < 0)
			return LM_EXIT_USAGE;
	if (a.help) {
		cli_usage("verify", "FILE [options] [--json]", cmd_verify_manual);
		return LM_EXIT_OK;
	}
	if (optind != argc - 1) {
		cli_error("verify: expected one FILE; run 'lambda verify --help'");
		return LM_EXIT_USAGE;
	}
	path = argv[optind];

	if ((r = lm_file_read(path, DOC_READ_MAX, &doc, &size)) < 0) {
		cli_fail(r, "%s: cannot read the evidence document", path);
		goto out;
	}
	if (lm_attest_detect(doc, size) == LM_PLATFORM_SIMULATED) {
		cli_error("%s: a raw simulated report, not an evidence document; verify the document "
			  "'lambda attest' wrote, which carries the signing key and the guest key", path);
		goto out;
	}
	if (lm_attest_detect(doc, size) != LM_PLATFORM_UNKNOWN) {
		if ((r = lm_verify_raw(doc, size, &a.policy, &v)) < 0) {
			cli_fail(r, "%s: unusable %s report or certificates", path,
				 lm_platform_name(lm_attest_detect(doc, size)));
			goto out;
		}
	} else {
		if ((r = lm_evidence_parse(doc, size, &ev)) < 0) {
			cli_fail(r, "%s: unusable evidence document (corrupted or truncated)", path);
			goto out;
		}
		if ((r = lm_verify_evidence(ev, &a.policy, &v)) < 0) {
			cli_fail(r, "%s: the %s evidence inside the document is unusable", path,
				 lm_platform_name(ev->platform));
			goto out;
		}
	}
	if (ev && ev->platform == LM_PLATFORM_SIMULATED && a.policy.allow_simulated_insecure)
		cli_error("warning: simulated evidence offers no protection; it proves nothing about %s",
			  ev->instance_id);
	if (a.json) {
		if ((r = lm_verdict_to_json(&v, &json)) < 0) {
			rc = cli_fail(r, "cannot print the verdict");
			goto out;
		}
		printf("%s\n", json);
	} else {
		print_verdict(&v);
	}
	rc = v.verified ? LM_EXIT_OK : LM_EXIT_FAIL;
out:
	free(json);
	free(doc);
	lm_evidence_free(ev);
	return rc;
}
