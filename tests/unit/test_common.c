/* Unit tests for lib/common: encodings, files, secrets, time. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "lambda/json.h"
#include "lambda/secret.h"
#include "lambda/util.h"

static void test_hex(void **state)
{
	uint8_t out[4];
	char hex[9];

	(void)state;
	lm_hex_encode(hex, "\x00\xab\x10\xff", 4);
	assert_string_equal(hex, "00ab10ff");
	assert_int_equal(lm_hex_decode(out, 4, "00AB10ff"), 0);
	assert_memory_equal(out, "\x00\xab\x10\xff", 4);
	assert_int_equal(lm_hex_decode(out, 4, "00ab10f"), LM_EFORMAT);
	assert_int_equal(lm_hex_decode(out, 4, "00ab10fg"), LM_EFORMAT);
	assert_int_equal(lm_hex_decode(out, 4, "00ab 0ff"), LM_EFORMAT);
}

static void test_base64(void **state)
{
	static const char *vec[][2] = {
		{ "", "" }, { "f", "Zg==" }, { "fo", "Zm8=" }, { "foo", "Zm9v" }, { "foobar", "Zm9vYmFy" },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
		char *enc;
		uint8_t *dec;
		size_t n;

		assert_int_equal(lm_base64_encode(vec[i][0], strlen(vec[i][0]), &enc), 0);
		assert_string_equal(enc, vec[i][1]);
		assert_int_equal(lm_base64_decode(enc, &dec, &n), 0);
		assert_int_equal(n, strlen(vec[i][0]));
		assert_memory_equal(dec, vec[i][0], n);
		free(enc);
		free(dec);
	}
	uint8_t *dec;
	size_t n;
	assert_int_equal(lm_base64_decode("Zm9", &dec, &n), LM_EFORMAT);
	assert_int_equal(lm_base64_decode("Zm9*", &dec, &n), LM_EFORMAT);
}

static void test_time(void **state)
{
	char buf[32];
	time_t t;

	(void)state;
	assert_int_equal(lm_time_parse("2026-01-24T10:30:00Z", &t), 0);
	lm_time_format(buf, sizeof(buf), t);
	assert_string_equal(buf, "2026-01-24T10:30:00Z");
	assert_int_equal(lm_time_parse("2026-01-24T12:30:00.123+02:00", &t), 0);
	lm_time_format(buf, sizeof(buf), t);
	assert_string_equal(buf, "2026-01-24T10:30:00Z");
	assert_int_equal(lm_time_parse("2026-01-24 10:30:00Z", &t), LM_EFORMAT);
	assert_int_equal(lm_time_parse("2026-01-24T10:30:00", &t), LM_EFORMAT);
	assert_int_equal(lm_time_parse("2026-01-24T10:30:00Zjunk", &t), LM_EFORMAT);
	/* dates that do not exist are refused, not rolled over */
	assert_int_equal(lm_time_parse("2025-02-30T00:00:00Z", &t), LM_EFORMAT);
	assert_int_equal(lm_time_parse("2025-04-31T00:00:00Z", &t), LM_EFORMAT);
	assert_int_equal(lm_time_parse("2025-02-29T00:00:00Z", &t), LM_EFORMAT);
	assert_int_equal(lm_time_parse("2024-02-29T00:00:00Z", &t), 0);
	assert_int_equal(lm_time_parse("2025-12-31T23:59:60Z", &t), LM_EFORMAT);
}

static void test_files(void **state)
{
	char dir[] = "/tmp/lm-test-XXXXXX", path[256];
	uint8_t *buf;
	size_t size;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/a", dir);
	assert_int_equal(lm_file_write_new(path, "secret", 6, 0600), 0);
	assert_int_equal(lm_file_write_new(path, "other", 5, 0600), LM_EEXIST);
	assert_int_equal(lm_file_read_private(path, 100, &buf, &size), 0);
	assert_int_equal(size, 6);
	assert_memory_equal(buf, "secret", 6);
	lm_free_wiped_size(buf, size);
	assert_int_equal(chmod(path, 0640), 0);
	assert_int_equal(lm_file_read_private(path, 100, &buf, &size), LM_EKEYPERM);
	assert_int_equal(lm_file_read(path, 3, &buf, &size), LM_ETOOBIG);
	snprintf(path, sizeof(path), "%s/missing", dir);
	assert_int_equal(lm_file_read(path, 100, &buf, &size), LM_ENOENT);
	assert_int_equal(lm_rm_rf(dir), 0);
	assert_int_not_equal(access(dir, F_OK), 0);
}

/* Key files must be regular files of the caller: a FIFO would block the
 * read forever, a directory is no key, and a file of another user may be
 * swapped by that user (ssh refuses it too). A symlink to a good key works. */
static void test_read_private_kinds(void **state)
{
	char dir[] = "/tmp/lm-test-XXXXXX", path[256], link_path[256];
	uint8_t *buf = NULL;
	size_t size;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/fifo", dir);
	assert_int_equal(mkfifo(path, 0600), 0);
	assert_int_equal(lm_file_read_private(path, 100, &buf, &size), LM_EINVAL);
	snprintf(path, sizeof(path), "%s/sub", dir);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(lm_file_read_private(path, 100, &buf, &size), LM_EINVAL);
	snprintf(path, sizeof(path), "%s/key", dir);
	assert_int_equal(lm_file_write_new(path, "secret", 6, 0600), 0);
	snprintf(link_path, sizeof(link_path), "%s/link", dir);
	assert_int_equal(symlink(path, link_path), 0);
	assert_int_equal(lm_file_read_private(link_path, 100, &buf, &size), 0);
	assert_int_equal(size, 6);
	lm_free_wiped_size(buf, size);
	/* Another owner: only root can hand a file to someone else. */
	if (chown(path, 65534, 65534) == 0) {
		assert_int_equal(lm_file_read_private(path, 100, &buf, &size), LM_EKEYPERM);
		assert_int_equal(lm_file_read_private(link_path, 100, &buf, &size), LM_EKEYPERM);
	}
	assert_int_equal(lm_rm_rf(dir), 0);
}

static void test_secret(void **state)
{
	struct lm_secret *s;

	(void)state;
	assert_int_equal(lm_secret_new(0, &s), LM_EINVAL);
	assert_int_equal(lm_secret_dup("abc", 3, &s), 0);
	assert_true(lm_ct_equal(s->data, "abc", 3));
	assert_false(lm_ct_equal(s->data, "abd", 3));
	lm_secret_free(s);
	lm_secret_free(NULL);
}

static void test_json_only_keys(void **state)
{
	static const char *const allowed[] = { "type", "region", NULL };
	json_t *ok = json_pack("{s:s,s:s}", "type", "a", "region", "b");
	json_t *bad = json_pack("{s:s,s:s}", "type", "a", "env", "b");
	char name[32];

	(void)state;
	assert_int_equal(lm_json_only_keys(ok, allowed, name, sizeof(name)), 0);
	assert_int_equal(lm_json_only_keys(bad, allowed, name, sizeof(name)), LM_EINVAL);
	assert_string_equal(name, "env");
	json_decref(ok);
	json_decref(bad);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hex),
		cmocka_unit_test(test_base64),
		cmocka_unit_test(test_time),
		cmocka_unit_test(test_files),
		cmocka_unit_test(test_read_private_kinds),
		cmocka_unit_test(test_secret),
		cmocka_unit_test(test_json_only_keys),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
