/* clone_apply.c: from configuration snapshots to the clone engine's maps and tc hooks; clone servers' interfaces and MACs. */
/*
 * Every writer holds ce->apply_lock and does its slow work (getifaddrs,
 * netlink, tc, ARP) on copies; ce->lock, which the proxy's connection hook
 * takes for reading, is taken for writing only to copy the result in.
 */
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <errno.h>
#include <linux/neighbour.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clone/clone_int.h"
#include "lib/netif.h"
#include "lib/util.h"
#include "log.h"

static const char *jstr(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "";
}

/* The object of @type that @name (a uuid, or a name) names in @tenant,
 * borrowed, or NULL. */
static const json_t *snap_find(const json_t *snap, const char *type, const char *tenant, const char *name)
{
	const json_t *o;
	size_t i;

	json_array_foreach(json_object_get(snap, type), i, o) {
		const char *t = jstr(o, "tenant_ref");

		/* By uuid, as the store keeps references; by name for one that a
		 * store edited by hand may hold. */
		if ((strcmp(jstr(o, "uuid"), name) == 0 || strcmp(jstr(o, "name"), name) == 0) &&
		    strcmp(*t ? t : "admin", tenant) == 0)
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

/* Parses {"addr": "x::y"} into @ret; -EINVAL if absent or not IPv6. */
static int parse_addr6(const json_t *ip, struct in6_addr *ret)
{
	return inet_pton(AF_INET6, jstr(ip, "addr"), ret) == 1 ? 0 : -EINVAL;
}

/* See clone_int.h. */
union addr_any clone_srv_addr(const struct clone_srv_state *s, int which)
{
	union addr_any a;

	addr_any_of(s->af == AF_INET6 ? AF_INET6 : AF_INET, &a);
	if (s->af == AF_INET6)
		a.in6.sin6_addr = which == 0 ? s->ip6 : which == 1 ? s->subnet6 : s->if_addr6;
	else
		a.in.sin_addr.s_addr = which == 0 ? s->ip_be : which == 1 ? s->subnet_be : s->if_addr_be;
	return a;
}

/* Whether this thread holds ce->lock for writing: the slow steps below check
 * it is not so (counted in /metrics, and the tests expect zero). */
static _Thread_local bool write_locked;

static void write_begin(struct clone_engine *ce)
{
	pthread_rwlock_wrlock(&ce->lock);
	write_locked = true;
}

static void write_end(struct clone_engine *ce)
{
	write_locked = false;
	pthread_rwlock_unlock(&ce->lock);
	atomic_fetch_add(&ce->n_write_locks, 1);
}

/* Called first by every step that makes slow system calls (getifaddrs,
 * netlink, tc, ARP, sleeping): one under the write lock would hold up the
 * connection hook. */
static void slow_step(struct clone_engine *ce, const char *what)
{
	if (!write_locked)
		return;
	if (atomic_fetch_add(&ce->n_slow_under_lock, 1) == 0)
		log_error("clone", "%s under the engine's write lock (a bug: the connection hook waits)", what);
}

/* See clone_int.h. */
void clone_slow_step(struct clone_engine *ce, const char *what)
{
	slow_step(ce, what);
}

/* Writes server slot @k of service slot @v, as @vs says, to the clone_srvs
 * map (inactive if unused). */
static void push_srv(struct clone_engine *ce, int v, int k, const struct clone_vs_state *vs)
{
	const struct clone_srv_state *s = &vs->srv[k];
	uint32_t key = (uint32_t)(v * CLONE_SRV_PER_VS + k);
	struct clone_srv val;

	memset(&val, 0, sizeof(val));
	if (vs->used && s->used) {
		val.gen = s->gen;
		/* Clones go only where clone_deliver waits for them: until it is
		 * attached, the server counts as having no interface. */
		val.ifindex = clone_deliver_ready(ce, s->ifindex) ? (uint32_t)s->ifindex : 0;
		val.stat_slot = s->stat_slot;
		val.flags = CLONE_SRV_ACTIVE;
		if (s->has_mac)
			val.flags |= CLONE_SRV_HAS_MAC;
		if (vs->preserve_client_ip)
			val.flags |= CLONE_SRV_PRESERVE_CLIENT_IP;
		memcpy(val.dst_mac, s->mac, 6);
		memcpy(val.src_mac, s->src_mac, 6);
		val.encap = s->encap;
		val.vni = s->vni;
		val.dst_port = htons(s->dst_port);
		val.erspan_session = s->erspan_session;
		val.outer_src = s->outer_src_be;
		val.outer_dst = s->ip_be;
		val.mtu = s->mtu;
		/* An IPv6 collector: the program writes an IPv6 outer header. */
		val.outer6 = s->encap != CLONE_ENCAP_NONE && s->af == AF_INET6;
		memcpy(val.outer_src6, &s->outer_src6, 16);
		memcpy(val.outer_dst6, &s->ip6, 16);
	}
	bpf_map_update_elem(ce->srvs_fd, &key, &val, BPF_ANY);
}

/* Finds the clone interface of @s (its subnet first, else network_ref), its
 * MAC and the SE's address on it. Slow: getifaddrs, ioctl. */
static void find_interface(struct clone_engine *ce, struct clone_srv_state *s)
{
	char ifname[IF_NAMESIZE] = "";
	uint8_t src_mac[6] = {0};
	uint32_t addr_be = 0;
	int ifindex = 0, mask;

	slow_step(ce, "interface lookup");
	if (s->encap != CLONE_ENCAP_NONE) {
		/* A collector any number of hops away: wherever the route to
		 * it leads. */
		clone_srv_find_route(s);
		if (s->ifindex)
			clone_deliver_ensure(ce, s->ifindex);
		return;
	}
	if (s->af == AF_INET6) {
		union addr_any a = clone_srv_addr(s, 0), net = clone_srv_addr(s, 1), own;

		addr_any_of(AF_INET6, &own);
		/* A link-local subnet is on every interface: network_ref says which. */
		if (s->mask >= 0 && !addr_is_link_local(&net) &&
		    netif_for_prefix(&net, s->mask, ifname, &own) == 0)
			ifindex = (int)if_nametoindex(ifname);
		if (!ifindex && s->network_ref[0]) {
			snprintf(ifname, sizeof(ifname), "%s", s->network_ref);
			ifindex = (int)if_nametoindex(ifname);
			if (ifindex)
				netif_prefix_on(ifname, &a, NULL, &mask, &own);
		}
		s->if_addr6 = own.in6.sin6_addr;
	} else if (s->mask >= 0 && netif_for_subnet(s->subnet_be, s->mask, ifname, &addr_be) == 0)
		ifindex = (int)if_nametoindex(ifname);
	if (!ifindex && s->network_ref[0] && s->af != AF_INET6) {
		snprintf(ifname, sizeof(ifname), "%s", s->network_ref);
		ifindex = (int)if_nametoindex(ifname);
		if (ifindex)
			netif_subnet_on(ifname, s->ip_be, NULL, &mask, &addr_be);
	}
	if (!ifindex)
		ifname[0] = '\0';
	if (ifindex)
		clone_net_if_mac(ifname, src_mac);
	s->ifindex = ifindex;
	snprintf(s->ifname, sizeof(s->ifname), "%s", ifname);
	memcpy(s->src_mac, src_mac, 6);
	s->if_addr_be = addr_be;
	s->outer_src_be = 0;
	memset(&s->outer_src6, 0, sizeof(s->outer_src6));
	s->mtu = clone_srv_path_mtu(s);
	/* Before the server's interface reaches clone_srvs (push_srv()). */
	if (ifindex)
		clone_deliver_ensure(ce, ifindex);
	if (!ifindex) {
		if (!s->warned)
			log_warn("clone", "clone server %s: no interface on its subnet or network_ref: "
				  "its frames are counted, not sent",
				  s->ip);
		s->warned = true;
		return;
	}
	s->warned = false;
}

/*
 * The clone server's MAC as the kernel's neighbour table has it now, unless
 * the profile gave one. An entry that is INCOMPLETE or FAILED, or none, means
 * no MAC: its frames are counted as not sent (num_no_mac), never sent to an
 * address that may belong to somebody else by now.
 */
static void find_mac(struct clone_engine *ce, struct clone_srv_state *s)
{
	uint8_t mac[6];
	uint16_t state = 0;

	if (s->mac_configured)
		return;
	if (s->encap != CLONE_ENCAP_NONE) {
		/* The next hop's MAC is the kernel's business (bpf_redirect_neigh). */
		memset(s->mac, 0, 6);
		s->has_mac = false;
		s->nud = 0;
		return;
	}
	slow_step(ce, "neighbour lookup");
	union addr_any a = clone_srv_addr(s, 0);

	if (!s->ifindex || clone_net_neigh_get_any(&a, s->ifindex, mac, &state) < 0)
		state = 0;
	s->nud = state;
	if (clone_net_nud_valid(state) && !(state & NUD_NOARP)) {
		memcpy(s->mac, mac, 6);
		s->has_mac = true;
	} else {
		memset(s->mac, 0, 6);
		s->has_mac = false;
	}
}

/* Whether (@ifindex, @ip_be) is in the round's set @done (CLONE_PROBE_SET
 * entries, open addressing, 0 = empty); adds it if not. */
static bool probed_already(uint64_t *done, int ifindex, uint32_t ip_be)
{
	uint64_t key = ((uint64_t)(uint32_t)ifindex << 32 | ip_be) + 1;
	uint32_t h = (uint32_t)(key * 0x9e3779b97f4a7c15ull >> 40) & (CLONE_PROBE_SET - 1);

	while (done[h] && done[h] != key)
		h = (h + 1) & (CLONE_PROBE_SET - 1);
	if (done[h])
		return true;
	done[h] = key;
	return false;
}

/*
 * Keeps the kernel's knowledge of @s current: unresolved, a datagram makes
 * the kernel resolve it (broadcast ARP, INCOMPLETE then REACHABLE or FAILED);
 * resolved, a broadcast ARP request whose reply the kernel takes in, so a MAC
 * that changed without a gratuitous ARP is learnt within a round; stale, the
 * datagram as well, so the kernel's own probing confirms the entry or fails
 * it. At most once per CLONE_REVALIDATE_MS unless @now_please.
 */
static void revalidate(struct clone_engine *ce, struct clone_srv_state *s, uint64_t now, bool now_please,
		       uint64_t *done)
{
	if (s->mac_configured || !s->ifindex || s->encap != CLONE_ENCAP_NONE)
		return;
	if (!now_please && now - s->last_probe_ms < CLONE_REVALIDATE_MS)
		return;
	s->last_probe_ms = now;
	/* One clone server of many services (one profile, many users) is
	 * asked once a round, not once per service. An IPv6 server's key is its
	 * address folded to 32 bits: a collision only skips a round's
	 * re-validation, never a server's MAC. */
	if (done && probed_already(done, s->ifindex,
				   s->af == AF_INET6 ? s->ip6.s6_addr32[0] ^ s->ip6.s6_addr32[1] ^
							       s->ip6.s6_addr32[2] ^ s->ip6.s6_addr32[3]
						     : s->ip_be))
		return;
	slow_step(ce, "ARP re-validation");
	if (s->has_mac && s->af == AF_INET6)
		clone_net_ndp_solicit(s->ifindex, s->src_mac, &s->if_addr6, &s->ip6);
	else if (s->has_mac)
		clone_net_arp_request(s->ifindex, s->src_mac, s->if_addr_be, s->ip_be);
	if (!s->has_mac || (s->nud & NUD_STALE)) {
		union addr_any a = clone_srv_addr(s, 0);
		clone_net_probe_any(&a, s->ifname);
	}
}

/* Whether what readers see of @a and @b (interface, MACs) differs. */
static bool visible_differs(const struct clone_srv_state *a, const struct clone_srv_state *b)
{
	return a->ifindex != b->ifindex || strcmp(a->ifname, b->ifname) != 0 || a->has_mac != b->has_mac ||
	       memcmp(a->mac, b->mac, 6) != 0 || memcmp(a->src_mac, b->src_mac, 6) != 0 ||
	       a->outer_src_be != b->outer_src_be || a->mtu != b->mtu ||
	       memcmp(&a->outer_src6, &b->outer_src6, sizeof(a->outer_src6)) != 0;
}

/* A fresh, zeroed counter slot nobody holds (see clone_slot_take()). */
static uint32_t take_slot(struct clone_engine *ce)
{
	struct timespec ms10 = {.tv_nsec = 10 * 1000 * 1000};
	int r;

	/* Every free slot still resting: wait for the oldest to be done (at
	 * most the quarantine). Only the writers wait: apply_lock is held, the
	 * connection hook's lock is not. */
	while ((r = clone_slot_take(&ce->slots, now_ms())) == -EAGAIN) {
		slow_step(ce, "waiting for a counter slot");
		nanosleep(&ms10, NULL);
	}
	if (r < 0) {
		/* Cannot happen: CLONE_MAX_SRV servers < CLONE_STAT_SLOTS. */
		log_error("clone", "no free counter slot: %s", strerror(-r));
		abort();
	}
	clone_stats_zero(ce, (uint32_t)r);
	return (uint32_t)r;
}

/* Reconciles service slot @vs (a copy, not yet published) with its profile.
 * @reset: fresh counters. */
static void apply_profile(struct clone_engine *ce, struct clone_vs_state *vs, const json_t *prof, bool reset)
{
	bool keep[CLONE_SRV_PER_VS] = {false};
	struct clone_prof old_prof;
	const json_t *cs;
	size_t i;
	int k, n = 0;
	uint64_t now = now_ms();

	vs->preserve_client_ip = json_is_true(json_object_get(prof, "preserve_client_ip"));
	vs->plaintext = json_is_true(json_object_get(prof, "plaintext_for_tls_pools"));
	old_prof = vs->prof;
	clone_prof_parse(prof, &old_prof, &vs->prof);
	json_array_foreach(json_object_get(prof, "clone_servers"), i, cs) {
		const json_t *subnet = json_object_get(cs, "subnet");
		struct clone_srv_state *s = NULL;
		uint32_t ip_be = 0, net_be = 0;
		struct in6_addr ip6 = IN6ADDR_ANY_INIT, net6 = IN6ADDR_ANY_INIT;
		int af = AF_INET;
		const char *mac = json_string_value(json_object_get(cs, "mac"));
		const char *netref = json_string_value(json_object_get(cs, "network_ref"));
		int mask = -1;
		bool fresh = reset;

		if (n >= CLONE_SRV_PER_VS)
			continue;
		if (parse_addr6(json_object_get(cs, "ip_address"), &ip6) == 0)
			af = AF_INET6;
		else if (parse_addr(json_object_get(cs, "ip_address"), &ip_be) < 0)
			continue;
		if (subnet && (af == AF_INET6
				       ? parse_addr6(json_object_get(subnet, "ip_addr"), &net6)
				       : parse_addr(json_object_get(subnet, "ip_addr"), &net_be)) == 0 &&
		    json_is_integer(json_object_get(subnet, "mask")))
			mask = (int)json_integer_value(json_object_get(subnet, "mask"));
		/* The same server (address and placement) keeps its slot, so the
		 * connections already going to it keep going to it. */
		for (k = 0; k < CLONE_SRV_PER_VS; k++) {
			struct clone_srv_state *o = &vs->srv[k];

			if (o->used && !keep[k] && o->ip_be == ip_be && o->subnet_be == net_be &&
			    o->af == af && !memcmp(&o->ip6, &ip6, 16) && !memcmp(&o->subnet6, &net6, 16) &&
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
			s->af = af;
			s->ip6 = ip6;
			s->subnet6 = net6;
			if (af == AF_INET6)
				inet_ntop(AF_INET6, &ip6, s->ip, sizeof(s->ip));
			else
				inet_ntop(AF_INET, &ip_be, s->ip, sizeof(s->ip));
			s->subnet_be = net_be;
			s->mask = mask;
			snprintf(s->network_ref, sizeof(s->network_ref), "%s", netref ? netref : "");
			s->gen = ce->next_gen++;
			s->stat_slot = take_slot(ce);
			fresh = true;
		} else if (reset) {
			/* The old slot is released once the new one is published. */
			s->stat_slot = take_slot(ce);
		}
		clone_srv_set_encap(s, cs);
		/* A collector's next hop is resolved by the kernel: no MAC. */
		s->mac_configured = s->encap == CLONE_ENCAP_NONE && mac && *mac &&
				    clone_net_parse_mac(mac, s->mac) == 0;
		if (s->mac_configured)
			s->has_mac = true;
		find_interface(ce, s);
		find_mac(ce, s);
		revalidate(ce, s, now, fresh, NULL);
		keep[k] = true;
		vs->order[n++] = k;
	}
	vs->n_order = n;
	for (k = 0; k < CLONE_SRV_PER_VS; k++)
		if (!keep[k])
			vs->srv[k].used = false;
}

/*
 * One pass of the resolver over every clone server, on copies: @links, find
 * the interfaces again; @neigh, read the neighbour table again; due ones are
 * re-validated. What readers see changes only if something changed, in a
 * short write-locked copy. Called with apply_lock. Returns how many servers
 * on an interface still lack a MAC.
 */
static int refresh_servers(struct clone_engine *ce, bool links, bool neigh, bool probe)
{
	uint64_t now = now_ms(), *done = probe ? xcalloc(CLONE_PROBE_SET, sizeof(*done)) : NULL;
	int v, k, missing = 0;

	for (v = 0; v < CLONE_MAX_VS; v++)
		for (k = 0; ce->vs[v].used && k < CLONE_SRV_PER_VS; k++) {
			struct clone_srv_state *cur = &ce->vs[v].srv[k], copy;

			if (!cur->used)
				continue;
			copy = *cur;
			if (links)
				find_interface(ce, &copy);
			if (neigh || links)
				find_mac(ce, &copy);
			if (probe)
				revalidate(ce, &copy, now, false, done);
			if (visible_differs(cur, &copy)) {
				write_begin(ce);
				*cur = copy;
				write_end(ce);
				/* The program alone reads the map: no lock needed. */
				push_srv(ce, v, k, &ce->vs[v]);
				if (!copy.mac_configured && copy.ifindex && copy.has_mac)
					log_info("clone", "clone server %s: MAC %02x:%02x:%02x:%02x:%02x:%02x",
						 copy.ip, copy.mac[0], copy.mac[1], copy.mac[2], copy.mac[3],
						 copy.mac[4], copy.mac[5]);
				else if (!copy.mac_configured && copy.ifindex)
					log_info("clone", "clone server %s: no MAC (neighbour unresolved): "
						 "its frames are counted, not sent", copy.ip);
			} else {
				/* Fields nobody but the writers reads. */
				cur->last_probe_ms = copy.last_probe_ms;
				cur->nud = copy.nud;
				cur->warned = copy.warned;
				cur->if_addr_be = copy.if_addr_be;
				cur->if_addr6 = copy.if_addr6;
			}
			if (copy.ifindex && !copy.has_mac)
				missing++;
		}
	free(done);
	return missing;
}

/* The addresses of the clone servers that are resolved through the
 * neighbour table, for picking notifications. Caller frees. */
static union addr_any *resolved_ips(struct clone_engine *ce, int *ret_n)
{
	union addr_any *ips = xcalloc(CLONE_MAX_SRV, sizeof(*ips));
	int v, k, n = 0;

	for (v = 0; v < CLONE_MAX_VS; v++)
		for (k = 0; ce->vs[v].used && k < CLONE_SRV_PER_VS; k++)
			if (ce->vs[v].srv[k].used && !ce->vs[v].srv[k].mac_configured)
				ips[n++] = clone_srv_addr(&ce->vs[v].srv[k], 0);
	*ret_n = n;
	return ips;
}

/*
 * A round of the resolver (every 250 ms): reads the kernel's notifications
 * (neighbour entries of clone servers, links, addresses) and acts on what
 * they say; every CLONE_REVALIDATE_MS re-validates the resolved servers.
 * A quiet round takes no lock readers wait on. Returns how many servers
 * still lack a MAC.
 */
int clone_refresh_all(struct clone_engine *ce)
{
	struct clone_net_events ev = {0};
	uint64_t now = now_ms();
	union addr_any *ips;
	int n_ips, missing;
	bool links, neigh;

	pthread_mutex_lock(&ce->apply_lock);
	if (!ce->nl_opened) {
		ce->nl_opened = true;
		ce->nl_fd = clone_net_events_open();
		if (ce->nl_fd < 0)
			log_warn("clone", "no neighbour notifications (%s): MAC changes are found by polling",
				 strerror(-ce->nl_fd));
		ce->links_dirty = true;
	}
	ips = resolved_ips(ce, &n_ips);
	if (ce->nl_fd >= 0)
		clone_net_events_read_any(ce->nl_fd, ips, n_ips, &ev);
	else
		ev.overrun = true; /* no notifications: look every round */
	free(ips);
	atomic_fetch_add(&ce->n_neigh_events, (uint64_t)ev.n_neigh);
	/* Interfaces are found again when the kernel says one changed, and
	 * every few seconds in case a notification was missed. */
	links = ev.links || ev.overrun || ce->links_dirty || now - ce->last_links_ms >= 5000;
	if (links) {
		ce->links_dirty = false;
		ce->last_links_ms = now;
	}
	/* The table is read again when it says something changed, and once a
	 * re-validation period in case a notification was missed. */
	neigh = links || ev.n_neigh > 0 || now - ce->last_neigh_ms >= CLONE_REVALIDATE_MS;
	if (neigh)
		ce->last_neigh_ms = now;
	missing = refresh_servers(ce, links, neigh, true);
	atomic_fetch_add(&ce->n_resolver_rounds, 1);
	pthread_mutex_unlock(&ce->apply_lock);
	return missing;
}

/* See clone_int.h: closes what the resolver opened. */
void clone_resolver_close(struct clone_engine *ce)
{
	if (ce->nl_opened && ce->nl_fd >= 0)
		close(ce->nl_fd);
	ce->nl_opened = false;
}

/*
 * Clone servers without a configured MAC were just probed: give the
 * neighbour table a moment (at most 50 ms; an ARP exchange on a directly
 * connected segment takes well under one) so that the first connections are
 * cloned. Whatever is still unresolved is left to the resolver.
 */
static void wait_for_macs(struct clone_engine *ce, int pending)
{
	struct timespec ms5 = {.tv_nsec = 5 * 1000 * 1000};
	int round;

	for (round = 0; pending && round < 10; round++) {
		slow_step(ce, "waiting for a MAC");
		nanosleep(&ms5, NULL);
		pending = refresh_servers(ce, false, true, false);
	}
}

/* Copies the services of @next that differ into ce->vs and the list of known
 * services in, and writes their servers to the map, under a short write
 * lock: memory copies and array-map updates only (constant time in the
 * kernel, never blocking), so a connection registered right after sees a
 * map that agrees with it. */
static void publish(struct clone_engine *ce, const struct clone_vs_state *next, char **known, int n_known)
{
	bool changed[CLONE_MAX_VS], any = n_known != ce->n_known_vs;
	char **old_known;
	int v, k, n_old;

	for (v = 0; v < CLONE_MAX_VS; v++) {
		/* Writer-only fields need no swap: take them as they are. */
		for (k = 0; k < CLONE_SRV_PER_VS; k++) {
			struct clone_srv_state *cur = &ce->vs[v].srv[k];
			const struct clone_srv_state *nx = &next[v].srv[k];

			cur->if_addr_be = nx->if_addr_be;
			cur->if_addr6 = nx->if_addr6;
			cur->nud = nx->nud;
			cur->last_probe_ms = nx->last_probe_ms;
			cur->warned = nx->warned;
		}
		changed[v] = memcmp(&ce->vs[v], &next[v], sizeof(next[v])) != 0;
		any |= changed[v];
	}
	for (k = 0; !any && k < n_known; k++)
		any = strcmp(known[k], ce->known_vs[k]) != 0;
	if (!any) {
		/* Nothing readers see changed (another object did): no swap. */
		for (k = 0; k < n_known; k++)
			free(known[k]);
		free(known);
		return;
	}
	write_begin(ce);
	for (v = 0; v < CLONE_MAX_VS; v++) {
		if (!changed[v])
			continue;
		ce->vs[v] = next[v];
		clone_prof_push(ce, v, &ce->vs[v]);
		for (k = 0; k < CLONE_SRV_PER_VS; k++)
			push_srv(ce, v, k, &ce->vs[v]);
	}
	for (ce->vs_end = CLONE_MAX_VS; ce->vs_end > 0 && !ce->vs[ce->vs_end - 1].used; ce->vs_end--)
		;
	old_known = ce->known_vs;
	n_old = ce->n_known_vs;
	ce->known_vs = known;
	ce->n_known_vs = n_known;
	write_end(ce);
	for (k = 0; k < n_old; k++)
		free(old_known[k]);
	free(old_known);
}

/* Marks in @held the counter slots the services of @vs hold. */
static void held_slots(const struct clone_vs_state *vs, bool *held)
{
	int v, k;

	for (v = 0; v < CLONE_MAX_VS; v++)
		for (k = 0; vs[v].used && k < CLONE_SRV_PER_VS; k++)
			if (vs[v].srv[k].used)
				held[vs[v].srv[k].stat_slot] = true;
}

/* See clone.h. */
void clone_apply(struct clone_engine *ce, const json_t *snap)
{
	bool seen[CLONE_MAX_VS] = {false};
	int want[CLONE_MAX_HOOKS], n_want = 0, v, k, pending = 0, n_known = 0;
	struct clone_vs_state *next;
	bool *before, *after;
	char **known;
	const json_t *o;
	uint64_t now;
	size_t i;

	if (!ce || !snap)
		return;
	pthread_mutex_lock(&ce->apply_lock);
	/* Only writers change ce->vs, and they hold apply_lock: read it freely. */
	next = xcalloc(CLONE_MAX_VS, sizeof(*next));
	memcpy(next, ce->vs, sizeof(ce->vs));
	known = xcalloc(json_array_size(json_object_get(snap, "virtualservice")) + 1, sizeof(char *));
	free(ce->pool_ips);
	ce->pool_ips = NULL;
	ce->n_pool_ips = 0;
	free(ce->pool_ips6);
	ce->pool_ips6 = NULL;
	ce->n_pool_ips6 = 0;

	json_array_foreach(json_object_get(snap, "virtualservice"), i, o) {
		const char *tenant = *jstr(o, "tenant_ref") ? jstr(o, "tenant_ref") : "admin";
		const char *pref = jstr(o, "traffic_clone_profile_ref");
		const json_t *prof, *pool;
		json_int_t id = json_integer_value(json_object_get(o, "_id"));
		char key[sizeof(next[0].profile_key)];
		bool reset;

		known[n_known++] = xstrdup(jstr(o, "uuid"));
		if (!*pref)
			continue;
		prof = snap_find(snap, "trafficcloneprofile", tenant, pref);
		if (!prof) {
			log_warn("clone", "virtual service %s: traffic clone profile %s not found", jstr(o, "name"), pref);
			continue;
		}
		for (v = 0; v < CLONE_MAX_VS && !(next[v].used && next[v].vs_id == id); v++)
			;
		if (v == CLONE_MAX_VS) {
			for (v = 0; v < CLONE_MAX_VS && (next[v].used || seen[v]); v++)
				;
			if (v == CLONE_MAX_VS) {
				log_warn("clone", "virtual service %s: more than %d cloned services, not cloned",
					  jstr(o, "name"), CLONE_MAX_VS);
				continue;
			}
			memset(&next[v], 0, sizeof(next[v]));
			next[v].used = true;
			next[v].vs_id = id;
		}
		seen[v] = true;
		snprintf(next[v].uuid, sizeof(next[v].uuid), "%s", jstr(o, "uuid"));
		snprintf(next[v].name, sizeof(next[v].name), "%s", jstr(o, "name"));
		snprintf(next[v].tenant, sizeof(next[v].tenant), "%s", tenant);
		snprintf(key, sizeof(key), "%s|%s", jstr(prof, "uuid"), jstr(prof, "_last_modified"));
		reset = strcmp(key, next[v].profile_key) != 0;
		snprintf(next[v].profile_key, sizeof(next[v].profile_key), "%s", key);
		if (reset) {
			char *t = now_iso8601();

			snprintf(next[v].last_reset, sizeof(next[v].last_reset), "%s", t);
			free(t);
		}
		apply_profile(ce, &next[v], prof, reset);
		pool = snap_find(snap, "pool", tenant, jstr(o, "pool_ref"));
		if (pool)
			clone_hooks_add_pool(ce, pool);
	}
	/* Services that lost their profile (or are gone): their slots go
	 * inactive at once, so their connections stop being cloned. */
	for (v = 0; v < CLONE_MAX_VS; v++) {
		if (!next[v].used || seen[v])
			continue;
		next[v].used = false;
		next[v].profile_key[0] = '\0';
		for (k = 0; k < CLONE_SRV_PER_VS; k++)
			next[v].srv[k].used = false;
	}
	/* Hooks first, so the first SYN of a connection registered right after
	 * the swap is already cloned. */
	n_want = clone_hooks_wanted(ce, want, false);
	clone_hooks_sync(ce, want, n_want);

	before = xcalloc(CLONE_STAT_SLOTS, sizeof(bool));
	after = xcalloc(CLONE_STAT_SLOTS, sizeof(bool));
	held_slots(ce->vs, before);
	held_slots(next, after);
	publish(ce, next, known, n_known);
	/* Counters no server points at any more rest before they are reused. */
	now = now_ms();
	for (k = 0; k < CLONE_STAT_SLOTS; k++)
		if (before[k] && !after[k])
			clone_slot_release(&ce->slots, (uint32_t)k, now);
	free(before);
	free(after);
	free(next);

	for (v = 0; v < CLONE_MAX_VS; v++)
		for (k = 0; ce->vs[v].used && k < CLONE_SRV_PER_VS; k++)
			if (ce->vs[v].srv[k].used && !ce->vs[v].srv[k].has_mac && ce->vs[v].srv[k].ifindex &&
			    !ce->vs[v].srv[k].mac_configured && ce->vs[v].srv[k].last_probe_ms + 1000 > now_ms())
				pending++;
	wait_for_macs(ce, pending);
	pthread_mutex_unlock(&ce->apply_lock);
}
