/* test_px.c: unit tests of the data plane: configuration generations, load-balancing picks, runtime view, and relaying on loopback. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/socket.h>

#include "lib/util.h"
#include "proxy/px_int.h"

static json_t *snap_with(const char *lb, bool s2_enabled, const char *monitors)
{
	json_t *snap = json_pack(
		"{s[{sI ss ss ss s[{s{ssss}}] s[{sisb}] ss sb}]"
		" s[{sI ss ss ss s[{s{ss}sb}{s{ss}sisb}] si ss s[]}]"
		" s[{sI ss ss ss ss si si si si}] s[] s[]}",
		"virtualservice", "_id", (json_int_t)10, "uuid", "vs-uuid", "name", "web",
		"tenant_ref", "admin", "vip", "ip_address", "addr", "192.0.2.1", "type", "V4",
		"services", "port", 80, "enable_ssl", 0, "pool_ref", "p1", "enabled", 1,
		"pool", "_id", (json_int_t)20, "uuid", "pool-uuid", "name", "p1", "tenant_ref",
		"admin", "servers", "ip", "addr", "10.0.0.1", "enabled", 1, "ip", "addr", "10.0.0.2",
		"port", 8080, "enabled", s2_enabled, "default_server_port", 81, "lb_algorithm", lb,
		"health_monitor_refs", "healthmonitor", "_id", (json_int_t)30, "uuid", "hm-uuid",
		"name", "hm1", "tenant_ref", "admin", "type", "HEALTH_MONITOR_TCP", "send_interval", 1,
		"receive_timeout", 1, "successful_checks", 2, "failed_checks", 3,
		"sslkeyandcertificate", "trafficcloneprofile");
	assert_non_null(snap);
	if (monitors) {
		json_t *pool = json_array_get(json_object_get(snap, "pool"), 0);
		json_array_append_new(json_object_get(pool, "health_monitor_refs"),
				      json_string(monitors));
	}
	return snap;
}

static struct px_gen *build(const json_t *snap, const struct px_gen *old)
{
	return px_gen_build(snap, old, old ? old->seq + 1 : 1);
}

static void test_gen_parses_services_and_pools(void **state)
{
	json_t *snap = snap_with("LB_ALGORITHM_ROUND_ROBIN", true, "hm1");
	struct px_gen *g = build(snap, NULL);

	assert_int_equal(g->nvs, 1);
	assert_int_equal(g->npool, 1);
	struct px_vs *vs = g->vs[0];
	assert_int_equal(vs->id, 10);
	assert_string_equal(vs->uuid, "vs-uuid");
	assert_int_equal(vs->nvip, 1);
	assert_int_equal(vs->nsvc, 1);
	assert_int_equal(vs->svc[0].port, 80);
	assert_ptr_equal(vs->pool, g->pool[0]);
	struct px_pool *p = g->pool[0];
	assert_int_equal(p->nsrv, 2);
	/* default_server_port applies to the member without a port. */
	assert_int_equal(ntohs(p->srv[0]->addr.in.sin_port), 81);
	assert_int_equal(ntohs(p->srv[1]->addr.in.sin_port), 8080);
	assert_int_equal(p->nmon, 1);
	assert_int_equal(p->mon[0].type, PX_HM_TCP);
	assert_int_equal(p->mon[0].interval_ms, 1000);
	assert_int_equal(p->mon[0].fall, 3);
	assert_int_equal(p->srv[0]->nhs, 1);
	px_gen_unref(g);
	json_decref(snap);
}

static void test_round_robin_alternates_and_skips(void **state)
{
	json_t *snap = snap_with("LB_ALGORITHM_ROUND_ROBIN", true, NULL);
	struct px_gen *g = build(snap, NULL);
	struct px_pool *p = g->pool[0];
	struct px_server *prev = NULL;

	for (int i = 0; i < 6; i++) {
		struct px_server *s = px_pool_pick(p, NULL, 0);
		assert_non_null(s);
		assert_ptr_not_equal(s, prev);
		prev = s;
	}
	/* A member marked down by its monitor is skipped. */
	atomic_store(&p->srv[1]->up, false);
	for (int i = 0; i < 4; i++)
		assert_ptr_equal(px_pool_pick(p, NULL, 0), p->srv[0]);
	/* The server already tried for this connection is skipped too. */
	atomic_store(&p->srv[1]->up, true);
	for (int i = 0; i < 4; i++)
		assert_ptr_equal(px_pool_pick(p, &p->srv[0], 1), p->srv[1]);
	atomic_store(&p->srv[0]->enabled, false);
	atomic_store(&p->srv[1]->up, false);
	assert_null(px_pool_pick(p, NULL, 0));
	assert_false(px_pool_has_usable(p));
	px_gen_unref(g);
	json_decref(snap);
}

/* A down or disabled member's turns are shared evenly by the others: with
 * three members and the second one out, each of the other two gets half,
 * not one a third and its successor two thirds. */
static void test_round_robin_even_without_a_member(void **state)
{
	json_t *snap = snap_with("LB_ALGORITHM_ROUND_ROBIN", true, NULL);
	json_t *pool = json_array_get(json_object_get(snap, "pool"), 0);
	struct px_gen *g;
	struct px_pool *p;
	int counts[3];

	json_array_append_new(json_object_get(pool, "servers"),
			      json_pack("{s{ss}sb}", "ip", "addr", "10.0.0.3", "enabled", 1));
	g = build(snap, NULL);
	p = g->pool[0];
	assert_int_equal(p->nsrv, 3);
	for (int round = 0; round < 2; round++) {
		/* First the middle member down, then disabled. */
		if (round == 0)
			atomic_store(&p->srv[1]->up, false);
		else
			atomic_store(&p->srv[1]->enabled, false), atomic_store(&p->srv[1]->up, true);
		memset(counts, 0, sizeof(counts));
		for (int i = 0; i < 300; i++) {
			struct px_server *s = px_pool_pick(p, NULL, 0);
			for (int k = 0; k < 3; k++)
				counts[k] += s == p->srv[k];
		}
		assert_int_equal(counts[0], 150);
		assert_int_equal(counts[1], 0);
		assert_int_equal(counts[2], 150);
	}
	/* Back in rotation: a third each. */
	atomic_store(&p->srv[1]->enabled, true);
	memset(counts, 0, sizeof(counts));
	for (int i = 0; i < 300; i++) {
		struct px_server *s = px_pool_pick(p, NULL, 0);
		for (int k = 0; k < 3; k++)
			counts[k] += s == p->srv[k];
	}
	assert_int_equal(counts[0], 100);
	assert_int_equal(counts[1], 100);
	assert_int_equal(counts[2], 100);
	px_gen_unref(g);
	json_decref(snap);
}

static void test_least_connections(void **state)
{
	json_t *snap = snap_with("LB_ALGORITHM_LEAST_CONNECTIONS", true, NULL);
	struct px_gen *g = build(snap, NULL);
	struct px_pool *p = g->pool[0];

	atomic_store(&p->srv[0]->cur, 5);
	atomic_store(&p->srv[1]->cur, 2);
	for (int i = 0; i < 4; i++)
		assert_ptr_equal(px_pool_pick(p, NULL, 0), p->srv[1]);
	atomic_store(&p->srv[1]->cur, 9);
	assert_ptr_equal(px_pool_pick(p, NULL, 0), p->srv[0]);
	/* Ties rotate. */
	atomic_store(&p->srv[0]->cur, 0);
	atomic_store(&p->srv[1]->cur, 0);
	struct px_server *a = px_pool_pick(p, NULL, 0), *b = px_pool_pick(p, NULL, 0);
	assert_ptr_not_equal(a, b);
	atomic_store(&p->srv[0]->cur, 0);
	atomic_store(&p->srv[1]->cur, 0);
	px_gen_unref(g);
	json_decref(snap);
}

static void test_unchanged_objects_are_reused(void **state)
{
	json_t *s1 = snap_with("LB_ALGORITHM_ROUND_ROBIN", true, "hm1");
	json_t *s2 = snap_with("LB_ALGORITHM_LEAST_CONNECTIONS", true, "hm1");
	json_t *s3 = snap_with("LB_ALGORITHM_LEAST_CONNECTIONS", true, NULL);
	struct px_gen *g1 = build(s1, NULL), *g1b = build(s1, g1);

	/* Same configuration: same objects, so connections and counters carry on. */
	assert_ptr_equal(g1b->vs[0], g1->vs[0]);
	assert_ptr_equal(g1b->pool[0], g1->pool[0]);

	/* An edited pool is a new object; its servers (and their health and
	 * connection counts) carry over, and so do the service's counters. */
	atomic_store(&g1->vs[0]->st->total, 7);
	struct px_gen *g2 = build(s2, g1b);
	assert_ptr_not_equal(g2->pool[0], g1->pool[0]);
	assert_int_equal(g2->pool[0]->lb, PX_LB_LC);
	assert_ptr_equal(g2->pool[0]->srv[0], g1->pool[0]->srv[0]);
	assert_ptr_not_equal(g2->vs[0], g1->vs[0]);
	assert_ptr_equal(g2->vs[0]->st, g1->vs[0]->st);
	assert_ptr_equal(g2->vs[0]->pool, g2->pool[0]);

	/* Other monitors: health state starts afresh. */
	struct px_gen *g3 = build(s3, g2);
	assert_ptr_not_equal(g3->pool[0]->srv[0], g2->pool[0]->srv[0]);
	assert_int_equal(g3->pool[0]->srv[0]->nhs, 0);
	assert_true(atomic_load(&g3->pool[0]->srv[0]->up));

	px_gen_unref(g1);
	px_gen_unref(g1b);
	px_gen_unref(g2);
	px_gen_unref(g3);
	json_decref(s1);
	json_decref(s2);
	json_decref(s3);
}

static void test_runtime_view(void **state)
{
	json_t *snap = snap_with("LB_ALGORITHM_ROUND_ROBIN", false, "hm1");
	struct px_gen *g = build(snap, NULL);
	json_t *rt = px_vs_runtime(g->vs[0]);
	json_t *members = json_object_get(json_object_get(rt, "pool"), "members");

	assert_string_equal(json_string_value(json_object_get(rt, "uuid")), "vs-uuid");
	assert_int_equal(json_integer_value(
				 json_object_get(json_object_get(rt, "connections"), "current")),
			 0);
	assert_int_equal(json_array_size(members), 2);
	json_t *m1 = json_array_get(members, 1);
	assert_string_equal(
		json_string_value(json_object_get(json_object_get(m1, "ip"), "addr")), "10.0.0.2");
	assert_int_equal(json_integer_value(json_object_get(m1, "port")), 8080);
	assert_true(json_is_false(json_object_get(m1, "enabled")));
	assert_string_equal(json_string_value(json_object_get(m1, "health")), "UP");
	json_decref(rt);
	px_gen_unref(g);
	json_decref(snap);
}

/* A service on an address this host does not have: the listener error shows
 * in the runtime view, nothing fails, and px_stop() returns. */
static void test_start_apply_stop(void **state)
{
	json_t *snap = snap_with("LB_ALGORITHM_ROUND_ROBIN", true, NULL);
	struct px *px = NULL;
	char *err = NULL;
	json_t *rt = NULL;

	assert_int_equal(px_start(2, PX_SCHED_BATCH, NULL, &px, &err), 0);
	px_apply(px, snap);
	for (int i = 0; i < 200; i++) {
		rt = px_runtime(px, "vs-uuid");
		assert_non_null(rt);
		if (json_string_value(json_object_get(rt, "listen_error")))
			break;
		json_decref(rt);
		rt = NULL;
		usleep(10000);
	}
	assert_non_null(rt);
	assert_non_null(strstr(json_string_value(json_object_get(rt, "listen_error")),
			       "192.0.2.1:80"));
	json_decref(rt);
	assert_null(px_runtime(px, "no-such-uuid"));
	px_stop(px);
	px_stop(NULL);
	json_decref(snap);
}

/* What the hook saw, checked on the worker thread at the time of the call. */
static struct {
	atomic_int connects, closes;
	atomic_bool no_port_yet, not_yet_connected, fd_open, port_at_close;
	_Atomic uint16_t port; /* the port connect() chose, as the server saw it */
	struct px_conn_info ci;
} hk;

static void hook_connect(void *ctx, const struct px_conn_info *ci)
{
	struct sockaddr_in a, peer;
	socklen_t len = sizeof(a), plen = sizeof(peer);

	/* Nothing bound: address and port are left to connect(), which was
	 * not called yet; ci->local is the SE's address the route gives. */
	atomic_store(&hk.no_port_yet, getsockname(ci->fd, (struct sockaddr *)&a, &len) == 0 &&
					      a.sin_addr.s_addr == INADDR_ANY && a.sin_port == 0 &&
					      ci->local.in.sin_addr.s_addr != INADDR_ANY &&
					      ci->local.in.sin_port == 0);
	atomic_store(&hk.not_yet_connected,
		     getpeername(ci->fd, (struct sockaddr *)&peer, &plen) == -1 && errno == ENOTCONN);
	hk.ci = *ci;
	hk.ci.vs_uuid = NULL;
	atomic_fetch_add(&hk.connects, 1);
}

/* Just before close(): the socket is still open and holds the port that
 * connect() chose, the one the server saw. */
static void hook_close(void *ctx, const struct px_conn_info *ci)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);

	atomic_store(&hk.fd_open, fcntl(ci->fd, F_GETFD) != -1);
	atomic_store(&hk.port_at_close, getsockname(ci->fd, (struct sockaddr *)&a, &len) == 0 &&
						a.sin_port != 0 && a.sin_port == atomic_load(&hk.port));
	atomic_fetch_add(&hk.closes, 1);
}

static int listen_any(uint16_t *ret_port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_int_not_equal(fd, -1);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(fd, 16), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	*ret_port = ntohs(a.sin_port);
	return fd;
}

/* Puts the service of @snap on 127.0.0.1:@vport and its pool on @server:@sport. */
static void snap_on_loopback(json_t *snap, uint16_t vport, const char *server, uint16_t sport)
{
	json_t *vs = json_array_get(json_object_get(snap, "virtualservice"), 0);

	json_object_set_new(json_object_get(json_array_get(json_object_get(vs, "vip"), 0),
					    "ip_address"),
			    "addr", json_string("127.0.0.1"));
	json_object_set_new(json_array_get(json_object_get(vs, "services"), 0), "port",
			    json_integer(vport));
	json_object_set_new(json_array_get(json_object_get(snap, "pool"), 0), "servers",
			    json_pack("[{s{ss}si}]", "ip", "addr", server, "port", sport));
}

/* A client connection to 127.0.0.1:@vport, once the service listens (2 s at most). */
static int connect_vip(uint16_t vport)
{
	struct sockaddr_in va = {.sin_family = AF_INET, .sin_port = htons(vport),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int fd = -1;

	for (int i = 0; i < 200 && fd == -1; i++) {
		fd = socket(AF_INET, SOCK_STREAM, 0);
		if (connect(fd, (struct sockaddr *)&va, sizeof(va)) == -1) {
			close(fd);
			fd = -1;
			usleep(10000);
		}
	}
	assert_int_not_equal(fd, -1);
	return fd;
}

/* The connection hook on loopback: one client connection through a service
 * gives exactly one on_connect (bound, not yet connected, right addresses)
 * and one on_close (after the close); health checks never call it. */
static void test_connection_hook(void **state)
{
	const struct px_conn_hook hook = {hook_connect, hook_close, NULL};
	uint16_t sport, vport;
	int srv = listen_any(&sport), tmp = listen_any(&vport);
	json_t *snap = snap_with("LB_ALGORITHM_ROUND_ROBIN", true, "hm1");
	struct px *px = NULL;
	char *err = NULL, buf[8];
	int cfd, bfd = -1;

	close(tmp); /* a free port for the service */
	snap_on_loopback(snap, vport, "127.0.0.1", sport);
	assert_int_equal(px_start(1, PX_SCHED_NORMAL, &hook, &px, &err), 0);
	px_apply(px, snap);

	cfd = connect_vip(vport);
	/* The server sees the proxy's connection (health checks come and go too). */
	for (int i = 0; i < 200; i++) {
		struct sockaddr_in peer;
		socklen_t len = sizeof(peer);
		int fd = accept4(srv, (struct sockaddr *)&peer, &len, 0);
		assert_int_not_equal(fd, -1);
		struct sockaddr_in mine;
		socklen_t mlen = sizeof(mine);
		/* The proxy's socket is in this process: its port tells it from
		 * the health checks'. */
		if (atomic_load(&hk.connects) &&
		    getsockname(hk.ci.fd, (struct sockaddr *)&mine, &mlen) == 0 &&
		    peer.sin_port == mine.sin_port) {
			atomic_store(&hk.port, peer.sin_port);
			bfd = fd;
			break;
		}
		close(fd);
	}
	assert_int_not_equal(bfd, -1);
	assert_int_equal(atomic_load(&hk.connects), 1);
	assert_true(atomic_load(&hk.no_port_yet));
	assert_true(atomic_load(&hk.not_yet_connected));
	assert_int_equal(hk.ci.vs_id, 10);
	assert_int_equal(hk.ci.server.in.sin_port, htons(sport));
	assert_int_equal(hk.ci.local.in.sin_addr.s_addr, htonl(INADDR_LOOPBACK));
	/* Bytes go through both ways. */
	assert_int_equal(write(cfd, "ping", 4), 4);
	assert_int_equal(read(bfd, buf, 4), 4);
	assert_memory_equal(buf, "ping", 4);
	assert_int_equal(write(bfd, "pong", 4), 4);
	assert_int_equal(read(cfd, buf, 4), 4);
	assert_memory_equal(buf, "pong", 4);
	close(cfd);
	assert_int_equal(read(bfd, buf, 4), 0); /* the client's FIN is passed on */
	close(bfd);
	for (int i = 0; i < 200 && !atomic_load(&hk.closes); i++)
		usleep(10000);
	assert_int_equal(atomic_load(&hk.closes), 1);
	assert_true(atomic_load(&hk.fd_open));
	assert_true(atomic_load(&hk.port_at_close));
	/* Health checks ran meanwhile and never called the hook. */
	assert_int_equal(atomic_load(&hk.connects), 1);
	px_stop(px);
	close(srv);
	json_decref(snap);
}

/* A back end that echoes each connection's bytes, and its FIN, back. */
static void *echo_conn(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char buf[8192];
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) > 0)
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(fd, buf + off, (size_t)(n - off));
			if (w <= 0)
				goto out;
			off += w;
		}
	shutdown(fd, SHUT_WR);
out:
	close(fd);
	return NULL;
}

static void *echo_server(void *arg)
{
	int lfd = (int)(intptr_t)arg, fd;

	while ((fd = accept4(lfd, NULL, NULL, 0)) != -1) {
		pthread_t th;
		assert_int_equal(pthread_create(&th, NULL, echo_conn, (void *)(intptr_t)fd), 0);
		pthread_detach(th);
	}
	return NULL;
}

#define RELAY_CONNS 32

/* Byte @off of what connection @c sends in round @r. */
static char relay_byte(int c, int r, size_t off)
{
	return (char)((size_t)c * 7 + (size_t)r * 13 + off * 31 + off / 251);
}

/*
 * Sends round @r's message on every connection at once, sizes from 1 byte to
 * @big, and reads each echo back whole; fails on any byte out of place.
 */
static void relay_round(const int *cfd, int r, size_t big)
{
	size_t len[RELAY_CONNS], sent[RELAY_CONNS] = {0}, got[RELAY_CONNS] = {0};
	char *out[RELAY_CONNS];
	int left = RELAY_CONNS;

	for (int c = 0; c < RELAY_CONNS; c++) {
		len[c] = c == r % RELAY_CONNS ? big : (size_t)(c * 97 + r * 31) % 1500 + 1;
		out[c] = malloc(len[c]);
		for (size_t i = 0; i < len[c]; i++)
			out[c][i] = relay_byte(c, r, i);
	}
	while (left) {
		struct pollfd p[RELAY_CONNS];
		for (int c = 0; c < RELAY_CONNS; c++)
			p[c] = (struct pollfd){.fd = got[c] == len[c] ? -1 : cfd[c],
					       .events = POLLIN | (sent[c] < len[c] ? POLLOUT : 0)};
		assert_true(poll(p, RELAY_CONNS, 10000) > 0); /* no progress in 10 s: stuck */
		for (int c = 0; c < RELAY_CONNS; c++) {
			char buf[65536];
			ssize_t n;
			if (p[c].revents & POLLOUT) {
				n = send(cfd[c], out[c] + sent[c], len[c] - sent[c], MSG_DONTWAIT);
				if (n > 0)
					sent[c] += (size_t)n;
			}
			if (!(p[c].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			n = recv(cfd[c], buf, sizeof(buf), MSG_DONTWAIT);
			if (n == -1 && errno == EAGAIN)
				continue;
			assert_true(n > 0);
			assert_true(got[c] + (size_t)n <= len[c]);
			assert_memory_equal(buf, out[c] + got[c], (size_t)n);
			got[c] += (size_t)n;
			if (got[c] == len[c])
				left--;
		}
	}
	for (int c = 0; c < RELAY_CONNS; c++)
		free(out[c]);
}

/*
 * Many sessions relaying at once, with the relay's io_uring batches (@ring)
 * and with plain system calls: every byte comes back in order, small
 * messages and 300 KB ones (more than a batch buffer, and more than the
 * sockets hold, so writes come up short), and each client's FIN comes back
 * as the echo server's.
 */
static void relay_many(bool ring)
{
	uint16_t sport, vport;
	int srv = listen_any(&sport), tmp = listen_any(&vport), cfd[RELAY_CONNS];
	json_t *snap = snap_with("LB_ALGORITHM_ROUND_ROBIN", true, NULL);
	struct px *px = NULL;
	char *err = NULL;
	pthread_t echo;

	close(tmp);
	snap_on_loopback(snap, vport, "127.0.0.1", sport);
	assert_int_equal(pthread_create(&echo, NULL, echo_server, (void *)(intptr_t)srv), 0);
	setenv("CLONELB_IO_URING", ring ? "1" : "0", 1);
	assert_int_equal(px_start(1, PX_SCHED_NORMAL, NULL, &px, &err), 0);
	unsetenv("CLONELB_IO_URING");
	/* A kernel that offers io_uring gets it used; one that refuses it
	 * (kernel.io_uring_disabled, seccomp) leaves this test nothing to test. */
	if (ring && !px->w[0].ring) {
		struct io_uring ur;
		int r = io_uring_queue_init(8, &ur, 0);
		if (r == 0)
			io_uring_queue_exit(&ur);
		assert_int_not_equal(r, 0); /* the kernel has it: the worker should too */
		px_stop(px);
		shutdown(srv, SHUT_RDWR);
		pthread_join(echo, NULL);
		close(srv);
		json_decref(snap);
		skip();
	}
	assert_int_equal(px->w[0].ring != NULL, ring);
	px_apply(px, snap);
	for (int c = 0; c < RELAY_CONNS; c++)
		cfd[c] = connect_vip(vport);
	for (int r = 0; r < 40; r++)
		relay_round(cfd, r, r % 4 == 3 ? 300 * 1000 : 20 * 1000);
	for (int c = 0; c < RELAY_CONNS; c++) {
		char b;
		struct pollfd p = {.fd = cfd[c], .events = POLLIN};
		assert_int_equal(shutdown(cfd[c], SHUT_WR), 0);
		assert_int_equal(poll(&p, 1, 10000), 1);
		assert_int_equal(read(cfd[c], &b, 1), 0); /* the echo's FIN, passed back */
		close(cfd[c]);
	}
	/* Through the ring, the sessions' first reads went in batches. */
	if (ring)
		assert_true(atomic_load(&px->w[0].ring_reads) > 0);
	px_stop(px);
	shutdown(srv, SHUT_RDWR);
	pthread_join(echo, NULL);
	close(srv);
	json_decref(snap);
}

static void test_relay_through_io_uring(void **state)
{
	relay_many(true);
}

static void test_relay_with_plain_system_calls(void **state)
{
	relay_many(false);
}

/* What the hook saw of an IPv6 back-end connection. */
static struct {
	atomic_int connects;
	atomic_bool bound_no_port, v6_server, v4_client;
} hk6;

static void hook6_connect(void *ctx, const struct px_conn_info *ci)
{
	union addr_any a;
	socklen_t len = sizeof(a);

	/* An IPv6 socket, address and port still left to connect(); the SE's
	 * IPv6 address towards the server is the route's. */
	atomic_store(&hk6.bound_no_port, getsockname(ci->fd, &a.sa, &len) == 0 &&
						 a.sa.sa_family == AF_INET6 && addr_port(&a) == 0 &&
						 IN6_IS_ADDR_UNSPECIFIED(&a.in6.sin6_addr) &&
						 IN6_IS_ADDR_LOOPBACK(&ci->local.in6.sin6_addr));
	atomic_store(&hk6.v6_server, ci->server.sa.sa_family == AF_INET6 &&
					     ci->local.sa.sa_family == AF_INET6);
	atomic_store(&hk6.v4_client, ci->client.sa.sa_family == AF_INET);
	atomic_fetch_add(&hk6.connects, 1);
}

/* An IPv4 client of an IPv6 pool on loopback: the back-end socket is IPv6,
 * bound without a port before connect(), and bytes go through. */
static void test_ipv4_client_ipv6_server(void **state)
{
	const struct px_conn_hook hook = {hook6_connect, NULL, NULL};
	struct sockaddr_in6 sa = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
	socklen_t len = sizeof(sa);
	uint16_t vport;
	int srv = socket(AF_INET6, SOCK_STREAM, 0), tmp = listen_any(&vport), cfd = -1, bfd;
	json_t *snap = snap_with("LB_ALGORITHM_ROUND_ROBIN", true, NULL);
	struct px *px = NULL;
	char *err = NULL, buf[4];

	close(tmp);
	if (srv == -1 || bind(srv, (struct sockaddr *)&sa, sizeof(sa)) == -1) {
		/* No IPv6 on this host's loopback. */
		if (srv != -1)
			close(srv);
		json_decref(snap);
		skip();
	}
	assert_int_equal(listen(srv, 16), 0);
	assert_int_equal(getsockname(srv, (struct sockaddr *)&sa, &len), 0);
	snap_on_loopback(snap, vport, "::1", ntohs(sa.sin6_port));
	assert_int_equal(px_start(1, PX_SCHED_NORMAL, &hook, &px, &err), 0);
	px_apply(px, snap);
	cfd = connect_vip(vport);
	bfd = accept4(srv, NULL, NULL, 0);
	assert_int_not_equal(bfd, -1);
	assert_int_equal(write(cfd, "ping", 4), 4);
	assert_int_equal(read(bfd, buf, 4), 4);
	assert_memory_equal(buf, "ping", 4);
	assert_int_equal(atomic_load(&hk6.connects), 1);
	assert_true(atomic_load(&hk6.bound_no_port));
	assert_true(atomic_load(&hk6.v6_server));
	assert_true(atomic_load(&hk6.v4_client));
	close(cfd);
	close(bfd);
	px_stop(px);
	close(srv);
	json_decref(snap);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gen_parses_services_and_pools),
		cmocka_unit_test(test_round_robin_alternates_and_skips),
		cmocka_unit_test(test_round_robin_even_without_a_member),
		cmocka_unit_test(test_least_connections),
		cmocka_unit_test(test_unchanged_objects_are_reused),
		cmocka_unit_test(test_runtime_view),
		cmocka_unit_test(test_start_apply_stop),
		cmocka_unit_test(test_connection_hook),
		cmocka_unit_test(test_relay_through_io_uring),
		cmocka_unit_test(test_relay_with_plain_system_calls),
		cmocka_unit_test(test_ipv4_client_ipv6_server),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
