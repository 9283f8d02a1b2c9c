/* Parser of Intel DCAP quotes: SGX quote v3, TDX (and SGX) quote v4, and
 * quote v5 with its body descriptor. The bytes are untrusted: every length
 * is checked against what remains before it is used, and the nested
 * certification data must fit inside the signature data length the quote
 * declares. Bytes after the declared signature data are ignored, as Intel's
 * library does; a declared length that runs past the end is LM_EFORMAT.
 *
 * Layout (little-endian):
 *   header 48: version u16, att_key_type u16, tee_type u32, qe_svn u16,
 *              pce_svn u16, qe_vendor_id[16], user_data[20]
 *   v5 only:   body_type u16, body_size u32
 *   body:      SGX enclave report 384, TD report 1.0 584 or 1.5 648
 *   sig_len u32, then signature data:
 *     v3: signature 64, attest_key 64, qe_report 384, qe_report_sig 64,
 *         qe_auth_size u16 + data, cert_type u16, cert_size u32 + data
 *     v4/v5: signature 64, attest_key 64, cert_type u16 (6), size u32, then
 *         the v3 fields from qe_report on (cert_type 5: PEM PCK chain). */
#include <string.h>

#include "attest/dcap_int.h"
#include "lambda/log.h"

#define HEADER_BYTES 48
#define SGX_REPORT_BYTES 384
#define TD10_REPORT_BYTES 584
#define TD15_REPORT_BYTES 648
#define ATT_KEY_ECDSA_P256 2
#define CERT_TYPE_PCK_CHAIN 5
#define CERT_TYPE_QE_REPORT 6

/* A cursor over untrusted bytes: every read checks what remains. */
struct rd {
	const uint8_t *p;
	size_t left;
};

static bool rd_bytes(struct rd *r, void *out, size_t n)
{
	if (r->left < n)
		return false;
	if (out)
		memcpy(out, r->p, n);
	r->p += n;
	r->left -= n;
	return true;
}

static bool rd_u16(struct rd *r, uint16_t *v)
{
	uint8_t b[2];

	if (!rd_bytes(r, b, 2))
		return false;
	*v = (uint16_t)(b[0] | b[1] << 8);
	return true;
}

static bool rd_u32(struct rd *r, uint32_t *v)
{
	uint8_t b[4];

	if (!rd_bytes(r, b, 4))
		return false;
	*v = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
	return true;
}

/* Splits off the next n bytes as a sub-cursor. */
static bool rd_sub(struct rd *r, size_t n, struct rd *sub)
{
	if (r->left < n)
		return false;
	sub->p = r->p;
	sub->left = n;
	r->p += n;
	r->left -= n;
	return true;
}

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

void lm_sgx_report_decode(const uint8_t raw[static 384], struct lm_sgx_report *out)
{
	memset(out, 0, sizeof(*out));
	memcpy(out->cpu_svn, raw, 16);
	out->misc_select = le32(raw + 16);
	memcpy(out->isv_ext_prod_id, raw + 32, 16);
	memcpy(out->attributes, raw + 48, 16);
	memcpy(out->mr_enclave, raw + 64, 32);
	memcpy(out->mr_signer, raw + 128, 32);
	memcpy(out->config_id, raw + 192, 64);
	out->isv_prod_id = le16(raw + 256);
	out->isv_svn = le16(raw + 258);
	out->config_svn = le16(raw + 260);
	memcpy(out->isv_family_id, raw + 304, 16);
	memcpy(out->report_data, raw + 320, 64);
}

static void td_report_decode(const uint8_t *raw, bool is_15, struct lm_td_report *out)
{
	const uint8_t *p = raw;

	memset(out, 0, sizeof(*out));
#define TAKE(field)                                \
	do {                                       \
		memcpy(out->field, p, sizeof(out->field)); \
		p += sizeof(out->field);           \
	} while (0)
	TAKE(tee_tcb_svn);
	TAKE(mr_seam);
	TAKE(mr_signer_seam);
	TAKE(seam_attributes);
	TAKE(td_attributes);
	TAKE(xfam);
	TAKE(mr_td);
	TAKE(mr_config_id);
	TAKE(mr_owner);
	TAKE(mr_owner_config);
	TAKE(rtmr);
	TAKE(report_data);
	if (is_15) {
		out->has_15 = true;
		TAKE(tee_tcb_svn2);
		TAKE(mr_service_td);
	}
#undef TAKE
}

/* QE report, its signature, the QE authentication data and the innermost
 * certification data, as laid out in every version. */
static int parse_qe_part(struct rd *r, struct lm_dcap_quote *q)
{
	uint16_t auth_size;
	uint32_t cert_size;
	struct rd cert;

	q->qe_report_raw = r->p;
	if (!rd_bytes(r, NULL, SGX_REPORT_BYTES) || !rd_bytes(r, q->qe_report_signature, 64) ||
	    !rd_u16(r, &auth_size)) {
		lm_err("dcap quote: QE report truncated");
		return LM_EFORMAT;
	}
	lm_sgx_report_decode(q->qe_report_raw, &q->qe_report);
	q->qe_auth_data = r->p;
	q->qe_auth_size = auth_size;
	if (!rd_bytes(r, NULL, auth_size)) {
		lm_err("dcap quote: QE authentication data (%u bytes) runs past its container", auth_size);
		return LM_EFORMAT;
	}
	if (!rd_u16(r, &q->cert_type) || !rd_u32(r, &cert_size) || !rd_sub(r, cert_size, &cert)) {
		lm_err("dcap quote: certification data runs past its container");
		return LM_EFORMAT;
	}
	q->cert_data = cert.p;
	q->cert_size = cert.left;
	return 0;
}

int lm_dcap_quote_parse(const uint8_t *data, size_t size, struct lm_dcap_quote *out)
{
	struct lm_dcap_quote q;
	struct rd r = { data, size }, sig;
	uint32_t body_size = 0, sig_size;
	const uint8_t *body;
	int rc;

	if (!data || !out)
		return LM_EINVAL;
	memset(&q, 0, sizeof(q));
	if (size < HEADER_BYTES) {
		lm_err("dcap quote: %zu bytes, shorter than a quote header", size);
		return LM_EFORMAT;
	}
	q.version = le16(data);
	q.att_key_type = le16(data + 2);
	q.tee_type = le32(data + 4);
	q.qe_svn = le16(data + 8);
	q.pce_svn = le16(data + 10);
	memcpy(q.qe_vendor_id, data + 12, 16);
	memcpy(q.user_data, data + 28, 20);
	(void)rd_bytes(&r, NULL, HEADER_BYTES);
	if (q.version < 3 || q.version > 5) {
		lm_err("dcap quote: unsupported version %u", q.version);
		return LM_EFORMAT;
	}
	if (q.att_key_type != ATT_KEY_ECDSA_P256) {
		lm_err("dcap quote: attestation key type %u is not ECDSA P-256", q.att_key_type);
		return LM_EFORMAT;
	}
	if (q.tee_type != LM_DCAP_TEE_SGX && q.tee_type != LM_DCAP_TEE_TDX) {
		lm_err("dcap quote: unknown TEE type 0x%x", q.tee_type);
		return LM_EFORMAT;
	}
	if (q.version == 3 && q.tee_type != LM_DCAP_TEE_SGX) {
		lm_err("dcap quote: version 3 quotes are SGX only");
		return LM_EFORMAT;
	}

	if (q.version == 5) {
		if (!rd_u16(&r, &q.body_type) || !rd_u32(&r, &body_size)) {
			lm_err("dcap quote: v5 body descriptor truncated");
			return LM_EFORMAT;
		}
		switch (q.body_type) {
		case 1:
			rc = body_size == SGX_REPORT_BYTES && q.tee_type == LM_DCAP_TEE_SGX;
			break;
		case 2:
			rc = body_size == TD10_REPORT_BYTES && q.tee_type == LM_DCAP_TEE_TDX;
			break;
		case 3:
			rc = body_size == TD15_REPORT_BYTES && q.tee_type == LM_DCAP_TEE_TDX;
			break;
		default:
			rc = 0;
		}
		if (!rc) {
			lm_err("dcap quote: v5 body type %u of %u bytes does not fit TEE type 0x%x", q.body_type,
			       body_size, q.tee_type);
			return LM_EFORMAT;
		}
	} else {
		q.body_type = q.tee_type == LM_DCAP_TEE_SGX ? 1 : 2;
		body_size = q.tee_type == LM_DCAP_TEE_SGX ? SGX_REPORT_BYTES : TD10_REPORT_BYTES;
	}
	body = r.p;
	if (!rd_bytes(&r, NULL, body_size)) {
		lm_err("dcap quote: body truncated");
		return LM_EFORMAT;
	}
	if (q.tee_type == LM_DCAP_TEE_SGX)
		lm_sgx_report_decode(body, &q.enclave);
	else
		td_report_decode(body, q.body_type == 3, &q.td);
	q.signed_data = data;
	q.signed_size = (size_t)(r.p - data);

	if (!rd_u32(&r, &sig_size)) {
		lm_err("dcap quote: signature data length missing");
		return LM_EFORMAT;
	}
	if (!rd_sub(&r, sig_size, &sig)) {
		lm_err("dcap quote: declared signature data length %u exceeds the %zu bytes left", sig_size, r.left);
		return LM_EFORMAT;
	}
	if (!rd_bytes(&sig, q.signature, 64) || !rd_bytes(&sig, q.attest_key, 64)) {
		lm_err("dcap quote: signature data truncated");
		return LM_EFORMAT;
	}
	if (q.version == 3) {
		if ((rc = parse_qe_part(&sig, &q)) < 0)
			return rc;
	} else {
		uint16_t type;
		uint32_t inner_size;
		struct rd inner;

		if (!rd_u16(&sig, &type) || !rd_u32(&sig, &inner_size) || !rd_sub(&sig, inner_size, &inner)) {
			lm_err("dcap quote: certification data runs past the signature data");
			return LM_EFORMAT;
		}
		if (type != CERT_TYPE_QE_REPORT) {
			lm_err("dcap quote: certification data type %u, expected %d (QE report)", type,
			       CERT_TYPE_QE_REPORT);
			return LM_EFORMAT;
		}
		if ((rc = parse_qe_part(&inner, &q)) < 0)
			return rc;
		if (inner.left != 0) {
			lm_err("dcap quote: %zu stray bytes inside the QE report certification data", inner.left);
			return LM_EFORMAT;
		}
	}
	if (sig.left != 0) {
		lm_err("dcap quote: %zu stray bytes inside the declared signature data", sig.left);
		return LM_EFORMAT;
	}
	*out = q;
	return 0;
}

int lm_dcap_detect(const uint8_t *raw, size_t size)
{
	struct lm_dcap_quote q;

	if (!raw || size < HEADER_BYTES)
		return 0;
	/* Cheap test first, then a full parse: detection must not claim
	 * bytes that verification would refuse as malformed. */
	if (le16(raw + 2) != ATT_KEY_ECDSA_P256 || le16(raw) < 3 || le16(raw) > 5)
		return 0;
	return lm_dcap_quote_parse(raw, size, &q) == 0;
}
