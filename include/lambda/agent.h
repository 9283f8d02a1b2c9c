/* The node agent: launches instances (one lambda-guest process each),
 * relays attestation requests and sealed key-release blobs to them without
 * being able to open them, stores their encrypted logs, and reports status
 * changes. Embedded in lambdad by `lambda up`; asynchronous on the caller's
 * libevent base. */
#ifndef LAMBDA_AGENT_H
#define LAMBDA_AGENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lambda/err.h"

struct event_base;
struct lm_agent;

/* A status change of an instance: status is "awaiting_key", "running",
 * "exited" or "failed"; exit_code is valid for exited and failed (-1 when
 * there is none, e.g. the guest failed before the workload started). */
typedef void (*lm_agent_status_fn)(void *ctx, const char *instance_id, const char *status, int exit_code);

struct lm_agent_config {
	const char *state_dir;		/* instances live in state_dir/instances/<id>/ */
	const char *guest_path;		/* the lambda-guest executable */
	const char *backend;		/* evidence backend: "simulated" */
	const char *runtime;		/* "process" */
	lm_agent_status_fn on_status;
	void *ctx;
};

struct lm_launch {
	const char *instance_id;
	const char *type;		/* instance type name */
	const char *image;
	const char *volume_id;
	uint64_t volume_size;
};

LM_MUST_CHECK int lm_agent_new(struct event_base *base, const struct lm_agent_config *cfg, struct lm_agent **out);

/* Stops every guest (SIGTERM, then SIGKILL) and frees the agent. */
void lm_agent_free(struct lm_agent *agent);

/* Starts the guest of a new instance; status becomes awaiting_key once the
 * guest has its ephemeral key. */
LM_MUST_CHECK int lm_agent_launch(struct lm_agent *agent, const struct lm_launch *launch);

/* The reply to a guest request: r is 0 or an LM_E* code, and on success
 * body holds the reply (for attest: the evidence document JSON). body is
 * valid only during the call. */
typedef void (*lm_agent_reply_fn)(void *ctx, int r, const char *body, const char *error_message);

/* Asks the guest of instance_id for fresh evidence bound to nonce. */
LM_MUST_CHECK int lm_agent_attest(struct lm_agent *agent, const char *instance_id, const uint8_t *nonce,
				  size_t nonce_size, lm_agent_reply_fn cb, void *ctx);

/* Relays a sealed key-release blob (JSON {"enc", "ciphertext"}, base64) to
 * the guest; the reply comes once the guest has opened it, unlocked its
 * volume and started the workload, or failed to. */
LM_MUST_CHECK int lm_agent_release(struct lm_agent *agent, const char *instance_id, const char *sealed_json,
				   lm_agent_reply_fn cb, void *ctx);

/* The HPKE info of a key-rotation blob is this prefix + the instance id:
 * distinct from the key release's, so that neither blob opens as the
 * other (docs/formats.md "Key rotation"). */
#define LM_ROTATE_INFO_PREFIX "lambda/v1 key-rotate:"

/* Relays a sealed key-rotation blob (JSON {"enc", "ciphertext"}, base64)
 * to the guest of instance_id, which re-wraps its volume keyslot from the
 * old to the new instance KEK (with reencrypt: also replaces the volume
 * key, which the guest allows only while no workload runs). The reply
 * comes once the guest has finished or failed; its body is the guest's
 * JSON {"new_key_id", "reencrypted"}. Progress reports of a reencryption
 * are logged and each extends the reply deadline. LM_ESTATE while the guest
 * is pending, LM_EBUSY while another rotation runs, LM_ENOENT when the node
 * has no guest for instance_id. */
LM_MUST_CHECK int lm_agent_rotate(struct lm_agent *agent, const char *instance_id, const char *sealed_json,
				  bool reencrypt, lm_agent_reply_fn cb, void *ctx);

/* The last progress report (done of total data bytes; 0 of 0 before the
 * first) of the rotation running on instance_id; LM_ENOENT when none
 * runs. */
LM_MUST_CHECK int lm_agent_rotation_progress(struct lm_agent *agent, const char *instance_id, uint64_t *done,
					     uint64_t *total);

/* Stops the workload and guest of instance_id and removes its files, the
 * volume image too unless keep_volume. */
LM_MUST_CHECK int lm_agent_delete(struct lm_agent *agent, const char *instance_id, bool keep_volume);

/* Stops the workload and guest of instance_id (the stop request, then
 * SIGKILL after 15 s): the guest syncs, unmounts and closes the volume; what
 * a killed guest left mounted is cleared. The instance's files, its volume
 * image and its logs stay. No status report follows: the caller records
 * the instance as stopped. LM_ENOENT when the node has no such instance. */
LM_MUST_CHECK int lm_agent_stop(struct lm_agent *agent, const char *instance_id);

/* Whether the node holds a volume image of instance_id (the guest makes
 * it once its key arrives). */
bool lm_agent_has_volume(struct lm_agent *agent, const char *instance_id);

/* Relaunches the guest of an instance whose volume image exists (after a
 * stop, an exit or a failure); a guest still running is stopped first, as
 * by lm_agent_stop. The guest unlocks the existing volume and never makes
 * a new one; its log records go on from the last seq in logs.enc. Status
 * becomes awaiting_key as at launch. LM_ENOENT when there is no volume. */
LM_MUST_CHECK int lm_agent_start(struct lm_agent *agent, const struct lm_launch *launch);

/* Reads the encrypted log records of instance_id (a new buffer). */
LM_MUST_CHECK int lm_agent_logs(struct lm_agent *agent, const char *instance_id, uint8_t **out, size_t *size);

#endif
