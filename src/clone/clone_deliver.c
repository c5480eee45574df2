/* clone_deliver.c: the user side of the clone's own path: clone_deliver hooks, encapsulated servers' routes, profiles' filters, snaplen and budget. */
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "clone/clone_int.h"
#include "lib/netif.h"
#include "log.h"

/* See clone_int.h. */
bool clone_deliver_ready(const struct clone_engine *ce, int ifindex)
{
	int i;

	for (i = 0; ifindex > 0 && i < ce->n_deliver; i++)
		if (ce->deliver_if[i] == ifindex)
			return true;
	return false;
}

/* See clone_int.h. */
int clone_deliver_ensure(struct clone_engine *ce, int ifindex)
{
	char *err = NULL, ifname[IF_NAMESIZE] = "?";
	int r;

	if (ifindex <= 0)
		return -EINVAL;
	if (clone_deliver_ready(ce, ifindex))
		return 0;
	if (ce->n_deliver == CLONE_MAX_HOOKS) {
		log_warn("clone", "more than %d clone interfaces: clone_deliver not attached to ifindex %d",
			 CLONE_MAX_HOOKS, ifindex);
		return -ENOSPC;
	}
	r = clone_tc_attach_deliver(ce, ifindex, &err);
	if (r < 0) {
		log_warn("clone", "%s", err);
		free(err);
		return r;
	}
	if_indextoname((unsigned)ifindex, ifname);
	log_info("clone", "attached clone_deliver to %s (tc egress)", ifname);
	ce->deliver_if[ce->n_deliver++] = ifindex;
	return 0;
}

/* See clone_int.h. */
void clone_deliver_recheck(struct clone_engine *ce)
{
	char ifname[IF_NAMESIZE];
	int i, ifindex;

	for (i = 0; i < ce->n_deliver;) {
		ifindex = ce->deliver_if[i];
		if (clone_tc_deliver_present(ifindex)) {
			i++;
			continue;
		}
		/* Gone with its interface, or deleted by hand: forget it, and
		 * attach again if the interface is still there. */
		ce->deliver_if[i] = ce->deliver_if[--ce->n_deliver];
		if (if_indextoname((unsigned)ifindex, ifname)) {
			log_warn("clone", "clone_deliver on %s is gone: attaching again", ifname);
			clone_deliver_ensure(ce, ifindex);
		}
	}
}

static const char *const encap_names[CLONE_ENCAP_MAX] = {
	[CLONE_ENCAP_NONE] = "CLONE_ENCAP_NONE",
	[CLONE_ENCAP_VXLAN] = "CLONE_ENCAP_VXLAN",
	[CLONE_ENCAP_GENEVE] = "CLONE_ENCAP_GENEVE",
	[CLONE_ENCAP_ERSPAN_II] = "CLONE_ENCAP_ERSPAN_II",
	[CLONE_ENCAP_ERSPAN_III] = "CLONE_ENCAP_ERSPAN_III",
};

/* See clone_int.h. */
int clone_encap_parse(const char *name)
{
	int i;

	if (!name || !*name)
		return CLONE_ENCAP_NONE;
	for (i = 0; i < CLONE_ENCAP_MAX; i++)
		if (strcmp(name, encap_names[i]) == 0)
			return i;
	return -EINVAL;
}

/* See clone_int.h. */
void clone_srv_set_encap(struct clone_srv_state *s, const json_t *cs)
{
	int e = clone_encap_parse(json_string_value(json_object_get(cs, "encap_type")));
	json_int_t port = json_integer_value(json_object_get(cs, "dst_port"));

	/* The store has validated the fields; an unknown name (a newer
	 * store) falls back to what needs no route. */
	s->encap = e < 0 ? CLONE_ENCAP_NONE : (uint32_t)e;
	s->vni = (uint32_t)json_integer_value(json_object_get(cs, "vni")) & CLONE_VNI_MAX;
	s->erspan_session = (uint16_t)(json_integer_value(json_object_get(cs, "erspan_session_id")) &
				       CLONE_ERSPAN_SESSION_MAX);
	if (port <= 0 || port > 65535)
		port = s->encap == CLONE_ENCAP_GENEVE ? CLONE_GENEVE_PORT : CLONE_VXLAN_PORT;
	s->dst_port = (uint16_t)port;
}

/* See clone_int.h. */
void clone_srv_find_route(struct clone_srv_state *s)
{
	union addr_any dst = clone_srv_addr(s, 0), own;
	struct netif_route rt;
	char ifname[IF_NAMESIZE] = "";
	int mask;

	if (netif_route_get(&dst, &rt) < 0 || !if_indextoname((unsigned)rt.ifindex, ifname)) {
		if (!s->warned)
			log_warn("clone", "clone server %s: no route to the collector: its frames are counted, "
				  "not sent",
				  s->ip);
		s->warned = true;
		s->ifindex = 0;
		s->ifname[0] = '\0';
		s->outer_src_be = 0;
		memset(&s->outer_src6, 0, sizeof(s->outer_src6));
		s->mtu = 0;
		memset(s->src_mac, 0, 6);
		return;
	}
	s->warned = false;
	s->ifindex = rt.ifindex;
	snprintf(s->ifname, sizeof(s->ifname), "%s", ifname);
	/* The outer source is the SE's address on the egress interface: the
	 * route's preferred source, else the interface's address on the
	 * next hop's subnet. */
	addr_any_of(dst.sa.sa_family, &own);
	if (addr_is_any(&rt.src))
		netif_prefix_on(ifname, addr_is_any(&rt.gw) ? &dst : &rt.gw, NULL, &mask, &own);
	else
		own = rt.src;
	if (s->af == AF_INET6) {
		s->outer_src6 = own.in6.sin6_addr;
		s->if_addr6 = s->outer_src6;
	} else {
		s->outer_src_be = own.in.sin_addr.s_addr;
		s->if_addr_be = s->outer_src_be;
	}
	s->mtu = rt.mtu;
	clone_net_if_mac(ifname, s->src_mac);
}

/* See clone_int.h. */
uint32_t clone_srv_path_mtu(const struct clone_srv_state *s)
{
	union addr_any dst = clone_srv_addr(s, 0);
	struct netif_route rt;

	/* Directly connected: the route to the server is the subnet's, on the
	 * clone interface (a route mtu, else the interface's). */
	if (!s->ifindex || netif_route_get(&dst, &rt) < 0 || rt.ifindex != s->ifindex)
		return 0;
	return rt.mtu;
}

static const char *jstr(const json_t *o, const char *key)
{
	const char *v = json_string_value(json_object_get(o, key));

	return v ? v : "";
}

struct rule {
	json_int_t number;
	struct clone_filter f;
};

static int by_number(const void *a, const void *b)
{
	const struct rule *x = a, *y = b;

	return x->number < y->number ? -1 : x->number > y->number;
}

/* See clone_int.h. */
void clone_prof_parse(const json_t *prof, const struct clone_prof *old, struct clone_prof *ret)
{
	struct rule rules[CLONE_MAX_FILTERS];
	const json_t *f;
	size_t i, n = 0;
	json_int_t v;

	memset(ret, 0, sizeof(*ret));
	memset(rules, 0, sizeof(rules));
	json_array_foreach(json_object_get(prof, "filters"), i, f) {
		const json_t *pfx = json_object_get(f, "client_prefix");
		struct rule *r;
		struct in_addr a;
		struct in6_addr a6;
		json_int_t lo, hi;
		int mask = 0;

		if (n == CLONE_MAX_FILTERS)
			break;
		r = &rules[n++];
		r->number = json_integer_value(json_object_get(f, "rule_number"));
		r->f.action = strcmp(jstr(f, "action"), "CLONE_FILTER_REJECT") == 0 ? CLONE_FILTER_REJECT
										   : CLONE_FILTER_ACCEPT;
		if (strcmp(jstr(f, "direction"), "CLONE_DIR_TO_SERVER") == 0)
			r->f.direction = CLONE_DIR_TO_SERVER;
		else if (strcmp(jstr(f, "direction"), "CLONE_DIR_FROM_SERVER") == 0)
			r->f.direction = CLONE_DIR_FROM_SERVER;
		else
			r->f.direction = CLONE_DIR_BOTH;
		if (pfx && inet_pton(AF_INET, jstr(json_object_get(pfx, "ip_addr"), "addr"), &a) == 1) {
			mask = (int)json_integer_value(json_object_get(pfx, "mask"));
			mask = mask < 0 ? 0 : mask > 32 ? 32 : mask;
			r->f.client_mask = mask ? htonl(~0u << (32 - mask)) : 0;
			r->f.client_net = a.s_addr & r->f.client_mask;
		} else if (pfx && inet_pton(AF_INET6, jstr(json_object_get(pfx, "ip_addr"), "addr"),
					    &a6) == 1) {
			/* An IPv6 prefix: the program holds the client's IPv6
			 * address (an IPv4 client's ::ffff:a.b.c.d) against it. */
			mask = (int)json_integer_value(json_object_get(pfx, "mask"));
			mask = mask < 0 ? 0 : mask > 128 ? 128 : mask;
			r->f.is6 = 1;
			for (int w = 0; w < 4; w++) {
				int bits = mask - 32 * w;
				uint32_t m = bits >= 32 ? ~0u : bits <= 0 ? 0 : ~0u << (32 - bits);
				uint32_t word;

				memcpy(&word, &a6.s6_addr[4 * w], 4);
				r->f.client_mask6[w] = htonl(m);
				r->f.client_net6[w] = word & htonl(m);
			}
		}
		lo = json_is_integer(json_object_get(f, "server_port_start"))
			     ? json_integer_value(json_object_get(f, "server_port_start"))
			     : 0;
		hi = json_is_integer(json_object_get(f, "server_port_end"))
			     ? json_integer_value(json_object_get(f, "server_port_end"))
			     : 65535;
		r->f.port_start = (uint16_t)(lo < 0 ? 0 : lo > 65535 ? 65535 : lo);
		r->f.port_end = (uint16_t)(hi < 0 ? 0 : hi > 65535 ? 65535 : hi);
	}
	qsort(rules, n, sizeof(rules[0]), by_number);
	for (i = 0; i < n; i++)
		ret->filters[i] = rules[i].f;
	ret->n_filters = (uint32_t)n;
	v = json_integer_value(json_object_get(prof, "snaplen"));
	ret->snaplen = v > 0 ? (uint32_t)v : 0;
	v = json_integer_value(json_object_get(prof, "max_bytes_per_flow"));
	ret->max_bytes_per_flow = v > 0 ? (uint64_t)v : 0;
	ret->budget_action = strcmp(jstr(prof, "budget_action"), "CLONE_BUDGET_STOP") == 0 ? CLONE_BUDGET_STOP
											   : CLONE_BUDGET_HEADERS;
	/* A new generation whenever the rules change, so connections decide
	 * their client-prefix bits again on their next frame. */
	ret->gen = old->gen ? old->gen : 1;
	if (old->n_filters != ret->n_filters ||
	    memcmp(old->filters, ret->filters, sizeof(ret->filters[0]) * ret->n_filters) != 0)
		ret->gen = old->gen + 1 ? old->gen + 1 : 1;
}

/* See clone_int.h. */
void clone_prof_push(struct clone_engine *ce, int v, const struct clone_vs_state *vs)
{
	struct clone_prof val;
	uint32_t key = (uint32_t)v;

	memset(&val, 0, sizeof(val));
	if (vs->used)
		val = vs->prof;
	bpf_map_update_elem(ce->profs_fd, &key, &val, BPF_ANY);
}
