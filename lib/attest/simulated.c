/* The simulated backend: a software "TEE" whose reports are signed by an
 * Ed25519 key that the node holds. It lets the whole flow run on machines
 * without TEE hardware and offers no protection at all: whoever holds the
 * key (the operator) can sign any measurement. The verifier refuses it
 * unless the policy allows simulated evidence explicitly. The raw report
 * format is in docs/formats.md, section "Simulated report". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "attest/attest_int.h"
#include "lambda/log.h"
#include "lambda/util.h"

#define ED25519_PUB_BYTES 32

/* Offsets inside the raw report. */
#define OFF_VERSION 8
#define OFF_FLAGS 12
#define OFF_MEASUREMENT 16
#define OFF_REPORT_DATA (OFF_MEASUREMENT + LM_SIM_MEASUREMENT_BYTES)
#define OFF_INSTANCE (OFF_REPORT_DATA + LM_REPORT_DATA_BYTES)
#define OFF_SIGNATURE LM_SIM_SIGNED_BYTES

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

int lm_sim_report_parse(const uint8_t *raw, size_t size, struct lm_sim_report *out)
{
	struct lm_sim_report rep;
	size_t n;

	if (!raw || size != LM_SIM_REPORT_BYTES) {
		lm_err("simulated report: %zu bytes, expected %d", size, LM_SIM_REPORT_BYTES);
		return LM_EFORMAT;
	}
	if (memcmp(raw, LM_SIM_MAGIC, 8) != 0) {
		lm_err("simulated report: bad magic");
		return LM_EFORMAT;
	}
	memset(&rep, 0, sizeof(rep));
	rep.version = get_be32(raw + OFF_VERSION);
	rep.flags = get_be32(raw + OFF_FLAGS);
	if (rep.version != LM_SIM_VERSION) {
		lm_err("simulated report: unsupported version %u", rep.version);
		return LM_EFORMAT;
	}
	if (rep.flags & ~LM_SIM_FLAG_DEBUG) {
		lm_err("simulated report: unknown flags 0x%x", rep.flags);
		return LM_EFORMAT;
	}
	memcpy(rep.measurement, raw + OFF_MEASUREMENT, LM_SIM_MEASUREMENT_BYTES);
	memcpy(rep.report_data, raw + OFF_REPORT_DATA, LM_REPORT_DATA_BYTES);
	/* The instance id is 1..63 printable bytes, then NULs to the end, so
	 * that one id has exactly one encoding. */
	n = strnlen((const char *)raw + OFF_INSTANCE, LM_SIM_INSTANCE_BYTES);
	if (n == 0 || n == LM_SIM_INSTANCE_BYTES) {
		lm_err("simulated report: instance id empty or not NUL-terminated");
		return LM_EFORMAT;
	}
	for (size_t i = 0; i < LM_SIM_INSTANCE_BYTES; i++) {
		uint8_t c = raw[OFF_INSTANCE + i];

		if (i < n ? (c <= 0x20 || c >= 0x7f) : c != 0) {
			lm_err("simulated report: bad byte in instance id");
			return LM_EFORMAT;
		}
	}
	memcpy(rep.instance_id, raw + OFF_INSTANCE, n);
	memcpy(rep.signature, raw + OFF_SIGNATURE, LM_SIM_SIG_BYTES);
	*out = rep;
	return 0;
}

static int sim_detect(const uint8_t *raw, size_t size)
{
	return size == LM_SIM_REPORT_BYTES && memcmp(raw, LM_SIM_MAGIC, 8) == 0;
}

int lm_sim_key_generate(char **pem)
{
	EVP_PKEY *key = NULL;
	BIO *bio = NULL;
	char *text = NULL, *p;
	long n;
	int r;

	if (!pem)
		return LM_EINVAL;
	if (!(key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519"))) {
		r = lm_log_ossl("EVP_PKEY_Q_keygen(ED25519)");
		goto out;
	}
	if (!(bio = BIO_new(BIO_s_secmem()))) {
		r = LM_ENOMEM;
		goto out;
	}
	if ((r = LM_OSSL(PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL))) < 0)
		goto out;
	n = BIO_get_mem_data(bio, &p);
	if (n <= 0 || !(text = malloc((size_t)n + 1))) {
		r = LM_ENOMEM;
		goto out;
	}
	memcpy(text, p, (size_t)n);
	text[n] = 0;
	*pem = text;
	r = 0;
out:
	BIO_free_all(bio);	/* secmem BIO: wiped on free */
	EVP_PKEY_free(key);
	return r;
}

int lm_sim_measurement(uint8_t out[static LM_SIM_MEASUREMENT_BYTES], const char *image, const char *type,
		       const char *sandbox_profile)
{
	json_t *desc;
	char *text;
	int r;

	if (!image || !type || !sandbox_profile)
		return LM_EINVAL;
	desc = json_pack("{s:s, s:s, s:s}", "image", image, "sandbox", sandbox_profile, "type", type);
	if (!desc) {
		lm_err("simulated measurement: image, type and profile must be UTF-8");
		return LM_EINVAL;
	}
	text = json_dumps(desc, JSON_SORT_KEYS | JSON_COMPACT);
	json_decref(desc);
	if (!text)
		return LM_ENOMEM;
	r = LM_OSSL(EVP_Digest(text, strlen(text), out, NULL, EVP_sha384(), NULL));
	free(text);
	return r;
}

static int load_private(const char *pem, EVP_PKEY **out)
{
	EVP_PKEY *key;
	BIO *bio;

	if (!(bio = BIO_new_mem_buf(pem, -1)))
		return LM_ENOMEM;
	key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	BIO_free(bio);
	if (!key)
		return lm_log_ossl("simulated key: not a PEM private key");
	if (EVP_PKEY_get_id(key) != EVP_PKEY_ED25519) {
		EVP_PKEY_free(key);
		lm_err("simulated key: not an Ed25519 key");
		return LM_EWRONGKEY;
	}
	*out = key;
	return 0;
}

/* The PEM public key and the hex SHA-256 of its raw bytes (the enclave id). */
static int public_parts(EVP_PKEY *key, char **pem, char **enclave_id)
{
	uint8_t pub[ED25519_PUB_BYTES], md[32];
	size_t pub_size = sizeof(pub);
	char *text = NULL, *hex = NULL, *p;
	BIO *bio = NULL;
	long n;
	int r;

	if ((r = LM_OSSL(EVP_PKEY_get_raw_public_key(key, pub, &pub_size))) < 0 ||
	    (r = LM_OSSL(EVP_Digest(pub, pub_size, md, NULL, EVP_sha256(), NULL))) < 0)
		goto out;
	if (!(bio = BIO_new(BIO_s_mem())) || !(hex = malloc(2 * sizeof(md) + 1))) {
		r = LM_ENOMEM;
		goto out;
	}
	lm_hex_encode(hex, md, sizeof(md));
	if ((r = LM_OSSL(PEM_write_bio_PUBKEY(bio, key))) < 0)
		goto out;
	n = BIO_get_mem_data(bio, &p);
	if (n <= 0 || !(text = malloc((size_t)n + 1))) {
		r = LM_ENOMEM;
		goto out;
	}
	memcpy(text, p, (size_t)n);
	text[n] = 0;
	*pem = text;
	*enclave_id = hex;
	text = hex = NULL;
	r = 0;
out:
	free(text);
	free(hex);
	BIO_free(bio);
	return r;
}

static int make_info(const uint8_t *guest_pk, size_t guest_pk_size, char **out)
{
	char *hex = malloc(2 * guest_pk_size + 1);
	json_t *info;

	if (!hex)
		return LM_ENOMEM;
	lm_hex_encode(hex, guest_pk, guest_pk_size);
	info = json_pack("{s:s, s:s}", "guest_public_key", hex, "insecure", "simulated evidence offers no protection");
	free(hex);
	if (!info)
		return LM_ENOMEM;
	*out = json_dumps(info, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(info);
	return *out ? 0 : LM_ENOMEM;
}

int lm_sim_evidence_make_flags(const char *key_pem, const char *instance_id,
			       const uint8_t measurement[static LM_SIM_MEASUREMENT_BYTES], const uint8_t *nonce,
			       size_t nonce_size, const uint8_t *guest_pk, size_t guest_pk_size, uint32_t flags,
			       struct lm_evidence **out)
{
	uint8_t raw[LM_SIM_REPORT_BYTES], rd[LM_REPORT_DATA_BYTES];
	size_t id_size, sig_size = LM_SIM_SIG_BYTES;
	struct lm_evidence *ev = NULL;
	struct lm_sim_report check;
	EVP_MD_CTX *ctx = NULL;
	EVP_PKEY *key = NULL;
	char *pub_pem = NULL;
	char hex[2 * LM_SIM_MEASUREMENT_BYTES + 1];
	int r;

	if (!key_pem || !instance_id || !out || (nonce_size && !nonce) || nonce_size > LM_NONCE_MAX ||
	    !guest_pk || !guest_pk_size || (flags & ~LM_SIM_FLAG_DEBUG))
		return LM_EINVAL;
	id_size = strlen(instance_id);
	if (id_size == 0 || id_size >= LM_SIM_INSTANCE_BYTES)
		return LM_EINVAL;
	if ((r = lm_report_data_bind(rd, nonce, nonce_size, guest_pk, guest_pk_size)) < 0 ||
	    (r = load_private(key_pem, &key)) < 0)
		goto out;

	memset(raw, 0, sizeof(raw));
	memcpy(raw, LM_SIM_MAGIC, 8);
	put_be32(raw + OFF_VERSION, LM_SIM_VERSION);
	put_be32(raw + OFF_FLAGS, flags);
	memcpy(raw + OFF_MEASUREMENT, measurement, LM_SIM_MEASUREMENT_BYTES);
	memcpy(raw + OFF_REPORT_DATA, rd, LM_REPORT_DATA_BYTES);
	memcpy(raw + OFF_INSTANCE, instance_id, id_size);
	if (!(ctx = EVP_MD_CTX_new())) {
		r = LM_ENOMEM;
		goto out;
	}
	if ((r = LM_OSSL(EVP_DigestSignInit(ctx, NULL, NULL, NULL, key))) < 0 ||
	    (r = LM_OSSL(EVP_DigestSign(ctx, raw + OFF_SIGNATURE, &sig_size, raw, LM_SIM_SIGNED_BYTES))) < 0)
		goto out;
	/* Our own output must satisfy our own parser (e.g. an instance id
	 * with a space in it would not). */
	if ((r = lm_sim_report_parse(raw, sizeof(raw), &check)) < 0) {
		r = LM_EINVAL;
		goto out;
	}

	if ((r = lm_evidence_new(&ev)) < 0)
		goto out;
	memcpy(ev->instance_id, instance_id, id_size + 1);
	ev->platform = LM_PLATFORM_SIMULATED;
	lm_hex_encode(hex, measurement, LM_SIM_MEASUREMENT_BYTES);
	if (!(ev->measurement = malloc(strlen("sha384:") + sizeof(hex))) ||
	    !(ev->evidence = malloc(sizeof(raw))) || !(ev->certificate_chain = calloc(1, sizeof(char *))) ||
	    !(ev->signature = malloc(2 * LM_SIM_SIG_BYTES + 1))) {
		r = LM_ENOMEM;
		goto out;
	}
	sprintf(ev->measurement, "sha384:%s", hex);
	if (nonce_size)
		memcpy(ev->nonce, nonce, nonce_size);
	ev->nonce_size = nonce_size;
	memcpy(ev->report_data, rd, LM_REPORT_DATA_BYTES);
	lm_time_format(ev->timestamp, sizeof(ev->timestamp), time(NULL));
	memcpy(ev->evidence, raw, sizeof(raw));
	ev->evidence_size = sizeof(raw);
	if ((r = public_parts(key, &pub_pem, &ev->enclave_id)) < 0)
		goto out;
	ev->certificate_chain[0] = pub_pem;
	ev->certificate_count = 1;
	lm_hex_encode(ev->signature, raw + OFF_SIGNATURE, LM_SIM_SIG_BYTES);
	if ((r = make_info(guest_pk, guest_pk_size, &ev->platform_info)) < 0)
		goto out;
	*out = ev;
	ev = NULL;
	r = 0;
out:
	lm_evidence_free(ev);
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(key);
	return r;
}

int lm_sim_evidence_make(const char *key_pem, const char *instance_id,
			 const uint8_t measurement[static LM_SIM_MEASUREMENT_BYTES], const uint8_t *nonce,
			 size_t nonce_size, const uint8_t *guest_pk, size_t guest_pk_size, struct lm_evidence **out)
{
	return lm_sim_evidence_make_flags(key_pem, instance_id, measurement, nonce, nonce_size, guest_pk,
					  guest_pk_size, 0, out);
}

/* ---- verification ---- */

/* The signing key: the one PEM public key of certificate_chain. */
static int chain_key(const struct lm_evidence *ev, EVP_PKEY **out, const char **why)
{
	EVP_PKEY *key;
	BIO *bio;

	if (ev->certificate_count != 1) {
		*why = "certificate_chain must hold exactly the signing public key";
		return LM_EFORMAT;
	}
	if (!(bio = BIO_new_mem_buf(ev->certificate_chain[0], -1)))
		return LM_ENOMEM;
	key = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
	BIO_free(bio);
	if (!key) {
		lm_log_ossl("simulated evidence: certificate_chain[0]");
		*why = "certificate_chain[0] is not a PEM public key";
		return LM_EFORMAT;
	}
	if (EVP_PKEY_get_id(key) != EVP_PKEY_ED25519) {
		EVP_PKEY_free(key);
		*why = "certificate_chain[0] is not an Ed25519 key";
		return LM_EFORMAT;
	}
	*out = key;
	return 0;
}

static int check_signature(const struct lm_evidence *ev, EVP_PKEY *key, const char *why, struct lm_verdict *v)
{
	EVP_MD_CTX *ctx;
	int ok;

	if (!key) {
		lm_verdict_add(v, "signature", false, "%s", why);
		return 0;
	}
	if (!(ctx = EVP_MD_CTX_new()))
		return LM_ENOMEM;
	ok = EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, key) == 1 &&
	     EVP_DigestVerify(ctx, ev->evidence + OFF_SIGNATURE, LM_SIM_SIG_BYTES, ev->evidence,
			      LM_SIM_SIGNED_BYTES) == 1;
	EVP_MD_CTX_free(ctx);
	ERR_clear_error();
	lm_verdict_add(v, "signature", ok, ok ? "Ed25519 signature of the report by the key in certificate_chain"
					      : "Ed25519 signature of the report does not verify");
	return 0;
}

/* The document repeats what the report says; a reader of the document
 * must not be shown anything the signature does not cover. */
static void check_consistency(const struct lm_evidence *ev, const struct lm_sim_report *rep, EVP_PKEY *key,
			      struct lm_verdict *v)
{
	uint8_t m[LM_MEASUREMENT_MAX], sig[LM_SIM_SIG_BYTES];
	char bad[128] = "";
	size_t m_size;

	if (lm_measurement_decode(ev->measurement, "sha384", m, &m_size) < 0 ||
	    memcmp(m, rep->measurement, LM_SIM_MEASUREMENT_BYTES) != 0)
		strcat(bad, ", measurement");
	if (memcmp(ev->report_data, rep->report_data, LM_REPORT_DATA_BYTES) != 0)
		strcat(bad, ", report_data");
	if (strcmp(ev->instance_id, rep->instance_id) != 0)
		strcat(bad, ", instance_id");
	if (!ev->signature || lm_hex_decode(sig, sizeof(sig), ev->signature) < 0 ||
	    memcmp(sig, rep->signature, sizeof(sig)) != 0)
		strcat(bad, ", signature");
	if (key) {
		uint8_t pub[ED25519_PUB_BYTES], md[32], id[32];
		size_t pub_size = sizeof(pub);

		if (EVP_PKEY_get_raw_public_key(key, pub, &pub_size) != 1 ||
		    EVP_Digest(pub, pub_size, md, NULL, EVP_sha256(), NULL) != 1 ||
		    lm_hex_decode(id, sizeof(id), ev->enclave_id) < 0 || memcmp(id, md, sizeof(md)) != 0)
			strcat(bad, ", enclave_id");
		ERR_clear_error();
	}
	if (bad[0])
		lm_verdict_add(v, "report consistency", false, "document differs from the signed report in: %s",
			       bad + 2);
	else
		lm_verdict_add(v, "report consistency", true, "document fields match the signed report");
}

static int check_nonce(const struct lm_evidence *ev, const struct lm_sim_report *rep, const struct lm_policy *p,
		       struct lm_verdict *v)
{
	const uint8_t *nonce = ev->nonce;
	size_t nonce_size = ev->nonce_size, pk_size;
	const char *pk_hex = lm_evidence_info(ev, "guest_public_key");
	uint8_t want[LM_REPORT_DATA_BYTES], *pk = NULL;
	int r;

	if (p->expect_nonce) {
		if (p->expect_nonce_size != ev->nonce_size ||
		    (ev->nonce_size && memcmp(p->expect_nonce, ev->nonce, ev->nonce_size) != 0)) {
			lm_verdict_add(v, "nonce binding", false, "the document's nonce is not the expected nonce");
			return 0;
		}
		nonce = p->expect_nonce;
		nonce_size = p->expect_nonce_size;
	}
	if (!pk_hex || lm_hex_decode_alloc(pk_hex, &pk, &pk_size) < 0 || pk_size == 0) {
		free(pk);
		lm_verdict_add(v, "nonce binding", false, "platform_info.guest_public_key missing or not hex");
		return 0;
	}
	r = lm_report_data_bind(want, nonce, nonce_size, pk, pk_size);
	free(pk);
	if (r < 0)
		return r;
	if (memcmp(want, rep->report_data, LM_REPORT_DATA_BYTES) != 0) {
		lm_verdict_add(v, "nonce binding", false,
			       "report_data is not SHA-512(nonce || guest public key)");
		return 0;
	}
	if (p->expect_report_data && memcmp(p->expect_report_data, rep->report_data, LM_REPORT_DATA_BYTES) != 0) {
		lm_verdict_add(v, "nonce binding", false, "report_data is not the expected report data");
		return 0;
	}
	lm_verdict_add(v, "nonce binding", true, "report_data = SHA-512(%s nonce || guest public key)",
		       p->expect_nonce ? "expected" : "document");
	return 0;
}

static void check_measurement(const struct lm_sim_report *rep, const struct lm_policy *p, struct lm_verdict *v)
{
	char got[2 * LM_SIM_MEASUREMENT_BYTES + 1];

	lm_hex_encode(got, rep->measurement, LM_SIM_MEASUREMENT_BYTES);
	if (!p->expect_measurement) {
		lm_verdict_add(v, "measurement", true, "not pinned (sha384:%s)", got);
		return;
	}
	if (p->expect_measurement_size == LM_SIM_MEASUREMENT_BYTES &&
	    memcmp(p->expect_measurement, rep->measurement, LM_SIM_MEASUREMENT_BYTES) == 0) {
		lm_verdict_add(v, "measurement", true, "sha384:%s as expected", got);
		return;
	}
	if (p->expect_measurement_size != LM_SIM_MEASUREMENT_BYTES) {
		lm_verdict_add(v, "measurement", false, "expected a %zu-byte measurement, the report has SHA-384",
			       p->expect_measurement_size);
		return;
	}
	{
		char want[2 * LM_SIM_MEASUREMENT_BYTES + 1];

		lm_hex_encode(want, p->expect_measurement, LM_SIM_MEASUREMENT_BYTES);
		lm_verdict_add(v, "measurement", false, "sha384:%.16s... is not the expected sha384:%.16s...", got,
			       want);
	}
}

static int sim_verify(struct lm_verifier *vf, const struct lm_evidence *ev, const struct lm_policy *p,
		      struct lm_verdict *v)
{
	struct lm_sim_report rep;
	EVP_PKEY *key = NULL;
	const char *why = NULL;
	int r;

	(void)vf;	/* no trust material to keep: the key is in the document */

	if (p->allow_simulated_insecure)
		lm_verdict_add(v, "platform", true, "simulated, allowed by policy: offers no protection");
	else
		lm_verdict_add(v, "platform", false,
			       "simulated evidence offers no protection; refused unless explicitly allowed "
			       "(--allow-simulated-insecure)");
	if ((r = lm_sim_report_parse(ev->evidence, ev->evidence_size, &rep)) < 0)
		return r;
	lm_verdict_set_measurement(v, "sha384", rep.measurement, sizeof(rep.measurement));
	if ((r = chain_key(ev, &key, &why)) < 0 && r != LM_EFORMAT)
		goto out;
	if ((r = check_signature(ev, key, why, v)) < 0)
		goto out;
	check_consistency(ev, &rep, key, v);
	if ((r = check_nonce(ev, &rep, p, v)) < 0)
		goto out;
	check_measurement(&rep, p, v);
	if (rep.flags & LM_SIM_FLAG_DEBUG)
		lm_verdict_add(v, "debug", p->allow_debug, "debug flag set%s",
			       p->allow_debug ? ", allowed by policy" : ": the host may inspect the instance");
	else
		lm_verdict_add(v, "debug", true, "debug flag clear");
	r = 0;
out:
	EVP_PKEY_free(key);
	return r;
}

const struct lm_attest_backend lm_attest_simulated = {
	.platform = LM_PLATFORM_SIMULATED,
	.name = "simulated",
	.detect = sim_detect,
	.verify = sim_verify,
};
