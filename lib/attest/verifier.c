/* Verifier contexts (lambda/attest.h "Verifier contexts"): the trust
 * material of a policy, the per-backend state made from it once, and the
 * cache of verified chains keyed by SHA-256 of their exact bytes. The
 * cache only grows (up to LM_VERIFIER_CACHE_MAX entries, then new chains
 * are verified without being kept), so a value found stays valid until
 * lm_verifier_free(). */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "attest/attest_int.h"
#include "lambda/log.h"
#include "lambda/util.h"

static int dup_str(const char *s, char **out)
{
	*out = NULL;
	if (s && !(*out = strdup(s)))
		return LM_ENOMEM;
	return 0;
}

int lm_verifier_new(const struct lm_policy *policy, unsigned flags, struct lm_verifier **out)
{
	static const struct lm_policy none;
	struct lm_verifier *vf;

	if (!out || (flags & ~LM_VERIFIER_NO_CHAIN_CACHE))
		return LM_EINVAL;
	if (!policy)
		policy = &none;
	if (policy->cert_file_count && !policy->cert_files)
		return LM_EINVAL;
	if (!(vf = calloc(1, sizeof(*vf))))
		return LM_ENOMEM;
	pthread_mutex_init(&vf->lock, NULL);
	vf->policy = *policy;
	vf->flags = flags;
	if (dup_str(policy->collateral_dir, &vf->collateral_dir) < 0 || dup_str(policy->root_file, &vf->root_file) < 0 ||
	    (policy->cert_file_count && !(vf->cert_files = calloc(policy->cert_file_count, sizeof(char *)))))
		goto nomem;
	for (size_t i = 0; i < policy->cert_file_count; i++)
		if (dup_str(policy->cert_files[i], &vf->cert_files[i]) < 0 || !vf->cert_files[i])
			goto nomem;
	vf->policy.collateral_dir = vf->collateral_dir;
	vf->policy.root_file = vf->root_file;
	vf->policy.cert_files = (const char *const *)vf->cert_files;
	*out = vf;
	return 0;
nomem:
	lm_verifier_free(vf);
	return LM_ENOMEM;
}

void lm_verifier_free(struct lm_verifier *vf)
{
	if (!vf)
		return;
	for (size_t i = 0; i < LM_VSTATE_MAX; i++)
		if (vf->state[i] && vf->state_free[i])
			vf->state_free[i](vf->state[i]);
	for (size_t i = 0; i < vf->cache_count; i++)
		vf->cache[i].free_fn(vf->cache[i].value);
	free(vf->cache);
	for (size_t i = 0; vf->cert_files && i < vf->policy.cert_file_count; i++)
		free(vf->cert_files[i]);
	free(vf->cert_files);
	free(vf->collateral_dir);
	free(vf->root_file);
	pthread_mutex_destroy(&vf->lock);
	free(vf);
}

int lm_verifier_state(struct lm_verifier *vf, enum lm_verifier_state_kind kind,
		      int (*make)(struct lm_verifier *vf, void **out), void (*free_fn)(void *), void **out)
{
	int r = 0;

	if (!vf || kind >= LM_VSTATE_MAX || !make || !out)
		return LM_EINVAL;
	pthread_mutex_lock(&vf->lock);
	if (!vf->state[kind] && (r = make(vf, &vf->state[kind])) == 0)
		vf->state_free[kind] = free_fn;
	*out = vf->state[kind];
	pthread_mutex_unlock(&vf->lock);
	return r;
}

bool lm_verifier_caches_chains(const struct lm_verifier *vf)
{
	return vf && !(vf->flags & LM_VERIFIER_NO_CHAIN_CACHE);
}

static struct lm_verifier_entry *find(struct lm_verifier *vf, const uint8_t key[static 32])
{
	for (size_t i = 0; i < vf->cache_count; i++)
		if (memcmp(vf->cache[i].key, key, 32) == 0)
			return &vf->cache[i];
	return NULL;
}

void *lm_verifier_cache_get(struct lm_verifier *vf, const uint8_t key[static 32])
{
	return lm_verifier_caches_chains(vf) ? lm_verifier_parsed_get(vf, key) : NULL;
}

void *lm_verifier_parsed_get(struct lm_verifier *vf, const uint8_t key[static 32])
{
	struct lm_verifier_entry *e;
	void *v;

	if (!vf)
		return NULL;
	pthread_mutex_lock(&vf->lock);
	e = find(vf, key);
	v = e ? e->value : NULL;
	pthread_mutex_unlock(&vf->lock);
	return v;
}

bool lm_verifier_cache_put(struct lm_verifier *vf, const uint8_t key[static 32], void *value,
			   void (*free_fn)(void *))
{
	return lm_verifier_caches_chains(vf) && lm_verifier_parsed_put(vf, key, value, free_fn);
}

bool lm_verifier_parsed_put(struct lm_verifier *vf, const uint8_t key[static 32], void *value,
			    void (*free_fn)(void *))
{
	struct lm_verifier_entry *e;
	bool taken = false;

	if (!vf || !value || !free_fn)
		return false;
	pthread_mutex_lock(&vf->lock);
	if (!find(vf, key) && vf->cache_count < LM_VERIFIER_CACHE_MAX) {
		if (vf->cache_count == vf->cache_cap) {
			size_t cap = vf->cache_cap ? 2 * vf->cache_cap : 16;
			struct lm_verifier_entry *grown = realloc(vf->cache, cap * sizeof(*grown));

			if (grown) {
				vf->cache = grown;
				vf->cache_cap = cap;
			}
		}
		if (vf->cache_count < vf->cache_cap) {
			e = &vf->cache[vf->cache_count++];
			memcpy(e->key, key, 32);
			e->value = value;
			e->free_fn = free_fn;
			taken = true;
		}
	}
	pthread_mutex_unlock(&vf->lock);
	return taken;
}

/* SHA-256 fetched once: an implicit fetch on every key costs more than
 * hashing a certificate. Never freed (process lifetime, read-only). */
static EVP_MD *g_sha256;
static pthread_once_t g_sha256_once = PTHREAD_ONCE_INIT;

static void sha256_once(void)
{
	g_sha256 = EVP_MD_fetch(NULL, "SHA2-256", NULL);
}

int lm_verifier_key(uint8_t out[static 32], size_t n, const void *const *parts, const size_t *sizes)
{
	EVP_MD_CTX *md;
	int ok;

	pthread_once(&g_sha256_once, sha256_once);
	md = g_sha256 ? EVP_MD_CTX_new() : NULL;
	ok = md && EVP_DigestInit_ex(md, g_sha256, NULL) == 1;

	for (size_t i = 0; ok && i < n; i++)
		ok = EVP_DigestUpdate(md, parts[i], sizes[i]) == 1;
	ok = ok && EVP_DigestFinal_ex(md, out, NULL) == 1;
	EVP_MD_CTX_free(md);
	return ok ? 0 : LM_ECRYPTO;
}
