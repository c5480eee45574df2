/* vip.c: the VIP /32 addresses clonelbd owns on lo, added and removed through rtnetlink under one label. */
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
	char attrs[64];
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

/* Adds (@add) or removes @addr_be/32 on lo with label SE_VIP_LABEL. */
static int addr_change(int fd, unsigned lo, uint32_t addr_be, bool add)
{
	struct nl_req r = {
	    .nh = {.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifaddrmsg)),
		   .nlmsg_type = add ? RTM_NEWADDR : RTM_DELADDR,
		   .nlmsg_flags = add ? NLM_F_CREATE | NLM_F_EXCL : 0},
	    .ifa = {.ifa_family = AF_INET,
		    .ifa_prefixlen = 32,
		    .ifa_scope = RT_SCOPE_UNIVERSE,
		    .ifa_index = lo},
	};

	add_attr(&r, IFA_LOCAL, &addr_be, 4);
	add_attr(&r, IFA_ADDRESS, &addr_be, 4);
	if (add)
		add_attr(&r, IFA_LABEL, SE_VIP_LABEL, sizeof(SE_VIP_LABEL));
	return nl_talk(fd, &r);
}

/* The addresses on lo under our label: up to @max of them in @out. */
static int labelled(int fd, unsigned lo, uint32_t *out, size_t max, size_t *ret_n)
{
	struct {
		struct nlmsghdr nh;
		struct ifaddrmsg ifa;
	} q = {.nh = {.nlmsg_len = sizeof(q),
		      .nlmsg_type = RTM_GETADDR,
		      .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP},
	       .ifa = {.ifa_family = AF_INET}};
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
			uint32_t local = 0;
			bool ours = false, have = false;

			if (h->nlmsg_type == NLMSG_DONE) {
				*ret_n = n;
				return 0;
			}
			if (h->nlmsg_type == NLMSG_ERROR)
				return ((struct nlmsgerr *)NLMSG_DATA(h))->error;
			if (h->nlmsg_type != RTM_NEWADDR || ifa->ifa_index != lo ||
			    ifa->ifa_prefixlen != 32)
				continue;
			alen = (int)IFA_PAYLOAD(h);
			for (a = IFA_RTA(ifa); RTA_OK(a, alen); a = RTA_NEXT(a, alen)) {
				if (a->rta_type == IFA_LOCAL && RTA_PAYLOAD(a) == 4) {
					memcpy(&local, RTA_DATA(a), 4);
					have = true;
				} else if (a->rta_type == IFA_LABEL) {
					ours = strcmp(RTA_DATA(a), SE_VIP_LABEL) == 0;
				}
			}
			if (have && ours && n < max)
				out[n++] = local;
		}
	}
}

static bool in(const uint32_t *set, size_t n, uint32_t a)
{
	for (size_t i = 0; i < n; i++)
		if (set[i] == a)
			return true;
	return false;
}

int se_vip_sync(const uint32_t *want, size_t nwant, char **ret_err)
{
	uint32_t have[SE_VIP_MAX];
	size_t nhave = 0;
	unsigned lo = if_nametoindex("lo");
	char ip[INET_ADDRSTRLEN];
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
	r = labelled(fd, lo, have, SE_VIP_MAX, &nhave);
	for (size_t i = 0; r == 0 && i < nhave; i++) {
		if (in(want, nwant, have[i]))
			continue;
		r = addr_change(fd, lo, have[i], false);
		if (r == -EADDRNOTAVAIL)
			r = 0; /* already gone */
		if (r < 0) {
			inet_ntop(AF_INET, &have[i], ip, sizeof(ip));
			*ret_err = xasprintf("VIPs: removing %s/32 from lo: %s", ip, strerror(-r));
		}
	}
	for (size_t i = 0; r == 0 && i < nwant; i++) {
		/* An address the operator put on an interface is theirs: it
		 * already makes the SE accept the VIP, and is never removed. */
		if (in(have, nhave, want[i]) || netif_addr_is_local(want[i], NULL) == 1)
			continue;
		r = addr_change(fd, lo, want[i], true);
		if (r == -EEXIST)
			r = 0;
		if (r < 0) {
			inet_ntop(AF_INET, &want[i], ip, sizeof(ip));
			*ret_err = xasprintf("VIPs: adding %s/32 to lo: %s", ip, strerror(-r));
		}
	}
	if (r < 0 && !*ret_err)
		*ret_err = xasprintf("VIPs: reading the addresses of lo: %s", strerror(-r));
	close(fd);
	return r;
}
