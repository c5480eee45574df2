/* bgp_int.h: what bgp.c and bgp_bird.c share: the routing state and the wanted BIRD configuration. */
#ifndef CLONELB_SE_BGP_INT_H
#define CLONELB_SE_BGP_INT_H

#include <arpa/inet.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "lib/addr.h"
#include "se/bgp.h"

struct se_bgp_peer {
	union addr_any addr; /* IPv4: an IPv4 session, IPv6: an IPv6 one (port 0) */
	long long remote_as;
	bool bfd;
};

/* What BIRD should run: derived from a snapshot and the data plane's health. */
struct se_bgp_want {
	uint32_t router_id;
	long long local_as, hold_time, keepalive;
	struct se_bgp_peer *peers;
	size_t npeers;
	union addr_any *announce; /* the VIPs to announce, either family */
	size_t nannounce;
};

struct se_bgp {
	char *bird, *birdc, *group;
	char *conf_path, *ctl_path, *pid_path;
	struct px *px;
	pthread_t th;
	pthread_mutex_t lock; /* guards snap, kicked, stopping */
	pthread_cond_t cond;
	json_t *snap;
	bool kicked, stopping;
	/* routing thread only */
	pid_t bird_pid;
	pthread_t log_th; /* relays BIRD's stderr into the daemon's log */
	bool log_th_running;
	uint64_t started_ms;
	uint64_t backoff_ms;  /* the last wait before starting BIRD again */
	uint64_t retry_at_ms; /* no start before then (BIRD exited by itself) */
	char *applied;	      /* the configuration text BIRD runs */
	union addr_any *announced;
	size_t nannounced;
	char *problem; /* what keeps BGP from running, logged once until it changes */
};

/* Logs @msg (NULL: no problem) as an error once, until another one, or none, replaces it. */
void se_bgp_problem(struct se_bgp *b, const char *msg);

/* bgp_bird.c. The BIRD configuration for @w; caller frees. */
char *se_bird_config(const struct se_bgp_want *w);

/* Makes BIRD run configuration @text: starts it, or rewrites the file and
 * runs "birdc configure"; @text NULL stops it. 0, or -errno to try again. */
int se_bird_sync(struct se_bgp *b, const char *text);

/* Notices a BIRD that exited by itself (it is started again by the next sync). */
void se_bird_check(struct se_bgp *b);

/* Stops BIRD gracefully (routes withdrawn at once), killing it after 3 s. */
void se_bird_stop(struct se_bgp *b);

#endif
