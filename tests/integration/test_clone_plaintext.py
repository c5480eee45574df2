"""Plaintext clones of TLS pools (trafficcloneprofile.plaintext_for_tls_pools): a service whose
pool speaks TLS to nginx HTTPS servers gives its clone server, for every back-end connection, a
synthesized plaintext TCP flow instead of the encrypted wire. Checked with tshark as an IDS
would read it: "follow TCP stream" equals the plaintext byte for byte, every flow complete, no
missing segment, no bad checksum; the production bytes (sha256 on the client and on the
server) and the clone counters against the capture.

Every wait polls with a bound.
"""
import collections
import hashlib
import os
import subprocess

import pytest
from scapy.all import IP, TCP, Ether, Raw

from conftest import (CLIENT_IP, POOL_IPS, POOL_IPS6, SE_SRV_IP, TAP_IP, VIP, https_pool, nginx_pool,
                      wait_for)
from test_clone import BIG, Client, agg, conns_of, settle
from test_clone_filters import SUBNET2, TAP2_IP, TAP2_MAC, oper, row_of, sensor, tap2  # noqa: F401
from test_clone_encap import collector as encap_collector, no_stray_filters, routers  # noqa: F401
# The capture helpers and the captures fixture are shared with the engine's tests.
from test_clone_engine import assert_identity, captures, checksums_ok, frame_key  # noqa: F401

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (namespaces, eBPF)")

SUBNET = {"ip_addr": {"addr": "10.10.3.0", "type": "V4"}, "mask": 24}
CLONE_SERVER = {"ip_address": {"addr": "10.10.3.2", "type": "V4"}, "subnet": SUBNET}
MIB = 1 << 20
# Wireshark's conversation completeness: SYN, SYN-ACK, ACK, data and FIN seen (no RST).
COMPLETE = 31

# From the client namespace, over TLS to VIP:443, each exchange on its own connection (HTTP/1.1,
# Connection: close, read to the end): "up" PUTs 1 MiB of random bytes to /up/blob, "down" GETs
# /big (1 MiB). Writes what it sent and what it received to <dir>/<name>.req and .resp.
CLIENT = r"""
import os, socket, ssl, sys
vip, out = sys.argv[1], sys.argv[2]
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
def exchange(name, req):
    s = ctx.wrap_socket(socket.create_connection((vip, 443), timeout=30), server_hostname="web.lab")
    s.sendall(req)
    data = b""
    while True:
        try:
            c = s.recv(65536)
        except ssl.SSLEOFError:
            break
        if not c:
            break
        data += c
    s.close()
    for ext, b in (("req", req), ("resp", data)):
        with open(f"{out}/{name}.{ext}", "wb") as f:
            f.write(b)
body = os.urandom(1 << 20)
exchange("up", b"PUT /up/blob HTTP/1.1\r\nHost: web.lab\r\nContent-Length: %d\r\n"
               b"Connection: close\r\n\r\n" % len(body) + body)
exchange("down", b"GET /big HTTP/1.1\r\nHost: web.lab\r\nConnection: close\r\n\r\n")
"""


# ---- helpers ---------------------------------------------------------------

def configure(d, tls_cert, plaintext=True, preserve=False, tls_pool=True, port=443):
    d.ok("POST", "/api/trafficcloneprofile",
         {"name": "ids", "clone_servers": [CLONE_SERVER], "preserve_client_ip": preserve,
          "plaintext_for_tls_pools": plaintext})
    configure_rest(d, tls_cert, tls_pool, port)


def configure_rest(d, tls_cert, tls_pool=True, port=443, ips=POOL_IPS):
    """The pool, certificate and service "web" (VIP:80 and VIP:443 with TLS) with profile "ids"."""
    pool = {"name": "pool", "default_server_port": port,
            "servers": [{"ip": {"addr": ip, "type": "V6" if ":" in ip else "V4"}} for ip in ips]}
    if tls_pool:
        pool["ssl_profile_ref"] = "System-Standard"  # no pki_profile_ref: both servers, unverified
    d.ok("POST", "/api/pool", pool)
    d.ok("POST", "/api/sslkeyandcertificate",
         {"name": "web-cert", "certificate": {"certificate": tls_cert["certificate"]},
          "key": tls_cert["key"]})
    d.ok("POST", "/api/virtualservice",
         {"name": "web", "vip": [{"ip_address": {"addr": VIP, "type": "V4"}}],
          "services": [{"port": 80}, {"port": 443, "enable_ssl": True}], "pool_ref": "pool",
          "ssl_key_and_certificate_refs": ["web-cert"], "traffic_clone_profile_ref": "ids"})


def tshark(*args):
    r = subprocess.run(["tshark", "-n", *args], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return r.stdout


def streams(pcap):
    """{tcp.stream: completeness} of a capture, as Wireshark's two-pass analysis ends."""
    out = {}
    for line in tshark("-2", "-r", pcap, "-T", "fields", "-e", "tcp.stream",
                       "-e", "tcp.completeness").splitlines():
        n, _, c = line.partition("\t")
        if n:
            out[int(n)] = int(c or 0)
    return out


def follow(pcap, n):
    """tshark's "follow TCP stream" of stream @n: (first node's bytes, second node's bytes)."""
    text = tshark("-r", pcap, "-q", "-z", f"follow,tcp,raw,{n}")
    sides = [bytearray(), bytearray()]
    body = text.split("Node 1:", 1)[1].split("\n", 1)[1]
    for line in body.splitlines():
        if line.startswith("====="):
            break
        if line.strip():
            sides[line.startswith("\t")] += bytes.fromhex(line.strip())
    return bytes(sides[0]), bytes(sides[1])


def expert(pcap):
    """tshark's expert analysis of @pcap, checksums checked (Wireshark does not by default)."""
    return tshark("-r", pcap, "-q", "-o", "tcp.check_checksum:TRUE", "-o", "ip.check_checksum:TRUE",
                  "-z", "expert")


def metric(d, name):
    line = next(l for l in d.ok("GET", "/metrics").splitlines() if l.startswith(name + " "))
    return int(line.split()[-1])


def event(d, ev):
    return metric(d, f'clonelb_clone_program_events_total{{event="{ev}"}}')


def transfer(lab, workdir):
    """The client's upload and download; returns {name: (request, response)}."""
    out = os.path.join(workdir, "client")
    os.mkdir(out)
    lab.run("cli", "/usr/bin/python3", "-c", CLIENT, VIP, out, timeout=120)
    got = {}
    for name in ("up", "down"):
        with open(f"{out}/{name}.req", "rb") as rq, open(f"{out}/{name}.resp", "rb") as rs:
            got[name] = (rq.read(), rs.read())
    return got


def ready(lab, d):
    """Waits for the service's listeners and the clone server's MAC without sending it
    anything, so the counters count only what the test sends."""
    def listening():
        return all(f":{port}" in lab.run("se", "ss", "-Hltn", f"src {VIP}:{port}", check=False).stdout
                   for port in (80, 443))
    wait_for(listening, what="VIP listening")
    wait_for(lambda: agg(d) and agg(d)[0]["mac"], what="the clone server's MAC")


# ---- tests -----------------------------------------------------------------

def test_tls_pool_cloned_as_plaintext_flows(lab, daemon, tls_cert, https_servers, captures, workdir):
    """End-to-end TLS (client to VIP:443, SE to nginx:443): the clone server receives a
    plaintext TCP flow per back-end connection that tshark follows to exactly the bytes of a
    1 MiB upload and a 1 MiB download, complete, with no missing segment and no bad checksum,
    cut at the MSS; none of the encrypted frames; counters equal to the frames captured;
    the production bytes unchanged."""
    configure(daemon, tls_cert)
    ready(lab, daemon)
    tap, srv0 = captures("tap", "eth0"), captures("se", "srv0")
    got = transfer(lab, workdir)
    settle(daemon)
    cloned, wire = tap.stop(), srv0.stop()

    # What the client got is what the servers hold.
    up_req, up_resp = got["up"]
    down_req, down_resp = got["down"]
    assert up_resp.startswith(b"HTTP/1.1 201") or up_resp.startswith(b"HTTP/1.1 204"), up_resp[:200]
    head, _, body = down_resp.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and len(body) == MIB, head
    assert hashlib.sha256(body).hexdigest() == https_servers[0].big_sha256
    sent = hashlib.sha256(up_req.partition(b"\r\n\r\n")[2]).hexdigest()
    stored = []
    for s in https_servers:
        path = os.path.join(s.dir, "up", "blob")
        if os.path.exists(path):
            with open(path, "rb") as f:
                stored.append(hashlib.sha256(f.read()).hexdigest())
    assert stored == [sent], (stored, sent)

    # The production wire is TLS; the clone carries none of it.
    assert len(tshark("-r", srv0.path, "-Y", "tls.record", "-T", "fields", "-e", "frame.number")
               .splitlines()) > 100
    assert tshark("-r", tap.path, "-Y", "tls", "-T", "fields", "-e", "frame.number") == ""
    # Every encrypted frame the program saw was left alone: each one it sees is a frame of
    # srv0 (or a GSO super-frame of several).
    replaced = event(daemon, "plaintext_replaced")
    assert len(wire) / 64 < replaced <= len(wire), (replaced, len(wire))

    # One flow per back-end connection, followed to the exact plaintext, complete.
    flows = streams(tap.path)
    assert len(flows) == 2, flows
    by_request = {}
    for n, completeness in flows.items():
        to_server, from_server = follow(tap.path, n)
        by_request[to_server[:3]] = (to_server, from_server, completeness)
    up, down = by_request[b"PUT"], by_request[b"GET"]
    assert up[0] == up_req and up[1] == up_resp, (len(up[0]), len(up_req), up[1][:100], up_resp[:100])
    assert down[0] == down_req and down[1] == down_resp, (len(down[1]), len(down_resp))
    assert up[2] == COMPLETE and down[2] == COMPLETE, flows

    text = expert(tap.path)
    for bad in ("Previous segment", "ACKed segment that wasn't captured", "checksum",
                "Retransmission", "out-of-order"):
        assert bad.lower() not in text.lower(), text
    assert all(checksums_ok(p) for p in cloned)

    # Between the SE's and the servers' addresses, at the MSS of each flow's SYN.
    conns = collections.defaultdict(list)
    for p in cloned:
        assert {p[IP].src, p[IP].dst} <= {SE_SRV_IP, *POOL_IPS} and 443 in (p[TCP].sport, p[TCP].dport), p.summary()
        conns[p[TCP].sport if p[IP].src == SE_SRV_IP else p[TCP].dport].append(p)
    for frames in conns.values():
        syn = frames[0]
        assert syn[TCP].flags == "S" and syn[IP].src == SE_SRV_IP, syn.summary()
        mss = dict(syn[TCP].options)["MSS"]
        sizes = [len(p[Raw].load) for p in frames if Raw in p]
        assert max(sizes) == mss and sum(sizes) > MIB, (mss, max(sizes))

    # The counters are the frames on the capture.
    row, = agg(daemon)
    assert row["num_succeeded"] == len(cloned) == row["num_total_pkts_cloned"], (row, len(cloned))
    assert row["bytes"] == sum(len(p) for p in cloned), row
    assert_identity(row)
    assert metric(daemon, "clonelb_clone_plaintext_flows_total") == 2
    assert metric(daemon, 'clonelb_clone_plaintext_frames_total{result="unsent"}') == 0


def test_preserve_client_ip_and_keepalive(lab, daemon, tls_cert, https_servers, captures):
    """With preserve_client_ip the synthesized flows carry the client's address (valid
    checksums); requests on kept-alive plain client connections (VIP:80 to the TLS pool) are
    each one complete flow whose plaintext is the HTTP exchange."""
    configure(daemon, tls_cert, preserve=True)
    ready(lab, daemon)
    tap = captures("tap", "eth0")
    r = lab.run("cli", "curl", "-sS", "--max-time", "10", f"http://{VIP}/a", f"http://{VIP}/b",
                f"http://{VIP}/c", check=False)
    assert r.returncode == 0 and r.stdout.count("server ") == 3, (r.stdout, r.stderr)
    settle(daemon)
    cloned = tap.stop()
    assert cloned and all(CLIENT_IP in (p[IP].src, p[IP].dst) for p in cloned)
    assert not any(SE_SRV_IP in (p[IP].src, p[IP].dst) for p in cloned)
    assert all(checksums_ok(p) for p in cloned)
    flows = streams(tap.path)
    assert len(flows) == 1 and set(flows.values()) == {COMPLETE}, flows
    to_server, from_server = follow(tap.path, next(iter(flows)))
    assert [l.split()[1] for l in to_server.split(b"\r\n") if l.startswith(b"GET ")] == \
        [b"/a", b"/b", b"/c"], to_server
    assert from_server.count(b"HTTP/1.1 200 OK") == 3 and from_server.count(b"server 10.10.2.1") == 3
    assert "Previous segment" not in expert(tap.path)
    row, = agg(daemon)
    assert row["num_succeeded"] == len(cloned) == row["num_total_pkts_cloned"], row
    assert_identity(row)


def test_ipv6_pool(lab, daemon, tls_cert, pki, workdir, captures):
    """An IPv6 TLS pool behind an IPv4 VIP: the synthesized flow is IPv6, at the IPv6 MSS,
    complete, its plaintext the download; with preserve_client_ip the client appears as
    ::ffff:10.10.1.2, as in any clone of an IPv6 pool."""
    with https_pool(lab, pki, workdir, POOL_IPS6) as servers:
        daemon.ok("POST", "/api/trafficcloneprofile",
                  {"name": "ids", "clone_servers": [CLONE_SERVER], "preserve_client_ip": True,
                   "plaintext_for_tls_pools": True})
        configure_rest(daemon, tls_cert, ips=POOL_IPS6)
        ready(lab, daemon)
        tap = captures("tap", "eth0")
        r = lab.run("cli", "sh", "-c", f"curl -sS --max-time 20 http://{VIP}/big | sha256sum", check=False)
        assert r.stdout.split()[0] == servers[0].big_sha256, (r.stdout, r.stderr)
        settle(daemon)
        tap.stop()
    flows = streams(tap.path)
    assert list(flows.values()) == [COMPLETE], flows
    to_server, from_server = follow(tap.path, next(iter(flows)))
    assert to_server.startswith(b"GET /big HTTP/1.1\r\n") and len(from_server) > MIB, to_server
    rows = [l.split("\t") for l in tshark("-r", tap.path, "-Y", "tcp", "-T", "fields", "-e", "ipv6.src",
                                          "-e", "ipv6.dst", "-e", "tcp.len").splitlines()]
    assert {a for row in rows for a in row[:2]} <= {"::ffff:10.10.1.2", *POOL_IPS6}, rows[:4]
    assert max(int(row[2]) for row in rows) == 1428, rows[:4]  # 1500 - 40 - 20 - 12 (timestamps)
    assert "Previous segment" not in expert(tap.path)
    row, = agg(daemon)
    assert row["num_succeeded"] == row["num_total_pkts_cloned"] == len(rows), (row, len(rows))


def test_vxlan_collector_gets_the_plaintext_flow(lab, routers, daemon, tls_cert, https_servers,
                                                 captures, no_stray_filters):
    """A VXLAN collector two routers away (tests/lab/lab.sh routers-up): the synthesized frames
    are themselves encapsulated and routed; the collector's vxlan device decapsulates one
    complete flow whose plaintext is the kept-alive HTTP exchange, with valid checksums, as
    many frames as the counters say, and its eth0 carries no TLS."""
    daemon.ok("POST", "/api/trafficcloneprofile",
              {"name": "ids", "plaintext_for_tls_pools": True,
               "clone_servers": [encap_collector(vni=42)]})
    configure_rest(daemon, tls_cert)
    wait_for(lambda: agg(daemon) and agg(daemon)[0]["interface"] == "rtr0",
             what="the collector's route")
    vx0, wire = captures("col", "vx0"), captures("col", "eth0")
    r = lab.run("cli", "curl", "-sS", "--max-time", "10", f"http://{VIP}/a", f"http://{VIP}/b",
                f"http://{VIP}/c", check=False)
    assert r.returncode == 0 and r.stdout.count("server ") == 3, (r.stdout, r.stderr)
    settle(daemon)
    inner, outer = vx0.stop(), wire.stop()
    assert inner and all(checksums_ok(p) for p in inner)
    assert all({p[IP].src, p[IP].dst} <= {SE_SRV_IP, *POOL_IPS} for p in inner)
    flows = streams(vx0.path)
    assert list(flows.values()) == [COMPLETE], flows
    to_server, from_server = follow(vx0.path, next(iter(flows)))
    assert [l.split()[1] for l in to_server.split(b"\r\n") if l.startswith(b"GET ")] == \
        [b"/a", b"/b", b"/c"], to_server
    assert from_server.count(b"HTTP/1.1 200 OK") == 3
    assert "Previous segment" not in expert(vx0.path)
    assert tshark("-r", wire.path, "-Y", "tls", "-T", "fields", "-e", "frame.number") == ""
    row, = agg(daemon)
    assert row["num_succeeded"] == row["num_total_pkts_cloned"] == len(inner), (row, len(inner))
    assert_identity(row)


@pytest.fixture
def tap_address_removable(lab):
    """The clone server's address in the tap namespace, put back at the end (also on failure):
    without it the server stops answering ARP while its link stays up."""
    yield lambda: lab.run("tap", "ip", "addr", "del", f"{TAP_IP}/24", "dev", "eth0")
    lab.run("tap", "ip", "addr", "replace", f"{TAP_IP}/24", "dev", "eth0", check=False)


def test_dead_sensor_plaintext_flow_moves_to_a_sensor_on_another_interface(
        lab, daemon, tls_cert, https_servers, captures, tap2, tap_address_removable):
    """The synthesized frames of a flow leave by its clone server's interface (tap0); when that
    server stops answering, the program redirects them to the next server's interface (tap1),
    with that server's MAC: the flow's plaintext goes on there, counted as failed over."""
    daemon.ok("POST", "/api/trafficcloneprofile",
              {"name": "ids", "plaintext_for_tls_pools": True,
               "clone_servers": [CLONE_SERVER, sensor(TAP2_IP, SUBNET2)]})
    configure_rest(daemon, tls_cert)
    ready(lab, daemon)
    wait_for(lambda: all(r["oper_state"] == "OPER_UP" and r["mac"] for r in agg(daemon)),
             timeout=10, what="both clone servers up with a MAC")
    kas = [Client(lab), Client(lab)]
    try:
        tap = captures("tap", "eth0")
        for ka in kas:                                  # two kept-alive connections
            assert ka.cmd("ka /")[0] == "1"
        settle(daemon)
        on_a = conns_of(tap.stop())
        assert len(on_a) == 1, on_a.keys()              # round robin: one of them on 10.10.3.2
        a_conn = next(iter(on_a))
        tap_address_removable()
        wait_for(lambda: oper(daemon, TAP_IP) == "OPER_DOWN", timeout=15, what="10.10.3.2 down")
        settle(daemon)
        before = row_of(daemon, TAP_IP)
        tap, t2 = captures("tap", "eth0"), captures("tap2", "eth0")
        for ka in kas:
            got = ka.cmd("ka /big")
            assert got[0] == "1" and int(got[1]) == BIG
            ka.cmd("close")
        settle(daemon)
        on_a_after, on_b = conns_of(tap.stop()), conns_of(t2.stop())
    finally:
        for ka in kas:
            ka.stop()
    # Nothing more for the dead server; both flows, the moved one too, at the other one.
    assert not on_a_after, on_a_after.keys()
    assert a_conn in on_b and len(on_b) == 2, (a_conn, on_b.keys())
    moved = on_b[a_conn]
    assert {p[Ether].dst for p in moved} == {TAP2_MAC}
    assert all(checksums_ok(p) for p in moved)
    # Plaintext both ways, not TLS records: the request line, and the answer whole.
    sent = b"".join(bytes(p[Raw]) for p in moved if Raw in p and p[IP].src == SE_SRV_IP)
    body = b"".join(bytes(p[Raw]) for p in moved if Raw in p and p[IP].src != SE_SRV_IP)
    assert b"GET /big HTTP/1.1\r\n" in sent, sent[:200]
    assert b"HTTP/1.1 200 OK" in body and len(body) > BIG
    # Counted on the dead server's row: its flow's frames, sent to another.
    after = row_of(daemon, TAP_IP)
    assert after["num_failover"] - before["num_failover"] == len(moved), after
    for r in agg(daemon):
        assert_identity(r)


@pytest.mark.parametrize("encap,field,value,dissector", [
    ("CLONE_ENCAP_GENEVE", "vni", 77, "geneve"),
    ("CLONE_ENCAP_ERSPAN_II", "erspan_session_id", 5, "erspan"),
    ("CLONE_ENCAP_ERSPAN_III", "erspan_session_id", 1023, "erspan"),
])
def test_geneve_and_erspan_collectors_get_the_plaintext_flow(lab, routers, daemon, tls_cert,
                                                              https_servers, captures, workdir,
                                                              no_stray_filters, encap, field,
                                                              value, dissector):
    """As the VXLAN test, for the tunnels the collector does not decapsulate: tshark decodes
    them on its eth0 and follows the inner flow, which holds the kept-alive HTTP exchange."""
    daemon.ok("POST", "/api/trafficcloneprofile",
              {"name": "ids", "plaintext_for_tls_pools": True,
               "clone_servers": [encap_collector(encap=encap, **{field: value})]})
    configure_rest(daemon, tls_cert)
    wait_for(lambda: agg(daemon) and agg(daemon)[0]["interface"] == "rtr0",
             what="the collector's route")
    wire = captures("col", "eth0")
    r = lab.run("cli", "curl", "-sS", "--max-time", "10", f"http://{VIP}/a", f"http://{VIP}/b",
                check=False)
    assert r.returncode == 0 and r.stdout.count("server ") == 2, (r.stdout, r.stderr)
    settle(daemon)
    wire.stop()
    # The encapsulated packets alone (not the collector's ICMP errors, which quote them).
    tunnelled = os.path.join(workdir, "tunnelled.pcap")
    tshark("-r", wire.path, "-Y", f"{dissector} && !icmp", "-w", tunnelled)
    flows = streams(tunnelled)
    assert list(flows.values()) == [COMPLETE], flows
    to_server, from_server = follow(tunnelled, next(iter(flows)))
    assert [l.split()[1] for l in to_server.split(b"\r\n") if l.startswith(b"GET ")] == \
        [b"/a", b"/b"], to_server
    assert from_server.count(b"HTTP/1.1 200 OK") == 2
    assert "Previous segment" not in expert(tunnelled)
    assert tshark("-r", tunnelled, "-Y", "tls", "-T", "fields", "-e", "frame.number") == ""
    n = len(tshark("-r", tunnelled, "-T", "fields", "-e", "frame.number").split())
    row, = agg(daemon)
    assert row["num_succeeded"] == row["num_total_pkts_cloned"] == n, (row, n)
    assert_identity(row)


def test_flag_changes_nothing_for_a_plain_pool(lab, daemon, tls_cert, captures):
    """A pool that does not speak TLS: the flag changes nothing, the clone server gets the
    back-end frames themselves, every one exactly once."""
    with nginx_pool(lab, port=80):
        configure(daemon, tls_cert, tls_pool=False, port=80)
        ready(lab, daemon)
        tap, srv0 = captures("tap", "eth0"), captures("se", "srv0")
        r = lab.run("cli", "curl", "-sS", "--max-time", "10", "-o", "/dev/null", "-w", "%{size_download}",
                    f"http://{VIP}/big", check=False)
        assert r.returncode == 0 and r.stdout == str(MIB), (r.stdout, r.stderr)
        settle(daemon)
        cloned, wire = tap.stop(), srv0.stop()
    registered = [p for p in wire if {p[IP].src, p[IP].dst} & set(POOL_IPS) and
                  80 in (p[TCP].sport, p[TCP].dport)]
    assert len(registered) > 700, len(registered)
    # No monitor: the client's connection is all srv0 carries, every frame cloned once.
    assert collections.Counter(map(frame_key, cloned)) == collections.Counter(map(frame_key, registered))
    assert metric(daemon, "clonelb_clone_plaintext_flows_total") == 0
    row, = agg(daemon)
    assert row["num_succeeded"] == len(cloned) == row["num_total_pkts_cloned"], row
    assert event(daemon, "plaintext_replaced") == 0


def test_frames_the_kernel_refuses_are_counted_not_queued(lab, daemon, tls_cert, https_servers):
    """The clone interface down: every synthesized frame is refused at the send, counted in
    the clone server's counters (identity kept) and in the unsent metric, and the production
    download is whole."""
    daemon.ok("POST", "/api/trafficcloneprofile",
              {"name": "ids", "plaintext_for_tls_pools": True,
               "clone_servers": [dict(CLONE_SERVER, mac="02:fc:00:00:03:02")]})  # never watched
    configure_rest(daemon, tls_cert)
    ready(lab, daemon)
    lab.run("se", "ip", "link", "set", "tap0", "down")
    try:
        r = lab.run("cli", "sh", "-c", f"curl -sS --max-time 20 http://{VIP}/big | sha256sum", check=False)
        assert r.stdout.split()[0] == https_servers[0].big_sha256, (r.stdout, r.stderr)
        settle(daemon)
        row, = agg(daemon)
    finally:
        lab.run("se", "ip", "link", "set", "tap0", "up")
    unsent = metric(daemon, 'clonelb_clone_plaintext_frames_total{result="unsent"}')
    assert unsent > 700 and row["num_succeeded"] == 0, (unsent, row)
    assert row["num_total_pkts_cloned"] == row["num_driver_failures"] == unsent, (unsent, row)
    assert row["bytes_failed"] > MIB, row
    assert_identity(row)


def test_bad_value_refused(daemon):
    """A value that is not a boolean is refused naming the field and the value; nothing is
    stored."""
    for bad, shown in (("yes", '"yes"'), (1, "1")):
        status, out = daemon.api("POST", "/api/trafficcloneprofile",
                                 {"name": "ids", "clone_servers": [CLONE_SERVER],
                                  "plaintext_for_tls_pools": bad})
        assert status == 400, (status, out)
        assert f"plaintext_for_tls_pools: expected true or false, got {shown}" in out["error"], out
    assert daemon.ok("GET", "/api/trafficcloneprofile")["results"] == []
    prof = daemon.ok("POST", "/api/trafficcloneprofile", {"name": "ids", "clone_servers": [CLONE_SERVER]})
    assert prof["plaintext_for_tls_pools"] is False, prof
