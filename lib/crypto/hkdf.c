/* HKDF-SHA256 (RFC 5869) through OpenSSL's EVP_KDF "HKDF", and the key
 * hierarchy of DESIGN.md section 4 built on it: every derived key is
 * HKDF-SHA256(salt "lambda/v1", IKM = parent key, info = label, L = 32). */
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include "crypto_int.h"
#include "lambda/crypto.h"
#include "lambda/log.h"

#define HKDF_MAX_OUT (255 * LM_SHA256_BYTES)
#define KEY_LABEL_MAX 128	/* longest region, instance or volume id */

/* One EVP_KDF run in the given HKDF mode; key is the IKM (or the PRK in
 * expand-only mode). Empty salt and info are left out, which OpenSSL and
 * RFC 5869 both read as "none" (a zero salt, an empty info). */
static int hkdf_run(int mode, uint8_t *out, size_t out_size, const uint8_t *salt, size_t salt_size,
		    const uint8_t *key, size_t key_size, const uint8_t *info, size_t info_size)
{
	OSSL_PARAM params[6], *p = params;
	EVP_KDF_CTX *ctx = NULL;
	EVP_KDF *kdf = NULL;
	int r;

	if (!out || out_size == 0 || !key || key_size == 0 || (salt_size && !salt) || (info_size && !info))
		return LM_EINVAL;
	*p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0);
	*p++ = OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode);
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)key, key_size);
	if (salt_size)
		*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, salt_size);
	if (info_size)
		*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, info_size);
	*p = OSSL_PARAM_construct_end();

	kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	if (!kdf) {
		r = lm_log_ossl("EVP_KDF_fetch(HKDF)");
		goto out;
	}
	ctx = EVP_KDF_CTX_new(kdf);
	if (!ctx) {
		r = lm_log_ossl("EVP_KDF_CTX_new");
		goto out;
	}
	if (EVP_KDF_derive(ctx, out, out_size, params) != 1) {
		r = lm_log_ossl("EVP_KDF_derive(HKDF)");
		goto out;
	}
	r = 0;
out:
	EVP_KDF_CTX_free(ctx);	/* clears the key copies it holds */
	EVP_KDF_free(kdf);
	return r;
}

int lm_hkdf_sha256(uint8_t *out, size_t out_size, const uint8_t *salt, size_t salt_size, const uint8_t *ikm,
		   size_t ikm_size, const uint8_t *info, size_t info_size)
{
	if (out_size > HKDF_MAX_OUT)
		return LM_EINVAL;
	return hkdf_run(EVP_KDF_HKDF_MODE_EXTRACT_AND_EXPAND, out, out_size, salt, salt_size, ikm, ikm_size, info,
			info_size);
}

int lm_hkdf_extract(uint8_t prk[static LM_SHA256_BYTES], const uint8_t *salt, size_t salt_size, const uint8_t *ikm,
		    size_t ikm_size)
{
	return hkdf_run(EVP_KDF_HKDF_MODE_EXTRACT_ONLY, prk, LM_SHA256_BYTES, salt, salt_size, ikm, ikm_size, NULL,
			0);
}

int lm_hkdf_expand(uint8_t *out, size_t out_size, const uint8_t prk[static LM_SHA256_BYTES], const uint8_t *info,
		   size_t info_size)
{
	if (out_size > HKDF_MAX_OUT)
		return LM_EINVAL;
	return hkdf_run(EVP_KDF_HKDF_MODE_EXPAND_ONLY, out, out_size, NULL, 0, prk, LM_SHA256_BYTES, info,
			info_size);
}

int lm_key_derive(struct lm_secret **out, const struct lm_secret *ikm, const char *prefix, const char *suffix)
{
	size_t prefix_size, suffix_size;
	struct lm_secret *key = NULL;
	uint8_t info[256];
	int r;

	if (!out || !ikm || !ikm->data || ikm->size == 0 || !prefix)
		return LM_EINVAL;
	prefix_size = strlen(prefix);
	suffix_size = suffix ? strlen(suffix) : 0;
	if (prefix_size + suffix_size > sizeof(info) || prefix_size + suffix_size == 0)
		return LM_EINVAL;
	memcpy(info, prefix, prefix_size);
	if (suffix_size)
		memcpy(info + prefix_size, suffix, suffix_size);

	if ((r = lm_secret_new(LM_KEY_BYTES, &key)) < 0 ||
	    (r = lm_hkdf_sha256(key->data, key->size, (const uint8_t *)LM_HKDF_SALT, strlen(LM_HKDF_SALT),
				ikm->data, ikm->size, info, prefix_size + suffix_size)) < 0)
		goto out;
	*out = key;
	key = NULL;
out:
	lm_secret_free(key);
	return r;
}

/* Region, instance and volume ids become part of an HKDF info string, so
 * they must be unambiguous text: 1..128 printable ASCII characters without
 * spaces. */
static int check_label(const char *what, const char *s)
{
	size_t n;

	if (!s)
		return LM_EINVAL;
	n = strlen(s);
	if (n == 0 || n > KEY_LABEL_MAX) {
		lm_err("%s must hold 1 to %d characters", what, KEY_LABEL_MAX);
		return LM_EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		if (s[i] <= 0x20 || s[i] >= 0x7f) {
			lm_err("%s must be printable ASCII without spaces", what);
			return LM_EINVAL;
		}
	}
	return 0;
}

static int check_key(const struct lm_secret *k)
{
	return k && k->data && k->size == LM_KEY_BYTES ? 0 : LM_EINVAL;
}

int lm_key_region_kek(struct lm_secret **out, const struct lm_secret *cmk, const char *region)
{
	int r;

	if ((r = check_key(cmk)) < 0 || (r = check_label("region", region)) < 0)
		return r;
	return lm_key_derive(out, cmk, "region-kek:", region);
}

int lm_key_instance_kek(struct lm_secret **out, const struct lm_secret *region_kek, const char *instance_id)
{
	int r;

	if ((r = check_key(region_kek)) < 0 || (r = check_label("instance id", instance_id)) < 0)
		return r;
	return lm_key_derive(out, region_kek, "instance-kek:", instance_id);
}

int lm_key_volume_slot(struct lm_secret **out, const struct lm_secret *instance_kek, const char *volume_id)
{
	int r;

	if ((r = check_key(instance_kek)) < 0 || (r = check_label("volume id", volume_id)) < 0)
		return r;
	return lm_key_derive(out, instance_kek, "volume-slot:", volume_id);
}

int lm_key_file_kek(struct lm_secret **out, const struct lm_secret *cmk)
{
	int r;

	if ((r = check_key(cmk)) < 0)
		return r;
	return lm_key_derive(out, cmk, "file-kek", NULL);
}

int lm_key_instance_logs(struct lm_secret **out, const struct lm_secret *instance_kek)
{
	int r;

	if ((r = check_key(instance_kek)) < 0)
		return r;
	return lm_key_derive(out, instance_kek, "instance-logs", NULL);
}
