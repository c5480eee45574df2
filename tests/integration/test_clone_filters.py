"""The profile's filters, snaplen and flow budget, and healthy sensors only, end to end through
clonelbd's REST API: real HTTP from the client namespace, frames captured on the clone servers
and on the SE's back-end interface, counters read back through the API.

A second sensor namespace (<prefix>tap2, 10.10.4.2 behind the SE's tap1) stands for a second
IDS; it "dies" by taking its namespace's link down. No timing thresholds: every wait polls.
"""
import collections
import hashlib
import os
import subprocess

import pytest
from scapy.all import IP, TCP, Ether, Raw

from conftest import CLIENT_IP, POOL_IPS, wait_for
from test_clone import (BIG, SUBNET, Client, agg, backend, client, configure, conns_of,  # noqa: F401
                        serving, settle, web_servers)
from test_clone_engine import TAP_MAC, assert_identity, captures, frame_key  # noqa: F401

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (namespaces, eBPF)")

TAP2_IP, TAP2_MAC, TAP1_MAC = "10.10.4.2", "02:fc:00:00:04:02", "02:fc:00:00:04:01"
SUBNET2 = {"ip_addr": {"addr": "10.10.4.0", "type": "V4"}, "mask": 24}


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
    """A second sensor: namespace <prefix>tap2 with eth0 10.10.4.2/24, joined to the SE's
    tap1 (10.10.4.1/24). Removed at the end, also on failure."""
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
        sh("ip", "-n", se, "addr", "add", "10.10.4.1/24", "dev", "tap1")
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


def row_of(d, ip):
    return next(r for r in agg(d) if r["ip"] == ip)


def profile_with(d, servers, **fields):
    body = {"name": "ids", "clone_servers": servers}
    body.update(fields)
    return d.api("POST", "/api/trafficcloneprofile", body)


# ---- bad input -------------------------------------------------------------

BAD = [
    ({"filters": [rule(10, server_port_start=8080, server_port_end=80)]},
     "filters[1].server_port_end: 80 is below server_port_start 8080"),
    ({"filters": [rule(10), rule(10, "CLONE_FILTER_REJECT")]},
     "filters: duplicate entry 10 (rule_number)"),
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
    wait_for(lambda: oper(daemon, TAP2_IP) == "OPER_DOWN", timeout=15, what="10.10.4.2 down")
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
             timeout=15, what="10.10.4.2 up again")
    assert f"clone server {TAP2_IP} is up again" in daemon.logtext()
    tap, t2 = captures("tap", "eth0"), captures("tap2", "eth0")
    assert client.get(6)[0] == 6
    settle(daemon)
    on_a, on_b = conns_of(tap.stop()), conns_of(t2.stop())
    assert len(on_a) == 3 and len(on_b) == 3, (len(on_a), len(on_b))
    assert all(p[Ether].dst == TAP2_MAC for f in on_b.values() for p in f)
    for r in agg(daemon):
        assert_identity(r)


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
             timeout=10, what="10.10.4.2 up with a MAC")
    lab.run("tap2", "ip", "link", "set", "eth0", "arp", "off")
    r = wait_for(lambda: oper(daemon, TAP2_IP) == "OPER_DOWN" and row_of(daemon, TAP2_IP),
                 timeout=15, what="10.10.4.2 down")
    assert "no ARP answer" in r["oper_reason"], r
    lab.run("tap2", "ip", "link", "set", "eth0", "arp", "on")
    wait_for(lambda: oper(daemon, TAP2_IP) == "OPER_UP", timeout=15, what="10.10.4.2 up again")
