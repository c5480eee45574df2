/* netif.c: interface lookups by subnet or name through getifaddrs(). */
#include "lib/netif.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "lib/util.h"

static uint32_t mask_be(int len)
{
	return len <= 0 ? 0 : htonl(~0u << (32 - len));
}

static int find(uint32_t addr_be, int mask, int want_exact_mask, char ret_ifname[IF_NAMESIZE],
		uint32_t *ret_addr_be)
{
	struct ifaddrs *ifa, *i;
	int r = -ENOENT;

	if (getifaddrs(&ifa) == -1)
		return -errno;
	for (i = ifa; i; i = i->ifa_next) {
		uint32_t a, m;
		int len;

		if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET || !i->ifa_netmask)
			continue;
		a = ((struct sockaddr_in *)i->ifa_addr)->sin_addr.s_addr;
		m = ((struct sockaddr_in *)i->ifa_netmask)->sin_addr.s_addr;
		len = __builtin_popcount(m);
		if (want_exact_mask) {
			/* The clone subnet must be the interface's own subnet. */
			if (len != mask || (a & m) != (addr_be & mask_be(mask)))
				continue;
		} else if ((a & m) != (addr_be & m)) {
			continue;
		}
		snprintf(ret_ifname, IF_NAMESIZE, "%s", i->ifa_name);
		if (ret_addr_be)
			*ret_addr_be = a;
		r = 0;
		break;
	}
	freeifaddrs(ifa);
	return r;
}

int netif_for_subnet(uint32_t net_be, int mask, char ret_ifname[IF_NAMESIZE], uint32_t *ret_addr_be)
{
	return find(net_be, mask, 1, ret_ifname, ret_addr_be);
}

int netif_for_addr(uint32_t addr_be, char ret_ifname[IF_NAMESIZE], uint32_t *ret_addr_be)
{
	return find(addr_be, 0, 0, ret_ifname, ret_addr_be);
}

int netif_exists(const char *name)
{
	return if_nametoindex(name) ? 0 : -ENOENT;
}

char *netif_describe(void)
{
	struct ifaddrs *ifa, *i;
	char buf[1024] = "";

	if (getifaddrs(&ifa) == -1)
		return xstrdup("?");
	for (i = ifa; i; i = i->ifa_next) {
		char a[INET_ADDRSTRLEN];
		if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET || !i->ifa_netmask)
			continue;
		if (strcmp(i->ifa_name, "lo") == 0)
			continue;
		inet_ntop(AF_INET, &((struct sockaddr_in *)i->ifa_addr)->sin_addr, a, sizeof(a));
		snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), "%s%s %s/%d", *buf ? ", " : "",
			 i->ifa_name, a,
			 __builtin_popcount(
				 ((struct sockaddr_in *)i->ifa_netmask)->sin_addr.s_addr));
	}
	freeifaddrs(ifa);
	return xstrdup(*buf ? buf : "none");
}
