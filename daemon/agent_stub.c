/* TEMPORARY: stands in for the embedded agent (agent/) until it is merged,
 * so that lambdad links. Every call fails with LM_ENOTSUP; lambdad then
 * serves tenants, audit and health but cannot launch instances. Delete this
 * file when agent/ provides lm_agent_*. */
#include <stddef.h>

#include "lambda/agent.h"

int lm_agent_new(struct event_base *base, const struct lm_agent_config *cfg, struct lm_agent **out)
{
	(void)base;
	(void)cfg;
	(void)out;
	return LM_ENOTSUP;
}

void lm_agent_free(struct lm_agent *agent)
{
	(void)agent;
}

int lm_agent_launch(struct lm_agent *agent, const struct lm_launch *launch)
{
	(void)agent;
	(void)launch;
	return LM_ENOTSUP;
}

int lm_agent_attest(struct lm_agent *agent, const char *instance_id, const uint8_t *nonce, size_t nonce_size,
		    lm_agent_reply_fn cb, void *ctx)
{
	(void)agent, (void)instance_id, (void)nonce, (void)nonce_size, (void)cb, (void)ctx;
	return LM_ENOTSUP;
}

int lm_agent_release(struct lm_agent *agent, const char *instance_id, const char *sealed_json,
		     lm_agent_reply_fn cb, void *ctx)
{
	(void)agent, (void)instance_id, (void)sealed_json, (void)cb, (void)ctx;
	return LM_ENOTSUP;
}

int lm_agent_delete(struct lm_agent *agent, const char *instance_id, bool keep_volume)
{
	(void)agent, (void)instance_id, (void)keep_volume;
	return LM_ENOTSUP;
}

int lm_agent_logs(struct lm_agent *agent, const char *instance_id, uint8_t **out, size_t *size)
{
	(void)agent, (void)instance_id, (void)out, (void)size;
	return LM_ENOTSUP;
}
