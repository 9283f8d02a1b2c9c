/* lambda-guest: the key holder inside one instance (DESIGN.md section 2,
 * steps 2-4). Started by the agent with the guest channel on fd 3, it makes
 * an ephemeral X25519 key pair, answers attestation requests with evidence
 * binding that key to the verifier's nonce, accepts one sealed key release,
 * derives the volume and log keys from the instance KEK, creates or unlocks
 * the LUKS2 volume, starts the workload and sends its stdout and stderr as
 * encrypted log records. It answers a fixed request table (attest, release
 * once, rotate the volume's key, stop); env, arguments and keys never leave
 * it in plaintext. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "channel.h"
#include "lambda/agent.h"
#include "lambda/attest.h"
#include "lambda/crypto.h"
#include "lambda/json.h"
#include "lambda/log.h"
#include "lambda/runtime.h"
#include "lambda/secret.h"
#include "lambda/util.h"
#include "lambda/volume.h"

#define CHAN_FD 3
#define SANDBOX_PROFILE "process-v1"
#define SIM_KEY_MAX (64u << 10)
#define LOG_CHUNK 16384			/* <= LM_LOGREC_MAX_MESSAGE */
#define ARGS_MAX 1024
#define ENV_MAX 1024
#define STREAMS 2			/* stdout (1), stderr (2) */
/* Where unlocked volumes are mounted (LM_GUEST_RUN_ROOT, channel.h):
 * outside the agent's 0700 instance tree, since the sandboxed uid must
 * traverse to run_dir/data to bind it. */
#define VOLUME_RUN_ROOT LM_GUEST_RUN_ROOT

struct guest {
	char *dir;
	json_t *launch;			/* launch.json as written by the agent */
	const char *instance_id, *type, *image, *volume_id;
	uint64_t volume_size;
	bool is_restart;		/* launch.json "existing_volume": never make one */
	const struct lm_instance_type *itype;
	const struct lm_runtime_ops *rt;
	uint8_t *sim_key;		/* PEM: stands for the TEE hardware */
	size_t sim_key_size;
	uint8_t pk[LM_X25519_BYTES];
	struct lm_secret *sk;
	uint8_t measurement[LM_SIM_MEASUREMENT_BYTES];
	struct lm_chan_parser parser;
	bool is_released;
	bool is_stopping;
	struct lm_secret *log_key;	/* while the workload runs */
	struct lm_workload *wl;
	struct lm_volume *vol;		/* mounted while the workload may run */
	pid_t wl_pid;
	int wl_pidfd;
	int out_fd[STREAMS];		/* read ends of the workload's pipes */
	uint64_t seq;
};

static volatile sig_atomic_t g_term;
/* The instance id for log lines: a copy, since the launch document that
 * holds the id is freed before the last message. */
static char g_log_id[64] = "";

/* ---- process set-up ---- */

static void on_log(enum lm_log_level level, const char *msg, void *ctx)
{
	static const char *const names[] = { "error", "warning", "info", "debug" };

	(void)ctx;
	if (level == LM_LOG_DEBUG)
		return;
	fprintf(stderr, "lambda-guest[%s]: %s: %s\n", g_log_id, names[level], msg);
}

/* jansson's memory may hold env and arguments from the released blob:
 * wipe every block it frees. Stays compatible with free(), since the
 * allocation is plain malloc. */
static void wiping_free(void *p)
{
	if (!p)
		return;
	lm_memzero(p, malloc_usable_size(p));
	free(p);
}

static void on_term(int sig)
{
	(void)sig;
	g_term = 1;
}

static int install_signals(void)
{
	struct sigaction sa = { 0 };

	sa.sa_handler = on_term;	/* no SA_RESTART: poll() must return */
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGTERM, &sa, NULL) != 0 || sigaction(SIGINT, &sa, NULL) != 0)
		return LM_EIO;
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

/* ---- the channel ---- */

static int send_msg(json_t *msg)
{
	int r;

	if (!msg)
		return LM_ENOMEM;
	r = lm_chan_write(CHAN_FD, msg);
	json_decref(msg);
	return r;
}

static int send_status(const char *status)
{
	return send_msg(json_pack("{s:s, s:s}", "event", "status", "status", status));
}

static int reply_error(json_int_t id, int code, const char *message)
{
	lm_warn("request %lld failed: %s", (long long)id, message);
	return send_msg(json_pack("{s:I, s:b, s:s, s:i}", "id", id, "ok", 0, "error", message, "code", code));
}

/* ---- launch description ---- */

/* The optional restart fields: "existing_volume" (true) and "log_seq", the
 * sequence number the agent saw after the last stored log record. A seq
 * set too low by the host only makes `lambda logs` report records out of
 * order: the seq is authenticated in every record. */
static int load_restart(struct guest *g, const char *path)
{
	json_t *ex = json_object_get(g->launch, "existing_volume"), *seq = json_object_get(g->launch, "log_seq");

	if ((ex && !json_is_boolean(ex)) || (seq && (!json_is_integer(seq) || json_integer_value(seq) < 0))) {
		lm_err("%s: bad existing_volume or log_seq", path);
		return LM_EFORMAT;
	}
	g->is_restart = json_is_true(ex);
	g->seq = seq ? (uint64_t)json_integer_value(seq) : 0;
	return 0;
}

static int load_launch(struct guest *g)
{
	static const char *const keys[] = { "instance_id", "type", "image", "volume_id", "volume_size", "sandbox",
					    "existing_volume", "log_seq", NULL };
	char *path = NULL, bad[64] = "";
	uint8_t *text = NULL;
	json_t *size;
	size_t n;
	int r;

	if (asprintf(&path, "%s/launch.json", g->dir) < 0)
		return LM_ENOMEM;
	if ((r = lm_file_read(path, 1u << 16, &text, &n)) < 0)
		goto out;
	g->launch = json_loadb((const char *)text, n, JSON_REJECT_DUPLICATES, NULL);
	r = LM_EFORMAT;
	if (!json_is_object(g->launch)) {
		lm_err("%s: not a JSON object", path);
		goto out;
	}
	if (lm_json_only_keys(g->launch, keys, bad, sizeof(bad)) < 0) {
		lm_err("%s: unknown field '%s'", path, bad);
		goto out;
	}
	g->instance_id = lm_json_str(g->launch, "instance_id");
	g->type = lm_json_str(g->launch, "type");
	g->image = lm_json_str(g->launch, "image");
	g->volume_id = lm_json_str(g->launch, "volume_id");
	size = json_object_get(g->launch, "volume_size");
	if (!g->instance_id || !g->type || !g->image || !g->volume_id || !json_is_integer(size) ||
	    json_integer_value(size) <= 0 || !lm_json_str(g->launch, "sandbox") ||
	    strcmp(lm_json_str(g->launch, "sandbox"), SANDBOX_PROFILE) != 0) {
		lm_err("%s: missing or bad field", path);
		goto out;
	}
	g->volume_size = (uint64_t)json_integer_value(size);
	if ((r = load_restart(g, path)) < 0)
		goto out;
	snprintf(g_log_id, sizeof(g_log_id), "%s", g->instance_id);
	r = 0;
out:
	free(text);
	free(path);
	return r;
}

/* ---- attest ---- */

static int op_attest(struct guest *g, json_int_t id, json_t *req)
{
	const char *hex = lm_json_str(req, "nonce");
	struct lm_evidence *ev = NULL;
	uint8_t *nonce = NULL;
	char *text = NULL;
	size_t nonce_size = 0;
	json_t *doc = NULL;
	int r;

	if (!hex || lm_hex_decode_alloc(hex, &nonce, &nonce_size) < 0 || nonce_size == 0 ||
	    nonce_size > LM_NONCE_MAX) {
		r = reply_error(id, LM_EINVAL, "nonce must be 1 to 64 bytes of hex");
		goto out;
	}
	if ((r = lm_sim_evidence_make((const char *)g->sim_key, g->instance_id, g->measurement, nonce, nonce_size,
				      g->pk, sizeof(g->pk), &ev)) < 0 ||
	    (r = lm_evidence_to_json(ev, &text)) < 0) {
		r = reply_error(id, r, "cannot produce evidence");
		goto out;
	}
	doc = json_loads(text, 0, NULL);
	if (!json_is_object(doc)) {
		r = reply_error(id, LM_EFORMAT, "cannot produce evidence");
		goto out;
	}
	r = send_msg(json_pack("{s:I, s:b, s:O}", "id", id, "ok", 1, "evidence", doc));
out:
	json_decref(doc);
	free(text);
	lm_evidence_free(ev);
	free(nonce);
	return r;
}

/* ---- release ---- */

static void strv_free(char **v)
{
	if (!v)
		return;
	for (char **p = v; *p; p++)
		lm_free_wiped(*p);
	free(v);
}

/* Copies a JSON array of strings into a NULL-terminated vector. */
static int strv_from_json(const json_t *arr, size_t max, bool is_env, char ***out)
{
	size_t n = json_array_size(arr);
	char **v;

	if (!json_is_array(arr) || n > max)
		return LM_EINVAL;
	v = calloc(n + 1, sizeof(*v));
	if (!v)
		return LM_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const char *s = json_string_value(json_array_get(arr, i));
		const char *eq = s ? strchr(s, '=') : NULL;

		if (!s || (is_env && (!eq || eq == s))) {
			strv_free(v);
			return LM_EINVAL;
		}
		if (!(v[i] = strdup(s))) {
			strv_free(v);
			return LM_ENOMEM;
		}
	}
	*out = v;
	return 0;
}

struct release {
	char **argv;
	char **envp;
	struct lm_secret *slot;
};

static void release_clear(struct release *rel)
{
	strv_free(rel->argv);
	strv_free(rel->envp);
	lm_secret_free(rel->slot);
	memset(rel, 0, sizeof(*rel));
}

/* Opens a sealed blob {"enc", "ciphertext"} with the guest's key and the
 * HPKE info info_prefix + instance id (a key release and a key rotation
 * use different prefixes, so neither opens as the other). */
static int sealed_open(struct guest *g, const json_t *sealed, const char *info_prefix, struct lm_secret **out,
		       const char **why)
{
	static const char *const sealed_keys[] = { "enc", "ciphertext", NULL };
	const char *enc_b64 = lm_json_str(sealed, "enc"), *ct_b64 = lm_json_str(sealed, "ciphertext");
	uint8_t *enc = NULL, *ct = NULL;
	size_t enc_size = 0, ct_size = 0;
	char *info = NULL;
	int r;

	*why = "malformed sealed blob";
	if (!json_is_object(sealed) || lm_json_only_keys(sealed, sealed_keys, NULL, 0) < 0 || !enc_b64 ||
	    !ct_b64 || lm_base64_decode(enc_b64, &enc, &enc_size) < 0 || enc_size != LM_HPKE_ENC_BYTES ||
	    lm_base64_decode(ct_b64, &ct, &ct_size) < 0 || ct_size <= LM_HPKE_TAG_BYTES) {
		r = LM_EFORMAT;
		goto out;
	}
	if (asprintf(&info, "%s%s", info_prefix, g->instance_id) < 0) {
		info = NULL;
		r = LM_ENOMEM;
		goto out;
	}
	r = lm_hpke_open(g->sk, enc, (const uint8_t *)info, strlen(info), NULL, 0, ct, ct_size, out);
	if (r < 0)
		*why = r == LM_EAUTH ? "the sealed blob does not open with this instance's key"
				     : "cannot open the sealed blob";
out:
	free(info);
	free(ct);
	free(enc);
	return r;
}

/* Opens the sealed blob and checks its payload. On failure *why says what
 * was wrong, without a byte of the payload. */
static int release_open(struct guest *g, const json_t *sealed, struct release *rel, const char **why)
{
	static const char *const keys[] = { "instance_id", "volume_id", "args", "env", NULL };
	struct lm_secret *pt = NULL, *kek = NULL;
	json_t *payload = NULL, *env;
	const char *s;
	int r;

	if ((r = sealed_open(g, sealed, LM_HPKE_INFO_PREFIX, &pt, why)) < 0)
		goto out;
	*why = "malformed key release payload";
	r = LM_EFORMAT;
	if (pt->size <= LM_KEY_BYTES)
		goto out;
	payload = json_loadb((const char *)pt->data + LM_KEY_BYTES, pt->size - LM_KEY_BYTES,
			     JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(payload) || lm_json_only_keys(payload, keys, NULL, 0) < 0)
		goto out;
	s = lm_json_str(payload, "instance_id");
	if (!s || strcmp(s, g->instance_id) != 0) {
		*why = "the key release is for another instance";
		goto out;
	}
	s = lm_json_str(payload, "volume_id");
	if (!s || strcmp(s, g->volume_id) != 0) {
		*why = "the key release is for another volume";
		goto out;
	}
	if (strv_from_json(json_object_get(payload, "args"), ARGS_MAX, false, &rel->argv) < 0 || !rel->argv[0] ||
	    !rel->argv[0][0]) {
		*why = "args must be a non-empty array of strings";
		goto out;
	}
	env = json_object_get(payload, "env");
	if (!env) {
		rel->envp = calloc(1, sizeof(*rel->envp));
		if (!rel->envp) {
			r = LM_ENOMEM;
			goto out;
		}
	} else if (strv_from_json(env, ENV_MAX, true, &rel->envp) < 0) {
		*why = "env must be an array of K=V strings";
		goto out;
	}
	*why = "cannot derive the instance keys";
	if ((r = lm_secret_dup(pt->data, LM_KEY_BYTES, &kek)) < 0 ||
	    (r = lm_key_volume_slot(&rel->slot, kek, g->volume_id)) < 0 ||
	    (r = lm_key_instance_logs(&g->log_key, kek)) < 0)
		goto out;
	r = 0;
out:
	if (r < 0) {
		lm_secret_free(g->log_key);
		g->log_key = NULL;
		release_clear(rel);
	}
	lm_secret_free(kek);		/* the KEK is done with once derived */
	json_decref(payload);
	lm_secret_free(pt);
	return r;
}

/* Creates the volume on first boot; otherwise checks the host-supplied
 * image's header and that the derived passphrase opens it. */
static int volume_prepare(struct guest *g, const struct lm_secret *slot, const char **why)
{
	enum lm_volume_state state;
	char *path = NULL;
	struct stat st;
	int r;

	if (asprintf(&path, "%s/volume.img", g->dir) < 0)
		return LM_ENOMEM;
	if (lstat(path, &st) != 0 && errno == ENOENT && g->is_restart) {
		/* A restart must find the volume it had: an empty new one would
		 * look like lost data. */
		lm_err("restart: volume.img is missing");
		*why = "the instance's volume image is missing on this node";
		r = LM_ENOENT;
	} else if (lstat(path, &st) != 0 && errno == ENOENT) {
		lm_info("first boot: creating the encrypted volume");
		if ((r = lm_volume_create(path, g->volume_size, slot)) < 0)
			*why = "cannot create the encrypted volume";
	} else if ((r = lm_volume_state(path, &state)) < 0) {
		*why = "the volume header is not acceptable";
	} else if (state == LM_VOLUME_REENCRYPTING) {
		/* Half the data is under each key: finish it first. */
		r = LM_ESTATE;
		*why = "a volume reencryption was interrupted: run lambda key rotate --reencrypt again";
	} else if ((r = lm_volume_check_passphrase(path, slot)) < 0) {
		*why = r == LM_EWRONGKEY ? "wrong key: the released key does not unlock this instance's volume "
					   "(it was made with another master key)"
					 : "cannot check the volume key";
	}
	free(path);
	return r;
}

/* Unlocks the volume with the keyslot passphrase and mounts it as ext4
 * (dm-crypt, or the user-space server where the kernel has none) for the
 * workload's /data. The volume key stays in this process only as long as
 * lm_volume_open needs it. */
static int volume_mount(struct guest *g, const struct lm_secret *slot, const char **why)
{
	struct lm_secret *vk = NULL;
	char *image = NULL, *run_dir = NULL;
	int r;

	if (asprintf(&image, "%s/volume.img", g->dir) < 0 ||
	    asprintf(&run_dir, "%s/%s", VOLUME_RUN_ROOT, g->instance_id) < 0) {
		r = LM_ENOMEM;
		goto out;
	}
	*why = "cannot unlock the volume";
	if ((r = lm_volume_unlock(image, slot, &vk)) < 0)
		goto out;
	*why = "cannot mount the volume";
	r = lm_volume_open(image, run_dir, vk, 0, &g->vol);
out:
	lm_secret_free(vk);
	free(run_dir);
	free(image);
	return r;
}

/* Removes the empty run directory the closed volume leaves
 * (VOLUME_RUN_ROOT/<id>/{data,fuse}). rmdir only: anything still mounted
 * or written there stays, and says so. */
static void run_dir_remove(const struct guest *g)
{
	static const char *const subs[] = { "/data", "/fuse", "" };
	char *path = NULL;

	for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
		if (asprintf(&path, "%s/%s%s", VOLUME_RUN_ROOT, g->instance_id, subs[i]) < 0)
			return;
		if (rmdir(path) != 0 && errno != ENOENT)
			lm_warn("rmdir %s: %s", path, strerror(errno));
		free(path);
		path = NULL;
	}
}

/* After the workload is gone: sync, unmount, detach, stop the server. */
static void volume_unmount(struct guest *g)
{
	int r;

	if (!g->vol)
		return;
	if ((r = lm_volume_close(g->vol)) < 0)
		lm_err("closing the volume: %s", lm_strerror(r));
	g->vol = NULL;
	if (r == 0)
		run_dir_remove(g);
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static int workload_start(struct guest *g, const struct release *rel, const char **why)
{
	struct lm_workload_spec spec = { 0 };
	int pipes[STREAMS][2] = { { -1, -1 }, { -1, -1 } };
	int r;

	*why = "cannot start the workload";
	for (int i = 0; i < STREAMS; i++)
		if (pipe2(pipes[i], O_CLOEXEC) != 0) {
			lm_err("pipe: %s", strerror(errno));
			r = LM_EIO;
			goto out;
		}
	spec.instance_id = g->instance_id;
	spec.state_dir = g->dir;
	spec.data_dir = g->vol ? lm_volume_mount_dir(g->vol) : NULL;
	spec.type = g->itype;
	spec.argv = rel->argv;
	spec.envp = rel->envp;
	spec.stdout_fd = pipes[0][1];
	spec.stderr_fd = pipes[1][1];
	if ((r = g->rt->start(&spec, &g->wl)) < 0)
		goto out;
	g->wl_pid = g->rt->pid(g->wl);
	g->wl_pidfd = pidfd_open(g->wl_pid, 0);
	if (g->wl_pidfd < 0)
		lm_warn("no pidfd for the workload (%s): polling for its exit", strerror(errno));
	for (int i = 0; i < STREAMS; i++) {
		g->out_fd[i] = pipes[i][0];
		pipes[i][0] = -1;
		(void)fcntl(g->out_fd[i], F_SETFL, O_NONBLOCK);
	}
	r = 0;
out:
	for (int i = 0; i < STREAMS; i++) {
		close_fd(&pipes[i][0]);
		close_fd(&pipes[i][1]);	/* only the workload writes */
	}
	return r;
}

static int op_release(struct guest *g, json_int_t id, json_t *req)
{
	struct release rel = { 0 };
	const char *why = "";
	int r;

	if (g->is_released)
		return reply_error(id, LM_ESTATE, "the key was already released");
	if ((r = release_open(g, json_object_get(req, "sealed"), &rel, &why)) < 0 ||
	    (r = volume_prepare(g, rel.slot, &why)) < 0 || (r = volume_mount(g, rel.slot, &why)) < 0 ||
	    (r = workload_start(g, &rel, &why)) < 0) {
		volume_unmount(g);
		release_clear(&rel);
		lm_secret_free(g->log_key);
		g->log_key = NULL;
		/* Still awaiting a (right) key. */
		return reply_error(id, r, why);
	}
	release_clear(&rel);
	g->is_released = true;
	lm_info("key released: volume unlocked, workload started");
	if ((r = send_msg(json_pack("{s:I, s:b, s:s}", "id", id, "ok", 1, "status", "running"))) < 0)
		return r;
	return send_status("running");
}

/* ---- key rotation ---- */

struct rotation {
	struct lm_secret *old_slot, *new_slot;
	struct lm_secret *new_log_key;
	char new_key_id[LM_KEY_ID_STR_SIZE];
};

static void rotation_clear(struct rotation *rot)
{
	lm_secret_free(rot->old_slot);
	lm_secret_free(rot->new_slot);
	lm_secret_free(rot->new_log_key);
	memset(rot, 0, sizeof(*rot));
}

static bool is_key_id(const char *s)
{
	return s && strlen(s) == LM_KEY_ID_STR_SIZE - 1 && strncmp(s, "lmk_", 4) == 0 &&
	       strspn(s + 4, "0123456789abcdef") == LM_KEY_ID_STR_SIZE - 5;
}

/* Opens a key-rotation blob: old instance KEK (32) || new instance KEK (32)
 * || {"instance_id", "volume_id", "new_key_id"}, and derives both keyslot
 * passphrases and the new log key; both KEKs are wiped here. */
static int rotation_open(struct guest *g, const json_t *sealed, struct rotation *rot, const char **why)
{
	static const char *const keys[] = { "instance_id", "volume_id", "new_key_id", NULL };
	struct lm_secret *pt = NULL, *old_kek = NULL, *new_kek = NULL;
	json_t *payload = NULL;
	const char *s;
	int r;

	if ((r = sealed_open(g, sealed, LM_ROTATE_INFO_PREFIX, &pt, why)) < 0)
		goto out;
	*why = "malformed key rotation payload";
	r = LM_EFORMAT;
	if (pt->size <= 2 * LM_KEY_BYTES)
		goto out;
	payload = json_loadb((const char *)pt->data + 2 * LM_KEY_BYTES, pt->size - 2 * LM_KEY_BYTES,
			     JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(payload) || lm_json_only_keys(payload, keys, NULL, 0) < 0)
		goto out;
	s = lm_json_str(payload, "instance_id");
	if (!s || strcmp(s, g->instance_id) != 0) {
		*why = "the key rotation is for another instance";
		goto out;
	}
	s = lm_json_str(payload, "volume_id");
	if (!s || strcmp(s, g->volume_id) != 0) {
		*why = "the key rotation is for another volume";
		goto out;
	}
	s = lm_json_str(payload, "new_key_id");
	if (!is_key_id(s))
		goto out;
	snprintf(rot->new_key_id, sizeof(rot->new_key_id), "%s", s);
	*why = "cannot derive the instance keys";
	if ((r = lm_secret_dup(pt->data, LM_KEY_BYTES, &old_kek)) < 0 ||
	    (r = lm_secret_dup(pt->data + LM_KEY_BYTES, LM_KEY_BYTES, &new_kek)) < 0 ||
	    (r = lm_key_volume_slot(&rot->old_slot, old_kek, g->volume_id)) < 0 ||
	    (r = lm_key_volume_slot(&rot->new_slot, new_kek, g->volume_id)) < 0 ||
	    (r = lm_key_instance_logs(&rot->new_log_key, new_kek)) < 0)
		goto out;
	if (lm_ct_equal(rot->old_slot->data, rot->new_slot->data, LM_KEY_BYTES)) {
		*why = "the old and the new key are the same";
		r = LM_EINVAL;
		goto out;
	}
	r = 0;
out:
	if (r < 0)
		rotation_clear(rot);
	lm_secret_free(old_kek);
	lm_secret_free(new_kek);
	json_decref(payload);
	lm_secret_free(pt);
	return r;
}

struct progress_ctx {
	json_int_t id;
};

/* Each hot zone of a reencryption: a progress event for the agent. A
 * SIGTERM stops the reencryption after the current zone (resumable). */
static int on_reencrypt_progress(void *arg, uint64_t done, uint64_t total)
{
	struct progress_ctx *pc = arg;

	if (send_msg(json_pack("{s:s, s:I, s:I, s:I}", "event", "progress", "id", pc->id, "done", (json_int_t)done,
			       "total", (json_int_t)total)) < 0)
		lm_warn("cannot report reencryption progress");
	return g_term ? 1 : 0;
}

/* rotate {"sealed", "reencrypt"}: moves the volume from the keyslot
 * passphrase of the old instance KEK to that of the new one
 * (lm_volume_rewrap: the workload may keep running, only keyslots change),
 * or with reencrypt also replaces the volume key (lm_volume_reencrypt),
 * which needs the volume closed: it is refused while a workload runs. A
 * running workload's later log records are sealed under the new log key. */
static int op_rotate(struct guest *g, json_int_t id, json_t *req)
{
	json_t *re = json_object_get(req, "reencrypt");
	struct progress_ctx pc = { .id = id };
	struct rotation rot = { 0 };
	const char *why = "";
	char *path = NULL;
	bool reencrypt;
	int r;

	if (re && !json_is_boolean(re))
		return reply_error(id, LM_EINVAL, "reencrypt must be a boolean");
	reencrypt = json_is_true(re);
	if (reencrypt && (g->wl || g->vol))
		return reply_error(id, LM_ESTATE, "a reencryption needs the workload stopped: stop the instance first");
	if ((r = rotation_open(g, json_object_get(req, "sealed"), &rot, &why)) < 0)
		goto fail;
	if (asprintf(&path, "%s/volume.img", g->dir) < 0) {
		path = NULL;
		r = LM_ENOMEM;
		why = "out of memory";
		goto fail;
	}
	/* The old key must open the volume; only a re-run of an interrupted
	 * rotation may find the new one opening it instead. */
	if ((r = lm_volume_check_passphrase(path, rot.old_slot)) == LM_EWRONGKEY)
		r = lm_volume_check_passphrase(path, rot.new_slot);
	if (r < 0) {
		why = r == LM_EWRONGKEY ? "wrong key: the old key does not unlock this instance's volume"
					: "cannot check the volume key";
		goto fail;
	}
	lm_info("key rotation to %s%s", rot.new_key_id, reencrypt ? " with reencryption" : "");
	r = reencrypt ? lm_volume_reencrypt(path, rot.old_slot, rot.new_slot, on_reencrypt_progress, &pc)
		      : lm_volume_rewrap(path, rot.old_slot, rot.new_slot);
	if (r < 0) {
		why = r == LM_EWRONGKEY ? "wrong key: the old key does not unlock this instance's volume"
		      : r == LM_ESTATE	? "a reencryption was interrupted: finish it with --reencrypt"
		      : r == LM_EBUSY	? "the reencryption was interrupted (run it again to resume)"
					: "the volume rotation failed";
		goto fail;
	}
	if (g->log_key) {
		lm_secret_free(g->log_key);
		g->log_key = rot.new_log_key;
		rot.new_log_key = NULL;
	}
	lm_info("volume now under key %s", rot.new_key_id);
	r = send_msg(json_pack("{s:I, s:b, s:s, s:b}", "id", id, "ok", 1, "new_key_id", rot.new_key_id, "reencrypted",
			       reencrypt));
	rotation_clear(&rot);
	free(path);
	return r;
fail:
	rotation_clear(&rot);
	free(path);
	return reply_error(id, r, why);
}

static int on_frame(void *ctx, json_t *msg)
{
	struct guest *g = ctx;
	json_t *id = json_object_get(msg, "id");
	const char *op = lm_json_str(msg, "op");

	if (!json_is_integer(id) || !op) {
		lm_err("agent sent a request without id or op");
		return LM_EFORMAT;
	}
	if (strcmp(op, "attest") == 0)
		return op_attest(g, json_integer_value(id), msg);
	if (strcmp(op, "release") == 0)
		return op_release(g, json_integer_value(id), msg);
	if (strcmp(op, "rotate") == 0)
		return op_rotate(g, json_integer_value(id), msg);
	if (strcmp(op, "stop") == 0) {
		g->is_stopping = true;
		return send_msg(json_pack("{s:I, s:b}", "id", json_integer_value(id), "ok", 1));
	}
	return reply_error(json_integer_value(id), LM_EINVAL, "unknown request");
}

/* ---- the workload ---- */

/* Reads one chunk of stream i and sends it as an encrypted record; closes
 * the stream at its end. Returns LM_EIO only when the channel failed. */
static int pump_stream(struct guest *g, int i)
{
	uint8_t buf[LOG_CHUNK], *rec = NULL;
	char *b64 = NULL;
	size_t rec_size;
	ssize_t n;
	int r;

	do
		n = read(g->out_fd[i], buf, sizeof(buf));
	while (n < 0 && errno == EINTR);
	if (n < 0 && errno == EAGAIN)
		return 0;
	if (n <= 0) {
		close_fd(&g->out_fd[i]);
		return 0;
	}
	if (!g->log_key)
		return 0;
	if ((r = lm_logrec_seal(g->log_key, g->instance_id, i + 1, g->seq, buf, (size_t)n, &rec, &rec_size)) < 0 ||
	    (r = lm_base64_encode(rec, rec_size, &b64)) < 0) {
		lm_err("cannot seal a log record: %s", lm_strerror(r));
		r = 0;	/* the record is lost; the workload goes on */
		goto out;
	}
	g->seq++;
	r = send_msg(json_pack("{s:s, s:s}", "event", "log", "record", b64));
out:
	lm_memzero(buf, sizeof(buf));
	free(b64);
	free(rec);
	return r;
}

/* The run's last log record (stream 3, the exit code as text): a reader
 * that finds no end record after a finished run knows the log was cut. */
static int send_end_record(struct guest *g, int code)
{
	uint8_t *rec = NULL;
	char *b64 = NULL, msg[16];
	size_t rec_size;
	int n = snprintf(msg, sizeof(msg), "%d", code), r;

	if (!g->log_key)
		return 0;
	if ((r = lm_logrec_seal(g->log_key, g->instance_id, LM_LOGREC_STREAM_END, g->seq, (const uint8_t *)msg,
				(size_t)n, &rec, &rec_size)) < 0 ||
	    (r = lm_base64_encode(rec, rec_size, &b64)) < 0) {
		lm_err("cannot seal the end record: %s", lm_strerror(r));
		r = 0;
		goto out;
	}
	g->seq++;
	r = send_msg(json_pack("{s:s, s:s}", "event", "log", "record", b64));
out:
	free(b64);
	free(rec);
	return r;
}

/* A shell's exit code: the status, or 128 + the signal. */
static int exit_code_of(int wstatus)
{
	if (WIFEXITED(wstatus))
		return WEXITSTATUS(wstatus);
	if (WIFSIGNALED(wstatus))
		return 128 + WTERMSIG(wstatus);
	return -1;
}

/* Sends what is left in the workload's pipes once it is gone (its writers
 * are gone: what is left is in the pipes). LM_EIO when the channel failed. */
static int drain_streams(struct guest *g)
{
	int r = 0;

	for (int i = 0; i < STREAMS && r == 0; i++)
		while (g->out_fd[i] >= 0 && r == 0) {
			struct pollfd pfd = { .fd = g->out_fd[i], .events = POLLIN };

			if (poll(&pfd, 1, 0) <= 0)
				break;
			r = pump_stream(g, i);
		}
	return r;
}

/* Sends what the workload wrote before it exited, then the exit event. */
static int workload_reaped(struct guest *g, int wstatus)
{
	const char *status;
	int code = exit_code_of(wstatus), r;

	r = drain_streams(g);
	for (int i = 0; i < STREAMS; i++)
		close_fd(&g->out_fd[i]);
	status = code == 0 ? "exited" : "failed";
	lm_info("workload %s with code %d", status, code);
	if (r == 0)
		r = send_end_record(g, code);
	close_fd(&g->wl_pidfd);
	g->rt->free(g->wl);
	g->wl = NULL;
	g->wl_pid = 0;
	volume_unmount(g);
	lm_secret_free(g->log_key);
	g->log_key = NULL;
	if (r == 0)
		r = send_msg(json_pack("{s:s, s:s, s:i}", "event", "exit", "status", status, "exit_code", code));
	return r;
}

static int workload_check(struct guest *g)
{
	int st;
	pid_t r;

	if (!g->wl)
		return 0;
	do
		r = waitpid(g->wl_pid, &st, WNOHANG);
	while (r < 0 && errno == EINTR);
	if (r == g->wl_pid)
		return workload_reaped(g, st);
	return 0;
}

static void workload_stop(struct guest *g)
{
	int st;

	if (!g->wl)
		return;
	lm_info("stopping the workload");
	(void)g->rt->kill(g->wl);
	while (waitpid(g->wl_pid, &st, 0) < 0 && errno == EINTR)
		;
	/* What it wrote, then the end record, as when it exits by itself: a
	 * stopped run's log is complete. The channel may be gone already
	 * (lambdad died): then nothing more can be told. */
	if (drain_streams(g) == 0)
		(void)send_end_record(g, exit_code_of(st));
	for (int i = 0; i < STREAMS; i++)
		close_fd(&g->out_fd[i]);
	close_fd(&g->wl_pidfd);
	g->rt->free(g->wl);
	g->wl = NULL;
}

/* ---- main loop ---- */

static int read_channel(struct guest *g, bool *eof)
{
	uint8_t buf[65536];
	ssize_t n;

	do
		n = read(CHAN_FD, buf, sizeof(buf));
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		lm_err("guest channel: read failed: %s", strerror(errno));
		return LM_EIO;
	}
	if (n == 0) {
		*eof = true;
		return lm_chan_finish(&g->parser);
	}
	return lm_chan_feed(&g->parser, buf, (size_t)n);
}

static int run(struct guest *g)
{
	bool eof = false;
	int r = 0;

	while (!eof && !g->is_stopping && !g_term) {
		struct pollfd pfd[2 + STREAMS];
		nfds_t n = 0;
		int ready, idx_pid = -1, idx_out[STREAMS] = { -1, -1 };

		pfd[n++] = (struct pollfd){ .fd = CHAN_FD, .events = POLLIN };
		if (g->wl && g->wl_pidfd >= 0) {
			idx_pid = (int)n;
			pfd[n++] = (struct pollfd){ .fd = g->wl_pidfd, .events = POLLIN };
		}
		for (int i = 0; i < STREAMS; i++)
			if (g->out_fd[i] >= 0) {
				idx_out[i] = (int)n;
				pfd[n++] = (struct pollfd){ .fd = g->out_fd[i], .events = POLLIN };
			}
		/* Without a pidfd, look for the workload's exit every 200 ms. */
		ready = poll(pfd, n, g->wl && g->wl_pidfd < 0 ? 200 : -1);
		if (ready < 0 && errno == EINTR)
			continue;
		if (ready < 0) {
			lm_err("poll: %s", strerror(errno));
			return LM_EIO;
		}
		for (int i = 0; i < STREAMS; i++)
			if (idx_out[i] >= 0 && pfd[idx_out[i]].revents && g->out_fd[i] >= 0 &&
			    (r = pump_stream(g, i)) < 0)
				return r;
		if ((idx_pid < 0 || pfd[idx_pid].revents) && (r = workload_check(g)) < 0)
			return r;
		if (pfd[0].revents && (r = read_channel(g, &eof)) < 0)
			return r;
	}
	if (eof)
		lm_info("the agent closed the channel");
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: lambda-guest --instance-dir DIR --sim-key FILE\n"
		   "Started by the lambda agent with the guest channel on fd 3.\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "instance-dir", required_argument, NULL, 'd' },
		{ "sim-key", required_argument, NULL, 'k' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct guest g = { .wl_pidfd = -1, .out_fd = { -1, -1 } };
	const char *key_path = NULL;
	struct stat st;
	int c, r;

	lm_log_set_handler(on_log, NULL);
	/* First: nothing below may be dumped or traced. */
	if (lm_process_harden() < 0)
		return 1;
	json_set_alloc_funcs(malloc, wiping_free);
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			g.dir = optarg;
			break;
		case 'k':
			key_path = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!g.dir || !key_path || optind != argc) {
		usage(stderr);
		return 2;
	}
	if (fstat(CHAN_FD, &st) != 0 || !S_ISSOCK(st.st_mode)) {
		lm_err("fd %d is not the guest channel socket", CHAN_FD);
		return 2;
	}
	/* The workload must not inherit the channel. */
	if (fcntl(CHAN_FD, F_SETFD, FD_CLOEXEC) != 0 || install_signals() < 0)
		return 1;
	lm_chan_init(&g.parser, on_frame, &g);
	r = load_launch(&g);
	if (r == 0 && (g.itype = lm_instance_type_find(g.type)) == NULL) {
		lm_err("unknown instance type '%s'", g.type);
		r = LM_EINVAL;
	}
	if (r == 0 && (g.rt = lm_runtime_find("process")) == NULL) {
		lm_err("the process runtime is missing");
		r = LM_ENOTSUP;
	}
	if (r == 0 && (r = g.rt->probe()) < 0)
		lm_err("the process runtime cannot run here");
	if (r == 0 && (r = lm_file_read_private(key_path, SIM_KEY_MAX, &g.sim_key, &g.sim_key_size)) == 0)
		lm_warn("simulated attestation backend: the evidence offers no protection (insecure)");
	if (r == 0)
		r = lm_sim_measurement(g.measurement, g.image, g.type, SANDBOX_PROFILE);
	if (r == 0)
		r = lm_hpke_keygen(g.pk, &g.sk);
	if (r == 0)
		r = send_status("awaiting_key");
	if (r == 0)
		r = run(&g);
	workload_stop(&g);
	volume_unmount(&g);
	lm_chan_reset(&g.parser);
	lm_secret_free(g.log_key);
	lm_secret_free(g.sk);
	lm_free_wiped_size(g.sim_key, g.sim_key_size);
	json_decref(g.launch);
	if (r < 0)
		lm_err("stopping: %s", lm_strerror(r));
	return r < 0 ? 1 : 0;
}
