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

/* Longest interface list the engine attaches to. */
#define CLONE_MAX_HOOKS 64
/* How long a closed connection's frames are still cloned (its FIN/ACK). */
#define CLONE_CLOSE_GRACE_NS (5ull * 1000 * 1000 * 1000)

struct clone_bpf;

/* One clone server of one cloned virtual service (a slot of clone_srvs). */
struct clone_srv_state {
	bool used;
	uint32_t ip_be;
	char ip[INET_ADDRSTRLEN];
	uint32_t subnet_be;        /* 0 with mask -1 when the profile gave none */
	int mask;
	char network_ref[IF_NAMESIZE];
	char ifname[IF_NAMESIZE];  /* "" while no interface matches */
	int ifindex;
	uint8_t src_mac[6];
	uint8_t mac[6];
	bool has_mac;
	bool mac_configured;       /* from the profile, never resolved */
	uint64_t last_probe_ms;    /* last neighbour-resolution probe */
	bool warned;               /* the missing interface was logged */
	uint32_t gen;
	uint32_t stat_slot;
};

/* One virtual service that has a traffic clone profile. */
struct clone_vs_state {
	bool used;
	int64_t vs_id;
	char uuid[64];
	char name[128];
	char *profile_key;         /* profile uuid and _last_modified: a change resets the stats */
	bool preserve_client_ip;
	int order[CLONE_SRV_PER_VS]; /* round-robin order: slots of srv[] */
	int n_order;
	struct clone_srv_state srv[CLONE_SRV_PER_VS];
	char last_reset[40];
};

/* A tc clsact hook pair (ingress and egress) we attached. */
struct clone_hook {
	int ifindex;
	char ifname[IF_NAMESIZE];
};

struct clone_engine {
	struct clone_bpf *skel;
	int conns_fd, srvs_fd, stats_fd, events_fd;
	int socks_fd; /* clone_socks: the registration on the socket itself */
	int ncpus;

	/* Writers: clone_apply() and the resolver. Readers: the proxy's hook and
	 * the stats. Connection setup takes it for reading only. */
	pthread_rwlock_t lock;
	struct clone_vs_state vs[CLONE_MAX_VS];
	_Atomic uint32_t rr[CLONE_MAX_VS];
	uint32_t next_gen;
	uint32_t next_stat;
	struct clone_hook hooks[CLONE_MAX_HOOKS];
	int n_hooks;
	uint32_t *pool_ips;        /* servers of the pools of cloned services */
	int n_pool_ips;
	char **known_vs;           /* uuids of every service of the last snapshot */
	int n_known_vs;
	char se_uuid[128];

	pthread_t resolver;
	bool resolver_started;
	pthread_mutex_t stop_mutex;
	pthread_cond_t stop_cond;
	bool stopping;
};

/* clone_apply.c */
int clone_refresh_all(struct clone_engine *ce);
void clone_recheck_hooks(struct clone_engine *ce);

/* clone_tc.c */
int clone_tc_attach(struct clone_engine *ce, int ifindex, char **ret_err);
void clone_tc_detach(struct clone_engine *ce, int ifindex);
int clone_tc_remove_stale(void);
bool clone_tc_present(int ifindex);

/* clone_net.c */
int clone_net_route_ifindex(uint32_t dst_be, uint32_t *ret_src_be);
int clone_net_if_mac(const char *ifname, uint8_t ret_mac[6]);
int clone_net_neigh_lookup(uint32_t ip_be, const char *ifname, uint8_t ret_mac[6]);
void clone_net_probe(uint32_t ip_be, const char *ifname);
void clone_net_se_uuid(char *buf, size_t size);
int clone_net_parse_mac(const char *s, uint8_t ret_mac[6]);

/* clone_stats.c */
void clone_stats_zero(struct clone_engine *ce, uint32_t slot);
int clone_stats_read(struct clone_engine *ce, uint32_t slot, struct clone_stat *ret_percpu);

#endif
