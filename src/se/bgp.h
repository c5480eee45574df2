/* bgp.h: route health injection: the VIPs of an HA_MODE_SHARED SE group held on lo and announced over BGP by a BIRD 2 child. */
#ifndef CLONELB_SE_BGP_H
#define CLONELB_SE_BGP_H

#include <jansson.h>

struct px;
struct se_bgp;

struct se_bgp_config {
	const char *bird;	/* the bird binary; birdc is looked for beside it */
	const char *run_prefix; /* path prefix of its files: PREFIX.bird.conf, .ctl, .pid */
	const char *se_group;	/* the SE group this SE serves (NULL: "Default-Group") */
	struct px *px;		/* the data plane whose health decides what is announced */
};

/*
 * Starts route health injection: removes the VIP addresses an earlier run
 * left on lo (it was killed; the network namespace is ours, see
 * netif_claim_netns()), then starts the thread that keeps BIRD's
 * configuration equal to what should be announced. BIRD itself runs only
 * while vrfcontext global has BGP peers. Returns 0 and *ret (stop with
 * se_bgp_stop(), release with se_bgp_free()), or -errno with *ret_err.
 */
int se_bgp_start(const struct se_bgp_config *c, struct se_bgp **ret, char **ret_err);

/*
 * Takes configuration snapshot @snap (see cfg_snapshot()): the VIPs of the
 * group's services, when the group is HA_MODE_SHARED, are on lo when this
 * returns (call it before px_apply(), so their listeners can bind); what is
 * announced (those with enable_rhi) follows on the routing thread. Errors
 * are logged.
 */
void se_bgp_apply(struct se_bgp *b, const json_t *snap);

/*
 * Asks for the announcements to be checked again now (a pool member changed
 * health, a new configuration reached the data plane). Any thread; never
 * blocks. @ctx is the struct se_bgp, so it serves as a px health hook.
 */
void se_bgp_kick(void *ctx);

/*
 * Withdraws every route at once (BIRD shuts its BGP sessions down with a
 * Cease notification and exits) and removes the VIPs it added from lo; from
 * then on se_bgp_apply() and se_bgp_kick() do nothing. Accepts NULL.
 */
void se_bgp_stop(struct se_bgp *b);

/* Stops @b if needed and frees it, once nothing can call it any more (the
 * data plane's health hook included). Accepts NULL. */
void se_bgp_free(struct se_bgp *b);

#endif
