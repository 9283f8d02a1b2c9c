/* Fuzz target for the LUKS2 header parser: any bytes, with and without the
 * checksum check (without it the fuzzer reaches the JSON checks). The strict
 * mode may accept what the relaxed one refuses (a copy with a bad checksum
 * is skipped by the strict mode), so each runs on its own. */
#include <stddef.h>
#include <stdint.h>

#include "volume/volume_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int r;

	r = lm_luks2_header_check(data, size, 0);
	r = lm_luks2_header_check(data, size, LM_LUKS2_PARSE_NO_CSUM);
	(void)r;
	return 0;
}
