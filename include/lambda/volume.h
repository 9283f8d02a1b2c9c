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

/* Checks the LUKS2 header of path: one crypt segment with aes-xts-plain64,
 * a 512-bit key and 4096-byte sectors; no cipher_null in any segment or
 * keyslot; keyslot 0 with pbkdf2-sha256 at rest, or one of the transitional
 * states of a key rotation (docs/architecture.md "Key rotation": two such
 * keyslots; a LUKS2 reencryption in progress). LM_EFORMAT with the reason
 * logged otherwise. */
LM_MUST_CHECK int lm_volume_check_header(const char *path);

/* Checks that passphrase opens a keyslot of path (no device is
 * activated). LM_EWRONGKEY when it does not. */
LM_MUST_CHECK int lm_volume_check_passphrase(const char *path, const struct lm_secret *passphrase);

/* Where a volume stands in a key rotation. */
enum lm_volume_state {
	LM_VOLUME_AT_REST,		/* one keyslot (0) */
	LM_VOLUME_ROTATING,		/* two keyslots: a rotation was interrupted */
	LM_VOLUME_REENCRYPTING,		/* a reencryption was interrupted */
};

/* Checks the header of path and says which state it is in. */
LM_MUST_CHECK int lm_volume_state(const char *path, enum lm_volume_state *out);

/* Progress of a reencryption: done of total data bytes. A non-zero return
 * stops it after the current hot zone, leaving it resumable. */
typedef int (*lm_volume_progress_fn)(void *ctx, uint64_t done, uint64_t total);

/* Re-wraps the volume key of path from the keyslot that old_pass opens to
 * one that new_pass opens, in a crash-safe order: add the new keyslot,
 * check that new_pass opens it, destroy the old one, leaving the new
 * keyslot as keyslot 0 (the layout of lm_volume_create). After a crash at
 * any point the volume opens with old_pass or new_pass; running it again
 * with the same arguments finishes the rotation (when new_pass already
 * opens the volume, old_pass is not needed and need not open anything).
 * LM_EWRONGKEY, leaving the volume unchanged, when neither passphrase opens
 * it or a keyslot opens with neither; LM_ESTATE during an interrupted
 * reencryption (finish it with lm_volume_reencrypt); LM_EINVAL when both
 * passphrases are equal. */
LM_MUST_CHECK int lm_volume_rewrap(const char *path, const struct lm_secret *old_pass,
				   const struct lm_secret *new_pass);

/* Replaces the volume key of path too: re-wraps to new_pass as above, then
 * runs an offline LUKS2 reencryption (no device is activated) of the whole
 * data segment to a new random volume key under new_pass, cipher
 * unchanged, reporting progress through progress (may be NULL). Resumes an
 * interrupted reencryption when one is found (then old_pass is not
 * needed). Nothing may use the volume meanwhile. LM_EBUSY when progress
 * stopped it (resumable); other errors as lm_volume_rewrap. */
LM_MUST_CHECK int lm_volume_reencrypt(const char *path, const struct lm_secret *old_pass,
				      const struct lm_secret *new_pass, lm_volume_progress_fn progress, void *ctx);

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
