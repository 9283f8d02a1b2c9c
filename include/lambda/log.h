/* Logging for liblambda. The library never prints: it hands each message to
 * the handler that the program installed (none by default, so a library user
 * that sets nothing sees nothing). Messages must never contain secrets. */
#ifndef LAMBDA_LOG_H
#define LAMBDA_LOG_H

#include "lambda/err.h"

enum lm_log_level { LM_LOG_ERR, LM_LOG_WARN, LM_LOG_INFO, LM_LOG_DEBUG };

typedef void (*lm_log_fn)(enum lm_log_level level, const char *msg, void *ctx);

/* Installs fn (NULL to drop messages); ctx is passed back unchanged. */
void lm_log_set_handler(lm_log_fn fn, void *ctx);

void lm_log(enum lm_log_level level, const char *fmt, ...) LM_PRINTF(2, 3);

/* Logs the OpenSSL error queue at LM_LOG_ERR under the label what, clears
 * the queue and returns LM_ECRYPTO. */
int lm_log_ossl(const char *what);

#define lm_err(...) lm_log(LM_LOG_ERR, __VA_ARGS__)
#define lm_warn(...) lm_log(LM_LOG_WARN, __VA_ARGS__)
#define lm_info(...) lm_log(LM_LOG_INFO, __VA_ARGS__)
#define lm_debug(...) lm_log(LM_LOG_DEBUG, __VA_ARGS__)

/* Wraps one OpenSSL call that returns 1 on success: evaluates to 0 or to
 * LM_ECRYPTO after logging the error queue. */
#define LM_OSSL(call) ((call) == 1 ? 0 : lm_log_ossl(#call))

#endif
