/* conns.c: the API's own accept loop and per-listener connection budget, so no client can hold the API. */
#include "api/conns.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "lib/util.h"
#include "log.h"

/* Connections accepted but not yet taken up by the MHD thread, per listener:
 * a flood faster than MHD can start connections waits in the kernel backlog,
 * in arrival order, instead of in memory. */
#define QUEUE_MAX 64u
/* How often a listener whose queue is full is looked at again (ms). */
#define QUEUE_RETRY_MS 10

struct api_conn {
	struct api_conn *prev, *next;
	struct api_gate *gate;
	int fd;
	bool stranger; /* on the gate's list */
	bool dying;    /* shut down by the gate */
};

static void unlink_conn(struct api_gate *g, struct api_conn *k)
{
	if (k->prev)
		k->prev->next = k->next;
	else
		g->head = k->next;
	if (k->next)
		k->next->prev = k->prev;
	else
		g->tail = k->prev;
	k->prev = k->next = NULL;
	k->stranger = false;
}

/* Ends the oldest stranger: shutdown() wakes MHD, which closes it and calls
 * back with MHD_CONNECTION_NOTIFY_CLOSED before it closes the descriptor, so
 * the descriptor here is still the connection's. */
static void evict(struct api_gate *g, struct api_conn *k)
{
	unlink_conn(g, k);
	k->dying = true;
	g->dying++;
	shutdown(k->fd, SHUT_RDWR);
	atomic_fetch_add(&g->evicted, 1);
}

void api_gate_notify(void *cls, struct MHD_Connection *c, void **socket_context,
		     enum MHD_ConnectionNotificationCode code)
{
	struct api_gate *g = cls;
	struct api_conn *k = *socket_context;
	const union MHD_ConnectionInfo *fd;

	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		fd = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
		k = xcalloc(1, sizeof(*k));
		k->gate = g;
		k->fd = fd ? fd->connect_fd : -1;
		k->stranger = true;
		k->prev = g->tail;
		if (g->tail)
			g->tail->next = k;
		else
			g->head = k;
		g->tail = k;
		*socket_context = k;
		atomic_fetch_sub(&g->queued, 1);
		if (atomic_fetch_add(&g->open, 1) + 1 - g->dying > g->cap && g->head)
			evict(g, g->head);
		return;
	}
	if (!k)
		return;
	if (k->stranger)
		unlink_conn(g, k);
	if (k->dying)
		g->dying--;
	atomic_fetch_sub(&g->open, 1);
	free(k);
	*socket_context = NULL;
}

void api_gate_trust(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *i =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	struct api_conn *k = i ? i->socket_context : NULL;

	if (k && k->stranger)
		unlink_conn(k->gate, k);
}

void api_gate_metrics(struct api_gate *const *gates, unsigned n, FILE *f)
{
	static const char *const fam[][3] = {
		{"clonelb_api_connections", "gauge", "Open connections per API listener."},
		{"clonelb_api_connections_refused_total", "counter",
		 "Connections the API refused (per-address cap, full queue, no descriptors)."},
		{"clonelb_api_connections_evicted_total", "counter",
		 "Connections ended before an authorized request, to make room for a new one."},
	};

	for (int i = 0; i < 3; i++) {
		fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", fam[i][0], fam[i][2], fam[i][0],
			fam[i][1]);
		for (unsigned k = 0; k < n; k++) {
			const struct api_gate *g = gates[k];
			unsigned long v = i == 0 ? atomic_load(&g->open)
				       : i == 1 ? atomic_load(&g->refused)
						: atomic_load(&g->evicted);
			fprintf(f, "%s{listener=\"%s\"} %lu\n", fam[i][0], g->name, v);
		}
	}
}

/* One line a second per cause, with the count of what it stands for. The
 * caller serializes the calls for one struct. */
struct ratelog {
	time_t last;
	unsigned long n;
};

static bool ratelog_due(struct ratelog *r, unsigned long *ret_n)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	r->n++;
	if (ts.tv_sec == r->last)
		return false;
	r->last = ts.tv_sec;
	*ret_n = r->n;
	r->n = 0;
	return true;
}

void api_mhd_log(void *cls, const char *fmt, va_list ap)
{
	/* MHD's causes are its format strings: a handful of slots keyed by them. */
	static struct {
		const char *fmt;
		struct ratelog r;
	} slot[16];
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	unsigned long n = 0;
	char msg[256];
	size_t i;
	bool due;

	/* Both listeners' threads log here. */
	pthread_mutex_lock(&lock);
	for (i = 0; i < 15 && slot[i].fmt && slot[i].fmt != fmt; i++)
		;
	slot[i].fmt = fmt; /* the last slot is shared by every other cause */
	due = ratelog_due(&slot[i].r, &n);
	pthread_mutex_unlock(&lock);
	if (!due)
		return;
	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	msg[strcspn(msg, "\n")] = 0;
	log_msg(LOG_DEBUG, "api", "%s (%lu in the last second)", msg, n);
}

struct api_acceptor {
	struct api_accept_spec l[4];
	unsigned n;
	int wake[2];   /* a byte on wake[1] stops the thread */
	int spare;     /* given up to refuse a connection when descriptors run out */
	pthread_t thread;
	struct ratelog out_of_fds;
};

/* Out of descriptors: take the waiting connection with the spare one and
 * close it, so the client hears a refusal instead of waiting and the listener
 * is not reported readable again at once. Returns false when there is no
 * spare to give: the caller then backs off. */
static bool refuse_with_spare(struct api_acceptor *a, struct api_accept_spec *l, int err)
{
	unsigned long n = 0;
	bool done = false;
	int s;

	if (a->spare != -1) {
		close(a->spare);
		a->spare = -1;
		s = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC);
		if (s != -1) {
			close(s);
			done = true;
		}
		a->spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
	}
	atomic_fetch_add(&l->gate->refused, 1);
	if (ratelog_due(&a->out_of_fds, &n))
		log_warn("api", "%s listener: out of descriptors (%s): refused %lu connection(s) in "
			 "the last second", l->gate->name, strerror(err), n);
	return done;
}

/* MHD is behind: more connections handed over than it has started, or
 * evicted ones it has not closed yet. New ones wait in the kernel backlog. */
static bool queue_full(const struct api_gate *g)
{
	return atomic_load(&g->queued) >= QUEUE_MAX || atomic_load(&g->open) >= 2 * g->cap;
}

/* Accepts what waits on @l, up to a batch, so one busy listener does not
 * starve the other. Returns false when the loop should back off. */
static bool accept_batch(struct api_acceptor *a, struct api_accept_spec *l)
{
	struct api_gate *g = l->gate;
	struct sockaddr_storage ss;

	for (int i = 0; i < 64 && !queue_full(g); i++) {
		socklen_t len = sizeof(ss);
		int s = accept4(l->fd, (struct sockaddr *)&ss, &len, SOCK_CLOEXEC | SOCK_NONBLOCK);

		if (s == -1) {
			if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO)
				continue;
			if (errno == EMFILE || errno == ENFILE)
				return refuse_with_spare(a, l, errno);
			if (errno == ENOBUFS || errno == ENOMEM)
				return false;
			return true; /* EAGAIN: drained */
		}
		atomic_fetch_add(&g->queued, 1);
		/* MHD closes @s itself when it turns it down (per-address limit). */
		if (MHD_add_connection(l->d, s, (struct sockaddr *)&ss, len) != MHD_YES) {
			atomic_fetch_sub(&g->queued, 1);
			atomic_fetch_add(&g->refused, 1);
		}
	}
	return true;
}

static void *accept_main(void *arg)
{
	struct api_acceptor *a = arg;
	struct pollfd p[5];

	for (;;) {
		bool backoff = false, held = false;

		/* A listener whose queue is full is left out until MHD catches up:
		 * its clients wait in the backlog. */
		for (unsigned i = 0; i < a->n; i++) {
			bool full = queue_full(a->l[i].gate);
			p[i] = (struct pollfd){.fd = full ? -1 : a->l[i].fd, .events = POLLIN};
			held |= full;
		}
		p[a->n] = (struct pollfd){.fd = a->wake[0], .events = POLLIN};
		if (poll(p, a->n + 1, held ? QUEUE_RETRY_MS : -1) == -1) {
			if (errno == EINTR)
				continue;
			backoff = true;
		}
		if (p[a->n].revents)
			return NULL;
		for (unsigned i = 0; i < a->n; i++)
			if (p[i].revents && !accept_batch(a, &a->l[i]))
				backoff = true;
		/* Out of memory or descriptors with nothing to give back: wait
		 * a little (or for stop) rather than spin on a readable listener. */
		if (backoff && poll(&p[a->n], 1, 100) > 0)
			return NULL;
	}
}

int api_acceptor_start(const struct api_accept_spec *specs, unsigned n,
		       struct api_acceptor **ret, char **ret_err)
{
	struct api_acceptor *a;
	int r;

	if (n > 4)
		return -EINVAL;
	a = xcalloc(1, sizeof(*a));
	memcpy(a->l, specs, n * sizeof(*specs));
	a->n = n;
	a->spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (pipe2(a->wake, O_CLOEXEC) == -1) {
		r = -errno;
		*ret_err = xasprintf("API: pipe: %s", strerror(errno));
		goto fail;
	}
	for (unsigned i = 0; i < n; i++)
		fcntl(a->l[i].fd, F_SETFL, fcntl(a->l[i].fd, F_GETFL) | O_NONBLOCK);
	r = -pthread_create(&a->thread, NULL, accept_main, a);
	if (r < 0) {
		*ret_err = xasprintf("API: cannot start the accept thread: %s", strerror(-r));
		close(a->wake[0]);
		close(a->wake[1]);
		goto fail;
	}
	*ret = a;
	return 0;
fail:
	if (a->spare != -1)
		close(a->spare);
	free(a);
	return r;
}

void api_acceptor_stop(struct api_acceptor *a)
{
	if (!a)
		return;
	if (write(a->wake[1], "x", 1) == 1)
		pthread_join(a->thread, NULL);
	for (unsigned i = 0; i < a->n; i++)
		close(a->l[i].fd);
	close(a->wake[0]);
	close(a->wake[1]);
	if (a->spare != -1)
		close(a->spare);
	free(a);
}
