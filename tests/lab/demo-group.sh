#!/usr/bin/env bash
# demo-group.sh: an SE group on a throw-away lab: two SEs share one configuration in etcd and
# announce one VIP to an FRR router by BGP (route health injection), the router spreads clients
# over both (ECMP), one SE is killed and the service goes on; the clone stats of both SEs.
# Cleans up after itself.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${CLONELB_BUILD:-$ROOT/build}
export LAB_PREFIX=${LAB_PREFIX:-demo-}
TMP=$(mktemp -d /tmp/clonelb-demo-group.XXXXXX)
chmod 0755 "$TMP"
export LAB_DIR=$TMP/lab
LAB="$ROOT/tests/lab/group.sh"
NS_CLI=${LAB_PREFIX}gcli NS_RTR=${LAB_PREFIX}grtr NS_SRV=${LAB_PREFIX}gsrv NS_TAP=${LAB_PREFIX}gtap
VIP=10.30.9.10
STORE=etcd://10.30.5.100:2379
pids=()
declare -A se_pid

cleanup() {
	for p in "${pids[@]}" "${se_pid[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	"$LAB" down
	rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
clonelb() { local se=$1; shift; "$BUILD/clonelb" --socket "$TMP/$se/api.sock" "$@"; }
api() { curl -s --unix-socket "$TMP/$1/api.sock" "http://localhost$2"; }
route() { ip netns exec "$NS_RTR" ip route show $VIP; }
hops() { route | grep -c "via " || true; }
hops_are() { [ "$(hops)" = "$1" ]; }

# wait_for SECONDS WHAT COMMAND...: runs COMMAND every $POLL seconds (default 0.1) until it
# succeeds; after SECONDS the demo stops, saying what it waited for.
wait_for() {
	local deadline=$(($(date +%s%N) + $1 * 1000000000)) what=$2
	shift 2
	until "$@"; do
		if [ "$(date +%s%N)" -ge "$deadline" ]; then
			echo "demo-group: gave up waiting for $what" >&2
			exit 1
		fi
		sleep "${POLL:-0.1}"
	done
}

# SE $1's own clone counters, as se1 shows them, match what that SE counts live: the entry it
# publishes (about once a second) has caught up. An SE that has cloned nothing since it started
# publishes nothing; an entry its killed run left goes with that run's lease.
published() {
	local live
	live=$(api "$1" /api/virtualservice/web/traffic_clone_stats | jq -c '.[0]')
	api se1 /api/virtualservice/web/traffic_clone_stats | jq -e --argjson live "$live" '
		def counts: [.clone_srvr_stats[]? | .num_total_pkts_cloned];
		(map(select(.se_uuid == $live.se_uuid)) | .[0]) as $shown |
		$live.se_uuid != null and
		if $shown then ($shown | counts) == ($live | counts)
		else ($live | counts | all(. == 0)) end' >/dev/null
}

# The clone server's capture holds at least as many frames as the SEs have cloned since they
# last started (se2's killed run cloned more, before): tcpdump has written every clone.
captured() {
	local want got
	want=$(for se in se1 se2; do api $se /api/virtualservice/web/traffic_clone_stats |
		jq '[.[0].clone_srvr_stats[]?.num_succeeded] | add // 0'; done | jq -s add)
	got=$(tshark -r "$TMP/clone.pcap" -n 2>/dev/null | wc -l)
	[ -n "$want" ] && [ "$got" -ge "$want" ]
}

# start_se N: clonelbd in namespace gseN, SE seN of Default-Group on the shared etcd; its
# socket in $TMP/seN.
start_se() {
	mkdir -p "$TMP/se$1"
	ip netns exec "${LAB_PREFIX}gse$1" "$BUILD/clonelbd" --store "$STORE" --se-name "se$1" \
		--se-group Default-Group --socket "$TMP/se$1/api.sock" 2>>"$TMP/se$1/clonelbd.log" &
	se_pid[se$1]=$!
	wait_for 10 "the API socket of se$1" test -S "$TMP/se$1/api.sock"
}

# clients N: N HTTP requests from the client namespace, a new connection each; counts the answers.
clients() {
	local ok=0
	for _ in $(seq "$1"); do
		ip netns exec "$NS_CLI" curl -s --max-time 3 -o /dev/null -w '%{http_code}\n' http://$VIP/ |
			grep -q 200 && ok=$((ok + 1))
	done
	echo "$ok of $1 requests answered 200"
}

step "Lab: client ${NS_CLI} -- router ${NS_RTR} (FRR, AS 65100, ECMP) -- SEs ${LAB_PREFIX}gse1, ${LAB_PREFIX}gse2 -- pool ${NS_SRV}, clone server ${NS_TAP}"
"$LAB" up
mkdir -p "$TMP/nginx"
cat >"$TMP/nginx/nginx.conf" <<CONF
worker_processes 1; daemon off; pid $TMP/nginx/pid; error_log $TMP/nginx/error.log;
events { worker_connections 1024; }
http { access_log off; client_body_temp_path $TMP/nginx/b; proxy_temp_path $TMP/nginx/p;
  fastcgi_temp_path $TMP/nginx/f; uwsgi_temp_path $TMP/nginx/u; scgi_temp_path $TMP/nginx/s;
  server { listen 10.30.3.11:80; listen 10.30.3.12:80;
    location / { return 200 "hello from pool server \$server_addr\n"; } } }
CONF
ip netns exec "$NS_SRV" nginx -c "$TMP/nginx/nginx.conf" &
pids+=($!)

step "etcd in ${LAB_PREFIX}getcd (10.30.5.100:2379): the group's one configuration"
"$LAB" etcd-start
step "Start clonelbd in both SE namespaces: --store $STORE --se-name seN --se-group Default-Group"
start_se 1
start_se 2

cat >"$TMP/setup.clonelb" <<CONF
configure vrfcontext global
bgp_profile
local_as 65000
hold_time 9
keepalive_interval 3
peers
peer_ip 10.30.2.1
remote_as 65100
subnet 10.30.2.0/24
bfd
save
save
save
configure pool web-pool
servers
ip 10.30.3.11
save
servers
ip 10.30.3.12
save
save
configure trafficcloneprofile ids-profile
clone_servers
ip_address 10.30.4.100
subnet 10.30.4.0/24
mac 02:fc:00:30:04:64
save
save
configure virtualservice web
vip
ip_address $VIP
save
services
port 80
save
pool_ref web-pool
traffic_clone_profile_ref ids-profile
se_group_ref Default-Group
enable_rhi
save
CONF
step "Configure the group once, through se1's API: clonelb -f setup.clonelb"
sed 's/^/    /' "$TMP/setup.clonelb"
clonelb se1 -f "$TMP/setup.clonelb"
clonelb se1 -c "show vrfcontext global"
step "se2 serves the same configuration (through its own API, from etcd)"
curl -s --unix-socket "$TMP/se2/api.sock" http://localhost/api/serviceengine |
	jq -r '.results[] | "SE \(.name) of \(.se_group_ref): \(.oper_status.state)"'
clonelb se2 -c "show virtualservice web"

step "The router learns the VIP from both SEs: one route, two next hops"
wait_for 15 "two next hops to $VIP" hops_are 2
ip netns exec "$NS_RTR" vtysh --vty_socket "$LAB_DIR/frr" -c "show ip bgp summary" | grep -E "^Neighbor|^10\."
route

ip netns exec "$NS_TAP" tcpdump -i eth0 -U -n -s 0 -w "$TMP/clone.pcap" 2>"$TMP/tcpdump.log" &
pids+=($!)
tcpdump_pid=$!
wait_for 10 "tcpdump to capture on the clone server" grep -q "listening on" "$TMP/tcpdump.log"
step "Clients: 40 connections from as many client ports, spread by the router's ECMP hash"
clients 40
for se in se1 se2; do
	printf '%s: %s connections\n' "$se" \
		"$(clonelb $se --json -c 'show virtualservice web runtime' | jq .connections_total)"
done

step "Failover: kill -9 the clonelbd of ${LAB_PREFIX}gse2 (its BIRD dies with it)"
t0=$(date +%s%N)
kill -9 "${se_pid[se2]}"
wait "${se_pid[se2]}" 2>/dev/null || true
unset 'se_pid[se2]'
POLL=0.01 wait_for 10 "se2's next hop to go" hops_are 1
echo "next hop gone after $((($(date +%s%N) - t0) / 1000000)) ms:"
route
clients 20

step "se2 restarts, picks the configuration up from etcd and announces again"
start_se 2
wait_for 15 "se2's next hop to come back" hops_are 2
route
clients 20
wait_for 10 "se2's clone stats to reach se1" published se2
step "Clone stats of both SEs, one table per SE (se2's counters started again with it)"
clonelb se1 -c "show virtualservice web traffic_clone_stats"
wait_for 10 "the clone server's capture to hold every cloned frame" captured
kill "$tcpdump_pid" 2>/dev/null || true
wait "$tcpdump_pid" 2>/dev/null || true
step "What the clone server received, by sending SE (tap0 MACs ...:04:01 = se1, ...:04:02 = se2)"
tshark -r "$TMP/clone.pcap" -n -Y tcp -T fields -e eth.src 2>/dev/null | sort | uniq -c
step "Done; cleaning up"
