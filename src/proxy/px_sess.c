/* px_sess.c: one proxied connection: TLS handshake, back-end connect through the hook, ACKs, timeouts, closing (its bytes move in px_relay.c). */
#include <errno.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/util.h"
#include "proxy/px_sess.h"

static struct px_sess *from_sev(struct px_ev *ev)
{
	return (struct px_sess *)((char *)ev - offsetof(struct px_sess, sev));
}

/* What the hook is told of the back-end connection of @s. */
static struct px_conn_info conn_info(const struct px_sess *s)
{
	return (struct px_conn_info){
		.vs_id = s->vs->id,
		.vs_uuid = s->vs->uuid,
		.client = s->client,
		.local = s->local,
		.server = s->srv->addr,
		.fd = s->sfd,
		.tls = s->pool->tls && s->pool->sctx,
	};
}

static void hook_call(struct px_worker *w, struct px_sess *s, bool open)
{
	struct px_conn_info ci = conn_info(s);

	if (open)
		w->px->hook.on_connect(w->px->hook.ctx, &ci);
	else if (w->px->hook.on_close)
		w->px->hook.on_close(w->px->hook.ctx, &ci);
}

/*
 * The SE sent this back-end connection's first FIN and has its peer's FIN
 * too: the 4-tuple is in TIME_WAIT on the SE for 60 s. A later connection
 * that binds the same port explicitly may take that 4-tuple over at once
 * (the kernel allows it to a bound socket when the peer sent TCP timestamps,
 * whatever tcp_tw_reuse says), whereas a connect() that chooses the port
 * itself may not, and scans past every such 4-tuple: with thousands of them
 * towards one server each connect() costs a scan of the port range. So the
 * port the kernel chose is remembered, and reused once it has rested
 * PX_TW_REST_MS. A full ring forgets the newest.
 */
static void tw_push(struct px_worker *w, int fd)
{
	union addr_any a;
	socklen_t len = sizeof(a);
	struct px_tw_ring *tw;
	struct px_tw_port *t;

	if (getsockname(fd, &a.sa, &len) == -1 || !addr_port(&a))
		return;
	tw = &w->tw[a.sa.sa_family == AF_INET6];
	if (tw->len == PX_TW_PORTS)
		return;
	t = &tw->e[(tw->head + tw->len++) % PX_TW_PORTS];
	t->port = htons(addr_port(&a));
	t->closed_ms = (uint32_t)w->now;
}

/* The oldest remembered port of family @af that has rested, in network byte
 * order, or 0. */
static uint16_t tw_pop(struct px_worker *w, int af)
{
	struct px_tw_ring *tw = &w->tw[af == AF_INET6];
	struct px_tw_port *t = &tw->e[tw->head];

	if (!tw->len || (uint32_t)w->now - t->closed_ms < PX_TW_REST_MS)
		return 0;
	tw->head = (tw->head + 1) % PX_TW_PORTS;
	tw->len--;
	return t->port;
}

/* Takes @s out of w->held, if it is there. */
void px_sess_held_unlink(struct px_worker *w, struct px_sess *s)
{
	if (!s->held_until)
		return;
	if (s->hprev)
		s->hprev->hnext = s->hnext;
	else
		w->held = s->hnext;
	if (s->hnext)
		s->hnext->hprev = s->hprev;
	else
		w->held_tail = s->hprev;
	s->hprev = s->hnext = NULL;
	s->held_until = 0;
}

/*
 * Closes the back-end socket, then releases the server. The hook's on_close()
 * runs just before close(), while the socket still holds its 4-tuple: no
 * other connection can be given that 4-tuple meanwhile. @abort: the session
 * ends on an error or a timeout, not because both directions are done; the
 * server gets a reset (SO_LINGER 0), as a client that vanished would give it,
 * and the SE keeps no TIME_WAIT for that connection.
 */
static void backend_drop(struct px_worker *w, struct px_sess *s, bool failed, bool abort)
{
	bool reset = abort && s->state == S_RELAY && !(s->c_eof && s->s_eof);

	if (s->sfd == -1)
		return;
	px_sess_held_unlink(w, s);
	s->acks = ACK_NORMAL;
	if (s->plain)
		w->px->hook.plain_close(s->plain, reset);
	s->plain = NULL;
	if (s->hooked)
		hook_call(w, s, false);
	s->hooked = false;
	if (reset) {
		static const struct linger rst = {.l_onoff = 1, .l_linger = 0};
		(void)setsockopt(s->sfd, SOL_SOCKET, SO_LINGER, &rst, sizeof(rst));
	} else if (s->fin_first && s->s_eof) {
		tw_push(w, s->sfd);
	}
	if (s->sssl) {
		/* A TLS 1.3 ticket arrives after the handshake: keep the session
		 * at the end, when it is the one the server will resume. */
		SSL_SESSION *ss = SSL_get0_session(s->sssl);
		if (!failed && ss && SSL_SESSION_is_resumable(ss)) {
			px_tls_keep_session(s->srv, s->sssl);
			/* SSL_free() of a connection not shut down marks its
			 * session not resumable: this one ended well enough. */
			SSL_set_shutdown(s->sssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
		}
		SSL_free(s->sssl);
		s->sssl = NULL;
		ERR_clear_error();
	}
	close(s->sfd);
	atomic_fetch_sub_explicit(&s->srv->cur, 1, memory_order_relaxed);
	if (failed)
		atomic_fetch_add_explicit(&s->srv->fails, 1, memory_order_relaxed);
	px_server_unref(s->srv);
	s->srv = NULL;
	s->sfd = -1;
	s->smask = UINT32_MAX;
	s->s_rdhup = false;
	s->fin_first = false;
}

/*
 * Binds @fd to the SE's address towards the server, @src, and @port (a port
 * the kernel chose for an earlier connection now in TIME_WAIT, see
 * tw_push()). With @port 0 nothing is bound: @src is the source the route
 * gives (route_source() in px_conf.c), which connect() picks by itself,
 * together with a port in ip_local_port_range whose whole 4-tuple is free.
 * An unknown @src (no route when the pool was built) binds nothing either.
 * Returns 0 or -errno.
 */
static int bind_src(int fd, const union addr_any *src, uint16_t port)
{
	static const int one = 1;
	union addr_any a = *src;

	if (addr_is_any(src) || !port)
		return 0;
	addr_set_port(&a, ntohs(port));
	/* A port may only be bound again next to its TIME_WAIT when both
	 * sockets have SO_REUSEADDR (the other got it in pass_eof()). */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1 ||
	    bind(fd, &a.sa, addr_len(&a)) == -1)
		return -errno;
	return 0;
}

/* One attempt towards @srv: socket, bind (to a rested TIME_WAIT port, else
 * to none), hook, connect. Returns 0 (connecting), or -errno (-EADDRNOTAVAIL:
 * no 4-tuple towards it is free). */
static int backend_open(struct px_worker *w, struct px_sess *s, struct px_server *srv)
{
	static const int one = 1, zero = 0;
	int af = srv->addr.sa.sa_family;
	uint16_t port = tw_pop(w, af);
	int fd, r;

again:
	/* The pool server's family, whatever the client's (v4 to v6, v6 to v4). */
	fd = socket(af, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -errno;
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	s->acks = setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &zero, sizeof(zero)) == 0 ? ACK_HELD
										   : ACK_NORMAL;
	r = bind_src(fd, &srv->src, port);
	if (r < 0 && port) {
		/* That port is bound by someone else now: let the kernel choose. */
		close(fd);
		port = 0;
		goto again;
	}
	if (r < 0) {
		close(fd);
		return r;
	}
	s->local = srv->src; /* port 0: chosen by connect() */
	addr_set_port(&s->local, ntohs(port));
	atomic_fetch_add(&srv->refs, 1);
	atomic_fetch_add_explicit(&srv->cur, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&srv->total, 1, memory_order_relaxed);
	s->srv = srv;
	s->sfd = fd;
	s->smask = UINT32_MAX;
	if (w->px->has_hook) {
		hook_call(w, s, true);
		s->hooked = true;
	}
	if (connect(fd, &srv->addr.sa, addr_len(&srv->addr)) == -1 &&
	    errno != EINPROGRESS) {
		r = -errno;
		backend_drop(w, s, r != -EADDRNOTAVAIL, false);
		/* That 4-tuple is taken (a live connection, or a TIME_WAIT
		 * without timestamps): let the kernel choose. */
		if (r == -EADDRNOTAVAIL && port) {
			port = 0;
			goto again;
		}
		return r;
	}
	r = px_ep_set(w, fd, &s->sev, &s->smask, SRV_EVENTS);
	if (r < 0) {
		backend_drop(w, s, false, false);
		return r;
	}
	s->state = S_CONNECTING;
	s->t_start = w->now;
	return 0;
}

/*
 * Opens the back-end connection: bind() to the SE's address (the port is left
 * to connect()), the hook's on_connect() on the socket, then a non-blocking
 * connect(). Tries the next usable server when one refuses at once. Returns
 * 0 (connecting), or -1 when no server could be tried.
 */
static int backend_connect(struct px_worker *w, struct px_sess *s)
{
	while (s->ntried < PX_CONNECT_TRIES) {
		struct px_server *srv = px_pool_pick(s->pool, s->tried, s->ntried);
		int r;

		if (!srv)
			return -1;
		s->tried[s->ntried++] = srv;
		r = backend_open(w, s, srv);
		if (r == 0)
			return 0;
		/* Out of descriptors or memory: no other server will do better.
		 * No free 4-tuple towards this server: another one may have. */
		if (r == -EMFILE || r == -ENFILE || r == -ENOBUFS || r == -ENOMEM)
			return -1;
	}
	return -1;
}


/*
 * Back to the kernel's own ACK rules; TCP_QUICKACK 1 also sends an ACK that
 * is held or delayed, now. Called when the client had nothing to send once
 * connected (a server that speaks first must not wait for the handshake's
 * ACK), after a TLS ClientHello, and when the server's first bytes come
 * without its FIN: a server that writes its answer in two small segments
 * without TCP_NODELAY would otherwise wait for the delayed ACK of the first.
 */
void px_sess_ack_release(struct px_worker *w, struct px_sess *s)
{
	static const int one = 1;

	px_sess_held_unlink(w, s);
	if (s->acks == ACK_NORMAL)
		return;
	s->acks = ACK_NORMAL;
	(void)setsockopt(s->sfd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one));
}

/* The client has said nothing yet: its first bytes may follow within
 * PX_ACK_HOLD_MS, else the ACK goes alone. */
static void ack_hold(struct px_worker *w, struct px_sess *s)
{
	s->held_until = w->now + PX_ACK_HOLD_MS;
	s->hnext = NULL;
	s->hprev = w->held_tail;
	if (w->held_tail)
		w->held_tail->hnext = s;
	else
		w->held = s;
	w->held_tail = s;
}

/* @timeout (ms, -1: none) of the next epoll_wait(), shortened to the first
 * held ACK's time. */
int px_sess_held_timeout(const struct px_worker *w, int timeout)
{
	int t;

	if (!w->held)
		return timeout;
	t = w->held->held_until > w->now ? (int)(w->held->held_until - w->now) : 0;
	return timeout < 0 || t < timeout ? t : timeout;
}

/* Sends the held ACKs whose time has come. */
void px_sess_held_due(struct px_worker *w)
{
	while (w->held && w->held->held_until <= w->now)
		px_sess_ack_release(w, w->held);
}


/* Sets the epoll interest of the client socket from the session's state. */
static int sess_update(struct px_worker *w, struct px_sess *s)
{
	uint32_t c = 0;
	int r;

	switch (s->state) {
	case S_TLS_HS:
		c = s->hs_want_w ? EPOLLOUT : EPOLLIN;
		break;
	case S_RELAY:
		if (!s->c_eof && !s->to_s.len)
			c |= EPOLLIN | EPOLLRDHUP;
		if (s->to_c.len || s->rd_want_w)
			c |= EPOLLOUT;
		break;
	}
	/* A plain client is registered only once its server answered: nothing
	 * is read from it before, and a client that leaves meanwhile is noticed
	 * then. */
	if (s->state == S_CONNECTING && s->cmask == UINT32_MAX) {
		/* not yet */
	} else if (s->c_hup && !c && s->cmask != UINT32_MAX) {
		/* A fully closed socket reports EPOLLHUP whatever the interest:
		 * take it out of epoll while there is nothing to do on it, or
		 * the loop spins. */
		epoll_ctl(w->ep, EPOLL_CTL_DEL, s->cfd, NULL);
		s->cmask = UINT32_MAX;
	} else if (!(s->c_hup && !c)) {
		r = px_ep_set(w, s->cfd, &s->cev, &s->cmask, c);
		if (r < 0)
			return r;
	}
	/* The server socket's interest never changes (SRV_EVENTS). */
	return 0;
}

/*
 * Takes a connection accepted on @l. Plain services with no usable server
 * close it at once; TLS services refuse it during the handshake (see
 * px_tls.c). Takes ownership of @fd.
 */
void px_sess_accept(struct px_worker *w, struct px_listener *l, int fd,
		    const union addr_any *peer)
{
	struct px_vs *vs = l->vs;
	struct px_sess *s;

	if ((l->ssl && !vs->nctx) || (!l->ssl && !px_pool_has_usable(vs->pool))) {
		atomic_fetch_add_explicit(&vs->st->refused, 1, memory_order_relaxed);
		close(fd);
		px_slot_put(w, vs);
		return;
	}
	s = xcalloc(1, sizeof(*s));
	s->cev.kind = PX_EV_CLIENT;
	s->sev.kind = PX_EV_SERVER;
	s->cfd = fd;
	s->sfd = -1;
	s->cmask = s->smask = UINT32_MAX;
	s->client = *peer;
	s->t_last = s->t_start = w->now;
	atomic_fetch_add(&vs->refs, 1);
	s->vs = vs;
	if (vs->pool) {
		atomic_fetch_add(&vs->pool->refs, 1);
		s->pool = vs->pool;
	}
	s->next = w->sess;
	if (w->sess)
		w->sess->prev = s;
	w->sess = s;
	if (++w->nsess > w->peak)
		w->peak = w->nsess;
	atomic_fetch_add_explicit(&vs->st->total, 1, memory_order_relaxed); /* cur: slot_get() */

	if (l->ssl) {
		s->ssl = SSL_new(vs->ctx[0]);
		if (!s->ssl || SSL_set_fd(s->ssl, fd) != 1) {
			ERR_clear_error();
			px_sess_close(w, s);
			return;
		}
		SSL_set_app_data(s->ssl, vs);
		SSL_set_accept_state(s->ssl);
		s->state = S_TLS_HS;
	} else if (backend_connect(w, s) < 0) {
		atomic_fetch_add_explicit(&vs->st->failed, 1, memory_order_relaxed);
		px_sess_close(w, s);
		return;
	}
	if (sess_update(w, s) < 0)
		px_sess_close(w, s);
}

static int tls_handshake(struct px_worker *w, struct px_sess *s)
{
	int r = SSL_do_handshake(s->ssl);

	if (r == 1) {
		s->t_last = w->now;
		if (backend_connect(w, s) < 0) {
			atomic_fetch_add_explicit(&s->vs->st->failed, 1, memory_order_relaxed);
			return -1;
		}
		return 0;
	}
	switch (SSL_get_error(s->ssl, r)) {
	case SSL_ERROR_WANT_READ:
		s->hs_want_w = false;
		return 0;
	case SSL_ERROR_WANT_WRITE:
		s->hs_want_w = true;
		return 0;
	default:
		/* Plain text on a TLS port, a refused ClientHello, a client that
		 * does not like the certificate: OpenSSL has sent its alert. */
		ERR_clear_error();
		return -1;
	}
}

/* This server failed: the next one, or the end of the session. */
static int backend_next(struct px_worker *w, struct px_sess *s)
{
	backend_drop(w, s, true, false);
	if (backend_connect(w, s) < 0) {
		atomic_fetch_add_explicit(&s->vs->st->failed, 1, memory_order_relaxed);
		return -1;
	}
	return 0;
}

static int relay_start(struct px_worker *w, struct px_sess *s, uint32_t ev);

/*
 * The TLS handshake with the server, within the connect timeout. A server
 * whose certificate does not verify is a failed server: the next is tried,
 * the reason kept for the runtime view and logged.
 */
static int srv_handshake(struct px_worker *w, struct px_sess *s, uint32_t ev)
{
	int r = SSL_do_handshake(s->sssl);
	const char *why;
	char a[ADDR_PORT_STRLEN];
	long v;

	if (r == 1) {
		atomic_store(&s->srv->tls_why, NULL);
		return relay_start(w, s, ev | EPOLLIN);
	}
	r = SSL_get_error(s->sssl, r);
	if (r == SSL_ERROR_WANT_READ || r == SSL_ERROR_WANT_WRITE) {
		px_sess_ack_release(w, s); /* the ClientHello is out, and a TLS server answers in several writes */
		return 0;
	}
	v = SSL_get_verify_result(s->sssl);
	why = v != X509_V_OK ? X509_verify_cert_error_string(v)
			     : "TLS handshake with the server failed";
	ERR_clear_error();
	atomic_store(&s->srv->tls_why, why);
	px_log_rl("pool %s: server %s: %s", s->pool->name, addr_ntop_port(&s->srv->addr, a), why);
	return backend_next(w, s);
}

/* The TCP connection to a TLS server is established: the hook may follow
 * its plaintext from here on (its clone servers then see this connection
 * open, carry what is said in clear, and end). */
static void plain_open(struct px_worker *w, struct px_sess *s)
{
	struct px_conn_info ci;

	if (!s->hooked || !w->px->hook.plain_open)
		return;
	ci = conn_info(s);
	s->plain = w->px->hook.plain_open(w->px->hook.ctx, &ci);
}

/* The back-end connect() finished, one way or the other. */
static int connected(struct px_worker *w, struct px_sess *s, uint32_t ev)
{
	/* Writable without an error is success: no need to ask SO_ERROR. */
	if (ev & (EPOLLERR | EPOLLHUP))
		return backend_next(w, s);
	if (s->pool->tls) {
		/* No usable TLS setup: never fall back to plain text. */
		if (!s->pool->sctx)
			return backend_next(w, s);
		s->sssl = px_tls_connect_new(s->pool, s->srv, s->sfd);
		if (!s->sssl)
			return backend_next(w, s);
		plain_open(w, s);
		return srv_handshake(w, s, ev);
	}
	return relay_start(w, s, ev);
}

/* The server is reachable (and TLS with it established): bytes flow. */
static int relay_start(struct px_worker *w, struct px_sess *s, uint32_t ev)
{
	s->state = S_RELAY;
	s->t_last = w->now;
	if (ev & EPOLLRDHUP)
		s->s_rdhup = true;
	/* The client may have spoken already (and TLS may hold its bytes). The
	 * server is read when epoll says so: this event is its only edge. */
	if (px_relay_pump(w, s, true) < 0)
		return -1;
	if (s->acks == ACK_HELD)
		ack_hold(w, s); /* nothing from the client yet */
	return ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP) ? px_relay_pump(w, s, false) : 0;
}

static int client_event(struct px_worker *w, struct px_sess *s, uint32_t ev)
{
	int r = 0;

	if (ev & EPOLLERR)
		return -1;
	if (ev & EPOLLHUP)
		s->c_hup = true;
	if (ev & EPOLLRDHUP)
		s->c_rdhup = true;
	switch (s->state) {
	case S_TLS_HS:
		return tls_handshake(w, s);
	case S_CONNECTING:
		/* Only errors are watched here: the client gave up. */
		return s->c_hup ? -1 : 0;
	case S_RELAY:
		if ((ev & (EPOLLOUT | EPOLLHUP)) && s->rd_want_w) {
			s->rd_want_w = false;
			r = px_relay_pump(w, s, true);
		}
		if (r == 0 && (ev & (EPOLLOUT | EPOLLHUP)) && s->to_c.len)
			r = px_relay_flush(w, s, false);
		if (r == 0 && (ev & (EPOLLIN | EPOLLHUP)) && (s->cmask & EPOLLIN))
			r = px_relay_pump_soon(w, s, true);
		return r;
	}
	return 0;
}

static int server_event(struct px_worker *w, struct px_sess *s, uint32_t ev)
{
	int r = 0;

	if (s->state == S_CONNECTING)
		return s->sssl ? srv_handshake(w, s, ev) : connected(w, s, ev);
	/* TLS may read when the socket turns writable, and write when it
	 * turns readable: any event lets both directions try. */
	if (s->sssl)
		ev |= EPOLLIN | EPOLLOUT;
	if (ev & EPOLLRDHUP)
		s->s_rdhup = true;
	/* Edge-triggered: an event for a direction that waits (bytes pending
	 * the other way, or done) is dropped; that direction reads on its own
	 * when it resumes (px_relay_flush()). */
	bool want_in = !s->s_eof && !s->to_c.len, want_out = s->to_s.len;

	if ((ev & (EPOLLOUT | EPOLLHUP | EPOLLERR)) && want_out)
		r = px_relay_flush(w, s, true);
	if (r == 0 && (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) && want_in)
		r = px_relay_pump_soon(w, s, false);
	/* An error with nothing to read or write on the socket still ends it. */
	if (r == 0 && (ev & EPOLLERR) && !want_in && !want_out)
		r = -1;
	return r;
}

/* Handles epoll readiness @events of a session socket. */
void px_sess_event(struct px_worker *w, struct px_ev *ev, uint32_t events)
{
	bool is_c = ev->kind == PX_EV_CLIENT;
	struct px_sess *s = is_c ? (struct px_sess *)ev : from_sev(ev);
	int r;

	if (s->state == S_DEAD)
		return;
	r = is_c ? client_event(w, s, events) : server_event(w, s, events);
	px_sess_done(w, s, r);
}

/*
 * What follows any handling of @s that returned @r (0, or -1: close): the
 * session closes when it failed or both directions are done, else the client
 * socket's interest follows its state. Does nothing to a closed session.
 */
void px_sess_done(struct px_worker *w, struct px_sess *s, int r)
{
	if (s->state == S_DEAD)
		return;
	if (r == 0 && s->state == S_RELAY && s->c_eof && s->s_eof && !s->to_s.len && !s->to_c.len)
		r = -1; /* both directions are done */
	if (r == 0)
		r = sess_update(w, s);
	if (r < 0)
		px_sess_close(w, s);
}

/*
 * Closes both sockets of @s and releases what it holds. The memory itself is
 * freed by px_sess_reap() after the current epoll batch, which may still
 * hold events for it.
 */
void px_sess_close(struct px_worker *w, struct px_sess *s)
{
	if (s->state == S_DEAD)
		return;
	if (s->prev)
		s->prev->next = s->next;
	else
		w->sess = s->next;
	if (s->next)
		s->next->prev = s->prev;
	w->nsess--;
	if (s->ssl) {
		SSL_free(s->ssl);
		s->ssl = NULL;
	}
	close(s->cfd);
	backend_drop(w, s, false, true);
	free(s->to_s.buf);
	free(s->to_c.buf);
	px_slot_put(w, s->vs);
	px_pool_unref(s->pool);
	px_vs_unref(s->vs);
	s->state = S_DEAD;
	s->next = w->dead;
	w->dead = s;
}

/* Frees the sessions closed since the last call. */
void px_sess_reap(struct px_worker *w)
{
	while (w->dead) {
		struct px_sess *s = w->dead;
		w->dead = s->next;
		free(s);
	}
}

/* Applies the timeouts: connect, handshake, idle. */
void px_sess_sweep(struct px_worker *w)
{
	struct px_sess *s, *next;

	for (s = w->sess; s; s = next) {
		next = s->next;
		switch (s->state) {
		case S_CONNECTING:
			if (w->now - s->t_start < w->px->tmo.connect_ms)
				break;
			backend_drop(w, s, true, false);
			if (backend_connect(w, s) < 0 || sess_update(w, s) < 0) {
				atomic_fetch_add_explicit(&s->vs->st->failed, 1,
							  memory_order_relaxed);
				px_sess_close(w, s);
			}
			break;
		case S_TLS_HS:
			if (w->now - s->t_last >= w->px->tmo.handshake_ms)
				px_sess_close(w, s);
			break;
		case S_RELAY:
			if (w->now - s->t_last >= ((s->c_eof || s->s_eof) ? w->px->tmo.half_closed_ms
									   : w->px->tmo.idle_ms))
				px_sess_close(w, s);
			break;
		}
	}
}

/* Closes the sessions whose virtual service is gone or disabled in @g. */
void px_sess_close_removed(struct px_worker *w, const struct px_gen *g)
{
	struct px_sess *s, *next;

	for (s = w->sess; s; s = next) {
		bool keep = false;
		next = s->next;
		for (unsigned i = 0; i < g->nvs && !keep; i++)
			keep = g->vs[i]->id == s->vs->id && g->vs[i]->enabled;
		if (!keep)
			px_sess_close(w, s);
	}
}

/* Closes every session of the worker (shutdown). */
void px_sess_close_all(struct px_worker *w)
{
	while (w->sess)
		px_sess_close(w, w->sess);
}
