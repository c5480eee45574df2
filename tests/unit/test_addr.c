/* test_addr.c: addresses of either family, their text forms, and the IPv6 subnet checks of netif. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "lib/addr.h"
#include "lib/netif.h"

static void test_parse_and_print(void **state)
{
	union addr_any a;
	char buf[ADDR_PORT_STRLEN];

	assert_int_equal(addr_parse("10.0.0.1", &a), AF_INET);
	addr_set_port(&a, 80);
	assert_string_equal(addr_ntop_port(&a, buf), "10.0.0.1:80");
	assert_int_equal(addr_parse("FD00:0:0::A", &a), AF_INET6);
	addr_set_port(&a, 8443);
	assert_int_equal(addr_port(&a), 8443);
	assert_string_equal(addr_ntop_port(&a, buf), "[fd00::a]:8443");
	assert_string_equal(addr_canonical("fd00:0000::0001", buf), "fd00::1");
	/* No brackets, ports, zones or short IPv4 forms. */
	assert_int_equal(addr_parse("[fd00::1]", NULL), -EINVAL);
	assert_int_equal(addr_parse("fe80::1%eth0", NULL), -EINVAL);
	assert_int_equal(addr_parse("10.1", NULL), -EINVAL);
	assert_int_equal(addr_parse("10.0.0.1:80", NULL), -EINVAL);
	assert_null(addr_canonical("fd00::g", buf));
}

static void test_compare_and_kinds(void **state)
{
	union addr_any a, b, c;

	addr_parse("fd00::1", &a);
	addr_parse("fd00:0::1", &b);
	addr_parse("10.0.0.1", &c);
	assert_true(addr_equal(&a, &b));
	assert_false(addr_equal(&a, &c));
	addr_set_port(&b, 1);
	assert_false(addr_equal(&a, &b));
	addr_any_of(AF_INET6, &a);
	assert_true(addr_is_any(&a));
	assert_int_equal(addr_len(&a), sizeof(struct sockaddr_in6));
	assert_int_equal(addr_len(&c), sizeof(struct sockaddr_in));
	addr_parse("fe80::2", &a);
	assert_true(addr_is_link_local(&a));
	assert_false(addr_is_link_local(&c));
}

static void test_ipv6_host_problem(void **state)
{
	union addr_any a;

	addr_parse("fd00:10:3::", &a);
	assert_string_equal(netif_host_problem(&a, 64), "Subnet-Router anycast");
	assert_null(netif_host_problem(&a, 128));
	addr_parse("fd00:10:3::2", &a);
	assert_null(netif_host_problem(&a, 64));
	addr_parse("10.10.3.0", &a);
	assert_string_equal(netif_host_problem(&a, 24), "network");
}

static void test_ipv6_loopback_is_local(void **state)
{
	union addr_any a;
	char ifname[IF_NAMESIZE] = "";
	int mask = -1;

	/* ::1 exists wherever IPv6 is on; a host without IPv6 skips this. */
	addr_parse("::1", &a);
	if (netif_is_local(&a, ifname) != 1)
		skip();
	assert_string_equal(ifname, "lo");
	assert_int_equal(netif_prefix_on("lo", &a, NULL, &mask, NULL), 0);
	assert_int_equal(mask, 128);
	addr_parse("fd00:99::1", &a);
	assert_int_equal(netif_is_local(&a, NULL), 0);
	assert_int_equal(netif_prefix_on("lo", &a, NULL, &mask, NULL), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_and_print),
		cmocka_unit_test(test_compare_and_kinds),
		cmocka_unit_test(test_ipv6_host_problem),
		cmocka_unit_test(test_ipv6_loopback_is_local),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
