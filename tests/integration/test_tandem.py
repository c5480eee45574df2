"""The reference's tandem for end-to-end TLS ("SSL on the back end"): two virtual services on
two SE groups, so that the clone of the first one's pool traffic is plain text.

    client --TLS--> VS1 (SE group A, se1) --HTTP--> VS1-A (SE group B, se2) --TLS--> nginx HTTPS
                       \\ clone of se1's pool wire: the plaintext request and response

Built in the SE group lab (tests/lab/group.sh) on one etcd: se1 runs group A, se2 group B,
both groups HA_MODE_LEGACY_ACTIVE_STANDBY with one SE each. VS1's VIP is on the front segment
(the router reaches it by ARP), VS1-A's on the pool segment, which se1's back end is on: VS1's
pool member is that VIP, as in the reference's figure. Every wait polls with a bound.
"""
import collections
import os
import re
import subprocess
import uuid

import pytest
from scapy.all import IP, TCP, Ether, Raw

from conftest import Daemon, https_pool, wait_for
from test_clone_engine import Capture, frame_key
from test_group import GROUP, CLONE_IP, CLONE_MAC, POOL, SE_BACK, SE_TAP_MAC, GroupLab

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (namespaces, eBPF)")

STORE = "etcd://10.30.5.100:2379"
VIP1 = "10.30.2.100"    # VS1: TLS from the clients, SE group A, on the front segment
VIP1A = "10.30.3.100"   # VS1-A: VS1's pool member, SE group B, on the pool segment
NAME = "web.lab"        # the name of VS1's certificate (conftest's tls_cert)
GROUPS = {"se1": "group-a", "se2": "group-b"}


@pytest.fixture(scope="module")
def glab():
    lb = GroupLab(os.environ.get("LAB_PREFIX") or f"t{os.getpid() % 10000}-")
    lb.up()
    try:
        subprocess.run([GROUP, "etcd-start"], env=lb.env, check=True, timeout=60)
        yield lb
    finally:
        subprocess.run([GROUP, "etcd-stop"], env=lb.env, check=False, timeout=60)
        lb.down()


@pytest.fixture(scope="module")
def tandem_servers(glab, pki):
    """nginx HTTPS on both pool addresses, port 443, certificates of ca1 for pool.lab."""
    with https_pool(glab, pki, glab.dir, ips=POOL, certs=("srv1", "srv1")) as servers:
        yield servers


def configure(d, pki, tls_cert):  # noqa: F811
    """The tandem through one SE's API (the other reads it from etcd)."""
    for g in GROUPS.values():
        d.ok("POST", "/api/serviceenginegroup",
             {"name": g, "ha_mode": "HA_MODE_LEGACY_ACTIVE_STANDBY"})
    # VS1-A: plain HTTP from VS1, re-encrypted to the HTTPS servers, verified.
    d.ok("POST", "/api/pkiprofile", {"name": "lab-ca", "ca_certs": [{"certificate": pki["ca1"]}]})
    d.ok("POST", "/api/pool", {"name": "https-pool", "default_server_port": 443,
                               "ssl_profile_ref": "System-Standard", "pki_profile_ref": "lab-ca",
                               "server_name": "pool.lab",
                               "servers": [{"ip": {"addr": ip, "type": "V4"}} for ip in POOL]})
    d.ok("POST", "/api/virtualservice", {
        "name": "vs1-a", "vip": [{"ip_address": {"addr": VIP1A, "type": "V4"}}],
        "services": [{"port": 80}], "pool_ref": "https-pool", "se_group_ref": GROUPS["se2"]})
    # VS1: TLS from the clients; its one pool member is VS1-A; cloned.
    d.ok("POST", "/api/sslkeyandcertificate", {
        "name": "web-cert", "certificate": {"certificate": tls_cert["certificate"]},
        "key": tls_cert["key"]})
    d.ok("POST", "/api/trafficcloneprofile", {"name": "ids", "clone_servers": [
        {"ip_address": {"addr": CLONE_IP, "type": "V4"}, "mac": CLONE_MAC,
         "subnet": {"ip_addr": {"addr": "10.30.4.0", "type": "V4"}, "mask": 24}}]})
    d.ok("POST", "/api/pool", {"name": "to-vs1-a",
                               "servers": [{"ip": {"addr": VIP1A, "type": "V4"}, "port": 80}]})
    d.ok("POST", "/api/virtualservice", {
        "name": "vs1", "vip": [{"ip_address": {"addr": VIP1, "type": "V4"}}],
        "services": [{"port": 443, "enable_ssl": True}], "pool_ref": "to-vs1-a",
        "ssl_key_and_certificate_refs": ["web-cert"], "traffic_clone_profile_ref": "ids",
        "se_group_ref": GROUPS["se1"]})


@pytest.fixture(scope="module")
def tandem(glab, tandem_servers, pki, tls_cert):
    """se1 (group A) and se2 (group B) on the lab's etcd, the tandem configured and serving."""
    made = {}
    try:
        for role, group in GROUPS.items():
            wd = os.path.join(glab.dir, role)
            os.makedirs(wd)
            made[role] = Daemon(glab, wd, role=role, extra_args=[
                "--store", STORE, "--se-name", role, "--se-group", group]).start()
        configure(made["se1"], pki, tls_cert)
        wait_for(lambda: https_get(glab, tls_cert, "/ready").returncode == 0, timeout=30,
                 interval=0.2, what="the tandem serving the client")
        yield made
    finally:
        for d in made.values():
            d.stop()


def https_get(glab, tls_cert, path, vip=VIP1):
    """curl from the client: HTTPS to @vip with VS1's name, its certificate verified."""
    return glab.run("cli", "curl", "-fsS", "--http1.1", "--max-time", "5", "--cacert",
                    tls_cert["cert_path"], "--resolve", f"{NAME}:443:{vip}",
                    f"https://{NAME}{path}", check=False, timeout=15)


def uuid_of(d, se_name):
    return next(e["uuid"] for e in d.ok("GET", "/api/serviceengine")["results"]
                if e["name"] == se_name)


def cloned_by(d, vs, se_uuid):
    """num_succeeded and num_total_pkts_cloned of @vs's clone server on SE @se_uuid."""
    for e in d.ok("GET", f"/api/virtualservice/{vs}/traffic_clone_stats"):
        if e["se_uuid"] == se_uuid and e["proc_id"] == "PROC_Aggregate":
            cs = e["clone_srvr_stats"][0] if e["clone_srvr_stats"] else {}
            return cs.get("num_succeeded", 0), cs.get("num_total_pkts_cloned", 0)
    return 0, 0


def settled(fn):
    """Polls @fn until two readings in a row are equal; returns the last."""
    last = [object()]

    def still():
        now = fn()
        same = now == last[0]
        last[0] = now
        return same
    wait_for(still, timeout=10, interval=0.3, what="clone counters to settle")
    return last[0]


def streams(frames, se_ip, server_ip, server_port):
    """{SE port: (bytes SE -> server, bytes server -> SE)} of the TCP payloads in @frames,
    each direction put together in sequence order (a retransmission counted once)."""
    seg = collections.defaultdict(dict)
    for p in frames:
        if Raw not in p:
            continue
        if (p[IP].src, p[IP].dst, p[TCP].dport) == (se_ip, server_ip, server_port):
            seg[(p[TCP].sport, 0)][p[TCP].seq] = bytes(p[Raw])
        elif (p[IP].src, p[IP].dst, p[TCP].sport) == (server_ip, se_ip, server_port):
            seg[(p[TCP].dport, 1)][p[TCP].seq] = bytes(p[Raw])
    out = collections.defaultdict(lambda: [b"", b""])
    for (port, way), by_seq in seg.items():
        out[port][way] = b"".join(by_seq[s] for s in sorted(by_seq))
    return {k: tuple(v) for k, v in out.items()}


def tshark(pcap, *args):
    r = subprocess.run(["tshark", "-r", pcap, "-n", *args], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_each_group_runs_its_own_service(glab, tandem):
    """VS1 listens on se1 only (VIP on its front interface), VS1-A on se2 only (VIP on its
    pool-side interface): two SE groups, never the same SE."""
    for role, vip, port, dev in (("se1", VIP1, 443, "front0"), ("se2", VIP1A, 80, "srv0")):
        other = "se2" if role == "se1" else "se1"
        wait_for(lambda: f"inet {vip}/32" in glab.run(role, "ip", "-4", "addr", "show", "dev",
                                                      dev).stdout,
                 timeout=15, what=f"{vip} on {role}'s {dev}")
        assert f"{vip}:{port}" in glab.run(role, "ss", "-Hltn").stdout
        assert f"{vip}:{port}" not in glab.run(other, "ss", "-Hltn").stdout
        assert vip not in glab.run(other, "ip", "-4", "addr").stdout
    # se2 verifies the HTTPS servers (VS1-A's runtime, from the SE that runs it).
    tls = tandem["se2"].ok("GET", "/api/virtualservice/vs1-a/runtime")["pool"]["server_tls"]
    assert tls["verified"] is True and tls["sni"] == "pool.lab", tls


def test_clone_of_vs1_is_the_plaintext_request_and_response(glab, tandem, tmp_path, tls_cert):
    """Through the tandem each HTTPS request is answered by an HTTPS server; the clone
    server receives from se1 the plain HTTP request line and response of every connection
    between se1 and VS1-A, frame for frame what crossed se1's back end, as many frames as
    VS1's traffic_clone_stats count on se1; VS1-A's wire to the servers is TLS only."""
    se1 = tandem["se1"]
    u1, u2 = uuid_of(se1, "se1"), uuid_of(se1, "se2")
    before = settled(lambda: cloned_by(se1, "vs1", u1))
    tap = Capture(glab, "tap", "eth0", str(tmp_path / "tap.pcap"))
    back = Capture(glab, "se1", "srv0", str(tmp_path / "se1-srv0.pcap"))
    srv_pcap = str(tmp_path / "srv.pcap")
    srv = Capture(glab, "srv", "eth0", srv_pcap)
    paths = [f"/tandem-{uuid.uuid4().hex}" for _ in range(4)]
    bodies = []
    for path in paths:
        r = https_get(glab, tls_cert, path)
        assert r.returncode == 0, r.stderr
        # nginx answered over TLS, with the SNI se2 sent.
        assert re.fullmatch(r"server 10\.30\.3\.1[12] sni=pool\.lab client= reused=[r.]\n",
                            r.stdout), r.stdout
        bodies.append(r.stdout.encode())
    after = settled(lambda: cloned_by(se1, "vs1", u1))
    srv_frames = srv.stop()
    wire = [p for p in back.stop() if {p[IP].src, p[IP].dst} == {SE_BACK["se1"], VIP1A}
            and 80 in (p[TCP].sport, p[TCP].dport)]
    clones = tap.stop()
    mine = [p for p in clones if p[Ether].src == SE_TAP_MAC["se1"]]

    # Every clone is se1's (group B has no clone profile) and addressed to the clone server.
    assert mine and len(mine) == len(clones), (len(mine), len(clones))
    assert all(p[Ether].dst == CLONE_MAC for p in mine)
    # Frame for frame what crossed se1's back end, and as many as its stats count.
    got, want = collections.Counter(map(frame_key, mine)), collections.Counter(map(frame_key, wire))
    assert got == want, (f"{sum((want - got).values())} back-end frames not cloned, "
                         f"{sum((got - want).values())} extra, of {len(wire)}")
    succeeded, total = after[0] - before[0], after[1] - before[1]
    assert succeeded == total == len(mine), (succeeded, total, len(mine))
    assert cloned_by(se1, "vs1", u2) == (0, 0)  # se2 does not run VS1

    # Plain text in both directions: each connection's request line to VS1-A and the body
    # the client got back.
    flows = streams(mine, SE_BACK["se1"], VIP1A, 80)
    assert len(flows) == len(paths), flows.keys()
    for path, body in zip(paths, bodies):
        hits = [(up, down) for up, down in flows.values()
                if up.startswith(f"GET {path} HTTP/1.1\r\n".encode())]
        assert len(hits) == 1, (path, [u[:60] for u, _ in flows.values()])
        up, down = hits[0]
        assert f"Host: {NAME}\r\n".encode() in up, up
        assert down.startswith(b"HTTP/1.1 200 ") and down.endswith(b"\r\n\r\n" + body), down
    # tshark reads the clones as HTTP, requests and responses.
    clone_pcap = str(tmp_path / "tap.pcap")
    uris = tshark(clone_pcap, "-Y", "http.request", "-T", "fields", "-e", "http.request.uri")
    assert sorted(uris.split()) == sorted(paths), uris
    codes = tshark(clone_pcap, "-Y", "http.response", "-T", "fields", "-e", "http.response.code")
    assert codes.split() == ["200"] * len(paths), codes

    # VS1-A's wire to the servers: TLS with SNI pool.lab, no byte of plain HTTP.
    srv_wire = [p for p in srv_frames if 443 in (p[TCP].sport, p[TCP].dport)]
    assert srv_wire
    assert {p[IP].src for p in srv_wire if p[TCP].dport == 443} == {SE_BACK["se2"]}
    payload = b"".join(bytes(p[Raw]) for p in srv_wire if Raw in p)
    assert b"HTTP/1.1" not in payload and not any(p.encode() in payload for p in paths)
    sni = tshark(srv_pcap, "-Y", "tls.handshake.type == 1", "-T", "fields",
                 "-e", "tls.handshake.extensions_server_name")
    assert sni.split() == ["pool.lab"] * len(paths), sni
    assert tshark(srv_pcap, "-Y", "tls.record.content_type == 23").strip()


def test_without_the_tandem_the_clone_is_ciphertext(glab, tandem, tmp_path, tls_cert):
    """Why the tandem: a service of group A whose own pool speaks TLS gets clones of the
    encrypted wire, with neither its request line nor its response in them."""
    se1 = tandem["se1"]
    vip = "10.30.2.101"
    se1.ok("POST", "/api/pool", {"name": "https-direct", "default_server_port": 443,
                                 "ssl_profile_ref": "System-Standard",
                                 "pki_profile_ref": "lab-ca", "server_name": "pool.lab",
                                 "servers": [{"ip": {"addr": ip, "type": "V4"}} for ip in POOL]})
    se1.ok("POST", "/api/virtualservice", {
        "name": "direct", "vip": [{"ip_address": {"addr": vip, "type": "V4"}}],
        "services": [{"port": 443, "enable_ssl": True}], "pool_ref": "https-direct",
        "ssl_key_and_certificate_refs": ["web-cert"], "traffic_clone_profile_ref": "ids",
        "se_group_ref": GROUPS["se1"]})
    try:
        wait_for(lambda: https_get(glab, tls_cert, "/ready", vip).returncode == 0, timeout=30,
                 interval=0.2, what="the direct service serving")
        pcap = str(tmp_path / "tap.pcap")
        tap = Capture(glab, "tap", "eth0", pcap)
        path = f"/direct-{uuid.uuid4().hex}"
        r = https_get(glab, tls_cert, path, vip)
        assert r.returncode == 0 and r.stdout.startswith("server 10.30.3.1"), (r.stdout, r.stderr)
        settled(lambda: cloned_by(se1, "direct", uuid_of(se1, "se1")))
        clones = [p for p in tap.stop() if 443 in (p[TCP].sport, p[TCP].dport)]
        payload = b"".join(bytes(p[Raw]) for p in clones if Raw in p)
        assert clones and payload, len(clones)
        assert b"HTTP/1.1" not in payload and path.encode() not in payload
        assert r.stdout.encode() not in payload
        assert tshark(pcap, "-Y", "tls.record.content_type == 23").strip()
        assert not tshark(pcap, "-Y", "http").strip()
    finally:
        se1.ok("DELETE", "/api/virtualservice/direct")
        se1.ok("DELETE", "/api/pool/https-direct")
