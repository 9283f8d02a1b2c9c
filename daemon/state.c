/* lambdad's data directory: the lock that keeps one lambdad per directory,
 * the pid file, and what the first start makes (platform CA and server
 * certificate, audit key pair, admin tenant and token).
 *
 *   DIR/lambdad.lock   flock'ed while lambdad runs
 *   DIR/lambdad.pid    its pid
 *   DIR/lambdad.log    the log (main.c)
 *   DIR/ca.pem ca.key  platform CA (key 0600)
 *   DIR/server.pem server.key   listener certificate (key 0600)
 *   DIR/audit.key audit.pub     Ed25519 key signing audit checkpoints
 *   DIR/admin.token    the admin tenant's token (0600)
 *   DIR/lambda.db      the SQLite store
 *   DIR/agent/         the embedded agent's state */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lambda/audit.h"
#include "lambda/log.h"
#include "lambda/net.h"
#include "lambda/secret.h"
#include "lambda/store.h"
#include "lambda/util.h"
#include "lambdad.h"

void lmd_path(const struct lmd *d, char *out, size_t out_size, const char *name)
{
	snprintf(out, out_size, "%s/%s", d->opt.data_dir, name);
}

static bool exists(const char *path)
{
	return access(path, F_OK) == 0;
}

static long read_pid(const struct lmd *d)
{
	char path[4096];
	uint8_t *text = NULL;
	size_t size;
	long pid = 0;

	lmd_path(d, path, sizeof(path), "lambdad.pid");
	if (lm_file_read(path, 64, &text, &size) == 0)
		pid = strtol((char *)text, NULL, 10);
	free(text);
	return pid;
}

static int take_lock(struct lmd *d, long *owner)
{
	char path[4096], pid[32];
	int fd, n;

	lmd_path(d, path, sizeof(path), "lambdad.lock");
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		lm_err("%s: %s", path, strerror(errno));
		return LM_EIO;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		int e = errno;

		close(fd);
		if (e == EWOULDBLOCK) {
			*owner = read_pid(d);
			return LM_EBUSY;
		}
		lm_err("%s: flock: %s", path, strerror(e));
		return LM_EIO;
	}
	d->lock_fd = fd;
	n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	lmd_path(d, path, sizeof(path), "lambdad.pid");
	return lm_file_write_replace(path, pid, (size_t)n, 0644);
}

static int make_pki(struct lmd *d)
{
	char ca[4096], ca_key[4096], cert[4096], key[4096];
	int r;

	lmd_path(d, ca, sizeof(ca), "ca.pem");
	lmd_path(d, ca_key, sizeof(ca_key), "ca.key");
	lmd_path(d, cert, sizeof(cert), "server.pem");
	lmd_path(d, key, sizeof(key), "server.key");
	if (!exists(ca) && (r = lm_pki_make_ca(ca, ca_key)) < 0)
		return r;
	if (!exists(cert)) {
		/* A key left by an interrupted first start is remade. */
		if (unlink(key) != 0 && errno != ENOENT)
			return LM_EIO;
		if ((r = lm_pki_make_server(ca, ca_key, cert, key)) < 0)
			return r;
	}
	return 0;
}

static int load_audit_key(struct lmd *d)
{
	char priv[4096], pub[4096];
	char *priv_pem = NULL, *pub_pem = NULL;
	uint8_t *text = NULL;
	size_t size;
	int r;

	lmd_path(d, priv, sizeof(priv), "audit.key");
	lmd_path(d, pub, sizeof(pub), "audit.pub");
	if (!exists(priv)) {
		if ((r = lm_audit_key_generate(&priv_pem, &pub_pem)) < 0 ||
		    (r = lm_file_write_new(priv, priv_pem, strlen(priv_pem), 0600)) < 0 ||
		    (r = lm_file_write_replace(pub, pub_pem, strlen(pub_pem), 0644)) < 0)
			goto out;
		lm_info("made the audit signing key %s", pub);
		d->audit_key_pem = priv_pem;
		d->audit_pub_pem = pub_pem;
		return 0;
	}
	if ((r = lm_file_read_private(priv, 64 * 1024, &text, &size)) < 0)
		goto out;
	d->audit_key_pem = (char *)text;
	if ((r = lm_file_read(pub, 64 * 1024, &text, &size)) < 0)
		goto out;
	d->audit_pub_pem = (char *)text;
	r = 0;
out:
	lm_free_wiped(priv_pem);
	free(pub_pem);
	return r;
}

/* The first start: the admin tenant and its token in DIR/admin.token. */
static int make_admin(struct lmd *d)
{
	char path[4096], token[LMD_TOKEN_SIZE + 1];
	struct lm_tenant admin;
	int r;

	lmd_path(d, path, sizeof(path), "admin.token");
	if (exists(path))
		return 0;
	r = lm_store_tenant_create(d->store, "admin", true, &admin);
	if (r == LM_EEXIST) {
		lm_err("the admin tenant exists but %s is missing; create a tenant with a saved token "
		       "or start over with a new data dir",
		       path);
		return r;
	}
	if (r < 0 || (r = lmd_token_issue(d, admin.id, token)) < 0)
		return r;
	strcat(token, "\n");
	r = lm_file_write_new(path, token, strlen(token), 0600);
	lm_memzero(token, sizeof(token));
	if (r < 0)
		return r;
	lm_info("made the admin tenant %s; its token is in %s", admin.id, path);
	return lmd_audit(d, "tenant.created", "system", admin.id, "create", json_pack("{s:s}", "name", "admin"));
}

/* Verifies the stored audit log before anything is appended to it. A broken
 * log does not stop lambdad: it starts read-only, so that the customer and
 * the operator can see where the log was damaged. */
static int check_audit(struct lmd *d)
{
	struct lm_audit_event last;
	uint64_t bad_seq = 0;
	char why[160] = "";
	int r;

	r = lm_store_audit_last(d->store, &last);
	if (r == LM_ENOENT)
		return 0;	/* first start: nothing to verify */
	if (r < 0)
		return r;
	r = lm_audit_verify_store(d->store, d->audit_pub_pem, &bad_seq, why, sizeof(why));
	if (r == LM_EVERIFY) {
		lmd_audit_broken(d, bad_seq, why);
		return 0;
	}
	return r;
}

int lmd_state_open(struct lmd *d, long *owner)
{
	char path[4096];
	int r;

	if ((r = lm_mkdir_p(d->opt.data_dir, 0700)) < 0)
		return r;
	if (chmod(d->opt.data_dir, 0700) != 0) {
		lm_err("chmod %s: %s", d->opt.data_dir, strerror(errno));
		return LM_EIO;
	}
	if ((r = take_lock(d, owner)) < 0)
		return r;
	if ((r = make_pki(d)) < 0 || (r = load_audit_key(d)) < 0)
		return r;
	lmd_path(d, path, sizeof(path), "lambda.db");
	if ((r = lm_store_open(path, &d->store)) < 0 || (r = check_audit(d)) < 0)
		return r;
	if (d->audit_broken)
		return 0;
	if ((r = make_admin(d)) < 0)
		return r;
	return lmd_audit(d, "platform.started", "system", "", "start",
			 json_pack("{s:s, s:s}", "version", LAMBDA_VERSION, "region", d->opt.region));
}

void lmd_state_close(struct lmd *d)
{
	char path[4096];

	lm_store_close(d->store);
	d->store = NULL;
	lm_free_wiped(d->audit_key_pem);
	d->audit_key_pem = NULL;
	free(d->audit_pub_pem);
	d->audit_pub_pem = NULL;
	if (d->lock_fd >= 0) {
		lmd_path(d, path, sizeof(path), "lambdad.pid");
		unlink(path);
		close(d->lock_fd);	/* releases the flock last */
		d->lock_fd = -1;
	}
}
