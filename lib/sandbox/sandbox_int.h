/* Private to lib/sandbox: the cgroup and seccomp pieces of the `process`
 * runtime, one file each. */
#ifndef LAMBDA_SANDBOX_INT_H
#define LAMBDA_SANDBOX_INT_H

#include <stdint.h>
#include <sys/types.h>

#include "lambda/err.h"
#include "lambda/runtime.h"

/* The workload's ids, on the host as well as inside its user namespace. */
#define LM_SANDBOX_UID 65534
#define LM_SANDBOX_GID 65534
/* Tasks (processes and threads) one workload may have. */
#define LM_SANDBOX_PIDS_MAX 1024
#define LM_CPU_PERIOD_US 100000

/* The `process` runtime (process.c). */
extern const struct lm_runtime_ops lm_runtime_process;

/* The cgroups of one workload: a child "lambda-<instance id>" of the
 * caller's own cgroup in each of the cpu, memory and pids hierarchies
 * (cgroup v1), or one child in the unified hierarchy (pure v2 host). */
struct lm_cgroup;

/* Creates the cgroups for name with the limits of type, and opens their
 * cgroup.procs files so that a forked child can join them with write()
 * alone. LM_ENOTSUP when a controller is missing, LM_EEXIST when a cgroup
 * of that name exists. */
LM_MUST_CHECK int lm_cgroup_new(const char *name, const struct lm_instance_type *type, struct lm_cgroup **out);

/* For a forked child before exec: moves the calling process into every
 * cgroup of cg. Async-signal-safe; returns -1 on failure. */
int lm_cgroup_join_child(const struct lm_cgroup *cg);

/* Closes the cgroup.procs descriptors (the parent's copies, after fork). */
void lm_cgroup_close_fds(struct lm_cgroup *cg);

/* Sends SIGKILL to every process in cg until none is left (bounded). */
LM_MUST_CHECK int lm_cgroup_kill(struct lm_cgroup *cg);

/* Removes the cgroup directories (waiting briefly for exiting processes)
 * and frees cg; NULL is accepted. */
void lm_cgroup_free(struct lm_cgroup *cg);

/* The directory of cg in controller ctrl ("memory"; on v2 any name gives
 * the one directory), or NULL. */
const char *lm_cgroup_dir(const struct lm_cgroup *cg, const char *ctrl);

/* Is there a usable cgroup setup for us? Logs why not. */
LM_MUST_CHECK int lm_cgroup_probe(void);

/* Builds the workload's seccomp filter and returns a memfd (close-on-exec,
 * positioned at 0) holding it as a BPF program for `bwrap --seccomp`. */
LM_MUST_CHECK int lm_seccomp_bpf_fd(int *out);

/* The syscall names the filter denies with EPERM, NULL-terminated (for
 * docs and tests). */
extern const char *const lm_seccomp_denied[];

#endif
