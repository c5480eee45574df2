/* clone_shared.h: fixed-width structs and limits shared by clone.bpf.c and the clone engine (src/clone/). */
#ifndef CLONELB_BPF_CLONE_SHARED_H
#define CLONELB_BPF_CLONE_SHARED_H

#include <linux/types.h>

/* Virtual services that can be cloned at once, and clone-server slots per service. */
#define CLONE_MAX_VS 256
#define CLONE_SRV_PER_VS 16
#define CLONE_MAX_SRV (CLONE_MAX_VS * CLONE_SRV_PER_VS)
/*
 * Counter slots. A slot is taken fresh (zeroed) whenever a service's stats are
 * reset and handed out round robin, so a frame still in flight on the old
 * configuration never writes into a new set of counters.
 */
#define CLONE_STAT_SLOTS 8192
/* Default size of the connection map (LRU: the oldest entries go first). */
#define CLONE_CONN_MAX 262144

/* skb->mark of a clone while bpf_clone_redirect() sends it: clone_deliver
 * finds the clones by it, and clone_ingress/egress never clone their own
 * clones when the clone interface is also a back-end one. An encapsulated
 * clone that clone_deliver has sent on carries CLONE_MARK ^ 1. */
#define CLONE_MARK 0xc10e0c10u
/* A plaintext frame the engine synthesized for a TLS pool's connection
 * (src/clone/clone_plain.c), sent on a clone interface: SE -> server carries
 * CLONE_MARK ^ 2, server -> SE CLONE_MARK ^ 3. clone_deliver clones it like a
 * back-end frame of its connection and consumes it. */
#define CLONE_MARK_PLAIN_TO_SERVER (CLONE_MARK ^ 2)
#define CLONE_MARK_PLAIN_FROM_SERVER (CLONE_MARK ^ 3)

/* The fixed tc handle and priority of our filters; with the program names
 * they tell our filters from anybody else's when a crashed run is cleaned up. */
#define CLONE_TC_HANDLE 0xc10e
#define CLONE_TC_PRIORITY 0xc10e
/* clone_deliver on the clone interfaces' egress: a lower priority runs first,
 * so on an interface that is also a back-end one it sees the clones before
 * clone_egress (which it hands every other frame, TC_ACT_UNSPEC). */
#define CLONE_TC_DELIVER_HANDLE 0xc10d
#define CLONE_TC_DELIVER_PRIORITY 0xc10d

/* Key of the connection map: the back-end connection as the SE sends it. All
 * fields in network byte order. */
struct clone_conn_key {
	__u32 local_ip;
	__u32 server_ip;
	__u16 local_port;
	__u16 server_port;
};

/* Key of the IPv6 connection map (clone_conns6), likewise. */
struct clone_conn_key6 {
	__u32 local_ip[4];
	__u32 server_ip[4];
	__u16 local_port;
	__u16 server_port;
};

/* Value of the connection map, and of the socket storage clone_socks that the
 * proxy's on_connect hook writes on the back-end socket before connect(); the
 * program copies it into clone_conns when it sees the socket's SYN. User space
 * writes the first three fields (the rest zero); the program owns the others. */
struct clone_conn {
	__u32 client_ip;  /* network byte order */
	__u32 srv_index;  /* index into clone_srvs: vs_slot * CLONE_SRV_PER_VS + server slot */
	__u32 srv_gen;    /* must equal clone_srvs[srv_index].gen, else the entry is stale */
	__u32 prefix_gen; /* clone_profs[vs].gen that prefix_bits were decided for (0: not yet) */
	__u64 expires_ns; /* 0 while open; after close, bpf_ktime_get_ns() deadline */
	__u64 bytes;      /* payload bytes cloned whole so far (max_bytes_per_flow) */
	__u32 prefix_bits; /* bit i: filters[i].client_prefix holds client_ip */
	__u32 flags;       /* enum clone_conn_flags, written by user space */
	/* The client as an IPv6 address, ::ffff:a.b.c.d for an IPv4 one (what
	 * an IPv6 header carries for it); client_ip is 0 for an IPv6 client,
	 * which an IPv4 header cannot carry. Written by user space. */
	__u32 client_ip6[4];
};

enum clone_conn_flags {
	/* plaintext_for_tls_pools: the clone servers get the synthesized
	 * plaintext flow of this TLS connection, never its encrypted frames. */
	CLONE_CONN_PLAINTEXT = 1,
};

enum clone_srv_flags {
	CLONE_SRV_ACTIVE = 1,
	CLONE_SRV_HAS_MAC = 2,
	CLONE_SRV_PRESERVE_CLIENT_IP = 4,
};

/* ---- issue 13: encapsulated delivery (clone_servers[].encap_type) ---------- */
enum clone_encap {
	CLONE_ENCAP_NONE = 0,   /* directly connected: MAC rewrite (the reference behaviour) */
	CLONE_ENCAP_VXLAN,      /* UDP dst_port (4789), VXLAN header with vni */
	CLONE_ENCAP_GENEVE,     /* UDP dst_port (6081), Geneve header with vni, no options */
	CLONE_ENCAP_ERSPAN_II,  /* GRE 0x88BE with sequence number, ERSPAN type II header */
	CLONE_ENCAP_ERSPAN_III, /* GRE 0x22EB with sequence number, ERSPAN type III header */
	CLONE_ENCAP_MAX,
};
#define CLONE_VXLAN_PORT 4789
#define CLONE_GENEVE_PORT 6081
#define CLONE_VNI_MAX 0xffffffu
#define CLONE_ERSPAN_SESSION_MAX 1023u

/* One clone server of one virtual service (array clone_srvs), written by
 * clone_apply.c. */
struct clone_srv {
	__u32 gen;       /* changes whenever the slot is given to another server */
	__u32 ifindex;   /* clone interface (encapsulated: the route's); 0 when it is missing */
	__u32 stat_slot; /* index into clone_stats */
	__u32 flags;     /* enum clone_srv_flags */
	__u8 dst_mac[6]; /* the clone server's (CLONE_ENCAP_NONE) */
	__u8 src_mac[6]; /* the clone interface's */
	/* issue 13: encapsulation. */
	__u32 encap;           /* enum clone_encap */
	__u32 vni;             /* VXLAN, Geneve: < 2^24 */
	__u16 dst_port;        /* VXLAN, Geneve: UDP port, network byte order */
	__u16 erspan_session;  /* ERSPAN II, III: session id, 0..1023 */
	__u32 outer_src;       /* the SE's address on the egress interface, network byte order */
	__u32 outer_dst;       /* the collector (ip_address), network byte order */
	__u32 mtu;             /* path MTU: longest IP packet that leaves (outer one if encapsulated) */
	/* An IPv6 collector (outer6 1): the outer header is IPv6, from
	 * outer_src6 to outer_dst6 (network byte order), in place of the two
	 * IPv4 addresses above. */
	__u32 outer6;
	__u32 outer_src6[4];
	__u32 outer_dst6[4];
};

/* ---- issue 13: per-server health (array clone_health, index = clone_srvs') --
 * Written by clone_health.c only (the health checker); clone_apply.c never
 * writes it. A flag is honoured only while gen equals clone_srvs[i].gen, so a
 * slot given to another server starts healthy. Zero (the map's initial value)
 * is healthy. */
struct clone_health {
	__u32 gen;
	__u32 down; /* 1: out of service; its flows fail over to the next healthy server */
};

/* ---- issue 13: per-profile selection (array clone_profs, index = vs slot) --
 * Written by clone_apply.c from the profile's filters[], snaplen,
 * max_bytes_per_flow and budget_action. */
#define CLONE_MAX_FILTERS 16
enum clone_filter_action {
	CLONE_FILTER_ACCEPT = 0,
	CLONE_FILTER_REJECT = 1,
};
enum clone_dir {
	CLONE_DIR_BOTH = 0,
	CLONE_DIR_TO_SERVER = 1,   /* SE -> pool server (the tc egress hook) */
	CLONE_DIR_FROM_SERVER = 2, /* pool server -> SE (the tc ingress hook) */
};
enum clone_budget_action {
	CLONE_BUDGET_HEADERS = 0, /* after max_bytes_per_flow payload bytes: cut to the headers */
	CLONE_BUDGET_STOP = 1,    /* after it: only SYN, FIN and RST are cloned */
};
/* One rule of filters[]; rules are stored lowest rule_number first, the first
 * that matches decides; with rules, a frame no rule matches is not cloned. */
struct clone_filter {
	__u32 client_net;  /* client_prefix, network byte order, already masked */
	__u32 client_mask; /* network byte order; 0: every client */
	__u16 port_start;  /* server port range, host byte order, inclusive */
	__u16 port_end;
	__u8 action;       /* enum clone_filter_action */
	__u8 direction;    /* enum clone_dir */
	__u16 pad;
	/* An IPv6 client_prefix (is6 1): held against clone_conn.client_ip6,
	 * network byte order, already masked. */
	__u32 is6;
	__u32 client_net6[4];
	__u32 client_mask6[4];
};
struct clone_prof {
	__u32 gen;        /* changes with filters[]: connections decide their prefix bits again */
	__u32 snaplen;    /* bytes of each clone kept (0: all) */
	__u64 max_bytes_per_flow; /* payload bytes per connection cloned whole (0: no budget) */
	__u32 budget_action;      /* enum clone_budget_action */
	__u32 n_filters;          /* 0: every frame */
	struct clone_filter filters[CLONE_MAX_FILTERS];
};

/*
 * Per-CPU counters of one clone server of one virtual service. Every frame
 * counted in total ends in exactly one of succeeded, mbuf_alloc_failed or
 * driver_failures; no_mac and no_interface are the part of driver_failures
 * that was never handed to the interface.
 */
struct clone_stat {
	__u64 total;
	__u64 succeeded;
	__u64 mbuf_alloc_failed;
	__u64 driver_failures;
	__u64 no_mac;        /* num_no_mac */
	__u64 no_interface;  /* num_no_interface */
	__u64 bytes;         /* bytes of frames cloned successfully */
	__u64 bytes_failed;  /* bytes of frames that could not be cloned */
	/* issue 13. filtered and budget-stopped frames are not in total (they
	 * were never meant for the server); the cut ones are, in succeeded too. */
	__u64 filtered;       /* num_filtered: refused by filters[] */
	__u64 truncated;      /* num_truncated: cut to snaplen */
	__u64 budget_skipped; /* num_budget_skipped: STOP, not cloned; HEADERS, cut to headers */
	__u64 mtu_truncated;  /* num_mtu_truncated: cut to fit the path MTU */
	__u64 failover;       /* num_failover: this (down) server's frames sent to another one */
	/* preserve_client_ip, an IPv6 client and an IPv4 frame: sent with the
	 * SE's address (num_client_ip_not_preserved); part of succeeded. */
	__u64 not_preserved;
};

/* Per-CPU events of frames that were not cloned (katran style: nothing is
 * dropped silently). The production frame always goes on. */
enum clone_event {
	CLONE_EV_FRAMES = 0,      /* every frame the program saw */
	CLONE_EV_OWN_CLONE,       /* one of our clones passing the hook */
	CLONE_EV_SHORT,           /* shorter than Ethernet + IP (+ extension headers) + TCP headers */
	CLONE_EV_NOT_IPV4,        /* neither IPv4 nor IPv6 (ARP, VLAN...): "not_ip" */
	CLONE_EV_NOT_TCP,         /* IP but not TCP (IPv6: the last header is not TCP, or ESP) */
	CLONE_EV_FRAGMENT,        /* IPv4 or IPv6 fragment */
	CLONE_EV_NOT_REGISTERED,  /* TCP but no registered connection (health checks, host traffic) */
	CLONE_EV_EXPIRED,         /* connection closed longer ago than the grace period */
	CLONE_EV_REUSED,          /* a SYN of unregistered traffic reusing a closed connection's 4-tuple */
	CLONE_EV_STALE,           /* its clone server or service is gone */
	CLONE_EV_NO_STAT,         /* counter slot out of range (should not happen) */
	CLONE_EV_REWRITE_FAILED,  /* the rewrite before the clone failed */
	CLONE_EV_RESTORE_FAILED,  /* unused since production frames are never written (kept: a stable name) */
	CLONE_EV_UNDELIVERED,     /* a clone left without passing clone_deliver (should not happen) */
	CLONE_EV_FOREIGN_MARK,    /* a frame with our mark that is not our clone: left alone */
	CLONE_EV_EXT_HEADERS,     /* IPv6 with more extension headers than the program walks */
	CLONE_EV_PLAINTEXT,       /* an encrypted frame of a connection cloned as synthesized plaintext */
	CLONE_EV_MAX,
};

#endif
