/* Instance volumes: LUKS2 images through libcryptsetup (DESIGN.md section
 * 4). Owns creating an image, checking a host-supplied image's header
 * before any key touches it, and checking a keyslot passphrase without
 * activating a device (which also works on hosts without dm-crypt). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libcryptsetup.h>

#include "lambda/log.h"
#include "lambda/volume.h"
#include "volume/volume_int.h"

/* libcryptsetup's messages go to our log; they never hold key bytes. Its
 * debug chatter is dropped. */
void lm_volume_cs_log(int level, const char *msg, void *usrptr)
{
	size_t n = strlen(msg);

	(void)usrptr;
	if (level == CRYPT_LOG_DEBUG || level == CRYPT_LOG_DEBUG_JSON)
		return;
	if (n && msg[n - 1] == '\n')
		n--;
	lm_log(level == CRYPT_LOG_ERROR ? LM_LOG_ERR : LM_LOG_DEBUG, "cryptsetup: %.*s", (int)n, msg);
}

int lm_volume_valid_secret(const struct lm_secret *s)
{
	return s && s->data && s->size > 0;
}

int lm_volume_cs_init(const char *path, struct crypt_device **out)
{
	struct crypt_device *cd = NULL;
	int r;

	if ((r = crypt_init(&cd, path)) < 0) {
		lm_err("volume %s: crypt_init failed: %s", path, strerror(-r));
		return r == -ENOENT ? LM_ENOENT : LM_EIO;
	}
	crypt_set_log_callback(cd, lm_volume_cs_log, NULL);
	*out = cd;
	return 0;
}

int lm_volume_create(const char *path, uint64_t size, const struct lm_secret *passphrase)
{
	struct crypt_pbkdf_type pbkdf = {
		.type = CRYPT_KDF_PBKDF2,
		.hash = "sha256",
		.iterations = 1000,
		.flags = CRYPT_PBKDF_NO_BENCHMARK,
	};
	struct crypt_params_luks2 params = {
		.pbkdf = &pbkdf,
		.sector_size = LM_VOLUME_SECTOR_SIZE,
	};
	struct crypt_device *cd = NULL;
	int fd = -1, r, made = 0;

	if (!path || !lm_volume_valid_secret(passphrase) || size < LM_VOLUME_MIN_SIZE || size % LM_VOLUME_SECTOR_SIZE ||
	    size > (uint64_t)INT64_MAX)
		return LM_EINVAL;
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		r = errno == EEXIST ? LM_EEXIST : LM_EIO;
		lm_err("volume %s: cannot create: %s", path, strerror(errno));
		return r;
	}
	made = 1;
	/* Sparse: only what libcryptsetup and the filesystem write takes space.
	 * No fsync here: crypt_format syncs the same inode after writing the
	 * header, which makes the size durable together with the header; a
	 * separate fsync of the empty file only cost a journal commit. */
	if (ftruncate(fd, (off_t)size) < 0) {
		lm_err("volume %s: cannot size to %llu bytes: %s", path, (unsigned long long)size, strerror(errno));
		r = LM_EIO;
		goto out;
	}
	if ((r = lm_volume_cs_init(path, &cd)) < 0)
		goto out;
	/* By default the keyslots area fills the whole gap up to the data
	 * segment (16 MiB), and crypt_format fills it with random bytes: that
	 * was two thirds of the time to create a volume. One keyslot of a
	 * 512-bit key takes 252 KiB (4000 anti-forensic stripes); 1 MiB holds
	 * four, room for a keyslot change, which needs a free area. The data
	 * segment stays at 16 MiB; the gap above the keyslots is zeroed. */
	if ((r = crypt_set_metadata_size(cd, LM_VOLUME_METADATA_SIZE, LM_VOLUME_KEYSLOTS_SIZE)) < 0 ||
	    (r = crypt_set_data_offset(cd, LM_VOLUME_DATA_OFFSET / 512)) < 0) {
		lm_err("volume %s: cannot set the header layout: %s", path, strerror(-r));
		r = LM_EIO;
		goto out;
	}
	/* NULL volume key: libcryptsetup draws the 512-bit key itself. */
	r = crypt_format(cd, CRYPT_LUKS2, "aes", "xts-plain64", NULL, NULL, LM_VOLUME_KEY_BYTES, &params);
	if (r < 0) {
		lm_err("volume %s: crypt_format failed: %s", path, strerror(-r));
		r = LM_EIO;
		goto out;
	}
	if ((r = crypt_set_pbkdf_type(cd, &pbkdf)) < 0) {
		lm_err("volume %s: crypt_set_pbkdf_type failed: %s", path, strerror(-r));
		r = LM_EIO;
		goto out;
	}
	r = crypt_keyslot_add_by_volume_key(cd, 0, NULL, 0, (const char *)passphrase->data, passphrase->size);
	if (r != 0) {
		lm_err("volume %s: adding keyslot 0 failed: %s", path, strerror(r < 0 ? -r : EINVAL));
		r = LM_EIO;
		goto out;
	}
	made = 0;
	r = 0;
	lm_info("volume %s: created LUKS2 image of %llu bytes", path, (unsigned long long)size);
out:
	crypt_free(cd);
	if (fd >= 0)
		close(fd);
	if (made && unlink(path) < 0)
		lm_warn("volume %s: cannot remove partial image: %s", path, strerror(errno));
	return r;
}

/* Reads both header copies of path and checks them with our parser. */
static int check_raw(const char *path)
{
	uint8_t first[LM_LUKS2_BIN_SIZE], *buf = NULL;
	uint64_t hs;
	ssize_t n;
	int fd, r;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		lm_err("volume %s: cannot open: %s", path, strerror(errno));
		return errno == ENOENT ? LM_ENOENT : LM_EIO;
	}
	n = pread(fd, first, sizeof(first), 0);
	if (n < 0) {
		lm_err("volume %s: read failed: %s", path, strerror(errno));
		r = LM_EIO;
		goto out;
	}
	if ((r = lm_luks2_hdr_size(first, (size_t)n, &hs)) < 0)
		goto out;
	buf = malloc(2 * hs);
	if (!buf) {
		r = LM_ENOMEM;
		goto out;
	}
	n = pread(fd, buf, 2 * hs, 0);
	if (n < 0) {
		lm_err("volume %s: read failed: %s", path, strerror(errno));
		r = LM_EIO;
		goto out;
	}
	r = lm_luks2_header_check(buf, (size_t)n, 0);
out:
	free(buf);
	close(fd);
	return r;
}

static int refuse(const char *path, const char *what)
{
	lm_err("volume %s: header refused: %s", path, what);
	return LM_EFORMAT;
}

/* Loads the header of path into a new crypt device and checks it, first
 * with our own parser (before libcryptsetup sees the bytes), then through
 * the libcryptsetup API as it will be used. */
int lm_volume_load_checked(const char *path, struct crypt_device **out)
{
	struct crypt_device *cd = NULL;
	const char *cipher, *mode;
	int r;

	if (!path)
		return LM_EINVAL;
	if ((r = check_raw(path)) < 0 || (r = lm_volume_cs_init(path, &cd)) < 0)
		return r;
	if (crypt_load(cd, CRYPT_LUKS2, NULL) < 0) {
		r = refuse(path, "libcryptsetup cannot load it as LUKS2");
		goto out;
	}
	cipher = crypt_get_cipher(cd);
	mode = crypt_get_cipher_mode(cd);
	r = LM_EFORMAT;
	if (!cipher || !mode || strcmp(cipher, "aes") != 0 || strcmp(mode, "xts-plain64") != 0)
		r = refuse(path, "cipher is not aes-xts-plain64");
	else if (crypt_get_volume_key_size(cd) != (int)LM_VOLUME_KEY_BYTES)
		r = refuse(path, "volume key is not 512 bits");
	else if (crypt_get_sector_size(cd) != (int)LM_VOLUME_SECTOR_SIZE)
		r = refuse(path, "sector size is not 4096");
	else if (crypt_get_data_offset(cd) != LM_VOLUME_DATA_OFFSET / 512)
		r = refuse(path, "data offset is not 16 MiB");
	else if (crypt_reencrypt_status(cd, NULL) == CRYPT_REENCRYPT_INVALID)
		r = refuse(path, "libcryptsetup finds the reencryption state invalid");
	else
		r = 0;
out:
	if (r < 0)
		crypt_free(cd);
	else
		*out = cd;
	return r;
}

int lm_volume_check_header(const char *path)
{
	struct crypt_device *cd = NULL;
	int r;

	if ((r = lm_volume_load_checked(path, &cd)) < 0)
		return r;
	crypt_free(cd);
	return 0;
}

int lm_volume_state(const char *path, enum lm_volume_state *out)
{
	struct crypt_device *cd = NULL;
	int r, active = 0;

	if (!out)
		return LM_EINVAL;
	if ((r = lm_volume_load_checked(path, &cd)) < 0)
		return r;
	for (int ks = 0; ks < crypt_keyslot_max(CRYPT_LUKS2); ks++) {
		crypt_keyslot_info st = crypt_keyslot_status(cd, ks);

		active += st == CRYPT_SLOT_ACTIVE || st == CRYPT_SLOT_ACTIVE_LAST || st == CRYPT_SLOT_UNBOUND;
	}
	if (crypt_reencrypt_status(cd, NULL) != CRYPT_REENCRYPT_NONE)
		*out = LM_VOLUME_REENCRYPTING;
	else
		*out = active > 1 ? LM_VOLUME_ROTATING : LM_VOLUME_AT_REST;
	crypt_free(cd);
	return 0;
}

/* Whether passphrase unlocks the key of any keyslot: 0, -EPERM, or
 * another negative errno. The key is wiped at once. */
static int unlocks_a_key(struct crypt_device *cd, const struct lm_secret *passphrase)
{
	struct lm_secret *vk = NULL;
	int r = -EPERM;

	if (lm_secret_new(LM_VOLUME_KEY_BYTES, &vk) < 0)
		return -ENOMEM;
	for (int ks = 0; ks < crypt_keyslot_max(CRYPT_LUKS2) && r == -EPERM; ks++) {
		crypt_keyslot_info st = crypt_keyslot_status(cd, ks);
		size_t size = vk->size;

		if (st != CRYPT_SLOT_ACTIVE && st != CRYPT_SLOT_ACTIVE_LAST && st != CRYPT_SLOT_UNBOUND)
			continue;
		r = crypt_volume_key_get(cd, ks, (char *)vk->data, &size, (const char *)passphrase->data,
					 passphrase->size);
		if (r == -ENOENT || r == -EINVAL)
			r = -EPERM;	/* e.g. the reencryption's own keyslot */
	}
	lm_secret_free(vk);
	return r < 0 ? r : 0;
}

int lm_volume_check_passphrase(const char *path, const struct lm_secret *passphrase)
{
	struct crypt_device *cd = NULL;
	int r;

	if (!lm_volume_valid_secret(passphrase))
		return LM_EINVAL;
	if ((r = lm_volume_load_checked(path, &cd)) < 0)
		return r;
	if (crypt_reencrypt_status(cd, NULL) == CRYPT_REENCRYPT_NONE)
		/* A NULL name only verifies the passphrase against the keyslots. */
		r = crypt_activate_by_passphrase(cd, NULL, CRYPT_ANY_SLOT, (const char *)passphrase->data,
						 passphrase->size, 0);
	else
		r = -ENOENT;
	/* -ENOENT: nothing to activate (a reencryption, or only a keyslot
	 * bound to no segment): check each keyslot's key instead. */
	if (r == -ENOENT)
		/* Mid-reencryption nothing activates; any key the passphrase
		 * unlocks will do. */
		r = unlocks_a_key(cd, passphrase);
	if (r == -EPERM) {
		lm_err("volume %s: the passphrase opens no keyslot", path);
		r = LM_EWRONGKEY;
	} else if (r < 0) {
		lm_err("volume %s: keyslot check failed: %s", path, strerror(-r));
		r = LM_EIO;
	} else {
		r = 0;
	}
	crypt_free(cd);
	return r;
}

int lm_volume_unlock(const char *path, const struct lm_secret *passphrase, struct lm_secret **volume_key)
{
	struct crypt_device *cd = NULL;
	struct lm_secret *vk = NULL;
	size_t vk_size = LM_VOLUME_KEY_BYTES;
	int r;

	if (!lm_volume_valid_secret(passphrase) || !volume_key)
		return LM_EINVAL;
	if ((r = lm_volume_load_checked(path, &cd)) < 0)
		return r;
	if ((r = lm_secret_new(LM_VOLUME_KEY_BYTES, &vk)) < 0)
		goto out;
	/* The passphrase is binary: its size is passed, so 0x00 bytes count. */
	r = crypt_volume_key_get(cd, CRYPT_ANY_SLOT, (char *)vk->data, &vk_size, (const char *)passphrase->data,
				 passphrase->size);
	if (r == -EPERM) {
		lm_err("volume %s: the passphrase opens no keyslot", path);
		r = LM_EWRONGKEY;
		goto out;
	}
	if (r < 0 || vk_size != LM_VOLUME_KEY_BYTES) {
		lm_err("volume %s: cannot get the volume key: %s", path, strerror(r < 0 ? -r : EINVAL));
		r = LM_EIO;
		goto out;
	}
	*volume_key = vk;
	vk = NULL;
	r = 0;
out:
	lm_secret_free(vk);
	crypt_free(cd);
	return r;
}

int lm_volume_layout(const char *image, uint64_t *offset, uint64_t *size)
{
	struct crypt_device *cd = NULL;
	struct stat st;
	uint64_t off;
	int r;

	if ((r = lm_volume_load_checked(image, &cd)) < 0)
		return r;
	off = crypt_get_data_offset(cd) * 512;
	crypt_free(cd);
	if (stat(image, &st) != 0) {
		lm_err("volume %s: stat: %s", image, strerror(errno));
		return LM_EIO;
	}
	if ((uint64_t)st.st_size < off + LM_VOLUME_SECTOR_SIZE) {
		lm_err("volume %s: no room for data after the header", image);
		return LM_EFORMAT;
	}
	*offset = off;
	*size = ((uint64_t)st.st_size - off) / LM_VOLUME_SECTOR_SIZE * LM_VOLUME_SECTOR_SIZE;
	return 0;
}
