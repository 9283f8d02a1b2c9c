/* An open volume: the common part above the back-ends (dm.c, fuse_view.c).
 * Owns the loop device that attaches the user-space back-end's FUSE file,
 * making ext4 on first use (/sbin/mkfs.ext4 run without a shell), the ext4
 * mount on run_dir/data, teardown in reverse order, and the removal of what
 * a killed opener left under run_dir.
 *
 * When the opener or its server dies, the kernel aborts the FUSE connection:
 * the loop device then fails every I/O with EIO, ext4 sees write errors
 * (errors=remount-ro) and the mounts stay until someone removes them.
 * Committed data is safe: an ext4 journal commit is a flush of the loop
 * device, which is an fsync of the FUSE file, which is fdatasync of the
 * image. lm_volume_open() therefore starts with lm_volume_cleanup(), which
 * removes exactly the mounts, loop devices and mapping of its own run_dir. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <openssl/evp.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lambda/log.h"
#include "lambda/util.h"
#include "lambda/volume.h"
#include "volume/volume_int.h"

#define MKFS_PATH "/sbin/mkfs.ext4"
#define LOOP_TRIES 8
#define BUSY_TRIES 50		/* x 20 ms */

void lm_volume_dm_name(char *out, size_t out_size, const char *run_dir)
{
	uint8_t md[32];
	char hex[65];
	unsigned md_size = 0;

	memset(md, 0, sizeof(md));
	(void)EVP_Digest(run_dir, strlen(run_dir), md, &md_size, EVP_sha256(), NULL);
	lm_hex_encode(hex, md, 8);
	snprintf(out, out_size, "lambda-vol-%s", hex);
}

/* mountinfo escapes space, tab, newline and backslash as \ooo. */
static void unescape(char *s)
{
	char *w = s;

	for (char *p = s; *p; p++) {
		if (p[0] == '\\' && p[1] >= '0' && p[1] <= '3' && p[2] >= '0' && p[2] <= '7' && p[3] >= '0' &&
		    p[3] <= '7') {
			*w++ = (char)((p[1] - '0') * 64 + (p[2] - '0') * 8 + (p[3] - '0'));
			p += 3;
		} else {
			*w++ = *p;
		}
	}
	*w = 0;
}

int lm_volume_find_mount(const char *mnt, char *fstype, size_t fstype_size, unsigned *maj, unsigned *min,
			 char *source, size_t source_size)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char *line = NULL;
	size_t cap = 0;
	int found = 0;

	if (!f)
		return 0;
	while (getline(&line, &cap, f) > 0) {
		char point[4096], type[256], src[4096];
		unsigned a, b;
		char *dash = strstr(line, " - ");

		if (!dash || sscanf(line, "%*u %*u %u:%u %*s %4095s", &a, &b, point) != 3 ||
		    sscanf(dash + 3, "%255s %4095s", type, src) != 2)
			continue;
		unescape(point);
		if (strcmp(point, mnt) != 0)
			continue;
		found = 1;	/* keep going: the last one is on top */
		if (fstype)
			snprintf(fstype, fstype_size, "%s", type);
		if (maj)
			*maj = a;
		if (min)
			*min = b;
		if (source) {
			unescape(src);
			snprintf(source, source_size, "%s", src);
		}
	}
	free(line);
	fclose(f);
	return found;
}

/* Unmounts mnt, waiting while it is busy; lazily as the last resort. */
static int umount_patiently(const char *mnt)
{
	for (int i = 0; i < BUSY_TRIES; i++) {
		if (umount2(mnt, UMOUNT_NOFOLLOW) == 0)
			return 0;
		if (errno != EBUSY) {
			lm_err("volume: umount %s: %s", mnt, strerror(errno));
			return LM_EIO;
		}
		usleep(20000);
	}
	lm_warn("volume: %s stays busy: detaching it lazily", mnt);
	(void)umount2(mnt, MNT_DETACH | UMOUNT_NOFOLLOW);
	return LM_EBUSY;
}

/* The backing file of /dev/loopN as the kernel reports it, or "". */
static void loop_backing(const char *name, char *out, size_t out_size)
{
	char path[128];
	FILE *f;

	out[0] = 0;
	snprintf(path, sizeof(path), "/sys/block/%s/loop/backing_file", name);
	f = fopen(path, "re");
	if (!f)
		return;
	if (!fgets(out, (int)out_size, f))
		out[0] = 0;
	out[strcspn(out, "\n")] = 0;
	fclose(f);
}

/* Clears every loop device whose backing file is file; with the
 * filesystem on it still alive the kernel defers that to its last close. */
static int loops_clear(const char *file)
{
	DIR *d = opendir("/sys/block");
	struct dirent *e;
	int cleared = 0;

	if (!d)
		return 0;
	while ((e = readdir(d))) {
		char backing[4096], dev[300];
		int fd;

		if (strncmp(e->d_name, "loop", 4) != 0)
			continue;
		loop_backing(e->d_name, backing, sizeof(backing));
		if (strcmp(backing, file) != 0)
			continue;
		snprintf(dev, sizeof(dev), "/dev/%s", e->d_name);
		fd = open(dev, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		if (ioctl(fd, LOOP_CLR_FD, 0) == 0) {
			lm_info("volume: cleared stale loop device %s", dev);
			cleared++;
		}
		close(fd);
	}
	closedir(d);
	return cleared;
}

int lm_volume_cleanup(const char *run_dir)
{
	char *mnt = NULL, *fuse = NULL, *file = NULL, type[64];
	int r = 0, n = 0;

	if (!run_dir || run_dir[0] != '/')
		return LM_EINVAL;
	if (asprintf(&mnt, "%s/data", run_dir) < 0 || asprintf(&fuse, "%s/fuse", run_dir) < 0 ||
	    asprintf(&file, "%s/%s", fuse, LM_VOLUME_FUSE_FILE) < 0) {
		r = LM_ENOMEM;
		goto out;
	}
	/* First make sure nothing can wait on a dead or hung server. */
	(void)lm_volume_user.cleanup(run_dir);
	for (int i = 0; i < 8 && lm_volume_find_mount(mnt, type, sizeof(type), NULL, NULL, NULL, 0) == 1; i++) {
		lm_info("volume: detaching the stale %s mount on %s", type, mnt);
		if (umount2(mnt, MNT_DETACH | UMOUNT_NOFOLLOW) != 0) {
			lm_err("volume: umount %s: %s", mnt, strerror(errno));
			r = LM_EBUSY;
			break;
		}
		n++;
	}
	n += loops_clear(file);
	(void)lm_volume_dm.cleanup(run_dir);
	for (int i = 0; i < 8 && lm_volume_find_mount(fuse, type, sizeof(type), NULL, NULL, NULL, 0) == 1; i++) {
		lm_info("volume: unmounting the stale %s mount on %s", type, fuse);
		if (umount_patiently(fuse) < 0 && r == 0)
			r = LM_EBUSY;
		n++;
	}
	if (n)
		lm_info("volume: removed %d stale mounts or devices under %s", n, run_dir);
out:
	free(file);
	free(fuse);
	free(mnt);
	return r;
}

/* Attaches file to a free loop device with 4096-byte blocks; autoclear,
 * so the device goes away with its last user. */
static int loop_attach(struct lm_volume *v)
{
	struct loop_config cfg = { 0 };
	int ctl = -1, file = -1, r = LM_EIO;

	file = open(v->dev_path, O_RDWR | O_CLOEXEC);
	if (file < 0) {
		lm_err("volume: open %s: %s", v->dev_path, strerror(errno));
		return LM_EIO;
	}
	ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	if (ctl < 0) {
		lm_err("volume: /dev/loop-control: %s", strerror(errno));
		r = LM_ENOTSUP;
		goto out;
	}
	cfg.fd = (uint32_t)file;
	cfg.block_size = LM_VOLUME_SECTOR_SIZE;
	cfg.info.lo_flags = LO_FLAGS_AUTOCLEAR;
	snprintf((char *)cfg.info.lo_file_name, sizeof(cfg.info.lo_file_name), "%s", v->dev_path);
	/* Another process may take the free device between the two calls. */
	for (int i = 0; i < LOOP_TRIES; i++) {
		int n = ioctl(ctl, LOOP_CTL_GET_FREE), fd;
		char path[64];

		if (n < 0) {
			lm_err("volume: no free loop device: %s", strerror(errno));
			goto out;
		}
		snprintf(path, sizeof(path), "/dev/loop%d", n);
		fd = open(path, O_RDWR | O_CLOEXEC);
		if (fd < 0) {
			lm_err("volume: open %s: %s", path, strerror(errno));
			goto out;
		}
		if (ioctl(fd, LOOP_CONFIGURE, &cfg) == 0) {
			v->loop_fd = fd;
			if (!(v->loop_path = strdup(path))) {
				r = LM_ENOMEM;
				goto out;
			}
			lm_info("volume: %s attached to %s", v->dev_path, path);
			r = 0;
			goto out;
		}
		if (errno != EBUSY) {
			lm_err("volume: LOOP_CONFIGURE %s: %s", path, strerror(errno));
			close(fd);
			goto out;
		}
		close(fd);
	}
	lm_err("volume: every free loop device was taken under us");
out:
	if (ctl >= 0)
		close(ctl);
	close(file);
	return r;
}

/* Clears our loop device and waits until it lets go of the FUSE file. */
static void loop_detach(struct lm_volume *v)
{
	char backing[4096];

	if (v->loop_fd < 0)
		return;
	if (ioctl(v->loop_fd, LOOP_CLR_FD, 0) != 0 && errno != ENXIO)
		lm_warn("volume: LOOP_CLR_FD %s: %s", v->loop_path, strerror(errno));
	close(v->loop_fd);
	v->loop_fd = -1;
	for (int i = 0; i < BUSY_TRIES; i++) {
		loop_backing(v->loop_path + strlen("/dev/"), backing, sizeof(backing));
		if (strcmp(backing, v->dev_path) != 0)
			return;
		usleep(20000);
	}
	lm_warn("volume: %s still holds %s", v->loop_path, v->dev_path);
}

/* Never written since creation: the ciphertext of sector 0 (where mkfs
 * always writes the superblock) is all zero. An encrypted sector is all
 * zero with probability 2^-32768. */
static int is_blank(const struct lm_volume *v, bool *blank)
{
	uint8_t buf[LM_VOLUME_SECTOR_SIZE];
	ssize_t n;
	int fd = open(v->image, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return LM_EIO;
	n = pread(fd, buf, sizeof(buf), (off_t)v->data_offset);
	close(fd);
	if (n < 0)
		return LM_EIO;
	*blank = true;
	for (ssize_t i = 0; i < n; i++)
		if (buf[i]) {
			*blank = false;
			break;
		}
	return 0;
}

static int run_mkfs(const char *dev)
{
	char owner[64];
	char *argv[] = { "mkfs.ext4", "-q", "-F", "-b", "4096", "-m", "0", "-L", "lambda-data", "-E", owner, (char *)dev,
			 NULL };
	char *envp[] = { NULL };
	pid_t pid;
	int st, e;

	snprintf(owner, sizeof(owner), "root_owner=%u:%u,nodiscard", LM_VOLUME_DATA_UID, LM_VOLUME_DATA_UID);
	if ((e = posix_spawn(&pid, MKFS_PATH, NULL, NULL, argv, envp)) != 0) {
		lm_err("volume: cannot run %s: %s", MKFS_PATH, strerror(e));
		return LM_ENOTSUP;
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return LM_EIO;
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		lm_err("volume: mkfs.ext4 on %s failed (status %#x)", dev, st);
		return LM_EIO;
	}
	lm_info("volume: made ext4 on %s", dev);
	return 0;
}

static void volume_free(struct lm_volume *v)
{
	if (!v)
		return;
	free(v->image);
	free(v->run_dir);
	free(v->mnt_dir);
	free(v->fuse_dir);
	free(v->dev_path);
	free(v->loop_path);
	free(v);
}

int lm_volume_close(struct lm_volume *v)
{
	int r = 0, e;

	if (!v)
		return 0;
	if (v->is_mounted) {
		int fd = open(v->mnt_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		if (fd >= 0) {
			if (syncfs(fd) != 0) {
				lm_err("volume: syncfs %s: %s", v->mnt_dir, strerror(errno));
				r = LM_EIO;
			}
			close(fd);
		}
		if ((e = umount_patiently(v->mnt_dir)) < 0 && r == 0)
			r = e;
		v->is_mounted = false;
	}
	loop_detach(v);
	if (v->be && (e = v->be->detach(v)) < 0 && r == 0)
		r = e;
	if (r == 0)
		lm_info("volume: %s closed", v->image);
	volume_free(v);
	return r;
}

static int make_dir(const char *path, mode_t mode)
{
	struct stat st;

	if (mkdir(path, mode) != 0 && errno != EEXIST) {
		lm_err("volume: mkdir %s: %s", path, strerror(errno));
		return LM_EIO;
	}
	if (lstat(path, &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid()) {
		lm_err("volume: %s is not our directory", path);
		return LM_EIO;
	}
	return 0;
}

int lm_volume_open(const char *image, const char *run_dir, const struct lm_secret *volume_key, unsigned flags,
		   struct lm_volume **out)
{
	struct lm_volume *v = NULL;
	bool blank = false;
	int r;

	if (!image || !run_dir || run_dir[0] != '/' || !out || !volume_key || !volume_key->data ||
	    volume_key->size != LM_VOLUME_KEY_BYTES || (flags & ~LM_VOLUME_USERSPACE))
		return LM_EINVAL;
	v = calloc(1, sizeof(*v));
	if (!v)
		return LM_ENOMEM;
	v->loop_fd = -1;
	if (!(v->image = strdup(image)) || !(v->run_dir = strdup(run_dir)) ||
	    asprintf(&v->mnt_dir, "%s/data", run_dir) < 0 || asprintf(&v->fuse_dir, "%s/fuse", run_dir) < 0) {
		r = LM_ENOMEM;
		goto out;
	}
	lm_volume_dm_name(v->dm_name, sizeof(v->dm_name), run_dir);
	/* Searchable, so that a sandboxed uid can reach run_dir/data. */
	if ((r = lm_mkdir_p(run_dir, 0711)) < 0 || (r = make_dir(run_dir, 0711)) < 0 ||
	    (r = lm_volume_cleanup(run_dir)) < 0 || (r = make_dir(v->mnt_dir, 0700)) < 0 ||
	    (r = lm_volume_layout(image, &v->data_offset, &v->data_size)) < 0 || (r = is_blank(v, &blank)) < 0)
		goto out;
	r = LM_ENOTSUP;
	if (!(flags & LM_VOLUME_USERSPACE) && lm_volume_dm.probe()) {
		v->be = &lm_volume_dm;
		r = v->be->attach(v, volume_key);
		if (r == LM_ENOTSUP)
			lm_warn("volume: dm-crypt unusable here: serving the volume in user space");
	}
	if (r == LM_ENOTSUP && lm_volume_user.probe()) {
		v->be = &lm_volume_user;
		r = v->be->attach(v, volume_key);
	} else if (r == LM_ENOTSUP) {
		lm_err("volume: neither dm-crypt nor FUSE is available");
	}
	if (r < 0)
		goto out;
	if (v->be->needs_loop && (r = loop_attach(v)) < 0)
		goto out;
	if (blank && (r = run_mkfs(v->loop_path ? v->loop_path : v->dev_path)) < 0)
		goto out;
	if (mount(v->loop_path ? v->loop_path : v->dev_path, v->mnt_dir, "ext4", MS_NOSUID | MS_NODEV,
		  "errors=remount-ro") != 0) {
		lm_err("volume: cannot mount ext4 from %s: %s", v->image, strerror(errno));
		r = LM_EIO;
		goto out;
	}
	v->is_mounted = true;
	lm_info("volume: %s mounted on %s (%s)", image, v->mnt_dir, v->be->name);
	*out = v;
	v = NULL;
	r = 0;
out:
	if (v && lm_volume_close(v) < 0)
		lm_warn("volume: teardown after a failed open was incomplete");
	return r;
}

const char *lm_volume_mount_dir(const struct lm_volume *v)
{
	return v ? v->mnt_dir : NULL;
}

const char *lm_volume_backend_name(const struct lm_volume *v)
{
	return v && v->be ? v->be->name : NULL;
}

pid_t lm_volume_server_pid(const struct lm_volume *v)
{
	return v ? v->server : 0;
}
