/* An instance's LUKS2 volume, through libcryptsetup (DESIGN.md section 4):
 * aes-xts-plain64 with a 512-bit volume key made by libcryptsetup,
 * 4096-byte sectors, one keyslot whose passphrase is the raw 32-byte volume
 * keyslot passphrase, pbkdf2-sha256 with 1000 iterations. The image file
 * comes from the untrusted host, so its header is checked before use. */
#ifndef LAMBDA_VOLUME_H
#define LAMBDA_VOLUME_H

#include <stdint.h>
#include <sys/types.h>

#include "lambda/err.h"
#include "lambda/secret.h"

#define LM_VOLUME_MIN_SIZE (32ull << 20)	/* LUKS2 header (16 MiB) + data */

/* Creates a sparse image of size bytes at path (refusing an existing path)
 * and formats it as above with passphrase in keyslot 0. */
LM_MUST_CHECK int lm_volume_create(const char *path, uint64_t size, const struct lm_secret *passphrase);

/* Checks the LUKS2 header of path: exactly one crypt segment with
 * aes-xts-plain64, a 512-bit key and 4096-byte sectors; no cipher_null in
 * any segment or keyslot; only keyslot 0 with pbkdf2. LM_EFORMAT with the
 * reason logged otherwise. */
LM_MUST_CHECK int lm_volume_check_header(const char *path);

/* Checks that passphrase opens a keyslot of path (no device is
 * activated). LM_EWRONGKEY when it does not. */
LM_MUST_CHECK int lm_volume_check_passphrase(const char *path, const struct lm_secret *passphrase);

/* Checks the header of path, then gets the volume key through the keyslot
 * passphrase (no device is activated). On success *volume_key (64 bytes,
 * owned by the caller, lm_secret_free) holds the key that encrypts the data
 * segment. LM_EWRONGKEY when the passphrase opens no keyslot. */
LM_MUST_CHECK int lm_volume_unlock(const char *path, const struct lm_secret *passphrase,
				   struct lm_secret **volume_key);

/* An unlocked volume, mounted as ext4 (DESIGN.md section 4, docs/architecture.md
 * "Volumes"). Two back-ends present the plaintext data segment: dm-crypt
 * through libcryptsetup where the kernel has device-mapper, otherwise a
 * user-space XTS server (a child process of the caller) exposing it as a
 * FUSE file that a loop device attaches. */
struct lm_volume;

#define LM_VOLUME_USERSPACE 0x1u	/* the user-space back-end even where dm-crypt exists */
#define LM_VOLUME_DATA_UID 65534u	/* owner of the filesystem root made by mkfs */

/* Opens image (a checked header) with volume_key: first removes what a
 * dead earlier opener left under run_dir (see lm_volume_cleanup), presents
 * the plaintext, makes ext4 when the data segment was never written
 * (its first sector is all zero ciphertext), mounts it nosuid,nodev on
 * run_dir/data and returns the volume. run_dir is created if missing and
 * is owned by this volume; its parents must be searchable by the workload's
 * uid when run_dir/data is bound into a sandbox. The key is copied: the
 * caller keeps and frees its own. The caller owns *out and must pass it to
 * lm_volume_close. */
LM_MUST_CHECK int lm_volume_open(const char *image, const char *run_dir, const struct lm_secret *volume_key,
				 unsigned flags, struct lm_volume **out);

/* The mounted ext4 root (run_dir/data); valid until lm_volume_close. */
const char *lm_volume_mount_dir(const struct lm_volume *v);

/* The back-end's name: "dm-crypt" or "user-space". */
const char *lm_volume_backend_name(const struct lm_volume *v);

/* The pid of the user-space server (a child of the caller, which must not
 * reap it behind the volume's back); 0 with dm-crypt. */
pid_t lm_volume_server_pid(const struct lm_volume *v);

/* Syncs, unmounts the filesystem, detaches the loop or dm device, stops
 * the server and wipes the key copy; frees v on every path (NULL accepted).
 * Returns the first error met; teardown goes on past errors. */
LM_MUST_CHECK int lm_volume_close(struct lm_volume *v);

/* Removes stale state under run_dir that a killed opener left: aborts its
 * FUSE connection, detaches the ext4 mount, clears loop devices backed by
 * run_dir's FUSE file, removes its dm-crypt mapping, unmounts the FUSE
 * mount. Nothing else on the host is touched. 0 when nothing was left. */
LM_MUST_CHECK int lm_volume_cleanup(const char *run_dir);

#endif
