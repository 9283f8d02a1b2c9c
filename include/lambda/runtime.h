/* Instance runtimes: how a workload is started and isolated. One file per
 * runtime under lib/sandbox/ behind struct lm_runtime_ops; `process` runs
 * the workload in namespaces (bubblewrap) with a seccomp filter, no
 * capabilities, a private /tmp and cgroup limits from the instance type. */
#ifndef LAMBDA_RUNTIME_H
#define LAMBDA_RUNTIME_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "lambda/err.h"

struct lm_instance_type {
	const char *name;		/* "compute-4x" */
	unsigned cpus;			/* CPU quota in whole CPUs */
	uint64_t memory_bytes;
};

/* Looks up an instance type by name; NULL when unknown. */
const struct lm_instance_type *lm_instance_type_find(const char *name);

/* The NULL-terminated table, for listings. */
extern const struct lm_instance_type lm_instance_types[];

struct lm_workload_spec {
	const char *instance_id;
	const char *state_dir;		/* private directory of the instance */
	const struct lm_instance_type *type;
	char *const *argv;		/* argv[0] is looked up in PATH */
	char *const *envp;		/* the workload's whole environment */
	int stdout_fd, stderr_fd;	/* where the workload writes */
	const char *data_dir;		/* host path bound at /data, or NULL */
};

struct lm_workload;

struct lm_runtime_ops {
	const char *name;
	/* Is the runtime usable here? Logs the reason when not. */
	int (*probe)(void);
	int (*start)(const struct lm_workload_spec *spec, struct lm_workload **out);
	/* The pid to wait for (a child of the caller). */
	pid_t (*pid)(const struct lm_workload *w);
	/* Sends SIGKILL to every process of the workload. */
	int (*kill)(struct lm_workload *w);
	/* Releases what start made (cgroups, temporary dirs); after exit. */
	void (*free)(struct lm_workload *w);
};

/* Finds a runtime by name ("process"); NULL when unknown. */
const struct lm_runtime_ops *lm_runtime_find(const char *name);

#endif
