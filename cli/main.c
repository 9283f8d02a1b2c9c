/* The lambda command: walks the subcommand tables, prints usage from them
 * at every level and installs the diagnostic printer. */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "client.h"
#include "cmds.h"
#include "lambda/log.h"

bool g_cli_verbose;

static const struct lm_cmd top_cmds[] = {
	LM_CLI_TOP_COMMANDS
	{ 0 }
};

void cli_error(const char *fmt, ...)
{
	va_list ap;

	fputs("lambda: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int cli_fail(int r, const char *fmt, ...)
{
	va_list ap;

	fputs("lambda: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, ": %s\n", lm_strerror(r));
	return lm_exit_code(r);
}

void cli_usage(const char *path, const char *args, const char *manual)
{
	printf("usage: lambda %s%s%s\n", path, args ? " " : "", args ? args : "");
	if (manual)
		printf("\n%s", manual);
}

bool cli_is_tty(void)
{
	return isatty(STDOUT_FILENO) && !getenv("NO_COLOR");
}

static void print_log(enum lm_log_level level, const char *msg, void *ctx)
{
	(void)ctx;
	if (level == LM_LOG_DEBUG && !g_cli_verbose)
		return;
	if (level == LM_LOG_INFO && !g_cli_verbose)
		return;
	fprintf(stderr, "lambda: %s%s\n", level == LM_LOG_WARN ? "warning: " : "", msg);
}

static void print_table(FILE *f, const char *path, const struct lm_cmd *cmds)
{
	fprintf(f, "usage: lambda %s%s<command> [options]\n\ncommands:\n", path, *path ? " " : "");
	for (const struct lm_cmd *c = cmds; c->name; c++) {
		/* Large enough for the longest args string of any table (up's is
		 * over 80 characters); a short buffer cut it off mid-option. */
		char left[256];

		snprintf(left, sizeof(left), "%s%s%s", c->name, c->args ? " " : "", c->args ? c->args : "");
		if (strlen(left) > 34)
			fprintf(f, "  %s\n  %-34s %s\n", left, "", c->help);
		else
			fprintf(f, "  %-34s %s\n", left, c->help);
	}
	fprintf(f, "\nRun 'lambda %s%s<command> --help' for the options of one command.\n"
		   "Exit status: 0 success, 1 failed or not verified, 2 usage or unusable input,\n"
		   "3 key problem, 4 platform unreachable or busy, 5 not found, 6 credentials refused.\n"
		   "Global options: --config FILE (default $LAMBDA_CONFIG, then\n"
		   "$XDG_CONFIG_HOME/lambda/config.json, then ~/.config/lambda/config.json), -v.\n",
		path, *path ? " " : "");
}

static int dispatch(char *path, size_t path_size, const struct lm_cmd *cmds, int argc, char **argv)
{
	static char prog[160];
	const struct lm_cmd *c;
	size_t n = strlen(path);

	if (argc < 1 || strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0 ||
	    strcmp(argv[0], "help") == 0) {
		print_table(argc < 1 ? stderr : stdout, path, cmds);
		return argc < 1 ? LM_EXIT_USAGE : LM_EXIT_OK;
	}
	for (c = cmds; c->name; c++)
		if (strcmp(c->name, argv[0]) == 0)
			break;
	if (!c->name) {
		cli_error("unknown command '%s%s%s'; run 'lambda %s%s--help'", path, n ? " " : "", argv[0],
			  path, n ? " " : "");
		return LM_EXIT_USAGE;
	}
	snprintf(path + n, path_size - n, "%s%s", n ? " " : "", c->name);
	if (c->sub)
		return dispatch(path, path_size, c->sub, argc - 1, argv + 1);
	if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		cli_usage(path, c->args, c->manual ? c->manual : c->help);
		return LM_EXIT_OK;
	}
	optind = 0;	/* handlers parse with getopt_long from a fresh start */
	/* getopt names the program by argv[0] in its messages: the whole
	 * command ("lambda key generate: unrecognized option"). */
	snprintf(prog, sizeof(prog), "lambda %s", path);
	argv[0] = prog;
	return c->run(argc, argv);
}

int main(int argc, char **argv)
{
	char path[128] = "";
	int i = 1, ex;

	for (; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "-v") == 0 || strcmp(argv[i], "--verbose") == 0) {
			g_cli_verbose = true;
		} else if (strcmp(argv[i], "--config") == 0) {
			if (i + 1 >= argc) {
				cli_error("--config needs a file");
				return LM_EXIT_USAGE;
			}
			g_cli_config_path = argv[++i];
		} else if (strncmp(argv[i], "--config=", 9) == 0) {
			g_cli_config_path = argv[i] + 9;
		} else if (strcmp(argv[i], "--version") == 0) {
			printf("lambda %s\n", LAMBDA_VERSION);
			return 0;
		} else {
			break;
		}
	}
	lm_log_set_handler(print_log, NULL);
	ex = dispatch(path, sizeof(path), top_cmds, argc - i, argv + i);
	/* Output that never reached its destination (a full disk, a closed
	 * pipe) is a failure, whatever the command made of it. */
	errno = 0;
	if ((fflush(stdout) != 0 || ferror(stdout)) && ex == LM_EXIT_OK) {
		cli_error("writing to standard output: %s", errno ? strerror(errno) : "write error");
		ex = LM_EXIT_FAIL;
	}
	return ex;
}
