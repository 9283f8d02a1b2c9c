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
	"                              SEV-SNP report and its ASK/ASVK, or a TPM AK certificate\n"
	"                              and its issuers (a self-signed one is trusted as the\n"
	"                              TPM root). Repeatable.\n"
	"  --root FILE                 trust this root certificate (PEM or DER) instead of the\n"
	"                              built-in vendor roots.\n"
	"  --at RFC3339                check validity at this time instead of now, e.g.\n"
	"                              2026-01-24T10:30:00Z.\n"
	"  --collateral DIR            Intel DCAP: load every certificate, CRL, TCB Info and QE\n"
	"                              Identity in DIR; what applies is chosen by content.\n"
	"  --accept-tcb LIST           Intel TCB statuses to accept, comma-separated (default\n"
	"                              UpToDate), e.g. UpToDate,SWHardeningNeeded.\n"
	"  --signature FILE            TPM 2.0: the quote's TPMT_SIGNATURE; FILE (the positional\n"
	"                              argument) is then the quote's TPMS_ATTEST, and the files\n"
	"                              below are joined into one evidence document.\n"
	"  --ak FILE                   TPM 2.0: the attestation key, a TPMT_PUBLIC (or\n"
	"                              TPM2B_PUBLIC) or a PEM/DER SubjectPublicKeyInfo.\n"
	"  --pcrs FILE                 TPM 2.0: PCR values, JSON {\"hash\": \"sha256\", \"pcrs\":\n"
	"                              {\"0\": \"<hex>\", ...}} (docs/formats.md); repeatable.\n"
	"  --event-log FILE            TPM 2.0: the TCG crypto-agile event log to replay.\n"
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
	"TPM 2.0 checks: attest format, ak (restricted signing key), ak name, signature,\n"
	"nonce (extraData = --nonce), pcr selection, pcr digest, event log, measurement (the\n"
	"PCR digest), document consistency, and ak certificate; without AK certificate\n"
	"\"ak trust\" fails: a software TPM proves nothing (docs/attestation.md).\n"
	"\n"
	"examples:\n"
	"  lambda attest inst_abc123 --nonce 5f1c... --output a.json\n"
	"  lambda verify a.json --nonce 5f1c... --expect-measurement sha384:9a3e...\n"
	"  lambda verify a.json --allow-simulated-insecure --json\n"
	"  lambda verify report.bin --cert vcek.der --cert ask-ark.pem --at 2025-01-01T00:00:00Z\n"
	"  lambda verify quote.attest --signature quote.sig --ak ak.pub --pcrs pcrs.json \\\n"
	"      --event-log log.bin --cert ak.der --cert root.der --nonce 9009\n";

enum {
	OPT_ALLOW_SIMULATED = 0x100,
	OPT_EXPECT_MEASUREMENT,
	OPT_NONCE,
	OPT_AT,
	OPT_CERT,
	OPT_ROOT,
	OPT_COLLATERAL,
	OPT_ACCEPT_TCB,
	OPT_JSON,
	OPT_HELP,
	OPT_TPM_SIGNATURE,
	OPT_TPM_AK,
	OPT_TPM_PCRS,
	OPT_TPM_EVENT_LOG,
};

static const struct option verify_opts[] = {
	{ "allow-simulated-insecure", no_argument, NULL, OPT_ALLOW_SIMULATED },
	{ "expect-measurement", required_argument, NULL, OPT_EXPECT_MEASUREMENT },
	{ "nonce", required_argument, NULL, OPT_NONCE },
	{ "at", required_argument, NULL, OPT_AT },
	{ "cert", required_argument, NULL, OPT_CERT },
	{ "root", required_argument, NULL, OPT_ROOT },
	{ "collateral", required_argument, NULL, OPT_COLLATERAL },
	{ "accept-tcb", required_argument, NULL, OPT_ACCEPT_TCB },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "help", no_argument, NULL, OPT_HELP },
	{ "signature", required_argument, NULL, OPT_TPM_SIGNATURE },
	{ "ak", required_argument, NULL, OPT_TPM_AK },
	{ "pcrs", required_argument, NULL, OPT_TPM_PCRS },
	{ "event-log", required_argument, NULL, OPT_TPM_EVENT_LOG },
	{ NULL, 0, NULL, 0 },
};

#define TPM_PCRS_MAX 8

/* The separate files of a TPM 2.0 quote (the positional FILE is its
 * TPMS_ATTEST); its certificates come with --cert. */
struct tpm_files {
	const char *signature, *ak, *event_log;
	const char *pcrs[TPM_PCRS_MAX];
	size_t pcrs_count;
};

struct verify_args {
	struct lm_policy policy;
	struct tpm_files tpm;
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

static int parse_accept_tcb(const char *arg, unsigned *out)
{
	char buf[256], *save = NULL, *tok;

	snprintf(buf, sizeof(buf), "%s", arg);
	*out = 0;
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		enum lm_tcb_status s = lm_tcb_status_from_name(tok);

		if (s == LM_TCB_UNKNOWN) {
			cli_error("--accept-tcb: unknown TCB status \"%s\"", tok);
			return -1;
		}
		*out |= LM_TCB_ACCEPT(s);
	}
	return 0;
}

/* ---- TPM 2.0 inputs: the options and the document they make ---- */

static int parse_tpm_option(int c, const char *arg, struct verify_args *a)
{
	struct tpm_files *t = &a->tpm;

	switch (c) {
	case OPT_TPM_SIGNATURE:
		t->signature = arg;
		return 0;
	case OPT_TPM_AK:
		t->ak = arg;
		return 0;
	case OPT_TPM_EVENT_LOG:
		t->event_log = arg;
		return 0;
	case OPT_TPM_PCRS:
		if (t->pcrs_count == TPM_PCRS_MAX) {
			cli_error("--pcrs: at most %d files", TPM_PCRS_MAX);
			return -1;
		}
		t->pcrs[t->pcrs_count++] = arg;
		return 0;
	default:
		return -1;
	}
}

static bool has_tpm_files(const struct tpm_files *t)
{
	return t->signature || t->ak || t->event_log || t->pcrs_count;
}

/* Reads the TPM files and joins them into one evidence document. Returns
 * an exit status, LM_EXIT_OK when *out was made. */
static int tpm_document(const struct verify_args *a, const char *attest_path, struct lm_evidence **out)
{
	const struct tpm_files *t = &a->tpm;
	uint8_t *attest = NULL, *sig = NULL, *ak = NULL, *log = NULL, *pcrs[TPM_PCRS_MAX] = { 0 };
	uint8_t *certs[CERT_FILES_MAX] = { 0 };
	size_t certs_size[CERT_FILES_MAX], size;
	struct lm_tpm_parts parts;
	const char *bad = NULL;
	int r = 0, rc = LM_EXIT_USAGE;

	memset(&parts, 0, sizeof(parts));
	if (!t->signature || !t->ak || !t->pcrs_count) {
		cli_error("verify: a TPM quote needs --signature, --ak and --pcrs");
		return LM_EXIT_USAGE;
	}
	if ((r = lm_file_read(bad = attest_path, DOC_READ_MAX, &attest, &parts.attest_size)) < 0 ||
	    (r = lm_file_read(bad = t->signature, DOC_READ_MAX, &sig, &parts.signature_size)) < 0 ||
	    (r = lm_file_read(bad = t->ak, DOC_READ_MAX, &ak, &parts.ak_public_size)) < 0 ||
	    (t->event_log && (r = lm_file_read(bad = t->event_log, DOC_READ_MAX, &log, &parts.event_log_size)) < 0))
		goto out;
	for (size_t i = 0; i < t->pcrs_count; i++)
		if ((r = lm_file_read(bad = t->pcrs[i], DOC_READ_MAX, &pcrs[i], &size)) < 0)
			goto out;
	for (size_t i = 0; i < a->policy.cert_file_count; i++)
		if ((r = lm_file_read(bad = a->certs[i], DOC_READ_MAX, &certs[i], &certs_size[i])) < 0)
			goto out;
	bad = NULL;
	parts.attest = attest;
	parts.signature = sig;
	parts.ak_public = ak;
	parts.event_log = log;
	parts.pcrs_json = (const char *const *)pcrs;
	parts.pcrs_count = t->pcrs_count;
	parts.certs = (const uint8_t *const *)certs;
	parts.cert_sizes = certs_size;
	parts.cert_count = a->policy.cert_file_count;
	if ((r = lm_tpm_evidence_make(&parts, out)) < 0)
		goto out;
	rc = LM_EXIT_OK;
out:
	if (r < 0)
		rc = bad ? cli_fail(r, "%s: cannot read it", bad)
			 : cli_fail(r, "%s: the TPM quote files are unusable (see the message above)", attest_path);
	free(attest);
	free(sig);
	free(ak);
	free(log);
	for (size_t i = 0; i < TPM_PCRS_MAX; i++)
		free(pcrs[i]);
	for (size_t i = 0; i < CERT_FILES_MAX; i++)
		free(certs[i]);
	return rc;
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
	case OPT_COLLATERAL:
		a->policy.collateral_dir = arg;
		return 0;
	case OPT_ACCEPT_TCB:
		return parse_accept_tcb(arg, &a->policy.accept_tcb);
	case OPT_JSON:
		a->json = true;
		return 0;
	case OPT_HELP:
		a->help = true;
		return 0;
	case OPT_TPM_SIGNATURE:
	case OPT_TPM_AK:
	case OPT_TPM_PCRS:
	case OPT_TPM_EVENT_LOG:
		return parse_tpm_option(c, arg, a);
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
	if (v->tcb_status[0])
		printf("tcb status: %s%s%s\n", v->tcb_status, v->advisories[0] ? " " : "", v->advisories);
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

	if (has_tpm_files(&a.tpm)) {
		if ((rc = tpm_document(&a, path, &ev)) != LM_EXIT_OK)
			goto out;
		rc = LM_EXIT_USAGE;
	} else if ((r = lm_file_read(path, DOC_READ_MAX, &doc, &size)) < 0) {
		cli_fail(r, "%s: cannot read the evidence document", path);
		goto out;
	}
	if (!ev) {
		enum lm_platform raw = lm_attest_detect(doc, size);

		if (raw == LM_PLATFORM_SIMULATED || raw == LM_PLATFORM_TPM) {
			cli_error("%s: a raw %s report, not an evidence document; verify the document "
				  "'lambda attest' wrote, which carries the signing key and the guest key",
				  path, lm_platform_name(raw));
			if (raw == LM_PLATFORM_TPM)
				cli_error("for a TPM quote give its files: --signature, --ak, --pcrs (see --help)");
			goto out;
		}
		if (raw != LM_PLATFORM_UNKNOWN) {
			if ((r = lm_verify_raw(doc, size, &a.policy, &v)) < 0) {
				cli_fail(r, "%s: unusable %s report or certificates", path, lm_platform_name(raw));
				goto out;
			}
			goto print;
		}
		if ((r = lm_evidence_parse(doc, size, &ev)) < 0) {
			cli_fail(r, "%s: unusable evidence document (corrupted or truncated)", path);
			goto out;
		}
	}
	if ((r = lm_verify_evidence(ev, &a.policy, &v)) < 0) {
		cli_fail(r, "%s: the %s evidence inside the document is unusable", path,
			 lm_platform_name(ev->platform));
		goto out;
	}
	if (ev->platform == LM_PLATFORM_SIMULATED && a.policy.allow_simulated_insecure)
		cli_error("warning: simulated evidence offers no protection; it proves nothing about %s",
			  ev->instance_id);
print:
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
