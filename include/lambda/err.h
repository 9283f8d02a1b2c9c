/* Error codes shared by every module of liblambda.
 *
 * Functions return 0 on success or a negative LM_E* code. Programs translate
 * a code at their edge: lm_exit_code() in the CLI, lm_http_status() in the
 * daemon. */
#ifndef LAMBDA_ERR_H
#define LAMBDA_ERR_H

#define LM_MUST_CHECK __attribute__((warn_unused_result))
#define LM_PRINTF(f, a) __attribute__((format(printf, f, a)))

enum lm_err {
	LM_OK = 0,
	LM_EINVAL = -1,		/* bad argument or request */
	LM_ENOMEM = -2,		/* allocation failed */
	LM_EIO = -3,		/* read, write or system call failed */
	LM_ECRYPTO = -4,	/* the crypto library failed */
	LM_EFORMAT = -5,	/* malformed, truncated or unsupported input */
	LM_EKEYPERM = -6,	/* key file readable by group or others */
	LM_EWRONGKEY = -7,	/* key does not match the data */
	LM_EAUTH = -8,		/* authentication tag or signature did not verify */
	LM_EVERIFY = -9,	/* evidence did not satisfy a check */
	LM_EEXIST = -10,	/* refusing to overwrite */
	LM_ENOENT = -11,	/* no such file or resource */
	LM_EBUSY = -12,		/* resource in use */
	LM_EUNAVAIL = -13,	/* service not reachable */
	LM_EDENIED = -14,	/* missing, invalid or foreign credentials */
	LM_ESTATE = -15,	/* resource is not in a state that allows this */
	LM_ENOTSUP = -16,	/* feature missing on this host */
	LM_ETOOBIG = -17,	/* input exceeds a limit */
};

/* Returns a static description of code r; never NULL. */
const char *lm_strerror(int r);

/* CLI exit statuses (documented in docs/cli.md). */
enum lm_exit {
	LM_EXIT_OK = 0,
	LM_EXIT_FAIL = 1,	/* not verified, or the operation failed */
	LM_EXIT_USAGE = 2,	/* bad arguments or unusable input */
	LM_EXIT_KEY = 3,	/* key file unusable or not the right key */
	LM_EXIT_UNAVAIL = 4,	/* platform not reachable or busy */
	LM_EXIT_NOTFOUND = 5,	/* no such resource */
	LM_EXIT_DENIED = 6,	/* credentials refused */
};

/* Maps an LM_E* code to the CLI exit status for it. */
int lm_exit_code(int r);

#endif
