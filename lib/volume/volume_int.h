/* Private to lib/volume: the LUKS2 on-disk header parser and the layout
 * our volumes must have (DESIGN.md section 4). */
#ifndef LAMBDA_VOLUME_INT_H
#define LAMBDA_VOLUME_INT_H

#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "lambda/err.h"
#include "lambda/secret.h"

#define LM_LUKS2_BIN_SIZE 4096u			/* binary header before the JSON area */
#define LM_LUKS2_HDR_MIN (16u << 10)		/* smallest hdr_size the format allows */
#define LM_LUKS2_HDR_MAX (4u << 20)		/* largest hdr_size the format allows */
#define LM_VOLUME_DATA_OFFSET (16ull << 20)	/* data segment offset, bytes */
#define LM_VOLUME_METADATA_SIZE (16u << 10)	/* each header copy (LUKS2 default), bytes */
#define LM_VOLUME_KEYSLOTS_SIZE (1u << 20)	/* keyslots area made by lm_volume_create, bytes */
#define LM_VOLUME_SECTOR_SIZE 4096u
#define LM_VOLUME_KEY_BYTES 64u			/* aes-xts with two 256-bit keys */

/* Skips the SHA-256 header checksums, so that a fuzzer reaches the JSON
 * checks; never used outside fuzzing. */
#define LM_LUKS2_PARSE_NO_CSUM 0x1u

/* Reads hdr_size from the first binary header in buf (size bytes) after
 * checking magic and version; LM_EFORMAT otherwise. */
LM_MUST_CHECK int lm_luks2_hdr_size(const uint8_t *buf, size_t size, uint64_t *hdr_size);

/* Checks both LUKS2 header copies (primary at 0, secondary at hdr_size) in
 * buf against the layout above: magic, version, offsets, sha256 checksums,
 * and in each JSON area one of the states of docs/architecture.md "Key
 * rotation": at rest, exactly one crypt segment with aes-xts-plain64,
 * 4096-byte sectors and the expected offset, one luks2 keyslot with
 * pbkdf2-sha256 and a 512-bit key, one digest; during a rotation a second
 * such keyslot and digest; during a reencryption also the contiguous
 * reencryption segments, one forward checksum-protected reencrypt keyslot,
 * its digest and the online-reencrypt-v2 requirement. Never a token or
 * "cipher_null". One copy may fail its checksum (an interrupted header
 * write: libcryptsetup skips it), not both; two good copies may differ in
 * sequence id. LM_EFORMAT with the reason logged otherwise. */
LM_MUST_CHECK int lm_luks2_header_check(const uint8_t *buf, size_t size, unsigned flags);

/* On the JSON area of a header with a reencryption in progress, as
 * libcryptsetup loaded it (crypt_dump_json: the copy it uses): 1 when all
 * data is already under the new key and only the final metadata update is
 * missing, with *keyslot = the keyslot of the new key; 0 otherwise, in
 * particular while a hot zone is flagged "in-reencryption" (even the last
 * one); LM_EFORMAT when it cannot tell. Exactly segments "0" (the data
 * segment: the whole device, no flags), "1" (backup-previous) and "2"
 * (backup-final), the data segment bound to the digest of backup-final
 * and not to that of backup-previous. */
LM_MUST_CHECK int lm_luks2_reencrypt_is_done(const char *json, int *keyslot);

struct crypt_device;
struct lm_secret;

/* Shared by luks2.c and rotate.c. */
int lm_volume_valid_secret(const struct lm_secret *s);

/* crypt_init with our log callback. */
LM_MUST_CHECK int lm_volume_cs_init(const char *path, struct crypt_device **out);

/* Checks the header of path with our parser, then loads it into a new
 * crypt device and checks it again through the libcryptsetup API. */
LM_MUST_CHECK int lm_volume_load_checked(const char *path, struct crypt_device **out);

/* ---- AES-256-XTS as dm-crypt's aes-xts-plain64 (xts.c) ---- */

struct lm_xts;

/* Makes encrypt and decrypt contexts from a 64-byte XTS key (two AES-256
 * keys); OpenSSL refuses equal halves. The caller owns *out. */
LM_MUST_CHECK int lm_xts_new(const uint8_t key[static LM_VOLUME_KEY_BYTES], struct lm_xts **out);
void lm_xts_free(struct lm_xts *x);

/* En- or decrypts one data unit of size bytes (a multiple of 16, at least
 * 16) with the tweak le64(tweak) padded with zeros to 16 bytes: plain64. */
LM_MUST_CHECK int lm_xts_unit(struct lm_xts *x, bool is_encrypt, uint64_t tweak, uint8_t *out, const uint8_t *in,
			      size_t size);

/* En- or decrypts count 4096-byte sectors starting at data-segment sector
 * first. plain64 without iv_large_sectors counts 512-byte sectors, so
 * sector k has tweak 8k. */
LM_MUST_CHECK int lm_xts_sectors(struct lm_xts *x, bool is_encrypt, uint64_t first, uint8_t *out, const uint8_t *in,
				 size_t count);

/* ---- an open volume (mount.c) and its back-ends ---- */

struct lm_volume;

/* A back-end presents the plaintext data segment as a block device
 * (dm-crypt) or as a file a loop device attaches (user space). */
struct lm_volume_backend {
	const char *name;
	bool needs_loop;
	/* Usable on this host? No logging when not (the other is tried). */
	bool (*probe)(void);
	/* Sets v->dev_path (block device, or file to attach). */
	int (*attach)(struct lm_volume *v, const struct lm_secret *key);
	/* Undoes attach; after the filesystem is unmounted and the loop gone. */
	int (*detach)(struct lm_volume *v);
	/* Removes what a killed opener of run_dir left (stale connection or
	 * mapping), before the common clean-up runs. */
	int (*cleanup)(const char *run_dir);
};

extern const struct lm_volume_backend lm_volume_dm;
extern const struct lm_volume_backend lm_volume_user;

struct lm_volume {
	const struct lm_volume_backend *be;
	char *image;
	char *run_dir;
	char *mnt_dir;			/* run_dir/data: the ext4 mount */
	char *fuse_dir;			/* run_dir/fuse: the FUSE mount (user space) */
	char *dev_path;			/* what the back-end presents */
	char *loop_path;		/* /dev/loopN when needs_loop */
	char dm_name[64];
	int loop_fd;
	pid_t server;			/* user-space server, 0 once reaped */
	uint64_t data_offset, data_size;	/* bytes, from the header */
	bool is_fuse_mounted, is_dm_active, is_mounted;
};

#define LM_VOLUME_FUSE_FILE "volume"

/* The data segment of a checked image: offset and size in bytes (the size
 * is the image size minus the offset, rounded down to whole sectors). */
LM_MUST_CHECK int lm_volume_layout(const char *image, uint64_t *offset, uint64_t *size);

/* libcryptsetup's log callback: messages to lm_log, debug dropped. */
void lm_volume_cs_log(int level, const char *msg, void *usrptr);

/* Looks up the mount on mount point mnt in /proc/self/mountinfo (the last
 * one, which is on top): 1 and its type, device number and source when
 * found, 0 when not. NULL outputs are skipped. */
LM_MUST_CHECK int lm_volume_find_mount(const char *mnt, char *fstype, size_t fstype_size, unsigned *maj,
				       unsigned *min, char *source, size_t source_size);

/* The dm-crypt name for run_dir: "lambda-vol-" and a hash of the path. */
void lm_volume_dm_name(char *out, size_t out_size, const char *run_dir);

#endif
