/* lambdad: options, the log file, signals and the event loop of the
 * control plane. SIGTERM and SIGINT end the loop; everything is then torn
 * down in order (agent, listener, store, lock). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "lambda/agent.h"
#include "lambda/log.h"
#include "lambda/secret.h"
#include "lambda/util.h"
#include "lambdad.h"

static FILE *g_log;
static bool g_log_stderr;

static const char usage[] =
	"usage: lambdad --data-dir DIR [--listen ADDR:PORT] [--region NAME] [--guest PATH]\n"
	"               [--trace-requests FILE] [--max-instances N] [--max-volume-size BYTES]\n"
	"               [--max-connections N] [--idle-timeout SECONDS] [--foreground]\n"
	"\n"
	"The lambda control plane: the HTTPS API of docs/api.md (TLS 1.3), the store,\n"
	"the audit log and the embedded agent. Normally started by 'lambda up'.\n"
	"\n"
	"  --data-dir DIR         state directory (made with mode 0700; one lambdad per DIR)\n"
	"  --listen ADDR:PORT     listen address (default 127.0.0.1:7443; [::1]:PORT for IPv6)\n"
	"  --region NAME          region this node serves (default local)\n"
	"  --guest PATH           the lambda-guest executable the agent launches\n"
	"  --trace-requests FILE  append every request received (method, path, body) to FILE\n"
	"  --max-instances N      instances one tenant may have, deleted ones aside\n"
	"                         (default 32)\n"
	"  --max-volume-size BYTES  largest volume an instance may ask for (default\n"
	"                         68719476736, 64 GiB; at least 33554432, 32 MiB)\n"
	"  --max-connections N    client connections open at once (default 1024);\n"
	"                         more wait until one closes\n"
	"  --idle-timeout SECONDS a connection silent this long, in the TLS handshake\n"
	"                         or between requests, is closed (default 30)\n"
	"  --foreground           also log to stderr\n"
	"\n"
	"Exit status: 0 after SIGTERM or SIGINT, 1 on a start-up failure, 2 on bad\n"
	"options, 4 when DIR is in use by another lambdad.\n";

static void log_line(enum lm_log_level level, const char *msg, void *ctx)
{
	static const char *const names[] = { "error", "warning", "info", "debug" };
	char ts[32];

	(void)ctx;
	if (level == LM_LOG_DEBUG)
		return;
	lm_time_format(ts, sizeof(ts), time(NULL));
	if (g_log) {
		fprintf(g_log, "%s lambdad[%ld] %s: %s\n", ts, (long)getpid(), names[level], msg);
		fflush(g_log);
	}
	if (g_log_stderr || !g_log)
		fprintf(stderr, "lambdad: %s: %s\n", names[level], msg);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct lmd *d = arg;

	(void)what;
	lm_info("signal %d: shutting down", (int)sig);
	event_base_loopexit(d->base, NULL);
}

static int open_log(const char *dir)
{
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "%s/lambdad.log", dir);
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0 || !(g_log = fdopen(fd, "a"))) {
		fprintf(stderr, "lambdad: %s: %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return LM_EIO;
	}
	return 0;
}

static int start_agent(struct lmd *d)
{
	char state[PATH_MAX];
	struct lm_agent_config cfg = {
		.state_dir = state,
		.guest_path = d->opt.guest_path,
		.backend = "simulated",
		.runtime = "process",
		.on_status = lmd_on_status,
		.ctx = d,
	};
	int r;

	lmd_path(d, state, sizeof(state), "agent");
	r = lm_agent_new(d->base, &cfg, &d->agent);
	if (r < 0)
		lm_warn("embedded agent unavailable (%s): instances cannot be launched", lm_strerror(r));
	return 0;	/* the API still serves tenants, audit and health */
}

static int parse_limit(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (!*s || *s == '-' || *end || errno || v < min || v > max)
		return LM_EINVAL;
	*out = v;
	return 0;
}

static int bad_option(const char *name, const char *value, const char *want)
{
	fprintf(stderr, "lambdad: %s %s: expected %s\n", name, value, want);
	return 2;
}

static int check_listen(const char *listen_addr)
{
	unsigned short port;
	char host[128];

	if (lmd_listen_parse(listen_addr, host, sizeof(host), &port) < 0) {
		fprintf(stderr, "lambdad: --listen %s: expected ADDRESS:PORT with a port of 1 to 65535\n", listen_addr);
		return LM_EINVAL;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "data-dir", required_argument, NULL, 'd' },
		{ "listen", required_argument, NULL, 'l' },
		{ "region", required_argument, NULL, 'r' },
		{ "guest", required_argument, NULL, 'g' },
		{ "trace-requests", required_argument, NULL, 't' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "max-instances", required_argument, NULL, 'm' },
		{ "max-volume-size", required_argument, NULL, 'v' },
		{ "max-connections", required_argument, NULL, 'c' },
		{ "idle-timeout", required_argument, NULL, 'i' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct lmd d = { .opt = { .listen = "127.0.0.1:7443", .region = "local", .max_instances = LMD_MAX_INSTANCES,
				  .max_volume_size = LMD_MAX_VOLUME, .max_connections = LMD_MAX_CONNECTIONS,
				  .idle_timeout_s = LMD_IDLE_TIMEOUT_S },
			 .lock_fd = -1 };
	struct event *sig_term = NULL, *sig_int = NULL;
	uint64_t limit;
	long owner = 0;
	int c, r, status = 1;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'd': d.opt.data_dir = optarg; break;
		case 'l': d.opt.listen = optarg; break;
		case 'r': d.opt.region = optarg; break;
		case 'g': d.opt.guest_path = optarg; break;
		case 't': d.opt.trace_path = optarg; break;
		case 'f': d.opt.foreground = true; break;
		case 'm':
			if (parse_limit(optarg, 1, 1u << 20, &limit) < 0)
				return bad_option("--max-instances", optarg, "1 to 1048576");
			d.opt.max_instances = (unsigned)limit;
			break;
		case 'v':
			if (parse_limit(optarg, LMD_MIN_VOLUME, UINT64_MAX >> 1, &limit) < 0)
				return bad_option("--max-volume-size", optarg, "bytes, at least 33554432 (32 MiB)");
			d.opt.max_volume_size = limit;
			break;
		case 'c':
			if (parse_limit(optarg, 1, 1u << 20, &limit) < 0)
				return bad_option("--max-connections", optarg, "1 to 1048576");
			d.opt.max_connections = (unsigned)limit;
			break;
		case 'i':
			if (parse_limit(optarg, 1, 3600, &limit) < 0)
				return bad_option("--idle-timeout", optarg, "1 to 3600 seconds");
			d.opt.idle_timeout_s = (unsigned)limit;
			break;
		case 'h': fputs(usage, stdout); return 0;
		default: fputs(usage, stderr); return 2;
		}
	}
	if (!d.opt.data_dir || !*d.opt.data_dir || optind != argc) {
		fputs(usage, stderr);
		return 2;
	}
	/* Bad options create nothing: checked before DIR is made. */
	if (check_listen(d.opt.listen) < 0)
		return 2;
	g_log_stderr = d.opt.foreground;
	lm_log_set_handler(log_line, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (lm_process_harden() < 0)
		lm_warn("cannot disable core dumps and ptrace");

	/* The log lives in DIR: make DIR first, then log everything else. */
	if (lm_mkdir_p(d.opt.data_dir, 0700) < 0 || open_log(d.opt.data_dir) < 0)
		return 1;
	r = lmd_state_open(&d, &owner);
	if (r == LM_EBUSY) {
		fprintf(stderr, "lambdad: data dir %s is in use by lambdad pid %ld\n", d.opt.data_dir, owner);
		lm_log(LM_LOG_ERR, "data dir %s is in use by lambdad pid %ld", d.opt.data_dir, owner);
		status = LMD_EXIT_BUSY;
		goto out;
	}
	if (r < 0)
		goto fail;
	if (!d.audit_broken)
		lmd_instances_recover(&d);
	if (d.opt.trace_path && !(d.trace = fopen(d.opt.trace_path, "ae"))) {
		lm_err("--trace-requests %s: %s", d.opt.trace_path, strerror(errno));
		goto fail;
	}
	if (!(d.base = event_base_new())) {
		lm_err("event_base_new failed");
		goto fail;
	}
	if (start_agent(&d) < 0 || lmd_http_start(&d) < 0)
		goto fail;
	sig_term = evsignal_new(d.base, SIGTERM, on_signal, &d);
	sig_int = evsignal_new(d.base, SIGINT, on_signal, &d);
	if (!sig_term || !sig_int || event_add(sig_term, NULL) != 0 || event_add(sig_int, NULL) != 0) {
		lm_err("cannot install signal handlers");
		goto fail;
	}
	lm_info("lambdad %s started: data dir %s, region %s, pid %ld", LAMBDA_VERSION, d.opt.data_dir, d.opt.region,
		(long)getpid());
	if (event_base_dispatch(d.base) < 0) {
		lm_err("event loop failed");
		goto fail;
	}
	lm_info("stopped");
	status = 0;
	goto out;
fail:
	fprintf(stderr, "lambdad: start-up failed; see %s/lambdad.log\n", d.opt.data_dir);
out:
	/* The agent first: it may still answer pending requests. */
	lm_agent_free(d.agent);
	lmd_auth_flush(&d);
	lmd_http_stop(&d);
	lmd_releases_free(&d);
	if (sig_term)
		event_free(sig_term);
	if (sig_int)
		event_free(sig_int);
	if (d.base)
		event_base_free(d.base);
	if (d.trace)
		fclose(d.trace);
	lmd_state_close(&d);
	if (g_log)
		fclose(g_log);
	return status;
}
