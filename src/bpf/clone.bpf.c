/* clone.bpf.c: tc clsact program that copies the frames of registered back-end connections to clone servers. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
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

/*
 * The whole job for one frame. @egress: the frame leaves the SE (SE->server),
 * else it arrives (server->SE). The production frame is rewritten for the
 * clone, cloned, then restored byte for byte; it always goes on (TC_ACT_OK).
 */
static __always_inline int clone_frame(struct __sk_buff *skb, int egress)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct clone_conn_key key = {};
	struct clone_conn *conn;
	struct clone_srv *srv;
	struct clone_stat *st;
	struct ethhdr *eth = data;
	struct iphdr *ip;
	struct tcphdr *th;
	__u8 old_macs[ETH_ADDRS_LEN], new_macs[ETH_ADDRS_LEN];
	__u32 ihl, tcp_csum_off, ip_off, se_ip, client_ip, idx, mark, len, segs;
	int preserve, ret, i;

	event(CLONE_EV_FRAMES);
	if (skb->mark == clone_mark)
		return event(CLONE_EV_OWN_CLONE);
	if ((void *)(eth + 1) > data_end)
		return event(CLONE_EV_SHORT);
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
	conn = bpf_map_lookup_elem(&clone_conns, &key);
	if (egress)
		conn = learn(skb, &key, conn, th->syn && !th->ack);
	if (!conn)
		return event(CLONE_EV_NOT_REGISTERED);
	if (conn->expires_ns) {
		/* Closed. A new SYN from the SE on its 4-tuple is a connection
		 * that was not registered (a registered socket's SYN has just
		 * replaced the entry with an open one): a health check reusing
		 * the port. Forget the old one at once rather than clone the
		 * newcomer. */
		if (egress && th->syn && !th->ack) {
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
	idx = srv->stat_slot;
	st = bpf_map_lookup_elem(&clone_stats, &idx);
	if (!st)
		return event(CLONE_EV_NO_STAT);

	len = skb->len;
	/* Count wire frames: on egress TCP hands the hook GSO super-frames that
	 * are cut into gso_segs frames after it; the clone is cut the same way. */
	segs = skb->gso_segs ? skb->gso_segs : 1;
	st->total += segs;
	if (!srv->ifindex) {
		st->driver_failures += segs;
		st->no_interface += segs;
		st->bytes_failed += len;
		return TC_ACT_OK;
	}
	if (!(srv->flags & CLONE_SRV_HAS_MAC)) {
		/* Counted, never queued: the frame is simply not cloned. */
		st->driver_failures += segs;
		st->no_mac += segs;
		st->bytes_failed += len;
		return TC_ACT_OK;
	}

	/* Everything the rewrite needs is read now: helpers that write the
	 * frame invalidate the packet pointers. */
	for (i = 0; i < ETH_ADDRS_LEN; i++)
		old_macs[i] = ((__u8 *)eth)[i];
	for (i = 0; i < 6; i++) {
		new_macs[i] = srv->dst_mac[i];
		new_macs[6 + i] = srv->src_mac[i];
	}
	preserve = (srv->flags & CLONE_SRV_PRESERVE_CLIENT_IP) && conn->client_ip;
	se_ip = key.local_ip;
	client_ip = conn->client_ip;
	ip_off = egress ? IP_SRC_OFF : IP_DST_OFF;
	tcp_csum_off = ETH_HLEN + ihl + offsetof(struct tcphdr, check);
	mark = skb->mark;

	if (bpf_skb_store_bytes(skb, 0, new_macs, ETH_ADDRS_LEN, 0))
		goto rewrite_failed;
	if (preserve && set_addr(skb, ip_off, tcp_csum_off, se_ip, client_ip)) {
		bpf_skb_store_bytes(skb, 0, old_macs, ETH_ADDRS_LEN, 0);
		goto rewrite_failed;
	}
	skb->mark = clone_mark;
	ret = bpf_clone_redirect(skb, srv->ifindex, 0);
	skb->mark = mark;

	/* Restore the production frame. After bpf_clone_redirect() the frame's
	 * head is private (the clone keeps the rewritten copy), so these
	 * writes need no allocation. */
	if ((preserve && set_addr(skb, ip_off, tcp_csum_off, client_ip, se_ip)) ||
	    bpf_skb_store_bytes(skb, 0, old_macs, ETH_ADDRS_LEN, 0))
		event(CLONE_EV_RESTORE_FAILED);

	if (ret == 0) {
		st->succeeded += segs;
		st->bytes += len;
	} else if (ret == -12 /* -ENOMEM */) {
		st->mbuf_alloc_failed += segs;
		st->bytes_failed += len;
	} else {
		st->driver_failures += segs;
		st->bytes_failed += len;
	}
	return TC_ACT_OK;

rewrite_failed:
	/* Could not make the head writable: no memory for the copy. */
	st->mbuf_alloc_failed += segs;
	st->bytes_failed += len;
	return event(CLONE_EV_REWRITE_FAILED);
}

SEC("tc")
int clone_ingress(struct __sk_buff *skb)
{
	return clone_frame(skb, 0);
}

SEC("tc")
int clone_egress(struct __sk_buff *skb)
{
	return clone_frame(skb, 1);
}
