/* Unit tests for the user-space volume cipher (lib/volume/xts.c): IEEE
 * 1619-2007 known answers for XTS-AES-256, our plain64 tweak convention
 * against sectors that the cryptsetup tool encrypted (tests/data/volume),
 * an XTS built here from AES-ECB and GF(2^128) doubling as a second
 * opinion, negative cases (wrong key, flipped bit, bad sizes, equal key
 * halves), and lm_volume_unlock with binary passphrases. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/evp.h>

#include "lambda/log.h"
#include "lambda/secret.h"
#include "lambda/util.h"
#include "lambda/volume.h"
#include "volume/volume_int.h"

#define SECTOR LM_VOLUME_SECTOR_SIZE

/* IEEE 1619-2007 vectors 10 and 11: XTS-AES-256, 512-byte data units. */
static const char g_v_key[] = "2718281828459045235360287471352662497757247093699959574966967627"
			      "3141592653589793238462643383279502884197169399375105820974944592";
static const char g_v10_ct[] =
	"1c3b3a102f770386e4836c99e370cf9bea00803f5e482357a4ae12d414a3e63b5d31e276f8fe4a8d66b317f9ac683f44"
	"680a86ac35adfc3345befecb4bb188fd5776926c49a3095eb108fd1098baec70aaa66999a72a82f27d848b21d4a741b0"
	"c5cd4d5fff9dac89aeba122961d03a757123e9870f8acf1000020887891429ca2a3e7a7d7df7b10355165c8b9a6d0a7d"
	"e8b062c4500dc4cd120c0f7418dae3d0b5781c34803fa75421c790dfe1de1834f280d7667b327f6c8cd7557e12ac3a0f"
	"93ec05c52e0493ef31a12d3d9260f79a289d6a379bc70c50841473d1a8cc81ec583e9645e07b8d9670655ba5bbcfecc6"
	"dc3966380ad8fecb17b6ba02469a020a84e18e8f84252070c13e9f1f289be54fbc481457778f616015e1327a02b140f1"
	"505eb309326d68378f8374595c849d84f4c333ec4423885143cb47bd71c5edae9be69a2ffeceb1bec9de244fbe15992b"
	"11b77c040f12bd8f6a975a44a0f90c29a9abc3d4d893927284c58754cce294529f8614dcd2aba991925fedc4ae74ffac"
	"6e333b93eb4aff0479da9a410e4450e0dd7ae4c6e2910900575da401fc07059f645e8b7e9bfdef33943054ff84011493"
	"c27b3429eaedb4ed5376441a77ed43851ad77f16f541dfd269d50d6a5f14fb0aab1cbb4c1550be97f7ab4066193c4caa"
	"773dad38014bd2092fa755c824bb5e54c4f36ffda9fcea70b9c6e693e148c151";
static const char g_v11_ct[] =
	"77a31251618a15e6b92d1d66dffe7b50b50bad552305ba0217a610688eff7e11e1d0225438e093242d6db274fde801d4"
	"cae06f2092c728b2478559df58e837c2469ee4a4fa794e4bbc7f39bc026e3cb72c33b0888f25b4acf56a2a9804f1ce6d"
	"3d6e1dc6ca181d4b546179d55544aa7760c40d06741539c7e3cd9d2f6650b2013fd0eeb8c2b8e3d8d240ccae2d4c9832"
	"0a7442e1c8d75a42d6e6cfa4c2eca1798d158c7aecdf82490f24bb9b38e108bcda12c3faf9a21141c3613b58367f922a"
	"aa26cd22f23d708dae699ad7cb40a8ad0b6e2784973dcb605684c08b8d6998c69aac049921871ebb65301a4619ca80ec"
	"b485a31d744223ce8ddc2394828d6a80470c092f5ba413c3378fa6054255c6f9df4495862bbb3287681f931b687c888a"
	"bf844dfc8fc28331e579928cd12bd2390ae123cf03818d14dedde5c0c24c8ab018bfca75ca096f2d531f3d1619e785f1"
	"ada437cab92e980558b3dce1474afb75bfedbf8ff54cb2618e0244c9ac0d3c66fb51598cd2db11f9be39791abe447c63"
	"094f7c453b7ff87cb5bb36b7c79efb0872d17058b83b15ab0866ad8a58656c5a7e20dbdf308b2461d97c0ec0024a2715"
	"055249cf3b478ddd4740de654f75ca686e0d7345c69ed50cdc2a8b332b1f8824108ac937eb050585608ee734097fc090"
	"54fbff89eeaeea791f4a7ab1f9868294a4f9e27b42af8100cb9d59cef9645803";

static void log_quiet(enum lm_log_level level, const char *msg, void *ctx)
{
	(void)level;
	(void)msg;
	(void)ctx;
}

static int setup(void **state)
{
	(void)state;
	lm_log_set_handler(log_quiet, NULL);
	return 0;
}

static void unhex(uint8_t *out, size_t size, const char *hex)
{
	assert_int_equal(strlen(hex), 2 * size);
	assert_int_equal(lm_hex_decode(out, size, hex), 0);
}

static void ieee_pt(uint8_t pt[512])
{
	for (int i = 0; i < 512; i++)
		pt[i] = (uint8_t)i;
}

static void check_vector(uint64_t tweak, const char *ct_hex)
{
	uint8_t key[64], pt[512], ct[512], out[512];
	struct lm_xts *x = NULL;

	unhex(key, sizeof(key), g_v_key);
	unhex(ct, sizeof(ct), ct_hex);
	ieee_pt(pt);
	assert_int_equal(lm_xts_new(key, &x), 0);
	assert_int_equal(lm_xts_unit(x, true, tweak, out, pt, sizeof(pt)), 0);
	assert_memory_equal(out, ct, sizeof(ct));
	assert_int_equal(lm_xts_unit(x, false, tweak, out, ct, sizeof(ct)), 0);
	assert_memory_equal(out, pt, sizeof(pt));
	/* One tweak off: another ciphertext. */
	assert_int_equal(lm_xts_unit(x, true, tweak + 1, out, pt, sizeof(pt)), 0);
	assert_memory_not_equal(out, ct, sizeof(ct));
	lm_xts_free(x);
}

static void test_ieee1619_vector10(void **state)
{
	(void)state;
	check_vector(0xff, g_v10_ct);
}

static void test_ieee1619_vector11(void **state)
{
	(void)state;
	check_vector(0xffff, g_v11_ct);
}

/* Reads tests/data/volume/name; skips without LAMBDA_TEST_DATA. */
static int fixture(const char *name, uint8_t *out, size_t size)
{
	const char *dir = getenv("LAMBDA_TEST_DATA");
	char path[512];
	uint8_t *buf = NULL;
	size_t n = 0;

	if (!dir)
		return -1;
	snprintf(path, sizeof(path), "%s/volume/%s", dir, name);
	if (lm_file_read(path, 1u << 20, &buf, &n) < 0)
		return -1;
	assert_int_equal(n, size);
	memcpy(out, buf, size);
	free(buf);
	return 0;
}

static void pattern(uint8_t *out, uint64_t k)
{
	for (size_t i = 0; i < SECTOR; i++)
		out[i] = (uint8_t)(i + k);
}

/* Sectors encrypted by `cryptsetup reencrypt` decrypt with tweak 8k, and
 * our encryption of the plaintext gives cryptsetup's bytes. */
static void test_cryptsetup_sectors(void **state)
{
	static uint8_t ct[SECTOR], pt[SECTOR], out[SECTOR];
	static const uint64_t ks[] = { 5, 300 };
	uint8_t key[64];
	struct lm_xts *x = NULL;

	(void)state;
	if (fixture("cryptsetup_xts.key", key, sizeof(key)) < 0)
		skip();
	assert_int_equal(lm_xts_new(key, &x), 0);
	for (size_t i = 0; i < 2; i++) {
		char name[64];

		snprintf(name, sizeof(name), "cryptsetup_sector%llu.bin", (unsigned long long)ks[i]);
		assert_int_equal(fixture(name, ct, sizeof(ct)), 0);
		pattern(pt, ks[i]);
		assert_int_equal(lm_xts_sectors(x, false, ks[i], out, ct, 1), 0);
		assert_memory_equal(out, pt, SECTOR);
		assert_int_equal(lm_xts_sectors(x, true, ks[i], out, pt, 1), 0);
		assert_memory_equal(out, ct, SECTOR);
		/* The iv_large_sectors convention (tweak k) is not what dm-crypt
		 * does without that option. */
		assert_int_equal(lm_xts_unit(x, false, ks[i], out, ct, SECTOR), 0);
		assert_memory_not_equal(out, pt, SECTOR);
	}
	/* Wrong key: one bit of the data key flipped. */
	key[3] ^= 0x10;
	lm_xts_free(x);
	x = NULL;
	assert_int_equal(lm_xts_new(key, &x), 0);
	assert_int_equal(fixture("cryptsetup_sector5.bin", ct, sizeof(ct)), 0);
	pattern(pt, 5);
	assert_int_equal(lm_xts_sectors(x, false, 5, out, ct, 1), 0);
	assert_memory_not_equal(out, pt, SECTOR);
	lm_memzero(key, sizeof(key));
	lm_xts_free(x);
}

/* multiply by x in GF(2^128), little-endian as XTS defines it */
static void gf_double(uint8_t t[16])
{
	uint8_t carry = 0;

	for (int i = 0; i < 16; i++) {
		uint8_t c = t[i] >> 7;

		t[i] = (uint8_t)(t[i] << 1 | carry);
		carry = c;
	}
	if (carry)
		t[0] ^= 0x87;
}

static void ecb(const uint8_t *key, bool enc, const uint8_t *in, uint8_t *out)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int n = 0;

	assert_non_null(c);
	assert_int_equal(EVP_CipherInit_ex(c, EVP_aes_256_ecb(), NULL, key, NULL, enc), 1);
	EVP_CIPHER_CTX_set_padding(c, 0);
	assert_int_equal(EVP_CipherUpdate(c, out, &n, in, 16), 1);
	EVP_CIPHER_CTX_free(c);
}

/* A second opinion on multi-sector runs: XTS built here from AES-ECB. */
static void test_xts_from_ecb(void **state)
{
	static uint8_t pt[3 * SECTOR], ct[3 * SECTOR];
	uint8_t key[64], t[16], blk[16];
	struct lm_xts *x = NULL;
	const uint64_t first = 1000;

	(void)state;
	for (size_t i = 0; i < sizeof(key); i++)
		key[i] = (uint8_t)(i * 7 + 1);
	for (size_t i = 0; i < sizeof(pt); i++)
		pt[i] = (uint8_t)(i * 13);
	assert_int_equal(lm_xts_new(key, &x), 0);
	assert_int_equal(lm_xts_sectors(x, true, first, ct, pt, 3), 0);
	for (uint64_t s = 0; s < 3; s++) {
		uint8_t iv[16] = { 0 };
		uint64_t n = 8 * (first + s);

		for (int i = 0; i < 8; i++)
			iv[i] = (uint8_t)(n >> (8 * i));
		ecb(key + 32, true, iv, t);
		for (size_t b = 0; b < SECTOR / 16; b++) {
			const uint8_t *p = pt + s * SECTOR + b * 16;

			for (int i = 0; i < 16; i++)
				blk[i] = p[i] ^ t[i];
			ecb(key, true, blk, blk);
			for (int i = 0; i < 16; i++)
				blk[i] ^= t[i];
			assert_memory_equal(blk, ct + s * SECTOR + b * 16, 16);
			gf_double(t);
		}
	}
	lm_xts_free(x);
}

/* XTS confines a flipped ciphertext bit to its 16-byte block. */
static void test_bit_flip(void **state)
{
	static uint8_t pt[SECTOR], ct[SECTOR], out[SECTOR];
	uint8_t key[64];
	struct lm_xts *x = NULL;

	(void)state;
	for (size_t i = 0; i < sizeof(key); i++)
		key[i] = (uint8_t)(255 - i);
	pattern(pt, 9);
	assert_int_equal(lm_xts_new(key, &x), 0);
	assert_int_equal(lm_xts_sectors(x, true, 9, ct, pt, 1), 0);
	ct[100] ^= 1;
	assert_int_equal(lm_xts_sectors(x, false, 9, out, ct, 1), 0);
	assert_memory_equal(out, pt, 96);
	assert_memory_not_equal(out + 96, pt + 96, 16);
	assert_memory_equal(out + 112, pt + 112, SECTOR - 112);
	lm_xts_free(x);
}

static void test_bad_input(void **state)
{
	uint8_t key[64] = { 0 }, buf[64] = { 0 };
	struct lm_xts *x = NULL;

	(void)state;
	/* OpenSSL refuses equal key halves (all zero here). */
	assert_int_equal(lm_xts_new(key, &x), LM_ECRYPTO);
	assert_null(x);
	key[0] = 1;
	assert_int_equal(lm_xts_new(key, &x), 0);
	assert_int_equal(lm_xts_unit(x, true, 0, buf, buf, 0), LM_EINVAL);
	assert_int_equal(lm_xts_unit(x, true, 0, buf, buf, 15), LM_EINVAL);
	assert_int_equal(lm_xts_unit(x, true, 0, buf, buf, 40), LM_EINVAL);
	assert_int_equal(lm_xts_unit(NULL, true, 0, buf, buf, 32), LM_EINVAL);
	assert_int_equal(lm_xts_sectors(x, true, UINT64_MAX / 8, buf, buf, 1), LM_EINVAL);
	assert_int_equal(lm_xts_unit(x, true, 0, buf, buf, 32), 0);
	lm_xts_free(x);
	lm_xts_free(NULL);
}

/* Binary passphrases (with 0x00) unlock; a passphrase cut at its 0x00
 * does not; the key we get decrypts what libcryptsetup's digest accepts. */
static void test_unlock(void **state)
{
	static const uint8_t pass[32] = { 'a', 0x00, 'b', 0x00, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18,
					  19,  20,   21,  22,   23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34 };
	char dir[] = "/var/tmp/lm-test-vview-XXXXXX", path[128];
	struct lm_secret *p = NULL, *cut = NULL, *wrong = NULL, *vk = NULL;
	uint64_t off = 0, size = 0;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/v.img", dir);
	assert_int_equal(lm_secret_dup(pass, sizeof(pass), &p), 0);
	assert_int_equal(lm_secret_dup(pass, 1, &cut), 0);
	assert_int_equal(lm_secret_dup(pass + 1, sizeof(pass) - 1, &wrong), 0);
	assert_int_equal(lm_volume_create(path, LM_VOLUME_MIN_SIZE, p), 0);
	assert_int_equal(lm_volume_unlock(path, cut, &vk), LM_EWRONGKEY);
	assert_null(vk);
	assert_int_equal(lm_volume_unlock(path, wrong, &vk), LM_EWRONGKEY);
	assert_int_equal(lm_volume_unlock(path, p, &vk), 0);
	assert_non_null(vk);
	assert_int_equal(vk->size, LM_VOLUME_KEY_BYTES);
	assert_int_equal(lm_volume_layout(path, &off, &size), 0);
	assert_int_equal(off, LM_VOLUME_DATA_OFFSET);
	assert_int_equal(size, LM_VOLUME_MIN_SIZE - LM_VOLUME_DATA_OFFSET);
	assert_int_equal(lm_volume_unlock(path, NULL, &vk), LM_EINVAL);
	assert_int_equal(lm_volume_unlock("/nonexistent/v.img", p, &vk), LM_ENOENT);
	lm_secret_free(vk);
	lm_secret_free(p);
	lm_secret_free(cut);
	lm_secret_free(wrong);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ieee1619_vector10),
		cmocka_unit_test(test_ieee1619_vector11),
		cmocka_unit_test(test_cryptsetup_sectors),
		cmocka_unit_test(test_xts_from_ecb),
		cmocka_unit_test(test_bit_flip),
		cmocka_unit_test(test_bad_input),
		cmocka_unit_test(test_unlock),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
