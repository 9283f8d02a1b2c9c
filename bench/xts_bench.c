/* The user-space volume path's cipher alone: lm_xts_sectors() over a
 * buffer in memory, one core, to set against
 * `openssl speed -evp aes-256-xts -bytes 4096` (bench/volume.sh).
 * Usage: xts_bench [MiB] (default 1024) - prints MB/s for encrypt and
 * decrypt. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "lambda/util.h"
#include "volume/volume_int.h"

#define SECTOR 4096u
#define CHUNK_SECTORS 256u	/* 1 MiB per call, as the FUSE server's largest request */

static double seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	size_t mib = argc > 1 ? strtoul(argv[1], NULL, 10) : 1024;
	uint8_t key[LM_VOLUME_KEY_BYTES];
	uint8_t *buf = malloc((size_t)CHUNK_SECTORS * SECTOR);
	struct lm_xts *x = NULL;
	int rc = 1;

	if (!buf || mib == 0 || lm_random(key, sizeof(key)) < 0 || lm_random(buf, CHUNK_SECTORS * SECTOR) < 0 ||
	    lm_xts_new(key, &x) < 0)
		goto out;
	for (int enc = 1; enc >= 0; enc--) {
		double t0 = seconds();

		for (size_t i = 0; i < mib; i++)
			if (lm_xts_sectors(x, enc, (uint64_t)i * CHUNK_SECTORS, buf, buf, CHUNK_SECTORS) < 0)
				goto out;
		printf("%s %zu MiB: %.0f MB/s\n", enc ? "encrypt" : "decrypt", mib,
		       (double)mib * 1048576.0 / (seconds() - t0) / 1e6);
	}
	rc = 0;
out:
	lm_xts_free(x);
	free(buf);
	return rc;
}
