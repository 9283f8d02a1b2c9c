/* The dm-crypt volume back-end: where the kernel has device-mapper, the
 * plaintext is a dm-crypt mapping made by libcryptsetup from the volume
 * key (crypt_activate_by_volume_key), exactly what `cryptsetup open` makes.
 * The key then lives in the kernel; this process keeps no copy. The mapping
 * is named after run_dir, so that a later opener finds and removes one a
 * killed opener left. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libcryptsetup.h>

#include "lambda/log.h"
#include "volume/volume_int.h"

#define DM_CONTROL "/dev/mapper/control"

/* The node may exist (devtmpfs, containers) while the kernel has no
 * device-mapper: /proc/misc lists the driver only when it is there. */
static bool dm_probe(void)
{
	char line[128];
	bool has_dm = false;
	FILE *f;

	if (access(DM_CONTROL, R_OK | W_OK) != 0 || !(f = fopen("/proc/misc", "re")))
		return false;
	while (!has_dm && fgets(line, sizeof(line), f))
		has_dm = strstr(line, " device-mapper") != NULL;
	fclose(f);
	return has_dm;
}

static int dm_attach(struct lm_volume *v, const struct lm_secret *key)
{
	struct crypt_device *cd = NULL;
	int r;

	if ((r = crypt_init(&cd, v->image)) < 0) {
		lm_err("volume %s: crypt_init: %s", v->image, strerror(-r));
		return LM_EIO;
	}
	crypt_set_log_callback(cd, lm_volume_cs_log, NULL);
	if ((r = crypt_load(cd, CRYPT_LUKS2, NULL)) < 0) {
		lm_err("volume %s: crypt_load: %s", v->image, strerror(-r));
		r = LM_EFORMAT;
		goto out;
	}
	r = crypt_activate_by_volume_key(cd, v->dm_name, (const char *)key->data, key->size, 0);
	if (r < 0) {
		lm_err("volume %s: dm-crypt activation failed: %s", v->image, strerror(-r));
		r = r == -ENOTSUP || r == -ENODEV || r == -ENOENT ? LM_ENOTSUP : LM_EIO;
		goto out;
	}
	v->is_dm_active = true;
	if (asprintf(&v->dev_path, "/dev/mapper/%s", v->dm_name) < 0) {
		v->dev_path = NULL;
		r = LM_ENOMEM;
		goto out;
	}
	lm_info("volume: dm-crypt mapping %s", v->dm_name);
	r = 0;
out:
	crypt_free(cd);
	return r;
}

static int deactivate(const char *name, uint32_t flags)
{
	struct crypt_device *cd = NULL;
	int r;

	if ((r = crypt_init_by_name(&cd, name)) < 0)
		return r == -ENODEV ? 0 : LM_EIO;
	crypt_set_log_callback(cd, lm_volume_cs_log, NULL);
	r = crypt_deactivate_by_name(cd, name, flags);
	crypt_free(cd);
	if (r < 0 && r != -ENODEV) {
		lm_err("volume: cannot remove dm-crypt mapping %s: %s", name, strerror(-r));
		return LM_EBUSY;
	}
	return 0;
}

static int dm_detach(struct lm_volume *v)
{
	int r = 0;

	if (v->is_dm_active)
		r = deactivate(v->dm_name, 0);
	v->is_dm_active = false;
	return r;
}

static int dm_cleanup(const char *run_dir)
{
	char name[64], path[128];

	if (!dm_probe())
		return 0;
	lm_volume_dm_name(name, sizeof(name), run_dir);
	snprintf(path, sizeof(path), "/dev/mapper/%s", name);
	if (access(path, F_OK) != 0)
		return 0;
	lm_info("volume: removing the stale dm-crypt mapping %s", name);
	/* Deferred: the lazily detached filesystem may still hold it. */
	return deactivate(name, CRYPT_DEACTIVATE_DEFERRED);
}

const struct lm_volume_backend lm_volume_dm = {
	.name = "dm-crypt",
	.needs_loop = false,
	.probe = dm_probe,
	.attach = dm_attach,
	.detach = dm_detach,
	.cleanup = dm_cleanup,
};
