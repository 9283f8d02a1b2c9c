/* Test helper: what an operator with write access to the data dir can do
 * to the audit log. Reads rows "event_type TAB actor TAB resource TAB
 * action TAB metadata" from stdin and appends them to the (emptied) audit
 * log of the store DB, signed with a fresh Ed25519 key that replaces
 * DIR/audit.key and DIR/audit.pub. The result is a consistent log that
 * verifies under the new key: only a pinned key tells it apart.
 *
 * audit_forge DB DIR < rows.tsv */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lambda/audit.h"
#include "lambda/log.h"
#include "lambda/secret.h"
#include "lambda/util.h"

static void print_log(enum lm_log_level level, const char *msg, void *ctx)
{
	(void)ctx;
	if (level <= LM_LOG_WARN)
		fprintf(stderr, "audit_forge: %s\n", msg);
}

int main(int argc, char **argv)
{
	char line[2048], path[4096], *f[5], *save;
	char *priv = NULL, *pub = NULL;
	struct lm_store *st = NULL;
	int r, n = 0;

	if (argc != 3) {
		fprintf(stderr, "usage: audit_forge DB DIR < rows.tsv\n");
		return 2;
	}
	lm_log_set_handler(print_log, NULL);
	if ((r = lm_audit_key_generate(&priv, &pub)) < 0 || (r = lm_store_open(argv[1], &st)) < 0)
		goto out;
	while (fgets(line, sizeof(line), stdin)) {
		line[strcspn(line, "\n")] = 0;
		f[0] = strtok_r(line, "\t", &save);
		for (int i = 1; i < 5; i++)
			f[i] = strtok_r(NULL, "\t", &save);
		if (!f[4]) {
			fprintf(stderr, "audit_forge: row %d has not 5 fields\n", n + 1);
			r = LM_EFORMAT;
			goto out;
		}
		if ((r = lm_audit_append(st, priv, f[0], f[1], strcmp(f[2], "-") ? f[2] : "", f[3], f[4], NULL)) < 0)
			goto out;
		n++;
	}
	snprintf(path, sizeof(path), "%s/audit.key", argv[2]);
	if ((r = lm_file_write_replace(path, priv, strlen(priv), 0600)) < 0)
		goto out;
	snprintf(path, sizeof(path), "%s/audit.pub", argv[2]);
	r = lm_file_write_replace(path, pub, strlen(pub), 0644);
out:
	if (r < 0)
		fprintf(stderr, "audit_forge: %s after %d rows\n", lm_strerror(r), n);
	lm_store_close(st);
	lm_free_wiped(priv);
	free(pub);
	return r < 0 ? 1 : 0;
}
