/* clone_int.h: the clone engine's internal state, shared by the files of src/clone/ only. */
#ifndef CLONELB_CLONE_CLONE_INT_H
#define CLONELB_CLONE_CLONE_INT_H

#include <net/if.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "bpf/clone_shared.h"
#include "clone/clone.h"
#include "lib/addr.h"

/* Longest interface list the engine attaches to. */
#define CLONE_MAX_HOOKS 64
/* How long a closed connection's frames are still cloned (its FIN/ACK). */
#define CLONE_CLOSE_GRACE_NS (5ull * 1000 * 1000 * 1000)
/*
 * How long a released counter slot rests before it is handed out again. The
 * program reads a server's slot from clone_srvs and adds to it within one
 * run (microseconds, under RCU): a second is ample for every frame that read
 * the old slot to be done with it.
 */
#define CLONE_SLOT_QUARANTINE_MS 1000u
/* How often a resolved clone server is asked again who has its address. */
#define CLONE_REVALIDATE_MS 1000u
/* Size of a round's set of servers already re-validated: a power of two
 * above CLONE_MAX_SRV, so open addressing always finds a free entry. */
#define CLONE_PROBE_SET 8192u

struct clone_bpf;
struct clone_watch;
struct clone_plain_unsent;

/*
 * One clone server of one cloned virtual service (a slot of clone_srvs).
 * Readers (the connection hook, the stats) take ce->lock for reading; every
 * field they read is only written under ce->lock for writing, and never
 * across a system call. Fields marked "writers only" are used by whoever
 * holds ce->apply_lock and by nobody else.
 */
struct clone_srv_state {
	bool used;
	uint32_t ip_be;
	char ip[INET6_ADDRSTRLEN];
	/* An IPv6 clone server (af AF_INET6): its address, subnet and the SE's
	 * address on that subnet are these; the *_be fields above stay 0. */
	int af;
	struct in6_addr ip6, subnet6, if_addr6;
	uint32_t subnet_be;        /* 0 with mask -1 when the profile gave none */
	int mask;
	char network_ref[IF_NAMESIZE];
	char ifname[IF_NAMESIZE];  /* "" while no interface matches */
	int ifindex;
	uint8_t src_mac[6];
	uint8_t mac[6];
	bool has_mac;
	bool mac_configured;       /* from the profile, never resolved */
	uint32_t if_addr_be;       /* the SE's address on that subnet (writers only) */
	uint16_t nud;              /* kernel neighbour state, 0 if no entry (writers only) */
	uint64_t last_probe_ms;    /* last re-validation or probe (writers only) */
	bool warned;               /* the missing interface was logged (writers only) */
	uint32_t gen;
	uint32_t stat_slot;
	/* Delivery (issue 13). Encapsulated servers are reached by a route:
	 * ifindex is the route's, MACs are the kernel's business. */
	uint32_t encap;            /* enum clone_encap */
	uint32_t vni;
	uint16_t dst_port;         /* host byte order */
	uint16_t erspan_session;
	uint32_t outer_src_be;     /* the SE's address on the egress interface */
	struct in6_addr outer_src6; /* the same for an IPv6 collector (af AF_INET6) */
	uint32_t mtu;              /* path MTU (0: not known) */
};

/* One virtual service that has a traffic clone profile. */
struct clone_vs_state {
	bool used;
	int64_t vs_id;
	char uuid[64];
	char name[128];
	char tenant[128]; /* the tenant label of its metrics */
	char profile_key[192];     /* profile uuid and _last_modified: a change resets the stats */
	bool preserve_client_ip;
	bool plaintext;            /* plaintext_for_tls_pools: TLS connections get synthesized clones */
	int order[CLONE_SRV_PER_VS]; /* round-robin order: slots of srv[] */
	int n_order;
	struct clone_srv_state srv[CLONE_SRV_PER_VS];
	char last_reset[40];
	struct clone_prof prof;    /* filters, snaplen, budget as clone_profs holds them */
};

/* A tc clsact hook pair (ingress and egress) we attached. */
struct clone_hook {
	int ifindex;
	char ifname[IF_NAMESIZE];
};

/*
 * Counter slots of clone_stats. A slot is handed out only when no server
 * holds it and it has rested CLONE_SLOT_QUARANTINE_MS since its release, so
 * no live server's counters are ever zeroed or shared.
 */
struct clone_slots {
	bool used[CLONE_STAT_SLOTS];
	uint64_t released_ms[CLONE_STAT_SLOTS]; /* 0: never used */
	uint32_t next;                          /* where the next search starts */
	uint32_t n_used;
};

struct clone_engine {
	struct clone_bpf *skel;
	int conns_fd, conns6_fd, srvs_fd, stats_fd, events_fd;
	int socks_fd; /* clone_socks: the registration on the socket itself */
	int profs_fd, health_fd; /* clone_profs (clone_apply.c), clone_health (clone_health.c) */
	int ncpus;

	/*
	 * Two locks. apply_lock serialises the writers (clone_apply(), the
	 * resolver's rounds, the hook re-check): the slow work (getifaddrs,
	 * netlink, tc, ARP) is done holding it alone. lock is what readers
	 * (the proxy's connection hook, the stats) take for reading; writers
	 * take it for writing only to copy prepared state in, with no system
	 * call inside. Order: apply_lock, then lock.
	 */
	pthread_mutex_t apply_lock;
	pthread_rwlock_t lock;
	struct clone_vs_state vs[CLONE_MAX_VS];
	int vs_end; /* 1 + the last used index of vs: where lookups stop (lock) */
	_Atomic uint32_t rr[CLONE_MAX_VS];
	uint32_t next_gen;
	struct clone_slots slots;  /* apply_lock */
	struct clone_hook hooks[CLONE_MAX_HOOKS]; /* apply_lock */
	int n_hooks;               /* apply_lock */
	_Atomic int n_attached;    /* n_hooks, for the metrics */
	/* Clone interfaces carrying clone_deliver (apply_lock). A server's
	 * interface is written to clone_srvs only once it is here, so no clone
	 * ever leaves without its rewrite. */
	int deliver_if[CLONE_MAX_HOOKS];
	int n_deliver;
	uint32_t *pool_ips;        /* servers of the pools of cloned services (apply_lock) */
	int n_pool_ips;
	struct in6_addr *pool_ips6; /* and their IPv6 servers (apply_lock) */
	int n_pool_ips6;
	char **known_vs;           /* uuids of every service of the last snapshot (lock) */
	int n_known_vs;
	char se_uuid[128];

	/* The resolver's view of the kernel (apply_lock). */
	bool nl_opened;
	int nl_fd;                 /* rtnetlink: neighbour, link and address changes */
	bool links_dirty;          /* an interface or address changed: find interfaces again */
	uint64_t last_links_ms;
	uint64_t last_neigh_ms;
	_Atomic uint64_t n_write_locks;    /* times lock was taken for writing */
	_Atomic uint64_t n_resolver_rounds;
	_Atomic uint64_t n_neigh_events;   /* neighbour notifications about clone servers */
	_Atomic uint64_t n_slow_under_lock; /* slow steps taken under the write lock: a bug if not 0 */

	struct clone_watch *health; /* clone_health.c: which clone servers answer */

	/* clone_plain.c: the synthesized plaintext flows of TLS pools. */
	int plain_fd; /* AF_PACKET, each frame marked by its direction (SO_MARK cmsg); -1: none */
	struct clone_plain_unsent *plain_unsent; /* per counter slot: frames the kernel refused */
	_Atomic uint64_t n_plain_flows, n_plain_sent, n_plain_unsent;

	pthread_t resolver;
	bool resolver_started;
	pthread_mutex_t stop_mutex;
	pthread_cond_t stop_cond;
	bool stopping;
};

/* clone_apply.c */
int clone_refresh_all(struct clone_engine *ce);
/* @s's address, subnet or interface address (@which: 0, 1, 2) as a socket
 * address of its family. */
union addr_any clone_srv_addr(const struct clone_srv_state *s, int which);
void clone_resolver_close(struct clone_engine *ce);
/* Called first by every step that makes slow system calls: counts (and logs
 * once) one taken under the engine's write lock, which would hold up the
 * proxy's connection hook. */
void clone_slow_step(struct clone_engine *ce, const char *what);

/* clone_hooks.c, with apply_lock held. clone_hooks_add_pool(): adds the
 * addresses of the servers of pool object @pool to ce->pool_ips (IPv4) or
 * ce->pool_ips6. clone_hooks_wanted(): fills @want (CLONE_MAX_HOOKS entries)
 * with the interfaces the routing table says reach them, each once, and
 * returns how many; @quiet: servers without a route are not logged (the
 * periodic recheck). clone_hooks_sync(): attaches to every interface of
 * @want not yet attached, detaches from the rest (tc work). */
void clone_hooks_add_pool(struct clone_engine *ce, const json_t *pool);
int clone_hooks_wanted(struct clone_engine *ce, int *want, bool quiet);
void clone_hooks_sync(struct clone_engine *ce, const int *want, int n_want);
/* Re-places the hooks if the interfaces that reach the pools changed or one
 * of our filters went away (takes apply_lock). */
void clone_recheck_hooks(struct clone_engine *ce);

/* clone_deliver.c */
/* Whether clone_deliver is attached to @ifindex (apply_lock). */
bool clone_deliver_ready(const struct clone_engine *ce, int ifindex);
/* Attaches clone_deliver to the egress of @ifindex unless it is; tc work,
 * apply_lock only. Returns 0 or -errno (logged). */
int clone_deliver_ensure(struct clone_engine *ce, int ifindex);
/* Attaches clone_deliver again where it went away (apply_lock). */
void clone_deliver_recheck(struct clone_engine *ce);
/* enum clone_encap of an encap_type name ("" or NULL: NONE), or -EINVAL. */
int clone_encap_parse(const char *name);
/* Sets the encapsulation fields of @s from clone server object @cs. */
void clone_srv_set_encap(struct clone_srv_state *s, const json_t *cs);
/* An encapsulated server's egress by route: interface, its MAC, outer source,
 * path MTU; all zero when there is no route. Slow: rtnetlink. */
void clone_srv_find_route(struct clone_srv_state *s);
/* A directly connected server's path MTU (0: unknown). Slow: rtnetlink. */
uint32_t clone_srv_path_mtu(const struct clone_srv_state *s);
/* clone_profs' value of profile @prof; @old is the value before (its
 * generation moves on when the filters change). */
void clone_prof_parse(const json_t *prof, const struct clone_prof *old, struct clone_prof *ret);
/* Writes service slot @v's filters, snaplen and budget to clone_profs (zero,
 * i.e. everything, when the slot is unused). */
void clone_prof_push(struct clone_engine *ce, int v, const struct clone_vs_state *vs);

/* clone_tc.c */
int clone_tc_attach(struct clone_engine *ce, int ifindex, char **ret_err);
void clone_tc_detach(struct clone_engine *ce, int ifindex);
int clone_tc_remove_stale(int *ret_deliver);
bool clone_tc_present(int ifindex);
int clone_tc_attach_deliver(struct clone_engine *ce, int ifindex, char **ret_err);
void clone_tc_detach_deliver(int ifindex);
bool clone_tc_deliver_present(int ifindex);

/* clone_net.c. The *_any functions take an address of either family; the
 * others are their IPv4 forms. */
int clone_net_route_any(const union addr_any *dst, union addr_any *ret_src);
int clone_net_neigh_get_any(const union addr_any *ip, int ifindex, uint8_t ret_mac[6],
			    uint16_t *ret_state);
void clone_net_probe_any(const union addr_any *ip, const char *ifname);
int clone_net_ndp_solicit(int ifindex, const uint8_t src_mac[6], const struct in6_addr *src,
			  const struct in6_addr *target);
int clone_net_route_ifindex(uint32_t dst_be, uint32_t *ret_src_be);
int clone_net_if_mac(const char *ifname, uint8_t ret_mac[6]);
int clone_net_neigh_lookup(uint32_t ip_be, const char *ifname, uint8_t ret_mac[6]);
int clone_net_neigh_get(uint32_t ip_be, int ifindex, uint8_t ret_mac[6], uint16_t *ret_state);
bool clone_net_nud_valid(uint16_t state);
int clone_net_events_open(void);
/* What clone_net_events_read() found. */
struct clone_net_events {
	bool links;    /* a link or an address changed */
	bool overrun;  /* notifications were lost: look at everything again */
	int n_neigh;   /* neighbour notifications about one of @ips */
};
void clone_net_events_read(int fd, const uint32_t *ips, int n_ips, struct clone_net_events *ret);
void clone_net_events_read_any(int fd, const union addr_any *ips, int n_ips,
			       struct clone_net_events *ret);
void clone_net_probe(uint32_t ip_be, const char *ifname);
int clone_net_arp_request(int ifindex, const uint8_t src_mac[6], uint32_t src_be, uint32_t target_be);
void clone_net_se_uuid(char *buf, size_t size);
int clone_net_parse_mac(const char *s, uint8_t ret_mac[6]);

/* clone_stats.c */
int clone_slot_take(struct clone_slots *sl, uint64_t now);
void clone_slot_release(struct clone_slots *sl, uint32_t slot, uint64_t now);
void clone_stats_zero(struct clone_engine *ce, uint32_t slot);
int clone_stats_read(struct clone_engine *ce, uint32_t slot, struct clone_stat *ret_percpu);

/* clone.c: whether service @vs_id is cloned with plaintext_for_tls_pools
 * (takes the read lock). */
bool clone_vs_plaintext(struct clone_engine *ce, int64_t vs_id);

/* clone_plain.c */
/* Opens the marked AF_PACKET sockets the synthesized frames leave by (a
 * failure is logged: the frames are then counted as not sent). */
void clone_plain_start(struct clone_engine *ce);
/* Closes them. */
void clone_plain_stop(struct clone_engine *ce);
/* Zeroes counter slot @slot's frames that were never handed to the kernel. */
void clone_plain_zero(struct clone_engine *ce, uint32_t slot);
/* Adds them to @sum (the program never saw them: they are in no CPU's row). */
void clone_plain_add_unsent(struct clone_engine *ce, uint32_t slot, struct clone_stat *sum);
/* Appends the Prometheus lines of the synthesized flows to @out. */
void clone_plain_metrics(struct clone_engine *ce, FILE *out);
/*
 * The px_conn_hook's plain_* calls (px.h). clone_plain_open(): for a
 * connection registered CLONE_CONN_PLAINTEXT, a synthesized flow between its
 * SE address and port and its server's, opened with a three-way handshake;
 * NULL otherwise. clone_plain_data(): the plaintext cut at the MSS into
 * segments of the side that sent it. clone_plain_fin(): that side's FIN.
 * clone_plain_close(): the FINs not sent yet, or the SE's RST (@reset); frees
 * @p (NULL is accepted). Frames the kernel does not take at once are counted
 * as not cloned, never queued.
 */
struct px_plain *clone_plain_open(void *ctx, const struct px_conn_info *ci);
void clone_plain_data(struct px_plain *p, bool from_server, const char *buf, size_t n);
void clone_plain_fin(struct px_plain *p, bool from_server);
void clone_plain_close(struct px_plain *p, bool reset);

/* clone_health.c */
/* Starts the watcher of the clone servers' health (its own thread). Returns 0
 * or -errno with *ret_err. */
int clone_health_start(struct clone_engine *ce, char **ret_err);
/* Stops the watcher and frees it. Accepts an engine without one. */
void clone_health_stop(struct clone_engine *ce);
/* Whether the server of clone_srvs slot @srv_index is down. No lock: for the
 * connection hook. */
bool clone_health_slot_down(const struct clone_engine *ce, uint32_t srv_index);
/* Whether clone server @s (IPv4 or IPv6) is down (takes the watcher's own lock). */
bool clone_health_ip_down(struct clone_engine *ce, const struct clone_srv_state *s);
/* Adds oper_state, oper_reason, health_check, oper_state_since and num_down of
 * clone server @s to stats object @o. */
void clone_health_json(struct clone_engine *ce, const struct clone_srv_state *s, json_t *o);
/* Appends the watcher's Prometheus lines to @out. */
void clone_health_metrics(struct clone_engine *ce, FILE *out);

#endif
