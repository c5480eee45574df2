/* rules_clone.c: the rules of a traffic clone profile that need the host: each clone server's interface, subnet and route, and the filters. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/rules_int.h"
#include "config/schema.h"
#include "lib/addr.h"
#include "lib/netif.h"
#include "lib/util.h"

/*
 * @ip of clone_servers[@n] must be a host of the directly connected subnet
 * @net/@mask: not the SE's own address, nor the subnet's network or
 * broadcast address (frames to those would never reach a clone server).
 */
static int check_clone_host(size_t n, const char *ip, const union addr_any *a,
			    const union addr_any *net, int mask, char **ret_err)
{
	char ifname[IF_NAMESIZE] = "", nets[ADDR_STRLEN];
	const char *what = netif_host_problem(a, mask);

	addr_ntop(net, nets);
	if (what) {
		*ret_err = xasprintf("clone_servers[%zu].ip_address: %s is the %s address of subnet %s/%d, "
				     "not a host",
				     n, ip, what, nets, mask);
		return -EINVAL;
	}
	if (netif_is_local(a, ifname) == 1) {
		*ret_err = xasprintf("clone_servers[%zu].ip_address: %s is an address of this SE "
				     "(interface '%s'), not a clone server",
				     n, ip, ifname);
		return -EINVAL;
	}
	return 0;
}

/* Sets *ret_err to @msg (taken) and, so that a wrong subnet or interface
 * shows what there is, "(<@note>interfaces: <this SE's>)". Returns -EINVAL. */
static int with_interfaces(char *msg, const char *note, char **ret_err)
{
	char *have = netif_describe();

	*ret_err = xasprintf("%s (%sinterfaces: %s)", msg, note, have);
	free(have);
	free(msg);
	return -EINVAL;
}

/* Whether the first @len bits of @a and @b (same family) are equal. */
static bool in_prefix(const union addr_any *a, const union addr_any *b, int len)
{
	const unsigned char *x = a->sa.sa_family == AF_INET6 ? a->in6.sin6_addr.s6_addr
							     : (const unsigned char *)&a->in.sin_addr;
	const unsigned char *y = b->sa.sa_family == AF_INET6 ? b->in6.sin6_addr.s6_addr
							     : (const unsigned char *)&b->in.sin_addr;

	for (int i = 0; len > 0; i++, len -= 8) {
		unsigned char m = len >= 8 ? 0xff : (unsigned char)(0xff << (8 - len));
		if ((x[i] & m) != (y[i] & m))
			return false;
	}
	return true;
}

/* A clone server must leave by an interface of this host on its subnet. */
static int check_clone_servers(json_t *obj, char **ret_err)
{
	json_t *cs;
	size_t i;

	json_array_foreach(json_object_get(obj, "clone_servers"), i, cs)
	{
		json_t *subnet = json_object_get(cs, "subnet");
		const char *netref = json_string_value(json_object_get(cs, "network_ref"));
		const char *ip = rules_str(json_object_get(cs, "ip_address"), "addr");
		char ifname[IF_NAMESIZE] = "";
		union addr_any a;
		int r;

		if (addr_parse(ip, &a) < 0)
			addr_any_of(AF_INET, &a);
		/* Encapsulated: a collector any number of hops away, which
		 * the routing table must reach; the directly-connected rules
		 * below are for CLONE_ENCAP_NONE only. */
		if (json_object_get(cs, "encap_type") &&
		    strcmp(json_string_value(json_object_get(cs, "encap_type")), "CLONE_ENCAP_NONE") != 0) {
			const char *encap = json_string_value(json_object_get(cs, "encap_type"));
			struct netif_route rt;

			/* An IPv6 collector gets an IPv6 outer header; a
			 * link-local one is on no route. */
			if (addr_is_link_local(&a)) {
				*ret_err = xasprintf("clone_servers[%zu].ip_address: collector %s is "
						     "link-local: encap_type %s needs an address a route "
						     "leads to",
						     i + 1, ip, encap);
				return -EINVAL;
			}
			r = netif_route_get(&a, &rt);
			if (r < 0) {
				*ret_err = xasprintf("clone_servers[%zu].ip_address: collector %s is not "
						     "reachable by a route from this SE (encap_type %s): %s",
						     i + 1, ip, encap, strerror(-r));
				return -EINVAL;
			}
			if (netif_is_local(&a, ifname) == 1) {
				*ret_err = xasprintf("clone_servers[%zu].ip_address: %s is an address of this SE "
						     "(interface '%s'), not a collector",
						     i + 1, ip, ifname);
				return -EINVAL;
			}
			continue;
		}
		if (!subnet && !netref) {
			*ret_err = xasprintf("clone_servers[%zu]: set subnet or network_ref for "
					     "clone server %s (the SE interface the clones leave by)",
					     i + 1, ip);
			return -EINVAL;
		}
		/* fe80::/64 is on every interface: only the name says which. */
		if (addr_is_link_local(&a) && !netref) {
			*ret_err = xasprintf("clone_servers[%zu].network_ref: clone server %s is "
					     "link-local: set network_ref to the interface it is on",
					     i + 1, ip);
			return -EINVAL;
		}
		if (netref && netif_exists(netref) < 0)
			return with_interfaces(xasprintf("clone_servers[%zu].network_ref: no "
							 "interface '%s' on this SE",
							 i + 1, netref),
					       "", ret_err);
		if (subnet) {
			const char *net = rules_str(json_object_get(subnet, "ip_addr"), "addr");
			int mask = (int)json_integer_value(json_object_get(subnet, "mask"));
			union addr_any n;
			int r2;

			if (addr_parse(net, &n) < 0)
				addr_any_of(AF_INET, &n);
			if (n.sa.sa_family != a.sa.sa_family) {
				*ret_err = xasprintf("clone_servers[%zu].subnet: %s/%d is an %s subnet "
						     "but ip_address %s is an %s address",
						     i + 1, net, mask,
						     n.sa.sa_family == AF_INET6 ? "IPv6" : "IPv4", ip,
						     a.sa.sa_family == AF_INET6 ? "IPv6" : "IPv4");
				return -EINVAL;
			}
			/* A link-local subnet is on every interface: the named one counts. */
			if (netref && addr_is_link_local(&n)) {
				r2 = netif_prefix_on(netref, &n, NULL, NULL, NULL);
				snprintf(ifname, sizeof(ifname), "%s", netref);
			} else {
				r2 = netif_for_prefix(&n, mask, ifname, NULL);
			}
			if (r2 < 0)
				return with_interfaces(xasprintf("clone_servers[%zu].subnet: %s/%d is "
								 "not the subnet of any interface "
								 "of this SE",
								 i + 1, net, mask),
						       "", ret_err);
			if (!in_prefix(&a, &n, mask)) {
				*ret_err = xasprintf("clone_servers[%zu].ip_address: %s is not in "
						     "subnet %s/%d",
						     i + 1, ip, net, mask);
				return -EINVAL;
			}
			if (netref && strcmp(netref, ifname)) {
				*ret_err = xasprintf("clone_servers[%zu].network_ref: subnet %s/%d is "
						     "on interface '%s', not '%s'",
						     i + 1, net, mask, ifname, netref);
				return -EINVAL;
			}
			r = check_clone_host(i + 1, ip, &a, &n, mask, ret_err);
			if (r < 0)
				return r;
		} else {
			/* network_ref alone: the address must still be on one of
			 * that interface's subnets (directly connected). */
			union addr_any net;
			int mask = 0;

			if (netif_prefix_on(netref, &a, &net, &mask, NULL) < 0)
				return with_interfaces(xasprintf("clone_servers[%zu].ip_address: %s "
								 "is not in a subnet of interface "
								 "'%s'",
								 i + 1, ip, netref),
						       "network_ref; ", ret_err);
			r = check_clone_host(i + 1, ip, &a, &net, mask, ret_err);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

/*
 * The profile's filters, snaplen and budget (docs/clone-engine.md): a rule's
 * client_prefix is a network (no host bits), its port range runs upwards, and
 * a snaplen keeps at least a minimal frame. Duplicate rule numbers are caught
 * by the schema (rule_number is the key of filters[]).
 */
static int check_clone_filters(json_t *obj, char **ret_err)
{
	json_int_t snap = json_integer_value(json_object_get(obj, "snaplen"));
	json_t *fl;
	size_t i;

	if (snap > 0 && snap < 64) {
		*ret_err = xasprintf("snaplen: %lld is shorter than a minimal frame (0 keeps all of "
				     "each frame, else at least 64)",
				     (long long)snap);
		return -EINVAL;
	}
	json_array_foreach(json_object_get(obj, "filters"), i, fl)
	{
		json_t *pfx = json_object_get(fl, "client_prefix");
		json_t *ps = json_object_get(fl, "server_port_start");
		json_t *pe = json_object_get(fl, "server_port_end");

		if (pfx) {
			const char *a = rules_str(json_object_get(pfx, "ip_addr"), "addr");
			int mask = (int)json_integer_value(json_object_get(pfx, "mask"));
			uint32_t be = 0, m = mask ? htonl(~0u << (32 - mask)) : 0, net;
			char shown[INET_ADDRSTRLEN];

			cfg_parse_ipv4(a, &be);
			net = be & m;
			if (net != be) {
				inet_ntop(AF_INET, &net, shown, sizeof(shown));
				*ret_err = xasprintf("filters[%zu].client_prefix: %s/%d has host bits set "
						     "(the network is %s/%d)",
						     i + 1, a, mask, shown, mask);
				return -EINVAL;
			}
		}
		if (ps && pe && json_integer_value(pe) < json_integer_value(ps)) {
			*ret_err = xasprintf("filters[%zu].server_port_end: %lld is below "
					     "server_port_start %lld (an inverted port range)",
					     i + 1, (long long)json_integer_value(pe),
					     (long long)json_integer_value(ps));
			return -EINVAL;
		}
	}
	return 0;
}

int cfg_rules_trafficcloneprofile(json_t *obj, const struct cfg_cache *all, char **ret_err)
{
	int r = check_clone_servers(obj, ret_err);

	return r < 0 ? r : check_clone_filters(obj, ret_err);
}
