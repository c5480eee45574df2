/* clone_hooks.c: where the clone program is attached: the interfaces the routes to the cloned services' pool servers (IPv4 and IPv6) leave by. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "clone/clone_int.h"
#include "lib/addr.h"
#include "log.h"

static int find_hook(struct clone_engine *ce, int ifindex)
{
	int i;

	for (i = 0; i < ce->n_hooks; i++)
		if (ce->hooks[i].ifindex == ifindex)
			return i;
	return -1;
}

/* See clone_int.h. */
void clone_hooks_add_pool(struct clone_engine *ce, const json_t *pool)
{
	const json_t *srv;
	size_t i;

	json_array_foreach(json_object_get(pool, "servers"), i, srv) {
		union addr_any a;
		int af = addr_parse(json_string_value(json_object_get(json_object_get(srv, "ip"), "addr")),
				    &a);

		if (af == AF_INET6) {
			ce->pool_ips6 = realloc(ce->pool_ips6,
						sizeof(*ce->pool_ips6) * (size_t)(ce->n_pool_ips6 + 1));
			if (!ce->pool_ips6)
				abort();
			ce->pool_ips6[ce->n_pool_ips6++] = a.in6.sin6_addr;
		} else if (af == AF_INET) {
			ce->pool_ips = realloc(ce->pool_ips,
					       sizeof(uint32_t) * (size_t)(ce->n_pool_ips + 1));
			if (!ce->pool_ips)
				abort();
			ce->pool_ips[ce->n_pool_ips++] = a.in.sin_addr.s_addr;
		}
	}
}

/* See clone_int.h. */
int clone_hooks_wanted(struct clone_engine *ce, int *want, bool quiet)
{
	int i, j, ifindex, n_want = 0, n = ce->n_pool_ips;

	clone_slow_step(ce, "route lookup");
	/* The IPv4 servers, then the IPv6 ones. */
	for (i = 0; i < n + ce->n_pool_ips6; i++) {
		union addr_any dst;

		addr_any_of(i < n ? AF_INET : AF_INET6, &dst);
		if (i < n)
			dst.in.sin_addr.s_addr = ce->pool_ips[i];
		else
			dst.in6.sin6_addr = ce->pool_ips6[i - n];
		ifindex = clone_net_route_any(&dst, NULL);
		if (ifindex <= 0) {
			char a[ADDR_STRLEN];

			if (!quiet)
				log_warn("clone", "pool server %s: no route (%s): its traffic cannot be cloned",
					 addr_ntop(&dst, a), strerror(-ifindex));
			continue;
		}
		for (j = 0; j < n_want && want[j] != ifindex; j++)
			;
		if (j == n_want && n_want < CLONE_MAX_HOOKS)
			want[n_want++] = ifindex;
	}
	return n_want;
}

/* See clone_int.h. */
void clone_hooks_sync(struct clone_engine *ce, const int *want, int n_want)
{
	int i, j;

	clone_slow_step(ce, "tc attach/detach");
	for (i = 0; i < ce->n_hooks;) {
		for (j = 0; j < n_want && want[j] != ce->hooks[i].ifindex; j++)
			;
		if (j < n_want) {
			i++;
			continue;
		}
		clone_tc_detach(ce, ce->hooks[i].ifindex);
		log_info("clone", "detached from %s: no cloned service needs it", ce->hooks[i].ifname);
		ce->hooks[i] = ce->hooks[--ce->n_hooks];
	}
	for (j = 0; j < n_want; j++) {
		char *err = NULL;

		if (find_hook(ce, want[j]) >= 0)
			continue;
		if (clone_tc_attach(ce, want[j], &err) < 0) {
			log_warn("clone", "%s", err);
			free(err);
			continue;
		}
		ce->hooks[ce->n_hooks].ifindex = want[j];
		if_indextoname((unsigned)want[j], ce->hooks[ce->n_hooks].ifname);
		log_info("clone", "attached to %s (tc ingress and egress)", ce->hooks[ce->n_hooks].ifname);
		ce->n_hooks++;
	}
	atomic_store(&ce->n_attached, ce->n_hooks);
}

/*
 * Re-places the hooks if the interfaces that reach the pools changed (an
 * interface recreated, a route moved) or one of our filters went away.
 * Holds apply_lock only: readers never wait on these route and tc queries.
 */
void clone_recheck_hooks(struct clone_engine *ce)
{
	int want[CLONE_MAX_HOOKS], n_want, i, j;
	bool same;

	pthread_mutex_lock(&ce->apply_lock);
	clone_deliver_recheck(ce);
	n_want = clone_hooks_wanted(ce, want, true);
	same = n_want == ce->n_hooks;
	for (i = 0; same && i < n_want; i++) {
		j = find_hook(ce, want[i]);
		same = j >= 0 && clone_tc_present(want[i]);
	}
	if (!same) {
		/* Forget hooks whose filters are gone, so that clone_hooks_sync()
		 * attaches them again; then place them as the routes say now. */
		for (i = 0; i < ce->n_hooks;) {
			if (clone_tc_present(ce->hooks[i].ifindex)) {
				i++;
				continue;
			}
			log_warn("clone", "our filters on %s are gone: attaching again", ce->hooks[i].ifname);
			clone_tc_detach(ce, ce->hooks[i].ifindex);
			ce->hooks[i] = ce->hooks[--ce->n_hooks];
		}
		clone_hooks_sync(ce, want, n_want);
	}
	pthread_mutex_unlock(&ce->apply_lock);
}
