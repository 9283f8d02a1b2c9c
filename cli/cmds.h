/* The nouns of the lambda command, one table per cli/cmd_<noun>.c. The top
 * table in main.c is built from LM_CLI_TOP_COMMANDS. */
#ifndef LAMBDA_CLI_CMDS_H
#define LAMBDA_CLI_CMDS_H

#include "cli.h"

int cmd_version(int argc, char **argv);
int cmd_verify(int argc, char **argv);
extern const char cmd_verify_manual[];

#define LM_CLI_TOP_COMMANDS \
	{ "version", cmd_version, NULL, NULL, "print the version", NULL }, \
	{ "verify", cmd_verify, NULL, "FILE [options] [--json]", "check attestation evidence offline", \
	  cmd_verify_manual },

#endif
