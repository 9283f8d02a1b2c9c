/* The nouns of the lambda command, one table per cli/cmd_<noun>.c. The top
 * table in main.c is built from LM_CLI_TOP_COMMANDS. */
#ifndef LAMBDA_CLI_CMDS_H
#define LAMBDA_CLI_CMDS_H

#include "cli.h"

int cmd_version(int argc, char **argv);
int cmd_verify(int argc, char **argv);
extern const char cmd_verify_manual[];
int cmd_encrypt(int argc, char **argv);
int cmd_decrypt(int argc, char **argv);
extern const char cmd_encrypt_manual[], cmd_decrypt_manual[];
/* cmd_key_rotate.c: the "rotate" verb of the key noun (cmd_key.c's table). */
int cmd_key_rotate(int argc, char **argv);
extern const char cmd_key_rotate_manual[];
/* cmd_file.c: loads a CMK file and derives its file KEK and key id; prints
 * the error itself. */
struct lm_secret;
int cli_load_file_kek(const char *key_path, struct lm_secret **kek, unsigned char id[static 8]);

#define LM_CLI_TOP_COMMANDS \
	{ "version", cmd_version, NULL, NULL, "print the version", NULL }, \
	{ "verify", cmd_verify, NULL, "FILE [options] [--json]", "check attestation evidence offline", \
	  cmd_verify_manual }, \
	{ "encrypt", cmd_encrypt, NULL, "--key KEY IN -o OUT", "encrypt a file for a CMK", \
	  cmd_encrypt_manual }, \
	{ "decrypt", cmd_decrypt, NULL, "--key KEY IN -o OUT", "decrypt and authenticate a file", \
	  cmd_decrypt_manual },

#endif
