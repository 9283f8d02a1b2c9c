/* Fuzz target 'tpm_attest': the TPMS_ATTEST, TPMT_SIGNATURE and TPMT_PUBLIC
 * parsers on the same bytes, and backend detection. */
#include <stdint.h>
#include <stdlib.h>

#include "attest/attest_int.h"
#include "attest/tpm_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lm_tpm_quote q;
	struct lm_tpm_signature s;
	struct lm_tpm_public k;
	const struct lm_attest_backend *b = lm_attest_backend_detect(data, size);

	if (lm_tpm_quote_parse(data, size, &q) == 0) {
		/* Whatever parses is detected and within its bounds. */
		if (b != &lm_attest_tpm || q.sel_count > LM_TPM_BANK_MAX || q.extra_size > LM_TPM_DATA_MAX ||
		    q.pcr_digest_size > LM_TPM_DIGEST_MAX)
			abort();
		for (size_t i = 0; i < q.sel_count; i++)
			for (size_t j = 0; j < i; j++)
				if (q.sel[i].hash == q.sel[j].hash)
					abort();
	}
	if (lm_tpm_signature_parse(data, size, &s) == 0 &&
	    (s.sig_size > sizeof(s.sig) || s.r_size > sizeof(s.r) || s.s_size > sizeof(s.s)))
		abort();
	if (lm_tpm_public_parse(data, size, &k) == 0 &&
	    (k.raw < data || k.raw + k.raw_size != data + size || k.modulus_size > sizeof(k.modulus)))
		abort();
	return 0;
}
