/* clone_apply.c: from configuration snapshots to the clone engine's maps and tc hooks; clone servers' interfaces and MACs. */
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clone/clone_int.h"
#include "lib/netif.h"
#include "lib/util.h"
#include "log.h"

static const char *jstr(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "";
}

/* The object of @type named @name in @tenant (references are by name within
 * a tenant), borrowed, or NULL. */
static const json_t *snap_find(const json_t *snap, const char *type, const char *tenant, const char *name)
{
	const json_t *o;
	size_t i;

	json_array_foreach(json_object_get(snap, type), i, o) {
		const char *t = jstr(o, "tenant_ref");

		if (strcmp(jstr(o, "name"), name) == 0 && strcmp(*t ? t : "admin", tenant) == 0)
			return o;
	}
	return NULL;
}

/* Parses {"addr": "a.b.c.d"} into @ret_be; -EINVAL if absent or not IPv4. */
static int parse_addr(const json_t *ip, uint32_t *ret_be)
{
	struct in_addr a;

	if (inet_pton(AF_INET, jstr(ip, "addr"), &a) != 1)
		return -EINVAL;
	*ret_be = a.s_addr;
	return 0;
}

/* Writes slot @slot of service slot @v to the clone_srvs map (inactive if unused). */
static void push_srv(struct clone_engine *ce, int v, int slot)
{
	struct clone_vs_state *vs = &ce->vs[v];
	struct clone_srv_state *s = &vs->srv[slot];
	uint32_t key = (uint32_t)(v * CLONE_SRV_PER_VS + slot);
	struct clone_srv val;

	memset(&val, 0, sizeof(val));
	if (vs->used && s->used) {
		val.gen = s->gen;
		val.ifindex = (uint32_t)s->ifindex;
		val.stat_slot = s->stat_slot;
		val.flags = CLONE_SRV_ACTIVE;
		if (s->has_mac)
			val.flags |= CLONE_SRV_HAS_MAC;
		if (vs->preserve_client_ip)
			val.flags |= CLONE_SRV_PRESERVE_CLIENT_IP;
		memcpy(val.dst_mac, s->mac, 6);
		memcpy(val.src_mac, s->src_mac, 6);
	}
	bpf_map_update_elem(ce->srvs_fd, &key, &val, BPF_ANY);
}

/*
 * Finds the clone interface of @s (its subnet first, else network_ref) and
 * its MAC, and the clone server's MAC from the neighbour table if the profile
 * gave none. Returns true if anything changed.
 */
static bool refresh_srv(struct clone_srv_state *s, uint64_t now)
{
	char ifname[IF_NAMESIZE] = "";
	uint8_t mac[6], src_mac[6] = {0};
	int ifindex = 0;
	bool changed = false, has_mac = s->has_mac;

	if (s->mask >= 0 && netif_for_subnet(s->subnet_be, s->mask, ifname, NULL) == 0)
		ifindex = (int)if_nametoindex(ifname);
	if (!ifindex && s->network_ref[0]) {
		snprintf(ifname, sizeof(ifname), "%s", s->network_ref);
		ifindex = (int)if_nametoindex(ifname);
	}
	if (!ifindex)
		ifname[0] = '\0';
	if (ifindex)
		clone_net_if_mac(ifname, src_mac);
	if (ifindex != s->ifindex || strcmp(ifname, s->ifname) != 0 || memcmp(src_mac, s->src_mac, 6)) {
		changed = true;
		s->ifindex = ifindex;
		snprintf(s->ifname, sizeof(s->ifname), "%s", ifname);
		memcpy(s->src_mac, src_mac, 6);
	}
	if (!ifindex) {
		if (!s->warned)
			log_warn("clone", "clone server %s: no interface on its subnet or network_ref: "
				  "its frames are counted, not sent",
				  s->ip);
		s->warned = true;
		return changed;
	}
	s->warned = false;
	if (s->mac_configured)
		return changed;
	if (clone_net_neigh_lookup(s->ip_be, ifname, mac) == 0) {
		if (!has_mac || memcmp(mac, s->mac, 6) != 0) {
			memcpy(s->mac, mac, 6);
			s->has_mac = true;
			changed = true;
		}
	}
	/* Ask again now and then: unresolved, every second; resolved, every 30 s
	 * so that a server that moved is noticed and its entry stays fresh. */
	if (now - s->last_probe_ms >= (s->has_mac ? 30000u : 1000u)) {
		clone_net_probe(s->ip_be, ifname);
		s->last_probe_ms = now;
	}
	return changed;
}

static uint32_t new_stat_slot(struct clone_engine *ce)
{
	uint32_t slot = ce->next_stat++ % CLONE_STAT_SLOTS;

	clone_stats_zero(ce, slot);
	return slot;
}

/* Reconciles service slot @v with its profile. @reset: fresh counters. */
static void apply_profile(struct clone_engine *ce, int v, const json_t *prof, bool reset)
{
	struct clone_vs_state *vs = &ce->vs[v];
	bool keep[CLONE_SRV_PER_VS] = {false};
	const json_t *cs;
	size_t i;
	int k, n = 0;
	uint64_t now = now_ms();

	vs->preserve_client_ip = json_is_true(json_object_get(prof, "preserve_client_ip"));
	json_array_foreach(json_object_get(prof, "clone_servers"), i, cs) {
		const json_t *subnet = json_object_get(cs, "subnet");
		struct clone_srv_state *s = NULL;
		uint32_t ip_be, net_be = 0;
		const char *mac = json_string_value(json_object_get(cs, "mac"));
		const char *netref = json_string_value(json_object_get(cs, "network_ref"));
		int mask = -1;

		if (n >= CLONE_SRV_PER_VS || parse_addr(json_object_get(cs, "ip_address"), &ip_be) < 0)
			continue;
		if (subnet && parse_addr(json_object_get(subnet, "ip_addr"), &net_be) == 0 &&
		    json_is_integer(json_object_get(subnet, "mask")))
			mask = (int)json_integer_value(json_object_get(subnet, "mask"));
		/* The same server (address and placement) keeps its slot, so the
		 * connections already going to it keep going to it. */
		for (k = 0; k < CLONE_SRV_PER_VS; k++) {
			struct clone_srv_state *o = &vs->srv[k];

			if (o->used && !keep[k] && o->ip_be == ip_be && o->subnet_be == net_be &&
			    o->mask == mask && strcmp(o->network_ref, netref ? netref : "") == 0) {
				s = o;
				break;
			}
		}
		if (!s) {
			for (k = 0; k < CLONE_SRV_PER_VS && (vs->srv[k].used || keep[k]); k++)
				;
			if (k == CLONE_SRV_PER_VS)
				continue;
			s = &vs->srv[k];
			memset(s, 0, sizeof(*s));
			s->used = true;
			s->ip_be = ip_be;
			inet_ntop(AF_INET, &ip_be, s->ip, sizeof(s->ip));
			s->subnet_be = net_be;
			s->mask = mask;
			snprintf(s->network_ref, sizeof(s->network_ref), "%s", netref ? netref : "");
			s->gen = ce->next_gen++;
			s->stat_slot = new_stat_slot(ce);
		} else if (reset) {
			s->stat_slot = new_stat_slot(ce);
		}
		s->mac_configured = mac && *mac && clone_net_parse_mac(mac, s->mac) == 0;
		if (s->mac_configured)
			s->has_mac = true;
		else if (reset) {
			/* Resolve again: the profile no longer (or never) gave one. */
			s->has_mac = false;
			s->last_probe_ms = 0;
		}
		refresh_srv(s, now);
		keep[k] = true;
		vs->order[n++] = k;
	}
	vs->n_order = n;
	for (k = 0; k < CLONE_SRV_PER_VS; k++) {
		if (!keep[k])
			vs->srv[k].used = false;
		push_srv(ce, v, k);
	}
}

static int find_hook(struct clone_engine *ce, int ifindex)
{
	int i;

	for (i = 0; i < ce->n_hooks; i++)
		if (ce->hooks[i].ifindex == ifindex)
			return i;
	return -1;
}

/* Adds the addresses of the servers of @pool to ce->pool_ips. */
static void pool_addrs(struct clone_engine *ce, const json_t *pool)
{
	const json_t *srv;
	size_t i;

	json_array_foreach(json_object_get(pool, "servers"), i, srv) {
		uint32_t ip_be;

		if (parse_addr(json_object_get(srv, "ip"), &ip_be) < 0)
			continue;
		ce->pool_ips = realloc(ce->pool_ips, sizeof(uint32_t) * (size_t)(ce->n_pool_ips + 1));
		if (!ce->pool_ips)
			abort();
		ce->pool_ips[ce->n_pool_ips++] = ip_be;
	}
}

/*
 * Fills @want with the interfaces the routing table says reach @ips (each
 * once). @quiet: do not log servers without a route (the periodic recheck).
 * Returns how many.
 */
static int ifaces_for(const uint32_t *ips, int n, int *want, bool quiet)
{
	int i, j, ifindex, n_want = 0;

	for (i = 0; i < n; i++) {
		ifindex = clone_net_route_ifindex(ips[i], NULL);
		if (ifindex <= 0) {
			char a[INET_ADDRSTRLEN];

			if (!quiet)
				log_warn("clone", "pool server %s: no route (%s): its traffic cannot be cloned",
					 inet_ntop(AF_INET, &ips[i], a, sizeof(a)), strerror(-ifindex));
			continue;
		}
		for (j = 0; j < n_want && want[j] != ifindex; j++)
			;
		if (j == n_want && n_want < CLONE_MAX_HOOKS)
			want[n_want++] = ifindex;
	}
	return n_want;
}

/* Attaches to every interface of @want not yet attached, detaches from the rest. */
static void sync_hooks(struct clone_engine *ce, const int *want, int n_want)
{
	int i, j;

	for (i = 0; i < ce->n_hooks;) {
		for (j = 0; j < n_want && want[j] != ce->hooks[i].ifindex; j++)
			;
		if (j < n_want) {
			i++;
			continue;
		}
		clone_tc_detach(ce, ce->hooks[i].ifindex);
		log_info("clone", "detached from %s: no cloned service needs it", ce->hooks[i].ifname);
		ce->hooks[i] = ce->hooks[--ce->n_hooks];
	}
	for (j = 0; j < n_want; j++) {
		char *err = NULL;

		if (find_hook(ce, want[j]) >= 0)
			continue;
		if (clone_tc_attach(ce, want[j], &err) < 0) {
			log_warn("clone", "%s", err);
			free(err);
			continue;
		}
		ce->hooks[ce->n_hooks].ifindex = want[j];
		if_indextoname((unsigned)want[j], ce->hooks[ce->n_hooks].ifname);
		log_info("clone", "attached to %s (tc ingress and egress)", ce->hooks[ce->n_hooks].ifname);
		ce->n_hooks++;
	}
}

/*
 * Refreshes one clone server (interface, MAC) without holding the lock over
 * the system calls: works on a copy, then writes back what changed, unless
 * clone_apply() gave the slot to another server meanwhile. Returns whether
 * the server has a MAC now.
 */
static bool refresh_unlocked(struct clone_engine *ce, int v, int k)
{
	struct clone_srv_state copy;
	bool used, has_mac;

	pthread_rwlock_rdlock(&ce->lock);
	used = ce->vs[v].used && ce->vs[v].srv[k].used;
	if (used)
		copy = ce->vs[v].srv[k];
	pthread_rwlock_unlock(&ce->lock);
	if (!used)
		return true;
	refresh_srv(&copy, now_ms());
	pthread_rwlock_wrlock(&ce->lock);
	if (ce->vs[v].used && ce->vs[v].srv[k].used && ce->vs[v].srv[k].gen == copy.gen &&
	    memcmp(&ce->vs[v].srv[k], &copy, sizeof(copy)) != 0) {
		bool changed = ce->vs[v].srv[k].ifindex != copy.ifindex ||
			       ce->vs[v].srv[k].has_mac != copy.has_mac ||
			       memcmp(ce->vs[v].srv[k].mac, copy.mac, 6) != 0 ||
			       memcmp(ce->vs[v].srv[k].src_mac, copy.src_mac, 6) != 0;

		/* The configuration (stat slot, MAC from the profile) may have
		 * changed meanwhile: take only what the refresh found. */
		copy.stat_slot = ce->vs[v].srv[k].stat_slot;
		copy.mac_configured = ce->vs[v].srv[k].mac_configured;
		if (copy.mac_configured)
			memcpy(copy.mac, ce->vs[v].srv[k].mac, 6);
		ce->vs[v].srv[k] = copy;
		if (changed)
			push_srv(ce, v, k);
	}
	has_mac = !ce->vs[v].used || !ce->vs[v].srv[k].used || ce->vs[v].srv[k].has_mac ||
		  !ce->vs[v].srv[k].ifindex;
	pthread_rwlock_unlock(&ce->lock);
	return has_mac;
}

/* Refreshes every clone server (interface, MAC, neighbour probes) without
 * holding the lock over system calls. Returns how many still lack a MAC. */
int clone_refresh_all(struct clone_engine *ce)
{
	int v, k, missing = 0;

	for (v = 0; v < CLONE_MAX_VS; v++)
		for (k = 0; k < CLONE_SRV_PER_VS; k++) {
			bool used;

			/* A racy peek is fine: refresh_unlocked() checks again. */
			pthread_rwlock_rdlock(&ce->lock);
			used = ce->vs[v].used && ce->vs[v].srv[k].used;
			pthread_rwlock_unlock(&ce->lock);
			if (used && !refresh_unlocked(ce, v, k))
				missing++;
		}
	return missing;
}

/*
 * Clone servers without a configured MAC were just probed: give the
 * neighbour table a moment (at most 50 ms; an ARP exchange on a directly
 * connected segment takes well under one) so that the first connections are
 * cloned. Whatever is still unresolved is left to the resolver thread. The
 * lock is not held while waiting: connections keep being set up.
 */
static void wait_for_macs(struct clone_engine *ce, int pending)
{
	struct timespec ms5 = {.tv_nsec = 5 * 1000 * 1000};
	int round;

	for (round = 0; pending && round < 10; round++) {
		nanosleep(&ms5, NULL);
		pending = clone_refresh_all(ce);
	}
}

/* See clone.h. */
void clone_apply(struct clone_engine *ce, const json_t *snap)
{
	bool seen[CLONE_MAX_VS] = {false};
	int want[CLONE_MAX_HOOKS], n_want = 0, v, k, pending = 0;
	const json_t *o;
	size_t i;

	if (!ce || !snap)
		return;
	pthread_rwlock_wrlock(&ce->lock);
	for (k = 0; k < ce->n_known_vs; k++)
		free(ce->known_vs[k]);
	free(ce->known_vs);
	ce->n_known_vs = 0;
	ce->known_vs = xcalloc(json_array_size(json_object_get(snap, "virtualservice")) + 1, sizeof(char *));
	free(ce->pool_ips);
	ce->pool_ips = NULL;
	ce->n_pool_ips = 0;

	json_array_foreach(json_object_get(snap, "virtualservice"), i, o) {
		const char *tenant = *jstr(o, "tenant_ref") ? jstr(o, "tenant_ref") : "admin";
		const char *pref = jstr(o, "traffic_clone_profile_ref");
		const json_t *prof, *pool;
		json_int_t id = json_integer_value(json_object_get(o, "_id"));
		char *key;
		bool reset;

		ce->known_vs[ce->n_known_vs++] = xstrdup(jstr(o, "uuid"));
		if (!*pref)
			continue;
		prof = snap_find(snap, "trafficcloneprofile", tenant, pref);
		if (!prof) {
			log_warn("clone", "virtual service %s: traffic clone profile %s not found", jstr(o, "name"), pref);
			continue;
		}
		for (v = 0; v < CLONE_MAX_VS && !(ce->vs[v].used && ce->vs[v].vs_id == id); v++)
			;
		if (v == CLONE_MAX_VS) {
			for (v = 0; v < CLONE_MAX_VS && (ce->vs[v].used || seen[v]); v++)
				;
			if (v == CLONE_MAX_VS) {
				log_warn("clone", "virtual service %s: more than %d cloned services, not cloned",
					  jstr(o, "name"), CLONE_MAX_VS);
				continue;
			}
			memset(&ce->vs[v], 0, sizeof(ce->vs[v]));
			ce->vs[v].used = true;
			ce->vs[v].vs_id = id;
		}
		seen[v] = true;
		snprintf(ce->vs[v].uuid, sizeof(ce->vs[v].uuid), "%s", jstr(o, "uuid"));
		snprintf(ce->vs[v].name, sizeof(ce->vs[v].name), "%s", jstr(o, "name"));
		snprintf(ce->vs[v].tenant, sizeof(ce->vs[v].tenant), "%s", tenant);
		key = xasprintf("%s|%s", jstr(prof, "uuid"), jstr(prof, "_last_modified"));
		reset = !ce->vs[v].profile_key || strcmp(key, ce->vs[v].profile_key) != 0;
		free(ce->vs[v].profile_key);
		ce->vs[v].profile_key = key;
		if (reset) {
			char *t = now_iso8601();

			snprintf(ce->vs[v].last_reset, sizeof(ce->vs[v].last_reset), "%s", t);
			free(t);
		}
		apply_profile(ce, v, prof, reset);
		pool = snap_find(snap, "pool", tenant, jstr(o, "pool_ref"));
		if (pool)
			pool_addrs(ce, pool);
	}
	/* Services that lost their profile (or are gone): their slots go
	 * inactive at once, so their connections stop being cloned. */
	for (v = 0; v < CLONE_MAX_VS; v++) {
		if (!ce->vs[v].used || seen[v])
			continue;
		ce->vs[v].used = false;
		free(ce->vs[v].profile_key);
		ce->vs[v].profile_key = NULL;
		for (k = 0; k < CLONE_SRV_PER_VS; k++) {
			ce->vs[v].srv[k].used = false;
			push_srv(ce, v, k);
		}
	}
	n_want = ifaces_for(ce->pool_ips, ce->n_pool_ips, want, false);
	sync_hooks(ce, want, n_want);
	for (v = 0; v < CLONE_MAX_VS; v++)
		for (k = 0; ce->vs[v].used && k < CLONE_SRV_PER_VS; k++)
			if (ce->vs[v].srv[k].used && !ce->vs[v].srv[k].has_mac && ce->vs[v].srv[k].ifindex &&
			    !ce->vs[v].srv[k].mac_configured && ce->vs[v].srv[k].last_probe_ms + 1000 > now_ms())
				pending++;
	pthread_rwlock_unlock(&ce->lock);
	wait_for_macs(ce, pending);
}

/*
 * Re-places the hooks if the interfaces that reach the pools changed (an
 * interface recreated, a route moved) or one of our filters went away.
 * The route lookups are made without the lock.
 */
void clone_recheck_hooks(struct clone_engine *ce)
{
	int want[CLONE_MAX_HOOKS], have[CLONE_MAX_HOOKS], n_want, n_have, n, i, j;
	uint32_t *ips;
	bool same;

	pthread_rwlock_rdlock(&ce->lock);
	n = ce->n_pool_ips;
	ips = xcalloc((size_t)n + 1, sizeof(*ips));
	memcpy(ips, ce->pool_ips, sizeof(*ips) * (size_t)n);
	n_have = ce->n_hooks;
	for (i = 0; i < n_have; i++)
		have[i] = ce->hooks[i].ifindex;
	pthread_rwlock_unlock(&ce->lock);

	n_want = ifaces_for(ips, n, want, true);
	free(ips);
	same = n_want == n_have;
	for (i = 0; same && i < n_want; i++) {
		for (j = 0; j < n_have && have[j] != want[i]; j++)
			;
		same = j < n_have && clone_tc_present(want[i]);
	}
	if (same)
		return;
	pthread_rwlock_wrlock(&ce->lock);
	/* Forget hooks whose filters are gone, so that sync_hooks() attaches
	 * them again; then place them as the routes say now. */
	for (i = 0; i < ce->n_hooks;) {
		if (clone_tc_present(ce->hooks[i].ifindex)) {
			i++;
			continue;
		}
		log_warn("clone", "our filters on %s are gone: attaching again", ce->hooks[i].ifname);
		clone_tc_detach(ce, ce->hooks[i].ifindex);
		ce->hooks[i] = ce->hooks[--ce->n_hooks];
	}
	/* The pools may have changed meanwhile: only act on a still-current list. */
	if (ce->n_pool_ips == n)
		sync_hooks(ce, want, n_want);
	pthread_rwlock_unlock(&ce->lock);
}
