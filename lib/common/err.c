/* Error strings and the translation of error codes into exit statuses. */
#include "lambda/err.h"

const char *lm_strerror(int r)
{
	switch (r) {
	case LM_OK: return "success";
	case LM_EINVAL: return "invalid argument";
	case LM_ENOMEM: return "out of memory";
	case LM_EIO: return "input/output error";
	case LM_ECRYPTO: return "cryptographic library error";
	case LM_EFORMAT: return "malformed or unsupported input";
	case LM_EKEYPERM: return "key file is readable by group or others";
	case LM_EWRONGKEY: return "wrong key";
	case LM_EAUTH: return "authentication failed";
	case LM_EVERIFY: return "verification failed";
	case LM_EEXIST: return "already exists";
	case LM_ENOENT: return "not found";
	case LM_EBUSY: return "in use";
	case LM_EUNAVAIL: return "service unavailable";
	case LM_EDENIED: return "permission denied";
	case LM_ESTATE: return "not allowed in the current state";
	case LM_ENOTSUP: return "not supported on this host";
	case LM_ETOOBIG: return "too large";
	}
	return "unknown error";
}

int lm_exit_code(int r)
{
	switch (r) {
	case LM_OK:
		return LM_EXIT_OK;
	case LM_EINVAL:
	case LM_EFORMAT:
	case LM_ETOOBIG:
	case LM_EEXIST:
		return LM_EXIT_USAGE;
	case LM_EKEYPERM:
	case LM_EWRONGKEY:
		return LM_EXIT_KEY;
	case LM_EUNAVAIL:
	case LM_EBUSY:
		return LM_EXIT_UNAVAIL;
	case LM_ENOENT:
		return LM_EXIT_NOTFOUND;
	case LM_EDENIED:
		return LM_EXIT_DENIED;
	default:
		return LM_EXIT_FAIL;
	}
}
