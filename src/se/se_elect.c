/* se_elect.c: active/standby VIPs: one SE holds each, through an etcd key bound to its lease; the holder puts the address on its interface and announces it. */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config/store_etcd.h"
#include "lib/util.h"
#include "log.h"
#include "se/se_int.h"

/* vipowner/<group>/<vip> = the SE name holding it, bound to its lease. */
#define K_OWNER CFG_ETCD_PREFIX "vipowner/"
/* What a VIP address added to a front interface is labelled with, so a
 * later run (after a crash) knows it for its own. */
#define LABEL_SUFFIX ":vip"
/* Gratuitous ARPs sent on taking a VIP, one per round (about a second
 * apart): a neighbour that missed the first learns from the next. */
#define GARP_COUNT 3

struct hold {
	char group[256];
	char vip[INET_ADDRSTRLEN];
	uint32_t vip_be;
	bool wanted, held;
	char ifname[IF_NAMESIZE]; /* where the address was added; "" when not */
	int garps;
};

struct se_elect {
	struct hold *h;
	size_t n, cap;
};

static const char *str(const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));
	return s ? s : "";
}

/* RTM_NEWADDR / RTM_DELADDR of @ip_be/32 on @ifname, labelled. 0 or -errno. */
static int addr_change(int cmd, const char *ifname, uint32_t ip_be)
{
	struct {
		struct nlmsghdr nh;
		struct ifaddrmsg ifa;
		char attrs[128];
	} req;
	struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
	char label[IF_NAMESIZE], ack[1024];
	struct rtattr *rta;
	int fd, r = 0;
	ssize_t n;

	memset(&req, 0, sizeof(req));
	req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(req.ifa));
	req.nh.nlmsg_type = (unsigned short)cmd;
	req.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | (cmd == RTM_NEWADDR ? NLM_F_CREATE : 0);
	req.ifa.ifa_family = AF_INET;
	req.ifa.ifa_prefixlen = 32;
	req.ifa.ifa_index = if_nametoindex(ifname);
	if (!req.ifa.ifa_index)
		return -ENODEV;
	for (int t = 0; t < 2; t++) {
		rta = (struct rtattr *)((char *)&req + NLMSG_ALIGN(req.nh.nlmsg_len));
		rta->rta_type = t ? IFA_ADDRESS : IFA_LOCAL;
		rta->rta_len = RTA_LENGTH(4);
		memcpy(RTA_DATA(rta), &ip_be, 4);
		req.nh.nlmsg_len = NLMSG_ALIGN(req.nh.nlmsg_len) + RTA_ALIGN(rta->rta_len);
	}
	if (snprintf(label, sizeof(label), "%s" LABEL_SUFFIX, ifname) < (int)sizeof(label)) {
		rta = (struct rtattr *)((char *)&req + NLMSG_ALIGN(req.nh.nlmsg_len));
		rta->rta_type = IFA_LABEL;
		rta->rta_len = RTA_LENGTH(strlen(label) + 1);
		memcpy(RTA_DATA(rta), label, strlen(label) + 1);
		req.nh.nlmsg_len = NLMSG_ALIGN(req.nh.nlmsg_len) + RTA_ALIGN(rta->rta_len);
	}
	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd == -1)
		return -errno;
	if (sendto(fd, &req, req.nh.nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof(kernel)) == -1) {
		r = -errno;
	} else if ((n = recv(fd, ack, sizeof(ack), 0)) >= (ssize_t)NLMSG_LENGTH(sizeof(int))) {
		struct nlmsghdr *nh = (struct nlmsghdr *)ack;
		if (nh->nlmsg_type == NLMSG_ERROR)
			r = ((struct nlmsgerr *)NLMSG_DATA(nh))->error;
	}
	close(fd);
	return r;
}

/* The front interface for @vip_be: the one with an IPv4 subnet holding it
 * (not loopback, not one of our own VIP labels). 0 or -ENOENT. */
static int front_of(uint32_t vip_be, char ret_ifname[IF_NAMESIZE])
{
	struct ifaddrs *ifa, *i;
	int r = -ENOENT;

	if (getifaddrs(&ifa) == -1)
		return -errno;
	for (i = ifa; i && r; i = i->ifa_next) {
		uint32_t a, m;

		if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET || !i->ifa_netmask ||
		    (i->ifa_flags & IFF_LOOPBACK) || strchr(i->ifa_name, ':'))
			continue;
		a = ((struct sockaddr_in *)i->ifa_addr)->sin_addr.s_addr;
		m = ((struct sockaddr_in *)i->ifa_netmask)->sin_addr.s_addr;
		if (m != 0xffffffff && ((a ^ vip_be) & m) == 0) {
			snprintf(ret_ifname, IF_NAMESIZE, "%s", i->ifa_name);
			r = 0;
		}
	}
	freeifaddrs(ifa);
	return r;
}

/* Removes every address labelled "<if>:vip": what a crashed run left. */
static void remove_stale(void)
{
	struct ifaddrs *ifa, *i;

	if (getifaddrs(&ifa) == -1)
		return;
	for (i = ifa; i; i = i->ifa_next) {
		size_t n = strlen(i->ifa_name), k = strlen(LABEL_SUFFIX);
		char base[IF_NAMESIZE], ip[INET_ADDRSTRLEN];
		uint32_t a;

		if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET || n <= k ||
		    strcmp(i->ifa_name + n - k, LABEL_SUFFIX) || n - k >= IF_NAMESIZE)
			continue;
		memcpy(base, i->ifa_name, n - k);
		base[n - k] = 0;
		a = ((struct sockaddr_in *)i->ifa_addr)->sin_addr.s_addr;
		inet_ntop(AF_INET, &a, ip, sizeof(ip));
		if (addr_change(RTM_DELADDR, base, a) == 0)
			log_info("se", "removed VIP %s from %s, left by an earlier run", ip, base);
	}
	freeifaddrs(ifa);
}

void se_elect_init(struct se *se)
{
	se->el = xcalloc(1, sizeof(*se->el));
	remove_stale();
}

void se_elect_free(struct se *se)
{
	if (se->el)
		free(se->el->h);
	free(se->el);
}

static struct hold *hold_of(struct se_elect *el, const char *group, const char *vip)
{
	struct hold *h;

	for (size_t i = 0; i < el->n; i++)
		if (!strcmp(el->h[i].group, group) && !strcmp(el->h[i].vip, vip))
			return &el->h[i];
	if (el->n == el->cap) {
		el->cap = el->cap ? el->cap * 2 : 8;
		h = xcalloc(el->cap, sizeof(*h));
		if (el->n)
			memcpy(h, el->h, el->n * sizeof(*h));
		free(el->h);
		el->h = h;
	}
	h = &el->h[el->n++];
	memset(h, 0, sizeof(*h));
	snprintf(h->group, sizeof(h->group), "%s", group);
	snprintf(h->vip, sizeof(h->vip), "%s", vip);
	inet_pton(AF_INET, vip, &h->vip_be);
	return h;
}

/* Marks the VIPs this SE competes for in @snap. */
static void wanted(struct se *se, const json_t *snap)
{
	const json_t *vs, *v, *g;
	size_t i, j, k;

	for (i = 0; i < se->el->n; i++)
		se->el->h[i].wanted = false;
	json_array_foreach(json_object_get(snap, "virtualservice"), i, vs)
	{
		bool standby = false;

		if (!se_serves(se, snap, vs) || json_is_false(json_object_get(vs, "enabled")))
			continue;
		json_array_foreach(json_object_get(snap, "serviceenginegroup"), k, g)
		{
			if (!strcmp(str(g, "name"), se->group) &&
			    (!strcmp(str(g, "tenant_ref"), str(vs, "tenant_ref")) ||
			     !strcmp(str(g, "tenant_ref"), "admin")))
				standby |= !strcmp(str(g, "ha_mode"), "HA_MODE_LEGACY_ACTIVE_STANDBY");
		}
		if (!standby)
			continue;
		json_array_foreach(json_object_get(vs, "vip"), j, v)
		{
			const json_t *ip = json_object_get(v, "ip_address");
			uint32_t be;

			if (strcmp(str(ip, "type"), "V6") && inet_pton(AF_INET, str(ip, "addr"), &be) == 1)
				hold_of(se->el, se->group, str(ip, "addr"))->wanted = true;
		}
	}
}

/* Tries to take @h's key; sets h->held to whether this SE holds it. -errno
 * when etcd does not answer (h->held then stays as it was). */
static int contend(struct se *se, struct hold *h)
{
	if (!se->e) {
		h->held = true; /* the only SE there is */
		return 0;
	}
	char *k = xasprintf(K_OWNER "%s/%s", h->group, h->vip), *err = NULL;
	json_t *req = json_pack(
		"{s:[{s:o, s:s, s:s, s:s}], s:[{s:{s:o, s:o, s:o}}], s:[{s:{s:o}}]}", "compare",
		"key", cfg_etcd_key(k), "target", "CREATE", "result", "EQUAL", "create_revision", "0",
		"success", "request_put", "key", cfg_etcd_key(k), "value", cfg_etcd_key(se->name),
		"lease", json_sprintf("%lld", (long long)se->lease), "failure", "request_range",
		"key", cfg_etcd_key(k));
	json_t *a = NULL, *kv;
	int r = cfg_etcd_call(se->e, "/v3/kv/txn", req, &a, &err);

	if (r == 0) {
		bool was = h->held;
		char *owner = NULL;

		kv = json_array_get(json_object_get(json_object_get(json_array_get(
						json_object_get(a, "responses"), 0), "response_range"), "kvs"), 0);
		if (json_is_true(json_object_get(a, "succeeded")))
			h->held = true;
		else {
			owner = cfg_etcd_unb64(str(kv, "value"), NULL);
			h->held = owner && !strcmp(owner, se->name) &&
				  cfg_etcd_int(json_object_get(kv, "lease")) == se->lease;
		}
		if (h->held != was)
			log_info("se", "VIP %s of group %s: this SE is %s%s%s", h->vip, h->group,
				 h->held ? "active" : "standby", owner ? ", held by " : "",
				 owner ? owner : "");
		free(owner);
	}
	se_note(se, "VIP election", err);
	free(err);
	json_decref(a);
	json_decref(req);
	free(k);
	return r;
}

/* Gives up @h's key (a VIP no longer wanted). */
static void resign(struct se *se, struct hold *h)
{
	if (!se->e) {
		h->held = false;
		return;
	}
	char *k = xasprintf(K_OWNER "%s/%s", h->group, h->vip), *err = NULL;
	json_t *req = json_pack("{s:[{s:o, s:s, s:s, s:o}], s:[{s:{s:o}}]}", "compare", "key",
				cfg_etcd_key(k), "target", "VALUE", "result", "EQUAL", "value",
				cfg_etcd_key(se->name), "success", "request_delete_range", "key",
				cfg_etcd_key(k));
	json_t *a = NULL;

	cfg_etcd_call(se->e, "/v3/kv/txn", req, &a, &err);
	free(err);
	json_decref(a);
	json_decref(req);
	free(k);
	h->held = false;
}

/* Puts the address of @h where it belongs: on the front interface while held. */
static void place(struct hold *h)
{
	int r;

	if (h->held && !h->ifname[0]) {
		char ifname[IF_NAMESIZE];

		if (front_of(h->vip_be, ifname) < 0) {
			log_warn("se", "VIP %s: no interface of this SE is on its subnet", h->vip);
			return;
		}
		r = addr_change(RTM_NEWADDR, ifname, h->vip_be);
		if (r < 0 && r != -EEXIST) {
			log_warn("se", "VIP %s: adding it to %s: %s", h->vip, ifname, strerror(-r));
			return;
		}
		snprintf(h->ifname, sizeof(h->ifname), "%s", ifname);
		h->garps = GARP_COUNT;
		log_info("se", "VIP %s added to %s", h->vip, ifname);
	} else if (!h->held && h->ifname[0]) {
		r = addr_change(RTM_DELADDR, h->ifname, h->vip_be);
		if (r < 0 && r != -EADDRNOTAVAIL)
			log_warn("se", "VIP %s: removing it from %s: %s", h->vip, h->ifname,
				 strerror(-r));
		else
			log_info("se", "VIP %s removed from %s", h->vip, h->ifname);
		h->ifname[0] = 0;
		h->garps = 0;
	}
	if (h->held && h->ifname[0] && h->garps > 0) {
		r = se_garp_send(h->ifname, h->vip_be);
		if (r < 0)
			log_warn("se", "VIP %s: gratuitous ARP on %s: %s", h->vip, h->ifname,
				 strerror(-r));
		else if (h->garps == GARP_COUNT)
			log_info("se", "VIP %s: gratuitous ARP sent on %s", h->vip, h->ifname);
		h->garps--;
	}
}

void se_elect_run(struct se *se)
{
	struct se_elect *el = se->el;
	json_t *snap;
	size_t i, kept = 0;

	pthread_mutex_lock(&se->lock);
	snap = json_incref(se->snap);
	pthread_mutex_unlock(&se->lock);
	if (!snap)
		return;
	wanted(se, snap);
	json_decref(snap);
	for (i = 0; i < el->n; i++) {
		struct hold *h = &el->h[i];

		if (h->wanted && (se->lease || !se->e))
			contend(se, h);
		else if (!h->wanted && h->held)
			resign(se, h);
		place(h);
		if (h->wanted || h->ifname[0])
			el->h[kept++] = *h;
	}
	el->n = kept;
}

void se_elect_lost(struct se *se)
{
	for (size_t i = 0; i < se->el->n; i++)
		se->el->h[i].held = false;
}

void se_elect_release(struct se *se)
{
	se_elect_lost(se);
	for (size_t i = 0; se->el && i < se->el->n; i++)
		place(&se->el->h[i]);
}
