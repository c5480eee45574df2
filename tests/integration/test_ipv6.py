"""IPv6: VIPs, pools, monitors and clone servers of either family, and bad IPv6 input.

The lab's links carry fd00:10:N::/64 beside 10.10.N.0/24 (tests/lab/lab.sh). Traffic
from the client namespace with curl; configuration through the API and the shell.
"""
import collections
import os
import subprocess

import pytest
from scapy.all import TCP, Ether, IPv6, rdpcap

from conftest import (CLIENT_IP, CLIENT_IP6, CLONELB, CLONELBD, LAB, POOL_IPS, POOL_IPS6, SE_SRV_IP, SE_SRV_IP6, TAP_IP6, VIP, VIP6,
                      Daemon, curl, nginx_pool, wait_for, write_token)
from test_clone_engine import captures  # noqa: F401 (fixture)


def v(addr):
    return {"addr": addr, "type": "V6" if ":" in addr else "V4"}


def setup_web(d, vips, pool_ips, tls_cert=None, monitor=None):
    """A pool of @pool_ips and a VS "web" on @vips, port 80 (and 443 with @tls_cert)."""
    if monitor:
        d.ok("POST", "/api/healthmonitor", monitor)
    d.ok("POST", "/api/pool", {"name": "web-pool", "servers": [{"ip": v(ip)} for ip in pool_ips],
                               "health_monitor_refs": [monitor["name"]] if monitor else []})
    vs = {"name": "web", "vip": [{"ip_address": v(a)} for a in vips],
          "services": [{"port": 80}], "pool_ref": "web-pool"}
    if tls_cert:
        d.ok("POST", "/api/sslkeyandcertificate",
             {"name": "web-cert", "certificate": tls_cert["certificate"], "key": tls_cert["key"]})
        vs["services"].append({"port": 443, "enable_ssl": True})
        vs["ssl_key_and_certificate_refs"] = ["web-cert"]
    d.ok("POST", "/api/virtualservice", vs)


def url(vip, path="/"):
    return f"http://[{vip}]{path}" if ":" in vip else f"http://{vip}{path}"


def get(lab, vip, *args):
    """One request in a new connection; the answering server's address."""
    r = curl(lab, url(vip), *args)
    assert r.returncode == 0, f"curl {url(vip)}: {r.returncode} {r.stderr}"
    assert r.stdout.startswith("server "), r.stdout
    return r.stdout.split()[1]


def https(lab, vip, tls_cert):
    r = curl(lab, "https://web.lab/", "--cacert", tls_cert["cert_path"],
             "--resolve", f"web.lab:443:{'[%s]' % vip if ':' in vip else vip}")
    assert r.returncode == 0, r.stderr
    return r.stdout.split()[1]


def runtime(d):
    return d.ok("GET", "/api/virtualservice/web/runtime")


def settle_all(d, vs="web"):
    """Every clone server's counters once they stopped moving (the last FIN/ACK is in)."""
    last = [None]

    def still():
        st = d.ok("GET", f"/api/virtualservice/{vs}/traffic_clone_stats")
        assert st[0]["proc_id"] == "PROC_Aggregate", st
        now = st[0]["clone_srvr_stats"]
        same = now == last[0]
        last[0] = now
        return now if same else None
    return wait_for(still, timeout=10, interval=0.3, what="clone counters to settle")


def settle(d, vs="web"):
    """The first clone server's settled counters."""
    return settle_all(d, vs)[0]


def serving(lab, vip):
    return lambda: curl(lab, url(vip), timeout=2).returncode == 0


def test_http_and_https_ipv6_vip_to_ipv6_pool(lab, daemon, tls_cert):
    with nginx_pool(lab, ips=POOL_IPS6):
        setup_web(daemon, [VIP6], POOL_IPS6, tls_cert)
        wait_for(serving(lab, VIP6), what="IPv6 VIP serving")
        seen = [get(lab, VIP6) for _ in range(4)]
        assert sorted(set(seen)) == POOL_IPS6, seen
        tls = [https(lab, VIP6, tls_cert) for _ in range(4)]
        assert sorted(set(tls)) == POOL_IPS6, tls
        rt = runtime(daemon)
        assert rt["vip"] == [{"ip_address": {"addr": VIP6, "type": "V6"}}], rt["vip"]
        assert {m["ip"]["addr"]: m["ip"]["type"] for m in rt["pool"]["members"]} == \
            {ip: "V6" for ip in POOL_IPS6}
        # The back-end connections ran from the SE's IPv6 address (SNAT): the SE,
        # which closed them first, holds their TIME_WAIT towards the pool.
        r = lab.run("se", "ss", "-Htn", "state", "time-wait", "src", f"[{SE_SRV_IP6}]",
                    check=False)
        assert all(f"[{ip}]:80" in r.stdout for ip in POOL_IPS6), r.stdout
        # An IPv4 client cannot reach the IPv6-only service over its IPv4 VIP.
        assert curl(lab, f"http://{VIP}/", timeout=3).returncode != 0
        status, text = daemon.api("GET", "/metrics")
        for ip in POOL_IPS6:
            assert f'server="[{ip}]:80"' in text, text


def test_dual_stack_service_to_ipv4_pool(lab, daemon, pool_servers, tls_cert):
    """One service, an IPv4 and an IPv6 VIP, an IPv4 pool: both families of clients served."""
    setup_web(daemon, [VIP, VIP6], POOL_IPS, tls_cert)
    wait_for(serving(lab, VIP6), what="IPv6 VIP serving")
    wait_for(serving(lab, VIP), what="IPv4 VIP serving")
    assert sorted(set(get(lab, VIP6) for _ in range(4))) == POOL_IPS
    assert sorted(set(get(lab, VIP) for _ in range(4))) == POOL_IPS
    assert sorted(set(https(lab, VIP6, tls_cert) for _ in range(2))) == POOL_IPS
    rt = runtime(daemon)
    assert [x["ip_address"]["addr"] for x in rt["vip"]] == [VIP, VIP6]
    # The VIP of one family and port taken by a second service is refused by name.
    status, body = daemon.api("POST", "/api/virtualservice",
                              {"name": "other", "vip": [{"ip_address": v(VIP6)}],
                               "services": [{"port": 80}]})
    assert status == 409 and body["error"] == \
        f"services[1].port: [{VIP6}]:80 is already used by virtualservice 'web'", body


def test_ipv4_clients_to_ipv6_pool(lab, daemon):
    """v4 to v6: the SE connects from its IPv6 address on the pool side."""
    with nginx_pool(lab, ips=POOL_IPS6):
        setup_web(daemon, [VIP], POOL_IPS6)
        wait_for(serving(lab, VIP), what="IPv4 VIP serving")
        assert sorted(set(get(lab, VIP) for _ in range(4))) == POOL_IPS6


def test_monitors_over_ipv6(lab, daemon):
    """TCP and HTTP monitors reach IPv6 servers; a stopped one goes DOWN, naming [addr]:port."""
    hm = {"name": "hm6", "type": "HEALTH_MONITOR_HTTP", "send_interval": 1, "receive_timeout": 1,
          "successful_checks": 1, "failed_checks": 1, "http_request": "GET / HTTP/1.0"}
    with nginx_pool(lab, ips=POOL_IPS6) as servers:
        setup_web(daemon, [VIP6], POOL_IPS6, monitor=hm)
        daemon.ok("POST", "/api/healthmonitor",
                  {"name": "tcp6", "type": "HEALTH_MONITOR_TCP", "send_interval": 1,
                   "receive_timeout": 1, "successful_checks": 1, "failed_checks": 1})
        daemon.ok("PATCH", "/api/pool/web-pool", {"health_monitor_refs": ["hm6", "tcp6"]})
        wait_for(lambda: all(m["health"] == "UP" and len(m["health_monitors"]) == 2
                             for m in runtime(daemon)["pool"]["members"]),
                 timeout=15, what="both IPv6 members UP by both monitors")
        servers[0].stop()
        rt = wait_for(lambda: (lambda r: r if any(m["health"] == "DOWN" for m in r["pool"]["members"])
                               else None)(runtime(daemon)), timeout=15, what="a member DOWN")
        down = [m for m in rt["pool"]["members"] if m["health"] == "DOWN"]
        assert [m["ip"]["addr"] for m in down] == [POOL_IPS6[0]], rt
        wait_for(lambda: f"server [{POOL_IPS6[0]}]:80 is DOWN" in daemon.logtext(),
                 what="the DOWN line in the log")
        assert set(get(lab, VIP6) for _ in range(3)) == {POOL_IPS6[1]}


@pytest.mark.parametrize("body,err", [
    ({"name": "p", "servers": [{"ip": {"addr": "fd00:10:2::11", "type": "V4"}}]},
     "servers[1].ip.type: 'fd00:10:2::11' is an IPv6 address, not V4 (type V6)"),
    ({"name": "p", "servers": [{"ip": {"addr": "fd00:10:2::1x", "type": "V6"}}]},
     "servers[1].ip: invalid IPv6 address 'fd00:10:2::1x'"),
    ({"name": "p", "servers": [{"ip": {"addr": "::ffff:10.10.2.11", "type": "V6"}}]},
     "servers[1].ip: '::ffff:10.10.2.11' is an IPv4-mapped address: give the IPv4 address "
     "10.10.2.11 (type V4)"),
    ({"name": "p", "servers": [{"ip": {"addr": "fe80::11", "type": "V6"}}]},
     "servers[1].ip: fe80::11 is link-local, which needs an interface: give a global or "
     "unique local address"),
])
def test_bad_ipv6_pool_input(lab, daemon, body, err):
    status, out = daemon.api("POST", "/api/pool", body)
    assert (status, out) == (400, {"error": err})
    assert daemon.ok("GET", "/api/pool")["count"] == 0


@pytest.mark.parametrize("cs,err", [
    ({"ip_address": {"addr": "fd00:10:3::2", "type": "V6"},
      "subnet": {"ip_addr": {"addr": "fd00:10:3::", "type": "V6"}, "mask": 129}},
     "clone_servers[1].subnet.mask: invalid prefix length 129 (0..128 for IPv6)"),
    ({"ip_address": {"addr": "fe80::2", "type": "V6"},
      "subnet": {"ip_addr": {"addr": "fe80::", "type": "V6"}, "mask": 64}},
     "clone_servers[1].network_ref: clone server fe80::2 is link-local: set network_ref to "
     "the interface it is on"),
    ({"ip_address": {"addr": "fd00:10:3::2", "type": "V4"}, "network_ref": "tap0"},
     "clone_servers[1].ip_address.type: 'fd00:10:3::2' is an IPv6 address, not V4 (type V6)"),
    ({"ip_address": {"addr": "fd00:10:3::2", "type": "V6"},
      "subnet": {"ip_addr": {"addr": "10.10.3.0", "type": "V4"}, "mask": 24}},
     "clone_servers[1].subnet: 10.10.3.0/24 is an IPv4 subnet but ip_address fd00:10:3::2 is "
     "an IPv6 address"),
    ({"ip_address": {"addr": "fd00:10:9::2", "type": "V6"},
      "subnet": {"ip_addr": {"addr": "fd00:10:9::", "type": "V6"}, "mask": 64}},
     "clone_servers[1].subnet: fd00:10:9::/64 is not the subnet of any interface of this SE"),
    ({"ip_address": {"addr": "fd00:10:3::1", "type": "V6"}, "network_ref": "tap0"},
     "clone_servers[1].ip_address: fd00:10:3::1 is an address of this SE (interface 'tap0')"),
])
def test_bad_ipv6_clone_server_input(lab, daemon, cs, err):
    status, out = daemon.api("POST", "/api/trafficcloneprofile",
                             {"name": "ids", "clone_servers": [cs]})
    assert status == 400 and out["error"].startswith(err), out
    assert "IPv4 address '" not in out["error"]
    assert daemon.ok("GET", "/api/trafficcloneprofile")["count"] == 0


def test_ipv6_clone_servers_accepted_and_shown(lab, daemon):
    """A clone server on the tap's IPv6 subnet, one link-local one by interface; the shell
    shows them canonical and takes a V6 address typed in."""
    daemon.ok("POST", "/api/trafficcloneprofile", {"name": "ids", "clone_servers": [
        {"ip_address": {"addr": "FD00:10:3:0::2"},
         "subnet": {"ip_addr": {"addr": "fd00:10:3::"}, "mask": 64}},
        {"ip_address": {"addr": "fe80::2", "type": "V6"}, "network_ref": "tap0"}]})
    cs = daemon.ok("GET", "/api/trafficcloneprofile/ids")["clone_servers"]
    assert cs[0]["ip_address"] == {"addr": "fd00:10:3::2", "type": "V6"}
    assert cs[0]["subnet"]["ip_addr"] == {"addr": "fd00:10:3::", "type": "V6"}
    r = daemon.cli("-c", "show trafficcloneprofile ids", check=0)
    assert "fd00:10:3::2" in r.stdout and "fd00:10:3::/64" in r.stdout, r.stdout
    r = daemon.cli("-c", "configure trafficcloneprofile ids2", "-c", "clone_servers",
                   "-c", "ip_address fd00:10:3::7", "-c", "subnet fd00:10:3::/64", "-c", "save",
                   "-c", "save", check=0)
    got = daemon.ok("GET", "/api/trafficcloneprofile/ids2")["clone_servers"][0]
    assert got["ip_address"] == {"addr": "fd00:10:3::7", "type": "V6"}, got
    r = daemon.cli("-c", "configure trafficcloneprofile ids3", "-c", "clone_servers",
                   "-c", "ip_address fd00:10:3::7", "-c", "subnet fd00:10:3::/129", check=1)
    assert "subnet.mask: invalid prefix length 129 (0..128 for IPv6)" in r.stderr, r.stderr


def test_ipv6_clone_server_resolved_by_neighbour_discovery(lab, daemon, pool_servers, captures):
    """A clone server given by its IPv6 address, no MAC: the SE learns its MAC by neighbour
    discovery and the clones of an IPv4 service reach it, counted under its address."""
    from test_clone_engine import TAP0_MAC, TAP_MAC
    lab.run("se", "ip", "-6", "neigh", "flush", "dev", "tap0", check=False)
    daemon.ok("POST", "/api/trafficcloneprofile", {"name": "ids", "clone_servers": [
        {"ip_address": v(TAP_IP6), "subnet": {"ip_addr": v("fd00:10:3::"), "mask": 64}}]})
    setup_web(daemon, [VIP], POOL_IPS)
    daemon.ok("PATCH", "/api/virtualservice/web", {"traffic_clone_profile_ref": "ids"})
    wait_for(lambda: f"clone server {TAP_IP6}: MAC {TAP_MAC}" in daemon.logtext(),
             what="the clone server's MAC by neighbour discovery")
    r = lab.run("se", "ip", "-6", "neigh", "show", TAP_IP6, "dev", "tap0")
    assert TAP_MAC in r.stdout, r.stdout
    wait_for(serving(lab, VIP), what="VIP serving")
    before = settle(daemon)
    tap = captures("tap", "eth0")
    assert sorted(set(get(lab, VIP) for _ in range(4))) == POOL_IPS
    row = settle(daemon)
    cloned = tap.stop()
    assert row["ip"] == v(TAP_IP6), row
    assert cloned and all(p[Ether].dst == TAP_MAC and p[Ether].src == TAP0_MAC for p in cloned)
    for k in ("num_succeeded", "num_total_pkts_cloned"):
        assert row[k] - before[k] == len(cloned), (k, row, before, len(cloned))


def test_https_api_on_an_ipv6_address(lab, workdir):
    """--listen [addr]:port serves the HTTPS API over IPv6; a bracket-less IPv6 one is refused."""
    token = write_token(workdir, "v6-secret-token")
    bad = subprocess.run(lab.cmd("se", CLONELBD, "--db", os.path.join(workdir, "x.db"),
                                 "--socket", os.path.join(workdir, "x.sock"),
                                 "--listen", "fd00:10:1::1:8443", "--token-file", token),
                         capture_output=True, text=True, timeout=20)
    assert bad.returncode != 0
    assert "--listen: invalid address or port in 'fd00:10:1::1:8443' (ADDR:PORT or [IPV6]:PORT)" \
        in bad.stderr, bad.stderr
    d = Daemon(lab, workdir, ["--listen", "[fd00:10:1::1]:8443", "--token-file", token]).start()
    try:
        def answer():
            r = curl(lab, "https://[fd00:10:1::1]:8443/api/pool", "-k", "-o", "/dev/null",
                     "-w", "%{http_code}", "-H", "Authorization: Bearer v6-secret-token", timeout=5)
            return r.stdout == "200"
        wait_for(answer, what="the HTTPS API over IPv6")
        r = curl(lab, "https://[fd00:10:1::1]:8443/api/pool", "-k", "-o", "/dev/null",
                 "-w", "%{http_code}", timeout=5)
        assert r.stdout == "401", r.stdout
        # The shell reaches the same controller by its [addr]:port URL.
        r = lab.run("cli", CLONELB, "--controller", "https://[fd00:10:1::1]:8443", "--insecure",
                    "--token-file", token, "-c", "show pool", check=False)
        assert r.returncode == 0, r.stdout + r.stderr
    finally:
        d.stop()


def tshark(path, *fields, flt="tcp"):
    """One row per frame of @path matching @flt: the @fields, with IPv4 and TCP checksums
    verified by tshark (tcp.checksum.status / ip.checksum.status: 1 good, 0 bad)."""
    r = subprocess.run(["tshark", "-r", path, "-n", "-o", "tcp.check_checksum:TRUE",
                        "-o", "ip.check_checksum:TRUE", "-Y", flt, "-T", "fields",
                        "-E", "separator=|", *sum((["-e", f] for f in fields), [])],
                       capture_output=True, text=True, timeout=60, check=True)
    return [line.split("|") for line in r.stdout.splitlines()]


def test_ipv6_client_of_ipv4_pool_keeps_the_se_address(lab, daemon, pool_servers, captures):
    """preserve_client_ip and an IPv6 client of an IPv4 pool: an IPv6 address does not fit an
    IPv4 header, so the clones carry the SE's address, with valid checksums."""
    from test_clone_engine import TAP_MAC
    daemon.ok("POST", "/api/trafficcloneprofile", {"name": "ids", "preserve_client_ip": True,
               "clone_servers": [{"ip_address": v("10.10.3.2"), "mac": TAP_MAC,
                                  "subnet": {"ip_addr": v("10.10.3.0"), "mask": 24}}]})
    setup_web(daemon, [VIP, VIP6], POOL_IPS)
    daemon.ok("PATCH", "/api/virtualservice/web", {"traffic_clone_profile_ref": "ids"})
    wait_for(serving(lab, VIP6), what="IPv6 VIP serving")
    before = settle(daemon)
    tap = captures("tap", "eth0")
    assert sorted(set(get(lab, VIP6) for _ in range(4))) == POOL_IPS
    row = settle(daemon)
    tap.stop()
    rows = tshark(tap.path, "ip.src", "ip.dst", "ip.checksum.status", "tcp.checksum.status")
    assert len(rows) >= 4 * 8, rows
    for src, dst, ipck, tcpck in rows:
        assert SE_SRV_IP in (src, dst) and {src, dst} - {SE_SRV_IP} <= set(POOL_IPS), (src, dst)
        assert (ipck, tcpck) == ("1", "1"), (src, dst, ipck, tcpck)
    assert row["num_succeeded"] - before["num_succeeded"] == len(rows), (row, before)
    # Counted: every one of those frames kept the SE's address.
    assert row["num_client_ip_not_preserved"] - before["num_client_ip_not_preserved"] == \
        len(rows), (row, before)


# ---- the clone check of the IPv4 tests, on IPv6 -------------------------------

def frames6(path):
    """The TCP-over-IPv6 frames of capture @path."""
    return [p for p in rdpcap(path) if IPv6 in p and TCP in p]


def key6(p):
    """The IPv6 packet of p with its TCP checksum zeroed (srv0 shows the partial checksum a
    veth leaves to offload, the clone the completed one); every other byte must be equal."""
    raw = bytearray(bytes(p[IPv6]))
    raw[40 + 16:40 + 18] = b"\0\0"
    return bytes(raw)


def backend6(frames, port=80):
    return [p for p in frames if {p[IPv6].src, p[IPv6].dst} & set(POOL_IPS6)
            and port in (p[TCP].sport, p[TCP].dport)]


def se_port(p):
    """The SE's port of back-end frame p: its connection."""
    return p[TCP].sport if p[IPv6].src == SE_SRV_IP6 else p[TCP].dport


def flows6(frames):
    """Yields ((SE port, n), frame) for back-end frames in capture order, n counting the
    connections that port had in the capture: the SE binds a port again once its
    TIME_WAIT has rested 1 s (tw_push() in src/proxy/px_sess.c), so one port may carry
    several connections in a run. An SE SYN with a new sequence number after the port's
    first connection starts the next one; a retransmitted SYN does not."""
    syn, n = {}, collections.Counter()
    for p in frames:
        port = se_port(p)
        if p[IPv6].src == SE_SRV_IP6 and p[TCP].flags.S and not p[TCP].flags.A:
            if port in syn and syn[port] != p[TCP].seq or port not in syn and port in n:
                n[port] += 1
            syn[port] = p[TCP].seq
        n[port] += 0
        yield (port, n[port]), p


def clone_setup6(d, servers, preserve=False, vips=(VIP6,), pool=POOL_IPS6):
    d.ok("POST", "/api/trafficcloneprofile", {"name": "ids", "preserve_client_ip": preserve,
                                              "clone_servers": servers})
    setup_web(d, list(vips), pool)
    d.ok("PATCH", "/api/virtualservice/web", {"traffic_clone_profile_ref": "ids"})


def cs6(ip, mac=None):
    d = {"ip_address": v(ip), "subnet": {"ip_addr": v("fd00:10:3::"), "mask": 64}}
    if mac:
        d["mac"] = mac
    return d


@pytest.fixture
def pool6(lab):
    with nginx_pool(lab, ips=POOL_IPS6) as servers:
        yield servers


def test_ipv6_every_backend_frame_cloned_once(lab, daemon, pool6, captures):
    """Every frame between the SE and its IPv6 pool, both directions, reaches the clone
    server once, byte for byte but the MACs; the counters equal the frames."""
    from test_clone_engine import TAP0_MAC, TAP_MAC
    clone_setup6(daemon, [cs6(TAP_IP6)])  # MAC by neighbour discovery
    wait_for(serving(lab, VIP6), what="IPv6 VIP serving")
    before = settle(daemon)
    tap, srv0 = captures("tap", "eth0"), captures("se", "srv0")
    assert sorted(set(get(lab, VIP6) for _ in range(6))) == POOL_IPS6
    r = curl(lab, url(VIP6, "/big"), "-o", "/dev/null", "-w", "%{size_download}")
    assert r.stdout == str(1 << 20), r.stdout + r.stderr
    row = settle(daemon)
    tap.stop()
    srv0.stop()
    cloned, wire = frames6(tap.path), backend6(frames6(srv0.path))
    assert len({se_port(p) for p in wire}) == 7
    assert {p[IPv6].src for p in wire} == {SE_SRV_IP6} | set(POOL_IPS6)  # both directions
    assert all(p[Ether].dst == TAP_MAC and p[Ether].src == TAP0_MAC for p in cloned)
    got, want = collections.Counter(map(key6, cloned)), collections.Counter(map(key6, wire))
    missing, extra = want - got, got - want
    assert not missing and not extra, (f"{sum(missing.values())} back-end frames not cloned, "
                                       f"{sum(extra.values())} extra, of {len(wire)}")
    assert row["ip"] == v(TAP_IP6) and row["mac"] == TAP_MAC, row
    for k in ("num_succeeded", "num_total_pkts_cloned"):
        assert row[k] - before[k] == len(cloned), (k, row, before, len(cloned))
    assert row["num_total_pkts_cloned"] == (row["num_succeeded"] + row["num_mbuf_alloc_failed"]
                                            + row["num_driver_failures"]), row


def test_ipv6_three_clone_servers_whole_flows(lab, daemon, pool6, captures):
    """Round robin per connection over 3 IPv6 clone servers: each flow, both directions,
    to one server's MAC; 10 connections each; each server's counters equal its frames."""
    macs = {"fd00:10:3::a": "02:cc:00:00:00:0a", "fd00:10:3::b": "02:cc:00:00:00:0b",
            "fd00:10:3::c": "02:cc:00:00:00:0c"}
    clone_setup6(daemon, [cs6(ip, mac) for ip, mac in macs.items()])
    wait_for(serving(lab, VIP6), what="IPv6 VIP serving")
    st0 = {s["ip"]["addr"]: s for s in settle_all(daemon)}
    tap = captures("tap", "eth0")
    for _ in range(30):
        get(lab, VIP6)
    st = {s["ip"]["addr"]: s for s in settle_all(daemon)}
    tap.stop()
    cloned = frames6(tap.path)
    per_conn = collections.defaultdict(set)
    for flow, p in flows6(cloned):
        per_conn[flow].add(p[Ether].dst)
    assert len(per_conn) == 30 and all(len(m) == 1 for m in per_conn.values()), per_conn
    conns_per_mac = collections.Counter(next(iter(m)) for m in per_conn.values())
    assert sorted(conns_per_mac.values()) == [10, 10, 10], conns_per_mac
    frames_per_mac = collections.Counter(p[Ether].dst for p in cloned)
    for ip, mac in macs.items():
        assert st[ip]["num_succeeded"] - st0[ip]["num_succeeded"] == frames_per_mac[mac], \
            (ip, st[ip], frames_per_mac)


def test_ipv6_preserve_client_ip(lab, daemon, pool6, captures):
    """IPv6 client, IPv6 pool: the clones carry the client's address where the pool sees the
    SE's, with TCP checksums (pseudo-header) that tshark finds valid."""
    from test_clone_engine import TAP_MAC
    clone_setup6(daemon, [cs6(TAP_IP6, TAP_MAC)], preserve=True)
    wait_for(serving(lab, VIP6), what="IPv6 VIP serving")
    before = settle(daemon)
    tap, pool = captures("tap", "eth0"), captures("srv", "eth0")
    for _ in range(3):
        get(lab, VIP6)
    r = curl(lab, url(VIP6, "/big"), "-o", "/dev/null", "-w", "%{size_download}")
    assert r.stdout == str(1 << 20), r.stdout
    row = settle(daemon)
    tap.stop()
    pool.stop()
    rows = tshark(tap.path, "ipv6.src", "ipv6.dst", "tcp.checksum.status")
    assert len(rows) > 100, len(rows)
    for src, dst, ck in rows:
        assert CLIENT_IP6 in (src, dst) and SE_SRV_IP6 not in (src, dst), (src, dst)
        assert {src, dst} - {CLIENT_IP6} <= set(POOL_IPS6), (src, dst)
        assert ck == "1", (src, dst, ck)
    assert row["num_succeeded"] - before["num_succeeded"] == len(rows)
    at_pool = backend6(frames6(pool.path))
    assert at_pool and all(SE_SRV_IP6 in (p[IPv6].src, p[IPv6].dst) for p in at_pool)


def test_ipv4_client_of_ipv6_pool_appears_mapped(lab, daemon, pool6, captures):
    """An IPv4 client of an IPv6 pool: its clones carry ::ffff:10.10.1.2, checksums valid."""
    from test_clone_engine import TAP_MAC
    clone_setup6(daemon, [cs6(TAP_IP6, TAP_MAC)], preserve=True, vips=(VIP,))
    wait_for(serving(lab, VIP), what="IPv4 VIP serving")
    before = settle(daemon)
    tap = captures("tap", "eth0")
    assert sorted(set(get(lab, VIP) for _ in range(4))) == POOL_IPS6
    row = settle(daemon)
    tap.stop()
    rows = tshark(tap.path, "ipv6.src", "ipv6.dst", "tcp.checksum.status")
    mapped = "::ffff:" + CLIENT_IP
    assert len(rows) >= 4 * 8, rows
    for src, dst, ck in rows:
        assert mapped in (src, dst) and {src, dst} - {mapped} <= set(POOL_IPS6), (src, dst)
        assert ck == "1", (src, dst, ck)
    assert row["num_succeeded"] - before["num_succeeded"] == len(rows)
    assert row["num_client_ip_not_preserved"] == 0


SEND_EXT = r"""
import sys
from scapy.all import Ether, IPv6, IPv6ExtHdrDestOpt, IPv6ExtHdrFragment, IPv6ExtHdrHopByHop, TCP, sendp
se_mac, se_ip, src = sys.argv[1:4]
base = Ether(dst=se_mac) / IPv6(src=src, dst=se_ip)
# A reset: the SE answers none, so only these frames are counted.
tcp = TCP(sport=80, dport=4242, flags="R")
frames = {
    "not_registered": base / IPv6ExtHdrHopByHop() / IPv6ExtHdrDestOpt() / tcp,
    "fragment": base / IPv6ExtHdrDestOpt() / IPv6ExtHdrFragment(m=1) / tcp,
    "ipv6_extension_headers": base / (IPv6ExtHdrDestOpt() / IPv6ExtHdrDestOpt()) / (IPv6ExtHdrDestOpt() / IPv6ExtHdrDestOpt()) / (IPv6ExtHdrDestOpt() / IPv6ExtHdrDestOpt()) / IPv6ExtHdrDestOpt() / tcp,
}
for name in sys.argv[4:]:
    sendp(frames[name], iface="eth0", count=5, verbose=False)
"""


def events(d):
    out = {}
    for line in d.ok("GET", "/metrics").splitlines():
        if line.startswith("clonelb_clone_program_events_total{"):
            out[line.split('event="')[1].split('"')[0]] = int(line.split()[-1])
    return out


@pytest.mark.parametrize("kind", ["not_registered", "fragment", "ipv6_extension_headers"])
def test_ipv6_extension_headers_walked_or_counted(lab, daemon, pool6, kind):
    """IPv6 frames with extension headers on a cloned interface: TCP behind two of them is
    found (an unknown connection: not_registered), a fragment is counted as one, seven
    headers are more than the program walks and are counted as such, never misparsed."""
    from test_clone_engine import TAP_MAC
    clone_setup6(daemon, [cs6(TAP_IP6, TAP_MAC)])
    wait_for(lambda: "attached to srv0" in daemon.logtext(), what="the program on srv0")
    se_mac = lab.run("se", "cat", "/sys/class/net/srv0/address").stdout.strip()
    before = events(daemon)
    lab.run("srv", "/usr/bin/python3", "-c", SEND_EXT, se_mac, SE_SRV_IP6, POOL_IPS6[0], kind)
    after = wait_for(lambda: (lambda e: e if e[kind] - before[kind] >= 5 else None)(events(daemon)),
                     what=f"5 frames counted as {kind}")
    assert after[kind] - before[kind] == 5, (before, after)
    for other in {"not_registered", "fragment", "ipv6_extension_headers", "short"} - {kind}:
        assert after[other] == before[other], (other, before, after)


@pytest.mark.parametrize("outer", ["IPv4", "IPv6"])
def test_ipv6_flows_to_an_encapsulated_collector(lab, daemon, pool6, captures, outer):
    """The frames of an IPv6 pool reach a VXLAN collector two routers away (the outer
    header IPv4 or IPv6, the inner frame IPv6), every one of them."""
    from test_clone_encap import COLLECTOR, COLLECTOR6
    collector, vni, vx = (COLLECTOR, 42, "vx0") if outer == "IPv4" else (COLLECTOR6, 46, "vx6")
    subprocess.run([LAB, "routers-up"], env=lab.env, check=True)
    lab.ns.update({r: lab.prefix + r for r in ("r1", "r2", "col")})
    try:
        clone_setup6(daemon, [{"ip_address": v(collector), "encap_type": "CLONE_ENCAP_VXLAN",
                               "vni": vni}])
        wait_for(serving(lab, VIP6), what="IPv6 VIP serving")
        before = settle(daemon)
        srv0, vx0 = captures("se", "srv0"), captures("col", vx)
        assert sorted(set(get(lab, VIP6) for _ in range(4))) == POOL_IPS6
        row = settle(daemon)
        srv0.stop()
        vx0.stop()
        inner, wire = frames6(vx0.path), backend6(frames6(srv0.path))
        got, want = collections.Counter(map(key6, inner)), collections.Counter(map(key6, wire))
        assert wire and got == want, (len(inner), len(wire))
        assert row["num_succeeded"] - before["num_succeeded"] == len(inner)
    finally:
        subprocess.run([LAB, "routers-down"], env=lab.env, check=False)


def test_ipv6_vip_put_on_lo_and_served(lab, daemon, pool_servers):
    """An IPv6 VIP of the shared group that no interface has is put on lo as a /128 (no
    duplicate address detection: usable at once, marked as clonelbd's by its address
    protocol) and served; it leaves lo with its service. A VIP outside the client's subnet,
    reached through a route to the SE, as docs/deployment.md advises."""
    vip = "fd00:10:9::20"
    lab.run("cli", "ip", "-6", "route", "replace", f"{vip}/128", "via", "fd00:10:1::1")
    try:
        setup_web(daemon, [vip], POOL_IPS)
        wait_for(serving(lab, vip), timeout=15, what="the VIP served from lo")
        lo = lab.run("se", "ip", "-6", "addr", "show", "dev", "lo").stdout
        assert f"inet6 {vip}/128" in lo and "tentative" not in lo, lo
        assert runtime(daemon)["listen_error"] is None
        daemon.ok("DELETE", "/api/virtualservice/web")   # found again by its mark, removed
        wait_for(lambda: vip not in lab.run("se", "ip", "-6", "addr", "show", "dev", "lo").stdout,
                 what="the VIP gone from lo")
    finally:
        lab.run("cli", "ip", "-6", "route", "del", f"{vip}/128", check=False)
        lab.run("se", "ip", "-6", "addr", "del", f"{vip}/128", "dev", "lo", check=False)


def test_ipv6_clone_server_mac_change_is_followed(lab, daemon, pool_servers):
    """An IPv6 clone server whose MAC changes without announcing it (ndisc_notify off, the
    default): the engine's neighbour solicitations learn the new MAC, and the table has it."""
    from test_clone_engine import TAP_MAC
    daemon.ok("POST", "/api/trafficcloneprofile", {"name": "ids", "clone_servers": [cs6(TAP_IP6)]})
    setup_web(daemon, [VIP], POOL_IPS)
    daemon.ok("PATCH", "/api/virtualservice/web", {"traffic_clone_profile_ref": "ids"})
    wait_for(lambda: settle(daemon)["mac"] == TAP_MAC, what="the MAC by neighbour discovery")
    new_mac = "02:fc:00:00:03:96"
    lab.run("tap", "sysctl", "-qw", "net.ipv6.conf.eth0.ndisc_notify=0")
    lab.run("tap", "ip", "link", "set", "eth0", "address", new_mac)
    try:
        # Far below the kernel's own re-probing of a stale entry (tens of seconds).
        wait_for(lambda: settle(daemon)["mac"] == new_mac, timeout=15,
                 what="the engine to follow the new MAC")
        neigh = lab.run("se", "ip", "-6", "neigh", "show", TAP_IP6, "dev", "tap0").stdout
        assert new_mac in neigh, neigh
    finally:
        lab.run("tap", "ip", "link", "set", "eth0", "address", TAP_MAC)
        lab.run("se", "ip", "-6", "neigh", "del", TAP_IP6, "dev", "tap0", check=False)


def test_dead_ipv6_sensor_taken_out_and_put_back(lab, daemon, pool6, captures):
    """A directly connected IPv6 clone server is watched through its neighbour entry: once it
    stops answering the engine's neighbour solicitations (its address gone, the link up) it is
    taken out and new connections are cloned to the other server; it comes back when it
    answers again. The IPv6 twin of test_clone_filters' dead-sensor tests."""
    from test_clone_engine import TAP_MAC
    other, other_mac = "fd00:10:3::a", "02:cc:00:00:00:0a"   # configured MAC: never taken out

    def row(ip):
        return next(r for r in settle_all(daemon) if r["ip"]["addr"] == ip)

    clone_setup6(daemon, [cs6(TAP_IP6), cs6(other, other_mac)])
    wait_for(serving(lab, VIP6), what="IPv6 VIP serving")
    r = wait_for(lambda: (lambda r: r["oper_state"] == "OPER_UP" and r["mac"] == TAP_MAC and r)(
        row(TAP_IP6)), timeout=10, what="the IPv6 sensor up with a MAC")
    assert (r["health_check"], r["oper_reason"]) == ("ndp", "answers NDP"), r
    assert row(other)["health_check"] == "none"

    lab.run("tap", "ip", "-6", "addr", "del", f"{TAP_IP6}/64", "dev", "eth0")
    try:
        r = wait_for(lambda: (lambda r: r["oper_state"] == "OPER_DOWN" and r)(row(TAP_IP6)),
                     timeout=15, what=f"{TAP_IP6} down")
        assert "no NDP answer" in r["oper_reason"] and r["num_down"] == 1, r
        assert f"clone server {TAP_IP6} is down" in daemon.logtext()
        metrics = daemon.ok("GET", "/metrics")
        assert f'clonelb_clone_server_up{{clone_server="{TAP_IP6}"}} 0' in metrics
        tap = captures("tap", "eth0")
        for _ in range(4):
            get(lab, VIP6)
        settle_all(daemon)
        tap.stop()
        per_conn = collections.defaultdict(set)
        for p in frames6(tap.path):
            per_conn[se_port(p)].add(p[Ether].dst)
        assert len(per_conn) == 4 and all(m == {other_mac} for m in per_conn.values()), per_conn
    finally:
        lab.run("tap", "ip", "-6", "addr", "replace", f"{TAP_IP6}/64", "dev", "eth0", "nodad")
    wait_for(lambda: row(TAP_IP6)["oper_state"] == "OPER_UP", timeout=15,
             what=f"{TAP_IP6} up again")
    assert f"clone server {TAP_IP6} is up again" in daemon.logtext()


def test_dead_ipv6_sensor_open_flows_move_to_the_other(lab, daemon, pool6, captures):
    """The open flows of an IPv6 clone server that stops answering move, whole, to the other
    server of the profile, counted in the dead one's num_failover; the other flow stays."""
    from test_clone import BIG, CLIENT, Client
    from test_clone_engine import TAP_MAC
    other, other_mac = "fd00:10:3::a", "02:cc:00:00:00:0a"

    class Client6(Client):
        def __init__(self, lab):
            self.p = lab.popen("cli", "/usr/bin/python3", "-c", CLIENT, VIP6,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def row(ip):
        return next(r for r in settle_all(daemon) if r["ip"]["addr"] == ip)

    def per_conn(path):
        conns = collections.defaultdict(list)
        for p in frames6(path):
            conns[se_port(p)].append(p)
        return conns

    clone_setup6(daemon, [cs6(TAP_IP6), cs6(other, other_mac)])
    wait_for(serving(lab, VIP6), what="IPv6 VIP serving")
    wait_for(lambda: row(TAP_IP6)["oper_state"] == "OPER_UP" and row(TAP_IP6)["mac"] == TAP_MAC,
             timeout=10, what="the IPv6 sensor up with a MAC")
    kas = [Client6(lab), Client6(lab)]
    try:
        tap = captures("tap", "eth0")
        ports = [int(ka.cmd("ka /")[2]) for ka in kas]
        settle_all(daemon)
        tap.stop()
        on = {port: {p[Ether].dst for p in f} for port, f in per_conn(tap.path).items()}
        assert sorted(on.values(), key=sorted) == [{other_mac}, {TAP_MAC}], on  # one each
        dying = next(port for port, macs in on.items() if macs == {TAP_MAC})
        lab.run("tap", "ip", "-6", "addr", "del", f"{TAP_IP6}/64", "dev", "eth0")
        wait_for(lambda: row(TAP_IP6)["oper_state"] == "OPER_DOWN", timeout=15,
                 what=f"{TAP_IP6} down")
        before = row(TAP_IP6)
        tap = captures("tap", "eth0")
        for ka in kas:                                     # both connections go on
            got = ka.cmd("ka /big")
            assert got[0] == "1" and int(got[1]) == BIG, got
        after = row(TAP_IP6)
        tap.stop()
    finally:
        for ka in kas:
            ka.stop()
        lab.run("tap", "ip", "-6", "addr", "replace", f"{TAP_IP6}/64", "dev", "eth0", "nodad")
    cloned = per_conn(tap.path)
    assert len(ports) == 2 and len(cloned) == 2 and dying in cloned, (cloned.keys(), dying)
    assert all({p[Ether].dst for p in f} == {other_mac} for f in cloned.values()), \
        {port: {p[Ether].dst for p in f} for port, f in cloned.items()}
    assert after["num_failover"] - before["num_failover"] == len(cloned[dying]), after
    wait_for(lambda: row(TAP_IP6)["oper_state"] == "OPER_UP", timeout=15,
             what=f"{TAP_IP6} up again")
