/* addr.c: socket addresses of either family, parsed and printed the one way every module shares. */
#include "lib/addr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

int addr_parse(const char *text, union addr_any *ret)
{
	union addr_any a;

	memset(&a, 0, sizeof(a));
	if (!text)
		return -EINVAL;
	/* inet_pton() refuses short IPv4 forms ("10.1"), leading junk, ports,
	 * brackets and zones ("fe80::1%eth0"): the zone is the interface field. */
	if (inet_pton(AF_INET, text, &a.in.sin_addr) == 1)
		a.sa.sa_family = AF_INET;
	else if (inet_pton(AF_INET6, text, &a.in6.sin6_addr) == 1)
		a.sa.sa_family = AF_INET6;
	else
		return -EINVAL;
	if (ret)
		*ret = a;
	return a.sa.sa_family;
}

socklen_t addr_len(const union addr_any *a)
{
	return a->sa.sa_family == AF_INET6 ? sizeof(a->in6) : sizeof(a->in);
}

uint16_t addr_port(const union addr_any *a)
{
	return ntohs(a->sa.sa_family == AF_INET6 ? a->in6.sin6_port : a->in.sin_port);
}

void addr_set_port(union addr_any *a, uint16_t port)
{
	if (a->sa.sa_family == AF_INET6)
		a->in6.sin6_port = htons(port);
	else
		a->in.sin_port = htons(port);
}

bool addr_equal(const union addr_any *a, const union addr_any *b)
{
	if (a->sa.sa_family != b->sa.sa_family)
		return false;
	if (a->sa.sa_family == AF_INET6)
		return a->in6.sin6_port == b->in6.sin6_port &&
		       memcmp(&a->in6.sin6_addr, &b->in6.sin6_addr, 16) == 0;
	return a->in.sin_port == b->in.sin_port && a->in.sin_addr.s_addr == b->in.sin_addr.s_addr;
}

bool addr_is_any(const union addr_any *a)
{
	if (a->sa.sa_family == AF_INET6)
		return IN6_IS_ADDR_UNSPECIFIED(&a->in6.sin6_addr);
	if (a->sa.sa_family == AF_INET)
		return a->in.sin_addr.s_addr == htonl(INADDR_ANY);
	return true;
}

void addr_any_of(int af, union addr_any *ret)
{
	memset(ret, 0, sizeof(*ret));
	ret->sa.sa_family = (sa_family_t)af;
}

const char *addr_ntop(const union addr_any *a, char buf[ADDR_STRLEN])
{
	const void *p = a->sa.sa_family == AF_INET6 ? (const void *)&a->in6.sin6_addr
						    : (const void *)&a->in.sin_addr;

	if ((a->sa.sa_family != AF_INET && a->sa.sa_family != AF_INET6) ||
	    !inet_ntop(a->sa.sa_family, p, buf, ADDR_STRLEN))
		snprintf(buf, ADDR_STRLEN, "?");
	return buf;
}

const char *addr_ntop_port(const union addr_any *a, char buf[ADDR_PORT_STRLEN])
{
	char ip[ADDR_STRLEN];

	addr_ntop(a, ip);
	/* Brackets keep the port apart from an IPv6 address's colons (RFC 3986). */
	snprintf(buf, ADDR_PORT_STRLEN, a->sa.sa_family == AF_INET6 ? "[%s]:%u" : "%s:%u", ip,
		 addr_port(a));
	return buf;
}

const char *addr_canonical(const char *text, char buf[ADDR_STRLEN])
{
	union addr_any a;

	if (addr_parse(text, &a) < 0)
		return NULL;
	return addr_ntop(&a, buf);
}

bool addr_is_link_local(const union addr_any *a)
{
	return a->sa.sa_family == AF_INET6 && IN6_IS_ADDR_LINKLOCAL(&a->in6.sin6_addr);
}
