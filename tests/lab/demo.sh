#!/usr/bin/env bash
# demo.sh: the whole story on a throw-away lab: a cloned virtual service, real HTTP and HTTPS
# traffic, the clone stats, and what the clone server received. Cleans up after itself.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${CLONELB_BUILD:-$ROOT/build}
export LAB_PREFIX=${LAB_PREFIX:-demo-}
LAB="$ROOT/tests/lab/lab.sh"
NS_SE=${LAB_PREFIX}se NS_SRV=${LAB_PREFIX}srv NS_CLI=${LAB_PREFIX}cli NS_TAP=${LAB_PREFIX}tap
NS_COL=${LAB_PREFIX}col
TMP=$(mktemp -d /tmp/clonelb-demo.XXXXXX)
SOCK=$TMP/api.sock
pids=()

cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	"$LAB" down
	rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
clonelb() { "$BUILD/clonelb" --socket "$SOCK" "$@"; }
# capture NS IF FILE: tcpdump on interface IF of namespace NS into $TMP/FILE, in the background.
capture() {
	ip netns exec "$1" tcpdump -i "$2" -U -n -s 0 -w "$TMP/$3" 2>/dev/null &
	pids+=($!)
}

step "Lab: namespaces ${NS_CLI} (client 10.10.1.2), ${NS_SE} (clonelbd), ${NS_SRV} (nginx 10.10.2.11/.12), ${NS_TAP} (clone server 10.10.3.2)"
"$LAB" up

openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=web.lab \
	-keyout "$TMP/key.pem" -out "$TMP/cert.pem" >/dev/null 2>&1
for ip in 10.10.2.11 10.10.2.12; do
	mkdir -p "$TMP/nginx-$ip"
	cat >"$TMP/nginx-$ip/nginx.conf" <<CONF
worker_processes 1; daemon off; pid $TMP/nginx-$ip/pid; error_log $TMP/nginx-$ip/error.log;
events { worker_connections 1024; }
http { access_log off; client_body_temp_path $TMP/nginx-$ip/b; proxy_temp_path $TMP/nginx-$ip/p;
  fastcgi_temp_path $TMP/nginx-$ip/f; uwsgi_temp_path $TMP/nginx-$ip/u; scgi_temp_path $TMP/nginx-$ip/s;
  server { listen $ip:80; location / { return 200 "hello from pool server $ip\n"; } }
  server { listen $ip:443 ssl; ssl_certificate $TMP/cert.pem; ssl_certificate_key $TMP/key.pem;
    location / { return 200 "hello over TLS from pool server $ip\n"; } } }
CONF
	ip netns exec "$NS_SRV" nginx -c "$TMP/nginx-$ip/nginx.conf" &
	pids+=($!)
done

step "Start clonelbd in ${NS_SE} (database and API socket in $TMP)"
ip netns exec "$NS_SE" "$BUILD/clonelbd" --db "$TMP/config.db" --socket "$SOCK" 2>"$TMP/clonelbd.log" &
pids+=($!)
for _ in $(seq 100); do [ -S "$SOCK" ] && break; sleep 0.1; done

step "Capture on the clone server (${NS_TAP} eth0)"
capture "$NS_TAP" eth0 clone.pcap
sleep 1

cat >"$TMP/setup.clonelb" <<CONF
configure healthmonitor hm-tcp
type HEALTH_MONITOR_TCP
send_interval 2
receive_timeout 1
save
configure pool web-pool
servers
ip 10.10.2.11
save
servers
ip 10.10.2.12
save
health_monitor_refs hm-tcp
save
configure sslkeyandcertificate web-cert
certificate @$TMP/cert.pem
key @$TMP/key.pem
save
configure trafficcloneprofile ids-profile
clone_servers
ip_address 10.10.3.2
subnet 10.10.3.0/24
mac 02:fc:00:00:03:02
save
preserve_client_ip
save
configure virtualservice web
vip
ip_address 10.10.1.10
save
services
port 80
save
services
port 443
enable_ssl
save
ssl_key_and_certificate_refs web-cert
pool_ref web-pool
traffic_clone_profile_ref ids-profile
save
CONF
step "Configure through the shell: clonelb -f setup.clonelb"
sed 's/^/    /' "$TMP/setup.clonelb"
clonelb -f "$TMP/setup.clonelb"
clonelb -c "show trafficcloneprofile ids-profile"
clonelb -c "show virtualservice web"

step "Client traffic: 3 HTTP and 2 HTTPS requests to the VIP 10.10.1.10"
sleep 1
for i in 1 2 3; do ip netns exec "$NS_CLI" curl -sS --max-time 5 http://10.10.1.10/; done
for i in 1 2; do
	ip netns exec "$NS_CLI" curl -sS --max-time 5 --cacert "$TMP/cert.pem" \
		--resolve web.lab:443:10.10.1.10 https://web.lab/
done
sleep 1

step "clonelb -c 'show virtualservice web traffic_clone_stats'"
clonelb -c "show virtualservice web traffic_clone_stats"

kill "${pids[-1]}" 2>/dev/null || true
sleep 0.5
step "What the clone server received: HTTP in clear (also for HTTPS), client IP 10.10.1.2 preserved"
echo "(eth.dst = the clone server's MAC; ip.src = the client, not the SE; Host web.lab = an HTTPS request)"
tshark -r "$TMP/clone.pcap" -n -Y http \
	-T fields -E separator=' ' -e eth.dst -e ip.src -e tcp.srcport -e ip.dst -e tcp.dstport \
	-e http.request.method -e http.host -e http.response.code 2>/dev/null | head -20
echo
cloned=$(tshark -r "$TMP/clone.pcap" -n -Y "eth.dst == 02:fc:00:00:03:02 && tcp" 2>/dev/null | wc -l)
echo "cloned frames received by the clone server: $cloned (num_succeeded above counts the same frames)"

step "Routed collectors: ${LAB_PREFIX}col, two router hops away (${LAB_PREFIX}r1, ${LAB_PREFIX}r2: plain forwarding)"
"$LAB" routers-up
ip netns exec "$NS_SE" ip route show 10.10.6.0/24
ip netns exec "$NS_COL" ip -d link show vx0 | sed -n '1p;3p'
echo "(vx0: a Linux vxlan device, VNI 42, port 4789, that decapsulates what reaches 10.10.6.2)"
capture "$NS_COL" vx0 vx0.pcap
capture "$NS_COL" eth0 col.pcap
sleep 1
cat >"$TMP/collectors.clonelb" <<CONF
configure trafficcloneprofile collectors
clone_servers
ip_address 10.10.6.2
encap_type CLONE_ENCAP_VXLAN
vni 42
save
clone_servers
ip_address 10.10.6.3
encap_type CLONE_ENCAP_ERSPAN_III
erspan_session_id 7
save
save
configure virtualservice web
traffic_clone_profile_ref collectors
save
CONF
step "Clone to them over VXLAN and ERSPAN type III: clonelb -f collectors.clonelb"
sed 's/^/    /' "$TMP/collectors.clonelb"
clonelb -f "$TMP/collectors.clonelb"
sleep 1
for i in 1 2 3 4; do ip netns exec "$NS_CLI" curl -sS --max-time 5 http://10.10.1.10/; done
sleep 1
clonelb -c "show virtualservice web traffic_clone_stats"
kill "${pids[-1]}" "${pids[-2]}" 2>/dev/null || true
sleep 0.5
step "What vx0 decapsulated (the back-end frames, as the SE's srv0 carried them)"
tshark -r "$TMP/vx0.pcap" -n -Y http -T fields -E separator=' ' -e eth.src -e eth.dst -e ip.src \
	-e tcp.srcport -e ip.dst -e tcp.dstport -e http.request.method -e http.response.code 2>/dev/null | head -8
step "tshark's decode of the ERSPAN type III capture on the collector's wire"
tshark -r "$TMP/col.pcap" -n -Y "erspan && !icmp && http" -O erspan,http 2>/dev/null | awk '/^Frame/ { n++ } n == 1' | head -30
echo
tshark -r "$TMP/col.pcap" -n -Y "erspan && !icmp && http" -T fields -E separator=' ' -e ip.src -e ip.dst \
	-e erspan.spanid -e erspan.direction -e http.request.method -e http.response.code 2>/dev/null | head -6
echo "(outer 10.10.4.1 -> 10.10.6.3: the SE's address on rtr0; SpanID 7; Direction: 1 frames srv0 sent, 0 frames it received)"
step "End to end TLS: HTTPS from the client, HTTPS to the pool (nginx on :443), plaintext clones"
capture "$NS_TAP" eth0 plain.pcap
capture "$NS_SE" srv0 srv0.pcap
sleep 1
cat >"$TMP/tls.clonelb" <<CONF
configure pool tls-pool
default_server_port 443
ssl_profile_ref System-Standard
servers
ip 10.10.2.11
save
servers
ip 10.10.2.12
save
save
configure trafficcloneprofile plain-ids
clone_servers
ip_address 10.10.3.2
subnet 10.10.3.0/24
mac 02:fc:00:00:03:02
save
preserve_client_ip
plaintext_for_tls_pools
save
configure virtualservice web
pool_ref tls-pool
traffic_clone_profile_ref plain-ids
save
CONF
sed 's/^/    /' "$TMP/tls.clonelb"
clonelb -f "$TMP/tls.clonelb"
sleep 1
for i in 1 2; do
	ip netns exec "$NS_CLI" curl -sS --max-time 5 --cacert "$TMP/cert.pem" \
		--resolve web.lab:443:10.10.1.10 https://web.lab/
done
sleep 1
clonelb -c "show virtualservice web traffic_clone_stats"
kill "${pids[-1]}" "${pids[-2]}" 2>/dev/null || true
sleep 0.5
echo "The production wire (the SE's srv0): TLS only"
tshark -r "$TMP/srv0.pcap" -n -Y "tls.record" -T fields -E separator=' ' -e ip.src -e ip.dst \
	-e _ws.col.Info 2>/dev/null | head -6
echo "... and what the clone server read (tcpdump -A): plain HTTP, from the client's address"
tcpdump -r "$TMP/plain.pcap" -n -A 2>/dev/null | grep -E '^[0-9:.]+ IP |GET / |HTTP/1.1 200|hello over TLS' | head -14
echo
tshark -r "$TMP/plain.pcap" -n -q -z conv,tcp 2>/dev/null | sed -n '/<->/p'
echo "(one synthesized plaintext TCP flow per back-end connection: handshake, data, FINs; no TLS frame cloned)"
step "Done; cleaning up"
