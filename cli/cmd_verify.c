/* lambda verify: checks attestation evidence offline, on the customer's
 * machine, and prints each check. Evidence is an evidence document
 * (DESIGN.md section 5) of any backend, a raw SEV-SNP report or Intel
 * DCAP quote (kind detected from the content), or the files of a TPM 2.0
 * quote. The policy comes from --policy FILE (lib/attest/policy.c) and the
 * options, which override the file: each knob option is a policy file key
 * set through lm_policy_set(), so both spell the same values. */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "cmds.h"
#include "lambda/attest.h"
#include "lambda/util.h"


const char cmd_verify_manual[] =
	"Verifies attestation evidence offline and prints one line per check, marked\n"
	"\xe2\x9c\x93 (passed) or \xe2\x9c\x97 (failed), then \"verified\" or \"NOT VERIFIED: <first failed check>\".\n"
	"Nothing is sent anywhere: every certificate, CRL and collateral file comes from\n"
	"the options, the policy file or the built-in roots (AMD ARKs of Milan, Genoa and\n"
	"Turin, the Intel SGX Root CA, each pinned by its key).\n"
	"\n"
	"EVIDENCE is one of (the kind is detected from the content, never the name):\n"
	"  - an evidence document (JSON, docs/formats.md, written by 'lambda attest')\n"
	"    of any platform: simulated, AMD SEV-SNP, Intel TDX or SGX, TPM 2.0;\n"
	"  - a raw AMD SEV-SNP ATTESTATION_REPORT (1184 bytes): give its VCEK or VLEK and\n"
	"    the ASK/ASVK with --cert;\n"
	"  - a raw Intel TDX (v4, v5) or SGX (v3) DCAP quote: give the collateral with\n"
	"    --collateral (or --cert);\n"
	"  - the TPMS_ATTEST of a TPM 2.0 quote, with --signature, --ak and --pcrs.\n"
	"\n"
	"evidence inputs:\n"
	"  --cert FILE             a certificate file (PEM, one or more, or DER): the VCEK or\n"
	"                          VLEK of an SNP report and its ASK/ASVK, Intel PCK CA or TCB\n"
	"                          signing certificates, or a TPM AK certificate and its\n"
	"                          issuers (a self-signed one is a TPM trust anchor).\n"
	"                          Repeatable; adds to the policy file's \"certs\".\n"
	"  --collateral DIR        load every certificate, CRL, TCB Info and QE Identity in\n"
	"                          DIR; what applies is chosen by content (issuer, FMSPC, TEE\n"
	"                          kind, key id), never by file name.\n"
	"  --root FILE             trust this root certificate (PEM or DER) instead of the\n"
	"                          built-in vendor roots (tests, private deployments).\n"
	"  --at RFC3339            check every validity period (certificates, CRLs, TCB Info,\n"
	"                          QE Identity) at this time instead of now, e.g.\n"
	"                          2025-02-20T00:00:00Z. Most public collateral has expired.\n"
	"  --signature FILE        TPM 2.0: the quote's TPMT_SIGNATURE (or a raw RSASSA\n"
	"                          signature of the AK's size). EVIDENCE is then the quote's\n"
	"                          TPMS_ATTEST and the files are joined into one document.\n"
	"  --ak FILE               TPM 2.0: the attestation key: a TPMT_PUBLIC or TPM2B_PUBLIC,\n"
	"                          a PEM/DER SubjectPublicKeyInfo, or an Azure confidential\n"
	"                          VM's HCL report (its HCLAkPub, vouched for by SEV-SNP).\n"
	"  --pcrs FILE             TPM 2.0: PCR values of one bank, JSON\n"
	"                          {\"hash\": \"sha256\", \"pcrs\": {\"0\": \"<hex>\", ...}}\n"
	"                          (docs/formats.md \"TPM PCR values\"); repeatable.\n"
	"  --event-log FILE        TPM 2.0: the TCG crypto-agile event log to replay.\n"
	"\n"
	"policy (every option is also a key of the policy file; options override it):\n"
	"  --policy FILE           read the policy from a JSON file (docs/attestation.md,\n"
	"                          \"Policy file\"); unknown keys are refused (exit 2).\n"
	"  --nonce HEX             the nonce you sent: the evidence must be bound to it\n"
	"                          (freshness). TPM: extraData must equal it. Without it\n"
	"                          a note says \"freshness not checked\": old evidence\n"
	"                          replayed would verify too.\n"
	"  --expect-measurement M  the launch measurement, \"sha384:<hex>\" or bare hex (SNP\n"
	"                          MEASUREMENT, TDX MRTD, SGX MRENCLAVE, TPM PCR digest):\n"
	"                          sha256/sha384/sha512 need 32/48/64 bytes, bare hex one\n"
	"                          of those sizes; anything else is exit 2.\n"
	"  --report-data HEX       the 64 bytes REPORT_DATA (SNP, TDX, SGX) or TPM extraData\n"
	"                          must hold, for raw evidence without a document.\n"
	"  --allow-debug           accept debuggable guests/enclaves (the host can read them).\n"
	"  --allow-simulated-insecure\n"
	"                          accept evidence of the simulated backend: a software key\n"
	"                          the operator holds signs it; it offers NO protection.\n"
	"  --accept-tcb LIST       Intel TCB statuses to accept, comma-separated (default\n"
	"                          UpToDate): SWHardeningNeeded, ConfigurationNeeded,\n"
	"                          ConfigurationAndSWHardeningNeeded, OutOfDate,\n"
	"                          OutOfDateConfigurationNeeded (Revoked never passes).\n"
	"  --mrenclave HEX         SGX: require this MRENCLAVE (32 bytes).\n"
	"  --mrsigner HEX          SGX: require this MRSIGNER (32 bytes).\n"
	"  --mrtd HEX              TDX: require this MRTD (48 bytes).\n"
	"  --rtmr N=HEX            TDX: require RTMR N (0-3) to be HEX (48 bytes); repeatable.\n"
	"  --host-data HEX         SNP: require this HOST_DATA (32 bytes).\n"
	"  --max-vmpl N            SNP: highest VMPL accepted, 0-3 (default any).\n"
	"  --min-tcb TCB           SNP: minimum REPORTED_TCB, a TCB_VERSION as decimal or\n"
	"                          0x-prefixed hex; every SPL must be at least its value.\n"
	"  --product NAME          SNP: Milan, Genoa or Turin, for v2 reports that do not\n"
	"                          name their CPU.\n"
	"  --deny-smt              SNP: refuse guests whose policy allows SMT.\n"
	"  --allow-migration-agent SNP: accept guests bound to a migration agent.\n"
	"\n"
	"output:\n"
	"  --json                  print the verdict as JSON: {\"verified\", \"platform\",\n"
	"                          \"measurement\", \"checks\": [{\"name\", \"ok\", \"detail\"}]}, plus\n"
	"                          \"tcb_status\" and \"advisories\" for Intel quotes, and\n"
	"                          \"freshness_checked\": false when no --nonce was given.\n"
	"  --help                  this text.\n"
	"\n"
	"checks of every backend:\n"
	"  platform            the evidence kind is accepted; simulated evidence only with\n"
	"                      --allow-simulated-insecure.\n"
	"  signature           the report/quote is signed by the key the chain certifies.\n"
	"  report consistency  (documents) measurement, report_data, ids shown are those of\n"
	"                      the signed report, never of unsigned fields.\n"
	"  nonce binding       report_data = SHA-512(nonce || guest public key): the guest key\n"
	"                      that secrets are sealed to belongs to this evidence; with\n"
	"                      --nonce it is also fresh.\n"
	"  measurement         equals --expect-measurement, else \"not pinned\".\n"
	"  debug               the guest/enclave is not debuggable, unless --allow-debug.\n"
	"\n"
	"AMD SEV-SNP:\n"
	"  report format       version 2, 3 or 5, ECDSA P-384, GUEST_POLICY bit 17 set.\n"
	"  signing key         the certificate given is the kind KEY_INFO names (VCEK/VLEK).\n"
	"  certificate chain   VCEK -> ASK (or VLEK -> ASVK) -> ARK, RSA-PSS SHA-384, each\n"
	"                      valid at --at; the ARK is a pinned AMD root.\n"
	"  product             the CPU (CPUID, certificate, --product) matches the ARK.\n"
	"  tcb                 REPORTED_TCB equals the TCB the VCEK certifies.\n"
	"  chip id             CHIP_ID equals the VCEK's hwID (not for VLEK/masked ids).\n"
	"  report data, host data, measurement\n"
	"                      equal their pins, else \"not pinned\".\n"
	"  migration agent, smt, vmpl, minimum tcb\n"
	"                      the guest policy and TCB meet the SNP options above.\n"
	"\n"
	"Intel TDX and SGX (DCAP):\n"
	"  quote format        header, body and signature data lengths are consistent.\n"
	"  pck chain           PCK -> Platform/Processor CA -> Intel SGX Root CA at --at.\n"
	"  root ca crl, pck crl\n"
	"                      a CRL of each CA, valid at --at and signed by it, does not\n"
	"                      list the certificates.\n"
	"  qe report signature the QE report is signed by the PCK key.\n"
	"  qe report data      the QE report binds the attestation key (SHA-256).\n"
	"  quote signature     the quote is signed by the attestation key.\n"
	"  qe identity         a QE Identity signed by Intel's TCB signing key, valid at\n"
	"                      --at, matches the QE (MRSIGNER, ISVPRODID, attributes, SVN).\n"
	"  tcb info            a TCB Info for the quote's TEE kind and FMSPC, signed by the\n"
	"                      TCB signing key and valid at --at.\n"
	"  fmspc               the PCK certificate's FMSPC is the TCB Info's.\n"
	"  tdx module          (TDX) the TDX module's identity and SVN are known.\n"
	"  tcb level           a TCB level of the TCB Info matches the platform's SVNs.\n"
	"  tcb status          its status is one --accept-tcb accepts; the status and any\n"
	"                      advisory ids are printed.\n"
	"  mrenclave, mrsigner, mrtd, rtmr0-3, report data\n"
	"                      equal their pins, else \"not pinned\".\n"
	"\n"
	"TPM 2.0:\n"
	"  attest format       a TPMS_ATTEST quote (magic, type, sizes).\n"
	"  ak                  the AK is a restricted signing key made in the TPM.\n"
	"  ak name             the AK has the name the document expects (when given).\n"
	"  signature           the quote is signed by the AK, with the AK's scheme.\n"
	"  nonce               extraData equals --nonce (else the document's nonce).\n"
	"  report data         extraData equals --report-data (when given).\n"
	"  pcr selection       every quoted PCR has a value; pcr digest: their hash is the\n"
	"                      quoted pcrDigest; event log: replaying it gives those values.\n"
	"  document consistency the document's measurement and AK id are the quote's.\n"
	"  ak certificate      a given certificate holds the AK and chains to a trust anchor\n"
	"                      (--root, else a self-signed --cert).\n"
	"  ak trust            fails when nothing vouches for the AK (a software TPM).\n"
	"  Azure vTPM (--ak HCL report): hcl report, snp * (the SNP checks above on the\n"
	"  report inside), hcl claims binding (REPORT_DATA holds the hash of the runtime\n"
	"  claims), hcl ak (the quote's AK is HCLAkPub), then ak trust.\n"
	"\n"
	"exit status:\n"
	"  0  verified: every check passed\n"
	"  1  not verified: a check failed (the verdict names the first)\n"
	"  2  unusable input: bad options (also a one-value option given twice) or\n"
	"     policy file, or evidence (a TPM document's parts included), certificates\n"
	"     or collateral that cannot be read or parsed (the message names the problem)\n"
	"\n"
	"examples:\n"
	"  lambda attest inst_abc123 --nonce 5f1c... --output a.json\n"
	"  lambda verify a.json --nonce 5f1c... --expect-measurement sha384:9a3e...\n"
	"  lambda verify a.json --allow-simulated-insecure --json\n"
	"  lambda verify report.bin --cert vcek.der --cert ask-ark.pem --at 2025-01-01T00:00:00Z \\\n"
	"      --max-vmpl 0 --deny-smt\n"
	"  lambda verify tdx-quote.dat --collateral pcs/ --at 2025-02-20T00:00:00Z \\\n"
	"      --accept-tcb UpToDate,SWHardeningNeeded --mrtd 935be774...\n"
	"  lambda verify sgx-quote.dat --collateral pcs/ --mrenclave 33d8736d... --mrsigner 815f42f1...\n"
	"  lambda verify quote.attest --signature quote.sig --ak ak.pub --pcrs pcrs.json \\\n"
	"      --event-log log.bin --cert ak.der --cert root.der --nonce 9009\n"
	"  lambda verify quote.attest --signature quote.sig --ak hcl-report.bin --pcrs pcrs.json \\\n"
	"      --cert vcek-ask-ark.pem --nonce 6368616c6c656e6765\n"
	"  lambda verify a.json --policy prod-policy.json --at 2026-01-01T00:00:00Z\n";

#define DOC_READ_MAX (4u << 20)
#define POLICY_READ_MAX (1u << 20)
#define KNOBS_MAX 64

enum {
	OPT_POLICY = 0x100,
	OPT_JSON,
	OPT_HELP,
	OPT_TPM_SIGNATURE,
	OPT_TPM_AK,
	OPT_TPM_PCRS,
	OPT_TPM_EVENT_LOG,
	OPT_RTMR,
	OPT_KNOB,	/* OPT_KNOB + i: knob_opts[i] */
};

/* The options that set one policy knob: option name, policy file key, and
 * whether it is a flag (value "true"). */
static const struct knob_opt {
	const char *option;
	const char *key;
	bool flag;
} knob_opts[] = {
	{ "allow-simulated-insecure", "allow_simulated_insecure", true },
	{ "allow-debug", "allow_debug", true },
	{ "expect-measurement", "expect_measurement", false },
	{ "nonce", "nonce", false },
	{ "report-data", "report_data", false },
	{ "at", "at", false },
	{ "cert", "certs", false },
	{ "root", "root", false },
	{ "collateral", "collateral", false },
	{ "accept-tcb", "accept_tcb", false },
	{ "mrenclave", "mrenclave", false },
	{ "mrsigner", "mrsigner", false },
	{ "mrtd", "mrtd", false },
	{ "host-data", "host_data", false },
	{ "max-vmpl", "max_vmpl", false },
	{ "min-tcb", "min_tcb", false },
	{ "product", "product", false },
	{ "deny-smt", "deny_smt", true },
	{ "allow-migration-agent", "allow_migration_agent", true },
};

#define KNOB_OPTS (sizeof(knob_opts) / sizeof(knob_opts[0]))

#define TPM_PCRS_MAX 8

/* The separate files of a TPM 2.0 quote (the positional FILE is its
 * TPMS_ATTEST); its certificates come with --cert. */
struct tpm_files {
	const char *signature, *ak, *event_log;
	const char *pcrs[TPM_PCRS_MAX];
	size_t pcrs_count;
};

/* One knob set on the command line, applied after the policy file. */
struct knob_arg {
	char key[32];
	const char *value;
};

struct verify_args {
	struct lm_policy_file pf;
	struct tpm_files tpm;
	const char *policy_path;
	struct knob_arg knobs[KNOBS_MAX];
	size_t knob_count;
	bool json;
	bool help;
};

/* ---- TPM 2.0 inputs: the options and the document they make ---- */

/* Sets *slot to arg, once. */
static int set_once(const char **slot, const char *option, const char *arg)
{
	if (*slot) {
		cli_error("verify: --%s given twice: give it once", option);
		return -1;
	}
	*slot = arg;
	return 0;
}

static int parse_tpm_option(int c, const char *arg, struct verify_args *a)
{
	struct tpm_files *t = &a->tpm;

	switch (c) {
	case OPT_TPM_SIGNATURE:
		return set_once(&t->signature, "signature", arg);
	case OPT_TPM_AK:
		return set_once(&t->ak, "ak", arg);
	case OPT_TPM_EVENT_LOG:
		return set_once(&t->event_log, "event-log", arg);
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
	uint8_t *certs[LM_POLICY_CERTS_MAX] = { 0 };
	size_t certs_size[LM_POLICY_CERTS_MAX], size;
	const struct lm_policy *pol = &a->pf.policy;
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
	for (size_t i = 0; i < pol->cert_file_count; i++)
		if ((r = lm_file_read(bad = pol->cert_files[i], DOC_READ_MAX, &certs[i], &certs_size[i])) < 0)
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
	parts.cert_count = pol->cert_file_count;
	if ((r = lm_tpm_evidence_make(&parts, out)) < 0)
		goto out;
	rc = LM_EXIT_OK;
out:
	/* An unreadable input file is unusable input (2) whatever the
	 * reason, as for the EVIDENCE file itself. */
	if (r < 0 && bad) {
		cli_fail(r, "%s: cannot read it", bad);
		rc = LM_EXIT_USAGE;
	} else if (r < 0) {
		rc = cli_fail(r, "%s: the TPM quote files are unusable (see the message above)", attest_path);
	}
	free(attest);
	free(sig);
	free(ak);
	free(log);
	for (size_t i = 0; i < TPM_PCRS_MAX; i++)
		free(pcrs[i]);
	for (size_t i = 0; i < LM_POLICY_CERTS_MAX; i++)
		free(certs[i]);
	return rc;
}

/* option names the knob for messages. Every knob but --cert takes one
 * value: given twice, which one was meant is not known, so that is an
 * error (a flag given twice says the same thing twice). */
static int add_knob(struct verify_args *a, const char *option, const char *key, const char *value, bool flag)
{
	for (size_t i = 0; !flag && strcmp(key, "certs") != 0 && i < a->knob_count; i++)
		if (strcmp(a->knobs[i].key, key) == 0) {
			cli_error("verify: --%s given twice: give it once", option);
			return -1;
		}
	if (a->knob_count == KNOBS_MAX) {
		cli_error("verify: more than %d policy options", KNOBS_MAX);
		return -1;
	}
	snprintf(a->knobs[a->knob_count].key, sizeof(a->knobs[0].key), "%s", key);
	a->knobs[a->knob_count++].value = value;
	return 0;
}

/* Returns 0, or -1 after printing why the option is unusable. Knobs are
 * only recorded here: they apply after the policy file. */
static int parse_option(int c, const char *arg, struct verify_args *a)
{
	char key[16];

	if (c >= OPT_KNOB && c < OPT_KNOB + (int)KNOB_OPTS) {
		const struct knob_opt *k = &knob_opts[c - OPT_KNOB];

		return add_knob(a, k->option, k->key, k->flag ? "true" : arg, k->flag);
	}
	switch (c) {
	case OPT_POLICY:
		return set_once(&a->policy_path, "policy", arg);
	case OPT_RTMR:
		/* N=HEX: the policy key rtmrN */
		if (arg[0] < '0' || arg[0] > '3' || arg[1] != '=') {
			cli_error("--rtmr: expected N=HEX with N 0 to 3, e.g. --rtmr 0=395aefe7...");
			return -1;
		}
		snprintf(key, sizeof(key), "rtmr%c", arg[0]);
		return add_knob(a, "rtmr N=", key, arg + 2, false);
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

/* Every certificate, root and collateral path given must be readable,
 * whether or not this kind of evidence uses it: a typo must not pass
 * unnoticed into a verdict. */
static int check_trust_files(const struct lm_policy *pol)
{
	struct stat st;

	for (size_t i = 0; i <= pol->cert_file_count; i++) {
		const char *path = i < pol->cert_file_count ? pol->cert_files[i] : pol->root_file;

		if (!path)
			continue;
		if (stat(path, &st) != 0 || access(path, R_OK) != 0) {
			cli_error("%s: %s (a certificate file)", path, strerror(errno));
			return LM_EXIT_USAGE;
		}
		if (!S_ISREG(st.st_mode)) {
			cli_error("%s: not a file (a certificate file)", path);
			return LM_EXIT_USAGE;
		}
	}
	if (pol->collateral_dir) {
		DIR *d = opendir(pol->collateral_dir);

		if (!d) {
			cli_error("%s: %s (the --collateral directory)", pol->collateral_dir, strerror(errno));
			return LM_EXIT_USAGE;
		}
		closedir(d);
	}
	return LM_EXIT_OK;
}

/* The policy: the file's, then the options' knobs over it. Returns an
 * exit status. */
static int build_policy(struct verify_args *a)
{
	uint8_t *text = NULL;
	size_t size;
	int r;

	if (a->policy_path) {
		if ((r = lm_file_read(a->policy_path, POLICY_READ_MAX, &text, &size)) < 0) {
			cli_fail(r, "%s: cannot read the policy file", a->policy_path);
			return LM_EXIT_USAGE;
		}
		r = lm_policy_load(&a->pf, (const char *)text, size);
		free(text);
		if (r < 0)
			return cli_fail(r, "%s: unusable policy file (see the message above)", a->policy_path);
	}
	for (size_t i = 0; i < a->knob_count; i++) {
		const struct knob_arg *k = &a->knobs[i];
		const char *opt = k->key;

		for (size_t j = 0; j < KNOB_OPTS; j++)
			if (strcmp(knob_opts[j].key, k->key) == 0)
				opt = knob_opts[j].option;
		if ((r = lm_policy_set(&a->pf, k->key, k->value)) < 0)
			return cli_fail(r, "--%s%s: unusable value (see the message above)",
					strncmp(k->key, "rtmr", 4) == 0 ? "rtmr " : "", opt);
	}
	return check_trust_files(&a->pf.policy);
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

/* The getopt table: the fixed options, then one per knob_opts entry. */
static void build_opts(struct option *o)
{
	static const struct option fixed[] = {
		{ "policy", required_argument, NULL, OPT_POLICY },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "help", no_argument, NULL, OPT_HELP },
		{ "signature", required_argument, NULL, OPT_TPM_SIGNATURE },
		{ "ak", required_argument, NULL, OPT_TPM_AK },
		{ "pcrs", required_argument, NULL, OPT_TPM_PCRS },
		{ "event-log", required_argument, NULL, OPT_TPM_EVENT_LOG },
		{ "rtmr", required_argument, NULL, OPT_RTMR },
	};
	size_t n = sizeof(fixed) / sizeof(fixed[0]);

	memcpy(o, fixed, sizeof(fixed));
	for (size_t i = 0; i < KNOB_OPTS; i++)
		o[n + i] = (struct option){ knob_opts[i].option, knob_opts[i].flag ? no_argument : required_argument,
					    NULL, OPT_KNOB + (int)i };
	memset(&o[n + KNOB_OPTS], 0, sizeof(o[0]));
}

/* An evidence document is a JSON object: its first character that is not
 * white space is '{'. */
static bool looks_like_json(const uint8_t *data, size_t size)
{
	size_t i = 0;

	while (i < size && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r'))
		i++;
	return i < size && data[i] == '{';
}

/* Reads EVIDENCE (or the TPM files) and verifies it. Returns an exit
 * status; *v is filled when it returns LM_EXIT_OK. */
static int verify_input(struct verify_args *a, const char *path, struct lm_verdict *v)
{
	const struct lm_policy *pol = &a->pf.policy;
	struct lm_evidence *ev = NULL;
	enum lm_platform raw;
	uint8_t *doc = NULL;
	size_t size;
	int r, rc = LM_EXIT_USAGE;

	if (has_tpm_files(&a->tpm)) {
		if ((rc = tpm_document(a, path, &ev)) != LM_EXIT_OK)
			goto out;
		rc = LM_EXIT_USAGE;
		goto document;
	}
	if ((r = lm_file_read(path, DOC_READ_MAX, &doc, &size)) < 0) {
		cli_fail(r, "%s: cannot read the evidence", path);
		goto out;
	}
	raw = lm_attest_detect(doc, size);
	if (raw == LM_PLATFORM_SIMULATED || raw == LM_PLATFORM_TPM) {
		cli_error("%s: a raw %s report, not an evidence document; verify the document "
			  "'lambda attest' wrote, which carries the signing key and the guest key",
			  path, lm_platform_name(raw));
		if (raw == LM_PLATFORM_TPM)
			cli_error("for a TPM quote give its files: --signature, --ak, --pcrs (see --help)");
		goto out;
	}
	if (raw != LM_PLATFORM_UNKNOWN) {
		if ((r = lm_verify_raw(doc, size, pol, v)) < 0) {
			cli_fail(r, "%s: unusable %s evidence, certificates or collateral", path, lm_platform_name(raw));
			goto out;
		}
		rc = LM_EXIT_OK;
		goto out;
	}
	if (!looks_like_json(doc, size)) {
		cli_error("%s: neither an evidence document (JSON) nor a raw report or quote of a known kind "
			  "(an SEV-SNP report, a TDX or SGX quote, a TPM quote with --signature): corrupted or "
			  "truncated?", path);
		goto out;
	}
	if ((r = lm_evidence_parse(doc, size, &ev)) < 0) {
		cli_fail(r, "%s: not a usable evidence document (the message above says why)", path);
		goto out;
	}
document:
	if ((r = lm_verify_evidence(ev, pol, v)) < 0) {
		cli_fail(r, "%s: the %s evidence, certificates or collateral are unusable", path,
			 lm_platform_name(ev->platform));
		goto out;
	}
	if (ev->platform == LM_PLATFORM_SIMULATED && pol->allow_simulated_insecure)
		cli_error("warning: simulated evidence offers no protection; it proves nothing about %s",
			  ev->instance_id);
	rc = LM_EXIT_OK;
out:
	free(doc);
	lm_evidence_free(ev);
	return rc;
}

/* Adds "freshness_checked" to the verdict JSON: without --nonce the
 * evidence may be an old one replayed, whatever the checks say. */
static int add_freshness(char **json, bool fresh)
{
	json_t *doc = json_loads(*json, 0, NULL);
	char *text;

	if (!doc || json_object_set_new(doc, "freshness_checked", json_boolean(fresh)) != 0 ||
	    !(text = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER))) {
		json_decref(doc);
		return LM_ENOMEM;
	}
	json_decref(doc);
	free(*json);
	*json = text;
	return 0;
}

int cmd_verify(int argc, char **argv)
{
	struct option opts[8 + KNOB_OPTS + 1];
	struct verify_args *a;
	struct lm_verdict *v = NULL;
	char *json = NULL;
	bool fresh;
	int c, r, rc = LM_EXIT_USAGE;

	if (!(a = calloc(1, sizeof(*a))) || !(v = calloc(1, sizeof(*v)))) {
		free(a);
		return cli_fail(LM_ENOMEM, "verify");
	}
	lm_policy_file_init(&a->pf);
	build_opts(opts);
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1)
		if (parse_option(c, optarg, a) < 0)
			goto out;
	if (a->help) {
		cli_usage("verify", "EVIDENCE [options]", cmd_verify_manual);
		rc = LM_EXIT_OK;
		goto out;
	}
	if (optind != argc - 1) {
		cli_error("verify: expected one EVIDENCE file; run 'lambda verify --help'");
		goto out;
	}
	if ((rc = build_policy(a)) != LM_EXIT_OK || (rc = verify_input(a, argv[optind], v)) != LM_EXIT_OK)
		goto out;
	fresh = a->pf.policy.expect_nonce != NULL;
	if (a->json) {
		if ((r = lm_verdict_to_json(v, &json)) < 0 || (r = add_freshness(&json, fresh)) < 0) {
			rc = cli_fail(r, "cannot print the verdict");
			goto out;
		}
		printf("%s\n", json);
	} else {
		print_verdict(v);
		if (!fresh)
			printf("note: freshness not checked: no --nonce given (the evidence may be a replay)\n");
	}
	rc = v->verified ? LM_EXIT_OK : LM_EXIT_FAIL;
out:
	free(json);
	lm_policy_file_free(&a->pf);
	free(a);
	free(v);
	return rc;
}
