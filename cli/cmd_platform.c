/* lambda up / down / status: start, stop and look at the single-node
 * platform (lambdad with its embedded agent) on this machine. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "client.h"
#include "cmds.h"
#include "lambda/json.h"
#include "lambda/log.h"
#include "lambda/secret.h"
#include "lambda/util.h"

#define DEFAULT_LISTEN "127.0.0.1:7443"
#define WAIT_MS 10000

const char g_cli_up_manual[] =
	"Starts the control plane lambdad (with its embedded agent) in the background,\n"
	"waits until it answers, and writes the CLI configuration (endpoint, CA, admin\n"
	"token) so that the other commands reach it.\n"
	"\n"
	"options:\n"
	"  --data-dir DIR      platform state (default $XDG_DATA_HOME/lambda, else\n"
	"                      ~/.local/share/lambda)\n"
	"  --listen ADDR:PORT  listen address (default " DEFAULT_LISTEN "; IPv6 in\n"
	"                      brackets: [::1]:7443)\n"
	"  --foreground        keep lambdad attached to this terminal and log to it;\n"
	"                      Ctrl-C stops it\n"
	"  --trace-requests FILE\n"
	"                      append every request body lambdad receives to FILE: a\n"
	"                      diagnostic that shows what reaches the control plane\n"
	"                      (sealed blobs and metadata only)\n"
	"  --max-instances N   instances one tenant may have, deleted ones aside\n"
	"                      (1 to 1048576; lambdad's default: 32)\n"
	"\n"
	"The configuration marks the platform as local and simulated: `lambda create`\n"
	"then accepts its simulated evidence, which offers no hardware protection, and\n"
	"says so on every create.\n"
	"\n"
	"lambdad is looked up beside the lambda executable, then in ../daemon/ of a\n"
	"build tree, then in PATH; lambda-guest likewise (../guest/).\n"
	"\n"
	"Before anything is created, the listen address is checked (ADDRESS:PORT with\n"
	"a port of 1 to 65535, free to bind) and so is the data dir: it must not be\n"
	"empty, and an existing directory that holds other files is taken only when\n"
	"it already is a lambda data dir. A listen address other than loopback\n"
	"exposes the API to the network: lambda up warns, and the server certificate\n"
	"still names only loopback.\n"
	"\n"
	"exit status: 0 started, 1 lambdad failed to start (its log is shown),\n"
	"2 bad options (listen address, data dir, --max-instances), 4 the data dir\n"
	"is in use by a running lambdad or the listen address is taken.\n"
	"\n"
	"example:\n"
	"  lambda up --data-dir /tmp/lambda --listen 127.0.0.1:8443\n";

const char g_cli_down_manual[] =
	"Stops the lambdad that runs on the data dir (SIGTERM) and waits up to 10 s\n"
	"for it to release the data dir.\n"
	"\n"
	"options:\n"
	"  --data-dir DIR   default: the data_dir of the CLI configuration\n"
	"\n"
	"exit status: 0 stopped, 1 it did not stop in time, 4 not running.\n";

const char g_cli_status_manual[] =
	"Shows whether the configured platform answers, its version, and the number\n"
	"of instances of your tenant.\n"
	"\n"
	"options:\n"
	"  --json   print {\"endpoint\", \"status\", \"version\", \"instances\"}\n"
	"\n"
	"exit status: 0 running, 4 not reachable.\n";

static int default_data_dir(char *out, size_t size)
{
	const char *x = getenv("XDG_DATA_HOME"), *home = getenv("HOME");

	if (x && *x == '/')
		snprintf(out, size, "%s/lambda", x);
	else if (home && *home)
		snprintf(out, size, "%s/.local/share/lambda", home);
	else
		return LM_ENOENT;
	return 0;
}

static int absolute(const char *path, char *out, size_t size)
{
	char cwd[PATH_MAX];

	if (path[0] == '/') {
		snprintf(out, size, "%s", path);
		return 0;
	}
	if (!getcwd(cwd, sizeof(cwd)))
		return LM_EIO;
	if (strlen(cwd) + 1 + strlen(path) >= size)
		return LM_EINVAL;
	memcpy(out, cwd, strlen(cwd));
	out[strlen(cwd)] = '/';
	memcpy(out + strlen(cwd) + 1, path, strlen(path) + 1);
	return 0;
}

static bool is_exec(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

/* name beside /proc/self/exe, then in ../subdir/ of a build tree, then in
 * PATH. */
static bool find_program(const char *name, const char *subdir, char *out, size_t size)
{
	char self[PATH_MAX], *dir;
	const char *path = getenv("PATH");
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n > 0) {
		self[n] = 0;
		dir = dirname(self);
		snprintf(out, size, "%s/%s", dir, name);
		if (is_exec(out))
			return true;
		snprintf(out, size, "%s/../%s/%s", dir, subdir, name);
		if (is_exec(out))
			return true;
	}
	while (path && *path) {
		size_t len = strcspn(path, ":");

		snprintf(out, size, "%.*s/%s", (int)len, path, name);
		if (len && is_exec(out))
			return true;
		path += len + (path[len] == ':');
	}
	return false;
}

/* The endpoint clients use for a listen address: wildcard binds are
 * reached over loopback, which the server certificate names. */
static void endpoint_of(const char *listen, char *out, size_t size)
{
	const char *port = strrchr(listen, ':');

	if (strncmp(listen, "0.0.0.0:", 8) == 0)
		snprintf(out, size, "https://127.0.0.1%s", port);
	else if (strncmp(listen, "[::]:", 5) == 0)
		snprintf(out, size, "https://[::1]%s", port);
	else
		snprintf(out, size, "https://%s", listen);
}

static void print_log_tail(const char *dir)
{
	char path[PATH_MAX];
	uint8_t *text = NULL;
	size_t size = 0, start;
	int lines = 0;

	snprintf(path, sizeof(path), "%s/lambdad.log", dir);
	if (lm_file_read(path, LM_FILE_MAX, &text, &size) < 0)
		return;
	for (start = size; start > 0; start--)
		if (text[start - 1] == '\n' && ++lines > 10)
			break;
	fprintf(stderr, "--- last lines of %s ---\n%s", path, (char *)text + start);
	free(text);
}

static bool health_ok(const char *endpoint, const char *ca)
{
	struct lm_client *c = NULL;
	char *resp = NULL;
	size_t size;
	long status = 0;
	bool ok;

	if (access(ca, R_OK) != 0 || lm_client_new(endpoint, ca, NULL, &c) < 0)
		return false;
	ok = lm_client_request(c, "GET", "/v1/health", NULL, &status, &resp, &size) == 0 && status == 200;
	free(resp);
	lm_client_free(c);
	return ok;
}

static int read_token(const char *dir, char **out)
{
	char path[PATH_MAX];
	uint8_t *text = NULL;
	size_t size = 0;
	int r;

	snprintf(path, sizeof(path), "%s/admin.token", dir);
	if ((r = lm_file_read_private(path, 4096, &text, &size)) < 0)
		return r;
	text[strcspn((char *)text, "\r\n")] = 0;
	*out = (char *)text;
	return 0;
}

/* DATA_DIR/audit.pub, which lambdad wrote at its first start: pinned in
 * the configuration so that `lambda audit verify` accepts no other key. */
static char *read_audit_pub(const char *dir)
{
	char path[PATH_MAX];
	uint8_t *text = NULL;
	size_t size = 0;

	snprintf(path, sizeof(path), "%s/audit.pub", dir);
	if (lm_file_read(path, 64 * 1024, &text, &size) < 0)
		return NULL;
	return (char *)text;
}

static pid_t spawn(char *const argv[], bool detach, int err_fd)
{
	pid_t pid = fork();

	if (pid != 0)
		return pid;
	if (detach) {
		int null = open("/dev/null", O_RDWR);

		setsid();
		if (null >= 0) {
			dup2(null, STDIN_FILENO);
			dup2(null, STDOUT_FILENO);
			close(null);
		}
		if (err_fd >= 0)
			dup2(err_fd, STDERR_FILENO);
	}
	if (err_fd >= 0)
		close(err_fd);
	execv(argv[0], argv);
	fprintf(stderr, "lambda: cannot run %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

/* Checks --listen before any state exists: the ADDRESS:PORT or
 * [V6]:PORT form lambdad takes, then a trial bind, so that a bad address is
 * a usage error (2) and a taken port "busy" (4), with nothing created.
 * Warns when the address is not loopback. Returns an exit status. */
static int check_listen(const char *listen_addr)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct addrinfo *ai = NULL;
	char host[128], *end;
	const char *colon, *port;
	size_t n;
	long p;
	int fd = -1, one = 1, e, status = LM_EXIT_USAGE;

	if (listen_addr[0] == '[') {
		const char *close = strchr(listen_addr, ']');

		colon = close && close[1] == ':' ? close + 1 : NULL;
		n = close ? (size_t)(close - listen_addr - 1) : 0;
		memcpy(host, listen_addr + 1, n < sizeof(host) ? n : 0);
	} else {
		colon = strrchr(listen_addr, ':');
		n = colon ? (size_t)(colon - listen_addr) : 0;
		memcpy(host, listen_addr, n < sizeof(host) ? n : 0);
	}
	port = colon ? colon + 1 : "";
	p = strtol(port, &end, 10);
	if (!colon || n == 0 || n >= sizeof(host) || !*port || *end || p < 1 || p > 65535) {
		cli_error("--listen %s: expected ADDRESS:PORT with a port of 1 to 65535, e.g. " DEFAULT_LISTEN,
			  listen_addr);
		return LM_EXIT_USAGE;
	}
	host[n] = 0;
	if (listen_addr[0] != '[' && strchr(host, ':')) {
		cli_error("--listen %s: an IPv6 address goes in brackets, e.g. [::1]:%s", listen_addr, port);
		return LM_EXIT_USAGE;
	}
	if ((e = getaddrinfo(host, port, &hints, &ai)) != 0) {
		cli_error("--listen %s: %s", listen_addr, gai_strerror(e));
		return LM_EXIT_USAGE;
	}
	if ((fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
		e = errno;
		if (e == EADDRINUSE) {
			cli_error("cannot listen on %s: the address is in use by another program", listen_addr);
			status = LM_EXIT_UNAVAIL;
		} else {
			cli_error("cannot listen on %s: %s", listen_addr, strerror(e));
		}
		goto out;
	}
	if (!(ai->ai_family == AF_INET &&
	      (ntohl(((struct sockaddr_in *)ai->ai_addr)->sin_addr.s_addr) >> 24) == 127) &&
	    !(ai->ai_family == AF_INET6 && IN6_IS_ADDR_LOOPBACK(&((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr)))
		fprintf(stderr,
			"lambda: warning: --listen %s is not a loopback address: the API is exposed to the network, "
			"and the server certificate names only 127.0.0.1 and ::1\n",
			listen_addr);
	status = LM_EXIT_OK;
out:
	if (fd >= 0)
		close(fd);
	freeaddrinfo(ai);
	return status;
}

/* lambdad makes DIR mode 0700 and writes keys into it: refuse a directory
 * that holds other files unless it already is a lambda data dir. */
static int check_data_dir(const char *dir)
{
	static const char *const marks[] = { "lambda.db", "lambdad.lock", "ca.pem", "audit.key", NULL };
	struct dirent *de;
	bool has_other = false;
	char path[PATH_MAX + 16];
	struct stat st;
	DIR *d;

	if (stat(dir, &st) == 0 && !S_ISDIR(st.st_mode)) {
		cli_error("--data-dir %s is not a directory", dir);
		return LM_EXIT_USAGE;
	}
	if (!(d = opendir(dir)))
		return LM_EXIT_OK;	/* missing (lambdad makes it) or unreadable (lambdad says so) */
	while (!has_other && (de = readdir(d)) != NULL)
		has_other = strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
	closedir(d);
	if (!has_other)
		return LM_EXIT_OK;
	for (size_t i = 0; marks[i]; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, marks[i]);
		if (access(path, F_OK) == 0)
			return LM_EXIT_OK;
	}
	cli_error("--data-dir %s holds other files and is no lambda data dir: refusing to take it over "
		  "(give a new or empty directory)",
		  dir);
	return LM_EXIT_USAGE;
}

static bool lock_held(const char *dir);
static long running_pid(const char *dir);

int cmd_up(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "data-dir", required_argument, NULL, 'd' },
		{ "listen", required_argument, NULL, 'l' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "trace-requests", required_argument, NULL, 't' },
		{ "max-instances", required_argument, NULL, 'm' },
		{ NULL, 0, NULL, 0 },
	};
	char dir[PATH_MAX] = "", lambdad[PATH_MAX], guest[PATH_MAX], ca[PATH_MAX + 16], endpoint[300],
	     cfg_path[PATH_MAX], errbuf[1024];
	const char *listen_addr = DEFAULT_LISTEN, *dir_opt = NULL, *trace = NULL, *max_instances = NULL;
	struct cli_config cfg = { 0 };
	bool foreground = false;
	char *args[16];
	int c, n = 0, pipefd[2] = { -1, -1 }, wstatus, r, status = LM_EXIT_FAIL;
	uint64_t deadline;
	pid_t pid;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'd': dir_opt = optarg; break;
		case 'l': listen_addr = optarg; break;
		case 'f': foreground = true; break;
		case 't': trace = optarg; break;
		case 'm': max_instances = optarg; break;
		default: return LM_EXIT_USAGE;
		}
	}
	if (optind != argc) {
		cli_error("unexpected argument '%s'", argv[optind]);
		return LM_EXIT_USAGE;
	}
	if (dir_opt && !*dir_opt) {
		cli_error("--data-dir is empty: give a directory");
		return LM_EXIT_USAGE;
	}
	if (max_instances) {
		/* The same bounds as lambdad's, checked before anything starts. */
		char *end;
		unsigned long long limit = strtoull(max_instances, &end, 10);

		if (!isdigit((unsigned char)*max_instances) || *end || limit < 1 || limit > 1048576) {
			cli_error("--max-instances %s: expected a number from 1 to 1048576", max_instances);
			return LM_EXIT_USAGE;
		}
	}
	if (dir_opt ? absolute(dir_opt, dir, sizeof(dir)) < 0 : default_data_dir(dir, sizeof(dir)) < 0) {
		cli_error("no data dir: give --data-dir or set HOME");
		return LM_EXIT_USAGE;
	}
	/* Said here, not left to the new lambdad: its refusal could go unseen
	 * while the running one answers the health check. */
	if (lock_held(dir)) {
		long running = running_pid(dir);

		if (running > 0)
			cli_error("data dir %s is in use by lambdad pid %ld; `lambda down --data-dir %s` stops it",
				  dir, running, dir);
		else
			cli_error("data dir %s is in use by a lambdad; `lambda down --data-dir %s` stops it", dir, dir);
		return LM_EXIT_UNAVAIL;
	}
	if ((r = check_data_dir(dir)) != LM_EXIT_OK || (r = check_listen(listen_addr)) != LM_EXIT_OK)
		return r;
	if (!find_program("lambdad", "daemon", lambdad, sizeof(lambdad))) {
		cli_error("cannot find lambdad beside lambda, in ../daemon/ or in PATH");
		return LM_EXIT_FAIL;
	}
	args[n++] = lambdad;
	args[n++] = "--data-dir";
	args[n++] = dir;
	args[n++] = "--listen";
	args[n++] = (char *)listen_addr;
	if (find_program("lambda-guest", "guest", guest, sizeof(guest))) {
		args[n++] = "--guest";
		args[n++] = guest;
	} else {
		lm_warn("lambda-guest not found: instances cannot start");
	}
	if (foreground)
		args[n++] = "--foreground";
	if (trace) {
		args[n++] = "--trace-requests";
		args[n++] = (char *)trace;
	}
	if (max_instances) {
		args[n++] = "--max-instances";
		args[n++] = (char *)max_instances;
	}
	args[n] = NULL;

	if (!foreground && pipe2(pipefd, O_CLOEXEC) != 0) {
		cli_error("pipe: %s", strerror(errno));
		return LM_EXIT_FAIL;
	}
	if (!foreground)
		fcntl(pipefd[1], F_SETFD, 0);	/* the child's stderr */
	pid = spawn(args, !foreground, foreground ? -1 : pipefd[1]);
	if (pipefd[1] >= 0)
		close(pipefd[1]);
	if (pid < 0) {
		cli_error("fork: %s", strerror(errno));
		goto out;
	}
	snprintf(ca, sizeof(ca), "%s/ca.pem", dir);
	endpoint_of(listen_addr, endpoint, sizeof(endpoint));
	deadline = lm_now_ms() + WAIT_MS;
	for (;;) {
		if (waitpid(pid, &wstatus, WNOHANG) == pid) {
			ssize_t got = pipefd[0] >= 0 ? read(pipefd[0], errbuf, sizeof(errbuf) - 1) : 0;

			errbuf[got > 0 ? got : 0] = 0;
			if (WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == LM_EXIT_UNAVAIL) {
				/* The daemon's own words: "data dir D is in use by lambdad pid N". */
				fputs(errbuf, stderr);
				status = LM_EXIT_UNAVAIL;
				goto out;
			}
			fputs(errbuf, stderr);
			cli_error("lambdad exited during start-up (status %d)",
				  WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus));
			print_log_tail(dir);
			goto out;
		}
		if (health_ok(endpoint, ca))
			break;
		if (lm_now_ms() > deadline) {
			cli_error("lambdad did not answer at %s within %d s; stopping it", endpoint, WAIT_MS / 1000);
			kill(pid, SIGTERM);
			print_log_tail(dir);
			goto out;
		}
		usleep(100 * 1000);
	}

	cfg.endpoint = endpoint;
	cfg.ca_file = ca;
	cfg.data_dir = dir;
	cfg.allow_simulated_insecure = true;	/* the embedded agent's backend is simulated */
	if ((r = read_token(dir, &cfg.token)) < 0) {
		cli_error("cannot read %s/admin.token: %s", dir, lm_strerror(r));
		goto out;
	}
	cfg.audit_public_key = read_audit_pub(dir);
	if (!cfg.audit_public_key)
		cli_error("warning: no %s/audit.pub: the audit key is pinned on the first 'lambda audit verify'",
			  dir);
	r = cli_config_save(&cfg, cfg_path, sizeof(cfg_path));
	lm_free_wiped(cfg.token);
	free(cfg.audit_public_key);
	if (r < 0) {
		cli_error("cannot write the configuration: %s", lm_strerror(r));
		goto out;
	}
	printf("lambdad running (pid %ld)\n  endpoint  %s\n  data dir  %s\n  config    %s\n", (long)pid, endpoint, dir,
	       cfg_path);
	fflush(stdout);
	status = LM_EXIT_OK;
	if (foreground) {
		/* Ctrl-C reaches lambdad too (same process group); wait for it. */
		signal(SIGINT, SIG_IGN);
		signal(SIGTERM, SIG_IGN);
		if (waitpid(pid, &wstatus, 0) == pid && WIFEXITED(wstatus))
			status = WEXITSTATUS(wstatus);
	}
out:
	if (pipefd[0] >= 0)
		close(pipefd[0]);
	return status;
}

/* The pid lambdad wrote into DIR/lambdad.pid, or 0. */
static long running_pid(const char *dir)
{
	char path[PATH_MAX];
	uint8_t *text = NULL;
	size_t size;
	long pid = 0;

	snprintf(path, sizeof(path), "%s/lambdad.pid", dir);
	if (access(path, F_OK) == 0 && lm_file_read(path, 64, &text, &size) == 0)
		pid = strtol((char *)text, NULL, 10);
	free(text);
	return pid;
}

/* Returns true when someone holds DIR/lambdad.lock. */
static bool lock_held(const char *dir)
{
	char path[PATH_MAX];
	bool held;
	int fd;

	snprintf(path, sizeof(path), "%s/lambdad.lock", dir);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return false;
	held = flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
	close(fd);
	return held;
}

static int dir_from_config(char *out, size_t size)
{
	struct cli_config cfg = { 0 };

	if (cli_config_load(&cfg) < 0 || !cfg.data_dir) {
		cli_config_clear(&cfg);
		return default_data_dir(out, size);
	}
	snprintf(out, size, "%s", cfg.data_dir);
	cli_config_clear(&cfg);
	return 0;
}

int cmd_down(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "data-dir", required_argument, NULL, 'd' },
		{ NULL, 0, NULL, 0 },
	};
	char dir[PATH_MAX] = "";
	uint64_t deadline;
	long pid;
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c != 'd')
			return LM_EXIT_USAGE;
		if (!*optarg) {
			cli_error("--data-dir is empty: give a directory");
			return LM_EXIT_USAGE;
		}
		if (absolute(optarg, dir, sizeof(dir)) < 0)
			return LM_EXIT_FAIL;
	}
	if (optind != argc) {
		cli_error("unexpected argument '%s'", argv[optind]);
		return LM_EXIT_USAGE;
	}
	if (!dir[0] && dir_from_config(dir, sizeof(dir)) < 0) {
		cli_error("no data dir: give --data-dir");
		return LM_EXIT_USAGE;
	}
	pid = running_pid(dir);
	if (!lock_held(dir) || pid <= 1) {
		cli_error("lambdad is not running on %s", dir);
		return LM_EXIT_UNAVAIL;
	}
	if (kill((pid_t)pid, SIGTERM) != 0) {
		cli_error("cannot signal lambdad pid %ld: %s", pid, strerror(errno));
		return errno == ESRCH ? LM_EXIT_UNAVAIL : LM_EXIT_FAIL;
	}
	deadline = lm_now_ms() + WAIT_MS;
	while (lock_held(dir)) {
		if (lm_now_ms() > deadline) {
			cli_error("lambdad pid %ld did not stop within %d s; it still holds %s/lambdad.lock", pid,
				  WAIT_MS / 1000, dir);
			return LM_EXIT_FAIL;
		}
		usleep(50 * 1000);
	}
	printf("lambdad stopped (pid %ld, data dir %s)\n", pid, dir);
	return LM_EXIT_OK;
}

int cmd_status(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	struct cli_config cfg = { 0 };
	struct lm_client *cl = NULL;
	json_t *health = NULL, *list = NULL;
	bool as_json = false;
	int c, r;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c != 'j')
			return LM_EXIT_USAGE;
		as_json = true;
	}
	if ((r = cli_connect(&cl)) < 0)
		return lm_exit_code(r);
	if (cli_config_load(&cfg) < 0)
		goto out;
	if ((r = cli_api(cl, "GET", "/v1/health", NULL, &health)) < 0 ||
	    (r = cli_api(cl, "GET", "/v1/instances", NULL, &list)) < 0)
		goto out;
	if (as_json) {
		json_t *doc = json_pack("{s:s, s:O*, s:O*, s:I}", "endpoint", cfg.endpoint, "status",
					json_object_get(health, "status"), "version", json_object_get(health, "version"),
					"instances", (json_int_t)json_array_size(json_object_get(list, "instances")));
		char *text = doc ? json_dumps(doc, JSON_INDENT(2)) : NULL;

		if (text)
			puts(text);
		free(text);
		json_decref(doc);
	} else {
		printf("platform  %s (%s)\nendpoint  %s\nversion   %s\ninstances %zu\n",
		       lm_json_str(health, "status") ? lm_json_str(health, "status") : "?",
		       cfg.data_dir ? cfg.data_dir : "remote", cfg.endpoint,
		       lm_json_str(health, "version") ? lm_json_str(health, "version") : "?",
		       json_array_size(json_object_get(list, "instances")));
	}
out:
	json_decref(health);
	json_decref(list);
	cli_config_clear(&cfg);
	lm_client_free(cl);
	return lm_exit_code(r);
}
