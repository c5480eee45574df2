/* sensor.bpf.c: the bench's clone server takes its frames the way a capture-only sensor does. */
/*
 * Attached at the tc ingress of the clone server's
 * interface (bench/benchlab.py, Lab.sensor_capture_only()), after the veth's
 * counters and any packet capture have seen a frame, it ends every TCP frame
 * there (IPv4 and IPv6), so that the clone server's IP stack does not route
 * and discard each one on the CPUs the SE shares with it. ARP, ICMP and
 * ICMPv6 (the clone engine's MAC and health probes) go on to the stack.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/pkt_cls.h>

#define SEC(name) __attribute__((section(name), used))

SEC("tc")
int sensor_capture_only(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) > end)
		return TC_ACT_OK;
	if (eth->h_proto == __builtin_bswap16(ETH_P_IP)) {
		struct iphdr *ip = (void *)(eth + 1);

		if ((void *)(ip + 1) > end)
			return TC_ACT_OK;
		return ip->protocol == IPPROTO_TCP ? TC_ACT_SHOT : TC_ACT_OK;
	}
	if (eth->h_proto == __builtin_bswap16(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);

		if ((void *)(ip6 + 1) > end)
			return TC_ACT_OK;
		return ip6->nexthdr == IPPROTO_TCP ? TC_ACT_SHOT : TC_ACT_OK;
	}
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
