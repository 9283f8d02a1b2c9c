/* The log handler and the OpenSSL error-queue bridge. */
#include <stdarg.h>
#include <stdio.h>

#include <openssl/err.h>

#include "lambda/log.h"

static lm_log_fn g_log_fn;
static void *g_log_ctx;

void lm_log_set_handler(lm_log_fn fn, void *ctx)
{
	g_log_fn = fn;
	g_log_ctx = ctx;
}

void lm_log(enum lm_log_level level, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	if (!g_log_fn)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	g_log_fn(level, msg, g_log_ctx);
}

int lm_log_ossl(const char *what)
{
	unsigned long e;
	char buf[256];

	while ((e = ERR_get_error()) != 0) {
		ERR_error_string_n(e, buf, sizeof(buf));
		lm_err("%s: %s", what, buf);
	}
	return LM_ECRYPTO;
}
