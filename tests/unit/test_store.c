/* test_store.c: the store's transactions and cross-object rules, on a throw-away database. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "config/store.h"

static char path[64];

static int setup(void **state)
{
	struct cfg_store *st;
	char *err = NULL;

	snprintf(path, sizeof(path), "/tmp/clonelb-unit-%d.db", getpid());
	unlink(path);
	assert_int_equal(cfg_store_open(path, &st, &err), 0);
	*state = st;
	return 0;
}

static int teardown(void **state)
{
	char p[80];

	cfg_store_close(*state);
	unlink(path);
	snprintf(p, sizeof(p), "%s-wal", path);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", path);
	unlink(p);
	return 0;
}

static int create_in(struct cfg_store *st, const char *tenant, const char *type, const char *json,
		     char **ret_err)
{
	json_t *body = json_loads(json, 0, NULL), *out = NULL;
	int r;

	assert_non_null(body);
	*ret_err = NULL;
	r = cfg_create(st, type, tenant, body, &out, ret_err);
	json_decref(body);
	json_decref(out);
	return r;
}

static int create(struct cfg_store *st, const char *type, const char *json, char **ret_err)
{
	return create_in(st, NULL, type, json, ret_err);
}

static size_t count(struct cfg_store *st, const char *type)
{
	json_t *all = NULL;
	char *err = NULL;
	size_t n;

	assert_int_equal(cfg_list(st, type, "*", &all, &err), 0);
	n = json_array_size(all);
	json_decref(all);
	return n;
}

static void test_duplicate_and_missing_reference(void **state)
{
	struct cfg_store *st = *state;
	char *err;

	assert_int_equal(create(st, "pool", "{\"name\": \"p\"}", &err), 0);
	assert_int_equal(create(st, "pool", "{\"name\": \"p\"}", &err), -EEXIST);
	assert_string_equal(err, "name: pool 'p' already exists in tenant 'admin'");
	free(err);
	assert_int_equal(create_in(st, "t2", "pool", "{\"name\": \"p\", \"tenant_ref\": \"t2\"}", &err),
			 0);
	assert_int_equal(create(st, "pool", "{\"name\": \"q\", \"health_monitor_refs\": [\"nope\"]}",
				&err),
			 -EINVAL);
	assert_string_equal(err, "health_monitor_refs[1]: healthmonitor 'nope' does not exist");
	free(err);
	assert_int_equal(count(st, "pool"), 2);
}

static void test_delete_in_use_and_snapshot(void **state)
{
	struct cfg_store *st = *state;
	json_t *snap;
	char *err;

	assert_int_equal(create(st, "healthmonitor", "{\"name\": \"hm\", \"type\": \"HEALTH_MONITOR_TCP\"}",
				&err), 0);
	assert_int_equal(create(st, "pool", "{\"name\": \"p\", \"health_monitor_refs\": [\"hm\"]}", &err),
			 0);
	assert_int_equal(cfg_delete(st, "healthmonitor", "hm", NULL, &err), -EBUSY);
	assert_string_equal(err, "healthmonitor 'hm' is in use by pool 'p' (health_monitor_refs)");
	free(err);
	snap = cfg_snapshot(st, NULL);
	assert_int_equal(json_array_size(json_object_get(snap, "healthmonitor")), 1);
	assert_non_null(cfg_snap_find(snap, "pool", "admin", "p"));
	assert_true(json_integer_value(json_object_get(
			    cfg_snap_find(snap, "pool", "admin", "p"), "_id")) > 0);
	json_decref(snap);
	assert_int_equal(cfg_delete(st, "pool", "p", NULL, &err), 0);
	assert_int_equal(cfg_delete(st, "healthmonitor", "hm", NULL, &err), 0);
	assert_int_equal(count(st, "healthmonitor"), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_duplicate_and_missing_reference, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delete_in_use_and_snapshot, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
