/* Replays every file of a fuzz corpus directory through a target, so that
 * seeds and past crashes run in the normal test suite (under ASan and UBSan
 * in the sanitizer build). */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "lambda/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int main(int argc, char **argv)
{
	struct dirent *de;
	size_t count = 0;
	DIR *dir;

	if (argc != 2) {
		fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
		return 2;
	}
	dir = opendir(argv[1]);
	if (!dir) {
		perror(argv[1]);
		return 1;
	}
	while ((de = readdir(dir)) != NULL) {
		char path[4096];
		uint8_t *buf;
		size_t size;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", argv[1], de->d_name);
		if (lm_file_read(path, LM_FILE_MAX, &buf, &size) < 0) {
			fprintf(stderr, "cannot read %s\n", path);
			closedir(dir);
			return 1;
		}
		LLVMFuzzerTestOneInput(buf, size);
		free(buf);
		count++;
	}
	closedir(dir);
	printf("replayed %zu inputs from %s\n", count, argv[1]);
	/* An empty corpus means the seeds went missing: fail rather than pass
	 * without testing anything. */
	return count ? 0 : 1;
}
