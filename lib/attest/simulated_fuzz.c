/* Fuzz target 'sim_report': the raw simulated report parser and the
 * backend detection that looks at raw files. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "attest/attest_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct lm_attest_backend *b = lm_attest_backend_detect(data, size);
	struct lm_sim_report rep;

	if (lm_sim_report_parse(data, size, &rep) < 0)
		return 0;
	/* Whatever parses must be detected, and hold a terminated id. */
	if (b != &lm_attest_simulated || strnlen(rep.instance_id, sizeof(rep.instance_id)) >= sizeof(rep.instance_id))
		abort();
	return 0;
}
