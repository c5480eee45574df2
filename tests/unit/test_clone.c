/* test_clone.c: unit tests of the clone engine's helpers that need neither root nor eBPF. */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <stdlib.h>

#include <linux/neighbour.h>

#include "clone/clone_int.h"
#include "lib/netif.h"

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

/* Hands out @n slots at @now into @got; every one must succeed. */
static void take_n(struct clone_slots *sl, int n, uint64_t now, int *got)
{
	int i;

	for (i = 0; i < n; i++) {
		got[i] = clone_slot_take(sl, now);
		assert_true(got[i] >= 0 && got[i] < CLONE_STAT_SLOTS);
	}
}

/* The case: one live server keeps its slot while another server's
 * counters are reset far more often than there are slots. */
static void test_slot_of_live_server_never_handed_out(void **state)
{
	struct clone_slots *sl = calloc(1, sizeof(*sl));
	uint64_t now = 5000;
	int live, cur, i, fresh;

	live = clone_slot_take(sl, now);
	cur = clone_slot_take(sl, now);
	for (i = 0; i < 3 * CLONE_STAT_SLOTS; i++) {
		/* A profile edit: a fresh slot first, the old one released after. */
		fresh = clone_slot_take(sl, now);
		assert_true(fresh >= 0);
		assert_int_not_equal(fresh, live);
		assert_int_not_equal(fresh, cur);
		clone_slot_release(sl, (uint32_t)cur, now);
		cur = fresh;
		now += 1; /* faster than the quarantine: thousands per second */
	}
	assert_int_equal(sl->n_used, 2);
	free(sl);
}

/* A released slot rests for the quarantine before it is handed out again. */
static void test_released_slot_rests(void **state)
{
	struct clone_slots *sl = calloc(1, sizeof(*sl));
	int *got = calloc(CLONE_STAT_SLOTS, sizeof(int));
	int i, r;

	take_n(sl, CLONE_STAT_SLOTS, 1000, got);
	/* Every slot held: nothing more to give. */
	assert_int_equal(clone_slot_take(sl, 1000), -ENOSPC);
	clone_slot_release(sl, 17, 2000);
	clone_slot_release(sl, 4000, 2100);
	/* Only resting slots are free: nothing yet, ask again later. */
	assert_int_equal(clone_slot_take(sl, 2200), -EAGAIN);
	assert_int_equal(clone_slot_take(sl, 2000 + CLONE_SLOT_QUARANTINE_MS - 1), -EAGAIN);
	/* Rested: handed out, the other one still resting. */
	r = clone_slot_take(sl, 2000 + CLONE_SLOT_QUARANTINE_MS);
	assert_int_equal(r, 17);
	assert_int_equal(clone_slot_take(sl, 2000 + CLONE_SLOT_QUARANTINE_MS), -EAGAIN);
	clone_slot_release(sl, 17, 2300);
	/* 4000 has rested; 17, released again at 2300, has not. */
	r = clone_slot_take(sl, 2100 + CLONE_SLOT_QUARANTINE_MS);
	assert_int_equal(r, 4000);
	assert_int_equal(sl->n_used, CLONE_STAT_SLOTS - 1);
	/* Releasing a slot nobody holds changes nothing. */
	clone_slot_release(sl, 4000, 9000);
	clone_slot_release(sl, 4000, 9000);
	assert_int_equal(sl->n_used, CLONE_STAT_SLOTS - 2);
	clone_slot_release(sl, CLONE_STAT_SLOTS + 5, 9000);
	assert_int_equal(sl->n_used, CLONE_STAT_SLOTS - 2);
	for (i = 0; i < CLONE_STAT_SLOTS; i++)
		clone_slot_release(sl, (uint32_t)i, 10000);
	assert_int_equal(sl->n_used, 0);
	free(got);
	free(sl);
}

/* Fresh slots are preferred over ones released within the quarantine. */
static void test_fresh_slots_before_resting_ones(void **state)
{
	struct clone_slots *sl = calloc(1, sizeof(*sl));
	int a, b;

	a = clone_slot_take(sl, 100);
	clone_slot_release(sl, (uint32_t)a, 100);
	b = clone_slot_take(sl, 101);
	assert_int_not_equal(a, b);
	free(sl);
}

static void test_nud_states(void **state)
{
	assert_true(clone_net_nud_valid(NUD_REACHABLE));
	assert_true(clone_net_nud_valid(NUD_STALE));
	assert_true(clone_net_nud_valid(NUD_DELAY));
	assert_true(clone_net_nud_valid(NUD_PROBE));
	assert_true(clone_net_nud_valid(NUD_PERMANENT));
	/* Frames to these would be counted as sent to nobody's MAC. */
	assert_false(clone_net_nud_valid(NUD_INCOMPLETE));
	assert_false(clone_net_nud_valid(NUD_FAILED));
	assert_false(clone_net_nud_valid(NUD_NONE));
}

static void test_host_part_problem(void **state)
{
	assert_string_equal(netif_host_part_problem(inet_addr("10.10.3.0"), 24), "network");
	assert_string_equal(netif_host_part_problem(inet_addr("10.10.3.255"), 24), "broadcast");
	assert_null(netif_host_part_problem(inet_addr("10.10.3.1"), 24));
	assert_null(netif_host_part_problem(inet_addr("10.10.3.254"), 24));
	assert_string_equal(netif_host_part_problem(inet_addr("10.10.3.4"), 30), "network");
	assert_string_equal(netif_host_part_problem(inet_addr("10.10.3.7"), 30), "broadcast");
	/* Point-to-point /31 (RFC 3021) and a /32 have no such addresses. */
	assert_null(netif_host_part_problem(inet_addr("10.10.3.0"), 31));
	assert_null(netif_host_part_problem(inet_addr("10.10.3.1"), 31));
	assert_null(netif_host_part_problem(inet_addr("10.10.3.9"), 32));
}

static void test_local_address_and_subnet_of_interface(void **state)
{
	char ifname[IF_NAMESIZE] = "";
	uint32_t net = 0, own = 0;
	int mask = 0;

	assert_int_equal(netif_addr_is_local(htonl(INADDR_LOOPBACK), ifname), 1);
	assert_string_equal(ifname, "lo");
	assert_int_equal(netif_addr_is_local(inet_addr("192.0.2.77"), NULL), 0);
	assert_int_equal(netif_subnet_on("lo", inet_addr("127.1.2.3"), &net, &mask, &own), 0);
	assert_int_equal(mask, 8);
	assert_int_equal(net, inet_addr("127.0.0.0"));
	assert_int_equal(own, htonl(INADDR_LOOPBACK));
	assert_int_equal(netif_subnet_on("lo", inet_addr("192.0.2.77"), &net, &mask, NULL), -ENOENT);
}

/* One claim per name and network namespace; the second names the first;
 * closing ends it. A name of its own, so a clonelbd running here does not
 * matter. */
static void test_netns_claim(void **state)
{
	char name[64], *owner = NULL, want[32];
	pid_t pid = 0;
	int fd, fd2;

	snprintf(name, sizeof(name), "clonelb-test/claim-%d", (int)getpid());
	assert_int_equal(netif_netns_owner(name, &pid), 0);
	fd = netif_claim_netns(name, &owner);
	assert_true(fd >= 0);
	assert_null(owner);
	assert_int_equal(netif_netns_owner(name, &pid), 1);
	assert_int_equal(pid, getpid());
	assert_int_equal(netif_claim_netns(name, &owner), -EADDRINUSE);
	snprintf(want, sizeof(want), "pid %d:", (int)getpid());
	assert_non_null(owner);
	assert_true(strncmp(owner, want, strlen(want)) == 0);
	free(owner);
	owner = NULL;
	close(fd);
	fd2 = netif_claim_netns(name, &owner);
	assert_true(fd2 >= 0);
	close(fd2);
}

/* filters[] go to the program lowest rule_number first, prefixes masked,
 * absent ports as the whole range; the generation moves only when the
 * rules change. */
static void test_prof_parse(void **state)
{
	json_t *prof = json_loads("{\"filters\": ["
				  "{\"rule_number\": 20, \"action\": \"CLONE_FILTER_REJECT\","
				  " \"direction\": \"CLONE_DIR_FROM_SERVER\","
				  " \"server_port_start\": 80, \"server_port_end\": 90},"
				  "{\"rule_number\": 10, \"action\": \"CLONE_FILTER_ACCEPT\","
				  " \"client_prefix\": {\"ip_addr\": {\"addr\": \"10.10.1.0\"}, \"mask\": 24}}],"
				  " \"snaplen\": 128, \"max_bytes_per_flow\": 4000,"
				  " \"budget_action\": \"CLONE_BUDGET_STOP\"}",
				  0, NULL);
	struct clone_prof zero, a, b;

	assert_non_null(prof);
	memset(&zero, 0, sizeof(zero));
	clone_prof_parse(prof, &zero, &a);
	assert_int_equal(a.n_filters, 2);
	assert_int_equal(a.filters[0].action, CLONE_FILTER_ACCEPT);
	assert_int_equal(a.filters[0].client_net, inet_addr("10.10.1.0"));
	assert_int_equal(a.filters[0].client_mask, inet_addr("255.255.255.0"));
	assert_int_equal(a.filters[0].port_start, 0);
	assert_int_equal(a.filters[0].port_end, 65535);
	assert_int_equal(a.filters[0].direction, CLONE_DIR_BOTH);
	assert_int_equal(a.filters[1].action, CLONE_FILTER_REJECT);
	assert_int_equal(a.filters[1].client_mask, 0);
	assert_int_equal(a.filters[1].direction, CLONE_DIR_FROM_SERVER);
	assert_int_equal(a.filters[1].port_start, 80);
	assert_int_equal(a.filters[1].port_end, 90);
	assert_int_equal(a.snaplen, 128);
	assert_int_equal(a.max_bytes_per_flow, 4000);
	assert_int_equal(a.budget_action, CLONE_BUDGET_STOP);
	assert_true(a.gen != 0);
	/* Same rules: same generation; snaplen alone does not move it. */
	json_object_set_new(prof, "snaplen", json_integer(64));
	clone_prof_parse(prof, &a, &b);
	assert_int_equal(b.gen, a.gen);
	assert_int_equal(b.snaplen, 64);
	/* A rule changed: a new generation. */
	json_object_set_new(json_array_get(json_object_get(prof, "filters"), 0), "server_port_end",
			    json_integer(91));
	clone_prof_parse(prof, &b, &a);
	assert_int_not_equal(a.gen, b.gen);
	json_decref(prof);
}

/* An IPv6 client_prefix: masked words for the program, an IPv4 one untouched. */
static void test_prof_parse_ipv6_prefix(void **state)
{
	json_t *prof = json_loads("{\"filters\": [{\"rule_number\": 1, \"action\": "
				  "\"CLONE_FILTER_REJECT\", \"client_prefix\": {\"ip_addr\": {\"addr\": "
				  "\"fd00:10:1:ff::\"}, \"mask\": 56}}]}",
				  0, NULL);
	struct clone_prof zero, a;

	assert_non_null(prof);
	memset(&zero, 0, sizeof(zero));
	clone_prof_parse(prof, &zero, &a);
	assert_int_equal(a.n_filters, 1);
	assert_int_equal(a.filters[0].is6, 1);
	assert_int_equal(a.filters[0].client_mask, 0);
	assert_int_equal(a.filters[0].client_mask6[0], htonl(0xffffffff));
	assert_int_equal(a.filters[0].client_mask6[1], htonl(0xffffff00));
	assert_int_equal(a.filters[0].client_mask6[2], 0);
	assert_int_equal(a.filters[0].client_mask6[3], 0);
	assert_int_equal(a.filters[0].client_net6[0], htonl(0xfd000010));
	/* fd00:10:1:ff::/56 is fd00:10:1::/56: the host bits are masked off. */
	assert_int_equal(a.filters[0].client_net6[1], htonl(0x00010000));
	json_decref(prof);
}

static void test_encap_parse(void **state)
{
	assert_int_equal(clone_encap_parse(NULL), CLONE_ENCAP_NONE);
	assert_int_equal(clone_encap_parse("CLONE_ENCAP_NONE"), CLONE_ENCAP_NONE);
	assert_int_equal(clone_encap_parse("CLONE_ENCAP_VXLAN"), CLONE_ENCAP_VXLAN);
	assert_int_equal(clone_encap_parse("CLONE_ENCAP_ERSPAN_III"), CLONE_ENCAP_ERSPAN_III);
	assert_int_equal(clone_encap_parse("CLONE_ENCAP_GRE"), -EINVAL);
}

/* The route's MTU, else the interface's: 65536 for the loopback, either family. */
static void test_route_mtu(void **state)
{
	struct netif_route rt;
	union addr_any dst;

	assert_int_equal(addr_parse("127.0.0.1", &dst), AF_INET);
	assert_int_equal(netif_route_get(&dst, &rt), 0);
	assert_int_equal(rt.ifindex, (int)if_nametoindex("lo"));
	assert_int_equal(rt.mtu, 65536);
	assert_int_equal(rt.src.sa.sa_family, AF_INET);
	assert_int_equal(addr_parse("::1", &dst), AF_INET6);
	assert_int_equal(netif_route_get(&dst, &rt), 0);
	assert_int_equal(rt.ifindex, (int)if_nametoindex("lo"));
	assert_int_equal(rt.mtu, 65536);
	assert_int_equal(rt.src.sa.sa_family, AF_INET6);
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
		cmocka_unit_test(test_slot_of_live_server_never_handed_out),
		cmocka_unit_test(test_released_slot_rests),
		cmocka_unit_test(test_fresh_slots_before_resting_ones),
		cmocka_unit_test(test_nud_states),
		cmocka_unit_test(test_host_part_problem),
		cmocka_unit_test(test_local_address_and_subnet_of_interface),
		cmocka_unit_test(test_netns_claim),
		cmocka_unit_test(test_prof_parse),
		cmocka_unit_test(test_prof_parse_ipv6_prefix),
		cmocka_unit_test(test_encap_parse),
		cmocka_unit_test(test_route_mtu),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
