/* test_bgp.c: the BIRD configuration route health injection writes, checked by BIRD's own parser. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "se/bgp_int.h"

#define BIRD "/usr/sbin/bird"

static uint32_t ip(const char *s)
{
	struct in_addr a;

	assert_int_equal(inet_pton(AF_INET, s, &a), 1);
	return a.s_addr;
}

/* @s (either family) as the configuration holds it. */
static union addr_any any(const char *s)
{
	union addr_any a;

	assert_true(addr_parse(s, &a) > 0);
	return a;
}

static void contains(const char *text, const char *needle)
{
	if (!strstr(text, needle))
		fail_msg("configuration lacks \"%s\":\n%s", needle, text);
}

/* Runs "bird -p -c FILE" (parse only) on @text: 0 when BIRD accepts it. */
static int bird_parses(const char *text)
{
	char path[] = "/tmp/clonelb-unit-bird-XXXXXX", *cmd;
	int fd = mkstemp(path), r;
	FILE *f = fdopen(fd, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	assert_true(asprintf(&cmd, BIRD " -p -c %s 2>&1", path) > 0);
	r = system(cmd);
	free(cmd);
	unlink(path);
	return r;
}

static void test_two_vips_two_peers_bfd_on_one(void **state)
{
	struct se_bgp_peer peers[] = {{any("10.30.2.1"), 65100, true},
				      {any("10.30.2.2"), 4200000000LL, false}};
	union addr_any vips[] = {any("10.30.9.10"), any("10.30.9.11")};
	struct se_bgp_want w = {.router_id = ip("10.30.2.11"), .local_as = 65000, .hold_time = 9,
				.keepalive = 3, .peers = peers, .npeers = 2, .announce = vips,
				.nannounce = 2};
	char *text = se_bird_config(&w);

	contains(text, "router id 10.30.2.11;");
	contains(text, "route 10.30.9.10/32 blackhole;");
	contains(text, "route 10.30.9.11/32 blackhole;");
	contains(text, "protocol bfd {");
	contains(text, "protocol bgp peer_10_30_2_1 {");
	contains(text, "neighbor 10.30.2.1 as 65100;");
	contains(text, "neighbor 10.30.2.2 as 4200000000;");
	contains(text, "hold time 9;");
	contains(text, "keepalive time 3;");
	contains(text, "export where proto = \"rhi_vips\"");
	/* Nothing learnt may reach the SE's kernel tables. */
	assert_null(strstr(text, "protocol kernel"));
	assert_int_equal(strstr(strstr(text, "peer_10_30_2_1"), "bfd on;") <
				 strstr(text, "peer_10_30_2_2"),
			 1);
	assert_null(strstr(strstr(text, "peer_10_30_2_2"), "bfd on;"));
	if (access(BIRD, X_OK) == 0)
		assert_int_equal(bird_parses(text), 0);
	free(text);
}

/* Everything withdrawn: an empty static protocol, still a valid configuration. */
static void test_nothing_to_announce_no_bfd(void **state)
{
	struct se_bgp_peer peer = {any("192.0.2.1"), 64512, false};
	struct se_bgp_want w = {.router_id = ip("192.0.2.10"), .local_as = 1, .hold_time = 3,
				.keepalive = 1, .peers = &peer, .npeers = 1};
	char *text = se_bird_config(&w);

	assert_null(strstr(text, "\troute "));
	assert_null(strstr(text, "protocol bfd"));
	if (access(BIRD, X_OK) == 0)
		assert_int_equal(bird_parses(text), 0);
	free(text);
}

/* An IPv6 session carries the IPv6 VIPs (/128, rhi_vips6), the IPv4 one the
 * IPv4 VIPs: each an address family of its own session. */
static void test_dual_stack_peers_and_vips(void **state)
{
	struct se_bgp_peer peers[] = {{any("10.30.2.1"), 65100, false},
				      {any("fd00:30:2::1"), 65100, true}};
	union addr_any vips[] = {any("10.30.9.10"), any("fd00:30:9::10")};
	struct se_bgp_want w = {.router_id = ip("10.30.2.11"), .local_as = 65000, .hold_time = 9,
				.keepalive = 3, .peers = peers, .npeers = 2, .announce = vips,
				.nannounce = 2};
	char *text = se_bird_config(&w), *v4 = strstr(text, "protocol static rhi_vips {"),
	     *v6 = strstr(text, "protocol static rhi_vips6 {"), *p6;

	assert_non_null(v4);
	assert_non_null(v6);
	contains(v4, "route 10.30.9.10/32 blackhole;");
	contains(v6, "\tipv6;\n\troute fd00:30:9::10/128 blackhole;\n}");
	assert_true(strstr(v4, "fd00:30:9::10") > v6); /* not among the IPv4 routes */
	contains(text, "protocol bgp peer_fd00_30_2__1 {");
	contains(text, "neighbor fd00:30:2::1 as 65100;");
	p6 = strstr(text, "protocol bgp peer_fd00_30_2__1 {");
	contains(p6, "ipv6 { import none; export where proto = \"rhi_vips6\"; next hop self; };");
	contains(p6, "bfd on;");
	contains(strstr(text, "protocol bgp peer_10_30_2_1 {"),
		 "ipv4 { import none; export where proto = \"rhi_vips\"; next hop self; };");
	if (access(BIRD, X_OK) == 0)
		assert_int_equal(bird_parses(text), 0);
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_two_vips_two_peers_bfd_on_one),
		cmocka_unit_test(test_nothing_to_announce_no_bfd),
		cmocka_unit_test(test_dual_stack_peers_and_vips),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
