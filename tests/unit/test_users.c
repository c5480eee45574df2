/* test_users.c: password hashes, and the store's rules for users, tenants and roles. */
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
#include "config/users.h"

static char path[64];

static int setup(void **state)
{
	struct cfg_store *st;
	char *err = NULL, *pw = NULL;

	snprintf(path, sizeof(path), "/tmp/clonelb-unit-users-%d.db", getpid());
	unlink(path);
	assert_int_equal(cfg_store_open(path, &st, &err), 0);
	assert_int_equal(cfg_users_seed(st, "first-password", &pw, &err), 0);
	assert_null(pw); /* given, not generated */
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

static int create(struct cfg_store *st, const char *type, const char *json, char **ret_err)
{
	json_t *body = json_loads(json, 0, NULL), *out = NULL;
	int r;

	assert_non_null(body);
	*ret_err = NULL;
	r = cfg_create(st, type, NULL, body, &out, ret_err);
	if (r == 0)
		assert_null(json_object_get(out, "password")); /* never returned */
	json_decref(body);
	json_decref(out);
	return r;
}

/* The user's stored password hash, read from the snapshot (secrets included). */
static char *stored_hash(struct cfg_store *st, const char *user)
{
	json_t *snap = cfg_snapshot(st, NULL);
	const json_t *u = cfg_snap_find(snap, "user", "admin", user);
	char *h = u ? strdup(json_string_value(json_object_get(u, "password"))) : NULL;

	json_decref(snap);
	return h;
}

static void test_hash_and_verify(void **state)
{
	char *a = NULL, *b = NULL;

	(void)state;
	assert_int_equal(cfg_password_hash("correct horse", &a), 0);
	assert_int_equal(cfg_password_hash("correct horse", &b), 0);
	assert_string_not_equal(a, b); /* salted */
	assert_non_null(strstr(a, "pbkdf2_sha256$100000$"));
	assert_true(cfg_password_verify("correct horse", a));
	assert_false(cfg_password_verify("correct horsf", a));
	assert_false(cfg_password_verify("", a));
	assert_false(cfg_password_verify("correct horse", NULL));
	assert_false(cfg_password_verify("correct horse", "pbkdf2_sha256$100000$zz$zz"));
	free(a);
	free(b);
}

static void test_seed_and_password_rules(void **state)
{
	struct cfg_store *st = *state;
	char *err = NULL, *h1, *h2, *gen = NULL;
	json_t *out = NULL, *body;

	h1 = stored_hash(st, "admin");
	assert_non_null(h1);
	assert_null(strstr(h1, "first-password"));
	assert_true(cfg_password_verify("first-password", h1));
	/* Seeding again changes nothing. */
	assert_int_equal(cfg_users_seed(st, NULL, &gen, &err), 0);
	assert_null(gen);
	h2 = stored_hash(st, "admin");
	assert_string_equal(h1, h2);
	free(h2);
	/* A PATCH without the password keeps the hash; a new one is hashed. */
	body = json_pack("{s:s}", "full_name", "Root");
	assert_int_equal(cfg_patch(st, "user", "admin", NULL, NULL, body, &out, &err), 0);
	json_decref(body);
	json_decref(out);
	h2 = stored_hash(st, "admin");
	assert_string_equal(h1, h2);
	free(h2);
	body = json_pack("{s:s}", "password", "second-password");
	assert_int_equal(cfg_patch(st, "user", "admin", NULL, NULL, body, &out, &err), 0);
	assert_null(json_object_get(out, "password"));
	json_decref(body);
	json_decref(out);
	h2 = stored_hash(st, "admin");
	assert_true(cfg_password_verify("second-password", h2));
	assert_false(cfg_password_verify("first-password", h2));
	free(h1);
	free(h2);
	assert_int_equal(create(st, "user", "{\"name\": \"bob\", \"password\": \"short\"}", &err),
			 -EINVAL);
	assert_string_equal(err, "password: shorter than 8 characters");
	free(err);
}

static void test_access_and_tenants(void **state)
{
	struct cfg_store *st = *state;
	char *err = NULL;

	assert_int_equal(create(st, "user",
				"{\"name\": \"bob\", \"access\": [{\"tenant_ref\": \"t9\", "
				"\"role_ref\": \"Tenant-Admin\"}]}",
				&err),
			 -EINVAL);
	assert_string_equal(err, "access[1].tenant_ref: tenant 't9' does not exist");
	free(err);
	assert_int_equal(create(st, "pool", "{\"name\": \"p\", \"tenant_ref\": \"t9\"}", &err),
			 -EINVAL);
	free(err);
	assert_int_equal(create(st, "tenant", "{\"name\": \"t9\"}", &err), 0);
	assert_int_equal(create(st, "user",
				"{\"name\": \"bob\", \"access\": [{\"tenant_ref\": \"t9\", "
				"\"role_ref\": \"Tenant-Admin\"}]}",
				&err),
			 0);
	assert_int_equal(cfg_delete(st, "tenant", "t9", NULL, &err), -EBUSY);
	assert_string_equal(err, "tenant 't9' is in use by user 'bob' (access[1].tenant_ref)");
	free(err);
	assert_int_equal(cfg_delete(st, "user", "bob", NULL, &err), 0);
	{
		json_t *body = json_pack("{s:s}", "name", "p"), *out = NULL;
		assert_int_equal(cfg_create(st, "pool", "t9", body, &out, &err), 0);
		json_decref(body);
		json_decref(out);
	}
	assert_int_equal(cfg_delete(st, "tenant", "t9", NULL, &err), -EBUSY);
	assert_string_equal(err, "tenant 't9' still holds 1 object: pool 'p' (delete them first)");
	free(err);
	assert_int_equal(cfg_delete(st, "pool", "p", "t9", &err), 0);
	assert_int_equal(cfg_delete(st, "tenant", "t9", NULL, &err), 0);
	assert_int_equal(cfg_delete(st, "tenant", "admin", NULL, &err), -EBUSY);
	free(err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hash_and_verify),
		cmocka_unit_test_setup_teardown(test_seed_and_password_rules, setup, teardown),
		cmocka_unit_test_setup_teardown(test_access_and_tenants, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
