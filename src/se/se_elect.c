/* se_elect.c: active/standby VIPs: one SE holds each, through an etcd key bound to its lease; the holder puts the address on its interface and announces it (gratuitous ARP, unsolicited neighbour advertisement). */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config/store_etcd.h"
#include "lib/addr.h"
#include "lib/netif.h"
#include "lib/util.h"
#include "log.h"
#include "se/se_int.h"
#include "se/vip.h"

/* vipowner/<group>/<vip> = the SE name holding it, bound to its lease. */
#define K_OWNER CFG_ETCD_PREFIX "vipowner/"
/* What an IPv4 VIP address added to a front interface is labelled with, for
 * `ip addr` to show. */
#define LABEL_SUFFIX ":vip"
/* The address protocol (IFA_PROTO) of every VIP address added to a front
 * interface, either family: how a later run (after a crash) knows it for its
 * own. Not SE_VIP_PROTO: those are lo's, which vip.c keeps. */
#define SE_ELECT_PROTO 0xc2
/* Announcements (gratuitous ARPs, unsolicited neighbour advertisements)
 * sent on taking a VIP, one per round (about a second apart): a neighbour
 * that missed the first learns from the next. */
#define GARP_COUNT 3

struct hold {
	char group[256];
	char vip[ADDR_STRLEN];
	union addr_any addr; /* vip, parsed */
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

/* Adds (@add) or removes the VIP of @h, as a /32 or /128, on @ifname: an
 * IPv4 one labelled "<if>:vip", both marked with SE_ELECT_PROTO. 0 or -errno. */
static int addr_change(const struct hold *h, const char *ifname, bool add)
{
	char label[IF_NAMESIZE];
	unsigned ifindex = if_nametoindex(ifname);

	if (!ifindex)
		return -ENODEV;
	if (snprintf(label, sizeof(label), "%s" LABEL_SUFFIX, ifname) >= (int)sizeof(label))
		label[0] = 0;
	return se_vip_addr_change(ifindex, &h->addr, add, label[0] ? label : NULL, SE_ELECT_PROTO);
}

/* Removes every address marked SE_ELECT_PROTO: what a crashed run left. */
static void remove_stale(void)
{
	union addr_any left[64];
	unsigned ifs[64];
	size_t n = 0;

	if (se_vip_marked(SE_ELECT_PROTO, left, ifs, 64, &n) < 0)
		return;
	for (size_t i = 0; i < n; i++) {
		char ip[ADDR_STRLEN], ifname[IF_NAMESIZE] = "?";

		if_indextoname(ifs[i], ifname);
		if (se_vip_addr_change(ifs[i], &left[i], false, NULL, 0) == 0)
			log_info("se", "removed VIP %s from %s, left by an earlier run",
				 addr_ntop(&left[i], ip), ifname);
	}
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
	addr_parse(vip, &h->addr);
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
			/* Either family: the store keeps an address of the
			 * family its type says, in canonical form. */
			const json_t *ip = json_object_get(v, "ip_address");

			if (addr_parse(str(ip, "addr"), NULL) > 0)
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

		if (netif_front_for(&h->addr, ifname) < 0) {
			log_warn("se", "VIP %s: no interface of this SE is on its subnet", h->vip);
			return;
		}
		r = addr_change(h, ifname, true);
		if (r < 0 && r != -EEXIST) {
			log_warn("se", "VIP %s: adding it to %s: %s", h->vip, ifname, strerror(-r));
			return;
		}
		snprintf(h->ifname, sizeof(h->ifname), "%s", ifname);
		h->garps = GARP_COUNT;
		log_info("se", "VIP %s added to %s", h->vip, ifname);
	} else if (!h->held && h->ifname[0]) {
		r = addr_change(h, h->ifname, false);
		if (r < 0 && r != -EADDRNOTAVAIL)
			log_warn("se", "VIP %s: removing it from %s: %s", h->vip, h->ifname,
				 strerror(-r));
		else
			log_info("se", "VIP %s removed from %s", h->vip, h->ifname);
		h->ifname[0] = 0;
		h->garps = 0;
	}
	if (h->held && h->ifname[0] && h->garps > 0) {
		bool v6 = h->addr.sa.sa_family == AF_INET6;
		const char *what = v6 ? "unsolicited neighbour advertisement" : "gratuitous ARP";

		r = v6 ? se_na_send(h->ifname, &h->addr.in6.sin6_addr)
		       : se_garp_send(h->ifname, h->addr.in.sin_addr.s_addr);
		if (r < 0)
			log_warn("se", "VIP %s: %s on %s: %s", h->vip, what, h->ifname, strerror(-r));
		else if (h->garps == GARP_COUNT)
			log_info("se", "VIP %s: %s sent on %s", h->vip, what, h->ifname);
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
