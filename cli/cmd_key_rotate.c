/* lambda key rotate: moves data from one CMK to another. Two forms share
 * the verb:
 *   lambda key rotate --file F --old-key A --new-key B
 *       an encrypted file: its file key is re-wrapped under B's file KEK,
 *       bytes 20..87 rewritten through a journal (lm_fileenc_rotate()).
 *   lambda key rotate INST --old-key A --new-key B [--reencrypt]
 *       the volume of an instance (DESIGN.md section 2, step 6): the CLI
 *       attests the instance's guest as for a key release, then seals both
 *       instance KEKs to it (HPKE, info "lambda/v1 key-rotate:" + id); the
 *       guest re-wraps the LUKS2 keyslot, or with --reencrypt also
 *       replaces the volume key (docs/architecture.md "Key rotation").
 * The handler is listed in cmd_key.c's key_cmds table as the "rotate" verb,
 * with cmd_key_rotate_manual as its --help text. */
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "cmds.h"
#include "instance.h"
#include "lambda/agent.h"
#include "lambda/crypto.h"
#include "lambda/fileenc.h"
#include "lambda/json.h"
#include "lambda/secret.h"
#include "lambda/util.h"

#define ROTATE_TIMEOUT_S 120
#define PROGRESS_MS 500

const char cmd_key_rotate_manual[] =
	"Moves data from one CMK to another.\n"
	"\n"
	"  lambda key rotate --file F --old-key A --new-key B\n"
	"      F is a file made by 'lambda encrypt' for key A; afterwards it opens with\n"
	"      key B only. Only the 68 key bytes of its header change (the file key,\n"
	"      re-wrapped under B). The change is crash-safe: it goes through a journal\n"
	"      F.lambda-rotate that the next 'lambda key rotate --file F' or\n"
	"      'lambda decrypt F' completes if this run was interrupted.\n"
	"  lambda key rotate INST --old-key A --new-key B [--reencrypt] [--json]\n"
	"      moves the encrypted volume of instance INST from A to B: afterwards B\n"
	"      opens it and A does not, and the instance records B's key id. The CLI\n"
	"      first checks that INST is keyed with A, attests its guest with a fresh\n"
	"      nonce exactly as 'lambda create instance' does (nothing is sent unless\n"
	"      the evidence verifies), then seals the instance KEKs of A and B to the\n"
	"      attested guest key. The guest adds a keyslot for B, checks that B opens\n"
	"      it and removes A's (a LUKS2 keyslot change; the data is not rewritten),\n"
	"      while the workload may keep running; its log records from then on are\n"
	"      under B's log key. With --reencrypt the guest also replaces the volume\n"
	"      key and re-encrypts every data sector (offline LUKS2 reencryption,\n"
	"      progress shown on stderr): the instance must not be running ('lambda\n"
	"      stop instance INST' first). An instance that is stopped, exited or\n"
	"      failed is started for the rotation (a guest without a workload) and is\n"
	"      left awaiting its key: run it again with 'lambda start instance INST\n"
	"      --encryption-key B -- CMD'. An interrupted rotation is finished by\n"
	"      running the same command again.\n"
	"      Log records written before the rotation stay under A's log key: read\n"
	"      them with 'lambda logs INST --encryption-key B --old-key A'.\n"
	"\n"
	"options:\n"
	"  --file F                    the encrypted file to rotate\n"
	"  --old-key A                 the CMK file the data is encrypted for now\n"
	"  --new-key B                 the CMK file to move it to\n"
	"  --reencrypt                 (INST) also replace the volume key\n"
	"  --expect-measurement HEX    (INST) as for 'lambda create instance'\n"
	"  --allow-simulated-insecure  (INST) accept simulated evidence\n"
	"  --timeout SEC               (INST) per wait for the guest (default 120)\n"
	"  --json                      (INST) print the instance as JSON\n"
	"\n"
	"exit status:\n"
	"  0  rotated\n"
	"  1  the header failed authentication under A, writing failed, or F has a\n"
	"     journal beside it that belongs to another file (left alone: remove it);\n"
	"     INST: attestation not verified (nothing sent), the instance is running\n"
	"     and --reencrypt was given, or the guest failed the rotation\n"
	"  2  bad arguments or a malformed file\n"
	"  3  F or INST is not encrypted for A (the message names the key id it\n"
	"     wants), A does not open the volume, or a key file is unusable\n"
	"  4  platform not reachable or busy, or a wait timed out\n"
	"  5  no such instance\n"
	"\n"
	"examples:\n"
	"  lambda key rotate --file report.pdf.lmbd --old-key v1.pem --new-key v2.pem\n"
	"  lambda key rotate inst_3f2a9c1b7d4e --old-key v1.pem --new-key v2.pem\n"
	"  lambda stop instance inst_3f2a9c1b7d4e\n"
	"  lambda key rotate inst_3f2a9c1b7d4e --old-key v2.pem --new-key v3.pem --reencrypt\n"
	"  lambda start instance inst_3f2a9c1b7d4e --encryption-key v3.pem -- /bin/app\n";

enum { OPT_FILE = 256, OPT_OLD, OPT_NEW, OPT_REENCRYPT, OPT_MEASUREMENT, OPT_SIM, OPT_TIMEOUT, OPT_JSON };

static const struct option rotate_opts[] = {
	{ "file", required_argument, NULL, OPT_FILE },
	{ "old-key", required_argument, NULL, OPT_OLD },
	{ "new-key", required_argument, NULL, OPT_NEW },
	{ "reencrypt", no_argument, NULL, OPT_REENCRYPT },
	{ "expect-measurement", required_argument, NULL, OPT_MEASUREMENT },
	{ "allow-simulated-insecure", no_argument, NULL, OPT_SIM },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "json", no_argument, NULL, OPT_JSON },
	{ NULL, 0, NULL, 0 },
};

struct rotate_opts {
	const char *id, *old_key, *new_key, *expect_measurement;
	bool reencrypt, allow_sim, json;
	unsigned timeout_s;
};

static int rotate_file(const char *path, const char *old_key, const char *new_key)
{
	struct lm_secret *old_kek = NULL, *new_kek = NULL;
	uint8_t old_id[LM_KEY_ID_BYTES], new_id[LM_KEY_ID_BYTES];
	char a[LM_KEY_ID_STR_SIZE], b[LM_KEY_ID_STR_SIZE];
	int r;

	if ((r = lm_process_harden()) < 0) {
		cli_fail(r, "hardening the process");
		goto out;
	}
	if ((r = cli_load_file_kek(old_key, &old_kek, old_id)) < 0 ||
	    (r = cli_load_file_kek(new_key, &new_kek, new_id)) < 0)
		goto out;
	lm_key_id_format(a, old_id);
	lm_key_id_format(b, new_id);
	if (memcmp(old_id, new_id, LM_KEY_ID_BYTES) == 0) {
		cli_error("--old-key and --new-key are the same key (%s); nothing to rotate", a);
		r = LM_EINVAL;
		goto out;
	}
	if ((r = lm_fileenc_rotate(path, old_kek, old_id, new_kek, new_id)) < 0) {
		cli_fail(r, "rotating %s", path);
		goto out;
	}
	printf("rotated %s: %s -> %s\n", path, a, b);
out:
	lm_secret_free(old_kek);
	lm_secret_free(new_kek);
	return lm_exit_code(r);
}

/* ---- the instance form ---- */

/* The rotation plaintext: old instance KEK || new instance KEK ||
 * {"instance_id", "volume_id", "new_key_id"}; ids are [a-z0-9_] only. */
static int build_rotation(const struct lm_secret *old_kek, const struct lm_secret *new_kek, const char *id,
			  const char *volume_id, const char *new_key_id, struct lm_secret **out)
{
	struct lm_secret *pt = NULL;
	char *json = NULL;
	size_t json_size;
	int r, n;

	n = asprintf(&json, "{\"instance_id\":\"%s\",\"volume_id\":\"%s\",\"new_key_id\":\"%s\"}", id, volume_id,
		     new_key_id);
	if (n < 0)
		return LM_ENOMEM;
	json_size = (size_t)n;
	if ((r = lm_secret_new(old_kek->size + new_kek->size + json_size, &pt)) < 0)
		goto out;
	memcpy(pt->data, old_kek->data, old_kek->size);
	memcpy(pt->data + old_kek->size, new_kek->data, new_kek->size);
	memcpy(pt->data + old_kek->size + new_kek->size, json, json_size);
	*out = pt;
	r = 0;
out:
	free(json);
	return r;
}

/* Seals the rotation to the attested guest key into the request body. */
static int seal_rotation(const struct lm_secret *old_cmk, const struct lm_secret *new_cmk, const char *id,
			 const char *region, const char *volume_id, const char *new_key_id, bool reencrypt,
			 const uint8_t guest_pk[static LM_X25519_BYTES], json_t **out)
{
	struct lm_secret *old_kek = NULL, *new_kek = NULL, *pt = NULL;
	uint8_t enc[LM_HPKE_ENC_BYTES], *ct = NULL;
	char info[sizeof(LM_ROTATE_INFO_PREFIX) + 64], *enc_b64 = NULL, *ct_b64 = NULL;
	size_t ct_size = 0;
	int r;

	if ((r = cli_instance_kek(old_cmk, region, id, &old_kek)) < 0 ||
	    (r = cli_instance_kek(new_cmk, region, id, &new_kek)) < 0 ||
	    (r = build_rotation(old_kek, new_kek, id, volume_id, new_key_id, &pt)) < 0)
		goto out;
	snprintf(info, sizeof(info), "%s%s", LM_ROTATE_INFO_PREFIX, id);
	if ((r = lm_hpke_seal(guest_pk, (const uint8_t *)info, strlen(info), NULL, 0, pt->data, pt->size, enc, &ct,
			      &ct_size)) < 0 ||
	    (r = lm_base64_encode(enc, sizeof(enc), &enc_b64)) < 0 ||
	    (r = lm_base64_encode(ct, ct_size, &ct_b64)) < 0)
		goto out;
	*out = json_pack("{s:s, s:s, s:b}", "enc", enc_b64, "ciphertext", ct_b64, "reencrypt", reencrypt);
	r = *out ? 0 : LM_ENOMEM;
out:
	lm_secret_free(old_kek);
	lm_secret_free(new_kek);
	lm_secret_free(pt);
	free(ct);
	free(enc_b64);
	free(ct_b64);
	return r;
}

/* The POST runs in a thread of its own (its own connection) while the
 * main thread polls the instance for the reencryption's progress. */
struct rotate_call {
	struct lm_client *c;
	char path[128];
	json_t *body, *resp;
	int r;
	volatile bool is_done;	/* set last, read after the join */
};

static void *rotate_call_run(void *arg)
{
	struct rotate_call *rc = arg;

	rc->r = cli_api(rc->c, "POST", rc->path, rc->body, &rc->resp);
	rc->is_done = true;
	return NULL;
}

static void show_progress(struct lm_client *c, const char *id, uint64_t *shown)
{
	json_t *inst = NULL, *rot;
	uint64_t done, total;

	if (cli_get_instance(c, id, &inst) < 0)
		return;
	rot = json_object_get(inst, "rotation");
	if (json_is_object(rot) && json_is_integer(json_object_get(rot, "done")) &&
	    json_is_integer(json_object_get(rot, "total")) && json_integer_value(json_object_get(rot, "total")) > 0) {
		done = (uint64_t)json_integer_value(json_object_get(rot, "done"));
		total = (uint64_t)json_integer_value(json_object_get(rot, "total"));
		if (done != *shown) {
			fprintf(stderr, "%s: reencrypting: %llu of %llu MiB (%llu%%)\n", id,
				(unsigned long long)(done >> 20), (unsigned long long)(total >> 20),
				(unsigned long long)(done * 100 / total));
			*shown = done;
		}
	}
	json_decref(inst);
}

/* POST .../rotate, showing progress for a reencryption. */
static int post_rotation(struct lm_client *c, const char *id, json_t *body, bool reencrypt, json_t **resp)
{
	struct rotate_call rc = { .body = body };
	struct timespec ts = { .tv_sec = 0, .tv_nsec = PROGRESS_MS * 1000000L };
	uint64_t shown = UINT64_MAX;
	pthread_t th;
	int r;

	snprintf(rc.path, sizeof(rc.path), "/v1/instances/%s/rotate", id);
	if (!reencrypt) {
		r = cli_api(c, "POST", rc.path, body, resp);
		return r;
	}
	fprintf(stderr, "%s: reencrypting the volume under a new volume key...\n", id);
	if ((r = cli_connect(&rc.c)) < 0)
		return r;
	if (pthread_create(&th, NULL, rotate_call_run, &rc) != 0) {
		lm_client_free(rc.c);
		return LM_EIO;
	}
	while (!rc.is_done) {
		nanosleep(&ts, NULL);
		if (!rc.is_done)
			show_progress(c, id, &shown);
	}
	pthread_join(th, NULL);
	lm_client_free(rc.c);
	*resp = rc.resp;
	return rc.r;
}

/* Brings up a guest for the rotation: pending waits for it, a stopped,
 * exited or failed instance is started (no workload: it then awaits its
 * key). *started says whether we started it. */
static int guest_up(struct lm_client *c, const struct rotate_opts *o, const char *status, bool *started)
{
	uint64_t deadline = lm_now_ms() + (uint64_t)o->timeout_s * 1000;
	json_t *cur = NULL;
	char path[128];
	int r;

	*started = false;
	if (strcmp(status, "running") == 0 || strcmp(status, "awaiting_key") == 0)
		return 0;
	if (strcmp(status, "pending") != 0) {
		snprintf(path, sizeof(path), "/v1/instances/%s/start", o->id);
		if ((r = cli_api(c, "POST", path, NULL, NULL)) < 0)
			return r;
		*started = true;
		fprintf(stderr, "%s: was %s: started for the rotation (it will await its key)\n", o->id, status);
	}
	r = cli_wait_status(c, o->id, (const char *const[]){ "awaiting_key", NULL }, "pending", deadline, &cur);
	json_decref(cur);
	return r;
}

static int rotate_instance(const struct rotate_opts *o)
{
	struct lm_secret *old_cmk = NULL, *new_cmk = NULL;
	struct lm_client *c = NULL;
	struct lm_verdict v;
	char old_id[LM_KEY_ID_STR_SIZE], new_id[LM_KEY_ID_STR_SIZE], region[128], volume_id[64], type[64],
		image[128], what_not[64];
	const char *status, *inst_key;
	uint8_t guest_pk[LM_X25519_BYTES];
	json_t *inst = NULL, *body = NULL, *resp = NULL;
	bool started = false;
	int r, ex;

	if ((ex = cli_check_id(o->id)) != LM_EXIT_OK)
		return ex;
	if ((r = lm_process_harden()) < 0)
		return cli_fail(r, "hardening the process");
	if ((ex = cli_load_cmk(o->old_key, &old_cmk, old_id)) != LM_EXIT_OK ||
	    (ex = cli_load_cmk(o->new_key, &new_cmk, new_id)) != LM_EXIT_OK)
		goto out;
	if (strcmp(old_id, new_id) == 0) {
		cli_error("--old-key and --new-key are the same key (%s)", old_id);
		ex = LM_EXIT_USAGE;
		goto out;
	}
	if ((r = cli_connect(&c)) < 0 || (r = cli_get_instance(c, o->id, &inst)) < 0) {
		ex = lm_exit_code(r);
		goto out;
	}
	status = lm_json_str(inst, "status");
	inst_key = lm_json_str(inst, "key_id");
	if (!status || !inst_key || !lm_json_str(inst, "region") || !lm_json_str(inst, "volume_id") ||
	    !lm_json_str(inst, "type") || !lm_json_str(inst, "image")) {
		cli_error("%s: the platform sent an instance without status, key, region, volume, type or image", o->id);
		ex = LM_EXIT_FAIL;
		goto out;
	}
	/* Refused before anything is touched, naming the key needed. */
	if (strcmp(inst_key, old_id) != 0) {
		cli_error("%s is keyed with %s; --old-key %s is %s", o->id, *inst_key ? inst_key : "(no key id)",
			  o->old_key, old_id);
		ex = LM_EXIT_KEY;
		goto out;
	}
	if (o->reencrypt && strcmp(status, "running") == 0) {
		cli_error("%s is running: a reencryption needs it stopped first (lambda stop instance %s)", o->id,
			  o->id);
		ex = LM_EXIT_FAIL;
		goto out;
	}
	snprintf(region, sizeof(region), "%s", lm_json_str(inst, "region"));
	snprintf(volume_id, sizeof(volume_id), "%s", lm_json_str(inst, "volume_id"));
	snprintf(type, sizeof(type), "%s", lm_json_str(inst, "type"));
	snprintf(image, sizeof(image), "%s", lm_json_str(inst, "image"));
	if ((r = guest_up(c, o, status, &started)) < 0) {
		ex = lm_exit_code(r);
		goto out;
	}

	/* The same attestation as a key release: nothing is sealed to a
	 * guest whose evidence did not verify. */
	snprintf(what_not, sizeof(what_not), "no key sent, nothing rotated");
	ex = cli_attest_instance(c,
				 &(struct cli_attest_opts){ .type = type, .image = image,
							    .expect_measurement = o->expect_measurement,
							    .allow_sim = o->allow_sim,
							    .config_sim = !o->allow_sim && cli_config_allows_simulated(),
							    .what_not = what_not },
				 o->id, guest_pk, &v);
	if (ex != LM_EXIT_OK)
		goto out;
	if ((r = seal_rotation(old_cmk, new_cmk, o->id, region, volume_id, new_id, o->reencrypt, guest_pk, &body)) <
	    0) {
		ex = cli_fail(r, "sealing the rotation");
		goto out;
	}
	lm_secret_free(old_cmk);
	lm_secret_free(new_cmk);
	old_cmk = new_cmk = NULL;
	if ((r = post_rotation(c, o->id, body, o->reencrypt, &resp)) < 0) {
		ex = lm_exit_code(r);
		goto out;
	}
	if (o->json) {
		char *s = json_dumps(resp, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

		if (!s) {
			ex = cli_fail(LM_ENOMEM, "formatting JSON");
			goto out;
		}
		puts(s);
		free(s);
	} else {
		printf("rotated %s: %s -> %s (%s)\n", o->id, old_id, new_id,
		       o->reencrypt ? "volume key replaced, data reencrypted" : "keyslot re-wrapped");
	}
	if (started)
		fprintf(stderr, "%s awaits its key: lambda start instance %s --encryption-key %s -- CMD...\n", o->id,
			o->id, o->new_key);
	ex = LM_EXIT_OK;
out:
	lm_memzero(guest_pk, sizeof(guest_pk));
	lm_secret_free(old_cmk);
	lm_secret_free(new_cmk);
	json_decref(inst);
	json_decref(body);
	json_decref(resp);
	lm_client_free(c);
	return ex;
}

int cmd_key_rotate(int argc, char **argv)
{
	struct rotate_opts o = { .timeout_s = ROTATE_TIMEOUT_S };
	const char *file = NULL;
	bool is_instance_opt = false;
	int c;

	while ((c = getopt_long(argc, argv, "", rotate_opts, NULL)) != -1) {
		switch (c) {
		case OPT_FILE: file = optarg; break;
		case OPT_OLD: o.old_key = optarg; break;
		case OPT_NEW: o.new_key = optarg; break;
		case OPT_REENCRYPT: o.reencrypt = is_instance_opt = true; break;
		case OPT_MEASUREMENT: o.expect_measurement = optarg; is_instance_opt = true; break;
		case OPT_SIM: o.allow_sim = is_instance_opt = true; break;
		case OPT_JSON: o.json = is_instance_opt = true; break;
		case OPT_TIMEOUT: {
			char *end;
			unsigned long t = strtoul(optarg, &end, 10);

			if (*optarg == '-' || *end || t == 0 || t > 86400) {
				cli_error("--timeout: '%s' is not a number of seconds (1..86400)", optarg);
				return LM_EXIT_USAGE;
			}
			o.timeout_s = (unsigned)t;
			is_instance_opt = true;
			break;
		}
		default: return LM_EXIT_USAGE;
		}
	}
	if (!o.old_key || !o.new_key || (file ? optind != argc : optind != argc - 1)) {
		cli_error("usage: lambda key rotate (--file F | INST [--reencrypt]) --old-key A --new-key B");
		return LM_EXIT_USAGE;
	}
	if (file && is_instance_opt) {
		cli_error("--reencrypt, --expect-measurement, --allow-simulated-insecure, --timeout and --json are "
			  "for an instance, not --file");
		return LM_EXIT_USAGE;
	}
	if (file)
		return rotate_file(file, o.old_key, o.new_key);
	o.id = argv[optind];
	return rotate_instance(&o);
}
