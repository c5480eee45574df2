/* conns.h: how many connections each API listener holds, who gives way at the cap, and the accept loop. */
#ifndef CLONELB_API_CONNS_H
#define CLONELB_API_CONNS_H

#include <microhttpd.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>

struct api_conn;

/*
 * The connection budget of one listener. A connection is a stranger until it
 * has completed one authorized request (on TCP: with the token or a session;
 * on the Unix socket: any whole request): strangers are the ones that give
 * way, oldest first, when a new connection would pass the cap. So a client
 * that sends its request at once always gets in, however many idle or slow
 * connections hold the listener.
 */
struct api_gate {
	const char *name;   /* "unix" or "tcp", for the logs */
	unsigned cap;       /* connections served at once */
	atomic_uint open;   /* started and not closed (evicted ones included) */
	atomic_uint queued; /* handed to MHD, not yet started */
	unsigned dying;     /* evicted, not yet closed */
	struct api_conn *head, *tail; /* strangers, oldest first */
	atomic_ulong evicted, refused;
};

/*
 * MHD_OPTION_NOTIFY_CONNECTION callback; @cls is the listener's struct
 * api_gate. Runs in the listener's MHD thread, like every other use of the
 * gate's list, so the list needs no lock.
 */
void api_gate_notify(void *cls, struct MHD_Connection *c, void **socket_context,
		     enum MHD_ConnectionNotificationCode code);

/* Marks @c as having completed an authorized request: it no longer gives way. */
void api_gate_trust(struct MHD_Connection *c);

/* Prints the @n gates' gauges and counters in Prometheus text format, one
 * family at a time, labelled listener="unix" or "tcp". */
void api_gate_metrics(struct api_gate *const *gates, unsigned n, FILE *f);

/* MHD_OPTION_EXTERNAL_LOGGER: MHD's messages, each cause at most once a second. */
void api_mhd_log(void *cls, const char *fmt, va_list ap);

struct api_acceptor;

struct api_accept_spec {
	int fd; /* listening socket; the acceptor closes it on stop */
	struct MHD_Daemon *d; /* started with MHD_USE_NO_LISTEN_SOCKET | MHD_USE_ITC */
	struct api_gate *gate;
};

/*
 * Starts one thread accepting on every listener of @specs (at most 4) and
 * handing each connection to its daemon. Out of descriptors (EMFILE, ENFILE)
 * it refuses the waiting connection through a spare descriptor, or backs off,
 * and logs that once a second: it never spins. Returns 0 and *ret (stop with
 * api_acceptor_stop()), or -errno with *ret_err.
 */
int api_acceptor_start(const struct api_accept_spec *specs, unsigned n,
		       struct api_acceptor **ret, char **ret_err);

/* Stops the thread and closes the listening sockets. Accepts NULL. */
void api_acceptor_stop(struct api_acceptor *a);

#endif
