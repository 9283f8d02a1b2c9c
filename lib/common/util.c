/* File, encoding, random, id and time helpers. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "lambda/log.h"
#include "lambda/secret.h"
#include "lambda/util.h"

static int read_fd(int fd, const char *path, size_t max, uint8_t **out, size_t *size)
{
	uint8_t *buf = NULL, *tmp;
	size_t cap = 0, len = 0;
	ssize_t n;

	for (;;) {
		if (len + 1 >= cap) {
			size_t ncap = cap ? cap * 2 : 4096;

			if (cap > max + 1) {
				lm_err("%s: larger than %zu bytes", path, max);
				lm_free_wiped_size(buf, cap);
				return LM_ETOOBIG;
			}
			/* Grow by copy so that a buffer that may hold a
			 * secret is never left unwiped by realloc. */
			tmp = calloc(1, ncap);
			if (!tmp) {
				lm_free_wiped_size(buf, cap);
				return LM_ENOMEM;
			}
			if (buf)
				memcpy(tmp, buf, len);
			lm_free_wiped_size(buf, cap);
			buf = tmp;
			cap = ncap;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			lm_err("%s: read failed: %s", path, strerror(errno));
			lm_free_wiped_size(buf, cap);
			return LM_EIO;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > max) {
			lm_err("%s: larger than %zu bytes", path, max);
			lm_free_wiped_size(buf, cap);
			return LM_ETOOBIG;
		}
	}
	buf[len] = 0;
	*out = buf;
	*size = len;
	return 0;
}

static int open_read(const char *path, int *fd)
{
	*fd = open(path, O_RDONLY | O_CLOEXEC);
	if (*fd < 0) {
		lm_err("%s: %s", path, strerror(errno));
		return errno == ENOENT ? LM_ENOENT : LM_EIO;
	}
	return 0;
}

int lm_file_read(const char *path, size_t max, uint8_t **out, size_t *size)
{
	int fd, r;

	if ((r = open_read(path, &fd)) < 0)
		return r;
	r = read_fd(fd, path, max, out, size);
	close(fd);
	return r;
}

int lm_file_read_private(const char *path, size_t max, uint8_t **out, size_t *size)
{
	struct stat st;
	int fd, r;

	/* O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused
	 * below like every other file that is not a regular one. Symlinks are
	 * followed on purpose: the checks apply to the target. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0) {
		lm_err("%s: %s", path, strerror(errno));
		return errno == ENOENT ? LM_ENOENT : LM_EIO;
	}
	if (fstat(fd, &st) != 0) {
		r = LM_EIO;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		lm_err("%s: not a regular file; a file holding secrets must be a plain file", path);
		r = LM_EINVAL;
		goto out;
	}
	if (st.st_uid != geteuid()) {
		/* Its owner could replace or read it whatever its mode. */
		lm_err("%s: owned by uid %u, not you (uid %u); a file holding secrets must be yours", path,
		       (unsigned)st.st_uid, (unsigned)geteuid());
		r = LM_EKEYPERM;
		goto out;
	}
	if (fcntl(fd, F_SETFL, 0) != 0) {
		r = LM_EIO;
		goto out;
	}
	if (st.st_mode & 077) {
		lm_err("%s: permissions %04o are too open; a file holding secrets must not be "
		       "accessible by group or others (chmod 600 %s)",
		       path, (unsigned)(st.st_mode & 07777), path);
		r = LM_EKEYPERM;
		goto out;
	}
	r = read_fd(fd, path, max, out, size);
out:
	close(fd);
	return r;
}

/* Writes data to a fresh temporary file beside path and syncs it. */
static int write_temp(const char *path, const void *data, size_t size, mode_t mode,
		      char *tmp, size_t tmp_size)
{
	const uint8_t *p = data;
	int fd;

	if ((size_t)snprintf(tmp, tmp_size, "%s.tmp.XXXXXX", path) >= tmp_size)
		return LM_EINVAL;
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		lm_err("%s: cannot create temporary file: %s", path, strerror(errno));
		return errno == ENOENT ? LM_ENOENT : LM_EIO;
	}
	if (fchmod(fd, mode) != 0)
		goto fail;
	while (size > 0) {
		ssize_t n = write(fd, p, size);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			goto fail;
		p += n;
		size -= (size_t)n;
	}
	if (fsync(fd) != 0)
		goto fail;
	close(fd);
	return 0;
fail:
	lm_err("%s: write failed: %s", path, strerror(errno));
	close(fd);
	unlink(tmp);
	return LM_EIO;
}

int lm_file_write_new(const char *path, const void *data, size_t size, mode_t mode)
{
	char tmp[PATH_MAX];
	int r;

	if (access(path, F_OK) == 0) {
		lm_err("%s: already exists; refusing to overwrite", path);
		return LM_EEXIST;
	}
	if ((r = write_temp(path, data, size, mode, tmp, sizeof(tmp))) < 0)
		return r;
	/* link() fails if path appeared meanwhile: never replaces a file. */
	if (link(tmp, path) != 0) {
		int e = errno;

		unlink(tmp);
		lm_err("%s: %s", path, e == EEXIST ? "already exists; refusing to overwrite" : strerror(e));
		return e == EEXIST ? LM_EEXIST : LM_EIO;
	}
	unlink(tmp);
	return 0;
}

int lm_file_write_replace(const char *path, const void *data, size_t size, mode_t mode)
{
	char tmp[PATH_MAX];
	int r;

	if ((r = write_temp(path, data, size, mode, tmp, sizeof(tmp))) < 0)
		return r;
	if (rename(tmp, path) != 0) {
		lm_err("%s: rename failed: %s", path, strerror(errno));
		unlink(tmp);
		return LM_EIO;
	}
	return 0;
}

int lm_mkdir_p(const char *path, mode_t mode)
{
	char buf[PATH_MAX];
	size_t n = strlen(path);

	if (n == 0 || n >= sizeof(buf))
		return LM_EINVAL;
	memcpy(buf, path, n + 1);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(buf, mode) != 0 && errno != EEXIST)
			goto fail;
		*p = '/';
	}
	if (mkdir(buf, mode) != 0 && errno != EEXIST)
		goto fail;
	return 0;
fail:
	lm_err("mkdir %s: %s", buf, strerror(errno));
	return LM_EIO;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return (flag == FTW_DP ? rmdir(path) : unlink(path)) == 0 || errno == ENOENT ? 0 : -1;
}

int lm_rm_rf(const char *path)
{
	if (access(path, F_OK) != 0)
		return 0;
	if (nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS) != 0) {
		lm_err("cannot remove %s: %s", path, strerror(errno));
		return LM_EIO;
	}
	return 0;
}

void lm_hex_encode(char *out, const void *in, size_t size)
{
	static const char digits[] = "0123456789abcdef";
	const uint8_t *p = in;

	for (size_t i = 0; i < size; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * size] = 0;
}

/* Branch-free digit decoding, so that key text is decoded in constant time;
 * returns the value or -1. */
static int hex_digit(unsigned char c)
{
	int num = c - '0', lo = (c | 0x20) - 'a' + 10;
	int is_num = ((num >= 0) & (num <= 9));
	int is_alpha = ((lo >= 10) & (lo <= 15));

	return (num & -is_num) | (lo & -is_alpha) | (-1 & -(1 - (is_num | is_alpha)));
}

int lm_hex_decode(uint8_t *out, size_t size, const char *in)
{
	int bad = 0;

	if (strlen(in) != 2 * size)
		return LM_EFORMAT;
	for (size_t i = 0; i < size; i++) {
		int hi = hex_digit((unsigned char)in[2 * i]);
		int lo = hex_digit((unsigned char)in[2 * i + 1]);

		bad |= (hi | lo) < 0;
		out[i] = (uint8_t)(((hi & 15) << 4) | (lo & 15));
	}
	return bad ? LM_EFORMAT : 0;
}

int lm_hex_decode_alloc(const char *in, uint8_t **out, size_t *size)
{
	size_t n = strlen(in);
	uint8_t *buf;
	int r;

	if (n % 2)
		return LM_EFORMAT;
	buf = malloc(n / 2 + 1);
	if (!buf)
		return LM_ENOMEM;
	if ((r = lm_hex_decode(buf, n / 2, in)) < 0) {
		free(buf);
		return r;
	}
	*out = buf;
	*size = n / 2;
	return 0;
}

int lm_base64_encode(const void *in, size_t size, char **out)
{
	size_t cap = 4 * ((size + 2) / 3) + 1;
	char *buf;

	if (size > INT_MAX / 2)
		return LM_ETOOBIG;
	buf = malloc(cap);
	if (!buf)
		return LM_ENOMEM;
	EVP_EncodeBlock((unsigned char *)buf, in, (int)size);
	*out = buf;
	return 0;
}

int lm_base64_decode(const char *in, uint8_t **out, size_t *size)
{
	size_t n = strlen(in), pad = 0;
	uint8_t *buf;
	int len;

	if (n % 4 || n > INT_MAX / 2)
		return LM_EFORMAT;
	buf = malloc(n / 4 * 3 + 1);
	if (!buf)
		return LM_ENOMEM;
	if (n && in[n - 1] == '=')
		pad++;
	if (n > 1 && in[n - 2] == '=')
		pad++;
	/* EVP_DecodeBlock accepts the padding but counts it as zero bytes. */
	len = EVP_DecodeBlock(buf, (const unsigned char *)in, (int)n);
	if (len < 0 || (size_t)len < pad) {
		free(buf);
		return LM_EFORMAT;
	}
	*out = buf;
	*size = (size_t)len - pad;
	return 0;
}

int lm_random(void *buf, size_t size)
{
	if (size > INT_MAX)
		return LM_EINVAL;
	return LM_OSSL(RAND_bytes(buf, (int)size));
}

int lm_id_new(char *out, size_t out_size, const char *prefix)
{
	uint8_t rnd[6];
	char hex[13];
	int r;

	if ((r = lm_random(rnd, sizeof(rnd))) < 0)
		return r;
	lm_hex_encode(hex, rnd, sizeof(rnd));
	if ((size_t)snprintf(out, out_size, "%s_%s", prefix, hex) >= out_size)
		return LM_EINVAL;
	return 0;
}

void lm_time_format(char *out, size_t out_size, time_t t)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, out_size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int lm_time_parse(const char *s, time_t *out)
{
	struct tm tm = { 0 };
	const char *p;
	long off = 0;

	p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!p)
		return LM_EFORMAT;
	if (*p == '.') {
		do
			p++;
		while (*p >= '0' && *p <= '9');
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int hh, mm, n = 0;

		if (sscanf(p + 1, "%2d:%2d%n", &hh, &mm, &n) != 2 || n != 5 || hh > 23 || mm > 59)
			return LM_EFORMAT;
		off = (hh * 3600L + mm * 60L) * (*p == '+' ? 1 : -1);
		p += 6;
	} else {
		return LM_EFORMAT;
	}
	if (*p)
		return LM_EFORMAT;
	{
		/* strptime takes day 31 of any month: a date that does not
		 * exist (2025-02-30) would roll over into the next month. */
		struct tm want = tm, back;
		time_t t = timegm(&tm);

		if (!gmtime_r(&t, &back) || back.tm_year != want.tm_year || back.tm_mon != want.tm_mon ||
		    back.tm_mday != want.tm_mday || back.tm_hour != want.tm_hour || back.tm_min != want.tm_min ||
		    back.tm_sec != want.tm_sec)
			return LM_EFORMAT;
		*out = t - off;
	}
	return 0;
}

uint64_t lm_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}
