/* netif.h: which local interface owns a subnet; used to place clone servers. */
#ifndef CLONELB_LIB_NETIF_H
#define CLONELB_LIB_NETIF_H

#include <net/if.h>
#include <stdint.h>
#include <sys/types.h>

#include "lib/addr.h"

/*
 * Finds the up-or-down interface of this network namespace that has an IPv4
 * address inside @net_be/@mask (network byte order). On success returns 0 and
 * copies its name to @ret_ifname and, if @ret_addr_be is not NULL, the
 * interface's address. Returns -ENOENT when no interface has one.
 */
int netif_for_subnet(uint32_t net_be, int mask, char ret_ifname[IF_NAMESIZE], uint32_t *ret_addr_be);

/*
 * Finds the interface whose IPv4 subnet contains @addr_be. Same returns as
 * netif_for_subnet().
 */
int netif_for_addr(uint32_t addr_be, char ret_ifname[IF_NAMESIZE], uint32_t *ret_addr_be);

/*
 * The same lookups for either family (IPv4 or IPv6, from @net's or @a's).
 * netif_for_prefix(): the interface whose own subnet is @net/@mask, its
 * address on it in *ret_addr. netif_prefix_on(): the subnet of interface
 * @ifname that contains @a (network in *ret_net, length in *ret_mask, the
 * interface's address in *ret_if_addr; each may be NULL). netif_is_local():
 * as netif_addr_is_local(). Returns 0 (1 for netif_is_local()), -ENOENT when
 * none matches, or -errno. Link-local IPv6 subnets (fe80::/64) match too.
 */
int netif_for_prefix(const union addr_any *net, int mask, char ret_ifname[IF_NAMESIZE],
		     union addr_any *ret_addr);
int netif_prefix_on(const char *ifname, const union addr_any *a, union addr_any *ret_net,
		    int *ret_mask, union addr_any *ret_if_addr);
int netif_is_local(const union addr_any *a, char ret_ifname[IF_NAMESIZE]);

/*
 * As netif_host_part_problem() for either family: for IPv6, "Subnet-Router
 * anycast" when @a is the all-zero host of its /@mask (never for /127, /128).
 */
const char *netif_host_problem(const union addr_any *a, int mask);

/*
 * The front interface for a VIP @a that moves between hosts (active/standby):
 * the interface, not loopback, with a subnet of @a's family that holds @a,
 * ignoring host addresses (/32, /128: VIPs added before), IPv4 aliases
 * ("eth0:vip") and link-local subnets. Returns 0 with its name in
 * @ret_ifname, -ENOENT when there is none, or -errno.
 */
int netif_front_for(const union addr_any *a, char ret_ifname[IF_NAMESIZE]);

/* Returns 0 if interface @name exists, -ENOENT if not. */
int netif_exists(const char *name);

/* Comma-separated "name a.b.c.d/len" (or "name x::y/len") list of this host's
 * interface addresses, IPv4 and IPv6 but not link-local, for error messages.
 * Caller frees. */
char *netif_describe(void);

/*
 * Whether @addr_be is an IPv4 address of an interface of this network
 * namespace: 1 (and its name in @ret_ifname if not NULL), 0, or -errno.
 */
int netif_addr_is_local(uint32_t addr_be, char ret_ifname[IF_NAMESIZE]);

/*
 * Finds the IPv4 subnet of interface @ifname that contains @addr_be. Returns
 * 0 with *ret_mask and, where not NULL, *ret_net_be and the interface's own
 * address on it in *ret_if_addr_be; -ENOENT when none does, or -errno.
 */
int netif_subnet_on(const char *ifname, uint32_t addr_be, uint32_t *ret_net_be, int *ret_mask,
		    uint32_t *ret_if_addr_be);

/*
 * "network" or "broadcast" when @addr_be is that address of its /@mask subnet
 * (never for /31 and /32), else NULL.
 */
const char *netif_host_part_problem(uint32_t addr_be, int mask);

/* What the kernel's routing table says of one destination (IPv4 or IPv6). */
struct netif_route {
	int ifindex;        /* the interface packets to it leave by */
	union addr_any src; /* the source address the kernel picks (unspecified if the route has none) */
	union addr_any gw;  /* the next hop, unspecified when directly connected */
	uint32_t mtu;       /* the path MTU: the route's (or a learnt PMTU), else the interface's */
};

/*
 * Asks the routing table (RTM_GETROUTE, as `ip route get`) how a packet to
 * @dst (IPv4 or IPv6, port ignored) leaves this host. Returns 0 and fills
 * @ret (src and gw of @dst's family), -ENETUNREACH when no route leads there
 * (also a blackhole, unreachable or prohibit route), or another -errno.
 */
int netif_route_get(const union addr_any *dst, struct netif_route *ret);

/* The claim by which one clonelbd owns its network namespace's tc filters,
 * maps and routes. */
#define NETIF_NETNS_CLAIM "clonelb/clonelbd"

/*
 * Claims this network namespace for the caller under the abstract Unix socket
 * name @name (abstract names are per network namespace and vanish with the
 * process). Returns the descriptor to keep open for as long as the claim
 * holds (close-on-exec), or -EADDRINUSE with *ret_owner (caller frees) naming
 * the live owner ("pid N: its command line"), or another -errno.
 */
int netif_claim_netns(const char *name, char **ret_owner);

/*
 * Whether somebody holds the claim @name of netif_claim_netns() in this
 * network namespace: 1 with its pid in *ret_pid (0 if it cannot be learnt),
 * 0 if nobody does, or -errno.
 */
int netif_netns_owner(const char *name, pid_t *ret_pid);

#endif
