/* Unit tests for volume key rotation (lib/volume/rotate.c) on LUKS2 image
 * files through the real libcryptsetup: rewrap, refusals that leave the
 * volume unchanged, the resume of every intermediate header state (made
 * here with libcryptsetup directly), an offline reencryption whose data is
 * checked against our own AES-256-XTS, and crash tests: a child runs the
 * rotation and is killed with SIGKILL at many points (after a delay, or
 * from the progress callback after K hot zones); after each kill the
 * volume must open with the old or the new key, and a re-run must finish
 * with the data intact. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <libcryptsetup.h>
#include <openssl/evp.h>

#include "lambda/log.h"
#include "lambda/secret.h"
#include "lambda/util.h"
#include "lambda/volume.h"
#include "volume/volume_int.h"

#define IMG_SIZE LM_VOLUME_MIN_SIZE
#define DATA_SIZE (IMG_SIZE - LM_VOLUME_DATA_OFFSET)
#define SECTORS (DATA_SIZE / LM_VOLUME_SECTOR_SIZE)
#define HOTZONE_SECTORS (4u << 11)	/* as lib/volume/rotate.c, 512-byte sectors */

static char g_dir[64];
static struct lm_secret *g_a, *g_b, *g_c;

static void log_quiet(enum lm_log_level level, const char *msg, void *ctx)
{
	(void)ctx;
	if (level == LM_LOG_ERR && getenv("LM_TEST_VERBOSE"))
		fprintf(stderr, "  log: %s\n", msg);
}

static struct lm_secret *make_key(uint8_t fill)
{
	struct lm_secret *s;

	assert_int_equal(lm_secret_new(32, &s), 0);
	for (size_t i = 0; i < s->size; i++)
		s->data[i] = (uint8_t)(fill + i * 13);
	return s;
}

static int setup(void **state)
{
	(void)state;
	lm_log_set_handler(log_quiet, NULL);
	strcpy(g_dir, "/var/tmp/lm-test-rotate-XXXXXX");
	if (!mkdtemp(g_dir))
		return -1;
	g_a = make_key(1);
	g_b = make_key(2);
	g_c = make_key(3);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	lm_secret_free(g_a);
	lm_secret_free(g_b);
	lm_secret_free(g_c);
	return lm_rm_rf(g_dir) < 0 ? -1 : 0;
}

static void img_path(char *out, size_t size, const char *name)
{
	snprintf(out, size, "%s/%s", g_dir, name);
	unlink(out);
}

static bool opens(const char *p, const struct lm_secret *k)
{
	int r = lm_volume_check_passphrase(p, k);

	assert_true(r == 0 || r == LM_EWRONGKEY);
	return r == 0;
}

static enum lm_volume_state state_of(const char *p)
{
	enum lm_volume_state st;

	assert_int_equal(lm_volume_state(p, &st), 0);
	return st;
}

/* The volume is at rest with only keyslot 0, opened by want and not by
 * other. */
static void expect_rotated(const char *p, const struct lm_secret *want, const struct lm_secret *other)
{
	struct crypt_device *cd;

	assert_int_equal(lm_volume_check_header(p), 0);
	assert_int_equal(state_of(p), LM_VOLUME_AT_REST);
	assert_true(opens(p, want));
	assert_false(opens(p, other));
	assert_int_equal(crypt_init(&cd, p), 0);
	assert_int_equal(crypt_load(cd, CRYPT_LUKS2, NULL), 0);
	assert_int_equal(crypt_keyslot_status(cd, 0), CRYPT_SLOT_ACTIVE_LAST);
	crypt_free(cd);
}

static void read_header(const char *p, uint8_t *buf, size_t size)
{
	int fd = open(p, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, buf, size, 0), (ssize_t)size);
	close(fd);
}

/* ---- our own view of the data: AES-256-XTS, IV = plain64 of 8k ---- */

static void get_volume_key(const char *p, const struct lm_secret *pass, uint8_t vk[static 64])
{
	struct crypt_device *cd;
	size_t size = 64;

	assert_int_equal(crypt_init(&cd, p), 0);
	assert_int_equal(crypt_load(cd, CRYPT_LUKS2, NULL), 0);
	assert_true(crypt_volume_key_get(cd, CRYPT_ANY_SLOT, (char *)vk, &size, (const char *)pass->data,
					 pass->size) >= 0);
	assert_int_equal(size, 64);
	crypt_free(cd);
}

static void xts_sector(const uint8_t vk[static 64], uint64_t k, const uint8_t *in, uint8_t *out, int enc)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	uint8_t iv[16] = { 0 };
	uint64_t n = 8 * k;
	int len = 0;

	for (int i = 0; i < 8; i++)
		iv[i] = (uint8_t)(n >> (8 * i));
	assert_non_null(c);
	assert_int_equal(EVP_CipherInit_ex(c, EVP_aes_256_xts(), NULL, vk, iv, enc), 1);
	assert_int_equal(EVP_CipherUpdate(c, out, &len, in, LM_VOLUME_SECTOR_SIZE), 1);
	assert_int_equal(len, LM_VOLUME_SECTOR_SIZE);
	EVP_CIPHER_CTX_free(c);
}

static void pattern(uint64_t k, uint8_t *buf)
{
	for (size_t i = 0; i < LM_VOLUME_SECTOR_SIZE; i++)
		buf[i] = (uint8_t)(k * 31 + i * 7 + (i >> 8));
}

static void write_pattern(const char *p, const struct lm_secret *pass)
{
	uint8_t vk[64], pt[LM_VOLUME_SECTOR_SIZE], ct[LM_VOLUME_SECTOR_SIZE];
	int fd = open(p, O_WRONLY);

	assert_true(fd >= 0);
	get_volume_key(p, pass, vk);
	for (uint64_t k = 0; k < SECTORS; k++) {
		pattern(k, pt);
		xts_sector(vk, k, pt, ct, 1);
		assert_int_equal(pwrite(fd, ct, sizeof(ct), (off_t)(LM_VOLUME_DATA_OFFSET + k * sizeof(ct))),
				 (ssize_t)sizeof(ct));
	}
	assert_int_equal(fsync(fd), 0);
	close(fd);
	lm_memzero(vk, sizeof(vk));
}

/* Decrypts every sector with the volume key that pass opens; returns the
 * number of sectors that differ from the pattern. */
static uint64_t bad_sectors(const char *p, const struct lm_secret *pass)
{
	uint8_t vk[64], pt[LM_VOLUME_SECTOR_SIZE], ct[LM_VOLUME_SECTOR_SIZE], want[LM_VOLUME_SECTOR_SIZE];
	uint64_t bad = 0;
	int fd = open(p, O_RDONLY);

	assert_true(fd >= 0);
	get_volume_key(p, pass, vk);
	for (uint64_t k = 0; k < SECTORS; k++) {
		assert_int_equal(pread(fd, ct, sizeof(ct), (off_t)(LM_VOLUME_DATA_OFFSET + k * sizeof(ct))),
				 (ssize_t)sizeof(ct));
		xts_sector(vk, k, ct, pt, 0);
		pattern(k, want);
		bad += memcmp(pt, want, sizeof(pt)) != 0;
	}
	close(fd);
	lm_memzero(vk, sizeof(vk));
	return bad;
}

/* ---- rewrap ---- */

static void test_rewrap(void **state)
{
	char p[128];

	(void)state;
	img_path(p, sizeof(p), "rewrap.img");
	assert_int_equal(lm_volume_create(p, IMG_SIZE, g_a), 0);
	write_pattern(p, g_a);
	assert_int_equal(lm_volume_rewrap(p, g_a, g_b), 0);
	expect_rotated(p, g_b, g_a);
	/* A rewrap keeps the volume key: the data reads the same. */
	assert_int_equal(bad_sectors(p, g_b), 0);
	/* Done is done: the same command again changes nothing. */
	assert_int_equal(lm_volume_rewrap(p, g_a, g_b), 0);
	expect_rotated(p, g_b, g_a);
	/* And back. */
	assert_int_equal(lm_volume_rewrap(p, g_b, g_a), 0);
	expect_rotated(p, g_a, g_b);
}

static void test_refusals_change_nothing(void **state)
{
	static uint8_t before[2 << 20], after[2 << 20];
	struct lm_secret *short_key;
	char p[128];

	(void)state;
	img_path(p, sizeof(p), "refuse.img");
	assert_int_equal(lm_volume_create(p, IMG_SIZE, g_a), 0);
	read_header(p, before, sizeof(before));
	/* wrong old key */
	assert_int_equal(lm_volume_rewrap(p, g_c, g_b), LM_EWRONGKEY);
	assert_int_equal(lm_volume_reencrypt(p, g_c, g_b, NULL, NULL), LM_EWRONGKEY);
	/* same key twice, bad arguments */
	assert_int_equal(lm_volume_rewrap(p, g_a, g_a), LM_EINVAL);
	assert_int_equal(lm_volume_rewrap(NULL, g_a, g_b), LM_EINVAL);
	assert_int_equal(lm_volume_rewrap(p, NULL, g_b), LM_EINVAL);
	assert_int_equal(lm_volume_reencrypt(p, g_a, NULL, NULL, NULL), LM_EINVAL);
	assert_int_equal(lm_secret_new(31, &short_key), 0);
	memcpy(short_key->data, g_a->data, 31);
	assert_int_equal(lm_volume_rewrap(p, short_key, g_b), LM_EWRONGKEY);
	lm_secret_free(short_key);
	read_header(p, after, sizeof(after));
	assert_memory_equal(before, after, sizeof(before));
	assert_true(opens(p, g_a));
	assert_false(opens(p, g_b));
	/* a missing image */
	img_path(p, sizeof(p), "missing.img");
	assert_int_equal(lm_volume_rewrap(p, g_a, g_b), LM_ENOENT);
}

/* ---- intermediate states, made with libcryptsetup ---- */

static struct crypt_device *cs_open(const char *p)
{
	static const struct crypt_pbkdf_type pbkdf = {
		.type = CRYPT_KDF_PBKDF2, .hash = "sha256", .iterations = 1000, .flags = CRYPT_PBKDF_NO_BENCHMARK,
	};
	struct crypt_device *cd;

	assert_int_equal(crypt_init(&cd, p), 0);
	assert_int_equal(crypt_load(cd, CRYPT_LUKS2, NULL), 0);
	assert_int_equal(crypt_set_pbkdf_type(cd, &pbkdf), 0);
	return cd;
}

static void cs_add(const char *p, int ks, const struct lm_secret *from, const struct lm_secret *to)
{
	struct crypt_device *cd = cs_open(p);

	assert_int_equal(crypt_keyslot_add_by_passphrase(cd, ks, (const char *)from->data, from->size,
							 (const char *)to->data, to->size),
			 ks);
	crypt_free(cd);
}

static void cs_add_unbound(const char *p, const struct lm_secret *pass)
{
	struct crypt_device *cd = cs_open(p);

	assert_true(crypt_keyslot_add_by_key(cd, CRYPT_ANY_SLOT, NULL, 64, (const char *)pass->data, pass->size,
					     CRYPT_VOLUME_KEY_NO_SEGMENT) >= 0);
	crypt_free(cd);
}

static void cs_destroy(const char *p, int ks)
{
	struct crypt_device *cd = cs_open(p);

	assert_int_equal(crypt_keyslot_destroy(cd, ks), 0);
	crypt_free(cd);
}

static void copy_file(const char *from, const char *to);

/* A fresh volume under A with the data pattern: a copy of one made once
 * (the crash tests make hundreds). */
static void fresh(char *p, size_t size, const char *name)
{
	static char tmpl[128];

	if (!tmpl[0]) {
		img_path(tmpl, sizeof(tmpl), "template.img");
		assert_int_equal(lm_volume_create(tmpl, IMG_SIZE, g_a), 0);
		write_pattern(tmpl, g_a);
	}
	img_path(p, size, name);
	copy_file(tmpl, p);
}

static void test_resume_states(void **state)
{
	char p[128];

	(void)state;
	/* new added, old not removed: {0: A, 1: B} */
	fresh(p, sizeof(p), "s1.img");
	cs_add(p, 1, g_a, g_b);
	assert_int_equal(lm_volume_check_header(p), 0);
	assert_int_equal(state_of(p), LM_VOLUME_ROTATING);
	assert_true(opens(p, g_a) && opens(p, g_b));
	assert_int_equal(lm_volume_rewrap(p, g_a, g_b), 0);
	expect_rotated(p, g_b, g_a);
	assert_int_equal(bad_sectors(p, g_b), 0);

	/* once the new key opens a keyslot, the other goes whatever old key
	 * is given (an interrupted add leaves a slot that opens with neither) */
	fresh(p, sizeof(p), "s1b.img");
	cs_add(p, 1, g_a, g_b);
	assert_int_equal(lm_volume_rewrap(p, g_c, g_b), 0);
	expect_rotated(p, g_b, g_a);

	/* old removed, new not yet in keyslot 0: {1: B} */
	fresh(p, sizeof(p), "s2.img");
	cs_add(p, 1, g_a, g_b);
	cs_destroy(p, 0);
	assert_int_equal(lm_volume_check_header(p), 0);
	assert_false(opens(p, g_a));
	/* the old key is gone, so even a wrong old key finishes the job */
	assert_int_equal(lm_volume_rewrap(p, g_c, g_b), 0);
	expect_rotated(p, g_b, g_a);
	assert_int_equal(bad_sectors(p, g_b), 0);

	/* new copied to keyslot 0, keyslot 1 not yet removed: {0: B, 1: B} */
	fresh(p, sizeof(p), "s3.img");
	cs_add(p, 1, g_a, g_b);
	cs_destroy(p, 0);
	cs_add(p, 0, g_b, g_b);
	assert_int_equal(state_of(p), LM_VOLUME_ROTATING);
	assert_int_equal(lm_volume_rewrap(p, g_a, g_b), 0);
	expect_rotated(p, g_b, g_a);

	/* a reencryption stopped after adding its new key: {0: B, 1: B unbound} */
	fresh(p, sizeof(p), "s4.img");
	assert_int_equal(lm_volume_rewrap(p, g_a, g_b), 0);
	cs_add_unbound(p, g_b);
	assert_int_equal(lm_volume_check_header(p), 0);
	assert_int_equal(state_of(p), LM_VOLUME_ROTATING);
	assert_int_equal(lm_volume_rewrap(p, g_a, g_b), 0);
	expect_rotated(p, g_b, g_a);
	assert_int_equal(bad_sectors(p, g_b), 0);

	/* an unbound key, here under a foreign passphrase, protects no data:
	 * dropped (an interrupted keyslot add leaves such a slot) */
	fresh(p, sizeof(p), "s5.img");
	cs_add_unbound(p, g_c);
	assert_int_equal(lm_volume_rewrap(p, g_c, g_b), LM_EWRONGKEY);
	assert_true(opens(p, g_a));
	assert_int_equal(lm_volume_rewrap(p, g_a, g_b), 0);
	expect_rotated(p, g_b, g_a);
	assert_int_equal(bad_sectors(p, g_b), 0);

	/* three keyslots are no state of ours: refused before anything */
	fresh(p, sizeof(p), "s6.img");
	cs_add(p, 1, g_a, g_b);
	cs_add(p, 2, g_a, g_c);
	assert_int_equal(lm_volume_check_header(p), LM_EFORMAT);
	assert_int_equal(lm_volume_rewrap(p, g_a, g_b), LM_EFORMAT);
}

/* ---- reencryption ---- */

struct count {
	int calls;
	uint64_t last_done, total;
	int stop_after;		/* ask to stop after this many calls; 0 = never */
};

static int count_progress(void *ctx, uint64_t done, uint64_t total)
{
	struct count *c = ctx;

	assert_true(done <= total);
	assert_true(done >= c->last_done);
	c->calls++;
	c->last_done = done;
	c->total = total;
	return c->stop_after && c->calls >= c->stop_after;
}

static void test_reencrypt(void **state)
{
	uint8_t vk_old[64], vk_new[64];
	struct count c = { 0 };
	char p[128];

	(void)state;
	fresh(p, sizeof(p), "re.img");
	get_volume_key(p, g_a, vk_old);
	assert_int_equal(bad_sectors(p, g_a), 0);
	assert_int_equal(lm_volume_reencrypt(p, g_a, g_b, count_progress, &c), 0);
	expect_rotated(p, g_b, g_a);
	assert_true(c.calls >= 2);
	assert_int_equal(c.total, DATA_SIZE);
	assert_int_equal(c.last_done, DATA_SIZE);
	get_volume_key(p, g_b, vk_new);
	assert_memory_not_equal(vk_old, vk_new, sizeof(vk_old));
	assert_int_equal(bad_sectors(p, g_b), 0);
	/* Done is done: the same keys again keep the volume key. */
	assert_int_equal(lm_volume_reencrypt(p, g_a, g_b, NULL, NULL), 0);
	get_volume_key(p, g_b, vk_old);
	assert_memory_equal(vk_old, vk_new, sizeof(vk_old));
	/* A rewrap drops the mark: the key has been under C, so a
	 * reencryption to B again makes a new key. */
	assert_int_equal(lm_volume_rewrap(p, g_b, g_c), 0);
	assert_int_equal(lm_volume_rewrap(p, g_c, g_b), 0);
	assert_int_equal(lm_volume_reencrypt(p, g_c, g_b, NULL, NULL), 0);
	get_volume_key(p, g_b, vk_old);
	assert_memory_not_equal(vk_old, vk_new, sizeof(vk_old));
	assert_int_equal(bad_sectors(p, g_b), 0);
	lm_memzero(vk_old, sizeof(vk_old));
	lm_memzero(vk_new, sizeof(vk_new));
}

static void test_reencrypt_stop_and_resume(void **state)
{
	struct count c = { .stop_after = 1 };
	char p[128];

	(void)state;
	fresh(p, sizeof(p), "restop.img");
	assert_int_equal(lm_volume_reencrypt(p, g_a, g_b, count_progress, &c), LM_EBUSY);
	assert_int_equal(lm_volume_check_header(p), 0);
	assert_int_equal(state_of(p), LM_VOLUME_REENCRYPTING);
	assert_true(opens(p, g_b));
	assert_false(opens(p, g_a));
	/* A plain rewrap will not touch a half-reencrypted volume. */
	assert_int_equal(lm_volume_rewrap(p, g_a, g_b), LM_ESTATE);
	/* The resume needs only the new key. */
	c = (struct count){ 0 };
	assert_int_equal(lm_volume_reencrypt(p, g_c, g_b, count_progress, &c), 0);
	expect_rotated(p, g_b, g_a);
	assert_int_equal(bad_sectors(p, g_b), 0);
}

/* Tampering with a reencryption header: our parser refuses it. */
static void test_reencrypt_header_tamper(void **state)
{
	static const char *const edits[][2] = {
		{ "\"direction\":\"forward\"", "\"direction\":\"backward\"" },
		{ "\"type\":\"checksum\"", "\"type\":\"none\"" },
		{ "\"online-reencrypt-v2\"", "\"online-reencrypt-v9\"" },
		{ "\"backup-final\"", "\"backup-moved-segment\"" },
		{ "\"iv_tweak\":\"0\"", "\"iv_tweak\":\"8\"" },
	};
	struct count c = { .stop_after = 1 };
	uint8_t *hdr = malloc(2 * LM_LUKS2_HDR_MIN);
	char p[128];

	(void)state;
	assert_non_null(hdr);
	fresh(p, sizeof(p), "tamper.img");
	assert_int_equal(lm_volume_reencrypt(p, g_a, g_b, count_progress, &c), LM_EBUSY);
	read_header(p, hdr, 2 * LM_LUKS2_HDR_MIN);
	assert_int_equal(lm_luks2_header_check(hdr, 2 * LM_LUKS2_HDR_MIN, LM_LUKS2_PARSE_NO_CSUM), 0);
	for (size_t i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
		uint8_t *copy = malloc(2 * LM_LUKS2_HDR_MIN);
		char *json, *at;

		assert_non_null(copy);
		memcpy(copy, hdr, 2 * LM_LUKS2_HDR_MIN);
		json = (char *)copy + LM_LUKS2_BIN_SIZE;
		at = strstr(json, edits[i][0]);
		if (!at) {
			/* libcryptsetup writes compact JSON; say which edit missed */
			fail_msg("edit %zu: '%s' not in the header", i, edits[i][0]);
		}
		/* Shorter edits are padded with JSON white space. */
		if (strlen(edits[i][1]) < strlen(edits[i][0])) {
			memset(at, ' ', strlen(edits[i][0]));
		} else {
			memmove(at + strlen(edits[i][1]), at + strlen(edits[i][0]),
				strlen(at + strlen(edits[i][0])) + 1);
		}
		memcpy(at, edits[i][1], strlen(edits[i][1]));
		/* Same edit in the secondary copy. */
		memcpy(copy + LM_LUKS2_HDR_MIN + LM_LUKS2_BIN_SIZE, json, LM_LUKS2_HDR_MIN - LM_LUKS2_BIN_SIZE);
		assert_int_equal(lm_luks2_header_check(copy, 2 * LM_LUKS2_HDR_MIN, LM_LUKS2_PARSE_NO_CSUM),
				 LM_EFORMAT);
		free(copy);
	}
	free(hdr);
	c = (struct count){ 0 };
	assert_int_equal(lm_volume_reencrypt(p, g_a, g_b, count_progress, &c), 0);
	assert_int_equal(bad_sectors(p, g_b), 0);
}

/* ---- crash tests ---- */

static int kill_after_calls;

static int kill_progress(void *ctx, uint64_t done, uint64_t total)
{
	(void)ctx;
	(void)done;
	(void)total;
	if (--kill_after_calls <= 0)
		raise(SIGKILL);
	return 0;
}

enum op { OP_REWRAP, OP_REENCRYPT };

/* Runs the operation in a child; kills it after delay_us (when >= 0), lets
 * its progress callback kill it after calls hot zones (-1), or lets it run
 * (-2). Returns true when the child was killed, false when it finished. */
static bool run_killed(const char *p, enum op op, long delay_us, int calls)
{
	int st;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		int r;

		kill_after_calls = calls;
		if (op == OP_REWRAP)
			r = lm_volume_rewrap(p, g_a, g_b);
		else
			r = lm_volume_reencrypt(p, g_a, g_b, delay_us == -1 ? kill_progress : NULL, NULL);
		_exit(r == 0 ? 0 : 1);
	}
	if (delay_us >= 0) {
		struct timespec ts = { .tv_sec = delay_us / 1000000, .tv_nsec = (delay_us % 1000000) * 1000 };

		nanosleep(&ts, NULL);
		kill(pid, SIGKILL);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	if (WIFEXITED(st)) {
		assert_int_equal(WEXITSTATUS(st), 0);
		return false;
	}
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	return true;
}

/* ---- keeping what a failed crash check saw ---- */

static void copy_file(const char *from, const char *to)
{
	uint8_t *buf;
	size_t size;

	assert_int_equal(lm_file_read(from, IMG_SIZE, &buf, &size), 0);
	(void)unlink(to);
	assert_int_equal(lm_file_write_new(to, buf, size, 0600), 0);
	free(buf);
}

/* Where failed crash checks keep their images: $LM_TEST_KEEP_DIR or
 * /var/tmp/lm-rotate-kept. */
static const char *keep_dir(void)
{
	const char *d = getenv("LM_TEST_KEEP_DIR");

	d = d && *d ? d : "/var/tmp/lm-rotate-kept";
	assert_int_equal(lm_mkdir_p(d, 0700), 0);
	return d;
}

/* Soft versions of the checks: a description of the first failure, or
 * NULL. The image as the kill left it is in killed. */
static char g_why[256];

static const char *why(const char *fmt, ...) LM_PRINTF(1, 2);
static const char *why(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(g_why, sizeof(g_why), fmt, ap);
	va_end(ap);
	return g_why;
}

/* Counts the sectors that do not decrypt to the pattern under the key that
 * pass opens, and the first and last of them. */
static uint64_t bad_range(const char *p, const struct lm_secret *pass, uint64_t *first, uint64_t *last)
{
	uint8_t vk[64], pt[LM_VOLUME_SECTOR_SIZE], ct[LM_VOLUME_SECTOR_SIZE], want[LM_VOLUME_SECTOR_SIZE];
	uint64_t bad = 0;
	int fd = open(p, O_RDONLY);

	assert_true(fd >= 0);
	get_volume_key(p, pass, vk);
	for (uint64_t k = 0; k < SECTORS; k++) {
		assert_int_equal(pread(fd, ct, sizeof(ct), (off_t)(LM_VOLUME_DATA_OFFSET + k * sizeof(ct))),
				 (ssize_t)sizeof(ct));
		xts_sector(vk, k, ct, pt, 0);
		pattern(k, want);
		if (memcmp(pt, want, sizeof(pt)) != 0) {
			if (!bad++)
				*first = k;
			*last = k;
		}
	}
	close(fd);
	lm_memzero(vk, sizeof(vk));
	return bad;
}

static const char *verify_after_kill(const char *p, enum op op)
{
	uint64_t first = 0, last = 0, bad;
	struct crypt_device *cd;
	enum lm_volume_state st;
	int r;

	if ((r = lm_volume_check_header(p)) != 0)
		return why("header refused after the kill (%d)", r);
	if (!opens(p, g_a) && !opens(p, g_b))
		return why("neither key opens the volume after the kill");
	r = op == OP_REWRAP ? lm_volume_rewrap(p, g_a, g_b) : lm_volume_reencrypt(p, g_a, g_b, NULL, NULL);
	if (r != 0)
		return why("the re-run failed (%d)", r);
	if ((r = lm_volume_check_header(p)) != 0 || lm_volume_state(p, &st) != 0 || st != LM_VOLUME_AT_REST)
		return why("not at rest after the re-run (%d)", r);
	if (!opens(p, g_b) || opens(p, g_a))
		return why("keys after the re-run: new %d, old %d", opens(p, g_b), opens(p, g_a));
	assert_int_equal(crypt_init(&cd, p), 0);
	assert_int_equal(crypt_load(cd, CRYPT_LUKS2, NULL), 0);
	r = crypt_keyslot_status(cd, 0) == CRYPT_SLOT_ACTIVE_LAST;
	crypt_free(cd);
	if (!r)
		return why("keyslot 0 is not the only keyslot after the re-run");
	if ((bad = bad_range(p, g_b, &first, &last)))
		return why("%" PRIu64 " sectors wrong after the re-run, sectors %" PRIu64 "..%" PRIu64
			   " (hot zones %" PRIu64 "..%" PRIu64 ")", bad, first, last,
			   first * LM_VOLUME_SECTOR_SIZE / 512 / HOTZONE_SECTORS,
			   last * LM_VOLUME_SECTOR_SIZE / 512 / HOTZONE_SECTORS);
	return NULL;
}

/* After a kill: the header is one we accept, A or B opens it, and a re-run
 * finishes with the data intact. On a failure the image as the kill left
 * it is kept, with the kill point in its name, and the path printed. */
static void check_after_kill(const char *p, enum op op, const char *point)
{
	char killed[160], kept[512];
	const char *fail;

	snprintf(killed, sizeof(killed), "%s.killed", p);
	copy_file(p, killed);
	if (!(fail = verify_after_kill(p, op))) {
		unlink(killed);
		return;
	}
	snprintf(kept, sizeof(kept), "%s/%s-%s-%ld.img", keep_dir(), op == OP_REWRAP ? "rewrap" : "reencrypt", point,
		 (long)getpid());
	copy_file(killed, kept);
	unlink(killed);
	fail_msg("kill at %s: %s; the killed image is kept in %s", point, fail, kept);
}

static long now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000L + ts.tv_nsec / 1000;
}

/* The shortest of three uninterrupted runs, in microseconds. */
static long op_duration(enum op op)
{
	long best = 0;
	char p[128];

	for (int i = 0; i < 3; i++) {
		long t0;

		fresh(p, sizeof(p), "crash.img");
		t0 = now_us();
		assert_false(run_killed(p, op, -2, 0));
		if (!best || now_us() - t0 < best)
			best = now_us() - t0;
		expect_rotated(p, g_b, g_a);
	}
	return best;
}

/* Kills the operation at points spread over its own duration (measured on
 * uninterrupted runs first), so that every phase gets hit whatever the
 * speed of the machine. Every kill must leave a volume that opens and
 * resumes; most must land before the end, or the loop tested little. The
 * speed of a shared machine changes while this runs, so a loop in which
 * too many runs finished first is measured and run again, up to 3 times. */
static void crash_loop(enum op op, int points)
{
	int killed = 0, finished = 0;
	long duration = 0;
	char p[128];

	for (int attempt = 0; attempt < 3 && killed <= points / 2; attempt++) {
		killed = finished = 0;
		duration = op_duration(op);
		for (int i = 0; i <= points; i++) {
			char point[64];
			long delay = duration * i / points;

			fresh(p, sizeof(p), "crash.img");
			if (run_killed(p, op, delay, 0))
				killed++;
			else
				finished++;
			snprintf(point, sizeof(point), "t%ldus-of-%ldus", delay, duration);
			check_after_kill(p, op, point);
		}
		print_message("  %s (%ld us): %d killed, %d finished before the kill\n",
			      op == OP_REWRAP ? "rewrap" : "reencrypt", duration, killed, finished);
	}
	assert_true(killed > points / 2);
}

static void test_crash_rewrap_timed(void **state)
{
	(void)state;
	crash_loop(OP_REWRAP, 40);
}

static void test_crash_reencrypt_timed(void **state)
{
	(void)state;
	crash_loop(OP_REENCRYPT, 16);
}

static void test_crash_reencrypt_hotzones(void **state)
{
	char p[128];

	(void)state;
	/* The hook is the progress callback: the library reads nothing. */
	for (int calls = 1; calls <= 5; calls++) {
		char point[32];

		fresh(p, sizeof(p), "crash-hz.img");
		(void)run_killed(p, OP_REENCRYPT, -1, calls);
		snprintf(point, sizeof(point), "hotzone%d", calls);
		check_after_kill(p, OP_REENCRYPT, point);
	}
}

/* ---- kills before every write to the image (ptrace) ---- */

static bool is_write(uint64_t nr)
{
	return nr == SYS_write || nr == SYS_pwrite64 || nr == SYS_writev || nr == SYS_pwritev ||
	       nr == SYS_pwritev2;
}

/* Whether descriptor fd of pid is the file img. */
static bool fd_is(pid_t pid, uint64_t fd, const struct stat *img)
{
	char link[64];
	struct stat st;

	snprintf(link, sizeof(link), "/proc/%d/fd/%" PRIu64, (int)pid, fd);
	return stat(link, &st) == 0 && st.st_dev == img->st_dev && st.st_ino == img->st_ino;
}

/* Runs op in a traced child and kills it when it enters its n-th write
 * system call on the image, so that every write before it happened and
 * none after; n = 0 lets it finish. Returns the number of writes seen, -1
 * when this host does not allow ptrace. */
static int run_killed_at_write(const char *p, enum op op, int n)
{
	struct stat img;
	int st, sig = 0, writes = 0;
	bool killed = false;
	pid_t pid;

	assert_int_equal(stat(p, &img), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int r;

		if (ptrace(PTRACE_TRACEME, 0, NULL, NULL) < 0)
			_exit(2);
		raise(SIGSTOP);
		r = op == OP_REWRAP ? lm_volume_rewrap(p, g_a, g_b) : lm_volume_reencrypt(p, g_a, g_b, NULL, NULL);
		_exit(r == 0 ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	if (WIFEXITED(st) && WEXITSTATUS(st) == 2)
		return -1;
	assert_true(WIFSTOPPED(st));
	assert_int_equal(ptrace(PTRACE_SETOPTIONS, pid, NULL,
				(void *)(long)(PTRACE_O_TRACESYSGOOD | PTRACE_O_EXITKILL)), 0);
	for (;;) {
		struct __ptrace_syscall_info info;

		if (!killed)
			assert_int_equal(ptrace(PTRACE_SYSCALL, pid, NULL, (void *)(long)sig), 0);
		sig = 0;
		assert_int_equal(waitpid(pid, &st, 0), pid);
		if (WIFEXITED(st) || WIFSIGNALED(st))
			break;
		if (killed || WSTOPSIG(st) != (SIGTRAP | 0x80)) {
			sig = killed ? 0 : WSTOPSIG(st);
			continue;
		}
		if (ptrace(PTRACE_GET_SYSCALL_INFO, pid, (void *)sizeof(info), &info) <= 0 ||
		    info.op != PTRACE_SYSCALL_INFO_ENTRY || !is_write(info.entry.nr) ||
		    !fd_is(pid, info.entry.args[0], &img))
			continue;
		if (++writes == n) {
			kill(pid, SIGKILL);
			killed = true;
		}
	}
	if (killed)
		assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	else
		assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	return writes;
}

/* Kills op before each of its writes to the image in turn: with
 * LM_TEST_CRASH_ALL set before every one, otherwise before each write of
 * the last tenth (the end of the last hot zone and the final header updates, where
 * the finished state is judged) and before sparse ones earlier, to stay
 * within the unit test timeout. */
static void crash_writes(enum op op)
{
	char p[128], point[64];
	int total, dense_from, done = 0;
	bool all = getenv("LM_TEST_CRASH_ALL") != NULL;

	fresh(p, sizeof(p), "crash-w.img");
	total = run_killed_at_write(p, op, 0);
	if (total < 0)
		skip();
	expect_rotated(p, g_b, g_a);
	assert_true(total >= 2);
	dense_from = all ? 1 : total - (op == OP_REWRAP ? 0 : total / 14);
	for (int n = 1; n <= total; n++) {
		if (n < dense_from && n % (op == OP_REWRAP ? 4 : 32) != 1)
			continue;
		fresh(p, sizeof(p), "crash-w.img");
		assert_int_equal(run_killed_at_write(p, op, n), n);
		snprintf(point, sizeof(point), "write%d-of-%d", n, total);
		check_after_kill(p, op, point);
		done++;
	}
	print_message("  %s: %d writes to the image, killed before %d of them\n",
		      op == OP_REWRAP ? "rewrap" : "reencrypt", total, done);
}

static void test_crash_rewrap_writes(void **state)
{
	(void)state;
	crash_writes(OP_REWRAP);
}

static void test_crash_reencrypt_writes(void **state)
{
	(void)state;
	crash_writes(OP_REENCRYPT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rewrap),
		cmocka_unit_test(test_refusals_change_nothing),
		cmocka_unit_test(test_resume_states),
		cmocka_unit_test(test_reencrypt),
		cmocka_unit_test(test_reencrypt_stop_and_resume),
		cmocka_unit_test(test_reencrypt_header_tamper),
		cmocka_unit_test(test_crash_rewrap_timed),
		cmocka_unit_test(test_crash_reencrypt_timed),
		cmocka_unit_test(test_crash_reencrypt_hotzones),
		cmocka_unit_test(test_crash_rewrap_writes),
		cmocka_unit_test(test_crash_reencrypt_writes),
	};

	/* LM_TEST_FILTER=test_crash_reencrypt_timed runs that test alone (for
	 * running one crash test in a loop). */
	if (getenv("LM_TEST_FILTER"))
		cmocka_set_test_filter(getenv("LM_TEST_FILTER"));
	return cmocka_run_group_tests(tests, setup, teardown);
}
