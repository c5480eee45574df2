/* netif.h: which local interface owns a subnet; used to place clone servers. */
#ifndef CLONELB_LIB_NETIF_H
#define CLONELB_LIB_NETIF_H

#include <net/if.h>
#include <stdint.h>

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

/* Returns 0 if interface @name exists, -ENOENT if not. */
int netif_exists(const char *name);

/* Comma-separated "name a.b.c.d/len" list of this host's IPv4 interfaces, for
 * error messages. Caller frees. */
char *netif_describe(void);

#endif
