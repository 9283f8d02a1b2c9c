/* The table of instance runtimes, one file each behind struct
 * lm_runtime_ops (the `vm` runtime will join it). */
#include <string.h>

#include "lambda/runtime.h"
#include "sandbox/sandbox_int.h"

static const struct lm_runtime_ops *const g_runtimes[] = {
	&lm_runtime_process,
	NULL,
};

const struct lm_runtime_ops *lm_runtime_find(const char *name)
{
	if (!name)
		return NULL;
	for (size_t i = 0; g_runtimes[i]; i++)
		if (strcmp(g_runtimes[i]->name, name) == 0)
			return g_runtimes[i];
	return NULL;
}
