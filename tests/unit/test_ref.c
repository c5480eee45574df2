/* test_ref.c: reference forms (config/ref.c) and the reference product's PATCH (config/patch.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "config/patch.h"
#include "config/ref.h"

/* Parses @text and checks what it names. */
static void parses(const char *text, enum cfg_ref_by by, const char *type, const char *key)
{
	struct cfg_ref r = {0};
	char *err = NULL;

	if (cfg_ref_parse(text, &r, &err) < 0)
		fail_msg("'%s' refused: %s", text, err);
	assert_int_equal(r.by, by);
	if (type)
		assert_string_equal(r.type, type);
	else
		assert_null(r.type);
	assert_string_equal(r.key, key);
	cfg_ref_clear(&r);
}

static void refused(const char *text, const char *needle)
{
	struct cfg_ref r = {0};
	char *err = NULL;

	if (cfg_ref_parse(text, &r, &err) == 0)
		fail_msg("'%s' accepted (key '%s')", text, r.key);
	assert_null(r.key);
	if (!strstr(err, needle))
		fail_msg("error \"%s\" does not contain \"%s\"", err, needle);
	free(err);
}

static void test_every_form(void **state)
{
	const char *u = "pool-0b6e51a2-8d1c-4f4b-9d1e-3a5b7c9d1e2f";

	parses("web", CFG_REF_BARE, NULL, "web");
	parses(u, CFG_REF_BARE, NULL, u);
	parses("/api/pool/pool-0b6e51a2-8d1c-4f4b-9d1e-3a5b7c9d1e2f", CFG_REF_UUID, "pool", u);
	parses("https://10.0.0.5/api/pool/pool-0b6e51a2-8d1c-4f4b-9d1e-3a5b7c9d1e2f", CFG_REF_UUID,
	       "pool", u);
	parses("https://ctl.example:8443/api/pool/pool-0b6e51a2-8d1c-4f4b-9d1e-3a5b7c9d1e2f#web",
	       CFG_REF_UUID, "pool", u);
	parses("http://[::1]:80/api/pool/pool-0b6e51a2-8d1c-4f4b-9d1e-3a5b7c9d1e2f", CFG_REF_UUID,
	       "pool", u);
	parses("/api/pool?name=web", CFG_REF_NAME, "pool", "web");
	parses("/api/pool/?name=web", CFG_REF_NAME, "pool", "web");
	parses("https://h/api/tenant?name=admin", CFG_REF_NAME, "tenant", "admin");
	/* Percent escapes are decoded, in names and uuids. */
	parses("/api/pool?name=a%2Db", CFG_REF_NAME, "pool", "a-b");
	parses("/api/pool/pool%2D1", CFG_REF_UUID, "pool", "pool-1");
}

static void test_bad_forms_say_why(void **state)
{
	refused("", "empty reference");
	refused("a/b", "not a name, a uuid or /api/<type>/<uuid>");
	refused("/pool/x", "expected /api/<type>/<uuid>");
	refused("/api/", "no object type after /api/");
	refused("/api/pool/", "expected /api/pool/<uuid>");
	refused("/api/pool/x/y", "expected /api/pool/<uuid>");
	refused("/api/pool?cloud=x", "unknown query parameter 'cloud'");
	refused("/api/pool?name=", "empty or malformed name= value");
	refused("/api/pool?name=a&name=b", "unknown query parameter 'name'");
	refused("/api/pool/%zz", "malformed percent escape");
	refused("/api/pool/%00", "malformed percent escape");
	refused("https://host-only", "expected https://host/api/<type>/<uuid>");
	refused("/api/pool", "expected /api/pool/<uuid> or /api/pool?name=<name>");
}

static void test_url(void **state)
{
	char *u = cfg_ref_url("https://h:8443", "pool", "pool-1", "web");

	assert_string_equal(u, "https://h:8443/api/pool/pool-1#web");
	free(u);
	u = cfg_ref_url(NULL, "pool", "pool-1", NULL);
	assert_string_equal(u, "/api/pool/pool-1");
	free(u);
}

/* Applies PATCH @body to @old (pool objects); returns the result or the error. */
static json_t *patched(const char *old_json, const char *body_json, char **ret_err)
{
	json_t *old = json_loads(old_json, 0, NULL), *body = json_loads(body_json, 0, NULL);
	json_t *fields = NULL, *out = NULL;
	const char *op = NULL;

	assert_non_null(old);
	assert_non_null(body);
	assert_true(cfg_patch_is_ops(body));
	*ret_err = NULL;
	if (cfg_patch_form(body, &op, &fields, ret_err) == 0)
		cfg_patch_apply(cfg_type_find("pool"), old, op, fields, &out, ret_err);
	json_decref(old);
	json_decref(body);
	return out;
}

static void expect_patch(const char *old, const char *body, const char *want)
{
	char *err = NULL;
	json_t *got = patched(old, body, &err), *w = json_loads(want, 0, NULL);

	if (!got)
		fail_msg("PATCH %s refused: %s", body, err);
	if (!json_equal(got, w)) {
		char *g = json_dumps(got, JSON_COMPACT | JSON_SORT_KEYS);
		fail_msg("PATCH %s gave %s, expected %s", body, g, want);
	}
	json_decref(got);
	json_decref(w);
}

static void expect_patch_error(const char *old, const char *body, const char *needle)
{
	char *err = NULL;
	json_t *got = patched(old, body, &err);

	assert_null(got);
	assert_non_null(err);
	if (!strstr(err, needle))
		fail_msg("error \"%s\" does not contain \"%s\"", err, needle);
	free(err);
}

#define POOL                                                                              \
	"{\"name\": \"p\", \"uuid\": \"pool-1\", \"tenant_ref\": \"admin\", "              \
	"\"default_server_port\": 80, \"health_monitor_refs\": [\"hm-1\"], "               \
	"\"servers\": [{\"ip\": {\"addr\": \"10.0.0.1\", \"type\": \"V4\"}, \"enabled\": " \
	"true}]}"

static void test_patch_list_semantics(void **state)
{
	/* add appends elements, skipping one that is there already. */
	expect_patch(POOL,
		     "{\"add\": {\"servers\": [{\"ip\": {\"addr\": \"10.0.0.2\"}}, {\"ip\": "
		     "{\"addr\": \"10.0.0.1\"}}], \"health_monitor_refs\": [\"hm-2\", \"hm-1\"]}}",
		     "{\"name\": \"p\", \"uuid\": \"pool-1\", \"tenant_ref\": \"admin\", "
		     "\"default_server_port\": 80, \"health_monitor_refs\": [\"hm-1\", \"hm-2\"], "
		     "\"servers\": [{\"ip\": {\"addr\": \"10.0.0.1\", \"type\": \"V4\"}, "
		     "\"enabled\": true}, {\"ip\": {\"addr\": \"10.0.0.2\"}}]}");
	/* replace sets whole fields; delete removes matching elements, and a
	 * scalar given to delete goes back to its default. */
	expect_patch(POOL, "{\"replace\": {\"health_monitor_refs\": [], \"default_server_port\": 81}}",
		     "{\"name\": \"p\", \"uuid\": \"pool-1\", \"tenant_ref\": \"admin\", "
		     "\"default_server_port\": 81, \"health_monitor_refs\": [], "
		     "\"servers\": [{\"ip\": {\"addr\": \"10.0.0.1\", \"type\": \"V4\"}, "
		     "\"enabled\": true}]}");
	expect_patch(POOL,
		     "{\"delete\": {\"servers\": [{\"ip\": {\"addr\": \"10.0.0.1\"}}, {\"ip\": "
		     "{\"addr\": \"10.9.9.9\"}}], \"default_server_port\": 80, \"name\": \"p\", "
		     "\"url\": \"/api/pool/pool-1\"}}",
		     "{\"name\": \"p\", \"uuid\": \"pool-1\", \"tenant_ref\": \"admin\", "
		     "\"health_monitor_refs\": [\"hm-1\"], \"servers\": []}");
	/* add and replace rename. */
	expect_patch("{\"name\": \"p\", \"uuid\": \"pool-1\"}", "{\"replace\": {\"name\": \"q\"}}",
		     "{\"name\": \"q\", \"uuid\": \"pool-1\"}");
}

static void test_patch_bad_forms_name_the_field(void **state)
{
	expect_patch_error(POOL, "{\"add\": 5}", "add: expected an object of fields, got 5");
	expect_patch_error(POOL, "{\"add\": {}, \"replace\": {}}",
			   "replace: give one of add, replace or delete in a PATCH, not both add "
			   "and replace");
	expect_patch_error(POOL, "{\"add\": {}, \"name\": \"x\"}",
			   "name: a PATCH with add takes no other field");
	expect_patch_error(POOL, "{\"add\": {\"servers\": 5}}",
			   "add.servers: expected a list of elements to add, got 5");
	expect_patch_error(POOL, "{\"delete\": {\"nope\": 1}}",
			   "delete.nope: unknown field 'nope' of pool");
	expect_patch_error(POOL, "{\"replace\": {\"uuid\": \"pool-2\"}}",
			   "replace.uuid: cannot be changed (got \"pool-2\", the object's is "
			   "'pool-1')");
	expect_patch_error(POOL, "{\"delete\": {\"name\": \"q\"}}",
			   "delete.name: the name cannot be deleted");
	expect_patch_error(POOL, "{\"replace\": {\"tenant_ref\": \"t2\"}}",
			   "replace.tenant_ref: cannot be changed");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_form),
		cmocka_unit_test(test_bad_forms_say_why),
		cmocka_unit_test(test_url),
		cmocka_unit_test(test_patch_list_semantics),
		cmocka_unit_test(test_patch_bad_forms_name_the_field),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
