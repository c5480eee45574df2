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
#include <pthread.h>
#include <sqlite3.h>

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

/* Tenants t1 and t2: a tenant must exist to hold objects (admin always does). */
static void tenants(struct cfg_store *st)
{
	char *err = NULL;

	assert_int_equal(create(st, "tenant", "{\"name\": \"t1\"}", &err), 0);
	assert_int_equal(create(st, "tenant", "{\"name\": \"t2\"}", &err), 0);
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
	tenants(st);
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


static json_t *patch(struct cfg_store *st, const char *tenant, const char *key, const char *if_match,
		     const char *json, int want)
{
	json_t *body = json_loads(json, 0, NULL), *out = NULL;
	char *err = NULL;

	assert_non_null(body);
	assert_int_equal(cfg_patch(st, "pool", key, tenant, if_match, body, &out, &err), want);
	json_decref(body);
	free(err);
	return out;
}

struct patcher {
	struct cfg_store *st;
	const char *field;
	int n;
	json_int_t other_seen[200]; /* the other field in each answer */
};

static void *patch_loop(void *arg)
{
	struct patcher *p = arg;
	const char *other = strcmp(p->field, "default_server_port") ? "default_server_port" : "servers";

	for (int i = 1; i <= p->n; i++) {
		char body[160];
		json_t *out;

		if (strcmp(p->field, "default_server_port") == 0)
			snprintf(body, sizeof(body), "{\"default_server_port\": %d}", 1000 + i);
		else
			snprintf(body, sizeof(body),
				 "{\"servers\": [{\"ip\": {\"addr\": \"10.0.%d.%d\", \"type\": \"V4\"}}]}",
				 i / 200, i % 200 + 1);
		out = patch(p->st, NULL, "shared", NULL, body, 0);
		if (strcmp(other, "servers") == 0) {
			const char *a = json_string_value(json_object_get(json_object_get(
				json_array_get(json_object_get(out, "servers"), 0), "ip"), "addr"));
			p->other_seen[i - 1] = a ? atoi(strrchr(a, '.') + 1) : 0;
		} else {
			p->other_seen[i - 1] = json_integer_value(json_object_get(out, other));
		}
		json_decref(out);
	}
	return NULL;
}

/* Two writers of two fields of one object: neither ever sees the other's
 * field go back, and both last values stay. */
static void test_concurrent_patches(void **state)
{
	struct cfg_store *st = *state;
	struct patcher a = {.st = st, .field = "default_server_port", .n = 150};
	struct patcher b = {.st = st, .field = "servers", .n = 150};
	pthread_t ta, tb;
	json_t *final = NULL;
	char *err;

	assert_int_equal(create(st, "pool", "{\"name\": \"shared\"}", &err), 0);
	pthread_create(&ta, NULL, patch_loop, &a);
	pthread_create(&tb, NULL, patch_loop, &b);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	for (int i = 1; i < 150; i++) {
		assert_true(a.other_seen[i] >= a.other_seen[i - 1]);
		assert_true(b.other_seen[i] >= b.other_seen[i - 1]);
	}
	assert_int_equal(cfg_get(st, "pool", "shared", NULL, &final, &err), 0);
	assert_int_equal(json_integer_value(json_object_get(final, "default_server_port")), 1150);
	assert_string_equal(json_string_value(json_object_get(json_object_get(json_array_get(
				    json_object_get(final, "servers"), 0), "ip"), "addr")),
			    "10.0.0.151");
	json_decref(final);
}

static void test_if_match(void **state)
{
	struct cfg_store *st = *state;
	json_t *v1, *v2, *v3;
	char *err, quoted[64];

	assert_int_equal(create(st, "pool", "{\"name\": \"c\"}", &err), 0);
	v1 = patch(st, NULL, "c", "*", "{\"default_server_port\": 81}", 0);
	v2 = patch(st, NULL, "c", json_string_value(json_object_get(v1, "_last_modified")),
		   "{\"default_server_port\": 82}", 0);
	/* v1 is gone: refused, quoted or not, and nothing changes. */
	snprintf(quoted, sizeof(quoted), "\"%s\"", json_string_value(json_object_get(v1, "_last_modified")));
	assert_null(patch(st, NULL, "c", quoted, "{\"default_server_port\": 83}", -ESTALE));
	assert_null(patch(st, NULL, "c", quoted + 1, "{\"default_server_port\": 83}", -ESTALE));
	v3 = patch(st, NULL, "c", NULL, "{}", 0);
	assert_int_equal(json_integer_value(json_object_get(v3, "default_server_port")), 82);
	json_decref(v1);
	json_decref(v2);
	json_decref(v3);
}

/* Another tenant's object is not found by name or uuid, and nothing names it. */
static void test_tenant_scoping(void **state)
{
	struct cfg_store *st = *state;
	json_t *o = NULL, *body = json_pack("{ss}", "name", "x");
	char *err = NULL, uuid[128];

	tenants(st);
	assert_int_equal(create_in(st, "t1", "pool", "{\"name\": \"t1-only\"}", &err), 0);
	assert_int_equal(cfg_get(st, "pool", "t1-only", "t1", &o, &err), 0);
	snprintf(uuid, sizeof(uuid), "%s", json_string_value(json_object_get(o, "uuid")));
	json_decref(o);
	assert_int_equal(cfg_get(st, "pool", uuid, "t2", &o, &err), -ENOENT);
	assert_null(strstr(err, "t1"));
	free(err);
	assert_null(patch(st, "t2", uuid, NULL, "{\"default_server_port\": 9}", -ENOENT));
	assert_int_equal(cfg_delete(st, "pool", uuid, "t2", &err), -ENOENT);
	free(err);
	assert_int_equal(cfg_delete(st, "pool", uuid, NULL, &err), -ENOENT);
	free(err);
	/* A body cannot choose a tenant, and "*" writes nothing. */
	assert_int_equal(create_in(st, "t2", "pool", "{\"name\": \"y\", \"tenant_ref\": \"t1\"}", &err),
			 -EINVAL);
	assert_string_equal(err, "tenant_ref: \"t1\" is not the tenant of the request ('t2')");
	free(err);
	assert_int_equal(cfg_create(st, "pool", "*", body, &o, &err), -EINVAL);
	free(err);
	json_decref(body);
	assert_int_equal(count(st, "pool"), 1);
}

static void test_list_filtered(void **state)
{
	struct cfg_store *st = *state;
	struct cfg_filter f = {.name = "b"};
	json_t *out = NULL;
	size_t n = 0;
	char *err;

	for (const char *const *p = (const char *const[]){"a", "b", "bb", "c", "d", NULL}; *p; p++) {
		char json[64];
		snprintf(json, sizeof(json), "{\"name\": \"%s\"}", *p);
		assert_int_equal(create(st, "pool", json, &err), 0);
	}
	tenants(st);
	assert_int_equal(create_in(st, "t2", "pool", "{\"name\": \"b\"}", &err), 0);
	assert_int_equal(cfg_list_filtered(st, "pool", NULL, &f, &out, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(out, 0), "name")), "b");
	json_decref(out);
	f = (struct cfg_filter){.offset = 2, .limit = 2};
	assert_int_equal(cfg_list_filtered(st, "pool", NULL, &f, &out, &n, &err), 0);
	assert_int_equal(n, 5);
	assert_int_equal(json_array_size(out), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(out, 0), "name")), "bb");
	json_decref(out);
}

/* A change copies only what it touches: unchanged objects and lists are the
 * same json_t in the next snapshot; the revision counts commits. */
static void test_snapshot_shares_unchanged(void **state)
{
	struct cfg_store *st = *state;
	json_t *s1, *s2;
	uint64_t r1, r2;
	char *err;

	assert_int_equal(create(st, "healthmonitor", "{\"name\": \"hm\", \"type\": \"HEALTH_MONITOR_TCP\"}",
				&err), 0);
	assert_int_equal(create(st, "pool", "{\"name\": \"p\"}", &err), 0);
	assert_int_equal(create(st, "pool", "{\"name\": \"q\"}", &err), 0);
	s1 = cfg_snapshot(st, &r1);
	json_decref(patch(st, NULL, "q", NULL, "{\"default_server_port\": 81}", 0));
	s2 = cfg_snapshot(st, &r2);
	assert_int_equal(r1, 3);
	assert_int_equal(r2, 4);
	assert_ptr_equal(json_object_get(s1, "healthmonitor"), json_object_get(s2, "healthmonitor"));
	assert_ptr_equal(cfg_snap_find(s1, "pool", "admin", "p"), cfg_snap_find(s2, "pool", "admin", "p"));
	assert_ptr_not_equal(cfg_snap_find(s1, "pool", "admin", "q"),
			     cfg_snap_find(s2, "pool", "admin", "q"));
	assert_int_equal(json_integer_value(json_object_get(cfg_snap_find(s1, "pool", "admin", "q"),
							    "default_server_port")), 80);
	json_decref(s1);
	json_decref(s2);
}

/* Runs @sql on the closed store *@state, then opens it: the damage must be
 * named (@want NULL: it must open again, into *@state). */
static void reopen_after(void **state, const char *sql, const char *want)
{
	struct cfg_store *st = NULL;
	sqlite3 *db;
	char *err = NULL;

	cfg_store_close(*state);
	*state = NULL;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	if (!want) {
		assert_int_equal(cfg_store_open(path, &st, &err), 0);
		*state = st;
		return;
	}
	assert_int_equal(cfg_store_open(path, &st, &err), -EIO);
	if (!strstr(err, want))
		fail_msg("'%s' does not name '%s'", err, want);
	free(err);
}

static void test_damaged_rows_refused(void **state)
{
	char *err;

	assert_int_equal(create(*state, "pool", "{\"name\": \"p\"}", &err), 0);
	assert_int_equal(create(*state, "pool", "{\"name\": \"q\"}", &err), 0);
	/* Rows 1 to 3 are the built-in Default-Group, vrfcontext global and
	 * sslprofile System-Standard. */
	reopen_after(state, "UPDATE objects SET body = json_remove(body, '$.uuid') WHERE name = 'q'",
		     "row 5 (pool 'q'): body has no uuid");
	reopen_after(state, "UPDATE objects SET body = '[1]' WHERE name = 'q'",
		     "row 5 (pool 'q'): body is not a JSON object");
	reopen_after(state, "UPDATE objects SET type = 'nope', body = '{}' WHERE name = 'q'",
		     "row 5 (nope 'q'): unknown object type");
	reopen_after(state, "DELETE FROM objects WHERE name = 'q'", NULL);
	assert_int_equal(count(*state, "pool"), 1);
}

/* The first element of list @field of @type @name, as the store gives it. */
static char *first_ref(struct cfg_store *st, const char *type, const char *name, const char *field)
{
	json_t *o = NULL;
	char *err = NULL, *v;

	assert_int_equal(cfg_get(st, type, name, NULL, &o, &err), 0);
	v = strdup(json_string_value(json_array_get(json_object_get(o, field), 0)) ?: "");
	json_decref(o);
	return v;
}

static void test_refs_held_as_uuids_and_migrated(void **state)
{
	json_t *hm = NULL, *body, *out = NULL;
	char *err = NULL, *ref, sql[256];
	sqlite3 *db;
	sqlite3_stmt *q;

	assert_int_equal(create(*state, "healthmonitor", "{\"name\": \"hm\", \"type\": "
							 "\"HEALTH_MONITOR_TCP\"}",
				&err),
			 0);
	assert_int_equal(cfg_get(*state, "healthmonitor", "hm", NULL, &hm, &err), 0);
	assert_int_equal(create(*state, "pool",
				"{\"name\": \"p\", \"health_monitor_refs\": "
				"[\"/api/healthmonitor?name=hm\"]}",
				&err),
			 0);
	ref = first_ref(*state, "pool", "p", "health_monitor_refs");
	assert_string_equal(ref, json_string_value(json_object_get(hm, "uuid")));
	free(ref);
	/* References hold uuids: renaming the monitor keeps the pool's. */
	body = json_pack("{s:s}", "name", "hm2");
	assert_int_equal(cfg_patch(*state, "healthmonitor", "hm", NULL, NULL, body, &out, &err), 0);
	json_decref(body);
	json_decref(out);
	ref = first_ref(*state, "pool", "p", "health_monitor_refs");
	assert_string_equal(ref, json_string_value(json_object_get(hm, "uuid")));
	free(ref);
	/* A row that names its reference (an older store) is rewritten at open. */
	reopen_after(state,
		     "UPDATE objects SET body = json_set(body, '$.health_monitor_refs', "
		     "json_array('hm2')) WHERE name = 'p'",
		     NULL);
	ref = first_ref(*state, "pool", "p", "health_monitor_refs");
	assert_string_equal(ref, json_string_value(json_object_get(hm, "uuid")));
	free(ref);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	snprintf(sql, sizeof(sql),
		 "SELECT json_extract(body, '$.health_monitor_refs[0]') FROM objects WHERE name = 'p'");
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &q, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(q), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(q, 0),
			    json_string_value(json_object_get(hm, "uuid")));
	sqlite3_finalize(q);
	sqlite3_close(db);
	json_decref(hm);
	/* The cloud is built in: a row of it is damage. */
	reopen_after(state,
		     "INSERT INTO objects (type, uuid, name, tenant, body) VALUES ('cloud', 'cloud-1', "
		     "'c', 'admin', '{}')",
		     "(cloud 'c'): type cloud is built in, never stored");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_duplicate_and_missing_reference, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delete_in_use_and_snapshot, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_patches, setup, teardown),
		cmocka_unit_test_setup_teardown(test_if_match, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tenant_scoping, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list_filtered, setup, teardown),
		cmocka_unit_test_setup_teardown(test_snapshot_shares_unchanged, setup, teardown),
		cmocka_unit_test_setup_teardown(test_damaged_rows_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refs_held_as_uuids_and_migrated, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
