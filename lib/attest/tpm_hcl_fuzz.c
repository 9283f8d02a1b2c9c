/* Fuzz target 'tpm_hcl': the Azure HCL report parser and the HCLAkPub JWK
 * reader of its runtime claims. */
#include <stdint.h>
#include <stdlib.h>

#include "attest/tpm_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lm_tpm_hcl hcl;
	EVP_PKEY *ak = NULL;
	uint8_t rd[64] = { 0 };

	if (lm_tpm_hcl_parse(data, size, &hcl) < 0)
		return 0;
	if (hcl.claims < data || hcl.claims + hcl.claims_size > data + size ||
	    hcl.snp_report + hcl.snp_report_size > data + size)
		abort();
	if (lm_tpm_hcl_bound(&hcl, rd) < 0)
		abort();
	if (lm_tpm_hcl_ak(&hcl, &ak) == 0)
		EVP_PKEY_free(ak);
	return 0;
}
