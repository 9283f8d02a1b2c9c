/* The SQLite backend of the store: the embedded default of `lambda up`.
 *
 * One handle is one connection, used by one thread at a time. The file is
 * created mode 0600 (SQLite gives its -wal and -shm files the same mode),
 * runs in WAL mode with synchronous=FULL (an audit row that was reported
 * written survives a power cut), foreign keys on, defensive mode on and
 * untrusted schema objects off. Every statement is prepared with bound
 * parameters. The schema (docs/store.md) is versioned with PRAGMA
 * user_version and brought up to date on open, inside one transaction. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "lambda/log.h"
#include "store/store_int.h"

#define BUSY_TIMEOUT_MS 10000
#define STMT_CACHE_SLOTS 8

/* The statements of the per-request lookups (every authenticated request
 * checks its token and most read one instance) are prepared once and kept:
 * parsing the SQL again was a third of lambdad's CPU time per request. */
struct stmt_slot {
	const char *sql;	/* a string literal: its address is the key */
	sqlite3_stmt *stmt;
};

struct sqlite_store {
	struct lm_store base;	/* first: the front end casts */
	sqlite3 *db;
	char *path;		/* for messages */
	struct stmt_slot cache[STMT_CACHE_SLOTS];
};

/* Schema steps: migrations[i] takes user_version i to i + 1. Append new
 * steps; never edit a released one. */
static const char *const migrations[] = {
	/* 0 -> 1: the first schema. */
	"CREATE TABLE tenants ("
	" id TEXT PRIMARY KEY NOT NULL,"
	" name TEXT NOT NULL UNIQUE,"
	" is_admin INTEGER NOT NULL CHECK (is_admin IN (0, 1)),"
	" created_at INTEGER NOT NULL"
	") STRICT;"
	"CREATE TABLE tokens ("
	" token_id TEXT PRIMARY KEY NOT NULL,"
	" tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,"
	" hash BLOB NOT NULL CHECK (length(hash) = 32)"
	") STRICT;"
	"CREATE INDEX tokens_tenant ON tokens(tenant_id);"
	"CREATE TABLE instances ("
	" id TEXT PRIMARY KEY NOT NULL,"
	" tenant_id TEXT NOT NULL REFERENCES tenants(id),"
	" type TEXT NOT NULL,"
	" region TEXT NOT NULL,"
	" image TEXT NOT NULL,"
	" volume_id TEXT NOT NULL,"
	" volume_size INTEGER NOT NULL CHECK (volume_size >= 0),"
	" key_id TEXT NOT NULL,"
	" status TEXT NOT NULL CHECK (status IN"
	"  ('pending', 'awaiting_key', 'running', 'exited', 'failed', 'deleted')),"
	" exit_code INTEGER,"
	" created_at INTEGER NOT NULL,"
	" updated_at INTEGER NOT NULL"
	") STRICT;"
	"CREATE INDEX instances_tenant ON instances(tenant_id, created_at);"
	"CREATE TABLE metrics ("
	" instance_id TEXT NOT NULL REFERENCES instances(id) ON DELETE CASCADE,"
	" timestamp INTEGER NOT NULL,"
	" cpu_percent REAL NOT NULL CHECK (cpu_percent >= 0),"
	" memory_bytes INTEGER NOT NULL CHECK (memory_bytes >= 0),"
	" network_in_bytes INTEGER NOT NULL CHECK (network_in_bytes >= 0),"
	" network_out_bytes INTEGER NOT NULL CHECK (network_out_bytes >= 0),"
	" disk_read_bytes INTEGER NOT NULL CHECK (disk_read_bytes >= 0),"
	" disk_write_bytes INTEGER NOT NULL CHECK (disk_write_bytes >= 0),"
	" PRIMARY KEY (instance_id, timestamp)"
	") STRICT, WITHOUT ROWID;"
	"CREATE TABLE audit ("
	" seq INTEGER PRIMARY KEY CHECK (seq >= 1),"
	" event_id TEXT NOT NULL UNIQUE,"
	" timestamp TEXT NOT NULL,"
	" event_type TEXT NOT NULL,"
	" actor TEXT NOT NULL,"
	" resource TEXT NOT NULL,"
	" action TEXT NOT NULL,"
	" metadata TEXT NOT NULL,"
	" prev_hash BLOB NOT NULL CHECK (length(prev_hash) = 32),"
	" hash BLOB NOT NULL CHECK (length(hash) = 32)"
	") STRICT;"
	/* Defence against our own bugs, not against someone who can write the
	 * file: that is what the hash chain and the signed checkpoint are for. */
	"CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit"
	" BEGIN SELECT RAISE(ABORT, 'audit rows are append-only'); END;"
	"CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit"
	" BEGIN SELECT RAISE(ABORT, 'audit rows are append-only'); END;"
	"CREATE TABLE audit_checkpoint ("
	" id INTEGER PRIMARY KEY CHECK (id = 1),"
	" seq INTEGER NOT NULL CHECK (seq >= 1),"
	" hash BLOB NOT NULL CHECK (length(hash) = 32),"
	" timestamp TEXT NOT NULL,"
	" signature BLOB NOT NULL CHECK (length(signature) = 64)"
	") STRICT;",
	/* 1 -> 2: status 'stopped' (instance stop and start). SQLite cannot
	 * change a CHECK in place: rebuild the table. migrate() runs every step
	 * with foreign keys off, so dropping the old table does not cascade to
	 * metrics, and checks them before committing. */
	"CREATE TABLE instances_v2 ("
	" id TEXT PRIMARY KEY NOT NULL,"
	" tenant_id TEXT NOT NULL REFERENCES tenants(id),"
	" type TEXT NOT NULL,"
	" region TEXT NOT NULL,"
	" image TEXT NOT NULL,"
	" volume_id TEXT NOT NULL,"
	" volume_size INTEGER NOT NULL CHECK (volume_size >= 0),"
	" key_id TEXT NOT NULL,"
	" status TEXT NOT NULL CHECK (status IN"
	"  ('pending', 'awaiting_key', 'running', 'exited', 'failed', 'stopped', 'deleted')),"
	" exit_code INTEGER,"
	" created_at INTEGER NOT NULL,"
	" updated_at INTEGER NOT NULL"
	") STRICT;"
	"INSERT INTO instances_v2 SELECT id, tenant_id, type, region, image, volume_id, volume_size, key_id,"
	" status, exit_code, created_at, updated_at FROM instances;"
	"DROP TABLE instances;"
	"ALTER TABLE instances_v2 RENAME TO instances;"
	"CREATE INDEX instances_tenant ON instances(tenant_id, created_at);",
};

#define SCHEMA_VERSION ((int)(sizeof(migrations) / sizeof(migrations[0])))

static struct sqlite_store *to_sq(struct lm_store *st)
{
	return (struct sqlite_store *)st;
}

/* Maps a SQLite result code to LM_E* and logs it once. Constraint failures
 * are expected outcomes (a taken name, an unknown tenant), logged at debug
 * level only. */
static int sq_fail(struct sqlite_store *s, int rc, const char *what)
{
	const char *msg = s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc);

	switch (rc) {
	case SQLITE_CONSTRAINT_PRIMARYKEY:
	case SQLITE_CONSTRAINT_UNIQUE:
		lm_debug("store %s: %s: %s", s->path, what, msg);
		return LM_EEXIST;
	case SQLITE_CONSTRAINT_FOREIGNKEY:
		lm_debug("store %s: %s: %s", s->path, what, msg);
		return LM_ENOENT;
	default:
		break;
	}
	lm_err("store %s: %s: %s", s->path, what, msg);
	switch (rc & 0xff) {
	case SQLITE_CONSTRAINT:
	case SQLITE_MISMATCH:
	case SQLITE_RANGE:
		return LM_EINVAL;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return LM_EBUSY;
	case SQLITE_NOMEM:
		return LM_ENOMEM;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		return LM_EFORMAT;
	case SQLITE_READONLY:
	case SQLITE_PERM:
	case SQLITE_AUTH:
		return LM_EDENIED;
	default:
		return LM_EIO;
	}
}

static int prepare(struct sqlite_store *s, const char *sql, sqlite3_stmt **stmt)
{
	int rc = sqlite3_prepare_v3(s->db, sql, -1, 0, stmt, NULL);

	if (rc != SQLITE_OK) {
		*stmt = NULL;
		return sq_fail(s, rc, "prepare");
	}
	return 0;
}

/* Like prepare() for a string literal sql, kept for reuse: give it back
 * with release(), never sqlite3_finalize(). Falls back to a one-off
 * statement (that release() finalizes) when every slot is taken. */
static int prepare_cached(struct sqlite_store *s, const char *sql, sqlite3_stmt **stmt)
{
	struct stmt_slot *free_slot = NULL;
	int rc;

	for (size_t i = 0; i < STMT_CACHE_SLOTS; i++) {
		if (s->cache[i].sql == sql) {
			*stmt = s->cache[i].stmt;
			return 0;
		}
		if (!s->cache[i].sql && !free_slot)
			free_slot = &s->cache[i];
	}
	if (!free_slot)
		return prepare(s, sql, stmt);
	rc = sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, stmt, NULL);
	if (rc != SQLITE_OK) {
		*stmt = NULL;
		return sq_fail(s, rc, "prepare");
	}
	free_slot->sql = sql;
	free_slot->stmt = *stmt;
	return 0;
}

/* Ends the use of a statement from prepare_cached(): resets it, which
 * also ends its read transaction, and drops the bindings, which point
 * into the caller's memory (SQLITE_STATIC). */
static void release(struct sqlite_store *s, sqlite3_stmt *stmt)
{
	for (size_t i = 0; i < STMT_CACHE_SLOTS; i++)
		if (s->cache[i].stmt == stmt && stmt) {
			sqlite3_reset(stmt);
			sqlite3_clear_bindings(stmt);
			return;
		}
	sqlite3_finalize(stmt);
}

/* Binds a string, or SQL NULL for a NULL pointer. */
static int bind_text(sqlite3_stmt *stmt, int idx, const char *v)
{
	int rc = v ? sqlite3_bind_text(stmt, idx, v, -1, SQLITE_STATIC) : sqlite3_bind_null(stmt, idx);

	return rc == SQLITE_OK ? 0 : LM_ENOMEM;
}

static int bind_blob(sqlite3_stmt *stmt, int idx, const void *v, size_t size)
{
	return sqlite3_bind_blob(stmt, idx, v, (int)size, SQLITE_STATIC) == SQLITE_OK ? 0 : LM_ENOMEM;
}

static int bind_i64(sqlite3_stmt *stmt, int idx, int64_t v)
{
	return sqlite3_bind_int64(stmt, idx, v) == SQLITE_OK ? 0 : LM_ENOMEM;
}

/* Steps a statement that returns no rows. */
static int run(struct sqlite_store *s, sqlite3_stmt *stmt, const char *what)
{
	int rc = sqlite3_step(stmt);

	return rc == SQLITE_DONE ? 0 : sq_fail(s, rc, what);
}

/* Steps a query: 1 for a row, 0 at the end, or an error. */
static int step_row(struct sqlite_store *s, sqlite3_stmt *stmt, const char *what)
{
	int rc = sqlite3_step(stmt);

	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	return sq_fail(s, rc, what);
}

/* Copies text column col into dst (size bytes with the NUL). A stored value
 * that does not fit, is not text or holds a NUL byte is LM_EFORMAT: the
 * file was written by something else than this code. */
static int col_text(struct sqlite_store *s, sqlite3_stmt *stmt, int col, char *dst, size_t size)
{
	const unsigned char *v = sqlite3_column_text(stmt, col);
	int n = sqlite3_column_bytes(stmt, col);

	if (sqlite3_column_type(stmt, col) != SQLITE_TEXT || !v || n < 0 || (size_t)n >= size ||
	    memchr(v, 0, (size_t)n)) {
		lm_err("store %s: column %s holds a value that does not fit", s->path,
		       sqlite3_column_name(stmt, col));
		return LM_EFORMAT;
	}
	memcpy(dst, v, (size_t)n);
	dst[n] = 0;
	return 0;
}

static int col_blob(struct sqlite_store *s, sqlite3_stmt *stmt, int col, uint8_t *dst, size_t size)
{
	const void *v = sqlite3_column_blob(stmt, col);

	if (sqlite3_column_type(stmt, col) != SQLITE_BLOB || !v || (size_t)sqlite3_column_bytes(stmt, col) != size) {
		lm_err("store %s: column %s is not a %zu-byte value", s->path, sqlite3_column_name(stmt, col), size);
		return LM_EFORMAT;
	}
	memcpy(dst, v, size);
	return 0;
}

static int col_u64(struct sqlite_store *s, sqlite3_stmt *stmt, int col, uint64_t *dst)
{
	sqlite3_int64 v = sqlite3_column_int64(stmt, col);

	if (sqlite3_column_type(stmt, col) != SQLITE_INTEGER || v < 0) {
		lm_err("store %s: column %s is not a count", s->path, sqlite3_column_name(stmt, col));
		return LM_EFORMAT;
	}
	*dst = (uint64_t)v;
	return 0;
}

/* Makes room for one more element in a growing result array. */
static int grow(void **arr, size_t *cap, size_t len, size_t elem_size)
{
	void *p;
	size_t ncap;

	if (len < *cap)
		return 0;
	ncap = *cap ? *cap * 2 : 8;
	if (ncap > SIZE_MAX / elem_size)
		return LM_ENOMEM;
	p = realloc(*arr, ncap * elem_size);
	if (!p)
		return LM_ENOMEM;
	*arr = p;
	*cap = ncap;
	return 0;
}

/* Reads one row of a query into elem, which the reader clears first. */
typedef int (*row_reader)(struct sqlite_store *s, sqlite3_stmt *stmt, void *elem);

/* Steps stmt to its end, reading each row with read into a growing array
 * of elem_size elements, and finalizes stmt. Never hands back NULL on
 * success, even for an empty list; the caller frees *out. */
static int collect_rows(struct sqlite_store *s, sqlite3_stmt *stmt, const char *what, size_t elem_size,
			row_reader read, void **out, size_t *count)
{
	unsigned char *arr = NULL;
	size_t len = 0, cap = 0;
	int r;

	while ((r = step_row(s, stmt, what)) == 1) {
		if ((r = grow((void **)&arr, &cap, len, elem_size)) < 0 || (r = read(s, stmt, arr + len * elem_size)) < 0)
			break;
		len++;
	}
	if (r == 0 && !arr && !(arr = calloc(1, elem_size)))
		r = LM_ENOMEM;
	sqlite3_finalize(stmt);
	if (r < 0) {
		free(arr);
		return r;
	}
	*out = arr;
	*count = len;
	return 0;
}

/* ---- open, schema, close ---- */

static int exec_sql(struct sqlite_store *s, const char *sql, const char *what)
{
	int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);

	return rc == SQLITE_OK ? 0 : sq_fail(s, rc, what);
}

/* Reads a one-value PRAGMA as text into out. */
static int pragma_text(struct sqlite_store *s, const char *sql, char *out, size_t size)
{
	sqlite3_stmt *stmt;
	int r;

	if ((r = prepare(s, sql, &stmt)) < 0)
		return r;
	if ((r = step_row(s, stmt, sql)) == 1)
		r = col_text(s, stmt, 0, out, size);
	else if (r == 0)
		r = LM_EIO;
	sqlite3_finalize(stmt);
	return r;
}

/* LM_EFORMAT when a row breaks a foreign key (after a migration step). */
static int fk_check(struct sqlite_store *s)
{
	sqlite3_stmt *stmt;
	int r;

	if ((r = prepare(s, "PRAGMA foreign_key_check", &stmt)) < 0)
		return r;
	r = step_row(s, stmt, "check foreign keys");
	sqlite3_finalize(stmt);
	if (r == 1) {
		lm_err("store %s: a schema update broke a foreign key", s->path);
		return LM_EFORMAT;
	}
	return r;
}

static int migrate(struct sqlite_store *s)
{
	char sql[64];
	int r, version;

	/* Table rebuilds must not cascade deletes: foreign keys are off while
	 * the steps run (the pragma is a no-op inside a transaction), and
	 * checked before the commit. */
	if ((r = exec_sql(s, "PRAGMA foreign_keys = OFF", "schema update")) < 0)
		return r;
	if ((r = exec_sql(s, "BEGIN IMMEDIATE", "begin schema update")) < 0)
		goto fk_on;
	/* user_version reads back as an integer, which col_text refuses. */
	{
		sqlite3_stmt *stmt;

		if ((r = prepare(s, "PRAGMA user_version", &stmt)) < 0)
			goto out;
		r = step_row(s, stmt, "read schema version");
		version = sqlite3_column_int(stmt, 0);
		sqlite3_finalize(stmt);
		if (r != 1) {
			r = r < 0 ? r : LM_EIO;
			goto out;
		}
	}
	if (version > SCHEMA_VERSION || version < 0) {
		lm_err("store %s: schema version %d is newer than this program knows (%d); upgrade lambdad",
		       s->path, version, SCHEMA_VERSION);
		r = LM_ENOTSUP;
		goto out;
	}
	for (; version < SCHEMA_VERSION; version++) {
		lm_info("store %s: updating schema to version %d", s->path, version + 1);
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", version + 1);
		if ((r = exec_sql(s, migrations[version], "schema update")) < 0 ||
		    (r = exec_sql(s, sql, "set schema version")) < 0)
			goto out;
	}
	if ((r = fk_check(s)) < 0)
		goto out;
	r = exec_sql(s, "COMMIT", "commit schema update");
out:
	if (r < 0)
		(void)sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
fk_on:
	if (exec_sql(s, "PRAGMA foreign_keys = ON", "schema update") < 0 && r == 0)
		r = LM_EIO;
	return r;
}

/* Creates the database file mode 0600 before SQLite sees it (SQLite would
 * use 0644 under the usual umask), and tightens an existing file that is
 * open to group or others. */
static int prepare_file(const char *path)
{
	struct stat sb;
	int fd, r = 0;

	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		lm_err("store %s: %s", path, strerror(errno));
		return errno == ENOENT ? LM_ENOENT : errno == EACCES ? LM_EDENIED : LM_EIO;
	}
	if (fstat(fd, &sb) != 0) {
		r = LM_EIO;
	} else if (!S_ISREG(sb.st_mode)) {
		lm_err("store %s: not a regular file", path);
		r = LM_EINVAL;
	} else if (sb.st_mode & 077) {
		lm_warn("store %s: permissions %04o are too open; setting 0600", path,
			(unsigned)(sb.st_mode & 07777));
		if (fchmod(fd, 0600) != 0) {
			lm_err("store %s: chmod: %s", path, strerror(errno));
			r = LM_EIO;
		}
	}
	close(fd);
	return r;
}

static void sqlite_close(struct lm_store *st)
{
	struct sqlite_store *s = to_sq(st);

	/* close_v2 also finalizes late: every statement but the cached ones
	 * is finalized before its function returns, so this closes at once. */
	for (size_t i = 0; i < STMT_CACHE_SLOTS; i++)
		sqlite3_finalize(s->cache[i].stmt);
	sqlite3_close_v2(s->db);
	free(s->path);
	free(s);
}

static const struct lm_store_ops sqlite_ops;

int lm_store_sqlite_open(const char *path, struct lm_store **out)
{
	struct sqlite_store *s;
	char mode[16];
	int rc, r, on = 0;

	if ((r = prepare_file(path)) < 0)
		return r;
	s = calloc(1, sizeof(*s));
	if (!s)
		return LM_ENOMEM;
	s->base.ops = &sqlite_ops;
	s->path = strdup(path);
	if (!s->path) {
		free(s);
		return LM_ENOMEM;
	}
	rc = sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW, NULL);
	if (rc != SQLITE_OK) {
		r = sq_fail(s, rc, "open");
		goto fail;
	}
	sqlite3_extended_result_codes(s->db, 1);
	sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);
	if (sqlite3_db_config(s->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL) != SQLITE_OK ||
	    sqlite3_db_config(s->db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL) != SQLITE_OK ||
	    sqlite3_db_config(s->db, SQLITE_DBCONFIG_ENABLE_FKEY, 1, &on) != SQLITE_OK || !on) {
		r = sq_fail(s, sqlite3_errcode(s->db), "configure connection");
		goto fail;
	}
	if ((r = pragma_text(s, "PRAGMA journal_mode = WAL", mode, sizeof(mode))) < 0)
		goto fail;
	if (strcmp(mode, "wal") != 0) {
		lm_err("store %s: cannot switch to WAL mode (journal mode is %s)", path, mode);
		r = LM_EIO;
		goto fail;
	}
	if ((r = exec_sql(s, "PRAGMA synchronous = FULL", "set synchronous")) < 0 || (r = migrate(s)) < 0)
		goto fail;
	*out = &s->base;
	return 0;
fail:
	sqlite_close(&s->base);
	return r;
}

/* ---- tenants and tokens ---- */

static int sqlite_tenant_create(struct lm_store *st, const char *id, const char *name, bool is_admin)
{
	struct sqlite_store *s = to_sq(st);
	sqlite3_stmt *stmt;
	int r;

	if ((r = prepare(s, "INSERT INTO tenants (id, name, is_admin, created_at) VALUES (?1, ?2, ?3, ?4)",
			 &stmt)) < 0)
		return r;
	if ((r = bind_text(stmt, 1, id)) == 0 && (r = bind_text(stmt, 2, name)) == 0 &&
	    (r = bind_i64(stmt, 3, is_admin)) == 0 && (r = bind_i64(stmt, 4, time(NULL))) == 0)
		r = run(s, stmt, "create tenant");
	sqlite3_finalize(stmt);
	return r;
}

static int sqlite_token_add(struct lm_store *st, const char *token_id, const char *tenant_id,
			    const uint8_t hash[static LM_HASH_BYTES])
{
	struct sqlite_store *s = to_sq(st);
	sqlite3_stmt *stmt;
	int r;

	if ((r = prepare(s, "INSERT INTO tokens (token_id, tenant_id, hash) VALUES (?1, ?2, ?3)", &stmt)) < 0)
		return r;
	if ((r = bind_text(stmt, 1, token_id)) == 0 && (r = bind_text(stmt, 2, tenant_id)) == 0 &&
	    (r = bind_blob(stmt, 3, hash, LM_HASH_BYTES)) == 0)
		r = run(s, stmt, "add token");
	sqlite3_finalize(stmt);
	return r;
}

static int sqlite_token_get(struct lm_store *st, const char *token_id, uint8_t hash[static LM_HASH_BYTES],
			    struct lm_tenant *tenant)
{
	struct sqlite_store *s = to_sq(st);
	sqlite3_stmt *stmt;
	int r;

	if ((r = prepare_cached(s,
				"SELECT k.hash, t.id, t.name, t.is_admin FROM tokens k JOIN tenants t ON t.id = k.tenant_id"
				" WHERE k.token_id = ?1",
				&stmt)) < 0)
		return r;
	if ((r = bind_text(stmt, 1, token_id)) < 0 || (r = step_row(s, stmt, "look up token")) < 0)
		goto out;
	if (r == 0) {
		r = LM_ENOENT;
		goto out;
	}
	if ((r = col_blob(s, stmt, 0, hash, LM_HASH_BYTES)) < 0 ||
	    (r = col_text(s, stmt, 1, tenant->id, sizeof(tenant->id))) < 0 ||
	    (r = col_text(s, stmt, 2, tenant->name, sizeof(tenant->name))) < 0)
		goto out;
	tenant->is_admin = sqlite3_column_int(stmt, 3) != 0;
	r = 0;
out:
	release(s, stmt);
	return r;
}

/* ---- instances ---- */

#define INSTANCE_COLS                                                                                    \
	"id, tenant_id, type, region, image, volume_id, volume_size, key_id, status, exit_code, created_at," \
	" updated_at"

static int sqlite_instance_insert(struct lm_store *st, const struct lm_instance_rec *rec)
{
	struct sqlite_store *s = to_sq(st);
	time_t created = rec->created_at ? rec->created_at : time(NULL);
	time_t updated = rec->updated_at ? rec->updated_at : created;
	sqlite3_stmt *stmt;
	int r;

	if ((r = prepare(s, "INSERT INTO instances (" INSTANCE_COLS ")"
			    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
			 &stmt)) < 0)
		return r;
	if ((r = bind_text(stmt, 1, rec->id)) == 0 && (r = bind_text(stmt, 2, rec->tenant_id)) == 0 &&
	    (r = bind_text(stmt, 3, rec->type)) == 0 && (r = bind_text(stmt, 4, rec->region)) == 0 &&
	    (r = bind_text(stmt, 5, rec->image)) == 0 && (r = bind_text(stmt, 6, rec->volume_id)) == 0 &&
	    (r = bind_i64(stmt, 7, (int64_t)rec->volume_size)) == 0 && (r = bind_text(stmt, 8, rec->key_id)) == 0 &&
	    (r = bind_text(stmt, 9, rec->status)) == 0 &&
	    (r = rec->has_exit_code ? bind_i64(stmt, 10, rec->exit_code) : 0) == 0 &&
	    (r = bind_i64(stmt, 11, created)) == 0 && (r = bind_i64(stmt, 12, updated)) == 0)
		r = run(s, stmt, "insert instance");
	sqlite3_finalize(stmt);
	return r;
}

static int sqlite_instance_set_status(struct lm_store *st, const char *id, const char *status, bool has_exit_code,
				      int exit_code, time_t now)
{
	struct sqlite_store *s = to_sq(st);
	sqlite3_stmt *stmt;
	int r;

	if ((r = prepare(s, "UPDATE instances SET status = ?1,"
			    " exit_code = CASE WHEN ?2 THEN ?3 ELSE exit_code END, updated_at = ?4 WHERE id = ?5",
			 &stmt)) < 0)
		return r;
	if ((r = bind_text(stmt, 1, status)) == 0 && (r = bind_i64(stmt, 2, has_exit_code)) == 0 &&
	    (r = bind_i64(stmt, 3, exit_code)) == 0 && (r = bind_i64(stmt, 4, now)) == 0 &&
	    (r = bind_text(stmt, 5, id)) == 0 && (r = run(s, stmt, "set instance status")) == 0 &&
	    sqlite3_changes(s->db) == 0)
		r = LM_ENOENT;
	sqlite3_finalize(stmt);
	return r;
}

static int sqlite_instance_set_key_id(struct lm_store *st, const char *id, const char *key_id, time_t now)
{
	struct sqlite_store *s = to_sq(st);
	sqlite3_stmt *stmt;
	int r;

	if ((r = prepare(s, "UPDATE instances SET key_id = ?1, updated_at = ?2 WHERE id = ?3", &stmt)) < 0)
		return r;
	if ((r = bind_text(stmt, 1, key_id)) == 0 && (r = bind_i64(stmt, 2, now)) == 0 &&
	    (r = bind_text(stmt, 3, id)) == 0 && (r = run(s, stmt, "set instance key id")) == 0 &&
	    sqlite3_changes(s->db) == 0)
		r = LM_ENOENT;
	sqlite3_finalize(stmt);
	return r;
}

static int read_instance(struct sqlite_store *s, sqlite3_stmt *stmt, void *elem)
{
	struct lm_instance_rec *rec = elem;
	int r;

	memset(rec, 0, sizeof(*rec));
	if ((r = col_text(s, stmt, 0, rec->id, sizeof(rec->id))) < 0 ||
	    (r = col_text(s, stmt, 1, rec->tenant_id, sizeof(rec->tenant_id))) < 0 ||
	    (r = col_text(s, stmt, 2, rec->type, sizeof(rec->type))) < 0 ||
	    (r = col_text(s, stmt, 3, rec->region, sizeof(rec->region))) < 0 ||
	    (r = col_text(s, stmt, 4, rec->image, sizeof(rec->image))) < 0 ||
	    (r = col_text(s, stmt, 5, rec->volume_id, sizeof(rec->volume_id))) < 0 ||
	    (r = col_u64(s, stmt, 6, &rec->volume_size)) < 0 ||
	    (r = col_text(s, stmt, 7, rec->key_id, sizeof(rec->key_id))) < 0 ||
	    (r = col_text(s, stmt, 8, rec->status, sizeof(rec->status))) < 0)
		return r;
	rec->has_exit_code = sqlite3_column_type(stmt, 9) != SQLITE_NULL;
	rec->exit_code = rec->has_exit_code ? sqlite3_column_int(stmt, 9) : 0;
	rec->created_at = (time_t)sqlite3_column_int64(stmt, 10);
	rec->updated_at = (time_t)sqlite3_column_int64(stmt, 11);
	return 0;
}

static int sqlite_instance_get(struct lm_store *st, const char *tenant_id, const char *id,
			       struct lm_instance_rec *out)
{
	struct sqlite_store *s = to_sq(st);
	sqlite3_stmt *stmt;
	int r;

	/* One query for both cases, so that another tenant's instance and a
	 * missing one take the same path. */
	if ((r = prepare_cached(s,
				"SELECT " INSTANCE_COLS " FROM instances WHERE id = ?1 AND (?2 IS NULL OR tenant_id = ?2)",
				&stmt)) < 0)
		return r;
	if ((r = bind_text(stmt, 1, id)) < 0 || (r = bind_text(stmt, 2, tenant_id)) < 0 ||
	    (r = step_row(s, stmt, "read instance")) < 0)
		goto out;
	r = r == 0 ? LM_ENOENT : read_instance(s, stmt, out);
out:
	release(s, stmt);
	return r;
}

static int sqlite_instance_list(struct lm_store *st, const char *tenant_id, struct lm_instance_rec **out,
				size_t *count)
{
	struct sqlite_store *s = to_sq(st);
	sqlite3_stmt *stmt;
	void *rows;
	int r;

	if ((r = prepare(s, "SELECT " INSTANCE_COLS " FROM instances WHERE ?1 IS NULL OR tenant_id = ?1"
			    " ORDER BY created_at, rowid",
			 &stmt)) < 0)
		return r;
	if ((r = bind_text(stmt, 1, tenant_id)) < 0) {
		sqlite3_finalize(stmt);
		return r;
	}
	if ((r = collect_rows(s, stmt, "list instances", sizeof(**out), read_instance, &rows, count)) == 0)
		*out = rows;
	return r;
}

static int sqlite_instance_delete(struct lm_store *st, const char *id)
{
	struct sqlite_store *s = to_sq(st);
	sqlite3_stmt *stmt;
	int r;

	if ((r = prepare(s, "DELETE FROM instances WHERE id = ?1", &stmt)) < 0)
		return r;
	if ((r = bind_text(stmt, 1, id)) == 0 && (r = run(s, stmt, "delete instance")) == 0 &&
	    sqlite3_changes(s->db) == 0)
		r = LM_ENOENT;
	sqlite3_finalize(stmt);
	return r;
}

/* ---- metrics ---- */

static int sqlite_metrics_insert(struct lm_store *st, const struct lm_metrics *m)
{
	struct sqlite_store *s = to_sq(st);
	sqlite3_stmt *stmt;
	int r;

	/* A second sample for the same second replaces the first: the agent
	 * may resend after a lost reply. */
	if ((r = prepare(s, "INSERT INTO metrics (instance_id, timestamp, cpu_percent, memory_bytes,"
			    " network_in_bytes, network_out_bytes, disk_read_bytes, disk_write_bytes)"
			    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
			    " ON CONFLICT (instance_id, timestamp) DO UPDATE SET cpu_percent = excluded.cpu_percent,"
			    " memory_bytes = excluded.memory_bytes, network_in_bytes = excluded.network_in_bytes,"
			    " network_out_bytes = excluded.network_out_bytes,"
			    " disk_read_bytes = excluded.disk_read_bytes, disk_write_bytes = excluded.disk_write_bytes",
			 &stmt)) < 0)
		return r;
	if ((r = bind_text(stmt, 1, m->instance_id)) == 0 && (r = bind_i64(stmt, 2, m->timestamp)) == 0 &&
	    (r = sqlite3_bind_double(stmt, 3, m->cpu_percent) == SQLITE_OK ? 0 : LM_ENOMEM) == 0 &&
	    (r = bind_i64(stmt, 4, (int64_t)m->memory_bytes)) == 0 &&
	    (r = bind_i64(stmt, 5, (int64_t)m->network_in_bytes)) == 0 &&
	    (r = bind_i64(stmt, 6, (int64_t)m->network_out_bytes)) == 0 &&
	    (r = bind_i64(stmt, 7, (int64_t)m->disk_read_bytes)) == 0 &&
	    (r = bind_i64(stmt, 8, (int64_t)m->disk_write_bytes)) == 0)
		r = run(s, stmt, "insert metrics");
	sqlite3_finalize(stmt);
	return r;
}

static int read_metrics(struct sqlite_store *s, sqlite3_stmt *stmt, void *elem)
{
	struct lm_metrics *m = elem;
	int r;

	memset(m, 0, sizeof(*m));
	if ((r = col_text(s, stmt, 0, m->instance_id, sizeof(m->instance_id))) < 0 ||
	    (r = col_u64(s, stmt, 3, &m->memory_bytes)) < 0 ||
	    (r = col_u64(s, stmt, 4, &m->network_in_bytes)) < 0 ||
	    (r = col_u64(s, stmt, 5, &m->network_out_bytes)) < 0 ||
	    (r = col_u64(s, stmt, 6, &m->disk_read_bytes)) < 0 ||
	    (r = col_u64(s, stmt, 7, &m->disk_write_bytes)) < 0)
		return r;
	m->timestamp = (time_t)sqlite3_column_int64(stmt, 1);
	m->cpu_percent = sqlite3_column_double(stmt, 2);
	return 0;
}

static int sqlite_metrics_latest(struct lm_store *st, const char *tenant_id, struct lm_metrics **out, size_t *count)
{
	struct sqlite_store *s = to_sq(st);
	sqlite3_stmt *stmt;
	void *rows;
	int r;

	if ((r = prepare(s, "SELECT m.instance_id, m.timestamp, m.cpu_percent, m.memory_bytes, m.network_in_bytes,"
			    " m.network_out_bytes, m.disk_read_bytes, m.disk_write_bytes"
			    " FROM metrics m JOIN instances i ON i.id = m.instance_id"
			    " WHERE (?1 IS NULL OR i.tenant_id = ?1)"
			    " AND m.timestamp = (SELECT max(timestamp) FROM metrics WHERE instance_id = m.instance_id)"
			    " ORDER BY i.created_at, i.rowid",
			 &stmt)) < 0)
		return r;
	if ((r = bind_text(stmt, 1, tenant_id)) < 0) {
		sqlite3_finalize(stmt);
		return r;
	}
	if ((r = collect_rows(s, stmt, "read metrics", sizeof(**out), read_metrics, &rows, count)) == 0)
		*out = rows;
	return r;
}

/* ---- transactions ---- */

static int sqlite_tx_begin(struct lm_store *st)
{
	/* IMMEDIATE takes the write lock now (waiting up to the busy timeout),
	 * so that what fn reads cannot change before it writes. */
	return exec_sql(to_sq(st), "BEGIN IMMEDIATE", "begin transaction");
}

static int sqlite_tx_end(struct lm_store *st, bool is_commit)
{
	struct sqlite_store *s = to_sq(st);
	int r = 0;

	if (is_commit && (r = exec_sql(s, "COMMIT", "commit")) == 0)
		return 0;
	/* After a failed statement SQLite may already have rolled back. */
	if (sqlite3_get_autocommit(s->db) == 0)
		(void)sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	return r;
}

/* ---- audit rows and checkpoint ---- */

#define AUDIT_COLS "seq, event_id, timestamp, event_type, actor, resource, action, metadata, prev_hash, hash"

static int read_audit(struct sqlite_store *s, sqlite3_stmt *stmt, void *elem)
{
	struct lm_audit_event *ev = elem;
	int r;

	memset(ev, 0, sizeof(*ev));
	if ((r = col_u64(s, stmt, 0, &ev->seq)) < 0 ||
	    (r = col_text(s, stmt, 1, ev->event_id, sizeof(ev->event_id))) < 0 ||
	    (r = col_text(s, stmt, 2, ev->timestamp, sizeof(ev->timestamp))) < 0 ||
	    (r = col_text(s, stmt, 3, ev->event_type, sizeof(ev->event_type))) < 0 ||
	    (r = col_text(s, stmt, 4, ev->actor, sizeof(ev->actor))) < 0 ||
	    (r = col_text(s, stmt, 5, ev->resource, sizeof(ev->resource))) < 0 ||
	    (r = col_text(s, stmt, 6, ev->action, sizeof(ev->action))) < 0 ||
	    (r = col_text(s, stmt, 7, ev->metadata, sizeof(ev->metadata))) < 0 ||
	    (r = col_blob(s, stmt, 8, ev->prev_hash, sizeof(ev->prev_hash))) < 0 ||
	    (r = col_blob(s, stmt, 9, ev->hash, sizeof(ev->hash))) < 0)
		return r;
	return 0;
}

static int sqlite_audit_last(struct lm_store *st, struct lm_audit_event *out)
{
	struct sqlite_store *s = to_sq(st);
	struct lm_audit_event ev;
	sqlite3_stmt *stmt;
	int r;

	if ((r = prepare(s, "SELECT " AUDIT_COLS " FROM audit ORDER BY seq DESC LIMIT 1", &stmt)) < 0)
		return r;
	if ((r = step_row(s, stmt, "read last audit row")) == 1 && (r = read_audit(s, stmt, &ev)) == 0)
		*out = ev;
	else if (r == 0)
		r = LM_ENOENT;
	sqlite3_finalize(stmt);
	return r;
}

static int sqlite_audit_insert(struct lm_store *st, const struct lm_audit_event *ev)
{
	struct sqlite_store *s = to_sq(st);
	sqlite3_stmt *stmt;
	int r;

	/* A plain INSERT: an existing seq is LM_EEXIST, never replaced. */
	if ((r = prepare(s, "INSERT INTO audit (" AUDIT_COLS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
			 &stmt)) < 0)
		return r;
	if ((r = bind_i64(stmt, 1, (int64_t)ev->seq)) == 0 && (r = bind_text(stmt, 2, ev->event_id)) == 0 &&
	    (r = bind_text(stmt, 3, ev->timestamp)) == 0 && (r = bind_text(stmt, 4, ev->event_type)) == 0 &&
	    (r = bind_text(stmt, 5, ev->actor)) == 0 && (r = bind_text(stmt, 6, ev->resource)) == 0 &&
	    (r = bind_text(stmt, 7, ev->action)) == 0 && (r = bind_text(stmt, 8, ev->metadata)) == 0 &&
	    (r = bind_blob(stmt, 9, ev->prev_hash, sizeof(ev->prev_hash))) == 0 &&
	    (r = bind_blob(stmt, 10, ev->hash, sizeof(ev->hash))) == 0)
		r = run(s, stmt, "insert audit row");
	sqlite3_finalize(stmt);
	return r;
}

static int sqlite_audit_list(struct lm_store *st, uint64_t from_seq, size_t limit, struct lm_audit_event **out,
			     size_t *count)
{
	struct sqlite_store *s = to_sq(st);
	sqlite3_stmt *stmt;
	void *rows;
	int r;

	if ((r = prepare(s, "SELECT " AUDIT_COLS " FROM audit WHERE seq >= ?1 ORDER BY seq LIMIT ?2", &stmt)) < 0)
		return r;
	if ((r = bind_i64(stmt, 1, (int64_t)from_seq)) < 0 ||
	    (r = bind_i64(stmt, 2, limit == 0 || limit > INT64_MAX ? -1 : (int64_t)limit)) < 0) {
		sqlite3_finalize(stmt);
		return r;
	}
	if ((r = collect_rows(s, stmt, "list audit rows", sizeof(**out), read_audit, &rows, count)) == 0)
		*out = rows;
	return r;
}

static int sqlite_checkpoint_put(struct lm_store *st, const struct lm_audit_checkpoint *cp)
{
	struct sqlite_store *s = to_sq(st);
	sqlite3_stmt *stmt;
	int r;

	if ((r = prepare(s, "INSERT INTO audit_checkpoint (id, seq, hash, timestamp, signature)"
			    " VALUES (1, ?1, ?2, ?3, ?4) ON CONFLICT (id) DO UPDATE SET seq = excluded.seq,"
			    " hash = excluded.hash, timestamp = excluded.timestamp, signature = excluded.signature",
			 &stmt)) < 0)
		return r;
	if ((r = bind_i64(stmt, 1, (int64_t)cp->seq)) == 0 && (r = bind_blob(stmt, 2, cp->hash, sizeof(cp->hash))) == 0 &&
	    (r = bind_text(stmt, 3, cp->timestamp)) == 0 &&
	    (r = bind_blob(stmt, 4, cp->signature, sizeof(cp->signature))) == 0)
		r = run(s, stmt, "store audit checkpoint");
	sqlite3_finalize(stmt);
	return r;
}

static int sqlite_checkpoint_get(struct lm_store *st, struct lm_audit_checkpoint *out)
{
	struct sqlite_store *s = to_sq(st);
	sqlite3_stmt *stmt;
	int r;

	if ((r = prepare(s, "SELECT seq, hash, timestamp, signature FROM audit_checkpoint WHERE id = 1", &stmt)) < 0)
		return r;
	if ((r = step_row(s, stmt, "read audit checkpoint")) < 0)
		goto out;
	if (r == 0) {
		r = LM_ENOENT;
		goto out;
	}
	memset(out, 0, sizeof(*out));
	if ((r = col_u64(s, stmt, 0, &out->seq)) < 0 || (r = col_blob(s, stmt, 1, out->hash, sizeof(out->hash))) < 0 ||
	    (r = col_text(s, stmt, 2, out->timestamp, sizeof(out->timestamp))) < 0 ||
	    (r = col_blob(s, stmt, 3, out->signature, sizeof(out->signature))) < 0)
		goto out;
	r = 0;
out:
	sqlite3_finalize(stmt);
	return r;
}

static const struct lm_store_ops sqlite_ops = {
	.name = "sqlite",
	.close = sqlite_close,
	.tenant_create = sqlite_tenant_create,
	.token_add = sqlite_token_add,
	.token_get = sqlite_token_get,
	.instance_insert = sqlite_instance_insert,
	.instance_set_status = sqlite_instance_set_status,
	.instance_set_key_id = sqlite_instance_set_key_id,
	.instance_get = sqlite_instance_get,
	.instance_list = sqlite_instance_list,
	.instance_delete = sqlite_instance_delete,
	.metrics_insert = sqlite_metrics_insert,
	.metrics_latest = sqlite_metrics_latest,
	.tx_begin = sqlite_tx_begin,
	.tx_end = sqlite_tx_end,
	.audit_last = sqlite_audit_last,
	.audit_insert = sqlite_audit_insert,
	.audit_list = sqlite_audit_list,
	.checkpoint_put = sqlite_checkpoint_put,
	.checkpoint_get = sqlite_checkpoint_get,
};
