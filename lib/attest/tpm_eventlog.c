/* The TCG PC Client Platform Firmware Profile crypto-agile event log (the
 * binary_bios_measurements format): a first TCG_PCR_EVENT in the SHA-1
 * format whose data is the "Spec ID Event03" header listing the digest
 * algorithms and sizes, then TCG_PCR_EVENT2 records carrying one digest per
 * algorithm (TPML_DIGEST_VALUES). Replay extends PCR[i] = H(PCR[i] ||
 * digest) for every event but EV_NO_ACTION; the StartupLocality
 * EV_NO_ACTION event sets PCR0's initial value to the locality. The log is
 * untrusted and little-endian; every size is checked against what is left. */
#include <string.h>

#include <openssl/evp.h>

#include "attest/tpm_int.h"
#include "lambda/log.h"

#define EV_NO_ACTION 0x00000003u
#define SPEC_ID_SIGNATURE "Spec ID Event03"	/* 16 bytes with the NUL */
#define STARTUP_LOCALITY "StartupLocality"	/* 16 bytes with the NUL */
#define SPEC_ALGS_MAX 16

struct lrd {
	const uint8_t *p;
	size_t left;
	bool bad;
};

static const uint8_t *lrd_take(struct lrd *r, size_t n)
{
	const uint8_t *p = r->p;

	if (r->bad || n > r->left) {
		r->bad = true;
		return NULL;
	}
	r->p += n;
	r->left -= n;
	return p;
}

static uint32_t lrd_u32(struct lrd *r)
{
	const uint8_t *p = lrd_take(r, 4);

	return p ? (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24 : 0;
}

static uint16_t lrd_u16(struct lrd *r)
{
	const uint8_t *p = lrd_take(r, 2);

	return p ? (uint16_t)(p[0] | p[1] << 8) : 0;
}

static uint8_t lrd_u8(struct lrd *r)
{
	const uint8_t *p = lrd_take(r, 1);

	return p ? p[0] : 0;
}

static int bad(const char *why, size_t event)
{
	lm_err("TPM event log: %s (event %zu)", why, event);
	return LM_EFORMAT;
}

struct spec_alg {
	uint16_t id;
	uint16_t size;
};

/* The digest size of a TCG algorithm a log may list: the ones this build
 * replays, and the other hashes of the TCG registry, which it only skips.
 * 0 for an algorithm it does not know at all. */
static size_t registry_size(uint16_t id)
{
	switch (id) {
	case 0x0012:	/* TPM_ALG_SM3_256 */
	case 0x0027:	/* TPM_ALG_SHA3_256 */
		return 32;
	case 0x0028:	/* TPM_ALG_SHA3_384 */
		return 48;
	case 0x0029:	/* TPM_ALG_SHA3_512 */
		return 64;
	default:
		return lm_tpm_hash_size(id);
	}
}

/* The first event and its Spec ID header. */
static int parse_header(struct lrd *r, struct spec_alg *algs, uint32_t *alg_count)
{
	const uint8_t *sig, *digest;
	uint32_t pcr, type, data_size, count;
	struct lrd d;

	pcr = lrd_u32(r);
	type = lrd_u32(r);
	digest = lrd_take(r, 20);
	data_size = lrd_u32(r);
	if (r->bad || !digest)
		return bad("truncated header event", 0);
	if (pcr != 0 || type != EV_NO_ACTION)
		return bad("first event is not the EV_NO_ACTION Spec ID event (not a crypto-agile log)", 0);
	d.p = lrd_take(r, data_size);
	d.left = data_size;
	d.bad = !d.p;
	if (d.bad)
		return bad("header event data truncated", 0);
	sig = lrd_take(&d, 16);
	(void)lrd_u32(&d);	/* platformClass */
	(void)lrd_u8(&d);	/* specVersionMinor */
	(void)lrd_u8(&d);	/* specVersionMajor */
	(void)lrd_u8(&d);	/* specErrata */
	(void)lrd_u8(&d);	/* uintnSize */
	count = lrd_u32(&d);
	if (d.bad || memcmp(sig, SPEC_ID_SIGNATURE, 16) != 0)
		return bad("header is not a \"Spec ID Event03\" event", 0);
	if (count == 0 || count > SPEC_ALGS_MAX)
		return bad("header lists no or too many digest algorithms", 0);
	for (uint32_t i = 0; i < count; i++) {
		algs[i].id = lrd_u16(&d);
		algs[i].size = lrd_u16(&d);
		if (d.bad)
			return bad("header truncated in the algorithm list", 0);
		if (algs[i].size == 0 || algs[i].size > LM_TPM_DIGEST_MAX)
			return bad("header gives an absurd digest size", 0);
		if (registry_size(algs[i].id) && registry_size(algs[i].id) != algs[i].size)
			return bad("header digest size does not match its algorithm", 0);
		for (uint32_t j = 0; j < i; j++)
			if (algs[j].id == algs[i].id)
				return bad("header lists an algorithm twice", 0);
	}
	{
		uint8_t vendor = lrd_u8(&d);

		if (!lrd_take(&d, vendor) || d.left)
			return bad("header vendorInfo does not fill the event", 0);
	}
	*alg_count = count;
	return 0;
}

/* PCR[pcr] = H(PCR[pcr] || digest), with one context kept for the whole
 * replay (a context per extension cost more than the hashing). */
static int extend(EVP_MD_CTX *ctx, struct lm_tpm_bank *b, uint32_t pcr, const uint8_t *digest)
{
	const EVP_MD *md = lm_tpm_md(b->hash);

	if (!md || !EVP_DigestInit_ex(ctx, md, NULL) || !EVP_DigestUpdate(ctx, b->pcr[pcr], b->digest_size) ||
	    !EVP_DigestUpdate(ctx, digest, b->digest_size) || !EVP_DigestFinal_ex(ctx, b->pcr[pcr], NULL))
		return lm_log_ossl("extending a PCR");
	return 0;
}

static bool wanted(uint16_t hash, const uint16_t *hashes, size_t hash_count)
{
	if (!hashes)
		return true;
	for (size_t i = 0; i < hash_count; i++)
		if (hashes[i] == hash)
			return true;
	return false;
}

static int replay(EVP_MD_CTX *ctx, const uint8_t *log, size_t size, const uint16_t *hashes, size_t hash_count,
		  struct lm_tpm_pcrs *out, struct lm_tpm_eventlog_info *info)
{
	uint32_t known[LM_TPM_BANK_MAX];	/* index in algs of each bank this build knows */
	uint32_t alg_of[LM_TPM_BANK_MAX];	/* index in algs of each bank replayed */
	size_t known_count = 0;
	struct spec_alg algs[SPEC_ALGS_MAX];
	struct lm_tpm_eventlog_info inf;
	struct lrd r = { log, size, !log };
	struct lm_tpm_pcrs *p = NULL;
	uint32_t alg_count = 0;
	int e;

	if (!log || !out || !info)
		return LM_EINVAL;
	if (size > LM_TPM_EVENTLOG_MAX)
		return bad("larger than 16 MiB", 0);
	memset(&inf, 0, sizeof(inf));
	if ((e = parse_header(&r, algs, &alg_count)) < 0)
		return e;
	/* The replay works on the caller's struct, which is large. */
	p = out;
	memset(p, 0, sizeof(*p));
	for (uint32_t i = 0; i < alg_count; i++) {
		if (!lm_tpm_hash_size(algs[i].id) || known_count == LM_TPM_BANK_MAX)
			continue;
		known[known_count++] = i;
		if (!wanted(algs[i].id, hashes, hash_count))
			continue;
		alg_of[p->bank_count] = i;
		p->bank[p->bank_count].hash = algs[i].id;
		p->bank[p->bank_count].digest_size = algs[i].size;
		p->bank_count++;
	}

	while (r.left) {
		const uint8_t *digests[SPEC_ALGS_MAX] = { 0 };
		uint32_t pcr, type, count, data_size;
		const uint8_t *data;
		size_t n = inf.event_count + 1;

		if (inf.event_count == LM_TPM_EVENTS_MAX)
			return bad("too many events", n);
		pcr = lrd_u32(&r);
		type = lrd_u32(&r);
		count = lrd_u32(&r);
		if (r.bad)
			return bad("truncated event header", n);
		if (count == 0 || count > alg_count)
			return bad("digest count does not match the header", n);
		for (uint32_t i = 0; i < count; i++) {
			uint16_t id = lrd_u16(&r);
			uint32_t k;

			for (k = 0; k < alg_count && algs[k].id != id; k++)
				;
			if (r.bad)
				return bad("truncated digest list", n);
			if (k == alg_count)
				return bad("digest of an algorithm the header does not list", n);
			if (digests[k])
				return bad("two digests of one algorithm", n);
			if (!(digests[k] = lrd_take(&r, algs[k].size)))
				return bad("truncated digest", n);
		}
		data_size = lrd_u32(&r);
		data = lrd_take(&r, data_size);
		if (r.bad || !data)
			return bad("truncated event data", n);
		if (pcr >= LM_TPM_PCR_MAX)
			return bad("PCR index out of range", n);
		inf.event_count++;

		if (type == EV_NO_ACTION) {
			/* Not extended; StartupLocality sets PCR0's start value. */
			if (pcr == 0 && data_size == 17 && memcmp(data, STARTUP_LOCALITY, 16) == 0) {
				if (inf.touched & 1u)
					return bad("StartupLocality after PCR0 was extended", n);
				inf.locality = data[16];
				inf.has_locality = true;
			}
			continue;
		}
		/* Every known bank's digest must be there, replayed or not. */
		for (size_t b = 0; b < known_count; b++)
			if (!digests[known[b]])
				return bad("event lacks the digest of a listed algorithm", n);
		for (size_t b = 0; b < p->bank_count; b++) {
			if (!(p->bank[b].present & (1u << pcr)) && pcr == 0 && inf.has_locality)
				p->bank[b].pcr[0][p->bank[b].digest_size - 1] = inf.locality;
			p->bank[b].present |= 1u << pcr;
			if ((e = extend(ctx, &p->bank[b], pcr, digests[alg_of[b]])) < 0)
				return e;
		}
		inf.touched |= 1u << pcr;
	}
	*info = inf;
	return 0;
}

int lm_tpm_eventlog_replay(const uint8_t *log, size_t size, const uint16_t *hashes, size_t hash_count,
			   struct lm_tpm_pcrs *out, struct lm_tpm_eventlog_info *info)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int r;

	if (!ctx)
		return LM_ENOMEM;
	r = replay(ctx, log, size, hashes, hash_count, out, info);
	EVP_MD_CTX_free(ctx);
	return r;
}
