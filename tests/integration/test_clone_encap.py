"""Encapsulated clone delivery: VXLAN, GENEVE, ERSPAN II and III to a collector two router hops
from the SE (tests/lab/lab.sh routers-up), over IPv4 and IPv6 outer headers, configured through
clonelbd's REST API, with real HTTP from the client namespace.

What is compared: the SE's back-end capture (srv0) against the inner frames the collector
received, decapsulated by a Linux vxlan device (VXLAN) or decoded by tshark (GENEVE, ERSPAN);
the production bytes (sha256 of what the client received); the counters against the captures.
No timing thresholds: every wait polls with a bound.
"""
import collections
import hashlib
import os
import subprocess

import pytest
from scapy.all import ICMP, IP, TCP, UDP, Ether, IPv6, rdpcap
from scapy.layers.vxlan import VXLAN

from conftest import CLIENT_IP, LAB, POOL_IPS, SE_SRV_IP, TAP_IP, wait_for
from test_clone import (BIG, SUBNET, Client, agg, backend, client, conns_of, serving,  # noqa: F401
                        settle, web_servers)
from test_clone_engine import (TAP_MAC, Capture, assert_identity, checksums_ok, frame_key,
                               rx_dropped)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (namespaces, eBPF)")

COLLECTOR = "10.10.6.2"        # behind r1 and r2; vx0 there decapsulates VNI 42
NARROW = "10.10.6.3"           # the same collector, by a route whose MTU is 1200
SE_RTR_IP = "10.10.4.1"        # the SE's address on rtr0, the outer source
COLLECTOR6 = "fd00:10:6::2"    # the same collector over IPv6; vx6 there decapsulates VNI 46
SE_RTR_IP6 = "fd00:10:4::1"    # the SE's IPv6 address on rtr0, the IPv6 outer source


@pytest.fixture(scope="module")
def routers(lab):
    subprocess.run([LAB, "routers-up"], env=lab.env, check=True)
    lab.ns.update({r: lab.prefix + r for r in ("r1", "r2", "col")})
    try:
        yield
    finally:
        subprocess.run([LAB, "routers-down"], env=lab.env, check=False)


@pytest.fixture
def caps(lab, workdir):
    started = []

    def start(role, ifname):
        c = Capture(lab, role, ifname, os.path.join(workdir, f"{role}-{ifname}-{len(started)}.pcap"))
        started.append(c)
        return c
    try:
        yield start
    finally:
        for c in started:
            if c.proc.poll() is None:
                c.proc.kill()
                c.proc.wait()


@pytest.fixture
def no_stray_filters(lab):
    yield
    for ifname in ("srv0", "tap0", "rtr0"):
        for hook, pref in (("ingress", 0xc10e), ("egress", 0xc10e), ("egress", 0xc10d)):
            lab.run("se", "tc", "filter", "del", "dev", ifname, hook, "pref", str(pref), check=False)


def collector(ip=COLLECTOR, encap="CLONE_ENCAP_VXLAN", **kw):
    d = {"ip_address": {"addr": ip, "type": "V6" if ":" in ip else "V4"}, "encap_type": encap}
    d.update(kw)
    return d


def configure(d, servers, preserve=False):
    d.ok("POST", "/api/trafficcloneprofile", {"name": "ids", "clone_servers": servers,
                                              "preserve_client_ip": preserve})
    d.ok("POST", "/api/pool", {"name": "web-pool",
                               "servers": [{"ip": {"addr": ip, "type": "V4"}} for ip in POOL_IPS]})
    d.ok("POST", "/api/virtualservice",
         {"name": "web", "vip": [{"ip_address": {"addr": "10.10.1.10", "type": "V4"}}],
          "services": [{"port": 80, "enable_ssl": False}], "pool_ref": "web-pool",
          "traffic_clone_profile_ref": "ids"})


def zero_tcp_csum(ip_bytes):
    """An IPv4 packet with its TCP checksum zeroed: the SE's back-end capture shows the partial
    checksum a veth leaves to offload, the clone the completed one."""
    raw = bytearray(ip_bytes)
    off = (raw[0] & 0xf) * 4 + 16
    raw[off:off + 2] = b"\0\0"
    return bytes(raw)


def zero_csum_raw(frame):
    """zero_tcp_csum() of an Ethernet frame's raw bytes, which may be cut short."""
    raw = bytearray(frame)
    off = 14 + (raw[14] & 0xf) * 4 + 16
    raw[off:off + 2] = b"\0\0"
    return bytes(raw)


def frame_bytes(p):
    """The whole Ethernet frame (MACs included) with the TCP checksum zeroed."""
    return bytes(p[Ether])[:14] + zero_tcp_csum(bytes(p[IP]))


def traffic(client, n=4, big=1):
    """n small requests and big 1 MiB downloads; asserts every answer, returns the sha256 of the
    last big body (the production bytes)."""
    assert client.get(n)[0] == n
    digest = "-"
    if big:
        ok, nbytes, digest = client.get(big, "/big")
        assert ok == big and nbytes == big * BIG
    return digest


def big_sha(web_servers):
    """The sha256 of each pool server's /big (the round robin picks one)."""
    out = set()
    for s in web_servers:
        with open(os.path.join(s.dir, "big"), "rb") as f:
            out.add(hashlib.sha256(f.read()).hexdigest())
    return out


def tshark(lab, path, *fields, flt=""):
    r = subprocess.run(["tshark", "-r", path, "-Y", flt, "-T", "fields", "-E", "separator=|",
                        *sum((["-e", f] for f in fields), [])],
                       capture_output=True, text=True, timeout=60, check=True)
    return [line.split("|") for line in r.stdout.splitlines() if line]


def vxlan_outer(packets):
    """The VXLAN packets among @packets, over IPv4 or IPv6: UDP right behind the outer IP
    header (not the collector's ICMP errors, which quote them)."""
    return [p for p in packets if Ether in p and isinstance(p[Ether].payload.payload, UDP)
            and p[UDP].dport == 4789]


def outer6(path, nh=17):
    """The packets of a capture whose IPv6 header is directly followed by @nh (UDP: 17, GRE:
    47): the SE's encapsulated clones, not the collector's ICMPv6 answers."""
    return [p for p in rdpcap(path) if IPv6 in p and p[IPv6].nh == nh]


# ---- tests -----------------------------------------------------------------

def captured_run(daemon, client, caps, server, n=3, big=0):
    """Clones @n small requests and @big 1 MiB downloads to the one collector @server,
    capturing srv0 in the SE and the collector's eth0. Returns (the counters before, the
    stopped eth0 capture, the back-end frames, the sha256 of the last download or "-")."""
    configure(daemon, [server])
    wait_for(serving(client), what="VIP serving")
    settle(daemon)
    before = agg(daemon)[0]
    srv0, wire = caps("se", "srv0"), caps("col", "eth0")
    digest = traffic(client, n=n, big=big)
    settle(daemon)
    wire.stop()
    return before, wire, backend(srv0.stop()), digest


def tshark_run(daemon, client, caps, server):
    """captured_run() of 3 small requests; the caller decodes the capture with tshark."""
    before, wire, backend_frames, digest = captured_run(daemon, client, caps, server)
    assert digest == "-"
    return before, wire, backend_frames


def one_per_frame(daemon, before, rows):
    """The engine counted one clone sent per decoded packet, and its identity holds."""
    row, = agg(daemon)
    assert row["num_succeeded"] - before["num_succeeded"] == len(rows)
    assert_identity(row)


# The receiving interfaces on the way to the collector, outside the SE.
PATH_IFS = (("r1", "eth0"), ("r1", "eth1"), ("r2", "eth0"), ("r2", "eth1"), ("col", "eth0"))


def path_drops(lab):
    """The receive drops counted on the way to the collector: each hop's veth hands its
    frames to the kernel's backlog queue (steered by RPS to a CPU), which drops them when
    that CPU's queue of netdev_max_backlog frames is full."""
    return sum(rx_dropped(lab, role, ifname) for role, ifname in PATH_IFS)


def decapsulated(lab, caps, daemon, run, attempts=3, vx="vx0"):
    """Runs @run() while capturing srv0 in the SE, the collector's eth0 and its vxlan device
    @vx (vx6: the IPv6 one). Returns (run's result, counters before, the eth0 packets, @vx's
    IPv4 TCP packets, the back-end frames). The routers, the collector's eth0 and its vxlan
    device each hand what they receive to a queue of the kernel's netdev_max_backlog (a
    host-wide sysctl, so not tuned here); on a busy machine a 1 MiB burst can overflow one,
    after the SE sent the frames. Such a run, its drops counted by those interfaces, proves
    nothing about the SE either way and is repeated, at most @attempts times; a loss that
    no interface on the way counted fails the caller's checks."""
    for attempt in range(attempts):
        before = agg(daemon)[0]
        drops0 = path_drops(lab)
        srv0, vx0, wire = caps("se", "srv0"), caps("col", vx), caps("col", "eth0")
        result = run()
        settle(daemon)
        wire.stop()
        got_wire = rdpcap(wire.path)
        inner = vx0.stop(interface_drops_ok=True)
        backend_frames = backend(srv0.stop())
        if path_drops(lab) != drops0:
            continue
        if not vx0.if_dropped:
            return result, before, got_wire, inner, backend_frames
        outer = vxlan_outer(got_wire)
        assert len(outer) == agg(daemon)[0]["num_succeeded"] - before["num_succeeded"], \
            "VXLAN frames lost before the collector's eth0"
    pytest.fail(f"frames were dropped on the way to the collector in {attempts} runs out of {attempts}")


def test_vxlan_collector_behind_two_routers_gets_the_backend_frames(lab, routers, web_servers, daemon,
                                                                     client, caps, no_stray_filters):
    configure(daemon, [collector(vni=42)])
    wait_for(serving(client), what="VIP serving")
    settle(daemon)
    digest, before, got_wire, inner, backend_frames = decapsulated(lab, caps, daemon,
                                                                   lambda: traffic(client))

    # Production untouched: the client got the file nginx serves.
    assert digest in big_sha(web_servers)
    # The Linux vxlan device decapsulated exactly the back-end frames, MACs included.
    got = collections.Counter(map(frame_bytes, inner))
    want = collections.Counter(map(frame_bytes, backend_frames))
    missing, extra = want - got, got - want
    assert not missing and not extra, (f"{sum(missing.values())} back-end frames missing, "
                                       f"{sum(extra.values())} extra, of {len(backend_frames)}")
    # On the collector's wire: VXLAN from the SE's rtr0 address, routed twice (TTL 64 - 2).
    outer = [p for p in got_wire if UDP in p and ICMP not in p and p[UDP].dport == 4789]
    assert len(outer) == len(inner)
    assert {(p[IP].src, p[IP].dst, p[IP].ttl, p[VXLAN].vni) for p in outer} == {
        (SE_RTR_IP, COLLECTOR, 62, 42)}
    assert all(p[IP].flags.DF for p in outer)
    # Both directions of one connection share one UDP source port (one ECMP path).
    ports = collections.defaultdict(set)
    for p in outer:
        i = p[VXLAN].payload
        ports[frozenset(((i[IP].src, i[TCP].sport), (i[IP].dst, i[TCP].dport)))].add(p[UDP].sport)
    assert ports and all(len(v) == 1 for v in ports.values())
    row, = agg(daemon)
    assert row["ip"]["addr"] == COLLECTOR and row["interface"] == "rtr0"
    assert row["num_succeeded"] - before["num_succeeded"] == len(inner)
    assert row["num_mtu_truncated"] == 0
    assert_identity(row)


def test_vxlan_inner_frames_carry_the_client_ip_with_valid_checksums(lab, routers, web_servers,
                                                                     daemon, client, caps,
                                                                     no_stray_filters):
    configure(daemon, [collector(vni=42)], preserve=True)
    wait_for(serving(client), what="VIP serving")
    settle(daemon)
    srv0, vx0 = caps("se", "srv0"), caps("col", "vx0")
    assert client.get(3)[0] == 3
    settle(daemon)
    inner, backend_frames = vx0.stop(), backend(srv0.stop())
    assert len(inner) == len(backend_frames)
    # The SE's back-end address replaced by the client's, both ways; the rest as on srv0.
    assert {p[IP].src for p in inner} == {CLIENT_IP} | set(p[IP].src for p in backend_frames
                                                           if p[IP].src != SE_SRV_IP)
    assert SE_SRV_IP not in {p[IP].src for p in inner} | {p[IP].dst for p in inner}
    assert all(checksums_ok(p) for p in inner)
    assert {p[IP].src for p in backend_frames} >= {SE_SRV_IP}    # production kept the SE's


@pytest.mark.parametrize("encap,field,value", [
    ("CLONE_ENCAP_GENEVE", "vni", 77),
    ("CLONE_ENCAP_ERSPAN_II", "erspan_session_id", 5),
    ("CLONE_ENCAP_ERSPAN_III", "erspan_session_id", 1023),
])
def test_geneve_and_erspan_decoded_by_tshark(lab, routers, web_servers, daemon, client, caps,
                                             no_stray_filters, encap, field, value):
    before, wire, backend_frames = tshark_run(daemon, client, caps,
                                              collector(encap=encap, **{field: value}))

    if encap == "CLONE_ENCAP_GENEVE":
        # (The collector answers with ICMP errors quoting what it got: not ours.)
        rows = tshark(lab, wire.path, "geneve.vni", "ip.src", flt="geneve && !icmp")
        src = 1
        assert rows and {int(r[0], 0) for r in rows} == {value}
    else:
        fields = ["erspan.version", "erspan.spanid", "ip.src", "erspan.truncated"]
        if encap == "CLONE_ENCAP_ERSPAN_III":
            fields += ["erspan.direction", "erspan.gra"]
        rows = tshark(lab, wire.path, *fields, flt="erspan && !icmp")
        src = 2
        assert rows and {r[0] for r in rows} == {"1" if encap == "CLONE_ENCAP_ERSPAN_II" else "2"}
        assert {r[1] for r in rows} == {str(value)} and {r[3] for r in rows} == {"0"}
        if encap == "CLONE_ENCAP_ERSPAN_III":
            # tshark lists the outer then the inner source; D is 1 for frames the back-end
            # interface sent (SE -> pool server), 0 for the ones it received.
            dirs = {(r[2].split(",")[-1], r[4]) for r in rows}
            assert dirs == {(SE_SRV_IP, "1")} | {(ip, "0") for ip in {r[2].split(",")[-1] for r in rows}
                                                   if ip != SE_SRV_IP}, dirs
    # One encapsulated packet per back-end frame, carrying that frame.
    inner = [r[src].split(",")[-1] for r in rows]
    assert collections.Counter(inner) == collections.Counter(p[IP].src for p in backend_frames)
    one_per_frame(daemon, before, rows)


@pytest.mark.parametrize("narrow,via,mtu,hdr,vni", [
    (NARROW, "10.10.4.2", 1200, 36, 42),
    # Over IPv6 the outer headers take 56 bytes (IPv6 40, UDP 8, VXLAN 8), and 1280 is the
    # least MTU an IPv6 path may have.
    ("fd00:10:6::3", "fd00:10:4::2", 1280, 56, 46),
])
def test_frame_above_the_path_mtu_arrives_truncated_and_counted(lab, routers, web_servers, daemon,
                                                                client, caps, no_stray_filters,
                                                                narrow, via, mtu, hdr, vni):
    # The path to this collector address holds mtu-byte packets (a route's MTU, as a
    # tunnel or a smaller link on the way would impose).
    host = f"{narrow}/{128 if ':' in narrow else 32}"
    lab.run("se", "ip", "route", "add", host, "via", via, "mtu", "lock", str(mtu))
    try:
        configure(daemon, [collector(ip=narrow, vni=vni)])
        wait_for(serving(client), what="VIP serving")
        settle(daemon)
        before = agg(daemon)[0]
        srv0, wire = caps("se", "srv0"), caps("col", "eth0")
        digest = traffic(client, n=1, big=1)
        settle(daemon)
        wire.stop()
        backend_frames = backend(srv0.stop())
    finally:
        lab.run("se", "ip", "route", "del", host, check=False)
    assert digest in big_sha(web_servers)

    if ":" in narrow:
        outer = [p for p in outer6(wire.path) if p[UDP].dport == 4789]
        sizes = [40 + p[IPv6].plen for p in outer]
    else:
        outer = [p for p in rdpcap(wire.path) if UDP in p and ICMP not in p
                 and p[UDP].dport == 4789]
        sizes = [p[IP].len for p in outer]
    assert len(outer) == len(backend_frames)
    assert max(sizes) == mtu
    # A frame that did not fit arrives as its first mtu - hdr bytes (the outer IP, UDP and
    # VXLAN headers take hdr), unchanged; the others whole.
    keep = mtu - hdr
    inner = [zero_csum_raw(bytes(p[UDP])[16:]) for p in outer]
    long_ones = [p for p in backend_frames if len(p) > keep]
    want = collections.Counter(frame_bytes(p)[:keep] for p in backend_frames)
    assert long_ones and collections.Counter(inner) == want
    row, = agg(daemon)
    assert row["num_mtu_truncated"] - before["num_mtu_truncated"] == len(long_ones)
    assert row["num_succeeded"] - before["num_succeeded"] == len(outer)
    assert_identity(row)


@pytest.fixture
def segmentation_offload(lab):
    """TSO and GSO on both ends of the back-end link, as NICs have them: the clone hook then
    sees super-frames of up to 64 KiB, each to be cut into wire frames after it."""
    ends = (("se", "srv0"), ("srv", "eth0"))
    try:
        for role, dev in ends:
            lab.run(role, "ethtool", "-K", dev, "tso", "on", "gso", "on")
        yield
    finally:
        for role, dev in ends:
            lab.run(role, "ethtool", "-K", dev, "tso", "off", "gso", "off", check=False)


@pytest.mark.parametrize("ip,vx,vni", [(COLLECTOR, "vx0", 42), (COLLECTOR6, "vx6", 46)])
def test_super_frames_reach_the_collector_in_the_wire_segments(lab, routers, web_servers, daemon,
                                                               client, caps, no_stray_filters,
                                                               segmentation_offload, ip, vx, vni):
    # The underlay to the collector carries 9000-byte packets (lab.sh routers-up): a wire
    # frame plus the outer headers fits, so each encapsulated packet holds one wire frame.
    configure(daemon, [collector(ip=ip, vni=vni)])
    wait_for(serving(client), what="VIP serving")
    settle(daemon)
    digest, before, _, inner, backend_frames = decapsulated(
        lab, caps, daemon, lambda: traffic(client, n=1, big=1), vx=vx)
    assert digest in big_sha(web_servers)

    # The back end did carry super-frames (or this proves nothing)...
    assert max(len(p) for p in backend_frames) > 1514
    # ...and the collector got them as the wire frames the engine counted, one packet each,
    # with full segments of the link's MSS (1500 - 20 - 32 bytes of TCP with timestamps),
    # not shortened by the outer headers.
    row, = agg(daemon)
    assert row["num_succeeded"] - before["num_succeeded"] == len(inner)
    sizes = [len(p[TCP].payload) for p in inner]
    assert max(sizes) == 1448
    assert sum(sizes) == sum(len(p[TCP].payload) for p in backend_frames)
    assert row["num_mtu_truncated"] - before["num_mtu_truncated"] == 0
    assert_identity(row)


def test_super_frames_to_a_narrower_path_arrive_in_shorter_segments(lab, routers, web_servers,
                                                                    daemon, client, caps,
                                                                    no_stray_filters,
                                                                    segmentation_offload):
    # A wire frame plus the outer headers does not fit this route's 1200 bytes: the segments
    # are cut shorter instead, so that every byte still arrives (a frame without offload is
    # truncated instead: test_frame_above_the_path_mtu_arrives_truncated_and_counted).
    lab.run("se", "ip", "route", "add", f"{NARROW}/32", "via", "10.10.4.2", "mtu", "lock", "1200")
    try:
        before, wire, backend_frames, digest = captured_run(
            daemon, client, caps, collector(ip=NARROW, vni=42), n=1, big=1)
        assert digest in big_sha(web_servers)
    finally:
        lab.run("se", "ip", "route", "del", f"{NARROW}/32", check=False)
    assert max(len(p) for p in backend_frames) > 1514
    outer = [p for p in rdpcap(wire.path) if UDP in p and ICMP not in p and p[UDP].dport == 4789]
    assert max(p[IP].len for p in outer) <= 1200
    sizes = [len(p[VXLAN].payload[TCP].payload) for p in outer]
    assert sum(sizes) == sum(len(p[TCP].payload) for p in backend_frames)
    row, = agg(daemon)
    # More packets than the wire frames the engine counted, none of them truncated.
    assert len(outer) > row["num_succeeded"] - before["num_succeeded"]
    assert row["num_mtu_truncated"] - before["num_mtu_truncated"] == 0
    assert_identity(row)


@pytest.mark.parametrize("encap,flt", [("CLONE_ENCAP_GENEVE", "geneve"),
                                        ("CLONE_ENCAP_ERSPAN_II", "erspan"),
                                        ("CLONE_ENCAP_ERSPAN_III", "erspan")])
def test_super_frames_keep_the_wire_segments_in_geneve_and_erspan(lab, routers, web_servers,
                                                                  daemon, client, caps,
                                                                  no_stray_filters,
                                                                  segmentation_offload, encap,
                                                                  flt):
    before, wire, backend_frames, digest = captured_run(daemon, client, caps,
                                                        collector(encap=encap), n=1, big=1)
    assert digest in big_sha(web_servers)
    assert max(len(p) for p in backend_frames) > 1514
    # tshark decodes the tunnel; tcp.len is the inner segment's payload.
    sizes = [int(r[0]) for r in tshark(lab, wire.path, "tcp.len", flt=f"{flt} && !icmp")]
    row, = agg(daemon)
    assert row["num_succeeded"] - before["num_succeeded"] == len(sizes)
    assert max(sizes) == 1448
    assert sum(sizes) == sum(len(p[TCP].payload) for p in backend_frames)
    assert_identity(row)


@pytest.mark.parametrize("cs,needle", [
    (collector(vni=1 << 24), "clone_servers[1].vni: invalid value 16777216"),
    (collector(encap="CLONE_ENCAP_ERSPAN_II", erspan_session_id=1024),
     "clone_servers[1].erspan_session_id: invalid value 1024"),
    (collector(ip="10.99.0.1"), "clone_servers[1].ip_address: collector 10.99.0.1 is not reachable"),
    (collector(ip="fd00:99::1"), "clone_servers[1].ip_address: collector fd00:99::1 is not reachable"),
    (collector(ip="fe80::99"), "clone_servers[1].ip_address: collector fe80::99 is link-local"),
    (collector(ip="fd00:10:4::1"), "clone_servers[1].ip_address: fd00:10:4::1 is an address of this SE"),
    (collector(encap="CLONE_ENCAP_GRE"), "clone_servers[1].encap_type"),
])
def test_bad_encapsulation_refused_naming_field_and_value(lab, routers, daemon, cs, needle):
    status, body = daemon.api("POST", "/api/trafficcloneprofile", {"name": "ids", "clone_servers": [cs]})
    assert status == 400 and needle in str(body), (status, body)
    status, body = daemon.api("GET", "/api/trafficcloneprofile")
    assert status == 200 and body["count"] == 0, body


# ---- IPv6 outer headers -------------------------------------------------------

def test_ipv6_vxlan_collector_gets_the_backend_frames(lab, routers, web_servers, daemon, client,
                                                       caps, no_stray_filters):
    """An IPv6 collector: the clones of the (IPv4) back-end frames leave in IPv6 outer headers,
    routed twice, and the collector's Linux vxlan device (IPv6, udp6zerocsumrx) hands exactly
    the back-end frames up."""
    configure(daemon, [collector(COLLECTOR6, vni=46)])
    wait_for(serving(client), what="VIP serving")
    settle(daemon)
    digest, before, got_wire, inner, backend_frames = decapsulated(lab, caps, daemon,
                                                                   lambda: traffic(client),
                                                                   vx="vx6")

    assert digest in big_sha(web_servers)
    got = collections.Counter(map(frame_bytes, inner))
    want = collections.Counter(map(frame_bytes, backend_frames))
    missing, extra = want - got, got - want
    assert backend_frames and not missing and not extra, (
        f"{sum(missing.values())} back-end frames missing, {sum(extra.values())} extra, "
        f"of {len(backend_frames)}")
    # From the SE's IPv6 address on rtr0, two hops (hop limit 64 - 2), VNI 46, the zero UDP
    # checksum RFC 6935 allows tunnels.
    outer = vxlan_outer(got_wire)
    assert outer and all(IPv6 in p for p in outer)
    assert len(outer) == len(inner)
    assert {(p[IPv6].src, p[IPv6].dst, p[IPv6].hlim, p[VXLAN].vni, p[UDP].chksum)
            for p in outer} == {(SE_RTR_IP6, COLLECTOR6, 62, 46, 0)}
    assert all(p[IPv6].plen == len(p[IPv6].payload) for p in outer)
    # Both directions of a connection: one UDP source port and one flow label (one ECMP path).
    paths = collections.defaultdict(set)
    for p in outer:
        i = p[VXLAN].payload
        paths[frozenset(((i[IP].src, i[TCP].sport), (i[IP].dst, i[TCP].dport)))].add(
            (p[UDP].sport, p[IPv6].fl))
    assert paths and all(len(v) == 1 for v in paths.values()), paths
    row, = agg(daemon)
    assert row["ip"] == {"addr": COLLECTOR6, "type": "V6"} and row["interface"] == "rtr0", row
    assert row["num_succeeded"] - before["num_succeeded"] == len(inner)
    assert row["num_mtu_truncated"] == 0
    assert_identity(row)


def test_ipv6_erspan_iii_decoded_by_tshark(lab, routers, web_servers, daemon, client, caps,
                                          no_stray_filters):
    """ERSPAN III over GRE over IPv6 (next header 47): tshark decodes version 2, the session id
    and the direction of every back-end frame."""
    before, wire, backend_frames = tshark_run(daemon, client, caps, collector(
        COLLECTOR6, encap="CLONE_ENCAP_ERSPAN_III", erspan_session_id=321))

    rows = tshark(lab, wire.path, "ipv6.src", "ipv6.dst", "ipv6.nxt", "erspan.version",
                  "erspan.spanid", "erspan.truncated", "erspan.direction", "ip.src",
                  flt="erspan && !icmpv6")
    assert rows
    assert {(r[0], r[1], r[2], r[3], r[4], r[5]) for r in rows} == {
        (SE_RTR_IP6, COLLECTOR6, "47", "2", "321", "0")}, rows[:3]
    # D is 1 for the frames the back-end interface sent (SE -> pool server), 0 for the others.
    assert {(r[7], r[6]) for r in rows} == {(SE_SRV_IP, "1")} | {
        (r[7], "0") for r in rows if r[7] != SE_SRV_IP}
    assert collections.Counter(r[7] for r in rows) == \
        collections.Counter(p[IP].src for p in backend_frames)
    assert len(outer6(wire.path, nh=47)) == len(rows)
    one_per_frame(daemon, before, rows)


def test_ipv6_geneve_decoded_by_tshark(lab, routers, web_servers, daemon, client, caps,
                                     no_stray_filters):
    """GENEVE over UDP over IPv6: every back-end frame arrives as one packet from the SE's
    rtr0 address to the collector's, UDP port 6081 with a zero checksum (RFC 6935, as for
    VXLAN), and tshark decodes the VNI and the frame inside."""
    before, wire, backend_frames = tshark_run(daemon, client, caps, collector(
        COLLECTOR6, encap="CLONE_ENCAP_GENEVE", vni=4242))

    rows = tshark(lab, wire.path, "ipv6.src", "ipv6.dst", "udp.dstport", "udp.checksum",
                  "geneve.vni", "ip.src", flt="geneve && !icmpv6")
    assert rows
    assert {(r[0], r[1], r[2], int(r[3], 0), int(r[4], 0)) for r in rows} == {
        (SE_RTR_IP6, COLLECTOR6, "6081", 0, 4242)}, rows[:3]
    assert collections.Counter(r[5] for r in rows) == \
        collections.Counter(p[IP].src for p in backend_frames)
    assert len(outer6(wire.path, nh=17)) == len(rows)
    one_per_frame(daemon, before, rows)


def test_dead_ipv6_collector_loses_its_flows_to_the_next(lab, routers, web_servers, daemon, caps,
                                                         no_stray_filters):
    """An IPv6 collector is watched by ICMPv6 echo; when its link goes down it is taken out and
    the open flow it had moves whole to the next clone server, counted in num_failover; it comes
    back when it answers again."""
    tap_sensor = {"ip_address": {"addr": TAP_IP, "type": "V4"}, "subnet": SUBNET, "mac": TAP_MAC}
    configure(daemon, [collector(COLLECTOR6, vni=46), tap_sensor])
    kas = [Client(lab), Client(lab)]
    try:
        wait_for(lambda: agg(daemon)[0]["oper_state"] == "OPER_UP", what="the collector up")
        row = agg(daemon)[0]
        assert row["health_check"] == "icmpv6" and row["oper_reason"] == "answers ICMPv6 echo", row
        vx6 = caps("col", "vx6")
        for ka in kas:                                   # round robin: one flow each
            assert ka.cmd("ka /")[0] == "1"
        settle(daemon)
        on_col = conns_of(vx6.stop())
        assert len(on_col) == 1, on_col
        col_port = next(iter(on_col))[0]
        lab.run("col", "ip", "link", "set", "eth0", "down")
        wait_for(lambda: agg(daemon)[0]["oper_state"] == "OPER_DOWN", timeout=15,
                 what="the collector down")
        assert "no ICMPv6 echo reply" in agg(daemon)[0]["oper_reason"]
        assert f"clone server {COLLECTOR6} is down" in daemon.logtext()
        settle(daemon)
        before = agg(daemon)[0]
        tap, srv0 = caps("tap", "eth0"), caps("se", "srv0")
        for ka in kas:                                   # both flows go on
            got = ka.cmd("ka /big")
            assert got[0] == "1" and int(got[1]) == BIG
            ka.cmd("close")
        settle(daemon)
        cloned, wire = conns_of(tap.stop()), conns_of(backend(srv0.stop()))
    finally:
        for ka in kas:
            ka.stop()
        # The routes went with the link.
        lab.run("col", "ip", "link", "set", "eth0", "up")
        lab.run("col", "ip", "-6", "route", "replace", "default", "via", "fd00:10:6::1")
        lab.run("col", "ip", "route", "replace", "default", "via", "10.10.6.1")
    # Every back-end frame of both flows reached the healthy sensor, the moved one included.
    assert set(cloned) == set(wire) and any(k[0] == col_port for k in cloned), (cloned.keys(),
                                                                               col_port)
    for k, frames in wire.items():
        assert collections.Counter(map(frame_key, cloned[k])) == \
            collections.Counter(map(frame_key, frames)), k
    moved = sum(len(f) for k, f in cloned.items() if k[0] == col_port)
    after = agg(daemon)[0]
    assert after["num_failover"] - before["num_failover"] == moved, after
    for r in agg(daemon):
        assert_identity(r)

    # Its link is up again (above): it answers, and is put back.
    wait_for(lambda: agg(daemon)[0]["oper_state"] == "OPER_UP", timeout=15,
             what="the collector up again")
    assert f"clone server {COLLECTOR6} is up again (answers ICMPv6 echo)" in daemon.logtext()


# ---- fidelity: per-flow order on the clone path ------------------------------

def flagged_flows(path):
    """The connections (as a frozenset of both ends) in which Wireshark's expert analysis finds an
    ACK of a segment it did not see before, or a segment after a gap."""
    rows = tshark(None, path, "ip.src", "tcp.srcport", "ip.dst", "tcp.dstport",
                  flt="tcp.analysis.ack_lost_segment || tcp.analysis.lost_segment")
    return {frozenset(((r[0], r[1]), (r[2], r[3]))) for r in rows}


def test_clone_keeps_each_flows_order_under_load(lab, web_servers, daemon, caps, no_stray_filters):
    """Both directions of a flow are cloned on different CPUs (the back-end interface's receive,
    the proxy worker's send); the clone server (tests/lab: receive steering by flow hash, as a
    sensor's symmetric RSS) must still see each flow in the back-end interface's order."""
    configure(daemon, [{"ip_address": {"addr": "10.10.3.2", "type": "V4"},
                        "subnet": {"ip_addr": {"addr": "10.10.3.0", "type": "V4"}, "mask": 24},
                        "mac": "02:5e:00:00:00:99"}])
    wait_for(lambda: lab.run("cli", "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                             "--max-time", "5", "http://10.10.1.10/", check=False).stdout == "200",
             what="VIP serving")
    settle(daemon)
    tap, srv0 = caps("tap", "eth0"), caps("se", "srv0")
    # Bounded load: 48 downloads of 256 KiB and 48 small requests, one connection each, 16 at
    # a time, each at most 20 s.
    urls = ["http://10.10.1.10/big", "http://10.10.1.10/"] * 48
    argv = ["curl", "-sS", "-Z", "--parallel-max", "16", "--max-time", "20", "-r", "0-262143",
            "-H", "Connection: close", "-w", "%{http_code}\\n"]
    for u in urls:
        argv += ["-o", "/dev/null", u]
    r = lab.run("cli", *argv, check=False, timeout=120)
    codes = r.stdout.split()
    assert codes.count("206") == 48 and codes.count("200") == 48, r.stdout[-300:] + r.stderr[-300:]
    settle(daemon)
    tap.stop()
    srv0.stop()
    cloned, wire = flagged_flows(tap.path), flagged_flows(srv0.path)
    n = len(tshark(None, srv0.path, "tcp.stream", flt="tcp.flags.syn == 1 && tcp.flags.ack == 0"))
    assert n >= len(urls)
    assert not cloned - wire, (f"{len(cloned - wire)} of {n} flows out of order on the clone path "
                               f"only: {sorted(map(sorted, cloned - wire))[:3]}")
