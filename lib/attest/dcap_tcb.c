/* Intel's TCB level algorithm for DCAP quotes, after the Intel SGX/TDX
 * DCAP Quote Verification Library (TcbLevelCheck, TdxModuleCheck):
 *
 * 1. Platform level: walk the TCB Info levels in document order (Intel
 *    sorts them newest first) and take the first whose 16 SGX component
 *    SVNs and PCESVN are all <= the platform's, read from the PCK
 *    certificate. For TDX, continue to the first such level whose 16 TDX
 *    component SVNs are also <= the quote's TEE_TCB_SVN; bytes 0 and 1 are
 *    skipped when TEE_TCB_SVN[1] (the module's major version) is non-zero,
 *    because the module's SVN is then judged by its module identity.
 * 2. TDX module (TDX only, TEE_TCB_SVN[1] > 0): the identity "TDX_<hex of
 *    TEE_TCB_SVN[1]>" of tdxModuleIdentities; its first level with isvsvn
 *    <= TEE_TCB_SVN[0]. Module OutOfDate turns UpToDate/SWHardeningNeeded
 *    into OutOfDate and the Configuration statuses into
 *    OutOfDateConfigurationNeeded; module Revoked gives Revoked.
 * 3. QE: the QE Identity's first level with isvsvn <= the QE report's
 *    ISVSVN (none: Revoked), converged the same way.
 * No match in 1 or 2 means the TCB is not supported: the evaluation fails. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "attest/dcap_int.h"

static const char *const g_status_names[] = {
	[LM_TCB_UNKNOWN] = NULL,
	[LM_TCB_UP_TO_DATE] = "UpToDate",
	[LM_TCB_SW_HARDENING_NEEDED] = "SWHardeningNeeded",
	[LM_TCB_CONFIGURATION_NEEDED] = "ConfigurationNeeded",
	[LM_TCB_CONFIGURATION_AND_SW_HARDENING_NEEDED] = "ConfigurationAndSWHardeningNeeded",
	[LM_TCB_OUT_OF_DATE] = "OutOfDate",
	[LM_TCB_OUT_OF_DATE_CONFIGURATION_NEEDED] = "OutOfDateConfigurationNeeded",
	[LM_TCB_REVOKED] = "Revoked",
};

#define STATUS_COUNT (sizeof(g_status_names) / sizeof(g_status_names[0]))

const char *lm_tcb_status_name(enum lm_tcb_status s)
{
	return (size_t)s < STATUS_COUNT ? g_status_names[s] : NULL;
}

enum lm_tcb_status lm_tcb_status_from_name(const char *name)
{
	for (size_t i = 1; name && i < STATUS_COUNT; i++)
		if (strcmp(name, g_status_names[i]) == 0)
			return (enum lm_tcb_status)i;
	return LM_TCB_UNKNOWN;
}

static bool sgx_ok(const struct lm_tcb_level *lv, const struct lm_pck_info *pck)
{
	for (int i = 0; i < 16; i++)
		if (pck->sgx_tcb_comp[i] < lv->sgx_comp[i])
			return false;
	return pck->pce_svn >= lv->pce_svn;
}

static bool tdx_ok(const struct lm_tcb_level *lv, const uint8_t *tee_tcb_svn)
{
	for (int i = tee_tcb_svn[1] > 0 ? 2 : 0; i < 16; i++)
		if (tee_tcb_svn[i] < lv->tdx_comp[i])
			return false;
	return true;
}

const struct lm_tcb_level *lm_tcb_select(const struct lm_tcb_info *ti, const struct lm_pck_info *pck,
					 const uint8_t *tee_tcb_svn, const struct lm_tcb_level **sgx_level)
{
	const struct lm_tcb_level *first = NULL;

	for (size_t i = 0; i < ti->level_count; i++) {
		const struct lm_tcb_level *lv = &ti->levels[i];

		if (!sgx_ok(lv, pck))
			continue;
		if (!first)
			first = lv;
		if (!tee_tcb_svn || tdx_ok(lv, tee_tcb_svn)) {
			if (sgx_level)
				*sgx_level = first;
			return lv;
		}
	}
	if (sgx_level)
		*sgx_level = first;
	return NULL;
}

const struct lm_tcb_level *lm_qe_level_select(const struct lm_qe_identity *qe, uint16_t isv_svn)
{
	for (size_t i = 0; i < qe->level_count; i++)
		if (qe->levels[i].isv_svn <= isv_svn)
			return &qe->levels[i];
	return NULL;
}

const struct lm_tdx_module *lm_tdx_module_find(const struct lm_tcb_info *ti, const uint8_t tee_tcb_svn[static 16])
{
	char id[16];

	if (!ti->is_tdx || ti->module_count == 0)
		return NULL;
	if (tee_tcb_svn[1] == 0)
		return &ti->modules[0];	/* the single tdxModule */
	snprintf(id, sizeof(id), "TDX_%02X", tee_tcb_svn[1]);
	for (size_t i = 1; i < ti->module_count; i++)
		if (strcasecmp(ti->modules[i].id, id) == 0)
			return &ti->modules[i];
	return NULL;
}

/* Folds the status of a component (TDX module or QE) into the platform's. */
static enum lm_tcb_status converge(enum lm_tcb_status platform, enum lm_tcb_status part)
{
	if (part == LM_TCB_REVOKED)
		return LM_TCB_REVOKED;
	if (part == LM_TCB_OUT_OF_DATE) {
		if (platform == LM_TCB_UP_TO_DATE || platform == LM_TCB_SW_HARDENING_NEEDED)
			return LM_TCB_OUT_OF_DATE;
		if (platform == LM_TCB_CONFIGURATION_NEEDED || platform == LM_TCB_CONFIGURATION_AND_SW_HARDENING_NEEDED)
			return LM_TCB_OUT_OF_DATE_CONFIGURATION_NEEDED;
	}
	return platform;
}

int lm_tcb_evaluate(const struct lm_tcb_info *ti, const struct lm_pck_info *pck, const struct lm_dcap_quote *q,
		    const struct lm_qe_identity *qe, struct lm_tcb_result *out)
{
	bool is_tdx = q->tee_type == LM_DCAP_TEE_TDX;
	const uint8_t *svn = q->td.tee_tcb_svn;
	enum lm_tcb_status st;

	memset(out, 0, sizeof(*out));
	if (is_tdx != ti->is_tdx || (is_tdx && ti->version < 3)) {
		snprintf(out->why, sizeof(out->why), "TCB Info is for %s, the quote is %s", ti->is_tdx ? "TDX" : "SGX",
			 is_tdx ? "TDX" : "SGX");
		return LM_EVERIFY;
	}
	out->level = lm_tcb_select(ti, pck, is_tdx ? svn : NULL, &out->sgx_level);
	if (!out->sgx_level) {
		snprintf(out->why, sizeof(out->why),
			 "TCB level not found: the PCK certificate's SGX TCB is below every level (TCB not supported)");
		return LM_EVERIFY;
	}
	if (!out->level) {
		snprintf(out->why, sizeof(out->why),
			 "TCB level not found: TEE_TCB_SVN is below every TDX level (TCB not supported)");
		return LM_EVERIFY;
	}
	st = out->platform_status = out->level->status;
	if (is_tdx && !(q->version > 3 && svn[1] == 0)) {
		const struct lm_tdx_module *m = lm_tdx_module_find(ti, svn);

		if (!m || !*m->id) {
			snprintf(out->why, sizeof(out->why), "no TDX module identity TDX_%02X in the TCB Info", svn[1]);
			return LM_EVERIFY;
		}
		out->module = m;
		for (size_t i = 0; i < m->level_count && !out->module_level; i++)
			if (m->levels[i].isv_svn <= svn[0])
				out->module_level = &m->levels[i];
		if (!out->module_level) {
			snprintf(out->why, sizeof(out->why),
				 "TDX module %s SVN %u is below every module level (TCB not supported)", m->id, svn[0]);
			return LM_EVERIFY;
		}
		st = converge(st, out->module_level->status);
	}
	if (qe) {
		out->qe_level = lm_qe_level_select(qe, q->qe_report.isv_svn);
		st = converge(st, out->qe_level ? out->qe_level->status : LM_TCB_REVOKED);
	}
	out->status = st;
	return 0;
}
