/* test_px.c: unit tests of the data plane without traffic: configuration generations, load-balancing picks, runtime view. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

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
	assert_int_equal(ntohs(p->srv[0]->addr.sin_port), 81);
	assert_int_equal(ntohs(p->srv[1]->addr.sin_port), 8080);
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

	assert_int_equal(px_start(2, NULL, &px, &err), 0);
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gen_parses_services_and_pools),
		cmocka_unit_test(test_round_robin_alternates_and_skips),
		cmocka_unit_test(test_least_connections),
		cmocka_unit_test(test_unchanged_objects_are_reused),
		cmocka_unit_test(test_runtime_view),
		cmocka_unit_test(test_start_apply_stop),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
