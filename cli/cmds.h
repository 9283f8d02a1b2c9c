/* The nouns of the lambda command, one table per cli/cmd_<noun>.c. The top
 * table in main.c is built from LM_CLI_TOP_COMMANDS, one entry per line so
 * that adding a noun touches one line. */
#ifndef LAMBDA_CLI_CMDS_H
#define LAMBDA_CLI_CMDS_H

#include "cli.h"

int cmd_version(int argc, char **argv);
int cmd_verify(int argc, char **argv);
extern const char cmd_verify_manual[];
extern const struct lm_cmd key_cmds[];

/* cli/cmd_instance.c */
int cmd_create_instance(int argc, char **argv);
int cmd_get_instance(int argc, char **argv);
int cmd_list_instances(int argc, char **argv);
int cmd_delete_instance(int argc, char **argv);
int cmd_logs(int argc, char **argv);
int cmd_attest(int argc, char **argv);
int cmd_stop_instance(int argc, char **argv);
int cmd_start_instance(int argc, char **argv);
extern const struct lm_cmd g_cli_create_cmds[], g_cli_get_cmds[], g_cli_list_cmds[], g_cli_delete_cmds[];
extern const struct lm_cmd g_cli_stop_cmds[], g_cli_start_cmds[];
extern const char g_cli_logs_manual[], g_cli_attest_manual[];

/* cli/cmd_audit.c */
int cmd_audit_list(int argc, char **argv);
int cmd_audit_verify(int argc, char **argv);
extern const struct lm_cmd g_cli_audit_cmds[];

/* cli/cmd_platform.c */
int cmd_up(int argc, char **argv);
int cmd_down(int argc, char **argv);
int cmd_status(int argc, char **argv);
extern const char g_cli_up_manual[], g_cli_down_manual[], g_cli_status_manual[];

/* cli/cmd_tenant.c */
int cmd_tenant_create(int argc, char **argv);
extern const struct lm_cmd g_cli_tenant_cmds[];

/* cli/cmd_file.c */
int cmd_encrypt(int argc, char **argv);
int cmd_decrypt(int argc, char **argv);
extern const char cmd_encrypt_manual[], cmd_decrypt_manual[];
/* cmd_file.c: loads a CMK file and derives its file KEK and key id; prints
 * the error itself. */
struct lm_secret;
int cli_load_file_kek(const char *key_path, struct lm_secret **kek, unsigned char id[static 8]);

/* cli/cmd_key_rotate.c: the "rotate" verb of the key noun (cmd_key.c's table) */
int cmd_key_rotate(int argc, char **argv);
extern const char cmd_key_rotate_manual[];

#define LM_CLI_TOP_COMMANDS \
	{ "key", NULL, key_cmds, NULL, "manage customer master keys", NULL }, \
	{ "create", NULL, g_cli_create_cmds, NULL, "create a resource (instance)", NULL }, \
	{ "get", NULL, g_cli_get_cmds, NULL, "show a resource (instance)", NULL }, \
	{ "list", NULL, g_cli_list_cmds, NULL, "list resources (instances)", NULL }, \
	{ "delete", NULL, g_cli_delete_cmds, NULL, "delete a resource (instance)", NULL }, \
	{ "stop", NULL, g_cli_stop_cmds, NULL, "stop a resource (instance)", NULL }, \
	{ "start", NULL, g_cli_start_cmds, NULL, "start a stopped resource again (instance)", NULL }, \
	{ "logs", cmd_logs, NULL, "ID --encryption-key F [--old-key F]... [--json]", "decrypt an instance's logs", g_cli_logs_manual }, \
	{ "attest", cmd_attest, NULL, "ID --output F [--nonce HEX]", "save fresh attestation evidence", g_cli_attest_manual }, \
	{ "verify", cmd_verify, NULL, "EVIDENCE [options] [--json]", "check attestation evidence offline", cmd_verify_manual }, \
	{ "audit", NULL, g_cli_audit_cmds, NULL, "list and verify the audit log", NULL }, \
	{ "version", cmd_version, NULL, NULL, "print the version", NULL }, \
	{ "encrypt", cmd_encrypt, NULL, "--key KEY IN -o OUT", "encrypt a file for a CMK", cmd_encrypt_manual }, \
	{ "decrypt", cmd_decrypt, NULL, "--key KEY IN -o OUT", "decrypt and authenticate a file", cmd_decrypt_manual }, \
	{ "up", cmd_up, NULL, "[--data-dir DIR] [--listen ADDR:PORT] [--foreground] [--trace-requests FILE] [--max-instances N]", \
	  "start the platform on this machine", g_cli_up_manual }, \
	{ "down", cmd_down, NULL, "[--data-dir DIR]", "stop the platform", g_cli_down_manual }, \
	{ "status", cmd_status, NULL, "[--json]", "show whether the platform answers", g_cli_status_manual }, \
	{ "tenant", NULL, g_cli_tenant_cmds, NULL, "manage tenants (admin)", NULL },

#endif
