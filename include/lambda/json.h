/* JSON helpers on jansson for strict parsing of API bodies and documents. */
#ifndef LAMBDA_JSON_H
#define LAMBDA_JSON_H

#include <jansson.h>
#include <stddef.h>

#include "lambda/err.h"

/* Checks that every key of object obj is in the NULL-terminated list
 * allowed. On failure returns LM_EINVAL and names the first unknown key in
 * bad (bad_size bytes). */
LM_MUST_CHECK int lm_json_only_keys(const json_t *obj, const char *const allowed[], char *bad, size_t bad_size);

/* Returns the string member key of obj, or NULL when missing or not a string. */
const char *lm_json_str(const json_t *obj, const char *key);

#endif
