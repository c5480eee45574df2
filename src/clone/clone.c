/* clone.c: the clone engine's life cycle, its resolver thread and the proxy's connection hook. */
#include "clone/clone.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bpf/clone.skel.h"
#include "clone/clone_int.h"
#include "lib/netif.h"
#include "lib/util.h"
#include "log.h"

/* libbpf's own messages: keep warnings (load failures), drop the chatter. */
static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level != LIBBPF_WARN)
		return 0;
	/* A probe of a hook without our filter is how stale filters are found. */
	if (strstr(fmt, "Kernel error message") || strstr(fmt, "Failed to find"))
		return 0;
	{
		char buf[512];
		size_t n;

		vsnprintf(buf, sizeof(buf), fmt, ap);
		n = strlen(buf);
		while (n && buf[n - 1] == '\n')
			buf[--n] = '\0';
		log_warn("clone", "libbpf: %s", buf);
	}
	return 0;
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void *resolver_main(void *arg);

/* See clone.h. */
int clone_start(struct clone_engine **ret, char **ret_err)
{
	struct clone_engine *ce;
	int r, n_deliver = 0;

	ce = xcalloc(1, sizeof(*ce));
	pthread_mutex_init(&ce->apply_lock, NULL);
	pthread_rwlock_init(&ce->lock, NULL);
	pthread_mutex_init(&ce->stop_mutex, NULL);
	pthread_cond_init(&ce->stop_cond, NULL);
	ce->next_gen = 1;
	ce->plain_fd = -1;
	libbpf_set_print(libbpf_print);
	r = libbpf_num_possible_cpus();
	if (r <= 0) {
		*ret_err = xasprintf("cannot count CPUs: %s", strerror(r ? -r : EINVAL));
		goto fail;
	}
	ce->ncpus = r;

	ce->skel = clone_bpf__open();
	if (!ce->skel) {
		r = -errno;
		*ret_err = xasprintf("opening the clone eBPF object: %s", strerror(errno));
		goto fail;
	}
	ce->skel->rodata->clone_mark = CLONE_MARK;
	r = clone_bpf__load(ce->skel);
	if (r < 0) {
		*ret_err = xasprintf("loading the clone eBPF program (root and a kernel with BPF needed): %s",
				     strerror(-r));
		goto fail_skel;
	}
	ce->conns_fd = bpf_map__fd(ce->skel->maps.clone_conns);
	ce->conns6_fd = bpf_map__fd(ce->skel->maps.clone_conns6);
	ce->srvs_fd = bpf_map__fd(ce->skel->maps.clone_srvs);
	ce->stats_fd = bpf_map__fd(ce->skel->maps.clone_stats);
	ce->events_fd = bpf_map__fd(ce->skel->maps.clone_events);
	ce->socks_fd = bpf_map__fd(ce->skel->maps.clone_socks);
	ce->profs_fd = bpf_map__fd(ce->skel->maps.clone_profs);
	ce->health_fd = bpf_map__fd(ce->skel->maps.clone_health);
	clone_plain_start(ce);

	r = clone_tc_remove_stale(&n_deliver);
	if (r > 0)
		log_info("clone", "removed %d tc filter(s) left by an earlier run", r);
	if (n_deliver > 0)
		log_info("clone", "removed %d clone_deliver filter(s) left by an earlier run", n_deliver);
	else if (r == -EBUSY)
		log_warn("clone", "another clonelbd owns this network namespace: its tc filters are left alone");
	clone_net_se_uuid(ce->se_uuid, sizeof(ce->se_uuid));

	r = pthread_create(&ce->resolver, NULL, resolver_main, ce);
	if (r) {
		*ret_err = xasprintf("starting the neighbour resolver: %s", strerror(r));
		r = -r;
		goto fail_skel;
	}
	ce->resolver_started = true;
	r = clone_health_start(ce, ret_err);
	if (r < 0) {
		clone_stop(ce);
		return r;
	}
	*ret = ce;
	return 0;

fail_skel:
	clone_bpf__destroy(ce->skel);
fail:
	pthread_cond_destroy(&ce->stop_cond);
	pthread_mutex_destroy(&ce->stop_mutex);
	pthread_rwlock_destroy(&ce->lock);
	pthread_mutex_destroy(&ce->apply_lock);
	free(ce);
	return r < 0 ? r : -EINVAL;
}

/* See clone.h. */
void clone_stop(struct clone_engine *ce)
{
	int i;

	if (!ce)
		return;
	clone_health_stop(ce);
	if (ce->resolver_started) {
		pthread_mutex_lock(&ce->stop_mutex);
		ce->stopping = true;
		pthread_cond_signal(&ce->stop_cond);
		pthread_mutex_unlock(&ce->stop_mutex);
		pthread_join(ce->resolver, NULL);
	}
	for (i = 0; i < ce->n_hooks; i++)
		clone_tc_detach(ce, ce->hooks[i].ifindex);
	ce->n_hooks = 0;
	/* The back-end hooks are gone: no clone can be made any more. */
	for (i = 0; i < ce->n_deliver; i++)
		clone_tc_detach_deliver(ce->deliver_if[i]);
	ce->n_deliver = 0;
	clone_resolver_close(ce);
	clone_plain_stop(ce);
	for (i = 0; i < ce->n_known_vs; i++)
		free(ce->known_vs[i]);
	free(ce->known_vs);
	free(ce->pool_ips);
	free(ce->pool_ips6);
	clone_bpf__destroy(ce->skel);
	pthread_cond_destroy(&ce->stop_cond);
	pthread_mutex_destroy(&ce->stop_mutex);
	pthread_rwlock_destroy(&ce->lock);
	pthread_mutex_destroy(&ce->apply_lock);
	free(ce);
}

/* See clone.h. */
const char *clone_se_uuid(struct clone_engine *ce)
{
	return ce ? ce->se_uuid : "";
}

/* See clone.h. */
void clone_set_se_uuid(struct clone_engine *ce, const char *uuid)
{
	if (ce)
		snprintf(ce->se_uuid, sizeof(ce->se_uuid), "%s", uuid);
}

/* ---- the neighbour resolver -------------------------------------------- */

/* Every 250 ms: a round of clone_refresh_all() (neighbour and link
 * notifications, re-validation of the clone servers' MACs; a quiet round
 * takes no lock the connection hook waits on); every second, the hooks. */
static void *resolver_main(void *arg)
{
	struct clone_engine *ce = arg;
	struct timespec deadline;
	unsigned tick = 0;

	pthread_mutex_lock(&ce->stop_mutex);
	while (!ce->stopping) {
		clock_gettime(CLOCK_REALTIME, &deadline);
		deadline.tv_nsec += 250 * 1000 * 1000;
		if (deadline.tv_nsec >= 1000000000) {
			deadline.tv_sec++;
			deadline.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&ce->stop_cond, &ce->stop_mutex, &deadline);
		if (ce->stopping)
			break;
		pthread_mutex_unlock(&ce->stop_mutex);
		clone_refresh_all(ce);
		if (++tick % 4 == 0)
			clone_recheck_hooks(ce);
		pthread_mutex_lock(&ce->stop_mutex);
	}
	pthread_mutex_unlock(&ce->stop_mutex);
	return NULL;
}

/* ---- the proxy's connection hook ---------------------------------------- */

static struct clone_vs_state *vs_by_id(struct clone_engine *ce, int64_t id, int *ret_v)
{
	int v;

	/* Called twice per proxied connection: only the used part of vs is
	 * scanned (nothing at all when no service is cloned). */
	for (v = 0; v < ce->vs_end; v++)
		if (ce->vs[v].used && ce->vs[v].vs_id == id) {
			*ret_v = v;
			return &ce->vs[v];
		}
	return NULL;
}

/* The IPv6 connection map's key of the back-end socket @ci->fd, likewise. */
static int conn_key6(const struct px_conn_info *ci, struct clone_conn_key6 *key)
{
	struct sockaddr_in6 a;
	socklen_t len = sizeof(a);

	if (getsockname(ci->fd, (struct sockaddr *)&a, &len) == -1 || a.sin6_family != AF_INET6 ||
	    !a.sin6_port || IN6_IS_ADDR_UNSPECIFIED(&a.sin6_addr))
		return -1;
	memset(key, 0, sizeof(*key));
	memcpy(key->local_ip, &a.sin6_addr, 16);
	memcpy(key->server_ip, &ci->server.in6.sin6_addr, 16);
	key->local_port = a.sin6_port;
	key->server_port = ci->server.in6.sin6_port;
	return 0;
}

/* The connection map's key of the back-end socket @ci->fd, still open:
 * connect() has chosen its port. Returns 0, or -1 when it has none. */
static int conn_key(const struct px_conn_info *ci, struct clone_conn_key *key)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);

	if (getsockname(ci->fd, (struct sockaddr *)&a, &len) == -1 || a.sin_family != AF_INET ||
	    !a.sin_port || !a.sin_addr.s_addr)
		return -1;
	memset(key, 0, sizeof(*key));
	key->local_ip = a.sin_addr.s_addr;
	key->server_ip = ci->server.in.sin_addr.s_addr;
	key->local_port = a.sin_port;
	key->server_port = ci->server.in.sin_port;
	return 0;
}

/*
 * Registers the back-end connection before its connect(), on the socket
 * itself: the kernel has not chosen the source port yet, so the 4-tuple is
 * not known. Picks its clone server (round robin per connection) and writes
 * it into the socket's storage; the program enters the 4-tuple into
 * clone_conns when it sees the socket's SYN leave, and clones that SYN.
 */
static void clone_on_connect(void *ctx, const struct px_conn_info *ci)
{
	struct clone_engine *ce = ctx;
	struct clone_vs_state *vs;
	struct clone_conn val;
	uint32_t n;
	int v, slot, k;

	if (!ce || !ci)
		return;
	pthread_rwlock_rdlock(&ce->lock);
	vs = vs_by_id(ce, ci->vs_id, &v);
	if (!vs || vs->n_order == 0) {
		pthread_rwlock_unlock(&ce->lock);
		return;
	}
	n = atomic_fetch_add(&ce->rr[v], 1);
	slot = vs->order[n % (uint32_t)vs->n_order];
	/* A clone server that is down (clone_health.c) gets no new connection:
	 * the next healthy one in the profile's order does. All down: the
	 * round robin's pick, whose frames are counted as not sent. */
	for (k = 0; k < vs->n_order && clone_health_slot_down(ce, (uint32_t)(v * CLONE_SRV_PER_VS + slot)); k++)
		slot = vs->order[(n + (uint32_t)k + 1) % (uint32_t)vs->n_order];
	if (k == vs->n_order)
		slot = vs->order[n % (uint32_t)vs->n_order];
	memset(&val, 0, sizeof(val));
	/* The client for either family of the pool's frames: an IPv6 header
	 * takes an IPv4 client as ::ffff:a.b.c.d; an IPv4 header cannot take
	 * an IPv6 client (client_ip 0: the program keeps the SE's address and
	 * counts it). */
	if (ci->client.sa.sa_family == AF_INET6) {
		memcpy(val.client_ip6, &ci->client.in6.sin6_addr, 16);
	} else {
		val.client_ip = ci->client.in.sin_addr.s_addr;
		val.client_ip6[2] = htonl(0xffff);
		val.client_ip6[3] = val.client_ip;
	}
	val.srv_index = (uint32_t)(v * CLONE_SRV_PER_VS + slot);
	val.srv_gen = vs->srv[slot].gen;
	/* Its clone servers get the plaintext the proxy hands clone_plain.c,
	 * not the encrypted wire (the program leaves those frames alone). */
	if (vs->plaintext && ci->tls)
		val.flags = CLONE_CONN_PLAINTEXT;
	pthread_rwlock_unlock(&ce->lock);
	bpf_map_update_elem(ce->socks_fd, &ci->fd, &val, BPF_ANY);
}

/* Just before close(): the entry stays for CLONE_CLOSE_GRACE_NS so the
 * FIN/ACK exchange is still cloned; then a reuse of the 4-tuple by traffic
 * that is not registered (a health check) is not. The socket still holds the
 * 4-tuple, so the entry found is this connection's own. */
static void clone_on_close(void *ctx, const struct px_conn_info *ci)
{
	struct clone_engine *ce = ctx;
	struct clone_vs_state *vs;
	struct clone_conn_key key;
	struct clone_conn_key6 key6;
	struct clone_conn val;
	int v;

	if (!ce || !ci)
		return;
	/* Connections of services that are not cloned were never registered:
	 * no system call for them. An entry left by a service that stopped
	 * being cloned is stale for the program and ages out of the LRU map. */
	pthread_rwlock_rdlock(&ce->lock);
	vs = vs_by_id(ce, ci->vs_id, &v);
	v = vs && vs->n_order > 0;
	pthread_rwlock_unlock(&ce->lock);
	if (!v)
		return;
	if (ci->server.sa.sa_family == AF_INET6) {
		if (conn_key6(ci, &key6) < 0 || bpf_map_lookup_elem(ce->conns6_fd, &key6, &val) < 0)
			return;
		val.expires_ns = mono_ns() + CLONE_CLOSE_GRACE_NS;
		bpf_map_update_elem(ce->conns6_fd, &key6, &val, BPF_EXIST);
		return;
	}
	if (conn_key(ci, &key) < 0)
		return;
	if (bpf_map_lookup_elem(ce->conns_fd, &key, &val) < 0)
		return;
	val.expires_ns = mono_ns() + CLONE_CLOSE_GRACE_NS;
	bpf_map_update_elem(ce->conns_fd, &key, &val, BPF_EXIST);
}

/* See clone_int.h. */
bool clone_vs_plaintext(struct clone_engine *ce, int64_t vs_id)
{
	struct clone_vs_state *vs;
	bool r;
	int v;

	pthread_rwlock_rdlock(&ce->lock);
	vs = vs_by_id(ce, vs_id, &v);
	r = vs && vs->n_order > 0 && vs->plaintext;
	pthread_rwlock_unlock(&ce->lock);
	return r;
}

/* See clone.h. */
int clone_conn_count(struct clone_engine *ce)
{
	struct clone_conn_key key, next;
	struct clone_conn_key6 key6, next6;
	int n = 0, r;

	if (!ce)
		return -EINVAL;
	r = bpf_map_get_next_key(ce->conns_fd, NULL, &next);
	while (r == 0) {
		n++;
		key = next;
		r = bpf_map_get_next_key(ce->conns_fd, &key, &next);
	}
	if (errno != ENOENT)
		return -errno;
	/* And the IPv6 connections. */
	r = bpf_map_get_next_key(ce->conns6_fd, NULL, &next6);
	while (r == 0) {
		n++;
		key6 = next6;
		r = bpf_map_get_next_key(ce->conns6_fd, &key6, &next6);
	}
	return errno == ENOENT ? n : -errno;
}

const struct px_conn_hook clone_conn_hook_ops = {
	.on_connect = clone_on_connect,
	.on_close = clone_on_close,
	.plain_open = clone_plain_open,
	.plain_data = clone_plain_data,
	.plain_fin = clone_plain_fin,
	.plain_close = clone_plain_close,
	.ctx = NULL,
};
