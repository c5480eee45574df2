#!/usr/bin/env bash
# etcd.sh: the SE-group lab of docs/architecture.md section 10: two SEs on shared segments, etcd in its own namespace.
#
#   cli 10.20.1.2 ---[front 10.20.1.0/24]--- f0 se1 .11, se2 .12          (VIP 10.20.1.100: held by one SE)
#   srv 10.20.2.21, .22 ---[pool 10.20.2.0/24]--- p0 se1 .11, se2 .12
#   tap 10.20.3.2 ---[clone 10.20.3.0/24]--- t0 se1 .11, se2 .12
#   etcd 10.20.4.2:2379 ---[store 10.20.4.0/24]--- m0 se1 .11, se2 .12
#
# Each segment is a bridge in the switch namespace ${P}e-sw. Namespaces are
# ${LAB_PREFIX}e-cli, -se1, -se2, -srv, -tap, -etcd, -sw (LAB_PREFIX defaults
# to "clb-"), so this lab never collides with lab.sh's under the same prefix.
#
# Usage: etcd.sh up | down | status
#        etcd.sh etcd-start DIR     etcd in the etcd namespace, data in DIR/data,
#                                   pid in DIR/etcd.pid, log in DIR/etcd.log;
#                                   returns once it answers (or fails after 20 s)
#        etcd.sh etcd-stop DIR      stops that etcd (SIGTERM, then SIGKILL)
#   ETCD_PORT=N (default 2379) serves clients on 10.20.4.2:N (peers on 127.0.0.1:N+1);
#   with DIR/tls/{ca,server}.pem and server.key, over HTTPS with client
#   certificates required (signed by ca.pem).
# Only addresses inside these namespaces are used. The SE namespaces keep the
# kernel's default sysctls.
set -euo pipefail

P=${LAB_PREFIX:-clb-}e-
ROLES="cli se1 se2 srv tap etcd sw"
SW=${P}sw

down() {
	for r in $ROLES; do
		ns=$P$r
		if ip netns pids "$ns" >/dev/null 2>&1; then
			for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
		fi
		ip netns del "$ns" 2>/dev/null || true
	done
}

# port NS IF MAC BRIDGE: a veth from namespace NS (named IF) to BRIDGE in the switch.
port() {
	local tmp_a="${P}a$RANDOM" tmp_b="${P}b$RANDOM" sw_if="$2-${1#$P}"
	ip link add "$tmp_a" type veth peer name "$tmp_b"
	ip link set "$tmp_a" netns "$1"
	ip link set "$tmp_b" netns "$SW"
	ip -n "$1" link set "$tmp_a" name "$2" address "$3"
	ip -n "$SW" link set "$tmp_b" name "${sw_if:0:15}" master "$4"
	ip netns exec "$1" ethtool -K "$2" tso off gso off gro off >/dev/null 2>&1 || true
	ip -n "$1" link set "$2" up
	ip -n "$SW" link set "${sw_if:0:15}" up
}

up() {
	down
	for r in $ROLES; do
		ip netns add "$P$r"
		ip -n "$P$r" link set lo up
	done
	for br in front pool clone store; do
		ip -n "$SW" link add "$br" type bridge
		ip -n "$SW" link set "$br" up
	done
	port "${P}cli" eth0 02:fd:00:00:01:02 front
	port "${P}srv" eth0 02:fd:00:00:02:02 pool
	port "${P}tap" eth0 02:fd:00:00:03:02 clone
	port "${P}etcd" eth0 02:fd:00:00:04:02 store
	ip -n "${P}cli" addr add 10.20.1.2/24 dev eth0
	ip -n "${P}srv" addr add 10.20.2.21/24 dev eth0
	ip -n "${P}srv" addr add 10.20.2.22/24 dev eth0
	ip -n "${P}tap" addr add 10.20.3.2/24 dev eth0
	ip -n "${P}etcd" addr add 10.20.4.2/24 dev eth0
	for n in 1 2; do
		se=${P}se$n
		port "$se" f0 "02:fd:00:0$n:01:01" front
		port "$se" p0 "02:fd:00:0$n:02:01" pool
		port "$se" t0 "02:fd:00:0$n:03:01" clone
		port "$se" m0 "02:fd:00:0$n:04:01" store
		ip -n "$se" addr add "10.20.1.1$n/24" dev f0
		ip -n "$se" addr add "10.20.2.1$n/24" dev p0
		ip -n "$se" addr add "10.20.3.1$n/24" dev t0
		ip -n "$se" addr add "10.20.4.1$n/24" dev m0
		# As in lab.sh: clones leave with checksums the stack completed.
		ip netns exec "$se" ethtool -K t0 tx off >/dev/null 2>&1 || true
		ip netns exec "$se" sysctl -qw net.ipv4.ip_forward=0
	done
	ip -n "${P}tap" link set eth0 promisc on
	# The client side stands for the outside world (as in lab.sh).
	ip netns exec "${P}cli" sysctl -qw net.ipv4.tcp_tw_reuse=1
	ip netns exec "${P}srv" sysctl -qw net.ipv4.tcp_tw_reuse=1
}

status() {
	for r in $ROLES; do
		echo "== $P$r"
		ip -n "$P$r" -br addr 2>/dev/null || echo "(absent)"
	done
}

etcd_start() {
	local dir=$1 port=${ETCD_PORT:-2379} scheme=http tls=() check=()
	mkdir -p "$dir"
	if [ -f "$dir/tls/server.pem" ]; then
		scheme=https
		tls=(--cert-file "$dir/tls/server.pem" --key-file "$dir/tls/server.key"
			--client-cert-auth --trusted-ca-file "$dir/tls/ca.pem")
		check=(--cacert "$dir/tls/ca.pem" --cert "$dir/tls/server.pem" --key "$dir/tls/server.key")
	fi
	ip netns exec "${P}etcd" etcd --name lab --data-dir "$dir/data" \
		--listen-client-urls "$scheme://10.20.4.2:$port" --advertise-client-urls "$scheme://10.20.4.2:$port" \
		--listen-peer-urls "http://127.0.0.1:$((port + 1))" \
		--initial-advertise-peer-urls "http://127.0.0.1:$((port + 1))" \
		--initial-cluster "lab=http://127.0.0.1:$((port + 1))" "${tls[@]}" >>"$dir/etcd.log" 2>&1 &
	echo $! >"$dir/etcd.pid"
	for _ in $(seq 200); do
		if ip netns exec "${P}etcd" curl -sf -m 1 "${check[@]}" "$scheme://10.20.4.2:$port/health" 2>/dev/null |
			grep -q true; then
			return 0
		fi
		kill -0 "$(cat "$dir/etcd.pid")" 2>/dev/null || break
		sleep 0.1
	done
	echo "etcd.sh: etcd did not come up; its log:" >&2
	tail -20 "$dir/etcd.log" >&2
	return 1
}

etcd_stop() {
	local dir=$1 pid
	[ -f "$dir/etcd.pid" ] || return 0
	pid=$(cat "$dir/etcd.pid")
	kill "$pid" 2>/dev/null || true
	for _ in $(seq 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -9 "$pid" 2>/dev/null || true
	rm -f "$dir/etcd.pid"
}

case "${1:-}" in
up) up ;;
down) down ;;
status) status ;;
etcd-start) etcd_start "${2:?etcd-start DIR}" ;;
etcd-stop) etcd_stop "${2:?etcd-stop DIR}" ;;
*)
	echo "usage: $0 up|down|status|etcd-start DIR|etcd-stop DIR" >&2
	exit 2
	;;
esac
