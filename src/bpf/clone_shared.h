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

/* skb->mark of a clone while bpf_clone_redirect() sends it, so the program
 * never clones its own clones when the clone interface is also a back-end one. */
#define CLONE_MARK 0xc10e0c10u

/* The fixed tc handle and priority of our filters; with the program names
 * they tell our filters from anybody else's when a crashed run is cleaned up. */
#define CLONE_TC_HANDLE 0xc10e
#define CLONE_TC_PRIORITY 0xc10e

/* Key of the connection map: the back-end connection as the SE sends it. All
 * fields in network byte order. */
struct clone_conn_key {
	__u32 local_ip;
	__u32 server_ip;
	__u16 local_port;
	__u16 server_port;
};

/* Value of the connection map, and of the socket storage clone_socks that the
 * proxy's on_connect hook writes on the back-end socket before connect(); the
 * program copies it into clone_conns when it sees the socket's SYN. */
struct clone_conn {
	__u32 client_ip;  /* network byte order */
	__u32 srv_index;  /* index into clone_srvs: vs_slot * CLONE_SRV_PER_VS + server slot */
	__u32 srv_gen;    /* must equal clone_srvs[srv_index].gen, else the entry is stale */
	__u32 pad;
	__u64 expires_ns; /* 0 while open; after close, bpf_ktime_get_ns() deadline */
};

enum clone_srv_flags {
	CLONE_SRV_ACTIVE = 1,
	CLONE_SRV_HAS_MAC = 2,
	CLONE_SRV_PRESERVE_CLIENT_IP = 4,
};

/* One clone server of one virtual service (array clone_srvs). */
struct clone_srv {
	__u32 gen;       /* changes whenever the slot is given to another server */
	__u32 ifindex;   /* clone interface; 0 when it is missing */
	__u32 stat_slot; /* index into clone_stats */
	__u32 flags;     /* enum clone_srv_flags */
	__u8 dst_mac[6]; /* the clone server's */
	__u8 src_mac[6]; /* the clone interface's */
	__u32 pad;
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
	__u64 no_mac;
	__u64 no_interface;
	__u64 bytes;         /* bytes of frames cloned successfully */
	__u64 bytes_failed;  /* bytes of frames that could not be cloned */
};

/* Per-CPU events of frames that were not cloned (katran style: nothing is
 * dropped silently). The production frame always goes on. */
enum clone_event {
	CLONE_EV_FRAMES = 0,      /* every frame the program saw */
	CLONE_EV_OWN_CLONE,       /* one of our clones passing the hook */
	CLONE_EV_SHORT,           /* shorter than Ethernet + IPv4 + TCP headers */
	CLONE_EV_NOT_IPV4,        /* not IPv4 (ARP, IPv6, VLAN...) */
	CLONE_EV_NOT_TCP,         /* IPv4 but not TCP */
	CLONE_EV_FRAGMENT,        /* IPv4 fragment */
	CLONE_EV_NOT_REGISTERED,  /* TCP but no registered connection (health checks, host traffic) */
	CLONE_EV_EXPIRED,         /* connection closed longer ago than the grace period */
	CLONE_EV_REUSED,          /* a SYN of unregistered traffic reusing a closed connection's 4-tuple */
	CLONE_EV_STALE,           /* its clone server or service is gone */
	CLONE_EV_NO_STAT,         /* counter slot out of range (should not happen) */
	CLONE_EV_REWRITE_FAILED,  /* the rewrite before the clone failed */
	CLONE_EV_RESTORE_FAILED,  /* the restore after the clone failed (should not happen) */
	CLONE_EV_MAX,
};

#endif
