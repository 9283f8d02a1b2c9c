/* Fuzz target 'dcap_quote': the DCAP quote parser and the TDX/SGX backend
 * detection. Whatever parses must point inside the input and be detected. */
#include <stdint.h>
#include <stdlib.h>

#include "attest/attest_int.h"
#include "attest/dcap_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void inside(const uint8_t *data, size_t size, const uint8_t *p, size_t n)
{
	if (n && (p < data || p > data + size || n > (size_t)(data + size - p)))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct lm_attest_backend *b = lm_attest_backend_detect(data, size);
	struct lm_dcap_quote q;

	if (lm_dcap_quote_parse(data, size, &q) < 0) {
		if (b == &lm_attest_tdx || b == &lm_attest_sgx)
			abort();
		return 0;
	}
	inside(data, size, q.signed_data, q.signed_size);
	inside(data, size, q.qe_report_raw, 384);
	inside(data, size, q.qe_auth_data, q.qe_auth_size);
	inside(data, size, q.cert_data, q.cert_size);
	if (b != (q.tee_type == LM_DCAP_TEE_TDX ? &lm_attest_tdx : &lm_attest_sgx))
		abort();
	return 0;
}
