/* Unit tests for the TPM 2.0 backend: the Part 2 parsers on hand-built
 * structures (truncated at every byte, wrong magic and type, absurd or
 * duplicate PCR selections, bad schemes), the crypto-agile event log and
 * its replay, and whole quotes made here by a real software TPM (swtpm and
 * tpm2-tools; skipped when missing) with RSASSA, RSAPSS and ECDSA keys,
 * verified and then broken one way at a time. With $LAMBDA_SHARED, the
 * real quotes of vectors/tpm (MANIFEST cases 30-34). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "attest/attest_int.h"
#include "attest/tpm_int.h"
#include "lambda/util.h"

/* ---- byte builders ---- */

struct buf {
	uint8_t b[8192];
	size_t n;
};

static void put(struct buf *b, const void *p, size_t n)
{
	assert_true(b->n + n <= sizeof(b->b));
	if (n)
		memcpy(b->b + b->n, p, n);
	b->n += n;
}

static void be16(struct buf *b, uint16_t v)
{
	uint8_t x[2] = { (uint8_t)(v >> 8), (uint8_t)v };

	put(b, x, 2);
}

static void be32(struct buf *b, uint32_t v)
{
	be16(b, (uint16_t)(v >> 16));
	be16(b, (uint16_t)v);
}

static void le16(struct buf *b, uint16_t v)
{
	uint8_t x[2] = { (uint8_t)v, (uint8_t)(v >> 8) };

	put(b, x, 2);
}

static void le32(struct buf *b, uint32_t v)
{
	le16(b, (uint16_t)v);
	le16(b, (uint16_t)(v >> 16));
}

static void tpm2b(struct buf *b, const void *p, size_t n)
{
	be16(b, (uint16_t)n);
	put(b, p, n);
}

/* A TPMS_ATTEST quote header up to the PCR selection. */
static void attest_head(struct buf *b, uint32_t magic, uint16_t type)
{
	static const uint8_t signer[34] = { 0x00, 0x0b, 1, 2, 3 }, extra[2] = { 0x90, 0x09 };

	memset(b, 0, sizeof(*b));
	be32(b, magic);
	be16(b, type);
	tpm2b(b, signer, sizeof(signer));
	tpm2b(b, extra, sizeof(extra));
	be32(b, 0), be32(b, 12345);	/* clock */
	be32(b, 10), be32(b, 1);	/* resetCount, restartCount */
	put(b, "\x01", 1);		/* safe */
	be32(b, 0x20160511), be32(b, 0x00162800);
}

static void good_attest(struct buf *b)
{
	static const uint8_t digest[32] = { 0xde, 0xad };

	attest_head(b, LM_TPM_GENERATED_VALUE, LM_TPM_ST_ATTEST_QUOTE);
	be32(b, 2);
	be16(b, LM_TPM_ALG_SHA256), put(b, "\x03\xff\x00\x01", 4);
	be16(b, LM_TPM_ALG_SHA1), put(b, "\x03\x01\x00\x00", 4);
	tpm2b(b, digest, sizeof(digest));
}

static void test_attest_parse(void **state)
{
	struct lm_tpm_quote q;
	struct buf b;

	(void)state;
	good_attest(&b);
	assert_int_equal(lm_tpm_quote_parse(b.b, b.n, &q), 0);
	assert_int_equal(q.sel_count, 2);
	assert_int_equal(q.sel[0].hash, LM_TPM_ALG_SHA256);
	assert_int_equal(q.sel[0].mask, 0x0100ff);	/* PCRs 0-7 and 16 */
	assert_int_equal(q.sel[1].mask, 0x01);
	assert_int_equal(q.extra_size, 2);
	assert_int_equal(q.reset_count, 10);
	assert_int_equal(q.firmware_version, 0x2016051100162800ull);
	assert_int_equal(q.pcr_digest_size, 32);
	assert_int_equal(lm_attest_detect(b.b, b.n), LM_PLATFORM_TPM);
	for (size_t n = 0; n < b.n; n++)
		assert_int_equal(lm_tpm_quote_parse(b.b, n, &q), LM_EFORMAT);
	b.b[b.n++] = 0;
	assert_int_equal(lm_tpm_quote_parse(b.b, b.n, &q), LM_EFORMAT);	/* trailing byte */
}

static void test_attest_negatives(void **state)
{
	static const uint8_t digest[32];
	struct lm_tpm_quote q;
	struct buf b;

	(void)state;
	good_attest(&b);
	b.b[0] ^= 1;
	assert_int_equal(lm_tpm_quote_parse(b.b, b.n, &q), LM_EFORMAT);	/* magic */
	assert_int_equal(lm_attest_detect(b.b, b.n), LM_PLATFORM_UNKNOWN);
	good_attest(&b);
	b.b[5] = 0x17;		/* TPM_ST_ATTEST_CERTIFY */
	assert_int_equal(lm_tpm_quote_parse(b.b, b.n, &q), LM_EFORMAT);

	/* the same bank twice */
	attest_head(&b, LM_TPM_GENERATED_VALUE, LM_TPM_ST_ATTEST_QUOTE);
	be32(&b, 2);
	be16(&b, LM_TPM_ALG_SHA256), put(&b, "\x03\x01\x00\x00", 4);
	be16(&b, LM_TPM_ALG_SHA256), put(&b, "\x03\x02\x00\x00", 4);
	tpm2b(&b, digest, sizeof(digest));
	assert_int_equal(lm_tpm_quote_parse(b.b, b.n, &q), LM_EFORMAT);

	/* 33 banks: refused from the count alone */
	attest_head(&b, LM_TPM_GENERATED_VALUE, LM_TPM_ST_ATTEST_QUOTE);
	be32(&b, 33);
	for (int i = 0; i < 33; i++)
		be16(&b, LM_TPM_ALG_SHA256), put(&b, "\x03\x01\x00\x00", 4);
	tpm2b(&b, digest, sizeof(digest));
	assert_int_equal(lm_tpm_quote_parse(b.b, b.n, &q), LM_EFORMAT);

	/* a huge count with nothing behind it */
	attest_head(&b, LM_TPM_GENERATED_VALUE, LM_TPM_ST_ATTEST_QUOTE);
	be32(&b, 0xffffffffu);
	assert_int_equal(lm_tpm_quote_parse(b.b, b.n, &q), LM_EFORMAT);

	/* sizeofSelect 5 */
	attest_head(&b, LM_TPM_GENERATED_VALUE, LM_TPM_ST_ATTEST_QUOTE);
	be32(&b, 1);
	be16(&b, LM_TPM_ALG_SHA256), put(&b, "\x05\x01\x00\x00\x00\x01", 6);
	tpm2b(&b, digest, sizeof(digest));
	assert_int_equal(lm_tpm_quote_parse(b.b, b.n, &q), LM_EFORMAT);

	/* an unknown bank */
	attest_head(&b, LM_TPM_GENERATED_VALUE, LM_TPM_ST_ATTEST_QUOTE);
	be32(&b, 1);
	be16(&b, 0x0012), put(&b, "\x03\x01\x00\x00", 4);
	tpm2b(&b, digest, sizeof(digest));
	assert_int_equal(lm_tpm_quote_parse(b.b, b.n, &q), LM_EFORMAT);

	/* extraData longer than TPM2B_DATA allows */
	{
		uint8_t big[65] = { 0 };

		memset(&b, 0, sizeof(b));
		be32(&b, LM_TPM_GENERATED_VALUE);
		be16(&b, LM_TPM_ST_ATTEST_QUOTE);
		tpm2b(&b, "\x00\x0b", 2);
		tpm2b(&b, big, sizeof(big));
		assert_int_equal(lm_tpm_quote_parse(b.b, b.n, &q), LM_EFORMAT);
	}
}

static void test_signature_parse(void **state)
{
	static const uint8_t sig[256] = { 1 }, r32[32] = { 2 }, s32[32] = { 3 };
	struct lm_tpm_signature s;
	struct buf b;

	(void)state;
	memset(&b, 0, sizeof(b));
	be16(&b, LM_TPM_ALG_RSASSA), be16(&b, LM_TPM_ALG_SHA256), tpm2b(&b, sig, sizeof(sig));
	assert_int_equal(lm_tpm_signature_parse(b.b, b.n, &s), 0);
	assert_int_equal(s.sig_size, 256);
	for (size_t n = 0; n < b.n; n++)
		assert_int_equal(lm_tpm_signature_parse(b.b, n, &s), LM_EFORMAT);
	b.b[1] = 0x10;		/* TPM_ALG_NULL */
	assert_int_equal(lm_tpm_signature_parse(b.b, b.n, &s), LM_EFORMAT);
	b.b[1] = 0x1a;		/* ECDAA */
	assert_int_equal(lm_tpm_signature_parse(b.b, b.n, &s), LM_EFORMAT);
	b.b[1] = 0x16, b.b[3] = 0x12;	/* RSAPSS with SM3 */
	assert_int_equal(lm_tpm_signature_parse(b.b, b.n, &s), LM_EFORMAT);

	memset(&b, 0, sizeof(b));
	be16(&b, LM_TPM_ALG_ECDSA), be16(&b, LM_TPM_ALG_SHA384), tpm2b(&b, r32, 32), tpm2b(&b, s32, 32);
	assert_int_equal(lm_tpm_signature_parse(b.b, b.n, &s), 0);
	assert_int_equal(s.r_size + s.s_size, 64);
	for (size_t n = 0; n < b.n; n++)
		assert_int_equal(lm_tpm_signature_parse(b.b, n, &s), LM_EFORMAT);
}

/* An RSA TPMT_PUBLIC as a TPM writes it for an AK. */
static void rsa_public(struct buf *b, uint32_t attrs, size_t mod_size)
{
	static const uint8_t mod[512] = { 0xc1, 0x55 };

	memset(b, 0, sizeof(*b));
	be16(b, LM_TPM_ALG_RSA), be16(b, LM_TPM_ALG_SHA256), be32(b, attrs);
	tpm2b(b, NULL, 0);		/* authPolicy */
	be16(b, LM_TPM_ALG_NULL);	/* symmetric */
	be16(b, LM_TPM_ALG_RSASSA), be16(b, LM_TPM_ALG_SHA256);
	be16(b, (uint16_t)(mod_size * 8)), be32(b, 0);
	tpm2b(b, mod, mod_size);
}

static void test_public_parse(void **state)
{
	struct lm_tpm_public k;
	struct buf b, b2;

	(void)state;
	rsa_public(&b, 0x00050072, 256);
	assert_int_equal(lm_tpm_public_parse(b.b, b.n, &k), 0);
	assert_int_equal(k.type, LM_TPM_ALG_RSA);
	assert_int_equal(k.attributes, 0x00050072);
	assert_int_equal(k.scheme, LM_TPM_ALG_RSASSA);
	assert_int_equal(k.raw_size, b.n);
	for (size_t n = 0; n < b.n; n++)
		assert_int_equal(lm_tpm_public_parse(b.b, n, &k), LM_EFORMAT);
	/* TPM2B_PUBLIC: the same behind its size */
	memset(&b2, 0, sizeof(b2));
	tpm2b(&b2, b.b, b.n);
	assert_int_equal(lm_tpm_public_parse(b2.b, b2.n, &k), 0);
	assert_ptr_equal(k.raw, b2.b + 2);
	/* keyBits that do not match the modulus */
	b.b[b.n - 256 - 2 - 4 - 2] ^= 0x01;
	assert_int_equal(lm_tpm_public_parse(b.b, b.n, &k), LM_EFORMAT);
	/* keyedHash objects are not keys */
	rsa_public(&b, 0x00050072, 256);
	b.b[1] = 0x08;
	assert_int_equal(lm_tpm_public_parse(b.b, b.n, &k), LM_EFORMAT);
}

/* ---- event log ---- */

static void md(const EVP_MD *m, const void *a, size_t an, const void *c, size_t cn, uint8_t *out)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	assert_non_null(ctx);
	assert_int_equal(EVP_DigestInit_ex(ctx, m, NULL), 1);
	assert_int_equal(EVP_DigestUpdate(ctx, a, an), 1);
	if (cn)
		assert_int_equal(EVP_DigestUpdate(ctx, c, cn), 1);
	assert_int_equal(EVP_DigestFinal_ex(ctx, out, NULL), 1);
	EVP_MD_CTX_free(ctx);
}

static void log_event2(struct buf *b, uint32_t pcr, uint32_t type, const uint8_t *d1, const uint8_t *d256,
		       const void *data, size_t size)
{
	le32(b, pcr), le32(b, type), le32(b, 2);
	le16(b, LM_TPM_ALG_SHA1), put(b, d1, 20);
	le16(b, LM_TPM_ALG_SHA256), put(b, d256, 32);
	le32(b, (uint32_t)size), put(b, data, size);
}

/* The Spec ID header event of make_log's logs, in bytes. */
#define LOG_HEADER_BYTES (4 + 4 + 20 + 4 + 16 + 4 + 4 + 4 + 2 * 4 + 1)

/* A log with SHA-1 and SHA-256: StartupLocality (locality), two events
 * into PCR0 (unless locality < -1), one into pcr8, one EV_NO_ACTION into
 * pcr8. */
static void make_log(struct buf *b, int locality, const uint8_t d8[2][32])
{
	static const uint8_t zero20[20];
	uint8_t d1[20], d256[32], loc[17];

	memset(b, 0, sizeof(*b));
	le32(b, 0), le32(b, 3), put(b, zero20, 20);
	le32(b, 16 + 4 + 4 + 4 + 2 * 4 + 1);
	put(b, "Spec ID Event03", 16);
	le32(b, 0), put(b, "\x00\x02\x00\x02", 4), le32(b, 2);
	le16(b, LM_TPM_ALG_SHA1), le16(b, 20), le16(b, LM_TPM_ALG_SHA256), le16(b, 32);
	put(b, "\x00", 1);
	if (locality >= 0) {
		memcpy(loc, "StartupLocality", 16);
		loc[16] = (uint8_t)locality;
		memset(d1, 0, sizeof(d1)), memset(d256, 0, sizeof(d256));
		log_event2(b, 0, 3, d1, d256, loc, sizeof(loc));
	}
	for (int i = 0; i < 2 && locality >= -1; i++) {
		memset(d1, 0x10 + i, sizeof(d1)), memset(d256, 0x20 + i, sizeof(d256));
		log_event2(b, 0, 0x80000008, d1, d256, "fw", 2);
	}
	for (int i = 0; i < 2; i++) {
		memset(d1, 0x30 + i, sizeof(d1));
		log_event2(b, 8, i ? 3 : 0xd, d1, d8[i], "cmdline", 7);
	}
}

static void test_eventlog(void **state)
{
	static const uint8_t d8[2][32] = { { 0x81 }, { 0x82 } };
	struct lm_tpm_pcrs *p = malloc(sizeof(*p));
	struct lm_tpm_eventlog_info info;
	struct lm_tpm_bank *bank;
	uint8_t want[32], step[32];
	struct buf b;

	(void)state;
	assert_non_null(p);
	for (int loc = -1; loc <= 3; loc += 4) {
		make_log(&b, loc, d8);
		assert_int_equal(lm_tpm_eventlog_replay(b.b, b.n, NULL, 0, p, &info), 0);
		assert_int_equal(p->bank_count, 2);
		assert_int_equal(info.touched, 0x101);
		assert_int_equal(info.has_locality, loc >= 0);
		bank = lm_tpm_pcrs_bank(p, LM_TPM_ALG_SHA256);
		assert_non_null(bank);
		/* PCR0 = H(H(init || 20..) || 21..), init = 0..0 || locality */
		memset(want, 0, sizeof(want));
		want[31] = loc >= 0 ? (uint8_t)loc : 0;
		memset(step, 0x20, 32);
		md(EVP_sha256(), want, 32, step, 32, want);
		memset(step, 0x21, 32);
		md(EVP_sha256(), want, 32, step, 32, want);
		assert_memory_equal(bank->pcr[0], want, 32);
		/* PCR8: the EV_NO_ACTION event is not extended */
		memset(want, 0, sizeof(want));
		md(EVP_sha256(), want, 32, d8[0], 32, want);
		assert_memory_equal(bank->pcr[8], want, 32);
		assert_int_equal(bank->present, 0x101);
	}
	/* Every prefix either fails or ends on an event boundary. */
	make_log(&b, 3, d8);
	for (size_t n = 0; n < b.n; n++) {
		int r = lm_tpm_eventlog_replay(b.b, n, NULL, 0, p, &info);

		assert_true(r == LM_EFORMAT || r == 0);
		if (r == 0)
			assert_true(info.event_count <= 5);
	}
	assert_int_equal(lm_tpm_eventlog_replay(b.b, 40, NULL, 0, p, &info), LM_EFORMAT);	/* inside the header */
	/* not a crypto-agile header */
	make_log(&b, 0, d8);
	b.b[32] = 'X';
	assert_int_equal(lm_tpm_eventlog_replay(b.b, b.n, NULL, 0, p, &info), LM_EFORMAT);
	/* a digest size that contradicts the algorithm */
	make_log(&b, 0, d8);
	b.b[32 + 16 + 4 + 4 + 4 + 2] = 21;
	assert_int_equal(lm_tpm_eventlog_replay(b.b, b.n, NULL, 0, p, &info), LM_EFORMAT);
	/* ... also for a registry algorithm that is not replayed: a header
	 * alone, listing SM3_256 (32 bytes) with 20, then with 32 */
	for (int size = 20; size <= 32; size += 12) {
		static const uint8_t zero20[20];

		memset(&b, 0, sizeof(b));
		le32(&b, 0), le32(&b, 3), put(&b, zero20, 20);
		le32(&b, 16 + 4 + 4 + 4 + 2 * 4 + 1);
		put(&b, "Spec ID Event03", 16);
		le32(&b, 0), put(&b, "\x00\x02\x00\x02", 4), le32(&b, 2);
		le16(&b, 0x0012), le16(&b, (uint16_t)size), le16(&b, LM_TPM_ALG_SHA256), le16(&b, 32);
		put(&b, "\x00", 1);
		assert_int_equal(lm_tpm_eventlog_replay(b.b, b.n, NULL, 0, p, &info), size == 32 ? 0 : LM_EFORMAT);
	}
	/* an event with three digests when the header lists two */
	make_log(&b, -1, d8);
	b.b[32 + 37 + 8] = 3;
	assert_int_equal(lm_tpm_eventlog_replay(b.b, b.n, NULL, 0, p, &info), LM_EFORMAT);
	free(p);
}

/* A replay limited to some banks gives those banks, with the values of a
 * full replay, and still refuses an event that lacks another bank's
 * digest. */
static void test_eventlog_banks(void **state)
{
	static const uint8_t d8[2][32] = { { 0x81 }, { 0x82 } };
	static const uint16_t sha256[] = { LM_TPM_ALG_SHA256 }, sha512[] = { LM_TPM_ALG_SHA512 };
	struct lm_tpm_pcrs *all = malloc(sizeof(*all)), *some = malloc(sizeof(*some));
	struct lm_tpm_eventlog_info info;
	uint8_t d256[32];
	struct buf b;

	(void)state;
	assert_non_null(all);
	assert_non_null(some);
	make_log(&b, 3, d8);
	assert_int_equal(lm_tpm_eventlog_replay(b.b, b.n, NULL, 0, all, &info), 0);
	assert_int_equal(lm_tpm_eventlog_replay(b.b, b.n, sha256, 1, some, &info), 0);
	assert_int_equal(some->bank_count, 1);
	assert_int_equal(some->bank[0].hash, LM_TPM_ALG_SHA256);
	assert_null(lm_tpm_pcrs_bank(some, LM_TPM_ALG_SHA1));
	assert_int_equal(some->bank[0].present, lm_tpm_pcrs_bank(all, LM_TPM_ALG_SHA256)->present);
	assert_memory_equal(some->bank[0].pcr, lm_tpm_pcrs_bank(all, LM_TPM_ALG_SHA256)->pcr,
			    sizeof(some->bank[0].pcr));
	assert_int_equal(info.touched, 0x101);
	/* a bank the log does not have: nothing replayed, the log still parsed */
	assert_int_equal(lm_tpm_eventlog_replay(b.b, b.n, sha512, 1, some, &info), 0);
	assert_int_equal(some->bank_count, 0);
	assert_int_equal(info.event_count, 5);
	/* an event with only its SHA-256 digest, when the header lists SHA-1 too */
	make_log(&b, 3, d8);
	memset(d256, 0x45, sizeof(d256));
	le32(&b, 8), le32(&b, 0xd), le32(&b, 1);
	le16(&b, LM_TPM_ALG_SHA256), put(&b, d256, 32);
	le32(&b, 2), put(&b, "ok", 2);
	assert_int_equal(lm_tpm_eventlog_replay(b.b, b.n, sha256, 1, some, &info), LM_EFORMAT);
	free(all);
	free(some);
}

/* ---- whole quotes from swtpm ---- */

static char g_dir[64];
static bool g_have_swtpm;
static const uint8_t g_nonce[4] = { 0x90, 0x09, 0xab, 0xcd };
static const uint8_t g_pcr8[2][32] = { { 0x81, 0x01 }, { 0x82, 0x02 } };

/* Starts swtpm, makes the AK variants and a quote with each, stops it. */
static const char g_script[] =
	"set -e\n"
	"cd \"$1\"; P=$2\n"
	"rm -rf st; mkdir st\n"
	"swtpm socket --tpm2 --server type=tcp,port=$P --ctrl type=tcp,port=$((P+1)) --tpmstate dir=$PWD/st "
	"--flags not-need-init,startup-clear --daemon --pid file=$PWD/pid\n"
	"trap 'kill $(cat pid)' EXIT\n"
	"export TPM2TOOLS_TCTI=swtpm:host=127.0.0.1,port=$P\n"
	"for i in 1 2 3 4 5 6 7 8 9 10; do tpm2_getrandom -Q 4 -o /dev/null 2>/dev/null && break; sleep 0.2; done\n"
	"f() { tpm2_flushcontext -t; tpm2_flushcontext -s; }\n"
	"A='fixedtpm|fixedparent|sensitivedataorigin|userwithauth|restricted|sign'\n"
	"tpm2_createprimary -Q -C o -g sha256 -G rsa -c prim.ctx; f\n"
	"tpm2_pcrextend 8:sha256=$3\n"
	"for v in rsa:rsa2048:rsassa-sha256:null:rsassa:$A pss:rsa2048:rsapss-sha256:null:rsapss:$A "
	"ecc:ecc256:ecdsa-sha256:null:ecdsa:$A nr:rsa2048:rsassa-sha256:null:rsassa:${A%|restricted|sign}\\|sign; do\n"
	"  IFS=: read n alg scheme sym qs attrs <<<\"$v\"\n"
	"  tpm2_create -Q -C prim.ctx -G $alg:$scheme:$sym -a \"$attrs\" -u ak_$n.pub -r ak_$n.priv; f\n"
	"  tpm2_load -Q -C prim.ctx -u ak_$n.pub -r ak_$n.priv -c ak_$n.ctx; f\n"
	"  tpm2_readpublic -Q -c ak_$n.ctx -f pem -o ak_$n.pem; f\n"
	"  tpm2_quote -Q -c ak_$n.ctx -l sha256:0,1,2,8 -q $4 -m q_$n.attest -s q_$n.sig -o q_$n.pcrs -F values "
	"-g sha256 --scheme $qs; f\n"
	"done\n";

static int group_setup(void **state)
{
	char cmd[512], h1[65], nonce[9];

	(void)state;
	if (system("command -v swtpm >/dev/null && command -v tpm2_quote >/dev/null") != 0)
		return 0;
	snprintf(g_dir, sizeof(g_dir), "/tmp/lm-tpm-XXXXXX");
	if (!mkdtemp(g_dir))
		return -1;
	lm_hex_encode(h1, g_pcr8[0], 32);
	lm_hex_encode(nonce, g_nonce, sizeof(g_nonce));
	snprintf(cmd, sizeof(cmd), "%s/gen.sh", g_dir);
	if (lm_file_write_new(cmd, g_script, strlen(g_script), 0700) < 0)
		return -1;
	/* A port in use makes swtpm fail: try a few. */
	for (int attempt = 0;; attempt++) {
		snprintf(cmd, sizeof(cmd), "bash %s/gen.sh %s %d %s %s >%s/gen.log 2>&1", g_dir, g_dir,
			 20000 + (int)((getpid() + 7919 * attempt) % 10000) * 2, h1, nonce, g_dir);
		if (system(cmd) == 0)
			break;
		if (attempt == 2) {
			fprintf(stderr, "swtpm quote generation failed, see %s/gen.log\n", g_dir);
			g_dir[0] = 0;	/* keep the log */
			return -1;
		}
	}
	g_have_swtpm = true;
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	if (g_dir[0] && lm_rm_rf(g_dir) < 0)
		return -1;
	return 0;
}

static uint8_t *slurp(const char *dir, const char *name, size_t *size)
{
	char path[1024];
	uint8_t *data = NULL;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_int_equal(lm_file_read(path, 1u << 24, &data, size), 0);
	return data;
}

/* The raw PCR values tpm2_quote wrote (sha256:0,1,2,8) as our JSON. */
static char *pcrs_json(const uint8_t *values, size_t size, int flip_pcr)
{
	static const int idx[4] = { 0, 1, 2, 8 };
	json_t *pcrs = json_object(), *doc;
	char hex[65], key[4], *text;
	uint8_t v[32];

	assert_int_equal(size, 4 * 32);
	for (int i = 0; i < 4; i++) {
		memcpy(v, values + 32 * i, 32);
		if (idx[i] == flip_pcr)
			v[0] ^= 1;
		lm_hex_encode(hex, v, 32);
		snprintf(key, sizeof(key), "%d", idx[i]);
		json_object_set_new(pcrs, key, json_string(hex));
	}
	doc = json_pack("{s:s, s:o}", "hash", "sha256", "pcrs", pcrs);
	text = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	assert_non_null(text);
	return text;
}

struct quote_opts {
	const char *quote, *ak;		/* variant names: "rsa", "pss", "ecc", "nr" */
	bool ak_pem;
	int flip_attest;		/* byte index to flip, or -1 */
	int flip_pcr;			/* PCR whose value to flip, or -1 */
	bool log;
	int bad_log;			/* 1: PCR8's digest flipped; 2: PCR8 not extended by the log */
	const uint8_t *cert;		/* DER */
	size_t cert_size;
};

static struct lm_evidence *swtpm_doc(const struct quote_opts *o)
{
	char name[64];
	uint8_t *attest, *sig, *ak, *values;
	size_t attest_size, sig_size, ak_size, values_size;
	struct lm_tpm_parts parts;
	struct lm_evidence *ev = NULL;
	struct buf log;
	char *pcrs;

	snprintf(name, sizeof(name), "q_%s.attest", o->quote);
	attest = slurp(g_dir, name, &attest_size);
	snprintf(name, sizeof(name), "q_%s.sig", o->quote);
	sig = slurp(g_dir, name, &sig_size);
	snprintf(name, sizeof(name), "q_%s.pcrs", o->quote);
	values = slurp(g_dir, name, &values_size);
	snprintf(name, sizeof(name), o->ak_pem ? "ak_%s.pem" : "ak_%s.pub", o->ak);
	ak = slurp(g_dir, name, &ak_size);
	if (o->flip_attest >= 0)
		attest[o->flip_attest] ^= 1;
	pcrs = pcrs_json(values, values_size, o->flip_pcr);
	memset(&parts, 0, sizeof(parts));
	parts.attest = attest, parts.attest_size = attest_size;
	parts.signature = sig, parts.signature_size = sig_size;
	parts.ak_public = ak, parts.ak_public_size = ak_size;
	parts.pcrs_json = (const char *const *)&pcrs, parts.pcrs_count = 1;
	if (o->log) {
		uint8_t d8[2][32];

		memcpy(d8, g_pcr8, sizeof(d8));
		if (o->bad_log == 1)
			d8[0][5] ^= 1;
		make_log(&log, -2, d8);	/* swtpm's PCR0 saw no firmware */
		if (o->bad_log == 2)	/* PCR8's one extension becomes EV_NO_ACTION */
			memcpy(log.b + LOG_HEADER_BYTES + 4, "\x03\x00\x00\x00", 4);
		parts.event_log = log.b, parts.event_log_size = log.n;
	}
	if (o->cert) {
		parts.certs = &o->cert;
		parts.cert_sizes = &o->cert_size;
		parts.cert_count = 1;
	}
	assert_int_equal(lm_tpm_evidence_make(&parts, &ev), 0);
	free(attest), free(sig), free(ak), free(values), free(pcrs);
	return ev;
}

static const struct lm_check *find(const struct lm_verdict *v, const char *name)
{
	for (size_t i = 0; i < v->check_count; i++)
		if (strcmp(v->checks[i].name, name) == 0)
			return &v->checks[i];
	return NULL;
}

static void expect_ok(const struct lm_verdict *v, const char *name, bool ok)
{
	const struct lm_check *c = find(v, name);

	if (!c || c->ok != ok)
		fail_msg("check \"%s\": %s, expected %s", name, c ? (c->ok ? "passed" : c->detail) : "missing",
			 ok ? "pass" : "fail");
}

/* Every check but those listed passed. */
static void only_failed(const struct lm_verdict *v, const char *const *names)
{
	for (size_t i = 0; i < v->check_count; i++) {
		bool listed = false;

		for (size_t j = 0; names[j]; j++)
			listed |= strcmp(names[j], v->checks[i].name) == 0;
		if (v->checks[i].ok == listed)
			fail_msg("check \"%s\" %s: %s", v->checks[i].name, v->checks[i].ok ? "passed" : "failed",
				 v->checks[i].detail);
	}
	assert_false(v->verified);
}

static const struct lm_policy g_policy = { .expect_nonce = g_nonce, .expect_nonce_size = sizeof(g_nonce) };

static void verify_q(const struct quote_opts *o, const struct lm_policy *p, struct lm_verdict *v)
{
	struct lm_evidence *ev = swtpm_doc(o);

	assert_int_equal(lm_verify_evidence(ev, p, v), 0);
	lm_evidence_free(ev);
}

#define SKIP_WITHOUT_SWTPM()                                                  \
	do {                                                                  \
		if (!g_have_swtpm) {                                          \
			print_message("swtpm or tpm2-tools missing: skipped\n"); \
			skip();                                               \
		}                                                             \
	} while (0)

static void test_swtpm_schemes(void **state)
{
	static const char *const variants[] = { "rsa", "pss", "ecc" };
	static const char *const trust[] = { "ak trust", NULL };
	struct lm_verdict v;

	(void)state;
	SKIP_WITHOUT_SWTPM();
	for (size_t i = 0; i < 3; i++) {
		struct quote_opts o = { variants[i], variants[i], false, -1, -1, true, false, NULL, 0 };

		verify_q(&o, &g_policy, &v);
		only_failed(&v, trust);
		assert_int_equal(v.check_count, 10);
		assert_non_null(strstr(find(&v, "event log")->detail, "match"));
		assert_int_equal(strncmp(v.measurement, "sha256:", 7), 0);
		o.ak_pem = true;	/* the same key as PEM SubjectPublicKeyInfo */
		verify_q(&o, &g_policy, &v);
		only_failed(&v, trust);
	}
}

/* A test CA certifies the RSA AK: then the quote verifies. */
static void test_swtpm_certified(void **state)
{
	X509 *ca = X509_new(), *leaf = X509_new();
	EVP_PKEY *ca_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256"), *ak;
	uint8_t *pem, *der = NULL, *ca_der = NULL;
	size_t pem_size;
	int der_size, ca_der_size;
	char path[128];
	BIO *bio;
	struct lm_verdict v;
	struct lm_policy p = g_policy;
	const char *files[1] = { path };

	(void)state;
	SKIP_WITHOUT_SWTPM();
	pem = slurp(g_dir, "ak_rsa.pem", &pem_size);
	assert_non_null(bio = BIO_new_mem_buf(pem, (int)pem_size));
	assert_non_null(ak = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL));
	BIO_free(bio);
	for (int i = 0; i < 2; i++) {
		X509 *x = i ? leaf : ca;
		X509_NAME *n = X509_get_subject_name(x);

		X509_set_version(x, 2);
		ASN1_INTEGER_set(X509_get_serialNumber(x), i + 1);
		X509_gmtime_adj(X509_getm_notBefore(x), -3600);
		X509_gmtime_adj(X509_getm_notAfter(x), 3600);
		X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const uint8_t *)(i ? "ak" : "test tpm ca"), -1, -1, 0);
		X509_set_issuer_name(x, X509_get_subject_name(ca));
		X509_set_pubkey(x, i ? ak : ca_key);
		if (!i) {
			X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, NULL, NID_basic_constraints, "critical,CA:TRUE");

			assert_non_null(ext);
			X509_add_ext(x, ext, -1);
			X509_EXTENSION_free(ext);
		}
		assert_true(X509_sign(x, ca_key, EVP_sha256()) > 0);
	}
	assert_true((der_size = i2d_X509(leaf, &der)) > 0);
	assert_true((ca_der_size = i2d_X509(ca, &ca_der)) > 0);
	snprintf(path, sizeof(path), "%s/ca.der", g_dir);
	unlink(path);
	assert_int_equal(lm_file_write_new(path, ca_der, (size_t)ca_der_size, 0644), 0);

	{
		struct quote_opts o = { "rsa", "rsa", false, -1, -1, true, false, der, (size_t)der_size };

		p.cert_files = files, p.cert_file_count = 1;
		verify_q(&o, &p, &v);
		expect_ok(&v, "ak certificate", true);
		assert_true(v.verified);
		/* the same with the root as root_file */
		p.cert_files = NULL, p.cert_file_count = 0, p.root_file = path;
		verify_q(&o, &p, &v);
		assert_true(v.verified);
		/* without a trust anchor of our own the chain proves nothing */
		p.root_file = NULL;
		verify_q(&o, &p, &v);
		expect_ok(&v, "ak certificate", false);
		/* expired at the policy's time */
		p.root_file = path, p.at = time(NULL) + 2 * 86400;
		verify_q(&o, &p, &v);
		expect_ok(&v, "ak certificate", false);
		/* a certificate of another key */
		p.at = 0;
		o.quote = o.ak = "pss";
		verify_q(&o, &p, &v);
		expect_ok(&v, "ak certificate", false);
	}
	X509_free(ca), X509_free(leaf), EVP_PKEY_free(ca_key), EVP_PKEY_free(ak);
	OPENSSL_free(der), OPENSSL_free(ca_der), free(pem);
}

static void test_swtpm_negatives(void **state)
{
	struct lm_verdict v;
	struct lm_policy p = g_policy;
	static const uint8_t other[4] = { 0x90, 0x09, 0xab, 0xce };
	struct lm_evidence *ev;
	struct lm_tpm_quote q;

	(void)state;
	SKIP_WITHOUT_SWTPM();
	{	/* a flipped byte of the clock: the signature fails */
		struct quote_opts o = { "rsa", "rsa", false, 50, -1, false, false, NULL, 0 };
		uint8_t *a;
		size_t n;

		a = slurp(g_dir, "q_rsa.attest", &n);
		assert_int_equal(lm_tpm_quote_parse(a, n, &q), 0);
		free(a);
		o.flip_attest = (int)(6 + 2 + 34 + 2 + q.extra_size + 3);	/* inside clock */
		verify_q(&o, &p, &v);
		expect_ok(&v, "signature", false);
		o.flip_attest = 0;	/* the magic: not a quote at all */
		assert_int_equal(lm_tpm_evidence_make(&(struct lm_tpm_parts){ 0 }, &ev), LM_EINVAL);
	}
	{	/* the wrong nonce; and no nonce at all */
		struct quote_opts o = { "ecc", "ecc", false, -1, -1, false, false, NULL, 0 };

		p.expect_nonce = other;
		verify_q(&o, &p, &v);
		expect_ok(&v, "nonce", false);
		expect_ok(&v, "signature", true);
		p.expect_nonce = NULL, p.expect_nonce_size = 0;
		verify_q(&o, &p, &v);
		expect_ok(&v, "nonce", false);
		p = g_policy;
	}
	{	/* a wrong PCR value */
		struct quote_opts o = { "pss", "pss", false, -1, 2, false, false, NULL, 0 };

		verify_q(&o, &p, &v);
		expect_ok(&v, "pcr digest", false);
		expect_ok(&v, "signature", true);
	}
	{	/* an event log that does not replay to PCR8 */
		struct quote_opts o = { "rsa", "rsa", false, -1, -1, true, 1, NULL, 0 };

		verify_q(&o, &p, &v);
		expect_ok(&v, "event log", false);
		expect_ok(&v, "pcr digest", true);
	}
	{	/* a log from which PCR8's event was removed: the measured PCR8
		 * is explained by nothing */
		struct quote_opts o = { "rsa", "rsa", false, -1, -1, true, 2, NULL, 0 };

		verify_q(&o, &p, &v);
		expect_ok(&v, "event log", false);
		assert_non_null(strstr(find(&v, "event log")->detail, "PCR 8 holds a measurement"));
		expect_ok(&v, "pcr digest", true);
	}
	{	/* a non-restricted signing key signs a quote */
		struct quote_opts o = { "nr", "nr", false, -1, -1, false, false, NULL, 0 };

		verify_q(&o, &p, &v);
		expect_ok(&v, "ak", false);
		expect_ok(&v, "signature", true);
	}
	{	/* the wrong AK: another RSA key, and an EC key for an RSA signature */
		struct quote_opts o = { "rsa", "nr", false, -1, -1, false, false, NULL, 0 };

		verify_q(&o, &p, &v);
		expect_ok(&v, "signature", false);
		o.ak = "ecc";
		verify_q(&o, &p, &v);
		expect_ok(&v, "signature", false);
		o.ak = "pss";	/* RSASSA signature, AK scheme RSAPSS */
		verify_q(&o, &p, &v);
		expect_ok(&v, "signature", false);
	}
	{	/* pinned measurement and the expected AK name */
		struct quote_opts o = { "rsa", "rsa", false, -1, -1, false, false, NULL, 0 };
		uint8_t m[LM_MEASUREMENT_MAX];
		size_t m_size;
		json_t *info;
		char *text, saved;

		ev = swtpm_doc(&o);
		assert_int_equal(lm_measurement_decode(ev->measurement, "sha256", m, &m_size), 0);
		p.expect_measurement = m, p.expect_measurement_size = m_size;
		assert_int_equal(lm_verify_evidence(ev, &p, &v), 0);
		expect_ok(&v, "measurement", true);
		m[0] ^= 1;
		assert_int_equal(lm_verify_evidence(ev, &p, &v), 0);
		expect_ok(&v, "measurement", false);
		p.expect_measurement = NULL;
		info = json_loads(ev->platform_info, 0, NULL);
		json_object_set_new(info, "ak_name", json_string(ev->enclave_id));
		free(ev->platform_info);
		ev->platform_info = json_dumps(info, JSON_COMPACT);
		assert_int_equal(lm_verify_evidence(ev, &p, &v), 0);
		expect_ok(&v, "ak name", true);
		json_object_set_new(info, "ak_name", json_string("000b00"));
		free(ev->platform_info);
		ev->platform_info = json_dumps(info, JSON_COMPACT);
		assert_int_equal(lm_verify_evidence(ev, &p, &v), 0);
		expect_ok(&v, "ak name", false);
		json_decref(info);
		/* the document's measurement is not the quote's */
		saved = ev->measurement[8];
		ev->measurement[8] = saved == '0' ? '1' : '0';
		assert_int_equal(lm_verify_evidence(ev, &p, &v), 0);
		expect_ok(&v, "document consistency", false);
		/* JSON round trip: the written document verifies the same */
		ev->measurement[8] = saved;
		assert_int_equal(lm_evidence_to_json(ev, &text), 0);
		lm_evidence_free(ev);
		assert_int_equal(lm_evidence_parse((const uint8_t *)text, strlen(text), &ev), 0);
		free(text);
		assert_int_equal(lm_verify_evidence(ev, &p, &v), 0);
		expect_ok(&v, "signature", true);
		expect_ok(&v, "document consistency", true);
		lm_evidence_free(ev);
	}
	{	/* a malformed part of a document is unusable input, as the same
		 * file given apart is; a missing one fails its check */
		static const struct {
			const char *key, *json;	/* json NULL: remove the member */
			int want;
		} cases[] = {
			{ "pcrs", "{\"hash\": \"sha256\", \"pcrs\": {\"0\": \"00\"}}", LM_EFORMAT },
			{ "pcrs", "true", LM_EFORMAT },
			{ "event_log", "\"AAAAAAAA\"", LM_EFORMAT },
			{ "signature", "\"Z2FyYmFnZQ==\"", LM_EFORMAT },
			{ "ak_public", "\"Z2FyYmFnZQ==\"", LM_EFORMAT },
			{ "ak_name", "5", LM_EFORMAT },
			{ "ak_name", "\"xyz\"", LM_EFORMAT },
			{ "ak_name", "\"\"", LM_EFORMAT },
			{ "pcrs", NULL, 0 },
			{ "signature", NULL, 0 },
			{ "ak_public", NULL, 0 },
		};
		struct quote_opts o = { "rsa", "rsa", false, -1, -1, true, 0, NULL, 0 };

		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			json_t *info;

			ev = swtpm_doc(&o);
			info = json_loads(ev->platform_info, 0, NULL);
			assert_non_null(info);
			if (cases[i].json)
				json_object_set_new(info, cases[i].key, json_loads(cases[i].json, JSON_DECODE_ANY, NULL));
			else
				json_object_del(info, cases[i].key);
			free(ev->platform_info);
			ev->platform_info = json_dumps(info, JSON_COMPACT);
			json_decref(info);
			assert_int_equal(lm_verify_evidence(ev, &p, &v), cases[i].want);
			if (cases[i].want == 0)
				assert_false(v.verified);
			lm_evidence_free(ev);
		}
	}
}

/* ---- the shared vectors (MANIFEST.md cases 30-34) ---- */

static char g_shared[512];

static bool shared_dir(void)
{
	const char *s = getenv("LAMBDA_SHARED");
	char probe[600];

	snprintf(g_shared, sizeof(g_shared), "%s/vectors/tpm", s ? s : "../shared");
	snprintf(probe, sizeof(probe), "%s/gce-cos85-nonce9009.ak-pub.tpmt_public.bin", g_shared);
	return access(probe, R_OK) == 0;
}

static void vec_verify(const char *attest, const char *sig, const char *ak, const char *pcrs, bool log,
		       bool certs, const uint8_t *nonce, size_t nonce_size, struct lm_verdict *v)
{
	static const char *const cert_names[] = { "gce-cos85-nonce9009.ak-cert.der", "google-tpm-ek-intermediate-2.der",
						  "google-tpm-ek-intermediate-3.der" };
	uint8_t *a, *s, *k, *p, *l = NULL, *c[3];
	size_t as, ss, ks, ps, ls = 0, cs[3];
	struct lm_tpm_parts parts;
	struct lm_evidence *ev = NULL;
	char root[600];
	const char *roots[1] = { root };
	struct lm_policy pol = { .expect_nonce = nonce, .expect_nonce_size = nonce_size };

	a = slurp(g_shared, attest, &as);
	s = slurp(g_shared, sig, &ss);
	k = slurp(g_shared, ak, &ks);
	p = slurp(g_shared, pcrs, &ps);
	if (log)
		l = slurp(g_shared, "gce-cos85-nonce9009.event-log.bin", &ls);
	memset(&parts, 0, sizeof(parts));
	parts.attest = a, parts.attest_size = as;
	parts.signature = s, parts.signature_size = ss;
	parts.ak_public = k, parts.ak_public_size = ks;
	parts.pcrs_json = (const char *const *)&p, parts.pcrs_count = 1;
	parts.event_log = l, parts.event_log_size = ls;
	if (certs) {
		for (int i = 0; i < 3; i++)
			c[i] = slurp(g_shared, cert_names[i], &cs[i]);
		parts.certs = (const uint8_t *const *)c, parts.cert_sizes = cs, parts.cert_count = 3;
		snprintf(root, sizeof(root), "%s/google-tpm-ek-root-1.der", g_shared);
		pol.cert_files = roots, pol.cert_file_count = 1;
	}
	assert_int_equal(lm_tpm_evidence_make(&parts, &ev), 0);
	assert_int_equal(lm_verify_evidence(ev, &pol, v), 0);
	lm_evidence_free(ev);
	free(a), free(s), free(k), free(p), free(l);
	for (int i = 0; certs && i < 3; i++)
		free(c[i]);
}

static void test_shared_gce(void **state)
{
	static const uint8_t n9009[2] = { 0x90, 0x09 }, n9008[2] = { 0x90, 0x08 };
	static const char *const banks[] = { "sha1", "sha256", "sha384" };
	static const char *const none[] = { NULL };
	static const char *const nonce_trust[] = { "nonce", "ak trust", NULL };
	char attest[96], sig[96], pcrs[96];
	struct lm_verdict v;

	(void)state;
	if (!shared_dir()) {
		print_message("no shared vectors: skipped\n");
		skip();
	}
	for (int i = 0; i < 3; i++) {	/* case 30 */
		snprintf(attest, sizeof(attest), "gce-cos85-nonce9009.quote-%s.tpms_attest.bin", banks[i]);
		snprintf(sig, sizeof(sig), "gce-cos85-nonce9009.quote-%s.tpmt_signature.bin", banks[i]);
		snprintf(pcrs, sizeof(pcrs), "gce-cos85-nonce9009.pcrs-%s.json", banks[i]);
		vec_verify(attest, sig, "gce-cos85-nonce9009.ak-pub.tpmt_public.bin", pcrs, true, true, n9009, 2, &v);
		if (!v.verified)
			only_failed(&v, none);
		assert_non_null(strstr(find(&v, "event log")->detail, "PCRs 0-9"));
		assert_non_null(strstr(find(&v, "ak")->detail,
				       "000bf175bdb57297b2b289973f819863d6c9d09c236725676914f4248c9a2404c2a4"));
	}
	/* case 31: another nonce, or none */
	vec_verify(attest, sig, "gce-cos85-nonce9009.ak-pub.tpmt_public.bin", pcrs, false, false, n9008, 2, &v);
	only_failed(&v, nonce_trust);
	vec_verify(attest, sig, "gce-cos85-nonce9009.ak-pub.tpmt_public.bin", pcrs, false, false, NULL, 0, &v);
	only_failed(&v, nonce_trust);
	/* case 32: extraData flipped, original signature */
	vec_verify("gce-cos85-nonce9009.quote-sha256-NEG-extradata-flip.tpms_attest.bin",
		   "gce-cos85-nonce9009.quote-sha256.tpmt_signature.bin", "gce-cos85-nonce9009.ak-pub.tpmt_public.bin",
		   "gce-cos85-nonce9009.pcrs-sha256.json", true, true, n9009, 2, &v);
	expect_ok(&v, "signature", false);
	expect_ok(&v, "nonce", false);
	/* the sha256 quote with the sha1 PCR values: the digest cannot match */
	vec_verify("gce-cos85-nonce9009.quote-sha256.tpms_attest.bin",
		   "gce-cos85-nonce9009.quote-sha256.tpmt_signature.bin", "gce-cos85-nonce9009.ak-pub.tpmt_public.bin",
		   "gce-cos85-nonce9009.pcrs-sha1.json", false, true, n9009, 2, &v);
	expect_ok(&v, "pcr selection", false);
}

static void test_shared_swtpm(void **state)
{
	static const char *const trust[] = { "ak trust", NULL };
	uint8_t *attest;
	size_t size;
	struct lm_tpm_quote q;
	struct lm_verdict v;

	(void)state;
	if (!shared_dir()) {
		print_message("no shared vectors: skipped\n");
		skip();
	}
	/* case 34: the signature verifies, the AK is trusted by nothing */
	attest = slurp(g_shared, "swtpm-coco.quote.tpms_attest.bin", &size);
	assert_int_equal(lm_tpm_quote_parse(attest, size, &q), 0);
	free(attest);
	vec_verify("swtpm-coco.quote.tpms_attest.bin", "swtpm-coco.quote.tpmt_signature.bin",
		   "swtpm-coco.ak-pub.spki.der", "swtpm-coco.pcrs-sha256.json", false, false, q.extra, q.extra_size, &v);
	only_failed(&v, trust);
}

/* Case 33: the Azure vTPM. The AK (HCLAkPub) comes from the runtime claims
 * of the HCL report, which SNP REPORT_DATA binds: that binding is checked
 * here, the SNP signature and VCEK chain are the SNP verifier's job. */
static void test_shared_azure(void **state)
{
	static const uint8_t challenge[] = "challenge";
	static const char *const trust[] = { "ak trust", NULL };
	uint8_t *hcl, *a, *s, *p, claims_hash[32], *n = NULL, *e = NULL, *der = NULL;
	size_t hcl_size, as, ss, ps, n_size, e_size;
	uint32_t claims_size;
	json_t *claims, *keys, *jwk = NULL;
	struct lm_tpm_parts parts;
	struct lm_evidence *ev = NULL;
	struct lm_verdict v;
	struct lm_policy pol = { .expect_nonce = challenge, .expect_nonce_size = 9 };
	EVP_PKEY *key = NULL;
	EVP_PKEY_CTX *ctx;
	OSSL_PARAM params[3];
	BIGNUM *bn_n, *bn_e;
	uint8_t nbuf[512], ebuf[8];
	int der_size;
	size_t i;

	(void)state;
	if (!shared_dir()) {
		print_message("no shared vectors: skipped\n");
		skip();
	}
	hcl = slurp(g_shared, "azure-snp-vtpm-milan.hcl-report.bin", &hcl_size);
	assert_true(hcl_size > 0x4d4);
	claims_size = (uint32_t)hcl[0x4d0] | (uint32_t)hcl[0x4d1] << 8 | (uint32_t)hcl[0x4d2] << 16 |
		      (uint32_t)hcl[0x4d3] << 24;
	assert_true(0x4d4 + claims_size <= hcl_size);
	md(EVP_sha256(), hcl + 0x4d4, claims_size, NULL, 0, claims_hash);
	assert_memory_equal(claims_hash, hcl + 0x20 + 0x50, 32);	/* SNP REPORT_DATA[0:32] */
	assert_non_null(claims = json_loadb((const char *)hcl + 0x4d4, claims_size, 0, NULL));
	keys = json_object_get(claims, "keys");
	json_array_foreach(keys, i, jwk)
		if (json_is_string(json_object_get(jwk, "kid")) &&
		    strcmp(json_string_value(json_object_get(jwk, "kid")), "HCLAkPub") == 0)
			break;
	assert_true(i < json_array_size(keys));
	/* base64url -> base64 */
	{
		char b64[1024];
		const char *src[2] = { json_string_value(json_object_get(jwk, "n")),
				       json_string_value(json_object_get(jwk, "e")) };
		uint8_t **dst[2] = { &n, &e };
		size_t *dsz[2] = { &n_size, &e_size };

		for (int k = 0; k < 2; k++) {
			size_t len = strlen(src[k]);

			assert_true(len + 4 < sizeof(b64));
			for (size_t j = 0; j < len; j++)
				b64[j] = src[k][j] == '-' ? '+' : src[k][j] == '_' ? '/' : src[k][j];
			while (len % 4)
				b64[len++] = '=';
			b64[len] = 0;
			assert_int_equal(lm_base64_decode(b64, dst[k], dsz[k]), 0);
		}
	}
	bn_n = BN_bin2bn(n, (int)n_size, NULL);
	bn_e = BN_bin2bn(e, (int)e_size, NULL);
	assert_true(BN_bn2nativepad(bn_n, nbuf, (int)n_size) > 0 && BN_bn2nativepad(bn_e, ebuf, sizeof(ebuf)) > 0);
	params[0] = OSSL_PARAM_construct_BN("n", nbuf, n_size);
	params[1] = OSSL_PARAM_construct_BN("e", ebuf, sizeof(ebuf));
	params[2] = OSSL_PARAM_construct_end();
	assert_non_null(ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL));
	assert_int_equal(EVP_PKEY_fromdata_init(ctx), 1);
	assert_int_equal(EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params), 1);
	assert_true((der_size = i2d_PUBKEY(key, &der)) > 0);

	a = slurp(g_shared, "azure-snp-vtpm-milan.quote.tpms_attest.bin", &as);
	s = slurp(g_shared, "azure-snp-vtpm-milan.quote.rsassa-sha256.sig", &ss);
	p = slurp(g_shared, "azure-snp-vtpm-milan.pcrs-sha256.json", &ps);
	memset(&parts, 0, sizeof(parts));
	parts.attest = a, parts.attest_size = as;
	parts.signature = s, parts.signature_size = ss;	/* raw RSASSA, not a TPMT_SIGNATURE */
	parts.ak_public = der, parts.ak_public_size = (size_t)der_size;
	parts.pcrs_json = (const char *const *)&p, parts.pcrs_count = 1;
	assert_int_equal(lm_tpm_evidence_make(&parts, &ev), 0);
	assert_int_equal(lm_verify_evidence(ev, &pol, &v), 0);
	/* the AK's trust comes from the SNP report, not from a certificate */
	only_failed(&v, trust);
	a[as - 1] ^= 1;
	memcpy(ev->evidence, a, as);
	assert_int_equal(lm_verify_evidence(ev, &pol, &v), 0);
	expect_ok(&v, "signature", false);

	lm_evidence_free(ev);
	EVP_PKEY_CTX_free(ctx), EVP_PKEY_free(key), BN_free(bn_n), BN_free(bn_e);
	OPENSSL_free(der), free(n), free(e), free(a), free(s), free(p), free(hcl);
	json_decref(claims);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_attest_parse),
		cmocka_unit_test(test_attest_negatives),
		cmocka_unit_test(test_signature_parse),
		cmocka_unit_test(test_public_parse),
		cmocka_unit_test(test_eventlog),
		cmocka_unit_test(test_eventlog_banks),
		cmocka_unit_test(test_swtpm_schemes),
		cmocka_unit_test(test_swtpm_certified),
		cmocka_unit_test(test_swtpm_negatives),
		cmocka_unit_test(test_shared_gce),
		cmocka_unit_test(test_shared_swtpm),
		cmocka_unit_test(test_shared_azure),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
