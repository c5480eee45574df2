#!/usr/bin/env bash
# group.sh: the SE group lab of docs/architecture.md ("SE groups"): clients behind an FRR router that
# spreads a VIP over two SEs by BGP ECMP; the SEs share a pool segment and a clone segment.
#
#   gcli 10.30.1.2 --- 10.30.1.1 grtr (FRR: zebra, bgpd, bfdd; AS 65100; ECMP)
#   (fd00:30:1::2)     (fd00:30:1::1: IPv6 clients, routed to the front segment)
#                                 10.30.2.1 (fd00:30:2::1: IPv6 BGP, the IPv6 VIP)
#                                    |  front segment 10.30.2.0/24 (bridge)
#                       +------------+------------+
#               10.30.2.11 gse1              10.30.2.12 gse2      (clonelbd, BIRD; AS 65000)
#               srv0 10.30.3.1              srv0 10.30.3.2   --- pool segment: gsrv 10.30.3.11, .12
#               tap0 10.30.4.1              tap0 10.30.4.2   --- clone segment: gtap 10.30.4.100
#               mgmt0 10.30.5.1             mgmt0 10.30.5.2  --- management: getcd 10.30.5.100
#
# The bridges live in their own namespace, gsw. The VIP 10.30.9.10 is on no
# segment: only BGP leads to it. getcd is the etcd's namespace: "up" starts
# none, "etcd-start" does (client URL http://10.30.5.100:2379).
#
# Usage: group.sh up|down|status     namespaces ${LAB_PREFIX}gcli, ...grtr, ...gse1, ...gse2, ...
#        group.sh routes             the router's routes to the VIP (vtysh)
#        group.sh etcd-start|etcd-stop   etcd in getcd, data, pid and log in $LAB_DIR/etcd
#                                        (etcd-stop removes them: each start is an empty store)
# LAB_PREFIX defaults to "clb-"; LAB_DIR (default /tmp/${LAB_PREFIX}group) holds FRR's files.
# "up" first removes what an earlier run with the same prefix left; "down"
# stops every process in the namespaces and removes them.
set -euo pipefail

P=${LAB_PREFIX:-clb-}
DIR=${LAB_DIR:-/tmp/${P}group}
NS_CLI=${P}gcli NS_RTR=${P}grtr NS_SE1=${P}gse1 NS_SE2=${P}gse2
NS_SRV=${P}gsrv NS_TAP=${P}gtap NS_ETCD=${P}getcd NS_SW=${P}gsw
ALL="$NS_CLI $NS_RTR $NS_SE1 $NS_SE2 $NS_SRV $NS_TAP $NS_ETCD $NS_SW"
ROUTER_AS=65100 SE_AS=65000
FRR_DIR=$DIR/frr

down() {
	for ns in $ALL; do
		if ip netns pids "$ns" >/dev/null 2>&1; then
			for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
		fi
		ip netns del "$ns" 2>/dev/null || true
	done
	rm -rf "$FRR_DIR" "$DIR/etcd"
}

# port NS IF MAC BRIDGE: a veth from namespace NS (interface IF) to a port of BRIDGE in gsw.
port() {
	local tmp_a="${P}a$RANDOM" tmp_b="${P}b$RANDOM"
	ip link add "$tmp_a" type veth peer name "$tmp_b"
	ip link set "$tmp_a" netns "$1"
	ip link set "$tmp_b" netns "$NS_SW"
	ip -n "$1" link set "$tmp_a" name "$2" address "$3"
	ip -n "$NS_SW" link set "$tmp_b" master "$4"
	# Wire-size frames, as a real NIC shows a SPAN port (see lab.sh).
	ip netns exec "$1" ethtool -K "$2" tso off gso off gro off >/dev/null 2>&1 || true
	ip netns exec "$NS_SW" ethtool -K "$tmp_b" tso off gso off gro off >/dev/null 2>&1 || true
	ip -n "$NS_SW" link set "$tmp_b" up
	ip -n "$1" link set "$2" up
}

# Two-namespace veth, as lab.sh's link().
link() {
	local tmp_a="${P}a$RANDOM" tmp_b="${P}b$RANDOM"
	ip link add "$tmp_a" type veth peer name "$tmp_b"
	ip link set "$tmp_a" netns "$1"
	ip link set "$tmp_b" netns "$4"
	ip -n "$1" link set "$tmp_a" name "$2" address "$3"
	ip -n "$4" link set "$tmp_b" name "$5" address "$6"
	ip -n "$1" link set "$2" up
	ip -n "$4" link set "$5" up
}

frr_up() {
	mkdir -p "$FRR_DIR"
	cat >"$FRR_DIR/zebra.conf" <<-EOF
		hostname lab-router
		log file $FRR_DIR/frr.log informational
	EOF
	cat >"$FRR_DIR/bfdd.conf" <<-EOF
		log file $FRR_DIR/frr.log informational
	EOF
	# eBGP to each SE; ECMP over as many SEs as announce a VIP. The SEs'
	# hold time (bgp_profile.hold_time) wins in the negotiation when shorter.
	cat >"$FRR_DIR/bgpd.conf" <<-EOF
		log file $FRR_DIR/frr.log informational
		router bgp $ROUTER_AS
		 bgp router-id 10.30.2.1
		 no bgp ebgp-requires-policy
		 no bgp network import-check
		 bgp bestpath as-path multipath-relax
		 neighbor ses peer-group
		 neighbor ses remote-as $SE_AS
		 neighbor ses timers 3 9
		 neighbor ses timers connect 2
		 neighbor ses advertisement-interval 0
		 neighbor ses bfd
		 neighbor 10.30.2.11 peer-group ses
		 neighbor 10.30.2.12 peer-group ses
		 neighbor ses6 peer-group
		 neighbor ses6 remote-as $SE_AS
		 neighbor ses6 timers 3 9
		 neighbor ses6 timers connect 2
		 neighbor ses6 advertisement-interval 0
		 neighbor fd00:30:2::11 peer-group ses6
		 neighbor fd00:30:2::12 peer-group ses6
		 address-family ipv4 unicast
		  maximum-paths 8
		  no neighbor ses6 activate
		 exit-address-family
		 address-family ipv6 unicast
		  maximum-paths 8
		  neighbor ses6 activate
		 exit-address-family
	EOF
	chown -R frr:frr "$FRR_DIR"
	chmod 0755 "$FRR_DIR"
	local common=(-u frr -g frr -d --vty_socket "$FRR_DIR" -A 127.0.0.1)
	ip netns exec "$NS_RTR" /usr/lib/frr/zebra "${common[@]}" -f "$FRR_DIR/zebra.conf" \
		-i "$FRR_DIR/zebra.pid" -z "$FRR_DIR/zserv.api"
	# bgpd and bfdd talk to zebra through its socket: wait for it.
	for _ in $(seq 100); do [ -S "$FRR_DIR/zserv.api" ] && break; sleep 0.05; done
	ip netns exec "$NS_RTR" /usr/lib/frr/bfdd "${common[@]}" -f "$FRR_DIR/bfdd.conf" \
		-i "$FRR_DIR/bfdd.pid" -z "$FRR_DIR/zserv.api" --bfdctl "$FRR_DIR/bfdd.sock"
	ip netns exec "$NS_RTR" /usr/lib/frr/bgpd "${common[@]}" -f "$FRR_DIR/bgpd.conf" \
		-i "$FRR_DIR/bgpd.pid" -z "$FRR_DIR/zserv.api"
	for _ in $(seq 100); do [ -S "$FRR_DIR/bgpd.vty" ] && break; sleep 0.05; done
}

up() {
	down
	mkdir -p "$DIR"
	chmod 0755 "$DIR" # FRR runs as frr: it must reach $FRR_DIR
	for ns in $ALL; do
		ip netns add "$ns"
		ip -n "$ns" link set lo up
	done
	for br in front pool clone mgmt; do
		ip -n "$NS_SW" link add "br-$br" type bridge
		ip -n "$NS_SW" link set "br-$br" up
	done
	link "$NS_CLI" eth0 02:fc:00:30:01:02 "$NS_RTR" cli0 02:fc:00:30:01:01
	port "$NS_RTR" se0 02:fc:00:30:02:01 br-front
	port "$NS_SE1" front0 02:fc:00:30:02:0b br-front
	port "$NS_SE2" front0 02:fc:00:30:02:0c br-front
	port "$NS_SE1" srv0 02:fc:00:30:03:01 br-pool
	port "$NS_SE2" srv0 02:fc:00:30:03:02 br-pool
	port "$NS_SRV" eth0 02:fc:00:30:03:0b br-pool
	port "$NS_SE1" tap0 02:fc:00:30:04:01 br-clone
	port "$NS_SE2" tap0 02:fc:00:30:04:02 br-clone
	port "$NS_TAP" eth0 02:fc:00:30:04:64 br-clone
	port "$NS_SE1" mgmt0 02:fc:00:30:05:01 br-mgmt
	port "$NS_SE2" mgmt0 02:fc:00:30:05:02 br-mgmt
	port "$NS_ETCD" eth0 02:fc:00:30:05:64 br-mgmt

	ip -n "$NS_CLI" addr add 10.30.1.2/24 dev eth0
	ip -n "$NS_CLI" route add default via 10.30.1.1
	ip -n "$NS_CLI" addr add fd00:30:1::2/64 dev eth0 nodad
	ip -n "$NS_CLI" -6 route add default via fd00:30:1::1
	ip -n "$NS_RTR" addr add 10.30.1.1/24 dev cli0
	ip -n "$NS_RTR" addr add fd00:30:1::1/64 dev cli0 nodad
	ip -n "$NS_RTR" addr add 10.30.2.1/24 dev se0
	# IPv6 on the front segment (unique local only; nodad: usable at once):
	# IPv6 BGP sessions, the IPv6 VIP's /128 routes.
	ip -n "$NS_RTR" addr add fd00:30:2::1/64 dev se0 nodad
	local i
	for i in 1 2; do
		local ns=${P}gse$i
		ip -n "$ns" addr add 10.30.2.1$i/24 dev front0
		ip -n "$ns" addr add fd00:30:2::1$i/64 dev front0 nodad
		ip -n "$ns" addr add 10.30.3.$i/24 dev srv0
		ip -n "$ns" addr add 10.30.4.$i/24 dev tap0
		ip -n "$ns" addr add 10.30.5.$i/24 dev mgmt0
		# Replies to clients go back through the router. Nothing else is
		# set in an SE namespace: it runs on the kernel's defaults.
		ip -n "$ns" route add default via 10.30.2.1
		ip -n "$ns" -6 route add default via fd00:30:2::1
		ip netns exec "$ns" ethtool -K tap0 tx off >/dev/null 2>&1 || true
	done
	ip -n "$NS_SRV" addr add 10.30.3.11/24 dev eth0
	ip -n "$NS_SRV" addr add 10.30.3.12/24 dev eth0
	ip -n "$NS_TAP" addr add 10.30.4.100/24 dev eth0
	ip -n "$NS_TAP" link set eth0 promisc on
	ip -n "$NS_ETCD" addr add 10.30.5.100/24 dev eth0

	# The router forwards and hashes flows on ports too, so connections of
	# one client spread over the SEs (the outside world: may be tuned).
	ip netns exec "$NS_RTR" sysctl -qw net.ipv4.ip_forward=1
	ip netns exec "$NS_RTR" sysctl -qw net.ipv6.conf.all.forwarding=1
	ip netns exec "$NS_RTR" sysctl -qw net.ipv4.fib_multipath_hash_policy=1
	ip netns exec "$NS_CLI" sysctl -qw net.ipv4.ip_local_port_range="10000 60999"
	ip netns exec "$NS_CLI" sysctl -qw net.ipv4.tcp_tw_reuse=1
	frr_up
}

etcd_start() {
	local dir=$DIR/etcd
	mkdir -p "$dir"
	ip netns exec "$NS_ETCD" etcd --name lab --data-dir "$dir/data" \
		--listen-client-urls http://10.30.5.100:2379 --advertise-client-urls http://10.30.5.100:2379 \
		--listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
		--initial-cluster lab=http://127.0.0.1:2380 >>"$dir/etcd.log" 2>&1 &
	echo $! >"$dir/etcd.pid"
	for _ in $(seq 200); do
		if ip netns exec "$NS_ETCD" curl -sf -m 1 http://10.30.5.100:2379/health 2>/dev/null |
			grep -q true; then
			return 0
		fi
		kill -0 "$(cat "$dir/etcd.pid")" 2>/dev/null || break
		sleep 0.1
	done
	echo "group.sh: etcd did not come up; its log:" >&2
	tail -20 "$dir/etcd.log" >&2
	return 1
}

etcd_stop() {
	local pid
	[ -f "$DIR/etcd/etcd.pid" ] || return 0
	pid=$(cat "$DIR/etcd/etcd.pid")
	kill "$pid" 2>/dev/null || true
	for _ in $(seq 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -9 "$pid" 2>/dev/null || true
	rm -rf "$DIR/etcd" # the next etcd-start begins with an empty store
}

status() {
	for ns in $ALL; do
		echo "== $ns"
		ip -n "$ns" -br addr 2>/dev/null || echo "(absent)"
	done
	routes
}

routes() {
	ip netns exec "$NS_RTR" vtysh --vty_socket "$FRR_DIR" -c "show ip route bgp" || true
}

case "${1:-}" in
up) up ;;
down) down ;;
status) status ;;
routes) routes ;;
etcd-start) etcd_start ;;
etcd-stop) etcd_stop ;;
*)
	echo "usage: $0 up|down|status|routes|etcd-start|etcd-stop" >&2
	exit 2
	;;
esac
