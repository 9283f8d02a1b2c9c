/* Volume key rotation (docs/architecture.md "Key rotation"): re-wrapping
 * the volume key from one keyslot passphrase to another, and replacing the
 * volume key itself by an offline LUKS2 reencryption. Owns the order of the
 * header changes, which is what makes both crash-safe: every header write
 * leaves at least one keyslot that the old or the new passphrase opens, and
 * every function here works out from the header where an interrupted run
 * stopped, so running it again finishes the job. The volume key is
 * handled by libcryptsetup; it is copied out only to test an unbound
 * keyslot, into a secret that is wiped at once. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <stdbool.h>
#include <string.h>

#include <libcryptsetup.h>

#include "lambda/crypto.h"
#include "lambda/log.h"
#include "lambda/secret.h"
#include "lambda/util.h"
#include "lambda/volume.h"
#include "volume/volume_int.h"

/* Largest hot zone of the reencryption, in 512-byte sectors: one header
 * write per 4 MiB of data, and a progress report as often. */
#define HOTZONE_SECTORS (4u << 11)

/* Which keyslots exist and which passphrase opens them (bit i = slot i). */
struct slots {
	uint32_t bound;		/* active, bound to the data segment */
	uint32_t unbound;	/* active, holding a key no segment uses */
	uint32_t old_opens;
	uint32_t new_opens;
};

static const struct crypt_pbkdf_type g_pbkdf = {
	.type = CRYPT_KDF_PBKDF2,
	.hash = "sha256",
	.iterations = 1000,
	.flags = CRYPT_PBKDF_NO_BENCHMARK,
};

static int cs_fail(const char *path, const char *what, int r)
{
	lm_err("volume %s: %s failed: %s", path, what, strerror(r < 0 ? -r : EINVAL));
	return r == -ENOMEM ? LM_ENOMEM : LM_EIO;
}

/* Whether pass opens keyslot ks: 1 yes, 0 no, or an LM_E* code. */
static int slot_opens(struct crypt_device *cd, int ks, bool is_unbound, const struct lm_secret *pass)
{
	struct lm_secret *vk = NULL;
	size_t size = LM_VOLUME_KEY_BYTES;
	int r;

	if (!pass)
		return 0;
	if (!is_unbound) {
		/* A NULL name checks the passphrase without activating. */
		r = crypt_activate_by_passphrase(cd, NULL, ks, (const char *)pass->data, pass->size, 0);
	} else {
		/* An unbound keyslot cannot be checked by activation. */
		if ((r = lm_secret_new(LM_VOLUME_KEY_BYTES, &vk)) < 0)
			return r;
		r = crypt_volume_key_get(cd, ks, (char *)vk->data, &size, (const char *)pass->data, pass->size);
		lm_secret_free(vk);
	}
	if (r >= 0)
		return 1;
	if (r == -EPERM || r == -ENOENT)
		return 0;
	return r == -ENOMEM ? LM_ENOMEM : LM_EIO;
}

static int scan(struct crypt_device *cd, const struct lm_secret *old_pass, const struct lm_secret *new_pass,
		struct slots *s)
{
	int r, max = crypt_keyslot_max(CRYPT_LUKS2);

	memset(s, 0, sizeof(*s));
	for (int ks = 0; ks < max && ks < 32; ks++) {
		crypt_keyslot_info st = crypt_keyslot_status(cd, ks);
		bool is_unbound = st == CRYPT_SLOT_UNBOUND;
		uint32_t bit = UINT32_C(1) << ks;

		if (st != CRYPT_SLOT_ACTIVE && st != CRYPT_SLOT_ACTIVE_LAST && !is_unbound)
			continue;
		/* The reencryption's own keyslot has no passphrase. */
		if (crypt_keyslot_get_priority(cd, ks) == CRYPT_SLOT_PRIORITY_IGNORE && is_unbound)
			continue;
		*(is_unbound ? &s->unbound : &s->bound) |= bit;
		if ((r = slot_opens(cd, ks, is_unbound, new_pass)) < 0)
			return r;
		if (r) {
			s->new_opens |= bit;
			continue;
		}
		if ((r = slot_opens(cd, ks, is_unbound, old_pass)) < 0)
			return r;
		if (r)
			s->old_opens |= bit;
	}
	return 0;
}

static int lowest_free_slot(struct crypt_device *cd)
{
	int max = crypt_keyslot_max(CRYPT_LUKS2);

	for (int ks = 0; ks < max && ks < 32; ks++)
		if (crypt_keyslot_status(cd, ks) == CRYPT_SLOT_INACTIVE)
			return ks;
	return -1;
}

static int destroy(struct crypt_device *cd, const char *path, int ks)
{
	int r = crypt_keyslot_destroy(cd, ks);

	if (r < 0)
		return cs_fail(path, "destroying a keyslot", r);
	lm_info("volume %s: keyslot %d destroyed", path, ks);
	return 0;
}

/* Adds keyslot ks with to_pass, unlocking the volume key with from_pass,
 * then checks that to_pass opens ks before anything relies on it. */
static int add_checked(struct crypt_device *cd, const char *path, int ks, const struct lm_secret *from_pass,
		       const struct lm_secret *to_pass)
{
	int r;

	r = crypt_keyslot_add_by_passphrase(cd, ks, (const char *)from_pass->data, from_pass->size,
					    (const char *)to_pass->data, to_pass->size);
	if (r < 0)
		return cs_fail(path, "adding a keyslot", r);
	if ((r = slot_opens(cd, ks, false, to_pass)) < 0)
		return r;
	if (r == 0) {
		lm_err("volume %s: the new keyslot %d does not open with its passphrase", path, ks);
		return LM_EIO;
	}
	lm_info("volume %s: keyslot %d added", path, ks);
	return 0;
}

static int lowest_bit(uint32_t v)
{
	return __builtin_ctz(v);
}

/* The reencryption mark: a LUKS2 label that says "the current volume key
 * was made by a reencryption to this passphrase", so that running a
 * finished reencryption again does nothing (docs/architecture.md "Key
 * rotation"). It is MARK_PREFIX and the hex of a tag that HKDF derives
 * from the volume key with the passphrase as salt: it reveals neither, it
 * cannot match after the volume key changed, and a rewrap clears it (a
 * key that another passphrase has unwrapped is no longer one only the new
 * passphrase ever opened). */
#define MARK_PREFIX "lm-reencrypted:"
#define MARK_TAG_BYTES 16u
#define MARK_SIZE (sizeof(MARK_PREFIX) + 2 * MARK_TAG_BYTES)	/* with the NUL; a label holds 48 */

static int mark_compute(const struct lm_secret *vk, const struct lm_secret *pass, char out[static MARK_SIZE])
{
	static const char info[] = "lambda/v1 volume reencrypted";
	uint8_t tag[MARK_TAG_BYTES];
	int r;

	r = lm_hkdf_sha256(tag, sizeof(tag), pass->data, pass->size, vk->data, vk->size, (const uint8_t *)info,
			   sizeof(info) - 1);
	if (r < 0)
		return r;
	memcpy(out, MARK_PREFIX, sizeof(MARK_PREFIX) - 1);
	lm_hex_encode(out + sizeof(MARK_PREFIX) - 1, tag, sizeof(tag));
	return 0;
}

/* The mark that the volume key pass opens on cd would carry. */
static int mark_of(struct crypt_device *cd, const char *path, int ks, const struct lm_secret *pass,
		   char out[static MARK_SIZE])
{
	struct lm_secret *vk = NULL;
	size_t size = LM_VOLUME_KEY_BYTES;
	int r;

	if ((r = lm_secret_new(LM_VOLUME_KEY_BYTES, &vk)) < 0)
		return r;
	r = crypt_volume_key_get(cd, ks, (char *)vk->data, &size, (const char *)pass->data, pass->size);
	if (r < 0)
		r = r == -EPERM ? LM_EWRONGKEY : cs_fail(path, "unlocking the volume key", r);
	else
		r = mark_compute(vk, pass, out);
	lm_secret_free(vk);
	return r;
}

/* 1 when cd carries the mark of a reencryption to pass, 0 when not. */
static int mark_matches(struct crypt_device *cd, const char *path, const struct lm_secret *pass)
{
	const char *label = crypt_get_label(cd);
	char want[MARK_SIZE];
	int r;

	if (!label || strncmp(label, MARK_PREFIX, sizeof(MARK_PREFIX) - 1) != 0 || strlen(label) != MARK_SIZE - 1)
		return 0;
	if ((r = mark_of(cd, path, CRYPT_ANY_SLOT, pass, want)) < 0)
		return r;
	return lm_ct_equal(label, want, MARK_SIZE - 1) ? 1 : 0;
}

static int mark_set(struct crypt_device *cd, const char *path, const char *mark)
{
	const char *label = crypt_get_label(cd);
	char subsystem[48];
	int r;

	if (label && strcmp(label, mark) == 0)
		return 0;
	/* The subsystem field is kept; libcryptsetup copies it from the
	 * argument, which must not point into its own header. */
	snprintf(subsystem, sizeof(subsystem), "%s", crypt_get_subsystem(cd) ? crypt_get_subsystem(cd) : "");
	if ((r = crypt_set_label(cd, mark, subsystem)) < 0)
		return cs_fail(path, "writing the label", r);
	return 0;
}

/* The rewrap on a loaded, checked device that is not reencrypting. Each
 * step re-derives the state from the header, so any prefix of a previous
 * run is picked up where it stopped. */
static int rewrap_loaded(struct crypt_device *cd, const char *path, const struct lm_secret *old_pass,
			 const struct lm_secret *new_pass)
{
	struct slots s;
	int r, ks;

	if ((r = scan(cd, old_pass, new_pass, &s)) < 0)
		return r;
	if (!(s.bound & s.new_opens) && (s.bound & ~s.old_opens)) {
		/* Perhaps the real old keyslot and a wrong old key: destroying
		 * anything now could lose the volume. Once the new key opens a
		 * bound keyslot, any other keyslot goes (an interrupted add
		 * leaves one that opens with neither key). */
		lm_err("volume %s: a keyslot opens with neither key; nothing changed", path);
		return LM_EWRONGKEY;
	}
	if (!(s.bound & (s.old_opens | s.new_opens))) {
		lm_err("volume %s: the old key opens no keyslot; nothing changed", path);
		return LM_EWRONGKEY;
	}
	/* A keyslot bound to no segment holds no key the data needs: one
	 * left by an interrupted reencryption before it started, or one whose
	 * adding was interrupted before it was assigned (its area may be
	 * half written, so it opens with neither key). Drop it: it takes a
	 * slot, and the data stays reachable through a bound keyslot. */
	for (uint32_t m = s.unbound; m; m &= m - 1)
		if ((r = destroy(cd, path, lowest_bit(m))) < 0)
			return r;
	s.new_opens &= s.bound;
	s.old_opens &= s.bound;
	if (!s.new_opens) {
		if (!s.old_opens) {
			lm_err("volume %s: the old key opens no keyslot; nothing changed", path);
			return LM_EWRONGKEY;
		}
		/* Step 1: the new keyslot, checked; the old passphrase has
		 * seen the volume key, so a reencryption mark goes first. */
		if (crypt_get_label(cd) && *crypt_get_label(cd) && (r = mark_set(cd, path, "")) < 0)
			return r;
		if ((ks = lowest_free_slot(cd)) < 0)
			return cs_fail(path, "finding a free keyslot", -ENOSPC);
		if ((r = add_checked(cd, path, ks, old_pass, new_pass)) < 0)
			return r;
		s.new_opens = UINT32_C(1) << ks;
	}
	/* Step 2: the old keyslots go once the new one is known to open. */
	for (uint32_t m = s.bound & ~s.new_opens; m; m &= m - 1)
		if ((r = destroy(cd, path, lowest_bit(m))) < 0)
			return r;
	/* Step 3: the new key ends up in keyslot 0, alone, as after create. */
	if (!(s.new_opens & 1)) {
		if ((r = add_checked(cd, path, 0, new_pass, new_pass)) < 0)
			return r;
		s.new_opens |= 1;
	}
	for (uint32_t m = s.new_opens & ~UINT32_C(1); m; m &= m - 1)
		if ((r = destroy(cd, path, lowest_bit(m))) < 0)
			return r;
	return 0;
}

static int check_args(const char *path, const struct lm_secret *old_pass, const struct lm_secret *new_pass)
{
	if (!path || !lm_volume_valid_secret(old_pass) || !lm_volume_valid_secret(new_pass))
		return LM_EINVAL;
	if (old_pass->size == new_pass->size && lm_ct_equal(old_pass->data, new_pass->data, old_pass->size)) {
		lm_err("volume %s: the old and new keys are the same", path);
		return LM_EINVAL;
	}
	return 0;
}

/* Loads path with our checks and sets the keyslot PBKDF for new slots. */
static int load(const char *path, struct crypt_device **out)
{
	struct crypt_device *cd = NULL;
	int r;

	if ((r = lm_volume_load_checked(path, &cd)) < 0)
		return r;
	if ((r = crypt_set_pbkdf_type(cd, &g_pbkdf)) < 0) {
		crypt_free(cd);
		return cs_fail(path, "crypt_set_pbkdf_type", r);
	}
	*out = cd;
	return 0;
}

int lm_volume_rewrap(const char *path, const struct lm_secret *old_pass, const struct lm_secret *new_pass)
{
	struct crypt_device *cd = NULL;
	int r;

	if ((r = check_args(path, old_pass, new_pass)) < 0 || (r = load(path, &cd)) < 0)
		return r;
	if (crypt_reencrypt_status(cd, NULL) != CRYPT_REENCRYPT_NONE) {
		lm_err("volume %s: an interrupted reencryption must be finished first", path);
		r = LM_ESTATE;
		goto out;
	}
	if ((r = rewrap_loaded(cd, path, old_pass, new_pass)) < 0)
		goto out;
	lm_info("volume %s: volume key re-wrapped", path);
out:
	crypt_free(cd);
	return r;
}

/* Whether the reencryption on cd has moved all data and only lacks its
 * final header update (1), or not (0). Judged on the header copy that
 * libcryptsetup itself loaded, so a torn copy cannot mislead it. */
static int reencrypt_is_done(struct crypt_device *cd, const char *path, int *keyslot)
{
	const char *json = NULL;
	int r;

	if ((r = crypt_dump_json(cd, &json, 0)) < 0)
		return cs_fail(path, "crypt_dump_json", r);
	if ((r = lm_luks2_reencrypt_is_done(json, keyslot)) < 0)
		lm_err("volume %s: cannot tell how far the reencryption got", path);
	return r;
}

/* The restore below is one write of the whole header area in file order:
 * both header copies, then the keyslots. A kill inside it could leave the
 * new header copies in force with their keyslot area not yet written,
 * opening with nothing. So the new keyslot 0 area is written first, where
 * the old header keeps nothing it needs (not over ks, the old header's
 * keyslot of the new key): then every prefix of the restore opens with
 * new_pass, through the old header's keyslot ks or the new keyslot 0. */
static int prewrite_keyslot(struct crypt_device *cd, struct crypt_device *hd, const char *path, const char *tmp,
			    int ks)
{
	uint64_t off, len, ks_off, ks_len;
	uint8_t *buf = NULL;
	int r, in = -1, out = -1;

	if ((r = crypt_keyslot_area(hd, 0, &off, &len)) < 0 || (r = crypt_keyslot_area(cd, ks, &ks_off, &ks_len)) < 0)
		return cs_fail(path, "crypt_keyslot_area", r);
	if (off < ks_off + ks_len && ks_off < off + len) {
		lm_err("volume %s: the final keyslot would overwrite the new key's keyslot", path);
		return LM_ESTATE;
	}
	if (!(buf = malloc(len)))
		return LM_ENOMEM;
	in = open(tmp, O_RDONLY | O_CLOEXEC);
	out = open(path, O_WRONLY | O_CLOEXEC);
	if (in < 0 || out < 0 || pread(in, buf, len, (off_t)off) != (ssize_t)len ||
	    pwrite(out, buf, len, (off_t)off) != (ssize_t)len || fdatasync(out) < 0)
		r = cs_fail(path, "writing the final keyslot", -errno);
	else
		r = 0;
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	free(buf);
	return r;
}

/* libcryptsetup 2.6 cannot resume a reencryption that was interrupted
 * after its last hot zone but before its final header update: it starts
 * over and encrypts the new ciphertext a second time. In that state all
 * data is under the new key (the keyslot of the digest that the data and
 * backup-final segments share), so the header it should have written is
 * built here instead: a detached header with the same UUID, data offset,
 * cipher and sector size, holding the new volume key in keyslot 0 under
 * new_pass, then restored over the image's header. A crash during the
 * restore leaves copies that both open with new_pass (libcryptsetup takes
 * the copy with the higher sequence id, which is the old one until both
 * are written), and a re-run does this again. */
static int finish_by_restore(struct crypt_device *cd, const char *path, int ks, const struct lm_secret *new_pass)
{
	struct crypt_params_luks2 params = {
		.pbkdf = &g_pbkdf,
		.sector_size = LM_VOLUME_SECTOR_SIZE,
	};
	struct crypt_device *hd = NULL, *target = NULL;
	struct lm_secret *vk = NULL;
	char *tmp = NULL, mark[MARK_SIZE];
	int r, fd = -1;
	size_t size = LM_VOLUME_KEY_BYTES;

	if ((r = lm_secret_new(LM_VOLUME_KEY_BYTES, &vk)) < 0)
		return r;
	r = crypt_volume_key_get(cd, ks, (char *)vk->data, &size, (const char *)new_pass->data, new_pass->size);
	if (r < 0) {
		r = r == -EPERM ? LM_EWRONGKEY : cs_fail(path, "unlocking the new key", r);
		goto out;
	}
	if (asprintf(&tmp, "%s.finish-hdr", path) < 0) {
		tmp = NULL;
		r = LM_ENOMEM;
		goto out;
	}
	(void)unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0 || ftruncate(fd, (off_t)LM_VOLUME_DATA_OFFSET) < 0) {
		r = cs_fail(path, "making a header file", -errno);
		goto out;
	}
	if ((r = crypt_init_data_device(&hd, tmp, path)) < 0 ||
	    (r = crypt_set_data_offset(hd, LM_VOLUME_DATA_OFFSET / 512)) < 0 ||
	    (r = crypt_format(hd, CRYPT_LUKS2, "aes", "xts-plain64", crypt_get_uuid(cd), (const char *)vk->data,
			      vk->size, &params)) < 0 ||
	    (r = crypt_set_pbkdf_type(hd, &g_pbkdf)) < 0 ||
	    (r = crypt_keyslot_add_by_volume_key(hd, 0, (const char *)vk->data, vk->size,
						 (const char *)new_pass->data, new_pass->size)) < 0) {
		r = cs_fail(path, "building the final header", r);
		goto out;
	}
	if ((r = mark_compute(vk, new_pass, mark)) < 0)
		goto out;
	if ((r = crypt_set_label(hd, mark, NULL)) < 0) {
		r = cs_fail(path, "labelling the final header", r);
		goto out;
	}
	if ((r = prewrite_keyslot(cd, hd, path, tmp, ks)) < 0)
		goto out;
	if ((r = crypt_init(&target, path)) < 0 || (r = crypt_header_restore(target, CRYPT_LUKS2, tmp)) < 0) {
		r = cs_fail(path, "writing the final header", r);
		goto out;
	}
	lm_info("volume %s: finished an interrupted reencryption's header", path);
	r = 0;
out:
	crypt_free(target);
	crypt_free(hd);
	if (fd >= 0)
		close(fd);
	if (tmp) {
		(void)unlink(tmp);
		free(tmp);
	}
	lm_secret_free(vk);
	return r;
}

struct progress {
	lm_volume_progress_fn fn;
	void *ctx;
};

static int on_progress(uint64_t size, uint64_t offset, void *usrptr)
{
	struct progress *p = usrptr;

	return p->fn ? p->fn(p->ctx, offset, size) != 0 : 0;
}

/* A reencryption step was cut short (a hot zone flagged
 * "in-reencryption"): libcryptsetup restores that hot zone from its
 * checksums (each block whose data still matches the checksum taken
 * before the step is still under the old key and is reencrypted, any
 * other block was already written under the new key) and commits the
 * step. What it leaves may be the finished state of the last hot zone, so
 * the caller reloads the header and judges again before resuming. */
static int reencrypt_recover(struct crypt_device *cd, const char *path, const struct lm_secret *new_pass)
{
	struct crypt_params_reencrypt params = {
		.mode = CRYPT_REENCRYPT_REENCRYPT,
		.direction = CRYPT_REENCRYPT_FORWARD,
		.resilience = "checksum",
		.hash = "sha256",
		.max_hotzone_size = HOTZONE_SECTORS,
		.flags = CRYPT_REENCRYPT_RECOVERY,
	};
	int r;

	lm_info("volume %s: recovering an interrupted reencryption step", path);
	r = crypt_reencrypt_init_by_passphrase(cd, NULL, (const char *)new_pass->data, new_pass->size,
					       CRYPT_ANY_SLOT, CRYPT_ANY_SLOT, NULL, NULL, &params);
	if (r == -EPERM)
		return LM_EWRONGKEY;
	return r < 0 ? cs_fail(path, "reencryption recovery", r) : 0;
}

/* Starts (or, when the header says one is under way, resumes) the
 * reencryption to a new volume key under new_pass and runs it. */
static int reencrypt_run(struct crypt_device *cd, const char *path, const struct lm_secret *new_pass,
			 const struct progress *prog)
{
	struct crypt_params_luks2 luks2 = {
		.pbkdf = &g_pbkdf,
		.sector_size = LM_VOLUME_SECTOR_SIZE,
	};
	struct crypt_params_reencrypt params = {
		.mode = CRYPT_REENCRYPT_REENCRYPT,
		.direction = CRYPT_REENCRYPT_FORWARD,
		.resilience = "checksum",
		.hash = "sha256",
		.max_hotzone_size = HOTZONE_SECTORS,
		.luks2 = &luks2,
	};
	const char *pass = (const char *)new_pass->data;
	char mark[MARK_SIZE];
	int r, ks_new;

	if (crypt_reencrypt_status(cd, NULL) != CRYPT_REENCRYPT_NONE) {
		int ks_final = -1;

		/* Only a clean state comes here: a hot zone cut short was
		 * recovered first (reencrypt_recover). */
		if ((r = reencrypt_is_done(cd, path, &ks_final)) < 0)
			return r;
		if (r == 1)
			return finish_by_restore(cd, path, ks_final, new_pass);
		lm_info("volume %s: resuming an interrupted reencryption", path);
		params.flags = CRYPT_REENCRYPT_RESUME_ONLY;
		r = crypt_reencrypt_init_by_passphrase(cd, NULL, pass, new_pass->size, CRYPT_ANY_SLOT, CRYPT_ANY_SLOT,
						       NULL, NULL, &params);
	} else {
		/* libcryptsetup unlocks both keys with one passphrase, hence
		 * the rewrap before: the new key's keyslot gets new_pass too.
		 * A NULL key makes libcryptsetup draw a new one. */
		ks_new = crypt_keyslot_add_by_key(cd, CRYPT_ANY_SLOT, NULL, LM_VOLUME_KEY_BYTES, pass, new_pass->size,
						  CRYPT_VOLUME_KEY_NO_SEGMENT);
		if (ks_new < 0)
			return cs_fail(path, "adding the new volume key", ks_new);
		lm_info("volume %s: new volume key in keyslot %d", path, ks_new);
		/* The mark of the new key goes in now: once the data is under
		 * it, however the run ends (libcryptsetup's own final update,
		 * our restore, a recovery), a re-run finds it and does nothing.
		 * Before that the mark does not match the key in use. */
		if ((r = mark_of(cd, path, ks_new, new_pass, mark)) < 0 || (r = mark_set(cd, path, mark)) < 0)
			return r;
		r = crypt_reencrypt_init_by_passphrase(cd, NULL, pass, new_pass->size, 0, ks_new, "aes",
						       "xts-plain64", &params);
	}
	if (r == -EPERM) {
		lm_err("volume %s: the new key does not open the volume for reencryption", path);
		return LM_EWRONGKEY;
	}
	if (r < 0)
		return cs_fail(path, "crypt_reencrypt_init_by_passphrase", r);
	if ((r = crypt_reencrypt_run(cd, on_progress, (void *)prog)) < 0)
		return cs_fail(path, "crypt_reencrypt_run", r);
	if (crypt_reencrypt_status(cd, NULL) != CRYPT_REENCRYPT_NONE) {
		lm_info("volume %s: reencryption stopped; run it again to resume", path);
		return LM_EBUSY;
	}
	return 0;
}

int lm_volume_reencrypt(const char *path, const struct lm_secret *old_pass, const struct lm_secret *new_pass,
			lm_volume_progress_fn progress, void *ctx)
{
	struct progress prog = { .fn = progress, .ctx = ctx };
	struct crypt_device *cd = NULL;
	char mark[MARK_SIZE];
	int r;

	if ((r = check_args(path, old_pass, new_pass)) < 0 || (r = load(path, &cd)) < 0)
		return r;
	if (crypt_reencrypt_status(cd, NULL) == CRYPT_REENCRYPT_CRASH) {
		if ((r = reencrypt_recover(cd, path, new_pass)) < 0)
			goto out;
		crypt_free(cd);
		cd = NULL;
		if ((r = load(path, &cd)) < 0)
			goto out;
	}
	if (crypt_reencrypt_status(cd, NULL) == CRYPT_REENCRYPT_NONE) {
		if ((r = rewrap_loaded(cd, path, old_pass, new_pass)) < 0 || (r = mark_matches(cd, path, new_pass)) < 0)
			goto out;
		if (r == 1) {
			lm_info("volume %s: already reencrypted to this key; nothing to do", path);
			r = 0;
			goto out;
		}
	}
	if ((r = reencrypt_run(cd, path, new_pass, &prog)) < 0)
		goto out;
	/* libcryptsetup drops the old key's keyslot at the end; the new key
	 * moves to keyslot 0 like any rewrap, then the mark says that this
	 * volume key is done. Reload: the header changed under the
	 * reencryption's own handle. A crash before the mark costs a second
	 * reencryption on a re-run, nothing more. */
	crypt_free(cd);
	cd = NULL;
	if ((r = load(path, &cd)) < 0 || (r = rewrap_loaded(cd, path, NULL, new_pass)) < 0 ||
	    (r = mark_of(cd, path, CRYPT_ANY_SLOT, new_pass, mark)) < 0 || (r = mark_set(cd, path, mark)) < 0)
		goto out;
	lm_info("volume %s: reencrypted under a new volume key", path);
out:
	crypt_free(cd);
	return r;
}
