/* lambda encrypt / lambda decrypt: files in the encrypted file format of
 * DESIGN.md section 5 (lib/crypto/fileenc.c) under the file KEK of a CMK.
 * Owns the output discipline: an unnamed file (O_TMPFILE) in the
 * destination's directory, named only when everything worked (for decrypt:
 * only once the whole input authenticated), so that not even kill -9
 * leaves a part behind; where O_TMPFILE is missing, a named temporary file
 * renamed into place, removed on failure and on SIGINT/SIGTERM. Never an
 * existing file replaced without --force. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmds.h"
#include "lambda/crypto.h"
#include "lambda/fileenc.h"
#include "lambda/log.h"
#include "lambda/secret.h"
#include "lambda/util.h"

const char cmd_encrypt_manual[] =
	"Encrypts IN (a file, or - for standard input) for the CMK in KEY: AES-256-GCM in\n"
	"segments under a random file key, wrapped by the file KEK derived from the CMK\n"
	"(format: docs/formats.md, \"Encrypted files\"). Memory use is constant, whatever\n"
	"the size of IN. OUT is written through an unnamed temporary file in its directory\n"
	"(O_TMPFILE) and appears only complete: an interrupted, killed or failed run\n"
	"leaves nothing behind.\n"
	"\n"
	"options:\n"
	"  -k, --key KEY           the CMK file (mode 0600), as made by 'lambda key generate'\n"
	"  -o, --output OUT        where to write; - for standard output\n"
	"  --segment-size N        plaintext bytes per segment, 4096..16777216; a K or M\n"
	"                          suffix multiplies by 1024 or 1048576 (default 64K)\n"
	"  -f, --force             replace OUT if it is an existing regular file\n"
	"                          (default: refuse; devices, FIFOs and links never)\n"
	"\n"
	"exit status:\n"
	"  0  encrypted\n"
	"  1  reading or writing failed\n"
	"  2  bad arguments, or OUT exists without --force\n"
	"  3  the key file is unusable (malformed, readable by group or others, or\n"
	"     owned by another user)\n"
	"  5  IN, the key file or the directory of OUT does not exist\n"
	"\n"
	"examples:\n"
	"  lambda encrypt --key key.pem report.pdf -o report.pdf.lmbd\n"
	"  tar c data/ | lambda encrypt --key key.pem - -o data.tar.lmbd\n";

const char cmd_decrypt_manual[] =
	"Decrypts IN (a file, or - for standard input), made by 'lambda encrypt' with the\n"
	"same CMK, into OUT. Every segment, its position and the end of the file are\n"
	"authenticated: any modified, truncated, reordered or extended input is refused.\n"
	"OUT is written to an unnamed temporary file in its directory (O_TMPFILE) that\n"
	"gets its name only after the whole input authenticated; on any failure, and\n"
	"even after kill -9, nothing is left at OUT or beside it.\n"
	"If IN has a key rotation journal beside it (IN.lambda-rotate, left by an\n"
	"interrupted 'lambda key rotate --file'), the rotation is completed first.\n"
	"\n"
	"options:\n"
	"  -k, --key KEY           the CMK file the input was encrypted for\n"
	"  -o, --output OUT        where to write; - for standard output, which needs\n"
	"                          --unsafe-stream\n"
	"  --unsafe-stream         allow -o -: plaintext is written segment by segment as\n"
	"                          each authenticates, BEFORE the end of the input is\n"
	"                          checked. A truncated or tampered file then releases its\n"
	"                          authentic prefix and fails only at the end, with a\n"
	"                          non-zero exit status: the consumer must discard\n"
	"                          everything it received unless the status is 0.\n"
	"  -f, --force             replace OUT if it is an existing regular file\n"
	"                          (default: refuse; devices, FIFOs and links never)\n"
	"\n"
	"exit status:\n"
	"  0  decrypted; the whole input authenticated\n"
	"  1  authentication failed: the data or its header was modified, a segment\n"
	"     was cut short, segments were reordered or duplicated (or reading or\n"
	"     writing failed, or IN has a rotation journal of another file beside it)\n"
	"  2  malformed input: not an encrypted file, unsupported version, bad header\n"
	"     fields, truncated header, input ending at a segment boundary before the\n"
	"     last segment or inside a tag, trailing data after the last segment;\n"
	"     or bad arguments, or OUT exists\n"
	"  3  wrong key: the file was encrypted for another CMK (the message names the\n"
	"     lmk_... key id it wants), or the key file is unusable\n"
	"  5  IN, the key file or the directory of OUT does not exist\n"
	"\n"
	"examples:\n"
	"  lambda decrypt --key key.pem report.pdf.lmbd -o report.pdf\n"
	"  lambda decrypt --key key.pem data.tar.lmbd -o - --unsafe-stream | tar x\n";

/* The temporary output, removed by the signal handler if we are stopped. */
static char g_tmp_path[PATH_MAX];

static void on_signal(int sig)
{
	if (g_tmp_path[0])
		unlink(g_tmp_path);
	signal(sig, SIG_DFL);
	raise(sig);
}

struct out_file {
	const char *path;	/* NULL for standard output */
	int fd;
	bool force;
	bool unnamed;		/* an O_TMPFILE: no name until out_commit() */
	char dir[PATH_MAX];	/* the directory of path */
};

/* An unnamed file in the directory of the output (O_TMPFILE): if we are
 * killed, even with -9, there is nothing to remove. Returns -1 where the
 * file system or kernel has no O_TMPFILE; the caller then uses a named
 * temporary file. */
static int open_unnamed(const char *dir)
{
	int fd = open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);

	if (fd < 0 && errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
		return -2;	/* a real error, e.g. no such directory */
	return fd;
}

/* Gives the unnamed file its name: linkat through /proc/self/fd (no
 * privilege needed, unlike AT_EMPTY_PATH). Without --force the link fails
 * if the name exists; with it, the file is linked to a fresh temporary name
 * and renamed over the old one at once. */
static int name_unnamed(struct out_file *o)
{
	char proc[64];
	int e;

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", o->fd);
	if (!o->force) {
		if (linkat(AT_FDCWD, proc, AT_FDCWD, o->path, AT_SYMLINK_FOLLOW) == 0)
			return 0;
	} else {
		for (int i = 0; i < 100; i++) {
			uint8_t rnd[6];

			if (lm_random(rnd, sizeof(rnd)) < 0)
				return LM_EIO;
			if ((size_t)snprintf(g_tmp_path, sizeof(g_tmp_path), "%s/.lambda-out.%02x%02x%02x%02x%02x%02x",
					     o->dir, rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5]) >= sizeof(g_tmp_path)) {
				g_tmp_path[0] = 0;
				errno = ENAMETOOLONG;
				break;
			}
			if (linkat(AT_FDCWD, proc, AT_FDCWD, g_tmp_path, AT_SYMLINK_FOLLOW) == 0)
				break;
			g_tmp_path[0] = 0;
			if (errno != EEXIST)
				break;
		}
		if (g_tmp_path[0] && rename(g_tmp_path, o->path) == 0) {
			g_tmp_path[0] = 0;
			return 0;
		}
	}
	e = errno;
	if (g_tmp_path[0])
		unlink(g_tmp_path);
	g_tmp_path[0] = 0;
	cli_error("%s: %s", o->path, e == EEXIST ? "appeared meanwhile; not replaced" : strerror(e));
	return e == EEXIST ? LM_EEXIST : LM_EIO;
}

static int out_open(struct out_file *o, const char *path, bool force)
{
	char dir[PATH_MAX], base[PATH_MAX];
	struct sigaction sa;
	struct stat st;
	bool exists;

	o->force = force;
	if (strcmp(path, "-") == 0) {
		o->path = NULL;
		o->fd = STDOUT_FILENO;
		return 0;
	}
	o->path = path;
	if (!*path) {
		cli_error("-o: the output file name is empty");
		return LM_EINVAL;
	}
	exists = lstat(path, &st) == 0;
	if (exists && !S_ISREG(st.st_mode)) {
		/* --force replaces a file by renaming over it: a device, FIFO,
		 * socket, directory or link would be replaced, not written. */
		cli_error("%s is not a regular file (%s); give a file name, or - for standard output", path,
			  S_ISDIR(st.st_mode) ? "a directory" : S_ISLNK(st.st_mode) ? "a symbolic link" :
			  S_ISFIFO(st.st_mode) ? "a FIFO" : "a device or socket");
		return LM_EINVAL;
	}
	if (exists && !force) {
		cli_error("%s exists; use --force to replace it", path);
		return LM_EEXIST;
	}
	snprintf(dir, sizeof(dir), "%s", path);
	snprintf(base, sizeof(base), "%s", path);
	snprintf(o->dir, sizeof(o->dir), "%s", dirname(dir));
	o->fd = open_unnamed(o->dir);
	if (o->fd >= 0) {
		o->unnamed = true;
		return 0;
	}
	if (o->fd == -2) {
		cli_error("%s: cannot create a file in %s: %s", path, o->dir, strerror(errno));
		return errno == ENOENT ? LM_ENOENT : LM_EIO;
	}
	if ((size_t)snprintf(g_tmp_path, sizeof(g_tmp_path), "%s/.%s.XXXXXX", o->dir, basename(base)) >=
	    sizeof(g_tmp_path)) {
		g_tmp_path[0] = 0;
		cli_error("%s: path too long", path);
		return LM_EINVAL;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGPIPE, &sa, NULL);
	o->fd = mkostemp(g_tmp_path, O_CLOEXEC);	/* mode 0600 */
	if (o->fd < 0) {
		cli_error("%s: cannot create a temporary file beside it: %s", path, strerror(errno));
		g_tmp_path[0] = 0;
		return LM_EIO;
	}
	return 0;
}

/* Makes the output durable and moves it into place. */
static int out_commit(struct out_file *o)
{
	char dir[PATH_MAX];
	int dfd, r = 0;

	if (!o->path)
		return 0;
	if (o->unnamed) {
		if (fsync(o->fd) != 0) {
			cli_error("%s: %s", o->path, strerror(errno));
			return LM_EIO;
		}
		if ((r = name_unnamed(o)) < 0)
			return r;
		close(o->fd);
		o->fd = -1;
		goto sync_dir;
	}
	if (fsync(o->fd) != 0 || close(o->fd) != 0) {
		o->fd = -1;
		cli_error("%s: %s", o->path, strerror(errno));
		return LM_EIO;
	}
	o->fd = -1;
	if (renameat2(AT_FDCWD, g_tmp_path, AT_FDCWD, o->path, o->force ? 0 : RENAME_NOREPLACE) != 0) {
		int e = errno;

		cli_error("%s: %s", o->path, e == EEXIST ? "appeared meanwhile; not replaced" : strerror(e));
		return e == EEXIST ? LM_EEXIST : LM_EIO;
	}
	g_tmp_path[0] = 0;
sync_dir:
	snprintf(dir, sizeof(dir), "%s", o->path);
	dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || fsync(dfd) != 0)
		r = LM_EIO;
	if (dfd >= 0)
		close(dfd);
	return r;
}

static void out_abort(struct out_file *o)
{
	if (!o->path)
		return;
	if (o->fd >= 0)
		close(o->fd);
	o->fd = -1;
	if (g_tmp_path[0])
		unlink(g_tmp_path);
	g_tmp_path[0] = 0;
}

int cli_load_file_kek(const char *key_path, struct lm_secret **kek, unsigned char id[static 8])
{
	struct lm_secret *cmk = NULL;
	int r;

	if ((r = lm_cmk_load(key_path, &cmk, NULL)) < 0 || (r = lm_key_id(id, cmk)) < 0 ||
	    (r = lm_key_file_kek(kek, cmk)) < 0)
		cli_fail(r, "%s", key_path);
	lm_secret_free(cmk);
	return r;
}

static int parse_size(const char *s, uint32_t *out)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (end == s || errno)
		return LM_EINVAL;
	if (*end == 'K' || *end == 'k')
		v <<= 10, end++;
	else if (*end == 'M' || *end == 'm')
		v <<= 20, end++;
	if (*end || v < LM_FILEENC_SEGMENT_MIN || v > LM_FILEENC_SEGMENT_MAX)
		return LM_EINVAL;
	*out = (uint32_t)v;
	return 0;
}

static int open_in(const char *path, int *fd)
{
	struct stat st;

	if (strcmp(path, "-") == 0) {
		*fd = STDIN_FILENO;
		return 0;
	}
	*fd = open(path, O_RDONLY | O_CLOEXEC);
	if (*fd < 0) {
		int e = errno;

		cli_error("%s: %s", path, *path ? strerror(e) : "the input file name is empty");
		return e == ENOENT ? LM_ENOENT : LM_EIO;
	}
	if (fstat(*fd, &st) == 0 && S_ISDIR(st.st_mode)) {
		cli_error("%s is a directory; give a file", path);
		close(*fd);
		*fd = -1;
		return LM_EINVAL;
	}
	return 0;
}

enum { OPT_SEGMENT = 256, OPT_UNSAFE };

static const struct option file_opts[] = {
	{ "key", required_argument, NULL, 'k' },
	{ "output", required_argument, NULL, 'o' },
	{ "force", no_argument, NULL, 'f' },
	{ "segment-size", required_argument, NULL, OPT_SEGMENT },
	{ "unsafe-stream", no_argument, NULL, OPT_UNSAFE },
	{ NULL, 0, NULL, 0 },
};

static int run(int argc, char **argv, bool enc)
{
	const char *key = NULL, *out = NULL, *in;
	bool force = false, unsafe = false;
	uint32_t seg = 0;
	struct out_file o = { .fd = -1 };
	struct lm_secret *kek = NULL;
	uint8_t id[LM_KEY_ID_BYTES];
	int c, in_fd = -1, r;

	while ((c = getopt_long(argc, argv, "k:o:f", file_opts, NULL)) != -1) {
		switch (c) {
		case 'k': key = optarg; break;
		case 'o': out = optarg; break;
		case 'f': force = true; break;
		case OPT_SEGMENT:
			if (!enc || parse_size(optarg, &seg) < 0) {
				cli_error(enc ? "--segment-size: %s is not a size in 4096..16777216" :
						"--segment-size is an option of encrypt (%s)", optarg);
				return LM_EXIT_USAGE;
			}
			break;
		case OPT_UNSAFE:
			if (enc) {
				cli_error("--unsafe-stream is an option of decrypt");
				return LM_EXIT_USAGE;
			}
			unsafe = true;
			break;
		default:
			return LM_EXIT_USAGE;
		}
	}
	if (optind != argc - 1 || !key || !out) {
		cli_error("usage: %s --key KEY IN -o OUT; see '%s --help'", argv[0], argv[0]);
		return LM_EXIT_USAGE;
	}
	in = argv[optind];
	if (!enc && strcmp(out, "-") == 0 && !unsafe) {
		cli_error("decrypting to standard output hands out data before the whole input is "
			  "authenticated; write to a file with -o FILE, or accept that with --unsafe-stream");
		return LM_EXIT_USAGE;
	}
	if (!enc && unsafe && strcmp(out, "-") != 0) {
		cli_error("--unsafe-stream only applies to -o -; a file output is always checked first");
		return LM_EXIT_USAGE;
	}
	if ((r = lm_process_harden()) < 0) {
		cli_fail(r, "hardening the process");
		goto out;
	}
	if ((r = cli_load_file_kek(key, &kek, id)) < 0)
		goto out;
	if (!enc && strcmp(in, "-") != 0 && (r = lm_fileenc_recover(in)) < 0) {
		cli_fail(r, "%s: key rotation journal", in);
		goto out;
	}
	if ((r = open_in(in, &in_fd)) < 0 || (r = out_open(&o, out, force)) < 0)
		goto out;
	r = enc ? lm_fileenc_encrypt_fd(o.fd, in_fd, kek, id, seg) : lm_fileenc_decrypt_fd(o.fd, in_fd, kek, id);
	if (r == 0)
		r = out_commit(&o);
	if (r < 0) {
		out_abort(&o);
		if (!enc && !o.path)
			cli_error("discard the output already written: %s",
				  r == LM_EIO || r == LM_ENOMEM ? "decryption stopped before the end of the input"
								: "the input did not authenticate");
		cli_fail(r, "%s %s", enc ? "encrypting" : "decrypting", in);
	}
out:
	if (r < 0)
		out_abort(&o);
	if (in_fd > STDERR_FILENO)
		close(in_fd);
	lm_secret_free(kek);
	return lm_exit_code(r);
}

int cmd_encrypt(int argc, char **argv)
{
	return run(argc, argv, true);
}

int cmd_decrypt(int argc, char **argv)
{
	return run(argc, argv, false);
}
