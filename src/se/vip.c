/* vip.c: the VIP /32 and /128 addresses clonelbd owns (on lo, or on a front interface for active/standby), added and removed through rtnetlink under a mark. */
#include "se/vip.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_addr.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/netif.h"
#include "lib/util.h"

struct nl_req {
	struct nlmsghdr nh;
	struct ifaddrmsg ifa;
	char attrs[96];
};

static void add_attr(struct nl_req *r, unsigned short type, const void *data, size_t len)
{
	struct rtattr *a = (struct rtattr *)((char *)r + NLMSG_ALIGN(r->nh.nlmsg_len));

	a->rta_type = type;
	a->rta_len = (unsigned short)RTA_LENGTH(len);
	memcpy(RTA_DATA(a), data, len);
	r->nh.nlmsg_len = NLMSG_ALIGN(r->nh.nlmsg_len) + RTA_ALIGN(a->rta_len);
}

static int nl_open(void)
{
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);

	return fd == -1 ? -errno : fd;
}

/* Sends @r and reads its acknowledgement: 0 or the kernel's -errno. */
static int nl_talk(int fd, struct nl_req *r)
{
	char buf[4096];
	ssize_t n;

	r->nh.nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
	if (send(fd, r, r->nh.nlmsg_len, 0) == -1)
		return -errno;
	n = recv(fd, buf, sizeof(buf), 0);
	if (n == -1)
		return -errno;
	for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n);
	     h = NLMSG_NEXT(h, n))
		if (h->nlmsg_type == NLMSG_ERROR)
			return ((struct nlmsgerr *)NLMSG_DATA(h))->error;
	return -EPROTO;
}

/* Adds (@add) or removes @a (/32 or /128) on interface @ifindex, marked as
 * ours: label @label (IPv4; NULL: none) and address protocol @proto (both
 * families: an IPv6 address has no label). */
static int addr_change(int fd, unsigned ifindex, const union addr_any *a, bool add,
		       const char *label, uint8_t proto)
{
	bool v6 = a->sa.sa_family == AF_INET6;
	const void *bytes = v6 ? (const void *)&a->in6.sin6_addr : (const void *)&a->in.sin_addr;
	size_t len = v6 ? 16 : 4;
	struct nl_req r = {
	    .nh = {.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifaddrmsg)),
		   .nlmsg_type = add ? RTM_NEWADDR : RTM_DELADDR,
		   .nlmsg_flags = add ? NLM_F_CREATE | NLM_F_EXCL : 0},
	    .ifa = {.ifa_family = (uint8_t)a->sa.sa_family,
		    .ifa_prefixlen = v6 ? 128 : 32,
		    /* No duplicate address detection: the VIP is every SE's (or
		     * moves between SEs), and it is usable at once. */
		    .ifa_flags = v6 ? IFA_F_NODAD : 0,
		    .ifa_scope = RT_SCOPE_UNIVERSE,
		    .ifa_index = ifindex},
	};

	add_attr(&r, IFA_LOCAL, bytes, len);
	add_attr(&r, IFA_ADDRESS, bytes, len);
	if (add && !v6 && label)
		add_attr(&r, IFA_LABEL, label, strlen(label) + 1);
	if (add)
		add_attr(&r, IFA_PROTO, &proto, 1);
	return nl_talk(fd, &r);
}

/* The /32 and /128 addresses that are ours (either family) on interface
 * @ifindex (0: on any): an IPv4 one by label @label (NULL: by address
 * protocol, as IPv6 ones), an IPv6 one by address protocol @proto. Up to
 * @max in @out, with their interfaces in @out_if (may be NULL). */
static int marked(int fd, unsigned ifindex, const char *label, uint8_t proto,
		  union addr_any *out, unsigned *out_if, size_t max, size_t *ret_n)
{
	struct {
		struct nlmsghdr nh;
		struct ifaddrmsg ifa;
	} q = {.nh = {.nlmsg_len = sizeof(q),
		      .nlmsg_type = RTM_GETADDR,
		      .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP},
	       .ifa = {.ifa_family = AF_UNSPEC}};
	char buf[16384];
	size_t n = 0;

	if (send(fd, &q, sizeof(q), 0) == -1)
		return -errno;
	for (;;) {
		ssize_t len = recv(fd, buf, sizeof(buf), 0);
		if (len == -1)
			return -errno;
		for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)len);
		     h = NLMSG_NEXT(h, len)) {
			struct ifaddrmsg *ifa = NLMSG_DATA(h);
			struct rtattr *a;
			int alen;
			bool v6 = ifa->ifa_family == AF_INET6, ours = false, have = false;
			union addr_any local;

			if (h->nlmsg_type == NLMSG_DONE) {
				*ret_n = n;
				return 0;
			}
			if (h->nlmsg_type == NLMSG_ERROR)
				return ((struct nlmsgerr *)NLMSG_DATA(h))->error;
			if (h->nlmsg_type != RTM_NEWADDR || (ifindex && ifa->ifa_index != ifindex) ||
			    ifa->ifa_prefixlen != (v6 ? 128 : 32))
				continue;
			memset(&local, 0, sizeof(local));
			alen = (int)IFA_PAYLOAD(h);
			for (a = IFA_RTA(ifa); RTA_OK(a, alen); a = RTA_NEXT(a, alen)) {
				if (!v6 && a->rta_type == IFA_LOCAL && RTA_PAYLOAD(a) == 4) {
					local.in.sin_family = AF_INET;
					memcpy(&local.in.sin_addr, RTA_DATA(a), 4);
					have = true;
				} else if (v6 && a->rta_type == IFA_ADDRESS && RTA_PAYLOAD(a) == 16) {
					local.in6.sin6_family = AF_INET6;
					memcpy(&local.in6.sin6_addr, RTA_DATA(a), 16);
					have = true;
				} else if (!v6 && label && a->rta_type == IFA_LABEL) {
					ours = strcmp(RTA_DATA(a), label) == 0;
				} else if ((v6 || !label) && a->rta_type == IFA_PROTO) {
					ours = *(uint8_t *)RTA_DATA(a) == proto;
				}
			}
			if (have && ours && n < max) {
				if (out_if)
					out_if[n] = ifa->ifa_index;
				out[n++] = local;
			}
		}
	}
}

static bool in(const union addr_any *set, size_t n, const union addr_any *a)
{
	for (size_t i = 0; i < n; i++)
		if (addr_equal(&set[i], a))
			return true;
	return false;
}

int se_vip_sync(const union addr_any *want, size_t nwant, char **ret_err)
{
	union addr_any have[SE_VIP_MAX];
	size_t nhave = 0;
	unsigned lo = if_nametoindex("lo");
	char ip[ADDR_STRLEN];
	int fd, r;

	if (!lo) {
		*ret_err = xasprintf("VIPs: no interface 'lo' in this network namespace");
		return -ENODEV;
	}
	fd = nl_open();
	if (fd < 0) {
		*ret_err = xasprintf("VIPs: netlink socket: %s", strerror(-fd));
		return fd;
	}
	r = marked(fd, lo, SE_VIP_LABEL, SE_VIP_PROTO, have, NULL, SE_VIP_MAX, &nhave);
	for (size_t i = 0; r == 0 && i < nhave; i++) {
		if (in(want, nwant, &have[i]))
			continue;
		r = addr_change(fd, lo, &have[i], false, NULL, 0);
		if (r == -EADDRNOTAVAIL)
			r = 0; /* already gone */
		if (r < 0)
			*ret_err = xasprintf("VIPs: removing %s/%d from lo: %s", addr_ntop(&have[i], ip),
					     have[i].sa.sa_family == AF_INET6 ? 128 : 32, strerror(-r));
	}
	for (size_t i = 0; r == 0 && i < nwant; i++) {
		/* An address the operator put on an interface is theirs: it
		 * already makes the SE accept the VIP, and is never removed. */
		if (in(have, nhave, &want[i]) || netif_is_local(&want[i], NULL) == 1)
			continue;
		r = addr_change(fd, lo, &want[i], true, SE_VIP_LABEL, SE_VIP_PROTO);
		if (r == -EEXIST)
			r = 0;
		if (r < 0)
			*ret_err = xasprintf("VIPs: adding %s/%d to lo: %s", addr_ntop(&want[i], ip),
					     want[i].sa.sa_family == AF_INET6 ? 128 : 32, strerror(-r));
	}
	if (r < 0 && !*ret_err)
		*ret_err = xasprintf("VIPs: reading the addresses of lo: %s", strerror(-r));
	close(fd);
	return r;
}

int se_vip_addr_change(unsigned ifindex, const union addr_any *a, bool add, const char *label,
		       uint8_t proto)
{
	int fd = nl_open(), r;

	if (fd < 0)
		return fd;
	r = addr_change(fd, ifindex, a, add, label, proto);
	close(fd);
	return r;
}

int se_vip_marked(uint8_t proto, union addr_any *out, unsigned *out_if, size_t max, size_t *ret_n)
{
	int fd = nl_open(), r;

	if (fd < 0)
		return fd;
	r = marked(fd, 0, NULL, proto, out, out_if, max, ret_n);
	close(fd);
	return r;
}
