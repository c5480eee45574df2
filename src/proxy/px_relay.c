/* px_relay.c: moving a session's bytes both ways, passing half-closes on, and batching the reads and writes of an epoll batch through the worker's io_uring. */
#include <errno.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "lib/util.h"
#include "proxy/px_sess.h"

static ssize_t io_result(ssize_t n)
{
	if (n >= 0)
		return n;
	return errno == EAGAIN || errno == EINTR ? IO_AGAIN : IO_ERR;
}

static ssize_t ssl_result(struct px_sess *s, SSL *ssl, int n, bool reading)
{
	if (n > 0)
		return n;
	switch (SSL_get_error(ssl, n)) {
	case SSL_ERROR_WANT_READ:
		return IO_AGAIN;
	case SSL_ERROR_WANT_WRITE:
		if (reading && ssl == s->ssl)
			s->rd_want_w = true;
		return IO_AGAIN;
	case SSL_ERROR_ZERO_RETURN:
		return 0;
	default:
		ERR_clear_error();
		return IO_ERR;
	}
}

static ssize_t cli_read(struct px_sess *s, char *buf, size_t n)
{
	if (s->ssl)
		return ssl_result(s, s->ssl, SSL_read(s->ssl, buf, (int)n), true);
	return io_result(recv(s->cfd, buf, n, 0));
}

/* @more: the server's FIN is known to follow; a plain client socket then
 * holds the bytes for the FIN that shutdown() adds to the same segment. */
static ssize_t cli_write(struct px_sess *s, const char *buf, size_t n, bool more)
{
	if (s->ssl) {
		ssize_t r = ssl_result(s, s->ssl, SSL_write(s->ssl, buf, (int)n), false);
		return r == 0 ? IO_ERR : r;
	}
	return io_result(send(s->cfd, buf, n, MSG_NOSIGNAL | (more ? MSG_MORE : 0)));
}

/* Bytes of the server's TLS connection in plaintext (SSL_read() gave them,
 * @from_server, or SSL_write() took them) go to the hook that follows it. */
static void plain_pass(struct px_worker *w, struct px_sess *s, bool from_server, const char *buf,
		       ssize_t n)
{
	if (s->plain && n > 0)
		w->px->hook.plain_data(s->plain, from_server, buf, (size_t)n);
}

/* What a plain read of the server socket that gave @r changes in the ACKs
 * (px_sess.h): the server's first bytes without its FIN end delayed ACKs. */
static ssize_t srv_read_done(struct px_worker *w, struct px_sess *s, ssize_t r)
{
	if (r > 0 && s->acks == ACK_DELAYED && !s->s_rdhup)
		px_sess_ack_release(w, s);
	return r;
}

/* The same for a plain write that gave @r: the first bytes out carried the
 * held ACK of the handshake. */
static ssize_t srv_write_done(struct px_worker *w, struct px_sess *s, ssize_t r)
{
	if (r > 0 && s->acks == ACK_HELD) {
		px_sess_held_unlink(w, s);
		s->acks = ACK_DELAYED;
	}
	return r;
}

static ssize_t srv_read(struct px_worker *w, struct px_sess *s, char *buf, size_t n)
{
	if (s->sssl) {
		ssize_t r = ssl_result(s, s->sssl, SSL_read(s->sssl, buf, (int)n), true);
		plain_pass(w, s, true, buf, r);
		return r;
	}
	return srv_read_done(w, s, io_result(recv(s->sfd, buf, n, 0)));
}

static ssize_t srv_write(struct px_worker *w, struct px_sess *s, const char *buf, size_t n)
{
	if (s->sssl) {
		ssize_t r = ssl_result(s, s->sssl, SSL_write(s->sssl, buf, (int)n), false);
		plain_pass(w, s, false, buf, r);
		return r == 0 ? IO_ERR : r;
	}
	return srv_write_done(w, s, io_result(send(s->sfd, buf, n, MSG_NOSIGNAL)));
}

/* The source of a direction said it has no more: pass the half-close on. */
static void pass_eof(struct px_worker *w, struct px_sess *s, bool c2s)
{
	static const int one = 1;

	/* When the other direction is over too, the session closes next and
	 * close() sends the FIN: no shutdown() needed. */
	if (c2s) {
		s->c_eof = true;
		if (!s->s_eof) {
			if (s->sssl) {
				(void)SSL_shutdown(s->sssl); /* close_notify; best effort */
				ERR_clear_error();
			}
			/* This FIN is the first: the SE will hold the 4-tuple's
			 * TIME_WAIT, which tw_push() offers to a later bind();
			 * the TIME_WAIT takes SO_REUSEADDR from the socket now. */
			(void)setsockopt(s->sfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
			(void)shutdown(s->sfd, SHUT_WR);
			s->fin_first = true;
			if (s->plain)
				w->px->hook.plain_fin(s->plain, false);
		}
		return;
	}
	s->s_eof = true;
	if (s->plain)
		w->px->hook.plain_fin(s->plain, true);
	if (s->ssl) {
		(void)SSL_shutdown(s->ssl); /* close_notify; best effort */
		ERR_clear_error();
	}
	if (!s->c_eof)
		(void)shutdown(s->cfd, SHUT_WR);
}

/* Makes epoll report the server socket again if it is ready now (an
 * EPOLL_CTL_MOD of an edge-triggered socket checks its readiness afresh). */
static void srv_rearm(struct px_worker *w, struct px_sess *s)
{
	struct epoll_event e = {.events = SRV_EVENTS, .data.ptr = &s->sev};

	(void)epoll_ctl(w->ep, EPOLL_CTL_MOD, s->sfd, &e);
}

/*
 * What a read of one direction that gave @n (bytes, 0 at the FIN, IO_AGAIN,
 * IO_ERR) means: 1 when there are bytes to write, 0 when there is nothing
 * more to do now (the FIN is passed on), -1 when the session must close.
 */
static int read_done(struct px_worker *w, struct px_sess *s, bool c2s, ssize_t n)
{
	if (n == IO_AGAIN)
		return 0;
	if (n == IO_ERR)
		return -1;
	if (n == 0) {
		pass_eof(w, s, c2s);
		return 0;
	}
	s->t_last = w->now;
	return 1;
}

/*
 * After a write that took @wr (bytes, IO_AGAIN, IO_ERR) of the @n read into
 * @buf: what it did not take stays pending in the direction. Returns 0 when
 * all went, 1 when some is pending, -1 when the session must close.
 */
static int write_done(struct px_sess *s, bool c2s, const char *buf, ssize_t n, ssize_t wr)
{
	struct px_pend *pd = c2s ? &s->to_s : &s->to_c;

	if (wr == IO_ERR)
		return -1;
	if (wr == IO_AGAIN)
		wr = 0;
	if (wr == n)
		return 0;
	pd->len = (uint32_t)(n - wr);
	pd->off = 0;
	pd->buf = xmalloc(pd->len);
	memcpy(pd->buf, buf + wr, pd->len);
	return 1;
}

/*
 * Moves bytes of one direction (@c2s: client to server) until the source has
 * none ready or the destination is full; what the destination did not take
 * stays pending and the source is not read again until it is gone. Returns
 * 0, or -1 when the session must close.
 */
int px_relay_pump(struct px_worker *w, struct px_sess *s, bool c2s)
{
	struct px_pend *pd = c2s ? &s->to_s : &s->to_c;
	bool more = !c2s && !s->ssl && s->s_rdhup;

	if (pd->len || (c2s ? s->c_eof : s->s_eof))
		return 0;
	for (int round = 0;; round++) {
		if (round == 16) {
			/* Fairness: other sessions first. The server socket's
			 * edge is used up: ask epoll for a new one. */
			if (!c2s)
				srv_rearm(w, s);
			break;
		}
		ssize_t n = c2s ? cli_read(s, w->buf, PX_BUF_SIZE) : srv_read(w, s, w->buf, PX_BUF_SIZE);
		int r = read_done(w, s, c2s, n);

		if (r <= 0)
			return r;
		r = write_done(s, c2s, w->buf, n,
			       c2s ? srv_write(w, s, w->buf, (size_t)n)
				   : cli_write(s, w->buf, (size_t)n, more));
		if (r < 0)
			return r;
		if (r > 0)
			break;
		/* A short read means the socket is drained; TLS may still hold
		 * decrypted bytes that no epoll event would announce. When the
		 * source's FIN is already there, read on to it and pass it at
		 * once: the peer then gets the FIN right behind the data, and
		 * the SE (not a client behind one address, with few ports)
		 * is the side that closes first and keeps the TIME_WAIT. */
		/* TLS from the server reads a record at a time: only EAGAIN
		 * says its edge-triggered socket is drained. */
		if (n < PX_BUF_SIZE && !(c2s && s->ssl && SSL_pending(s->ssl) > 0) &&
		    !(!c2s && s->sssl) && !(c2s ? s->c_rdhup : s->s_rdhup))
			break;
	}
	/* The FIN did not come after all (or the round limit): send what
	 * MSG_MORE held back now. Setting TCP_NODELAY pushes pending bytes. */
	if (more) {
		static const int one = 1;
		(void)setsockopt(s->cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	return 0;
}

/* Writes pending bytes towards the server (@to_s) or the client; once they
 * are gone, resumes reading the other side. Returns 0 or -1 (close). */
int px_relay_flush(struct px_worker *w, struct px_sess *s, bool to_s)
{
	struct px_pend *pd = to_s ? &s->to_s : &s->to_c;

	while (pd->len) {
		ssize_t wr = to_s ? srv_write(w, s, pd->buf + pd->off, pd->len)
				  : cli_write(s, pd->buf + pd->off, pd->len, false);
		if (wr == IO_ERR)
			return -1;
		if (wr == IO_AGAIN)
			return 0;
		pd->off += (uint32_t)wr;
		pd->len -= (uint32_t)wr;
		s->t_last = w->now;
	}
	free(pd->buf);
	pd->buf = NULL;
	pd->off = 0;
	return px_relay_pump(w, s, to_s);
}

/*
 * The batch. With the worker's io_uring (px_ring.c), the plain directions an
 * epoll batch finds readable are not pumped one after the other, a recv() and
 * a send() each: their first reads all go to the kernel in one system call,
 * then the writes of what they read in a second. Whatever follows a first
 * read (more bytes behind a full one, what the destination did not take, a
 * FIN) goes on as px_relay_pump() does. TLS, a source whose FIN has arrived
 * (the relay reads on to it) and the first read once connected (px_sess.c
 * decides on the ACK from its result) take px_relay_pump() at once.
 */
struct px_batch_item {
	struct px_sess *s;
	bool c2s;
	bool ran;   /* the ring gave the operation's result */
	int res;    /* bytes, or -errno */
	ssize_t n;  /* what the read gave, as read_done() takes it */
	int state;  /* after the read, then the write: read_done(), write_done() */
};

struct px_batch {
	unsigned n;
	struct px_batch_item it[PX_BATCH];
	char buf[PX_BATCH][PX_BATCH_BUF];
};

/* The size of a worker's struct px_batch, which px.c allocates with its ring. */
size_t px_relay_batch_size(void)
{
	return sizeof(struct px_batch);
}

/* Whether direction @c2s of @s may read in the batch now. */
static bool batchable(const struct px_sess *s, bool c2s)
{
	const struct px_pend *pd = c2s ? &s->to_s : &s->to_c;

	return s->state == S_RELAY && !s->ssl && !s->sssl && !pd->len &&
	       !(c2s ? s->c_eof || s->c_rdhup : s->s_eof || s->s_rdhup);
}

/*
 * px_relay_pump(), or its first read queued in the worker's batch, which
 * px_relay_batch_run() runs at the end of the epoll batch.
 */
int px_relay_pump_soon(struct px_worker *w, struct px_sess *s, bool c2s)
{
	uint8_t bit = c2s ? Q_C2S : Q_S2C;
	struct px_batch *b = w->batch;

	if (s->queued & bit)
		return 0;
	if (!w->ring || b->n == PX_BATCH || !batchable(s, c2s))
		return px_relay_pump(w, s, c2s);
	s->queued |= bit;
	b->it[b->n++] = (struct px_batch_item){.s = s, .c2s = c2s};
	return 0;
}

static ssize_t ring_io(int res)
{
	if (res >= 0)
		return res;
	return res == -EAGAIN || res == -EINTR ? IO_AGAIN : IO_ERR;
}

/* What the ring did not do, as a plain send() (@send_) or recv(): bytes, or -errno. */
static int sys_io(bool send_, int fd, char *buf, size_t n)
{
	ssize_t r = send_ ? send(fd, buf, n, MSG_NOSIGNAL | MSG_DONTWAIT) : recv(fd, buf, n, 0);

	return r == -1 ? -errno : (int)r;
}

static void ring_done(void *ctx, uint64_t data, int res)
{
	struct px_batch_item *it = &((struct px_batch *)ctx)->it[data];

	it->ran = true;
	it->res = res;
}

/* Runs what the ring prepared; a ring that fails is given up for plain
 * system calls, which do what it did not (the caller checks ->ran). */
static void ring_run(struct px_worker *w)
{
	int r = px_ring_run(w->ring, ring_done, w->batch);

	if (r < 0) {
		px_log("worker %u: io_uring: %s: relaying with plain system calls from now on",
		       w->idx, strerror(-r));
		px_ring_close(w->ring);
		w->ring = NULL;
	}
}

/*
 * Runs the batch the epoll batch queued: the reads in one io_uring_enter(),
 * the writes of what they gave in another, then, per session, what
 * px_relay_pump() would do next and px_sess_done(). Call it after the epoll
 * batch's events and before the sessions closed in it are freed.
 */
void px_relay_batch_run(struct px_worker *w)
{
	struct px_batch *b = w->batch;
	unsigned n = b ? b->n : 0;
	unsigned long ring_reads;

	if (!n)
		return;
	b->n = 0;
	/* The reads. A batch of one gains nothing: it is pumped as it is. */
	for (unsigned i = 0; i < n; i++) {
		struct px_batch_item *it = &b->it[i];
		struct px_sess *s = it->s;

		s->queued &= (uint8_t)~(it->c2s ? Q_C2S : Q_S2C);
		it->ran = false;
		if (!batchable(s, it->c2s) || n == 1 || !w->ring) {
			/* Closed, or changed by a later event of the batch. */
			if (s->state == S_RELAY)
				px_sess_done(w, s, px_relay_pump(w, s, it->c2s));
			it->s = NULL;
		} else if (px_ring_recv(w->ring, it->c2s ? s->cfd : s->sfd, b->buf[i], PX_BATCH_BUF,
					i) < 0) {
			/* No room in the ring (it holds a whole batch). */
			it->s = NULL;
			px_sess_done(w, s, px_relay_pump(w, s, it->c2s));
		}
	}
	if (w->ring)
		ring_run(w);
	ring_reads = atomic_load_explicit(&w->ring_reads, memory_order_relaxed);
	/* What each read gave, and the writes of it. */
	for (unsigned i = 0; i < n; i++) {
		struct px_batch_item *it = &b->it[i];
		struct px_sess *s = it->s;
		int dst;

		/* A session that closed in the loop above (its other
		 * direction) is left alone: its fds are gone. */
		if (!s || s->state == S_DEAD) {
			it->s = NULL;
			continue;
		}
		ring_reads += it->ran;
		if (!it->ran)
			it->res = sys_io(false, it->c2s ? s->cfd : s->sfd, b->buf[i], PX_BATCH_BUF);
		it->n = ring_io(it->res);
		if (!it->c2s)
			srv_read_done(w, s, it->n);
		it->state = read_done(w, s, it->c2s, it->n);
		it->ran = false;
		if (it->state <= 0)
			continue;
		dst = it->c2s ? s->sfd : s->cfd;
		if (!w->ring || px_ring_send(w->ring, dst, b->buf[i], (size_t)it->n, 0, i) < 0) {
			it->res = sys_io(true, dst, b->buf[i], (size_t)it->n);
			it->ran = true;
		}
	}
	atomic_store_explicit(&w->ring_reads, ring_reads, memory_order_relaxed);
	if (w->ring)
		ring_run(w);
	for (unsigned i = 0; i < n; i++) {
		struct px_batch_item *it = &b->it[i];
		struct px_sess *s = it->s;
		int dst, r = 0;
		ssize_t wr;

		if (!s || s->state == S_DEAD)
			continue;
		if (it->state > 0) {
			dst = it->c2s ? s->sfd : s->cfd;
			if (!it->ran)
				it->res = sys_io(true, dst, b->buf[i], (size_t)it->n);
			wr = ring_io(it->res);
			if (it->c2s)
				srv_write_done(w, s, wr);
			it->state = write_done(s, it->c2s, b->buf[i], it->n, wr);
			/* A full read: more may be there, and an edge-triggered
			 * server socket says so no more. */
			if (it->state == 0 && it->n == PX_BATCH_BUF)
				r = px_relay_pump(w, s, it->c2s);
		}
		px_sess_done(w, s, it->state < 0 ? -1 : r);
	}
}
