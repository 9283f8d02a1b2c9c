/* The instance type table (docs/architecture.md, "Instance types"): CPUs
 * become a CFS quota, memory a hard limit with no swap. */
#include <string.h>

#include "lambda/runtime.h"

#define MIB (1ull << 20)

const struct lm_instance_type lm_instance_types[] = {
	{ "compute-1x", 1, 512 * MIB },
	{ "compute-2x", 2, 1024 * MIB },
	{ "compute-4x", 4, 2048 * MIB },
	{ "compute-8x", 8, 4096 * MIB },
	{ NULL, 0, 0 },
};

const struct lm_instance_type *lm_instance_type_find(const char *name)
{
	if (!name)
		return NULL;
	for (const struct lm_instance_type *t = lm_instance_types; t->name; t++)
		if (strcmp(t->name, name) == 0)
			return t;
	return NULL;
}
