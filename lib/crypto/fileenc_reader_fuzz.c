/* Fuzz target 'fileenc_reader': a whole encrypted file through the reader
 * under a fixed test file KEK (bytes 0..31, key id 01..08), fed once in one
 * piece and once in 13-byte pieces: both must give the same result and the
 * same plaintext, whatever the split. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "lambda/fileenc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int digest_out(void *ctx, const uint8_t *buf, size_t size)
{
	return EVP_DigestUpdate(ctx, buf, size) == 1 ? 0 : LM_ECRYPTO;
}

static int run(const struct lm_secret *kek, const uint8_t *data, size_t size, size_t piece, uint8_t md[32])
{
	static const uint8_t id[LM_KEY_ID_BYTES] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	struct lm_fileenc_reader *rd = NULL;
	EVP_MD_CTX *h = EVP_MD_CTX_new();
	int r;

	if (!h || EVP_DigestInit_ex(h, EVP_sha256(), NULL) != 1)
		abort();
	if ((r = lm_fileenc_reader_new(&rd, kek, id, digest_out, h)) < 0)
		abort();
	for (size_t off = 0; off < size && r == 0; off += piece)
		r = lm_fileenc_reader_feed(rd, data + off, size - off < piece ? size - off : piece);
	if (r == 0)
		r = lm_fileenc_reader_finish(rd);
	/* Once failed, the reader stays failed with the same code. */
	if (r < 0 && (lm_fileenc_reader_feed(rd, "x", 1) != r || lm_fileenc_reader_finish(rd) != r))
		abort();
	if (EVP_DigestFinal_ex(h, md, NULL) != 1)
		abort();
	lm_fileenc_reader_free(rd);
	EVP_MD_CTX_free(h);
	return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lm_secret *kek = NULL;
	uint8_t kek_bytes[LM_KEY_BYTES], md1[32], md2[32];
	int r1, r2;

	for (size_t i = 0; i < sizeof(kek_bytes); i++)
		kek_bytes[i] = (uint8_t)i;
	if (lm_secret_dup(kek_bytes, sizeof(kek_bytes), &kek) < 0)
		return 0;
	r1 = run(kek, data, size, size ? size : 1, md1);
	r2 = run(kek, data, size, 13, md2);
	if (r1 != r2 || (r1 == 0 && memcmp(md1, md2, sizeof(md1)) != 0))
		abort();
	lm_secret_free(kek);
	return 0;
}
