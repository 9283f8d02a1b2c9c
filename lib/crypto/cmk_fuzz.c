/* Fuzz target for the CMK file parser (registered as 'cmk_pem'): any input
 * must be parsed or refused without a crash, leak or undefined behaviour,
 * and whatever parses must be a 32-byte key with a key id. */
#include <stdint.h>
#include <stdlib.h>

#include "lambda/crypto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lm_secret *cmk = NULL;
	char *name = NULL;

	if (lm_cmk_parse(data, size, &cmk, &name) == 0) {
		uint8_t id[LM_KEY_ID_BYTES];

		if (cmk->size != LM_KEY_BYTES || lm_key_id(id, cmk) != 0)
			abort();
	}
	lm_secret_free(cmk);
	free(name);
	return 0;
}
