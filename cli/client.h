/* The CLI's connection to a platform: the configuration that `lambda up`
 * writes (endpoint, CA, token) and JSON requests with error translation. */
#ifndef LAMBDA_CLI_CLIENT_H
#define LAMBDA_CLI_CLIENT_H

#include <jansson.h>
#include <stdbool.h>

#include "lambda/err.h"
#include "lambda/net.h"

/* Set by the global option --config FILE (otherwise $LAMBDA_CONFIG, then
 * $XDG_CONFIG_HOME/lambda/config.json, then ~/.config/lambda/config.json). */
extern const char *g_cli_config_path;

/* Connects with the configuration; prints a clear message (e.g. "no
 * platform configured: run 'lambda up'") and returns an LM_E* code. */
LM_MUST_CHECK int cli_connect(struct lm_client **out);

/* Sends method path with body (may be NULL; not consumed) and parses the
 * JSON reply into *resp (may be NULL to discard). A non-2xx status prints
 * the server's error message and maps to an LM_E* code: 400 LM_EINVAL,
 * 401/403 LM_EDENIED, 404 LM_ENOENT, 409 LM_ESTATE, 413 LM_ETOOBIG, 422
 * LM_EWRONGKEY, 503
 * LM_EUNAVAIL, other 5xx LM_EIO; an unreachable platform prints "platform not reachable at ...:
 * is it running? (lambda up)" and is LM_EUNAVAIL. */
LM_MUST_CHECK int cli_api(struct lm_client *c, const char *method, const char *path, json_t *body, json_t **resp);

/* As cli_api() for a binary body (GET .../logs). */
LM_MUST_CHECK int cli_api_raw(struct lm_client *c, const char *path, char **out, size_t *size);

/* ---- the configuration file (cli/config.c) ----
 * {"endpoint": "https://127.0.0.1:7443", "ca_file": "...", "token": "lmt_...",
 *  "data_dir": "...", "allow_simulated_insecure": true,
 *  "audit_public_key": "-----BEGIN PUBLIC KEY-----..."}, mode 0600 (it
 * holds the token). */
struct cli_config {
	char *endpoint, *ca_file, *token, *data_dir;	/* token is wiped on clear */
	/* Written by `lambda up`: the platform runs on this machine with the
	 * simulated evidence backend, so `lambda create` accepts simulated
	 * evidence from it (with a warning) without --allow-simulated-insecure. */
	bool allow_simulated_insecure;
	/* The control plane's audit checkpoint key (PEM) that `lambda audit
	 * verify` accepts: written by `lambda up` from DATA_DIR/audit.pub, or
	 * pinned on the first verify (trust on first use). NULL: none yet. */
	char *audit_public_key;
};

/* The configuration path in use (--config, $LAMBDA_CONFIG, XDG, ~) into out. */
LM_MUST_CHECK int cli_config_path(char *out, size_t out_size);

/* Reads the configuration; LM_ENOENT when there is none, LM_EKEYPERM when
 * group or others can read it, LM_EFORMAT when it is malformed. */
LM_MUST_CHECK int cli_config_load(struct cli_config *cfg);

/* Writes cfg (mode 0600, parent directories 0700) to the configuration
 * path, which is copied into path_out. */
LM_MUST_CHECK int cli_config_save(const struct cli_config *cfg, char *path_out, size_t path_size);

void cli_config_clear(struct cli_config *cfg);

/* True when the host of endpoint ("https://HOST:PORT/...") is a loopback
 * address: 127.0.0.0/8, ::1 or localhost. allow_simulated_insecure of a
 * configuration is honoured only then: a copy of the local configuration
 * pointed elsewhere must not accept simulated evidence. */
bool cli_endpoint_is_loopback(const char *endpoint);

#endif
