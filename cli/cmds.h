/* The nouns of the lambda command, one table per cli/cmd_<noun>.c. The top
 * table in main.c is built from LM_CLI_TOP_COMMANDS. */
#ifndef LAMBDA_CLI_CMDS_H
#define LAMBDA_CLI_CMDS_H

#include "cli.h"

int cmd_version(int argc, char **argv);
extern const struct lm_cmd key_cmds[];

#define LM_CLI_TOP_COMMANDS \
	{ "key", NULL, key_cmds, NULL, "manage customer master keys", NULL }, \
	{ "version", cmd_version, NULL, NULL, "print the version", NULL },

#endif
