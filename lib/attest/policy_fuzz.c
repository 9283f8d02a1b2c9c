/* Fuzz target 'policy': the JSON policy file parser. Whatever it accepts
 * must leave a policy whose pointers refer to the file's own buffers. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lambda/attest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lm_policy_file pf;
	const struct lm_policy *p = &pf.policy;

	lm_policy_file_init(&pf);
	if (lm_policy_load(&pf, (const char *)data, size) == 0) {
		if ((p->expect_measurement && p->expect_measurement != pf.measurement) ||
		    p->expect_measurement_size > sizeof(pf.measurement) || p->expect_nonce_size > sizeof(pf.nonce) ||
		    p->cert_file_count > LM_POLICY_CERTS_MAX || (p->has_max_vmpl && (p->max_vmpl < 0 || p->max_vmpl > 3)))
			abort();
		for (size_t i = 0; i < p->cert_file_count; i++)
			if (!p->cert_files[i] || !*p->cert_files[i])
				abort();
	}
	lm_policy_file_free(&pf);
	return 0;
}
