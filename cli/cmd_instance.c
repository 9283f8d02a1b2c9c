/* lambda create/get/list/delete instance, lambda logs and lambda attest:
 * the customer's side of the main flow. The CLI verifies the evidence of a
 * new instance itself, derives the instance keys from the CMK and releases
 * them, with the workload's env and arguments, sealed to the attested guest
 * key; the platform sees metadata and ciphertext only. Progress and check
 * lines go to stderr so that stdout carries the result alone. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "client.h"
#include "cmds.h"
#include "instance.h"
#include "lambda/attest.h"
#include "lambda/crypto.h"
#include "lambda/json.h"
#include "lambda/log.h"
#include "lambda/secret.h"
#include "lambda/util.h"

#define NONCE_BYTES 32
#define POLL_MS 200
#define WAIT_MAX_S 20			/* below the client's request timeout */
#define DEFAULT_TIMEOUT_S 120
#define SANDBOX_PROFILE "process-v1"
#define LOGS_OLD_MAX 8			/* lambda logs --old-key */
/* What lambda-guest accepts in a key release (guest/main.c ARGS_MAX,
 * ENV_MAX), and the largest release payload we seal: the sealed blob must
 * fit the agent's 1 MiB channel frame after base64. */
#define GUEST_ARGS_MAX 1024
#define GUEST_ENV_MAX 1024
#define RELEASE_JSON_MAX ((1u << 20) / 2)
#define ID_SIZE 64			/* instance and volume ids, with NUL */

/* ---- helpers shared by the verbs ---- */

static int print_json(const json_t *j)
{
	char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

	if (!s)
		return cli_fail(LM_ENOMEM, "formatting JSON");
	puts(s);
	free(s);
	return LM_EXIT_OK;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* An instance id goes into URL paths: refuse anything but [a-z0-9_]. */
static bool id_is_safe(const char *id)
{
	size_t n = strlen(id);

	if (n == 0 || n >= 64)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((id[i] >= 'a' && id[i] <= 'z') || (id[i] >= '0' && id[i] <= '9') || id[i] == '_'))
			return false;
	return true;
}

int cli_check_id(const char *id)
{
	if (!id_is_safe(id)) {
		cli_error("'%s' is not an instance id (inst_...)", id);
		return LM_EXIT_USAGE;
	}
	return LM_EXIT_OK;
}

/* Loads the CMK; a key file others can read gets the chmod hint, exit 3. */
int cli_load_cmk(const char *path, struct lm_secret **cmk, char key_id[static LM_KEY_ID_STR_SIZE])
{
	uint8_t id[LM_KEY_ID_BYTES];
	int r;

	r = lm_cmk_load(path, cmk, NULL);
	if (r == LM_EKEYPERM)	/* already said why: its mode or its owner */
		return LM_EXIT_KEY;
	if (r == LM_EFORMAT) {
		cli_error("%s is not a lambda master key (PEM 'LAMBDA MASTER KEY')", path);
		return LM_EXIT_KEY;
	}
	if (r < 0)
		return cli_fail(r, "reading key %s", path);
	if ((r = lm_key_id(id, *cmk)) < 0) {
		lm_secret_free(*cmk);
		*cmk = NULL;
		return cli_fail(r, "computing the key id of %s", path);
	}
	lm_key_id_format(key_id, id);
	return LM_EXIT_OK;
}

/* The instance records the public id of its CMK (the one it was created
 * with, or rotated to): a different key is refused here, before it is
 * used, naming the one needed. */
int cli_check_instance_key(const json_t *inst, const char *id, const char *key_path, const char *key_id)
{
	const char *inst_key = lm_json_str(inst, "key_id");

	if (inst_key && *inst_key && strcmp(inst_key, key_id) != 0) {
		cli_error("%s is under key %s; %s is %s", id, inst_key, key_path, key_id);
		return LM_EXIT_KEY;
	}
	return LM_EXIT_OK;
}

/* region KEK -> instance KEK, as DESIGN.md section 4. */
int cli_instance_kek(const struct lm_secret *cmk, const char *region, const char *instance_id,
			       struct lm_secret **out)
{
	struct lm_secret *region_kek = NULL;
	int r;

	if ((r = lm_key_region_kek(&region_kek, cmk, region)) < 0)
		goto out;
	r = lm_key_instance_kek(out, region_kek, instance_id);
out:
	lm_secret_free(region_kek);
	return r;
}

int cli_get_instance(struct lm_client *c, const char *id, json_t **out)
{
	char path[128];

	snprintf(path, sizeof(path), "/v1/instances/%s", id);
	return cli_api(c, "GET", path, NULL, out);
}

/* GET /v1/instances/ID?wait=WANT1,WANT2&timeout=S: lambdad answers as soon
 * as the status is one of want (or final), at the latest after S seconds,
 * so the wait costs no polling interval (docs/api.md). */
static int get_instance_wait(struct lm_client *c, const char *id, const char *const want[], unsigned timeout_s,
			     json_t **out)
{
	char path[256];
	size_t n;

	n = (size_t)snprintf(path, sizeof(path), "/v1/instances/%s?timeout=%u&wait=", id, timeout_s);
	for (size_t i = 0; want[i] && n < sizeof(path); i++)
		n += (size_t)snprintf(path + n, sizeof(path) - n, "%s%s", i ? "," : "", want[i]);
	if (n >= sizeof(path))
		return LM_EINVAL;
	return cli_api(c, "GET", path, NULL, out);
}

/* Waits until the status of instance id is one of want (NULL-terminated),
 * with requests that lambdad holds until the status changes. Shows each
 * transition on stderr when that is a terminal. A status in none of want
 * that is final (exited, failed, deleted) ends the wait with LM_ESTATE;
 * the deadline with LM_EBUSY. *out gets the last instance. */
int cli_wait_status(struct lm_client *c, const char *id, const char *const want[], const char *from,
		       uint64_t deadline_ms, json_t **out)
{
	const char *const final[] = { "exited", "failed", "stopped", "deleted", NULL };
	bool show = isatty(STDERR_FILENO) || g_cli_verbose;
	char last[32];
	json_t *inst = NULL;
	bool changed;
	int r;

	snprintf(last, sizeof(last), "%s", from ? from : "");
	for (;;) {
		const char *st;

		uint64_t now = lm_now_ms();
		unsigned wait_s = now >= deadline_ms ? 0 : (unsigned)((deadline_ms - now + 999) / 1000);

		json_decref(inst);
		inst = NULL;
		if (wait_s > WAIT_MAX_S)
			wait_s = WAIT_MAX_S;
		if ((r = get_instance_wait(c, id, want, wait_s, &inst)) < 0)
			return r;
		st = lm_json_str(inst, "status");
		if (!st) {
			cli_error("%s: the platform sent an instance without status", id);
			json_decref(inst);
			return LM_EFORMAT;
		}
		/* An unchanged status before the deadline: the wait timed out,
		 * or a platform that does not hold requests answered at once;
		 * pause before asking again so as not to spin. */
		changed = strcmp(st, last) != 0;
		if (changed) {
			if (show && *last)
				fprintf(stderr, "%s: %s -> %s\n", id, last, st);
			snprintf(last, sizeof(last), "%s", st);
		}
		for (size_t i = 0; want[i]; i++)
			if (strcmp(st, want[i]) == 0) {
				*out = inst;
				return 0;
			}
		for (size_t i = 0; final[i]; i++)
			if (strcmp(st, final[i]) == 0) {
				if (strcmp(st, "failed") == 0 && !json_is_integer(json_object_get(inst, "exit_code")))
					cli_error("%s is failed, expected %s: it failed before its workload ran; "
						  "the platform's log (lambdad.log in its data dir) says why",
						  id, want[0]);
				else
					cli_error("%s is %s, expected %s", id, st, want[0]);
				*out = inst;
				return LM_ESTATE;
			}
		if (lm_now_ms() >= deadline_ms) {
			cli_error("%s still %s after the timeout (--timeout)", id, st);
			json_decref(inst);
			return LM_EBUSY;
		}
		if (!changed)
			sleep_ms(POLL_MS);
	}
}

/* The config that `lambda up` writes for a local simulated platform says
 * so; a missing or unreadable config means no, and so does an endpoint
 * that is not on this machine, whatever the config says. */
bool cli_config_allows_simulated(void)
{
	struct cli_config cfg = { 0 };
	bool yes;

	if (cli_config_load(&cfg) < 0)
		return false;
	yes = cfg.allow_simulated_insecure;
	if (yes && !cli_endpoint_is_loopback(cfg.endpoint)) {
		cli_error("warning: ignoring allow_simulated_insecure of the configuration: its endpoint %s is "
			  "not a loopback address (only a platform on this machine may use it)", cfg.endpoint);
		yes = false;
	}
	cli_config_clear(&cfg);
	return yes;
}

/* "64M", "256m", "1G", "67108864" -> bytes. */
static int parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	uint64_t mul = 1;

	if (!*s || *s == '-')
		return LM_EINVAL;
	v = strtoull(s, &end, 10);
	if (end == s)
		return LM_EINVAL;
	switch (*end) {
	case 'k': case 'K': mul = 1ull << 10; end++; break;
	case 'm': case 'M': mul = 1ull << 20; end++; break;
	case 'g': case 'G': mul = 1ull << 30; end++; break;
	default: break;
	}
	if (*end == 'i' && mul > 1)
		end++;
	if (*end == 'B' || *end == 'b')
		end++;
	if (*end || v > UINT64_MAX / mul)
		return LM_EINVAL;
	*out = v * mul;
	return 0;
}

/* ---- the key-release plaintext: KEK || {"instance_id", "volume_id",
 * "args", "env"}, written straight into secret memory so that no unwiped
 * copy of the env or arguments is left on the heap. ---- */

static size_t json_escape(char *out, const char *s)
{
	static const char hexd[] = "0123456789abcdef";
	size_t n = 0;

	if (out)
		out[n] = '"';
	n++;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		char esc = 0;

		switch (*p) {
		case '"': esc = '"'; break;
		case '\\': esc = '\\'; break;
		case '\n': esc = 'n'; break;
		case '\r': esc = 'r'; break;
		case '\t': esc = 't'; break;
		case '\b': esc = 'b'; break;
		case '\f': esc = 'f'; break;
		default: break;
		}
		if (esc) {
			if (out) {
				out[n] = '\\';
				out[n + 1] = esc;
			}
			n += 2;
		} else if (*p < 0x20) {
			if (out) {
				memcpy(out + n, "\\u00", 4);
				out[n + 4] = hexd[*p >> 4];
				out[n + 5] = hexd[*p & 15];
			}
			n += 6;
		} else {
			if (out)
				out[n] = (char)*p;
			n++;
		}
	}
	if (out)
		out[n] = '"';
	return n + 1;
}

static size_t put_raw(char *out, const char *s)
{
	size_t n = strlen(s);

	if (out)
		memcpy(out, s, n);
	return n;
}

static size_t release_json(char *out, const char *instance_id, const char *volume_id, char *const args[],
			   size_t nargs, char *const env[], size_t nenv)
{
	size_t n = 0;

#define PUT_RAW(s) (n += put_raw(out ? out + n : NULL, (s)))
#define PUT_STR(s) (n += json_escape(out ? out + n : NULL, (s)))
	PUT_RAW("{\"instance_id\":");
	PUT_STR(instance_id);
	PUT_RAW(",\"volume_id\":");
	PUT_STR(volume_id);
	PUT_RAW(",\"args\":[");
	for (size_t i = 0; i < nargs; i++) {
		if (i)
			PUT_RAW(",");
		PUT_STR(args[i]);
	}
	PUT_RAW("],\"env\":[");
	for (size_t i = 0; i < nenv; i++) {
		if (i)
			PUT_RAW(",");
		PUT_STR(env[i]);
	}
	PUT_RAW("]}");
#undef PUT_RAW
#undef PUT_STR
	return n;
}

static int build_release(const struct lm_secret *kek, const char *instance_id, const char *volume_id,
			 char *const args[], size_t nargs, char *const env[], size_t nenv, struct lm_secret **out)
{
	size_t json_size = release_json(NULL, instance_id, volume_id, args, nargs, env, nenv);
	struct lm_secret *pt = NULL;
	int r;

	if (json_size > RELEASE_JSON_MAX) {
		cli_error("the workload's env and arguments are too large (%zu bytes)", json_size);
		return LM_ETOOBIG;
	}
	if ((r = lm_secret_new(kek->size + json_size, &pt)) < 0)
		return r;
	memcpy(pt->data, kek->data, kek->size);
	release_json((char *)pt->data + kek->size, instance_id, volume_id, args, nargs, env, nenv);
	*out = pt;
	return 0;
}

/* ---- attestation ---- */

static void print_checks(const struct lm_verdict *v)
{
	for (size_t i = 0; i < v->check_count; i++)
		fprintf(stderr, "  %s %s: %s\n", v->checks[i].ok ? "\u2713" : "\u2717", v->checks[i].name,
			v->checks[i].detail);
}

static void warn_simulated(void)
{
	fprintf(stderr, "lambda: WARNING: simulated attestation: no hardware protection; the operator of this "
			"node can read everything the instance holds\n");
}

/* GET .../attestation?nonce=HEX and parse it into *out. */
static int fetch_evidence(struct lm_client *c, const char *id, const uint8_t *nonce, size_t nonce_size,
			  struct lm_evidence **out, char **text)
{
	char path[128 + 2 * LM_NONCE_MAX + 1], hex[2 * LM_NONCE_MAX + 1];
	json_t *doc = NULL;
	char *s = NULL;
	int r;

	lm_hex_encode(hex, nonce, nonce_size);
	snprintf(path, sizeof(path), "/v1/instances/%s/attestation?nonce=%s", id, hex);
	if ((r = cli_api(c, "GET", path, NULL, &doc)) < 0)
		return r;
	s = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(doc);
	if (!s)
		return LM_ENOMEM;
	r = lm_evidence_parse((const uint8_t *)s, strlen(s), out);
	if (r < 0)
		cli_error("%s: the platform sent unusable evidence: %s", id, lm_strerror(r));
	if (r == 0 && text)
		*text = s;
	else
		free(s);
	return r;
}

struct create_opts {
	const char *type, *region, *key_path, *image, *expect_measurement;
	const char *id;			/* start: the instance */
	uint64_t volume_size;
	char **env;
	size_t env_count;
	bool allow_sim, json;
	bool config_sim;		/* the local configuration allows simulated evidence */
	unsigned timeout_s;
	char **args;
	size_t arg_count;
};

/* Verifies ev for the launch we asked for: our nonce, our guest key bound
 * into the report data, the measurement we expect. Prints every check. */
static int verify_for_release(const struct create_opts *o, const char *id, const struct lm_evidence *ev,
			      const uint8_t *nonce, uint8_t guest_pk[static LM_X25519_BYTES],
			      struct lm_verdict *v)
{
	uint8_t report_data[LM_REPORT_DATA_BYTES], sim[LM_SIM_MEASUREMENT_BYTES];
	uint8_t *want_m = NULL;
	size_t want_m_size = 0;
	struct lm_policy pol = { 0 };
	const char *pk_hex;
	int r;

	pk_hex = lm_evidence_info(ev, "guest_public_key");
	if (!pk_hex || lm_hex_decode(guest_pk, LM_X25519_BYTES, pk_hex) < 0) {
		cli_error("%s: the evidence carries no valid guest_public_key", id);
		return LM_EFORMAT;
	}
	if ((r = lm_report_data_bind(report_data, nonce, NONCE_BYTES, guest_pk, LM_X25519_BYTES)) < 0)
		return r;
	if (o->expect_measurement) {
		const char *m = o->expect_measurement;

		if (strncmp(m, "sha384:", 7) == 0)
			m += 7;
		if (lm_hex_decode_alloc(m, &want_m, &want_m_size) < 0 || want_m_size == 0 ||
		    want_m_size > LM_MEASUREMENT_MAX) {
			cli_error("--expect-measurement: not a hex measurement");
			free(want_m);
			return LM_EINVAL;
		}
	} else if (ev->platform == LM_PLATFORM_SIMULATED) {
		/* Our own expectation of this launch, not the platform's word. */
		if ((r = lm_sim_measurement(sim, o->image, o->type, SANDBOX_PROFILE)) < 0)
			return r;
		if (!(want_m = malloc(sizeof(sim))))
			return LM_ENOMEM;
		memcpy(want_m, sim, sizeof(sim));
		want_m_size = sizeof(sim);
	} else {
		fprintf(stderr, "lambda: warning: no --expect-measurement given: any launch measurement is accepted\n");
	}
	pol.allow_simulated_insecure = o->allow_sim || o->config_sim;
	pol.expect_measurement = want_m;
	pol.expect_measurement_size = want_m_size;
	pol.expect_nonce = nonce;
	pol.expect_nonce_size = NONCE_BYTES;
	pol.expect_report_data = report_data;
	if (ev->platform == LM_PLATFORM_SIMULATED || pol.allow_simulated_insecure)
		warn_simulated();
	memset(v, 0, sizeof(*v));
	r = lm_verify_evidence(ev, &pol, v);
	free(want_m);
	if (r < 0) {
		cli_error("%s: the evidence cannot be verified: %s", id, lm_strerror(r));
		return r;
	}
	/* The document must be about the instance we created. */
	if (v->check_count < LM_CHECK_MAX) {
		struct lm_check *ck = &v->checks[v->check_count++];
		bool ok = strcmp(ev->instance_id, id) == 0;

		snprintf(ck->name, sizeof(ck->name), "instance");
		snprintf(ck->detail, sizeof(ck->detail), ok ? "%s" : "document is for %.64s", ok ? id : ev->instance_id);
		ck->ok = ok;
		if (!ok) {
			if (v->first_failed < 0)
				v->first_failed = (int)v->check_count - 1;
			v->verified = false;
		}
	}
	fprintf(stderr, "attestation of %s (%s, %s):\n", id, lm_platform_name(v->platform), v->measurement);
	print_checks(v);
	return 0;
}

/* Fetches evidence of instance id for a fresh nonce and verifies it as
 * for a key release (verify_for_release), printing every check. On success
 * (exit status 0) guest_pk is the attested guest key, *v the verdict;
 * evidence that was not verified is exit status 1 with the failed check
 * named, what_not says what is withheld. The one attestation path of create,
 * start and key rotation. */
int cli_attest_instance(struct lm_client *c, const struct cli_attest_opts *ao, const char *id,
			uint8_t guest_pk[static LM_X25519_BYTES], struct lm_verdict *v)
{
	struct create_opts o = { .type = ao->type, .image = ao->image, .expect_measurement = ao->expect_measurement,
				 .allow_sim = ao->allow_sim, .config_sim = ao->config_sim };
	struct lm_evidence *ev = NULL;
	uint8_t nonce[NONCE_BYTES];
	int r, ex;

	if ((r = lm_random(nonce, sizeof(nonce))) < 0 ||
	    (r = fetch_evidence(c, id, nonce, sizeof(nonce), &ev, NULL)) < 0) {
		ex = lm_exit_code(r);
		goto out;
	}
	r = verify_for_release(&o, id, ev, nonce, guest_pk, v);
	if (r < 0) {
		ex = r == LM_EFORMAT ? LM_EXIT_USAGE : lm_exit_code(r);
		goto out;
	}
	if (!v->verified) {
		cli_error("%s: attestation NOT verified (%s): %s", id,
			  v->first_failed >= 0 ? v->checks[v->first_failed].name : "?", ao->what_not);
		ex = LM_EXIT_FAIL;
		goto out;
	}
	ex = LM_EXIT_OK;
out:
	lm_evidence_free(ev);
	return ex;
}

/* Seals KEK || workload to the guest and posts it. */
static int release_keys(struct lm_client *c, const struct create_opts *o, const struct lm_secret *cmk,
			const char *id, const char *region, const char *volume_id,
			const uint8_t guest_pk[static LM_X25519_BYTES])
{
	struct lm_secret *kek = NULL, *pt = NULL;
	uint8_t enc[LM_HPKE_ENC_BYTES], *ct = NULL;
	size_t ct_size = 0;
	char info[sizeof(LM_HPKE_INFO_PREFIX) + 64], path[128], *enc_b64 = NULL, *ct_b64 = NULL;
	json_t *body = NULL;
	int r;

	if ((r = cli_instance_kek(cmk, region, id, &kek)) < 0 ||
	    (r = build_release(kek, id, volume_id, o->args, o->arg_count, o->env, o->env_count, &pt)) < 0)
		goto out;
	snprintf(info, sizeof(info), "%s%s", LM_HPKE_INFO_PREFIX, id);
	if ((r = lm_hpke_seal(guest_pk, (const uint8_t *)info, strlen(info), NULL, 0, pt->data, pt->size, enc, &ct,
			      &ct_size)) < 0 ||
	    (r = lm_base64_encode(enc, sizeof(enc), &enc_b64)) < 0 ||
	    (r = lm_base64_encode(ct, ct_size, &ct_b64)) < 0)
		goto out;
	body = json_pack("{s:s, s:s}", "enc", enc_b64, "ciphertext", ct_b64);
	if (!body) {
		r = LM_ENOMEM;
		goto out;
	}
	snprintf(path, sizeof(path), "/v1/instances/%s/secrets", id);
	r = cli_api(c, "POST", path, body, NULL);
out:
	lm_secret_free(kek);
	lm_secret_free(pt);
	free(ct);
	free(enc_b64);
	free(ct_b64);
	json_decref(body);
	return r;
}

/* Steps 2 to 5 of create, and all of start after its request: waits for
 * the guest to await its key, verifies fresh evidence bound to our nonce,
 * releases the KEK and the workload sealed to the attested guest key, waits
 * for the workload to run, and prints the instance. Frees *cmk once used.
 * Returns the exit status. */
static int attest_release_run(struct lm_client *c, const struct create_opts *o, struct lm_secret **cmk,
			      const char *id, const char *region, const char *volume_id, const char *status,
			      uint64_t deadline)
{
	struct cli_attest_opts ao = { .type = o->type, .image = o->image, .expect_measurement = o->expect_measurement,
				      .allow_sim = o->allow_sim, .config_sim = o->config_sim };
	struct lm_verdict v;
	uint8_t guest_pk[LM_X25519_BYTES];
	char what_not[160];
	json_t *cur = NULL;
	int r, ex;

	/* 2. Wait for the guest to be ready for its keys. */
	r = cli_wait_status(c, id, (const char *const[]){ "awaiting_key", NULL },
			status, deadline, &cur);
	if (r < 0) {
		ex = lm_exit_code(r);
		goto out;
	}

	/* 3. Fresh evidence bound to our nonce, verified here. */
	snprintf(what_not, sizeof(what_not), "no key released; remove it with 'lambda delete instance %s'", id);
	ao.what_not = what_not;
	if ((ex = cli_attest_instance(c, &ao, id, guest_pk, &v)) != LM_EXIT_OK)
		goto out;

	/* 4. Key release: KEK and workload sealed to the attested guest key. */
	if ((r = release_keys(c, o, *cmk, id, region, volume_id, guest_pk)) < 0) {
		ex = lm_exit_code(r);
		goto out;
	}
	lm_secret_free(*cmk);
	*cmk = NULL;

	/* 5. Running (a short workload may already have finished). */
	json_decref(cur);
	cur = NULL;
	r = cli_wait_status(c, id, (const char *const[]){ "running", "exited", "failed", NULL }, "awaiting_key",
			deadline, &cur);
	if (r < 0) {
		ex = lm_exit_code(r);
		goto out;
	}
	if (o->json) {
		char *vj = NULL;

		if (lm_verdict_to_json(&v, &vj) == 0) {
			json_t *vo = json_loads(vj, 0, NULL);

			if (vo)
				json_object_set_new(cur, "attestation", vo);
			free(vj);
		}
		ex = print_json(cur);
	} else {
		puts(id);
		ex = LM_EXIT_OK;
	}
out:
	lm_memzero(guest_pk, sizeof(guest_pk));
	json_decref(cur);
	return ex;
}

static const struct option create_long[] = {
	{ "type", required_argument, NULL, 't' },
	{ "region", required_argument, NULL, 'r' },
	{ "encryption-key", required_argument, NULL, 'k' },
	{ "image", required_argument, NULL, 'i' },
	{ "volume-size", required_argument, NULL, 's' },
	{ "env", required_argument, NULL, 'e' },
	{ "expect-measurement", required_argument, NULL, 'm' },
	{ "allow-simulated-insecure", no_argument, NULL, 'A' },
	{ "timeout", required_argument, NULL, 'T' },
	{ "json", no_argument, NULL, 'j' },
	{ NULL, 0, NULL, 0 },
};

/* The command and env as the guest will judge them, before anything is
 * sent: a workload it refuses would leave an instance waiting for a key. */
static int check_workload(const struct create_opts *o, const char *verb)
{
	size_t size;

	if (!o->args[0][0]) {
		cli_error("%s instance: the command (first word after --) is empty", verb);
		return LM_EXIT_USAGE;
	}
	if (o->arg_count > GUEST_ARGS_MAX) {
		cli_error("%s instance: %zu command words; the guest takes at most %d", verb, o->arg_count,
			  GUEST_ARGS_MAX);
		return LM_EXIT_USAGE;
	}
	if (o->env_count > GUEST_ENV_MAX) {
		cli_error("%s instance: %zu --env variables; the guest takes at most %d", verb, o->env_count,
			  GUEST_ENV_MAX);
		return LM_EXIT_USAGE;
	}
	/* The guest reads them as JSON strings, which must be UTF-8; json_string
	 * accepts exactly what its parser will. */
	for (size_t i = 0; i < o->arg_count + o->env_count; i++) {
		const char *w = i < o->arg_count ? o->args[i] : o->env[i - o->arg_count];
		json_t *t = json_string(w);

		if (!t) {
			if (i < o->arg_count)
				cli_error("%s instance: command word %zu is not valid UTF-8; the workload's "
					  "arguments must be UTF-8 text", verb, i + 1);
			else
				cli_error("%s instance: --env variable %zu is not valid UTF-8; env values "
					  "must be UTF-8 text", verb, i - o->arg_count + 1);
			return LM_EXIT_USAGE;
		}
		json_decref(t);
	}
	/* The ids are not known yet: count them at their largest. */
	size = release_json(NULL, "", "", o->args, o->arg_count, o->env, o->env_count) + 2 * ID_SIZE;
	if (size > RELEASE_JSON_MAX) {
		cli_error("%s instance: the command and env are too large (%zu bytes encoded; at most %u)", verb,
			  size, RELEASE_JSON_MAX);
		return LM_EXIT_USAGE;
	}
	return LM_EXIT_OK;
}

/* Options of create, and of start (is_start: the instance id as the first
 * word that is not an option; no type, region, image or volume size, which
 * the instance already has). */
static int parse_create(int argc, char **argv, struct create_opts *o, bool is_start)
{
	int ch;

	o->image = "host";
	o->volume_size = 64ull << 20;
	o->timeout_s = DEFAULT_TIMEOUT_S;
	/* "+": options end at the workload (after "--" or its first word). */
	for (;;) {
		ch = getopt_long(argc, argv, "+", create_long, NULL);
		if (ch == -1 && is_start && !o->id && optind < argc && strcmp(argv[optind - 1], "--") != 0) {
			o->id = argv[optind++];
			continue;
		}
		if (ch == -1)
			break;
		if (is_start && (ch == 't' || ch == 'r' || ch == 'i' || ch == 's')) {
			cli_error("start instance: %s is fixed at creation", argv[optind - 1]);
			return LM_EXIT_USAGE;
		}
		switch (ch) {
		case 't': o->type = optarg; break;
		case 'r': o->region = optarg; break;
		case 'k': o->key_path = optarg; break;
		case 'i': o->image = optarg; break;
		case 'm': o->expect_measurement = optarg; break;
		case 'A': o->allow_sim = true; break;
		case 'j': o->json = true; break;
		case 's':
			if (parse_size(optarg, &o->volume_size) < 0) {
				cli_error("--volume-size: '%s' is not a size (e.g. 64M)", optarg);
				return LM_EXIT_USAGE;
			}
			break;
		case 'T': {
			char *end;
			unsigned long t = strtoul(optarg, &end, 10);

			if (*optarg == '-' || *end || t == 0 || t > 86400) {
				cli_error("--timeout: '%s' is not a number of seconds (1..86400)", optarg);
				return LM_EXIT_USAGE;
			}
			o->timeout_s = (unsigned)t;
			break;
		}
		case 'e': {
			const char *eq = strchr(optarg, '=');

			if (!eq || eq == optarg) {
				/* Do not echo the value: it may be a secret. */
				cli_error("--env takes NAME=VALUE");
				return LM_EXIT_USAGE;
			}
			o->env[o->env_count++] = optarg;
			break;
		}
		default:
			return LM_EXIT_USAGE;
		}
	}
	if (is_start && (!o->id || !o->key_path)) {
		cli_error("start instance needs an instance id and --encryption-key");
		return LM_EXIT_USAGE;
	}
	if (is_start && !id_is_safe(o->id))
		return cli_check_id(o->id);
	if (!is_start && (!o->type || !o->region || !o->key_path)) {
		cli_error("create instance needs --type, --region and --encryption-key");
		return LM_EXIT_USAGE;
	}
	if (optind >= argc) {
		cli_error("%s instance needs a command to run: ... -- CMD ARGS...", is_start ? "start" : "create");
		return LM_EXIT_USAGE;
	}
	o->args = argv + optind;
	o->arg_count = (size_t)(argc - optind);
	/* Decided, and warned about, before anything is sent. */
	o->config_sim = !o->allow_sim && cli_config_allows_simulated();
	return check_workload(o, is_start ? "start" : "create");
}

int cmd_create_instance(int argc, char **argv)
{
	struct create_opts o = { 0 };
	struct lm_client *c = NULL;
	struct lm_secret *cmk = NULL;
	char key_id[LM_KEY_ID_STR_SIZE], id[64] = "", region[128], volume_id[64];
	json_t *body = NULL, *inst = NULL;
	uint64_t deadline;
	int r, ex;

	o.env = calloc((size_t)argc, sizeof(*o.env));
	if (!o.env)
		return cli_fail(LM_ENOMEM, "create instance");
	if ((ex = parse_create(argc, argv, &o, false)) != LM_EXIT_OK)
		goto out;
	if ((ex = cli_load_cmk(o.key_path, &cmk, key_id)) != LM_EXIT_OK)
		goto out;
	if ((r = cli_connect(&c)) < 0) {
		ex = lm_exit_code(r);
		goto out;
	}
	deadline = lm_now_ms() + (uint64_t)o.timeout_s * 1000;

	/* 1. Metadata only: never env or arguments. */
	body = json_pack("{s:s, s:s, s:s, s:I, s:s}", "type", o.type, "region", o.region, "image", o.image,
			 "volume_size", (json_int_t)o.volume_size, "key_id", key_id);
	if (!body) {
		ex = cli_fail(LM_ENOMEM, "create instance");
		goto out;
	}
	if ((r = cli_api(c, "POST", "/v1/instances", body, &inst)) < 0) {
		ex = lm_exit_code(r);
		goto out;
	}
	if (!lm_json_str(inst, "id") || !id_is_safe(lm_json_str(inst, "id")) || !lm_json_str(inst, "volume_id") ||
	    !lm_json_str(inst, "region")) {
		cli_error("the platform answered without a usable instance id, volume id or region");
		ex = LM_EXIT_FAIL;
		goto out;
	}
	snprintf(id, sizeof(id), "%s", lm_json_str(inst, "id"));
	snprintf(volume_id, sizeof(volume_id), "%s", lm_json_str(inst, "volume_id"));
	snprintf(region, sizeof(region), "%s", lm_json_str(inst, "region"));
	if (strcmp(region, o.region) != 0) {
		cli_error("%s: the platform placed it in region '%s', not '%s'", id, region, o.region);
		ex = LM_EXIT_FAIL;
		goto out;
	}
	/* Always, on stderr: if this command is interrupted or fails from
	 * here on, the instance exists and this names it. */
	fprintf(stderr, "%s: created (%s, %s, key %s)\n", id, o.type, o.region, key_id);

	/* 2.-5. */
	ex = attest_release_run(c, &o, &cmk, id, region, volume_id, lm_json_str(inst, "status"), deadline);
	if (ex != LM_EXIT_OK)
		cli_error("%s was created and is left as it is: 'lambda get instance %s' shows it, "
			  "'lambda delete instance %s' removes it", id, id, id);
out:
	lm_secret_free(cmk);
	json_decref(body);
	json_decref(inst);
	lm_client_free(c);
	free(o.env);
	return ex;
}

/* ---- get / list / delete ---- */

static const char *json_field_text(const json_t *obj, const char *key, char *buf, size_t size)
{
	json_t *v = json_object_get(obj, key);

	if (json_is_string(v))
		return json_string_value(v);
	if (json_is_integer(v)) {
		snprintf(buf, size, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		return buf;
	}
	return "-";
}

static int parse_simple(int argc, char **argv, bool *json, bool *keep_volume, const char **id, bool need_id)
{
	static const struct option lo[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "keep-volume", no_argument, NULL, 'K' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		if (ch == 'j' && json) {
			*json = true;
		} else if (ch == 'K' && keep_volume) {
			*keep_volume = true;
		} else {
			if (ch != '?')
				cli_error("unknown option '%s'; see '%s --help'", argv[optind - 1], argv[0]);
			return LM_EXIT_USAGE;
		}
	}
	if (need_id) {
		if (argc - optind != 1) {
			cli_error("expected one instance id: %s ID; see '%s --help'", argv[0], argv[0]);
			return LM_EXIT_USAGE;
		}
		*id = argv[optind];
		return cli_check_id(*id);
	}
	if (argc != optind) {
		cli_error("unexpected argument '%s'", argv[optind]);
		return LM_EXIT_USAGE;
	}
	return LM_EXIT_OK;
}

int cmd_get_instance(int argc, char **argv)
{
	static const char *const fields[] = { "id", "type", "region", "image", "status", "exit_code", "volume_id",
					      "volume_size", "key_id", "created_at", "updated_at", NULL };
	struct lm_client *c = NULL;
	const char *id = NULL;
	json_t *inst = NULL;
	bool json = false;
	int r, ex;

	if ((ex = parse_simple(argc, argv, &json, NULL, &id, true)) != LM_EXIT_OK)
		return ex;
	if ((r = cli_connect(&c)) < 0)
		return lm_exit_code(r);
	r = cli_get_instance(c, id, &inst);
	lm_client_free(c);
	if (r < 0)
		return lm_exit_code(r);
	if (json) {
		ex = print_json(inst);
	} else {
		for (size_t i = 0; fields[i]; i++) {
			char buf[32];

			printf("%-12s %s\n", fields[i], json_field_text(inst, fields[i], buf, sizeof(buf)));
		}
		ex = LM_EXIT_OK;
	}
	json_decref(inst);
	return ex;
}

int cmd_list_instances(int argc, char **argv)
{
	struct lm_client *c = NULL;
	json_t *resp = NULL, *arr, *inst;
	bool json = false;
	size_t i;
	int r, ex;

	if ((ex = parse_simple(argc, argv, &json, NULL, NULL, false)) != LM_EXIT_OK)
		return ex;
	if ((r = cli_connect(&c)) < 0)
		return lm_exit_code(r);
	r = cli_api(c, "GET", "/v1/instances", NULL, &resp);
	lm_client_free(c);
	if (r < 0)
		return lm_exit_code(r);
	arr = json_object_get(resp, "instances");
	if (!json_is_array(arr)) {
		json_decref(resp);
		cli_error("the platform sent no instance list");
		return LM_EXIT_FAIL;
	}
	if (json) {
		ex = print_json(arr);
		json_decref(resp);
		return ex;
	}
	printf("%-20s %-14s %-12s %-13s %-5s %s\n", "ID", "TYPE", "REGION", "STATUS", "EXIT", "CREATED");
	json_array_foreach(arr, i, inst) {
		char buf[32];
		const char *exit_text = json_field_text(inst, "exit_code", buf, sizeof(buf));

		printf("%-20s %-14s %-12s %-13s %-5s %s\n", lm_json_str(inst, "id") ? lm_json_str(inst, "id") : "-",
		       lm_json_str(inst, "type") ? lm_json_str(inst, "type") : "-",
		       lm_json_str(inst, "region") ? lm_json_str(inst, "region") : "-",
		       lm_json_str(inst, "status") ? lm_json_str(inst, "status") : "-", exit_text,
		       lm_json_str(inst, "created_at") ? lm_json_str(inst, "created_at") : "-");
	}
	json_decref(resp);
	return LM_EXIT_OK;
}

int cmd_delete_instance(int argc, char **argv)
{
	struct lm_client *c = NULL;
	const char *id = NULL;
	bool keep = false;
	char path[128];
	int r, ex;

	if ((ex = parse_simple(argc, argv, NULL, &keep, &id, true)) != LM_EXIT_OK)
		return ex;
	if ((r = cli_connect(&c)) < 0)
		return lm_exit_code(r);
	snprintf(path, sizeof(path), "/v1/instances/%s%s", id, keep ? "?keep_volume=true" : "");
	r = cli_api(c, "DELETE", path, NULL, NULL);
	lm_client_free(c);
	if (r < 0)
		return lm_exit_code(r);
	printf("%s deleted%s\n", id, keep ? " (volume kept)" : "");
	return LM_EXIT_OK;
}

/* ---- stop / start ---- */

int cmd_stop_instance(int argc, char **argv)
{
	struct lm_client *c = NULL;
	const char *id = NULL;
	json_t *inst = NULL;
	bool json = false;
	char path[128];
	int r, ex;

	if ((ex = parse_simple(argc, argv, &json, NULL, &id, true)) != LM_EXIT_OK)
		return ex;
	if ((r = cli_connect(&c)) < 0)
		return lm_exit_code(r);
	snprintf(path, sizeof(path), "/v1/instances/%s/stop", id);
	r = cli_api(c, "POST", path, NULL, &inst);
	lm_client_free(c);
	if (r < 0)
		return lm_exit_code(r);
	if (json)
		ex = print_json(inst);
	else
		printf("%s stopped\n", id);
	json_decref(inst);
	return ex;
}

int cmd_start_instance(int argc, char **argv)
{
	struct create_opts o = { 0 };
	struct lm_client *c = NULL;
	struct lm_secret *cmk = NULL;
	char key_id[LM_KEY_ID_STR_SIZE], path[128], region[128], volume_id[64], type[64], image[128];
	const char *status;
	json_t *inst = NULL, *started = NULL;
	uint64_t deadline;
	int r, ex;

	o.env = calloc((size_t)argc, sizeof(*o.env));
	if (!o.env)
		return cli_fail(LM_ENOMEM, "start instance");
	if ((ex = parse_create(argc, argv, &o, true)) != LM_EXIT_OK)
		goto out;
	if ((ex = cli_load_cmk(o.key_path, &cmk, key_id)) != LM_EXIT_OK)
		goto out;
	if ((r = cli_connect(&c)) < 0) {
		ex = lm_exit_code(r);
		goto out;
	}
	deadline = lm_now_ms() + (uint64_t)o.timeout_s * 1000;
	if ((r = cli_get_instance(c, o.id, &inst)) < 0) {
		ex = lm_exit_code(r);
		goto out;
	}
	/* A wrong key is refused before the instance is touched. */
	if ((ex = cli_check_instance_key(inst, o.id, o.key_path, key_id)) != LM_EXIT_OK)
		goto out;
	status = lm_json_str(inst, "status");
	if (!lm_json_str(inst, "region") || !lm_json_str(inst, "volume_id") || !lm_json_str(inst, "type") ||
	    !lm_json_str(inst, "image") || !status) {
		cli_error("%s: the platform sent an instance without region, volume, type, image or status", o.id);
		ex = LM_EXIT_FAIL;
		goto out;
	}
	snprintf(region, sizeof(region), "%s", lm_json_str(inst, "region"));
	snprintf(volume_id, sizeof(volume_id), "%s", lm_json_str(inst, "volume_id"));
	snprintf(type, sizeof(type), "%s", lm_json_str(inst, "type"));
	snprintf(image, sizeof(image), "%s", lm_json_str(inst, "image"));
	o.type = type;
	o.image = image;
	/* An instance already started whose release failed (e.g. the guest
	 * refused a key) still awaits one: go on with the release. */
	if (strcmp(status, "pending") != 0 && strcmp(status, "awaiting_key") != 0) {
		snprintf(path, sizeof(path), "/v1/instances/%s/start", o.id);
		if ((r = cli_api(c, "POST", path, NULL, &started)) < 0) {
			ex = lm_exit_code(r);
			goto out;
		}
		status = lm_json_str(started, "status");
		if (isatty(STDERR_FILENO) || g_cli_verbose)
			fprintf(stderr, "%s: starting on its existing volume (key %s)\n", o.id, key_id);
	}
	ex = attest_release_run(c, &o, &cmk, o.id, region, volume_id, status ? status : "", deadline);
out:
	lm_secret_free(cmk);
	json_decref(inst);
	json_decref(started);
	lm_client_free(c);
	free(o.env);
	return ex;
}

/* ---- logs ---- */

static int print_record_json(json_t *arr, int stream, uint64_t seq, const uint8_t *msg, size_t size)
{
	json_t *rec, *text = json_stringn((const char *)msg, size);
	const char *name = stream == 2 ? "stderr" : stream == LM_LOGREC_STREAM_END ? "end" : "stdout";
	char *b64 = NULL;

	if (!text) {
		/* Not UTF-8: keep the bytes exact. */
		if (lm_base64_encode(msg, size, &b64) < 0)
			return LM_ENOMEM;
		rec = json_pack("{s:I, s:s, s:s}", "seq", (json_int_t)seq, "stream",
				name, "message_base64", b64);
		lm_free_wiped(b64);
	} else {
		rec = json_pack("{s:I, s:s, s:o}", "seq", (json_int_t)seq, "stream",
				name, "message", text);
	}
	if (!rec || json_array_append_new(arr, rec) < 0)
		return LM_ENOMEM;
	return 0;
}

/* A run that ended wrote an end record last (guest/main.c): an instance
 * that is not running, whose workload ran (records, or an exit code),
 * must have one as its last record, else the tail was cut off. A running
 * instance may still write: its tail cannot be proven complete. */
static int check_log_end(const json_t *inst, const char *id, uint64_t count, bool last_is_end)
{
	static const char *const done[] = { "exited", "failed", "stopped", "deleted", NULL };
	const char *status = lm_json_str(inst, "status");
	bool is_done = false;

	for (size_t i = 0; status && done[i]; i++)
		is_done |= strcmp(status, done[i]) == 0;
	if (!is_done || last_is_end || (count == 0 && json_is_null(json_object_get(inst, "exit_code"))))
		return LM_EXIT_OK;
	if (count == 0)
		cli_error("%s: log truncated: no records, yet the workload ran (%s)", id, status);
	else
		cli_error("%s: log truncated after record seq %" PRIu64 ": the run's end record is missing", id,
			  count - 1);
	return LM_EXIT_FAIL;
}

int cmd_logs(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "encryption-key", required_argument, NULL, 'k' },
		{ "old-key", required_argument, NULL, 'o' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	struct lm_client *c = NULL;
	struct lm_secret *cmk = NULL, *kek = NULL, *log_key = NULL, *old_log[LOGS_OLD_MAX] = { NULL };
	const char *old_path[LOGS_OLD_MAX];
	size_t old_count = 0;
	const char *key_path = NULL, *id, *region;
	char key_id[LM_KEY_ID_STR_SIZE], path[128];
	json_t *inst = NULL, *out_arr = NULL;
	char *raw = NULL;
	const uint8_t *buf;
	size_t size = 0, off = 0;
	uint64_t next_seq = 0;
	bool json = false, is_end = false;
	int ch, r, ex;

	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		if (ch == 'k') {
			key_path = optarg;
		} else if (ch == 'o') {
			if (old_count == LOGS_OLD_MAX) {
				cli_error("at most %d --old-key", LOGS_OLD_MAX);
				return LM_EXIT_USAGE;
			}
			old_path[old_count++] = optarg;
		} else if (ch == 'j')
			json = true;
		else
			return LM_EXIT_USAGE;
	}
	if (argc - optind != 1 || !key_path) {
		cli_error("usage: lambda logs ID --encryption-key key.pem [--old-key old.pem]... [--json]");
		return LM_EXIT_USAGE;
	}
	id = argv[optind];
	if ((ex = cli_check_id(id)) != LM_EXIT_OK)
		return ex;
	if ((ex = cli_load_cmk(key_path, &cmk, key_id)) != LM_EXIT_OK)
		return ex;
	if ((r = cli_connect(&c)) < 0) {
		ex = lm_exit_code(r);
		goto out;
	}
	if ((r = cli_get_instance(c, id, &inst)) < 0) {
		ex = lm_exit_code(r);
		goto out;
	}
	region = lm_json_str(inst, "region");
	if (!region) {
		cli_error("%s: the platform sent no region", id);
		ex = LM_EXIT_FAIL;
		goto out;
	}
	if ((ex = cli_check_instance_key(inst, id, key_path, key_id)) != LM_EXIT_OK)
		goto out;
	snprintf(path, sizeof(path), "/v1/instances/%s/logs", id);
	if ((r = cli_api_raw(c, path, &raw, &size)) < 0) {
		ex = lm_exit_code(r);
		goto out;
	}
	if ((r = cli_instance_kek(cmk, region, id, &kek)) < 0 || (r = lm_key_instance_logs(&log_key, kek)) < 0) {
		ex = cli_fail(r, "deriving the log key");
		goto out;
	}
	lm_secret_free(cmk);
	lm_secret_free(kek);
	cmk = kek = NULL;
	/* Records written before a key rotation are under the log key of the
	 * key the instance had then: --old-key names those keys. */
	for (size_t i = 0; i < old_count; i++) {
		char old_id[LM_KEY_ID_STR_SIZE];

		if ((ex = cli_load_cmk(old_path[i], &cmk, old_id)) != LM_EXIT_OK)
			goto out;
		if ((r = cli_instance_kek(cmk, region, id, &kek)) < 0 ||
		    (r = lm_key_instance_logs(&old_log[i], kek)) < 0) {
			ex = cli_fail(r, "deriving the log key of %s", old_path[i]);
			goto out;
		}
		lm_secret_free(cmk);
		lm_secret_free(kek);
		cmk = kek = NULL;
	}
	buf = (const uint8_t *)raw;
	if (json && !(out_arr = json_array())) {
		ex = cli_fail(LM_ENOMEM, "logs");
		goto out;
	}
	ex = LM_EXIT_OK;
	while (off < size) {
		uint8_t *msg = NULL;
		size_t used = 0, msg_size = 0;
		uint64_t seq = 0;
		int stream = 0;

		r = lm_logrec_open(log_key, id, buf + off, size - off, &used, &stream, &seq, &msg, &msg_size);
		for (size_t i = 0; r == LM_EAUTH && i < old_count; i++)
			r = lm_logrec_open(old_log[i], id, buf + off, size - off, &used, &stream, &seq, &msg,
					   &msg_size);
		if (r == LM_EAUTH) {
			cli_error("%s: log record seq %" PRIu64 " failed authentication (tampered, not this "
				  "instance's key, or written before a key rotation: add --old-key)",
				  id, next_seq);
			ex = LM_EXIT_FAIL;
			break;
		}
		if (r < 0) {
			cli_error("%s: log record seq %" PRIu64 " is truncated or malformed: %s", id, next_seq,
				  lm_strerror(r));
			ex = LM_EXIT_FAIL;
			break;
		}
		off += used;
		if (stream < 1 || stream > LM_LOGREC_STREAM_END) {
			lm_free_wiped_size(msg, msg_size);
			cli_error("%s: log record seq %" PRIu64 " has unknown stream %d", id, seq, stream);
			ex = LM_EXIT_FAIL;
			break;
		}
		/* One seq across both streams, from 0 without gaps: an
		 * authenticated record elsewhere was dropped or reordered by
		 * whoever stored them. */
		if (seq != next_seq) {
			lm_free_wiped_size(msg, msg_size);
			cli_error("%s: log record seq %" PRIu64 " is missing (found seq %" PRIu64 " in its place): "
				  "records were dropped or reordered", id, next_seq, seq);
			ex = LM_EXIT_FAIL;
			break;
		}
		next_seq++;
		is_end = stream == LM_LOGREC_STREAM_END;
		if (is_end) {
			r = json ? print_record_json(out_arr, stream, seq, msg, msg_size) : 0;
		} else if (json) {
			r = print_record_json(out_arr, stream, seq, msg, msg_size);
		} else {
			FILE *f = stream == 2 ? stderr : stdout;

			fflush(stream == 2 ? stdout : stderr);
			r = fwrite(msg, 1, msg_size, f) == msg_size ? 0 : LM_EIO;
			fflush(f);
		}
		lm_free_wiped_size(msg, msg_size);
		if (r < 0) {
			ex = cli_fail(r, "writing log record seq %" PRIu64, seq);
			break;
		}
	}
	if (ex == LM_EXIT_OK)
		ex = check_log_end(inst, id, next_seq, is_end);
	if (json && ex == LM_EXIT_OK)
		ex = print_json(out_arr);
out:
	lm_secret_free(cmk);
	lm_secret_free(kek);
	lm_secret_free(log_key);
	for (size_t i = 0; i < old_count; i++)
		lm_secret_free(old_log[i]);
	free(raw);
	json_decref(inst);
	json_decref(out_arr);
	lm_client_free(c);
	return ex;
}

/* ---- attest ---- */

int cmd_attest(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "nonce", required_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 },
	};
	struct lm_client *c = NULL;
	struct lm_evidence *ev = NULL;
	const char *output = NULL, *nonce_hex = NULL, *id;
	uint8_t nonce[LM_NONCE_MAX], *given = NULL;
	size_t nonce_size = NONCE_BYTES;
	char hex[2 * LM_NONCE_MAX + 1], *doc = NULL;
	bool to_stdout;
	int ch, r, ex;

	while ((ch = getopt_long(argc, argv, "o:", lo, NULL)) != -1) {
		if (ch == 'o')
			output = optarg;
		else if (ch == 'n')
			nonce_hex = optarg;
		else
			return LM_EXIT_USAGE;
	}
	if (argc - optind != 1 || !output) {
		cli_error("usage: lambda attest ID --output FILE [--nonce HEX]");
		return LM_EXIT_USAGE;
	}
	id = argv[optind];
	if ((ex = cli_check_id(id)) != LM_EXIT_OK)
		return ex;
	if (nonce_hex) {
		if (lm_hex_decode_alloc(nonce_hex, &given, &nonce_size) < 0 || nonce_size < 16 ||
		    nonce_size > LM_NONCE_MAX) {
			free(given);
			cli_error("--nonce: expected 16 to 64 bytes in hex");
			return LM_EXIT_USAGE;
		}
		memcpy(nonce, given, nonce_size);
		free(given);
	} else if ((r = lm_random(nonce, nonce_size)) < 0) {
		return cli_fail(r, "making a nonce");
	}
	to_stdout = strcmp(output, "-") == 0;
	if (!to_stdout && access(output, F_OK) == 0) {
		cli_error("%s exists; refusing to overwrite it", output);
		return LM_EXIT_USAGE;
	}
	if ((r = cli_connect(&c)) < 0)
		return lm_exit_code(r);
	if ((r = fetch_evidence(c, id, nonce, nonce_size, &ev, NULL)) < 0) {
		ex = r == LM_EFORMAT ? LM_EXIT_USAGE : lm_exit_code(r);
		goto out;
	}
	/* A replayed document would carry someone else's nonce. */
	if (ev->nonce_size != nonce_size || !lm_ct_equal(ev->nonce, nonce, nonce_size)) {
		cli_error("%s: the evidence is not bound to our nonce (replayed or stale); not saved", id);
		ex = LM_EXIT_FAIL;
		goto out;
	}
	if (strcmp(ev->instance_id, id) != 0) {
		cli_error("%s: the evidence is for %s; not saved", id, ev->instance_id);
		ex = LM_EXIT_FAIL;
		goto out;
	}
	if ((r = lm_evidence_to_json(ev, &doc)) < 0) {
		ex = cli_fail(r, "formatting the evidence");
		goto out;
	}
	if (to_stdout)
		r = puts(doc) == EOF || fflush(stdout) != 0 ? LM_EIO : 0;
	else
		r = lm_file_write_new(output, doc, strlen(doc), 0644);
	if (r == LM_EEXIST) {
		cli_error("%s exists; refusing to overwrite it", output);
		ex = LM_EXIT_USAGE;
		goto out;
	}
	if (r < 0) {
		ex = cli_fail(r, "writing %s", output);
		goto out;
	}
	lm_hex_encode(hex, nonce, nonce_size);
	if (ev->platform == LM_PLATFORM_SIMULATED)
		warn_simulated();
	/* With the document on stdout, the summary goes to stderr. */
	fprintf(to_stdout ? stderr : stdout, "evidence: %s\nnonce: %s\nplatform: %s\n",
		to_stdout ? "(standard output)" : output, hex, lm_platform_name(ev->platform));
	ex = LM_EXIT_OK;
out:
	free(doc);
	lm_evidence_free(ev);
	lm_client_free(c);
	return ex;
}

/* ---- the verb tables and manuals ---- */

static const char create_manual[] =
	"Creates an instance and releases its keys to it after verifying its\n"
	"attestation evidence on this machine.\n"
	"\n"
	"The platform receives only metadata (type, region, image, volume size and\n"
	"the public id of the key). The CLI then waits for the instance to be ready,\n"
	"fetches evidence bound to a fresh 32-byte nonce, verifies it locally and\n"
	"prints each check. Only when every check passes does it derive the\n"
	"instance KEK from the master key and send it, with the command, its\n"
	"arguments and the --env variables, sealed (HPKE) to the key the attested\n"
	"guest generated. Prints the instance id on stdout; progress and the\n"
	"checks go to stderr.\n"
	"\n"
	"Options:\n"
	"  --type T                  instance type, e.g. compute-4x (required)\n"
	"  --region R                region, e.g. local (required)\n"
	"  --encryption-key FILE     the master key (lambda key generate); mode 0600\n"
	"  --image REF               image reference (default: host)\n"
	"  --volume-size SIZE        encrypted volume size, e.g. 64M, 1G (default 64M)\n"
	"  --env NAME=VALUE          environment variable for the workload (repeatable);\n"
	"                            travels only inside the sealed blob\n"
	"  --expect-measurement HEX  launch measurement the evidence must show; by\n"
	"                            default, on a simulated platform, the CLI computes\n"
	"                            the measurement of this launch itself\n"
	"  --allow-simulated-insecure  accept simulated evidence (no hardware\n"
	"                            protection); also set by a local 'lambda up',\n"
	"                            whose configuration counts only while its\n"
	"                            endpoint is a loopback address\n"
	"  --timeout SEC             how long to wait for each state (default 120)\n"
	"  --json                    print the instance and the verdict as JSON\n"
	"\n"
	"The command and env are checked against what the guest accepts before\n"
	"anything is sent: a non-empty first word, at most 1024 words, at most\n"
	"1024 --env variables, at most 512 KiB together (JSON-encoded).\n"
	"\n"
	"Exit status: 0 running (or already finished), 1 attestation not verified\n"
	"(nothing released) or the instance failed to start, 2 bad arguments (a\n"
	"workload the guest would refuse included) or unusable evidence, 3 key\n"
	"file unusable (e.g. readable by others), 4 platform not reachable or\n"
	"timeout, 5 no such key file, 6 credentials refused.\n"
	"\n"
	"Examples:\n"
	"  lambda create instance --type compute-4x --region local \\\n"
	"      --encryption-key key.pem --env GREETING=hello -- /bin/sh -c 'echo $GREETING'\n"
	"  id=$(lambda create instance --type compute-4x --region local \\\n"
	"      --encryption-key key.pem --volume-size 256M -- /usr/bin/env)\n";

static const char get_manual[] =
	"Shows one instance: id, type, region, image, status, exit code, volume,\n"
	"key id and times.\n"
	"\n"
	"Options:\n"
	"  --json    print the instance as JSON\n"
	"\n"
	"Exit status: 0 shown, 4 platform not reachable, 5 no such instance,\n"
	"6 credentials refused.\n"
	"\n"
	"Example:\n"
	"  lambda get instance inst_3f2a9c1b7d4e\n";

static const char list_manual[] =
	"Lists this tenant's instances as a table: ID, TYPE, REGION, STATUS, EXIT,\n"
	"CREATED. Deleted instances are not listed.\n"
	"\n"
	"Options:\n"
	"  --json    print the list as a JSON array\n"
	"\n"
	"Exit status: 0 listed, 4 platform not reachable, 6 credentials refused.\n"
	"\n"
	"Example:\n"
	"  lambda list instances\n";

static const char delete_manual[] =
	"Stops an instance's workload, closes its volume and removes its files.\n"
	"\n"
	"Options:\n"
	"  --keep-volume   keep the encrypted volume image\n"
	"\n"
	"Exit status: 0 deleted, 4 platform not reachable, 5 no such instance,\n"
	"6 credentials refused.\n"
	"\n"
	"Example:\n"
	"  lambda delete instance inst_3f2a9c1b7d4e\n";

const char g_cli_logs_manual[] =
	"Fetches the instance's encrypted log records and decrypts them here with\n"
	"the log key derived from the master key. The workload's stdout goes to\n"
	"stdout and its stderr to stderr, in order. Every record is authenticated:\n"
	"a record that fails is reported by number and nothing after it is shown.\n"
	"\n"
	"Records carry one sequence number across both streams, 0, 1, 2, ...: a\n"
	"gap or a reordering is reported naming the missing seq. Each run of the\n"
	"workload ends with an authenticated end record (its exit code); for an\n"
	"instance that is not running (exited, failed, stopped) the last record\n"
	"must be one, else \"log truncated after record seq N\". The tail of a RUNNING\n"
	"instance cannot be proven complete: records may still come, and any that\n"
	"were dropped from its end look the same.\n"
	"\n"
	"Options:\n"
	"  --encryption-key FILE   the master key the instance is keyed with now\n"
	"  --old-key FILE          (repeatable) a key the instance had before a\n"
	"                          'lambda key rotate': records written before the\n"
	"                          rotation are under its log key and stay so\n"
	"  --json                  print [{\"seq\", \"stream\", \"message\"}, ...];\n"
	"                          stream is \"stdout\", \"stderr\" or \"end\"\n"
	"\n"
	"Exit status: 0 shown, 1 a record failed authentication or is malformed,\n"
	"records are missing, reordered or cut off at the end,\n"
	"3 key file unusable or not the instance's key (the message names the key\n"
	"id needed), 4 platform not reachable, 5 no such instance.\n"
	"\n"
	"Example:\n"
	"  lambda logs inst_3f2a9c1b7d4e --encryption-key key.pem\n"
	"  lambda logs inst_3f2a9c1b7d4e --encryption-key v2.pem --old-key v1.pem\n";

const char g_cli_attest_manual[] =
	"Fetches fresh attestation evidence of an instance, bound to a nonce, checks\n"
	"that the document carries that nonce and writes it to a new file. Check it\n"
	"with 'lambda verify FILE'.\n"
	"\n"
	"Options:\n"
	"  -o, --output FILE   where to write the evidence document (never\n"
	"                      overwritten); - for standard output, the summary\n"
	"                      then going to standard error\n"
	"  --nonce HEX         the nonce (16 to 64 bytes); default 32 random bytes\n"
	"\n"
	"Exit status: 0 written, 1 the document is not bound to the nonce,\n"
	"2 FILE exists or unusable evidence, 4 platform not reachable, 5 no such\n"
	"instance.\n"
	"\n"
	"Example:\n"
	"  lambda attest inst_3f2a9c1b7d4e --output a.json\n"
	"  lambda verify a.json --allow-simulated-insecure\n";

static const char stop_manual[] =
	"Stops an instance: its workload is killed, the guest syncs, unmounts and\n"
	"closes the encrypted volume and exits. The instance record, its volume\n"
	"image and its logs stay; status becomes stopped. Start it again with\n"
	"'lambda start instance'.\n"
	"\n"
	"Options:\n"
	"  --json    print the instance as JSON\n"
	"\n"
	"An instance pending or awaiting its first key has no volume yet: it is\n"
	"not stopped (nothing could start from it again); delete it instead.\n"
	"\n"
	"Exit status: 0 stopped, 1 the platform refused (already stopped, or no\n"
	"volume yet: the message says so), 4 platform not reachable, 5 no such\n"
	"instance, 6 credentials refused.\n"
	"\n"
	"Example:\n"
	"  lambda stop instance inst_3f2a9c1b7d4e\n";

static const char start_manual[] =
	"Starts a stopped, exited or failed instance again on its existing\n"
	"encrypted volume, with a new command. As at creation, the CLI waits for\n"
	"the new guest, verifies fresh attestation evidence on this machine and\n"
	"only then releases the instance KEK, the command, its arguments and the\n"
	"--env variables, sealed to the attested guest key. The guest unlocks the\n"
	"existing volume (never a new one) and mounts it at /data. The key must be\n"
	"the master key the instance was created with: another one is refused\n"
	"before anything is sent. An instance whose earlier release failed (still\n"
	"awaiting its key) gets the release without a new start.\n"
	"\n"
	"Options:\n"
	"  --encryption-key FILE     the master key the instance was created with\n"
	"  --env NAME=VALUE          environment variable for the workload (repeatable)\n"
	"  --expect-measurement HEX  launch measurement the evidence must show\n"
	"  --allow-simulated-insecure  accept simulated evidence (no hardware\n"
	"                            protection); also set by a local 'lambda up',\n"
	"                            whose configuration counts only while its\n"
	"                            endpoint is a loopback address\n"
	"  --timeout SEC             how long to wait for each state (default 120)\n"
	"  --json                    print the instance and the verdict as JSON\n"
	"\n"
	"Exit status: 0 running (or already finished), 1 attestation not verified\n"
	"(nothing released), the guest refused the key or the instance failed to\n"
	"start, 2 bad arguments or a workload the guest would refuse (see create),\n"
	"3 key file unusable or not the instance's key (the\n"
	"message names the key id needed), 4 platform not reachable or timeout,\n"
	"5 no such instance, 6 credentials refused.\n"
	"\n"
	"Examples:\n"
	"  lambda start instance inst_3f2a9c1b7d4e --encryption-key key.pem \\\n"
	"      -- /bin/sh -c 'cat /data/state'\n"
	"  lambda start instance inst_3f2a9c1b7d4e --encryption-key key.pem \\\n"
	"      --env MODE=resume --timeout 300 -- /usr/bin/myjob\n";

const struct lm_cmd g_cli_stop_cmds[] = {
	{ "instance", cmd_stop_instance, NULL, "ID [--json]", "stop an instance, keeping its volume", stop_manual },
	{ 0 },
};

const struct lm_cmd g_cli_start_cmds[] = {
	{ "instance", cmd_start_instance, NULL, "ID --encryption-key F [options] -- CMD ARGS...",
	  "start an instance again on its volume", start_manual },
	{ 0 },
};

const struct lm_cmd g_cli_create_cmds[] = {
	{ "instance", cmd_create_instance, NULL,
	  "--type T --region R --encryption-key F [options] -- CMD ARGS...",
	  "create an instance and release its keys", create_manual },
	{ 0 },
};

const struct lm_cmd g_cli_get_cmds[] = {
	{ "instance", cmd_get_instance, NULL, "ID [--json]", "show an instance", get_manual },
	{ 0 },
};

const struct lm_cmd g_cli_list_cmds[] = {
	{ "instances", cmd_list_instances, NULL, "[--json]", "list instances", list_manual },
	{ 0 },
};

const struct lm_cmd g_cli_delete_cmds[] = {
	{ "instance", cmd_delete_instance, NULL, "ID [--keep-volume]", "delete an instance", delete_manual },
	{ 0 },
};
