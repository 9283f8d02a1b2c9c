/* Test helper: makes simulated evidence documents (and raw reports) for the
 * integration tests and for the seed corpora of the attest fuzz targets.
 *
 * make_sim_evidence [--key PEM] [--save-key PEM] [--instance ID]
 *     [--image I] [--type T] [--sandbox P] [--nonce HEX] [--guest-pk HEX]
 *     [--debug] [--raw] [--print-measurement] [-o FILE]
 *
 * Without --key a new signing key is made (written to --save-key if given);
 * without --nonce or --guest-pk random ones are used. The document (or with
 * --raw the raw report) goes to FILE or stdout. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attest/attest_int.h"
#include "lambda/log.h"
#include "lambda/util.h"

static void print_log(enum lm_log_level level, const char *msg, void *ctx)
{
	(void)ctx;
	if (level <= LM_LOG_WARN)
		fprintf(stderr, "make_sim_evidence: %s\n", msg);
}

static int hex_arg(const char *s, uint8_t *buf, size_t max, size_t *size)
{
	uint8_t *p;
	size_t n;

	if (lm_hex_decode_alloc(s, &p, &n) < 0)
		return -1;
	if (n > max) {
		free(p);
		return -1;
	}
	memcpy(buf, p, n);
	*size = n;
	free(p);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "key", required_argument, NULL, 'k' },
		{ "save-key", required_argument, NULL, 's' },
		{ "instance", required_argument, NULL, 'i' },
		{ "image", required_argument, NULL, 'I' },
		{ "type", required_argument, NULL, 't' },
		{ "sandbox", required_argument, NULL, 'p' },
		{ "nonce", required_argument, NULL, 'n' },
		{ "guest-pk", required_argument, NULL, 'g' },
		{ "debug", no_argument, NULL, 'd' },
		{ "raw", no_argument, NULL, 'r' },
		{ "print-measurement", no_argument, NULL, 'm' },
		{ "output", required_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 },
	};
	const char *key_path = NULL, *save_path = NULL, *out_path = NULL, *instance = "inst_test01";
	const char *image = "docker.io/library/alpine:3.19", *type = "compute-4x", *sandbox = "default";
	uint8_t nonce[LM_NONCE_MAX], gpk[256], m[LM_SIM_MEASUREMENT_BYTES];
	size_t nonce_size = 32, gpk_size = 32;
	bool have_nonce = false, have_gpk = false, raw = false, print_m = false;
	uint32_t flags = 0;
	struct lm_evidence *ev = NULL;
	char *pem = NULL, *json = NULL;
	uint8_t *key_buf = NULL;
	size_t key_size;
	int c, rc = 1;
	FILE *f;

	lm_log_set_handler(print_log, NULL);
	while ((c = getopt_long(argc, argv, "o:", opts, NULL)) != -1) {
		switch (c) {
		case 'k': key_path = optarg; break;
		case 's': save_path = optarg; break;
		case 'i': instance = optarg; break;
		case 'I': image = optarg; break;
		case 't': type = optarg; break;
		case 'p': sandbox = optarg; break;
		case 'n':
			if (hex_arg(optarg, nonce, sizeof(nonce), &nonce_size) < 0)
				goto usage;
			have_nonce = true;
			break;
		case 'g':
			if (hex_arg(optarg, gpk, sizeof(gpk), &gpk_size) < 0 || gpk_size == 0)
				goto usage;
			have_gpk = true;
			break;
		case 'd': flags |= LM_SIM_FLAG_DEBUG; break;
		case 'r': raw = true; break;
		case 'm': print_m = true; break;
		case 'o': out_path = optarg; break;
		default: goto usage;
		}
	}
	if (optind != argc)
		goto usage;
	if (lm_sim_measurement(m, image, type, sandbox) < 0)
		return 1;
	if (print_m) {
		char hex[2 * sizeof(m) + 1];

		lm_hex_encode(hex, m, sizeof(m));
		printf("sha384:%s\n", hex);
		return 0;
	}
	if ((!have_nonce && lm_random(nonce, nonce_size) < 0) || (!have_gpk && lm_random(gpk, gpk_size) < 0))
		return 1;
	if (key_path) {
		if (lm_file_read(key_path, 1 << 16, &key_buf, &key_size) < 0)
			goto out;
		pem = strdup((char *)key_buf);
		lm_free_wiped_size(key_buf, key_size);
		if (!pem)
			goto out;
	} else if (lm_sim_key_generate(&pem) < 0 ||
		   (save_path && lm_file_write_replace(save_path, pem, strlen(pem), 0600) < 0)) {
		goto out;
	}
	if (lm_sim_evidence_make_flags(pem, instance, m, nonce, nonce_size, gpk, gpk_size, flags, &ev) < 0)
		goto out;
	if (!raw && lm_evidence_to_json(ev, &json) < 0)
		goto out;
	f = out_path ? fopen(out_path, "wb") : stdout;
	if (!f) {
		perror(out_path);
		goto out;
	}
	if (raw)
		fwrite(ev->evidence, 1, ev->evidence_size, f);
	else
		fprintf(f, "%s\n", json);
	if ((out_path ? fclose(f) : fflush(f)) != 0) {
		perror("write");
		goto out;
	}
	rc = 0;
out:
	free(json);
	lm_evidence_free(ev);
	lm_free_wiped(pem);
	return rc;
usage:
	fprintf(stderr, "usage: make_sim_evidence [--key PEM] [--save-key PEM] [--instance ID] [--image I]\n"
			"  [--type T] [--sandbox P] [--nonce HEX] [--guest-pk HEX] [--debug] [--raw]\n"
			"  [--print-measurement] [-o FILE]\n");
	return 2;
}
