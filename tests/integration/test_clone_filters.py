"""The profile's filters, snaplen and flow budget, and healthy sensors only, end to end through
clonelbd's REST API: real HTTP from the client namespace, frames captured on the clone servers
and on the SE's back-end interface, counters read back through the API.

A second sensor namespace (<prefix>tap2, 10.10.7.2 behind the SE's tap1) stands for a second
IDS; it "dies" by taking its namespace's link down. No timing thresholds: every wait polls.
"""
import collections
import hashlib
import os
import subprocess

import pytest
from scapy.all import IP, TCP, Ether, Raw

from conftest import SE_SRV_IP, VIP, curl, wait_for
from test_clone import (BIG, SUBNET, Client, agg, backend, client, configure, conns_of,  # noqa: F401
                        serving, settle, web_servers)
from test_clone_engine import TAP_MAC, assert_identity, captures, frame_key  # noqa: F401
from test_clone_encap import COLLECTOR, routers  # noqa: F401

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (namespaces, eBPF)")

# 10.10.4-6 are the routed collector's (lab.sh routers-up).
TAP2_IP, TAP2_MAC, TAP1_MAC = "10.10.7.2", "02:fc:00:00:07:02", "02:fc:00:00:07:01"
SUBNET2 = {"ip_addr": {"addr": "10.10.7.0", "type": "V4"}, "mask": 24}


def sensor(ip, subnet=SUBNET, mac=None):
    d = {"ip_address": {"addr": ip, "type": "V4"}, "subnet": subnet}
    if mac:
        d["mac"] = mac
    return d


def rule(n, action="CLONE_FILTER_ACCEPT", **kw):
    r = {"rule_number": n, "action": action}
    r.update(kw)
    return r


def prefix(p):
    a, m = p.split("/")
    return {"ip_addr": {"addr": a, "type": "V4"}, "mask": int(m)}


@pytest.fixture
def tap2(lab):
    """A second sensor: namespace <prefix>tap2 with eth0 10.10.7.2/24, joined to the SE's
    tap1 (10.10.7.1/24). Removed at the end, also on failure."""
    ns = lab.prefix + "tap2"
    se = lab.ns["se"]

    def sh(*argv):
        subprocess.run(argv, check=True, capture_output=True, timeout=30)
    subprocess.run(["ip", "netns", "del", ns], capture_output=True)
    lab.run("se", "ip", "link", "del", "tap1", check=False)
    try:
        sh("ip", "netns", "add", ns)
        sh("ip", "-n", se, "link", "add", "tap1", "address", TAP1_MAC, "type", "veth", "peer",
           "name", "tap2x")
        sh("ip", "-n", se, "link", "set", "tap2x", "netns", ns)
        sh("ip", "-n", ns, "link", "set", "tap2x", "name", "eth0", "address", TAP2_MAC)
        for n, dev in ((se, "tap1"), (ns, "eth0")):
            subprocess.run(["ip", "netns", "exec", n, "ethtool", "-K", dev, "tso", "off", "gso",
                            "off", "gro", "off"], capture_output=True)
        # Like tap0 in lab.sh: checksums completed before the clone leaves a veth.
        subprocess.run(["ip", "netns", "exec", se, "ethtool", "-K", "tap1", "tx", "off"],
                       capture_output=True)
        sh("ip", "-n", se, "addr", "add", "10.10.7.1/24", "dev", "tap1")
        sh("ip", "-n", ns, "addr", "add", f"{TAP2_IP}/24", "dev", "eth0")
        sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh("ip", "-n", ns, "link", "set", "eth0", "up", "promisc", "on")
        sh("ip", "-n", se, "link", "set", "tap1", "up")
        lab.ns["tap2"] = ns
        yield ns
    finally:
        lab.ns.pop("tap2", None)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        lab.run("se", "ip", "link", "del", "tap1", check=False)


CLIENT2_IP = "10.10.1.3"   # a second client address in the cli namespace


@pytest.fixture
def client2(lab):
    """A second client address: curl from it asks for /from3, so its back-end connections are
    told apart by their request."""
    lab.run("cli", "ip", "addr", "add", f"{CLIENT2_IP}/24", "dev", "eth0")
    try:
        yield lambda n, path="/from3": [curl(lab, f"http://{VIP}{path}", "--interface", CLIENT2_IP,
                                              "-o", "/dev/null", "-w", "%{http_code}").stdout
                                         for _ in range(n)]
    finally:
        lab.run("cli", "ip", "addr", "del", f"{CLIENT2_IP}/24", "dev", "eth0", check=False)


def to_server(p):
    return p[IP].src == SE_SRV_IP


def by_conn(frames):
    """Back-end frames by connection (SE port), and whether each is one of client2's (/from3)."""
    per = collections.defaultdict(list)
    for p in frames:
        per[p[TCP].sport if to_server(p) else p[TCP].dport].append(p)
    from3 = {port for port, fs in per.items()
             if any(Raw in p and b"GET /from3 " in bytes(p[Raw]) for p in fs if to_server(p))}
    return per, from3


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def row_of(d, ip):
    return next(r for r in agg(d) if r["ip"]["addr"] == ip)


def profile_with(d, servers, **fields):
    body = {"name": "ids", "clone_servers": servers}
    body.update(fields)
    return d.api("POST", "/api/trafficcloneprofile", body)


# ---- bad input -------------------------------------------------------------

BAD = [
    ({"filters": [rule(10, server_port_start=8080, server_port_end=80)]},
     "filters[1].server_port_end: 80 is below server_port_start 8080"),
    ({"filters": [rule(10), rule(10, "CLONE_FILTER_REJECT")]},
     "filters: duplicate entry 10"),
    ({"filters": [rule(10, client_prefix=prefix("10.10.1.2/24"))]},
     "filters[1].client_prefix: 10.10.1.2/24 has host bits set (the network is 10.10.1.0/24)"),
    ({"filters": [rule(10, client_prefix=prefix("10.10.1.0/33"))]},
     "filters[1].client_prefix.mask: invalid prefix length 33"),
    ({"filters": [rule(10, action="CLONE_FILTER_MAYBE")]},
     'filters[1].action: invalid value "CLONE_FILTER_MAYBE"'),
    ({"filters": [rule(10, direction="CLONE_DIR_SIDEWAYS")]},
     'filters[1].direction: invalid value "CLONE_DIR_SIDEWAYS"'),
    ({"filters": [rule(0)]}, "filters[1].rule_number: invalid value 0"),
    ({"filters": [rule(10, server_port_start=70000)]},
     "filters[1].server_port_start: invalid value 70000"),
    ({"filters": [{"action": "CLONE_FILTER_ACCEPT"}]},
     "filters[1].rule_number: required field missing"),
    ({"snaplen": 20}, "snaplen: 20 is shorter than a minimal frame"),
    ({"snaplen": -1}, "snaplen: invalid value -1"),
    ({"max_bytes_per_flow": -5}, "max_bytes_per_flow: invalid value -5"),
    ({"budget_action": "CLONE_BUDGET_LATER"}, 'budget_action: invalid value "CLONE_BUDGET_LATER"'),
]


@pytest.mark.parametrize("fields,message", BAD, ids=[m.split(":")[0] for _, m in BAD])
def test_bad_filters_snaplen_budget_refused_naming_field_and_value(lab, daemon, fields, message):
    before = daemon.everything()
    status, body = profile_with(daemon, [sensor("10.10.3.2")], **fields)
    assert status == 400 and message in body["error"], (status, body)
    assert daemon.everything() == before
    # The same through PATCH of a stored profile: refused, the profile unchanged.
    daemon.ok("POST", "/api/trafficcloneprofile", {"name": "ok", "clone_servers": []})
    stored = daemon.ok("GET", "/api/trafficcloneprofile/ok")
    status, body = daemon.api("PATCH", "/api/trafficcloneprofile/ok", fields)
    assert status == 400 and message in body["error"], (status, body)
    assert daemon.ok("GET", "/api/trafficcloneprofile/ok") == stored


def test_filters_snaplen_budget_stored_with_defaults(lab, daemon):
    status, body = profile_with(daemon, [sensor("10.10.3.2")], filters=[
        rule(20, "CLONE_FILTER_REJECT", client_prefix=prefix("10.10.1.0/24")),
        rule(10, server_port_start=80)], snaplen=128, max_bytes_per_flow=1000,
        budget_action="CLONE_BUDGET_STOP")
    assert status == 201, body
    p = daemon.ok("GET", "/api/trafficcloneprofile/ids")
    assert p["filters"] == [
        {"rule_number": 20, "action": "CLONE_FILTER_REJECT", "direction": "CLONE_DIR_BOTH",
         "client_prefix": prefix("10.10.1.0/24")},
        {"rule_number": 10, "action": "CLONE_FILTER_ACCEPT", "direction": "CLONE_DIR_BOTH",
         "server_port_start": 80}]
    assert (p["snaplen"], p["max_bytes_per_flow"], p["budget_action"]) == \
        (128, 1000, "CLONE_BUDGET_STOP")
    daemon.ok("POST", "/api/trafficcloneprofile", {"name": "plain", "clone_servers": []})
    p = daemon.ok("GET", "/api/trafficcloneprofile/plain")
    assert (p["filters"], p["snaplen"], p["max_bytes_per_flow"], p["budget_action"]) == \
        ([], 0, 0, "CLONE_BUDGET_HEADERS")


# ---- healthy sensors only ----------------------------------------------------

def oper(d, ip):
    return row_of(d, ip)["oper_state"]


def test_dead_sensor_loses_new_connections_and_gets_them_back(lab, web_servers, daemon, client,
                                                              captures, tap2):
    configure(daemon, [sensor("10.10.3.2"), sensor(TAP2_IP, SUBNET2)])   # both through ARP
    wait_for(serving(client), what="VIP serving")
    wait_for(lambda: all(r["oper_state"] == "OPER_UP" and r["mac"] for r in agg(daemon)),
             timeout=10, what="both sensors up with a MAC")
    assert [r["health_check"] for r in agg(daemon)] == ["arp", "arp"]

    # The second sensor's namespace loses its link: it is taken out, and said so.
    lab.run("tap2", "ip", "link", "set", "eth0", "down")
    wait_for(lambda: oper(daemon, TAP2_IP) == "OPER_DOWN", timeout=15, what="10.10.7.2 down")
    r = row_of(daemon, TAP2_IP)
    assert r["num_down"] == 1 and r["oper_reason"], r
    assert f"clone server {TAP2_IP} is down" in daemon.logtext()
    metrics = daemon.ok("GET", "/metrics")
    assert f'clonelb_clone_server_up{{clone_server="{TAP2_IP}"}} 0' in metrics
    assert 'clonelb_clone_server_up{clone_server="10.10.3.2"} 1' in metrics

    # New connections all go to the healthy one.
    tap = captures("tap", "eth0")
    assert client.get(6)[0] == 6
    settle(daemon)
    per_conn = {k: {p[Ether].dst for p in f} for k, f in conns_of(tap.stop()).items()}
    assert len(per_conn) == 6 and all(m == {TAP_MAC} for m in per_conn.values()), per_conn

    # It comes back: put back for new connections, again in turn with the other.
    lab.run("tap2", "ip", "link", "set", "eth0", "up")
    wait_for(lambda: oper(daemon, TAP2_IP) == "OPER_UP" and row_of(daemon, TAP2_IP)["mac"],
             timeout=15, what="10.10.7.2 up again")
    assert f"clone server {TAP2_IP} is up again" in daemon.logtext()
    tap, t2 = captures("tap", "eth0"), captures("tap2", "eth0")
    assert client.get(6)[0] == 6
    settle(daemon)
    on_a, on_b = conns_of(tap.stop()), conns_of(t2.stop())
    assert len(on_a) == 3 and len(on_b) == 3, (len(on_a), len(on_b))
    assert all(p[Ether].dst == TAP2_MAC for f in on_b.values() for p in f)
    for r in agg(daemon):
        assert_identity(r)


def test_dead_sensor_open_flows_move_to_the_next_one(lab, web_servers, daemon, client, captures,
                                                    tap2):
    configure(daemon, [sensor("10.10.3.2"), sensor(TAP2_IP, SUBNET2)])
    wait_for(serving(client), what="VIP serving")
    wait_for(lambda: all(r["oper_state"] == "OPER_UP" and r["mac"] for r in agg(daemon)),
             timeout=10, what="both sensors up with a MAC")
    kas = [Client(lab), Client(lab)]
    try:
        t2 = captures("tap2", "eth0")
        ports = [ka.cmd("ka /")[2] for ka in kas]          # two kept-alive connections, one each
        settle(daemon)
        on_b = conns_of(t2.stop())
        assert len(on_b) == 1, on_b                        # round robin: one of them on 10.10.7.2
        b_port = next(iter(on_b))
        lab.run("tap2", "ip", "link", "set", "eth0", "down")
        wait_for(lambda: oper(daemon, TAP2_IP) == "OPER_DOWN", timeout=15, what="10.10.7.2 down")
        settle(daemon)
        before = row_of(daemon, TAP2_IP)
        tap, srv0 = captures("tap", "eth0"), captures("se", "srv0")
        for ka in kas:                                     # both connections go on
            got = ka.cmd("ka /big")
            assert got[0] == "1" and int(got[1]) == BIG
            ka.cmd("close")
        settle(daemon)
        cloned, wire = conns_of(tap.stop()), conns_of(backend(srv0.stop()))
    finally:
        for ka in kas:
            ka.stop()
    assert len(ports) == 2 and set(cloned) == set(wire) and b_port in cloned, (cloned.keys(), b_port)
    # The dead sensor's flow arrived whole at the healthy one, the other flow as before.
    for port, frames in wire.items():
        assert collections.Counter(map(frame_key, cloned[port])) == \
            collections.Counter(map(frame_key, frames)), port
        assert {p[Ether].dst for p in cloned[port]} == {TAP_MAC}
    after = row_of(daemon, TAP2_IP)
    assert after["num_failover"] - before["num_failover"] == len(cloned[b_port]), after
    for r in agg(daemon):
        assert_identity(r)


def test_dead_encapsulated_collector_found_by_icmp_echo(lab, web_servers, daemon, client, captures,
                                                        routers):
    vx = {"ip_address": {"addr": COLLECTOR, "type": "V4"}, "encap_type": "CLONE_ENCAP_VXLAN",
          "vni": 42}
    configure(daemon, [vx, sensor("10.10.3.2", mac=TAP_MAC)])
    wait_for(serving(client), what="VIP serving")
    wait_for(lambda: oper(daemon, COLLECTOR) == "OPER_UP", what="the collector up")
    assert row_of(daemon, COLLECTOR)["health_check"] == "icmp"
    lab.run("col", "ip", "link", "set", "eth0", "down")           # two hops away: no carrier news
    wait_for(lambda: oper(daemon, COLLECTOR) == "OPER_DOWN", timeout=15, what="the collector down")
    assert "no ICMP echo reply" in row_of(daemon, COLLECTOR)["oper_reason"]
    assert f"clone server {COLLECTOR} is down" in daemon.logtext()
    tap = captures("tap", "eth0")
    assert client.get(4)[0] == 4
    settle(daemon)
    assert len(conns_of(tap.stop())) == 4                        # all on the healthy sensor
    lab.run("col", "ip", "link", "set", "eth0", "up")
    lab.run("col", "ip", "route", "replace", "default", "via", "10.10.6.1")  # gone with the link
    wait_for(lambda: oper(daemon, COLLECTOR) == "OPER_UP", timeout=15, what="the collector up again")
    assert f"clone server {COLLECTOR} is up again" in daemon.logtext()


def test_dummy_mac_sensor_is_never_taken_out(lab, web_servers, daemon, client, captures):
    configure(daemon, [sensor("10.10.3.99", mac="02:de:ad:be:ef:01")])  # answers nothing
    wait_for(serving(client), what="VIP serving")
    r = wait_for(lambda: agg(daemon)[0]["oper_state"] != "OPER_UNKNOWN" and agg(daemon)[0],
                 what="the watcher's first look")
    assert (r["health_check"], r["oper_state"]) == ("none", "OPER_UP"), r
    tap = captures("tap", "eth0")
    assert client.get(3)[0] == 3
    settle(daemon)
    cloned = tap.stop()
    assert len(conns_of(cloned)) == 3
    r, = agg(daemon)
    assert (r["oper_state"], r["num_down"]) == ("OPER_UP", 0), r


def test_sensor_that_stops_answering_arp_is_taken_out(lab, web_servers, daemon, client, tap2):
    """The link stays up, the kernel's entry stays valid for tens of seconds: the watcher goes
    by the answers to the resolver's ARP requests, so it sees the silence within seconds."""
    configure(daemon, [sensor("10.10.3.2"), sensor(TAP2_IP, SUBNET2)])
    wait_for(serving(client), what="VIP serving")
    wait_for(lambda: oper(daemon, TAP2_IP) == "OPER_UP" and row_of(daemon, TAP2_IP)["mac"],
             timeout=10, what="10.10.7.2 up with a MAC")
    lab.run("tap2", "ip", "link", "set", "eth0", "arp", "off")
    r = wait_for(lambda: oper(daemon, TAP2_IP) == "OPER_DOWN" and row_of(daemon, TAP2_IP),
                 timeout=15, what="10.10.7.2 down")
    assert "no ARP answer" in r["oper_reason"], r
    lab.run("tap2", "ip", "link", "set", "eth0", "arp", "on")
    wait_for(lambda: oper(daemon, TAP2_IP) == "OPER_UP", timeout=15, what="10.10.7.2 up again")


# ---- filters, snaplen, budget: frames on the clone capture -------------------

# (rules, which back-end frames the sensor must get: f(frame, is_client2's))
FILTER_CASES = {
    "no rules: everything": ([], lambda p, c3: True),
    "accept client2's prefix only": (
        [rule(10, client_prefix=prefix(f"{CLIENT2_IP}/32"))], lambda p, c3: c3),
    "reject client2, accept the rest": (
        [rule(10, "CLONE_FILTER_REJECT", client_prefix=prefix(f"{CLIENT2_IP}/32")), rule(20)],
        lambda p, c3: not c3),
    "to the server only": ([rule(10, direction="CLONE_DIR_TO_SERVER")], lambda p, c3: to_server(p)),
    "from the server, port 80": (
        [rule(10, direction="CLONE_DIR_FROM_SERVER", server_port_start=80)],
        lambda p, c3: not to_server(p)),
    "a port range that misses": ([rule(10, server_port_start=81, server_port_end=65535)],
                                 lambda p, c3: False),
    "lowest rule number first": (
        [rule(20, "CLONE_FILTER_REJECT"), rule(10, client_prefix=prefix("10.10.1.0/24"))],
        lambda p, c3: True),
}


@pytest.mark.parametrize("case", list(FILTER_CASES))
def test_each_filter_field_accepts_and_rejects(lab, web_servers, daemon, client, client2, captures,
                                               case):
    rules, wanted = FILTER_CASES[case]
    daemon.ok("POST", "/api/trafficcloneprofile",
              {"name": "ids", "clone_servers": [sensor("10.10.3.2", mac=TAP_MAC)], "filters": rules})
    configure(daemon, [], profile=False)
    daemon.ok("PATCH", "/api/virtualservice/web", {"traffic_clone_profile_ref": "ids"})
    wait_for(serving(client), what="VIP serving")
    settle(daemon)
    before = agg(daemon)[0]
    tap, srv0 = captures("tap", "eth0"), captures("se", "srv0")
    assert client.get(3)[0] == 3
    assert client2(3) == ["200"] * 3
    settle(daemon)
    cloned, wire = tap.stop(), backend(srv0.stop())
    per, from3 = by_conn(wire)
    assert len(per) == 6 and len(from3) == 3, (len(per), from3)
    want = collections.Counter(frame_key(p) for port, fs in per.items() for p in fs
                               if wanted(p, port in from3))
    got = collections.Counter(map(frame_key, cloned))
    assert got == want, f"{case}: {sum((want - got).values())} missing, {sum((got - want).values())} extra"
    row = agg(daemon)[0]
    delta = {k: row[k] - before[k] for k in ("num_total_pkts_cloned", "num_succeeded", "num_filtered")}
    # Filtered frames were never meant for the sensor: not in the total, so the identity holds.
    assert delta == {"num_total_pkts_cloned": len(cloned), "num_succeeded": len(cloned),
                     "num_filtered": len(wire) - len(cloned)}, (case, delta, len(wire))
    assert_identity(row)
    metrics = daemon.ok("GET", "/metrics")
    line = next(ln for ln in metrics.splitlines()
                if ln.startswith("clonelb_clone_frames_not_whole_total{") and 'reason="filtered"' in ln)
    assert int(line.split()[-1]) == row["num_filtered"], line


def test_snaplen_cuts_every_clone_production_unchanged(lab, web_servers, daemon, client, captures):
    snap = 96
    configure(daemon, [sensor("10.10.3.2", mac=TAP_MAC)])
    daemon.ok("PATCH", "/api/trafficcloneprofile/ids", {"snaplen": snap})
    wait_for(serving(client), what="VIP serving")
    settle(daemon)
    before = agg(daemon)[0]
    tap, srv0 = captures("tap", "eth0"), captures("se", "srv0")
    ok, nbytes, digest = client.get(2, "/big")
    assert ok == 2 and nbytes == 2 * BIG
    assert digest in {sha(os.path.join(s.dir, "big")) for s in web_servers}   # production whole
    settle(daemon)
    cloned, wire = tap.stop(), backend(srv0.stop())
    assert len(cloned) == len(wire) > 100
    assert all(len(bytes(p)) <= snap for p in cloned)
    # Each clone is the first snap bytes of its back-end frame (the TCP checksum aside: the
    # back-end capture shows the partial one a veth leaves to offload).
    def head(p, n):
        raw = bytearray(bytes(p)[14:n])
        off = p[IP].ihl * 4 + 16
        raw[off:off + 2] = b"\0\0"
        return bytes(raw)
    got = collections.Counter(head(p, snap) for p in cloned)
    want = collections.Counter(head(p, snap) for p in wire)
    assert got == want
    long = sum(1 for p in wire if len(bytes(p)) > snap)
    row = agg(daemon)[0]
    assert row["num_truncated"] - before["num_truncated"] == long > 0, row
    assert row["num_succeeded"] - before["num_succeeded"] == len(cloned)
    assert_identity(row)


@pytest.mark.parametrize("action", ["CLONE_BUDGET_HEADERS", "CLONE_BUDGET_STOP"])
def test_budget_stops_payload_syn_and_fin_still_arrive(lab, web_servers, daemon, client, captures,
                                                       action):
    budget = 4000
    configure(daemon, [sensor("10.10.3.2", mac=TAP_MAC)])
    daemon.ok("PATCH", "/api/trafficcloneprofile/ids",
              {"max_bytes_per_flow": budget, "budget_action": action})
    wait_for(serving(client), what="VIP serving")
    settle(daemon)
    before = agg(daemon)[0]
    tap, srv0 = captures("tap", "eth0"), captures("se", "srv0")
    ok, nbytes, digest = client.get(2, "/big")
    assert ok == 2 and nbytes == 2 * BIG
    assert digest in {sha(os.path.join(s.dir, "big")) for s in web_servers}
    settle(daemon)
    cloned, wire = tap.stop(), backend(srv0.stop())
    per_wire, _ = by_conn(wire)
    per_clone, _ = by_conn(cloned)
    assert len(per_wire) == 2 and set(per_clone) == set(per_wire)
    skipped = 0
    for port, fs in per_wire.items():
        cs = per_clone[port]
        # A frame is known by its source, IP id and sequence number (a pure ACK and the first
        # data segment share the sequence number).
        wire_len = {(p[IP].src, p[IP].id, p[TCP].seq): len(p[TCP].payload) for p in fs}

        def cut(p):
            """Payload bytes of p's back-end frame the clone lacks."""
            return wire_len[(p[IP].src, p[IP].id, p[TCP].seq)] - len(p[TCP].payload)

        def n_flag(frames, f):
            return sum(1 for p in frames if p[TCP].flags & f)
        assert n_flag(cs, 0x02) == n_flag(fs, 0x02) == 2          # SYN, SYN/ACK
        assert n_flag(cs, 0x01) == n_flag(fs, 0x01) >= 2          # both FINs
        # In the order the sensor got them: whole frames until the budget is spent, then
        # every frame cut to its headers (HEADERS) or nothing but SYN/FIN/RST (STOP).
        spent = 0
        for p in cs:
            if spent < budget:
                assert cut(p) == 0, p.summary()
                spent += len(p[TCP].payload)
            elif action == "CLONE_BUDGET_HEADERS":
                assert len(p[TCP].payload) == 0, p.summary()
            else:
                assert p[TCP].flags & 0x07 and cut(p) == 0, p.summary()
        assert budget <= spent <= budget + 1500, (port, spent)
        if action == "CLONE_BUDGET_HEADERS":
            assert len(cs) == len(fs)                            # every frame, cut to its headers
            n = sum(1 for p in cs if cut(p) > 0)
        else:
            n = len(fs) - len(cs)
        assert n > 100, n                                        # 1 MiB: hundreds of frames
        skipped += n
    row = agg(daemon)[0]
    assert row["num_budget_skipped"] - before["num_budget_skipped"] == skipped, row
    assert row["num_succeeded"] - before["num_succeeded"] == len(cloned)
    assert_identity(row)
