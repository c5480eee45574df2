/* clone_net.c: what the clone engine asks the kernel about the network: routes, MACs, neighbours (ARP and IPv6 neighbour discovery). */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/neighbour.h>
#include <net/if_arp.h>
#include <netinet/icmp6.h>
#include <netpacket/packet.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "clone/clone_int.h"
#include "lib/netif.h"
#include "lib/util.h"

/* The address bytes of @a and their length (4 or 16). */
static const void *addr_data(const union addr_any *a, int *ret_len)
{
	*ret_len = a->sa.sa_family == AF_INET6 ? 16 : 4;
	return a->sa.sa_family == AF_INET6 ? (const void *)&a->in6.sin6_addr
					   : (const void *)&a->in.sin_addr;
}

static void v4(uint32_t be, union addr_any *ret)
{
	addr_any_of(AF_INET, ret);
	ret->in.sin_addr.s_addr = be;
}

/*
 * Asks the kernel's routing table (netif_route_get()) which interface a
 * packet to @dst (IPv4 or IPv6) leaves by. Returns the ifindex (> 0) and, if
 * @ret_src is not NULL, the source address the kernel would pick (the
 * unspecified address if the route has none); -errno on failure
 * (-ENETUNREACH when there is no route).
 */
int clone_net_route_any(const union addr_any *dst, union addr_any *ret_src)
{
	struct netif_route rt;
	int r = netif_route_get(dst, &rt);

	if (r < 0)
		return r;
	if (ret_src)
		*ret_src = rt.src;
	return rt.ifindex;
}

/*
 * clone_net_route_any() of an IPv4 destination: the ifindex and, if
 * @ret_src_be is not NULL, the source address (0 if the route has none).
 */
int clone_net_route_ifindex(uint32_t dst_be, uint32_t *ret_src_be)
{
	union addr_any dst, src;
	int r;

	v4(dst_be, &dst);
	r = clone_net_route_any(&dst, &src);
	if (r > 0 && ret_src_be)
		*ret_src_be = src.in.sin_addr.s_addr;
	return r;
}

/* Copies the hardware address of interface @ifname to @ret_mac. Returns 0 or -errno. */
int clone_net_if_mac(const char *ifname, uint8_t ret_mac[6])
{
	struct ifreq ifr;
	int fd, r = 0;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -errno;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	if (ioctl(fd, SIOCGIFHWADDR, &ifr) == -1)
		r = -errno;
	else
		memcpy(ret_mac, ifr.ifr_hwaddr.sa_data, 6);
	close(fd);
	return r;
}

/*
 * Parses "4e:e9:4e:2d:b9:bb" (or with dashes) into @ret_mac. Returns 0, or
 * -EINVAL and leaves @ret_mac untouched.
 */
int clone_net_parse_mac(const char *s, uint8_t ret_mac[6])
{
	unsigned int b[6];
	char sep[5], end;
	int i;

	if (!s || sscanf(s, "%2x%c%2x%c%2x%c%2x%c%2x%c%2x%c", &b[0], &sep[0], &b[1], &sep[1], &b[2],
			 &sep[2], &b[3], &sep[3], &b[4], &sep[4], &b[5], &end) != 11)
		return -EINVAL;
	for (i = 0; i < 5; i++)
		if (sep[i] != ':' && sep[i] != '-')
			return -EINVAL;
	for (i = 0; i < 6; i++)
		ret_mac[i] = (uint8_t)b[i];
	return 0;
}

/* Whether a neighbour entry in @state holds a MAC frames can be sent to:
 * REACHABLE, STALE, DELAY, PROBE (the kernel is re-checking it, the address
 * is still the best known), PERMANENT, NOARP. Not INCOMPLETE, FAILED, NONE. */
bool clone_net_nud_valid(uint16_t state)
{
	return (state & (NUD_PERMANENT | NUD_NOARP | NUD_REACHABLE | NUD_PROBE | NUD_STALE | NUD_DELAY)) != 0;
}

/* Reads an RTM_NEWNEIGH message: IPv4 or IPv6 destination (ARP or neighbour
 * discovery entry), ifindex, state, lladdr. */
static bool parse_neigh(struct nlmsghdr *nh, union addr_any *ret_ip, int *ret_ifindex,
			uint16_t *ret_state, uint8_t ret_mac[6], bool *ret_has_mac)
{
	struct ndmsg *nd = NLMSG_DATA(nh);
	struct rtattr *rta;
	int len = (int)nh->nlmsg_len - NLMSG_LENGTH(sizeof(*nd)), dlen;
	bool has_dst = false;

	if (len < 0 || (nd->ndm_family != AF_INET && nd->ndm_family != AF_INET6))
		return false;
	addr_any_of(nd->ndm_family, ret_ip);
	*ret_has_mac = false;
	for (rta = (struct rtattr *)((char *)nd + NLMSG_ALIGN(sizeof(*nd))); RTA_OK(rta, len);
	     rta = RTA_NEXT(rta, len)) {
		void *dst = (void *)addr_data(ret_ip, &dlen);

		if (rta->rta_type == NDA_DST && RTA_PAYLOAD(rta) == (unsigned)dlen) {
			memcpy(dst, RTA_DATA(rta), (size_t)dlen);
			has_dst = true;
		} else if (rta->rta_type == NDA_LLADDR && RTA_PAYLOAD(rta) == 6) {
			memcpy(ret_mac, RTA_DATA(rta), 6);
			*ret_has_mac = true;
		}
	}
	*ret_ifindex = nd->ndm_ifindex;
	*ret_state = nh->nlmsg_type == RTM_DELNEIGH ? 0 : nd->ndm_state;
	return has_dst;
}

/*
 * Asks the kernel's neighbour table (RTM_GETNEIGH, as `ip neigh get`) for
 * @ip on @ifindex: the ARP entry of an IPv4 address, the neighbour discovery
 * entry of an IPv6 one. Returns 0 with its NUD state in *ret_state and, when
 * it has one, its MAC in @ret_mac (a valid state, see clone_net_nud_valid());
 * -ENOENT when there is no entry; another -errno on failure.
 */
int clone_net_neigh_get_any(const union addr_any *ip, int ifindex, uint8_t ret_mac[6],
			    uint16_t *ret_state)
{
	struct {
		struct nlmsghdr nh;
		struct ndmsg nd;
		char attrs[16];
	} req;
	char buf[1024];
	struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
	struct timeval tv = {.tv_sec = 1};
	struct rtattr *rta;
	struct nlmsghdr *nh;
	int fd, r = -EIO, dlen;
	const void *dst = addr_data(ip, &dlen);
	ssize_t n;

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd == -1)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	memset(&req, 0, sizeof(req));
	req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(struct ndmsg));
	req.nh.nlmsg_type = RTM_GETNEIGH;
	req.nh.nlmsg_flags = NLM_F_REQUEST;
	req.nh.nlmsg_seq = 1;
	req.nd.ndm_family = (unsigned char)ip->sa.sa_family;
	req.nd.ndm_ifindex = ifindex;
	rta = (struct rtattr *)((char *)&req + NLMSG_ALIGN(req.nh.nlmsg_len));
	rta->rta_type = NDA_DST;
	rta->rta_len = (unsigned short)RTA_LENGTH(dlen);
	memcpy(RTA_DATA(rta), dst, (size_t)dlen);
	req.nh.nlmsg_len = NLMSG_ALIGN(req.nh.nlmsg_len) + RTA_LENGTH(dlen);
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
		uint8_t mac[6];
		union addr_any got;
		int idx;
		bool has_mac;

		if (nh->nlmsg_type == NLMSG_ERROR) {
			struct nlmsgerr *e = NLMSG_DATA(nh);

			r = e->error ? e->error : -ENOENT;
			goto out;
		}
		if (nh->nlmsg_type != RTM_NEWNEIGH ||
		    !parse_neigh(nh, &got, &idx, ret_state, mac, &has_mac))
			continue;
		if (!has_mac && clone_net_nud_valid(*ret_state) && !(*ret_state & NUD_NOARP))
			*ret_state = NUD_NONE;
		if (has_mac)
			memcpy(ret_mac, mac, 6);
		r = 0;
		break;
	}
out:
	close(fd);
	return r;
}

/* clone_net_neigh_get_any() for an IPv4 address. */
int clone_net_neigh_get(uint32_t ip_be, int ifindex, uint8_t ret_mac[6], uint16_t *ret_state)
{
	union addr_any a;

	v4(ip_be, &a);
	return clone_net_neigh_get_any(&a, ifindex, ret_mac, ret_state);
}

/*
 * Looks @ip_be up in this namespace's neighbour table on interface @ifname.
 * Returns 0 and the MAC when the entry holds one frames can be sent to (it
 * may be stale: a stale MAC is still the best known), -ENOENT otherwise
 * (no entry, INCOMPLETE, FAILED).
 */
int clone_net_neigh_lookup(uint32_t ip_be, const char *ifname, uint8_t ret_mac[6])
{
	int ifindex = (int)if_nametoindex(ifname);
	uint8_t mac[6];
	uint16_t state = 0;

	if (!ifindex || clone_net_neigh_get(ip_be, ifindex, mac, &state) < 0 ||
	    !clone_net_nud_valid(state) || (state & NUD_NOARP))
		return -ENOENT;
	memcpy(ret_mac, mac, 6);
	return 0;
}

/*
 * Opens a non-blocking rtnetlink socket subscribed to the kernel's neighbour
 * table (RTMGRP_NEIGH) and to link and address changes, so MAC changes
 * of clone servers and interfaces that come and go are followed as they
 * happen. Returns the descriptor or -errno.
 */
int clone_net_events_open(void)
{
	struct sockaddr_nl sa = {.nl_family = AF_NETLINK,
				 .nl_groups = RTMGRP_NEIGH | RTMGRP_LINK | RTMGRP_IPV4_IFADDR |
					      RTMGRP_IPV6_IFADDR};
	int fd, size = 1 << 20, r;

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_ROUTE);
	if (fd == -1)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1) {
		r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

/* Whether @a and @b are the same address (ports aside). */
static bool same_ip(const union addr_any *a, const union addr_any *b)
{
	int n = 0;
	const void *x = addr_data(a, &n), *y = addr_data(b, &n);

	return a->sa.sa_family == b->sa.sa_family && memcmp(x, y, (size_t)n) == 0;
}

/*
 * Reads every pending notification of @fd (see clone_net_events_open())
 * without blocking, and says in @ret what they were about: links or
 * addresses, neighbour entries (ARP or neighbour discovery) of one of the
 * @n_ips addresses @ips, lost notifications (the socket's buffer overran).
 */
void clone_net_events_read_any(int fd, const union addr_any *ips, int n_ips,
			       struct clone_net_events *ret)
{
	char buf[16384];
	ssize_t n;

	memset(ret, 0, sizeof(*ret));
	for (;;) {
		struct nlmsghdr *nh;

		n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n == -1) {
			if (errno == ENOBUFS) {
				ret->overrun = true;
				continue;
			}
			if (errno == EINTR)
				continue;
			return;
		}
		if (n == 0)
			return;
		for (nh = (struct nlmsghdr *)buf; NLMSG_OK(nh, n); nh = NLMSG_NEXT(nh, n)) {
			union addr_any ip;
			uint16_t state;
			uint8_t mac[6];
			int idx, i;
			bool has_mac;

			switch (nh->nlmsg_type) {
			case RTM_NEWLINK:
			case RTM_DELLINK:
			case RTM_NEWADDR:
			case RTM_DELADDR:
				ret->links = true;
				break;
			case RTM_NEWNEIGH:
			case RTM_DELNEIGH:
				if (!parse_neigh(nh, &ip, &idx, &state, mac, &has_mac))
					break;
				for (i = 0; i < n_ips && !same_ip(&ips[i], &ip); i++)
					;
				if (i < n_ips)
					ret->n_neigh++;
				break;
			}
		}
	}
}

/* clone_net_events_read_any() for a list of IPv4 addresses. */
void clone_net_events_read(int fd, const uint32_t *ips, int n_ips, struct clone_net_events *ret)
{
	union addr_any *all = xcalloc((size_t)n_ips + 1, sizeof(*all));

	for (int i = 0; i < n_ips; i++)
		v4(ips[i], &all[i]);
	clone_net_events_read_any(fd, all, n_ips, ret);
	free(all);
}

/*
 * Broadcasts one ARP request "who has @target_be? tell @src_be" on @ifindex
 * from @src_mac. The clone server's reply comes back to the kernel, which
 * updates its neighbour entry (and tells us through RTMGRP_NEIGH): that is
 * how a server whose MAC changed without a gratuitous ARP is found within a
 * round, where the kernel's own unicast re-probing of a stale entry would
 * take up to a minute. Returns 0 or -errno; never blocks.
 */
int clone_net_arp_request(int ifindex, const uint8_t src_mac[6], uint32_t src_be, uint32_t target_be)
{
	struct sockaddr_ll to = {.sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ARP),
				 .sll_ifindex = ifindex, .sll_halen = 6};
	struct {
		struct arphdr h;
		uint8_t sha[6];
		uint8_t spa[4];
		uint8_t tha[6];
		uint8_t tpa[4];
	} __attribute__((packed)) req;
	int fd, r = 0;

	memset(to.sll_addr, 0xff, 6);
	memset(&req, 0, sizeof(req));
	req.h.ar_hrd = htons(ARPHRD_ETHER);
	req.h.ar_pro = htons(ETH_P_IP);
	req.h.ar_hln = 6;
	req.h.ar_pln = 4;
	req.h.ar_op = htons(ARPOP_REQUEST);
	memcpy(req.sha, src_mac, 6);
	memcpy(req.spa, &src_be, 4);
	memcpy(req.tpa, &target_be, 4);
	fd = socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd == -1)
		return -errno;
	if (sendto(fd, &req, sizeof(req), MSG_DONTWAIT, (struct sockaddr *)&to, sizeof(to)) == -1)
		r = -errno;
	close(fd);
	return r;
}

/*
 * Multicasts one neighbour solicitation "who has @target? (from @src, whose
 * MAC is @src_mac)" on @ifindex to @target's solicited-node group (RFC 4861
 * 7.2.2): the IPv6 counterpart of clone_net_arp_request(). The clone server's
 * solicited, overriding advertisement updates the kernel's entry. Returns 0
 * or -errno; never blocks.
 */
int clone_net_ndp_solicit(int ifindex, const uint8_t src_mac[6], const struct in6_addr *src,
			  const struct in6_addr *target)
{
	struct sockaddr_in6 to = {.sin6_family = AF_INET6, .sin6_scope_id = (uint32_t)ifindex};
	struct sockaddr_in6 from = {.sin6_family = AF_INET6, .sin6_addr = *src};
	struct {
		struct nd_neighbor_solicit ns;
		struct nd_opt_hdr opt;
		uint8_t mac[6];
	} __attribute__((packed)) msg;
	int fd, hops = 255, r = 0;

	/* ff02::1:ffXX:XXXX, the low 24 bits of the target. */
	to.sin6_addr.s6_addr[0] = 0xff;
	to.sin6_addr.s6_addr[1] = 0x02;
	to.sin6_addr.s6_addr[11] = 0x01;
	to.sin6_addr.s6_addr[12] = 0xff;
	memcpy(&to.sin6_addr.s6_addr[13], &target->s6_addr[13], 3);
	memset(&msg, 0, sizeof(msg));
	msg.ns.nd_ns_type = ND_NEIGHBOR_SOLICIT;
	msg.ns.nd_ns_target = *target;
	msg.opt.nd_opt_type = ND_OPT_SOURCE_LINKADDR;
	msg.opt.nd_opt_len = 1; /* in units of 8 bytes */
	memcpy(msg.mac, src_mac, 6);
	if (IN6_IS_ADDR_LINKLOCAL(src))
		from.sin6_scope_id = (uint32_t)ifindex;
	/* The kernel fills in the ICMPv6 checksum of a raw ICMPv6 socket. */
	fd = socket(AF_INET6, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, IPPROTO_ICMPV6);
	if (fd == -1)
		return -errno;
	/* A receiver drops neighbour discovery that crossed a router: 255 hops. */
	if (setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, &hops, sizeof(hops)) == -1 ||
	    setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_IF, &ifindex, sizeof(ifindex)) == -1 ||
	    (!IN6_IS_ADDR_UNSPECIFIED(src) &&
	     bind(fd, (struct sockaddr *)&from, sizeof(from)) == -1) ||
	    sendto(fd, &msg, sizeof(msg), MSG_DONTWAIT, (struct sockaddr *)&to, sizeof(to)) == -1)
		r = -errno;
	close(fd);
	return r;
}

/*
 * Makes the kernel resolve @ip on @ifname by sending it one small UDP
 * datagram (discard port): the neighbour subsystem sends the ARP request or,
 * for IPv6, the neighbour solicitation, and the answer lands in the neighbour
 * table. Never blocks; errors are ignored (an unresolved address stays
 * unresolved and is counted per frame).
 */
void clone_net_probe_any(const union addr_any *ip, const char *ifname)
{
	union addr_any to = *ip;
	char byte = 0;
	int fd;

	addr_set_port(&to, 9);
	/* A link-local address means something on one interface only. */
	if (addr_is_link_local(&to))
		to.in6.sin6_scope_id = if_nametoindex(ifname);
	fd = socket(ip->sa.sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return;
	/* Leave by the clone interface even if a route says otherwise. */
	setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, ifname, (socklen_t)strlen(ifname));
	(void)sendto(fd, &byte, 1, MSG_DONTWAIT, &to.sa, addr_len(&to));
	close(fd);
}

/* clone_net_probe_any() for an IPv4 address. */
void clone_net_probe(uint32_t ip_be, const char *ifname)
{
	union addr_any a;

	v4(ip_be, &a);
	clone_net_probe_any(&a, ifname);
}

/*
 * Writes the SE's identity "host:se-<mac>" to @buf: the host name and the
 * MAC of the first non-loopback interface (lowest ifindex) that has one.
 */
void clone_net_se_uuid(char *buf, size_t size)
{
	struct if_nameindex *ifs, *i;
	char host[64] = "localhost";
	uint8_t mac[6] = {0}, m[6];

	gethostname(host, sizeof(host) - 1);
	host[sizeof(host) - 1] = '\0';
	ifs = if_nameindex();
	for (i = ifs; i && i->if_index; i++) {
		if (strcmp(i->if_name, "lo") == 0 || clone_net_if_mac(i->if_name, m) < 0)
			continue;
		if (!(m[0] | m[1] | m[2] | m[3] | m[4] | m[5]))
			continue;
		memcpy(mac, m, 6);
		break;
	}
	if (ifs)
		if_freenameindex(ifs);
	snprintf(buf, size, "%s:se-%02x%02x%02x%02x%02x%02x", host, mac[0], mac[1], mac[2], mac[3],
		 mac[4], mac[5]);
}
