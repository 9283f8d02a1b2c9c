/* Unit tests for agent/: the guest channel frame parser, and the agent and
 * lambda-guest end to end (simulated evidence, process runtime): launch,
 * attest, wrong-key and right-key release, encrypted logs, exit code,
 * delete with and without the volume. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include "../../agent/channel.h"
#include "lambda/agent.h"
#include "lambda/attest.h"
#include "lambda/crypto.h"
#include "lambda/runtime.h"
#include "lambda/secret.h"
#include "lambda/util.h"
#include "lambda/volume.h"

/* ---- frame parser ---- */

struct frames {
	json_t *got[8];
	size_t count;
	int fail_with;
};

static int collect(void *ctx, json_t *msg)
{
	struct frames *f = ctx;

	if (f->fail_with)
		return f->fail_with;
	assert_true(f->count < 8);
	f->got[f->count++] = json_incref(msg);
	return 0;
}

static void frames_clear(struct frames *f)
{
	for (size_t i = 0; i < f->count; i++)
		json_decref(f->got[i]);
	memset(f, 0, sizeof(*f));
}

static void header(uint8_t out[4], uint32_t n)
{
	out[0] = (uint8_t)(n >> 24);
	out[1] = (uint8_t)(n >> 16);
	out[2] = (uint8_t)(n >> 8);
	out[3] = (uint8_t)n;
}

static void test_frames_split(void **state)
{
	json_t *a = json_pack("{s:i, s:s}", "id", 1, "op", "attest");
	json_t *b = json_pack("{s:s, s:s}", "event", "status", "status", "running");
	uint8_t *fa, *fb, both[512];
	size_t na, nb;
	struct lm_chan_parser p;
	struct frames f = { 0 };

	(void)state;
	assert_int_equal(lm_chan_encode(a, &fa, &na), 0);
	assert_int_equal(lm_chan_encode(b, &fb, &nb), 0);
	assert_true(na + nb <= sizeof(both));
	memcpy(both, fa, na);
	memcpy(both + na, fb, nb);
	/* One byte at a time: headers and bodies split everywhere. */
	lm_chan_init(&p, collect, &f);
	for (size_t i = 0; i < na + nb; i++) {
		assert_int_equal(lm_chan_feed(&p, both + i, 1), 0);
		assert_int_equal(f.count, i + 1 < na ? 0 : i + 1 < na + nb ? 1 : 2);
	}
	assert_int_equal(lm_chan_finish(&p), 0);
	assert_int_equal(f.count, 2);
	assert_true(json_equal(f.got[0], a));
	assert_true(json_equal(f.got[1], b));
	frames_clear(&f);
	/* Both frames in one call. */
	lm_chan_init(&p, collect, &f);
	assert_int_equal(lm_chan_feed(&p, both, na + nb), 0);
	assert_int_equal(lm_chan_finish(&p), 0);
	assert_int_equal(f.count, 2);
	frames_clear(&f);
	free(fa);
	free(fb);
	json_decref(a);
	json_decref(b);
}

static void test_frames_truncated(void **state)
{
	json_t *a = json_pack("{s:i}", "id", 7);
	struct lm_chan_parser p;
	struct frames f = { 0 };
	uint8_t *fa;
	size_t na;

	(void)state;
	assert_int_equal(lm_chan_encode(a, &fa, &na), 0);
	/* Inside the header. */
	lm_chan_init(&p, collect, &f);
	assert_int_equal(lm_chan_feed(&p, fa, 2), 0);
	assert_int_equal(lm_chan_finish(&p), LM_EFORMAT);
	/* Inside the body. */
	lm_chan_init(&p, collect, &f);
	assert_int_equal(lm_chan_feed(&p, fa, na - 1), 0);
	assert_int_equal(lm_chan_finish(&p), LM_EFORMAT);
	assert_int_equal(f.count, 0);
	/* Empty stream. */
	lm_chan_init(&p, collect, &f);
	assert_int_equal(lm_chan_finish(&p), 0);
	free(fa);
	json_decref(a);
}

static void test_frames_limits(void **state)
{
	struct lm_chan_parser p;
	struct frames f = { 0 };
	uint8_t h[4];
	char *body;
	size_t n = LM_CHAN_FRAME_MAX;

	(void)state;
	/* Zero length. */
	lm_chan_init(&p, collect, &f);
	header(h, 0);
	assert_int_equal(lm_chan_feed(&p, h, 4), LM_EFORMAT);
	assert_int_equal(lm_chan_finish(&p), LM_EFORMAT);
	/* One byte over the limit; the error is sticky. */
	lm_chan_init(&p, collect, &f);
	header(h, LM_CHAN_FRAME_MAX + 1);
	assert_int_equal(lm_chan_feed(&p, h, 4), LM_ETOOBIG);
	assert_int_equal(lm_chan_feed(&p, (const uint8_t *)"{}", 2), LM_ETOOBIG);
	assert_int_equal(lm_chan_finish(&p), LM_ETOOBIG);
	lm_chan_init(&p, collect, &f);
	header(h, 0xffffffffu);
	assert_int_equal(lm_chan_feed(&p, h, 4), LM_ETOOBIG);
	assert_int_equal(lm_chan_finish(&p), LM_ETOOBIG);
	/* Exactly the limit is accepted. */
	body = malloc(n);
	assert_non_null(body);
	memset(body, 'x', n);
	memcpy(body, "{\"a\":\"", 6);
	memcpy(body + n - 2, "\"}", 2);
	lm_chan_init(&p, collect, &f);
	header(h, (uint32_t)n);
	assert_int_equal(lm_chan_feed(&p, h, 4), 0);
	assert_int_equal(lm_chan_feed(&p, (uint8_t *)body, n), 0);
	assert_int_equal(lm_chan_finish(&p), 0);
	assert_int_equal(f.count, 1);
	assert_int_equal(strlen(json_string_value(json_object_get(f.got[0], "a"))), n - 8);
	frames_clear(&f);
	free(body);
}

static void feed_one(const char *body, int expect)
{
	struct lm_chan_parser p;
	struct frames f = { 0 };
	uint8_t h[4];

	lm_chan_init(&p, collect, &f);
	header(h, (uint32_t)strlen(body));
	assert_int_equal(lm_chan_feed(&p, h, 4), 0);
	assert_int_equal(lm_chan_feed(&p, (const uint8_t *)body, strlen(body)), expect);
	assert_int_equal(lm_chan_finish(&p), expect);
	assert_int_equal(f.count, expect ? 0 : 1);
	frames_clear(&f);
}

static void test_frames_bad_json(void **state)
{
	(void)state;
	feed_one("{\"id\":1}", 0);
	feed_one("{\"id\":1", LM_EFORMAT);
	feed_one("[1,2]", LM_EFORMAT);
	feed_one("\"str\"", LM_EFORMAT);
	feed_one("{\"id\":1} x", LM_EFORMAT);
	feed_one("{\"id\":1,\"id\":2}", LM_EFORMAT);
	feed_one("{\"a\":\"\xff\xfe\"}", LM_EFORMAT);
}

static void test_frames_callback_error(void **state)
{
	json_t *a = json_pack("{s:i}", "id", 1);
	struct lm_chan_parser p;
	struct frames f = { .fail_with = LM_EINVAL };
	uint8_t *fa;
	size_t na;

	(void)state;
	assert_int_equal(lm_chan_encode(a, &fa, &na), 0);
	lm_chan_init(&p, collect, &f);
	assert_int_equal(lm_chan_feed(&p, fa, na), LM_EINVAL);
	f.fail_with = 0;
	assert_int_equal(lm_chan_feed(&p, fa, na), LM_EINVAL);
	assert_int_equal(lm_chan_finish(&p), LM_EINVAL);
	assert_int_equal(f.count, 0);
	free(fa);
	json_decref(a);
	a = json_array();
	assert_int_equal(lm_chan_encode(a, &fa, &na), LM_EINVAL);
	json_decref(a);
}

/* ---- end to end ---- */

/* Random per run: a stale cgroup or directory of an earlier run cannot clash. */
static char g_inst[32];
#define INST g_inst
#define VOL "vol_agenttest01"
#define REGION "local"
#define WAIT_MS 60000

struct e2e {
	struct event_base *base;
	struct lm_agent *agent;
	char dir[64];
	char guest[PATH_MAX];
	const char *type;
	char last_status[16];
	int exit_code;
	unsigned status_count;
	bool has_reply;
	int reply_r;
	char *reply_body;
	char reply_error[256];
};

static void on_status(void *ctx, const char *id, const char *status, int exit_code)
{
	struct e2e *t = ctx;

	assert_string_equal(id, INST);
	snprintf(t->last_status, sizeof(t->last_status), "%s", status);
	t->exit_code = exit_code;
	t->status_count++;
}

static void on_reply(void *ctx, int r, const char *body, const char *error_message)
{
	struct e2e *t = ctx;

	t->has_reply = true;
	t->reply_r = r;
	free(t->reply_body);
	t->reply_body = body ? strdup(body) : NULL;
	snprintf(t->reply_error, sizeof(t->reply_error), "%s", error_message ? error_message : "");
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
}

/* Runs the loop until status is reached (or a reply arrived, status NULL). */
static bool run_until(struct e2e *t, const char *status)
{
	uint64_t deadline = lm_now_ms() + WAIT_MS;

	while (lm_now_ms() < deadline) {
		if (status ? strcmp(t->last_status, status) == 0 : t->has_reply)
			return true;
		event_base_loop(t->base, EVLOOP_ONCE);
	}
	return false;
}

static void wait_reply(struct e2e *t)
{
	assert_true(run_until(t, NULL));
	t->has_reply = false;
}

static bool find_guest(char *out, size_t size)
{
	const char *env = getenv("LAMBDA_GUEST");
	char self[PATH_MAX - 32];
	ssize_t n;

	if (env) {
		snprintf(out, size, "%s", env);
		return access(out, X_OK) == 0;
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return false;
	self[n] = 0;
	*strrchr(self, '/') = 0;
	/* build/tests/unit/test_agent -> build/guest/lambda-guest */
	snprintf(out, size, "%s/../../guest/lambda-guest", self);
	return access(out, X_OK) == 0;
}

static void launch(struct e2e *t)
{
	struct lm_launch l = { .instance_id = INST, .type = t->type, .image = "host", .volume_id = VOL,
			       .volume_size = LM_VOLUME_MIN_SIZE };

	t->last_status[0] = 0;
	assert_int_equal(lm_agent_launch(t->agent, &l), 0);
	assert_true(run_until(t, "awaiting_key"));
}

/* Attests with a fresh nonce, verifies the evidence, returns the guest key. */
static void attest(struct e2e *t, uint8_t pk[static LM_X25519_BYTES])
{
	uint8_t nonce[32], other[32], meas[LM_SIM_MEASUREMENT_BYTES];
	struct lm_policy policy = { 0 };
	struct lm_verdict v;
	struct lm_evidence *ev;
	const char *pk_hex;

	assert_int_equal(lm_random(nonce, sizeof(nonce)), 0);
	assert_int_equal(lm_agent_attest(t->agent, INST, nonce, sizeof(nonce), on_reply, t), 0);
	wait_reply(t);
	assert_int_equal(t->reply_r, 0);
	assert_non_null(t->reply_body);
	assert_int_equal(lm_evidence_parse((uint8_t *)t->reply_body, strlen(t->reply_body), &ev), 0);
	assert_string_equal(ev->instance_id, INST);
	assert_int_equal(lm_sim_measurement(meas, "host", t->type, "process-v1"), 0);
	policy.allow_simulated_insecure = true;
	policy.expect_nonce = nonce;
	policy.expect_nonce_size = sizeof(nonce);
	policy.expect_measurement = meas;
	policy.expect_measurement_size = sizeof(meas);
	assert_int_equal(lm_verify_evidence(ev, &policy, &v), 0);
	assert_true(v.verified);
	/* Negative: another nonce, and simulated evidence without the switch. */
	memcpy(other, nonce, sizeof(other));
	other[0] ^= 1;
	policy.expect_nonce = other;
	assert_int_equal(lm_verify_evidence(ev, &policy, &v), 0);
	assert_false(v.verified);
	policy.expect_nonce = nonce;
	policy.allow_simulated_insecure = false;
	assert_int_equal(lm_verify_evidence(ev, &policy, &v), 0);
	assert_false(v.verified);
	pk_hex = lm_evidence_info(ev, "guest_public_key");
	assert_non_null(pk_hex);
	assert_int_equal(lm_hex_decode(pk, LM_X25519_BYTES, pk_hex), 0);
	lm_evidence_free(ev);
}

static char *seal_script(const uint8_t pk[static LM_X25519_BYTES], const struct lm_secret *kek,
			 const char *instance_id, const char *script)
{
	char info[128], payload[640], *enc_b64, *ct_b64, *out;
	uint8_t pt[LM_KEY_BYTES + sizeof(payload)], enc[LM_HPKE_ENC_BYTES], *ct;
	size_t ct_size;
	int n;

	n = snprintf(payload, sizeof(payload),
		     "{\"instance_id\":\"%s\",\"volume_id\":\"" VOL "\","
		     "\"args\":[\"/bin/sh\",\"-c\",\"%s\"],"
		     "\"env\":[\"SECRET_TOKEN=do-not-store\"]}",
		     instance_id, script);
	assert_true(n > 0 && (size_t)n < sizeof(payload));
	memcpy(pt, kek->data, LM_KEY_BYTES);
	memcpy(pt + LM_KEY_BYTES, payload, (size_t)n);
	snprintf(info, sizeof(info), "%s%s", LM_HPKE_INFO_PREFIX, INST);
	assert_int_equal(lm_hpke_seal(pk, (uint8_t *)info, strlen(info), NULL, 0, pt, LM_KEY_BYTES + (size_t)n,
				      enc, &ct, &ct_size),
			 0);
	lm_memzero(pt, sizeof(pt));
	assert_int_equal(lm_base64_encode(enc, sizeof(enc), &enc_b64), 0);
	assert_int_equal(lm_base64_encode(ct, ct_size, &ct_b64), 0);
	assert_true(asprintf(&out, "{\"enc\":\"%s\",\"ciphertext\":\"%s\"}", enc_b64, ct_b64) > 0);
	free(enc_b64);
	free(ct_b64);
	free(ct);
	return out;
}

static char *seal(const uint8_t pk[static LM_X25519_BYTES], const struct lm_secret *kek, const char *instance_id)
{
	return seal_script(pk, kek, instance_id, "echo hello; exit 3");
}

static void release_expect(struct e2e *t, const char *sealed, int expect_ok)
{
	unsigned before = t->status_count;

	assert_int_equal(lm_agent_release(t->agent, INST, sealed, on_reply, t), 0);
	wait_reply(t);
	if (expect_ok) {
		assert_int_equal(t->reply_r, 0);
		return;
	}
	assert_true(t->reply_r < 0);
	assert_true(t->reply_error[0] != 0);
	/* Still awaiting a key: no status change was reported. */
	assert_int_equal(t->status_count, before);
	assert_string_equal(t->last_status, "awaiting_key");
}

static struct lm_secret *instance_kek(const struct lm_secret *cmk)
{
	struct lm_secret *region = NULL, *kek = NULL;

	assert_int_equal(lm_key_region_kek(&region, cmk, REGION), 0);
	assert_int_equal(lm_key_instance_kek(&kek, region, INST), 0);
	lm_secret_free(region);
	return kek;
}

/* Decrypts logs.enc and checks that stdout said hello. */
static void check_logs(struct e2e *t, const struct lm_secret *kek)
{
	struct lm_secret *log_key = NULL;
	uint8_t *logs;
	size_t size, off = 0;
	bool has_hello = false;
	uint64_t expect_seq = 0;

	assert_int_equal(lm_key_instance_logs(&log_key, kek), 0);
	assert_int_equal(lm_agent_logs(t->agent, INST, &logs, &size), 0);
	assert_true(size > 0);
	while (off < size) {
		size_t used, msg_size;
		uint8_t *msg;
		uint64_t seq;
		int stream;

		assert_int_equal(lm_logrec_open(log_key, INST, logs + off, size - off, &used, &stream, &seq, &msg,
						&msg_size),
				 0);
		assert_int_equal(seq, expect_seq++);
		if (stream == 1 && msg_size >= 5 && memmem(msg, msg_size, "hello", 5))
			has_hello = true;
		free(msg);
		off += used;
	}
	assert_true(has_hello);
	/* Negative: a flipped bit fails authentication. */
	{
		size_t used, msg_size;
		uint8_t *msg;
		uint64_t seq;
		int stream;

		logs[size > 40 ? 40 : size - 1] ^= 1;
		assert_int_not_equal(lm_logrec_open(log_key, INST, logs, size, &used, &stream, &seq, &msg, &msg_size),
				     0);
	}
	free(logs);
	lm_secret_free(log_key);
}

/* No file the host keeps may hold the env or the arguments. */
static void check_no_plaintext(const char *inst_dir)
{
	DIR *d = opendir(inst_dir);
	struct dirent *de;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		char path[PATH_MAX + 512];
		uint8_t *buf;
		size_t size;

		if (de->d_name[0] == '.' || strcmp(de->d_name, "volume.img") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", inst_dir, de->d_name);
		if (lm_file_read(path, LM_FILE_MAX, &buf, &size) < 0)
			continue;
		assert_null(memmem(buf, size, "do-not-store", 12));
		assert_null(memmem(buf, size, "echo hello", 10));
		free(buf);
	}
	closedir(d);
}

static void test_end_to_end(void **state)
{
	const struct lm_runtime_ops *rt = lm_runtime_find("process");
	struct e2e t = { .exit_code = -2 };
	struct lm_agent_config cfg = { 0 };
	struct lm_secret *cmk = NULL, *kek = NULL, *wrong_cmk = NULL, *wrong_kek = NULL, *other_sk = NULL;
	uint8_t pk[LM_X25519_BYTES], other_pk[LM_X25519_BYTES];
	char inst_dir[PATH_MAX], vol_path[PATH_MAX + 16], *sealed;
	struct event *tick;
	struct timeval tv = { 0, 50 * 1000 };
	struct stat st;

	(void)state;
	if (!rt || rt->probe() < 0) {
		fprintf(stderr, "skipping the end-to-end test: the process runtime (bubblewrap, user "
				"namespaces) is not usable here\n");
		skip();
		return;
	}
	assert_true(find_guest(t.guest, sizeof(t.guest)));
	t.type = lm_instance_types[0].name;
	assert_int_equal(lm_id_new(g_inst, sizeof(g_inst), "inst"), 0);
	snprintf(t.dir, sizeof(t.dir), "/tmp/lm-agent-XXXXXX");
	assert_non_null(mkdtemp(t.dir));
	snprintf(inst_dir, sizeof(inst_dir), "%s/instances/%s", t.dir, INST);
	snprintf(vol_path, sizeof(vol_path), "%s/volume.img", inst_dir);
	t.base = event_base_new();
	assert_non_null(t.base);
	tick = event_new(t.base, -1, EV_PERSIST, on_tick, NULL);
	assert_int_equal(event_add(tick, &tv), 0);
	cfg.state_dir = t.dir;
	cfg.guest_path = t.guest;
	cfg.backend = "simulated";
	cfg.runtime = "process";
	cfg.on_status = on_status;
	cfg.ctx = &t;
	assert_int_equal(lm_agent_new(t.base, &cfg, &t.agent), 0);
	assert_int_equal(lm_cmk_generate(&cmk), 0);
	assert_int_equal(lm_cmk_generate(&wrong_cmk), 0);
	kek = instance_kek(cmk);
	wrong_kek = instance_kek(wrong_cmk);

	launch(&t);
	assert_int_equal(stat(inst_dir, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	attest(&t, pk);

	/* Sealed to another key: the guest cannot open it. */
	assert_int_equal(lm_hpke_keygen(other_pk, &other_sk), 0);
	sealed = seal(other_pk, kek, INST);
	release_expect(&t, sealed, 0);
	free(sealed);
	/* Opens, but names another instance. */
	sealed = seal(pk, kek, "inst_someoneelse");
	release_expect(&t, sealed, 0);
	free(sealed);
	/* Not a sealed blob at all: refused before it reaches the guest. */
	assert_int_equal(lm_agent_release(t.agent, INST, "{\"enc\":1}", on_reply, &t), LM_EINVAL);

	sealed = seal(pk, kek, INST);
	release_expect(&t, sealed, 1);
	assert_true(run_until(&t, "failed"));
	assert_int_equal(t.exit_code, 3);
	/* Accepted once. */
	assert_int_equal(lm_agent_release(t.agent, INST, sealed, on_reply, &t), LM_ESTATE);
	free(sealed);
	check_logs(&t, kek);
	check_no_plaintext(inst_dir);
	assert_int_equal(stat(vol_path, &st), 0);
	assert_int_equal(lm_volume_check_header(vol_path), 0);

	/* Delete keeping the volume, relaunch: the volume is unlocked only by
	 * the right instance KEK. */
	assert_int_equal(lm_agent_delete(t.agent, INST, true), 0);
	assert_int_equal(stat(vol_path, &st), 0);
	assert_int_not_equal(access(inst_dir, F_OK) == 0 && access(vol_path, F_OK) == 0, 0);
	{
		char logs_path[PATH_MAX + 16];

		snprintf(logs_path, sizeof(logs_path), "%s/logs.enc", inst_dir);
		assert_int_not_equal(access(logs_path, F_OK), 0);
	}
	launch(&t);
	attest(&t, pk);
	sealed = seal(pk, wrong_kek, INST);
	release_expect(&t, sealed, 0);
	assert_int_equal(t.reply_r, LM_EWRONGKEY);
	free(sealed);
	sealed = seal(pk, kek, INST);
	release_expect(&t, sealed, 1);
	free(sealed);
	assert_true(run_until(&t, "failed"));
	assert_int_equal(t.exit_code, 3);

	assert_int_equal(lm_agent_delete(t.agent, INST, false), 0);
	assert_int_not_equal(access(inst_dir, F_OK), 0);
	assert_int_equal(lm_agent_delete(t.agent, INST, false), LM_ENOENT);
	assert_int_equal(lm_agent_attest(t.agent, INST, pk, 16, on_reply, &t), LM_ENOENT);

	/* Deleting a running workload stops it well before the SIGKILL
	 * deadline and reports nothing more. */
	launch(&t);
	attest(&t, pk);
	sealed = seal_script(pk, kek, INST, "echo started; exec sleep 60");
	release_expect(&t, sealed, 1);
	free(sealed);
	assert_true(run_until(&t, "running"));
	{
		uint64_t start = lm_now_ms();
		unsigned before = t.status_count;

		assert_int_equal(lm_agent_delete(t.agent, INST, false), 0);
		assert_true(lm_now_ms() - start < 4000);
		assert_int_not_equal(access(inst_dir, F_OK), 0);
		for (int i = 0; i < 5; i++)
			event_base_loop(t.base, EVLOOP_ONCE);
		assert_int_equal(t.status_count, before);
	}
	/* A running instance is stopped by lm_agent_free(). */
	launch(&t);
	attest(&t, pk);
	sealed = seal_script(pk, kek, INST, "exec sleep 60");
	release_expect(&t, sealed, 1);
	free(sealed);
	assert_true(run_until(&t, "running"));
	{
		uint64_t start = lm_now_ms();

		int wst;

		lm_agent_free(t.agent);
		assert_true(lm_now_ms() - start < 4000);
		/* Every guest was reaped. */
		assert_int_equal(waitpid(-1, &wst, WNOHANG), -1);
		assert_int_equal(errno, ECHILD);
	}
	event_free(tick);
	event_base_free(t.base);
	free(t.reply_body);
	lm_secret_free(cmk);
	lm_secret_free(kek);
	lm_secret_free(wrong_cmk);
	lm_secret_free(wrong_kek);
	lm_secret_free(other_sk);
	assert_int_equal(lm_rm_rf(t.dir), 0);
}

/* Bad configuration, ids that would leave the state directory, unknown
 * instances, a simulated key that others can read. */
static void test_agent_rejects_bad_input(void **state)
{
	char dir[] = "/tmp/lm-agent-XXXXXX";
	struct lm_agent_config cfg = { 0 };
	struct lm_agent *agent;
	struct event_base *base;
	struct lm_launch l = { .instance_id = "../evil", .type = "x", .image = "host", .volume_id = "vol_1",
			       .volume_size = LM_VOLUME_MIN_SIZE };
	char key_path[64];
	struct stat st;

	(void)state;
	assert_non_null(mkdtemp(dir));
	base = event_base_new();
	assert_non_null(base);
	cfg.state_dir = dir;
	cfg.guest_path = "/bin/true";
	cfg.backend = "sev-snp";
	assert_int_equal(lm_agent_new(base, &cfg, &agent), LM_ENOTSUP);
	cfg.backend = "simulated";
	assert_int_equal(lm_agent_new(base, &cfg, &agent), 0);
	snprintf(key_path, sizeof(key_path), "%s/sim-attest.key", dir);
	assert_int_equal(stat(key_path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(lm_agent_launch(agent, &l), LM_EINVAL);
	l.instance_id = "inst_x";
	l.volume_id = "vol/../x";
	assert_int_equal(lm_agent_launch(agent, &l), LM_EINVAL);
	assert_int_equal(lm_agent_attest(agent, "inst_none", (const uint8_t *)"0123456789abcdef", 16, on_reply,
					 NULL),
			 LM_ENOENT);
	assert_int_equal(lm_agent_delete(agent, "inst_none", false), LM_ENOENT);
	assert_int_equal(lm_agent_delete(agent, "..", false), LM_EINVAL);
	lm_agent_free(agent);
	/* A key readable by others is refused. */
	assert_int_equal(chmod(key_path, 0644), 0);
	assert_int_equal(lm_agent_new(base, &cfg, &agent), LM_EKEYPERM);
	event_base_free(base);
	assert_int_equal(lm_rm_rf(dir), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_frames_split),
		cmocka_unit_test(test_frames_truncated),
		cmocka_unit_test(test_frames_limits),
		cmocka_unit_test(test_frames_bad_json),
		cmocka_unit_test(test_frames_callback_error),
		cmocka_unit_test(test_agent_rejects_bad_input),
		cmocka_unit_test(test_end_to_end),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
