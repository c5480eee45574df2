#!/usr/bin/env bash
# lab.sh: the test lab of docs/architecture.md section 7, network namespaces joined by veth pairs.
#
#   cli (clients) 10.10.1.2 --- 10.10.1.1 [cli0] se [srv0] 10.10.2.1 --- 10.10.2.11, .12 srv (pool)
#                     VIP 10.10.1.10 on cli0    [tap0] 10.10.3.1 --- 10.10.3.2 tap (clone servers)
#   and IPv6 on the same links: fd00:10:N::<same last number>/64 (VIP fd00:10:1::10).
#
#   [rtr0] 10.10.4.1 --- r1 --- 10.10.5.0/24 --- r2 --- 10.10.6.2, .3 col (routed collector)
#   and IPv6 on the routed path too: fd00:10:4::1 ... fd00:10:6::2, ::3.
#
# Usage: lab.sh up|down|status      (namespaces are named ${LAB_PREFIX}cli, ...se, ...srv, ...tap)
#        lab.sh routers-up|routers-down   (after up: ...r1, ...r2, ...col, two router hops away)
# LAB_STOCK=1 lab.sh up: client and server namespaces on the kernel's default sysctls too.
# LAB_PREFIX defaults to "clb-"; tests pass their own so runs never collide.
# Only addresses inside these namespaces are used. "up" first removes what a
# previous run with the same prefix left, so it is safe to re-run.
set -euo pipefail

P=${LAB_PREFIX:-clb-}
NS_CLI=${P}cli NS_SE=${P}se NS_SRV=${P}srv NS_TAP=${P}tap
NS_R1=${P}r1 NS_R2=${P}r2 NS_COL=${P}col

routers_down() {
	for ns in "$NS_R1" "$NS_R2" "$NS_COL"; do
		if ip netns pids "$ns" >/dev/null 2>&1; then
			for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
		fi
		ip netns del "$ns" 2>/dev/null || true
	done
	ip -n "$NS_SE" route del 10.10.6.0/24 2>/dev/null || true
	ip -n "$NS_SE" -6 route del fd00:10:6::/64 2>/dev/null || true
}

# A collector two router hops from the SE, for encapsulated clones: plain
# forwarding in r1 and r2 (they stand for the network between an SE and a
# sensor farm), and in col a Linux vxlan device (VNI 42, port 4789) that
# decapsulates what the SE sends to 10.10.6.2, and one over IPv6 (vx6, VNI
# 46) for what it sends to fd00:10:6::2.
routers_up() {
	routers_down
	for ns in "$NS_R1" "$NS_R2" "$NS_COL"; do
		ip netns add "$ns"
		ip -n "$ns" link set lo up
	done
	link "$NS_SE" rtr0 02:fc:00:00:04:01 "$NS_R1" eth0 02:fc:00:00:04:02
	link "$NS_R1" eth1 02:fc:00:00:05:01 "$NS_R2" eth0 02:fc:00:00:05:02
	link "$NS_R2" eth1 02:fc:00:00:06:01 "$NS_COL" eth0 02:fc:00:00:06:02
	# An underlay for tunnels carries jumbo frames, so a full-size clone
	# fits whole in its encapsulation (the frame MTU test narrows a route).
	for end in "$NS_SE rtr0" "$NS_R1 eth0" "$NS_R1 eth1" "$NS_R2 eth0" "$NS_R2 eth1" "$NS_COL eth0"; do
		set -- $end
		ip -n "$1" link set "$2" mtu 9000
	done
	ip -n "$NS_SE" addr add 10.10.4.1/24 dev rtr0
	ip -n "$NS_R1" addr add 10.10.4.2/24 dev eth0
	ip -n "$NS_R1" addr add 10.10.5.1/24 dev eth1
	ip -n "$NS_R2" addr add 10.10.5.2/24 dev eth0
	ip -n "$NS_R2" addr add 10.10.6.1/24 dev eth1
	ip -n "$NS_COL" addr add 10.10.6.2/24 dev eth0
	ip -n "$NS_COL" addr add 10.10.6.3/24 dev eth0
	# The same path over IPv6 (nodad: usable at once). The collector keeps
	# its addresses when its link goes down, as IPv4 does (a sensor's
	# outage test takes it down and up again).
	ip netns exec "$NS_COL" sysctl -qw net.ipv6.conf.eth0.keep_addr_on_down=1
	ip -n "$NS_SE" addr add fd00:10:4::1/64 dev rtr0 nodad
	ip -n "$NS_R1" addr add fd00:10:4::2/64 dev eth0 nodad
	ip -n "$NS_R1" addr add fd00:10:5::1/64 dev eth1 nodad
	ip -n "$NS_R2" addr add fd00:10:5::2/64 dev eth0 nodad
	ip -n "$NS_R2" addr add fd00:10:6::1/64 dev eth1 nodad
	ip -n "$NS_COL" addr add fd00:10:6::2/64 dev eth0 nodad
	ip -n "$NS_COL" addr add fd00:10:6::3/64 dev eth0 nodad
	# As for tap0: the stack completes the inner TCP checksums a veth would
	# leave partial.
	ip netns exec "$NS_SE" ethtool -K rtr0 tx off >/dev/null 2>&1 || true
	ip -n "$NS_SE" route add 10.10.6.0/24 via 10.10.4.2
	ip -n "$NS_SE" -6 route add fd00:10:6::/64 via fd00:10:4::2
	for ns in "$NS_R1" "$NS_R2"; do
		ip netns exec "$ns" sysctl -qw net.ipv4.ip_forward=1
		ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.forwarding=1
	done
	ip -n "$NS_R1" route add 10.10.6.0/24 via 10.10.5.2
	ip -n "$NS_R2" route add 10.10.4.0/24 via 10.10.5.1
	ip -n "$NS_R1" -6 route add fd00:10:6::/64 via fd00:10:5::2
	ip -n "$NS_R2" -6 route add fd00:10:4::/64 via fd00:10:5::1
	ip -n "$NS_COL" route add default via 10.10.6.1
	ip -n "$NS_COL" -6 route add default via fd00:10:6::1
	ip -n "$NS_COL" link add vx0 type vxlan id 42 dstport 4789 local 10.10.6.2 nolearning
	# The SE sends VXLAN over IPv6 with a zero UDP checksum, as RFC 6935
	# allows tunnels: a Linux receiver takes it with udp6zerocsumrx.
	ip -n "$NS_COL" link add vx6 type vxlan id 46 dstport 4789 local fd00:10:6::2 nolearning \
		udp6zerocsumrx
	for vx in vx0 vx6; do
		ip netns exec "$NS_COL" ethtool -K "$vx" gro off >/dev/null 2>&1 || true
		ip -n "$NS_COL" link set "$vx" up
	done
	for end in "$NS_R1 eth0" "$NS_R1 eth1" "$NS_R2 eth0" "$NS_R2 eth1" "$NS_COL eth0"; do
		rps_all $end
	done
	# IPv6 neighbour discovery on the new links waits for their link-local
	# addresses (duplicate detection, about a second), and packets queue on
	# every hop meanwhile: ready once the collector answers over IPv6, so a
	# test's first clones never arrive late in the next one's capture.
	local a
	for a in fd00:10:6::2 fd00:10:6::3; do
		for _ in $(seq 30); do
			ip netns exec "$NS_SE" ping -6 -n -c1 -W1 "$a" >/dev/null 2>&1 && break
			sleep 0.1
		done
	done
}

down() {
	routers_down
	for ns in "$NS_CLI" "$NS_SE" "$NS_SRV" "$NS_TAP"; do
		if ip netns pids "$ns" >/dev/null 2>&1; then
			for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
		fi
		ip netns del "$ns" 2>/dev/null || true
	done
}

# link NS_A IF_A MAC_A NS_B IF_B MAC_B: a veth pair between two namespaces.
link() {
	local tmp_a="${P}a$RANDOM" tmp_b="${P}b$RANDOM"
	ip link add "$tmp_a" type veth peer name "$tmp_b"
	ip link set "$tmp_a" netns "$1"
	ip link set "$tmp_b" netns "$4"
	ip -n "$1" link set "$tmp_a" name "$2" address "$3"
	ip -n "$4" link set "$tmp_b" name "$5" address "$6"
	for end in "$1 $2" "$4 $5"; do
		set -- $end
		# Off-loads would show the clone servers 64 KiB super-frames; real NICs
		# on a SPAN port see wire-size frames, and so should the tests.
		ip netns exec "$1" ethtool -K "$2" tso off gso off gro off >/dev/null 2>&1 || true
		ip -n "$1" link set "$2" up
	done
}

# rps_all NS IF: receive packet steering by flow hash over every CPU.
rps_all() {
	local mask
	mask=$(printf '%x' $(((1 << $(nproc)) - 1)))
	ip netns exec "$1" sh -c "echo $mask > /sys/class/net/$2/queues/rx-0/rps_cpus" 2>/dev/null || true
}

up() {
	down
	for ns in "$NS_CLI" "$NS_SE" "$NS_SRV" "$NS_TAP"; do
		ip netns add "$ns"
		ip -n "$ns" link set lo up
	done
	link "$NS_CLI" eth0 02:fc:00:00:01:02 "$NS_SE" cli0 02:fc:00:00:01:01
	link "$NS_SE" srv0 02:fc:00:00:02:01 "$NS_SRV" eth0 02:fc:00:00:02:02
	link "$NS_SE" tap0 02:fc:00:00:03:01 "$NS_TAP" eth0 02:fc:00:00:03:02

	ip -n "$NS_CLI" addr add 10.10.1.2/24 dev eth0
	ip -n "$NS_SE" addr add 10.10.1.1/24 dev cli0
	ip -n "$NS_SE" addr add 10.10.1.10/24 dev cli0
	ip -n "$NS_SE" addr add 10.10.2.1/24 dev srv0
	ip -n "$NS_SRV" addr add 10.10.2.11/24 dev eth0
	ip -n "$NS_SRV" addr add 10.10.2.12/24 dev eth0
	ip -n "$NS_SE" addr add 10.10.3.1/24 dev tap0
	ip -n "$NS_TAP" addr add 10.10.3.2/24 dev eth0
	# IPv6 beside IPv4 on every link (unique local fd00::/8 only). nodad: an
	# address is usable at once, so nothing waits for duplicate detection.
	ip -n "$NS_CLI" addr add fd00:10:1::2/64 dev eth0 nodad
	ip -n "$NS_SE" addr add fd00:10:1::1/64 dev cli0 nodad
	ip -n "$NS_SE" addr add fd00:10:1::10/64 dev cli0 nodad
	ip -n "$NS_SE" addr add fd00:10:2::1/64 dev srv0 nodad
	ip -n "$NS_SRV" addr add fd00:10:2::11/64 dev eth0 nodad
	ip -n "$NS_SRV" addr add fd00:10:2::12/64 dev eth0 nodad
	ip -n "$NS_SE" addr add fd00:10:3::1/64 dev tap0 nodad
	ip -n "$NS_TAP" addr add fd00:10:3::2/64 dev eth0 nodad
	# A veth never computes checksums it was asked to offload: with tx
	# checksumming on, clones would reach the clone server with the partial
	# (pseudo-header) TCP checksum a NIC would have completed. Off, the stack
	# completes them as the clone leaves tap0.
	ip netns exec "$NS_SE" ethtool -K tap0 tx off >/dev/null 2>&1 || true
	# Clones are addressed to the clone server's MAC, not the tap's own: let
	# the tap accept them at L2 the way a SPAN port's receiver would.
	ip -n "$NS_TAP" link set eth0 promisc on
	# A sensor steers each flow to one receive queue (symmetric RSS on a
	# NIC). A veth has one queue, processed on whichever CPU sent the
	# frame: spread by the flow hash instead (RPS), so the frames of one
	# flow are taken in the order they were sent, whichever SE CPU sent
	# them (docs/clone-engine.md, Ordering).
	rps_all "$NS_TAP" eth0

	ip -n "$NS_CLI" route add default via 10.10.1.1
	ip -n "$NS_SRV" route add default via 10.10.2.1
	ip -n "$NS_CLI" -6 route add default via fd00:10:1::1
	ip -n "$NS_SRV" -6 route add default via fd00:10:2::1
	# The SE is a full proxy: it does not route between client and server
	# sides. Its TCP sysctls stay at the kernel's defaults (tcp_tw_reuse,
	# ip_local_port_range...), as on a freshly installed host.
	ip netns exec "$NS_SE" sysctl -qw net.ipv4.ip_forward=0
	# The client and server namespaces stand for the outside world, many
	# hosts behind one address here: they may reuse their TIME_WAIT ports.
	# LAB_STOCK=1 leaves every namespace on the defaults.
	if [ "${LAB_STOCK:-0}" != 1 ]; then
		for ns in "$NS_CLI" "$NS_SRV"; do
			ip netns exec "$ns" sysctl -qw net.ipv4.ip_local_port_range="10000 60999"
			ip netns exec "$ns" sysctl -qw net.ipv4.tcp_tw_reuse=1
		done
	fi
}

status() {
	for ns in "$NS_CLI" "$NS_SE" "$NS_SRV" "$NS_TAP" "$NS_R1" "$NS_R2" "$NS_COL"; do
		echo "== $ns"
		ip -n "$ns" -br addr 2>/dev/null || echo "(absent)"
	done
}

case "${1:-}" in
up) up ;;
down) down ;;
routers-up) routers_up ;;
routers-down) routers_down ;;
status) status ;;
*)
	echo "usage: $0 up|down|status|routers-up|routers-down" >&2
	exit 2
	;;
esac
