/* clone_deliver.h: the clone's own path (clone_deliver on the clone interfaces' tc egress): rewrite, cut, encapsulate. Included by clone.bpf.c only. */
#ifndef CLONELB_BPF_CLONE_DELIVER_H
#define CLONELB_BPF_CLONE_DELIVER_H

/*
 * clone_frame() (on a back-end hook) hands the clone to clone_deliver()
 * through this per-CPU slot. bpf_clone_redirect() transmits the clone
 * synchronously: the target's tc egress hook, hence clone_deliver(), runs
 * inside the helper call, on the same CPU, with bottom halves off. So while
 * armed is 1 the only frame that can reach clone_deliver() on this CPU with
 * our mark is that clone; a frame that carries our mark at any other time is
 * somebody else's and is left alone. clone_deliver() writes done and err
 * back for the counters.
 */
struct clone_xfer {
	__u32 armed;       /* 1: inside clone_frame()'s bpf_clone_redirect(); 2: taken */
	__u32 srv_index;   /* the clone server, index into clone_srvs */
	__u32 client_ip;   /* preserve_client_ip: the client's address, else 0 */
	__u32 se_ip;       /* the SE's address the client's replaces */
	__u32 keep;        /* bytes of the frame kept (0: all): snaplen or the budget's headers */
	__u32 min_keep;    /* never cut shorter: up to the end of the TCP checksum */
	__u32 ihl;         /* IPv4 header length: where the TCP checksum is */
	__u32 from_server; /* 1: server -> SE (ingress), 0: SE -> server (egress) */
	__u32 in_ifindex;  /* the back-end interface (ERSPAN index / hardware id) */
	__u32 flow_hash;   /* the same for both directions of the connection */
	__u32 done;        /* CLONE_XD_*, written by clone_deliver() */
	__s32 err;         /* why clone_deliver() dropped the clone */
	/* An IPv6 frame (ihl is then the IPv6 header with its extension
	 * headers): with preserve6, client_ip6 replaces se_ip6. */
	__u32 v6;
	__u32 preserve6;
	__u32 client_ip6[4];
	__u32 se_ip6[4];
};

#define CLONE_XD_RAN 1     /* clone_deliver() took the clone */
#define CLONE_XD_KEEP_CUT 2 /* cut to keep */
#define CLONE_XD_MTU_CUT 4  /* cut to fit the path MTU */

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct clone_xfer);
} clone_xfer SEC(".maps");

/* ERSPAN sequence numbers, per clone server. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, CLONE_MAX_SRV);
	__type(key, __u32);
	__type(value, __u32);
} clone_seq SEC(".maps");

#define GRE_SEQ_BIT 0x1000
#define ETH_P_ERSPAN_II 0x88BE
#define ETH_P_ERSPAN_III 0x22EB
#define ETH_P_TEB_ 0x6558

/* The tunnel headers that follow the outer IP header, each ending with the
 * inner frame's Ethernet header (the clone's own, copied). */
struct clone_udp_tun {
	__be16 sport, dport, len, check;
	__be32 w0, w1; /* VXLAN: flags, VNI << 8; Geneve: version/flags/protocol, VNI << 8 */
	struct ethhdr inner;
} __attribute__((packed));

struct clone_erspan2 {
	__be16 gre_flags, gre_proto;
	__be32 seq;
	__be16 ver_vlan, cos_session;
	__be32 index;
	struct ethhdr inner;
} __attribute__((packed));

struct clone_erspan3 {
	__be16 gre_flags, gre_proto;
	__be32 seq;
	__be16 ver_vlan, cos_session;
	__be32 timestamp;
	__be16 sgt, flags; /* P, FT, HW ID, D, Gra, O */
	struct ethhdr inner;
} __attribute__((packed));

/* The largest first: "= {}" zeroes all of it, as the verifier wants of the
 * bytes a store reads. */
union clone_tun {
	struct clone_erspan3 e3;
	struct clone_erspan2 e2;
	struct clone_udp_tun udp;
};

/* The IPv6 header without <linux/ipv6.h>'s bit fields (40 bytes, no padding). */
struct clone_ip6 {
	__be32 vtc_flow; /* version 6, traffic class, flow label */
	__be16 payload_len;
	__u8 nexthdr, hop_limit;
	__u32 saddr[4], daddr[4];
};

/* The outer Ethernet type (the frame may change family) and IP header, as
 * written in one store from offset 12 (from h_proto on). Not packed: the
 * padding keeps the IP header aligned on the stack, where the verifier
 * refuses misaligned stores. */
struct clone_outer4 {
	__u16 pad;
	__be16 h_proto;
	struct iphdr ip;
};

struct clone_outer6 {
	__u16 pad;
	__be16 h_proto;
	struct clone_ip6 ip;
};

/* Bytes of the tunnel header of @encap, the inner Ethernet header excluded. */
static __always_inline __u32 tun_len(__u32 encap)
{
	switch (encap) {
	case CLONE_ENCAP_VXLAN:
	case CLONE_ENCAP_GENEVE:
		return sizeof(struct clone_udp_tun) - ETH_HLEN;
	case CLONE_ENCAP_ERSPAN_II:
		return sizeof(struct clone_erspan2) - ETH_HLEN;
	case CLONE_ENCAP_ERSPAN_III:
		return sizeof(struct clone_erspan3) - ETH_HLEN;
	}
	return 0;
}

/* Bytes in front of the inner frame, outer Ethernet header excluded: the
 * outer IP header (IPv4 20, IPv6 40) and the tunnel header. */
static __always_inline __u32 encap_hdr_len(const struct clone_srv *srv)
{
	if (srv->encap == CLONE_ENCAP_NONE)
		return 0;
	return (srv->outer6 ? sizeof(struct clone_ip6) : sizeof(struct iphdr)) + tun_len(srv->encap);
}

static __always_inline struct iphdr outer_ip(const struct clone_srv *srv, __u8 proto, __u32 tot_len)
{
	struct iphdr v = {}, *ip = &v;
	__s64 sum;
	__u32 c;

	ip->version = 4;
	ip->ihl = 5;
	ip->tos = 0;
	ip->tot_len = bpf_htons(tot_len);
	ip->id = 0;
	/* Don't fragment: the clone was cut to fit the path MTU instead, so a
	 * collector never depends on reassembly. */
	ip->frag_off = bpf_htons(0x4000);
	ip->ttl = 64;
	ip->protocol = proto;
	ip->check = 0;
	ip->saddr = srv->outer_src;
	ip->daddr = srv->outer_dst;
	sum = bpf_csum_diff(0, 0, (__be32 *)ip, sizeof(*ip), 0);
	c = (__u32)sum;
	c = (c & 0xffff) + (c >> 16);
	c = (c & 0xffff) + (c >> 16);
	ip->check = (__u16)~c;
	return v;
}

/*
 * The IPv6 outer header. IPv6 is never fragmented on the way, and this
 * packet not at the source either (it was cut to the path MTU). The flow
 * label is the connection's hash: routers that spread flows by it keep both
 * directions of a connection on one path.
 */
static __always_inline struct clone_ip6 outer_ip6(const struct clone_srv *srv, __u8 proto,
						  __u32 payload_len, __u32 flow_hash)
{
	struct clone_ip6 ip = {};

	ip.vtc_flow = bpf_htonl(6u << 28 | (flow_hash & 0xfffff));
	ip.payload_len = bpf_htons(payload_len);
	ip.nexthdr = proto;
	ip.hop_limit = 64;
	__builtin_memcpy(ip.saddr, srv->outer_src6, 16);
	__builtin_memcpy(ip.daddr, srv->outer_dst6, 16);
	return ip;
}

static __always_inline int grow(struct __sk_buff *skb, __u32 room, __u64 l3, __u64 l4,
				__u64 fixed_gso)
{
	/* The room goes between the (future outer) Ethernet header and the IP
	 * header; the kernel learns where the inner frame starts (for GSO and
	 * checksum completion of the inner TCP segment, which stays partial)
	 * and, from the outer family, the packet's protocol. */
	return bpf_skb_adjust_room(skb, room, BPF_ADJ_ROOM_MAC,
				   l3 | l4 | fixed_gso | BPF_F_ADJ_ROOM_ENCAP_L2_ETH |
					   BPF_F_ADJ_ROOM_ENCAP_L2(ETH_HLEN) | BPF_F_ADJ_ROOM_NO_CSUM_RESET);
}

/*
 * A GSO super-frame is cut into segments of gso_size bytes of TCP payload
 * after this hook: the wire frames its sender would have sent. Growing it
 * by the outer headers would lower gso_size by as much, and the collector
 * would get the flow in more, shorter segments than the wire had, fitted to
 * a path of the wire's MTU whatever the collector's path is. Instead the
 * segments are fitted to the path MTU: where that path holds a wire segment
 * plus the outer headers (an underlay with a larger MTU, as tunnels are
 * given), gso_size is kept, one encapsulated packet per wire frame; where it
 * does not, gso_size is lowered to what fits, and every byte still arrives.
 * Lowering it by d: growing the room by d lowers it, shrinking it back with
 * BPF_F_ADJ_ROOM_FIXED_GSO leaves it. @hl: the outer headers (outer IP and
 * tunnel header). Sets *@fixed to the flag for the encapsulation's own
 * growth; returns 0 or a negative error.
 */
static __always_inline int fit_gso(struct __sk_buff *skb, const struct clone_xfer *x,
				   const struct clone_srv *srv, __u32 hl, __u64 *fixed)
{
	__u32 hdrs, fits, d;
	__u8 doff;

	*fixed = 0;
	if (!skb->gso_size || !srv->mtu)
		return 0;
	if (x->ihl > 255 || bpf_skb_load_bytes(skb, ETH_HLEN + x->ihl + 12, &doff, 1))
		return -14; /* -EFAULT */
	hdrs = hl + ETH_HLEN + x->ihl + (doff >> 4) * 4;
	if (hdrs + 8 > srv->mtu)
		return -90; /* -EMSGSIZE: no segment fits */
	fits = srv->mtu - hdrs;
	*fixed = BPF_F_ADJ_ROOM_FIXED_GSO;
	if (skb->gso_size <= fits)
		return 0;
	d = skb->gso_size - fits;
	if (d > 0xfff)
		return -90;
	if (bpf_skb_adjust_room(skb, d, BPF_ADJ_ROOM_MAC, BPF_F_ADJ_ROOM_NO_CSUM_RESET) ||
	    bpf_skb_adjust_room(skb, -(__s32)d, BPF_ADJ_ROOM_MAC,
				BPF_F_ADJ_ROOM_FIXED_GSO | BPF_F_ADJ_ROOM_NO_CSUM_RESET))
		return -12; /* -ENOMEM */
	return 0;
}

/* Fills @t with the tunnel header of @srv->encap. @len: the inner frame's
 * length; @cut: it was cut. Returns its IP protocol (UDP or GRE), 0 for an
 * unknown encapsulation. */
static __always_inline __u8 tunnel(union clone_tun *t, const struct clone_xfer *x,
				   const struct clone_srv *srv, const struct ethhdr *eth, __u32 len,
				   int cut)
{
	__u32 idx = x->srv_index, *seqp, seq = 0;

	if (srv->encap == CLONE_ENCAP_VXLAN || srv->encap == CLONE_ENCAP_GENEVE) {
		/* One source port per connection: routers that spread flows
		 * (ECMP) keep both directions of it on one path, in order. */
		t->udp.sport = bpf_htons(49152 | (x->flow_hash & 0x3fff));
		t->udp.dport = srv->dst_port;
		t->udp.len = bpf_htons(tun_len(srv->encap) + len);
		/* No checksum: none for IPv4; over IPv6 the zero checksum that
		 * RFC 6935 allows tunnels (a Linux receiver takes it with
		 * udp6zerocsumrx). No checksum computed here could be right:
		 * the inner TCP checksum may still be the NIC's to complete,
		 * and a GSO clone is cut into segments after this hook. */
		t->udp.check = 0;
		if (srv->encap == CLONE_ENCAP_VXLAN)
			t->udp.w0 = bpf_htonl(0x08000000); /* I flag: the VNI is valid */
		else
			t->udp.w0 = bpf_htonl(ETH_P_TEB_); /* version 0, no options, Ethernet */
		t->udp.w1 = bpf_htonl(srv->vni << 8);
		t->udp.inner = *eth;
		return IPPROTO_UDP;
	}
	seqp = bpf_map_lookup_elem(&clone_seq, &idx);
	if (seqp)
		seq = __sync_fetch_and_add(seqp, 1);
	if (srv->encap == CLONE_ENCAP_ERSPAN_II) {
		t->e2.gre_flags = bpf_htons(GRE_SEQ_BIT);
		t->e2.gre_proto = bpf_htons(ETH_P_ERSPAN_II);
		t->e2.seq = bpf_htonl(seq);
		t->e2.ver_vlan = bpf_htons(1 << 12);
		/* COS 0, En 00 (untagged), T: the frame was truncated. */
		t->e2.cos_session = bpf_htons((cut ? 1 << 10 : 0) | (srv->erspan_session & 0x3ff));
		t->e2.index = bpf_htonl(x->in_ifindex & 0xfffff);
		t->e2.inner = *eth;
		return IPPROTO_GRE;
	}
	if (srv->encap == CLONE_ENCAP_ERSPAN_III) {
		t->e3.gre_flags = bpf_htons(GRE_SEQ_BIT);
		t->e3.gre_proto = bpf_htons(ETH_P_ERSPAN_III);
		t->e3.seq = bpf_htonl(seq);
		t->e3.ver_vlan = bpf_htons(2 << 12);
		t->e3.cos_session = bpf_htons((cut ? 1 << 10 : 0) | (srv->erspan_session & 0x3ff));
		/* Granularity 00: units of 100 microseconds, as Linux's own
		 * ERSPAN sender. */
		t->e3.timestamp = bpf_htonl((__u32)(bpf_ktime_get_ns() / 100000));
		/* FT 0 (Ethernet), HW ID: low bits of the back-end ifindex, D:
		 * 1 for frames the back-end interface sends (SE -> server), 0
		 * for the ones it receives. */
		t->e3.flags = bpf_htons(((x->in_ifindex & 0x3f) << 4) | (x->from_server ? 0 : 1 << 3));
		t->e3.inner = *eth;
		return IPPROTO_GRE;
	}
	return 0;
}

/*
 * Wraps the (already cut and rewritten) clone in the outer headers of
 * @srv->encap, over IPv4 or, for an IPv6 collector (outer6), IPv6 (GRE's
 * next header 47 as IPv4's protocol). @len: the inner frame's length; @cut:
 * it was cut. Returns 0 or a negative error.
 */
static __always_inline int encapsulate(struct __sk_buff *skb, const struct clone_xfer *x,
				       const struct clone_srv *srv, __u32 len, int cut)
{
	__u32 tl = tun_len(srv->encap), il;
	union clone_tun t __attribute__((aligned(4))) = {};
	struct ethhdr eth;
	__u64 fixed;
	__u8 proto;
	int r;

	if (bpf_skb_load_bytes(skb, 0, &eth, sizeof(eth)))
		return -14; /* -EFAULT */
	proto = tunnel(&t, x, srv, &eth, len, cut);
	/* The bound also tells the verifier the store below stays in @t. */
	if (!proto || !tl || tl > sizeof(t) - ETH_HLEN)
		return -22; /* -EINVAL */
	il = srv->outer6 ? sizeof(struct clone_ip6) : sizeof(struct iphdr);
	r = fit_gso(skb, x, srv, il + tl, &fixed);
	if (r)
		return r;
	if (grow(skb, il + tl + ETH_HLEN,
		 srv->outer6 ? BPF_F_ADJ_ROOM_ENCAP_L3_IPV6 : BPF_F_ADJ_ROOM_ENCAP_L3_IPV4,
		 proto == IPPROTO_UDP ? BPF_F_ADJ_ROOM_ENCAP_L4_UDP : BPF_F_ADJ_ROOM_ENCAP_L4_GRE, fixed))
		return -12;
	if (srv->outer6) {
		struct clone_outer6 o = {.h_proto = bpf_htons(ETH_P_IPV6),
					 .ip = outer_ip6(srv, proto, tl + len, x->flow_hash)};

		r = bpf_skb_store_bytes(skb, ETH_HLEN - 2, &o.h_proto, sizeof(o) - 2, 0);
	} else {
		struct clone_outer4 o = {.h_proto = bpf_htons(ETH_P_IP),
					 .ip = outer_ip(srv, proto, il + tl + len)};

		r = bpf_skb_store_bytes(skb, ETH_HLEN - 2, &o.h_proto, sizeof(o) - 2, 0);
	}
	if (r)
		return r;
	return bpf_skb_store_bytes(skb, ETH_HLEN + il, &t, tl + ETH_HLEN, 0);
}

/*
 * Makes the clone in @skb what @srv receives: cut to x->keep and to the path
 * MTU, client address, then either the clone server's MACs (directly
 * connected) or the outer headers. Every write lands on the clone: the
 * helpers copy a shared head before writing, never the production frame.
 * Returns a TC_ACT_* verdict; on failure x->err says why.
 */
static __always_inline int deliver(struct __sk_buff *skb, struct clone_xfer *x, const struct clone_srv *srv)
{
	__u32 len = skb->len, cap = 0, cut = x->keep, hl = encap_hdr_len(srv);
	__u32 ip_off = x->from_server ? IP_DST_OFF : IP_SRC_OFF;
	__u8 macs[ETH_ADDRS_LEN];
	int mtu_cut = 0, r, i;

	/* The path MTU bounds the IP packet that leaves: the frame's own one,
	 * or the outer one. A GSO super-frame is cut into wire frames after
	 * this hook, each of which fits (fit_gso()). */
	if (srv->mtu && !skb->gso_size) {
		cap = srv->encap == CLONE_ENCAP_NONE ? srv->mtu + ETH_HLEN : srv->mtu - hl;
		if (len > cap && (!cut || cap < cut)) {
			cut = cap;
			mtu_cut = 1;
		}
	}
	if (cut && cut < x->min_keep)
		cut = x->min_keep;
	if (cut && cut < len) {
		if (bpf_skb_change_tail(skb, cut, 0)) {
			x->err = -12;
			return TC_ACT_SHOT;
		}
		x->done |= mtu_cut ? CLONE_XD_MTU_CUT : CLONE_XD_KEEP_CUT;
		len = cut;
	}
	if (x->v6 && x->preserve6 &&
	    set_addr6(skb, x->from_server ? IP6_DST_OFF : IP6_SRC_OFF,
		      ETH_HLEN + x->ihl + offsetof(struct tcphdr, check), x->se_ip6, x->client_ip6)) {
		x->err = -12;
		return TC_ACT_SHOT;
	}
	if (!x->v6 && x->client_ip &&
	    set_addr(skb, ip_off, ETH_HLEN + x->ihl + offsetof(struct tcphdr, check), x->se_ip,
		     x->client_ip)) {
		x->err = -12;
		return TC_ACT_SHOT;
	}
	if (srv->encap == CLONE_ENCAP_NONE) {
		for (i = 0; i < 6; i++) {
			macs[i] = srv->dst_mac[i];
			macs[6 + i] = srv->src_mac[i];
		}
		if (bpf_skb_store_bytes(skb, 0, macs, ETH_ADDRS_LEN, 0)) {
			x->err = -12;
			return TC_ACT_SHOT;
		}
		/* Sent on as it is; clone_egress, when this interface is also a
		 * back-end one, sees the mark and leaves it (own_clone). */
		return TC_ACT_UNSPEC;
	}
	r = encapsulate(skb, x, srv, len, x->done & (CLONE_XD_MTU_CUT | CLONE_XD_KEEP_CUT));
	if (r) {
		x->err = r;
		return TC_ACT_SHOT;
	}
	/* Routed like any packet of the host (the kernel's FIB, then its
	 * neighbour table for the next hop's MAC, resolving it if need be):
	 * the collector may be any number of hops away. The new mark tells
	 * this hook, which sees the packet again, that it is done. */
	skb->mark = clone_mark ^ 1;
	return bpf_redirect_neigh(srv->ifindex, NULL, 0, 0);
}

/*
 * A frame the engine synthesized (clone_plain.c), clone_frame() having
 * decided for it: it is our own skb, nobody else holds it, so it is rewritten
 * and sent itself rather than a clone of it. Directly connected, it leaves by
 * the clone server's interface: this one, or the one it is redirected to
 * (failover). The mark it leaves with tells clone_deliver and clone_egress
 * there that it is done. Returns a TC_ACT_* verdict; on failure x->err says
 * why.
 */
static __always_inline int deliver_own(struct __sk_buff *skb, struct clone_xfer *x,
				       const struct clone_srv *srv)
{
	int verdict;

	x->done = CLONE_XD_RAN;
	bpf_set_hash(skb, x->flow_hash);
	verdict = deliver(skb, x, srv);
	if (verdict != TC_ACT_UNSPEC)
		return verdict;
	skb->mark = clone_mark ^ 1;
	if (srv->ifindex == skb->ifindex)
		return TC_ACT_UNSPEC;
	return bpf_redirect(srv->ifindex, 0);
}

/*
 * tc egress of every clone interface, ahead of clone_egress. Production
 * frames, which never carry our mark while a clone is armed, go on to the
 * next filter untouched (TC_ACT_UNSPEC). A clone is delivered or, if that
 * fails, dropped: only the clone, counted by clone_frame().
 */
SEC("tc")
int clone_deliver(struct __sk_buff *skb)
{
	struct clone_xfer *x;
	struct clone_srv *srv;
	__u32 zero = 0, idx;
	int r;

	/* An encapsulated clone we sent on, passing again: as below, the next
	 * filter (clone_egress, if there) counts it as our own. */
	if (skb->mark == (clone_mark ^ 1))
		return TC_ACT_UNSPEC;
	/* A frame the engine synthesized from a TLS connection's plaintext
	 * (clone_plain.c): decided like a frame of that connection and, when
	 * cloned, rewritten and sent itself (deliver_own()). One that is not
	 * (filtered, over budget, failed) is consumed: it never leaves as it
	 * is, and its sender sees it sent either way (TC_ACT_STOLEN, not
	 * TC_ACT_SHOT, which would fail the rest of its sendmmsg()). */
	if (skb->mark == (clone_mark ^ 2) || skb->mark == (clone_mark ^ 3)) {
		r = clone_frame(skb, skb->mark == (clone_mark ^ 2), 1);
		return r == TC_ACT_UNSPEC || r == TC_ACT_REDIRECT ? r : TC_ACT_STOLEN;
	}
	if (skb->mark != clone_mark)
		return TC_ACT_UNSPEC;
	x = bpf_map_lookup_elem(&clone_xfer, &zero);
	if (!x || x->armed != 1) {
		event(CLONE_EV_FOREIGN_MARK);
		return TC_ACT_UNSPEC;
	}
	x->armed = 2;
	x->done = CLONE_XD_RAN;
	/* One hash for both directions of the connection (the production
	 * frames carry the socket's random one one way, none the other): the
	 * transmit queue the clone interface picks and any flow steering on
	 * the way (RPS, RSS-like spreading of a receiver) keep the flow on one
	 * queue, hence in order. */
	bpf_set_hash(skb, x->flow_hash);
	idx = x->srv_index;
	srv = bpf_map_lookup_elem(&clone_srvs, &idx);
	if (!srv) {
		x->err = -2;
		return TC_ACT_SHOT;
	}
	return deliver(skb, x, srv);
}

#endif
