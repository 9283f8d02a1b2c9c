/* The `process` runtime: the workload runs under bubblewrap in its own
 * user, pid, mount, net, ipc, uts and cgroup namespaces, with no
 * capabilities, a seccomp deny list (seccomp.c), a private /tmp, only the
 * system directories a program needs, read-only, and cgroup limits from
 * its instance type (cgroup.c).
 *
 * Why bubblewrap rather than our own namespace code: it is small (one C
 * file doing exactly this job), widely audited as the sandbox of Flatpak,
 * and handles the details that are easy to get wrong (mount propagation,
 * the order of pivot_root and dropping capabilities, a pid 1 that reaps,
 * die-with-parent). We run it as an ordinary, non-setuid program: the
 * child we fork drops to uid/gid 65534 before exec'ing it, so bwrap makes
 * an unprivileged user namespace and the workload is uid 65534 on the host
 * as well as inside, never host root behind a namespace.
 *
 * Sequence of start(): make the cgroups and the seccomp memfd, build the
 * bwrap command line, fork; the child joins the cgroups (so everything the
 * workload ever starts is counted and killed with it), sets up stdio, drops
 * privileges and execs bwrap. The child uses only async-signal-safe calls
 * and reports its own failures by exit status: 125 cgroup join, 126 set-up,
 * 127 exec. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lambda/log.h"
#include "lambda/runtime.h"
#include "sandbox/sandbox_int.h"

#define BWRAP_PATH "/usr/bin/bwrap"
#define ENV_PATH "/usr/bin/env"
#define ID_MAX 63

struct lm_workload {
	pid_t pid;
	struct lm_cgroup *cg;
};

struct strv {
	char **v;
	size_t len, cap;
	int failed;
};

static void strv_add(struct strv *s, const char *str)
{
	if (s->failed)
		return;
	if (s->len + 2 > s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		char **v = realloc(s->v, cap * sizeof(*v));

		if (!v) {
			s->failed = 1;
			return;
		}
		s->v = v;
		s->cap = cap;
	}
	if (!(s->v[s->len] = strdup(str))) {
		s->failed = 1;
		return;
	}
	s->v[++s->len] = NULL;
}

static void strv_free(struct strv *s)
{
	for (size_t i = 0; i < s->len; i++)
		free(s->v[i]);
	free(s->v);
}

static int valid_id(const char *id)
{
	size_t n = 0;

	if (!id)
		return 0;
	for (; id[n]; n++)
		if (!((id[n] >= 'a' && id[n] <= 'z') || (id[n] >= 'A' && id[n] <= 'Z') ||
		      (id[n] >= '0' && id[n] <= '9') || id[n] == '_' || id[n] == '-'))
			return 0;
	return n > 0 && n <= ID_MAX;
}

/* /bin, /lib... are symlinks into /usr on merged-/usr systems; recreate
 * them as symlinks, bind them read-only where they are directories. */
static void add_system_dir(struct strv *a, const char *path)
{
	char target[256];
	struct stat st;
	ssize_t n;

	if (lstat(path, &st) < 0)
		return;
	if (S_ISLNK(st.st_mode)) {
		n = readlink(path, target, sizeof(target) - 1);
		if (n <= 0)
			return;
		target[n] = 0;
		strv_add(a, "--symlink");
		strv_add(a, target);
		strv_add(a, path);
	} else if (S_ISDIR(st.st_mode)) {
		strv_add(a, "--ro-bind");
		strv_add(a, path);
		strv_add(a, path);
	}
}

/* The parts of /etc a program needs: user and group names, the loader
 * cache, name service and time zone settings, CA certificates, and the
 * Debian alternatives that /usr/bin links point through. Not the rest
 * (host keys, configuration of host services). */
static const char *const g_etc_files[] = {
	"/etc/passwd", "/etc/group", "/etc/nsswitch.conf", "/etc/hosts", "/etc/host.conf",
	"/etc/resolv.conf", "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d",
	"/etc/localtime", "/etc/timezone", "/etc/alternatives", "/etc/ssl", "/etc/ca-certificates",
	"/etc/mime.types", "/etc/os-release", NULL,
};

static int build_args(const struct lm_workload_spec *spec, int seccomp_fd, struct strv *a)
{
	static const char *const sys_dirs[] = { "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", NULL };
	const char *pwd = NULL;
	char num[16];

	strv_add(a, BWRAP_PATH);
	strv_add(a, "--unshare-user");
	strv_add(a, "--unshare-pid");
	strv_add(a, "--unshare-net");
	strv_add(a, "--unshare-ipc");
	strv_add(a, "--unshare-uts");
	strv_add(a, "--unshare-cgroup-try");
	strv_add(a, "--die-with-parent");
	strv_add(a, "--new-session");
	strv_add(a, "--cap-drop");
	strv_add(a, "ALL");
	snprintf(num, sizeof(num), "%d", LM_SANDBOX_UID);
	strv_add(a, "--uid");
	strv_add(a, num);
	snprintf(num, sizeof(num), "%d", LM_SANDBOX_GID);
	strv_add(a, "--gid");
	strv_add(a, num);
	strv_add(a, "--hostname");
	strv_add(a, spec->instance_id);
	for (size_t i = 0; sys_dirs[i]; i++)
		add_system_dir(a, sys_dirs[i]);
	for (size_t i = 0; g_etc_files[i]; i++) {
		strv_add(a, "--ro-bind-try");
		strv_add(a, g_etc_files[i]);
		strv_add(a, g_etc_files[i]);
	}
	strv_add(a, "--proc");
	strv_add(a, "/proc");
	strv_add(a, "--dev");
	strv_add(a, "/dev");
	strv_add(a, "--tmpfs");
	strv_add(a, "/tmp");
	if (spec->data_dir) {
		strv_add(a, "--bind");
		strv_add(a, spec->data_dir);
		strv_add(a, "/data");
	}
	strv_add(a, "--chdir");
	strv_add(a, spec->data_dir ? "/data" : "/");
	strv_add(a, "--clearenv");
	for (size_t i = 0; spec->envp && spec->envp[i]; i++) {
		const char *eq = strchr(spec->envp[i], '=');
		char *name;

		if (strncmp(spec->envp[i], "PWD=", 4) == 0)
			pwd = spec->envp[i];

		if (!eq || eq == spec->envp[i]) {
			lm_err("sandbox %s: environment entry %zu is not NAME=VALUE", spec->instance_id, i);
			return LM_EINVAL;
		}
		name = strndup(spec->envp[i], (size_t)(eq - spec->envp[i]));
		if (!name)
			return LM_ENOMEM;
		strv_add(a, "--setenv");
		strv_add(a, name);
		strv_add(a, eq + 1);
		free(name);
	}
	snprintf(num, sizeof(num), "%d", seccomp_fd);
	strv_add(a, "--seccomp");
	strv_add(a, num);
	strv_add(a, "--");
	/* bwrap always sets PWD after its chdir; the environment must be
	 * exactly the caller's, so env(1) takes PWD out again (or restores the
	 * caller's value) before exec'ing the workload. */
	strv_add(a, ENV_PATH);
	strv_add(a, "-u");
	strv_add(a, "PWD");
	strv_add(a, "--");
	if (pwd)
		strv_add(a, pwd);
	for (size_t i = 0; spec->argv[i]; i++)
		strv_add(a, spec->argv[i]);
	return a->failed ? LM_ENOMEM : 0;
}

static int check_spec(const struct lm_workload_spec *spec)
{
	struct stat st;

	if (!spec || !spec->type || !spec->argv || !spec->argv[0] || spec->stdout_fd < 0 || spec->stderr_fd < 0)
		return LM_EINVAL;
	/* env(1) would take it for an assignment */
	if (strchr(spec->argv[0], '=')) {
		lm_err("sandbox: the program name must not contain '='");
		return LM_EINVAL;
	}
	if (!valid_id(spec->instance_id)) {
		lm_err("sandbox: instance id must be 1 to %d letters, digits, '_' or '-'", ID_MAX);
		return LM_EINVAL;
	}
	if (spec->data_dir && (spec->data_dir[0] != '/' || stat(spec->data_dir, &st) < 0 || !S_ISDIR(st.st_mode))) {
		lm_err("sandbox %s: data directory %s is not an absolute path to a directory", spec->instance_id,
			spec->data_dir);
		return LM_EINVAL;
	}
	return 0;
}

/* In the forked child: async-signal-safe calls only. */
static void __attribute__((noreturn))
child_exec(const struct lm_workload_spec *spec, struct lm_cgroup *cg, int null_fd, int seccomp_fd, char **argv,
	pid_t parent)
{
	static char *const empty_env[] = { 0 };

	if (lm_cgroup_join_child(cg) < 0)
		_exit(125);
	if (dup2(null_fd, 0) < 0 || dup2(spec->stdout_fd, 1) < 0 || dup2(spec->stderr_fd, 2) < 0)
		_exit(126);
	/* The filter's descriptor is the only one bwrap inherits beyond stdio. */
	if (fcntl(seccomp_fd, F_SETFD, 0) < 0)
		_exit(126);
	if (setgroups(0, NULL) < 0 || setresgid(LM_SANDBOX_GID, LM_SANDBOX_GID, LM_SANDBOX_GID) < 0 ||
	    setresuid(LM_SANDBOX_UID, LM_SANDBOX_UID, LM_SANDBOX_UID) < 0)
		_exit(126);
	/* Set after the uid change, which clears it; bwrap dies with us. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
		_exit(126);
	execve(BWRAP_PATH, argv, empty_env);
	_exit(127);
}

static int process_start(const struct lm_workload_spec *spec, struct lm_workload **out)
{
	struct lm_workload *w = NULL;
	struct strv args = { 0 };
	int seccomp_fd = -1, null_fd = -1, r;
	pid_t parent = getpid(), pid;

	if ((r = check_spec(spec)) < 0)
		return r;
	if (access(BWRAP_PATH, X_OK) < 0 || access(ENV_PATH, X_OK) < 0) {
		lm_err("sandbox %s: " BWRAP_PATH " or " ENV_PATH " missing", spec->instance_id);
		return LM_ENOTSUP;
	}
	w = calloc(1, sizeof(*w));
	if (!w)
		return LM_ENOMEM;
	w->pid = -1;
	if ((r = lm_seccomp_bpf_fd(&seccomp_fd)) < 0)
		goto out;
	/* Keep the filter's descriptor clear of stdio, which the child
	 * overwrites. */
	if (seccomp_fd <= 2) {
		int fd = fcntl(seccomp_fd, F_DUPFD_CLOEXEC, 3);

		close(seccomp_fd);
		seccomp_fd = fd;
		if (fd < 0) {
			r = LM_EIO;
			goto out;
		}
	}
	null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (null_fd < 0) {
		lm_err("sandbox %s: /dev/null: %s", spec->instance_id, strerror(errno));
		r = LM_EIO;
		goto out;
	}
	if ((r = build_args(spec, seccomp_fd, &args)) < 0)
		goto out;
	if ((r = lm_cgroup_new(spec->instance_id, spec->type, &w->cg)) < 0)
		goto out;
	pid = fork();
	if (pid < 0) {
		lm_err("sandbox %s: fork: %s", spec->instance_id, strerror(errno));
		r = LM_EIO;
		goto out;
	}
	if (pid == 0)
		child_exec(spec, w->cg, null_fd, seccomp_fd, args.v, parent);
	w->pid = pid;
	lm_cgroup_close_fds(w->cg);
	lm_info("sandbox %s: started pid %ld, type %s", spec->instance_id, (long)pid, spec->type->name);
	*out = w;
	w = NULL;
	r = 0;
out:
	if (w) {
		lm_cgroup_free(w->cg);
		free(w);
	}
	if (seccomp_fd >= 0)
		close(seccomp_fd);
	if (null_fd >= 0)
		close(null_fd);
	strv_free(&args);
	return r;
}

static pid_t process_pid(const struct lm_workload *w)
{
	return w ? w->pid : -1;
}

static int process_kill(struct lm_workload *w)
{
	int r;

	if (!w)
		return LM_EINVAL;
	if (w->pid > 0 && kill(w->pid, SIGKILL) < 0 && errno != ESRCH)
		lm_warn("sandbox: kill %ld: %s", (long)w->pid, strerror(errno));
	r = lm_cgroup_kill(w->cg);
	return r;
}

static void process_free(struct lm_workload *w)
{
	if (!w)
		return;
	lm_cgroup_free(w->cg);
	free(w);
}

/* The sandbox's own user namespace is made by an unprivileged uid, so probe
 * exactly that. The child reports unshare's errno as its exit status (255:
 * it could not drop to the sandbox uid), so the message can name the cause. */
static int probe_userns(void)
{
	int status;
	pid_t pid;

	pid = fork();
	if (pid < 0)
		return LM_EIO;
	if (pid == 0) {
		if (setgroups(0, NULL) < 0 || setresgid(LM_SANDBOX_GID, LM_SANDBOX_GID, LM_SANDBOX_GID) < 0 ||
		    setresuid(LM_SANDBOX_UID, LM_SANDBOX_UID, LM_SANDBOX_UID) < 0)
			_exit(255);
		_exit(unshare(CLONE_NEWUSER) < 0 ? (errno & 0xff) : 0);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return LM_EIO;
	if (!WIFEXITED(status)) {
		lm_err("sandbox: the user namespace probe died (signal %d)", WTERMSIG(status));
		return LM_ENOTSUP;
	}
	switch (WEXITSTATUS(status)) {
	case 0:
		return 0;
	case 255:
		lm_err("sandbox: cannot switch to uid %d (not running as root?)", LM_SANDBOX_UID);
		break;
	case EPERM:
		/* The kernel refuses CLONE_NEWUSER to a chrooted process. */
		lm_err("sandbox: user namespaces are refused here (EPERM): inside a chroot? "
		       "Enter the root with pivot_root in a mount namespace (unshare -m) instead, "
		       "or check kernel.unprivileged_userns_clone");
		break;
	case ENOSPC:
		lm_err("sandbox: no user namespace can be made (ENOSPC): user.max_user_namespaces is 0 or used up");
		break;
	default:
		lm_err("sandbox: unshare(CLONE_NEWUSER): %s", strerror(WEXITSTATUS(status)));
		break;
	}
	return LM_ENOTSUP;
}

static int process_probe(void)
{
	int r;

	if (access(BWRAP_PATH, X_OK) < 0) {
		lm_err("sandbox: " BWRAP_PATH " missing (install bubblewrap)");
		return LM_ENOTSUP;
	}
	if ((r = probe_userns()) < 0)
		return r;
	if ((r = lm_cgroup_probe()) < 0)
		return r;
	return 0;
}

const struct lm_runtime_ops lm_runtime_process = {
	.name = "process",
	.probe = process_probe,
	.start = process_start,
	.pid = process_pid,
	.kill = process_kill,
	.free = process_free,
};
