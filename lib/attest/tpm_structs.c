/* Parsers of the TPM 2.0 Part 2 structures a quote verifier reads:
 * TPMS_ATTEST (with TPMS_CLOCK_INFO and TPMS_QUOTE_INFO: TPML_PCR_SELECTION
 * and the PCR digest), TPMT_SIGNATURE and TPMT_PUBLIC for RSA and ECC.
 * Every byte comes from an untrusted source: each read is bounded by what
 * is left, each size by the structure's own limit, and a structure must use
 * its input exactly. Marshalled TPM data is big-endian. */
#include <pthread.h>
#include <string.h>

#include "attest/tpm_int.h"
#include "lambda/log.h"

struct rd {
	const uint8_t *p;
	size_t left;
	bool bad;
};

static bool rd_take(struct rd *r, size_t n, const uint8_t **out)
{
	if (r->bad || n > r->left) {
		r->bad = true;
		return false;
	}
	*out = r->p;
	r->p += n;
	r->left -= n;
	return true;
}

static uint8_t rd_u8(struct rd *r)
{
	const uint8_t *p;

	return rd_take(r, 1, &p) ? p[0] : 0;
}

static uint16_t rd_u16(struct rd *r)
{
	const uint8_t *p;

	return rd_take(r, 2, &p) ? (uint16_t)(p[0] << 8 | p[1]) : 0;
}

static uint32_t rd_u32(struct rd *r)
{
	const uint8_t *p;

	return rd_take(r, 4, &p) ? (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3] : 0;
}

static uint64_t rd_u64(struct rd *r)
{
	uint64_t hi = rd_u32(r);

	return hi << 32 | rd_u32(r);
}

/* A TPM2B: uint16 size then that many bytes, at most max. */
static bool rd_tpm2b(struct rd *r, uint8_t *out, size_t max, size_t *size)
{
	uint16_t n = rd_u16(r);
	const uint8_t *p;

	if (r->bad || n > max) {
		r->bad = true;
		return false;
	}
	if (!rd_take(r, n, &p))
		return false;
	memcpy(out, p, n);
	*size = n;
	return true;
}

static int fail(const char *what, const char *why)
{
	lm_err("%s: %s", what, why);
	return LM_EFORMAT;
}

size_t lm_tpm_hash_size(uint16_t alg)
{
	switch (alg) {
	case LM_TPM_ALG_SHA1:
		return 20;
	case LM_TPM_ALG_SHA256:
		return 32;
	case LM_TPM_ALG_SHA384:
		return 48;
	case LM_TPM_ALG_SHA512:
		return 64;
	default:
		return 0;
	}
}

const char *lm_tpm_hash_name(uint16_t alg)
{
	switch (alg) {
	case LM_TPM_ALG_SHA1:
		return "sha1";
	case LM_TPM_ALG_SHA256:
		return "sha256";
	case LM_TPM_ALG_SHA384:
		return "sha384";
	case LM_TPM_ALG_SHA512:
		return "sha512";
	default:
		return NULL;
	}
}

uint16_t lm_tpm_hash_from_name(const char *name)
{
	static const uint16_t algs[] = { LM_TPM_ALG_SHA1, LM_TPM_ALG_SHA256, LM_TPM_ALG_SHA384, LM_TPM_ALG_SHA512 };

	for (size_t i = 0; name && i < sizeof(algs) / sizeof(algs[0]); i++)
		if (strcmp(name, lm_tpm_hash_name(algs[i])) == 0)
			return algs[i];
	return 0;
}

struct lm_tpm_bank *lm_tpm_pcrs_bank(struct lm_tpm_pcrs *pcrs, uint16_t hash)
{
	for (size_t i = 0; i < pcrs->bank_count; i++)
		if (pcrs->bank[i].hash == hash)
			return &pcrs->bank[i];
	return NULL;
}

/* TPML_PCR_SELECTION. The count and every sizeofSelect are checked before
 * anything is stored, so an absurd selection costs nothing. */
static int parse_selection(struct rd *r, struct lm_tpm_quote *q)
{
	uint32_t count = rd_u32(r);

	if (r->bad)
		return fail("TPMS_ATTEST", "truncated in the PCR selection");
	if (count > LM_TPM_BANK_MAX)
		return fail("TPMS_ATTEST", "PCR selection lists more banks than exist");
	for (uint32_t i = 0; i < count; i++) {
		uint16_t hash = rd_u16(r);
		uint8_t n = rd_u8(r);
		const uint8_t *bits;
		uint32_t mask = 0;

		if (r->bad)
			return fail("TPMS_ATTEST", "truncated in the PCR selection");
		if (!lm_tpm_hash_size(hash))
			return fail("TPMS_ATTEST", "PCR selection names an unsupported hash algorithm");
		if (n > LM_TPM_SELECT_MAX)
			return fail("TPMS_ATTEST", "PCR selection sizeofSelect larger than 4");
		if (!rd_take(r, n, &bits))
			return fail("TPMS_ATTEST", "truncated in the PCR selection");
		for (uint8_t b = 0; b < n; b++)
			mask |= (uint32_t)bits[b] << (8 * b);
		for (uint32_t j = 0; j < i; j++)
			if (q->sel[j].hash == hash)
				return fail("TPMS_ATTEST", "PCR selection lists a bank twice");
		q->sel[i].hash = hash;
		q->sel[i].mask = mask;
	}
	q->sel_count = count;
	return 0;
}

int lm_tpm_quote_parse(const uint8_t *raw, size_t size, struct lm_tpm_quote *out)
{
	struct rd r = { raw, size, !raw };
	struct lm_tpm_quote q;
	uint8_t safe;
	int e;

	memset(&q, 0, sizeof(q));
	if (rd_u32(&r) != LM_TPM_GENERATED_VALUE)
		return fail("TPMS_ATTEST", r.bad ? "truncated" : "magic is not TPM_GENERATED_VALUE");
	if (rd_u16(&r) != LM_TPM_ST_ATTEST_QUOTE)
		return fail("TPMS_ATTEST", r.bad ? "truncated" : "type is not TPM_ST_ATTEST_QUOTE");
	if (!rd_tpm2b(&r, q.signer, sizeof(q.signer), &q.signer_size) ||
	    !rd_tpm2b(&r, q.extra, sizeof(q.extra), &q.extra_size))
		return fail("TPMS_ATTEST", "qualifiedSigner or extraData truncated or too long");
	q.clock = rd_u64(&r);
	q.reset_count = rd_u32(&r);
	q.restart_count = rd_u32(&r);
	safe = rd_u8(&r);
	q.firmware_version = rd_u64(&r);
	if (r.bad)
		return fail("TPMS_ATTEST", "truncated in clockInfo or firmwareVersion");
	if (safe > 1)
		return fail("TPMS_ATTEST", "clockInfo.safe is not a TPMI_YES_NO");
	q.safe = safe;
	if ((e = parse_selection(&r, &q)) < 0)
		return e;
	if (!rd_tpm2b(&r, q.pcr_digest, sizeof(q.pcr_digest), &q.pcr_digest_size))
		return fail("TPMS_ATTEST", "pcrDigest truncated or too long");
	if (r.left)
		return fail("TPMS_ATTEST", "trailing bytes after the quote");
	*out = q;
	return 0;
}

int lm_tpm_signature_parse(const uint8_t *raw, size_t size, struct lm_tpm_signature *out)
{
	struct rd r = { raw, size, !raw };
	struct lm_tpm_signature s;

	memset(&s, 0, sizeof(s));
	s.alg = rd_u16(&r);
	s.hash = rd_u16(&r);
	if (r.bad)
		return fail("TPMT_SIGNATURE", "truncated");
	if (!lm_tpm_hash_size(s.hash))
		return fail("TPMT_SIGNATURE", "unsupported hash algorithm");
	switch (s.alg) {
	case LM_TPM_ALG_RSASSA:
	case LM_TPM_ALG_RSAPSS:
		if (!rd_tpm2b(&r, s.sig, sizeof(s.sig), &s.sig_size) || s.sig_size == 0)
			return fail("TPMT_SIGNATURE", "RSA signature truncated, empty or too long");
		break;
	case LM_TPM_ALG_ECDSA:
		if (!rd_tpm2b(&r, s.r, sizeof(s.r), &s.r_size) || !rd_tpm2b(&r, s.s, sizeof(s.s), &s.s_size) ||
		    !s.r_size || !s.s_size)
			return fail("TPMT_SIGNATURE", "ECDSA r or s truncated, empty or too long");
		break;
	default:
		return fail("TPMT_SIGNATURE", "signature scheme is not RSASSA, RSAPSS or ECDSA");
	}
	if (r.left)
		return fail("TPMT_SIGNATURE", "trailing bytes");
	*out = s;
	return 0;
}

/* TPMT_SYM_DEF_OBJECT: algorithm, then keyBits and mode unless NULL. */
static void skip_symmetric(struct rd *r)
{
	if (rd_u16(r) != LM_TPM_ALG_NULL) {
		(void)rd_u16(r);
		(void)rd_u16(r);
	}
}

/* The scheme of a key: a TPMT_*_SCHEME whose details are a hash algorithm
 * for every signing scheme (and ECDAA adds a count). */
static int parse_scheme(struct rd *r, struct lm_tpm_public *k)
{
	k->scheme = rd_u16(r);
	k->scheme_hash = LM_TPM_ALG_NULL;
	switch (k->scheme) {
	case LM_TPM_ALG_NULL:
	case 0x0015:		/* RSAES: no details */
		return 0;
	case 0x001A:		/* ECDAA: hash and count */
		k->scheme_hash = rd_u16(r);
		(void)rd_u16(r);
		return 0;
	case LM_TPM_ALG_RSASSA:
	case LM_TPM_ALG_RSAPSS:
	case LM_TPM_ALG_ECDSA:
	case 0x0017:		/* OAEP */
	case 0x0019:		/* ECDH */
	case 0x001B:		/* SM2 */
	case 0x001C:		/* ECSCHNORR */
	case 0x0020:		/* ECMQV */
		k->scheme_hash = rd_u16(r);
		return 0;
	default:
		return fail("TPMT_PUBLIC", "unknown key scheme");
	}
}

static int parse_public(struct rd *r, struct lm_tpm_public *k)
{
	uint8_t policy[LM_TPM_DIGEST_MAX];
	size_t policy_size;
	int e;

	k->type = rd_u16(r);
	k->name_alg = rd_u16(r);
	k->attributes = rd_u32(r);
	if (r->bad)
		return fail("TPMT_PUBLIC", "truncated");
	if (k->type != LM_TPM_ALG_RSA && k->type != LM_TPM_ALG_ECC)
		return fail("TPMT_PUBLIC", "key type is not RSA or ECC");
	if (!lm_tpm_hash_size(k->name_alg))
		return fail("TPMT_PUBLIC", "unsupported nameAlg");
	if (!rd_tpm2b(r, policy, sizeof(policy), &policy_size))
		return fail("TPMT_PUBLIC", "authPolicy truncated or too long");
	skip_symmetric(r);
	if ((e = parse_scheme(r, k)) < 0)
		return e;
	if (k->type == LM_TPM_ALG_RSA) {
		k->key_bits = rd_u16(r);
		k->exponent = rd_u32(r);
		if (!rd_tpm2b(r, k->modulus, sizeof(k->modulus), &k->modulus_size))
			return fail("TPMT_PUBLIC", "RSA modulus truncated or too long");
		if (k->modulus_size == 0 || k->modulus_size * 8 != k->key_bits)
			return fail("TPMT_PUBLIC", "RSA modulus size does not match keyBits");
	} else {
		uint16_t kdf;

		k->curve = rd_u16(r);
		kdf = rd_u16(r);
		if (kdf != LM_TPM_ALG_NULL)
			(void)rd_u16(r);
		if (!rd_tpm2b(r, k->x, sizeof(k->x), &k->x_size) || !rd_tpm2b(r, k->y, sizeof(k->y), &k->y_size))
			return fail("TPMT_PUBLIC", "ECC point truncated or too long");
		if (!k->x_size || !k->y_size)
			return fail("TPMT_PUBLIC", "ECC point is empty");
	}
	if (r->bad)
		return fail("TPMT_PUBLIC", "truncated");
	return 0;
}

int lm_tpm_public_parse(const uint8_t *raw, size_t size, struct lm_tpm_public *out)
{
	struct lm_tpm_public k;
	struct rd r = { raw, size, !raw };
	int e;

	memset(&k, 0, sizeof(k));
	/* A TPMT_PUBLIC starts with its type (1 or 0x23); a TPM2B_PUBLIC with
	 * the size of what follows, which is never that small. */
	if (size >= 2 && raw && (size_t)(raw[0] << 8 | raw[1]) == size - 2 && size - 2 > 0x23) {
		r.p += 2;
		r.left -= 2;
	}
	k.raw = r.p;
	if ((e = parse_public(&r, &k)) < 0)
		return e;
	if (r.left)
		return fail("TPMT_PUBLIC", "trailing bytes");
	k.raw_size = (size_t)(r.p - k.raw);
	*out = k;
	return 0;
}

/* The digests fetched once per process: EVP_sha256() and the like fetch
 * their implementation again on every EVP_DigestInit_ex(), which costs
 * more than hashing an event. Never freed (read-only, process lifetime). */
static EVP_MD *g_md[4];
static pthread_once_t g_md_once = PTHREAD_ONCE_INIT;

static void md_once(void)
{
	static const char *const names[4] = { "SHA1", "SHA2-256", "SHA2-384", "SHA2-512" };

	for (int i = 0; i < 4; i++)
		g_md[i] = EVP_MD_fetch(NULL, names[i], NULL);
}

const EVP_MD *lm_tpm_md(uint16_t alg)
{
	int i = alg == LM_TPM_ALG_SHA1 ? 0 : alg == LM_TPM_ALG_SHA256 ? 1 : alg == LM_TPM_ALG_SHA384 ? 2
					  : alg == LM_TPM_ALG_SHA512 ? 3 : -1;

	if (i < 0)
		return NULL;
	pthread_once(&g_md_once, md_once);
	return g_md[i];
}
