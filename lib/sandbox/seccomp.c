/* The workload's seccomp filter, built with libseccomp and handed to
 * bubblewrap as a BPF program in a memfd (`bwrap --seccomp FD`), which
 * installs it last, just before exec'ing the workload.
 *
 * Default allow with a deny list: a workload is an arbitrary Linux program,
 * so an allow list would break ordinary software; the list below takes away
 * what an unprivileged program in its own namespaces has no use for and what
 * has been the door for kernel exploits or sandbox escapes. Each call fails
 * with EPERM, as if the capability were missing, so programs that probe for
 * a feature degrade instead of dying. Why each is denied:
 *   mount, umount2, pivot_root, chroot, move_mount, open_tree, fsopen,
 *     fsconfig, fsmount, fspick, mount_setattr: the file tree is fixed by
 *     bwrap; a workload that is root in its user namespace must not
 *     rearrange it.
 *   unshare, setns, clone/clone3 with namespace flags: no nested
 *     namespaces, the largest source of unprivileged kernel attack surface
 *     (user namespaces in particular). clone3 passes its flags in memory
 *     a filter cannot read, so it fails with ENOSYS and libc falls back to
 *     clone, whose flags are checked.
 *   ptrace, process_vm_readv, process_vm_writev, kcmp: no inspecting
 *     other processes.
 *   kexec_load, kexec_file_load, init_module, finit_module, delete_module,
 *     reboot, swapon, swapoff, acct, quotactl, quotactl_fd, iopl, ioperm,
 *     syslog, settimeofday, clock_settime, clock_adjtime, adjtimex,
 *     nfsservctl, uselib, lookup_dcookie, vhangup: host administration,
 *     never a workload's business.
 *   bpf, perf_event_open, userfaultfd: frequent kernel exploit primitives.
 *   keyctl, add_key, request_key: the kernel keyring is not namespaced.
 *   open_by_handle_at, name_to_handle_at: file handles bypass the mount
 *     tree (the "shocker" container escape).
 *   personality: would allow turning off ASLR (READ_IMPLIES_EXEC etc.).
 * System calls of other ABIs (32-bit x86, x32) are not in the filter at
 * all: libseccomp's bad-architecture action kills the process. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <seccomp.h>

#include "lambda/log.h"
#include "sandbox/sandbox_int.h"

const char *const lm_seccomp_denied[] = {
	"mount", "umount", "umount2", "pivot_root", "chroot", "move_mount", "open_tree", "fsopen",
	"fsconfig", "fsmount", "fspick", "mount_setattr",
	"unshare", "setns",
	"ptrace", "process_vm_readv", "process_vm_writev", "kcmp",
	"kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
	"reboot", "swapon", "swapoff", "acct", "quotactl", "quotactl_fd", "iopl", "ioperm",
	"syslog", "settimeofday", "clock_settime", "clock_adjtime", "adjtimex",
	"nfsservctl", "uselib", "lookup_dcookie", "vhangup",
	"bpf", "perf_event_open", "userfaultfd",
	"keyctl", "add_key", "request_key",
	"open_by_handle_at", "name_to_handle_at",
	"personality",
	NULL,
};

static const unsigned long g_ns_flags[] = {
	CLONE_NEWNS, CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC,
	CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET,
#ifdef CLONE_NEWTIME
	CLONE_NEWTIME,
#endif
};

static int add_rules(scmp_filter_ctx ctx)
{
	int r;

	for (size_t i = 0; lm_seccomp_denied[i]; i++) {
		int nr = seccomp_syscall_resolve_name(lm_seccomp_denied[i]);

		if (nr == __NR_SCMP_ERROR)
			continue;	/* not on this architecture or too new for libseccomp */
		if ((r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 0)) < 0) {
			lm_err("seccomp: cannot deny %s: %s", lm_seccomp_denied[i], strerror(-r));
			return LM_EIO;
		}
	}
	/* One rule per flag: the call is denied when any of them is set. */
	for (size_t i = 0; i < sizeof(g_ns_flags) / sizeof(g_ns_flags[0]); i++) {
		r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
			SCMP_A0(SCMP_CMP_MASKED_EQ, g_ns_flags[i], g_ns_flags[i]));
		if (r < 0) {
			lm_err("seccomp: cannot filter clone flags: %s", strerror(-r));
			return LM_EIO;
		}
	}
	if ((r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0)) < 0) {
		lm_err("seccomp: cannot filter clone3: %s", strerror(-r));
		return LM_EIO;
	}
	return 0;
}

int lm_seccomp_bpf_fd(int *out)
{
	scmp_filter_ctx ctx;
	int fd = -1, r;

	ctx = seccomp_init(SCMP_ACT_ALLOW);
	if (!ctx) {
		lm_err("seccomp: seccomp_init failed");
		return LM_ENOMEM;
	}
	if ((r = add_rules(ctx)) < 0)
		goto out;
	fd = memfd_create("lambda-seccomp", MFD_CLOEXEC);
	if (fd < 0) {
		lm_err("seccomp: memfd_create: %s", strerror(errno));
		r = LM_EIO;
		goto out;
	}
	if ((r = seccomp_export_bpf(ctx, fd)) < 0) {
		lm_err("seccomp: exporting the filter failed: %s", strerror(-r));
		r = LM_EIO;
		goto out;
	}
	if (lseek(fd, 0, SEEK_SET) != 0) {
		lm_err("seccomp: lseek: %s", strerror(errno));
		r = LM_EIO;
		goto out;
	}
	*out = fd;
	fd = -1;
	r = 0;
out:
	if (fd >= 0)
		close(fd);
	seccomp_release(ctx);
	return r;
}
