/* clone_net.c: what the clone engine asks the kernel about the network: routes, MACs, neighbours. */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "clone/clone_int.h"

/*
 * Asks the kernel's routing table (RTM_GETROUTE, as `ip route get`) which
 * interface a packet to @dst_be leaves by. Returns the ifindex (> 0) and, if
 * @ret_src_be is not NULL, the source address the kernel would pick (0 if the
 * route has none); -errno on failure (-ENETUNREACH when there is no route).
 */
int clone_net_route_ifindex(uint32_t dst_be, uint32_t *ret_src_be)
{
	struct {
		struct nlmsghdr nh;
		struct rtmsg rt;
		char attrs[64];
	} req;
	char buf[4096];
	struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
	struct timeval tv = {.tv_sec = 1};
	struct rtattr *rta;
	struct nlmsghdr *nh;
	int fd, r = -EIO, ifindex = 0, len;
	uint32_t src = 0;
	ssize_t n;

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd == -1)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	memset(&req, 0, sizeof(req));
	req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(struct rtmsg));
	req.nh.nlmsg_type = RTM_GETROUTE;
	req.nh.nlmsg_flags = NLM_F_REQUEST;
	req.nh.nlmsg_seq = 1;
	req.rt.rtm_family = AF_INET;
	req.rt.rtm_dst_len = 32;
	rta = (struct rtattr *)((char *)&req + NLMSG_ALIGN(req.nh.nlmsg_len));
	rta->rta_type = RTA_DST;
	rta->rta_len = RTA_LENGTH(4);
	memcpy(RTA_DATA(rta), &dst_be, 4);
	req.nh.nlmsg_len = NLMSG_ALIGN(req.nh.nlmsg_len) + RTA_LENGTH(4);

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
			goto out;
		}
		if (nh->nlmsg_type != RTM_NEWROUTE)
			continue;
		len = RTM_PAYLOAD(nh);
		for (rta = RTM_RTA(NLMSG_DATA(nh)); RTA_OK(rta, len); rta = RTA_NEXT(rta, len)) {
			if (rta->rta_type == RTA_OIF)
				memcpy(&ifindex, RTA_DATA(rta), 4);
			else if (rta->rta_type == RTA_PREFSRC)
				memcpy(&src, RTA_DATA(rta), 4);
		}
		break;
	}
	if (ifindex <= 0) {
		r = -ENETUNREACH;
		goto out;
	}
	if (ret_src_be)
		*ret_src_be = src;
	r = ifindex;
out:
	close(fd);
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

/*
 * Looks @ip_be up in this namespace's neighbour table (/proc/net/arp) on
 * interface @ifname. Returns 0 and the MAC when the entry is complete (it
 * may be stale: a stale MAC is still the best known), -ENOENT otherwise.
 */
int clone_net_neigh_lookup(uint32_t ip_be, const char *ifname, uint8_t ret_mac[6])
{
	char line[256], ip[64], hw[64], mask[64], dev[64];
	unsigned int type, flags;
	struct in_addr a;
	int r = -ENOENT;
	FILE *f;

	f = fopen("/proc/net/arp", "re");
	if (!f)
		return -errno;
	if (!fgets(line, sizeof(line), f)) /* the header */
		goto out;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%63s 0x%x 0x%x %63s %63s %63s", ip, &type, &flags, hw, mask, dev) != 6)
			continue;
		if (inet_pton(AF_INET, ip, &a) != 1 || a.s_addr != ip_be || strcmp(dev, ifname) != 0)
			continue;
		/* ATF_COM: the entry is resolved. */
		if (!(flags & 0x2) || clone_net_parse_mac(hw, ret_mac) < 0)
			continue;
		r = 0;
		break;
	}
out:
	fclose(f);
	return r;
}

/*
 * Makes the kernel resolve @ip_be on @ifname by sending it one small UDP
 * datagram (discard port): the neighbour subsystem sends the ARP request, and
 * the answer lands in the neighbour table. Never blocks; errors are ignored
 * (an unresolved address stays unresolved and is counted per frame).
 */
void clone_net_probe(uint32_t ip_be, const char *ifname)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(9)};
	char byte = 0;
	int fd;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return;
	/* Leave by the clone interface even if a route says otherwise. */
	setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, ifname, (socklen_t)strlen(ifname));
	sin.sin_addr.s_addr = ip_be;
	(void)sendto(fd, &byte, 1, MSG_DONTWAIT, (struct sockaddr *)&sin, sizeof(sin));
	close(fd);
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
