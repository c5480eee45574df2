/* test_schema.c: syntax checks and shell value parsing of the object model. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "config/schema.h"

/* Checks @json as an object of @type; returns the error (or NULL), freed by caller. */
static char *check(const char *type, const char *json)
{
	json_t *o = json_loads(json, 0, NULL);
	char *err = NULL;

	assert_non_null(o);
	cfg_check_object(cfg_type_find(type), o, true, "", &err);
	json_decref(o);
	return err;
}

static void expect_error(const char *type, const char *json, const char *needle)
{
	char *err = check(type, json);

	assert_non_null(err);
	if (!strstr(err, needle))
		fail_msg("error \"%s\" does not contain \"%s\"", err, needle);
	free(err);
}

static void test_ipv4(void **state)
{
	assert_int_equal(cfg_parse_ipv4("10.0.0.1", NULL), 0);
	assert_int_not_equal(cfg_parse_ipv4("10.0.0.256", NULL), 0);
	assert_int_not_equal(cfg_parse_ipv4("10.0.0", NULL), 0);
	assert_int_not_equal(cfg_parse_ipv4(" 10.0.0.1", NULL), 0);
}

static void test_mac(void **state)
{
	unsigned char m[6];

	assert_int_equal(cfg_parse_mac("4e:e9:4e:2d:b9:bb", m), 0);
	assert_int_equal(m[0], 0x4e);
	assert_int_equal(m[5], 0xbb);
	assert_int_not_equal(cfg_parse_mac("4e:e9:4e:2d:b9", NULL), 0);
	assert_int_not_equal(cfg_parse_mac("4e:e9:4e:2d:b9:bg", NULL), 0);
	assert_int_not_equal(cfg_parse_mac("4e-e9-4e-2d-b9-bb", NULL), 0);
}

static void test_profile_errors_name_field_and_value(void **state)
{
	expect_error("trafficcloneprofile",
		     "{\"clone_servers\": [{\"ip_address\": {\"addr\": \"10.0.0.256\"}}]}",
		     "clone_servers[1].ip_address: invalid IPv4 address '10.0.0.256'");
	expect_error("trafficcloneprofile",
		     "{\"clone_servers\": [{\"ip_address\": {\"addr\": \"10.0.0.1\"}, \"mac\": "
		     "\"zz:00:00:00:00:00\"}]}",
		     "clone_servers[1].mac: invalid MAC address \"zz:00:00:00:00:00\"");
	expect_error("trafficcloneprofile",
		     "{\"clone_servers\": [{\"ip_address\": {\"addr\": \"10.0.0.1\"}, \"subnet\": "
		     "{\"ip_addr\": {\"addr\": \"10.0.0.0\"}, \"mask\": 33}}]}",
		     "clone_servers[1].subnet.mask: invalid prefix length 33");
	expect_error("trafficcloneprofile", "{\"colour\": 1}", "unknown field 'colour'");
	expect_error("trafficcloneprofile", "{\"preserve_client_ip\": \"yes\"}",
		     "preserve_client_ip: expected true or false, got \"yes\"");
}

static void test_eleven_clone_servers(void **state)
{
	char json[4096] = "{\"clone_servers\": [";

	for (int i = 0; i < 11; i++)
		sprintf(json + strlen(json), "%s{\"ip_address\": {\"addr\": \"10.0.0.%d\"}}",
			i ? ", " : "", i + 1);
	strcat(json, "]}");
	expect_error("trafficcloneprofile", json, "clone_servers: 11 entries, at most 10 allowed");
}

static void test_defaults_filled(void **state)
{
	json_t *o = json_loads("{\"clone_servers\": []}", 0, NULL);
	char *err = NULL;

	assert_int_equal(cfg_check_object(cfg_type_find("trafficcloneprofile"), o, true, "", &err), 0);
	assert_true(json_is_false(json_object_get(o, "preserve_client_ip")));
	assert_string_equal(json_string_value(json_object_get(o, "cloud_ref")), "Default-Cloud");
	json_decref(o);
}

static void test_value_parse_and_format(void **state)
{
	const struct cfg_field *f =
		cfg_field_find(cfg_field_find(cfg_type_find("trafficcloneprofile"), "clone_servers")->sub,
			       "subnet");
	json_t *v = NULL;
	char *err = NULL, *s;

	assert_int_equal(cfg_value_parse(f, "10.10.3.0/24", &v, &err), 0);
	s = cfg_value_format(f, v);
	assert_string_equal(s, "10.10.3.0/24");
	free(s);
	json_decref(v);
	assert_int_not_equal(cfg_value_parse(f, "10.10.3.0/33", &v, &err), 0);
	assert_non_null(strstr(err, "33"));
	free(err);
}

static void test_vs_needs_vip_and_service(void **state)
{
	/* vip or vsvip_ref: a rule of the store (config/rules.c), not of the schema. */
	expect_error("virtualservice", "{\"vip\": [], \"services\": []}",
		     "services: at least one entry is required");
	expect_error("virtualservice",
		     "{\"vip\": [{\"ip_address\": {\"addr\": \"10.1.1.1\"}}], \"services\": "
		     "[{\"port\": 70000}]}",
		     "services[1].port: invalid value 70000");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ipv4),
		cmocka_unit_test(test_mac),
		cmocka_unit_test(test_profile_errors_name_field_and_value),
		cmocka_unit_test(test_eleven_clone_servers),
		cmocka_unit_test(test_defaults_filled),
		cmocka_unit_test(test_value_parse_and_format),
		cmocka_unit_test(test_vs_needs_vip_and_service),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
