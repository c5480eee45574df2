/* clone_health.c: watches every clone server (neighbour answers, ICMP echo) and takes dead ones out of the rotation. */
/*
 * A clone server that stops answering is taken out: new connections skip it
 * in the round robin (clone_health_slot_down(), read by the connection hook
 * without a lock) and the program moves the frames of its open flows to the
 * next healthy server of the profile (the clone_health map, which this file
 * alone writes). When it answers again it is put back, for new connections.
 *
 * How a server is watched:
 *  - directly connected (CLONE_ENCAP_NONE) without a configured MAC: by the
 *    kernel's neighbour entry. The resolver (clone_apply.c) asks every clone
 *    server for its MAC once a second (a broadcast ARP request, for IPv6 a
 *    neighbour solicitation, or a datagram that makes the kernel resolve
 *    it); each answer confirms the entry, and rtnetlink tells how long ago
 *    that was (NDA_CACHEINFO's ndm_confirmed). No valid entry, or no
 *    confirmation for CLONE_HEALTH_DEAD_MS: down. IPv4 and IPv6 alike.
 *  - with a configured MAC (a dummy MAC: a pure sniffer that never answers):
 *    never watched, always up.
 *  - encapsulated: an ICMP echo (ICMPv6 for an IPv6 collector) from the
 *    SE's own namespace once a second (raw sockets: ping sockets need a
 *    ping_group_range sysctl, and the SE runs on the kernel's defaults); no
 *    reply for CLONE_HEALTH_DEAD_MS: down.
 *
 * The watcher has its own thread. It copies what it needs of the engine's
 * state under the read lock, probes with no engine lock held, and takes
 * apply_lock only for a transition, to rewrite that server's map entries.
 */
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <errno.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <netinet/icmp6.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "clone/clone_int.h"
#include "lib/util.h"
#include "log.h"

/* A server that has not answered for this long is down. Three probe periods:
 * one lost ARP reply or echo is not a dead sensor. */
#define CLONE_HEALTH_DEAD_MS 3000u
/* How often the watcher looks, and how often a server is sent an echo. */
#define CLONE_HEALTH_ROUND_MS 250u
#define CLONE_HEALTH_ECHO_MS 1000u

enum health_how {
	HEALTH_NEIGH,   /* neighbour entry confirmations */
	HEALTH_ICMP,    /* ICMP echo */
	HEALTH_NONE,    /* configured MAC: not watched */
};

/* A clone server's address, the key of its health: IPv4 in the first 4
 * bytes of @a (network byte order), the rest 0. */
struct health_addr {
	int af;
	uint8_t a[16];
};

/* One watched clone server (one address, however many services use it). */
struct health_srv {
	bool used;
	struct health_addr addr;
	char ip[INET6_ADDRSTRLEN];
	int ifindex;
	enum health_how how;
	bool down;
	uint64_t last_ok_ms;    /* last answer (or when watching started) */
	uint64_t last_echo_ms;  /* last echo sent */
	uint64_t since_ms;      /* last transition */
	char since[40];         /* the same, ISO 8601, for the API */
	char reason[128];
	uint64_t n_down;        /* times it was taken out */
};

struct clone_watch {
	/* lock guards srv[] and n_srv: the stats read them, the watcher writes.
	 * Never held across a system call. */
	pthread_mutex_t lock;
	struct health_srv srv[CLONE_MAX_SRV];
	int n_srv;
	/* Per clone_srvs slot: whether its server is down. Read by the
	 * connection hook without a lock. */
	_Atomic bool slot_down[CLONE_MAX_SRV];
	/* The generation each slot's flag was written to clone_health with
	 * (watcher only): a slot given to another server is written again. */
	uint32_t slot_gen[CLONE_MAX_SRV];
	int icmp_fd;            /* -1: no raw socket (then encapsulated servers stay up) */
	int icmp6_fd;           /* the same for IPv6 collectors (ICMPv6) */
	uint16_t echo_ident;
	uint16_t echo_seqno;
	_Atomic uint64_t n_transitions;

	pthread_t thread;
	bool started;
	pthread_mutex_t stop_mutex;
	pthread_cond_t stop_cond;
	bool stopping;
};

/* What the watcher needs of one used slot, copied under the read lock. */
struct health_slot {
	uint32_t index; /* vs slot * CLONE_SRV_PER_VS + server slot */
	uint32_t gen;   /* the slot's clone_srvs generation */
	struct health_addr addr;
	int ifindex;
	enum health_how how;
};

/* ---- probes --------------------------------------------------------------- */

static struct health_addr srv_key(const struct clone_srv_state *s)
{
	struct health_addr k = {.af = s->af == AF_INET6 ? AF_INET6 : AF_INET};

	if (k.af == AF_INET6)
		memcpy(k.a, &s->ip6, 16);
	else
		memcpy(k.a, &s->ip_be, 4);
	return k;
}

static bool same_addr(const struct health_addr *x, const struct health_addr *y)
{
	return x->af == y->af && memcmp(x->a, y->a, 16) == 0;
}

/*
 * The kernel's neighbour entry of @ad (IPv4 or IPv6) on @ifindex: its state
 * and how many milliseconds ago it was last confirmed by an answer. Returns
 * 0, -ENOENT when there is none, or -errno.
 */
static int neigh_confirmed(const struct health_addr *ad, int ifindex, uint16_t *ret_state,
			   uint64_t *ret_age_ms)
{
	struct {
		struct nlmsghdr nh;
		struct ndmsg nd;
		char attrs[32];
	} req;
	unsigned alen = ad->af == AF_INET6 ? 16 : 4;
	char buf[1024];
	struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
	struct timeval tv = {.tv_sec = 1};
	struct nlmsghdr *nh;
	struct rtattr *rta;
	int fd, r = -ENOENT;
	ssize_t n;

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd == -1)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	memset(&req, 0, sizeof(req));
	req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(struct ndmsg));
	req.nh.nlmsg_type = RTM_GETNEIGH;
	req.nh.nlmsg_flags = NLM_F_REQUEST;
	req.nh.nlmsg_seq = 1;
	req.nd.ndm_family = (uint8_t)ad->af;
	req.nd.ndm_ifindex = ifindex;
	rta = (struct rtattr *)((char *)&req + NLMSG_ALIGN(req.nh.nlmsg_len));
	rta->rta_type = NDA_DST;
	rta->rta_len = (unsigned short)RTA_LENGTH(alen);
	memcpy(RTA_DATA(rta), ad->a, alen);
	req.nh.nlmsg_len = NLMSG_ALIGN(req.nh.nlmsg_len) + RTA_LENGTH(alen);
	if (sendto(fd, &req, req.nh.nlmsg_len, 0, (struct sockaddr *)&sa, sizeof(sa)) == -1 ||
	    (n = recv(fd, buf, sizeof(buf), 0)) == -1) {
		r = -errno;
		close(fd);
		return r;
	}
	for (nh = (struct nlmsghdr *)buf; NLMSG_OK(nh, n); nh = NLMSG_NEXT(nh, n)) {
		struct ndmsg *nd = NLMSG_DATA(nh);
		int len;

		if (nh->nlmsg_type == NLMSG_ERROR) {
			struct nlmsgerr *e = NLMSG_DATA(nh);

			r = e->error ? e->error : -ENOENT;
			break;
		}
		if (nh->nlmsg_type != RTM_NEWNEIGH)
			continue;
		*ret_state = nd->ndm_state;
		*ret_age_ms = UINT64_MAX;
		len = (int)RTM_PAYLOAD(nh);
		for (rta = RTM_RTA(nd); RTA_OK(rta, len); rta = RTA_NEXT(rta, len))
			if (rta->rta_type == NDA_CACHEINFO && RTA_PAYLOAD(rta) >= sizeof(struct nda_cacheinfo)) {
				const struct nda_cacheinfo *ci = RTA_DATA(rta);

				/* clock_t ticks of USER_HZ (100 on Linux). */
				*ret_age_ms = (uint64_t)ci->ndm_confirmed * 10u;
			}
		r = 0;
		break;
	}
	close(fd);
	return r;
}

static uint16_t icmp_sum(const void *data, size_t len)
{
	const uint8_t *p = data;
	uint32_t sum = 0;

	for (; len > 1; p += 2, len -= 2)
		sum += (uint32_t)(p[0] << 8 | p[1]);
	if (len)
		sum += (uint32_t)(p[0] << 8);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return htons((uint16_t)~sum);
}

/* The echo socket of @af's family (-1 when there is none). */
static int echo_fd(const struct clone_watch *hl, int af)
{
	return af == AF_INET6 ? hl->icmp6_fd : hl->icmp_fd;
}

/* Sends one ICMP echo request (ICMPv6 for an IPv6 server) to @ad. Errors
 * (no route yet) are the same as no answer. */
static void echo_send(struct clone_watch *hl, const struct health_addr *ad)
{
	union addr_any to;
	struct icmphdr ic;

	memset(&ic, 0, sizeof(ic));
	addr_any_of(ad->af, &to);
	if (ad->af == AF_INET6) {
		/* The same layout as ICMPv6's echo; the kernel fills in the
		 * checksum (it covers a pseudo-header) on a raw ICMPv6 socket. */
		ic.type = ICMP6_ECHO_REQUEST;
		memcpy(&to.in6.sin6_addr, ad->a, 16);
	} else {
		ic.type = ICMP_ECHO;
		memcpy(&to.in.sin_addr, ad->a, 4);
	}
	ic.un.echo.id = htons(hl->echo_ident);
	ic.un.echo.sequence = htons(++hl->echo_seqno);
	if (ad->af == AF_INET)
		ic.checksum = icmp_sum(&ic, sizeof(ic));
	sendto(echo_fd(hl, ad->af), &ic, sizeof(ic), MSG_DONTWAIT, &to.sa, addr_len(&to));
}

/* Marks the ICMP servers at @ad (@len bytes of family @af) as answering @now. */
static void echo_answered(struct clone_watch *hl, int af, const void *ad, size_t len, uint64_t now)
{
	for (int i = 0; i < hl->n_srv; i++)
		if (hl->srv[i].used && hl->srv[i].how == HEALTH_ICMP && hl->srv[i].addr.af == af &&
		    memcmp(hl->srv[i].addr.a, ad, len) == 0)
			hl->srv[i].last_ok_ms = now;
}

/* Reads every pending echo reply of @af's socket; the servers that sent one
 * answered @now. An IPv4 raw socket hands the IP header too, an IPv6 one
 * only the ICMPv6 message. Called with hl->lock. */
static void echo_read(struct clone_watch *hl, int af, uint64_t now)
{
	uint8_t buf[1500];
	union addr_any from;
	socklen_t flen;
	ssize_t n;

	for (;;) {
		const struct iphdr *ip = (const struct iphdr *)buf;
		const struct icmphdr *ic;
		size_t off = 0;

		flen = sizeof(from);
		n = recvfrom(echo_fd(hl, af), buf, sizeof(buf), MSG_DONTWAIT, &from.sa, &flen);
		if (n == -1)
			return;
		if (af == AF_INET) {
			if (n < (ssize_t)sizeof(*ip))
				continue;
			off = ip->ihl * 4u;
		}
		if (n < (ssize_t)(off + sizeof(*ic)))
			continue;
		ic = (const struct icmphdr *)(buf + off);
		if (ic->type != (af == AF_INET6 ? ICMP6_ECHO_REPLY : ICMP_ECHOREPLY) ||
		    ntohs(ic->un.echo.id) != hl->echo_ident)
			continue;
		if (af == AF_INET6)
			echo_answered(hl, af, &from.in6.sin6_addr, 16, now);
		else
			echo_answered(hl, af, &from.in.sin_addr, 4, now);
	}
}

/* ---- the watcher ------------------------------------------------------------ */

/* Copies the used slots of the engine (read lock: a memory walk, no system
 * call). Returns how many. */
static int copy_slots(struct clone_engine *ce, struct health_slot *out)
{
	int v, k, n = 0;

	pthread_rwlock_rdlock(&ce->lock);
	for (v = 0; v < ce->vs_end; v++)
		for (k = 0; ce->vs[v].used && k < CLONE_SRV_PER_VS; k++) {
			const struct clone_srv_state *s = &ce->vs[v].srv[k];

			if (!s->used)
				continue;
			out[n].index = (uint32_t)(v * CLONE_SRV_PER_VS + k);
			out[n].gen = s->gen;
			out[n].addr = srv_key(s);
			out[n].ifindex = s->ifindex;
			out[n].how = s->encap != CLONE_ENCAP_NONE ? HEALTH_ICMP
				     : s->mac_configured	       ? HEALTH_NONE
								       : HEALTH_NEIGH;
			n++;
		}
	pthread_rwlock_unlock(&ce->lock);
	return n;
}

static struct health_srv *srv_find(struct clone_watch *hl, const struct health_addr *ad)
{
	int i;

	for (i = 0; i < hl->n_srv; i++)
		if (hl->srv[i].used && same_addr(&hl->srv[i].addr, ad))
			return &hl->srv[i];
	return NULL;
}

/* Makes hl->srv[] the servers of @slots: new ones start up (with a grace of
 * CLONE_HEALTH_DEAD_MS to answer), gone ones are forgotten. hl->lock held. */
static void sync_servers(struct clone_watch *hl, const struct health_slot *slots, int n, uint64_t now)
{
	bool keep[CLONE_MAX_SRV] = {false};
	int i, j;

	for (i = 0; i < n; i++) {
		struct health_srv *h = srv_find(hl, &slots[i].addr);

		if (!h) {
			for (j = 0; j < hl->n_srv && hl->srv[j].used; j++)
				;
			if (j == CLONE_MAX_SRV)
				continue;
			if (j == hl->n_srv)
				hl->n_srv++;
			h = &hl->srv[j];
			memset(h, 0, sizeof(*h));
			h->used = true;
			h->addr = slots[i].addr;
			inet_ntop(h->addr.af, h->addr.a, h->ip, sizeof(h->ip));
			h->last_ok_ms = now;
			h->since_ms = now;
			snprintf(h->reason, sizeof(h->reason), "not checked yet");
		}
		h->ifindex = slots[i].ifindex;
		/* A server one profile lists with a MAC and another without is
		 * watched: the unwatched use cannot tell it is alive. */
		if (!keep[h - hl->srv] || slots[i].how != HEALTH_NONE)
			h->how = slots[i].how;
		keep[h - hl->srv] = true;
	}
	for (i = 0; i < hl->n_srv; i++)
		if (hl->srv[i].used && !keep[i])
			hl->srv[i].used = false;
	while (hl->n_srv > 0 && !hl->srv[hl->n_srv - 1].used)
		hl->n_srv--;
}

/* How a neighbour server answers: ARP (IPv4) or neighbour discovery (IPv6). */
static const char *neigh_proto(const struct health_srv *h)
{
	return h->addr.af == AF_INET6 ? "NDP" : "ARP";
}

/* The echo @h is sent: ICMP, or ICMPv6 for an IPv6 server. */
static const char *echo_proto(const struct health_srv *h)
{
	return h->addr.af == AF_INET6 ? "ICMPv6" : "ICMP";
}

/* The reason of a server that is up, in @buf. */
static const char *answers(const struct health_srv *h, char buf[64])
{
	if (h->how == HEALTH_NONE)
		return "configured MAC: not watched";
	snprintf(buf, 64, "answers %s%s", h->how == HEALTH_NEIGH ? neigh_proto(h) : echo_proto(h),
		 h->how == HEALTH_NEIGH ? "" : " echo");
	return buf;
}

/* What a probe found about one server, applied under hl->lock. */
struct health_probe {
	bool answered;          /* an answer within CLONE_HEALTH_DEAD_MS */
	uint64_t answered_ms;   /* when */
	char why[128];          /* why not, for the reason */
};

/* Probes @h (a copy: no lock held). Neighbour servers are asked through
 * rtnetlink; ICMP servers are sent an echo when one is due. */
static void probe(struct clone_watch *hl, struct health_srv *h, uint64_t now, struct health_probe *ret)
{
	uint16_t state = 0;
	uint64_t age = 0;
	int r;

	memset(ret, 0, sizeof(*ret));
	switch (h->how) {
	case HEALTH_NONE:
		ret->answered = true;
		ret->answered_ms = now;
		return;
	case HEALTH_NEIGH:
		if (!h->ifindex) {
			snprintf(ret->why, sizeof(ret->why), "no interface");
			return;
		}
		r = neigh_confirmed(&h->addr, h->ifindex, &state, &age);
		if (r < 0) {
			snprintf(ret->why, sizeof(ret->why), "no %s answer: no neighbour entry",
				 neigh_proto(h));
			return;
		}
		if (!clone_net_nud_valid(state) || (state & NUD_NOARP)) {
			snprintf(ret->why, sizeof(ret->why), "no %s answer: neighbour entry %s",
				 neigh_proto(h),
				 state & NUD_FAILED ? "FAILED" : state & NUD_INCOMPLETE ? "INCOMPLETE" : "unusable");
			return;
		}
		if (state & NUD_PERMANENT) {
			/* Entered by hand: nothing will ever confirm it. */
			ret->answered = true;
			ret->answered_ms = now;
			return;
		}
		if (age != UINT64_MAX && age < now) {
			ret->answered = true;
			ret->answered_ms = now - age;
		}
		snprintf(ret->why, sizeof(ret->why), "no %s answer for %llu ms", neigh_proto(h),
			 (unsigned long long)(age == UINT64_MAX ? now - h->last_ok_ms : age));
		return;
	case HEALTH_ICMP:
		if (echo_fd(hl, h->addr.af) < 0) {
			ret->answered = true;
			ret->answered_ms = now;
			return;
		}
		if (now - h->last_echo_ms >= CLONE_HEALTH_ECHO_MS) {
			h->last_echo_ms = now;
			echo_send(hl, &h->addr);
		}
		snprintf(ret->why, sizeof(ret->why), "no %s echo reply for %llu ms", echo_proto(h),
			 (unsigned long long)(now - h->last_ok_ms));
		return;
	}
}

/*
 * Puts @down into every slot of @ad: the flag the connection hook reads,
 * and clone_health (with the slot's generation, so the flag never follows
 * the slot to another server), which makes the program move the server's
 * open flows. Takes apply_lock, so a transition and a configuration change
 * are never interleaved; the map updates are constant-time array writes.
 */
static void publish_state(struct clone_engine *ce, const struct health_slot *slots, int n,
			  const struct health_addr *ad, bool down)
{
	struct clone_watch *hl = ce->health;
	int i;

	pthread_mutex_lock(&ce->apply_lock);
	for (i = 0; i < n; i++)
		if (same_addr(&slots[i].addr, ad)) {
			struct clone_health val = {.gen = slots[i].gen, .down = down};

			atomic_store(&hl->slot_down[slots[i].index], down);
			bpf_map_update_elem(ce->health_fd, &slots[i].index, &val, BPF_ANY);
			hl->slot_gen[slots[i].index] = slots[i].gen;
		}
	pthread_mutex_unlock(&ce->apply_lock);
}

/* One round: the engine's servers, a probe of each, the transitions. */
static void health_round(struct clone_engine *ce, struct health_slot *slots, struct health_probe *pr,
			 struct health_srv *work)
{
	struct clone_watch *hl = ce->health;
	int n, i, n_srv;
	uint64_t now = now_ms();
	bool flag[CLONE_MAX_SRV];
	char up[64];

	n = copy_slots(ce, slots);
	pthread_mutex_lock(&hl->lock);
	sync_servers(hl, slots, n, now);
	n_srv = hl->n_srv;
	memcpy(work, hl->srv, sizeof(work[0]) * (size_t)n_srv);
	pthread_mutex_unlock(&hl->lock);

	for (i = 0; i < n_srv; i++)
		if (work[i].used)
			probe(hl, &work[i], now, &pr[i]);

	/* Replies to this round's and earlier echoes. */
	pthread_mutex_lock(&hl->lock);
	if (hl->icmp_fd >= 0)
		echo_read(hl, AF_INET, now);
	if (hl->icmp6_fd >= 0)
		echo_read(hl, AF_INET6, now);
	for (i = 0; i < n_srv; i++) {
		struct health_srv *h = &hl->srv[i];
		bool dead;

		flag[i] = false;
		if (!h->used || !same_addr(&h->addr, &work[i].addr))
			continue;
		h->last_echo_ms = work[i].last_echo_ms;
		if (pr[i].answered && pr[i].answered_ms > h->last_ok_ms)
			h->last_ok_ms = pr[i].answered_ms;
		dead = now - h->last_ok_ms > CLONE_HEALTH_DEAD_MS;
		if (dead == h->down) {
			if (!h->down)
				snprintf(h->reason, sizeof(h->reason), "%s", answers(h, up));
			continue;
		}
		h->down = dead;
		h->since_ms = now;
		{
			char *t = now_iso8601();

			snprintf(h->since, sizeof(h->since), "%s", t);
			free(t);
		}
		if (dead) {
			h->n_down++;
			snprintf(h->reason, sizeof(h->reason), "%s", pr[i].why[0] ? pr[i].why : "no answer");
			log_warn("clone", "clone server %s is down (%s): its flows move to the next healthy "
				 "clone server", h->ip, h->reason);
		} else {
			snprintf(h->reason, sizeof(h->reason), "%s", answers(h, up));
			log_info("clone", "clone server %s is up again (%s): new connections go to it", h->ip,
				 h->reason);
		}
		flag[i] = true;
		atomic_fetch_add(&hl->n_transitions, 1);
	}
	memcpy(work, hl->srv, sizeof(work[0]) * (size_t)n_srv);
	pthread_mutex_unlock(&hl->lock);

	for (i = 0; i < n_srv; i++)
		if (flag[i])
			publish_state(ce, slots, n, &work[i].addr, work[i].down);
	/* Slots handed to a server since the last round take its state. */
	for (i = 0; i < n; i++) {
		bool down = false;
		int j;

		for (j = 0; j < n_srv; j++)
			if (work[j].used && same_addr(&work[j].addr, &slots[i].addr))
				down = work[j].down;
		if (atomic_load(&hl->slot_down[slots[i].index]) != down ||
		    (down && hl->slot_gen[slots[i].index] != slots[i].gen))
			publish_state(ce, slots, n, &slots[i].addr, down);
	}
}

static void *health_main(void *arg)
{
	struct clone_engine *ce = arg;
	struct clone_watch *hl = ce->health;
	struct health_slot *slots = xcalloc(CLONE_MAX_SRV, sizeof(*slots));
	struct health_probe *pr = xcalloc(CLONE_MAX_SRV, sizeof(*pr));
	struct health_srv *work = xcalloc(CLONE_MAX_SRV, sizeof(*work));
	struct timespec deadline;

	pthread_mutex_lock(&hl->stop_mutex);
	while (!hl->stopping) {
		clock_gettime(CLOCK_REALTIME, &deadline);
		deadline.tv_nsec += CLONE_HEALTH_ROUND_MS * 1000 * 1000;
		if (deadline.tv_nsec >= 1000000000) {
			deadline.tv_sec++;
			deadline.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&hl->stop_cond, &hl->stop_mutex, &deadline);
		if (hl->stopping)
			break;
		pthread_mutex_unlock(&hl->stop_mutex);
		health_round(ce, slots, pr, work);
		pthread_mutex_lock(&hl->stop_mutex);
	}
	pthread_mutex_unlock(&hl->stop_mutex);
	free(slots);
	free(pr);
	free(work);
	return NULL;
}

/* ---- the rest of the engine's view ----------------------------------------- */

/* See clone_int.h. */
int clone_health_start(struct clone_engine *ce, char **ret_err)
{
	struct clone_watch *hl = xcalloc(1, sizeof(*hl));
	/* struct icmp_filter of <linux/icmp.h> (which clashes with
	 * <netinet/ip_icmp.h>): a bit per ICMP type to drop. Only echo
	 * replies reach the socket. */
	uint32_t filt = ~(1u << ICMP_ECHOREPLY);
	struct icmp6_filter filt6;
	int r;

	pthread_mutex_init(&hl->lock, NULL);
	pthread_mutex_init(&hl->stop_mutex, NULL);
	pthread_cond_init(&hl->stop_cond, NULL);
	hl->echo_ident = (uint16_t)(getpid() ^ 0xc10e);
	hl->icmp_fd = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, IPPROTO_ICMP);
	if (hl->icmp_fd == -1)
		log_warn("clone", "no raw ICMP socket (%s): encapsulated clone servers are not watched",
			 strerror(errno));
	else
		setsockopt(hl->icmp_fd, SOL_RAW, 1 /* ICMP_FILTER */, &filt, sizeof(filt));
	hl->icmp6_fd = socket(AF_INET6, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, IPPROTO_ICMPV6);
	if (hl->icmp6_fd == -1) {
		log_warn("clone", "no raw ICMPv6 socket (%s): encapsulated IPv6 clone servers are not watched",
			 strerror(errno));
	} else {
		ICMP6_FILTER_SETBLOCKALL(&filt6);
		ICMP6_FILTER_SETPASS(ICMP6_ECHO_REPLY, &filt6);
		setsockopt(hl->icmp6_fd, IPPROTO_ICMPV6, ICMP6_FILTER, &filt6, sizeof(filt6));
	}
	ce->health = hl;
	r = pthread_create(&hl->thread, NULL, health_main, ce);
	if (r) {
		*ret_err = xasprintf("starting the clone servers' health watcher: %s", strerror(r));
		ce->health = NULL;
		if (hl->icmp_fd >= 0)
			close(hl->icmp_fd);
		if (hl->icmp6_fd >= 0)
			close(hl->icmp6_fd);
		pthread_cond_destroy(&hl->stop_cond);
		pthread_mutex_destroy(&hl->stop_mutex);
		pthread_mutex_destroy(&hl->lock);
		free(hl);
		return -r;
	}
	hl->started = true;
	return 0;
}

/* See clone_int.h. */
void clone_health_stop(struct clone_engine *ce)
{
	struct clone_watch *hl = ce ? ce->health : NULL;

	if (!hl)
		return;
	if (hl->started) {
		pthread_mutex_lock(&hl->stop_mutex);
		hl->stopping = true;
		pthread_cond_signal(&hl->stop_cond);
		pthread_mutex_unlock(&hl->stop_mutex);
		pthread_join(hl->thread, NULL);
	}
	if (hl->icmp_fd >= 0)
		close(hl->icmp_fd);
	if (hl->icmp6_fd >= 0)
		close(hl->icmp6_fd);
	pthread_cond_destroy(&hl->stop_cond);
	pthread_mutex_destroy(&hl->stop_mutex);
	pthread_mutex_destroy(&hl->lock);
	free(hl);
	ce->health = NULL;
}

/* See clone_int.h. */
bool clone_health_slot_down(const struct clone_engine *ce, uint32_t srv_index)
{
	return ce->health && srv_index < CLONE_MAX_SRV && atomic_load(&ce->health->slot_down[srv_index]);
}

/* See clone_int.h. */
bool clone_health_ip_down(struct clone_engine *ce, const struct clone_srv_state *s)
{
	struct health_addr ad = srv_key(s);
	struct health_srv *h;
	bool down;

	if (!ce->health)
		return false;
	pthread_mutex_lock(&ce->health->lock);
	h = srv_find(ce->health, &ad);
	down = h && h->down;
	pthread_mutex_unlock(&ce->health->lock);
	return down;
}

/* See clone_int.h. */
void clone_health_json(struct clone_engine *ce, const struct clone_srv_state *s, json_t *o)
{
	struct health_addr ad = srv_key(s);
	struct health_srv *h;

	if (!ce->health)
		return;
	pthread_mutex_lock(&ce->health->lock);
	h = srv_find(ce->health, &ad);
	json_object_set_new(o, "oper_state", json_string(!h ? "OPER_UNKNOWN" : h->down ? "OPER_DOWN" : "OPER_UP"));
	json_object_set_new(o, "oper_reason", json_string(h ? h->reason : "not checked yet"));
	json_object_set_new(o, "health_check", json_string(!h ? "" : h->how == HEALTH_NEIGH ? (h->addr.af == AF_INET6 ? "ndp" : "arp")
							       : h->how == HEALTH_ICMP ? (h->addr.af == AF_INET6 ? "icmpv6" : "icmp")
							       : "none"));
	json_object_set_new(o, "oper_state_since", json_string(h ? h->since : ""));
	json_object_set_new(o, "num_down", json_integer(h ? (json_int_t)h->n_down : 0));
	pthread_mutex_unlock(&ce->health->lock);
}

/* See clone_int.h. */
void clone_health_metrics(struct clone_engine *ce, FILE *out)
{
	struct clone_watch *hl = ce->health;
	int i;

	if (!hl)
		return;
	fputs("# HELP clonelb_clone_server_up Whether a clone server answers its health check (1) or is taken out (0).\n"
	      "# TYPE clonelb_clone_server_up gauge\n",
	      out);
	pthread_mutex_lock(&hl->lock);
	for (i = 0; i < hl->n_srv; i++)
		if (hl->srv[i].used)
			fprintf(out, "clonelb_clone_server_up{clone_server=\"%s\"} %d\n", hl->srv[i].ip,
				hl->srv[i].down ? 0 : 1);
	pthread_mutex_unlock(&hl->lock);
	fprintf(out, "# HELP clonelb_clone_server_transitions_total Clone servers taken out or put back by the health watcher.\n"
		     "# TYPE clonelb_clone_server_transitions_total counter\n"
		     "clonelb_clone_server_transitions_total %llu\n",
		(unsigned long long)atomic_load(&hl->n_transitions));
}
