/* Fuzz target 'dcap_collateral': the TCB Info and QE Identity parsers and
 * the by-content classification of collateral files. The signed body of a
 * parsed document must be a part of the input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "attest/dcap_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lm_dcap_collateral *c = NULL;
	struct lm_qe_identity *q = NULL;
	struct lm_tcb_info *t = NULL;

	if (lm_tcb_info_parse(data, size, &t) == 0) {
		if (!t->body_size || !memmem(data, size, t->body, t->body_size) || !t->level_count)
			abort();
		lm_tcb_info_free(t);
	}
	if (lm_qe_identity_parse(data, size, &q) == 0) {
		if (!q->body_size || !memmem(data, size, q->body, q->body_size) || !q->level_count)
			abort();
		lm_qe_identity_free(q);
	}
	if (lm_dcap_collateral_new(&c) == 0) {
		if (lm_dcap_collateral_add_data(c, data, size, "fuzz") < 0) {
			/* only allocation failures may fail */
		}
		lm_dcap_collateral_free(c);
	}
	return 0;
}
