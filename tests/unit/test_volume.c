/* Unit tests for lib/volume: LUKS2 images made and checked through the real
 * libcryptsetup, headers made by the cryptsetup tool with other parameters
 * (refused), damaged headers (refused), and interop with `cryptsetup
 * luksDump`. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/evp.h>

#include "lambda/log.h"
#include "lambda/util.h"
#include "lambda/volume.h"
#include "volume/volume_int.h"

#define IMG_SIZE LM_VOLUME_MIN_SIZE

static char g_dir[64];

static void log_stderr(enum lm_log_level level, const char *msg, void *ctx)
{
	(void)ctx;
	if (level <= LM_LOG_WARN)
		fprintf(stderr, "  log: %s\n", msg);
}

static int setup(void **state)
{
	(void)state;
	lm_log_set_handler(log_stderr, NULL);
	strcpy(g_dir, "/var/tmp/lm-test-volume-XXXXXX");
	return mkdtemp(g_dir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	return lm_rm_rf(g_dir) < 0 ? -1 : 0;
}

static void img_path(char *out, size_t size, const char *name)
{
	snprintf(out, size, "%s/%s", g_dir, name);
	unlink(out);
}

static struct lm_secret *make_key(uint8_t fill)
{
	struct lm_secret *s;

	assert_int_equal(lm_secret_new(32, &s), 0);
	for (size_t i = 0; i < s->size; i++)
		s->data[i] = (uint8_t)(fill + i * 7);
	return s;
}

static int have_cryptsetup(void)
{
	return access("/usr/sbin/cryptsetup", X_OK) == 0 || access("/sbin/cryptsetup", X_OK) == 0;
}

/* Runs `cryptsetup luksFormat` with extra options on a fresh sparse image
 * at path, keyed by key file kf. */
static int cs_format(const char *path, const char *kf, const char *opts)
{
	char cmd[1024];

	snprintf(cmd, sizeof(cmd),
		"truncate -s 32M %s && cryptsetup luksFormat -q --type luks2 --key-file %s %s %s >/dev/null 2>&1", path,
		kf, opts, path);
	return system(cmd);
}

static void write_key_file(const char *kf, const struct lm_secret *k)
{
	unlink(kf);
	assert_int_equal(lm_file_write_new(kf, k->data, k->size, 0600), 0);
}

static void test_create_and_check(void **state)
{
	struct lm_secret *k = make_key(1), *other = make_key(2);
	char p[128];
	struct stat st;

	(void)state;
	img_path(p, sizeof(p), "a.img");
	assert_int_equal(lm_volume_create(p, IMG_SIZE, k), 0);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal((uint64_t)st.st_size, IMG_SIZE);
	/* sparse: far less than the whole size is allocated */
	assert_true((uint64_t)st.st_blocks * 512 < IMG_SIZE * 3 / 4);
	assert_int_equal(lm_volume_check_header(p), 0);
	assert_int_equal(lm_volume_check_passphrase(p, k), 0);
	assert_int_equal(lm_volume_check_passphrase(p, other), LM_EWRONGKEY);
	/* one flipped bit of the passphrase is a wrong key */
	k->data[31] ^= 1;
	assert_int_equal(lm_volume_check_passphrase(p, k), LM_EWRONGKEY);
	lm_secret_free(k);
	lm_secret_free(other);
}

static void test_bad_args(void **state)
{
	struct lm_secret *k = make_key(3);
	char p[128];

	(void)state;
	img_path(p, sizeof(p), "small.img");
	assert_int_equal(lm_volume_create(p, LM_VOLUME_MIN_SIZE - 4096, k), LM_EINVAL);
	assert_int_equal(lm_volume_create(p, LM_VOLUME_MIN_SIZE + 1, k), LM_EINVAL);
	assert_int_equal(lm_volume_create(p, IMG_SIZE, NULL), LM_EINVAL);
	assert_int_equal(access(p, F_OK), -1);
	assert_int_equal(lm_volume_check_header("/nonexistent/x.img"), LM_ENOENT);
	lm_secret_free(k);
}

static void test_zero_bytes_in_key(void **state)
{
	static const uint8_t raw[32] = { 0x00, 0x00, 0x41, 0x00, 0x42, [31] = 0x7f };
	struct lm_secret *k, *k2;
	char p[128];

	(void)state;
	assert_int_equal(lm_secret_dup(raw, sizeof(raw), &k), 0);
	assert_int_equal(lm_secret_dup(raw, sizeof(raw), &k2), 0);
	img_path(p, sizeof(p), "zero.img");
	assert_int_equal(lm_volume_create(p, IMG_SIZE, k), 0);
	assert_int_equal(lm_volume_check_passphrase(p, k), 0);
	/* differs only after the first NUL: a strlen() anywhere would accept it */
	k2->data[4] = 0x43;
	assert_int_equal(lm_volume_check_passphrase(p, k2), LM_EWRONGKEY);
	/* a shorter key, equal up to its end, is wrong too (the last byte is
	 * not zero: HMAC pads short keys with zeros) */
	k2->size = 5;
	k2->data[4] = 0x42;
	assert_int_equal(lm_volume_check_passphrase(p, k2), LM_EWRONGKEY);
	k2->size = 32;
	lm_secret_free(k);
	lm_secret_free(k2);
}

static void test_existing_path(void **state)
{
	struct lm_secret *k = make_key(4);
	char p[128];
	int fd;

	(void)state;
	img_path(p, sizeof(p), "exists.img");
	fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "keep", 4), 4);
	close(fd);
	assert_int_equal(lm_volume_create(p, IMG_SIZE, k), LM_EEXIST);
	/* the existing file is left alone */
	struct stat st;
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_size, 4);
	assert_int_equal(lm_volume_check_header(p), LM_EFORMAT);
	lm_secret_free(k);
}

/* Flips one byte at each of off and off2 (when >= 0) in a copy of a good
 * image, expects want from the header check. */
static void expect_after_flips(const char *good, const char *name, off_t off, off_t off2, int want)
{
	char p[128], cmd[512];
	uint8_t b;
	int fd;

	img_path(p, sizeof(p), name);
	snprintf(cmd, sizeof(cmd), "cp --sparse=always %s %s", good, p);
	assert_int_equal(system(cmd), 0);
	fd = open(p, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &b, 1, off), 1);
	b ^= 0x20;
	assert_int_equal(pwrite(fd, &b, 1, off), 1);
	if (off2 >= 0) {
		assert_int_equal(pread(fd, &b, 1, off2), 1);
		b ^= 0x20;
		assert_int_equal(pwrite(fd, &b, 1, off2), 1);
	}
	close(fd);
	assert_int_equal(lm_volume_check_header(p), want);
}

static void test_damaged_headers(void **state)
{
	struct lm_secret *k = make_key(5);
	char good[128], p[128];

	(void)state;
	img_path(good, sizeof(good), "good.img");
	assert_int_equal(lm_volume_create(good, IMG_SIZE, k), 0);
	expect_after_flips(good, "flip-magic.img", 1, -1, LM_EFORMAT);
	/* One copy failing its checksum is what an interrupted header write
	 * leaves; libcryptsetup skips that copy, so only the other counts
	 * (and was checked). Both damaged: refused. */
	expect_after_flips(good, "flip-json.img", 4096 + 10, -1, 0);
	expect_after_flips(good, "flip-second.img", 16384 + 4096 + 10, -1, 0);
	expect_after_flips(good, "flip-both.img", 4096 + 10, 16384 + 4096 + 10, LM_EFORMAT);
	/* the checksum algorithm is not a checksum failure: refused */
	expect_after_flips(good, "flip-csum-alg.img", 72, -1, LM_EFORMAT);
	/* truncated inside the header area */
	img_path(p, sizeof(p), "trunc.img");
	char cmd[1024];
	snprintf(cmd, sizeof(cmd), "head -c 20000 %s > %s", good, p);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(lm_volume_check_header(p), LM_EFORMAT);
	lm_secret_free(k);
}

static void test_foreign_headers(void **state)
{
	static const struct {
		const char *name, *opts;
	} cases[] = {
		{ "cbc.img", "--cipher aes-cbc-essiv:sha256 --key-size 256 --pbkdf pbkdf2 --pbkdf-force-iterations 1000" },
		{ "xts256.img", "--cipher aes-xts-plain64 --key-size 256 --sector-size 4096 --pbkdf pbkdf2 "
				"--pbkdf-force-iterations 1000" },
		{ "s512.img", "--cipher aes-xts-plain64 --key-size 512 --sector-size 512 --pbkdf pbkdf2 "
			      "--pbkdf-force-iterations 1000" },
		{ "argon.img", "--cipher aes-xts-plain64 --key-size 512 --sector-size 4096 --pbkdf argon2id "
			       "--pbkdf-force-iterations 4 --pbkdf-memory 32" },
		{ "offset.img", "--cipher aes-xts-plain64 --key-size 512 --sector-size 4096 --pbkdf pbkdf2 "
				"--pbkdf-force-iterations 1000 --offset 65536" },
	};
	struct lm_secret *k = make_key(6);
	char kf[128], p[128];

	(void)state;
	if (!have_cryptsetup())
		skip();
	img_path(kf, sizeof(kf), "key.bin");
	write_key_file(kf, k);
	/* control: the tool with our parameters makes an acceptable header */
	img_path(p, sizeof(p), "tool-ok.img");
	assert_int_equal(cs_format(p, kf,
				 "--cipher aes-xts-plain64 --key-size 512 --sector-size 4096 --pbkdf pbkdf2 "
				 "--pbkdf-force-iterations 1000 --hash sha256"),
		0);
	assert_int_equal(lm_volume_check_header(p), 0);
	assert_int_equal(lm_volume_check_passphrase(p, k), 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		img_path(p, sizeof(p), cases[i].name);
		assert_int_equal(cs_format(p, kf, cases[i].opts), 0);
		if (lm_volume_check_header(p) != LM_EFORMAT)
			fail_msg("%s accepted", cases[i].name);
		/* nor is the key tried on it */
		assert_int_equal(lm_volume_check_passphrase(p, k), LM_EFORMAT);
	}
	/* Two keyslots of ours (an interrupted rotation) are accepted and a
	 * third refused: tests/unit/test_rotate.c, test_resume_states. */
	lm_secret_free(k);
}

/* Replaces the first occurrence of from (after the string after) with to
 * (same length) in both header copies of buf and recomputes their SHA-256
 * checksums, as a hostile host would. */
static void edit_header(uint8_t *buf, const char *after, const char *from, const char *to)
{
	for (size_t copy = 0; copy < 2; copy++) {
		uint8_t *hdr = buf + copy * 16384, md[32];
		char *hit = strstr((char *)hdr + 4096, after);
		unsigned md_size;

		assert_non_null(hit);
		hit = strstr(hit, from);
		assert_non_null(hit);
		memcpy(hit, to, strlen(to));
		memset(hdr + 448, 0, 64);
		assert_int_equal(EVP_Digest(hdr, 16384, md, &md_size, EVP_sha256(), NULL), 1);
		memcpy(hdr + 448, md, sizeof(md));
	}
}

/* Writes the first 32 KiB of a fresh good image, edited, as a new image. */
static void make_edited(const char *p, const char *after, const char *from, const char *to)
{
	struct lm_secret *k = make_key(7);
	uint8_t *buf;
	size_t size;
	char hdr[160];
	int fd;

	assert_int_equal(lm_volume_create(p, IMG_SIZE, k), 0);
	fd = open(p, O_RDWR);
	assert_true(fd >= 0);
	buf = malloc(32768);
	assert_non_null(buf);
	assert_int_equal(pread(fd, buf, 32768, 0), 32768);
	size = 32768;
	edit_header(buf, after, from, to);
	assert_int_equal(pwrite(fd, buf, size, 0), 32768);
	close(fd);
	snprintf(hdr, sizeof(hdr), "%s.hdr", p);
	unlink(hdr);
	assert_int_equal(lm_file_write_new(hdr, buf, size, 0600), 0);
	free(buf);
	lm_secret_free(k);
}

static void test_cipher_null(void **state)
{
	struct lm_secret *k = make_key(7);
	char p[128];

	(void)state;
	/* the data segment made cipher_null: checksums are valid, so only
	 * the content check stops it */
	img_path(p, sizeof(p), "null-seg.img");
	make_edited(p, "\"segments\"", "aes-xts-plain64", "cipher_null-ecb");
	assert_int_equal(lm_volume_check_header(p), LM_EFORMAT);
	assert_int_equal(lm_volume_check_passphrase(p, k), LM_EFORMAT);
	/* only the keyslot area encryption made cipher_null */
	img_path(p, sizeof(p), "null-area.img");
	make_edited(p, "\"area\"", "aes-xts-plain64", "cipher_null-ecb");
	assert_int_equal(lm_volume_check_header(p), LM_EFORMAT);
	/* control: an edit that keeps the meaning keeps the header good */
	img_path(p, sizeof(p), "edit-ok.img");
	make_edited(p, "\"segments\"", "\"type\":\"crypt\"", "\"type\":\"crypt\"");
	assert_int_equal(lm_volume_check_header(p), 0);
	assert_int_equal(lm_volume_check_passphrase(p, k), 0);
	lm_secret_free(k);
}

/* The parser alone: a keyslot area with cipher_null inside an otherwise
 * good header (checksum skipped, as libcryptsetup would not get that far). */
static void test_parser_cipher_null_anywhere(void **state)
{
	struct lm_secret *k = make_key(8);
	char p[128];
	uint8_t *buf;
	size_t size;

	(void)state;
	img_path(p, sizeof(p), "parse.img");
	assert_int_equal(lm_volume_create(p, IMG_SIZE, k), 0);
	char cmd[1024];
	snprintf(cmd, sizeof(cmd), "head -c 32768 %s > %s.hdr", p, p);
	assert_int_equal(system(cmd), 0);
	strcat(p, ".hdr");
	assert_int_equal(lm_file_read(p, 1u << 20, &buf, &size), 0);
	assert_int_equal(size, 32768);
	assert_int_equal(lm_luks2_header_check(buf, size, 0), 0);
	/* "aes-xts-plain64" of the keyslot area -> "cipher_null-ec" of the same length */
	for (size_t copy = 0; copy < 2; copy++) {
		uint8_t *json = buf + copy * 16384 + 4096;
		char *hit = strstr((char *)json, "\"area\"");
		assert_non_null(hit);
		hit = strstr(hit, "aes-xts-plain64");
		assert_non_null(hit);
		memcpy(hit, "cipher_null-ecb", 15);
	}
	assert_int_equal(lm_luks2_header_check(buf, size, 0), LM_EFORMAT);
	assert_int_equal(lm_luks2_header_check(buf, size, LM_LUKS2_PARSE_NO_CSUM), LM_EFORMAT);
	assert_int_equal(lm_luks2_header_check(buf, 100, 0), LM_EFORMAT);
	assert_int_equal(lm_luks2_header_check(buf, 16384 + 100, 0), LM_EFORMAT);
	free(buf);
	lm_secret_free(k);
}

static void test_luksdump_interop(void **state)
{
	struct lm_secret *k = make_key(9);
	char p[128], cmd[512], line[512];
	int has_cipher = 0, has_sector = 0, has_pbkdf2 = 0, has_luks2 = 0;
	FILE *f;

	(void)state;
	if (!have_cryptsetup())
		skip();
	img_path(p, sizeof(p), "dump.img");
	assert_int_equal(lm_volume_create(p, IMG_SIZE, k), 0);
	snprintf(cmd, sizeof(cmd), "cryptsetup luksDump %s 2>&1", p);
	f = popen(cmd, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		has_luks2 |= strstr(line, "Version:") && strstr(line, "2");
		has_cipher |= strstr(line, "cipher:") && strstr(line, "aes-xts-plain64");
		has_sector |= strstr(line, "sector:") && strstr(line, "4096 [bytes]");
		has_pbkdf2 |= strstr(line, "PBKDF:") && strstr(line, "pbkdf2");
	}
	assert_int_equal(pclose(f), 0);
	assert_true(has_luks2);
	assert_true(has_cipher);
	assert_true(has_sector);
	assert_true(has_pbkdf2);
	/* and the tool opens it with the raw key as a key file */
	char kf[128];
	img_path(kf, sizeof(kf), "dump.key");
	write_key_file(kf, k);
	snprintf(cmd, sizeof(cmd), "cryptsetup open --test-passphrase --key-file %s %s >/dev/null 2>&1", kf, p);
	assert_int_equal(system(cmd), 0);
	lm_secret_free(k);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_and_check),
		cmocka_unit_test(test_bad_args),
		cmocka_unit_test(test_zero_bytes_in_key),
		cmocka_unit_test(test_existing_path),
		cmocka_unit_test(test_damaged_headers),
		cmocka_unit_test(test_foreign_headers),
		cmocka_unit_test(test_cipher_null),
		cmocka_unit_test(test_parser_cipher_null_anywhere),
		cmocka_unit_test(test_luksdump_interop),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
