/* Fuzz target 'tpm_eventlog': the crypto-agile event log parser and its
 * replay. */
#include <stdint.h>
#include <stdlib.h>

#include "attest/tpm_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lm_tpm_eventlog_info info;
	struct lm_tpm_pcrs *pcrs = malloc(sizeof(*pcrs));

	if (!pcrs)
		return 0;
	if (lm_tpm_eventlog_replay(data, size, NULL, 0, pcrs, &info) == 0) {
		if (pcrs->bank_count > LM_TPM_BANK_MAX || info.event_count > LM_TPM_EVENTS_MAX)
			abort();
		for (size_t i = 0; i < pcrs->bank_count; i++)
			if ((pcrs->bank[i].present & ~info.touched) != 0)
				abort();
	}
	free(pcrs);
	return 0;
}
