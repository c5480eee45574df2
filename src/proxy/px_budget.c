/* px_budget.c: the descriptor budget: the reserve kept from client traffic, each virtual service's own part, the shared part, connection slots. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "log.h"
#include "proxy/px_int.h"

/*
 * How the client budget is split (docs/deployment.md). Client traffic may
 * hold px->fd_client descriptors: the listeners' first, then two per
 * connection. Each enabled virtual service keeps PX_VS_GUARANTEE of those
 * connections for itself (fewer when that would take more than half of the
 * budget: then half the budget split evenly); the rest is shared, first come
 * first served. A service may hold its own part plus whatever of the shared
 * part is free, never more than its max_concurrent_connections. So one
 * service, however many clients it has, cannot take another's own part, and
 * together they never hold more than the budget: the reserve below it stays
 * untouched.
 */

/* Connections the client budget holds once the listeners have theirs. */
static long conns(const struct px *px)
{
	long c = (px->fd_client - atomic_load(&px->fd_lis)) / 2;

	return c > 0 ? c : 0;
}

/* Returns the number of enabled virtual services of @g (NULL: 0), the ones
 * that each keep a part of the budget. Workers count once per generation. */
unsigned px_budget_services(const struct px_gen *g)
{
	unsigned n = 0;

	for (unsigned i = 0; g && i < g->nvs; i++)
		n += g->vs[i]->enabled;
	return n;
}

/* Returns the connections each of @nvs enabled virtual services keeps for itself. */
long px_budget_guaranteed(const struct px *px, unsigned nvs)
{
	long half = conns(px) / 2 / (nvs ? nvs : 1);

	return half < PX_VS_GUARANTEE ? half : PX_VS_GUARANTEE;
}

static long shared_cap(const struct px *px, unsigned nvs)
{
	return conns(px) - (long)(nvs ? nvs : 1) * px_budget_guaranteed(px, nvs);
}

/*
 * Sets the descriptor budget from RLIMIT_NOFILE (raised to the hard limit by
 * clonelbd at start): what is open now and PX_FD_RESERVE are kept back, the
 * rest is for client traffic. Logs the split.
 */
void px_budget_init(struct px *px)
{
	struct rlimit rl = {1024, 1024};
	DIR *d = opendir("/proc/self/fd");
	long open_now = 16; /* a guess when /proc is not mounted */

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1 || rl.rlim_cur == RLIM_INFINITY)
		rl.rlim_cur = 1 << 20;
	if (d) {
		open_now = -1; /* the directory's own descriptor */
		while (readdir(d))
			open_now++;
		open_now -= 2; /* "." and ".." */
		closedir(d);
	}
	px->fd_limit = (long)rl.rlim_cur;
	px->fd_base = open_now;
	px->fd_client = px->fd_limit - px->fd_base - PX_FD_RESERVE;
	if (px->fd_client < PX_FD_MIN_CLIENT) {
		log_warn("proxy",
			 "open files limit %ld is too low: %ld are open and %d are reserved for the "
			 "API, health checks and the clone engine; client traffic gets %d anyway",
			 px->fd_limit, px->fd_base, PX_FD_RESERVE, PX_FD_MIN_CLIENT);
		px->fd_client = PX_FD_MIN_CLIENT;
	}
	log_info("proxy",
		 "open files limit %ld: %ld open at start, %d reserved for the API, health checks "
		 "and the clone engine, %ld for client traffic (about %ld connections)",
		 px->fd_limit, px->fd_base, PX_FD_RESERVE, px->fd_client, px->fd_client / 2);
}

/* Counts a listener's descriptor (@delta +1 opened, -1 closed). */
void px_budget_listener(struct px *px, int delta)
{
	atomic_fetch_add(&px->fd_lis, delta);
	atomic_fetch_add(&px->fd_used, delta);
}

/* Gives back one connection of @st: from the shared part first, so the
 * service keeps its own part. */
static void release(struct px *px, struct px_vs_stats *st)
{
	long s = atomic_load(&st->shared);

	while (s > 0 && !atomic_compare_exchange_weak(&st->shared, &s, s - 1))
		;
	if (s > 0)
		atomic_fetch_sub(&px->shared_used, 1);
	atomic_fetch_sub(&st->cur, 1);
}

/*
 * Takes a connection slot for @vs and two descriptors of the client budget,
 * before accept(), so the limits hold across workers. @nvs: the enabled
 * services of the calling worker's generation. Returns PX_RUNNING, or why the
 * listener must stop accepting (then nothing is taken).
 */
enum px_pause px_slot_get(struct px *px, unsigned nvs, struct px_vs *vs)
{
	struct px_vs_stats *st = vs->st;
	long c = atomic_fetch_add(&st->cur, 1);

	if (vs->max_conns > 0 && c >= vs->max_conns) {
		atomic_fetch_sub(&st->cur, 1);
		return PX_PAUSE_LIMIT;
	}
	if (c - atomic_load(&st->shared) >= px_budget_guaranteed(px, nvs)) {
		if (atomic_fetch_add(&px->shared_used, 1) >= shared_cap(px, nvs)) {
			atomic_fetch_sub(&px->shared_used, 1);
			atomic_fetch_sub(&st->cur, 1);
			return PX_PAUSE_LIMIT;
		}
		atomic_fetch_add(&st->shared, 1);
	}
	if (atomic_fetch_add(&px->fd_used, 2) + 2 > px->fd_client) {
		atomic_fetch_sub(&px->fd_used, 2);
		release(px, st);
		return PX_PAUSE_BUDGET;
	}
	return PX_RUNNING;
}

/* Gives back what px_slot_get() took for a connection of @vs that was not
 * accepted after all. */
void px_slot_undo(struct px *px, struct px_vs *vs)
{
	atomic_fetch_sub(&px->fd_used, 2);
	release(px, vs->st);
}

/*
 * Gives back what px_slot_get() took for a connection of @vs, on the worker
 * @w that closes it (px_sess.c). This worker's paused listeners look again
 * after the current batch, the other workers' at their next tick.
 */
void px_slot_put(struct px_worker *w, struct px_vs *vs)
{
	px_slot_undo(w->px, vs);
	if (w->npaused)
		w->resume_pending = true;
}

/* Whether px_slot_get() would succeed for @vs now (nothing taken). */
bool px_slot_free(const struct px *px, unsigned nvs, const struct px_vs *vs)
{
	long c = atomic_load(&vs->st->cur), s = atomic_load(&vs->st->shared);

	if (vs->max_conns > 0 && c >= vs->max_conns)
		return false;
	if (c - s >= px_budget_guaranteed(px, nvs) &&
	    atomic_load(&px->shared_used) >= shared_cap(px, nvs))
		return false;
	return atomic_load(&px->fd_used) + 2 <= px->fd_client;
}

/* Appends the budget's Prometheus lines to @out. */
void px_budget_metrics(struct px *px, const struct px_gen *g, FILE *out)
{
	unsigned nvs = px_budget_services(g);
	const struct {
		const char *name, *type, *help;
		long v;
	} m[] = {
		{"clonelb_fd_limit", "gauge", "Open files limit (RLIMIT_NOFILE)", px->fd_limit},
		{"clonelb_fd_reserve", "gauge",
		 "Descriptors kept from client traffic for the API, health checks and the clone "
		 "engine, besides those open at start",
		 PX_FD_RESERVE},
		{"clonelb_fd_client_budget", "gauge", "Descriptors client traffic may hold",
		 px->fd_client},
		{"clonelb_fd_client_used", "gauge", "Descriptors client traffic holds now",
		 atomic_load(&px->fd_used)},
		{"clonelb_connections_guaranteed", "gauge",
		 "Connections of the budget each enabled virtual service keeps for itself",
		 px_budget_guaranteed(px, nvs)},
		{"clonelb_connections_shared_budget", "gauge",
		 "Connections of the budget the virtual services share", shared_cap(px, nvs)},
		{"clonelb_connections_shared_used", "gauge",
		 "Connections held beyond the services' own parts",
		 atomic_load(&px->shared_used)},
		{"clonelb_accept_budget_stops_total", "counter",
		 "Times accepting stopped because the client budget was used up",
		 atomic_load(&px->budget_stops)},
		{"clonelb_accept_errors_total", "counter",
		 "accept() failures for lack of descriptors or memory",
		 atomic_load(&px->accept_errors)},
		{"clonelb_health_checks_skipped_total", "counter",
		 "Health checks not run for lack of a descriptor (not counted against the server)",
		 atomic_load(&px->check_skips)},
	};

	for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++)
		fprintf(out, "# HELP %s %s\n# TYPE %s %s\n%s %ld\n", m[i].name, m[i].help,
			m[i].name, m[i].type, m[i].name, m[i].v);
}
