/* lambda audit list / lambda audit verify: reads the control plane's audit
 * log and checks its hash chain and signed checkpoint on the customer's
 * machine with lm_audit_verify(), so an edited, deleted, reordered or
 * truncated log shows up here whatever the platform says about itself. */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/sha.h>

#include "cli.h"
#include "client.h"
#include "cmds.h"
#include "lambda/audit.h"
#include "lambda/json.h"
#include "lambda/util.h"

#define AUDIT_PAGE 5000	/* events per request */

static int parse_opts(int argc, char **argv, bool *json, uint64_t *from)
{
	static const struct option lo[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "from", required_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		if (ch == 'j') {
			*json = true;
		} else if (ch == 'f' && from) {
			char *end;

			*from = strtoull(optarg, &end, 10);
			if (*optarg == '-' || *end || end == optarg) {
				cli_error("--from: '%s' is not a sequence number", optarg);
				return LM_EXIT_USAGE;
			}
		} else {
			if (ch != '?')
				cli_error("unknown option '%s'; see '%s --help'", argv[optind - 1], argv[0]);
			return LM_EXIT_USAGE;
		}
	}
	if (optind != argc) {
		cli_error("unexpected argument '%s'", argv[optind]);
		return LM_EXIT_USAGE;
	}
	return LM_EXIT_OK;
}

/* Fetches the log from seq from (0: all) in pages of AUDIT_PAGE events, so
 * that no reply grows with the log; *out is the last page's answer (its
 * public key and checkpoint) with the events of every page. */
static int fetch_audit(uint64_t from, json_t **out)
{
	struct lm_client *c = NULL;
	json_t *all = json_array(), *page = NULL, *events;
	uint64_t next = from > 0 ? from : 1;
	char path[96];
	size_t n;
	int r;

	if (!all)
		return LM_ENOMEM;
	if ((r = cli_connect(&c)) < 0)
		goto out;
	for (;;) {
		json_decref(page);
		page = NULL;
		snprintf(path, sizeof(path), "/v1/audit?from=%" PRIu64 "&limit=%d", next, AUDIT_PAGE);
		if ((r = cli_api(c, "GET", path, NULL, &page)) < 0)
			goto out;
		events = json_object_get(page, "events");
		n = json_array_size(events);
		if (!json_is_array(events) || json_array_extend(all, events) < 0)
			break;		/* the caller reports what is missing */
		if (n < AUDIT_PAGE)
			break;
		next = (uint64_t)json_integer_value(json_object_get(json_array_get(events, n - 1), "seq")) + 1;
		if (next <= 1) {
			r = LM_EFORMAT;
			cli_error("the platform sent an audit event without a sequence number");
			goto out;
		}
	}
	if (json_is_array(json_object_get(page, "events")))
		json_object_set(page, "events", all);
	*out = page;
	page = NULL;
out:
	json_decref(page);
	json_decref(all);
	lm_client_free(c);
	return r;
}

int cmd_audit_list(int argc, char **argv)
{
	json_t *resp = NULL, *events, *ev;
	uint64_t from = 0;
	bool json = false;
	size_t i;
	int r, ex;

	if ((ex = parse_opts(argc, argv, &json, &from)) != LM_EXIT_OK)
		return ex;
	if ((r = fetch_audit(from, &resp)) < 0)
		return lm_exit_code(r);
	events = json_object_get(resp, "events");
	if (!json_is_array(events)) {
		json_decref(resp);
		cli_error("the platform sent no audit events");
		return LM_EXIT_FAIL;
	}
	if (json) {
		char *s = json_dumps(events, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

		if (s)
			puts(s);
		free(s);
		json_decref(resp);
		return s ? LM_EXIT_OK : LM_EXIT_FAIL;
	}
	printf("%-6s %-20s %-24s %-18s %-20s %s\n", "SEQ", "TIME", "EVENT", "ACTOR", "RESOURCE", "ACTION");
	json_array_foreach(events, i, ev) {
		const char *res = lm_json_str(ev, "resource");

		printf("%-6" JSON_INTEGER_FORMAT " %-20s %-24s %-18s %-20s %s\n",
		       json_integer_value(json_object_get(ev, "seq")),
		       lm_json_str(ev, "timestamp") ? lm_json_str(ev, "timestamp") : "-",
		       lm_json_str(ev, "event_type") ? lm_json_str(ev, "event_type") : "-",
		       lm_json_str(ev, "actor") ? lm_json_str(ev, "actor") : "-", res && *res ? res : "-",
		       lm_json_str(ev, "action") ? lm_json_str(ev, "action") : "-");
	}
	json_decref(resp);
	return LM_EXIT_OK;
}

/* Copies string member key of obj into dst; false when missing or too long. */
static bool copy_field(char *dst, size_t size, const json_t *obj, const char *key)
{
	const char *s = lm_json_str(obj, key);

	if (!s || strlen(s) >= size)
		return false;
	memcpy(dst, s, strlen(s) + 1);
	return true;
}

static bool hex_field(uint8_t *dst, size_t size, const json_t *obj, const char *key)
{
	const char *s = lm_json_str(obj, key);

	return s && lm_hex_decode(dst, size, s) == 0;
}

/* One API event back into the row the chain was computed over. The store
 * keeps metadata compact with sorted keys (lm_audit_append()), so the
 * object is re-serialised that way; a string is taken as the text itself. */
static int rebuild_row(const json_t *e, struct lm_audit_event *row, char *why, size_t why_size)
{
	static const char *const fields[] = { "seq", "event_id", "timestamp", "event_type", "actor", "resource",
					      "action", "metadata", "prev_hash", "hash", NULL };
	json_t *seq = json_object_get(e, "seq"), *meta = json_object_get(e, "metadata");
	char bad[64] = "";
	char *mtext = NULL;

	memset(row, 0, sizeof(*row));
	if (lm_json_only_keys(e, fields, bad, sizeof(bad)) < 0) {
		snprintf(why, why_size, "unexpected field '%s'", bad);
		return LM_EFORMAT;
	}
	if (!json_is_integer(seq) || json_integer_value(seq) < 1) {
		snprintf(why, why_size, "missing or bad seq");
		return LM_EFORMAT;
	}
	row->seq = (uint64_t)json_integer_value(seq);
	if (!copy_field(row->event_id, sizeof(row->event_id), e, "event_id") ||
	    !copy_field(row->timestamp, sizeof(row->timestamp), e, "timestamp") ||
	    !copy_field(row->event_type, sizeof(row->event_type), e, "event_type") ||
	    !copy_field(row->actor, sizeof(row->actor), e, "actor") ||
	    !copy_field(row->resource, sizeof(row->resource), e, "resource") ||
	    !copy_field(row->action, sizeof(row->action), e, "action")) {
		snprintf(why, why_size, "a text field is missing or too long");
		return LM_EFORMAT;
	}
	if (json_is_string(meta)) {
		mtext = strdup(json_string_value(meta));
	} else if (json_is_object(meta)) {
		mtext = json_dumps(meta, JSON_COMPACT | JSON_SORT_KEYS);
	} else {
		snprintf(why, why_size, "missing metadata");
		return LM_EFORMAT;
	}
	if (!mtext || strlen(mtext) >= sizeof(row->metadata)) {
		free(mtext);
		snprintf(why, why_size, "metadata too long");
		return LM_EFORMAT;
	}
	memcpy(row->metadata, mtext, strlen(mtext) + 1);
	free(mtext);
	if (!hex_field(row->prev_hash, sizeof(row->prev_hash), e, "prev_hash") ||
	    !hex_field(row->hash, sizeof(row->hash), e, "hash")) {
		snprintf(why, why_size, "bad prev_hash or hash encoding");
		return LM_EFORMAT;
	}
	return 0;
}

static int rebuild_checkpoint(const json_t *j, struct lm_audit_checkpoint *cp)
{
	json_t *seq = json_object_get(j, "seq");

	memset(cp, 0, sizeof(*cp));
	if (!json_is_integer(seq) || json_integer_value(seq) < 0 ||
	    !copy_field(cp->timestamp, sizeof(cp->timestamp), j, "timestamp") ||
	    !hex_field(cp->hash, sizeof(cp->hash), j, "hash") ||
	    !hex_field(cp->signature, sizeof(cp->signature), j, "signature"))
		return LM_EFORMAT;
	cp->seq = (uint64_t)json_integer_value(seq);
	return 0;
}

static int report(bool json, bool ok, size_t count, uint64_t bad_seq, const char *head_hex, const char *why)
{
	if (json) {
		json_t *o = ok ? json_pack("{s:b, s:I, s:s}", "intact", 1, "events", (json_int_t)count, "head",
					   head_hex)
			       : json_pack("{s:b, s:I, s:I, s:s}", "intact", 0, "events", (json_int_t)count,
					   "bad_seq", (json_int_t)bad_seq, "reason", why);
		char *s = o ? json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;

		if (s)
			puts(s);
		free(s);
		json_decref(o);
	} else if (ok) {
		printf("audit log intact: %zu events, head %.16s\n", count, head_hex);
	} else {
		printf("audit log broken at seq %" PRIu64 ": %s\n", bad_seq, why);
	}
	return ok ? LM_EXIT_OK : LM_EXIT_FAIL;
}

/* ---- trust: the pinned audit key and the last verified head ---- */

/* PEM texts equal but for whitespace (line ends, a final newline). */
static bool same_pem(const char *a, const char *b)
{
	for (;;) {
		while (*a && isspace((unsigned char)*a))
			a++;
		while (*b && isspace((unsigned char)*b))
			b++;
		if (*a != *b)
			return false;
		if (!*a)
			return true;
		a++;
		b++;
	}
}

/* A verified log's key must be the pinned one; a configuration without a
 * pin gets this one (trust on first use). Returns an exit status. */
static int check_audit_key(struct cli_config *cfg, const char *pub)
{
	char path[PATH_MAX];
	int r;

	if (cfg->audit_public_key) {
		if (same_pem(cfg->audit_public_key, pub))
			return LM_EXIT_OK;
		cli_error("the control plane's audit key changed: the log is signed with a key other than the one "
			  "pinned in the configuration (audit_public_key); refusing to trust it");
		return LM_EXIT_FAIL;
	}
	if (!(cfg->audit_public_key = strdup(pub)))
		return cli_fail(LM_ENOMEM, "audit verify");
	if ((r = cli_config_save(cfg, path, sizeof(path))) < 0)
		return cli_fail(r, "cannot pin the audit key in the configuration");
	fprintf(stderr, "lambda: pinned the control plane's audit key in %s (trust on first use: it was not "
			"pinned before); a different key later is refused\n", path);
	return LM_EXIT_OK;
}

/* $XDG_STATE_HOME/lambda/audit-heads.json, else ~/.local/state/lambda/. */
static int heads_path(char *dir, size_t dir_size, char *path, size_t path_size)
{
	const char *env;
	int n;

	if ((env = getenv("XDG_STATE_HOME")) && *env == '/')
		n = snprintf(dir, dir_size, "%s/lambda", env);
	else if ((env = getenv("HOME")) && *env)
		n = snprintf(dir, dir_size, "%s/.local/state/lambda", env);
	else
		return LM_ENOENT;
	if (n < 0 || (size_t)n >= dir_size)
		return LM_EINVAL;
	n = snprintf(path, path_size, "%s/audit-heads.json", dir);
	return n > 0 && (size_t)n < path_size ? 0 : LM_EINVAL;
}

/* The log must extend the head verified last time from this endpoint: the
 * row with that seq has that hash (a rewritten past), and the log reaches
 * that seq (a rollback to an older checkpoint). Then the new head is
 * remembered. Returns an exit status; *why is set for a verdict of 1. */
static int check_head(const char *endpoint, const char *pub, const struct lm_audit_event *rows, size_t count,
		      uint64_t *bad_seq, char *why, size_t why_size)
{
	char dir[PATH_MAX], path[PATH_MAX + 32], hex[2 * LM_HASH_BYTES + 1], slot[512];
	uint8_t key_hash[SHA256_DIGEST_LENGTH];
	const struct lm_audit_event *head = &rows[count - 1];
	json_t *doc = NULL, *prev;
	uint8_t *text = NULL, hash[LM_HASH_BYTES];
	char *out = NULL;
	size_t size = 0;
	int r, ex = LM_EXIT_FAIL;

	if ((r = heads_path(dir, sizeof(dir), path, sizeof(path))) < 0)
		return cli_fail(r, "no place for the audit state: set HOME or XDG_STATE_HOME");
	/* No file yet is the first verification from this machine, not an
	 * error (the reader would report it as one). */
	r = access(path, F_OK) < 0 && errno == ENOENT ? LM_ENOENT : lm_file_read_private(path, 1 << 20, &text, &size);
	if (r == LM_ENOENT)
		doc = json_object();
	else if (r == 0)
		doc = json_loadb((const char *)text, size, 0, NULL);
	else
		return cli_fail(r, "%s", path);
	free(text);
	if (!json_is_object(doc)) {
		json_decref(doc);
		cli_error("%s: not an audit state file; move it away to start afresh", path);
		return LM_EXIT_USAGE;
	}
	/* One history per endpoint and audit key: a platform made anew (new
	 * data dir, new key, which the configuration pins) starts a new log. */
	SHA256((const unsigned char *)pub, strlen(pub), key_hash);
	lm_hex_encode(hex, key_hash, 8);
	snprintf(slot, sizeof(slot), "%s key %s", endpoint, hex);
	prev = json_object_get(doc, slot);
	if (prev) {
		json_t *pseq = json_object_get(prev, "seq");
		uint64_t seq = json_is_integer(pseq) ? (uint64_t)json_integer_value(pseq) : 0;

		if (seq == 0 || !hex_field(hash, sizeof(hash), prev, "hash")) {
			cli_error("%s: unusable entry for %s; move the file away to start afresh", path, slot);
			ex = LM_EXIT_USAGE;
			goto out;
		}
		/* Verified rows are seq 1..count in order. */
		if (seq > head->seq) {
			*bad_seq = head->seq;
			snprintf(why, why_size, "rollback: the log ends at seq %" PRIu64 " but seq %" PRIu64
				 " was verified before", head->seq, seq);
			goto out;
		}
		if (memcmp(rows[seq - 1].hash, hash, LM_HASH_BYTES) != 0) {
			*bad_seq = seq;
			snprintf(why, why_size, "rewritten: seq %" PRIu64 " differs from the row verified before", seq);
			goto out;
		}
	}
	lm_hex_encode(hex, head->hash, LM_HASH_BYTES);
	if (json_object_set_new(doc, slot, json_pack("{s:I, s:s}", "seq", (json_int_t)head->seq, "hash", hex)) < 0 ||
	    !(out = json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS))) {
		ex = cli_fail(LM_ENOMEM, "audit verify");
		goto out;
	}
	if ((r = lm_mkdir_p(dir, 0700)) < 0 || (r = lm_file_write_replace(path, out, strlen(out), 0600)) < 0) {
		ex = cli_fail(r, "cannot remember the verified head in %s", path);
		goto out;
	}
	ex = LM_EXIT_OK;
out:
	free(out);
	json_decref(doc);
	return ex;
}

int cmd_audit_verify(int argc, char **argv)
{
	struct lm_audit_event *rows = NULL;
	struct lm_audit_checkpoint cp;
	struct cli_config cfg = { 0 };
	json_t *resp = NULL, *events, *e, *cpj;
	const char *pub;
	char why[256] = "", head[2 * LM_HASH_BYTES + 1] = "";
	uint64_t bad_seq = 0;
	bool json = false;
	size_t i, count;
	int r, ex;

	if ((ex = parse_opts(argc, argv, &json, NULL)) != LM_EXIT_OK)
		return ex;
	if ((r = fetch_audit(0, &resp)) < 0)
		return lm_exit_code(r);
	/* fetch_audit() has read it already: it parses. */
	if ((r = cli_config_load(&cfg)) < 0) {
		json_decref(resp);
		return cli_fail(r, "reading the configuration");
	}
	events = json_object_get(resp, "events");
	cpj = json_object_get(resp, "checkpoint");
	pub = lm_json_str(resp, "public_key");
	if (!json_is_array(events) || !pub) {
		cli_error("the platform's audit answer lacks events or public_key");
		ex = LM_EXIT_USAGE;
		goto out;
	}
	count = json_array_size(events);
	if (count == 0) {
		/* A platform writes events from its first start: an empty log
		 * was emptied. */
		ex = report(json, false, 0, 1, "", "the log is empty");
		goto out;
	}
	rows = calloc(count, sizeof(*rows));
	if (!rows) {
		ex = cli_fail(LM_ENOMEM, "audit verify");
		goto out;
	}
	json_array_foreach(events, i, e) {
		if (rebuild_row(e, &rows[i], why, sizeof(why)) < 0) {
			bad_seq = rows[i].seq ? rows[i].seq : (i > 0 ? rows[i - 1].seq + 1 : 1);
			ex = report(json, false, count, bad_seq, "", why);
			goto out;
		}
	}
	if (!json_is_object(cpj) || rebuild_checkpoint(cpj, &cp) < 0) {
		/* Without a signed head a truncated log would look intact. */
		ex = report(json, false, count, rows[count - 1].seq, "", "no valid signed checkpoint");
		goto out;
	}
	/* The key first: a log re-signed with another key verifies. */
	if (cfg.audit_public_key && !same_pem(cfg.audit_public_key, pub)) {
		ex = check_audit_key(&cfg, pub);
		goto out;
	}
	r = lm_audit_verify(rows, count, &cp, pub, &bad_seq, why, sizeof(why));
	if (r == LM_EVERIFY) {
		ex = report(json, false, count, bad_seq, "", why);
	} else if (r < 0) {
		ex = cli_fail(r, "verifying the audit log");
	} else if ((ex = check_head(cfg.endpoint, pub, rows, count, &bad_seq, why, sizeof(why))) == LM_EXIT_FAIL) {
		ex = report(json, false, count, bad_seq, "", why);
	} else if (ex == LM_EXIT_OK && (ex = check_audit_key(&cfg, pub)) == LM_EXIT_OK) {
		lm_hex_encode(head, rows[count - 1].hash, LM_HASH_BYTES);
		ex = report(json, true, count, 0, head, NULL);
	}
out:
	free(rows);
	json_decref(resp);
	cli_config_clear(&cfg);
	return ex;
}

static const char list_manual[] =
	"Lists the control plane's audit events as a table: SEQ, TIME, EVENT, ACTOR,\n"
	"RESOURCE, ACTION. Needs the admin token.\n"
	"\n"
	"Options:\n"
	"  --from SEQ   start at sequence number SEQ\n"
	"  --json       print the events as JSON\n"
	"\n"
	"Exit status: 0 listed, 4 platform not reachable, 6 credentials refused\n"
	"(not an admin token).\n"
	"\n"
	"Example:\n"
	"  lambda audit list --from 10\n";

static const char verify_manual[] =
	"Fetches the whole audit log and checks it here: sequence numbers from 1\n"
	"without gaps, each row's prev_hash and SHA-256 hash chain, and that the\n"
	"checkpoint signed with the control plane's Ed25519 key covers the last\n"
	"row. Prints \"audit log intact: N events, head <hash>\" or \"audit log\n"
	"broken at seq N: reason\".\n"
	"\n"
	"The checkpoint key must be the one pinned in the configuration\n"
	"(audit_public_key, written by 'lambda up'); without a pin the first verify\n"
	"pins the key the platform sends (trust on first use) and says so. Each\n"
	"intact head (seq, hash) is remembered per endpoint and audit key in\n"
	"$XDG_STATE_HOME/lambda/audit-heads.json (else ~/.local/state/lambda/), and a\n"
	"later log must extend it: a rewritten row or a rollback to an older\n"
	"checkpoint is broken.\n"
	"\n"
	"Options:\n"
	"  --json   print {\"intact\", \"events\", \"head\"} or {\"intact\", \"events\",\n"
	"           \"bad_seq\", \"reason\"}\n"
	"\n"
	"Exit status: 0 intact, 1 broken (edited, deleted, reordered, truncated or\n"
	"rolled back) or signed with another key than the pinned one,\n"
	"2 unusable answer, 4 platform not reachable, 6 credentials refused.\n"
	"\n"
	"Example:\n"
	"  lambda audit verify\n";

const struct lm_cmd g_cli_audit_cmds[] = {
	{ "list", cmd_audit_list, NULL, "[--from SEQ] [--json]", "list audit events", list_manual },
	{ "verify", cmd_audit_verify, NULL, "[--json]", "check the audit chain and checkpoint", verify_manual },
	{ 0 },
};
