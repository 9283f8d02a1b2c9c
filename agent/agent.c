/* The node agent (include/lambda/agent.h): one lambda-guest process per
 * instance, each spoken to over a socketpair on its fd 3 with the guest
 * channel (channel.h, docs/formats.md). The agent relays nonces and sealed
 * blobs it cannot open, appends the ciphertext log records the guest sends
 * to DIR/logs.enc, and turns the guest's events and its exit into status
 * reports. Everything runs on the caller's event_base; guests are watched
 * with a pidfd each, so no SIGCHLD handler steals the caller's children
 * (an evsignal on SIGCHLD that only waits for known pids is the fallback
 * for kernels without pidfd). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <jansson.h>

#include "channel.h"
#include "lambda/agent.h"
#include "lambda/attest.h"
#include "lambda/crypto.h"
#include "lambda/json.h"
#include "lambda/log.h"
#include "lambda/secret.h"
#include "lambda/util.h"
#include "lambda/volume.h"

#define AGENT_ID_MAX 64			/* instance and volume ids, with NUL */
#define AGENT_STOP_MS 5000		/* stop, then SIGKILL */
#define AGENT_HALT_MS 15000		/* the same for stop/start: let the volume close */
#define AGENT_REPLY_SECS 120		/* a guest that does not answer */
#define AGENT_SANDBOX "process-v1"
#define AGENT_SIM_KEY "sim-attest.key"
#define LOGREC_VERSION 1

struct pending {
	struct pending *next;
	struct guest *guest;
	uint64_t id;
	bool is_attest;
	bool is_rotate;
	lm_agent_reply_fn cb;
	void *ctx;
	struct event *timeout;
};

struct guest {
	struct guest *next;
	struct lm_agent *agent;
	char id[AGENT_ID_MAX];
	char *dir;
	pid_t pid;
	int pidfd;			/* -1 with the SIGCHLD fallback */
	struct event *pid_ev;
	struct bufferevent *bev;	/* NULL once the channel closed */
	struct bufferevent *err_bev;	/* the guest's stderr: its diagnostics */
	struct lm_chan_parser parser;
	int logs_fd;
	uint64_t logs_size;
	uint64_t next_req;
	struct pending *pending;
	char status[16];		/* pending, awaiting_key, running, exited, failed */
	bool is_reaped;
	bool is_deleting;		/* no more reports or requests */
	bool is_draining;		/* halted: only its last log records are taken */
	bool logs_full;			/* records are being dropped (said once) */
	bool is_free_later;		/* deleted while a callback held it */
	bool is_rotating;		/* a rotate request is outstanding */
	uint64_t rot_done, rot_total;	/* its last progress report */
	unsigned busy;
};

struct lm_agent {
	struct event_base *base;
	char *state_dir;
	char *guest_path;
	char *sim_key_path;
	lm_agent_status_fn on_status;
	void *ctx;
	struct event *sigchld_ev;
	struct guest *guests;
};

static void guest_reaped(struct guest *g, int wstatus);
static void run_dir_clear(const char *id);

static bool is_valid_id(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n >= AGENT_ID_MAX || s[0] == '.' || s[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!(s[i] >= 'a' && s[i] <= 'z') && !(s[i] >= 'A' && s[i] <= 'Z') &&
		    !(s[i] >= '0' && s[i] <= '9') && s[i] != '_' && s[i] != '-')
			return false;
	return true;
}

static bool is_terminal(const char *status)
{
	return strcmp(status, "exited") == 0 || strcmp(status, "failed") == 0;
}

static char *path_join(const char *a, const char *b)
{
	char *p;

	if (asprintf(&p, "%s/%s", a, b) < 0)
		return NULL;
	return p;
}

static struct guest *guest_find(struct lm_agent *agent, const char *id)
{
	for (struct guest *g = agent->guests; g; g = g->next)
		if (strcmp(g->id, id) == 0)
			return g;
	return NULL;
}

static void guest_report(struct guest *g, const char *status, int exit_code)
{
	struct lm_agent *agent = g->agent;

	snprintf(g->status, sizeof(g->status), "%s", status);
	if (!g->is_deleting && agent->on_status)
		agent->on_status(agent->ctx, g->id, status, exit_code);
}

/* ---- requests ---- */

static void pending_free(struct pending *p)
{
	if (!p)
		return;
	if (p->timeout)
		event_free(p->timeout);
	free(p);
}

static struct pending *pending_take(struct guest *g, uint64_t id)
{
	for (struct pending **pp = &g->pending; *pp; pp = &(*pp)->next) {
		struct pending *p = *pp;

		if (p->id == id) {
			*pp = p->next;
			return p;
		}
	}
	return NULL;
}

/* Answers every outstanding request of g with r (callbacks may run). */
static void guest_fail_pending(struct guest *g, int r, const char *why, bool call)
{
	struct pending *p;

	g->is_rotating = false;
	while ((p = g->pending) != NULL) {
		g->pending = p->next;
		if (call && p->cb)
			p->cb(p->ctx, r, NULL, why);
		pending_free(p);
	}
}

static void on_request_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct pending *p = arg;
	struct guest *g = p->guest;

	(void)fd;
	(void)what;
	p = pending_take(g, p->id);
	if (!p)
		return;
	if (p->is_rotate)
		g->is_rotating = false;
	lm_warn("instance %s: guest did not answer request %llu", g->id, (unsigned long long)p->id);
	g->busy++;
	if (p->cb)
		p->cb(p->ctx, LM_EUNAVAIL, NULL, "the instance's guest did not answer");
	g->busy--;
	pending_free(p);
}

/* Sends req (consumed) to the guest and remembers cb for its reply. */
static int guest_request(struct guest *g, json_t *req, bool is_attest, lm_agent_reply_fn cb, void *ctx,
			 struct pending **sent)
{
	struct timeval tv = { AGENT_REPLY_SECS, 0 };
	struct pending *p = NULL;
	uint8_t *frame = NULL;
	size_t size;
	int r;

	if (!req) {
		r = LM_ENOMEM;
		goto out;
	}
	if (!g->bev || g->is_reaped || g->is_deleting) {
		lm_warn("instance %s: the guest is not running", g->id);
		r = LM_EUNAVAIL;
		goto out;
	}
	p = calloc(1, sizeof(*p));
	if (!p) {
		r = LM_ENOMEM;
		goto out;
	}
	p->guest = g;
	p->id = ++g->next_req;
	p->is_attest = is_attest;
	p->cb = cb;
	p->ctx = ctx;
	p->timeout = evtimer_new(g->agent->base, on_request_timeout, p);
	if (!p->timeout || json_object_set_new(req, "id", json_integer((json_int_t)p->id)) != 0) {
		r = LM_ENOMEM;
		goto out;
	}
	if ((r = lm_chan_encode(req, &frame, &size)) < 0)
		goto out;
	if (bufferevent_write(g->bev, frame, size) != 0 || evtimer_add(p->timeout, &tv) != 0) {
		r = LM_EIO;
		goto out;
	}
	p->next = g->pending;
	g->pending = p;
	if (sent)
		*sent = p;
	p = NULL;
	r = 0;
out:
	free(frame);
	pending_free(p);
	json_decref(req);
	return r;
}

/* ---- frames from the guest ---- */

static int guest_reply(struct guest *g, json_t *msg)
{
	json_t *id = json_object_get(msg, "id"), *ok = json_object_get(msg, "ok");
	struct pending *p;
	char *body = NULL;
	int r;

	if (!json_is_integer(id) || !json_is_boolean(ok)) {
		lm_warn("instance %s: guest sent a reply without id or ok", g->id);
		return LM_EFORMAT;
	}
	p = pending_take(g, (uint64_t)json_integer_value(id));
	if (!p) {
		lm_warn("instance %s: guest answered unknown request %lld", g->id,
			(long long)json_integer_value(id));
		return LM_EFORMAT;
	}
	if (p->is_rotate)
		g->is_rotating = false;
	if (json_is_true(ok)) {
		if (p->is_attest) {
			json_t *ev = json_object_get(msg, "evidence");

			body = json_is_object(ev) ? json_dumps(ev, JSON_INDENT(2)) : NULL;
			r = body ? 0 : LM_EFORMAT;
		} else {
			json_object_del(msg, "id");
			json_object_del(msg, "ok");
			body = json_dumps(msg, JSON_COMPACT);
			r = body ? 0 : LM_ENOMEM;
		}
		if (p->cb)
			p->cb(p->ctx, r, body, r ? "malformed reply from the instance's guest" : NULL);
	} else {
		const char *err = lm_json_str(msg, "error");
		json_t *code = json_object_get(msg, "code");

		r = LM_EIO;
		if (json_is_integer(code) && json_integer_value(code) < 0 &&
		    json_integer_value(code) >= LM_ETOOBIG)
			r = (int)json_integer_value(code);
		if (p->cb)
			p->cb(p->ctx, r, NULL, err ? err : "the instance's guest failed the request");
	}
	free(body);
	pending_free(p);
	return 0;
}

/* A record must be well formed enough that logs.enc stays a sequence of
 * records: version 1, stream 1, 2 or 3 (end of a run), and a length field
 * that covers the rest. */
static bool is_logrec(const uint8_t *rec, size_t size)
{
	uint32_t len;

	if (size < LM_LOGREC_HEADER_BYTES + 16 || rec[0] != LOGREC_VERSION || rec[1] < 1 ||
	    rec[1] > LM_LOGREC_STREAM_END)
		return false;
	len = (uint32_t)rec[10] << 24 | (uint32_t)rec[11] << 16 | (uint32_t)rec[12] << 8 | rec[13];
	return (size_t)len == size - LM_LOGREC_HEADER_BYTES;
}

static int guest_append_log(struct guest *g, const char *b64)
{
	uint8_t *rec = NULL;
	size_t size = 0, done = 0;
	int r;

	if (!b64 || lm_base64_decode(b64, &rec, &size) < 0 || !is_logrec(rec, size)) {
		lm_warn("instance %s: guest sent a malformed log record", g->id);
		r = LM_EFORMAT;
		goto out;
	}
	if (g->logs_size + size > LM_FILE_MAX) {
		/* lm_agent_logs() reads the file whole: stop growing it. Said
		 * once per guest: the workload sets the pace of these. */
		if (!g->logs_full)
			lm_warn("instance %s: log store full (%u MiB): dropping its further records; "
				"lambda logs will show the log cut there", g->id, LM_FILE_MAX >> 20);
		g->logs_full = true;
		r = 0;
		goto out;
	}
	if (g->logs_fd < 0) {
		char *path = path_join(g->dir, "logs.enc");
		struct stat st;

		if (!path) {
			r = LM_ENOMEM;
			goto out;
		}
		g->logs_fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
		free(path);
		if (g->logs_fd < 0 || fstat(g->logs_fd, &st) != 0) {
			lm_err("instance %s: cannot open logs.enc: %s", g->id, strerror(errno));
			r = LM_EIO;
			goto out;
		}
		g->logs_size = (uint64_t)st.st_size;
	}
	while (done < size) {
		ssize_t n = write(g->logs_fd, rec + done, size - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			lm_err("instance %s: cannot append to logs.enc: %s", g->id, strerror(errno));
			r = LM_EIO;
			goto out;
		}
		done += (size_t)n;
	}
	g->logs_size += size;
	r = 0;
out:
	free(rec);
	/* A store failure is the node's problem, not a protocol error. */
	return r == LM_EFORMAT ? r : 0;
}

/* A progress report of the rotation request id: logged, kept for
 * lm_agent_rotation_progress(), and the request's deadline moves on, since
 * a reencryption of a large volume takes longer than one reply timeout. */
static int guest_progress(struct guest *g, json_t *msg)
{
	struct timeval tv = { AGENT_REPLY_SECS, 0 };
	json_t *id = json_object_get(msg, "id"), *done = json_object_get(msg, "done"),
	       *total = json_object_get(msg, "total");
	struct pending *p = NULL;

	if (!json_is_integer(id) || !json_is_integer(done) || !json_is_integer(total) || json_integer_value(done) < 0 ||
	    json_integer_value(total) < json_integer_value(done)) {
		lm_warn("instance %s: guest sent a malformed progress event", g->id);
		return LM_EFORMAT;
	}
	for (p = g->pending; p; p = p->next)
		if (p->id == (uint64_t)json_integer_value(id) && p->is_rotate)
			break;
	if (!p) {
		lm_warn("instance %s: progress for no rotation", g->id);
		return 0;
	}
	g->rot_done = (uint64_t)json_integer_value(done);
	g->rot_total = (uint64_t)json_integer_value(total);
	if (evtimer_add(p->timeout, &tv) != 0)
		lm_warn("instance %s: cannot extend the rotation's deadline", g->id);
	lm_info("instance %s: reencryption %llu of %llu MiB", g->id, (unsigned long long)(g->rot_done >> 20),
		(unsigned long long)(g->rot_total >> 20));
	return 0;
}

static int guest_event(struct guest *g, const char *event, json_t *msg)
{
	const char *status = lm_json_str(msg, "status");

	if (strcmp(event, "log") == 0)
		return guest_append_log(g, lm_json_str(msg, "record"));
	if (strcmp(event, "progress") == 0)
		return guest_progress(g, msg);
	if (strcmp(event, "status") == 0 && status &&
	    (strcmp(status, "awaiting_key") == 0 || strcmp(status, "running") == 0)) {
		guest_report(g, status, -1);
		return 0;
	}
	if (strcmp(event, "exit") == 0 && status && (strcmp(status, "exited") == 0 || strcmp(status, "failed") == 0)) {
		json_t *code = json_object_get(msg, "exit_code");

		if (!json_is_integer(code) || json_integer_value(code) < -1 || json_integer_value(code) > 255) {
			lm_warn("instance %s: guest sent a bad exit code", g->id);
			return LM_EFORMAT;
		}
		guest_report(g, status, (int)json_integer_value(code));
		return 0;
	}
	lm_warn("instance %s: guest sent an unknown event", g->id);
	return LM_EFORMAT;
}

static int on_guest_frame(void *ctx, json_t *msg)
{
	struct guest *g = ctx;
	const char *event = lm_json_str(msg, "event");

	if (g->is_deleting && !(g->is_draining && event && strcmp(event, "log") == 0))
		return 0;
	return event ? guest_event(g, event, msg) : guest_reply(g, msg);
}

/* ---- the channel and the process ---- */

static void guest_close_channel(struct guest *g)
{
	if (!g->bev)
		return;
	lm_chan_reset(&g->parser);
	bufferevent_free(g->bev);
	g->bev = NULL;
}

/* Feeds whatever the input buffer holds to the parser. A guest that breaks
 * the protocol is killed: nothing it says later can be trusted to line up. */
static void guest_consume(struct guest *g)
{
	struct evbuffer *in;

	while (g->bev && (!g->is_deleting || g->is_draining)) {
		size_t n;
		uint8_t *data;
		int r;

		in = bufferevent_get_input(g->bev);
		n = evbuffer_get_length(in);
		if (n == 0)
			break;
		if (n > 65536)
			n = 65536;
		data = evbuffer_pullup(in, (ssize_t)n);
		if (!data)
			break;
		r = lm_chan_feed(&g->parser, data, n);
		if (g->bev)
			evbuffer_drain(bufferevent_get_input(g->bev), n);
		if (r < 0) {
			lm_err("instance %s: guest channel error (%s); stopping the guest", g->id, lm_strerror(r));
			if (!g->is_reaped)
				kill(g->pid, SIGKILL);
			guest_close_channel(g);
			break;
		}
	}
}

static void guest_free(struct guest *g)
{
	if (!g)
		return;
	guest_close_channel(g);
	if (g->err_bev)
		bufferevent_free(g->err_bev);
	lm_chan_reset(&g->parser);
	guest_fail_pending(g, LM_EUNAVAIL, NULL, false);
	if (g->pid_ev)
		event_free(g->pid_ev);
	if (g->pidfd >= 0)
		close(g->pidfd);
	if (g->logs_fd >= 0)
		close(g->logs_fd);
	free(g->dir);
	free(g);
}

static void guest_put(struct guest *g)
{
	if (--g->busy == 0 && g->is_free_later)
		guest_free(g);
}

static void on_guest_read(struct bufferevent *bev, void *arg)
{
	struct guest *g = arg;

	(void)bev;
	g->busy++;
	guest_consume(g);
	guest_put(g);
}

static void on_guest_event(struct bufferevent *bev, short what, void *arg)
{
	struct guest *g = arg;

	(void)bev;
	if (!(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)))
		return;
	g->busy++;
	guest_consume(g);
	if (g->bev && lm_chan_finish(&g->parser) < 0)
		lm_warn("instance %s: guest channel ended inside a frame", g->id);
	guest_close_channel(g);
	/* A guest without its channel cannot be told to stop: end it. Its
	 * exit reports the status. */
	if (!g->is_reaped)
		kill(g->pid, SIGKILL);
	guest_fail_pending(g, LM_EUNAVAIL, "the instance's guest closed its channel", true);
	guest_put(g);
}

static void guest_try_reap(struct guest *g)
{
	int st;
	pid_t r;

	if (g->is_reaped)
		return;
	do
		r = waitpid(g->pid, &st, WNOHANG);
	while (r < 0 && errno == EINTR);
	if (r == g->pid)
		guest_reaped(g, st);
}

static void on_pidfd(evutil_socket_t fd, short what, void *arg)
{
	struct guest *g = arg;

	(void)fd;
	(void)what;
	g->busy++;
	guest_try_reap(g);
	guest_put(g);
}

static void on_sigchld(evutil_socket_t fd, short what, void *arg)
{
	struct lm_agent *agent = arg;
	struct guest *g, *next;

	(void)fd;
	(void)what;
	for (g = agent->guests; g; g = next) {
		g->busy++;
		guest_try_reap(g);
		next = g->next;
		guest_put(g);
	}
}

/* The guest process is gone: read what it wrote before it died (its exit
 * event), then report failure if it never said how the workload ended. */
static void guest_reaped(struct guest *g, int wstatus)
{
	g->is_reaped = true;
	if (g->pid_ev)
		event_del(g->pid_ev);
	if (g->bev) {
		struct evbuffer *in = bufferevent_get_input(g->bev);
		int fd = bufferevent_getfd(g->bev);

		while (evbuffer_read(in, fd, 65536) > 0)
			;
		guest_consume(g);
		guest_close_channel(g);
	}
	if (g->is_deleting)
		return;
	guest_fail_pending(g, LM_EUNAVAIL, "the instance's guest exited", true);
	if (!is_terminal(g->status)) {
		if (WIFEXITED(wstatus))
			lm_warn("instance %s: guest exited with status %d before the workload ended", g->id,
				WEXITSTATUS(wstatus));
		else if (WIFSIGNALED(wstatus))
			lm_warn("instance %s: guest killed by signal %d", g->id, WTERMSIG(wstatus));
		guest_report(g, "failed", -1);
	}
}

/* Waits for the guest until deadline_ms (lm_now_ms() scale); false on timeout. */
static bool guest_wait_until(struct guest *g, uint64_t deadline_ms)
{
	int st;

	while (!g->is_reaped) {
		uint64_t now = lm_now_ms();
		pid_t r = waitpid(g->pid, &st, WNOHANG);

		if (r == g->pid) {
			g->is_reaped = true;
			if (g->pid_ev)
				event_del(g->pid_ev);
			break;
		}
		if (r < 0 && errno != EINTR) {
			g->is_reaped = true;	/* not our child any more */
			break;
		}
		if (now >= deadline_ms)
			return false;
		if (g->pidfd >= 0) {
			struct pollfd pfd = { .fd = g->pidfd, .events = POLLIN };
			uint64_t left = deadline_ms - now;

			(void)poll(&pfd, 1, left > 100 ? 100 : (int)left);
		} else {
			struct timespec ts = { 0, 10 * 1000 * 1000 };

			nanosleep(&ts, NULL);
		}
	}
	return true;
}

static void guest_kill_wait(struct guest *g)
{
	int st;

	if (g->is_reaped)
		return;
	kill(g->pid, SIGKILL);
	while (waitpid(g->pid, &st, 0) < 0 && errno == EINTR)
		;
	g->is_reaped = true;
	if (g->pid_ev)
		event_del(g->pid_ev);
}

/* Sends "stop" synchronously (the caller waits for the guest anyway). */
static void guest_send_stop(struct guest *g, uint64_t deadline_ms)
{
	struct evbuffer *out;
	json_t *req;
	uint8_t *frame = NULL;
	size_t size;
	int fd;

	if (!g->bev)
		return;
	req = json_pack("{s:I, s:s}", "id", (json_int_t)++g->next_req, "op", "stop");
	if (!req || lm_chan_encode(req, &frame, &size) < 0) {
		json_decref(req);
		return;
	}
	json_decref(req);
	out = bufferevent_get_output(g->bev);
	fd = bufferevent_getfd(g->bev);
	/* A socket bufferevent keeps the front of its output frozen so only it
	 * drains it; the channel is closed right after, so take over. */
	evbuffer_unfreeze(out, 1);
	if (evbuffer_add(out, frame, size) == 0) {
		while (evbuffer_get_length(out) > 0 && lm_now_ms() < deadline_ms) {
			struct pollfd pfd = { .fd = fd, .events = POLLOUT };

			if (evbuffer_write(out, fd) < 0 && errno != EAGAIN && errno != EINTR)
				break;
			if (evbuffer_get_length(out) > 0)
				(void)poll(&pfd, 1, 100);
		}
	}
	free(frame);
}

/* The guest's diagnostics (never secrets: the guest logs key ids, sizes
 * and reasons only) go to the agent's log, one line per message, so that an
 * operator can see why a guest failed. */
static void on_guest_stderr(struct bufferevent *bev, void *arg)
{
	struct guest *g = arg;
	char *line;

	while ((line = evbuffer_readln(bufferevent_get_input(bev), NULL, EVBUFFER_EOL_LF)) != NULL) {
		/* Keep the level the guest gave ("lambda-guest[ID]: info: ..."). */
		enum lm_log_level level = strstr(line, "]: info: ")    ? LM_LOG_INFO
					  : strstr(line, "]: debug: ") ? LM_LOG_DEBUG
					  : strstr(line, "]: error: ") ? LM_LOG_ERR
								       : LM_LOG_WARN;

		lm_log(level, "instance %s: %s", g->id, line);
		free(line);
	}
	/* A line longer than this is cut: the guest has nothing that long to say. */
	if (evbuffer_get_length(bufferevent_get_input(bev)) > 4096) {
		lm_warn("instance %s: (a guest message of over 4096 bytes was dropped)", g->id);
		evbuffer_drain(bufferevent_get_input(bev), evbuffer_get_length(bufferevent_get_input(bev)));
	}
}

static void on_guest_stderr_event(struct bufferevent *bev, short what, void *arg)
{
	(void)what;
	on_guest_stderr(bev, arg);
}

/* ---- spawning ---- */

/* In the child between fork and exec: only async-signal-safe calls. */
static void __attribute__((noreturn)) guest_exec(int fd, int err_fd, pid_t parent, const char *path,
						 char *const argv[])
{
	sigset_t none;
	int devnull;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	/* The guest, and with it the workload, ends with the agent. */
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != parent)
		_exit(127);
	if (fd == 3) {
		if (fcntl(3, F_SETFD, 0) != 0)
			_exit(127);
	} else if (dup2(fd, 3) != 3) {
		_exit(127);
	}
	devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (devnull < 0 || dup2(devnull, 0) != 0 || dup2(err_fd, 2) != 2)
		_exit(127);
	close_range(4, ~0u, 0);
	execv(path, argv);
	_exit(127);
}

/* A restart adds "existing_volume" (the guest must unlock volume.img, never
 * make a new one) and "log_seq" (where the guest's log sequence goes on). */
static int write_launch_json(const char *dir, const struct lm_launch *l, bool is_restart, uint64_t log_seq)
{
	char *path = path_join(dir, "launch.json"), *text = NULL;
	json_t *doc;
	int r;

	doc = json_pack("{s:s, s:s, s:s, s:s, s:I, s:s}", "instance_id", l->instance_id, "type", l->type, "image",
			l->image, "volume_id", l->volume_id, "volume_size", (json_int_t)l->volume_size, "sandbox",
			AGENT_SANDBOX);
	if (doc && is_restart &&
	    (json_object_set_new(doc, "existing_volume", json_true()) != 0 ||
	     json_object_set_new(doc, "log_seq", json_integer((json_int_t)log_seq)) != 0)) {
		json_decref(doc);
		doc = NULL;
	}
	if (!path || !doc || !(text = json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS))) {
		r = LM_ENOMEM;
		goto out;
	}
	r = lm_file_write_replace(path, text, strlen(text), 0600);
out:
	free(text);
	json_decref(doc);
	free(path);
	return r;
}

static int guest_spawn(struct lm_agent *agent, struct guest *g)
{
	char *argv[] = { agent->guest_path, "--instance-dir", g->dir, "--sim-key", agent->sim_key_path, NULL };
	int sv[2] = { -1, -1 }, err[2] = { -1, -1 };
	pid_t pid, self = getpid();
	int r;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0 || pipe2(err, O_CLOEXEC) != 0) {
		lm_err("socketpair: %s", strerror(errno));
		r = LM_EIO;
		goto out;
	}
	pid = fork();
	if (pid < 0) {
		lm_err("fork: %s", strerror(errno));
		r = LM_EIO;
		goto out;
	}
	if (pid == 0)
		guest_exec(sv[1], err[1], self, agent->guest_path, argv);
	g->pid = pid;
	close(sv[1]);
	sv[1] = -1;
	close(err[1]);
	err[1] = -1;
	if (evutil_make_socket_nonblocking(err[0]) != 0 ||
	    !(g->err_bev = bufferevent_socket_new(agent->base, err[0], BEV_OPT_CLOSE_ON_FREE))) {
		r = LM_EIO;
		goto out;
	}
	err[0] = -1;
	bufferevent_setcb(g->err_bev, on_guest_stderr, NULL, on_guest_stderr_event, g);
	if (bufferevent_enable(g->err_bev, EV_READ) != 0) {
		r = LM_EIO;
		goto out;
	}
	if (evutil_make_socket_nonblocking(sv[0]) != 0) {
		r = LM_EIO;
		goto out;
	}
	g->bev = bufferevent_socket_new(agent->base, sv[0], BEV_OPT_CLOSE_ON_FREE);
	if (!g->bev) {
		r = LM_ENOMEM;
		goto out;
	}
	sv[0] = -1;
	bufferevent_setcb(g->bev, on_guest_read, NULL, on_guest_event, g);
	if (bufferevent_enable(g->bev, EV_READ | EV_WRITE) != 0) {
		r = LM_EIO;
		goto out;
	}
	g->pidfd = pidfd_open(pid, 0);
	if (g->pidfd >= 0) {
		g->pid_ev = event_new(agent->base, g->pidfd, EV_READ | EV_PERSIST, on_pidfd, g);
		if (!g->pid_ev || event_add(g->pid_ev, NULL) != 0) {
			r = LM_ENOMEM;
			goto out;
		}
	} else if (!agent->sigchld_ev) {
		lm_info("no pidfd (%s): watching guests through SIGCHLD", strerror(errno));
		agent->sigchld_ev = evsignal_new(agent->base, SIGCHLD, on_sigchld, agent);
		if (!agent->sigchld_ev || event_add(agent->sigchld_ev, NULL) != 0) {
			r = LM_ENOMEM;
			goto out;
		}
	}
	r = 0;
out:
	for (int i = 0; i < 2; i++) {
		if (sv[i] >= 0)
			close(sv[i]);
		if (err[i] >= 0)
			close(err[i]);
	}
	return r;
}

/* ---- public API ---- */

static int agent_sim_key(struct lm_agent *agent)
{
	struct stat st;
	char *pem = NULL;
	int r;

	if (lstat(agent->sim_key_path, &st) == 0) {
		if (!S_ISREG(st.st_mode) || (st.st_mode & 077)) {
			lm_err("%s: must be a regular file of mode 0600", agent->sim_key_path);
			return LM_EKEYPERM;
		}
		return 0;
	}
	if ((r = lm_sim_key_generate(&pem)) < 0)
		return r;
	r = lm_file_write_new(agent->sim_key_path, pem, strlen(pem), 0600);
	lm_free_wiped(pem);
	if (r == LM_EEXIST)
		r = 0;
	if (r == 0)
		lm_warn("made the simulated attestation key %s: simulated evidence offers no protection (insecure)",
			agent->sim_key_path);
	return r;
}

int lm_agent_new(struct event_base *base, const struct lm_agent_config *cfg, struct lm_agent **out)
{
	struct lm_agent *agent = NULL;
	char *instances = NULL;
	int r;

	if (!base || !cfg || !cfg->state_dir || !cfg->guest_path || !out)
		return LM_EINVAL;
	if (cfg->backend && strcmp(cfg->backend, "simulated") != 0) {
		lm_err("agent: evidence backend '%s' is not supported", cfg->backend);
		return LM_ENOTSUP;
	}
	if (cfg->runtime && strcmp(cfg->runtime, "process") != 0) {
		lm_err("agent: runtime '%s' is not supported", cfg->runtime);
		return LM_ENOTSUP;
	}
	agent = calloc(1, sizeof(*agent));
	if (!agent)
		return LM_ENOMEM;
	agent->base = base;
	agent->on_status = cfg->on_status;
	agent->ctx = cfg->ctx;
	agent->state_dir = strdup(cfg->state_dir);
	agent->guest_path = strdup(cfg->guest_path);
	agent->sim_key_path = path_join(cfg->state_dir, AGENT_SIM_KEY);
	instances = path_join(cfg->state_dir, "instances");
	if (!agent->state_dir || !agent->guest_path || !agent->sim_key_path || !instances) {
		r = LM_ENOMEM;
		goto out;
	}
	if (access(cfg->guest_path, X_OK) != 0) {
		lm_err("agent: %s is not executable: %s", cfg->guest_path, strerror(errno));
		r = LM_ENOENT;
		goto out;
	}
	if ((r = lm_mkdir_p(instances, 0700)) < 0 || (r = agent_sim_key(agent)) < 0)
		goto out;
	*out = agent;
	agent = NULL;
	r = 0;
out:
	free(instances);
	lm_agent_free(agent);
	return r;
}

void lm_agent_free(struct lm_agent *agent)
{
	uint64_t deadline = lm_now_ms() + AGENT_STOP_MS;
	struct guest *g;

	if (!agent)
		return;
	/* Pending requests are dropped without callbacks: their owners are
	 * being torn down with the agent. */
	for (g = agent->guests; g; g = g->next) {
		g->is_deleting = true;
		if (!g->is_reaped)
			kill(g->pid, SIGTERM);
	}
	for (g = agent->guests; g; g = g->next)
		if (!guest_wait_until(g, deadline))
			guest_kill_wait(g);
	/* What a guest killed on the way left mounted, and its run dir. */
	for (g = agent->guests; g; g = g->next)
		run_dir_clear(g->id);
	while ((g = agent->guests) != NULL) {
		agent->guests = g->next;
		guest_free(g);
	}
	if (agent->sigchld_ev)
		event_free(agent->sigchld_ev);
	free(agent->state_dir);
	free(agent->guest_path);
	free(agent->sim_key_path);
	free(agent);
}

static char *instance_dir(struct lm_agent *agent, const char *id)
{
	char *p;

	if (asprintf(&p, "%s/instances/%s", agent->state_dir, id) < 0)
		return NULL;
	return p;
}

static int agent_launch(struct lm_agent *agent, const struct lm_launch *launch, bool is_restart, uint64_t log_seq)
{
	struct guest *g = NULL, *old;
	struct stat st;
	int r;

	if (!agent || !launch || !is_valid_id(launch->instance_id) || !is_valid_id(launch->volume_id) ||
	    !launch->type || !*launch->type || !launch->image || !*launch->image || launch->volume_size == 0 ||
	    launch->volume_size > (uint64_t)INT64_MAX)
		return LM_EINVAL;
	old = guest_find(agent, launch->instance_id);
	if (old && !old->is_reaped) {
		lm_err("instance %s: already running", launch->instance_id);
		return LM_EEXIST;
	}
	g = calloc(1, sizeof(*g));
	if (!g)
		return LM_ENOMEM;
	g->agent = agent;
	g->pidfd = -1;
	g->logs_fd = -1;
	g->pid = -1;
	snprintf(g->id, sizeof(g->id), "%s", launch->instance_id);
	snprintf(g->status, sizeof(g->status), "pending");
	lm_chan_init(&g->parser, on_guest_frame, g);
	g->dir = instance_dir(agent, launch->instance_id);
	if (!g->dir) {
		r = LM_ENOMEM;
		goto out;
	}
	/* An existing directory is a relaunch that kept its volume. */
	if (mkdir(g->dir, 0700) != 0 && errno != EEXIST) {
		lm_err("mkdir %s: %s", g->dir, strerror(errno));
		r = LM_EIO;
		goto out;
	}
	if (lstat(g->dir, &st) != 0 || !S_ISDIR(st.st_mode) || chmod(g->dir, 0700) != 0) {
		lm_err("%s: not a directory", g->dir);
		r = LM_EIO;
		goto out;
	}
	if ((r = write_launch_json(g->dir, launch, is_restart, log_seq)) < 0 || (r = guest_spawn(agent, g)) < 0)
		goto out;
	if (old) {
		for (struct guest **pp = &agent->guests; *pp; pp = &(*pp)->next)
			if (*pp == old) {
				*pp = old->next;
				break;
			}
		old->is_deleting = true;
		if (old->busy)
			old->is_free_later = true;
		else
			guest_free(old);
	}
	g->next = agent->guests;
	agent->guests = g;
	lm_info("instance %s: guest started (pid %d)", g->id, (int)g->pid);
	g = NULL;
	r = 0;
out:
	if (g && g->pid > 0) {
		g->is_deleting = true;
		guest_kill_wait(g);
	}
	guest_free(g);
	return r;
}

int lm_agent_launch(struct lm_agent *agent, const struct lm_launch *launch)
{
	return agent_launch(agent, launch, false, 0);
}

int lm_agent_attest(struct lm_agent *agent, const char *instance_id, const uint8_t *nonce, size_t nonce_size,
		    lm_agent_reply_fn cb, void *ctx)
{
	char hex[2 * LM_NONCE_MAX + 1];
	struct guest *g;

	if (!agent || !instance_id || !nonce || nonce_size == 0 || nonce_size > LM_NONCE_MAX)
		return LM_EINVAL;
	g = guest_find(agent, instance_id);
	if (!g)
		return LM_ENOENT;
	lm_hex_encode(hex, nonce, nonce_size);
	return guest_request(g, json_pack("{s:s, s:s}", "op", "attest", "nonce", hex), true, cb, ctx, NULL);
}

int lm_agent_release(struct lm_agent *agent, const char *instance_id, const char *sealed_json,
		     lm_agent_reply_fn cb, void *ctx)
{
	static const char *const keys[] = { "enc", "ciphertext", NULL };
	struct guest *g;
	json_t *sealed;

	if (!agent || !instance_id || !sealed_json)
		return LM_EINVAL;
	g = guest_find(agent, instance_id);
	if (!g)
		return LM_ENOENT;
	if (strcmp(g->status, "pending") != 0 && strcmp(g->status, "awaiting_key") != 0) {
		lm_warn("instance %s: key release refused while %s", g->id, g->status);
		return LM_ESTATE;
	}
	sealed = json_loads(sealed_json, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(sealed) || lm_json_only_keys(sealed, keys, NULL, 0) < 0 ||
	    !lm_json_str(sealed, "enc") || !lm_json_str(sealed, "ciphertext")) {
		json_decref(sealed);
		return LM_EINVAL;
	}
	return guest_request(g, json_pack("{s:s, s:o}", "op", "release", "sealed", sealed), false, cb, ctx, NULL);
}

int lm_agent_rotate(struct lm_agent *agent, const char *instance_id, const char *sealed_json, bool reencrypt,
		    lm_agent_reply_fn cb, void *ctx)
{
	static const char *const keys[] = { "enc", "ciphertext", NULL };
	struct pending *p = NULL;
	struct guest *g;
	json_t *sealed;
	int r;

	if (!agent || !instance_id || !sealed_json)
		return LM_EINVAL;
	g = guest_find(agent, instance_id);
	if (!g)
		return LM_ENOENT;
	/* A guest that has its key pair: it can open the blob. Whether the
	 * volume may be touched now (a reencryption needs the workload gone)
	 * is the guest's to decide: it knows. */
	if (strcmp(g->status, "pending") == 0) {
		lm_warn("instance %s: key rotation refused while pending", g->id);
		return LM_ESTATE;
	}
	if (g->is_rotating) {
		lm_warn("instance %s: a key rotation is already running", g->id);
		return LM_EBUSY;
	}
	sealed = json_loads(sealed_json, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(sealed) || lm_json_only_keys(sealed, keys, NULL, 0) < 0 ||
	    !lm_json_str(sealed, "enc") || !lm_json_str(sealed, "ciphertext")) {
		json_decref(sealed);
		return LM_EINVAL;
	}
	r = guest_request(g, json_pack("{s:s, s:o, s:b}", "op", "rotate", "sealed", sealed, "reencrypt", reencrypt),
			  false, cb, ctx, &p);
	if (r == 0) {
		p->is_rotate = true;
		g->is_rotating = true;
		g->rot_done = g->rot_total = 0;
	}
	return r;
}

int lm_agent_rotation_progress(struct lm_agent *agent, const char *instance_id, uint64_t *done, uint64_t *total)
{
	struct guest *g;

	if (!agent || !instance_id)
		return LM_EINVAL;
	g = guest_find(agent, instance_id);
	if (!g || !g->is_rotating)
		return LM_ENOENT;
	*done = g->rot_done;
	*total = g->rot_total;
	return 0;
}

/* Once the guest is gone: the log records it wrote while stopping (the
 * loop was not running to read them, and its end record is among them). */
static void guest_drain_logs(struct guest *g)
{
	int fd = g->bev ? bufferevent_getfd(g->bev) : -1;
	struct evbuffer *in;

	if (fd < 0)
		return;
	/* The bufferevent keeps the end of its input frozen so only it fills
	 * it; the channel is closed right after, so take over (as for stop). */
	in = bufferevent_get_input(g->bev);
	evbuffer_unfreeze(in, 0);
	while (evbuffer_read(in, fd, 65536) > 0)
		;
	g->is_draining = true;
	guest_consume(g);
	g->is_draining = false;
}

/* Stops g (the stop request, then SIGKILL after ms), answers its pending
 * requests with LM_ESTATE and unlinks it from the agent; no status report
 * follows. g is freed, or later when a callback still holds it. */
static void guest_halt(struct lm_agent *agent, struct guest *g, uint64_t ms, const char *why)
{
	uint64_t deadline = lm_now_ms() + ms;

	g->is_deleting = true;
	if (!g->is_reaped) {
		guest_send_stop(g, deadline);
		if (!guest_wait_until(g, deadline)) {
			lm_warn("instance %s: guest did not stop in time; killing it", g->id);
			guest_kill_wait(g);
		}
	}
	guest_drain_logs(g);
	guest_close_channel(g);
	guest_fail_pending(g, LM_ESTATE, why, true);
	for (struct guest **pp = &agent->guests; *pp; pp = &(*pp)->next)
		if (*pp == g) {
			*pp = g->next;
			break;
		}
	if (g->busy)
		g->is_free_later = true;
	else
		guest_free(g);
}

/* Removes the empty cgroups `lambda-<id>` that the workload of a killed
 * guest leaves below the agent's own cgroups (the guest's, which it
 * inherits): lib/sandbox refuses to start a workload whose cgroup exists.
 * Called only once the guest is gone; rmdir fails on a cgroup that still
 * has processes. Hierarchies are mounted at /sys/fs/cgroup/<controllers>
 * (v1) or /sys/fs/cgroup (v2, "0::"). */
static void cgroups_clear(const char *id)
{
	FILE *f = fopen("/proc/self/cgroup", "re");
	char line[512];

	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char *ctrl = strchr(line, ':'), *path = ctrl ? strchr(ctrl + 1, ':') : NULL, *dir = NULL;

		if (!path)
			continue;
		*path++ = '\0';
		ctrl++;
		path[strcspn(path, "\n")] = '\0';
		if (strncmp(ctrl, "name=", 5) == 0)
			continue;
		if (asprintf(&dir, "/sys/fs/cgroup%s%s%s/lambda-%s", *ctrl ? "/" : "", ctrl,
			     strcmp(path, "/") == 0 ? "" : path, id) < 0)
			break;
		if (rmdir(dir) == 0)
			lm_info("instance %s: removed the cgroup %s its killed guest left", id, dir);
		free(dir);
	}
	fclose(f);
}

/* Removes what a killed guest left mounted for instance id (ext4 mount,
 * loop device, FUSE mount or dm mapping) and its empty run directory. A
 * guest that closed its volume left nothing; a live one is never passed. */
static void run_dir_clear(const char *id)
{
	char *run_dir = NULL, *sub = NULL;
	int r;

	cgroups_clear(id);
	if (asprintf(&run_dir, "%s/%s", LM_GUEST_RUN_ROOT, id) < 0)
		return;
	if (access(run_dir, F_OK) != 0)
		goto out;
	if ((r = lm_volume_cleanup(run_dir)) < 0)
		lm_warn("instance %s: cannot clear the volume left by its guest: %s", id, lm_strerror(r));
	/* rmdir, never a recursive removal: it stops at anything still mounted. */
	for (const char *const *n = (const char *const[]){ "data", "fuse", NULL }; *n; n++) {
		free(sub);
		sub = path_join(run_dir, *n);
		if (sub && rmdir(sub) != 0 && errno != ENOENT)
			lm_warn("instance %s: rmdir %s: %s", id, sub, strerror(errno));
	}
	if (rmdir(run_dir) != 0 && errno != ENOENT)
		lm_warn("instance %s: rmdir %s: %s", id, run_dir, strerror(errno));
out:
	free(sub);
	free(run_dir);
}

/* The log sequence number after the last record of DIR/logs.enc (0 when
 * there is none). The seq is in each record's clear header; a restarted
 * guest goes on from there so that `lambda logs` sees one rising sequence. */
static int logs_next_seq(const char *dir, uint64_t *out)
{
	char *path = path_join(dir, "logs.enc");
	uint8_t *buf = NULL;
	size_t size = 0, off = 0;
	uint64_t next = 0;
	int r;

	if (!path)
		return LM_ENOMEM;
	r = lm_file_read(path, LM_FILE_MAX, &buf, &size);
	if (r == LM_ENOENT) {
		*out = 0;
		r = 0;
		goto out;
	}
	if (r < 0)
		goto out;
	while (size - off >= LM_LOGREC_HEADER_BYTES) {
		const uint8_t *h = buf + off;
		uint64_t seq = 0;
		uint32_t len = (uint32_t)h[10] << 24 | (uint32_t)h[11] << 16 | (uint32_t)h[12] << 8 | h[13];

		for (int i = 2; i < 10; i++)
			seq = seq << 8 | h[i];
		if (len > size - off - LM_LOGREC_HEADER_BYTES)
			break;
		if (seq != UINT64_MAX && seq + 1 > next)
			next = seq + 1;
		off += LM_LOGREC_HEADER_BYTES + len;
	}
	*out = next;
	r = 0;
out:
	free(buf);
	free(path);
	return r;
}

int lm_agent_stop(struct lm_agent *agent, const char *instance_id)
{
	struct guest *g;
	struct stat st;
	char *dir;

	if (!agent || !is_valid_id(instance_id))
		return LM_EINVAL;
	dir = instance_dir(agent, instance_id);
	if (!dir)
		return LM_ENOMEM;
	g = guest_find(agent, instance_id);
	if (!g && lstat(dir, &st) != 0) {
		free(dir);
		return LM_ENOENT;
	}
	free(dir);
	if (g)
		guest_halt(agent, g, AGENT_HALT_MS, "the instance was stopped");
	run_dir_clear(instance_id);
	lm_info("instance %s: stopped", instance_id);
	return 0;
}

bool lm_agent_has_volume(struct lm_agent *agent, const char *instance_id)
{
	char *dir, *image;
	struct stat st;
	bool has;

	if (!agent || !is_valid_id(instance_id))
		return false;
	dir = instance_dir(agent, instance_id);
	image = dir ? path_join(dir, "volume.img") : NULL;
	has = image && lstat(image, &st) == 0 && S_ISREG(st.st_mode);
	free(image);
	free(dir);
	return has;
}

int lm_agent_start(struct lm_agent *agent, const struct lm_launch *launch)
{
	char *dir = NULL;
	uint64_t seq = 0;
	struct guest *g;
	int r;

	if (!agent || !launch || !is_valid_id(launch->instance_id))
		return LM_EINVAL;
	if (!lm_agent_has_volume(agent, launch->instance_id)) {
		lm_err("instance %s: no volume image to start from", launch->instance_id);
		return LM_ENOENT;
	}
	if (!(dir = instance_dir(agent, launch->instance_id))) {
		r = LM_ENOMEM;
		goto out;
	}
	/* A guest that outlived its workload (exited, failed) still runs. */
	g = guest_find(agent, launch->instance_id);
	if (g)
		guest_halt(agent, g, AGENT_HALT_MS, "the instance was restarted");
	run_dir_clear(launch->instance_id);
	if ((r = logs_next_seq(dir, &seq)) < 0) {
		lm_err("instance %s: cannot read logs.enc: %s", launch->instance_id, lm_strerror(r));
		goto out;
	}
	r = agent_launch(agent, launch, true, seq);
out:
	free(dir);
	return r;
}

/* Removes the instance directory, or everything in it but volume.img. */
static int remove_instance_files(const char *dir, bool keep_volume)
{
	struct dirent *de;
	DIR *d;
	int r = 0;

	if (!keep_volume)
		return lm_rm_rf(dir);
	d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : LM_EIO;
	while ((de = readdir(d)) != NULL) {
		char *p;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
		    strcmp(de->d_name, "volume.img") == 0)
			continue;
		p = path_join(dir, de->d_name);
		if (!p) {
			r = LM_ENOMEM;
			break;
		}
		if (lm_rm_rf(p) < 0)
			r = LM_EIO;
		free(p);
	}
	closedir(d);
	return r;
}

int lm_agent_delete(struct lm_agent *agent, const char *instance_id, bool keep_volume)
{
	struct guest *g;
	struct stat st;
	char *dir;
	int r;

	if (!agent || !is_valid_id(instance_id))
		return LM_EINVAL;
	dir = instance_dir(agent, instance_id);
	if (!dir)
		return LM_ENOMEM;
	g = guest_find(agent, instance_id);
	if (!g && lstat(dir, &st) != 0) {
		free(dir);
		return LM_ENOENT;
	}
	if (g)
		guest_halt(agent, g, AGENT_STOP_MS, "the instance was deleted");
	run_dir_clear(instance_id);
	r = remove_instance_files(dir, keep_volume);
	free(dir);
	return r;
}

int lm_agent_logs(struct lm_agent *agent, const char *instance_id, uint8_t **out, size_t *size)
{
	char *dir = NULL, *path = NULL;
	struct stat st;
	int r;

	if (!agent || !is_valid_id(instance_id) || !out || !size)
		return LM_EINVAL;
	dir = instance_dir(agent, instance_id);
	path = dir ? path_join(dir, "logs.enc") : NULL;
	if (!path) {
		r = LM_ENOMEM;
		goto out;
	}
	if (stat(dir, &st) != 0) {
		r = LM_ENOENT;
		goto out;
	}
	if (lstat(path, &st) != 0) {
		/* No record yet. */
		*out = calloc(1, 1);
		*size = 0;
		r = *out ? 0 : LM_ENOMEM;
		goto out;
	}
	r = lm_file_read(path, LM_FILE_MAX, out, size);
out:
	free(path);
	free(dir);
	return r;
}
