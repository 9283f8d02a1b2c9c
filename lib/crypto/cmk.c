/* Customer master key (CMK) files and key ids (DESIGN.md section 4).
 *
 * A CMK file is one RFC 7468 PEM block labelled "LAMBDA MASTER KEY" whose
 * body is the base64 of the 32 key bytes, after optional "# " comment lines
 * (name, key id, creation time):
 *
 *	# name: prod
 *	# key id: lmk_0123456789abcdef
 *	# created: 2026-01-24T10:30:00Z
 *	-----BEGIN LAMBDA MASTER KEY-----
 *	<44 base64 characters>
 *	-----END LAMBDA MASTER KEY-----
 *
 * The parser is strict (anything else is LM_EFORMAT) and decodes the body
 * in constant time; no message names rejected key text. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "lambda/crypto.h"
#include "lambda/log.h"
#include "lambda/util.h"

#define CMK_LABEL "LAMBDA MASTER KEY"
#define CMK_BEGIN "-----BEGIN " CMK_LABEL "-----"
#define CMK_END "-----END " CMK_LABEL "-----"
#define CMK_B64_CHARS 44	/* base64 of 32 bytes: 43 characters and one '=' */
#define CMK_TEXT_MAX 4096	/* a CMK file is a few hundred bytes */
#define CMK_LINE_MAX 128	/* longest comment line */
#define CMK_B64_LINE_MAX 64	/* RFC 7468: body lines of at most 64 characters */
#define KEY_ID_CONTEXT "lambda/v1 key-id"
#define NAME_PREFIX "# name: "
#define KEY_ID_PREFIX "# key id: "

/* ---- constant-time base64 of key bytes ---- */

/* -1 (all bits set) when lo <= c <= hi, else 0, without a branch or a
 * table lookup that would depend on c. c, lo and hi lie in 0..255. */
static int ct_in_range(int c, int lo, int hi)
{
	return ((lo - 1 - c) & (c - hi - 1)) >> 8;
}

static char b64_char(int v)
{
	int c = v + 'A';

	c += ('a' - 26 - 'A') & ct_in_range(v, 26, 51);
	c += ('0' - 52 - 'A') & ct_in_range(v, 52, 61);
	c += ('+' - 62 - 'A') & ct_in_range(v, 62, 62);
	c += ('/' - 63 - 'A') & ct_in_range(v, 63, 63);
	return (char)c;
}

/* The 6-bit value of base64 character c, or -1. */
static int b64_value(int c)
{
	int v = -1;

	v += (c - 'A' + 1) & ct_in_range(c, 'A', 'Z');
	v += (c - 'a' + 27) & ct_in_range(c, 'a', 'z');
	v += (c - '0' + 53) & ct_in_range(c, '0', '9');
	v += 63 & ct_in_range(c, '+', '+');
	v += 64 & ct_in_range(c, '/', '/');
	return v;
}

/* 32 bytes into 43 characters, '=' and a NUL. */
static void b64_encode_key(char out[static CMK_B64_CHARS + 1], const uint8_t key[static LM_KEY_BYTES])
{
	size_t o = 0, i = 0;

	for (; i + 3 <= LM_KEY_BYTES; i += 3) {
		uint32_t w = (uint32_t)key[i] << 16 | (uint32_t)key[i + 1] << 8 | key[i + 2];

		out[o++] = b64_char((int)(w >> 18) & 63);
		out[o++] = b64_char((int)(w >> 12) & 63);
		out[o++] = b64_char((int)(w >> 6) & 63);
		out[o++] = b64_char((int)w & 63);
	}
	/* 32 = 3 * 10 + 2: two bytes left, three characters and one '='. */
	uint32_t w = (uint32_t)key[i] << 16 | (uint32_t)key[i + 1] << 8;

	out[o++] = b64_char((int)(w >> 18) & 63);
	out[o++] = b64_char((int)(w >> 12) & 63);
	out[o++] = b64_char((int)(w >> 6) & 63);
	out[o++] = '=';
	out[o] = 0;
}

/* The inverse; refuses any other character, a missing '=' and non-zero
 * padding bits (so each key has exactly one encoding). */
static int b64_decode_key(uint8_t key[static LM_KEY_BYTES], const char in[static CMK_B64_CHARS])
{
	uint32_t acc = 0;
	int bits = 0, bad = 0;
	size_t o = 0;

	for (size_t i = 0; i < CMK_B64_CHARS - 1; i++) {
		int v = b64_value((unsigned char)in[i]);

		bad |= v;	/* negative when any character was invalid */
		acc = acc << 6 | ((uint32_t)v & 63);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			key[o++] = (uint8_t)(acc >> bits);
		}
	}
	/* 43 * 6 = 258 bits: 256 key bits and 2 padding bits that must be 0. */
	bad |= -(int)(acc & 3);
	bad |= -(in[CMK_B64_CHARS - 1] != '=');
	return bad < 0 ? LM_EFORMAT : 0;
}

/* ---- key ids ---- */

int lm_key_id(uint8_t out[static LM_KEY_ID_BYTES], const struct lm_secret *cmk)
{
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned int md_size = 0;
	EVP_MD_CTX *ctx;
	int r;

	if (!cmk || !cmk->data || cmk->size != LM_KEY_BYTES)
		return LM_EINVAL;
	ctx = EVP_MD_CTX_new();
	if (!ctx)
		return lm_log_ossl("EVP_MD_CTX_new");
	if ((r = LM_OSSL(EVP_DigestInit_ex(ctx, EVP_sha256(), NULL))) < 0 ||
	    (r = LM_OSSL(EVP_DigestUpdate(ctx, KEY_ID_CONTEXT, strlen(KEY_ID_CONTEXT)))) < 0 ||
	    (r = LM_OSSL(EVP_DigestUpdate(ctx, cmk->data, cmk->size))) < 0 ||
	    (r = LM_OSSL(EVP_DigestFinal_ex(ctx, md, &md_size))) < 0)
		goto out;
	memcpy(out, md, LM_KEY_ID_BYTES);
out:
	EVP_MD_CTX_free(ctx);
	lm_memzero(md, sizeof(md));
	return r;
}

void lm_key_id_format(char out[static LM_KEY_ID_STR_SIZE], const uint8_t id[static LM_KEY_ID_BYTES])
{
	memcpy(out, "lmk_", 4);
	lm_hex_encode(out + 4, id, LM_KEY_ID_BYTES);
}

static int key_id_str(char out[static LM_KEY_ID_STR_SIZE], const struct lm_secret *cmk)
{
	uint8_t id[LM_KEY_ID_BYTES];
	int r;

	if ((r = lm_key_id(id, cmk)) < 0)
		return r;
	lm_key_id_format(out, id);
	return 0;
}

/* ---- generate, save ---- */

int lm_cmk_generate(struct lm_secret **out)
{
	struct lm_secret *cmk = NULL;
	int r;

	if (!out)
		return LM_EINVAL;
	if ((r = lm_secret_new(LM_KEY_BYTES, &cmk)) < 0 || (r = lm_random(cmk->data, cmk->size)) < 0) {
		lm_secret_free(cmk);
		return r;
	}
	*out = cmk;
	return 0;
}

static bool is_valid_name(const char *name)
{
	size_t n;

	if (!name)
		return false;
	n = strlen(name);
	if (n == 0 || n > LM_KEY_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (name[i] < 0x20 || name[i] > 0x7e)
			return false;
	return true;
}

int lm_cmk_save(const char *path, const struct lm_secret *cmk, const char *name)
{
	char id[LM_KEY_ID_STR_SIZE], created[32], b64[CMK_B64_CHARS + 1];
	char text[512];
	int n, r;

	if (!path || !cmk || !cmk->data || cmk->size != LM_KEY_BYTES)
		return LM_EINVAL;
	if (!is_valid_name(name)) {
		lm_err("a key name holds 1 to %d printable ASCII characters", LM_KEY_NAME_MAX);
		return LM_EINVAL;
	}
	if ((r = key_id_str(id, cmk)) < 0)
		return r;
	lm_time_format(created, sizeof(created), time(NULL));
	b64_encode_key(b64, cmk->data);
	n = snprintf(text, sizeof(text), NAME_PREFIX "%s\n" KEY_ID_PREFIX "%s\n# created: %s\n" CMK_BEGIN "\n%s\n" CMK_END "\n",
		     name, id, created, b64);
	if (n < 0 || (size_t)n >= sizeof(text)) {
		r = LM_EINVAL;
		goto out;
	}
	r = lm_file_write_new(path, text, (size_t)n, 0600);
	if (r == 0)
		lm_info("wrote master key %s to %s", id, path);
out:
	lm_memzero(b64, sizeof(b64));
	lm_memzero(text, sizeof(text));
	return r;
}

/* ---- parse, load ---- */

enum cmk_state { CMK_PREAMBLE, CMK_BODY, CMK_DONE };

static bool line_is(const uint8_t *line, size_t len, const char *s)
{
	return len == strlen(s) && memcmp(line, s, len) == 0;
}

static bool line_starts(const uint8_t *line, size_t len, const char *prefix)
{
	size_t n = strlen(prefix);

	return len >= n && memcmp(line, prefix, n) == 0;
}

/* One "# " comment line of the preamble: remembers the name and the key id
 * (checked against the key once it is decoded); other comments are free
 * text. */
static int parse_comment(const uint8_t *line, size_t len, size_t lineno, char **name,
			 char key_id[static LM_KEY_ID_STR_SIZE])
{
	if (line_starts(line, len, NAME_PREFIX)) {
		size_t n = len - strlen(NAME_PREFIX);

		if (*name || n == 0 || n > LM_KEY_NAME_MAX) {
			lm_err("CMK file, line %zu: a second or malformed name", lineno);
			return LM_EFORMAT;
		}
		*name = strndup((const char *)line + strlen(NAME_PREFIX), n);
		return *name ? 0 : LM_ENOMEM;
	}
	if (line_starts(line, len, KEY_ID_PREFIX)) {
		size_t n = len - strlen(KEY_ID_PREFIX);

		if (key_id[0] || n != LM_KEY_ID_STR_SIZE - 1) {
			lm_err("CMK file, line %zu: a second or malformed key id", lineno);
			return LM_EFORMAT;
		}
		memcpy(key_id, line + strlen(KEY_ID_PREFIX), n);
		key_id[n] = 0;
		return 0;
	}
	if (line_is(line, len, "#") || line_starts(line, len, "# "))
		return 0;
	lm_err("CMK file, line %zu: expected a '# ' comment or " CMK_BEGIN, lineno);
	return LM_EFORMAT;
}

int lm_cmk_parse(const uint8_t *text, size_t size, struct lm_secret **out, char **name_out)
{
	char b64[CMK_B64_CHARS], key_id[LM_KEY_ID_STR_SIZE] = "", have_id[LM_KEY_ID_STR_SIZE];
	enum cmk_state state = CMK_PREAMBLE;
	struct lm_secret *cmk = NULL;
	size_t pos = 0, lineno = 0, b64_len = 0;
	char *name = NULL;
	int r = LM_EFORMAT;

	if ((!text && size) || !out)
		return LM_EINVAL;
	if (size > CMK_TEXT_MAX) {
		lm_err("CMK file: %zu bytes, larger than a key file can be", size);
		return LM_EFORMAT;
	}
	while (pos < size) {
		const uint8_t *line = text + pos, *nl = memchr(line, '\n', size - pos);
		size_t len = nl ? (size_t)(nl - line) : size - pos;

		pos += len + (nl ? 1 : 0);
		lineno++;
		if (len && line[len - 1] == '\r')	/* RFC 7468 allows CRLF */
			len--;
		if (len > CMK_LINE_MAX) {
			lm_err("CMK file, line %zu: longer than %d characters", lineno, CMK_LINE_MAX);
			goto out;
		}
		for (size_t i = 0; i < len; i++) {
			if (line[i] < 0x20 || line[i] > 0x7e) {
				lm_err("CMK file, line %zu: a control or non-ASCII byte", lineno);
				goto out;
			}
		}
		switch (state) {
		case CMK_PREAMBLE:
			if (line_is(line, len, CMK_BEGIN))
				state = CMK_BODY;
			else if ((r = parse_comment(line, len, lineno, &name, key_id)) < 0)
				goto out;
			r = LM_EFORMAT;
			break;
		case CMK_BODY:
			if (line_is(line, len, CMK_END)) {
				state = CMK_DONE;
				break;
			}
			if (len == 0 || len > CMK_B64_LINE_MAX || b64_len + len > CMK_B64_CHARS) {
				/* no text of the line in the message: it may be key */
				lm_err("CMK file, line %zu: the key body is not 32 bytes of base64", lineno);
				goto out;
			}
			memcpy(b64 + b64_len, line, len);
			b64_len += len;
			break;
		case CMK_DONE:
			lm_err("CMK file, line %zu: text after " CMK_END, lineno);
			goto out;
		}
	}
	if (state != CMK_DONE) {
		lm_err("CMK file: no complete " CMK_BEGIN " block");
		goto out;
	}
	if (b64_len != CMK_B64_CHARS) {
		lm_err("CMK file: the key body is not 32 bytes of base64");
		goto out;
	}
	if ((r = lm_secret_new(LM_KEY_BYTES, &cmk)) < 0)
		goto out;
	if ((r = b64_decode_key(cmk->data, b64)) < 0) {
		lm_err("CMK file: the key body is not 32 bytes of base64");
		goto out;
	}
	/* A generated key is never all zero: such a file was zeroed or is a
	 * placeholder, and every key derived from it is known. */
	if (lm_is_zero(cmk->data, LM_KEY_BYTES)) {
		lm_err("CMK file: the key is all zero bytes, not a generated key (zeroed or a placeholder)");
		r = LM_EFORMAT;
		goto out;
	}
	if (key_id[0]) {
		if ((r = key_id_str(have_id, cmk)) < 0)
			goto out;
		if (strcmp(have_id, key_id) != 0) {
			/* A key whose comment names another id was damaged or
			 * pasted together from two files: refuse it. */
			lm_err("CMK file: the key is %s but its comment says %s", have_id, key_id);
			r = LM_EFORMAT;
			goto out;
		}
	}
	if (name_out) {
		*name_out = name;
		name = NULL;
	}
	*out = cmk;
	cmk = NULL;
	r = 0;
out:
	lm_memzero(b64, sizeof(b64));
	lm_secret_free(cmk);
	free(name);
	return r;
}

int lm_cmk_load(const char *path, struct lm_secret **out, char **name_out)
{
	uint8_t *text = NULL;
	size_t size = 0;
	int r;

	if (!path || !out)
		return LM_EINVAL;
	r = lm_file_read_private(path, CMK_TEXT_MAX, &text, &size);
	if (r == LM_ETOOBIG)
		r = LM_EFORMAT;
	if (r < 0)
		return r;
	r = lm_cmk_parse(text, size, out, name_out);
	if (r == LM_EFORMAT)
		lm_err("%s: not a lambda master key file", path);
	lm_free_wiped_size(text, size);
	return r;
}
