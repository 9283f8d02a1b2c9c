/* Fuzz target 'evidence_doc': lm_evidence_parse() on arbitrary bytes. A
 * document that parses must serialise and parse again to the same fields,
 * and verifying it must not crash whatever the verdict. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "attest/attest_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lm_policy policy = { .allow_simulated_insecure = true };
	struct lm_evidence *ev = NULL, *again = NULL;
	struct lm_verdict verdict;
	char *json = NULL;

	if (lm_evidence_parse(data, size, &ev) < 0)
		return 0;
	if (lm_evidence_to_json(ev, &json) < 0 || lm_evidence_parse((const uint8_t *)json, strlen(json), &again) < 0)
		abort();
	if (strcmp(ev->instance_id, again->instance_id) != 0 || ev->platform != again->platform ||
	    strcmp(ev->measurement, again->measurement) != 0 || ev->nonce_size != again->nonce_size ||
	    memcmp(ev->nonce, again->nonce, ev->nonce_size) != 0 ||
	    memcmp(ev->report_data, again->report_data, LM_REPORT_DATA_BYTES) != 0 ||
	    ev->evidence_size != again->evidence_size ||
	    memcmp(ev->evidence, again->evidence, ev->evidence_size) != 0 ||
	    ev->certificate_count != again->certificate_count)
		abort();
	(void)lm_evidence_info(ev, "guest_public_key");
	(void)!lm_verify_evidence(ev, &policy, &verdict);
	free(json);
	lm_evidence_free(again);
	lm_evidence_free(ev);
	return 0;
}
