/* px_sess.h: a proxied connection as px_sess.c (its life) and px_relay.c (its bytes) share it; src/proxy/ only. */
#ifndef CLONELB_PROXY_PX_SESS_H
#define CLONELB_PROXY_PX_SESS_H

#include <sys/epoll.h>

#include "proxy/px_int.h"

enum px_state { S_TLS_HS, S_CONNECTING, S_RELAY, S_DEAD };

/* Bytes read from one side that the other side did not take yet. While a
 * direction has pending bytes its source is not read: memory per session is
 * bounded by two reads, and an idle session holds no buffer at all. */
struct px_pend {
	char *buf;
	uint32_t off, len;
};

struct px_sess {
	struct px_ev cev; /* PX_EV_CLIENT; first member */
	struct px_ev sev; /* PX_EV_SERVER */
	struct px_sess *prev, *next;
	int cfd, sfd;
	uint32_t cmask, smask;
	SSL *ssl;  /* TLS with the client, or NULL */
	SSL *sssl; /* TLS with the server (pool.ssl_profile_ref), or NULL */
	struct px_plain *plain; /* its plaintext, followed by the hook (plain_open()), or NULL */
	struct px_vs *vs;
	struct px_pool *pool;
	struct px_server *srv;
	struct px_server *tried[PX_CONNECT_TRIES];
	uint8_t state, ntried;
	bool c_eof, s_eof;         /* no more bytes will come from that side */
	bool c_hup;                /* the client socket is fully closed */
	bool c_rdhup, s_rdhup;     /* that side's FIN has arrived (read up to the end) */
	bool fin_first;            /* the SE sent the back end's first FIN (the client's) */
	bool hs_want_w, rd_want_w; /* OpenSSL needs the client socket writable */
	bool hooked;
	uint8_t acks;              /* ACK_*: how the back-end socket acknowledges (px_sess_ack_release()) */
	uint8_t queued;            /* Q_*: a first read waits in the worker's batch (px_relay.c) */
	struct px_sess *hprev, *hnext; /* in w->held while the ACK waits for the client */
	uint64_t held_until;
	struct px_pend to_s, to_c;
	uint64_t t_last, t_start;
	union addr_any client, local; /* each of either family */
};

/*
 * The back-end socket's ACKs. ACK_HELD: connecting with TCP_QUICKACK 0, the
 * kernel holds the ACK that completes the handshake until the first bytes
 * go out, and they carry it; the server takes the new connection and its
 * first bytes in one wake-up, and the wire has one frame less. The client's
 * first bytes usually follow its own handshake at once; a client that has
 * said nothing PX_ACK_HOLD_MS after the back end answered (a protocol where
 * the server speaks first) gets the ACK sent then (px_sess_held_due()).
 * ACK_DELAYED: the bytes went out right after the handshake, which puts the
 * kernel in delayed ACK mode; the server's answer is acknowledged with the
 * SE's next segment (its FIN, when the answer ends with one) unless
 * px_sess_ack_release() ends the mode first. ACK_NORMAL: the kernel's own rules.
 */
enum { ACK_NORMAL, ACK_HELD, ACK_DELAYED };

/* Directions of a session, as bits. */
enum { Q_C2S = 1, Q_S2C = 2 };

#define IO_AGAIN (-2)
#define IO_ERR (-1)

/*
 * The back-end socket is registered once, edge-triggered, for everything it
 * will ever report: connect() done, bytes, FIN, writable. Level-triggered, its
 * interest would change three times in a connection's life (connecting,
 * relaying, at the server's FIN), each an epoll_ctl(). Edge-triggered, an
 * event is announced once, so the relay keeps the rule that makes that safe:
 * a direction that stops reading before EAGAIN or a short read (pending
 * bytes, the round limit) reads again on its own (px_relay_flush() calls
 * px_relay_pump(), see srv_rearm() in px_relay.c), and writes stop only at
 * EAGAIN, after which the socket's next free space is an edge.
 */
#define SRV_EVENTS (EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET)

/* px_sess.c */
void px_sess_held_unlink(struct px_worker *w, struct px_sess *s);
void px_sess_ack_release(struct px_worker *w, struct px_sess *s);
void px_sess_done(struct px_worker *w, struct px_sess *s, int r);

/* px_relay.c: each returns 0, or -1 when the session must close. */
int px_relay_pump(struct px_worker *w, struct px_sess *s, bool c2s);
int px_relay_pump_soon(struct px_worker *w, struct px_sess *s, bool c2s);
int px_relay_flush(struct px_worker *w, struct px_sess *s, bool to_s);

#endif
