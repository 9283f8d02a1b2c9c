/* Fuzz target 'fileenc_header': the header checks of an encrypted file and,
 * for a header that passes them, the key unwrap under a fixed test file KEK
 * (both with the key id the header names, reaching the tag check, and with
 * another one, reaching the wrong-key path). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lambda/fileenc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t other_id[LM_KEY_ID_BYTES] = { 0xff, 0, 0xff, 0, 0xff, 0, 0xff, 0 };
	struct lm_fileenc_header h;
	struct lm_secret *kek = NULL, *key = NULL;
	uint8_t kek_bytes[LM_KEY_BYTES];

	if (lm_fileenc_header_parse(&h, data, size) < 0 || size < LM_FILEENC_HEADER_BYTES)
		return 0;
	if (h.segment_size < LM_FILEENC_SEGMENT_MIN || h.segment_size > LM_FILEENC_SEGMENT_MAX)
		abort();
	for (size_t i = 0; i < sizeof(kek_bytes); i++)
		kek_bytes[i] = (uint8_t)i;	/* the fixed test key of both fuzz targets */
	if (lm_secret_dup(kek_bytes, sizeof(kek_bytes), &kek) < 0)
		return 0;
	if (lm_fileenc_header_open(data, kek, h.key_id, &key) == 0 && key->size != LM_KEY_BYTES)
		abort();
	lm_secret_free(key);
	key = NULL;
	if (memcmp(h.key_id, other_id, sizeof(other_id)) != 0 &&
	    lm_fileenc_header_open(data, kek, other_id, &key) != LM_EWRONGKEY)
		abort();
	lm_secret_free(key);
	lm_secret_free(kek);
	return 0;
}
