/* lambda tenant create: new tenants and their tokens (admin only). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "client.h"
#include "cmds.h"
#include "lambda/json.h"
#include "lambda/secret.h"

static const char tenant_create_manual[] =
	"Creates a tenant and prints its API token. The token is shown once only:\n"
	"store it (e.g. in the \"token\" field of a configuration file given with\n"
	"--config). Needs the admin token that 'lambda up' configured.\n"
	"\n"
	"NAME: 1 to 63 characters of a-z 0-9 . _ -\n"
	"\n"
	"options:\n"
	"  --json   print {\"tenant\": {\"id\", \"name\"}, \"token\"}\n"
	"\n"
	"exit status: 0 created, 1 the name is taken, 2 bad name, 4 platform not\n"
	"reachable, 6 not the admin tenant.\n"
	"\n"
	"example:\n"
	"  lambda tenant create acme\n";

int cmd_tenant_create(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	struct lm_client *cl = NULL;
	json_t *body = NULL, *resp = NULL, *tenant;
	bool as_json = false;
	int c, r;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c != 'j')
			return LM_EXIT_USAGE;
		as_json = true;
	}
	if (optind + 1 != argc) {
		cli_error("usage: lambda tenant create NAME [--json]");
		return LM_EXIT_USAGE;
	}
	if ((r = cli_connect(&cl)) < 0)
		return lm_exit_code(r);
	if (!(body = json_pack("{s:s}", "name", argv[optind]))) {
		r = LM_ENOMEM;
		goto out;
	}
	r = cli_api(cl, "POST", "/v1/tenants", body, &resp);
	if (r == LM_ESTATE)
		r = LM_EEXIST;
	if (r < 0)
		goto out;
	tenant = json_object_get(resp, "tenant");
	if (as_json) {
		char *text = json_dumps(resp, JSON_INDENT(2));

		if (text)
			puts(text);
		lm_free_wiped(text);
	} else {
		printf("tenant %s (%s)\ntoken  %s\n\nThe token is shown only now: store it.\n",
		       lm_json_str(tenant, "name") ? lm_json_str(tenant, "name") : "?",
		       lm_json_str(tenant, "id") ? lm_json_str(tenant, "id") : "?",
		       lm_json_str(resp, "token") ? lm_json_str(resp, "token") : "?");
	}
out:
	if (resp) {
		json_t *tok = json_object_get(resp, "token");

		if (json_is_string(tok))
			lm_memzero((char *)json_string_value(tok), json_string_length(tok));
	}
	json_decref(body);
	json_decref(resp);
	lm_client_free(cl);
	return r == LM_EEXIST ? LM_EXIT_FAIL : lm_exit_code(r);
}

const struct lm_cmd g_cli_tenant_cmds[] = {
	{ "create", cmd_tenant_create, NULL, "NAME [--json]", "create a tenant and print its token",
	  tenant_create_manual },
	{ NULL, NULL, NULL, NULL, NULL, NULL },
};
