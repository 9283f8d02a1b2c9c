/* Pieces of cli/cmd_instance.c that other commands share: the CMK and
 * instance-key checks, instance polling and the one attestation path that
 * create, start and `lambda key rotate INST` go through before sealing
 * anything to a guest. */
#ifndef LAMBDA_CLI_INSTANCE_H
#define LAMBDA_CLI_INSTANCE_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "lambda/attest.h"
#include "lambda/crypto.h"
#include "lambda/net.h"
#include "lambda/secret.h"

/* An instance id goes into URL paths: exit status 2 unless [a-z0-9_]. */
int cli_check_id(const char *id);

/* Loads the CMK at path and its key id; prints the problem (chmod hint,
 * not a CMK) and returns the exit status (3 for key problems). */
int cli_load_cmk(const char *path, struct lm_secret **cmk, char key_id[static LM_KEY_ID_STR_SIZE]);

/* Exit status 3, naming the key the instance wants, when key_id is not the
 * instance's recorded key_id; 0 otherwise. */
int cli_check_instance_key(const json_t *inst, const char *id, const char *key_path, const char *key_id);

/* CMK -> region KEK -> instance KEK (DESIGN.md section 4). */
LM_MUST_CHECK int cli_instance_kek(const struct lm_secret *cmk, const char *region, const char *instance_id,
				   struct lm_secret **out);

/* GET /v1/instances/ID. */
LM_MUST_CHECK int cli_get_instance(struct lm_client *c, const char *id, json_t **out);

/* Polls until the status is one of want (NULL-terminated); LM_ESTATE when
 * it reached another final status, LM_EBUSY at the deadline (lm_now_ms). */
LM_MUST_CHECK int cli_wait_status(struct lm_client *c, const char *id, const char *const want[], const char *from,
				  uint64_t deadline_ms, json_t **out);

struct cli_attest_opts {
	const char *type, *image;		/* of the instance: the expected simulated measurement */
	const char *expect_measurement;		/* --expect-measurement, or NULL */
	bool allow_sim;				/* --allow-simulated-insecure */
	const char *what_not;			/* "no key released ...": said when not verified */
};

/* Fresh evidence for a new nonce, verified here; guest_pk is then the
 * attested guest key. Returns the exit status (1 not verified). */
int cli_attest_instance(struct lm_client *c, const struct cli_attest_opts *ao, const char *id,
			uint8_t guest_pk[static LM_X25519_BYTES], struct lm_verdict *v);

#endif
