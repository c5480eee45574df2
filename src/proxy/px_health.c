/* px_health.c: the health thread: TCP and HTTP monitors of pool servers, rise/fall counting, marking servers up and down. */
#include <arpa/inet.h>
#include <errno.h>
#include <openssl/err.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/util.h"
#include "log.h"
#include "proxy/px_int.h"

#define PX_HEALTH_TICK_MS 100

/* Check sockets open now. At PX_HEALTH_FDS, checks wait for a tick: the
 * health checks' share of the descriptor reserve is never exceeded. */
static atomic_int inflight;

/* Closes a check socket and gives its descriptor back to the reserve; from
 * any thread (the last reference to a server may drop on a worker). */
void px_health_fd_close(int fd)
{
	close(fd);
	atomic_fetch_sub(&inflight, 1);
}

/* Errors that say the SE lacks something, not that the server is down. */
static bool internal_error(int err)
{
	return err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM ||
	       err == EADDRNOTAVAIL;
}

/* Ends the check's connection (and its TLS). */
static void check_close(struct px_hstate *h)
{
	/* SSL_free() of a connection not shut down marks its session, which
	 * may be the server's shared one (px_server.tls_sess), not resumable. */
	if (h->ssl && SSL_is_init_finished(h->ssl))
		SSL_set_shutdown(h->ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
	SSL_free(h->ssl);
	h->ssl = NULL;
	ERR_clear_error();
	if (h->fd != -1) {
		px_health_fd_close(h->fd);
		h->fd = -1;
	}
}

/* A check that could not be run: not a verdict on the server, whose state
 * stays; counted, logged at most once a second, and tried again soon. */
static void check_skip(struct px *px, struct px_hstate *h, uint64_t now, int err)
{
	char ip[ADDR_PORT_STRLEN];

	check_close(h);
	atomic_fetch_add(&h->skipped, 1);
	atomic_fetch_add(&px->check_skips, 1);
	px_log_rl("health check of %s (monitor %s) not run: %s; the server keeps its state",
		  addr_ntop_port(&h->srv->addr, ip), h->mon->name, strerror(err));
	if (h->next_ms > now + 1000)
		h->next_ms = now + 1000;
}

/* Recomputes @s's state from its monitors; tells the health hook when it changed. */
static void server_recompute(struct px *px, struct px_server *s)
{
	bool up = true;

	for (unsigned k = 0; k < s->nhs; k++)
		up = up && s->hs[k].up;
	if (atomic_exchange(&s->up, up) != up && px->health_fn)
		px->health_fn(px->health_ctx);
}

void px_set_health_hook(struct px *px, void (*fn)(void *ctx), void *ctx)
{
	px->health_ctx = ctx;
	px->health_fn = fn;
}

static void check_done(struct px *px, struct px_hstate *h, bool ok, const char *why)
{
	const struct px_hmon *m = h->mon;
	struct px_server *s = h->srv;
	char ip[ADDR_PORT_STRLEN];

	check_close(h);
	addr_ntop_port(&s->addr, ip);
	if (ok) {
		h->fail_run = 0;
		h->ok_run++;
		if (!h->up && h->ok_run >= m->rise) {
			h->up = true;
			h->why = NULL;
			px_log("server %s is UP (monitor %s: %u successful checks)", ip, m->name,
			       h->ok_run);
		}
	} else {
		h->ok_run = 0;
		h->fail_run++;
		h->why = why;
		if (h->up && h->fail_run >= m->fall) {
			h->up = false;
			px_log("server %s is DOWN (monitor %s: %s)", ip, m->name, why);
		}
	}
	server_recompute(px, s);
}

static void check_start(struct px *px, struct px_hstate *h, uint64_t now)
{
	struct epoll_event e = {.events = EPOLLOUT, .data.ptr = &h->ev};
	int fd;

	if (atomic_load(&inflight) >= PX_HEALTH_FDS)
		return; /* next tick */
	h->next_ms = now + h->mon->interval_ms;
	h->deadline_ms = now + h->mon->timeout_ms;
	h->sent = h->rlen = 0;
	h->connected = false;
	fd = socket(h->srv->addr.sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		if (internal_error(errno))
			check_skip(px, h, now, errno);
		else
			check_done(px, h, false, "cannot create a socket");
		return;
	}
	atomic_fetch_add(&inflight, 1);
	h->fd = fd;
	union addr_any to = h->srv->addr;
	if (h->mon->port) { /* monitor_port */
		if (to.sa.sa_family == AF_INET6)
			to.in6.sin6_port = h->mon->port;
		else
			to.in.sin_port = h->mon->port;
	}
	if (connect(fd, &to.sa, addr_len(&to)) == -1 &&
	    errno != EINPROGRESS) {
		if (internal_error(errno))
			check_skip(px, h, now, errno);
		else
			check_done(px, h, false,
				   errno == ECONNREFUSED ? "connection refused" : "cannot connect");
		return;
	}
	if (epoll_ctl(px->hep, EPOLL_CTL_ADD, fd, &e) == -1)
		check_skip(px, h, now, errno);
}

/* Parses the status line read so far. Returns 1 up, 0 down, -1 need more. */
static int http_verdict(struct px_hstate *h, bool eof, const char **why)
{
	if (h->rlen < 12) {
		*why = "no HTTP status line";
		return eof ? 0 : -1;
	}
	if (memcmp(h->rbuf, "HTTP/", 5) != 0 || h->rbuf[8] != ' ' || h->rbuf[9] < '1' ||
	    h->rbuf[9] > '5') {
		*why = "not an HTTP response";
		return 0;
	}
	*why = "unexpected HTTP status";
	if (!((h->mon->codes >> (h->rbuf[9] - '0')) & 1))
		return 0;
	if (!h->mon->response || memmem(h->rbuf, h->rlen, h->mon->response,
					strlen(h->mon->response)))
		return 1;
	*why = "answer does not hold http_response";
	return eof ? 0 : -1;
}

/* tcp_response must be in the first PX_HM_RBUF bytes of the answer. Returns
 * 1 up, 0 down, -1 need more. */
static int tcp_verdict(struct px_hstate *h, bool eof, const char **why)
{
	const char *want = h->mon->response;

	if (memmem(h->rbuf, h->rlen, want, strlen(want)))
		return 1;
	*why = "answer does not hold tcp_response";
	return eof ? 0 : -1;
}

/* SSL_read()/SSL_write() result @n as recv()/send() would give it. */
static ssize_t check_ssl(struct px_hstate *h, int n)
{
	if (n > 0)
		return n;
	switch (SSL_get_error(h->ssl, n)) {
	case SSL_ERROR_ZERO_RETURN:
		return 0;
	case SSL_ERROR_WANT_READ:
	case SSL_ERROR_WANT_WRITE:
		errno = EAGAIN;
		return -1;
	default:
		ERR_clear_error();
		errno = ECONNRESET;
		return -1;
	}
}

static void check_io(struct px *px, struct px_hstate *h, uint32_t ev)
{
	const struct px_hmon *m = h->mon;
	struct epoll_event e = {.data.ptr = &h->ev};
	const char *why;
	int r;

	if (h->fd == -1)
		return;
	if (!h->connected) {
		int err = 0;
		socklen_t len = sizeof(err);
		if (getsockopt(h->fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1 || err) {
			check_done(px, h, false,
				   err == ECONNREFUSED ? "connection refused" : "connect failed");
			return;
		}
		h->connected = true;
		if (m->type == PX_HM_TCP && !m->request && !m->response) {
			check_done(px, h, true, NULL);
			return;
		}
		if (!m->request) {
			e.events = EPOLLIN;
			epoll_ctl(px->hep, EPOLL_CTL_MOD, h->fd, &e);
		}
		if (m->tls) {
			/* The pool's TLS: the same verification as its traffic. */
			h->ssl = m->pool->sctx ? px_tls_connect_new(m->pool, h->srv, h->fd) : NULL;
			if (!h->ssl) {
				check_done(px, h, false, "HTTPS monitor on a pool without TLS (ssl_profile_ref)");
				return;
			}
		}
	}
	if (h->ssl && !SSL_is_init_finished(h->ssl)) {
		r = SSL_do_handshake(h->ssl);
		if (r != 1) {
			r = SSL_get_error(h->ssl, r);
			if (r == SSL_ERROR_WANT_READ || r == SSL_ERROR_WANT_WRITE) {
				e.events = r == SSL_ERROR_WANT_READ ? EPOLLIN : EPOLLOUT;
				epoll_ctl(px->hep, EPOLL_CTL_MOD, h->fd, &e);
				return;
			}
			long v = SSL_get_verify_result(h->ssl);
			check_done(px, h, false,
				   v != X509_V_OK ? X509_verify_cert_error_string(v)
						  : "TLS handshake failed");
			return;
		}
		e.events = EPOLLOUT;
		epoll_ctl(px->hep, EPOLL_CTL_MOD, h->fd, &e);
	}
	while (m->request && h->sent < strlen(m->request)) {
		ssize_t n = h->ssl ? check_ssl(h, SSL_write(h->ssl, m->request + h->sent,
							      (int)(strlen(m->request) - h->sent)))
				   : send(h->fd, m->request + h->sent, strlen(m->request) - h->sent,
					  MSG_NOSIGNAL);
		if (n == -1) {
			if (errno == EAGAIN)
				return;
			check_done(px, h, false, "send failed");
			return;
		}
		h->sent += (size_t)n;
		if (h->sent == strlen(m->request)) {
			e.events = EPOLLIN;
			epoll_ctl(px->hep, EPOLL_CTL_MOD, h->fd, &e);
		}
	}
	if (m->type == PX_HM_TCP && !m->response) {
		check_done(px, h, true, NULL); /* tcp_request sent, no answer needed */
		return;
	}
	for (;;) {
		size_t room = sizeof(h->rbuf) - 1 - h->rlen;
		ssize_t n = h->ssl ? check_ssl(h, SSL_read(h->ssl, h->rbuf + h->rlen, (int)room))
				   : recv(h->fd, h->rbuf + h->rlen, room, 0);
		if (n == -1) {
			if (errno == EAGAIN)
				return;
			check_done(px, h, false, "connection reset");
			return;
		}
		h->rlen += (size_t)n;
		if (m->type == PX_HM_TCP)
			r = tcp_verdict(h, n == 0 || h->rlen == sizeof(h->rbuf) - 1, &why);
		else
			r = http_verdict(h, n == 0 || h->rlen == sizeof(h->rbuf) - 1, &why);
		if (r >= 0) {
			check_done(px, h, r == 1, r == 1 ? NULL : why);
			return;
		}
	}
}

/* Points every server of @g at its monitors in @g; cancels the checks of
 * servers @old had and @g has not. */
static void switch_gen(struct px_gen *g, struct px_gen *old)
{
	for (unsigned i = 0; i < g->npool; i++)
		for (unsigned j = 0; j < g->pool[i]->nsrv; j++) {
			struct px_server *s = g->pool[i]->srv[j];
			for (unsigned k = 0; k < s->nhs && k < g->pool[i]->nmon; k++) {
				s->hs[k].mon = &g->pool[i]->mon[k];
				s->hs[k].seq = g->seq;
			}
		}
	for (unsigned i = 0; old && i < old->npool; i++)
		for (unsigned j = 0; j < old->pool[i]->nsrv; j++) {
			struct px_server *s = old->pool[i]->srv[j];
			for (unsigned k = 0; k < s->nhs; k++)
				if (s->hs[k].seq != g->seq && s->hs[k].fd != -1) {
					px_health_fd_close(s->hs[k].fd);
					s->hs[k].fd = -1;
				}
		}
}

/* The health thread: runs every monitor of the current generation until px_stop(). */
void *px_health_main(void *arg)
{
	struct px *px = arg;
	struct epoll_event evs[64], e = {.events = EPOLLIN, .data.ptr = &px->hwake};
	struct px_gen *gen = NULL;

	if (epoll_ctl(px->hep, EPOLL_CTL_ADD, px->hevfd, &e) == -1)
		px_log("health checker: epoll_ctl: %s", strerror(errno));
	while (!atomic_load(&px->stopping)) {
		int n = epoll_wait(px->hep, evs, 64, PX_HEALTH_TICK_MS);
		uint64_t now = now_ms();
		bool wake = false;

		for (int i = 0; i < n; i++) {
			struct px_ev *ev = evs[i].data.ptr;
			if (ev->kind == PX_EV_WAKE)
				wake = true;
			else
				check_io(px, (struct px_hstate *)ev, evs[i].events);
		}
		if (wake) {
			uint64_t v;
			struct px_gen *g = px_gen_get(px);
			if (read(px->hevfd, &v, sizeof(v)) == -1 && errno != EAGAIN)
				px_log("health checker: eventfd: %s", strerror(errno));
			if (g && (!gen || g->seq != gen->seq)) {
				switch_gen(g, gen);
				px_gen_unref(gen);
				gen = g;
			} else {
				px_gen_unref(g);
			}
		}
		log_rl_flush();
		for (unsigned i = 0; gen && i < gen->npool; i++)
			for (unsigned j = 0; j < gen->pool[i]->nsrv; j++) {
				struct px_server *s = gen->pool[i]->srv[j];
				for (unsigned k = 0; k < s->nhs && k < gen->pool[i]->nmon; k++) {
					struct px_hstate *h = &s->hs[k];
					if (h->fd == -1 && now >= h->next_ms)
						check_start(px, h, now);
					else if (h->fd != -1 && now >= h->deadline_ms)
						check_done(px, h, false, "timeout");
				}
			}
	}
	if (gen)
		switch_gen(&(struct px_gen){.seq = gen->seq + 1}, gen);
	px_gen_unref(gen);
	return NULL;
}
