/* se_garp.c: gratuitous ARP (a raw AF_PACKET socket) and unsolicited neighbour advertisements (a raw ICMPv6 socket), to announce a VIP this SE has just taken. */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/icmp6.h>
#include <netinet/if_ether.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "se/se_int.h"

/* The hardware address of @ifname through @fd. 0 or -errno. */
static int if_mac(int fd, const char *ifname, uint8_t ret_mac[ETH_ALEN])
{
	struct ifreq ifr = {0};

	strncpy(ifr.ifr_name, ifname, IF_NAMESIZE - 1);
	if (ioctl(fd, SIOCGIFHWADDR, &ifr) == -1)
		return -errno;
	memcpy(ret_mac, ifr.ifr_hwaddr.sa_data, ETH_ALEN);
	return 0;
}

int se_garp_send(const char *ifname, uint32_t ip_be)
{
	struct {
		struct ether_header eth;
		struct ether_arp arp;
	} __attribute__((packed)) f;
	struct sockaddr_ll to = {.sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ARP),
				 .sll_halen = ETH_ALEN};
	uint8_t mac[ETH_ALEN];
	int fd, r;

	to.sll_ifindex = (int)if_nametoindex(ifname);
	if (!to.sll_ifindex)
		return -errno;
	fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ARP));
	if (fd == -1)
		return -errno;
	r = if_mac(fd, ifname, mac);
	if (r < 0)
		goto out;
	memset(&f, 0, sizeof(f));
	memset(f.eth.ether_dhost, 0xff, ETH_ALEN);
	memcpy(f.eth.ether_shost, mac, ETH_ALEN);
	f.eth.ether_type = htons(ETHERTYPE_ARP);
	f.arp.arp_hrd = htons(ARPHRD_ETHER);
	f.arp.arp_pro = htons(ETHERTYPE_IP);
	f.arp.arp_hln = ETH_ALEN;
	f.arp.arp_pln = 4;
	/* A request, as Linux's arping -U sends: every host updates an entry it
	 * has, and none answers. */
	f.arp.arp_op = htons(ARPOP_REQUEST);
	memcpy(f.arp.arp_sha, mac, ETH_ALEN);
	memcpy(f.arp.arp_spa, &ip_be, 4);
	memcpy(f.arp.arp_tpa, &ip_be, 4);
	memset(to.sll_addr, 0xff, ETH_ALEN);
	if (sendto(fd, &f, sizeof(f), 0, (struct sockaddr *)&to, sizeof(to)) == -1)
		r = -errno;
out:
	close(fd);
	return r;
}

int se_na_send(const char *ifname, const struct in6_addr *ip)
{
	struct {
		struct nd_neighbor_advert na;
		struct nd_opt_hdr opt;
		uint8_t mac[ETH_ALEN];
	} __attribute__((packed)) m;
	struct sockaddr_in6 from = {.sin6_family = AF_INET6, .sin6_addr = *ip};
	struct sockaddr_in6 to = {.sin6_family = AF_INET6};
	unsigned ifindex = if_nametoindex(ifname);
	int hops = 255, off = 0, fd, r;

	if (!ifindex)
		return -errno;
	fd = socket(AF_INET6, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMPV6);
	if (fd == -1)
		return -errno;
	memset(&m, 0, sizeof(m));
	r = if_mac(fd, ifname, m.mac);
	if (r < 0)
		goto out;
	m.na.nd_na_type = ND_NEIGHBOR_ADVERT;
	/* Override, not solicited, not a router: every neighbour that has an
	 * entry for the address moves it to this MAC (RFC 4861, 7.2.6). The
	 * kernel fills in the checksum of a raw ICMPv6 socket. */
	m.na.nd_na_flags_reserved = ND_NA_FLAG_OVERRIDE;
	m.na.nd_na_target = *ip;
	m.opt.nd_opt_type = ND_OPT_TARGET_LINKADDR;
	m.opt.nd_opt_len = 1; /* units of 8 bytes */
	inet_pton(AF_INET6, "ff02::1", &to.sin6_addr);
	to.sin6_scope_id = ifindex;
	/* A receiver takes neighbour discovery only with 255 hops (it did not
	 * cross a router), from the address itself, as the kernel's own
	 * unsolicited advertisements; not looped back to this SE. */
	if (setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, &hops, sizeof(hops)) == -1 ||
	    setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_IF, &ifindex, sizeof(ifindex)) == -1 ||
	    setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_LOOP, &off, sizeof(off)) == -1 ||
	    bind(fd, (struct sockaddr *)&from, sizeof(from)) == -1 ||
	    sendto(fd, &m, sizeof(m), 0, (struct sockaddr *)&to, sizeof(to)) == -1)
		r = -errno;
out:
	close(fd);
	return r;
}
