/* Unit tests for lib/sandbox: the `process` runtime run for real (bwrap,
 * namespaces, seccomp, cgroups), checked from inside the sandbox by shell
 * commands and from the host through /proc and the cgroup files. Skips
 * with the reason when the host lacks bubblewrap, user namespaces or the
 * cgroup controllers. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "lambda/log.h"
#include "lambda/runtime.h"
#include "lambda/util.h"
#include "sandbox/sandbox_int.h"

static const struct lm_runtime_ops *g_ops;
static const char *g_skip_reason;
static char g_log[1024];
static int g_seq;

/* A type small enough to hit its memory limit quickly. */
static const struct lm_instance_type g_tiny = { "test-tiny", 1, 48ull << 20 };

static char *const g_env[] = { "PATH=/usr/bin:/bin", NULL };

static void log_capture(enum lm_log_level level, const char *msg, void *ctx)
{
	(void)ctx;
	if (level <= LM_LOG_WARN) {
		fprintf(stderr, "  log: %s\n", msg);
		snprintf(g_log, sizeof(g_log), "%s", msg);
	}
}

static int setup(void **state)
{
	(void)state;
	lm_log_set_handler(log_capture, NULL);
	g_ops = lm_runtime_find("process");
	if (!g_ops)
		return -1;
	if (geteuid() != 0)
		g_skip_reason = "not root: the process runtime needs root to drop to its sandbox uid";
	else if (g_ops->probe() < 0)
		g_skip_reason = g_log;
	return 0;
}

#define NEED_SANDBOX()                                                         \
	do {                                                                   \
		if (g_skip_reason) {                                           \
			print_message("skipped: %s\n", g_skip_reason);        \
			skip();                                                \
		}                                                              \
	} while (0)

static void new_id(char *out, size_t size)
{
	snprintf(out, size, "inst_t%ld_%d", (long)getpid(), g_seq++);
}

/* The host directory our cgroup for id has in controller ctrl, computed
 * here independently from /proc/self/cgroup. */
static void cg_dir(char *out, size_t size, const char *ctrl, const char *id)
{
	char line[1024], v2[512] = "";
	FILE *f = fopen("/proc/self/cgroup", "r");

	assert_non_null(f);
	out[0] = 0;
	while (fgets(line, sizeof(line), f)) {
		char *list = strchr(line, ':'), *path;

		line[strcspn(line, "\n")] = 0;
		if (!list || !(path = strchr(++list, ':')))
			continue;
		*path++ = 0;
		if (strcmp(list, "") == 0 && line[0] == '0')
			snprintf(v2, sizeof(v2), "%s", path);
		for (char *tok = strtok(list, ","); tok; tok = strtok(NULL, ","))
			if (strcmp(tok, ctrl) == 0)
				snprintf(out, size, "/sys/fs/cgroup/%s%s/lambda-%s", ctrl,
					strcmp(path, "/") ? path : "", id);
	}
	fclose(f);
	if (!out[0])
		snprintf(out, size, "/sys/fs/cgroup%s/lambda-%s", strcmp(v2, "/") ? v2 : "", id);
}

static long read_long(const char *dir, const char *file)
{
	char path[600], buf[64] = "";
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	f = fopen(path, "r");
	if (!f)
		return -1;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = 0;
	fclose(f);
	return strtol(buf, NULL, 10);
}

static int wait_status(pid_t pid)
{
	int status;

	while (waitpid(pid, &status, 0) < 0)
		assert_int_equal(errno, EINTR);
	return status;
}

struct run {
	const struct lm_instance_type *type;
	char *const *envp;
	const char *data_dir;
	char id[64];
	char out[16384];
	int status;		/* wait status */
	int before_free;	/* memory.oom_control's oom_kill, -1 if unknown */
};

/* Runs argv in a sandbox, collects stdout+stderr, waits, frees, and checks
 * that the cgroup directories are gone afterwards. */
static void run(struct run *rr, char *const argv[])
{
	struct lm_workload_spec spec = { 0 };
	struct lm_workload *w = NULL;
	char dir[600];
	size_t got = 0;
	int p[2];

	new_id(rr->id, sizeof(rr->id));
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	spec.instance_id = rr->id;
	spec.state_dir = "/nonexistent";
	spec.type = rr->type ? rr->type : lm_instance_type_find("compute-1x");
	spec.argv = argv;
	spec.envp = rr->envp ? rr->envp : g_env;
	spec.stdout_fd = p[1];
	spec.stderr_fd = p[1];
	spec.data_dir = rr->data_dir;
	assert_int_equal(g_ops->start(&spec, &w), 0);
	close(p[1]);
	for (;;) {
		ssize_t n = read(p[0], rr->out + got, sizeof(rr->out) - 1 - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
		if (got == sizeof(rr->out) - 1)
			break;
	}
	rr->out[got] = 0;
	close(p[0]);
	rr->status = wait_status(g_ops->pid(w));
	cg_dir(dir, sizeof(dir), "memory", rr->id);
	assert_int_equal(access(dir, F_OK), 0);
	rr->before_free = -1;
	{
		char path[700], line[128];
		FILE *f;

		snprintf(path, sizeof(path), "%s/memory.oom_control", dir);
		f = fopen(path, "r");
		while (f && fgets(line, sizeof(line), f))
			if (strncmp(line, "oom_kill ", 9) == 0)
				rr->before_free = atoi(line + 9);
		if (f)
			fclose(f);
	}
	g_ops->free(w);
	for (size_t i = 0; i < 3; i++) {
		static const char *const ctrls[] = { "cpu", "memory", "pids" };

		cg_dir(dir, sizeof(dir), ctrls[i], rr->id);
		assert_int_equal(access(dir, F_OK), -1);
	}
}

static int exit_code(const struct run *rr)
{
	return WIFEXITED(rr->status) ? WEXITSTATUS(rr->status) : -1;
}

static void sh(struct run *rr, const char *script)
{
	char *argv[] = { "sh", "-c", (char *)script, NULL };

	run(rr, argv);
}

static void test_types(void **state)
{
	const struct lm_instance_type *t;
	size_t n = 0;

	(void)state;
	t = lm_instance_type_find("compute-4x");
	assert_non_null(t);
	assert_int_equal(t->cpus, 4);
	assert_int_equal(t->memory_bytes, 2048ull << 20);
	assert_null(lm_instance_type_find("compute-3x"));
	assert_null(lm_instance_type_find(NULL));
	for (t = lm_instance_types; t->name; t++, n++) {
		assert_true(t->cpus > 0);
		assert_true(t->memory_bytes >= 512ull << 20);
		assert_ptr_equal(lm_instance_type_find(t->name), t);
	}
	assert_int_equal(n, 4);
	assert_non_null(lm_runtime_find("process"));
	assert_null(lm_runtime_find("vm"));
	assert_null(lm_runtime_find(NULL));
}

static void test_seccomp_filter(void **state)
{
	int fd;
	struct stat st;

	(void)state;
	assert_int_equal(lm_seccomp_bpf_fd(&fd), 0);
	assert_int_equal(fstat(fd, &st), 0);
	/* a BPF program: whole 8-byte instructions, more than a handful */
	assert_int_equal(st.st_size % 8, 0);
	assert_true(st.st_size > 8 * 40);
	assert_int_equal(lseek(fd, 0, SEEK_CUR), 0);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	close(fd);
}

static void test_bad_spec(void **state)
{
	struct lm_workload_spec spec = { 0 };
	struct lm_workload *w = NULL;
	char *argv[] = { "true", NULL };

	(void)state;
	spec.instance_id = "../etc";
	spec.type = lm_instance_type_find("compute-1x");
	spec.argv = argv;
	spec.envp = g_env;
	spec.stdout_fd = 1;
	spec.stderr_fd = 2;
	assert_int_equal(g_ops->start(&spec, &w), LM_EINVAL);
	spec.instance_id = "";
	assert_int_equal(g_ops->start(&spec, &w), LM_EINVAL);
	spec.instance_id = "inst_ok";
	spec.data_dir = "relative/dir";
	assert_int_equal(g_ops->start(&spec, &w), LM_EINVAL);
	spec.data_dir = "/nonexistent/dir";
	assert_int_equal(g_ops->start(&spec, &w), LM_EINVAL);
	spec.data_dir = NULL;
	spec.argv = NULL;
	assert_int_equal(g_ops->start(&spec, &w), LM_EINVAL);
	spec.argv = argv;
	spec.type = NULL;
	assert_int_equal(g_ops->start(&spec, &w), LM_EINVAL);
	assert_null(w);
	g_ops->free(NULL);
}

static void test_identity(void **state)
{
	struct run rr = { 0 };
	unsigned long capeff = 1;
	int uid = -1, mypid = -1, nproc = -1;

	(void)state;
	NEED_SANDBOX();
	sh(&rr, "awk '/^CapEff/ {print $2}' /proc/self/status; id -u; echo $$; "
		"ls /proc | grep -c '^[0-9]'");
	assert_int_equal(exit_code(&rr), 0);
	assert_int_equal(sscanf(rr.out, "%lx %d %d %d", &capeff, &uid, &mypid, &nproc), 4);
	assert_int_equal(capeff, 0);
	assert_int_equal(uid, LM_SANDBOX_UID);
	/* pid namespace: bwrap's init is 1, the shell right after it */
	assert_true(mypid >= 1 && mypid <= 3);
	/* init, sh, ls, grep and nothing of the host */
	assert_true(nproc >= 2 && nproc <= 5);
}

static void test_network(void **state)
{
	struct run rr = { 0 };
	char *argv[] = { "cat", "/proc/net/dev", NULL };
	int ifaces = 0;

	(void)state;
	NEED_SANDBOX();
	run(&rr, argv);
	assert_int_equal(exit_code(&rr), 0);
	/* two heading lines, then one line per interface: lo only */
	for (char *line = strtok(rr.out, "\n"); line; line = strtok(NULL, "\n")) {
		char *colon = strchr(line, ':');

		if (!colon || strchr(line, '|'))
			continue;
		*colon = 0;
		while (*line == ' ')
			line++;
		assert_string_equal(line, "lo");
		ifaces++;
	}
	assert_int_equal(ifaces, 1);
}

static void test_hostname(void **state)
{
	struct run rr = { 0 };
	char want[80];

	(void)state;
	NEED_SANDBOX();
	sh(&rr, "cat /proc/sys/kernel/hostname");
	assert_int_equal(exit_code(&rr), 0);
	snprintf(want, sizeof(want), "%s\n", rr.id);
	assert_string_equal(rr.out, want);
}

static void test_files(void **state)
{
	char tmp_marker[] = "/tmp/lm-sandbox-marker-XXXXXX", dir[] = "/var/tmp/lm-sandbox-XXXXXX";
	char script[1024], marker[128];
	struct run rr = { 0 };
	int fd;

	(void)state;
	NEED_SANDBOX();
	fd = mkstemp(tmp_marker);
	assert_true(fd >= 0);
	close(fd);
	chmod(tmp_marker, 0644);
	assert_non_null(mkdtemp(dir));
	chmod(dir, 0755);
	snprintf(marker, sizeof(marker), "%s/marker", dir);
	assert_int_equal(lm_file_write_new(marker, "host", 4, 0644), 0);
	/* the host's /tmp, a world-readable host file and /root must not be
	 * there; /tmp is empty and writable; /usr is read-only */
	snprintf(script, sizeof(script),
		"echo tmp=$(ls -A /tmp | wc -l); "
		"test -e %s && echo LEAK1; test -e %s && echo LEAK2; test -e /root && echo LEAK3; "
		"test -e /var && echo LEAK4; test -e /etc/shadow && echo LEAK5; "
		"echo x > /tmp/f && echo tmpw=$(cat /tmp/f); "
		"touch /usr/lm-test 2>/dev/null && echo LEAK6; echo done",
		tmp_marker, marker);
	sh(&rr, script);
	assert_int_equal(exit_code(&rr), 0);
	assert_null(strstr(rr.out, "LEAK"));
	assert_non_null(strstr(rr.out, "tmp=0\n"));
	assert_non_null(strstr(rr.out, "tmpw=x\n"));
	assert_non_null(strstr(rr.out, "done\n"));
	/* the sandbox's /tmp was private: nothing landed on the host */
	assert_int_equal(access("/tmp/f", F_OK) == 0 && access("/usr/lm-test", F_OK) == 0, 0);
	unlink(tmp_marker);
	assert_int_equal(lm_rm_rf(dir), 0);
}

static void test_data_dir(void **state)
{
	char dir[] = "/var/tmp/lm-sandbox-data-XXXXXX", path[128];
	struct run rr = { 0 };
	struct stat st;

	(void)state;
	NEED_SANDBOX();
	assert_non_null(mkdtemp(dir));
	assert_int_equal(chown(dir, LM_SANDBOX_UID, LM_SANDBOX_GID), 0);
	rr.data_dir = dir;
	sh(&rr, "pwd; echo hello > /data/out && echo ok");
	assert_int_equal(exit_code(&rr), 0);
	assert_string_equal(rr.out, "/data\nok\n");
	snprintf(path, sizeof(path), "%s/out", dir);
	assert_int_equal(stat(path, &st), 0);
	/* written as the unprivileged id on the host too, not as root */
	assert_int_equal(st.st_uid, LM_SANDBOX_UID);
	assert_int_equal(lm_rm_rf(dir), 0);
}

static void test_denied_syscalls(void **state)
{
	struct run rr = { 0 };

	(void)state;
	NEED_SANDBOX();
	/* unshare(2) is allowed to unprivileged users by the kernel; only the
	 * filter stops it. The same for clone with CLONE_NEWUSER. */
	sh(&rr, "unshare -U true; echo unshare=$?; unshare -U --fork true; echo fork=$?; "
		"mount -t tmpfs none /tmp; echo mount=$?; true; echo true=$?");
	assert_int_equal(exit_code(&rr), 0);
	assert_non_null(strstr(rr.out, "unshare=1\n"));
	assert_non_null(strstr(rr.out, "Operation not permitted"));
	assert_null(strstr(rr.out, "fork=0\n"));
	assert_null(strstr(rr.out, "mount=0\n"));
	assert_non_null(strstr(rr.out, "true=0\n"));
}

static void test_env(void **state)
{
	static char *const envp[] = { "PATH=/usr/bin:/bin", "LANG=C", "SPACED=a b  c", "EMPTY=", "EQ=x=y", NULL };
	char *argv[] = { "env", NULL };
	struct run rr = { 0 };

	(void)state;
	NEED_SANDBOX();
	rr.envp = envp;
	run(&rr, argv);
	assert_int_equal(exit_code(&rr), 0);
	assert_string_equal(rr.out, "PATH=/usr/bin:/bin\nLANG=C\nSPACED=a b  c\nEMPTY=\nEQ=x=y\n");
	/* a PWD of the caller's survives as given */
	static char *const envp2[] = { "PWD=/somewhere", "A=1", NULL };
	memset(&rr, 0, sizeof(rr));
	rr.envp = envp2;
	run(&rr, argv);
	assert_int_equal(exit_code(&rr), 0);
	assert_string_equal(rr.out, "A=1\nPWD=/somewhere\n");
}

static void test_exit_code(void **state)
{
	struct run rr = { 0 };

	(void)state;
	NEED_SANDBOX();
	sh(&rr, "exit 7");
	assert_int_equal(exit_code(&rr), 7);
	memset(&rr, 0, sizeof(rr));
	sh(&rr, "exit 0");
	assert_int_equal(exit_code(&rr), 0);
	memset(&rr, 0, sizeof(rr));
	char *argv[] = { "lm-no-such-program", NULL };
	run(&rr, argv);
	assert_int_not_equal(exit_code(&rr), 0);
}

static void test_memory_limit(void **state)
{
/* dash keeps a command substitution's output in memory */
#define HOG "x=$(head -c %d /dev/zero | tr '\\0' a); echo survived ${#x}"
	struct run rr = { 0 };
	char script[128];

	(void)state;
	NEED_SANDBOX();
	/* control: 8 MiB fits in the tiny type */
	rr.type = &g_tiny;
	snprintf(script, sizeof(script), HOG, 8 << 20);
	sh(&rr, script);
	assert_int_equal(exit_code(&rr), 0);
	assert_non_null(strstr(rr.out, "survived 8388608"));
	/* 160 MiB does not fit in 48 MiB (and there is no swap to go to) */
	memset(&rr, 0, sizeof(rr));
	rr.type = &g_tiny;
	snprintf(script, sizeof(script), HOG, 160 << 20);
	sh(&rr, script);
	assert_null(strstr(rr.out, "survived"));
	assert_int_not_equal(exit_code(&rr), 0);
	if (rr.before_free >= 0)
		assert_true(rr.before_free >= 1);
}

static void test_limits_and_kill(void **state)
{
	struct lm_workload_spec spec = { 0 };
	struct lm_workload *w = NULL;
	char *argv[] = { "sh", "-c", "sleep 60 & sleep 60 & wait", NULL };
	char id[64], dir[600], path[700], line[256];
	uint64_t t0;
	long pids[16];
	size_t npids = 0;
	int status;
	FILE *f;

	(void)state;
	NEED_SANDBOX();
	new_id(id, sizeof(id));
	spec.instance_id = id;
	spec.type = lm_instance_type_find("compute-2x");
	spec.argv = argv;
	spec.envp = g_env;
	spec.stdout_fd = 2;
	spec.stderr_fd = 2;
	assert_int_equal(g_ops->start(&spec, &w), 0);
	/* a second workload of the same id is refused while this one lives */
	struct lm_workload *w2 = NULL;
	assert_int_equal(g_ops->start(&spec, &w2), LM_EEXIST);
	/* the limits of compute-2x, in the caller's own cgroups */
	cg_dir(dir, sizeof(dir), "memory", id);
	assert_int_equal(read_long(dir, "memory.limit_in_bytes"), 1024l << 20);
	if (access("/sys/fs/cgroup/memory", F_OK) == 0) {
		snprintf(path, sizeof(path), "%s/memory.memsw.limit_in_bytes", dir);
		if (access(path, F_OK) == 0)
			assert_int_equal(read_long(dir, "memory.memsw.limit_in_bytes"), 1024l << 20);
		assert_int_equal(read_long(dir, "memory.swappiness"), 0);
	}
	cg_dir(dir, sizeof(dir), "cpu", id);
	assert_int_equal(read_long(dir, "cpu.cfs_quota_us"), 2 * LM_CPU_PERIOD_US);
	assert_int_equal(read_long(dir, "cpu.cfs_period_us"), LM_CPU_PERIOD_US);
	cg_dir(dir, sizeof(dir), "pids", id);
	assert_int_equal(read_long(dir, "pids.max"), LM_SANDBOX_PIDS_MAX);
	/* wait until both sleeps run, then check every process from the host:
	 * in our cgroup and not root */
	t0 = lm_now_ms();
	do {
		npids = 0;
		snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
		f = fopen(path, "r");
		assert_non_null(f);
		while (npids < 16 && fscanf(f, "%ld", &pids[npids]) == 1)
			npids++;
		fclose(f);
		if (npids >= 5)	/* bwrap, its init, sh, sleep, sleep */
			break;
		usleep(20000);
	} while (lm_now_ms() - t0 < 10000);
	assert_true(npids >= 5);
	for (size_t i = 0; i < npids; i++) {
		int uid = -1;

		snprintf(path, sizeof(path), "/proc/%ld/status", pids[i]);
		f = fopen(path, "r");
		if (!f)
			continue;
		while (fgets(line, sizeof(line), f))
			if (sscanf(line, "Uid: %d", &uid) == 1)
				break;
		fclose(f);
		assert_int_equal(uid, LM_SANDBOX_UID);
	}
	t0 = lm_now_ms();
	assert_int_equal(g_ops->kill(w), 0);
	status = wait_status(g_ops->pid(w));
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	assert_true(lm_now_ms() - t0 < 5000);
	/* none of the workload's processes is left in its cgroups */
	static const char *const ctrls[] = { "cpu", "memory", "pids" };
	for (size_t i = 0; i < 3; i++) {
		long left;

		cg_dir(dir, sizeof(dir), ctrls[i], id);
		snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
		f = fopen(path, "r");
		assert_non_null(f);
		assert_int_equal(fscanf(f, "%ld", &left), EOF);
		fclose(f);
	}
	g_ops->free(w);
	assert_int_equal(access(dir, F_OK), -1);
	cg_dir(dir, sizeof(dir), "memory", id);
	assert_int_equal(access(dir, F_OK), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_types),
		cmocka_unit_test(test_seccomp_filter),
		cmocka_unit_test(test_bad_spec),
		cmocka_unit_test(test_identity),
		cmocka_unit_test(test_network),
		cmocka_unit_test(test_hostname),
		cmocka_unit_test(test_files),
		cmocka_unit_test(test_data_dir),
		cmocka_unit_test(test_denied_syscalls),
		cmocka_unit_test(test_env),
		cmocka_unit_test(test_exit_code),
		cmocka_unit_test(test_memory_limit),
		cmocka_unit_test(test_limits_and_kill),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
