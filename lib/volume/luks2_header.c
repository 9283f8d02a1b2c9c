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
#include <string.h>

#include <jansson.h>
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

static int check_csum(const uint8_t *hdr, size_t hdr_size)
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
	if (memcmp(md, hdr + OFF_CSUM, sizeof(md)) != 0) {
		r = bad("header checksum mismatch");
		goto out;
	}
	for (size_t i = sizeof(md); i < CSUM_FIELD; i++)
		if (hdr[OFF_CSUM + i] != 0) {
			r = bad("header checksum padding not zero");
			goto out;
		}
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

static int check_segments(const json_t *segs)
{
	const json_t *s;

	if (!json_is_object(segs) || json_object_size(segs) != 1)
		return bad("not exactly one segment");
	s = json_object_get(segs, "0");
	if (!json_is_object(s) || !str_is(s, "type", "crypt"))
		return bad("segment 0 is not a crypt segment");
	if (!str_is(s, "encryption", "aes-xts-plain64"))
		return bad("segment cipher is not aes-xts-plain64");
	if (!int_is(s, "sector_size", LM_VOLUME_SECTOR_SIZE))
		return bad("segment sector size is not 4096");
	if (!str_is(s, "offset", "16777216"))
		return bad("segment offset is not 16 MiB");
	if (!str_is(s, "iv_tweak", "0"))
		return bad("segment iv_tweak is not 0");
	if (json_object_get(s, "integrity"))
		return bad("segment has integrity protection we do not use");
	return 0;
}

static int check_keyslots(const json_t *slots)
{
	const json_t *k, *kdf, *area;

	if (!json_is_object(slots) || json_object_size(slots) != 1)
		return bad("not exactly one keyslot");
	k = json_object_get(slots, "0");
	if (!json_is_object(k))
		return bad("keyslot other than 0");
	if (!str_is(k, "type", "luks2"))
		return bad("keyslot 0 is not of type luks2");
	if (!int_is(k, "key_size", LM_VOLUME_KEY_BYTES))
		return bad("keyslot 0 key size is not 512 bits");
	kdf = json_object_get(k, "kdf");
	if (!json_is_object(kdf) || !str_is(kdf, "type", "pbkdf2") || !str_is(kdf, "hash", "sha256"))
		return bad("keyslot 0 kdf is not pbkdf2-sha256");
	area = json_object_get(k, "area");
	if (!json_is_object(area) || !str_is(area, "type", "raw"))
		return bad("keyslot 0 area is not raw");
	return 0;
}

static int check_json(const uint8_t *area, size_t area_size)
{
	static const char *const top_keys[] = { "keyslots", "tokens", "segments", "digests", "config", NULL };
	const uint8_t *nul = memchr(area, 0, area_size);
	const json_t *tokens, *digests, *config;
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
	if ((r = check_segments(json_object_get(root, "segments"))) < 0 ||
	    (r = check_keyslots(json_object_get(root, "keyslots"))) < 0)
		goto out;
	r = LM_EFORMAT;
	tokens = json_object_get(root, "tokens");
	if (!json_is_object(tokens) || json_object_size(tokens) != 0) {
		r = bad("header has tokens");
		goto out;
	}
	digests = json_object_get(root, "digests");
	if (!json_is_object(digests) || json_object_size(digests) != 1) {
		r = bad("not exactly one digest");
		goto out;
	}
	config = json_object_get(root, "config");
	if (!json_is_object(config) || !lm_json_str(config, "json_size")) {
		r = bad("config missing");
		goto out;
	}
	r = 0;
out:
	json_decref(root);
	return r;
}

static int check_copy(const uint8_t *hdr, const uint8_t magic[static 6], uint64_t hdr_size, uint64_t offset,
	unsigned flags)
{
	int r;

	if (memcmp(hdr, magic, 6) != 0)
		return bad("bad magic in a header copy");
	if (hdr[OFF_VERSION] != 0 || hdr[OFF_VERSION + 1] != 2)
		return bad("header copy is not version 2");
	if (be64(hdr + OFF_HDR_SIZE) != hdr_size)
		return bad("header copies disagree on hdr_size");
	if (be64(hdr + OFF_HDR_OFFSET) != offset)
		return bad("header copy at an unexpected offset");
	if (!(flags & LM_LUKS2_PARSE_NO_CSUM) && (r = check_csum(hdr, hdr_size)) < 0)
		return r;
	return check_json(hdr + LM_LUKS2_BIN_SIZE, hdr_size - LM_LUKS2_BIN_SIZE);
}

int lm_luks2_header_check(const uint8_t *buf, size_t size, unsigned flags)
{
	uint64_t hs;
	int r;

	if ((r = lm_luks2_hdr_size(buf, size, &hs)) < 0)
		return r;
	/* Both copies must be present and good: libcryptsetup falls back to
	 * the secondary when the primary is damaged, so checking one copy
	 * would let the host hide a hostile header behind a broken one. */
	if (size / 2 < hs)
		return bad("truncated header area");
	if ((r = check_copy(buf, g_magic_primary, hs, 0, flags)) < 0 ||
	    (r = check_copy(buf + hs, g_magic_secondary, hs, hs, flags)) < 0)
		return r;
	if (be64(buf + OFF_SEQID) != be64(buf + hs + OFF_SEQID))
		return bad("header copies have different sequence ids");
	return 0;
}
