"""Traffic cloning end to end: clonelbd configured through its REST API, real HTTP and HTTPS
from the client namespace, frames captured on the clone server (tap) and on the SE's back-end
interface (srv0) and compared with scapy, stats read back through the API.

No timing thresholds: every wait polls with a bound.
"""
import collections
import hashlib
import os
import signal
import subprocess
import time

import pytest
from scapy.all import IP, TCP, Ether, Raw

from conftest import (CLIENT_IP, POOL_IPS, SE_SRV_IP, VIP, Daemon, end_process, nginx_pool,
                      wait_for)
# The capture helpers and the captures fixture are shared with the engine's tests.
from test_clone_engine import (TAP0_MAC, TAP_MAC, assert_identity, captures,  # noqa: F401
                               checksums_ok, cloned_whole, conn_key, frame_key, tc_filters)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (namespaces, eBPF)")

SUBNET = {"ip_addr": {"addr": "10.10.3.0", "type": "V4"}, "mask": 24}
BIG = 1 << 20

# A client in the cli namespace: "get N PATH [tls]" makes N requests, one connection each
# (HTTP/1.0); "ka PATH" sends one HTTP/1.1 request on a kept-alive connection (opened on
# first use); "close" closes it. Answers "ok COUNT BYTES SHA256-OF-LAST-BODY".
CLIENT = r"""
import hashlib, socket, ssl, sys
vip = sys.argv[1]
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
ka = None
def read_response(s, keepalive):
    data = b""
    while True:
        if keepalive and b"\r\n\r\n" in data:
            head, _, body = data.partition(b"\r\n\r\n")
            n = [int(l.split(b":")[1]) for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")]
            if n and len(body) >= n[0]:
                return data
        c = s.recv(65536)
        if not c:
            return data
        data += c
for line in sys.stdin:
    cmd = line.split()
    try:
        if cmd[0] == "get":
            n, path, tls = int(cmd[1]), cmd[2], len(cmd) > 3
            ok = total = 0; digest = ""
            for _ in range(n):
                s = socket.create_connection((vip, 443 if tls else 80), timeout=20)
                if tls:
                    s = ctx.wrap_socket(s, server_hostname="web.lab")
                s.sendall(f"GET {path} HTTP/1.0\r\nHost: web.lab\r\n\r\n".encode())
                data = read_response(s, False); s.close()
                head, _, body = data.partition(b"\r\n\r\n")
                if head.startswith(b"HTTP/1.1 200") or head.startswith(b"HTTP/1.0 200"):
                    ok += 1; total += len(body); digest = hashlib.sha256(body).hexdigest()
            print("ok", ok, total, digest or "-", flush=True)
        elif cmd[0] == "ka":
            if ka is None:
                ka = socket.create_connection((vip, 80), timeout=20)
            ka.sendall(f"GET {cmd[1]} HTTP/1.1\r\nHost: web.lab\r\n\r\n".encode())
            data = read_response(ka, True)
            head, _, body = data.partition(b"\r\n\r\n")
            print("ok", int(head.startswith(b"HTTP/1.1 200")), len(body), ka.getsockname()[1], flush=True)
        elif cmd[0] == "close":
            if ka is not None:
                ka.close(); ka = None
            print("ok", flush=True)
    except Exception as e:
        print("error", repr(e).replace(" ", "_"), flush=True)
"""


class Client:
    def __init__(self, lab):
        self.p = lab.popen("cli", "/usr/bin/python3", "-c", CLIENT, VIP, stdin=subprocess.PIPE,
                           stdout=subprocess.PIPE, text=True)

    def cmd(self, line):
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()
        out = self.p.stdout.readline().split()
        assert out and out[0] == "ok", f"client: {line!r} -> {out}"
        return out[1:]

    def get(self, n, path="/", tls=False):
        ok, nbytes, digest = self.cmd(f"get {n} {path}" + (" tls" if tls else ""))
        return int(ok), int(nbytes), digest

    def stop(self):
        end_process(self.p, ask=self.p.stdin.close)  # end of input: it leaves by itself


# ---- fixtures --------------------------------------------------------------

@pytest.fixture(scope="module")
def web_servers(lab):
    """nginx on both pool addresses (port 80), each answering "server <ip>", and /big (1 MiB)."""
    with nginx_pool(lab, port=80) as servers:
        yield servers


@pytest.fixture
def client(lab):
    c = Client(lab)
    try:
        yield c
    finally:
        c.stop()


@pytest.fixture
def no_stray_filters(lab):
    yield
    for ifname in ("srv0", "tap0", "cli0"):
        for hook in ("ingress", "egress"):
            lab.run("se", "tc", "filter", "del", "dev", ifname, hook, "pref", str(0xc10e), check=False)


# ---- helpers ---------------------------------------------------------------

def server(ip, mac=None):
    d = {"ip_address": {"addr": ip, "type": "V4"}, "subnet": SUBNET}
    if mac:
        d["mac"] = mac
    return d


def configure(d, servers, preserve=False, monitor=False, tls_cert=None, profile=True):
    if profile:
        d.ok("POST", "/api/trafficcloneprofile",
             {"name": "ids", "clone_servers": servers, "preserve_client_ip": preserve})
    if monitor:
        d.ok("POST", "/api/healthmonitor",
             {"name": "hm", "type": "HEALTH_MONITOR_HTTP", "send_interval": 1,
              "receive_timeout": 1, "successful_checks": 1, "failed_checks": 2,
              "http_monitor": {"http_request": "GET / HTTP/1.0", "http_response_code": ["HTTP_2XX"]}})
    d.ok("POST", "/api/pool",
         {"name": "web-pool", "servers": [{"ip": {"addr": ip, "type": "V4"}} for ip in POOL_IPS],
          "health_monitor_refs": ["hm"] if monitor else []})
    vs = {"name": "web", "vip": [{"ip_address": {"addr": VIP, "type": "V4"}}],
          "services": [{"port": 80, "enable_ssl": False}], "pool_ref": "web-pool"}
    if profile:
        vs["traffic_clone_profile_ref"] = "ids"
    if tls_cert:
        d.ok("POST", "/api/sslkeyandcertificate",
             {"name": "web-cert", "certificate": {"certificate": tls_cert["certificate"]}, "key": tls_cert["key"]})
        vs["services"].append({"port": 443, "enable_ssl": True})
        vs["ssl_key_and_certificate_refs"] = ["web-cert"]
    d.ok("POST", "/api/virtualservice", vs)


def stats(d, detail=False):
    return d.ok("GET", "/api/virtualservice/web/traffic_clone_stats" + ("?detail=1" if detail else ""))


def agg(d):
    st = stats(d)
    assert st[0]["proc_id"] == "PROC_Aggregate", st
    return st[0]["clone_srvr_stats"]


def settle(d, timeout=10):
    """Waits until the clone counters stop moving (the last FIN/ACK is in)."""
    last = [None]

    def still():
        time.sleep(0.3)
        now = agg(d)
        same = now == last[0]
        last[0] = now
        return same
    wait_for(still, timeout=timeout, interval=0, what="clone counters to settle")


def serving(client):
    def ok():
        try:
            return client.get(1)[0] == 1
        except AssertionError:
            return False
    return ok


def backend(frames):
    """TCP frames between the SE and a pool server on port 80."""
    return [p for p in frames if {p[IP].src, p[IP].dst} & set(POOL_IPS)
            and 80 in (p[TCP].sport, p[TCP].dport)]


def conns_of(frames):
    """Frames by back-end connection, in capture order: (SE port, pool server address, n),
    n counting the connections that port had towards that server in the capture. The SE
    binds a port again once its TIME_WAIT has rested 1 s (tw_push() in
    src/proxy/px_sess.c), so one port may carry several connections in a run: an SE SYN
    with a new sequence number after the port's first connection starts the next one (a
    retransmitted SYN does not). Captures started together number them alike."""
    per, syn, n = collections.defaultdict(list), {}, collections.Counter()
    for p in frames:
        to_srv = p[IP].dst in POOL_IPS or p[IP].src == CLIENT_IP and p[TCP].dport == 80
        key = (conn_key(p), p[IP].dst if to_srv else p[IP].src)
        if to_srv and p[TCP].flags.S and not p[TCP].flags.A:
            if key in syn and syn[key] != p[TCP].seq or key not in syn and key in n:
                n[key] += 1
            syn[key] = p[TCP].seq
        n[key] += 0
        per[key + (n[key],)].append(p)
    return per


# ---- tests -----------------------------------------------------------------

def test_every_backend_frame_cloned_once_counts_match(lab, web_servers, daemon, client, captures):
    configure(daemon, [server("10.10.3.2")])                 # MAC resolved through ARP
    wait_for(serving(client), what="VIP serving")
    settle(daemon)

    def run():
        assert client.get(10)[0] == 10
        ok, nbytes, _ = client.get(3, "/big")
        assert ok == 3 and nbytes == 3 * BIG
        # An upload: the SE sends the pool server TCP super-frames that are cut
        # into wire frames after the hook; the counters must count wire frames.
        up = lab.run("cli", "curl", "-sS", "--max-time", "20", "-o", "/dev/null", "-w", "%{http_code}",
                     "--data-binary", "@/dev/stdin", f"http://{VIP}/", input="x" * (4 * BIG),
                     check=False)
        assert up.stdout == "200", up.stdout + up.stderr
    cloned, _, _, before = cloned_whole(lab, captures, run, lambda: agg(daemon)[0],
                                        lambda: settle(daemon), lambda wire, _: backend(wire))

    assert len(conns_of(cloned)) == 14                   # one back-end connection per request
    assert all(p[Ether].dst == TAP_MAC and p[Ether].src == TAP0_MAC for p in cloned)
    row, = agg(daemon)
    assert row["ip"] == {"addr": "10.10.3.2", "type": "V4"}
    assert row["num_succeeded"] - before["num_succeeded"] == len(cloned)
    assert row["num_total_pkts_cloned"] - before["num_total_pkts_cloned"] == len(cloned)
    assert_identity(row)

    detail = stats(daemon, detail=True)
    assert detail[0]["proc_id"] == "PROC_Aggregate"
    assert [e["proc_id"] for e in detail[1:]] == [f"PROC_{i}" for i in range(len(detail) - 1)]
    assert sum(e["clone_srvr_stats"][0]["num_succeeded"] for e in detail[1:]) == row["num_succeeded"]
    assert detail[0]["se_uuid"].split(":se-")[1] != ""

    metrics = daemon.ok("GET", "/metrics")
    line = next(l for l in metrics.splitlines() if l.startswith("clonelb_clone_frames_total{")
                and 'result="succeeded"' in l)
    assert int(line.split()[-1]) == row["num_succeeded"], line


def test_three_clone_servers_thirty_connections(lab, web_servers, daemon, client, captures):
    macs = {"10.10.3.2": "02:cc:00:00:00:02", "10.10.3.3": "02:cc:00:00:00:03",
            "10.10.3.4": "02:cc:00:00:00:04"}
    configure(daemon, [server(ip, mac) for ip, mac in macs.items()])
    wait_for(serving(client), what="VIP serving")
    settle(daemon)
    before = {r["ip"]["addr"]: r["num_succeeded"] for r in agg(daemon)}
    tap = captures("tap", "eth0")
    assert client.get(30)[0] == 30
    settle(daemon)
    cloned = tap.stop()

    per_conn = {port: {p[Ether].dst for p in frames} for port, frames in conns_of(cloned).items()}
    assert len(per_conn) == 30
    assert all(len(m) == 1 for m in per_conn.values()), per_conn
    per_server = collections.Counter(next(iter(m)) for m in per_conn.values())
    assert per_server == {mac: 10 for mac in macs.values()}, per_server
    rows = agg(daemon)
    assert [r["ip"]["addr"] for r in rows] == list(macs)
    by_mac = collections.Counter(p[Ether].dst for p in cloned)
    for r in rows:
        assert_identity(r)
        assert r["num_succeeded"] - before[r["ip"]["addr"]] == by_mac[macs[r["ip"]["addr"]]], (r, by_mac)


def test_preserve_client_ip(lab, web_servers, daemon, client, captures):
    configure(daemon, [server("10.10.3.2", TAP_MAC)], preserve=True)
    wait_for(serving(client), what="VIP serving")
    settle(daemon)
    tap, pool = captures("tap", "eth0"), captures("srv", "eth0")
    assert client.get(3, "/big")[0] == 3
    settle(daemon)
    cloned, at_pool = tap.stop(), backend(pool.stop())

    assert cloned
    for p in cloned:
        assert CLIENT_IP in (p[IP].src, p[IP].dst) and SE_SRV_IP not in (p[IP].src, p[IP].dst), p.summary()
        assert checksums_ok(p), f"bad checksum: {p.summary()}"
    assert {p[IP].src for p in cloned} >= {CLIENT_IP}
    assert {p[IP].src for p in cloned} - {CLIENT_IP} <= set(POOL_IPS)
    # The pool servers still see the SE's address, never the client's.
    assert at_pool and all(SE_SRV_IP in (p[IP].src, p[IP].dst) for p in at_pool)
    assert len(conns_of(cloned)) == 3


def test_https_is_cloned_in_clear(lab, web_servers, daemon, client, captures, tls_cert):
    configure(daemon, [server("10.10.3.2", TAP_MAC)], preserve=True, tls_cert=tls_cert)
    wait_for(serving(client), what="VIP serving")
    tap = captures("tap", "eth0")
    ok, _, _ = client.get(1, "/secret-path", tls=True)
    assert ok == 1
    ok, nbytes, _ = client.get(2, "/", tls=True)
    assert ok == 2 and nbytes > 0
    settle(daemon)
    cloned = tap.stop()
    payload = b"".join(bytes(p[Raw]) for p in cloned if Raw in p)
    assert b"GET /secret-path HTTP/1.0" in payload
    assert b"HTTP/1.1 200" in payload and b"server 10.10.2.1" in payload
    assert all(CLIENT_IP in (p[IP].src, p[IP].dst) for p in cloned)


def test_health_checks_not_cloned(lab, web_servers, daemon, client, captures):
    configure(daemon, [server("10.10.3.2", TAP_MAC)], monitor=True)
    tap, srv0 = captures("tap", "eth0"), captures("se", "srv0")
    wait_for(serving(client), what="VIP serving")       # one request: one cloned connection
    time.sleep(2.5)                                      # the monitors run a few rounds meanwhile
    assert client.get(4)[0] == 4
    settle(daemon)
    cloned, wire = tap.stop(), backend(srv0.stop())
    cloned_conns, wire_conns = conns_of(cloned), conns_of(wire)
    # Health checks ran (connections on srv0 that no client caused)...
    assert len(wire_conns) >= len(cloned_conns) + 2, (len(wire_conns), len(cloned_conns))
    # ...and only the client's connections were cloned, each completely.
    assert len(cloned_conns) == 5
    for port, frames in cloned_conns.items():
        assert collections.Counter(map(frame_key, frames)) == \
            collections.Counter(map(frame_key, wire_conns[port]))


def test_adding_clone_server_live_affects_new_connections_only(lab, web_servers, daemon, captures):
    a, b = server("10.10.3.2", "02:cc:00:00:00:0a"), server("10.10.3.3", "02:cc:00:00:00:0b")
    configure(daemon, [a])
    ka = Client(lab)
    try:
        wait_for(serving(ka), what="VIP serving")
        tap = captures("tap", "eth0")
        first = ka.cmd("ka /")                        # a kept-alive client and back-end connection
        daemon.ok("PATCH", "/api/trafficcloneprofile/ids", {"clone_servers": [a, b]})
        again = ka.cmd("ka /big")                     # the same connection after the change
        assert first[0] == again[0] == "1" and int(again[1]) == BIG and first[2] == again[2]
        assert ka.get(4)[0] == 4
        ka.cmd("close")
        settle(daemon)
        cloned = tap.stop()
    finally:
        ka.stop()
    per_conn = {port: {p[Ether].dst for p in frames} for port, frames in conns_of(cloned).items()}
    assert len(per_conn) == 5
    big_conn = max(conns_of(cloned).items(), key=lambda kv: len(kv[1]))[0]
    assert per_conn.pop(big_conn) == {a["mac"]}       # stayed on a, though the change came mid-way
    assert collections.Counter(next(iter(m)) for m in per_conn.values()) == {a["mac"]: 2, b["mac"]: 2}


def test_profile_change_resets_stats_other_changes_do_not(lab, web_servers, daemon, client):
    configure(daemon, [server("10.10.3.2", TAP_MAC)])
    wait_for(serving(client), what="VIP serving")
    assert client.get(3)[0] == 3
    settle(daemon)
    row, = agg(daemon)
    reset_at = stats(daemon)[0]["last_reset"]
    assert row["num_succeeded"] > 0
    daemon.ok("PATCH", "/api/pool/web-pool", {"lb_algorithm": "LB_ALGORITHM_LEAST_CONNECTIONS"})
    assert agg(daemon)[0]["num_succeeded"] >= row["num_succeeded"]
    daemon.ok("PATCH", "/api/trafficcloneprofile/ids", {"preserve_client_ip": True})
    st = stats(daemon, detail=True)
    assert st[0]["last_reset"] > reset_at
    for entry in st:
        r, = entry["clone_srvr_stats"]
        assert (r["num_total_pkts_cloned"], r["num_succeeded"], r["bytes"]) == (0, 0, 0), entry


def test_removing_profile_stops_cloning(lab, web_servers, daemon, client, captures, no_stray_filters):
    configure(daemon, [server("10.10.3.2", TAP_MAC)])
    wait_for(serving(client), what="VIP serving")
    assert tc_filters(lab, "srv0") == {"ingress": 1, "egress": 1}
    daemon.ok("PATCH", "/api/virtualservice/web", {"traffic_clone_profile_ref": None})
    assert tc_filters(lab, "srv0") == {"ingress": 0, "egress": 0}
    tap = captures("tap", "eth0")
    assert client.get(5)[0] == 5
    time.sleep(0.5)
    assert tap.stop() == []


def test_sigterm_and_crash_restart_filters(lab, web_servers, workdir, no_stray_filters):
    d = Daemon(lab, workdir).start()
    try:
        configure(d, [server("10.10.3.2", TAP_MAC)])
        assert tc_filters(lab, "srv0") == {"ingress": 1, "egress": 1}
        assert d.stop(signal.SIGTERM) == 0
        assert tc_filters(lab, "srv0") == {"ingress": 0, "egress": 0}

        d = Daemon(lab, workdir).start()              # the stored config attaches again
        assert tc_filters(lab, "srv0") == {"ingress": 1, "egress": 1}
        d.stop(signal.SIGKILL)
        assert tc_filters(lab, "srv0") == {"ingress": 1, "egress": 1}
        d = Daemon(lab, workdir).start()
        assert tc_filters(lab, "srv0") == {"ingress": 1, "egress": 1}
        c = Client(lab)
        try:
            wait_for(serving(c), what="VIP serving")
            settle(d)
            assert agg(d)[0]["num_succeeded"] > 0
        finally:
            c.stop()
        assert d.stop(signal.SIGTERM) == 0
        assert tc_filters(lab, "srv0") == {"ingress": 0, "egress": 0}
    finally:
        d.stop()


def test_dummy_mac_and_unresolvable_server_do_not_hurt_production(lab, web_servers, daemon, client,
                                                                 captures):
    dummy = server("10.10.3.99", "02:de:ad:be:ef:01")   # a pure sniffer: dummy IP and MAC
    nomac = server("10.10.3.98")                         # nobody answers ARP for it
    configure(daemon, [dummy, nomac])
    wait_for(serving(client), what="VIP serving")
    settle(daemon)
    before = agg(daemon)
    with open(os.path.join(web_servers[0].dir, "big"), "rb") as f:
        want0 = hashlib.sha256(f.read()).hexdigest()
    with open(os.path.join(web_servers[1].dir, "big"), "rb") as f:
        want1 = hashlib.sha256(f.read()).hexdigest()
    tap = captures("tap", "eth0")
    digests = set()
    for _ in range(6):
        ok, nbytes, digest = client.get(1, "/big")
        assert ok == 1 and nbytes == BIG
        digests.add(digest)
    assert digests == {want0, want1}                     # every byte of production arrived
    settle(daemon)
    cloned = tap.stop()
    r_dummy, r_nomac = agg(daemon)
    assert r_dummy["num_succeeded"] - before[0]["num_succeeded"] == \
        len([p for p in cloned if p[Ether].dst == dummy["mac"]]) > 0
    assert r_nomac["mac"] == "" and r_nomac["num_succeeded"] == 0
    assert r_nomac["num_no_mac"] == r_nomac["num_driver_failures"] == r_nomac["num_total_pkts_cloned"] > 0
    assert all(p[Ether].dst == dummy["mac"] for p in cloned)
    for r in (r_dummy, r_nomac):
        assert_identity(r)


def test_stored_clone_server_whose_interface_went_away(lab, web_servers, workdir, no_stray_filters):
    def add_if():
        lab.run("se", "ip", "link", "add", "cx0", "type", "veth", "peer", "name", "cx1")
        lab.run("se", "ip", "addr", "add", "10.10.9.1/24", "dev", "cx0")
        lab.run("se", "ip", "link", "set", "cx0", "up")
        lab.run("se", "ip", "link", "set", "cx1", "up")

    gone = {"ip_address": {"addr": "10.10.9.2", "type": "V4"}, "mac": "02:99:00:00:00:02",
            "subnet": {"ip_addr": {"addr": "10.10.9.0", "type": "V4"}, "mask": 24}}
    add_if()
    d = Daemon(lab, workdir).start()
    c = Client(lab)
    try:
        configure(d, [server("10.10.3.2", TAP_MAC), gone])
        assert d.stop(signal.SIGTERM) == 0
        lab.run("se", "ip", "link", "del", "cx0")
        # The store holds a clone server whose interface is gone: reported, not fatal.
        d = Daemon(lab, workdir).start()
        assert "10.10.9.2: no interface" in d.logtext()
        wait_for(serving(c), what="VIP serving")
        assert c.get(3)[0] == 3
        settle(d)
        r_ok, r_gone = agg(d)
        assert r_gone["interface"] == "" and r_gone["num_succeeded"] == 0
        assert r_gone["num_no_interface"] == r_gone["num_driver_failures"] == \
            r_gone["num_total_pkts_cloned"] > 0, r_gone
        assert r_ok["num_succeeded"] > 0
        # The interface comes back: the engine uses it again by itself.
        add_if()
        wait_for(lambda: agg(d)[1]["interface"] == "cx0", timeout=10, what="cx0 to be used again")
        before = agg(d)[1]["num_succeeded"]
        assert c.get(3)[0] == 3
        settle(d)
        assert agg(d)[1]["num_succeeded"] > before
    finally:
        c.stop()
        d.stop()
        lab.run("se", "ip", "link", "del", "cx0", check=False)
