/* Shared pieces of the lambda command-line tool: the subcommand table, the
 * diagnostic printer and option helpers. Each noun lives in cli/cmd_<noun>.c
 * and exports its table of verbs. */
#ifndef LAMBDA_CLI_H
#define LAMBDA_CLI_H

#include <stdbool.h>

#include "lambda/err.h"

struct lm_cmd {
	const char *name;
	int (*run)(int argc, char **argv);	/* returns an exit status */
	const struct lm_cmd *sub;		/* nested verbs, or NULL */
	const char *args, *help;
	const char *manual;			/* long help shown by --help */
};

/* Prints "lambda: " + message to stderr. */
void cli_error(const char *fmt, ...) LM_PRINTF(1, 2);

/* Prints an error for code r with context and returns lm_exit_code(r). */
int cli_fail(int r, const char *fmt, ...) LM_PRINTF(2, 3);

/* Prints the usage of the command whose argv[0] is the verb being run:
 * "usage: lambda <path> <args>" and its manual. Used by --help handlers. */
void cli_usage(const char *path, const char *args, const char *manual);

/* True when isatty(stdout) and NO_COLOR is unset. */
bool cli_is_tty(void);

/* Set by the dispatcher: -v/--verbose on the command line. */
extern bool g_cli_verbose;

#endif
