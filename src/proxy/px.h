/* px.h: the data plane: proxy workers, listeners, pools, health monitors and TLS. */
#ifndef CLONELB_PROXY_PX_H
#define CLONELB_PROXY_PX_H

#include <jansson.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/addr.h"

struct px;

/* One back-end connection, as the connection hook sees it. */
struct px_conn_info {
	int64_t vs_id;            /* "_id" of the virtual service in the config snapshot */
	const char *vs_uuid;      /* its uuid */
	/* Each of either family: a client of one family may be served by a pool
	 * server of the other (local and server always share theirs). */
	union addr_any client;     /* the client's address, as the SE accepted it */
	union addr_any local;      /* the SE's back-end address; port 0: connect() picks it */
	union addr_any server;     /* the pool server's address */
	int fd;                    /* the back-end socket */
	bool tls;                  /* it will speak TLS to the server (pool.ssl_profile_ref) */
};

/* The plaintext of one TLS back-end connection as the hook follows it
 * (plain_open()); owned by the hook. */
struct px_plain;

/*
 * The bind-then-connect seam (docs/dataplane.md). Each back-end connection of
 * a virtual service is opened in three steps: socket() and bind() to the SE's
 * own address with IP_BIND_ADDRESS_NO_PORT, so the kernel picks the source
 * port in connect(); then on_connect() with the socket (ci->fd), which is not
 * connected yet, so whatever it registers on the socket itself (socket
 * storage) sees the very first SYN; then a non-blocking connect().
 * on_close() runs just before the back-end socket is closed, with the same
 * information: the socket still holds its 4-tuple (getsockname(ci->fd) gives
 * the port once connect() was called). A connect that fails before the next
 * server is tried is its own on_connect()/on_close() pair. Both run on the
 * worker thread that owns the connection, must not block and cannot fail the
 * connection; @ci is valid during the call only. Health-check connections do
 * not pass through here.
 *
 * The plain_* calls follow the plaintext of a connection that speaks TLS
 * to its server (ci->tls); plain_open() may be NULL, a hook whose
 * plain_open() returns handles has the other three: plain_open() once its TCP
 * connection is established (NULL: not followed); plain_data() with the
 * bytes SSL_write() took (@from_server false) or SSL_read() gave
 * (@from_server true), in the order they passed; plain_fin() when a side
 * ends its half (the SE's shutdown() towards the server, or the server's
 * end of stream); plain_close() just before on_close(), @reset when the SE
 * resets the connection; it frees @p. The same rules: the worker thread,
 * never blocking, never failing the connection.
 */
struct px_conn_hook {
	void (*on_connect)(void *ctx, const struct px_conn_info *ci);
	void (*on_close)(void *ctx, const struct px_conn_info *ci);
	struct px_plain *(*plain_open)(void *ctx, const struct px_conn_info *ci);
	void (*plain_data)(struct px_plain *p, bool from_server, const char *buf, size_t n);
	void (*plain_fin)(struct px_plain *p, bool from_server);
	void (*plain_close)(struct px_plain *p, bool reset);
	void *ctx;
};

/* How the worker threads are scheduled (clonelbd --worker-sched). */
enum px_sched {
	/* SCHED_BATCH: a worker woken by a packet does not preempt the task
	 * running on its CPU; it runs when that one sleeps or its slice ends
	 * (docs/dataplane.md, "Worker scheduling"). */
	PX_SCHED_BATCH,
	PX_SCHED_NORMAL, /* the kernel's default, SCHED_OTHER */
};

/*
 * Starts @workers worker threads (0: one per CPU), scheduled by @sched, and
 * the health checker. @hook may be NULL. Returns 0 and *ret (stop with
 * px_stop()), or -errno with *ret_err.
 */
int px_start(unsigned workers, enum px_sched sched, const struct px_conn_hook *hook,
	     struct px **ret, char **ret_err);

/*
 * Reconciles listeners, pools and monitors with @snap (see cfg_snapshot()).
 * Returns at once; takes effect within a second; connections of services
 * that did not change are not cut. Errors binding a listener are logged and
 * shown in the runtime view, never fatal.
 */
void px_apply(struct px *px, const json_t *snap);

/*
 * Calls @fn(@ctx) on the health thread whenever a pool member goes up or
 * down, so route health injection re-checks its announcements at once. Set
 * it before the first px_apply(); @fn must not block.
 */
void px_set_health_hook(struct px *px, void (*fn)(void *ctx), void *ctx);

/* Runtime view of a virtual service (connections, pool members' health), or
 * NULL if unknown. New reference. */
json_t *px_runtime(struct px *px, const char *vs_uuid);

/* Appends Prometheus text lines of the data plane to the FILE. */
void px_metrics(struct px *px, FILE *out);

/* Stops workers, closes every socket. Accepts NULL. */
void px_stop(struct px *px);

#endif
