/* The SEV-SNP attestation report parser (untrusted bytes), and the product
 * lines with their TCB_VERSION layouts. Every field of the ABI's
 * ATTESTATION_REPORT is read; fields a version does not define (CPUID before
 * v3, the mitigation vectors before v5) are left zero and flagged absent. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "attest/attest_int.h"
#include "attest/snp_int.h"
#include "lambda/log.h"
#include "lambda/secret.h"

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_le64(const uint8_t *p)
{
	return (uint64_t)get_le32(p) | (uint64_t)get_le32(p + 4) << 32;
}

/* Why raw is not a report this parser reads, or NULL. Quiet: detection
 * runs it on every raw file. */
static const char *header_problem(const uint8_t *raw, size_t size)
{
	uint32_t version, key_info, signing;

	if (size != LM_SNP_REPORT_BYTES)
		return "not 1184 bytes";
	version = get_le32(raw + LM_SNP_OFF_VERSION);
	if (version != 2 && version != 3 && version != 5)
		return "unsupported version (2, 3 and 5 are known)";
	if (get_le32(raw + LM_SNP_OFF_VMPL) > 3)
		return "VMPL out of range";
	if (get_le32(raw + LM_SNP_OFF_SIGNATURE_ALGO) != LM_SNP_SIG_ALGO_ECDSA_P384_SHA384)
		return "signature algorithm is not 1 (ECDSA P-384 SHA-384)";
	key_info = get_le32(raw + LM_SNP_OFF_KEY_INFO);
	if (key_info & LM_SNP_KEY_INFO_RESERVED)
		return "reserved KEY_INFO bits set";
	signing = (key_info >> LM_SNP_KEY_INFO_SIGNING_SHIFT) & LM_SNP_KEY_INFO_SIGNING_MASK;
	if (signing != LM_SNP_KEY_VCEK && signing != LM_SNP_KEY_VLEK && signing != LM_SNP_KEY_NONE)
		return "reserved SIGNING_KEY value";
	/* Outside the signed bytes: anyone could fill them, making many
	 * different files of one signed report. */
	if (!lm_is_zero(raw + LM_SNP_OFF_SIG_RESERVED, LM_SNP_REPORT_BYTES - LM_SNP_OFF_SIG_RESERVED))
		return "reserved bytes 0x330-0x49f of the signature field are not zero";
	return NULL;
}

int lm_snp_report_detect(const uint8_t *raw, size_t size)
{
	return raw && header_problem(raw, size) == NULL;
}

int lm_snp_report_parse(const uint8_t *raw, size_t size, struct lm_snp_report *out)
{
	struct lm_snp_report rep;
	const char *why;

	if (!raw || !out)
		return LM_EINVAL;
	if ((why = header_problem(raw, size))) {
		lm_err("SEV-SNP report (%zu bytes): %s", size, why);
		return LM_EFORMAT;
	}
	memset(&rep, 0, sizeof(rep));
	rep.version = get_le32(raw + LM_SNP_OFF_VERSION);
	rep.guest_svn = get_le32(raw + LM_SNP_OFF_GUEST_SVN);
	rep.policy = get_le64(raw + LM_SNP_OFF_POLICY);
	memcpy(rep.family_id, raw + LM_SNP_OFF_FAMILY_ID, sizeof(rep.family_id));
	memcpy(rep.image_id, raw + LM_SNP_OFF_IMAGE_ID, sizeof(rep.image_id));
	rep.vmpl = get_le32(raw + LM_SNP_OFF_VMPL);
	rep.signature_algo = get_le32(raw + LM_SNP_OFF_SIGNATURE_ALGO);
	rep.current_tcb = get_le64(raw + LM_SNP_OFF_CURRENT_TCB);
	rep.platform_info = get_le64(raw + LM_SNP_OFF_PLATFORM_INFO);
	rep.key_info = get_le32(raw + LM_SNP_OFF_KEY_INFO);
	rep.author_key_en = rep.key_info & LM_SNP_KEY_INFO_AUTHOR_KEY_EN;
	rep.mask_chip_key = rep.key_info & LM_SNP_KEY_INFO_MASK_CHIP_KEY;
	rep.signing_key = (enum lm_snp_signing_key)((rep.key_info >> LM_SNP_KEY_INFO_SIGNING_SHIFT) &
						    LM_SNP_KEY_INFO_SIGNING_MASK);
	memcpy(rep.report_data, raw + LM_SNP_OFF_REPORT_DATA, sizeof(rep.report_data));
	memcpy(rep.measurement, raw + LM_SNP_OFF_MEASUREMENT, sizeof(rep.measurement));
	memcpy(rep.host_data, raw + LM_SNP_OFF_HOST_DATA, sizeof(rep.host_data));
	memcpy(rep.id_key_digest, raw + LM_SNP_OFF_ID_KEY_DIGEST, sizeof(rep.id_key_digest));
	memcpy(rep.author_key_digest, raw + LM_SNP_OFF_AUTHOR_KEY_DIGEST, sizeof(rep.author_key_digest));
	memcpy(rep.report_id, raw + LM_SNP_OFF_REPORT_ID, sizeof(rep.report_id));
	memcpy(rep.report_id_ma, raw + LM_SNP_OFF_REPORT_ID_MA, sizeof(rep.report_id_ma));
	rep.reported_tcb = get_le64(raw + LM_SNP_OFF_REPORTED_TCB);
	if (rep.version >= 3) {
		rep.has_cpuid = true;
		rep.cpuid_fam_id = raw[LM_SNP_OFF_CPUID_FAM_ID];
		rep.cpuid_mod_id = raw[LM_SNP_OFF_CPUID_MOD_ID];
		rep.cpuid_step = raw[LM_SNP_OFF_CPUID_STEP];
	}
	memcpy(rep.chip_id, raw + LM_SNP_OFF_CHIP_ID, sizeof(rep.chip_id));
	rep.committed_tcb = get_le64(raw + LM_SNP_OFF_COMMITTED_TCB);
	rep.current_build = raw[LM_SNP_OFF_CURRENT_BUILD];
	rep.current_minor = raw[LM_SNP_OFF_CURRENT_BUILD + 1];
	rep.current_major = raw[LM_SNP_OFF_CURRENT_BUILD + 2];
	rep.committed_build = raw[LM_SNP_OFF_COMMITTED_BUILD];
	rep.committed_minor = raw[LM_SNP_OFF_COMMITTED_BUILD + 1];
	rep.committed_major = raw[LM_SNP_OFF_COMMITTED_BUILD + 2];
	rep.launch_tcb = get_le64(raw + LM_SNP_OFF_LAUNCH_TCB);
	if (rep.version >= 5) {
		rep.has_mit_vector = true;
		rep.launch_mit_vector = get_le64(raw + LM_SNP_OFF_LAUNCH_MIT_VECTOR);
		rep.current_mit_vector = get_le64(raw + LM_SNP_OFF_CURRENT_MIT_VECTOR);
	}
	memcpy(rep.sig_r, raw + LM_SNP_OFF_SIG_R, sizeof(rep.sig_r));
	memcpy(rep.sig_s, raw + LM_SNP_OFF_SIG_S, sizeof(rep.sig_s));
	*out = rep;
	return 0;
}

/* ---- products ---- */

const char *lm_snp_product_name(enum lm_snp_product p)
{
	switch (p) {
	case LM_SNP_PRODUCT_MILAN:
		return "Milan";
	case LM_SNP_PRODUCT_GENOA:
		return "Genoa";
	case LM_SNP_PRODUCT_TURIN:
		return "Turin";
	default:
		return "unknown";
	}
}

enum lm_snp_product lm_snp_product_from_name(const char *name)
{
	static const enum lm_snp_product all[] = { LM_SNP_PRODUCT_MILAN, LM_SNP_PRODUCT_GENOA,
						   LM_SNP_PRODUCT_TURIN };

	if (!name)
		return LM_SNP_PRODUCT_UNKNOWN;
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		const char *s = lm_snp_product_name(all[i]);
		size_t n = strlen(s);

		/* "Milan" or "Milan-<stepping>", nothing else. */
		if (strncasecmp(name, s, n) == 0 && (name[n] == 0 || name[n] == '-'))
			return all[i];
	}
	return LM_SNP_PRODUCT_UNKNOWN;
}

enum lm_snp_product lm_snp_product_from_cpuid(uint8_t family, uint8_t model)
{
	/* Family 19h: models 00h-0Fh are Milan, 10h-1Fh Genoa, A0h-AFh
	 * Bergamo and Siena, which use Genoa's keys. Family 1Ah: models
	 * 00h-1Fh are Turin (classic and dense). Anything else is a product
	 * this verifier has no root for. */
	if (family == 0x19) {
		if (model <= 0x0f)
			return LM_SNP_PRODUCT_MILAN;
		if ((model >= 0x10 && model <= 0x1f) || (model >= 0xa0 && model <= 0xaf))
			return LM_SNP_PRODUCT_GENOA;
	} else if (family == 0x1a && model <= 0x1f) {
		return LM_SNP_PRODUCT_TURIN;
	}
	return LM_SNP_PRODUCT_UNKNOWN;
}

void lm_snp_tcb_decode(uint64_t tcb, enum lm_snp_product p, struct lm_snp_tcb *out)
{
	memset(out, 0, sizeof(*out));
	if (p == LM_SNP_PRODUCT_TURIN) {
		out->fmc = (uint8_t)tcb;
		out->bootloader = (uint8_t)(tcb >> 8);
		out->tee = (uint8_t)(tcb >> 16);
		out->snp = (uint8_t)(tcb >> 24);
	} else {
		out->bootloader = (uint8_t)tcb;
		out->tee = (uint8_t)(tcb >> 8);
		out->snp = (uint8_t)(tcb >> 48);
	}
	out->microcode = (uint8_t)(tcb >> 56);
}

uint64_t lm_snp_tcb_encode(const struct lm_snp_tcb *t, enum lm_snp_product p)
{
	if (p == LM_SNP_PRODUCT_TURIN)
		return (uint64_t)t->fmc | (uint64_t)t->bootloader << 8 | (uint64_t)t->tee << 16 |
		       (uint64_t)t->snp << 24 | (uint64_t)t->microcode << 56;
	return (uint64_t)t->bootloader | (uint64_t)t->tee << 8 | (uint64_t)t->snp << 48 |
	       (uint64_t)t->microcode << 56;
}

void lm_snp_tcb_format(char *out, size_t out_size, const struct lm_snp_tcb *t, enum lm_snp_product p)
{
	if (p == LM_SNP_PRODUCT_TURIN)
		snprintf(out, out_size, "fmc=%u bl=%u tee=%u snp=%u ucode=%u", t->fmc, t->bootloader, t->tee,
			 t->snp, t->microcode);
	else
		snprintf(out, out_size, "bl=%u tee=%u snp=%u ucode=%u", t->bootloader, t->tee, t->snp,
			 t->microcode);
}
