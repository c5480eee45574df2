/* test_schema.c: syntax checks and shell value parsing of the object model. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "config/refschema.h"
#include "config/rules.h"
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
	expect_error("trafficcloneprofile", "{\"plaintext_for_tls_pools\": 1}",
		     "plaintext_for_tls_pools: expected true or false, got 1");
}

/* IPv6 addresses and prefixes: accepted, stored canonical, typed by what they are. */
static void test_ipv6(void **state)
{
	json_t *o = json_loads("{\"servers\": [{\"ip\": {\"addr\": \"FD00:0:0::0:A\"}}]}", 0, NULL);
	char *err = NULL;

	assert_int_equal(cfg_check_object(cfg_type_find("pool"), o, true, "", &err), 0);
	json_t *ip = json_object_get(json_array_get(json_object_get(o, "servers"), 0), "ip");
	assert_string_equal(json_string_value(json_object_get(ip, "addr")), "fd00::a");
	assert_string_equal(json_string_value(json_object_get(ip, "type")), "V6");
	json_decref(o);

	assert_null(check("trafficcloneprofile",
			  "{\"clone_servers\": [{\"ip_address\": {\"addr\": \"fd00:3::2\", \"type\": "
			  "\"V6\"}, \"subnet\": {\"ip_addr\": {\"addr\": \"fd00:3::\"}, \"mask\": "
			  "128}}]}"));
	expect_error("pool", "{\"servers\": [{\"ip\": {\"addr\": \"fd00::1\", \"type\": \"V4\"}}]}",
		     "servers[1].ip.type: 'fd00::1' is an IPv6 address, not V4 (type V6)");
	expect_error("pool", "{\"servers\": [{\"ip\": {\"addr\": \"10.0.0.1\", \"type\": \"V6\"}}]}",
		     "servers[1].ip.type: '10.0.0.1' is an IPv4 address, not V6 (type V4)");
	expect_error("pool", "{\"servers\": [{\"ip\": {\"addr\": \"fd00::1\", \"type\": \"V5\"}}]}",
		     "servers[1].ip.type: unsupported address type \"V5\" (V4 or V6)");
	expect_error("pool", "{\"servers\": [{\"ip\": {\"addr\": \"fd00::g\"}}]}",
		     "servers[1].ip: invalid IPv6 address 'fd00::g'");
	expect_error("trafficcloneprofile",
		     "{\"clone_servers\": [{\"ip_address\": {\"addr\": \"fd00::2\"}, \"subnet\": "
		     "{\"ip_addr\": {\"addr\": \"fd00::\"}, \"mask\": 129}}]}",
		     "clone_servers[1].subnet.mask: invalid prefix length 129 (0..128 for IPv6)");
	expect_error("trafficcloneprofile",
		     "{\"clone_servers\": [{\"ip_address\": {\"addr\": \"10.0.0.2\"}, \"subnet\": "
		     "{\"ip_addr\": {\"addr\": \"10.0.0.0\"}, \"mask\": 64}}]}",
		     "clone_servers[1].subnet.mask: invalid prefix length 64 (0..32)");
	err = check("pool", "{\"servers\": [{\"ip\": {\"addr\": \"fd00::1:2:3:4:5:6:7\"}}]}");
	assert_non_null(err);
	assert_null(strstr(err, "IPv4"));
	free(err);
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
	assert_true(json_is_false(json_object_get(o, "plaintext_for_tls_pools")));
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
	/* IPv6: typed V6 by the shell, shown canonical. */
	assert_int_equal(cfg_value_parse(f, "FD00:3:0::/64", &v, &err), 0);
	assert_string_equal(json_string_value(json_object_get(json_object_get(v, "ip_addr"), "type")),
			    "V6");
	s = cfg_value_format(f, v);
	assert_string_equal(s, "fd00:3::/64");
	free(s);
	json_decref(v);
	err = NULL;
	assert_int_not_equal(cfg_value_parse(f, "fd00:3::/129", &v, &err), 0);
	assert_string_equal(err, "subnet.mask: invalid prefix length 129 (0..128 for IPv6)");
	free(err);
}

static void test_vs_needs_vip_and_service(void **state)
{
	/* vip or vsvip_ref: a rule of the store (config/rules_service.c), not of the schema. */
	expect_error("virtualservice", "{\"vip\": [], \"services\": []}",
		     "services: at least one entry is required");
	expect_error("virtualservice",
		     "{\"vip\": [{\"ip_address\": {\"addr\": \"10.1.1.1\"}}], \"services\": "
		     "[{\"port\": 70000}]}",
		     "services[1].port: invalid value 70000");
}

/* @json checked as @type: accepted, and the object as stored. */
static json_t *accepted(const char *type, const char *json)
{
	json_t *o = json_loads(json, 0, NULL);
	char *err = NULL;

	assert_non_null(o);
	if (cfg_check_object(cfg_type_find(type), o, true, "", &err) < 0)
		fail_msg("%s refused: %s", json, err);
	return o;
}

static void test_reference_fields_at_default(void **state)
{
	json_t *o = accepted("pool", "{\"servers\": [{\"ip\": {\"addr\": \"10.0.0.1\"}, "
				     "\"ratio\": 1, \"hostname\": \"a.lab\"}], \"ignore_server_port\": "
				     "false, \"cloud_ref\": \"/api/cloud/?name=Default-Cloud\", "
				     "\"url\": \"https://x/api/pool/p\", \"description\": \"d\"}");

	/* At their default: stored as sent (url is the store's: cfg_rules_meta drops it). */
	assert_true(json_is_false(json_object_get(o, "ignore_server_port")));
	assert_string_equal(json_string_value(json_object_get(o, "description")), "d");
	assert_int_equal(json_integer_value(json_object_get(
				 json_array_get(json_object_get(o, "servers"), 0), "ratio")),
			 1);
	json_decref(o);
}

static void test_reference_fields_not_default_refused(void **state)
{
	expect_error("virtualservice", "{\"east_west_placement\": true}",
		     "virtualservice.east_west_placement: not supported by clonelb (got true; only "
		     "the default false)");
	expect_error("pool", "{\"servers\": [{\"ip\": {\"addr\": \"10.0.0.1\"}, \"ratio\": 4}]}",
		     "servers[1].ratio: not supported by clonelb (got 4; only the default 1)");
	expect_error("healthmonitor",
		     "{\"type\": \"HEALTH_MONITOR_TCP\", \"tcp_monitor\": {\"tcp_half_open\": true}}",
		     "tcp_monitor.tcp_half_open: not supported by clonelb (got true");
	expect_error("healthmonitor", "{\"type\": \"HEALTH_MONITOR_TCP\", \"dns_monitor\": "
				      "{\"qtype\": \"DNS_QUERY_TYPE_ANY\"}}",
		     "healthmonitor.dns_monitor.qtype: not supported by clonelb");
	expect_error("pool", "{\"lb_algorithm\": \"LB_ALGORITHM_CONSISTENT_HASH\"}",
		     "pool.lb_algorithm: LB_ALGORITHM_CONSISTENT_HASH is not supported by clonelb "
		     "(supported: LB_ALGORITHM_ROUND_ROBIN, LB_ALGORITHM_LEAST_CONNECTIONS)");
	expect_error("pool", "{\"lb_algorithm\": \"LB_NOSUCH\"}",
		     "lb_algorithm: invalid value \"LB_NOSUCH\"");
	expect_error("healthmonitor", "{\"type\": \"HEALTH_MONITOR_TCP\", \"xyz\": 1}",
		     "xyz: unknown field 'xyz' of healthmonitor");
	expect_error("healthmonitor", "{\"type\": \"HEALTH_MONITOR_TCP\", \"markers\": [{\"key\": 1}]}",
		     "healthmonitor.markers[1].key: expected a string, got 1");
}

/* The least a virtual service needs, as JSON members. */
#define VS_MIN "\"vip\": [{\"ip_address\": {\"addr\": \"10.0.0.1\"}}], \"services\": [{\"port\": 80}]"

static void test_reference_lists_objects_and_refs(void **state)
{
	json_t *o;

	/* A list of a feature clonelb lacks: only empty. */
	expect_error("virtualservice", "{\"http_policies\": [{\"index\": 1}]}",
		     "virtualservice.http_policies: not supported by clonelb (got [{\"index\":1}]; "
		     "only the default [])");
	/* An object of one: every field of it at its default, at any depth. */
	o = accepted("virtualservice", "{\"analytics_policy\": {\"full_client_logs\": "
				       "{\"enabled\": false}}, \"http_policies\": [], " VS_MIN "}");
	json_decref(o);
	expect_error("virtualservice",
		     "{\"analytics_policy\": {\"full_client_logs\": {\"enabled\": true}}}",
		     "virtualservice.analytics_policy.full_client_logs.enabled: not supported by "
		     "clonelb (got true; only the default false)");
	/* A system-object default in every reference form, and nothing else. */
	o = accepted("virtualservice", "{\"se_group_ref\": \"https://c/api/serviceenginegroup/"
				       "seg-1#Default-Group\", \"vrf_context_ref\": \"/api/vrfcontext"
				       "?name=global\", \"network_profile_ref\": \"System-TCP-Proxy\", " VS_MIN
				       "}");
	json_decref(o);
	expect_error("virtualservice",
		     "{\"network_profile_ref\": \"/api/networkprofile?name=System-UDP-Fast-Path\"}",
		     "virtualservice.network_profile_ref: not supported by clonelb (got "
		     "\"/api/networkprofile?name=System-UDP-Fast-Path\"");
	expect_error("virtualservice", "{\"east_west_placement\": \"true\"}",
		     "virtualservice.east_west_placement: expected true or false, got \"true\"");
}

/* Every reference field has a default the policy accepts, and the table
 * never shadows a field of schema.c it would decide instead. */
static void test_policy_defaults_accepted(void **state)
{
	for (size_t i = 0; cfg_types[i]; i++) {
		json_t *p = cfg_ref_policy(cfg_types[i]);
		json_t *d = json_deep_copy(
			json_object_get(json_object_get(json_object_get(p, "objects"),
							cfg_types[i]->name),
					"defaults"));
		char *err = NULL;
		const char *k;
		json_t *v;

		/* Every type the table describes but the clone profile lacks some of
		 * the reference; types outside the table (users, SE groups) have none. */
		const json_t *ref = json_object_get(
			json_object_get(json_object_get(p, "objects"), cfg_types[i]->name),
			"reference");
		assert_true(json_object_size(d) > 0 || !json_is_string(ref) ||
			    !strcmp(cfg_types[i]->name, "trafficcloneprofile"));
		json_object_foreach(d, k, v)
		{
			int r = cfg_ref_check(cfg_types[i], k, v, cfg_types[i]->name, k, &err);
			if (r < 0)
				fail_msg("%s.%s at its default refused: %s", cfg_types[i]->name, k,
					 err ? err : "unknown");
		}
		json_decref(d);
		json_decref(p);
	}
}

static void test_upgrade_old_shapes(void **state)
{
	json_t *hm = json_loads("{\"type\": \"HEALTH_MONITOR_HTTP\", \"http_request\": \"GET /a "
				"HTTP/1.0\", \"http_response_code\": [\"HTTP_4XX\"]}",
				0, NULL);
	json_t *tcp = json_loads("{\"type\": \"HEALTH_MONITOR_TCP\", \"http_request\": \"HEAD / "
				 "HTTP/1.0\"}",
				 0, NULL);
	json_t *m;

	cfg_rules_upgrade(cfg_type_find("healthmonitor"), hm);
	m = json_object_get(hm, "http_monitor");
	assert_string_equal(json_string_value(json_object_get(m, "http_request")),
			    "GET /a HTTP/1.0");
	assert_string_equal(json_string_value(json_array_get(json_object_get(m, "http_response_code"), 0)),
			    "HTTP_4XX");
	assert_null(json_object_get(hm, "http_request"));
	cfg_rules_upgrade(cfg_type_find("healthmonitor"), tcp);
	assert_null(json_object_get(tcp, "http_request"));
	assert_null(json_object_get(tcp, "http_monitor"));
	json_decref(hm);
	json_decref(tcp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ipv4),
		cmocka_unit_test(test_mac),
		cmocka_unit_test(test_profile_errors_name_field_and_value),
		cmocka_unit_test(test_ipv6),
		cmocka_unit_test(test_eleven_clone_servers),
		cmocka_unit_test(test_defaults_filled),
		cmocka_unit_test(test_value_parse_and_format),
		cmocka_unit_test(test_vs_needs_vip_and_service),
		cmocka_unit_test(test_reference_fields_at_default),
		cmocka_unit_test(test_reference_fields_not_default_refused),
		cmocka_unit_test(test_policy_defaults_accepted),
		cmocka_unit_test(test_reference_lists_objects_and_refs),
		cmocka_unit_test(test_upgrade_old_shapes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
