/* netif.c: interface lookups by subnet or name through getifaddrs(), IPv4 and IPv6; one daemon per network namespace. */
#include "lib/netif.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/time.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "lib/addr.h"
#include "lib/util.h"

/* The address bytes of @sa (4 or 16 of them in *ret_n), or NULL for another family. */
static const unsigned char *addr_bytes(const struct sockaddr *sa, int *ret_n)
{
	if (sa->sa_family == AF_INET) {
		*ret_n = 4;
		return (const unsigned char *)&((const struct sockaddr_in *)sa)->sin_addr;
	}
	if (sa->sa_family == AF_INET6) {
		*ret_n = 16;
		return (const unsigned char *)&((const struct sockaddr_in6 *)sa)->sin6_addr;
	}
	return NULL;
}

/* Whether the first @len bits of @a and @b (@n bytes each) are equal. */
static bool same_prefix(const unsigned char *a, const unsigned char *b, int n, int len)
{
	for (int i = 0; i < n && len > 0; i++, len -= 8) {
		unsigned char m = len >= 8 ? 0xff : (unsigned char)(0xff << (8 - len));
		if ((a[i] & m) != (b[i] & m))
			return false;
	}
	return true;
}

/* Prefix length of netmask @m (@n bytes). */
static int mask_len(const unsigned char *m, int n)
{
	int len = 0;

	for (int i = 0; i < n; i++)
		len += __builtin_popcount(m[i]);
	return len;
}

/* Copies the first @len bits of @a (@n bytes) into @out, the rest zero. */
static void prefix_of(const unsigned char *a, int n, int len, unsigned char *out)
{
	for (int i = 0; i < n; i++, len -= 8)
		out[i] = len >= 8 ? a[i] : len > 0 ? (unsigned char)(a[i] & (0xff << (8 - len))) : 0;
}

static void to_addr(const struct sockaddr *sa, union addr_any *ret)
{
	memset(ret, 0, sizeof(*ret));
	memcpy(ret, sa, sa->sa_family == AF_INET6 ? sizeof(ret->in6) : sizeof(ret->in));
	addr_set_port(ret, 0);
}

/* What find() looks for. */
enum find_how {
	FIND_CONTAINS, /* a subnet that contains the address */
	FIND_EXACT,    /* the subnet address/mask itself */
	FIND_FRONT,    /* FIND_CONTAINS, of a front interface (netif_front_for()) */
};

/* Whether address @i of interface @name is not a front subnet: a loopback
 * one, an IPv4 alias ("eth0:vip" is an address added to its interface, not
 * the interface's subnet), a host address (/32, /128: @len of @n bytes) or
 * link-local. */
static bool not_front(const struct ifaddrs *i, int len, int n)
{
	union addr_any own;

	to_addr(i->ifa_addr, &own);
	return (i->ifa_flags & IFF_LOOPBACK) || strchr(i->ifa_name, ':') || len == n * 8 ||
	       addr_is_link_local(&own);
}

/*
 * Walks the addresses of @a's family. FIND_EXACT: the interface's own subnet
 * must be @a/@mask; else the subnet must contain @a (FIND_FRONT: and be a
 * front interface's). @ifname, when not NULL, limits the walk to that
 * interface. Fills what the callers ask for.
 */
static int find(const union addr_any *a, int mask, enum find_how how, const char *ifname,
		char ret_ifname[IF_NAMESIZE], union addr_any *ret_addr, union addr_any *ret_net,
		int *ret_mask)
{
	struct ifaddrs *ifa, *i;
	const unsigned char *want;
	int r = -ENOENT, n;

	want = addr_bytes(&a->sa, &n);
	if (!want)
		return -EAFNOSUPPORT;
	if (getifaddrs(&ifa) == -1)
		return -errno;
	for (i = ifa; i; i = i->ifa_next) {
		const unsigned char *ia, *im;
		int in = 0, len;

		if (!i->ifa_addr || i->ifa_addr->sa_family != a->sa.sa_family || !i->ifa_netmask)
			continue;
		if (ifname && strcmp(i->ifa_name, ifname) != 0)
			continue;
		ia = addr_bytes(i->ifa_addr, &in);
		im = addr_bytes(i->ifa_netmask, &in);
		len = mask_len(im, in);
		if (how == FIND_EXACT) {
			/* The clone subnet must be the interface's own subnet. */
			if (len != mask || !same_prefix(ia, want, n, mask))
				continue;
		} else if (!same_prefix(ia, want, n, len) || (how == FIND_FRONT && not_front(i, len, n))) {
			continue;
		}
		if (ret_ifname)
			snprintf(ret_ifname, IF_NAMESIZE, "%s", i->ifa_name);
		if (ret_addr)
			to_addr(i->ifa_addr, ret_addr);
		if (ret_net) {
			to_addr(i->ifa_addr, ret_net);
			prefix_of(ia, n, len, (unsigned char *)addr_bytes(&ret_net->sa, &in));
		}
		if (ret_mask)
			*ret_mask = len;
		r = 0;
		break;
	}
	freeifaddrs(ifa);
	return r;
}

static void v4(uint32_t be, union addr_any *ret)
{
	addr_any_of(AF_INET, ret);
	ret->in.sin_addr.s_addr = be;
}

int netif_for_prefix(const union addr_any *net, int mask, char ret_ifname[IF_NAMESIZE],
		     union addr_any *ret_addr)
{
	return find(net, mask, FIND_EXACT, NULL, ret_ifname, ret_addr, NULL, NULL);
}

int netif_for_subnet(uint32_t net_be, int mask, char ret_ifname[IF_NAMESIZE], uint32_t *ret_addr_be)
{
	union addr_any a, own;
	int r;

	v4(net_be, &a);
	r = netif_for_prefix(&a, mask, ret_ifname, &own);
	if (r == 0 && ret_addr_be)
		*ret_addr_be = own.in.sin_addr.s_addr;
	return r;
}

int netif_for_addr(uint32_t addr_be, char ret_ifname[IF_NAMESIZE], uint32_t *ret_addr_be)
{
	union addr_any a, own;
	int r;

	v4(addr_be, &a);
	r = find(&a, 0, FIND_CONTAINS, NULL, ret_ifname, &own, NULL, NULL);
	if (r == 0 && ret_addr_be)
		*ret_addr_be = own.in.sin_addr.s_addr;
	return r;
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
		union addr_any a;
		char s[ADDR_STRLEN];
		const unsigned char *m;
		int n;

		if (!i->ifa_addr || !i->ifa_netmask || !addr_bytes(i->ifa_addr, &n))
			continue;
		if (strcmp(i->ifa_name, "lo") == 0)
			continue;
		to_addr(i->ifa_addr, &a);
		/* A link-local address is no subnet a clone server is configured by. */
		if (addr_is_link_local(&a))
			continue;
		m = addr_bytes(i->ifa_netmask, &n);
		snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), "%s%s %s/%d", *buf ? ", " : "",
			 i->ifa_name, addr_ntop(&a, s), mask_len(m, n));
	}
	freeifaddrs(ifa);
	return xstrdup(*buf ? buf : "none");
}

int netif_is_local(const union addr_any *a, char ret_ifname[IF_NAMESIZE])
{
	struct ifaddrs *ifa, *i;
	const unsigned char *want;
	int r = 0, n;

	want = addr_bytes(&a->sa, &n);
	if (!want)
		return -EAFNOSUPPORT;
	if (getifaddrs(&ifa) == -1)
		return -errno;
	for (i = ifa; i; i = i->ifa_next) {
		int in = 0;
		if (!i->ifa_addr || i->ifa_addr->sa_family != a->sa.sa_family)
			continue;
		if (memcmp(addr_bytes(i->ifa_addr, &in), want, (size_t)n) != 0)
			continue;
		if (ret_ifname)
			snprintf(ret_ifname, IF_NAMESIZE, "%s", i->ifa_name);
		r = 1;
		break;
	}
	freeifaddrs(ifa);
	return r;
}

int netif_front_for(const union addr_any *a, char ret_ifname[IF_NAMESIZE])
{
	return find(a, 0, FIND_FRONT, NULL, ret_ifname, NULL, NULL, NULL);
}

int netif_addr_is_local(uint32_t addr_be, char ret_ifname[IF_NAMESIZE])
{
	union addr_any a;

	v4(addr_be, &a);
	return netif_is_local(&a, ret_ifname);
}

int netif_prefix_on(const char *ifname, const union addr_any *a, union addr_any *ret_net,
		    int *ret_mask, union addr_any *ret_if_addr)
{
	return find(a, 0, FIND_CONTAINS, ifname, NULL, ret_if_addr, ret_net, ret_mask);
}

int netif_subnet_on(const char *ifname, uint32_t addr_be, uint32_t *ret_net_be, int *ret_mask,
		    uint32_t *ret_if_addr_be)
{
	union addr_any a, net, own;
	int r;

	v4(addr_be, &a);
	r = netif_prefix_on(ifname, &a, &net, ret_mask, &own);
	if (r < 0)
		return r;
	if (ret_net_be)
		*ret_net_be = net.in.sin_addr.s_addr;
	if (ret_if_addr_be)
		*ret_if_addr_be = own.in.sin_addr.s_addr;
	return 0;
}

const char *netif_host_part_problem(uint32_t addr_be, int mask)
{
	uint32_t host = ntohl(addr_be) & (mask >= 32 ? 0 : ~0u >> mask);

	/* A /31 has no network or broadcast address (RFC 3021), a /32 one host. */
	if (mask >= 31)
		return NULL;
	if (host == 0)
		return "network";
	if (host == (~0u >> mask))
		return "broadcast";
	return NULL;
}

const char *netif_host_problem(const union addr_any *a, int mask)
{
	if (a->sa.sa_family == AF_INET)
		return netif_host_part_problem(a->in.sin_addr.s_addr, mask);
	/* IPv6 has no broadcast; the all-zero host part of a subnet is its
	 * Subnet-Router anycast address (RFC 4291 2.6.1), held by routers. */
	if (a->sa.sa_family == AF_INET6 && mask < 127) {
		unsigned char net[16];
		prefix_of(a->in6.sin6_addr.s6_addr, 16, mask, net);
		if (memcmp(net, a->in6.sin6_addr.s6_addr, 16) == 0)
			return "Subnet-Router anycast";
	}
	return NULL;
}

/* "pid N (argv...)" of @pid, from /proc, for a message. Caller frees. */
static char *describe_pid(pid_t pid)
{
	char path[64], buf[1024];
	size_t n = 0, k;
	FILE *f;

	if (pid <= 0)
		return xstrdup("pid unknown");
	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	f = fopen(path, "re");
	if (f) {
		n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
	}
	if (!n)
		return xasprintf("pid %d", (int)pid);
	buf[n] = '\0';
	for (k = 0; k + 1 < n; k++)
		if (!buf[k])
			buf[k] = ' ';
	return xasprintf("pid %d: %s", (int)pid, buf);
}

/* Fills @sa and *ret_len with the abstract address @name. -ENAMETOOLONG if it does not fit. */
static int abstract_addr(const char *name, struct sockaddr_un *sa, socklen_t *ret_len)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (strlen(name) + 1 > sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	/* Abstract: sun_path[0] is NUL. */
	memcpy(sa->sun_path + 1, name, strlen(name));
	*ret_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(name));
	return 0;
}

int netif_netns_owner(const char *name, pid_t *ret_pid)
{
	struct sockaddr_un sa;
	struct ucred cred = {0};
	socklen_t len, clen = sizeof(cred);
	int fd, r;

	r = abstract_addr(name, &sa, &len);
	if (r < 0)
		return r;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd == -1)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, len) == 0) {
		r = 1;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) == 0)
			*ret_pid = cred.pid;
		else
			*ret_pid = 0;
	} else {
		/* A full backlog still means somebody holds the name. */
		r = errno == EAGAIN ? 1 : 0;
		if (r)
			*ret_pid = 0;
	}
	close(fd);
	return r;
}

int netif_claim_netns(const char *name, char **ret_owner)
{
	struct sockaddr_un sa;
	socklen_t len;
	pid_t pid = 0;
	int fd, r;

	r = abstract_addr(name, &sa, &len);
	if (r < 0)
		return r;
	/* The name lives in this network namespace only and goes away with
	 * the last descriptor, so a crashed owner never leaves a stale claim. */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd == -1)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, len) == 0) {
		/* Listening lets a refused newcomer learn who we are (SO_PEERCRED). */
		if (listen(fd, 64) == 0)
			return fd;
		r = -errno;
		close(fd);
		return r;
	}
	r = -errno;
	close(fd);
	if (r != -EADDRINUSE)
		return r;
	if (netif_netns_owner(name, &pid) <= 0)
		pid = 0;
	*ret_owner = describe_pid(pid);
	return -EADDRINUSE;
}

/* The MTU of interface @ifindex, 0 if it cannot be read. */
static uint32_t if_mtu(int ifindex)
{
	struct ifreq ifr;
	int fd;
	uint32_t mtu = 0;

	memset(&ifr, 0, sizeof(ifr));
	if (!if_indextoname((unsigned)ifindex, ifr.ifr_name))
		return 0;
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return 0;
	if (ioctl(fd, SIOCGIFMTU, &ifr) == 0 && ifr.ifr_mtu > 0)
		mtu = (uint32_t)ifr.ifr_mtu;
	close(fd);
	return mtu;
}

/* Copies the @n address bytes of @rta into @a (of that size's family). */
static void rta_addr(const struct rtattr *rta, int n, union addr_any *a)
{
	int len;

	if (RTA_PAYLOAD(rta) == (unsigned)n)
		memcpy((void *)addr_bytes(&a->sa, &len), RTA_DATA(rta), (size_t)n);
}

/* Reads the RTM_NEWROUTE answer @nh into @ret (@n: address length). */
static int parse_route(struct nlmsghdr *nh, int n, struct netif_route *ret)
{
	struct rtmsg *rtm = NLMSG_DATA(nh);
	int len = RTM_PAYLOAD(nh), mlen;
	struct rtattr *rta, *m;

	if (rtm->rtm_type != RTN_UNICAST && rtm->rtm_type != RTN_LOCAL)
		return -ENETUNREACH;
	for (rta = RTM_RTA(rtm); RTA_OK(rta, len); rta = RTA_NEXT(rta, len)) {
		if (rta->rta_type == RTA_OIF)
			memcpy(&ret->ifindex, RTA_DATA(rta), 4);
		else if (rta->rta_type == RTA_PREFSRC)
			rta_addr(rta, n, &ret->src);
		else if (rta->rta_type == RTA_GATEWAY)
			rta_addr(rta, n, &ret->gw);
		else if (rta->rta_type == RTA_METRICS) {
			mlen = (int)RTA_PAYLOAD(rta);
			for (m = RTA_DATA(rta); RTA_OK(m, mlen); m = RTA_NEXT(m, mlen))
				if (m->rta_type == RTAX_MTU)
					memcpy(&ret->mtu, RTA_DATA(m), 4);
		}
	}
	return ret->ifindex > 0 ? 0 : -ENETUNREACH;
}

/* See netif.h. */
int netif_route_get(const union addr_any *dst, struct netif_route *ret)
{
	struct {
		struct nlmsghdr nh;
		struct rtmsg rt;
		char attrs[64];
	} req;
	char buf[4096];
	struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
	struct timeval tv = {.tv_sec = 1};
	struct netif_route rt = {0};
	const unsigned char *dst_bytes;
	struct rtattr *rta;
	struct nlmsghdr *nh;
	int fd, r = -ENETUNREACH, alen;
	ssize_t n;

	dst_bytes = addr_bytes(&dst->sa, &alen);
	if (!dst_bytes)
		return -EAFNOSUPPORT;
	addr_any_of(dst->sa.sa_family, &rt.src);
	addr_any_of(dst->sa.sa_family, &rt.gw);
	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd == -1)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	memset(&req, 0, sizeof(req));
	req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(struct rtmsg));
	req.nh.nlmsg_type = RTM_GETROUTE;
	req.nh.nlmsg_flags = NLM_F_REQUEST;
	req.nh.nlmsg_seq = 1;
	req.rt.rtm_family = (unsigned char)dst->sa.sa_family;
	req.rt.rtm_dst_len = (unsigned char)(alen * 8);
	rta = (struct rtattr *)((char *)&req + NLMSG_ALIGN(req.nh.nlmsg_len));
	rta->rta_type = RTA_DST;
	rta->rta_len = (unsigned short)RTA_LENGTH(alen);
	memcpy(RTA_DATA(rta), dst_bytes, (size_t)alen);
	req.nh.nlmsg_len = NLMSG_ALIGN(req.nh.nlmsg_len) + RTA_LENGTH(alen);

	if (sendto(fd, &req, req.nh.nlmsg_len, 0, (struct sockaddr *)&sa, sizeof(sa)) == -1) {
		r = -errno;
		goto out;
	}
	n = recv(fd, buf, sizeof(buf), 0);
	if (n == -1) {
		r = -errno;
		goto out;
	}
	for (nh = (struct nlmsghdr *)buf; NLMSG_OK(nh, n); nh = NLMSG_NEXT(nh, n)) {
		if (nh->nlmsg_type == NLMSG_ERROR) {
			struct nlmsgerr *e = NLMSG_DATA(nh);

			r = e->error ? e->error : -ENETUNREACH;
			break;
		}
		if (nh->nlmsg_type == RTM_NEWROUTE) {
			r = parse_route(nh, alen, &rt);
			break;
		}
	}
	if (r == 0) {
		if (!rt.mtu)
			rt.mtu = if_mtu(rt.ifindex);
		*ret = rt;
	}
out:
	close(fd);
	return r;
}
