/* Strict JSON object checks shared by the API and the document parsers. */
#include <string.h>

#include "lambda/json.h"
#include "lambda/util.h"

int lm_json_only_keys(const json_t *obj, const char *const allowed[], char *bad, size_t bad_size)
{
	const char *key;
	json_t *val;

	if (!json_is_object(obj))
		return LM_EINVAL;
	json_object_foreach((json_t *)obj, key, val) {
		size_t i;

		(void)val;
		for (i = 0; allowed[i]; i++)
			if (strcmp(key, allowed[i]) == 0)
				break;
		if (!allowed[i]) {
			if (bad && bad_size) {
				strncpy(bad, key, bad_size - 1);
				bad[bad_size - 1] = 0;
			}
			return LM_EINVAL;
		}
	}
	return 0;
}

const char *lm_json_str(const json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	return json_is_string(v) ? json_string_value(v) : NULL;
}
