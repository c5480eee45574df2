/* bgp.c: route health injection: which VIPs this SE holds and announces, kept in step with the configuration and the pools' health. */
#include "se/bgp_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "config/schema.h"
#include "lib/netif.h"
#include "lib/util.h"
#include "log.h"
#include "proxy/px.h"
#include "se/vip.h"

/* The announcements are checked at least this often, besides every kick. */
#define SE_BGP_TICK_MS 1000

static const char *str(const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));
	return s ? s : "";
}

static const json_t *find(const json_t *snap, const char *type, const char *name)
{
	size_t i;
	json_t *o;

	json_array_foreach(json_object_get(snap, type), i, o)
	{
		if (strcmp(str(o, "name"), name) == 0 && strcmp(str(o, "tenant_ref"), "admin") == 0)
			return o;
	}
	return NULL;
}

/* The object of @type that reference @ref names: a snapshot holds a
 * reference as the target's uuid (an older store: its name, in tenant admin
 * for the provider's types used here). */
static const json_t *ref_obj(const json_t *snap, const char *type, const char *ref)
{
	size_t i;
	json_t *o;

	if (!ref)
		return NULL;
	json_array_foreach(json_object_get(snap, type), i, o)
	{
		if (strcmp(str(o, "uuid"), ref) == 0)
			return o;
	}
	return find(snap, type, ref);
}

/* The ha_mode of @vs's group when that group is ours (@group), else NULL. */
static const char *our_mode(const json_t *snap, const json_t *vs, const char *group)
{
	const char *ref = json_string_value(json_object_get(vs, "se_group_ref"));
	const json_t *g = ref_obj(snap, "serviceenginegroup", ref ? ref : "Default-Group");

	if (g ? strcmp(str(g, "name"), group) != 0 : strcmp(ref ? ref : "Default-Group", group) != 0)
		return NULL;
	/* The built-in group may be missing only from a snapshot made by hand. */
	return g && *str(g, "ha_mode") ? str(g, "ha_mode") : "HA_MODE_SHARED";
}

/* Whether @vs is a service of our group and that group is HA_MODE_SHARED:
 * every SE of the group holds its VIPs on lo. */
static bool shared_service(const json_t *snap, const json_t *vs, const char *group)
{
	const char *mode = our_mode(snap, vs, group);

	return mode && strcmp(mode, "HA_MODE_SHARED") == 0;
}

/* Whether @vs is a service of our group with enable_rhi: in a shared group
 * every SE announces its VIPs, in active/standby the SE that holds one. */
static bool rhi_service(const json_t *snap, const json_t *vs, const char *group)
{
	return json_is_true(json_object_get(vs, "enable_rhi")) && our_mode(snap, vs, group);
}

/* In active/standby, whether this SE holds VIP @a: the elected SE has it on
 * its front interface (never on lo, where only shared VIPs go). */
static bool held_here(const union addr_any *a)
{
	char ifname[IF_NAMESIZE] = "";

	return netif_is_local(a, ifname) == 1 && strncmp(ifname, "lo", 2) != 0;
}

static bool has(const union addr_any *set, size_t n, const union addr_any *a)
{
	for (size_t i = 0; i < n; i++)
		if (addr_equal(&set[i], a))
			return true;
	return false;
}

static void add_unique(union addr_any *set, size_t *n, size_t max, const union addr_any *a)
{
	if (!has(set, *n, a) && *n < max)
		set[(*n)++] = *a;
}

/* The length of @a's host prefix: /32 or /128. */
static int host_len(const union addr_any *a)
{
	return a->sa.sa_family == AF_INET6 ? 128 : 32;
}

/* The VIPs of @vs, IPv4 and IPv6, added to @set: its own vip list, or the
 * enabled ones of the vsvip it shares (vsvip_ref). */
static void vips_of(const json_t *snap, const json_t *vs, union addr_any *set, size_t *n,
		    size_t max)
{
	const json_t *list = json_object_get(vs, "vip");
	size_t i;
	json_t *v;

	if (!json_array_size(list))
		list = json_object_get(
			ref_obj(snap, "vsvip", json_string_value(json_object_get(vs, "vsvip_ref"))),
			"vip");
	json_array_foreach(list, i, v)
	{
		union addr_any a;
		if (json_is_false(json_object_get(v, "enabled")))
			continue;
		if (addr_parse(str(json_object_get(v, "ip_address"), "addr"), &a) > 0)
			add_unique(set, n, max, &a);
	}
}

/*
 * Why @vs must not be announced now, or NULL when it may: it is enabled,
 * listening, and its pool has a member that is enabled and healthy, as the
 * data plane's health checks see it.
 */
static const char *down_reason(struct px *px, const json_t *vs, char *buf, size_t len)
{
	json_t *rt = px_runtime(px, str(vs, "uuid")), *pool;
	const char *why = NULL;

	if (!rt)
		return "not running on this SE yet";
	pool = json_object_get(rt, "pool");
	if (!json_is_true(json_object_get(rt, "enabled")))
		why = "disabled";
	else if (json_is_string(json_object_get(rt, "listen_error")))
		why = "cannot listen";
	else if (!json_is_object(pool))
		why = "no pool";
	else if (!json_is_true(json_object_get(pool, "up"))) {
		snprintf(buf, len, "pool '%s' has no healthy member", str(pool, "name"));
		why = buf;
	}
	json_decref(rt);
	return why;
}

/*
 * The SE's own address toward @peer, folded into BIRD's router id: an IPv4
 * peer's subnet address as it is, for an IPv6 peer the last 32 bits of the
 * source address the kernel picks toward it (a connected UDP socket: no
 * packet sent). 0 when no interface leads there.
 */
static uint32_t local_toward(const union addr_any *peer)
{
	char ifname[IF_NAMESIZE];
	uint32_t a = 0;
	union addr_any src, dst = *peer;
	socklen_t len = sizeof(src);
	int fd;

	if (peer->sa.sa_family == AF_INET) {
		if (netif_for_addr(peer->in.sin_addr.s_addr, ifname, &a) < 0)
			return 0;
		return a;
	}
	fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 0;
	addr_set_port(&dst, 179);
	if (connect(fd, &dst.sa, addr_len(&dst)) == 0 && getsockname(fd, &src.sa, &len) == 0 &&
	    src.sa.sa_family == AF_INET6)
		memcpy(&a, &src.in6.sin6_addr.s6_addr[12], 4);
	close(fd);
	return a;
}

/* The first service of ours with VIP @a, or NULL. */
static const json_t *service_of(const json_t *snap, const char *group, const union addr_any *a)
{
	size_t i;
	json_t *vs;

	json_array_foreach(json_object_get(snap, "virtualservice"), i, vs)
	{
		union addr_any v[16];
		size_t nv = 0;

		if (!rhi_service(snap, vs, group))
			continue;
		vips_of(snap, vs, v, &nv, 16);
		if (has(v, nv, a))
			return vs;
	}
	return NULL;
}

/* Logs every VIP that starts or stops being announced, with the reason. */
static void log_changes(struct se_bgp *b, const json_t *snap, const union addr_any *now,
			size_t nnow)
{
	char ip[ADDR_STRLEN], buf[300];
	const json_t *vs;

	for (size_t j = 0; j < b->nannounced; j++) {
		const union addr_any *a = &b->announced[j];

		if (has(now, nnow, a))
			continue;
		addr_ntop(a, ip);
		vs = service_of(snap, b->group, a);
		if (vs)
			log_info("rhi", "withdrawing %s/%d (virtualservice '%s': %s)", ip,
				 host_len(a), str(vs, "name"),
				 down_reason(b->px, vs, buf, sizeof(buf))
					 ?: "another SE holds it (active/standby)");
		else
			log_info("rhi",
				 "withdrawing %s/%d (no service of group '%s' with enable_rhi "
				 "has it)",
				 ip, host_len(a), b->group);
	}
	for (size_t k = 0; k < nnow; k++) {
		if (has(b->announced, b->nannounced, &now[k]))
			continue;
		addr_ntop(&now[k], ip);
		vs = service_of(snap, b->group, &now[k]);
		log_info("rhi", "announcing %s/%d (virtualservice '%s' is up)", ip,
			 host_len(&now[k]), vs ? str(vs, "name") : "?");
	}
	free(b->announced);
	b->announced = xcalloc(nnow + 1, sizeof(*now));
	memcpy(b->announced, now, nnow * sizeof(*now));
	b->nannounced = nnow;
}

/*
 * What BIRD should run for @snap, or NULL when it should not run (no BGP
 * peer). Caller frees. Also logs the announcements that change.
 */
static char *wanted_config(struct se_bgp *b, const json_t *snap)
{
	const json_t *vrf = find(snap, "vrfcontext", "global");
	json_t *bgp = json_object_get(vrf, "bgp_profile"), *p, *vs;
	struct se_bgp_want w = {0};
	size_t i, max = SE_VIP_MAX;
	char *text = NULL, buf[300];

	w.announce = xcalloc(max, sizeof(*w.announce));
	json_array_foreach(json_object_get(snap, "virtualservice"), i, vs)
	{
		union addr_any v[16];
		size_t nv = 0;

		if (!rhi_service(snap, vs, b->group) || down_reason(b->px, vs, buf, sizeof(buf)))
			continue;
		vips_of(snap, vs, v, &nv, 16);
		for (size_t k = 0; k < nv; k++)
			if (shared_service(snap, vs, b->group) || held_here(&v[k]))
				add_unique(w.announce, &w.nannounce, max, &v[k]);
	}
	log_changes(b, snap, w.announce, w.nannounce);
	w.npeers = json_array_size(json_object_get(bgp, "peers"));
	if (w.npeers == 0)
		goto out;
	w.local_as = json_integer_value(json_object_get(bgp, "local_as"));
	w.hold_time = json_integer_value(json_object_get(bgp, "hold_time"));
	w.keepalive = json_integer_value(json_object_get(bgp, "keepalive_interval"));
	w.peers = xcalloc(w.npeers, sizeof(*w.peers));
	json_array_foreach(json_object_get(bgp, "peers"), i, p)
	{
		union addr_any a;

		if (addr_parse(str(json_object_get(p, "peer_ip"), "addr"), &a) < 0)
			addr_any_of(AF_INET, &a);
		w.peers[i].addr = a;
		w.peers[i].remote_as = json_integer_value(json_object_get(p, "remote_as"));
		w.peers[i].bfd = json_is_true(json_object_get(p, "bfd"));
	}
	/* An IPv4 session's own address first: the router id the routers
	 * show is then an address of the SE. */
	for (i = 0; i < w.npeers && !w.router_id; i++)
		if (w.peers[i].addr.sa.sa_family == AF_INET)
			w.router_id = local_toward(&w.peers[i].addr);
	for (i = 0; i < w.npeers && !w.router_id; i++)
		w.router_id = local_toward(&w.peers[i].addr);
	if (!w.router_id) {
		char ip[ADDR_STRLEN], *msg;
		addr_ntop(&w.peers[0].addr, ip);
		msg = xasprintf("no interface of this SE is on the subnet of BGP peer %s "
				"(vrfcontext global bgp_profile.peers): BGP not started",
				ip);
		se_bgp_problem(b, msg);
		free(msg);
		goto out;
	}
	text = se_bird_config(&w);
out:
	free(w.peers);
	free(w.announce);
	return text;
}

static void *routing_main(void *arg)
{
	struct se_bgp *b = arg;
	json_t *snap = NULL;

	pthread_mutex_lock(&b->lock);
	while (!b->stopping) {
		struct timespec until;
		uint64_t ms;

		if (!b->kicked) {
			clock_gettime(CLOCK_MONOTONIC, &until);
			ms = (uint64_t)until.tv_nsec / 1000000 + SE_BGP_TICK_MS;
			until.tv_sec += (time_t)(ms / 1000);
			until.tv_nsec = (long)(ms % 1000) * 1000000;
			pthread_cond_timedwait(&b->cond, &b->lock, &until);
		}
		if (b->stopping)
			break;
		b->kicked = false;
		json_decref(snap);
		snap = json_incref(b->snap);
		pthread_mutex_unlock(&b->lock);
		se_bird_check(b);
		if (snap) {
			char *text = wanted_config(b, snap);
			/* Solved: BIRD runs what it should for a few seconds, or
			 * should not run at all. */
			if (se_bird_sync(b, text) == 0 &&
			    (text ? b->bird_pid > 0 && now_ms() > b->started_ms + 3000
				  : !json_array_size(json_object_get(
					json_object_get(find(snap, "vrfcontext", "global"),
							"bgp_profile"),
					"peers"))))
				se_bgp_problem(b, NULL);
			free(text);
		}
		log_rl_flush();
		pthread_mutex_lock(&b->lock);
	}
	pthread_mutex_unlock(&b->lock);
	json_decref(snap);
	/* Withdraw first: the routers stop sending before the VIPs go. */
	se_bird_stop(b);
	return NULL;
}

int se_bgp_start(const struct se_bgp_config *c, struct se_bgp **ret, char **ret_err)
{
	struct se_bgp *b = xcalloc(1, sizeof(*b));
	pthread_condattr_t ca;
	char *err = NULL, *slash;
	int r;

	/* What a killed run left on lo is ours: the namespace has one clonelbd. */
	if (se_vip_sync(NULL, 0, &err) < 0) {
		log_warn("rhi", "%s", err);
		free(err);
	}
	b->bird = xstrdup(c->bird ? c->bird : "/usr/sbin/bird");
	slash = strrchr(b->bird, '/');
	b->birdc =
	    slash ? xasprintf("%.*sbirdc", (int)(slash - b->bird + 1), b->bird) : xstrdup("birdc");
	b->group = xstrdup(c->se_group ? c->se_group : "Default-Group");
	b->conf_path = xasprintf("%s.bird.conf", c->run_prefix);
	b->ctl_path = xasprintf("%s.bird.ctl", c->run_prefix);
	b->pid_path = xasprintf("%s.bird.pid", c->run_prefix);
	b->px = c->px;
	pthread_mutex_init(&b->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&b->cond, &ca);
	pthread_condattr_destroy(&ca);
	r = pthread_create(&b->th, NULL, routing_main, b);
	if (r != 0) {
		*ret_err =
		    xasprintf("route health injection: cannot start its thread: %s", strerror(r));
		b->th = 0;
		se_bgp_free(b);
		return -r;
	}
	*ret = b;
	return 0;
}

void se_bgp_apply(struct se_bgp *b, const json_t *snap)
{
	union addr_any *own;
	size_t n = 0, i;
	json_t *vs;
	char *err = NULL;

	if (!b || !snap)
		return;
	own = xcalloc(SE_VIP_MAX, sizeof(*own));
	json_array_foreach(json_object_get(snap, "virtualservice"), i, vs)
	{
		if (shared_service(snap, vs, b->group))
			vips_of(snap, vs, own, &n, SE_VIP_MAX);
	}
	/* Under the lock: once se_bgp_stop() has begun, no VIP comes back. */
	pthread_mutex_lock(&b->lock);
	if (!b->stopping) {
		if (se_vip_sync(own, n, &err) < 0) {
			log_error("rhi", "%s", err);
			free(err);
		}
		json_decref(b->snap);
		b->snap = json_incref((json_t *)snap);
		b->kicked = true;
		pthread_cond_signal(&b->cond);
	}
	pthread_mutex_unlock(&b->lock);
	free(own);
}

void se_bgp_kick(void *ctx)
{
	struct se_bgp *b = ctx;

	if (!b)
		return;
	pthread_mutex_lock(&b->lock);
	b->kicked = true;
	pthread_cond_signal(&b->cond);
	pthread_mutex_unlock(&b->lock);
}

void se_bgp_stop(struct se_bgp *b)
{
	char *err = NULL;

	if (!b)
		return;
	pthread_mutex_lock(&b->lock);
	b->stopping = true;
	pthread_cond_signal(&b->cond);
	pthread_mutex_unlock(&b->lock);
	if (b->th) {
		pthread_join(b->th, NULL);
		b->th = 0;
	}
	pthread_mutex_lock(&b->lock);
	if (se_vip_sync(NULL, 0, &err) < 0) {
		log_warn("rhi", "%s", err);
		free(err);
	}
	pthread_mutex_unlock(&b->lock);
}

void se_bgp_free(struct se_bgp *b)
{
	if (!b)
		return;
	se_bgp_stop(b);
	json_decref(b->snap);
	pthread_mutex_destroy(&b->lock);
	pthread_cond_destroy(&b->cond);
	free(b->applied);
	free(b->announced);
	free(b->problem);
	free(b->bird);
	free(b->birdc);
	free(b->group);
	free(b->conf_path);
	free(b->ctl_path);
	free(b->pid_path);
	free(b);
}
