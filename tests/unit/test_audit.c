/* Unit tests for lib/audit: the row hash against a known answer, appending
 * and verifying, and detection of every kind of tampering done directly to
 * the SQLite file (edit, deletion, truncation, reordering, forged or broken
 * checkpoint, full rewrite), wrong keys, and concurrent appenders. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sqlite3.h>

#include "lambda/audit.h"
#include "lambda/secret.h"
#include "lambda/util.h"

#define NEVENTS 5

struct fixture {
	char dir[64];
	char path[128];
	struct lm_store *st;
	char *priv, *pub;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	strcpy(f->dir, "/tmp/lm-audit-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/lambda.db", f->dir);
	if (lm_store_open(f->path, &f->st) != 0 || lm_audit_key_generate(&f->priv, &f->pub) != 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	lm_store_close(f->st);
	lm_free_wiped(f->priv);
	free(f->pub);
	if (lm_rm_rf(f->dir) != 0)
		return -1;
	free(f);
	return 0;
}

/* Runs SQL on the database file through its own connection, as an attacker
 * with write access to the file would, after dropping the append-only
 * triggers (which only guard against our own mistakes). */
static void tamper(const char *path, const char *sql)
{
	char *err = NULL;
	sqlite3 *db;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	if (sqlite3_exec(db, "DROP TRIGGER IF EXISTS audit_no_update; DROP TRIGGER IF EXISTS audit_no_delete;", NULL,
			 NULL, &err) != SQLITE_OK ||
	    sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
		fail_msg("%s: %s", sql, err);
	sqlite3_close(db);
}

static void append_n(struct fixture *f, int n)
{
	for (int i = 0; i < n; i++) {
		char meta[64];

		snprintf(meta, sizeof(meta), "{\"type\": \"compute-4x\", \"region\": \"us-west-%d\"}", i);
		assert_int_equal(lm_audit_append(f->st, f->priv, "instance.created", "ten_0123456789ab", "inst_abc123",
						 "create", meta, NULL),
				 0);
	}
}

/* Verifies the stored log; returns the result and the bad seq. */
static int verify_stored(struct fixture *f, const char *pub, uint64_t *bad)
{
	char why[256];
	int r;

	*bad = 12345;
	r = lm_audit_verify_store(f->st, pub, bad, why, sizeof(why));
	if (r == 0) {
		assert_int_equal(*bad, 0);
		assert_string_equal(why, "");
	} else if (r == LM_EVERIFY) {
		assert_true(why[0] != 0);
	}
	return r;
}

static void expect_bad(struct fixture *f, uint64_t seq)
{
	uint64_t bad;

	assert_int_equal(verify_stored(f, f->pub, &bad), LM_EVERIFY);
	assert_int_equal(bad, seq);
}

static void set_str(char *dst, size_t size, const char *s)
{
	assert_true(strlen(s) < size);
	strcpy(dst, s);
}

#define SET(ev, field, s) set_str((ev)->field, sizeof((ev)->field), s)

/* A vector computed independently from the format in docs/formats.md. */
static void test_hash_known_answer(void **state)
{
	struct lm_audit_event ev = { .seq = 1 }, ev2 = { .seq = 2 };
	char hex[65];

	(void)state;
	SET(&ev, event_id, "evt_000000000001");
	SET(&ev, timestamp, "2026-01-24T10:30:00Z");
	SET(&ev, event_type, "instance.created");
	SET(&ev, actor, "ten_0123456789ab");
	SET(&ev, resource, "inst_abc123");
	SET(&ev, action, "create");
	SET(&ev, metadata, "{\"region\":\"us-west-1\",\"type\":\"compute-4x\"}");
	assert_int_equal(lm_audit_hash(&ev), 0);
	lm_hex_encode(hex, ev.hash, sizeof(ev.hash));
	assert_string_equal(hex, "26e7d5d4f97918ecdc1ad366ccc893a977ee2aeec10b81191a194fe535e593d2");

	SET(&ev2, event_id, "evt_000000000002");
	SET(&ev2, timestamp, "2026-01-24T10:31:00Z");
	SET(&ev2, event_type, "instance.deleted");
	SET(&ev2, actor, "ten_0123456789ab");
	SET(&ev2, resource, "inst_abc123");
	SET(&ev2, action, "delete");
	SET(&ev2, metadata, "{}");
	memcpy(ev2.prev_hash, ev.hash, sizeof(ev.hash));
	assert_int_equal(lm_audit_hash(&ev2), 0);
	lm_hex_encode(hex, ev2.hash, sizeof(ev2.hash));
	assert_string_equal(hex, "74bc17d81a3057bd40dce27ddd2fbbcf2080f0ce465185b84122e01a21390cc1");

	/* Every input counts: seq, prev_hash, and field boundaries (the length
	 * prefixes keep "ab"+"c" apart from "a"+"bc"). */
	{
		struct lm_audit_event t = ev;
		uint8_t orig[LM_HASH_BYTES];

		memcpy(orig, ev.hash, sizeof(orig));
		t.seq = 2;
		assert_int_equal(lm_audit_hash(&t), 0);
		assert_memory_not_equal(t.hash, orig, sizeof(orig));
		t = ev;
		t.prev_hash[31] ^= 1;
		assert_int_equal(lm_audit_hash(&t), 0);
		assert_memory_not_equal(t.hash, orig, sizeof(orig));
		t = ev;
		SET(&t, actor, "ten_0123456789a");
		SET(&t, resource, "binst_abc123");
		assert_int_equal(lm_audit_hash(&t), 0);
		assert_memory_not_equal(t.hash, orig, sizeof(orig));
		/* An unterminated field is refused, not read past. */
		t = ev;
		memset(t.action, 'a', sizeof(t.action));
		assert_int_equal(lm_audit_hash(&t), LM_EINVAL);
	}
}

static void test_append_verify(void **state)
{
	struct fixture *f = *state;
	struct lm_audit_event ev, *rows;
	struct lm_audit_checkpoint cp;
	uint64_t bad;
	size_t n;
	time_t t;

	/* An empty log with no checkpoint is intact. */
	assert_int_equal(verify_stored(f, f->pub, &bad), 0);

	assert_int_equal(lm_audit_append(f->st, f->priv, "tenant.created", "system", NULL, "create", NULL, &ev), 0);
	assert_int_equal(ev.seq, 1);
	assert_int_equal(strncmp(ev.event_id, "evt_", 4), 0);
	assert_int_equal(lm_time_parse(ev.timestamp, &t), 0);
	assert_true(labs((long)(t - time(NULL))) < 60);
	assert_string_equal(ev.resource, "");
	assert_string_equal(ev.metadata, "{}");
	for (size_t i = 0; i < LM_HASH_BYTES; i++)
		assert_int_equal(ev.prev_hash[i], 0);

	append_n(f, NEVENTS - 1);
	assert_int_equal(lm_store_audit_list(f->st, 1, 0, &rows, &n), 0);
	assert_int_equal(n, NEVENTS);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(rows[i].seq, i + 1);
		if (i > 0) {
			assert_memory_equal(rows[i].prev_hash, rows[i - 1].hash, LM_HASH_BYTES);
			assert_string_not_equal(rows[i].event_id, rows[i - 1].event_id);
		}
	}
	/* Metadata is stored compact with sorted keys. */
	assert_string_equal(rows[1].metadata, "{\"region\":\"us-west-0\",\"type\":\"compute-4x\"}");
	assert_memory_equal(rows[0].hash, ev.hash, LM_HASH_BYTES);

	assert_int_equal(lm_store_checkpoint_get(f->st, &cp), 0);
	assert_int_equal(cp.seq, NEVENTS);
	assert_memory_equal(cp.hash, rows[NEVENTS - 1].hash, LM_HASH_BYTES);
	assert_string_equal(cp.timestamp, rows[NEVENTS - 1].timestamp);

	assert_int_equal(lm_audit_verify(rows, n, &cp, f->pub, &bad, NULL, 0), 0);
	assert_int_equal(lm_audit_verify(rows, n, NULL, NULL, &bad, NULL, 0), 0);
	assert_int_equal(verify_stored(f, f->pub, &bad), 0);

	/* Out of order in the caller's array: reported where it breaks. */
	{
		struct lm_audit_event tmp = rows[1];

		rows[1] = rows[2];
		rows[2] = tmp;
		assert_int_equal(lm_audit_verify(rows, n, &cp, f->pub, &bad, NULL, 0), LM_EVERIFY);
		assert_int_equal(bad, 2);
		rows[2] = rows[1];
		rows[1] = tmp;
	}
	/* Rows that the checkpoint does not cover (appended without the key). */
	assert_int_equal(lm_audit_verify(rows, n, &cp, f->pub, &bad, NULL, 0), 0);
	cp.seq = 3;
	memcpy(cp.hash, rows[2].hash, LM_HASH_BYTES);
	/* A checkpoint edited without the key fails on its signature. */
	assert_int_equal(lm_audit_verify(rows, n, &cp, f->pub, &bad, NULL, 0), LM_EVERIFY);
	assert_int_equal(bad, 3);
	/* A genuine older checkpoint: rows 4 and 5 are not covered. */
	assert_int_equal(lm_audit_verify(rows, 3, NULL, NULL, &bad, NULL, 0), 0);
	free(rows);
}

static void test_append_bad_input(void **state)
{
	struct fixture *f = *state;
	char big[600], *ec_pem = NULL;
	EVP_PKEY *ec;
	BIO *bio;
	long len;
	char *data;

	assert_int_equal(lm_audit_append(f->st, f->priv, "x.y", "system", NULL, "a", "[1, 2]", NULL), LM_EINVAL);
	assert_int_equal(lm_audit_append(f->st, f->priv, "x.y", "system", NULL, "a", "\"text\"", NULL), LM_EINVAL);
	assert_int_equal(lm_audit_append(f->st, f->priv, "x.y", "system", NULL, "a", "{\"a\": 1", NULL), LM_EINVAL);
	assert_int_equal(lm_audit_append(f->st, f->priv, "x.y", "system", NULL, "a", "{\"a\":1,\"a\":2}", NULL),
			 LM_EINVAL);
	assert_int_equal(lm_audit_append(f->st, f->priv, "x.y", "system", NULL, "a", "{} {}", NULL), LM_EINVAL);
	snprintf(big, sizeof(big), "{\"a\": \"%0*d\"}", 520, 0);
	assert_int_equal(lm_audit_append(f->st, f->priv, "x.y", "system", NULL, "a", big, NULL), LM_ETOOBIG);
	assert_int_equal(lm_audit_append(f->st, f->priv, "", "system", NULL, "a", NULL, NULL), LM_EINVAL);
	assert_int_equal(lm_audit_append(f->st, f->priv, "x.y", NULL, NULL, "a", NULL, NULL), LM_EINVAL);
	assert_int_equal(lm_audit_append(f->st, f->priv, "x.y", "system", NULL, NULL, NULL, NULL), LM_EINVAL);
	memset(big, 'r', sizeof(big));
	big[LM_NAME_MAX] = 0;
	assert_int_equal(lm_audit_append(f->st, f->priv, "x.y", "system", big, "a", NULL, NULL), LM_EINVAL);

	/* Keys: garbage, a public key, a key of another type. */
	assert_int_equal(lm_audit_append(f->st, "not a key", "x.y", "system", NULL, "a", NULL, NULL), LM_EFORMAT);
	assert_int_equal(lm_audit_append(f->st, f->pub, "x.y", "system", NULL, "a", NULL, NULL), LM_EFORMAT);
	ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	assert_non_null(ec);
	bio = BIO_new(BIO_s_mem());
	assert_int_equal(PEM_write_bio_PrivateKey(bio, ec, NULL, NULL, 0, NULL, NULL), 1);
	len = BIO_get_mem_data(bio, &data);
	ec_pem = strndup(data, (size_t)len);
	assert_int_equal(lm_audit_append(f->st, ec_pem, "x.y", "system", NULL, "a", NULL, NULL), LM_EWRONGKEY);
	free(ec_pem);
	BIO_free(bio);
	EVP_PKEY_free(ec);

	/* Nothing was written by any of these. */
	{
		struct lm_audit_event ev;

		assert_int_equal(lm_store_audit_last(f->st, &ev), LM_ENOENT);
	}
}

static void test_tamper_update(void **state)
{
	struct fixture *f = *state;

	append_n(f, NEVENTS);
	tamper(f->path, "UPDATE audit SET actor = 'ten_someoneelse' WHERE seq = 3");
	expect_bad(f, 3);
}

static void test_tamper_update_hash(void **state)
{
	struct fixture *f = *state;

	append_n(f, NEVENTS);
	tamper(f->path, "UPDATE audit SET hash = zeroblob(32) WHERE seq = 5");
	expect_bad(f, 5);
	tamper(f->path, "UPDATE audit SET prev_hash = zeroblob(32) WHERE seq = 2");
	expect_bad(f, 2);
}

static void test_tamper_delete_middle(void **state)
{
	struct fixture *f = *state;

	append_n(f, NEVENTS);
	tamper(f->path, "DELETE FROM audit WHERE seq = 3");
	expect_bad(f, 3);
}

static void test_tamper_delete_last(void **state)
{
	struct fixture *f = *state;
	struct lm_audit_event ev;

	append_n(f, NEVENTS);
	tamper(f->path, "DELETE FROM audit WHERE seq = 5");
	expect_bad(f, 5);
	/* Appending now would re-sign the truncated log and hide the deletion. */
	assert_int_equal(lm_audit_append(f->st, f->priv, "x.y", "system", NULL, "a", NULL, &ev), LM_EVERIFY);
	expect_bad(f, 5);
	/* So would forging the checkpoint's seq and hash without the key. */
	tamper(f->path, "UPDATE audit_checkpoint SET seq = 4, hash = (SELECT hash FROM audit WHERE seq = 4)");
	expect_bad(f, 4);
	assert_int_equal(lm_audit_append(f->st, f->priv, "x.y", "system", NULL, "a", NULL, &ev), LM_EVERIFY);
	/* Deleting every row leaves the checkpoint to tell. */
	tamper(f->path, "DELETE FROM audit");
	expect_bad(f, 4);
}

static void test_tamper_swap(void **state)
{
	struct fixture *f = *state;

	append_n(f, NEVENTS);
	tamper(f->path, "UPDATE audit SET seq = 1000 WHERE seq = 2;"
			"UPDATE audit SET seq = 2 WHERE seq = 3;"
			"UPDATE audit SET seq = 3 WHERE seq = 1000;");
	expect_bad(f, 2);
}

static void test_tamper_checkpoint(void **state)
{
	struct fixture *f = *state;
	struct lm_audit_checkpoint cp;
	char hex[129], sql[256];

	append_n(f, NEVENTS);
	assert_int_equal(lm_store_checkpoint_get(f->st, &cp), 0);
	cp.signature[17] ^= 0x04;
	lm_hex_encode(hex, cp.signature, sizeof(cp.signature));
	snprintf(sql, sizeof(sql), "UPDATE audit_checkpoint SET signature = X'%s'", hex);
	tamper(f->path, sql);
	expect_bad(f, 5);
	assert_int_equal(lm_audit_append(f->st, f->priv, "x.y", "system", NULL, "a", NULL, NULL), LM_EVERIFY);

	/* Removing the checkpoint does not switch the check off. */
	tamper(f->path, "DELETE FROM audit_checkpoint");
	expect_bad(f, 5);
	assert_int_equal(lm_audit_append(f->st, f->priv, "x.y", "system", NULL, "a", NULL, NULL), LM_EVERIFY);
}

/* Someone edits row 2 and recomputes every later hash (no key needed for
 * that): the chain is consistent again, but the signed head is not. */
static void test_tamper_rewrite(void **state)
{
	struct fixture *f = *state;
	struct lm_audit_event *rows;
	char hex[65], prev[65], sql[512];
	size_t n;

	append_n(f, NEVENTS);
	assert_int_equal(lm_store_audit_list(f->st, 1, 0, &rows, &n), 0);
	strcpy(rows[1].action, "nothing");
	for (size_t i = 1; i < n; i++) {
		memcpy(rows[i].prev_hash, rows[i - 1].hash, LM_HASH_BYTES);
		assert_int_equal(lm_audit_hash(&rows[i]), 0);
		lm_hex_encode(hex, rows[i].hash, LM_HASH_BYTES);
		lm_hex_encode(prev, rows[i].prev_hash, LM_HASH_BYTES);
		snprintf(sql, sizeof(sql),
			 "UPDATE audit SET action = '%s', prev_hash = X'%s', hash = X'%s' WHERE seq = %zu",
			 rows[i].action, prev, hex, i + 1);
		tamper(f->path, sql);
	}
	/* Without the checkpoint the rewritten chain looks fine... */
	assert_int_equal(lm_audit_verify(rows, n, NULL, NULL, NULL, NULL, 0), 0);
	/* ...with it, the head no longer matches what was signed. */
	expect_bad(f, 5);
	free(rows);
}

static void test_wrong_key(void **state)
{
	struct fixture *f = *state;
	char *priv2, *pub2;
	uint64_t bad;

	append_n(f, NEVENTS);
	assert_int_equal(lm_audit_key_generate(&priv2, &pub2), 0);
	assert_string_not_equal(pub2, f->pub);
	assert_int_equal(verify_stored(f, pub2, &bad), LM_EVERIFY);
	assert_int_equal(bad, NEVENTS);
	/* Unusable public key input is not a verification result. */
	assert_int_equal(verify_stored(f, "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", &bad),
			 LM_EFORMAT);
	assert_int_equal(verify_stored(f, f->priv, &bad), LM_EFORMAT);
	/* Appending with another key refuses: the stored checkpoint was made
	 * with the first one. */
	assert_int_equal(lm_audit_append(f->st, priv2, "x.y", "system", NULL, "a", NULL, NULL), LM_EVERIFY);
	assert_int_equal(verify_stored(f, f->pub, &bad), 0);
	lm_free_wiped(priv2);
	free(pub2);
}

static void test_two_handles(void **state)
{
	struct fixture *f = *state;
	struct lm_store *other;
	struct lm_audit_event ev;
	uint64_t bad;

	assert_int_equal(lm_store_open(f->path, &other), 0);
	for (int i = 0; i < 10; i++) {
		assert_int_equal(lm_audit_append(i % 2 ? other : f->st, f->priv, "instance.created", "system", NULL,
						 "create", NULL, &ev),
				 0);
		assert_int_equal(ev.seq, (uint64_t)i + 1);
	}
	lm_store_close(other);
	assert_int_equal(verify_stored(f, f->pub, &bad), 0);
}

struct worker {
	const char *path, *priv;
	int count, failures;
};

static void *append_worker(void *arg)
{
	struct worker *w = arg;
	struct lm_store *st;

	if (lm_store_open(w->path, &st) != 0) {
		w->failures = w->count;
		return NULL;
	}
	for (int i = 0; i < w->count; i++)
		if (lm_audit_append(st, w->priv, "instance.updated", "system", NULL, "update", NULL, NULL) != 0)
			w->failures++;
	lm_store_close(st);
	return NULL;
}

/* Two appenders at once, each on its own handle: BEGIN IMMEDIATE makes
 * read-head-then-append atomic, so no seq is taken twice. */
static void test_concurrent_appenders(void **state)
{
	struct fixture *f = *state;
	struct worker w[2] = { { f->path, f->priv, 20, 0 }, { f->path, f->priv, 20, 0 } };
	pthread_t th[2];
	struct lm_audit_event ev;
	uint64_t bad;

	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&th[i], NULL, append_worker, &w[i]), 0);
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_join(th[i], NULL), 0);
	assert_int_equal(w[0].failures + w[1].failures, 0);
	assert_int_equal(lm_store_audit_last(f->st, &ev), 0);
	assert_int_equal(ev.seq, 40);
	assert_int_equal(verify_stored(f, f->pub, &bad), 0);
}

static void test_verify_args(void **state)
{
	struct lm_audit_checkpoint cp = { .seq = 1 };
	uint64_t bad = 7;
	char why[64];

	(void)state;
	assert_int_equal(lm_audit_verify(NULL, 0, NULL, NULL, &bad, why, sizeof(why)), 0);
	assert_int_equal(bad, 0);
	assert_int_equal(lm_audit_verify(NULL, 1, NULL, NULL, &bad, why, sizeof(why)), LM_EINVAL);
	assert_int_equal(lm_audit_verify(NULL, 0, &cp, NULL, &bad, why, sizeof(why)), LM_EINVAL);
	assert_int_equal(lm_audit_key_generate(NULL, NULL), LM_EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hash_known_answer),
		cmocka_unit_test(test_verify_args),
		cmocka_unit_test_setup_teardown(test_append_verify, setup, teardown),
		cmocka_unit_test_setup_teardown(test_append_bad_input, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tamper_update, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tamper_update_hash, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tamper_delete_middle, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tamper_delete_last, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tamper_swap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tamper_checkpoint, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tamper_rewrite, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrong_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_two_handles, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_appenders, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
