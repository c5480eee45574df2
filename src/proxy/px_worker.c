/* px_worker.c: a worker thread: its epoll loop, its own SO_REUSEPORT listeners, accepting within the limits, timers, configuration switches. */
#include <arpa/inet.h>
#include <errno.h>
#include <malloc.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/util.h"
#include "proxy/px_int.h"

/*
 * Sets the epoll interest of @fd to @want, registering it the first time
 * (*cur == UINT32_MAX means not registered). Returns 0 or -errno.
 */
int px_ep_set(struct px_worker *w, int fd, struct px_ev *ev, uint32_t *cur, uint32_t want)
{
	struct epoll_event e = {.events = want, .data.ptr = ev};
	int op = *cur == UINT32_MAX ? EPOLL_CTL_ADD : EPOLL_CTL_MOD;

	if (*cur == want)
		return 0;
	if (epoll_ctl(w->ep, op, fd, &e) == -1)
		return -errno;
	*cur = want;
	return 0;
}

static int listener_open(struct px_worker *w, struct px_listener *l, char **ret_err)
{
	union addr_any a = l->addr;
	char ip[ADDR_PORT_STRLEN];
	int one = 1, fd;

	addr_set_port(&a, l->port);
	fd = socket(a.sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		goto fail;
	/* Every worker binds its own socket; the kernel spreads connections.
	 * An IPv6 listener takes IPv6 only, whatever net.ipv6.bindv6only says:
	 * IPv4 clients come through the service's IPv4 VIP, as their own. */
	if ((a.sa.sa_family == AF_INET6 &&
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) == -1) ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) == -1 ||
	    bind(fd, &a.sa, addr_len(&a)) == -1 || listen(fd, PX_BACKLOG) == -1)
		goto fail;
	/* Accepted sockets inherit it: one setsockopt() per listener, not per client. */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	l->fd = fd;
	l->mask = UINT32_MAX;
	l->paused = PX_RUNNING;
	if (px_ep_set(w, fd, &l->ev, &l->mask, EPOLLIN) < 0)
		goto fail;
	/* Listeners are configuration, never refused, but they count. */
	px_budget_listener(w->px, 1);
	return 0;
fail:
	*ret_err = xasprintf("cannot listen on %s: %s", addr_ntop_port(&a, ip), strerror(errno));
	if (fd != -1)
		close(fd);
	l->fd = -1;
	return -errno;
}

/* Takes this listener's share out of its service's waiting count. */
static void waiting_set(struct px_listener *l, long n)
{
	if (l->vs && n != l->waiting)
		atomic_fetch_add(&l->vs->st->waiting, n - l->waiting);
	l->waiting = n;
}

static void listener_free(struct px_worker *w, struct px_listener *l)
{
	waiting_set(l, 0);
	if (l->paused != PX_RUNNING)
		w->npaused--;
	if (l->fd != -1) {
		close(l->fd);
		px_budget_listener(w->px, -1);
	}
	px_vs_unref(l->vs);
	free(l);
}

/*
 * Stops watching @l: new connections wait in its kernel backlog (the client's
 * SYN is answered by the kernel, nothing is lost until the backlog is full)
 * instead of being accepted and closed. Holding them is what a client would
 * want: they go through as soon as a slot frees.
 */
static void pause_listener(struct px_worker *w, struct px_listener *l, enum px_pause why)
{
	px_ep_set(w, l->fd, &l->ev, &l->mask, 0);
	if (l->paused == why)
		return;
	if (l->paused == PX_RUNNING)
		w->npaused++;
	l->paused = (uint8_t)why;
	if (why == PX_PAUSE_LIMIT)
		atomic_fetch_add(&l->vs->st->limited, 1);
	else if (why == PX_PAUSE_BUDGET)
		atomic_fetch_add(&w->px->budget_stops, 1);
}

/* Watches again the listeners paused at a limit that has room now; @all:
 * also those paused after an accept() error (at a tick). */
static void listeners_resume(struct px_worker *w, bool all)
{
	for (struct px_listener *l = w->lis; l; l = l->next) {
		if (l->fd == -1 || l->paused == PX_RUNNING)
			continue;
		if (l->paused == PX_PAUSE_ERROR ? !all : !px_slot_free(w->px, w->nvs_enabled, l->vs))
			continue;
		if (px_ep_set(w, l->fd, &l->ev, &l->mask, EPOLLIN) == 0) {
			l->paused = PX_RUNNING;
			w->npaused--;
		}
	}
}

/* Counts what the paused listeners hold in their kernel backlog, for the
 * runtime view (tcpi_unacked of a listening socket is its accept queue). */
static void waiting_measure(struct px_worker *w)
{
	for (struct px_listener *l = w->lis; l; l = l->next) {
		struct tcp_info ti;
		socklen_t len = sizeof(ti);

		if (l->fd == -1 || l->paused == PX_RUNNING)
			waiting_set(l, 0);
		else if (getsockopt(l->fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0)
			waiting_set(l, (long)ti.tcpi_unacked);
	}
}

/* Opens listeners that failed before (the address may have appeared). */
static void listeners_retry(struct px_worker *w)
{
	for (struct px_listener *l = w->lis; l; l = l->next) {
		char *err = NULL;
		if (l->fd != -1)
			continue;
		if (listener_open(w, l, &err) == 0)
			px_vs_set_listen_err(l->vs, NULL);
		free(err);
	}
}

/*
 * Makes the worker's listeners match @g: one per (VIP, port) of each enabled
 * service. A listener whose address stays keeps its socket and its queue of
 * pending connections; it just serves the new version of the service.
 */
static void listeners_sync(struct px_worker *w, struct px_gen *g)
{
	struct px_listener **pp;

	for (struct px_listener *l = w->lis; l; l = l->next)
		l->claimed = false;
	for (unsigned i = 0; i < g->nvs; i++) {
		struct px_vs *vs = g->vs[i];
		if (!vs->enabled)
			continue;
		for (unsigned v = 0; v < vs->nvip; v++)
			for (unsigned k = 0; k < vs->nsvc; k++) {
				struct px_listener *l;
				for (l = w->lis; l; l = l->next)
					if (addr_equal(&l->addr, &vs->vip[v]) &&
					    l->port == vs->svc[k].port)
						break;
				if (l && l->claimed) {
					/* Two services on one address: the first keeps it. */
					char ip[ADDR_PORT_STRLEN];
					union addr_any at = vs->vip[v];
					addr_set_port(&at, vs->svc[k].port);
					char *e = xasprintf("%s is already used by virtual service %s",
							    addr_ntop_port(&at, ip), l->vs->name);
					px_vs_set_listen_err(vs, e);
					if (w->idx == 0)
						px_log("virtual service %s: %s", vs->name, e);
					free(e);
					continue;
				}
				if (!l) {
					char *err = NULL;
					l = xcalloc(1, sizeof(*l));
					l->ev.kind = PX_EV_LISTENER;
					l->addr = vs->vip[v];
					l->port = vs->svc[k].port;
					l->next = w->lis;
					w->lis = l;
					if (listener_open(w, l, &err) < 0) {
						px_vs_set_listen_err(vs, err);
						if (w->idx == 0)
							px_log("virtual service %s: %s", vs->name, err);
					} else if (w->idx == 0) {
						px_vs_set_listen_err(vs, NULL);
					}
					free(err);
				}
				l->claimed = true;
				l->ssl = vs->svc[k].ssl;
				if (l->vs != vs) {
					waiting_set(l, 0);
					atomic_fetch_add(&vs->refs, 1);
					px_vs_unref(l->vs);
					l->vs = vs;
				}
			}
	}
	/* Close what no service claims any more. */
	for (pp = &w->lis; *pp;) {
		struct px_listener *l = *pp;
		if (l->claimed) {
			pp = &l->next;
			continue;
		}
		*pp = l->next;
		listener_free(w, l);
	}
}

static void take_gen(struct px_worker *w)
{
	struct px_gen *g = px_gen_get(w->px);

	if (!g)
		return;
	if (w->gen && g->seq == w->gen->seq) {
		px_gen_unref(g);
		return;
	}
	listeners_sync(w, g);
	px_sess_close_removed(w, g);
	px_gen_unref(w->gen);
	w->gen = g;
	w->nvs_enabled = px_budget_services(g);
	w->resume_pending = true; /* limits may have changed */
}

static void do_accept(struct px_worker *w, struct px_listener *l)
{
	for (int i = 0; i < PX_ACCEPT_BATCH; i++) {
		union addr_any peer;
		socklen_t len = sizeof(peer);
		enum px_pause why = px_slot_get(w->px, w->nvs_enabled, l->vs);
		int fd;

		if (why != PX_RUNNING) {
			pause_listener(w, l, why);
			return;
		}
		fd = accept4(l->fd, &peer.sa, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			int err = errno;
			px_slot_undo(w->px, l->vs);
			/* The listener stays readable: stop watching it until the
			 * next tick instead of spinning. The budget should make this
			 * rare (another process, the kernel's file table). */
			if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
				atomic_fetch_add(&w->px->accept_errors, 1);
				px_log_rl("accept: %s: pausing the listener for %d ms", strerror(err),
					  PX_TICK_MS);
				pause_listener(w, l, PX_PAUSE_ERROR);
			}
			return;
		}
		px_sess_accept(w, l, fd, &peer);
	}
}

static void tick(struct px_worker *w)
{
	px_sess_sweep(w);
	listeners_retry(w);
	listeners_resume(w, true);
	waiting_measure(w);
	/* After a burst of connections has gone, give the freed session memory
	 * back to the system so the daemon's footprint returns to its baseline. */
	if (w->nsess == 0 && w->peak > 0) {
		w->peak = 0;
#ifndef __SANITIZE_ADDRESS__ /* ASan's allocator is not glibc's: nothing to trim */
		malloc_trim(0);
#endif
	}
}

/*
 * Names the worker's thread (clonelb-w0, clonelb-w1, ... in top -H and ps -L)
 * and gives it its scheduling policy. SCHED_BATCH needs no privilege; where it
 * is refused anyway (a seccomp filter), the worker runs on the default policy
 * and says so.
 */
static void worker_thread_setup(struct px_worker *w)
{
	struct sched_param sp = {.sched_priority = 0};
	char name[16];
	int r;

	snprintf(name, sizeof(name), "clonelb-w%u", w->idx);
	(void)pthread_setname_np(pthread_self(), name);
	if (w->px->sched != PX_SCHED_BATCH)
		return;
	r = pthread_setschedparam(pthread_self(), SCHED_BATCH, &sp);
	if (r)
		px_log("worker %u: cannot take SCHED_BATCH (%s): it runs on the default policy", w->idx,
		       strerror(r));
}

/* The thread of one worker: runs until px_stop(). */
void *px_worker_main(void *arg)
{
	struct px_worker *w = arg;
	struct epoll_event evs[256];
	uint32_t wmask = UINT32_MAX;

	worker_thread_setup(w);
	w->buf = xmalloc(PX_BUF_SIZE);
	px_ep_set(w, w->evfd, &w->wake, &wmask, EPOLLIN);
	w->now = now_ms();
	take_gen(w);
	w->next_tick = w->now + PX_TICK_MS;
	while (!atomic_load(&w->px->stopping)) {
		int timeout = w->next_tick > w->now ? (int)(w->next_tick - w->now) : 0;
		int n = epoll_wait(w->ep, evs, 256, px_sess_held_timeout(w, timeout));

		w->now = now_ms();
		if (n == -1 && errno != EINTR) {
			px_log("worker %u: epoll_wait: %s", w->idx, strerror(errno));
			break;
		}
		for (int i = 0; i < n; i++) {
			struct px_ev *ev = evs[i].data.ptr;
			uint64_t v;
			switch (ev->kind) {
			case PX_EV_WAKE:
				if (read(w->evfd, &v, sizeof(v)) == -1 && errno != EAGAIN)
					px_log("worker %u: eventfd: %s", w->idx, strerror(errno));
				/* Not now: listeners and sessions the switch closes may
				 * still have events later in this batch. */
				w->gen_pending = true;
				break;
			case PX_EV_LISTENER:
				do_accept(w, (struct px_listener *)ev);
				break;
			default:
				px_sess_event(w, ev, evs[i].events);
				break;
			}
		}
		px_relay_batch_run(w);
		if (w->gen_pending) {
			w->gen_pending = false;
			take_gen(w);
		}
		if (w->resume_pending) {
			w->resume_pending = false;
			listeners_resume(w, false);
		}
		px_sess_held_due(w);
		if (w->now >= w->next_tick) {
			tick(w);
			w->next_tick = w->now + PX_TICK_MS;
		}
		px_sess_reap(w);
	}
	px_sess_close_all(w);
	px_sess_reap(w);
	while (w->lis) {
		struct px_listener *l = w->lis;
		w->lis = l->next;
		listener_free(w, l);
	}
	px_gen_unref(w->gen);
	w->gen = NULL;
	free(w->buf);
	return NULL;
}
