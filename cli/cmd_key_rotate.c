/* lambda key rotate: moves data from one CMK to another without re-encrypting
 * it. Two forms share the verb:
 *   lambda key rotate --file F --old-key A --new-key B
 *       an encrypted file: its file key is re-wrapped under B's file KEK,
 *       bytes 20..87 rewritten through a journal (lm_fileenc_rotate()).
 *   lambda key rotate INST --old-key A --new-key B
 *       the volume keys of an instance (DESIGN.md section 2, step 6): not
 *       available yet; answers so with exit status 2.
 * The handler is listed in cmd_key.c's key_cmds table as the "rotate" verb,
 * with cmd_key_rotate_manual as its --help text. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cmds.h"
#include "lambda/crypto.h"
#include "lambda/fileenc.h"
#include "lambda/secret.h"

const char cmd_key_rotate_manual[] =
	"Re-wraps data under a new CMK without re-encrypting it.\n"
	"\n"
	"  lambda key rotate --file F --old-key A --new-key B\n"
	"      F is a file made by 'lambda encrypt' for key A; afterwards it opens with\n"
	"      key B only. Only the 68 key bytes of its header change (the file key,\n"
	"      re-wrapped under B). The change is crash-safe: it goes through a journal\n"
	"      F.lambda-rotate that the next 'lambda key rotate --file F' or\n"
	"      'lambda decrypt F' completes if this run was interrupted.\n"
	"  lambda key rotate INST --old-key A --new-key B\n"
	"      re-wraps the volume keys of instance INST (not available yet).\n"
	"\n"
	"options:\n"
	"  --file F         the encrypted file to rotate\n"
	"  --old-key A      the CMK file the data is encrypted for now\n"
	"  --new-key B      the CMK file to move it to\n"
	"\n"
	"exit status:\n"
	"  0  rotated\n"
	"  1  the header failed authentication under A, writing failed, or F has a\n"
	"     journal beside it that belongs to another file (left alone: remove it)\n"
	"  2  bad arguments or a malformed file\n"
	"  3  F is not encrypted for A (the message names the key id it wants), or a\n"
	"     key file is unusable\n"
	"\n"
	"examples:\n"
	"  lambda key rotate --file report.pdf.lmbd --old-key v1.pem --new-key v2.pem\n";

enum { OPT_FILE = 256, OPT_OLD, OPT_NEW };

static const struct option rotate_opts[] = {
	{ "file", required_argument, NULL, OPT_FILE },
	{ "old-key", required_argument, NULL, OPT_OLD },
	{ "new-key", required_argument, NULL, OPT_NEW },
	{ NULL, 0, NULL, 0 },
};

static int rotate_file(const char *path, const char *old_key, const char *new_key)
{
	struct lm_secret *old_kek = NULL, *new_kek = NULL;
	uint8_t old_id[LM_KEY_ID_BYTES], new_id[LM_KEY_ID_BYTES];
	char a[LM_KEY_ID_STR_SIZE], b[LM_KEY_ID_STR_SIZE];
	int r;

	if ((r = lm_process_harden()) < 0) {
		cli_fail(r, "hardening the process");
		goto out;
	}
	if ((r = cli_load_file_kek(old_key, &old_kek, old_id)) < 0 ||
	    (r = cli_load_file_kek(new_key, &new_kek, new_id)) < 0)
		goto out;
	if ((r = lm_fileenc_rotate(path, old_kek, old_id, new_kek, new_id)) < 0) {
		cli_fail(r, "rotating %s", path);
		goto out;
	}
	lm_key_id_format(a, old_id);
	lm_key_id_format(b, new_id);
	printf("rotated %s: %s -> %s\n", path, a, b);
out:
	lm_secret_free(old_kek);
	lm_secret_free(new_kek);
	return lm_exit_code(r);
}

int cmd_key_rotate(int argc, char **argv)
{
	const char *file = NULL, *old_key = NULL, *new_key = NULL;
	int c;

	while ((c = getopt_long(argc, argv, "", rotate_opts, NULL)) != -1) {
		switch (c) {
		case OPT_FILE: file = optarg; break;
		case OPT_OLD: old_key = optarg; break;
		case OPT_NEW: new_key = optarg; break;
		default: return LM_EXIT_USAGE;
		}
	}
	if (!old_key || !new_key || (file ? optind != argc : optind != argc - 1)) {
		cli_error("usage: lambda key rotate (--file F | INST) --old-key A --new-key B");
		return LM_EXIT_USAGE;
	}
	if (file)
		return rotate_file(file, old_key, new_key);
	cli_error("instance volume rotation is not available yet (%s)", argv[optind]);
	return LM_EXIT_USAGE;
}
