/* clone.bpf.c: tc clsact programs that copy the frames of registered back-end connections to clone servers. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/pkt_cls.h>
#include <linux/tcp.h>
#include <stddef.h>

#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "clone_shared.h"

char LICENSE[] SEC("license") = "GPL";

/* skb->mark of our clones in flight (set before load; CLONE_MARK by default). */
const volatile __u32 clone_mark = CLONE_MARK;

/* Back-end connections by 4-tuple, learnt from clone_socks on egress. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, CLONE_CONN_MAX);
	__type(key, struct clone_conn_key);
	__type(value, struct clone_conn);
} clone_conns SEC(".maps");

/* The IPv6 back-end connections, likewise (a pool server of either family may
 * serve a client of either). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, CLONE_CONN_MAX);
	__type(key, struct clone_conn_key6);
	__type(value, struct clone_conn);
} clone_conns6 SEC(".maps");

/* The registration of a back-end socket, written by the proxy (the socket's
 * descriptor as key) before connect(), when the kernel has not chosen the
 * source port yet. It lives and dies with the socket. */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct clone_conn);
} clone_socks SEC(".maps");

/* Clone servers, CLONE_SRV_PER_VS slots per virtual-service slot. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, CLONE_MAX_SRV);
	__type(key, __u32);
	__type(value, struct clone_srv);
} clone_srvs SEC(".maps");

/* Filters, snaplen and budget of each cloned service (by vs slot). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, CLONE_MAX_VS);
	__type(key, __u32);
	__type(value, struct clone_prof);
} clone_profs SEC(".maps");

/* Health of each clone server slot, written by the health checker. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, CLONE_MAX_SRV);
	__type(key, __u32);
	__type(value, struct clone_health);
} clone_health SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, CLONE_STAT_SLOTS);
	__type(key, __u32);
	__type(value, struct clone_stat);
} clone_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, CLONE_EV_MAX);
	__type(key, __u32);
	__type(value, __u64);
} clone_events SEC(".maps");

#define ETH_ADDRS_LEN 12
#define IP_CSUM_OFF (ETH_HLEN + offsetof(struct iphdr, check))
#define IP_SRC_OFF (ETH_HLEN + offsetof(struct iphdr, saddr))
#define IP_DST_OFF (ETH_HLEN + offsetof(struct iphdr, daddr))
#define IP6_SRC_OFF (ETH_HLEN + offsetof(struct ipv6hdr, saddr))
#define IP6_DST_OFF (ETH_HLEN + offsetof(struct ipv6hdr, daddr))
/* IPv6 extension headers walked to find TCP, at most; more are counted. */
#define CLONE_IPV6_EXT_MAX 6

static __always_inline int event(__u32 ev)
{
	__u64 *n = bpf_map_lookup_elem(&clone_events, &ev);

	if (n)
		*n += 1;
	return TC_ACT_OK;
}

/*
 * Replaces the IPv4 address at @ip_off (source or destination) with @to and
 * fixes the IP and TCP checksums (the TCP one through the pseudo-header, which
 * also works for CHECKSUM_PARTIAL frames). Returns 0 or a negative error.
 */
static __always_inline int set_addr(struct __sk_buff *skb, __u32 ip_off, __u32 tcp_csum_off,
				    __u32 from, __u32 to)
{
	if (bpf_l4_csum_replace(skb, tcp_csum_off, from, to, BPF_F_PSEUDO_HDR | sizeof(to)))
		return -1;
	if (bpf_l3_csum_replace(skb, IP_CSUM_OFF, from, to, sizeof(to)))
		return -1;
	return bpf_skb_store_bytes(skb, ip_off, &to, sizeof(to), 0) ? -1 : 0;
}

/*
 * Replaces the IPv6 address at @ip_off with @to and fixes the TCP checksum
 * through the pseudo-header (IPv6 has no header checksum). Returns 0 or a
 * negative error.
 */
static __always_inline int set_addr6(struct __sk_buff *skb, __u32 ip_off, __u32 tcp_csum_off,
				     const __u32 *from, const __u32 *to)
{
	__s64 diff = bpf_csum_diff((__be32 *)from, 16, (__be32 *)to, 16, 0);

	/* BPF_F_IPV6: the frame is IPv6, as the helper asks, so skb->csum stays right. */
	if (diff < 0 || bpf_l4_csum_replace(skb, tcp_csum_off, 0, (__u32)diff,
					    BPF_F_PSEUDO_HDR | BPF_F_IPV6))
		return -1;
	return bpf_skb_store_bytes(skb, ip_off, to, 16, 0) ? -1 : 0;
}

/*
 * Finds the TCP header of the IPv6 frame @skb behind its extension headers
 * (hop-by-hop, routing, destination options, authentication), at most
 * CLONE_IPV6_EXT_MAX of them. Returns its offset from the start of the frame,
 * or a negative clone_event: a fragment, another upper layer (or ESP, which
 * hides it) is not cloned, more headers than that are counted, never guessed.
 * A function of its own (global, verified once): inlined, each way out of
 * the walk would be a path of its own through all of clone_frame().
 */
__attribute__((noinline)) int tcp_off6(struct __sk_buff *skb)
{
	__u32 off = ETH_HLEN + sizeof(struct ipv6hdr);
	__u8 next, h[2];
	int i;

	if (bpf_skb_load_bytes(skb, ETH_HLEN + offsetof(struct ipv6hdr, nexthdr), &next, 1))
		return -CLONE_EV_SHORT;

	for (i = 0; i < CLONE_IPV6_EXT_MAX; i++) {
		switch (next) {
		case IPPROTO_TCP:
			return (int)off;
		case IPPROTO_FRAGMENT:
			return -CLONE_EV_FRAGMENT;
		case IPPROTO_HOPOPTS:
		case IPPROTO_ROUTING:
		case IPPROTO_DSTOPTS:
		case IPPROTO_AH:
			break;
		default:
			return -CLONE_EV_NOT_TCP;
		}
		if (bpf_skb_load_bytes(skb, off, h, sizeof(h)))
			return -CLONE_EV_SHORT;
		/* AH counts its length in 4-byte units minus 2, the others in
		 * 8-byte units minus 1 (RFC 4302, RFC 8200). */
		off += next == IPPROTO_AH ? ((__u32)h[1] + 2) * 4 : ((__u32)h[1] + 1) * 8;
		next = h[0];
	}
	return next == IPPROTO_TCP ? (int)off : -CLONE_EV_EXT_HEADERS;
}

/* The IPv6 counterpart of learn() (clone_conns6). */
static __always_inline struct clone_conn *learn6(struct __sk_buff *skb,
						 struct clone_conn_key6 *key, struct clone_conn *conn,
						 int syn)
{
	struct bpf_sock *sk;
	struct clone_conn *reg, *now;

	if (conn && !syn)
		return conn;
	sk = skb->sk;
	if (!sk)
		return conn;
	sk = bpf_sk_fullsock(sk);
	if (!sk)
		return conn;
	reg = bpf_sk_storage_get(&clone_socks, sk, 0, 0);
	if (!reg)
		return conn;
	if (bpf_map_update_elem(&clone_conns6, key, reg, BPF_ANY))
		return reg;
	now = bpf_map_lookup_elem(&clone_conns6, key);
	return now ? now : reg;
}

/*
 * An egress frame of a socket the proxy registered (clone_socks) enters its
 * 4-tuple into clone_conns, so the ingress direction, whose frames carry no
 * socket, finds it too. A SYN always does: it starts a new connection, which
 * may reuse the 4-tuple of one still in its grace period. Other frames do
 * only when the entry is missing (evicted from the LRU). Returns the entry to
 * use, which is @conn when nothing was learnt, or the registration itself
 * when the map refused it.
 */
static __always_inline struct clone_conn *learn(struct __sk_buff *skb, struct clone_conn_key *key,
						struct clone_conn *conn, int syn)
{
	struct bpf_sock *sk;
	struct clone_conn *reg, *now;

	if (conn && !syn)
		return conn;
	sk = skb->sk;
	if (!sk)
		return conn;
	sk = bpf_sk_fullsock(sk);
	if (!sk)
		return conn;
	reg = bpf_sk_storage_get(&clone_socks, sk, 0, 0);
	if (!reg)
		return conn;
	if (bpf_map_update_elem(&clone_conns, key, reg, BPF_ANY))
		return reg;
	now = bpf_map_lookup_elem(&clone_conns, key);
	return now ? now : reg;
}

/* clone_deliver() hands the engine's synthesized plaintext frames to it. */
static __always_inline int clone_frame(struct __sk_buff *skb, int egress, int synth);

#include "clone_deliver.h"

/* Whether IPv6 client @ip (clone_conn.client_ip6) is in @f's IPv6 prefix. */
static __always_inline int prefix6_holds(const struct clone_filter *f, const __u32 *ip)
{
	return ((ip[0] & f->client_mask6[0]) == f->client_net6[0]) &&
	       ((ip[1] & f->client_mask6[1]) == f->client_net6[1]) &&
	       ((ip[2] & f->client_mask6[2]) == f->client_net6[2]) &&
	       ((ip[3] & f->client_mask6[3]) == f->client_net6[3]);
}

/* Bit i: filters[i]'s client prefix holds the client (@client_ip, 0 for an
 * IPv6 one, which only an IPv4 prefix of length 0 holds; @client_ip6).
 * Decided once per connection (and again only when the profile's filters
 * change). */
static __always_inline __u32 prefix_bits(const struct clone_prof *p, __u32 client_ip,
					 const __u32 *client_ip6)
{
	__u32 bits = 0, i;

	for (i = 0; i < CLONE_MAX_FILTERS; i++) {
		if (i >= p->n_filters)
			break;
		if (p->filters[i].is6 ? prefix6_holds(&p->filters[i], client_ip6)
				       : (client_ip || !p->filters[i].client_mask) &&
						 (client_ip & p->filters[i].client_mask) ==
							 p->filters[i].client_net)
			bits |= 1u << i;
	}
	return bits;
}

/* filters[]: the first rule (lowest rule_number) whose client prefix, direction
 * and server port match decides; no rule matching means not cloned. */
static __always_inline int accepted(const struct clone_prof *p, __u32 bits, __u8 dir, __u16 port)
{
	__u32 i;

	for (i = 0; i < CLONE_MAX_FILTERS; i++) {
		const struct clone_filter *f = &p->filters[i];

		if (i >= p->n_filters)
			break;
		if (!(bits & (1u << i)))
			continue;
		if (f->direction != CLONE_DIR_BOTH && f->direction != dir)
			continue;
		if (port < f->port_start || port > f->port_end)
			continue;
		return f->action == CLONE_FILTER_ACCEPT;
	}
	return 0;
}

static __always_inline int is_down(const struct clone_srv *srv, __u32 idx)
{
	struct clone_health *h = bpf_map_lookup_elem(&clone_health, &idx);

	return h && h->down && h->gen == srv->gen;
}

/*
 * The connection's server is down: the next active, healthy server of the
 * same service (slot order, wrapping), the same for every frame of every
 * connection of the dead one, so a flow stays whole on its new server and
 * only the dead server's flows move. Returns its index or -1.
 */
static __always_inline int failover(__u32 idx)
{
	__u32 base = idx - idx % CLONE_SRV_PER_VS, k = idx % CLONE_SRV_PER_VS, j, cand;
	struct clone_srv *s;

	for (j = 1; j < CLONE_SRV_PER_VS; j++) {
		cand = base + (k + j) % CLONE_SRV_PER_VS;
		s = bpf_map_lookup_elem(&clone_srvs, &cand);
		if (!s || !(s->flags & CLONE_SRV_ACTIVE) || is_down(s, cand))
			continue;
		return (int)cand;
	}
	return -1;
}

/* The same for both directions: the key is always written from the SE's side. */
static __always_inline __u32 flow_hash(const struct clone_conn_key *key)
{
	__u32 h = key->local_ip ^ (key->server_ip * 0x9e3779b1u) ^
		  (((__u32)key->local_port << 16) | key->server_port);

	h ^= h >> 16;
	h *= 0x45d9f3bu;
	h ^= h >> 16;
	return h;
}

/*
 * The whole job for one frame. @egress: the frame leaves the SE (SE->server),
 * else it arrives (server->SE). The production frame is never written: it is
 * cloned as it is, after the decision (filters, budget, health), with
 * skb->mark set to clone_mark for the clone to carry; clone_deliver, on the
 * clone interface's egress, rewrites the clone alone. The production frame
 * always goes on (TC_ACT_OK). @synth: the frame is one the engine synthesized
 * from a TLS connection's plaintext (clone_deliver found its mark), sent in
 * place of that connection's encrypted frames, which are not cloned: the
 * frame itself is rewritten (deliver_own()), and the verdict returned is the
 * one that sends it on (TC_ACT_UNSPEC, TC_ACT_REDIRECT) or TC_ACT_OK when it
 * was not sent.
 */
static __always_inline int clone_frame(struct __sk_buff *skb, int egress, int synth)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct clone_conn_key key = {};
	struct clone_conn_key6 key6 = {};
	struct ipv6hdr *ip6;
	struct clone_conn *conn;
	struct clone_srv *srv;
	struct clone_stat *st, *home;
	struct clone_prof *prof;
	struct clone_xfer *x;
	struct ethhdr *eth = data;
	struct iphdr *ip;
	struct tcphdr *th;
	__u32 ihl, hdrs, idx, vs, mark, len, segs, payload, keep = 0, zero = 0, client_ip;
	int ret, ctl, by_budget = 0, cand, v6 = 0, toff, not_preserved = 0, verdict = TC_ACT_OK;
	__u16 port;

	event(CLONE_EV_FRAMES);
	/* Our clones and our synthesized frames (clone_mark ^ 0..3). */
	if (!synth && (skb->mark | 3) == (clone_mark | 3))
		return event(CLONE_EV_OWN_CLONE);
	if ((void *)(eth + 1) > data_end)
		return event(CLONE_EV_SHORT);
	if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		ip6 = (void *)(eth + 1);
		if ((void *)(ip6 + 1) > data_end)
			return event(CLONE_EV_SHORT);
		toff = tcp_off6(skb);
		if (toff < 0)
			return event((__u32)-toff);
		/* A bound the verifier can see (extension headers of any sane
		 * frame are far shorter). */
		if (toff > 512)
			return event(CLONE_EV_EXT_HEADERS);
		/* Packet pointers are taken again after a call. */
		data = (void *)(long)skb->data;
		data_end = (void *)(long)skb->data_end;
		ip6 = data + ETH_HLEN;
		if ((void *)(ip6 + 1) > data_end)
			return event(CLONE_EV_SHORT);
		th = data + toff;
		if ((void *)(th + 1) > data_end)
			return event(CLONE_EV_SHORT);
		/* ihl: from here on, the IP header with its extension headers. */
		ihl = (__u32)toff - ETH_HLEN;
		v6 = 1;
		if (egress) {
			__builtin_memcpy(key6.local_ip, &ip6->saddr, 16);
			__builtin_memcpy(key6.server_ip, &ip6->daddr, 16);
			key6.local_port = th->source;
			key6.server_port = th->dest;
		} else {
			__builtin_memcpy(key6.local_ip, &ip6->daddr, 16);
			__builtin_memcpy(key6.server_ip, &ip6->saddr, 16);
			key6.local_port = th->dest;
			key6.server_port = th->source;
		}
		/* The IPv4 key's fields carry the ports and, folded, the
		 * addresses: what the port filters and flow_hash() read. */
		key.local_ip = key6.local_ip[0] ^ key6.local_ip[1] ^ key6.local_ip[2] ^ key6.local_ip[3];
		key.server_ip = key6.server_ip[0] ^ key6.server_ip[1] ^ key6.server_ip[2] ^
				key6.server_ip[3];
		key.local_port = key6.local_port;
		key.server_port = key6.server_port;
		goto parsed;
	}
	if (eth->h_proto != bpf_htons(ETH_P_IP))
		return event(CLONE_EV_NOT_IPV4);
	ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > data_end)
		return event(CLONE_EV_SHORT);
	if (ip->protocol != IPPROTO_TCP)
		return event(CLONE_EV_NOT_TCP);
	if (ip->frag_off & bpf_htons(0x3fff))
		return event(CLONE_EV_FRAGMENT);
	ihl = (ip->ihl & 0xf) * 4;
	if (ihl < sizeof(*ip))
		return event(CLONE_EV_SHORT);
	th = (void *)ip + ihl;
	if ((void *)(th + 1) > data_end)
		return event(CLONE_EV_SHORT);

	if (egress) {
		key.local_ip = ip->saddr;
		key.server_ip = ip->daddr;
		key.local_port = th->source;
		key.server_port = th->dest;
	} else {
		key.local_ip = ip->daddr;
		key.server_ip = ip->saddr;
		key.local_port = th->dest;
		key.server_port = th->source;
	}
parsed:
	ctl = th->syn || th->fin || th->rst;
	hdrs = ETH_HLEN + ihl + th->doff * 4;
	if (v6) {
		conn = bpf_map_lookup_elem(&clone_conns6, &key6);
		if (egress && !synth)
			conn = learn6(skb, &key6, conn, th->syn && !th->ack);
	} else {
		conn = bpf_map_lookup_elem(&clone_conns, &key);
		if (egress && !synth)
			conn = learn(skb, &key, conn, th->syn && !th->ack);
	}
	if (!conn || (synth && !(conn->flags & CLONE_CONN_PLAINTEXT)))
		return event(CLONE_EV_NOT_REGISTERED);
	/* Its clone servers get the plaintext the engine synthesizes instead. */
	if (!synth && (conn->flags & CLONE_CONN_PLAINTEXT))
		return event(CLONE_EV_PLAINTEXT);
	if (conn->expires_ns) {
		/* Closed. A new SYN from the SE on its 4-tuple is a connection
		 * that was not registered (a registered socket's SYN has just
		 * replaced the entry with an open one): a health check reusing
		 * the port. Forget the old one at once rather than clone the
		 * newcomer. */
		if (egress && !synth && th->syn && !th->ack) {
			if (v6)
				bpf_map_delete_elem(&clone_conns6, &key6);
			else
				bpf_map_delete_elem(&clone_conns, &key);
			return event(CLONE_EV_REUSED);
		}
		if (bpf_ktime_get_ns() > conn->expires_ns)
			return event(CLONE_EV_EXPIRED);
	}
	idx = conn->srv_index;
	srv = bpf_map_lookup_elem(&clone_srvs, &idx);
	if (!srv || !(srv->flags & CLONE_SRV_ACTIVE) || srv->gen != conn->srv_gen)
		return event(CLONE_EV_STALE);
	vs = idx / CLONE_SRV_PER_VS;
	st = bpf_map_lookup_elem(&clone_stats, &srv->stat_slot);
	if (!st)
		return event(CLONE_EV_NO_STAT);

	len = skb->len;
	/* Count wire frames: on egress TCP hands the hook GSO super-frames that
	 * are cut into gso_segs frames after it; the clone is cut the same way. */
	segs = skb->gso_segs ? skb->gso_segs : 1;
	payload = len > hdrs ? len - hdrs : 0;
	port = bpf_ntohs(key.server_port);

	prof = bpf_map_lookup_elem(&clone_profs, &vs);
	if (prof && prof->n_filters) {
		if (conn->prefix_gen != prof->gen) {
			conn->prefix_bits = prefix_bits(prof, conn->client_ip, conn->client_ip6);
			conn->prefix_gen = prof->gen;
		}
		if (!accepted(prof, conn->prefix_bits, egress ? CLONE_DIR_TO_SERVER : CLONE_DIR_FROM_SERVER,
			      port)) {
			st->filtered += segs;
			return TC_ACT_OK;
		}
	}
	if (prof && prof->max_bytes_per_flow) {
		/* Both directions draw on one budget. Once it is spent, STOP
		 * still clones SYN, FIN and RST (the sensor sees every flow
		 * begin and end), HEADERS cuts every frame to its headers. */
		if (conn->bytes >= prof->max_bytes_per_flow) {
			if (prof->budget_action == CLONE_BUDGET_STOP) {
				if (!ctl) {
					st->budget_skipped += segs;
					return TC_ACT_OK;
				}
			} else if (payload) {
				keep = hdrs;
				by_budget = 1;
			}
		} else {
			__sync_fetch_and_add(&conn->bytes, payload);
		}
	}
	if (prof && prof->snaplen && (!keep || prof->snaplen < keep)) {
		keep = prof->snaplen;
		by_budget = 0;
	}

	home = st;
	if (is_down(srv, idx)) {
		cand = failover(idx);
		if (cand < 0) {
			/* No healthy server left: counted, not sent. */
			st->total += segs;
			st->driver_failures += segs;
			st->bytes_failed += len;
			return TC_ACT_OK;
		}
		idx = (__u32)cand;
		srv = bpf_map_lookup_elem(&clone_srvs, &idx);
		if (!srv)
			return event(CLONE_EV_STALE);
		st = bpf_map_lookup_elem(&clone_stats, &srv->stat_slot);
		if (!st)
			return event(CLONE_EV_NO_STAT);
		home->failover += segs;
	}

	st->total += segs;
	if (!srv->ifindex) {
		st->driver_failures += segs;
		st->no_interface += segs;
		st->bytes_failed += len;
		return TC_ACT_OK;
	}
	if (srv->encap == CLONE_ENCAP_NONE && !(srv->flags & CLONE_SRV_HAS_MAC)) {
		/* Counted, never queued: the frame is simply not cloned. */
		st->driver_failures += segs;
		st->no_mac += segs;
		st->bytes_failed += len;
		return TC_ACT_OK;
	}
	client_ip = (srv->flags & CLONE_SRV_PRESERVE_CLIENT_IP) ? conn->client_ip : 0;
	/* An IPv6 client does not fit the IPv4 header of its pool's frames:
	 * the clone keeps the SE's address, and says so in the counters. */
	not_preserved = !v6 && (srv->flags & CLONE_SRV_PRESERVE_CLIENT_IP) && !conn->client_ip &&
			(conn->client_ip6[0] | conn->client_ip6[1] | conn->client_ip6[2] |
			 conn->client_ip6[3]);

	x = bpf_map_lookup_elem(&clone_xfer, &zero);
	if (!x)
		return event(CLONE_EV_NO_STAT);
	x->srv_index = idx;
	x->client_ip = client_ip;
	x->se_ip = v6 ? 0 : key.local_ip;
	/* An IPv6 frame takes the client as IPv6, ::ffff:a.b.c.d for an IPv4 one. */
	x->v6 = v6;
	x->preserve6 = v6 && (srv->flags & CLONE_SRV_PRESERVE_CLIENT_IP) &&
		       (conn->client_ip6[0] | conn->client_ip6[1] | conn->client_ip6[2] |
			conn->client_ip6[3]);
	if (v6) {
		x->client_ip = 0;
		__builtin_memcpy(x->client_ip6, conn->client_ip6, 16);
		__builtin_memcpy(x->se_ip6, key6.local_ip, 16);
	}
	x->keep = keep;
	x->min_keep = ETH_HLEN + ihl + offsetof(struct tcphdr, check) + 2;
	x->ihl = ihl;
	x->from_server = !egress;
	x->in_ifindex = skb->ifindex;
	x->flow_hash = flow_hash(&key);
	x->done = 0;
	x->err = 0;
	if (synth) {
		/* The synthesized frame is our own skb: it is itself the clone. */
		verdict = deliver_own(skb, x, srv);
		ret = verdict == TC_ACT_SHOT ? (x->err ? x->err : -1) : 0;
	} else {
		x->armed = 1;
		mark = skb->mark;
		skb->mark = clone_mark;
		ret = bpf_clone_redirect(skb, srv->ifindex, 0);
		skb->mark = mark;
		x->armed = 0;
	}

	if (ret == 0 && !(x->done & CLONE_XD_RAN))
		/* clone_deliver was not on the interface: the engine attaches
		 * it before it sends any clone there, so this is a bug. */
		event(CLONE_EV_UNDELIVERED);
	if (ret == 0) {
		st->succeeded += segs;
		st->bytes += len;
		if (not_preserved)
			st->not_preserved += segs;
		if (x->done & CLONE_XD_KEEP_CUT) {
			if (by_budget)
				st->budget_skipped += segs;
			else
				st->truncated += segs;
		}
		if (x->done & CLONE_XD_MTU_CUT)
			st->mtu_truncated += segs;
	} else if (ret == -12 /* -ENOMEM */ || x->err == -12) {
		st->mbuf_alloc_failed += segs;
		st->bytes_failed += len;
	} else {
		st->driver_failures += segs;
		st->bytes_failed += len;
	}
	return ret ? TC_ACT_OK : verdict;
}

SEC("tc")
int clone_ingress(struct __sk_buff *skb)
{
	return clone_frame(skb, 0, 0);
}

SEC("tc")
int clone_egress(struct __sk_buff *skb)
{
	return clone_frame(skb, 1, 0);
}
