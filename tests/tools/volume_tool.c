/* volume_tool: drives lib/volume for tests/integration/90-volume.sh and
 * bench/volume.sh.
 *   volume_tool create IMAGE SIZE KEYFILE      make a LUKS2 volume
 *   volume_tool open IMAGE RUN_DIR KEYFILE     unlock, mount on RUN_DIR/data,
 *       print "ready MOUNT_DIR BACKEND SERVER_PID", hold the volume until
 *       stdin reaches its end or SIGTERM/SIGINT, then close it
 *   volume_tool cleanup RUN_DIR                remove stale state
 * KEYFILE holds the raw keyslot passphrase (binary, 0x00 allowed). open
 * takes --userspace to avoid dm-crypt. Exit 0 on success. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lambda/log.h"
#include "lambda/secret.h"
#include "lambda/util.h"
#include "lambda/volume.h"

static volatile sig_atomic_t g_stop;

static void on_log(enum lm_log_level level, const char *msg, void *ctx)
{
	(void)ctx;
	if (level != LM_LOG_DEBUG)
		fprintf(stderr, "volume_tool: %s\n", msg);
}

static void on_signal(int sig)
{
	(void)sig;
	g_stop = 1;
}

static int read_key(const char *path, struct lm_secret **out)
{
	uint8_t *buf = NULL;
	size_t n = 0;
	int r;

	if ((r = lm_file_read(path, 4096, &buf, &n)) < 0)
		return r;
	r = n ? lm_secret_dup(buf, n, out) : LM_EINVAL;
	lm_free_wiped_size(buf, n);
	return r;
}

static int cmd_open(const char *image, const char *run_dir, const char *key_path, unsigned flags)
{
	struct lm_secret *pass = NULL, *vk = NULL;
	struct lm_volume *v = NULL;
	struct sigaction sa = { 0 };
	int r;

	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	(void)sigaction(SIGTERM, &sa, NULL);
	(void)sigaction(SIGINT, &sa, NULL);
	if ((r = read_key(key_path, &pass)) < 0 || (r = lm_volume_unlock(image, pass, &vk)) < 0 ||
	    (r = lm_volume_open(image, run_dir, vk, flags, &v)) < 0)
		goto out;
	lm_secret_free(vk);
	vk = NULL;
	printf("ready %s %s %d\n", lm_volume_mount_dir(v), lm_volume_backend_name(v), (int)lm_volume_server_pid(v));
	fflush(stdout);
	while (!g_stop) {
		struct pollfd p = { .fd = 0, .events = POLLIN };
		char c[64];

		if (poll(&p, 1, -1) < 0)
			continue;
		if (read(0, c, sizeof(c)) <= 0)
			break;
	}
	r = lm_volume_close(v);
out:
	lm_secret_free(vk);
	lm_secret_free(pass);
	return r;
}

int main(int argc, char **argv)
{
	struct lm_secret *pass = NULL;
	unsigned flags = 0;
	int r;

	lm_log_set_handler(on_log, NULL);
	if (argc > 1 && strcmp(argv[argc - 1], "--userspace") == 0) {
		flags |= LM_VOLUME_USERSPACE;
		argc--;
	}
	if (argc == 5 && strcmp(argv[1], "create") == 0) {
		if ((r = read_key(argv[4], &pass)) == 0)
			r = lm_volume_create(argv[2], strtoull(argv[3], NULL, 0), pass);
		lm_secret_free(pass);
	} else if (argc == 5 && strcmp(argv[1], "open") == 0) {
		r = cmd_open(argv[2], argv[3], argv[4], flags);
	} else if (argc == 3 && strcmp(argv[1], "cleanup") == 0) {
		r = lm_volume_cleanup(argv[2]);
	} else {
		fprintf(stderr, "usage: volume_tool create IMAGE SIZE KEYFILE | open IMAGE RUN_DIR KEYFILE "
				"[--userspace] | cleanup RUN_DIR\n");
		return 2;
	}
	if (r < 0)
		fprintf(stderr, "volume_tool: %s\n", lm_strerror(r));
	return r < 0 ? 1 : 0;
}
