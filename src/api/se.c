/* se.c: read-only views of the service engine itself: its interfaces, for the UI. */
#include "api/se.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "lib/addr.h"
#include "lib/util.h"

static int by_name(const void *a, const void *b)
{
	const json_t *x = *(const json_t *const *)a, *y = *(const json_t *const *)b;

	return strcmp(json_string_value(json_object_get(x, "name")),
		      json_string_value(json_object_get(y, "name")));
}

/* The entry of interface @name in @byname, created on first sight. Borrowed. */
static json_t *entry(json_t *byname, const char *name)
{
	json_t *e = json_object_get(byname, name);

	if (!e) {
		e = json_pack("{s:s, s:[]}", "name", name, "subnets");
		json_object_set_new(byname, name, e);
	}
	return e;
}

json_t *api_se_interfaces(void)
{
	struct ifaddrs *ifa, *i;
	json_t *byname = json_object(), *out = json_array(), *e;
	json_t **sorted;
	const char *k;
	size_t n = 0;

	if (getifaddrs(&ifa) == -1) {
		json_decref(byname);
		json_decref(out);
		return NULL;
	}
	for (i = ifa; i; i = i->ifa_next) {
		char net[ADDR_STRLEN], *pfx;
		union addr_any a;
		const unsigned char *m;
		unsigned char *ab;
		json_t *subnets;
		size_t j, nb;
		int len = 0;
		bool dup = false;

		if (i->ifa_flags & IFF_LOOPBACK)
			continue;
		/* AF_PACKET lists every interface, also those without an address. */
		e = entry(byname, i->ifa_name);
		if (!i->ifa_addr || !i->ifa_netmask ||
		    (i->ifa_addr->sa_family != AF_INET && i->ifa_addr->sa_family != AF_INET6))
			continue;
		memset(&a, 0, sizeof(a));
		memcpy(&a, i->ifa_addr,
		       i->ifa_addr->sa_family == AF_INET6 ? sizeof(a.in6) : sizeof(a.in));
		/* fe80::/64 is on every interface: no subnet to pick a clone server by. */
		if (addr_is_link_local(&a))
			continue;
		nb = a.sa.sa_family == AF_INET6 ? 16 : 4;
		ab = a.sa.sa_family == AF_INET6 ? a.in6.sin6_addr.s6_addr
						: (unsigned char *)&a.in.sin_addr;
		m = a.sa.sa_family == AF_INET6
			    ? ((struct sockaddr_in6 *)i->ifa_netmask)->sin6_addr.s6_addr
			    : (const unsigned char *)&((struct sockaddr_in *)i->ifa_netmask)->sin_addr;
		for (j = 0; j < nb; j++) {
			ab[j] &= m[j];
			len += __builtin_popcount(m[j]);
		}
		pfx = xasprintf("%s/%d", addr_ntop(&a, net), len);
		/* A VIP added to an interface's subnet repeats that subnet. */
		subnets = json_object_get(e, "subnets");
		for (j = 0; j < json_array_size(subnets); j++)
			dup |= strcmp(json_string_value(json_array_get(subnets, j)), pfx) == 0;
		if (!dup)
			json_array_append_new(subnets, json_string(pfx));
		free(pfx);
	}
	freeifaddrs(ifa);

	sorted = xcalloc(json_object_size(byname) + 1, sizeof(*sorted));
	json_object_foreach(byname, k, e) sorted[n++] = e;
	qsort(sorted, n, sizeof(*sorted), by_name);
	for (size_t j = 0; j < n; j++)
		json_array_append(out, sorted[j]);
	free(sorted);
	json_decref(byname);
	return out;
}
