/* The tamper-evident audit log of the control plane (DESIGN.md section 6):
 * each row carries hash = SHA-256 over prev_hash and the row's canonical
 * encoding (docs/formats.md), and a checkpoint of the head, signed with the
 * control plane's Ed25519 key, is replaced on each append, so that an
 * edited, deleted, reordered or truncated log is detected. */
#ifndef LAMBDA_AUDIT_H
#define LAMBDA_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#include "lambda/err.h"
#include "lambda/store.h"

/* Computes ev->hash from ev->prev_hash and the other fields. */
LM_MUST_CHECK int lm_audit_hash(struct lm_audit_event *ev);

/* Appends an event: assigns seq, event_id, timestamp, prev_hash and hash
 * inside one store transaction, then signs and stores the new checkpoint
 * with signing_key_pem (an Ed25519 private key). metadata_json may be NULL
 * ("{}"); it must be a JSON object and is stored compact with sorted
 * keys (at most 511 bytes: LM_ETOOBIG). event_type, actor and action are
 * required, resource may be NULL or "". Refuses with LM_EVERIFY to extend
 * a log whose head is not the one the stored checkpoint signs (a truncated
 * or rewritten log, or a checkpoint made with another key). The new row
 * goes to *out when out is not NULL. */
LM_MUST_CHECK int lm_audit_append(struct lm_store *st, const char *signing_key_pem, const char *event_type,
				  const char *actor, const char *resource, const char *action,
				  const char *metadata_json, struct lm_audit_event *out);

/* Verifies count rows in seq order: seq starts at 1 and has no gaps, each
 * prev_hash equals the previous hash (zero for seq 1), each hash
 * recomputes; then, when cp is not NULL, that the checkpoint names the last
 * row's seq and hash and its signature verifies under public_key_pem.
 * Returns 0 when intact, or LM_EVERIFY with *bad_seq set to the first seq
 * found bad and a reason in why (why_size bytes); bad_seq and why may be
 * NULL. Which seq is reported for each kind of damage is listed in
 * docs/formats.md ("Audit log", Verification). A public key that does not
 * parse is LM_EFORMAT, one that is not Ed25519 LM_EWRONGKEY: unusable
 * input, not a verdict. */
LM_MUST_CHECK int lm_audit_verify(const struct lm_audit_event *rows, size_t count,
				  const struct lm_audit_checkpoint *cp, const char *public_key_pem,
				  uint64_t *bad_seq, char *why, size_t why_size);

/* Verifies the whole log held by st: every row from seq 1 and the stored
 * checkpoint, with lm_audit_verify(). A log that has rows but no checkpoint
 * fails (deleting the checkpoint must not switch the check off). Same
 * results as lm_audit_verify(); store errors are passed up. */
LM_MUST_CHECK int lm_audit_verify_store(struct lm_store *st, const char *public_key_pem, uint64_t *bad_seq,
					char *why, size_t why_size);

/* Makes an Ed25519 key pair as PEM strings (callers free; the private one
 * with lm_free_wiped()). */
LM_MUST_CHECK int lm_audit_key_generate(char **private_pem, char **public_pem);

#endif
