/* se_garp.c: gratuitous ARP from a raw AF_PACKET socket, to announce a VIP this SE has just taken. */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/if_ether.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "se/se_int.h"

int se_garp_send(const char *ifname, uint32_t ip_be)
{
	struct {
		struct ether_header eth;
		struct ether_arp arp;
	} __attribute__((packed)) f;
	struct sockaddr_ll to = {.sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ARP),
				 .sll_halen = ETH_ALEN};
	struct ifreq ifr = {0};
	int fd, r = 0;

	to.sll_ifindex = (int)if_nametoindex(ifname);
	if (!to.sll_ifindex)
		return -errno;
	fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ARP));
	if (fd == -1)
		return -errno;
	strncpy(ifr.ifr_name, ifname, IF_NAMESIZE - 1);
	if (ioctl(fd, SIOCGIFHWADDR, &ifr) == -1) {
		r = -errno;
		goto out;
	}
	memset(&f, 0, sizeof(f));
	memset(f.eth.ether_dhost, 0xff, ETH_ALEN);
	memcpy(f.eth.ether_shost, ifr.ifr_hwaddr.sa_data, ETH_ALEN);
	f.eth.ether_type = htons(ETHERTYPE_ARP);
	f.arp.arp_hrd = htons(ARPHRD_ETHER);
	f.arp.arp_pro = htons(ETHERTYPE_IP);
	f.arp.arp_hln = ETH_ALEN;
	f.arp.arp_pln = 4;
	/* A request, as Linux's arping -U sends: every host updates an entry it
	 * has, and none answers. */
	f.arp.arp_op = htons(ARPOP_REQUEST);
	memcpy(f.arp.arp_sha, ifr.ifr_hwaddr.sa_data, ETH_ALEN);
	memcpy(f.arp.arp_spa, &ip_be, 4);
	memcpy(f.arp.arp_tpa, &ip_be, 4);
	memset(to.sll_addr, 0xff, ETH_ALEN);
	if (sendto(fd, &f, sizeof(f), 0, (struct sockaddr *)&to, sizeof(to)) == -1)
		r = -errno;
out:
	close(fd);
	return r;
}
