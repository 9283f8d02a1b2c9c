/* The registry of evidence backends, the dispatch of lm_verify_evidence()
 * to them, and the helpers that record checks in a verdict. Adding a
 * backend: a new lib/attest/<kind>.c defining a struct lm_attest_backend,
 * declared in attest_int.h and listed in g_backends below. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attest/attest_int.h"
#include "attest/tpm_int.h"
#include "lambda/log.h"
#include "lambda/util.h"

static const struct lm_attest_backend *const g_backends[] = {
	&lm_attest_simulated,
	&lm_attest_snp,
	&lm_attest_tpm,
	&lm_attest_tdx,
	&lm_attest_sgx,
};

#define BACKEND_COUNT (sizeof(g_backends) / sizeof(g_backends[0]))

const struct lm_attest_backend *lm_attest_backend_find(enum lm_platform platform)
{
	for (size_t i = 0; i < BACKEND_COUNT; i++)
		if (g_backends[i]->platform == platform)
			return g_backends[i];
	return NULL;
}

const struct lm_attest_backend *lm_attest_backend_detect(const uint8_t *raw, size_t size)
{
	for (size_t i = 0; i < BACKEND_COUNT; i++)
		if (g_backends[i]->detect && g_backends[i]->detect(raw, size) == 1)
			return g_backends[i];
	return NULL;
}

enum lm_platform lm_attest_detect(const uint8_t *raw, size_t size)
{
	const struct lm_attest_backend *b = raw ? lm_attest_backend_detect(raw, size) : NULL;

	return b ? b->platform : LM_PLATFORM_UNKNOWN;
}

void lm_verdict_init(struct lm_verdict *v, enum lm_platform platform)
{
	memset(v, 0, sizeof(*v));
	v->platform = platform;
	v->first_failed = -1;
}

void lm_verdict_add(struct lm_verdict *v, const char *name, bool ok, const char *fmt, ...)
{
	struct lm_check *c;
	va_list ap;

	if (v->check_count >= LM_CHECK_MAX) {
		/* Never let an overflowing backend end up verified. */
		c = &v->checks[LM_CHECK_MAX - 1];
		snprintf(c->name, sizeof(c->name), "%s", "too many checks");
		snprintf(c->detail, sizeof(c->detail), "more than %d checks recorded", LM_CHECK_MAX);
		c->ok = false;
		if (v->first_failed < 0)
			v->first_failed = LM_CHECK_MAX - 1;
		v->verified = false;
		return;
	}
	c = &v->checks[v->check_count];
	snprintf(c->name, sizeof(c->name), "%s", name);
	va_start(ap, fmt);
	vsnprintf(c->detail, sizeof(c->detail), fmt, ap);
	va_end(ap);
	c->ok = ok;
	if (!ok && v->first_failed < 0)
		v->first_failed = (int)v->check_count;
	v->check_count++;
	v->verified = v->first_failed < 0;
}

void lm_verdict_set_measurement(struct lm_verdict *v, const char *alg, const uint8_t *m, size_t size)
{
	char hex[2 * LM_MEASUREMENT_MAX + 1];

	if (size > LM_MEASUREMENT_MAX)
		size = LM_MEASUREMENT_MAX;
	lm_hex_encode(hex, m, size);
	snprintf(v->measurement, sizeof(v->measurement), "%s:%s", alg, hex);
}

static bool same_path(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

/* The call's policy: the verifier's, or the caller's with the same trust
 * material (whose paths then point to the verifier's copies). */
static int call_policy(const struct lm_verifier *vf, const struct lm_policy *policy, struct lm_policy *out)
{
	bool same;

	if (!policy) {
		*out = vf->policy;
		return 0;
	}
	same = same_path(policy->collateral_dir, vf->policy.collateral_dir) &&
	       same_path(policy->root_file, vf->policy.root_file) &&
	       policy->cert_file_count == vf->policy.cert_file_count;
	for (size_t i = 0; same && i < policy->cert_file_count; i++)
		same = policy->cert_files && same_path(policy->cert_files[i], vf->policy.cert_files[i]);
	if (!same) {
		lm_err("verifier: the policy's trust material (root, certificates, collateral) is not the verifier's");
		return LM_EINVAL;
	}
	*out = *policy;
	out->collateral_dir = vf->policy.collateral_dir;
	out->root_file = vf->policy.root_file;
	out->cert_files = vf->policy.cert_files;
	return 0;
}

int lm_verifier_verify(struct lm_verifier *vf, const struct lm_evidence *ev, const struct lm_policy *policy,
		       struct lm_verdict *out)
{
	const struct lm_attest_backend *b;
	struct lm_policy pol;
	struct lm_verdict v;
	int r;

	if (!vf || !ev || !out)
		return LM_EINVAL;
	if ((r = call_policy(vf, policy, &pol)) < 0)
		return r;
	lm_verdict_init(&v, ev->platform);
	b = lm_attest_backend_find(ev->platform);
	if (!b) {
		lm_verdict_add(&v, "platform", false, "no verifier for %s evidence in this build",
			       lm_platform_name(ev->platform));
	} else if ((r = b->verify(vf, ev, &pol, &v)) < 0) {
		return r;
	}
	if (v.check_count == 0)	/* a backend that checked nothing proves nothing */
		lm_verdict_add(&v, "platform", false, "%s verifier made no checks", lm_platform_name(ev->platform));
	*out = v;
	return 0;
}

int lm_verifier_verify_raw(struct lm_verifier *vf, const uint8_t *raw, size_t size, const struct lm_policy *policy,
			   struct lm_verdict *out)
{
	const struct lm_attest_backend *b;
	struct lm_evidence *ev = NULL;
	int r;

	if (!vf || !raw || !out)
		return LM_EINVAL;
	b = lm_attest_backend_detect(raw, size);
	/* A bare simulated report names no key: only its document can be verified. */
	if (!b || b->platform == LM_PLATFORM_SIMULATED) {
		lm_err("raw evidence: not a report or quote this build verifies on its own");
		return LM_EFORMAT;
	}
	if (b->wrap) {
		if ((r = b->wrap(raw, size, &ev)) < 0)
			return r;
	} else {
		if ((r = lm_evidence_new(&ev)) < 0)
			return r;
		if (!(ev->evidence = malloc(size))) {
			lm_evidence_free(ev);
			return LM_ENOMEM;
		}
		memcpy(ev->evidence, raw, size);
		ev->evidence_size = size;
		ev->platform = b->platform;
	}
	r = lm_verifier_verify(vf, ev, policy, out);
	lm_evidence_free(ev);
	return r;
}

int lm_verify_evidence(const struct lm_evidence *ev, const struct lm_policy *policy, struct lm_verdict *out)
{
	struct lm_verifier *vf = NULL;
	int r;

	if (!ev || !out)
		return LM_EINVAL;
	if ((r = lm_verifier_new(policy, LM_VERIFIER_NO_CHAIN_CACHE, &vf)) < 0)
		return r;
	r = lm_verifier_verify(vf, ev, NULL, out);
	lm_verifier_free(vf);
	return r;
}

int lm_verify_raw(const uint8_t *raw, size_t size, const struct lm_policy *policy, struct lm_verdict *out)
{
	struct lm_verifier *vf = NULL;
	int r;

	if (!raw || !out)
		return LM_EINVAL;
	if ((r = lm_verifier_new(policy, LM_VERIFIER_NO_CHAIN_CACHE, &vf)) < 0)
		return r;
	r = lm_verifier_verify_raw(vf, raw, size, NULL, out);
	lm_verifier_free(vf);
	return r;
}
