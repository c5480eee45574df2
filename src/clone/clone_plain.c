/* clone_plain.c: synthesized plaintext TCP flows for the clone servers of TLS pools (plaintext_for_tls_pools). */
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clone/clone_int.h"
#include "lib/util.h"
#include "log.h"

/*
 * How it works (docs/clone-engine.md, "Plaintext clones of TLS pools"). The
 * connection's registration says CLONE_CONN_PLAINTEXT, so the program clones
 * none of its encrypted frames. The proxy hands this file the plaintext it
 * writes to and reads from the server's TLS; each piece becomes TCP segments
 * of an imaginary plain connection between the same two addresses and ports,
 * written here (Ethernet, IP, TCP, checksums) and sent on an AF_PACKET socket
 * of a clone interface, without waiting (MSG_DONTWAIT), each marked
 * CLONE_MARK_PLAIN_* by its direction. clone_deliver on that interface's
 * egress takes each one through the back-end program's own path for a frame
 * of that connection (filters, budget, health, failover, preserve_client_ip,
 * counters, MACs or encapsulation) and sends the frame itself, rewritten: the
 * clone servers get exactly what a plain pool's clone would have given them. What the kernel does not take is
 * counted here and forgotten, never queued.
 */

enum { SE = 0, SRV = 1 }; /* the sides of a flow */

/* The mark of each side's frames: their direction, for clone_deliver. */
static const uint32_t plain_marks[2] = {CLONE_MARK_PLAIN_TO_SERVER, CLONE_MARK_PLAIN_FROM_SERVER};

/* Frames handed to the kernel in one sendmmsg(): a 64 KiB read at the MSS. */
#define PLAIN_BATCH 64
/* Ethernet, IPv6, TCP with the SYN's options (MSS, NOP, window scale). */
#define PLAIN_HDR_MAX (ETH_HLEN + 40 + 20 + 8)
#define PLAIN_SYN_OPTS 8
/* The window each side offers, scaled by 2^7: 8 MiB, more than any burst a
 * read or a write hands over, so no analyser sees a full window. */
#define PLAIN_WINDOW 0xffff
#define PLAIN_WSCALE 7
/* Outer headers an encapsulated clone may carry (VXLAN, GENEVE, ERSPAN, over
 * IPv4 or IPv6, and the inner Ethernet header): segments are cut so that they
 * fit the path MTU with them. */
#define PLAIN_ENCAP_ROOM 80

/* Frames of one clone server's counter slot that never reached the kernel. */
struct clone_plain_unsent {
	_Atomic uint64_t total, mbuf_alloc_failed, driver_failures, no_interface, bytes_failed;
};

/* One synthesized flow: the plain TCP connection the clone servers see. */
struct px_plain {
	struct clone_engine *ce;
	int af;
	uint8_t addr[2][16]; /* each side's address (IPv4: the first 4 bytes) */
	uint16_t port[2];    /* network byte order */
	uint32_t nxt[2];     /* each side's next sequence number */
	uint32_t unacked[2]; /* bytes of each side the other has not acknowledged yet */
	uint16_t ip_id[2];
	bool fin[2];
	uint16_t mss;
	int ifindex; /* the clone interface its frames are sent on (0: none) */
	uint32_t srv_index, stat_slot;
};

/* Frames of one flow on their way to one sendmmsg(), both directions mixed
 * in their order: each carries its mark in a control message. */
struct plain_batch {
	struct px_plain *p;
	unsigned n;
	struct sockaddr_ll to;
	struct mmsghdr msg[PLAIN_BATCH];
	struct iovec iov[PLAIN_BATCH][2];
	union {
		struct cmsghdr h;
		uint8_t b[CMSG_SPACE(sizeof(uint32_t))];
	} ctl[PLAIN_BATCH];
	uint8_t hdr[PLAIN_BATCH][PLAIN_HDR_MAX];
};

/* ---- the engine's part ---------------------------------------------------- */

/* See clone_int.h. */
void clone_plain_start(struct clone_engine *ce)
{
	/* Bursts of a whole read at once, never waited for: room for a few. */
	static const int sndbuf = 4 << 20;
	/* Protocol 0: the socket sends only, it never receives a frame. */
	int fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	ce->plain_unsent = xcalloc(CLONE_STAT_SLOTS, sizeof(*ce->plain_unsent));
	if (fd != -1 && setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof(sndbuf)) == -1 &&
	    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)) == -1) {
		close(fd);
		fd = -1;
	}
	if (fd == -1)
		log_warn("clone", "plaintext clones of TLS pools cannot be sent (AF_PACKET socket: %s); "
				  "their frames are counted as not sent",
			 strerror(errno));
	ce->plain_fd = fd;
}

/* See clone_int.h. */
void clone_plain_stop(struct clone_engine *ce)
{
	if (ce->plain_fd != -1)
		close(ce->plain_fd);
	free(ce->plain_unsent);
	ce->plain_unsent = NULL;
}

/* See clone_int.h. */
void clone_plain_zero(struct clone_engine *ce, uint32_t slot)
{
	struct clone_plain_unsent *u;

	if (!ce->plain_unsent || slot >= CLONE_STAT_SLOTS)
		return;
	u = &ce->plain_unsent[slot];
	atomic_store(&u->total, 0);
	atomic_store(&u->mbuf_alloc_failed, 0);
	atomic_store(&u->driver_failures, 0);
	atomic_store(&u->no_interface, 0);
	atomic_store(&u->bytes_failed, 0);
}

/* See clone_int.h. */
void clone_plain_add_unsent(struct clone_engine *ce, uint32_t slot, struct clone_stat *sum)
{
	struct clone_plain_unsent *u;

	if (!ce->plain_unsent || slot >= CLONE_STAT_SLOTS)
		return;
	u = &ce->plain_unsent[slot];
	sum->total += atomic_load(&u->total);
	sum->mbuf_alloc_failed += atomic_load(&u->mbuf_alloc_failed);
	sum->driver_failures += atomic_load(&u->driver_failures);
	sum->no_interface += atomic_load(&u->no_interface);
	sum->bytes_failed += atomic_load(&u->bytes_failed);
}

/* See clone_int.h. */
void clone_plain_metrics(struct clone_engine *ce, FILE *out)
{
	fprintf(out, "# HELP clonelb_clone_plaintext_flows_total Back-end connections of TLS pools whose clone is a synthesized plaintext flow.\n"
		     "# TYPE clonelb_clone_plaintext_flows_total counter\n"
		     "clonelb_clone_plaintext_flows_total %llu\n"
		     "# HELP clonelb_clone_plaintext_frames_total Synthesized plaintext frames: handed to the kernel (sent) or not (unsent, also in the clone server's counters).\n"
		     "# TYPE clonelb_clone_plaintext_frames_total counter\n"
		     "clonelb_clone_plaintext_frames_total{result=\"sent\"} %llu\n"
		     "clonelb_clone_plaintext_frames_total{result=\"unsent\"} %llu\n",
		(unsigned long long)atomic_load(&ce->n_plain_flows),
		(unsigned long long)atomic_load(&ce->n_plain_sent),
		(unsigned long long)atomic_load(&ce->n_plain_unsent));
}

/* ---- frames --------------------------------------------------------------- */

static void put16(uint8_t *b, uint16_t v)
{
	b[0] = (uint8_t)(v >> 8);
	b[1] = (uint8_t)v;
}

static void put32(uint8_t *b, uint32_t v)
{
	put16(b, (uint16_t)(v >> 16));
	put16(b + 2, (uint16_t)v);
}

/* Adds @n bytes at @b to the one's complement sum @sum. In memory order, so
 * the folded result is stored as it is (RFC 1071, byte order independence);
 * @b starts at an even offset of what is summed, only the last piece may be
 * odd. */
static uint64_t csum_add(uint64_t sum, const uint8_t *b, size_t n)
{
	uint32_t w32;
	uint16_t w16 = 0;

	for (; n >= 4; b += 4, n -= 4) {
		memcpy(&w32, b, 4);
		sum += w32;
	}
	if (n >= 2) {
		memcpy(&w16, b, 2);
		sum += w16;
		b += 2;
		n -= 2;
	}
	if (n) {
		w16 = 0;
		memcpy(&w16, b, 1);
		sum += w16;
	}
	return sum;
}

/* Folds @sum and stores its complement, the checksum, at @at. */
static void store_csum(uint8_t *at, uint64_t sum)
{
	uint16_t c;

	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	c = (uint16_t)~sum;
	memcpy(at, &c, 2);
}

/* Frame @i of @b did not reach the kernel (@err): counted in its clone
 * server's counters as a frame that could not be cloned. */
static void unsent(struct plain_batch *b, unsigned i, int err)
{
	struct clone_engine *ce = b->p->ce;
	struct clone_plain_unsent *u = &ce->plain_unsent[b->p->stat_slot % CLONE_STAT_SLOTS];
	size_t len = b->iov[i][0].iov_len + (b->msg[i].msg_hdr.msg_iovlen > 1 ? b->iov[i][1].iov_len : 0);

	atomic_fetch_add(&u->total, 1);
	if (!b->p->ifindex) {
		atomic_fetch_add(&u->driver_failures, 1);
		atomic_fetch_add(&u->no_interface, 1);
	} else if (err == ENOBUFS || err == ENOMEM || err == EAGAIN) {
		atomic_fetch_add(&u->mbuf_alloc_failed, 1);
	} else {
		atomic_fetch_add(&u->driver_failures, 1);
	}
	atomic_fetch_add(&u->bytes_failed, len);
	atomic_fetch_add(&ce->n_plain_unsent, 1);
}

static void pick_ifindex(struct px_plain *p);

/* Hands the frames of @b to the kernel, each once: one that is refused is
 * counted and the next ones are tried; nothing waits. */
static void flush(struct plain_batch *b)
{
	struct px_plain *p = b->p;
	int fd = p->ce->plain_fd;
	bool repicked = false;
	unsigned i = 0;

	while (i < b->n) {
		int k = -1, err = ENODEV;

		if (p->ifindex && fd != -1) {
			b->to.sll_ifindex = p->ifindex;
			k = sendmmsg(fd, b->msg + i, b->n - i, MSG_DONTWAIT);
			err = errno;
		}
		if (k > 0) {
			atomic_fetch_add(&p->ce->n_plain_sent, (uint64_t)k);
			i += (unsigned)k;
			continue;
		}
		/* The interface went down or away: another clone server's may
		 * do (the program fails its flows over to it anyway). */
		if (!repicked && (err == ENETDOWN || err == ENXIO || err == ENODEV)) {
			repicked = true;
			pick_ifindex(p);
			if (p->ifindex)
				continue;
		}
		unsent(b, i++, err);
	}
	b->n = 0;
}

static void batch_init(struct plain_batch *b, struct px_plain *p)
{
	b->p = p;
	b->n = 0;
	memset(&b->to, 0, sizeof(b->to));
	b->to.sll_family = AF_PACKET;
	b->to.sll_protocol = htons(p->af == AF_INET6 ? ETH_P_IPV6 : ETH_P_IP);
	b->to.sll_halen = ETH_ALEN;
}

/* Writes the IP header of a segment of @tcp_len bytes from @side at @h;
 * returns its length. */
static size_t ip_header(struct px_plain *p, int side, uint8_t *h, size_t tcp_len)
{
	size_t alen = p->af == AF_INET6 ? 16 : 4;

	if (p->af == AF_INET6) {
		memset(h, 0, 8);
		h[0] = 0x60;
		put16(h + 4, (uint16_t)tcp_len);
		h[6] = IPPROTO_TCP;
		h[7] = 64;
		memcpy(h + 8, p->addr[side], alen);
		memcpy(h + 24, p->addr[!side], alen);
		return 40;
	}
	h[0] = 0x45;
	h[1] = 0;
	put16(h + 2, (uint16_t)(20 + tcp_len));
	put16(h + 4, p->ip_id[side]++);
	put16(h + 6, 0x4000); /* don't fragment, as the SE's and the servers' stacks send */
	h[8] = 64;
	h[9] = IPPROTO_TCP;
	put16(h + 10, 0);
	memcpy(h + 12, p->addr[side], alen);
	memcpy(h + 16, p->addr[!side], alen);
	store_csum(h + 10, csum_add(0, h, 20));
	return 20;
}

/*
 * Queues one segment from @side with TCP @flags and @len bytes of @data
 * (borrowed until the batch is flushed), its sequence number the side's next
 * one and, with TH_ACK, acknowledging everything the other side sent.
 */
static void segment(struct plain_batch *b, int side, uint8_t flags, const char *data, size_t len)
{
	struct px_plain *p = b->p;
	size_t alen = p->af == AF_INET6 ? 16 : 4, thl = 20 + (flags & TH_SYN ? PLAIN_SYN_OPTS : 0);
	uint8_t *h, *th, pseudo[36];
	uint64_t sum;
	size_t l3;

	if (b->n == PLAIN_BATCH)
		flush(b);
	h = b->hdr[b->n];
	memset(h, 0, 12); /* MACs: clone_deliver writes the clone server's */
	put16(h + 12, p->af == AF_INET6 ? ETH_P_IPV6 : ETH_P_IP);
	l3 = ETH_HLEN + ip_header(p, side, h + ETH_HLEN, thl + len);
	th = h + l3;
	memcpy(th, &p->port[side], 2);
	memcpy(th + 2, &p->port[!side], 2);
	put32(th + 4, p->nxt[side]);
	put32(th + 8, flags & TH_ACK ? p->nxt[!side] : 0);
	th[12] = (uint8_t)((thl / 4) << 4);
	th[13] = flags;
	put16(th + 14, PLAIN_WINDOW);
	put32(th + 16, 0); /* checksum, urgent pointer */
	if (flags & TH_SYN) {
		th[20] = 2; /* MSS */
		th[21] = 4;
		put16(th + 22, p->mss);
		th[24] = 1; /* NOP */
		th[25] = 3; /* window scale */
		th[26] = 3;
		th[27] = PLAIN_WSCALE;
	}
	/* The pseudo-header: addresses, protocol, TCP length (IPv6's 32-bit
	 * length and next header sum to the same). */
	memcpy(pseudo, p->addr[side], alen);
	memcpy(pseudo + alen, p->addr[!side], alen);
	pseudo[2 * alen] = 0;
	pseudo[2 * alen + 1] = IPPROTO_TCP;
	put16(pseudo + 2 * alen + 2, (uint16_t)(thl + len));
	sum = csum_add(0, pseudo, 2 * alen + 4);
	sum = csum_add(sum, th, thl);
	store_csum(th + 16, csum_add(sum, (const uint8_t *)data, len));

	b->iov[b->n][0] = (struct iovec){h, l3 + thl};
	b->iov[b->n][1] = (struct iovec){(void *)data, len};
	b->ctl[b->n].h = (struct cmsghdr){.cmsg_len = CMSG_LEN(sizeof(uint32_t)),
					  .cmsg_level = SOL_SOCKET, .cmsg_type = SO_MARK};
	memcpy(CMSG_DATA(&b->ctl[b->n].h), &plain_marks[side], sizeof(uint32_t));
	b->msg[b->n].msg_hdr = (struct msghdr){.msg_name = &b->to, .msg_namelen = sizeof(b->to),
					       .msg_iov = b->iov[b->n], .msg_iovlen = len ? 2 : 1,
					       .msg_control = b->ctl[b->n].b,
					       .msg_controllen = sizeof(b->ctl[b->n].b)};
	b->n++;
	p->nxt[side] += (uint32_t)len + (flags & (TH_SYN | TH_FIN) ? 1 : 0);
	p->unacked[side] += (uint32_t)len;
	if (flags & TH_ACK)
		p->unacked[!side] = 0;
}

/* @side ends its half: its FIN, and the other side's acknowledgement. */
static void fin(struct plain_batch *b, int side)
{
	segment(b, side, TH_FIN | TH_ACK, NULL, 0);
	b->p->fin[side] = true;
	segment(b, !side, TH_ACK, NULL, 0);
}

/* ---- the flow ------------------------------------------------------------- */

/* The clone interface to send on: the flow's clone server's, or if that
 * one is down or has none, the next healthy server's of the same service
 * (the one the program fails its flows over to); 0 when there is none. */
static void pick_ifindex(struct px_plain *p)
{
	uint32_t base = p->srv_index - p->srv_index % CLONE_SRV_PER_VS, k = p->srv_index % CLONE_SRV_PER_VS;
	struct clone_srv srv;

	p->ifindex = 0;
	for (uint32_t j = 0; j < CLONE_SRV_PER_VS; j++) {
		uint32_t idx = base + (k + j) % CLONE_SRV_PER_VS;

		if (bpf_map_lookup_elem(p->ce->srvs_fd, &idx, &srv) || !(srv.flags & CLONE_SRV_ACTIVE) ||
		    !srv.ifindex)
			continue;
		if (!p->ifindex)
			p->ifindex = (int)srv.ifindex;
		if (!clone_health_slot_down(p->ce, idx)) {
			p->ifindex = (int)srv.ifindex;
			return;
		}
	}
}

/* The segment size: the back-end connection's own MSS, no more than the
 * clone server's path takes whole. */
static uint16_t flow_mss(int fd, const struct clone_srv *srv, int af)
{
	int mss = 0, cap;
	socklen_t len = sizeof(mss);

	if (getsockopt(fd, IPPROTO_TCP, TCP_MAXSEG, &mss, &len) == -1 || mss <= 0)
		mss = 536; /* RFC 879's default */
	if (srv->mtu) {
		cap = (int)srv->mtu - (af == AF_INET6 ? 40 : 20) - 20 -
		      (srv->encap != CLONE_ENCAP_NONE ? PLAIN_ENCAP_ROOM : 0);
		if (cap >= 64 && mss > cap)
			mss = cap;
	}
	return (uint16_t)(mss > 65535 ? 65535 : mss);
}

/* See clone_int.h. */
struct px_plain *clone_plain_open(void *ctx, const struct px_conn_info *ci)
{
	struct clone_engine *ce = ctx;
	struct clone_conn reg;
	struct clone_srv srv;
	union addr_any local;
	socklen_t len = sizeof(local);
	struct plain_batch b;
	struct px_plain *p;
	uint32_t isn[2];

	/* Only connections registered for it (their service's profile says
	 * plaintext_for_tls_pools, and they speak TLS): the program leaves
	 * their encrypted frames alone. */
	if (!ce || !ci->tls || !ce->plain_unsent || !clone_vs_plaintext(ce, ci->vs_id) ||
	    bpf_map_lookup_elem(ce->socks_fd, &ci->fd, &reg) || !(reg.flags & CLONE_CONN_PLAINTEXT) ||
	    bpf_map_lookup_elem(ce->srvs_fd, &reg.srv_index, &srv) || srv.gen != reg.srv_gen ||
	    getsockname(ci->fd, &local.sa, &len) == -1 || local.sa.sa_family != ci->server.sa.sa_family)
		return NULL;
	p = xcalloc(1, sizeof(*p));
	p->ce = ce;
	p->af = local.sa.sa_family;
	if (p->af == AF_INET6) {
		memcpy(p->addr[SE], &local.in6.sin6_addr, 16);
		memcpy(p->addr[SRV], &ci->server.in6.sin6_addr, 16);
		p->port[SE] = local.in6.sin6_port;
		p->port[SRV] = ci->server.in6.sin6_port;
	} else {
		memcpy(p->addr[SE], &local.in.sin_addr, 4);
		memcpy(p->addr[SRV], &ci->server.in.sin_addr, 4);
		p->port[SE] = local.in.sin_port;
		p->port[SRV] = ci->server.in.sin_port;
	}
	arc4random_buf(isn, sizeof(isn));
	p->nxt[SE] = isn[SE];
	p->nxt[SRV] = isn[SRV];
	p->srv_index = reg.srv_index;
	p->stat_slot = srv.stat_slot;
	p->mss = flow_mss(ci->fd, &srv, p->af);
	pick_ifindex(p);
	atomic_fetch_add(&ce->n_plain_flows, 1);

	batch_init(&b, p);
	segment(&b, SE, TH_SYN, NULL, 0);
	segment(&b, SRV, TH_SYN | TH_ACK, NULL, 0);
	segment(&b, SE, TH_ACK, NULL, 0);
	flush(&b);
	return p;
}

/* See clone_int.h. */
void clone_plain_data(struct px_plain *p, bool from_server, const char *buf, size_t n)
{
	int side = from_server ? SRV : SE;
	struct plain_batch b;

	batch_init(&b, p);
	while (n) {
		size_t k = n < p->mss ? n : p->mss;

		segment(&b, side, TH_ACK | (k == n ? TH_PUSH : 0), buf, k);
		buf += k;
		n -= k;
	}
	/* The receiver acknowledges every second full segment, as a TCP stack
	 * does; a short exchange is acknowledged by the answer it gets. */
	if (p->unacked[side] >= 2u * p->mss)
		segment(&b, !side, TH_ACK, NULL, 0);
	flush(&b);
}

/* See clone_int.h. */
void clone_plain_fin(struct px_plain *p, bool from_server)
{
	int side = from_server ? SRV : SE;
	struct plain_batch b;

	if (p->fin[side])
		return;
	batch_init(&b, p);
	fin(&b, side);
	flush(&b);
}

/* See clone_int.h. */
void clone_plain_close(struct px_plain *p, bool reset)
{
	struct plain_batch b;

	if (!p)
		return;
	batch_init(&b, p);
	if (reset) {
		segment(&b, SE, TH_RST | TH_ACK, NULL, 0);
	} else {
		if (!p->fin[SE])
			fin(&b, SE);
		if (!p->fin[SRV])
			fin(&b, SRV);
	}
	flush(&b);
	free(p);
}
