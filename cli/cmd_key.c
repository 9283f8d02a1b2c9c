/* lambda key: customer master keys on the customer's machine. generate
 * makes a CMK file, show prints its name and key id, derive writes one key
 * of the hierarchy (DESIGN.md section 4) as raw bytes, e.g. for
 * `cryptsetup open --key-file`. No verb ever prints key material. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "cmds.h"
#include "lambda/crypto.h"
#include "lambda/secret.h"
#include "lambda/util.h"

static int refuse_existing(const char *path)
{
	struct stat st;

	/* lstat: a link, even to nothing, is never written through. */
	if (lstat(path, &st) != 0)
		return 0;
	if (S_ISLNK(st.st_mode) && access(path, F_OK) != 0) {
		cli_error("%s is a symbolic link to a missing file; refusing to write through it", path);
		return LM_EXIT_USAGE;
	}
	cli_error("%s already exists; refusing to overwrite it (choose another --output or move the file away)",
		  path);
	return LM_EXIT_USAGE;
}

/* Checks an --output FILE before any key is made: an empty name or "-"
 * (keys are never written to a terminal or pipe) is a usage error, a
 * missing directory is named, an existing file is never overwritten. */
static int check_output(const char *path)
{
	char dir[4096];
	const char *slash;
	struct stat st;

	if (!*path) {
		cli_error("--output: the file name is empty");
		return LM_EXIT_USAGE;
	}
	if (strcmp(path, "-") == 0) {
		cli_error("--output -: keys are written to files only, not to standard output; give a file name");
		return LM_EXIT_USAGE;
	}
	if ((slash = strrchr(path, '/')) && slash != path) {
		if ((size_t)(slash - path) >= sizeof(dir)) {
			cli_error("--output: the path is too long");
			return LM_EXIT_USAGE;
		}
		memcpy(dir, path, (size_t)(slash - path));
		dir[slash - path] = 0;
		if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
			cli_error("--output %s: %s: no such directory", path, dir);
			return LM_EXIT_NOTFOUND;
		}
	}
	return refuse_existing(path);
}

/* The rule of lambda/crypto.h for a CMK name, checked before a key is made
 * so that a bad name is a usage error and nothing else is blamed. */
static bool is_key_name(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > LM_KEY_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (name[i] < 0x20 || name[i] > 0x7e)
			return false;
	return true;
}

static int load_key(const char *path, struct lm_secret **cmk, char **name)
{
	int r = lm_cmk_load(path, cmk, name);

	/* lm_file_read_private() has already said which mode it found and to
	 * run chmod 600. */
	if (r == LM_EKEYPERM)
		return lm_exit_code(r);
	if (r < 0)
		return cli_fail(r, "cannot read master key %s", path);
	return 0;
}

static int cmd_key_generate(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "name", required_argument, NULL, 'n' },
		{ "output", required_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 },
	};
	const char *name = NULL, *output = NULL;
	char id_str[LM_KEY_ID_STR_SIZE];
	uint8_t id[LM_KEY_ID_BYTES];
	struct lm_secret *cmk = NULL;
	int c, r;

	while ((c = getopt_long(argc, argv, "n:o:", opts, NULL)) != -1) {
		switch (c) {
		case 'n': name = optarg; break;
		case 'o': output = optarg; break;
		default: return LM_EXIT_USAGE;
		}
	}
	if (!name || !output || optind != argc) {
		cli_error("usage: lambda key generate --name NAME --output FILE");
		return LM_EXIT_USAGE;
	}
	if (!is_key_name(name)) {
		cli_error("--name: a key name holds 1 to %d printable ASCII characters", LM_KEY_NAME_MAX);
		return LM_EXIT_USAGE;
	}
	if ((r = check_output(output)) != 0)
		return r;
	if ((r = lm_cmk_generate(&cmk)) < 0 || (r = lm_key_id(id, cmk)) < 0) {
		r = cli_fail(r, "cannot generate a master key");
		goto out;
	}
	if ((r = lm_cmk_save(output, cmk, name)) < 0) {
		r = cli_fail(r, "cannot write %s", output);
		goto out;
	}
	lm_key_id_format(id_str, id);
	printf("%s\n", id_str);
	fprintf(stderr, "lambda: wrote master key '%s' (%s) to %s, mode 0600. Keep a backup: "
			"data encrypted under it cannot be recovered without it.\n",
		name, id_str, output);
	r = LM_EXIT_OK;
out:
	lm_secret_free(cmk);
	return r;
}

static int cmd_key_show(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	char id_str[LM_KEY_ID_STR_SIZE], *name = NULL;
	uint8_t id[LM_KEY_ID_BYTES];
	struct lm_secret *cmk = NULL;
	bool json = false;
	int c, r;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c != 'j')
			return LM_EXIT_USAGE;
		json = true;
	}
	if (optind != argc - 1) {
		cli_error("usage: lambda key show FILE [--json]");
		return LM_EXIT_USAGE;
	}
	if ((r = load_key(argv[optind], &cmk, &name)) != 0)
		return r;
	if ((r = lm_key_id(id, cmk)) < 0) {
		r = cli_fail(r, "cannot compute the key id");
		goto out;
	}
	lm_key_id_format(id_str, id);
	if (json) {
		json_t *o = json_pack("{s:s?,s:s,s:s}", "name", name, "key_id", id_str, "file", argv[optind]);
		char *text = o ? json_dumps(o, JSON_INDENT(2)) : NULL;

		json_decref(o);
		if (!text) {
			r = cli_fail(LM_ENOMEM, "cannot format JSON");
			goto out;
		}
		printf("%s\n", text);
		free(text);
	} else {
		printf("name:   %s\nkey id: %s\n", name ? name : "(none)", id_str);
	}
	r = LM_EXIT_OK;
out:
	lm_secret_free(cmk);
	free(name);
	return r;
}

static int cmd_key_derive(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "region", required_argument, NULL, 'r' },
		{ "instance", required_argument, NULL, 'i' },
		{ "volume", required_argument, NULL, 'v' },
		{ "output", required_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 },
	};
	const char *region = NULL, *instance = NULL, *volume = NULL, *output = NULL, *path;
	struct lm_secret *cmk = NULL, *region_kek = NULL, *inst_kek = NULL, *slot = NULL;
	char id_str[LM_KEY_ID_STR_SIZE];
	uint8_t id[LM_KEY_ID_BYTES];
	int c, r;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'r': region = optarg; break;
		case 'i': instance = optarg; break;
		case 'v': volume = optarg; break;
		case 'o': output = optarg; break;
		default: return LM_EXIT_USAGE;
		}
	}
	if (optind != argc - 1 || !region || !instance || !output) {
		cli_error("usage: lambda key derive FILE --region R --instance I [--volume V] --output F");
		return LM_EXIT_USAGE;
	}
	path = argv[optind];
	if ((r = check_output(output)) != 0)
		return r;
	if ((r = load_key(path, &cmk, NULL)) != 0)
		return r;
	if ((r = lm_key_id(id, cmk)) < 0 || (r = lm_key_region_kek(&region_kek, cmk, region)) < 0 ||
	    (r = lm_key_instance_kek(&inst_kek, region_kek, instance)) < 0 ||
	    (volume && (r = lm_key_volume_slot(&slot, inst_kek, volume)) < 0)) {
		r = cli_fail(r, "cannot derive the key");
		goto out;
	}
	const struct lm_secret *out_key = slot ? slot : inst_kek;
	if ((r = lm_file_write_new(output, out_key->data, out_key->size, 0600)) < 0) {
		r = cli_fail(r, "cannot write %s", output);
		goto out;
	}
	lm_key_id_format(id_str, id);
	if (slot)
		fprintf(stderr, "lambda: wrote the keyslot passphrase of volume %s (instance %s, region %s, "
				"master key %s) to %s, mode 0600\n", volume, instance, region, id_str, output);
	else
		fprintf(stderr, "lambda: wrote the instance KEK of %s (region %s, master key %s) to %s, mode 0600\n",
			instance, region, id_str, output);
	r = LM_EXIT_OK;
out:
	lm_secret_free(slot);
	lm_secret_free(inst_kek);
	lm_secret_free(region_kek);
	lm_secret_free(cmk);
	return r;
}

static const char g_generate_manual[] =
	"Creates a new customer master key (CMK): 32 random bytes from the OpenSSL\n"
	"DRBG, written as a PEM file (label LAMBDA MASTER KEY) with comment lines for\n"
	"its name, key id and creation time. The file is created with mode 0600 and\n"
	"is never overwritten. The key id (lmk_ + 16 hex digits) goes to standard\n"
	"output; it names the key without revealing it.\n"
	"\n"
	"The CMK never leaves this machine: every key an instance receives is derived\n"
	"from it here and sent sealed to the attested instance. Keep a backup of the\n"
	"file: what is encrypted under it cannot be recovered without it.\n"
	"\n"
	"Options:\n"
	"  --name NAME     a label for the key, 1 to 64 printable ASCII characters\n"
	"  --output FILE   where to write the key; must not exist, its directory must\n"
	"                  (standard output is not offered: \"-\" is refused)\n"
	"\n"
	"Exit status:\n"
	"  0  the key was written\n"
	"  1  the key could not be made or written\n"
	"  2  bad arguments: a bad NAME, an empty FILE or \"-\", or FILE already exists\n"
	"  5  the directory of FILE does not exist\n"
	"\n"
	"Example:\n"
	"  lambda key generate --name prod --output ~/.lambda/prod.pem\n";

static const char g_show_manual[] =
	"Prints the name and key id of a master key file, never the key itself.\n"
	"The file must be readable by its owner only (as ssh requires of private\n"
	"keys) and hold exactly one LAMBDA MASTER KEY block of 32 bytes.\n"
	"\n"
	"Options:\n"
	"  --json   print {\"name\": ..., \"key_id\": ..., \"file\": ...} instead\n"
	"\n"
	"Exit status:\n"
	"  0  shown\n"
	"  2  the file is not a master key file, or not a regular file\n"
	"  3  the file is accessible by group or others (fix: chmod 600 FILE) or\n"
	"     owned by another user\n"
	"  5  no such file\n"
	"\n"
	"Example:\n"
	"  lambda key show ~/.lambda/prod.pem --json\n";

static const char g_derive_manual[] =
	"Derives one key of the hierarchy from a master key file and writes it as\n"
	"32 raw bytes to a new file with mode 0600:\n"
	"\n"
	"  region KEK    = HKDF-SHA256(CMK, \"region-kek:\" + REGION)\n"
	"  instance KEK  = HKDF-SHA256(region KEK, \"instance-kek:\" + INSTANCE)\n"
	"  keyslot pass. = HKDF-SHA256(instance KEK, \"volume-slot:\" + VOLUME)\n"
	"\n"
	"(salt \"lambda/v1\", 32 bytes each; docs/formats.md has reference vectors).\n"
	"Without --volume the instance KEK is written; with --volume the LUKS2\n"
	"keyslot passphrase of that volume, so that any Linux host can open the\n"
	"volume image without lambda. Treat the output file like the master key\n"
	"and remove it when done.\n"
	"\n"
	"Options:\n"
	"  --region R      region of the instance, e.g. us-west-1\n"
	"  --instance I    instance id, e.g. inst_abc123\n"
	"  --volume V      volume id: write the keyslot passphrase of this volume\n"
	"  --output F      where to write the key; must not exist\n"
	"\n"
	"Exit status:\n"
	"  0  written\n"
	"  1  the key could not be derived or written\n"
	"  2  bad arguments, a malformed key file, an empty F or \"-\", or F already exists\n"
	"  3  the key file is accessible by group or others (fix: chmod 600 FILE) or\n"
	"     owned by another user\n"
	"  5  no such key file, or the directory of F does not exist\n"
	"\n"
	"Example:\n"
	"  lambda key derive prod.pem --region us-west-1 --instance inst_abc123 \\\n"
	"      --volume vol_data --output slot.key\n"
	"  cryptsetup open --key-file slot.key volume.img data\n";

/* "rotate" lives in cmd_key_rotate.c: encrypted files and instance volumes. */
const struct lm_cmd key_cmds[] = {
	{ "generate", cmd_key_generate, NULL, "--name NAME --output FILE", "create a master key file",
	  g_generate_manual },
	{ "show", cmd_key_show, NULL, "FILE [--json]", "print a master key's name and key id", g_show_manual },
	{ "derive", cmd_key_derive, NULL, "FILE --region R --instance I [--volume V] --output F",
	  "write a derived instance or volume key", g_derive_manual },
	{ "rotate", cmd_key_rotate, NULL, "(--file F | INST [--reencrypt]) --old-key A --new-key B",
	  "move a file or an instance's volume to a new master key", cmd_key_rotate_manual },
	{ NULL, NULL, NULL, NULL, NULL, NULL },
};
