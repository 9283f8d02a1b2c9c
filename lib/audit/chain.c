/* The audit hash chain and its signed checkpoint (docs/formats.md, "Audit
 * log"): hashing a row, appending a row atomically with a new checkpoint,
 * verifying a list of rows against a checkpoint, and making the control
 * plane's Ed25519 key pair. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "lambda/audit.h"
#include "lambda/log.h"
#include "lambda/secret.h"
#include "lambda/util.h"

/* Domain labels, ASCII without terminator, so that a row hash can never be
 * taken for a checkpoint message or anything else the project signs. */
static const char k_row_label[] = "lambda/v1 audit";
static const char k_checkpoint_label[] = "lambda/v1 audit-checkpoint";

#define SIG_BYTES 64
#define CHECKPOINT_MSG_BYTES (sizeof(k_checkpoint_label) - 1 + 8 + LM_HASH_BYTES)

static void put_be(uint8_t *out, uint64_t v, size_t size)
{
	for (size_t i = 0; i < size; i++)
		out[i] = (uint8_t)(v >> (8 * (size - 1 - i)));
}

int lm_audit_hash(struct lm_audit_event *ev)
{
	const struct {
		const char *p;
		size_t size;
	} fields[] = {
		{ ev->event_id, sizeof(ev->event_id) }, { ev->timestamp, sizeof(ev->timestamp) },
		{ ev->event_type, sizeof(ev->event_type) }, { ev->actor, sizeof(ev->actor) },
		{ ev->resource, sizeof(ev->resource) }, { ev->action, sizeof(ev->action) },
		{ ev->metadata, sizeof(ev->metadata) },
	};
	uint8_t be[8], md[LM_HASH_BYTES];
	unsigned int md_size = 0;
	EVP_MD_CTX *ctx;
	int r;

	/* Refuse a field without its terminator before hashing anything: the
	 * length prefix must describe exactly the text that is stored. */
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		if (strnlen(fields[i].p, fields[i].size) == fields[i].size)
			return LM_EINVAL;
	ctx = EVP_MD_CTX_new();
	if (!ctx)
		return LM_ENOMEM;
	put_be(be, ev->seq, 8);
	if ((r = LM_OSSL(EVP_DigestInit_ex(ctx, EVP_sha256(), NULL))) < 0 ||
	    (r = LM_OSSL(EVP_DigestUpdate(ctx, ev->prev_hash, LM_HASH_BYTES))) < 0 ||
	    (r = LM_OSSL(EVP_DigestUpdate(ctx, k_row_label, sizeof(k_row_label) - 1))) < 0 ||
	    (r = LM_OSSL(EVP_DigestUpdate(ctx, be, 8))) < 0)
		goto out;
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		size_t n = strlen(fields[i].p);

		put_be(be, n, 4);
		if ((r = LM_OSSL(EVP_DigestUpdate(ctx, be, 4))) < 0 ||
		    (r = LM_OSSL(EVP_DigestUpdate(ctx, fields[i].p, n))) < 0)
			goto out;
	}
	if ((r = LM_OSSL(EVP_DigestFinal_ex(ctx, md, &md_size))) < 0)
		goto out;
	memcpy(ev->hash, md, sizeof(md));
	r = 0;
out:
	EVP_MD_CTX_free(ctx);
	return r;
}

static void checkpoint_msg(uint8_t msg[static CHECKPOINT_MSG_BYTES], uint64_t seq,
			   const uint8_t hash[static LM_HASH_BYTES])
{
	size_t n = sizeof(k_checkpoint_label) - 1;

	memcpy(msg, k_checkpoint_label, n);
	put_be(msg + n, seq, 8);
	memcpy(msg + n + 8, hash, LM_HASH_BYTES);
}

/* Never let OpenSSL prompt on a terminal for an encrypted PEM. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

/* Parses an Ed25519 key from PEM text: a private key when is_private,
 * a SubjectPublicKeyInfo otherwise. */
static int load_key(const char *pem, bool is_private, EVP_PKEY **out)
{
	const char *what = is_private ? "audit signing key" : "audit public key";
	EVP_PKEY *pkey;
	BIO *bio;

	bio = BIO_new_mem_buf(pem, -1);
	if (!bio)
		return LM_ENOMEM;
	pkey = is_private ? PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL)
			  : PEM_read_bio_PUBKEY(bio, NULL, no_passphrase, NULL);
	BIO_free(bio);
	if (!pkey) {
		/* The queue would only repeat that the PEM did not parse. */
		ERR_clear_error();
		lm_err("%s: not a PEM %s key", what, is_private ? "private" : "public");
		return LM_EFORMAT;
	}
	if (!EVP_PKEY_is_a(pkey, "ED25519")) {
		lm_err("%s: not an Ed25519 key", what);
		EVP_PKEY_free(pkey);
		return LM_EWRONGKEY;
	}
	*out = pkey;
	return 0;
}

static int checkpoint_sign(EVP_PKEY *key, struct lm_audit_checkpoint *cp)
{
	uint8_t msg[CHECKPOINT_MSG_BYTES];
	size_t sig_size = sizeof(cp->signature);
	EVP_MD_CTX *ctx;
	int r;

	ctx = EVP_MD_CTX_new();
	if (!ctx)
		return LM_ENOMEM;
	checkpoint_msg(msg, cp->seq, cp->hash);
	/* Ed25519 is one-shot and hashes internally: no digest is named. */
	if ((r = LM_OSSL(EVP_DigestSignInit(ctx, NULL, NULL, NULL, key))) == 0 &&
	    (r = LM_OSSL(EVP_DigestSign(ctx, cp->signature, &sig_size, msg, sizeof(msg)))) == 0 &&
	    sig_size != SIG_BYTES)
		r = LM_ECRYPTO;
	EVP_MD_CTX_free(ctx);
	return r;
}

/* 0 when cp's signature verifies under key, LM_EAUTH when it does not. */
static int checkpoint_check(EVP_PKEY *key, const struct lm_audit_checkpoint *cp)
{
	uint8_t msg[CHECKPOINT_MSG_BYTES];
	EVP_MD_CTX *ctx;
	int r;

	ctx = EVP_MD_CTX_new();
	if (!ctx)
		return LM_ENOMEM;
	checkpoint_msg(msg, cp->seq, cp->hash);
	if ((r = LM_OSSL(EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, key))) == 0) {
		r = EVP_DigestVerify(ctx, cp->signature, sizeof(cp->signature), msg, sizeof(msg)) == 1 ? 0 : LM_EAUTH;
		ERR_clear_error();
	}
	EVP_MD_CTX_free(ctx);
	return r;
}

/* ---- append ---- */

struct append_ctx {
	EVP_PKEY *key;
	struct lm_audit_event ev;	/* fields of the caller filled in */
};

/* Refuses to extend a log whose head is not the one the last checkpoint
 * signed: appending would re-sign a truncated or edited log and hide it. */
static int check_head(struct lm_store *st, EVP_PKEY *key, const struct lm_audit_event *last, bool has_last)
{
	struct lm_audit_checkpoint cp;
	int r;

	r = lm_store_checkpoint_get(st, &cp);
	if (r == LM_ENOENT && !has_last)
		return 0;
	if (r < 0 && r != LM_ENOENT)
		return r;
	if (r == LM_ENOENT || !has_last || cp.seq != last->seq || memcmp(cp.hash, last->hash, LM_HASH_BYTES) != 0 ||
	    checkpoint_check(key, &cp) != 0) {
		lm_err("audit: the log head (seq %" PRIu64 ") does not match the signed checkpoint%s; "
		       "refusing to append until the log is checked with `lambda audit verify`",
		       has_last ? last->seq : 0, r == LM_ENOENT ? " (none stored)" : "");
		return LM_EVERIFY;
	}
	return 0;
}

static int append_tx(struct lm_store *st, void *arg)
{
	struct append_ctx *c = arg;
	struct lm_audit_event ev = c->ev, last;
	struct lm_audit_checkpoint cp = { 0 };
	bool has_last;
	int r;

	r = lm_store_audit_last(st, &last);
	if (r < 0 && r != LM_ENOENT)
		return r;
	has_last = r == 0;
	if ((r = check_head(st, c->key, &last, has_last)) < 0)
		return r;
	ev.seq = has_last ? last.seq + 1 : 1;
	memset(ev.prev_hash, 0, sizeof(ev.prev_hash));
	if (has_last)
		memcpy(ev.prev_hash, last.hash, sizeof(ev.prev_hash));
	lm_time_format(ev.timestamp, sizeof(ev.timestamp), time(NULL));
	if ((r = lm_id_new(ev.event_id, sizeof(ev.event_id), "evt")) < 0 || (r = lm_audit_hash(&ev)) < 0 ||
	    (r = lm_store_audit_insert(st, &ev)) < 0)
		return r;
	cp.seq = ev.seq;
	memcpy(cp.hash, ev.hash, sizeof(cp.hash));
	memcpy(cp.timestamp, ev.timestamp, sizeof(cp.timestamp));
	if ((r = checkpoint_sign(c->key, &cp)) < 0 || (r = lm_store_checkpoint_put(st, &cp)) < 0)
		return r;
	c->ev = ev;
	return 0;
}

/* Copies s into a field of size bytes; LM_EINVAL when it is missing (and
 * required) or does not fit. */
static int set_field(char *dst, size_t size, const char *s, bool is_required, const char *name)
{
	size_t n = s ? strlen(s) : 0;

	if ((is_required && n == 0) || n >= size) {
		lm_err("audit: %s is %s", name, n ? "too long" : "missing");
		return LM_EINVAL;
	}
	memcpy(dst, s ? s : "", n + 1);
	return 0;
}

/* Stores metadata in one canonical form (compact, keys sorted), so that
 * the same facts always hash the same way. */
static int canonical_metadata(char *dst, size_t size, const char *text)
{
	json_error_t jerr;
	json_t *obj;
	char *s;
	int r = 0;

	obj = json_loads(text ? text : "{}", JSON_REJECT_DUPLICATES, &jerr);
	if (!obj || !json_is_object(obj)) {
		lm_err("audit: metadata must be a JSON object%s%s", obj ? "" : ": ", obj ? "" : jerr.text);
		json_decref(obj);
		return LM_EINVAL;
	}
	s = json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(obj);
	if (!s)
		return LM_ENOMEM;
	if (strlen(s) >= size) {
		lm_err("audit: metadata is longer than %zu bytes", size - 1);
		r = LM_ETOOBIG;
	} else {
		memcpy(dst, s, strlen(s) + 1);
	}
	free(s);
	return r;
}

int lm_audit_append(struct lm_store *st, const char *signing_key_pem, const char *event_type, const char *actor,
		    const char *resource, const char *action, const char *metadata_json, struct lm_audit_event *out)
{
	struct append_ctx c = { 0 };
	int r;

	if (!st || !signing_key_pem)
		return LM_EINVAL;
	if ((r = set_field(c.ev.event_type, sizeof(c.ev.event_type), event_type, true, "event_type")) < 0 ||
	    (r = set_field(c.ev.actor, sizeof(c.ev.actor), actor, true, "actor")) < 0 ||
	    (r = set_field(c.ev.resource, sizeof(c.ev.resource), resource, false, "resource")) < 0 ||
	    (r = set_field(c.ev.action, sizeof(c.ev.action), action, true, "action")) < 0 ||
	    (r = canonical_metadata(c.ev.metadata, sizeof(c.ev.metadata), metadata_json)) < 0)
		return r;
	/* Parse the key before taking the write lock. */
	if ((r = load_key(signing_key_pem, true, &c.key)) < 0)
		return r;
	r = lm_store_write_tx(st, append_tx, &c);
	EVP_PKEY_free(c.key);
	if (r < 0)
		return r;
	if (out)
		*out = c.ev;
	return 0;
}

/* ---- verify ---- */

static int verify_fail(uint64_t seq, uint64_t *bad_seq, char *why, size_t why_size, const char *fmt, ...)
	LM_PRINTF(5, 6);

static int verify_fail(uint64_t seq, uint64_t *bad_seq, char *why, size_t why_size, const char *fmt, ...)
{
	va_list ap;

	if (bad_seq)
		*bad_seq = seq;
	if (why && why_size) {
		va_start(ap, fmt);
		vsnprintf(why, why_size, fmt, ap);
		va_end(ap);
	}
	return LM_EVERIFY;
}

int lm_audit_verify(const struct lm_audit_event *rows, size_t count, const struct lm_audit_checkpoint *cp,
		    const char *public_key_pem, uint64_t *bad_seq, char *why, size_t why_size)
{
	uint8_t prev[LM_HASH_BYTES] = { 0 };
	EVP_PKEY *pub = NULL;
	int r;

	if ((count && !rows) || (cp && !public_key_pem))
		return LM_EINVAL;
	if (cp && (r = load_key(public_key_pem, false, &pub)) < 0)
		return r;
	for (size_t i = 0; i < count; i++) {
		struct lm_audit_event ev = rows[i];
		uint64_t seq = (uint64_t)i + 1;

		if (ev.seq != seq) {
			r = verify_fail(seq, bad_seq, why, why_size,
					"seq %" PRIu64 " is missing or out of order (found seq %" PRIu64 " in its place)",
					seq, ev.seq);
			goto out;
		}
		if (memcmp(ev.prev_hash, prev, sizeof(prev)) != 0) {
			r = verify_fail(seq, bad_seq, why, why_size,
					"seq %" PRIu64 ": prev_hash is not the hash of the row before it", seq);
			goto out;
		}
		if ((r = lm_audit_hash(&ev)) < 0) {
			r = verify_fail(seq, bad_seq, why, why_size, "seq %" PRIu64 ": malformed field", seq);
			goto out;
		}
		if (memcmp(ev.hash, rows[i].hash, sizeof(ev.hash)) != 0) {
			r = verify_fail(seq, bad_seq, why, why_size,
					"seq %" PRIu64 ": content does not match its hash (row edited)", seq);
			goto out;
		}
		memcpy(prev, ev.hash, sizeof(prev));
	}
	if (cp) {
		if (checkpoint_check(pub, cp) != 0) {
			r = verify_fail(cp->seq, bad_seq, why, why_size,
					"checkpoint at seq %" PRIu64 ": signature does not verify under the public key",
					cp->seq);
			goto out;
		}
		if (cp->seq > count) {
			r = verify_fail(cp->seq, bad_seq, why, why_size,
					"signed checkpoint covers seq %" PRIu64 " but the log ends at seq %zu "
					"(rows deleted)",
					cp->seq, count);
			goto out;
		}
		if (cp->seq == 0 || memcmp(cp->hash, rows[cp->seq - 1].hash, sizeof(cp->hash)) != 0) {
			r = verify_fail(cp->seq, bad_seq, why, why_size,
					"seq %" PRIu64 ": hash differs from the signed checkpoint (log rewritten)",
					cp->seq);
			goto out;
		}
		if (cp->seq < count) {
			r = verify_fail(cp->seq + 1, bad_seq, why, why_size,
					"rows from seq %" PRIu64 " on are not covered by the signed checkpoint",
					cp->seq + 1);
			goto out;
		}
	}
	if (bad_seq)
		*bad_seq = 0;
	if (why && why_size)
		why[0] = 0;
	r = 0;
out:
	EVP_PKEY_free(pub);
	return r;
}

int lm_audit_verify_store(struct lm_store *st, const char *public_key_pem, uint64_t *bad_seq, char *why,
			  size_t why_size)
{
	struct lm_audit_event *rows = NULL;
	struct lm_audit_checkpoint cp;
	size_t count = 0;
	bool has_cp;
	int r;

	if (!st || !public_key_pem)
		return LM_EINVAL;
	if ((r = lm_store_audit_list(st, 1, 0, &rows, &count)) < 0)
		return r;
	r = lm_store_checkpoint_get(st, &cp);
	if (r < 0 && r != LM_ENOENT)
		goto out;
	has_cp = r == 0;
	if (!has_cp && count > 0) {
		/* Removing the checkpoint must not turn the check off. */
		r = verify_fail(count, bad_seq, why, why_size,
				"the log holds %zu rows but no signed checkpoint", count);
		goto out;
	}
	r = lm_audit_verify(rows, count, has_cp ? &cp : NULL, public_key_pem, bad_seq, why, why_size);
out:
	free(rows);
	return r;
}

/* Copies the contents of a memory BIO into a new string. */
static int bio_to_string(BIO *bio, char **out)
{
	char *data, *s;
	long n = BIO_get_mem_data(bio, &data);

	if (n <= 0)
		return LM_ECRYPTO;
	s = malloc((size_t)n + 1);
	if (!s)
		return LM_ENOMEM;
	memcpy(s, data, (size_t)n);
	s[n] = 0;
	*out = s;
	return 0;
}

int lm_audit_key_generate(char **private_pem, char **public_pem)
{
	char *priv = NULL, *pub = NULL;
	BIO *bpriv = NULL, *bpub = NULL;
	EVP_PKEY *pkey;
	int r;

	if (!private_pem || !public_pem)
		return LM_EINVAL;
	pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	if (!pkey)
		return lm_log_ossl("generate Ed25519 key");
	/* The secure-memory BIO wipes the private PEM when freed. */
	bpriv = BIO_new(BIO_s_secmem());
	bpub = BIO_new(BIO_s_mem());
	if (!bpriv || !bpub) {
		r = LM_ENOMEM;
		goto out;
	}
	if ((r = LM_OSSL(PEM_write_bio_PrivateKey(bpriv, pkey, NULL, NULL, 0, NULL, NULL))) < 0 ||
	    (r = LM_OSSL(PEM_write_bio_PUBKEY(bpub, pkey))) < 0 || (r = bio_to_string(bpriv, &priv)) < 0 ||
	    (r = bio_to_string(bpub, &pub)) < 0)
		goto out;
	*private_pem = priv;
	*public_pem = pub;
	priv = pub = NULL;
	r = 0;
out:
	lm_free_wiped(priv);
	free(pub);
	BIO_free(bpriv);
	BIO_free(bpub);
	EVP_PKEY_free(pkey);
	return r;
}
