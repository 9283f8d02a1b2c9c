/* Unit tests for lib/store on temporary SQLite files: opening and URLs,
 * file modes and schema version, tenants and tokens, instances and tenant
 * isolation, metrics, write transactions, audit rows and checkpoints. */
#include <math.h>
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
#include <sqlite3.h>

#include "lambda/store.h"
#include "lambda/util.h"

struct fixture {
	char dir[64];
	char path[128];
	struct lm_store *st;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	strcpy(f->dir, "/tmp/lm-store-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/lambda.db", f->dir);
	if (lm_store_open(f->path, &f->st) != 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	lm_store_close(f->st);
	if (lm_rm_rf(f->dir) != 0)
		return -1;
	free(f);
	return 0;
}

/* Runs SQL on the file through a connection of its own, as someone with
 * access to the file would. */
static void sql_exec(const char *path, const char *sql)
{
	sqlite3 *db;
	char *err = NULL;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
		fail_msg("%s: %s", sql, err);
	sqlite3_close(db);
}

static int64_t sql_int(const char *path, const char *sql)
{
	sqlite3_stmt *stmt;
	sqlite3 *db;
	int64_t v;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
	v = sqlite3_column_int64(stmt, 0);
	sqlite3_finalize(stmt);
	sqlite3_close(db);
	return v;
}

static void make_tenant(struct lm_store *st, const char *name, struct lm_tenant *t)
{
	assert_int_equal(lm_store_tenant_create(st, name, false, t), 0);
}

static void make_instance(struct lm_store *st, const char *id, const char *tenant_id, time_t created)
{
	struct lm_instance_rec rec = { .volume_size = 256u << 20, .created_at = created };

	strcpy(rec.id, id);
	strcpy(rec.tenant_id, tenant_id);
	strcpy(rec.type, "compute-4x");
	strcpy(rec.region, "us-west-1");
	strcpy(rec.image, "host");
	strcpy(rec.volume_id, "vol_0123456789ab");
	strcpy(rec.key_id, "lmk_0011223344556677");
	strcpy(rec.status, "pending");
	assert_int_equal(lm_store_instance_insert(st, &rec), 0);
}

static void test_open(void **state)
{
	struct fixture *f = *state;
	struct lm_store *st;
	struct lm_tenant t;
	char url[256], wal[160];
	struct stat sb;

	/* Created 0600, WAL files too, schema version 2, WAL mode. */
	make_tenant(f->st, "acme", &t);
	assert_int_equal(stat(f->path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	snprintf(wal, sizeof(wal), "%s-wal", f->path);
	assert_int_equal(stat(wal, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	assert_int_equal(sql_int(f->path, "PRAGMA user_version"), 2);
	assert_int_equal(sql_int(f->path, "SELECT count(*) FROM tenants"), 1);

	/* The same file by URL forms, data kept. */
	snprintf(url, sizeof(url), "sqlite:%s", f->path);
	assert_int_equal(lm_store_open(url, &st), 0);
	assert_int_equal(lm_store_tenant_create(st, "acme", false, &t), LM_EEXIST);
	lm_store_close(st);
	snprintf(url, sizeof(url), "sqlite://%s", f->path);
	assert_int_equal(lm_store_open(url, &st), 0);
	lm_store_close(st);

	/* Not yet supported or unusable. */
	assert_int_equal(lm_store_open("postgresql://lambda:pw@db/lambda", &st), LM_ENOTSUP);
	assert_int_equal(lm_store_open("postgres://db/lambda", &st), LM_ENOTSUP);
	assert_int_equal(lm_store_open("mysql://db/lambda", &st), LM_ENOTSUP);
	assert_int_equal(lm_store_open("", &st), LM_EINVAL);
	assert_int_equal(lm_store_open("sqlite:", &st), LM_EINVAL);
	assert_int_equal(lm_store_open(NULL, &st), LM_EINVAL);
	assert_int_not_equal(lm_store_open(f->dir, &st), 0);
	snprintf(url, sizeof(url), "%s/missing/dir/x.db", f->dir);
	assert_int_equal(lm_store_open(url, &st), LM_ENOENT);
}

static void test_open_existing(void **state)
{
	struct fixture *f = *state;
	struct lm_store *st;
	char path[160];
	struct stat sb;

	/* A file open to others is tightened. */
	lm_store_close(f->st);
	f->st = NULL;
	assert_int_equal(chmod(f->path, 0644), 0);
	assert_int_equal(lm_store_open(f->path, &f->st), 0);
	assert_int_equal(stat(f->path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);

	/* A schema newer than this code is refused, not downgraded. */
	snprintf(path, sizeof(path), "%s/newer.db", f->dir);
	sql_exec(path, "PRAGMA user_version = 99");
	assert_int_equal(lm_store_open(path, &st), LM_ENOTSUP);

	/* A file that is not a database. */
	snprintf(path, sizeof(path), "%s/junk.db", f->dir);
	{
		static const char junk[] = "this is not an SQLite database, only text that is long enough.\n"
					   "this is not an SQLite database, only text that is long enough.\n";

		assert_int_equal(lm_file_write_new(path, junk, sizeof(junk) - 1, 0600), 0);
	}
	assert_int_equal(lm_store_open(path, &st), LM_EFORMAT);
}

/* A version 1 file (no 'stopped' status) is updated in place: instances
 * and their metrics survive the table rebuild, and 'stopped' is accepted. */
static void test_migrate_v1(void **state)
{
	struct fixture *f = *state;
	struct lm_metrics m = { .timestamp = 7000, .memory_bytes = 42 };
	struct lm_instance_rec rec;
	struct lm_tenant t;

	make_tenant(f->st, "acme", &t);
	make_instance(f->st, "inst_m1", t.id, 1000);
	strcpy(m.instance_id, "inst_m1");
	assert_int_equal(lm_store_metrics_insert(f->st, &m), 0);
	assert_int_equal(lm_store_instance_set_status(f->st, "inst_m1", "stopped", false, 0), 0);
	assert_int_equal(lm_store_instance_set_status(f->st, "inst_m1", "exited", true, 3), 0);
	lm_store_close(f->st);
	f->st = NULL;
	/* Back to the version 1 instances table (a raw connection has foreign
	 * keys off, so the rebuild keeps the metric row). */
	sql_exec(f->path,
		 "CREATE TABLE old (id TEXT PRIMARY KEY NOT NULL, tenant_id TEXT NOT NULL REFERENCES tenants(id),"
		 " type TEXT NOT NULL, region TEXT NOT NULL, image TEXT NOT NULL, volume_id TEXT NOT NULL,"
		 " volume_size INTEGER NOT NULL CHECK (volume_size >= 0), key_id TEXT NOT NULL,"
		 " status TEXT NOT NULL CHECK (status IN"
		 "  ('pending', 'awaiting_key', 'running', 'exited', 'failed', 'deleted')),"
		 " exit_code INTEGER, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL) STRICT;"
		 "INSERT INTO old SELECT * FROM instances; DROP TABLE instances;"
		 "ALTER TABLE old RENAME TO instances;"
		 "CREATE INDEX instances_tenant ON instances(tenant_id, created_at);"
		 "PRAGMA user_version = 1;");
	assert_int_equal(sql_int(f->path, "SELECT count(*) FROM metrics"), 1);

	assert_int_equal(lm_store_open(f->path, &f->st), 0);
	assert_int_equal(sql_int(f->path, "PRAGMA user_version"), 2);
	assert_int_equal(sql_int(f->path, "SELECT count(*) FROM metrics"), 1);
	assert_int_equal(lm_store_instance_get(f->st, t.id, "inst_m1", &rec), 0);
	assert_string_equal(rec.status, "exited");
	assert_true(rec.has_exit_code);
	assert_int_equal(rec.exit_code, 3);
	assert_int_equal(lm_store_instance_set_status(f->st, "inst_m1", "stopped", false, 0), 0);
	assert_int_equal(lm_store_instance_set_status(f->st, "inst_m1", "halted", false, 0), LM_EINVAL);
	/* Foreign keys are on again: a metric of a missing instance fails. */
	strcpy(m.instance_id, "inst_none");
	assert_int_not_equal(lm_store_metrics_insert(f->st, &m), 0);
	/* Deleting the instance still cascades to its metrics. */
	assert_int_equal(lm_store_instance_delete(f->st, "inst_m1"), 0);
	assert_int_equal(sql_int(f->path, "SELECT count(*) FROM metrics"), 0);
}

static void test_tenants_tokens(void **state)
{
	struct fixture *f = *state;
	struct lm_tenant a, b, got;
	uint8_t h1[LM_HASH_BYTES], h2[LM_HASH_BYTES], out[LM_HASH_BYTES];
	char longname[LM_NAME_MAX + 1];

	assert_int_equal(lm_store_tenant_create(f->st, "admin", true, &a), 0);
	assert_int_equal(strncmp(a.id, "ten_", 4), 0);
	assert_true(a.is_admin);
	make_tenant(f->st, "acme", &b);
	assert_string_not_equal(a.id, b.id);
	assert_false(b.is_admin);
	assert_int_equal(lm_store_tenant_create(f->st, "acme", true, &got), LM_EEXIST);
	assert_int_equal(lm_store_tenant_create(f->st, "", false, &got), LM_EINVAL);
	memset(longname, 'x', LM_NAME_MAX);
	longname[LM_NAME_MAX] = 0;
	assert_int_equal(lm_store_tenant_create(f->st, longname, false, &got), LM_EINVAL);

	memset(h1, 0xa1, sizeof(h1));
	memset(h2, 0xb2, sizeof(h2));
	assert_int_equal(lm_store_token_add(f->st, "tok_aaaa", a.id, h1), 0);
	assert_int_equal(lm_store_token_add(f->st, "tok_bbbb", b.id, h2), 0);
	assert_int_equal(lm_store_token_add(f->st, "tok_aaaa", b.id, h2), LM_EEXIST);
	assert_int_equal(lm_store_token_add(f->st, "tok_cccc", "ten_nosuchtenant", h2), LM_ENOENT);

	assert_int_equal(lm_store_token_get(f->st, "tok_bbbb", out, &got), 0);
	assert_memory_equal(out, h2, sizeof(h2));
	assert_string_equal(got.id, b.id);
	assert_string_equal(got.name, "acme");
	assert_false(got.is_admin);
	assert_int_equal(lm_store_token_get(f->st, "tok_aaaa", out, &got), 0);
	assert_memory_equal(out, h1, sizeof(h1));
	assert_true(got.is_admin);
	assert_int_equal(lm_store_token_get(f->st, "tok_cccc", out, &got), LM_ENOENT);
	assert_int_equal(lm_store_token_get(f->st, "", out, &got), LM_EINVAL);

	/* A stored value longer than its field (someone else wrote the file)
	 * is an error, never a truncated or overflowing copy. */
	sql_exec(f->path, "UPDATE tenants SET name = printf('%.100c', 'n') WHERE name = 'acme'");
	assert_int_equal(lm_store_token_get(f->st, "tok_bbbb", out, &got), LM_EFORMAT);
	sql_exec(f->path, "PRAGMA ignore_check_constraints = ON;"
			  "UPDATE tokens SET hash = X'00' WHERE token_id = 'tok_aaaa'");
	assert_int_equal(lm_store_token_get(f->st, "tok_aaaa", out, &got), LM_EFORMAT);
}

static void test_instances(void **state)
{
	struct fixture *f = *state;
	struct lm_tenant a, b;
	struct lm_instance_rec rec, *list;
	size_t n;

	make_tenant(f->st, "acme", &a);
	make_tenant(f->st, "globex", &b);
	make_instance(f->st, "inst_a2", a.id, 2000);
	make_instance(f->st, "inst_a1", a.id, 1000);
	make_instance(f->st, "inst_b1", b.id, 1500);

	/* Duplicates and unknown tenants. */
	memset(&rec, 0, sizeof(rec));
	assert_int_equal(lm_store_instance_get(f->st, NULL, "inst_a1", &rec), 0);
	assert_int_equal(lm_store_instance_insert(f->st, &rec), LM_EEXIST);
	strcpy(rec.id, "inst_zz");
	strcpy(rec.tenant_id, "ten_nosuchtenant");
	assert_int_equal(lm_store_instance_insert(f->st, &rec), LM_ENOENT);
	strcpy(rec.tenant_id, a.id);
	strcpy(rec.status, "bogus");
	assert_int_equal(lm_store_instance_insert(f->st, &rec), LM_EINVAL);
	strcpy(rec.status, "pending");
	memset(rec.region, 'r', sizeof(rec.region)); /* unterminated */
	assert_int_equal(lm_store_instance_insert(f->st, &rec), LM_EINVAL);

	/* Reads, with and without a tenant. */
	assert_int_equal(lm_store_instance_get(f->st, a.id, "inst_a1", &rec), 0);
	assert_string_equal(rec.tenant_id, a.id);
	assert_string_equal(rec.type, "compute-4x");
	assert_string_equal(rec.region, "us-west-1");
	assert_string_equal(rec.image, "host");
	assert_string_equal(rec.volume_id, "vol_0123456789ab");
	assert_int_equal(rec.volume_size, 256u << 20);
	assert_string_equal(rec.key_id, "lmk_0011223344556677");
	assert_string_equal(rec.status, "pending");
	assert_false(rec.has_exit_code);
	assert_int_equal(rec.created_at, 1000);
	assert_int_equal(rec.updated_at, 1000);

	/* Tenant isolation: another tenant's instance looks missing. */
	memset(&rec, 0x5a, sizeof(rec));
	assert_int_equal(lm_store_instance_get(f->st, b.id, "inst_a1", &rec), LM_ENOENT);
	assert_int_equal(rec.id[0], 0x5a); /* output untouched on failure */
	assert_int_equal(lm_store_instance_get(f->st, a.id, "inst_nope", &rec), LM_ENOENT);
	assert_int_equal(lm_store_instance_get(f->st, b.id, "inst_b1", &rec), 0);

	assert_int_equal(lm_store_instance_list(f->st, a.id, &list, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(list[0].id, "inst_a1"); /* oldest first */
	assert_string_equal(list[1].id, "inst_a2");
	free(list);
	assert_int_equal(lm_store_instance_list(f->st, b.id, &list, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(list[0].id, "inst_b1");
	free(list);
	assert_int_equal(lm_store_instance_list(f->st, NULL, &list, &n), 0);
	assert_int_equal(n, 3);
	assert_string_equal(list[0].id, "inst_a1");
	assert_string_equal(list[1].id, "inst_b1");
	assert_string_equal(list[2].id, "inst_a2");
	free(list);
	assert_int_equal(lm_store_instance_list(f->st, "ten_nobody", &list, &n), 0);
	assert_int_equal(n, 0);
	assert_non_null(list);
	free(list);

	/* Status updates. */
	assert_int_equal(lm_store_instance_set_status(f->st, "inst_a1", "running", false, 0), 0);
	assert_int_equal(lm_store_instance_get(f->st, NULL, "inst_a1", &rec), 0);
	assert_string_equal(rec.status, "running");
	assert_false(rec.has_exit_code);
	assert_true(rec.updated_at > 1000);
	assert_int_equal(lm_store_instance_set_status(f->st, "inst_a1", "exited", true, 3), 0);
	assert_int_equal(lm_store_instance_get(f->st, NULL, "inst_a1", &rec), 0);
	assert_string_equal(rec.status, "exited");
	assert_true(rec.has_exit_code);
	assert_int_equal(rec.exit_code, 3);
	/* Without an exit code the stored one stays. */
	assert_int_equal(lm_store_instance_set_status(f->st, "inst_a1", "deleted", false, 99), 0);
	assert_int_equal(lm_store_instance_get(f->st, NULL, "inst_a1", &rec), 0);
	assert_true(rec.has_exit_code);
	assert_int_equal(rec.exit_code, 3);
	assert_int_equal(lm_store_instance_set_status(f->st, "inst_a1", "sleeping", false, 0), LM_EINVAL);
	assert_int_equal(lm_store_instance_set_status(f->st, "inst_nope", "running", false, 0), LM_ENOENT);

	/* Key id after a rotation: only that column and updated_at change. */
	assert_int_equal(lm_store_instance_set_key_id(f->st, "inst_a1", "lmk_00112233445566ff"), 0);
	assert_int_equal(lm_store_instance_get(f->st, NULL, "inst_a1", &rec), 0);
	assert_string_equal(rec.key_id, "lmk_00112233445566ff");
	assert_string_equal(rec.status, "deleted");
	assert_int_equal(rec.exit_code, 3);
	assert_int_equal(lm_store_instance_set_key_id(f->st, "inst_nope", "lmk_00112233445566ff"), LM_ENOENT);
	assert_int_equal(lm_store_instance_set_key_id(f->st, "inst_a1", ""), LM_EINVAL);
	assert_int_equal(lm_store_instance_set_key_id(f->st, "inst_a1", NULL), LM_EINVAL);
	assert_int_equal(lm_store_instance_get(f->st, NULL, "inst_a1", &rec), 0);
	assert_string_equal(rec.key_id, "lmk_00112233445566ff");

	/* Delete. */
	assert_int_equal(lm_store_instance_delete(f->st, "inst_a1"), 0);
	assert_int_equal(lm_store_instance_get(f->st, NULL, "inst_a1", &rec), LM_ENOENT);
	assert_int_equal(lm_store_instance_delete(f->st, "inst_a1"), LM_ENOENT);
}

static void test_metrics(void **state)
{
	struct fixture *f = *state;
	struct lm_metrics m = { 0 }, *list;
	struct lm_tenant a, b;
	size_t n;

	make_tenant(f->st, "acme", &a);
	make_tenant(f->st, "globex", &b);
	make_instance(f->st, "inst_a1", a.id, 1000);
	make_instance(f->st, "inst_a2", a.id, 1001);
	make_instance(f->st, "inst_b1", b.id, 1002);

	for (int i = 0; i < 3; i++) {
		const char *ids[] = { "inst_a1", "inst_a2", "inst_b1" };

		for (int t = 0; t < 3; t++) {
			strcpy(m.instance_id, ids[i]);
			m.timestamp = 5000 + 10 * t;
			m.cpu_percent = 10.0 * i + t;
			m.memory_bytes = 1000u * (unsigned)i + (unsigned)t;
			m.network_in_bytes = 1;
			m.network_out_bytes = 2;
			m.disk_read_bytes = 3;
			m.disk_write_bytes = (uint64_t)INT64_MAX;
			assert_int_equal(lm_store_metrics_insert(f->st, &m), 0);
		}
	}
	assert_int_equal(lm_store_metrics_latest(f->st, a.id, &list, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(list[0].instance_id, "inst_a1");
	assert_int_equal(list[0].timestamp, 5020);
	assert_true(list[0].cpu_percent == 2.0);
	assert_int_equal(list[0].memory_bytes, 2);
	assert_string_equal(list[1].instance_id, "inst_a2");
	assert_true(list[1].cpu_percent == 12.0);
	assert_int_equal(list[1].memory_bytes, 1002);
	assert_int_equal(list[1].network_in_bytes, 1);
	assert_int_equal(list[1].network_out_bytes, 2);
	assert_int_equal(list[1].disk_read_bytes, 3);
	assert_int_equal(list[1].disk_write_bytes, (uint64_t)INT64_MAX);
	free(list);
	assert_int_equal(lm_store_metrics_latest(f->st, b.id, &list, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(list[0].instance_id, "inst_b1");
	free(list);
	assert_int_equal(lm_store_metrics_latest(f->st, NULL, &list, &n), 0);
	assert_int_equal(n, 3);
	free(list);

	/* A resent sample for the same second replaces the first. */
	strcpy(m.instance_id, "inst_b1");
	m.timestamp = 5020;
	m.cpu_percent = 99.5;
	assert_int_equal(lm_store_metrics_insert(f->st, &m), 0);
	assert_int_equal(lm_store_metrics_latest(f->st, b.id, &list, &n), 0);
	assert_int_equal(n, 1);
	assert_true(list[0].cpu_percent == 99.5);
	free(list);
	assert_int_equal(sql_int(f->path, "SELECT count(*) FROM metrics"), 9);

	/* Bad samples. */
	m.cpu_percent = NAN;
	assert_int_equal(lm_store_metrics_insert(f->st, &m), LM_EINVAL);
	m.cpu_percent = -1;
	assert_int_equal(lm_store_metrics_insert(f->st, &m), LM_EINVAL);
	m.cpu_percent = 1;
	m.memory_bytes = (uint64_t)INT64_MAX + 1;
	assert_int_equal(lm_store_metrics_insert(f->st, &m), LM_EINVAL);
	m.memory_bytes = 1;
	strcpy(m.instance_id, "inst_nope");
	assert_int_equal(lm_store_metrics_insert(f->st, &m), LM_ENOENT);

	/* Samples go with their instance. */
	assert_int_equal(lm_store_instance_delete(f->st, "inst_b1"), 0);
	assert_int_equal(sql_int(f->path, "SELECT count(*) FROM metrics"), 6);
	assert_int_equal(lm_store_metrics_latest(f->st, b.id, &list, &n), 0);
	assert_int_equal(n, 0);
	free(list);
}

struct tx_ctx {
	const char *path;
	struct lm_store *other;
	int ret;
};

static int tx_insert_tenant(struct lm_store *st, void *arg)
{
	struct tx_ctx *c = arg;
	struct lm_instance_rec *list;
	struct lm_tenant t;
	size_t n;
	int r;

	if ((r = lm_store_tenant_create(st, "inside", false, &t)) < 0)
		return r;
	/* A nested transaction would commit ours early. */
	if (lm_store_write_tx(st, tx_insert_tenant, c) != LM_ESTATE)
		return LM_EIO;
	/* Readers on other handles go on (WAL) and do not see the row yet. */
	if (c->other) {
		if (lm_store_instance_list(c->other, NULL, &list, &n) != 0)
			return LM_EIO;
		free(list);
		if (sql_int(c->path, "SELECT count(*) FROM tenants WHERE name = 'inside'") != 0)
			return LM_EIO;
	}
	return c->ret;
}

static void test_write_tx(void **state)
{
	struct fixture *f = *state;
	struct tx_ctx c = { .path = f->path, .ret = LM_ESTATE };
	struct lm_tenant t;

	assert_int_equal(lm_store_open(f->path, &c.other), 0);
	/* fn's error rolls back and is returned. */
	assert_int_equal(lm_store_write_tx(f->st, tx_insert_tenant, &c), LM_ESTATE);
	assert_int_equal(sql_int(f->path, "SELECT count(*) FROM tenants"), 0);
	/* Success commits. */
	c.ret = 0;
	assert_int_equal(lm_store_write_tx(f->st, tx_insert_tenant, &c), 0);
	assert_int_equal(sql_int(f->path, "SELECT count(*) FROM tenants WHERE name = 'inside'"), 1);
	/* The handle works normally afterwards. */
	make_tenant(f->st, "after", &t);
	assert_int_equal(lm_store_write_tx(f->st, NULL, &c), LM_EINVAL);
	lm_store_close(c.other);
}

static void fill_event(struct lm_audit_event *ev, uint64_t seq)
{
	memset(ev, 0, sizeof(*ev));
	ev->seq = seq;
	snprintf(ev->event_id, sizeof(ev->event_id), "evt_%012llu", (unsigned long long)seq);
	strcpy(ev->timestamp, "2026-01-24T10:30:00Z");
	strcpy(ev->event_type, "instance.created");
	strcpy(ev->actor, "system");
	strcpy(ev->action, "create");
	strcpy(ev->metadata, "{}");
	memset(ev->prev_hash, (int)seq - 1, sizeof(ev->prev_hash));
	memset(ev->hash, (int)seq, sizeof(ev->hash));
}

static void test_audit_rows(void **state)
{
	struct fixture *f = *state;
	struct lm_audit_event ev, *list;
	struct lm_audit_checkpoint cp = { .seq = 2 }, got;
	size_t n;

	assert_int_equal(lm_store_audit_last(f->st, &ev), LM_ENOENT);
	assert_int_equal(lm_store_checkpoint_get(f->st, &got), LM_ENOENT);
	assert_int_equal(lm_store_audit_list(f->st, 1, 0, &list, &n), 0);
	assert_int_equal(n, 0);
	free(list);

	for (uint64_t i = 1; i <= 4; i++) {
		fill_event(&ev, i);
		assert_int_equal(lm_store_audit_insert(f->st, &ev), 0);
	}
	fill_event(&ev, 3);
	strcpy(ev.event_id, "evt_other");
	assert_int_equal(lm_store_audit_insert(f->st, &ev), LM_EEXIST); /* never replaced */
	ev.seq = 0;
	assert_int_equal(lm_store_audit_insert(f->st, &ev), LM_EINVAL);

	assert_int_equal(lm_store_audit_last(f->st, &ev), 0);
	assert_int_equal(ev.seq, 4);
	assert_string_equal(ev.event_id, "evt_000000000004");
	assert_int_equal(ev.hash[0], 4);
	assert_int_equal(ev.prev_hash[31], 3);

	assert_int_equal(lm_store_audit_list(f->st, 2, 2, &list, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(list[0].seq, 2);
	assert_int_equal(list[1].seq, 3);
	assert_string_equal(list[1].resource, "");
	free(list);
	assert_int_equal(lm_store_audit_list(f->st, 1, 0, &list, &n), 0);
	assert_int_equal(n, 4);
	free(list);

	/* One checkpoint, replaced by each put. */
	memset(cp.hash, 0x22, sizeof(cp.hash));
	memset(cp.signature, 0x33, sizeof(cp.signature));
	strcpy(cp.timestamp, "2026-01-24T10:30:00Z");
	assert_int_equal(lm_store_checkpoint_put(f->st, &cp), 0);
	cp.seq = 4;
	cp.hash[0] = 0x44;
	assert_int_equal(lm_store_checkpoint_put(f->st, &cp), 0);
	assert_int_equal(lm_store_checkpoint_get(f->st, &got), 0);
	assert_memory_equal(&got, &cp, sizeof(cp));
	assert_int_equal(sql_int(f->path, "SELECT count(*) FROM audit_checkpoint"), 1);

	/* The table refuses edits through SQL unless its triggers are dropped. */
	{
		sqlite3 *db;

		assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
		assert_int_not_equal(sqlite3_exec(db, "UPDATE audit SET actor = 'x' WHERE seq = 1", NULL, NULL, NULL),
				     SQLITE_OK);
		assert_int_not_equal(sqlite3_exec(db, "DELETE FROM audit WHERE seq = 4", NULL, NULL, NULL), SQLITE_OK);
		sqlite3_close(db);
	}
	assert_int_equal(sql_int(f->path, "SELECT count(*) FROM audit WHERE actor = 'system'"), 4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_open, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_existing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migrate_v1, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tenants_tokens, setup, teardown),
		cmocka_unit_test_setup_teardown(test_instances, setup, teardown),
		cmocka_unit_test_setup_teardown(test_metrics, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_tx, setup, teardown),
		cmocka_unit_test_setup_teardown(test_audit_rows, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
