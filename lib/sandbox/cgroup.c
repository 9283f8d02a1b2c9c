/* Cgroup limits of a workload. We only ever create children of the
 * caller's own cgroup (read from /proc/self/cgroup): the agent is placed by
 * whoever runs it, and a workload's limits nest inside the agent's.
 *
 * cgroup v1 (and hybrid hosts, where the v1 hierarchies hold the
 * controllers): a child in the cpu, memory and pids hierarchies, mounted at
 * /sys/fs/cgroup/<controller>. CPUs become cpu.cfs_quota_us over a 100 ms
 * period; memory.limit_in_bytes and memory.memsw.limit_in_bytes are equal
 * (no swap) and memory.swappiness is 0; pids.max bounds fork bombs.
 * Pure cgroup v2: one child with cpu.max, memory.max, memory.swap.max = 0
 * and pids.max, after enabling the controllers in the parent. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include <linux/magic.h>

#include "lambda/log.h"
#include "lambda/util.h"
#include "sandbox/sandbox_int.h"

#define CG_ROOT "/sys/fs/cgroup"
#define MAX_DIRS 3

static const char *const g_v1_ctrls[MAX_DIRS] = { "cpu", "memory", "pids" };

struct lm_cgroup {
	int is_v2;
	size_t count;
	char *dirs[MAX_DIRS];
	int procs_fd[MAX_DIRS];
};

/* Finds the caller's cgroup path in hierarchy ctrl (v1), or in the unified
 * hierarchy when ctrl is NULL, into out. */
static int self_cgroup(const char *ctrl, char *out, size_t out_size)
{
	char line[4096];
	int r = LM_ENOENT;
	FILE *f;

	f = fopen("/proc/self/cgroup", "re");
	if (!f) {
		lm_err("cgroup: cannot read /proc/self/cgroup: %s", strerror(errno));
		return LM_EIO;
	}
	while (fgets(line, sizeof(line), f)) {
		char *list, *path, *save = NULL, *tok;
		size_t n = strcspn(line, "\n");

		line[n] = 0;
		list = strchr(line, ':');
		if (!list)
			continue;
		path = strchr(++list, ':');
		if (!path)
			continue;
		*path++ = 0;
		if (!ctrl) {
			if (strcmp(line, "0:") == 0) {
				snprintf(out, out_size, "%s", path);
				r = 0;
				break;
			}
			continue;
		}
		for (tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
			if (strcmp(tok, ctrl) == 0)
				break;
		if (tok) {
			snprintf(out, out_size, "%s", path);
			r = 0;
			break;
		}
	}
	fclose(f);
	return r;
}

static int fs_is(const char *path, long magic)
{
	struct statfs sf;

	return statfs(path, &sf) == 0 && (long)sf.f_type == magic;
}

/* Where our child cgroups would go: dirs[i] = mount/self-path for each
 * controller (v1), or the single unified directory (v2). */
static int find_parents(int *is_v2, char parents[MAX_DIRS][PATH_MAX], size_t *count)
{
	char self[PATH_MAX], mnt[PATH_MAX];
	size_t i;

	for (i = 0; i < MAX_DIRS; i++) {
		snprintf(mnt, sizeof(mnt), CG_ROOT "/%s", g_v1_ctrls[i]);
		if (!fs_is(mnt, CGROUP_SUPER_MAGIC) || self_cgroup(g_v1_ctrls[i], self, sizeof(self)) < 0)
			break;
		if (snprintf(parents[i], PATH_MAX, "%s%s", mnt, strcmp(self, "/") ? self : "") >= PATH_MAX)
			return LM_ETOOBIG;
	}
	if (i == MAX_DIRS) {
		*is_v2 = 0;
		*count = MAX_DIRS;
		return 0;
	}
	if (fs_is(CG_ROOT, CGROUP2_SUPER_MAGIC) && self_cgroup(NULL, self, sizeof(self)) == 0) {
		if (snprintf(parents[0], PATH_MAX, CG_ROOT "%s", strcmp(self, "/") ? self : "") >= PATH_MAX)
			return LM_ETOOBIG;
		*is_v2 = 1;
		*count = 1;
		return 0;
	}
	lm_err("cgroup: no v1 %s hierarchy at " CG_ROOT "/%s and no pure cgroup v2 host", g_v1_ctrls[i],
		g_v1_ctrls[i]);
	return LM_ENOTSUP;
}

static int write_file(const char *dir, const char *file, const char *value)
{
	char path[PATH_MAX];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0) {
		lm_err("cgroup: cannot open %s: %s", path, strerror(errno));
		return errno == ENOENT ? LM_ENOTSUP : LM_EIO;
	}
	n = write(fd, value, strlen(value));
	if (n < 0 || (size_t)n != strlen(value)) {
		lm_err("cgroup: writing \"%s\" to %s failed: %s", value, path, n < 0 ? strerror(errno) : "short");
		close(fd);
		return LM_EIO;
	}
	close(fd);
	return 0;
}

static int has_file(const char *dir, const char *file)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	return access(path, F_OK) == 0;
}

static int set_limits_v1(struct lm_cgroup *cg, const struct lm_instance_type *t)
{
	char v[64];
	int r;

	snprintf(v, sizeof(v), "%" PRIu64, (uint64_t)t->cpus * LM_CPU_PERIOD_US);
	if ((r = write_file(cg->dirs[0], "cpu.cfs_period_us", "100000")) < 0 ||
	    (r = write_file(cg->dirs[0], "cpu.cfs_quota_us", v)) < 0)
		return r;
	snprintf(v, sizeof(v), "%" PRIu64, t->memory_bytes);
	if ((r = write_file(cg->dirs[1], "memory.limit_in_bytes", v)) < 0)
		return r;
	/* memory+swap equal to memory: the workload cannot swap (its memory
	 * could hold secrets); absent when the kernel has no swap accounting. */
	if (has_file(cg->dirs[1], "memory.memsw.limit_in_bytes") &&
	    (r = write_file(cg->dirs[1], "memory.memsw.limit_in_bytes", v)) < 0)
		return r;
	if ((r = write_file(cg->dirs[1], "memory.swappiness", "0")) < 0)
		return r;
	snprintf(v, sizeof(v), "%d", LM_SANDBOX_PIDS_MAX);
	return write_file(cg->dirs[2], "pids.max", v);
}

static int set_limits_v2(struct lm_cgroup *cg, const struct lm_instance_type *t)
{
	char v[64];
	int r;

	snprintf(v, sizeof(v), "%" PRIu64 " %d", (uint64_t)t->cpus * LM_CPU_PERIOD_US, LM_CPU_PERIOD_US);
	if ((r = write_file(cg->dirs[0], "cpu.max", v)) < 0)
		return r;
	snprintf(v, sizeof(v), "%" PRIu64, t->memory_bytes);
	if ((r = write_file(cg->dirs[0], "memory.max", v)) < 0)
		return r;
	if (has_file(cg->dirs[0], "memory.swap.max") && (r = write_file(cg->dirs[0], "memory.swap.max", "0")) < 0)
		return r;
	snprintf(v, sizeof(v), "%d", LM_SANDBOX_PIDS_MAX);
	return write_file(cg->dirs[0], "pids.max", v);
}

int lm_cgroup_probe(void)
{
	char parents[MAX_DIRS][PATH_MAX];
	size_t count;
	int is_v2;

	return find_parents(&is_v2, parents, &count);
}

int lm_cgroup_new(const char *name, const struct lm_instance_type *type, struct lm_cgroup **out)
{
	char parents[MAX_DIRS][PATH_MAX], path[PATH_MAX];
	struct lm_cgroup *cg;
	int r;

	if (!name || !type || !type->cpus || !type->memory_bytes)
		return LM_EINVAL;
	cg = calloc(1, sizeof(*cg));
	if (!cg)
		return LM_ENOMEM;
	for (size_t i = 0; i < MAX_DIRS; i++)
		cg->procs_fd[i] = -1;
	if ((r = find_parents(&cg->is_v2, parents, &cg->count)) < 0)
		goto out;
	if (cg->is_v2 && (r = write_file(parents[0], "cgroup.subtree_control", "+cpu +memory +pids")) < 0) {
		lm_err("cgroup: cannot enable cpu, memory and pids below %s (is the caller the only process "
		       "of its cgroup?)", parents[0]);
		r = LM_ENOTSUP;
		goto out;
	}
	for (size_t i = 0; i < cg->count; i++) {
		if (snprintf(path, sizeof(path), "%s/lambda-%s", parents[i], name) >= (int)sizeof(path)) {
			r = LM_ETOOBIG;
			goto out;
		}
		if (mkdir(path, 0755) < 0) {
			r = errno == EEXIST ? LM_EEXIST : LM_EIO;
			lm_err("cgroup: cannot create %s: %s", path, strerror(errno));
			goto out;
		}
		cg->dirs[i] = strdup(path);
		if (!cg->dirs[i]) {
			rmdir(path);
			r = LM_ENOMEM;
			goto out;
		}
	}
	r = cg->is_v2 ? set_limits_v2(cg, type) : set_limits_v1(cg, type);
	if (r < 0)
		goto out;
	for (size_t i = 0; i < cg->count; i++) {
		snprintf(path, sizeof(path), "%s/cgroup.procs", cg->dirs[i]);
		cg->procs_fd[i] = open(path, O_WRONLY | O_CLOEXEC);
		if (cg->procs_fd[i] < 0) {
			lm_err("cgroup: cannot open %s: %s", path, strerror(errno));
			r = LM_EIO;
			goto out;
		}
	}
	lm_debug("cgroup: %s made with %u CPUs, %" PRIu64 " bytes", cg->dirs[0], type->cpus, type->memory_bytes);
	*out = cg;
	cg = NULL;
	r = 0;
out:
	lm_cgroup_free(cg);
	return r;
}

int lm_cgroup_join_child(const struct lm_cgroup *cg)
{
	/* "0" means the writing process, in v1 and v2 alike. */
	for (size_t i = 0; i < cg->count; i++)
		if (write(cg->procs_fd[i], "0", 1) != 1)
			return -1;
	return 0;
}

void lm_cgroup_close_fds(struct lm_cgroup *cg)
{
	if (!cg)
		return;
	for (size_t i = 0; i < MAX_DIRS; i++) {
		if (cg->procs_fd[i] >= 0)
			close(cg->procs_fd[i]);
		cg->procs_fd[i] = -1;
	}
}

/* Kills every pid listed in dir/cgroup.procs; *seen counts them. */
static int kill_listed(const char *dir, size_t *seen)
{
	char path[PATH_MAX];
	long pid;
	FILE *f;

	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	f = fopen(path, "re");
	if (!f) {
		lm_err("cgroup: cannot read %s: %s", path, strerror(errno));
		return LM_EIO;
	}
	while (fscanf(f, "%ld", &pid) == 1) {
		if (pid <= 1)
			continue;
		(*seen)++;
		if (kill((pid_t)pid, SIGKILL) < 0 && errno != ESRCH)
			lm_warn("cgroup: kill %ld: %s", pid, strerror(errno));
	}
	fclose(f);
	return 0;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

int lm_cgroup_kill(struct lm_cgroup *cg)
{
	int r;

	if (!cg)
		return LM_EINVAL;
	/* Repeat: a process may fork between our read and our kill. pids.max
	 * bounds how many can appear, SIGKILL cannot be blocked. */
	for (int round = 0; round < 100; round++) {
		size_t seen = 0;

		for (size_t i = 0; i < cg->count; i++)
			if ((r = kill_listed(cg->dirs[i], &seen)) < 0)
				return r;
		if (!seen)
			return 0;
		sleep_ms(10);
	}
	lm_err("cgroup: processes remain in %s after repeated SIGKILL", cg->dirs[0]);
	return LM_EBUSY;
}

const char *lm_cgroup_dir(const struct lm_cgroup *cg, const char *ctrl)
{
	if (!cg || !ctrl)
		return NULL;
	if (cg->is_v2)
		return cg->dirs[0];
	for (size_t i = 0; i < cg->count; i++)
		if (strcmp(g_v1_ctrls[i], ctrl) == 0)
			return cg->dirs[i];
	return NULL;
}

void lm_cgroup_free(struct lm_cgroup *cg)
{
	if (!cg)
		return;
	lm_cgroup_close_fds(cg);
	for (size_t i = 0; i < MAX_DIRS; i++) {
		if (!cg->dirs[i])
			continue;
		/* A process that just died may still be listed for a moment. */
		for (int tries = 0; rmdir(cg->dirs[i]) < 0; tries++) {
			if (errno == ENOENT)
				break;
			if (errno != EBUSY || tries >= 200) {
				lm_warn("cgroup: cannot remove %s: %s", cg->dirs[i], strerror(errno));
				break;
			}
			sleep_ms(10);
		}
		free(cg->dirs[i]);
	}
	free(cg);
}
