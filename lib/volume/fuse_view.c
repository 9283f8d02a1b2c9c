/* The user-space volume back-end: where the kernel has no dm-crypt, a child
 * of the opener serves the decrypted data segment of the image as one FUSE
 * file, run_dir/fuse/volume, which mount.c attaches to a loop device.
 *
 * Why a child process and not a thread: the opener does blocking I/O on the
 * mount it serves (mount, mkfs, sync, umount). Were the server a thread of
 * the same process, a kill -9 would leave the opener in uninterruptible
 * block I/O waiting for a server that is gone, while its still-open
 * /dev/fuse descriptor (shared by the threads) keeps the connection alive:
 * a deadlock only an abort through /sys/fs/fuse/connections ends. As a
 * separate process the server owns the only /dev/fuse descriptor; when it
 * dies for any reason the kernel aborts the connection and pending and
 * later I/O fails with an error instead of hanging. It dies with the opener
 * (PR_SET_PDEATHSIG).
 *
 * The server: single-threaded (the loop device sends one request at a time
 * per worker), direct_io (no page cache of the ciphertext view), reads and
 * writes in whole 4096-byte sectors, read-modify-write for partial ones,
 * fsync and flush -> fdatasync of the image, so that a journal commit of the
 * ext4 above reaches the host disk. The only untrusted bytes it takes are
 * the image's (ciphertext, fixed layout), the header having been checked
 * before. */
#define FUSE_USE_VERSION 35

#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lambda/log.h"
#include "lambda/volume.h"
#include "volume/volume_int.h"

#define ROOT_INO FUSE_ROOT_ID
#define FILE_INO 2
#define MAX_WRITE (1u << 20)
#define BUF_SIZE (MAX_WRITE + 2 * LM_VOLUME_SECTOR_SIZE)
#define ATTR_TIMEOUT 86400.0
#define FD_IMAGE 3
#define FD_READY 4

struct view {
	struct lm_xts *xts;
	int fd;
	uint64_t offset, size;
	uint8_t *ct, *pt;		/* BUF_SIZE each */
};

static void file_attr(const struct view *vw, fuse_ino_t ino, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_uid = 0;
	st->st_gid = 0;
	if (ino == ROOT_INO) {
		st->st_mode = S_IFDIR | 0700;
		st->st_nlink = 2;
	} else {
		st->st_mode = S_IFREG | 0600;
		st->st_nlink = 1;
		st->st_size = (off_t)vw->size;
		st->st_blksize = LM_VOLUME_SECTOR_SIZE;
		st->st_blocks = (blkcnt_t)(vw->size / 512);
	}
}

static void view_init(void *ud, struct fuse_conn_info *conn)
{
	(void)ud;
	conn->max_write = MAX_WRITE;
	conn->want &= ~(unsigned)FUSE_CAP_WRITEBACK_CACHE;
}

static void view_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct view *vw = fuse_req_userdata(req);
	struct fuse_entry_param e = { 0 };

	if (parent != ROOT_INO || strcmp(name, LM_VOLUME_FUSE_FILE) != 0) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	e.ino = FILE_INO;
	e.generation = 1;
	e.attr_timeout = ATTR_TIMEOUT;
	e.entry_timeout = ATTR_TIMEOUT;
	file_attr(vw, FILE_INO, &e.attr);
	fuse_reply_entry(req, &e);
}

static void view_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct stat st;

	(void)fi;
	if (ino != ROOT_INO && ino != FILE_INO) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	file_attr(fuse_req_userdata(req), ino, &st);
	fuse_reply_attr(req, &st, ATTR_TIMEOUT);
}

static void view_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	if (ino != FILE_INO) {
		fuse_reply_err(req, EISDIR);
		return;
	}
	if (fi->flags & O_TRUNC) {
		fuse_reply_err(req, EPERM);
		return;
	}
	fi->direct_io = 1;
	fi->keep_cache = 0;
	fuse_reply_open(req, fi);
}

/* Reads and decrypts count sectors from data-segment sector first into
 * vw->pt. */
static int load_sectors(struct view *vw, uint64_t first, size_t count)
{
	size_t want = count * LM_VOLUME_SECTOR_SIZE, got = 0;

	while (got < want) {
		ssize_t n = pread(vw->fd, vw->ct + got, want - got,
				  (off_t)(vw->offset + first * LM_VOLUME_SECTOR_SIZE + got));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)	/* beyond the host file's end: never written */
			memset(vw->ct + got, 0, want - got), n = (ssize_t)(want - got);
		got += (size_t)n;
	}
	return lm_xts_sectors(vw->xts, false, first, vw->pt, vw->ct, count) < 0 ? -EIO : 0;
}

/* The sector range covering [off, off + size), clamped to the file. */
static size_t clamp(const struct view *vw, off_t off, size_t size)
{
	if (off < 0 || (uint64_t)off >= vw->size)
		return 0;
	if (size > vw->size - (uint64_t)off)
		size = (size_t)(vw->size - (uint64_t)off);
	return size > MAX_WRITE ? MAX_WRITE : size;
}

static void view_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	struct view *vw = fuse_req_userdata(req);
	uint64_t first, last;
	int e;

	(void)ino;
	(void)fi;
	size = clamp(vw, off, size);
	if (size == 0) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	first = (uint64_t)off / LM_VOLUME_SECTOR_SIZE;
	last = ((uint64_t)off + size - 1) / LM_VOLUME_SECTOR_SIZE;
	if ((e = load_sectors(vw, first, (size_t)(last - first + 1))) < 0) {
		lm_err("volume server: read at %lld failed: %s", (long long)off, strerror(-e));
		fuse_reply_err(req, -e);
		return;
	}
	fuse_reply_buf(req, (const char *)vw->pt + (uint64_t)off % LM_VOLUME_SECTOR_SIZE, size);
}

static void view_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	struct view *vw = fuse_req_userdata(req);
	uint64_t first, last, head;
	size_t count, want, done = 0;
	int e = 0;

	(void)ino;
	(void)fi;
	if (off < 0 || (uint64_t)off >= vw->size || size > vw->size - (uint64_t)off) {
		fuse_reply_err(req, ENOSPC);
		return;
	}
	if (size == 0 || size > MAX_WRITE) {
		fuse_reply_err(req, size ? EINVAL : 0);
		return;
	}
	first = (uint64_t)off / LM_VOLUME_SECTOR_SIZE;
	last = ((uint64_t)off + size - 1) / LM_VOLUME_SECTOR_SIZE;
	count = (size_t)(last - first + 1);
	head = (uint64_t)off % LM_VOLUME_SECTOR_SIZE;
	want = count * LM_VOLUME_SECTOR_SIZE;
	/* Partial first or last sector: keep the bytes around the write. */
	if (head || (size + head) % LM_VOLUME_SECTOR_SIZE) {
		if ((e = load_sectors(vw, first, count)) < 0)
			goto out;
	}
	memcpy(vw->pt + head, buf, size);
	if (lm_xts_sectors(vw->xts, true, first, vw->ct, vw->pt, count) < 0) {
		e = -EIO;
		goto out;
	}
	while (done < want) {
		ssize_t n = pwrite(vw->fd, vw->ct + done, want - done,
				   (off_t)(vw->offset + first * LM_VOLUME_SECTOR_SIZE + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			e = n < 0 ? -errno : -EIO;
			goto out;
		}
		done += (size_t)n;
	}
out:
	if (e < 0) {
		lm_err("volume server: write at %lld failed: %s", (long long)off, strerror(-e));
		fuse_reply_err(req, -e);
	} else {
		fuse_reply_write(req, size);
	}
}

static void view_sync(fuse_req_t req)
{
	struct view *vw = fuse_req_userdata(req);

	fuse_reply_err(req, fdatasync(vw->fd) == 0 ? 0 : errno);
}

static void view_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	(void)fi;
	view_sync(req);
}

static void view_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	(void)ino;
	(void)datasync;
	(void)fi;
	view_sync(req);
}

static void view_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	(void)fi;
	fuse_reply_err(req, 0);
}

static const struct fuse_lowlevel_ops g_view_ops = {
	.init = view_init,
	.lookup = view_lookup,
	.getattr = view_getattr,
	.open = view_open,
	.read = view_read,
	.write = view_write,
	.flush = view_flush,
	.fsync = view_fsync,
	.release = view_release,
};

/* Moves fd to target (both >= 0, target < 10), keeping close-on-exec off. */
static int move_fd(int fd, int target)
{
	if (fd == target)
		return 0;
	return dup2(fd, target) < 0 ? -1 : 0;
}

/* The server process: never returns. Exit 0 after a clean unmount. */
static void __attribute__((noreturn))
serve(struct lm_volume *v, const struct lm_secret *key, int img_fd, int ready_fd, pid_t parent)
{
	char *fargv[] = { "lambda-volume", "-o", "fsname=lambda-volume,subtype=lambda-volume", NULL };
	struct fuse_args args = FUSE_ARGS_INIT(3, fargv);
	struct fuse_session *se = NULL;
	struct view vw = { .fd = FD_IMAGE, .offset = v->data_offset, .size = v->data_size };
	int r, code = 1;

	if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
		_exit(1);
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGPIPE, SIG_IGN);
	/* Only stdio, the image and the ready pipe stay open: the opener's
	 * other descriptors (its channel, sockets) must not outlive it here. */
	if ((img_fd = fcntl(img_fd, F_DUPFD_CLOEXEC, 10)) < 0 || (ready_fd = fcntl(ready_fd, F_DUPFD_CLOEXEC, 10)) < 0 ||
	    move_fd(img_fd, FD_IMAGE) < 0 || move_fd(ready_fd, FD_READY) < 0 ||
	    close_range(FD_READY + 1, ~0u, 0) != 0)
		_exit(1);
	/* mlock is not inherited across fork: lock the key's pages again. */
	(void)mlock(key->data, key->size);
	r = lm_xts_new(key->data, &vw.xts);
	lm_memzero(key->data, key->size);	/* the schedule in OpenSSL is all we need */
	if (r < 0)
		_exit(1);
	vw.ct = malloc(BUF_SIZE);
	vw.pt = malloc(BUF_SIZE);
	if (!vw.ct || !vw.pt)
		goto out;
	se = fuse_session_new(&args, &g_view_ops, sizeof(g_view_ops), &vw);
	if (!se) {
		lm_err("volume server: cannot make a FUSE session");
		goto out;
	}
	if (fuse_session_mount(se, v->fuse_dir) != 0) {
		lm_err("volume server: cannot mount FUSE on %s", v->fuse_dir);
		fuse_session_destroy(se);
		se = NULL;
		goto out;
	}
	if (write(FD_READY, "1", 1) != 1)
		goto out;
	close(FD_READY);
	/* Ends when the opener unmounts (the device read returns ENODEV). */
	r = fuse_session_loop(se);
	code = r == 0 ? 0 : 1;
out:
	if (se) {
		fuse_session_unmount(se);
		fuse_session_destroy(se);
	}
	if (vw.pt)
		lm_memzero(vw.pt, BUF_SIZE);
	free(vw.pt);
	free(vw.ct);
	lm_xts_free(vw.xts);
	_exit(code);
}

static bool user_probe(void)
{
	return access("/dev/fuse", R_OK | W_OK) == 0;
}

static int user_attach(struct lm_volume *v, const struct lm_secret *key)
{
	int img_fd = -1, pipefd[2] = { -1, -1 }, r;
	pid_t pid, parent = getpid();
	char c;
	ssize_t n;

	if (mkdir(v->fuse_dir, 0700) != 0 && errno != EEXIST) {
		lm_err("volume: mkdir %s: %s", v->fuse_dir, strerror(errno));
		return LM_EIO;
	}
	img_fd = open(v->image, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (img_fd < 0) {
		lm_err("volume %s: open: %s", v->image, strerror(errno));
		return LM_EIO;
	}
	if (pipe2(pipefd, O_CLOEXEC) != 0) {
		r = LM_EIO;
		goto out;
	}
	pid = fork();
	if (pid < 0) {
		lm_err("volume: fork: %s", strerror(errno));
		r = LM_EIO;
		goto out;
	}
	if (pid == 0) {
		close(pipefd[0]);
		serve(v, key, img_fd, pipefd[1], parent);
	}
	v->server = pid;
	close(pipefd[1]);
	pipefd[1] = -1;
	do
		n = read(pipefd[0], &c, 1);
	while (n < 0 && errno == EINTR);
	if (n != 1) {
		lm_err("volume: the user-space server failed to start");
		(void)kill(pid, SIGKILL);
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
		v->server = 0;
		r = LM_EIO;
		goto out;
	}
	v->is_fuse_mounted = true;
	if (asprintf(&v->dev_path, "%s/%s", v->fuse_dir, LM_VOLUME_FUSE_FILE) < 0) {
		v->dev_path = NULL;
		r = LM_ENOMEM;
		goto out;
	}
	lm_info("volume: user-space XTS server %d serves %s", (int)pid, v->dev_path);
	r = 0;
out:
	if (img_fd >= 0)
		close(img_fd);
	if (pipefd[0] >= 0)
		close(pipefd[0]);
	if (pipefd[1] >= 0)
		close(pipefd[1]);
	return r;
}

/* Waits up to ms milliseconds for pid; 1 when it was reaped. */
static int reap(pid_t pid, int ms, int *status)
{
	for (int i = 0; i <= ms / 10; i++) {
		pid_t w = waitpid(pid, status, WNOHANG);

		if (w == pid || (w < 0 && errno == ECHILD))
			return 1;
		usleep(10000);
	}
	return 0;
}

static int user_detach(struct lm_volume *v)
{
	int r = 0, st = 0;

	if (v->is_fuse_mounted) {
		/* The loop device may take a moment to drop its file. */
		for (int i = 0; i < 50 && umount2(v->fuse_dir, 0) != 0; i++) {
			if (errno != EBUSY) {
				if (errno != EINVAL)
					lm_warn("volume: umount %s: %s", v->fuse_dir, strerror(errno));
				break;
			}
			if (i == 49) {
				lm_warn("volume: %s still busy: detaching it lazily", v->fuse_dir);
				(void)umount2(v->fuse_dir, MNT_DETACH);
				r = LM_EBUSY;
			}
			usleep(20000);
		}
		v->is_fuse_mounted = false;
	}
	if (v->server > 0) {
		if (!reap(v->server, 5000, &st)) {
			lm_warn("volume: server %d did not stop: killing it", (int)v->server);
			(void)kill(v->server, SIGKILL);
			(void)reap(v->server, 5000, &st);
			st = 1;
		}
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			lm_warn("volume: the user-space server ended abnormally (status %#x)", st);
			if (r == 0)
				r = LM_EIO;
		}
		v->server = 0;
	}
	return r;
}

/* Aborts a FUSE connection still mounted on run_dir/fuse (its server was
 * killed, or hangs), so that nothing waits on it any more. Found through
 * mountinfo by mount point and type, never by guessing. */
static int user_cleanup(const char *run_dir)
{
	char *path = NULL, *abort_path = NULL, fstype[64];
	unsigned maj, min;
	int fd, r = 0;

	if (asprintf(&path, "%s/fuse", run_dir) < 0)
		return LM_ENOMEM;
	if (lm_volume_find_mount(path, fstype, sizeof(fstype), &maj, &min, NULL, 0) == 1 &&
	    strcmp(fstype, "fuse.lambda-volume") == 0 &&
	    asprintf(&abort_path, "/sys/fs/fuse/connections/%u/abort", min) >= 0) {
		fd = open(abort_path, O_WRONLY | O_CLOEXEC);
		if (fd >= 0) {
			lm_info("volume: aborting the stale FUSE connection on %s", path);
			if (write(fd, "1", 1) != 1)
				r = LM_EIO;
			close(fd);
		}
	}
	free(abort_path);
	free(path);
	return r;
}

const struct lm_volume_backend lm_volume_user = {
	.name = "user-space",
	.needs_loop = true,
	.probe = user_probe,
	.attach = user_attach,
	.detach = user_detach,
	.cleanup = user_cleanup,
};
