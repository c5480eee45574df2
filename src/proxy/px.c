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

/* Same as px_log(), at most one line a second per format string (per call site). */
void px_log_rl(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg_rl(LOG_INFO, "proxy", fmt, fmt, ap);
	va_end(ap);
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
		px_ring_close(px->w[i].ring);
		free(px->w[i].batch);
	}
	if (px->hep != -1)
		close(px->hep);
	if (px->hevfd != -1)
		close(px->hevfd);
	px_gen_unref(px->gen);
	pthread_mutex_destroy(&px->lock);
	pthread_mutex_destroy(&px->apply_lock);
	free(px->w);
	free(px);
}

/*
 * Gives each worker an io_uring for its batches of reads and writes
 * (px_relay.c), unless CLONELB_IO_URING=0 says not to or the kernel cannot
 * (no io_uring, kernel.io_uring_disabled, a seccomp filter): the relay then
 * makes plain system calls, the same bytes at a higher cost per request.
 */
static void rings_open(struct px *px)
{
	const char *v = getenv("CLONELB_IO_URING"), *why = NULL;
	unsigned i;

	if (v && !strcmp(v, "0")) {
		log_info("proxy", "CLONELB_IO_URING=0: relaying with plain system calls");
		return;
	}
	if (v && *v && strcmp(v, "1"))
		log_warn("proxy", "CLONELB_IO_URING: ignoring '%s' (0 or 1)", v);
	for (i = 0; i < px->nworkers; i++) {
		struct px_worker *w = &px->w[i];
		if (px_ring_open(PX_BATCH, &w->ring, &why) < 0)
			break;
		w->batch = xcalloc(1, px_relay_batch_size());
	}
	if (i == px->nworkers) {
		log_info("proxy", "relaying through io_uring, in batches of up to %d reads", PX_BATCH);
		return;
	}
	/* All workers alike, or none. */
	for (i = 0; i < px->nworkers; i++) {
		px_ring_close(px->w[i].ring);
		px->w[i].ring = NULL;
		free(px->w[i].batch);
		px->w[i].batch = NULL;
	}
	log_info("proxy", "relaying with plain system calls: io_uring: %s", why);
}

int px_start(unsigned workers, enum px_sched sched, const struct px_conn_hook *hook,
	     struct px **ret, char **ret_err)
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

	px = xcalloc(1, sizeof(*px));
	px_budget_init(px);
	pthread_mutex_init(&px->lock, NULL);
	pthread_mutex_init(&px->apply_lock, NULL);
	px->nworkers = workers;
	px->sched = sched;
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
	rings_open(px);
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
	unsigned seq;

	if (!px || !snap)
		return;
	/* Two appliers could otherwise both build from the same old generation
	 * and publish out of order. The build runs outside px->lock, which the
	 * workers take to pick up a generation. */
	pthread_mutex_lock(&px->apply_lock);
	pthread_mutex_lock(&px->lock);
	seq = ++px->seq;
	pthread_mutex_unlock(&px->lock);
	old = px_gen_get(px);
	g = px_gen_build(snap, old, seq);
	px_gen_unref(old);
	pthread_mutex_lock(&px->lock);
	old = px->gen;
	px->gen = g;
	pthread_mutex_unlock(&px->lock);
	pthread_mutex_unlock(&px->apply_lock);
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
		if (vs_uuid && strcmp(g->vs[i]->uuid, vs_uuid) == 0) {
			r = px_vs_runtime(g->vs[i]);
			json_object_set_new(r, "connections_guaranteed",
					    json_integer(px_budget_guaranteed(
						    px, px_budget_services(g))));
		}
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

/* The tenant label of a sample: names are unique only within a tenant, so
 * without it two tenants' "web" would be one series twice. */
static const char *tenant_of(const json_t *src)
{
	const char *t = json_string_value(json_object_get(src, "tenant_ref"));
	return t ? t : "admin";
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
			char ip[ADDR_PORT_STRLEN];
			fprintf(out, "%s{tenant=\"", name);
			label(out, tenant_of(g->pool[i]->src));
			fputs("\",pool=\"", out);
			label(out, g->pool[i]->name);
			fprintf(out, "\",server=\"%s\"} %ld\n", addr_ntop_port(&s->addr, ip), value(s));
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
		{"clonelb_vs_connections_waiting",
		 "Connections left in the kernel backlog while the service is at its limit",
		 offsetof(struct px_vs_stats, waiting)},
		{"clonelb_vs_connections_limited_total",
		 "Times accepting stopped at max_concurrent_connections or the service's share",
		 offsetof(struct px_vs_stats, limited)},
	};

	if (!g)
		return;
	for (size_t m = 0; m < sizeof(vsm) / sizeof(vsm[0]); m++) {
		fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", vsm[m].name, vsm[m].help, vsm[m].name,
			strstr(vsm[m].name, "_total") ? "counter" : "gauge");
		for (unsigned i = 0; i < g->nvs; i++) {
			const atomic_long *v =
				(const atomic_long *)((const char *)g->vs[i]->st + vsm[m].off);
			fprintf(out, "%s{tenant=\"", vsm[m].name);
			label(out, tenant_of(g->vs[i]->src));
			fputs("\",virtualservice=\"", out);
			label(out, g->vs[i]->name);
			fprintf(out, "\"} %ld\n", atomic_load(v));
		}
	}
	px_budget_metrics(px, g, out);
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
