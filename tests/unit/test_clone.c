/* test_clone.c: unit tests of the clone engine's helpers that need neither root nor eBPF. */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "clone/clone_int.h"

static void test_parse_mac(void **state)
{
	uint8_t mac[6] = {0}, want[6] = {0x4e, 0xe9, 0x4e, 0x2d, 0xb9, 0xbb};

	assert_int_equal(clone_net_parse_mac("4e:e9:4e:2d:b9:bb", mac), 0);
	assert_memory_equal(mac, want, 6);
	memset(mac, 0, 6);
	assert_int_equal(clone_net_parse_mac("4E-E9-4E-2D-B9-BB", mac), 0);
	assert_memory_equal(mac, want, 6);
}

static void test_parse_mac_rejects(void **state)
{
	static const char *const bad[] = {"", "4e:e9:4e:2d:b9", "4e:e9:4e:2d:b9:bb:01", "4e.e9.4e.2d.b9.bb",
					  "zz:e9:4e:2d:b9:bb", "4e:e9:4e:2d:b9:bbx"};
	uint8_t mac[6] = {1, 2, 3, 4, 5, 6}, orig[6] = {1, 2, 3, 4, 5, 6};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(clone_net_parse_mac(bad[i], mac), -EINVAL);
		/* Untouched on failure. */
		assert_memory_equal(mac, orig, 6);
	}
	assert_int_equal(clone_net_parse_mac(NULL, mac), -EINVAL);
}

static void test_route_to_loopback(void **state)
{
	uint32_t src = 0;
	int ifindex = clone_net_route_ifindex(htonl(INADDR_LOOPBACK), &src);

	assert_int_equal(ifindex, (int)if_nametoindex("lo"));
	assert_int_equal(src, htonl(INADDR_LOOPBACK));
}

static void test_neigh_unknown(void **state)
{
	uint8_t mac[6];

	/* 192.0.2.0/24 is TEST-NET-1: never in a neighbour table on "lo". */
	assert_int_equal(clone_net_neigh_lookup(inet_addr("192.0.2.77"), "lo", mac), -ENOENT);
}

static void test_se_uuid_format(void **state)
{
	char buf[128];
	const char *se;
	size_t i;

	clone_net_se_uuid(buf, sizeof(buf));
	se = strstr(buf, ":se-");
	assert_non_null(se);
	assert_true(se > buf);
	assert_int_equal(strlen(se + 4), 12);
	for (i = 0; i < 12; i++)
		assert_non_null(strchr("0123456789abcdef", se[4 + i]));
}

static void test_null_engine(void **state)
{
	assert_null(clone_stats(NULL, "x", true));
	assert_int_equal(clone_conn_count(NULL), -EINVAL);
	assert_string_equal(clone_se_uuid(NULL), "");
	clone_apply(NULL, NULL);
	clone_metrics(NULL, stdout);
	clone_stop(NULL);
	/* The hook must never fail a connection, even without an engine. */
	clone_conn_hook_ops.on_connect(NULL, NULL);
	clone_conn_hook_ops.on_close(NULL, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_mac),
		cmocka_unit_test(test_parse_mac_rejects),
		cmocka_unit_test(test_route_to_loopback),
		cmocka_unit_test(test_neigh_unknown),
		cmocka_unit_test(test_se_uuid_format),
		cmocka_unit_test(test_null_engine),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
