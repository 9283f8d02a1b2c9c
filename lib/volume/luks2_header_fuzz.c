/* Fuzz target for the LUKS2 header parser: any bytes, with and without the
 * checksum check (without it the fuzzer reaches the JSON checks). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "volume/volume_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t hs;
	int r;

	/* A header the strict check accepts must also pass the relaxed one. */
	if (lm_luks2_hdr_size(data, size, &hs) == 0 && lm_luks2_header_check(data, size, 0) == 0) {
		r = lm_luks2_header_check(data, size, LM_LUKS2_PARSE_NO_CSUM);
		if (r != 0)
			abort();
		return 0;
	}
	r = lm_luks2_header_check(data, size, LM_LUKS2_PARSE_NO_CSUM);
	(void)r;
	return 0;
}
