/* Fuzz target 'snp_report': the SEV-SNP report parser, the detection of raw
 * files and the TCB_VERSION decoding of what parses. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "attest/attest_int.h"
#include "attest/snp_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct lm_attest_backend *b = lm_attest_backend_detect(data, size);
	struct lm_snp_report rep;
	struct lm_snp_tcb tcb;

	if (lm_snp_report_parse(data, size, &rep) < 0) {
		if (b == &lm_attest_snp)
			abort();	/* detected but unparsable */
		return 0;
	}
	/* Whatever parses is detected as SNP, with fields in their ranges. */
	if (b != &lm_attest_snp || rep.vmpl > 3 || (rep.version != 2 && rep.version != 3 && rep.version != 5) ||
	    rep.has_cpuid != (rep.version >= 3) || rep.has_mit_vector != (rep.version >= 5) ||
	    memcmp(rep.measurement, data + LM_SNP_OFF_MEASUREMENT, sizeof(rep.measurement)) != 0)
		abort();
	/* Decoding then encoding keeps every SPL. */
	for (int p = LM_SNP_PRODUCT_MILAN; p <= LM_SNP_PRODUCT_TURIN; p++) {
		struct lm_snp_tcb again;

		lm_snp_tcb_decode(rep.reported_tcb, (enum lm_snp_product)p, &tcb);
		lm_snp_tcb_decode(lm_snp_tcb_encode(&tcb, (enum lm_snp_product)p), (enum lm_snp_product)p, &again);
		if (memcmp(&tcb, &again, sizeof(tcb)) != 0)
			abort();
	}
	(void)lm_snp_product_from_cpuid(rep.cpuid_fam_id, rep.cpuid_mod_id);
	return 0;
}
