/* Our own reading of a LUKS2 header (binary header + JSON area), so that the
 * guest refuses a hostile image for reasons it states itself, before it
 * hands the image to libcryptsetup for unlocking. libcryptsetup 2.6 has no
 * JSON export, and its API does not show every field we care about (other
 * keyslots' ciphers, tokens, the secondary copy), hence this parser.
 *
 * Binary header layout (all integers big-endian), per the LUKS2 on-disk
 * format specification:
 *   0 magic[6] "LUKS\xba\xbe" (primary) or "SKUL\xba\xbe" (secondary)
 *   6 version u16 = 2     8 hdr_size u64     16 seqid u64
 *  24 label[48]  72 checksum_alg[32]  104 salt[64]  168 uuid[40]
 * 208 subsystem[48]  256 hdr_offset u64  448 csum[64]
 * The JSON area follows at 4096 up to hdr_size, padded with NUL bytes. The
 * checksum is over the whole hdr_size bytes with csum zeroed. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "lambda/json.h"
#include "lambda/log.h"
#include "volume/volume_int.h"

#define OFF_VERSION 6
#define OFF_HDR_SIZE 8
#define OFF_SEQID 16
#define OFF_CSUM_ALG 72
#define OFF_HDR_OFFSET 256
#define OFF_CSUM 448
#define CSUM_FIELD 64

static const uint8_t g_magic_primary[6] = { 'L', 'U', 'K', 'S', 0xba, 0xbe };
static const uint8_t g_magic_secondary[6] = { 'S', 'K', 'U', 'L', 0xba, 0xbe };

static uint64_t be64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

static int bad(const char *what)
{
	lm_err("volume header refused: %s", what);
	return LM_EFORMAT;
}

int lm_luks2_hdr_size(const uint8_t *buf, size_t size, uint64_t *hdr_size)
{
	uint64_t hs;

	if (size < LM_LUKS2_BIN_SIZE)
		return bad("truncated binary header");
	if (memcmp(buf, g_magic_primary, sizeof(g_magic_primary)) != 0)
		return bad("no LUKS magic");
	if (buf[OFF_VERSION] != 0 || buf[OFF_VERSION + 1] != 2)
		return bad("not LUKS version 2");
	hs = be64(buf + OFF_HDR_SIZE);
	/* The format allows 16 KiB .. 4 MiB, powers of two. */
	if (hs < LM_LUKS2_HDR_MIN || hs > LM_LUKS2_HDR_MAX || (hs & (hs - 1)) != 0)
		return bad("hdr_size out of range");
	*hdr_size = hs;
	return 0;
}

/* Checks the checksum of one copy. A wrong algorithm or padding is
 * refused; a sha256 that does not match sets *is_mismatch instead (the
 * caller decides), since libcryptsetup would skip such a copy. */
static int check_csum(const uint8_t *hdr, size_t hdr_size, bool *is_mismatch)
{
	uint8_t md[32], *copy;
	unsigned md_size = 0;
	int r = LM_EFORMAT;

	if (memcmp(hdr + OFF_CSUM_ALG, "sha256", 7) != 0)
		return bad("checksum algorithm is not sha256");
	copy = OPENSSL_malloc(hdr_size);
	if (!copy)
		return LM_ENOMEM;
	memcpy(copy, hdr, hdr_size);
	memset(copy + OFF_CSUM, 0, CSUM_FIELD);
	if (EVP_Digest(copy, hdr_size, md, &md_size, EVP_sha256(), NULL) != 1) {
		r = lm_log_ossl("EVP_Digest");
		goto out;
	}
	for (size_t i = sizeof(md); i < CSUM_FIELD; i++)
		if (hdr[OFF_CSUM + i] != 0) {
			r = bad("header checksum padding not zero");
			goto out;
		}
	*is_mismatch = CRYPTO_memcmp(md, hdr + OFF_CSUM, sizeof(md)) != 0;
	r = 0;
out:
	OPENSSL_free(copy);
	return r;
}

/* True when "cipher_null" appears in any key or string value of v. */
static int has_cipher_null(const json_t *v)
{
	const char *key;
	json_t *item;
	size_t i;

	switch (json_typeof(v)) {
	case JSON_STRING:
		return strcasestr(json_string_value(v), "cipher_null") != NULL;
	case JSON_OBJECT:
		json_object_foreach((json_t *)v, key, item)
			if (strcasestr(key, "cipher_null") || has_cipher_null(item))
				return 1;
		return 0;
	case JSON_ARRAY:
		json_array_foreach(v, i, item)
			if (has_cipher_null(item))
				return 1;
		return 0;
	default:
		return 0;
	}
}

static int str_is(const json_t *obj, const char *key, const char *want)
{
	const char *s = lm_json_str(obj, key);

	return s && strcmp(s, want) == 0;
}

static int int_is(const json_t *obj, const char *key, json_int_t want)
{
	json_t *v = json_object_get(obj, key);

	return json_is_integer(v) && json_integer_value(v) == want;
}

/* The checks every crypt segment must pass, steady or in reencryption. */
static int check_crypt_segment(const json_t *s)
{
	if (!json_is_object(s) || !str_is(s, "type", "crypt"))
		return bad("a segment is not a crypt segment");
	if (!str_is(s, "encryption", "aes-xts-plain64"))
		return bad("segment cipher is not aes-xts-plain64");
	if (!int_is(s, "sector_size", LM_VOLUME_SECTOR_SIZE))
		return bad("segment sector size is not 4096");
	if (json_object_get(s, "integrity"))
		return bad("segment has integrity protection we do not use");
	return 0;
}

/* Parses a decimal string (LUKS2 writes 64-bit numbers and ids as strings). */
static int u64_str(const char *s, uint64_t *out)
{
	uint64_t v = 0;

	if (!s || !*s || strlen(s) > 19)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = v;
	return 0;
}

static int u64_member(const json_t *obj, const char *key, uint64_t *out)
{
	return u64_str(lm_json_str(obj, key), out);
}

static int check_steady_segments(const json_t *segs)
{
	const json_t *s;
	int r;

	if (json_object_size(segs) != 1)
		return bad("not exactly one segment");
	s = json_object_get(segs, "0");
	if ((r = check_crypt_segment(s)) < 0)
		return r;
	if (json_object_get(s, "flags"))
		return bad("segment 0 has flags");
	if (!str_is(s, "offset", "16777216"))
		return bad("segment offset is not 16 MiB");
	if (!str_is(s, "iv_tweak", "0"))
		return bad("segment iv_tweak is not 0");
	if (!str_is(s, "size", "dynamic"))
		return bad("segment does not span the device");
	return 0;
}

/* A forward reencryption in progress (lm_volume_reencrypt): the data area
 * split into contiguous crypt segments numbered from 0 (already under the
 * new key, then under the old), the last one to the end of the device, each
 * with the IV tweak of its position (one of them may be the hot zone of an
 * interrupted step, flagged "in-reencryption"), plus exactly one "backup-previous" and
 * one "backup-final" segment describing the old and new whole-device
 * segment. Nothing may point outside the data area. */
static int check_reencrypt_segments(const json_t *segs)
{
	uint64_t want_off = LM_VOLUME_DATA_OFFSET, off, tweak, size;
	size_t n = json_object_size(segs), n_data = 0, n_prev = 0, n_final = 0, n_hot = 0;
	bool ended = false, is_last_hot = false;
	int r;

	if (n < 3 || n > 5)
		return bad("reencryption segment count out of range");
	for (size_t i = 0; i < n; i++) {
		char key[8];
		const json_t *s, *flags;
		bool is_hot = false;

		snprintf(key, sizeof(key), "%zu", i);
		s = json_object_get(segs, key);
		if (!s)
			return bad("reencryption segments are not numbered 0..n-1");
		if ((r = check_crypt_segment(s)) < 0)
			return r;
		if (u64_member(s, "offset", &off) < 0 || u64_member(s, "iv_tweak", &tweak) < 0)
			return bad("segment offset or iv_tweak malformed");
		flags = json_object_get(s, "flags");
		if (flags) {
			const char *f = json_string_value(json_array_get(flags, 0));

			if (!json_is_array(flags) || json_array_size(flags) != 1 || !f)
				return bad("segment flags malformed");
			/* The hot zone of a reencryption step cut short: a data
			 * segment that libcryptsetup recovers on resume. */
			is_hot = strcmp(f, "in-reencryption") == 0;
			if (is_hot)
				n_hot++;
			else if (strcmp(f, "backup-previous") == 0)
				n_prev++;
			else if (strcmp(f, "backup-final") == 0)
				n_final++;
			else
				return bad("unexpected segment flag");
			if (!is_hot) {
				if (off != LM_VOLUME_DATA_OFFSET || tweak != 0 || !str_is(s, "size", "dynamic"))
					return bad("backup segment does not describe the whole data area");
				continue;
			}
		}
		/* Data segments come first, contiguous, the last one dynamic. */
		if (ended || n_prev || n_final)
			return bad("reencryption segments out of order");
		if (off != want_off || tweak != (off - LM_VOLUME_DATA_OFFSET) / 512)
			return bad("reencryption segments are not contiguous");
		n_data++;
		is_last_hot = is_hot;
		if (str_is(s, "size", "dynamic")) {
			ended = true;
		} else {
			if (u64_member(s, "size", &size) < 0 || size == 0 || size % LM_VOLUME_SECTOR_SIZE ||
			    size > UINT64_MAX / 2)
				return bad("segment size malformed");
			want_off = off + size;
		}
	}
	/* The last data segment reaches the end of the device, or is the
	 * last hot zone (sized to it). */
	if (!(ended || is_last_hot) || n_data < 1 || n_data > 3 || n_prev != 1 || n_final != 1 || n_hot > 1)
		return bad("reencryption segments incomplete");
	return 0;
}

static int check_luks2_keyslot(const json_t *k)
{
	const json_t *kdf, *area;

	if (!int_is(k, "key_size", LM_VOLUME_KEY_BYTES))
		return bad("keyslot key size is not 512 bits");
	kdf = json_object_get(k, "kdf");
	if (!json_is_object(kdf) || !str_is(kdf, "type", "pbkdf2") || !str_is(kdf, "hash", "sha256"))
		return bad("keyslot kdf is not pbkdf2-sha256");
	area = json_object_get(k, "area");
	if (!json_is_object(area) || !str_is(area, "type", "raw") || !str_is(area, "encryption", "aes-xts-plain64"))
		return bad("keyslot area is not raw aes-xts-plain64");
	return 0;
}

/* The resilience keyslot of our reencryption: forward, checksum-protected
 * hot zone. */
static int check_reencrypt_keyslot(const json_t *k)
{
	const json_t *area = json_object_get(k, "area");

	if (!str_is(k, "mode", "reencrypt") || !str_is(k, "direction", "forward"))
		return bad("reencryption keyslot is not a forward reencryption");
	if (!json_is_object(area) || !str_is(area, "type", "checksum") || !str_is(area, "hash", "sha256"))
		return bad("reencryption keyslot is not checksum-protected with sha256");
	return 0;
}

/* Accepts one or two luks2 keyslots (two while a rotation is under way),
 * plus at most one reencryption keyslot. */
static int check_keyslots(const json_t *slots, size_t *n_reencrypt)
{
	size_t n_luks2 = 0, n_reenc = 0;
	const char *key;
	json_t *k;
	int r;

	if (!json_is_object(slots))
		return bad("keyslots missing");
	json_object_foreach((json_t *)slots, key, k) {
		uint64_t id;

		if (u64_str(key, &id) < 0 || id >= 32)
			return bad("keyslot id out of range");
		if (!json_is_object(k))
			return bad("keyslot is not an object");
		if (str_is(k, "type", "luks2")) {
			if ((r = check_luks2_keyslot(k)) < 0)
				return r;
			n_luks2++;
		} else if (str_is(k, "type", "reencrypt")) {
			if ((r = check_reencrypt_keyslot(k)) < 0)
				return r;
			n_reenc++;
		} else {
			return bad("keyslot of an unexpected type");
		}
	}
	if (n_luks2 < 1 || n_luks2 > 2 || n_reenc > 1)
		return bad("unexpected number of keyslots");
	*n_reencrypt = n_reenc;
	return 0;
}

static int check_digests(const json_t *digests, size_t max)
{
	const char *key;
	json_t *d;

	if (!json_is_object(digests) || json_object_size(digests) < 1 || json_object_size(digests) > max)
		return bad("unexpected number of digests");
	json_object_foreach((json_t *)digests, key, d)
		if (!json_is_object(d) || !str_is(d, "type", "pbkdf2") || !str_is(d, "hash", "sha256"))
			return bad("digest is not pbkdf2-sha256");
	return 0;
}

/* config: the sizes, and during a reencryption exactly the requirement
 * libcryptsetup sets for it, so that older tools keep their hands off. */
static int check_config(const json_t *config, bool is_reencrypting)
{
	static const char *const keys[] = { "json_size", "keyslots_size", "requirements", NULL };
	const json_t *req, *mand;

	if (!json_is_object(config) || !lm_json_str(config, "json_size") ||
	    lm_json_only_keys(config, keys, NULL, 0) < 0)
		return bad("config missing or with unexpected members");
	req = json_object_get(config, "requirements");
	if (!is_reencrypting)
		return req ? bad("requirements outside a reencryption") : 0;
	mand = json_object_get(req, "mandatory");
	if (!json_is_object(req) || json_object_size(req) != 1 || !json_is_array(mand) ||
	    json_array_size(mand) != 1 || !json_is_string(json_array_get(mand, 0)) ||
	    strcmp(json_string_value(json_array_get(mand, 0)), "online-reencrypt-v2") != 0)
		return bad("reencryption without exactly the online-reencrypt-v2 requirement");
	return 0;
}

static int check_json(const uint8_t *area, size_t area_size)
{
	static const char *const top_keys[] = { "keyslots", "tokens", "segments", "digests", "config", NULL };
	const uint8_t *nul = memchr(area, 0, area_size);
	const json_t *tokens, *segs;
	size_t n_reenc = 0;
	json_error_t jerr;
	json_t *root;
	int r;

	if (!nul)
		return bad("JSON area not terminated");
	root = json_loadb((const char *)area, (size_t)(nul - area), JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		return bad("JSON area does not parse");
	if (!json_is_object(root) || lm_json_only_keys(root, top_keys, NULL, 0) < 0) {
		r = bad("JSON area has unexpected members");
		goto out;
	}
	if (has_cipher_null(root)) {
		r = bad("cipher_null present");
		goto out;
	}
	if ((r = check_keyslots(json_object_get(root, "keyslots"), &n_reenc)) < 0)
		goto out;
	segs = json_object_get(root, "segments");
	if (!json_is_object(segs)) {
		r = bad("segments missing");
		goto out;
	}
	/* Two digests while a rotation adds an unbound keyslot, a third for
	 * the reencryption keyslot. */
	if ((r = n_reenc ? check_reencrypt_segments(segs) : check_steady_segments(segs)) < 0 ||
	    (r = check_digests(json_object_get(root, "digests"), n_reenc ? 3 : 2)) < 0 ||
	    (r = check_config(json_object_get(root, "config"), n_reenc > 0)) < 0)
		goto out;
	tokens = json_object_get(root, "tokens");
	if (!json_is_object(tokens) || json_object_size(tokens) != 0) {
		r = bad("header has tokens");
		goto out;
	}
	r = 0;
out:
	json_decref(root);
	return r;
}

/* Checks one header copy. A copy whose checksum does not verify is
 * reported through *is_damaged and not read further: libcryptsetup ignores
 * such a copy too (it verifies the checksum before it reads the JSON) and
 * rewrites it from the good one. That is the state a crash inside a header
 * write leaves, since libcryptsetup writes the JSON area before the binary
 * header that holds the checksum. */
static int check_copy(const uint8_t *hdr, const uint8_t magic[static 6], uint64_t hdr_size, uint64_t offset,
	unsigned flags, bool *is_damaged)
{
	int r;

	*is_damaged = false;
	if (memcmp(hdr, magic, 6) != 0)
		return bad("bad magic in a header copy");
	if (hdr[OFF_VERSION] != 0 || hdr[OFF_VERSION + 1] != 2)
		return bad("header copy is not version 2");
	if (be64(hdr + OFF_HDR_SIZE) != hdr_size)
		return bad("header copies disagree on hdr_size");
	if (be64(hdr + OFF_HDR_OFFSET) != offset)
		return bad("header copy at an unexpected offset");
	if (!(flags & LM_LUKS2_PARSE_NO_CSUM)) {
		if ((r = check_csum(hdr, hdr_size, is_damaged)) < 0)
			return r;
		if (*is_damaged)
			return 0;
	}
	return check_json(hdr + LM_LUKS2_BIN_SIZE, hdr_size - LM_LUKS2_BIN_SIZE);
}

int lm_luks2_header_check(const uint8_t *buf, size_t size, unsigned flags)
{
	bool is_damaged[2];
	uint64_t hs;
	int r;

	if ((r = lm_luks2_hdr_size(buf, size, &hs)) < 0)
		return r;
	/* Every copy libcryptsetup might use is checked: it falls back to the
	 * secondary when the primary is damaged, so checking one copy would
	 * let the host hide a hostile header behind a broken one. */
	if (size / 2 < hs)
		return bad("truncated header area");
	if ((r = check_copy(buf, g_magic_primary, hs, 0, flags, &is_damaged[0])) < 0 ||
	    (r = check_copy(buf + hs, g_magic_secondary, hs, hs, flags, &is_damaged[1])) < 0)
		return r;
	if (is_damaged[0] && is_damaged[1])
		return bad("both header copies are damaged");
	if (is_damaged[0] || is_damaged[1])
		lm_warn("volume header: the %s copy has a bad checksum (an interrupted header write); "
			"libcryptsetup uses the other one", is_damaged[0] ? "primary" : "secondary");
	/* Two good copies with different sequence ids: an interrupted header
	 * write between the copies; libcryptsetup takes the newer and both
	 * passed the checks. */
	else if (be64(buf + OFF_SEQID) != be64(buf + hs + OFF_SEQID))
		lm_warn("volume header: the copies have different sequence ids (an interrupted header write)");
	return 0;
}

/* The digest id whose "segments" list holds segment id seg, or NULL. */
static const char *digest_of(const json_t *digests, const char *seg)
{
	const char *key;
	json_t *d, *item;
	size_t i;

	json_object_foreach((json_t *)digests, key, d)
		json_array_foreach(json_object_get(d, "segments"), i, item)
			if (json_is_string(item) && strcmp(json_string_value(item), seg) == 0)
				return key;
	return NULL;
}

/* The flag of segment s: its only flag, "" when it has none, NULL when
 * malformed. */
static const char *segment_flag(const json_t *s)
{
	const json_t *flags = json_object_get(s, "flags");

	if (!flags)
		return "";
	if (!json_is_array(flags) || json_array_size(flags) != 1)
		return NULL;
	return json_string_value(json_array_get(flags, 0));
}

int lm_luks2_reencrypt_is_done(const char *json, int *keyslot)
{
	const json_t *segs, *digests, *data = NULL, *ks, *s;
	const char *key, *data_key = NULL, *prev_key = NULL, *final_key = NULL;
	const char *data_digest, *prev_digest, *final_digest;
	json_t *root;
	uint64_t off, tweak, id;
	int r = 0;

	if (!json || !(root = json_loads(json, JSON_REJECT_DUPLICATES, NULL)))
		return LM_EFORMAT;
	segs = json_object_get(root, "segments");
	digests = json_object_get(root, "digests");
	/* Exactly the layout libcryptsetup commits after the last hot zone:
	 * one data segment over the whole device (no hot zone, no segment
	 * still under the old key) and the two backups. Anything else, in
	 * particular a last hot zone flagged "in-reencryption", is not done. */
	if (!json_is_object(segs) || json_object_size(segs) != 3)
		goto out;
	json_object_foreach((json_t *)segs, key, s) {
		const char *f = segment_flag(s);

		if (!f)
			goto out;
		if (!*f && !data_key) {
			data_key = key;
			data = s;
		} else if (strcmp(f, "backup-previous") == 0 && !prev_key) {
			prev_key = key;
		} else if (strcmp(f, "backup-final") == 0 && !final_key) {
			final_key = key;
		} else {
			goto out;
		}
	}
	if (!data_key || !prev_key || !final_key || u64_member(data, "offset", &off) < 0 ||
	    off != LM_VOLUME_DATA_OFFSET || u64_member(data, "iv_tweak", &tweak) < 0 || tweak != 0 ||
	    !str_is(data, "size", "dynamic"))
		goto out;
	data_digest = digest_of(digests, data_key);
	prev_digest = digest_of(digests, prev_key);
	final_digest = digest_of(digests, final_key);
	/* The data segment uses the new key, not the old one. */
	if (!data_digest || !prev_digest || !final_digest || strcmp(data_digest, final_digest) != 0 ||
	    strcmp(data_digest, prev_digest) == 0)
		goto out;
	ks = json_object_get(json_object_get(digests, final_digest), "keyslots");
	if (json_array_size(ks) != 1 || u64_str(json_string_value(json_array_get(ks, 0)), &id) < 0 || id >= 32) {
		r = LM_EFORMAT;
		goto out;
	}
	*keyslot = (int)id;
	r = 1;
out:
	json_decref(root);
	return r;
}
