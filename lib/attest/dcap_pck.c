/* The SGX extensions of a PCK certificate (Intel's PCK Certificate and CRL
 * Profile): extension 1.2.840.113741.1.13.1 holds a DER SEQUENCE of
 * SEQUENCE { OID, value } pairs, of which we read
 *   .2  TCB: SEQUENCE of { .2.1 .. .2.16 INTEGER (SGX TCB component SVNs),
 *       .2.17 INTEGER (PCESVN), .2.18 OCTET STRING[16] (CPUSVN) }
 *   .3  PCE-ID OCTET STRING[2]
 *   .4  FMSPC OCTET STRING[6]
 * The extension comes from a certificate whose signature is checked
 * separately, but we still parse it as untrusted DER: a small reader that
 * checks each length against what remains. */
#include <string.h>

#include <openssl/objects.h>
#include <openssl/x509v3.h>

#include "attest/dcap_int.h"
#include "lambda/log.h"

#define SGX_EXT_OID "1.2.840.113741.1.13.1"

/* DER body of OID 1.2.840.113741.1.13.1. */
static const uint8_t g_sgx_oid[] = { 0x2a, 0x86, 0x48, 0x86, 0xf8, 0x4d, 0x01, 0x0d, 0x01 };

struct der {
	const uint8_t *p;
	size_t left;
};

/* Reads one TLV; *val is the value. Definite lengths up to 4 bytes only. */
static bool der_next(struct der *d, uint8_t *tag, struct der *val)
{
	size_t len, n;

	if (d->left < 2)
		return false;
	*tag = d->p[0];
	len = d->p[1];
	n = 2;
	if (len & 0x80) {
		size_t k = len & 0x7f;

		if (k == 0 || k > 4 || d->left < 2 + k)
			return false;
		len = 0;
		for (size_t i = 0; i < k; i++)
			len = len << 8 | d->p[2 + i];
		n += k;
	}
	if (d->left - n < len)
		return false;
	val->p = d->p + n;
	val->left = len;
	d->p += n + len;
	d->left -= n + len;
	return true;
}

/* Matches OID bytes against the SGX prefix followed by the given arcs (each
 * below 128, so one byte each). */
static bool oid_is(const struct der *oid, const uint8_t *arcs, size_t count)
{
	return oid->left == sizeof(g_sgx_oid) + count && memcmp(oid->p, g_sgx_oid, sizeof(g_sgx_oid)) == 0 &&
	       memcmp(oid->p + sizeof(g_sgx_oid), arcs, count) == 0;
}

/* A small non-negative INTEGER (SVNs fit in 16 bits). */
static bool der_uint(const struct der *v, uint32_t max, uint32_t *out)
{
	uint32_t x = 0;

	if (v->left == 0 || v->left > 3 || (v->p[0] & 0x80))
		return false;
	for (size_t i = 0; i < v->left; i++)
		x = x << 8 | v->p[i];
	if (x > max)
		return false;
	*out = x;
	return true;
}

/* Iterates a SEQUENCE of SEQUENCE { OID, value }: next pair in *oid and *val. */
static bool next_pair(struct der *seq, struct der *oid, uint8_t *val_tag, struct der *val)
{
	struct der pair;
	uint8_t tag;

	if (!der_next(seq, &tag, &pair) || tag != 0x30)
		return false;
	if (!der_next(&pair, &tag, oid) || tag != 0x06 || !der_next(&pair, val_tag, val) || pair.left != 0)
		return false;
	return true;
}

static int parse_tcb(struct der tcb, struct lm_pck_info *out)
{
	unsigned seen = 0;	/* bit i: component i+1 (1..16), 17 pcesvn, 18 cpusvn */
	struct der oid, val;
	uint8_t tag;

	while (tcb.left) {
		uint32_t x;
		bool known = false;

		if (!next_pair(&tcb, &oid, &tag, &val))
			return LM_EFORMAT;
		for (uint8_t i = 1; i <= 18; i++) {
			const uint8_t arcs[2] = { 2, i };

			if (!oid_is(&oid, arcs, 2))
				continue;
			known = true;
			if (seen & 1u << i)
				return LM_EFORMAT;
			seen |= 1u << i;
			if (i <= 16) {
				if (tag != 0x02 || !der_uint(&val, 255, &x))
					return LM_EFORMAT;
				out->sgx_tcb_comp[i - 1] = (uint8_t)x;
			} else if (i == 17) {
				if (tag != 0x02 || !der_uint(&val, 65535, &x))
					return LM_EFORMAT;
				out->pce_svn = (uint16_t)x;
			} else {
				if (tag != 0x04 || val.left != 16)
					return LM_EFORMAT;
				memcpy(out->cpu_svn, val.p, 16);
			}
		}
		if (!known)
			lm_debug("pck certificate: unknown TCB entry skipped");
	}
	return seen == 0x7fffeu ? 0 : LM_EFORMAT;	/* bits 1..18 */
}

int lm_pck_info_parse(X509 *pck, struct lm_pck_info *out)
{
	static const uint8_t arc_tcb = 2, arc_pceid = 3, arc_fmspc = 4;
	const ASN1_OCTET_STRING *os;
	struct lm_pck_info info;
	X509_EXTENSION *ext;
	ASN1_OBJECT *obj;
	struct der top, seq, oid, val;
	bool has_tcb = false, has_pceid = false, has_fmspc = false;
	uint8_t tag;
	int idx, r;

	if (!pck || !out)
		return LM_EINVAL;
	if (!(obj = OBJ_txt2obj(SGX_EXT_OID, 1)))
		return LM_ENOMEM;
	idx = X509_get_ext_by_OBJ(pck, obj, -1);
	ASN1_OBJECT_free(obj);
	if (idx < 0 || !(ext = X509_get_ext(pck, idx)) || !(os = X509_EXTENSION_get_data(ext))) {
		lm_err("pck certificate: no SGX extension");
		return LM_EFORMAT;
	}
	memset(&info, 0, sizeof(info));
	top.p = ASN1_STRING_get0_data(os);
	top.left = (size_t)ASN1_STRING_length(os);
	if (!der_next(&top, &tag, &seq) || tag != 0x30 || top.left != 0)
		goto bad;
	while (seq.left) {
		if (!next_pair(&seq, &oid, &tag, &val))
			goto bad;
		if (oid_is(&oid, &arc_tcb, 1)) {
			if (has_tcb || tag != 0x30 || (r = parse_tcb(val, &info)) < 0)
				goto bad;
			has_tcb = true;
		} else if (oid_is(&oid, &arc_pceid, 1)) {
			if (has_pceid || tag != 0x04 || val.left != 2)
				goto bad;
			memcpy(info.pce_id, val.p, 2);
			has_pceid = true;
		} else if (oid_is(&oid, &arc_fmspc, 1)) {
			if (has_fmspc || tag != 0x04 || val.left != 6)
				goto bad;
			memcpy(info.fmspc, val.p, 6);
			has_fmspc = true;
		}
		/* PPID (.1), SGX Type (.5), platform instance (.6) and
		 * configuration (.7) are not used by verification. */
	}
	if (!has_tcb || !has_pceid || !has_fmspc)
		goto bad;
	{
		const X509_NAME *issuer = X509_get_issuer_name(pck);
		char cn[64] = "";

		X509_NAME_get_text_by_NID((X509_NAME *)issuer, NID_commonName, cn, sizeof(cn));
		info.is_processor_ca = strcmp(cn, "Intel SGX PCK Processor CA") == 0;
	}
	*out = info;
	return 0;
bad:
	lm_err("pck certificate: malformed SGX extension (needs TCB, PCE-ID and FMSPC)");
	return LM_EFORMAT;
}
