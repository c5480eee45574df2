/* px.c: the data plane's entry points: start and stop workers and the health thread, publish configurations, runtime views, metrics. */
#include "proxy/px.h"

#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <unistd.h>

#include "lib/util.h"
#include "log.h"
#include "proxy/px_int.h"

/* Logs one line through the daemon's logger, module "proxy", level info. */
void px_log(const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	log_info("proxy", "%s", buf);
}

/* Returns a new reference to the current generation, or NULL before the first px_apply(). */
struct px_gen *px_gen_get(struct px *px)
{
	struct px_gen *g;

	pthread_mutex_lock(&px->lock);
	g = px->gen;
	if (g)
		atomic_fetch_add(&g->refs, 1);
	pthread_mutex_unlock(&px->lock);
	return g;
}

/* 10,000 clients need 20,000 sockets and more: raise the soft limit to the
 * hard one, and the hard one too when privileged. */
static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return;
	if (rl.rlim_max < PX_NOFILE_WANT) {
		struct rlimit want = {PX_NOFILE_WANT, PX_NOFILE_WANT};
		if (setrlimit(RLIMIT_NOFILE, &want) == 0)
			return;
	}
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
			px_log("cannot raise the open files limit: %s", strerror(errno));
	}
	/* Each client connection costs two descriptors (client and server). */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 2 * 10000 + 256)
		log_warn("proxy",
			 "open files limit is %llu and cannot be raised (hard limit): at most about "
			 "%llu concurrent client connections",
			 (unsigned long long)rl.rlim_cur, (unsigned long long)(rl.rlim_cur - 64) / 2);
}

static uint64_t env_ms(const char *name, uint64_t dflt)
{
	const char *v = getenv(name);
	char *end;
	unsigned long long ms;

	if (!v || !*v)
		return dflt;
	ms = strtoull(v, &end, 10);
	if (*end || ms == 0) {
		log_warn("proxy", "%s: ignoring '%s' (a positive number of milliseconds)", name, v);
		return dflt;
	}
	log_info("proxy", "%s: %llu ms instead of %llu", name, ms, (unsigned long long)dflt);
	return ms;
}

static void wake(int fd)
{
	uint64_t one = 1;

	if (fd != -1 && write(fd, &one, sizeof(one)) == -1 && errno != EAGAIN)
		px_log("eventfd: %s", strerror(errno));
}

static void px_free(struct px *px)
{
	for (unsigned i = 0; px->w && i < px->nworkers; i++) {
		if (px->w[i].ep != -1)
			close(px->w[i].ep);
		if (px->w[i].evfd != -1)
			close(px->w[i].evfd);
	}
	if (px->hep != -1)
		close(px->hep);
	if (px->hevfd != -1)
		close(px->hevfd);
	px_gen_unref(px->gen);
	pthread_mutex_destroy(&px->lock);
	free(px->w);
	free(px);
}

int px_start(unsigned workers, const struct px_conn_hook *hook, struct px **ret, char **ret_err)
{
	struct px *px;
	unsigned started = 0;
	int r;

	if (workers == 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		workers = n > 0 ? (unsigned)n : 1;
	}
	if (workers > PX_MAX_WORKERS) {
		*ret_err = xasprintf("workers: %u is too many (at most %d)", workers, PX_MAX_WORKERS);
		return -EINVAL;
	}
	/* Peers that vanish must not kill the daemon: writes get EPIPE instead. */
	signal(SIGPIPE, SIG_IGN);
	raise_nofile();

	px = xcalloc(1, sizeof(*px));
	pthread_mutex_init(&px->lock, NULL);
	px->nworkers = workers;
	px->hep = px->hevfd = -1;
	if (hook && hook->on_connect) {
		px->hook = *hook;
		px->has_hook = true;
	}
	px->tmo.idle_ms = env_ms("CLONELB_IDLE_TIMEOUT_MS", PX_IDLE_TIMEOUT_MS);
	px->tmo.connect_ms = env_ms("CLONELB_CONNECT_TIMEOUT_MS", PX_CONNECT_TIMEOUT_MS);
	px->tmo.handshake_ms = PX_HANDSHAKE_TIMEOUT_MS;
	px->tmo.half_closed_ms = PX_HALF_CLOSED_TIMEOUT_MS;
	if (px->tmo.half_closed_ms > px->tmo.idle_ms)
		px->tmo.half_closed_ms = px->tmo.idle_ms;
	px->w = xcalloc(workers, sizeof(*px->w));
	for (unsigned i = 0; i < workers; i++) {
		struct px_worker *w = &px->w[i];
		w->wake.kind = PX_EV_WAKE;
		w->px = px;
		w->idx = i;
		w->ep = epoll_create1(EPOLL_CLOEXEC);
		w->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (w->ep == -1 || w->evfd == -1) {
			r = -errno;
			*ret_err = xasprintf("worker %u: %s", i, strerror(errno));
			px_free(px);
			return r;
		}
	}
	px->hwake.kind = PX_EV_WAKE;
	px->hep = epoll_create1(EPOLL_CLOEXEC);
	px->hevfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (px->hep == -1 || px->hevfd == -1) {
		r = -errno;
		*ret_err = xasprintf("health checker: %s", strerror(errno));
		px_free(px);
		return r;
	}
	for (; started < workers; started++) {
		r = -pthread_create(&px->w[started].th, NULL, px_worker_main, &px->w[started]);
		if (r < 0)
			goto fail;
	}
	r = -pthread_create(&px->hth, NULL, px_health_main, px);
	if (r < 0)
		goto fail;
	px->hstarted = true;
	*ret = px;
	return 0;
fail:
	*ret_err = xasprintf("cannot start threads: %s", strerror(-r));
	atomic_store(&px->stopping, true);
	for (unsigned i = 0; i < started; i++) {
		wake(px->w[i].evfd);
		pthread_join(px->w[i].th, NULL);
	}
	px_free(px);
	return r;
}

void px_apply(struct px *px, const json_t *snap)
{
	struct px_gen *old, *g;

	if (!px || !snap)
		return;
	old = px_gen_get(px);
	pthread_mutex_lock(&px->lock);
	px->seq++;
	pthread_mutex_unlock(&px->lock);
	/* Built outside the lock: only px_apply() publishes, and it is called
	 * from one thread at a time (the store's change listener). */
	g = px_gen_build(snap, old, px->seq);
	px_gen_unref(old);
	pthread_mutex_lock(&px->lock);
	old = px->gen;
	px->gen = g;
	pthread_mutex_unlock(&px->lock);
	px_gen_unref(old);
	for (unsigned i = 0; i < px->nworkers; i++)
		wake(px->w[i].evfd);
	wake(px->hevfd);
}

json_t *px_runtime(struct px *px, const char *vs_uuid)
{
	struct px_gen *g = px ? px_gen_get(px) : NULL;
	json_t *r = NULL;

	for (unsigned i = 0; g && i < g->nvs && !r; i++)
		if (vs_uuid && strcmp(g->vs[i]->uuid, vs_uuid) == 0)
			r = px_vs_runtime(g->vs[i]);
	px_gen_unref(g);
	return r;
}

/* Prometheus label values: backslash, quote and newline escaped. */
static void label(FILE *out, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			fputc('\\', out);
		if (*s == '\n') {
			fputs("\\n", out);
			continue;
		}
		fputc(*s, out);
	}
}

static long member_up(const struct px_server *s)
{
	return atomic_load(&s->enabled) && atomic_load(&s->up);
}

static long member_cur(const struct px_server *s)
{
	return atomic_load(&s->cur);
}

/* One gauge of every pool member: its HELP and TYPE lines, then a sample per member. */
static void member_metric(FILE *out, struct px_gen *g, const char *name, const char *help,
			  long (*value)(const struct px_server *))
{
	fprintf(out, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name);
	for (unsigned i = 0; i < g->npool; i++)
		for (unsigned k = 0; k < g->pool[i]->nsrv; k++) {
			struct px_server *s = g->pool[i]->srv[k];
			char ip[INET_ADDRSTRLEN];
			inet_ntop(AF_INET, &s->addr.sin_addr, ip, sizeof(ip));
			fprintf(out, "%s{pool=\"", name);
			label(out, g->pool[i]->name);
			fprintf(out, "\",server=\"%s:%u\"} %ld\n", ip, ntohs(s->addr.sin_port), value(s));
		}
}

void px_metrics(struct px *px, FILE *out)
{
	struct px_gen *g = px ? px_gen_get(px) : NULL;
	static const struct {
		const char *name, *help;
		size_t off;
	} vsm[] = {
		{"clonelb_vs_connections_current", "Client connections open now",
		 offsetof(struct px_vs_stats, cur)},
		{"clonelb_vs_connections_total", "Client connections accepted",
		 offsetof(struct px_vs_stats, total)},
		{"clonelb_vs_connections_refused_total",
		 "Client connections closed at once for lack of a usable server",
		 offsetof(struct px_vs_stats, refused)},
		{"clonelb_vs_connections_failed_total",
		 "Client connections closed because no server could be connected to",
		 offsetof(struct px_vs_stats, failed)},
	};

	if (!g)
		return;
	for (size_t m = 0; m < sizeof(vsm) / sizeof(vsm[0]); m++) {
		fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", vsm[m].name, vsm[m].help, vsm[m].name,
			m == 0 ? "gauge" : "counter");
		for (unsigned i = 0; i < g->nvs; i++) {
			const atomic_long *v =
				(const atomic_long *)((const char *)g->vs[i]->st + vsm[m].off);
			fprintf(out, "%s{virtualservice=\"", vsm[m].name);
			label(out, g->vs[i]->name);
			fprintf(out, "\"} %ld\n", atomic_load(v));
		}
	}
	member_metric(out, g, "clonelb_pool_member_up", "1 when the member is enabled and healthy",
		      member_up);
	member_metric(out, g, "clonelb_pool_member_connections_current",
		      "Back-end connections open now", member_cur);
	px_gen_unref(g);
}

void px_stop(struct px *px)
{
	if (!px)
		return;
	atomic_store(&px->stopping, true);
	for (unsigned i = 0; i < px->nworkers; i++)
		wake(px->w[i].evfd);
	for (unsigned i = 0; i < px->nworkers; i++)
		pthread_join(px->w[i].th, NULL);
	if (px->hstarted) {
		wake(px->hevfd);
		pthread_join(px->hth, NULL);
	}
	px_free(px);
}
