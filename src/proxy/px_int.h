/* px_int.h: the data plane's internal types and limits, shared by the files of src/proxy/ only. */
#ifndef CLONELB_PROXY_PX_INT_H
#define CLONELB_PROXY_PX_INT_H

#include <netinet/in.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "proxy/px.h"

/*
 * Limits. A client connection with no byte in either direction for
 * PX_IDLE_TIMEOUT_MS is closed; a back-end connect() that has not completed
 * after PX_CONNECT_TIMEOUT_MS counts as failed and the next server is tried,
 * at most PX_CONNECT_TRIES servers per client connection; a TLS handshake
 * must finish within PX_HANDSHAKE_TIMEOUT_MS. Once one side has closed its
 * half, the other has PX_HALF_CLOSED_TIMEOUT_MS of silence to finish.
 */
#define PX_IDLE_TIMEOUT_MS (300 * 1000)
#define PX_CONNECT_TIMEOUT_MS (5 * 1000)
#define PX_HANDSHAKE_TIMEOUT_MS (10 * 1000)
#define PX_HALF_CLOSED_TIMEOUT_MS (60 * 1000)
/* Tests shorten them through the environment, in milliseconds:
 * CLONELB_IDLE_TIMEOUT_MS, CLONELB_CONNECT_TIMEOUT_MS (read by px_start()). */
struct px_timeouts {
	uint64_t idle_ms, connect_ms, handshake_ms, half_closed_ms;
};
#define PX_CONNECT_TRIES 3
#define PX_TICK_MS 250          /* timer sweep and listener retry period */
#define PX_ACK_HOLD_MS 2        /* at most, a back-end handshake's ACK waits for the client (px_sess.c) */
#define PX_BUF_SIZE (64 * 1024) /* per-worker scratch buffer for one read */
#define PX_ACCEPT_BATCH 64      /* accepts per readiness event, for fairness */
/* Of an epoll batch, the first reads of this many directions go to the kernel
 * together through the worker's io_uring, each into its own buffer of
 * PX_BATCH_BUF bytes (px_relay.c); the buffers' pages are touched only as
 * batches fill them. */
#define PX_BATCH 64
#define PX_BATCH_BUF (16 * 1024)
#define PX_BACKLOG 4096
/*
 * The descriptor budget (docs/deployment.md). Out of RLIMIT_NOFILE, what is
 * open when the data plane starts (store, clone engine, API sockets) plus
 * PX_FD_RESERVE is kept back from client traffic: up to PX_FD_API for the
 * API's connections, PX_HEALTH_FDS for health checks in flight, the rest for
 * the clone engine and the daemon's own short-lived files. Client traffic gets
 * what is left, two descriptors per connection (client and back-end) and one
 * per listener; px_budget.c splits it between the virtual services.
 */
#define PX_FD_API 256
#define PX_HEALTH_FDS 192
#define PX_FD_RESERVE (PX_FD_API + PX_HEALTH_FDS + 64)
#define PX_FD_MIN_CLIENT 32 /* client descriptors granted however low the limit is */
#define PX_VS_GUARANTEE 64  /* connections each virtual service keeps for itself */
#define PX_MAX_WORKERS 256
/* Back-end source ports a worker remembers for reuse after their connection
 * ended in TIME_WAIT on the SE, and how long each rests first (the kernel's
 * own tcp_tw_reuse_delay). */
#define PX_TW_PORTS 16384
#define PX_TW_REST_MS 1000

/* What an epoll registration points at; the first member of its owner. */
enum px_ev_kind { PX_EV_WAKE, PX_EV_LISTENER, PX_EV_CLIENT, PX_EV_SERVER, PX_EV_CHECK };
struct px_ev {
	uint8_t kind;
};

/* A health monitor as configured, resolved for one pool. */
enum px_hm_type { PX_HM_TCP, PX_HM_HTTP };
/* The part of an answer a monitor reads: the reference's "first 2 KiB". */
#define PX_HM_RBUF 2048

struct px_hmon {
	int64_t id;
	char *name;
	enum px_hm_type type;
	unsigned interval_ms, timeout_ms, rise, fall;
	char *request;  /* HTTP: the full request; TCP: tcp_request, or NULL */
	char *response; /* tcp_response / http_response the answer must hold, or NULL */
	uint16_t port;  /* monitor_port (network order), 0: the server's */
	unsigned codes; /* bit n set: status class nXX counts as up; 0x3e: any */
	bool tls;       /* HEALTH_MONITOR_HTTPS: over the pool's TLS to the server */
	const struct px_pool *pool; /* the pool whose mon[] holds it */
};

/* One monitor's state for one server; owned by the health thread. */
struct px_hstate {
	struct px_ev ev; /* PX_EV_CHECK */
	struct px_server *srv;
	unsigned idx;              /* index in the pool's monitors */
	const struct px_hmon *mon; /* in the current generation's version of the pool */
	unsigned seq;              /* generation that last saw this server */
	bool up;
	unsigned ok_run, fail_run;
	uint64_t next_ms, deadline_ms;
	int fd;
	bool connected;
	SSL *ssl; /* HTTPS monitors: TLS on fd once connected */
	size_t sent, rlen;
	char rbuf[PX_HM_RBUF + 1]; /* what the server answered so far */
	const char *why; /* last failure reason (static string) */
	atomic_long skipped; /* checks not run for lack of a descriptor or port */
};

/* A pool member. Shared by workers, the health thread and successive
 * configurations of the same pool (matched by pool _id, ip and port). */
struct px_server {
	atomic_int refs;
	union addr_any addr; /* the server, IPv4 or IPv6 */
	union addr_any src;  /* the SE's address towards it (same family), port 0 */
	atomic_bool enabled;
	atomic_bool up; /* every monitor says up, or there are none */
	atomic_long cur, total, fails;
	unsigned nhs;
	struct px_hstate *hs; /* one per pool monitor; health thread only */
	/* TLS to the server (pool.ssl_profile_ref): the last session, to
	 * resume, and why the last handshake failed (a static string). */
	pthread_mutex_t tls_lock; /* guards tls_sess, tls_ctx */
	SSL_SESSION *tls_sess;
	const SSL_CTX *tls_ctx; /* the context tls_sess was made with */
	_Atomic(const char *) tls_why;
};

enum px_lb { PX_LB_RR, PX_LB_LC };
struct px_pool {
	atomic_int refs;
	int64_t id;
	char *name;
	enum px_lb lb;
	unsigned nsrv;
	struct px_server **srv;
	unsigned nmon;
	struct px_hmon *mon;
	atomic_uint rr;
	/* TLS to the servers: tls when ssl_profile_ref is set; sctx NULL then
	 * means it cannot be set up (tls_err says why) and no connection is made. */
	bool tls, verify; /* verify: a PKI profile checks the servers' certificates */
	SSL_CTX *sctx;
	char *sni, *server_name, *tls_err;
	json_t *conf; /* pool and monitors as configured, to detect changes */
	const json_t *src; /* the snapshot's pool object (held by conf): unchanged if the same */
};

/* Counters of a virtual service; they survive edits of the service. */
struct px_vs_stats {
	atomic_int refs;
	/* cur is also the service's connection slot count: taken before accept(),
	 * so it is exact across workers (see px_slot_put()). */
	atomic_long cur, total, refused, failed;
	atomic_long shared;  /* of cur, those taken from the shared part of the budget */
	atomic_long waiting; /* connections left in the kernel backlog at the cap */
	atomic_long limited; /* times accepting stopped at the cap or the service's share */
	pthread_mutex_t lock; /* guards listen_err */
	char *listen_err;
};

struct px_svc {
	uint16_t port;
	bool ssl;
};

struct px_vs {
	atomic_int refs;
	int64_t id;
	char *uuid, *name;
	bool enabled;
	long max_conns;       /* performance_limits.max_concurrent_connections, 0: none */
	struct px_pool *pool; /* NULL: no pool_ref */
	unsigned nvip, nsvc, nctx;
	union addr_any *vip; /* port 0; IPv4 and IPv6 ones side by side */
	struct px_svc *svc;
	SSL_CTX **ctx; /* one per certificate, the first is the default */
	char *ssl_err; /* why TLS services cannot start, or NULL */
	struct px_vs_stats *st;
	json_t *conf;
	const json_t *src; /* the snapshot's service object (held by conf) */
};

/* One immutable configuration; workers and the health thread hold references. */
struct px_gen {
	atomic_int refs;
	unsigned seq;
	unsigned nvs, npool;
	struct px_vs **vs;
	struct px_pool **pool;
	json_t *snap; /* what it was built from: lists of unchanged types are shared */
};

struct px_listener;
struct px_sess;

struct px_worker {
	struct px_ev wake; /* PX_EV_WAKE: eventfd */
	struct px *px;
	unsigned idx;
	pthread_t th;
	int ep, evfd;
	unsigned seen_seq;
	struct px_gen *gen;
	struct px_listener *lis;
	struct px_sess *sess; /* doubly linked list of live sessions */
	struct px_sess *dead; /* closed during this epoll batch, freed after it */
	struct px_sess *held, *held_tail; /* back-end handshake ACKs held, oldest first (px_sess.c) */
	bool gen_pending;     /* a new configuration waits for the end of the batch */
	bool resume_pending;  /* a slot freed: paused listeners may accept again */
	unsigned npaused;     /* listeners out of epoll (struct px_listener.paused) */
	unsigned nvs_enabled; /* of gen: the services that each keep a part of the budget */
	unsigned nsess, peak;
	uint64_t now, next_tick;
	char *buf;
	struct px_ring *ring;   /* NULL: relaying with plain system calls (px_ring.c) */
	struct px_batch *batch; /* this epoll batch's first reads (px_relay.c) */
	atomic_ulong ring_reads; /* reads that went through the ring; written by the worker only */
	/* Rings of the source ports of this worker's back-end connections that
	 * the SE closed first (their 4-tuple is in TIME_WAIT here), oldest
	 * first, with the time each was closed (see px_sess.c). One per family
	 * (0: IPv4, 1: IPv6): a port rests in TIME_WAIT towards its own family's
	 * server only. */
	struct px_tw_ring {
		struct px_tw_port {
			uint32_t closed_ms;
			uint16_t port;
		} e[PX_TW_PORTS];
		unsigned head, len;
	} tw[2];
};

struct px {
	unsigned nworkers;
	enum px_sched sched;
	struct px_timeouts tmo;
	/* The descriptor budget, fixed at start (see PX_FD_RESERVE). */
	long fd_limit, fd_base, fd_client; /* RLIMIT_NOFILE, open at start, for clients */
	atomic_long fd_used;     /* client descriptors taken: 2 per connection, 1 per listener */
	atomic_long fd_lis;      /* of fd_used, the listeners' */
	atomic_long shared_used; /* connections taken from the shared part */
	atomic_long budget_stops;          /* accepts deferred because fd_client was used up */
	atomic_long accept_errors;         /* accept() failures for lack of descriptors or memory */
	atomic_long check_skips;           /* health checks not run for lack of a descriptor */
	struct px_conn_hook hook;
	bool has_hook;
	atomic_bool stopping;
	pthread_mutex_t lock; /* guards gen and seq */
	pthread_mutex_t apply_lock; /* one px_apply() at a time */
	struct px_gen *gen;
	unsigned seq;
	struct px_worker *w;
	/* health thread */
	pthread_t hth;
	int hep, hevfd;
	struct px_ev hwake;
	bool hstarted;
	void (*health_fn)(void *ctx); /* px_set_health_hook() */
	void *health_ctx;
};

/* px.c */
void px_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void px_log_rl(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
struct px_gen *px_gen_get(struct px *px);

/* px_conf.c */
struct px_gen *px_gen_build(const json_t *snap, const struct px_gen *old, unsigned seq);
void px_gen_unref(struct px_gen *g);
void px_vs_unref(struct px_vs *vs);
void px_pool_unref(struct px_pool *p);
void px_server_unref(struct px_server *s);
void px_vs_set_listen_err(struct px_vs *vs, const char *err);
struct px_server *px_pool_pick(struct px_pool *p, struct px_server *const *tried, unsigned ntried);
bool px_pool_has_usable(const struct px_pool *p);
json_t *px_vs_runtime(const struct px_vs *vs);

/* px_tls.c */
int px_tls_profile(SSL_CTX *ctx, const json_t *prof, char **ret_err);
int px_tls_ctx(const char *cert_pem, const char *key_pem, const json_t *prof, SSL_CTX **ret,
	       char **ret_err);
void px_tls_setup_vs(struct px_vs *vs);
int px_tls_client_ctx(const json_t *prof, const json_t *pki, const json_t *cert, SSL_CTX **ret,
		      char **ret_err);
SSL *px_tls_connect_new(const struct px_pool *p, struct px_server *srv, int fd);
void px_tls_keep_session(struct px_server *srv, SSL *ssl);
void px_tls_pool_setup(struct px_pool *p, const json_t *pj, const json_t *sp, const json_t *pk,
		       const json_t *kc);
json_t *px_tls_pool_json(const struct px_pool *p);

/* px_worker.c */
void *px_worker_main(void *arg);
int px_ep_set(struct px_worker *w, int fd, struct px_ev *ev, uint32_t *cur, uint32_t want);


/* px_budget.c */
/* Why a listener is out of epoll (struct px_listener.paused). */
enum px_pause {
	PX_RUNNING,
	PX_PAUSE_LIMIT,  /* its service is at max_concurrent_connections or its share */
	PX_PAUSE_BUDGET, /* client traffic holds its whole descriptor budget */
	PX_PAUSE_ERROR,  /* accept() failed for lack of descriptors or memory */
};
void px_budget_init(struct px *px);
void px_budget_listener(struct px *px, int delta);
unsigned px_budget_services(const struct px_gen *g);
long px_budget_guaranteed(const struct px *px, unsigned nvs);
enum px_pause px_slot_get(struct px *px, unsigned nvs, struct px_vs *vs);
void px_slot_undo(struct px *px, struct px_vs *vs);
void px_slot_put(struct px_worker *w, struct px_vs *vs);
bool px_slot_free(const struct px *px, unsigned nvs, const struct px_vs *vs);
void px_budget_metrics(struct px *px, const struct px_gen *g, FILE *out);

/* px_ring.c */
struct px_ring;
int px_ring_open(unsigned depth, struct px_ring **ret, const char **ret_why);
void px_ring_close(struct px_ring *r);
int px_ring_recv(struct px_ring *r, int fd, void *buf, size_t len, uint64_t data);
int px_ring_send(struct px_ring *r, int fd, const void *buf, size_t len, int flags, uint64_t data);
int px_ring_run(struct px_ring *r, void (*done)(void *ctx, uint64_t data, int res), void *ctx);

/* px_relay.c */
size_t px_relay_batch_size(void);
void px_relay_batch_run(struct px_worker *w);

/* px_sess.c */
void px_sess_accept(struct px_worker *w, struct px_listener *l, int fd,
		    const union addr_any *peer);
void px_sess_event(struct px_worker *w, struct px_ev *ev, uint32_t events);
void px_sess_close(struct px_worker *w, struct px_sess *s);
void px_sess_sweep(struct px_worker *w);
void px_sess_close_removed(struct px_worker *w, const struct px_gen *g);
void px_sess_close_all(struct px_worker *w);
void px_sess_reap(struct px_worker *w);
int px_sess_held_timeout(const struct px_worker *w, int timeout);
void px_sess_held_due(struct px_worker *w);

/* px_health.c */
void *px_health_main(void *arg);
void px_health_fd_close(int fd);

/* The listener as the session code needs it. */
struct px_listener {
	struct px_ev ev; /* PX_EV_LISTENER */
	struct px_listener *next;
	int fd;
	union addr_any addr; /* the VIP, port 0 */
	uint16_t port;
	bool ssl, claimed;
	uint8_t paused; /* enum px_pause: why the listener is out of epoll */
	struct px_vs *vs;
	uint32_t mask;
	long waiting; /* this listener's share of vs->st->waiting */
};

#endif
