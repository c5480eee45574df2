"""An SE group, active/active: two clonelbd SEs announce one VIP by BGP (BIRD 2) to an FRR router
that spreads clients over both by ECMP (tests/lab/group.sh). Route health injection end to end:
the router's routes, connections from the client namespace, frames on the clone server, and what
happens when an SE is killed, stopped, or its pool has no healthy member.

Until the etcd store is there, both SEs are configured identically through their own APIs.
No timing thresholds: every wait polls with a bound.
"""
import collections
import json
import os
import shutil
import signal
import subprocess
import tempfile

import pytest
from scapy.all import IP, TCP, Ether

from conftest import ROOT, Daemon, Namespaces, Nginx, end_process, wait_for
from test_clone_engine import Capture, frame_key

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (namespaces, eBPF)")

GROUP = os.path.join(ROOT, "tests", "lab", "group.sh")
VIP = "10.30.9.10"
ROUTER_IP = "10.30.2.1"
SE_FRONT = {"se1": "10.30.2.11", "se2": "10.30.2.12"}
SE_BACK = {"se1": "10.30.3.1", "se2": "10.30.3.2"}
SE_TAP_MAC = {"se1": "02:fc:00:30:04:01", "se2": "02:fc:00:30:04:02"}
POOL = ["10.30.3.11", "10.30.3.12"]
CLONE_IP, CLONE_MAC = "10.30.4.100", "02:fc:00:30:04:64"


class GroupLab(Namespaces):
    """The namespaces of tests/lab/group.sh under one prefix, by role."""

    ROLES = ("cli", "rtr", "se1", "se2", "srv", "tap", "etcd")

    def __init__(self, prefix):
        self.prefix = prefix
        self.dir = tempfile.mkdtemp(prefix="clonelb-group-")
        self.ns = {r: f"{prefix}g{r}" for r in self.ROLES}
        self.env = dict(os.environ, LAB_PREFIX=prefix, LAB_DIR=self.dir)

    def up(self):
        subprocess.run([GROUP, "up"], env=self.env, check=True)

    def down(self):
        subprocess.run([GROUP, "down"], env=self.env, check=False)
        shutil.rmtree(self.dir, ignore_errors=True)

    def vtysh(self, command):
        return self.run("rtr", "vtysh", "--vty_socket", os.path.join(self.dir, "frr"),
                        "-c", command).stdout

    def next_hops(self, vip=VIP):
        """The next hops of the router's installed BGP route to @vip, sorted."""
        routes = json.loads(self.vtysh(f"show ip route {vip}/32 json") or "{}")
        hops = set()
        for r in routes.get(f"{vip}/32", []):
            if r.get("protocol") == "bgp" and r.get("installed"):
                hops |= {h["ip"] for h in r.get("nexthops", []) if h.get("fib")}
        return sorted(hops)

    def kernel_next_hops(self):
        """The same, as the router's kernel forwards (ip route)."""
        out = self.run("rtr", "ip", "route", "show", f"{VIP}/32").stdout
        return sorted(w[i + 1] for w in [out.split()] for i, x in enumerate(w) if x == "via")

    def neighbor(self, ip):
        return json.loads(self.vtysh(f"show ip bgp neighbors {ip} json")).get(ip, {})

    def bfd_up(self, ip):
        peers = json.loads(self.vtysh("show bfd peers json") or "[]")
        return any(p.get("peer") == ip and p.get("status") == "up" for p in peers)

    def procs(self, role):
        r = subprocess.run(["ip", "netns", "pids", self.ns[role]], capture_output=True, text=True)
        return r.stdout.split()


def configure(d):
    """The configuration both SEs get through their own APIs."""
    d.ok("PATCH", "/api/vrfcontext/global", {"bgp_profile": {
        "local_as": 65000, "hold_time": 9, "keepalive_interval": 3,
        "peers": [{"remote_as": 65100, "peer_ip": {"addr": ROUTER_IP, "type": "V4"},
                   "subnet": {"ip_addr": {"addr": "10.30.2.0", "type": "V4"}, "mask": 24},
                   "bfd": True}]}})
    d.ok("POST", "/api/healthmonitor", {"name": "hm", "type": "HEALTH_MONITOR_TCP",
                                        "send_interval": 1, "receive_timeout": 1,
                                        "successful_checks": 1, "failed_checks": 1})
    d.ok("POST", "/api/trafficcloneprofile", {"name": "ids", "clone_servers": [
        {"ip_address": {"addr": CLONE_IP, "type": "V4"}, "mac": CLONE_MAC,
         "subnet": {"ip_addr": {"addr": "10.30.4.0", "type": "V4"}, "mask": 24}}]})
    d.ok("POST", "/api/pool", {"name": "web-pool",
                               "servers": [{"ip": {"addr": ip, "type": "V4"}} for ip in POOL]})
    d.ok("POST", "/api/virtualservice", {
        "name": "web", "vip": [{"ip_address": {"addr": VIP, "type": "V4"}}],
        "services": [{"port": 80}], "pool_ref": "web-pool", "traffic_clone_profile_ref": "ids",
        "enable_rhi": True})


@pytest.fixture(scope="module")
def glab():
    lb = GroupLab(os.environ.get("LAB_PREFIX") or f"t{os.getpid() % 10000}-")
    lb.up()
    servers = []
    try:
        for ip in POOL:
            servers.append(Nginx(lb, ip, workdir=lb.dir).start())
        yield lb
    finally:
        for s in servers:
            s.stop()
        lb.down()


@pytest.fixture(scope="module")
def ses(glab):
    made = {}
    try:
        for role in ("se1", "se2"):
            wd = os.path.join(glab.dir, role)
            os.makedirs(wd)
            made[role] = Daemon(glab, wd, role=role).start()
            configure(made[role])
        yield made
    finally:
        for d in made.values():
            d.stop()


@pytest.fixture
def group(glab, ses):
    """Both SEs running and announcing the VIP, before and after each test."""
    def both():
        for d in ses.values():
            if d.proc.poll() is not None:
                d.start()
        wait_for(lambda: glab.next_hops() == sorted(SE_FRONT.values()), timeout=30,
                 interval=0.2, what="a route to the VIP through both SEs")
    both()
    yield ses
    both()


def connect(glab, n, vip=VIP):
    """n HTTP/1.0 requests from the client to vip (IPv4 or IPv6), a new connection (and client
    port) each. Returns how many got a 200 from a pool server."""
    r = glab.run("cli", "/usr/bin/python3", "-c", r"""
import socket, sys
ok = 0
for _ in range(int(sys.argv[2])):
    try:
        s = socket.create_connection((sys.argv[1], 80), timeout=5)
        s.sendall(b"GET / HTTP/1.0\r\nHost: lab\r\n\r\n")
        data = b""
        while True:
            c = s.recv(4096)
            if not c:
                break
            data += c
        s.close()
        ok += data.startswith(b"HTTP/1.1 200") and b"server 10.30.3." in data
    except OSError:
        pass
print(ok)
""", vip, str(n), timeout=120)
    return int(r.stdout)


def runtime(d):
    return d.ok("GET", "/api/virtualservice/web/runtime")


def clone_stats(d):
    st = d.ok("GET", "/api/virtualservice/web/traffic_clone_stats")
    assert st[0]["proc_id"] == "PROC_Aggregate", st
    return st[0]["clone_srvr_stats"][0]


def settled(d):
    last = [None]

    def still():
        now = clone_stats(d)
        same = now == last[0]
        last[0] = now
        return same
    wait_for(still, timeout=10, interval=0.3, what="clone counters to settle")


def test_route_has_one_next_hop_per_se(glab, group):
    assert glab.next_hops() == [SE_FRONT["se1"], SE_FRONT["se2"]]
    assert glab.kernel_next_hops() == [SE_FRONT["se1"], SE_FRONT["se2"]]
    for role, d in group.items():
        lo = glab.run(role, "ip", "-4", "addr", "show", "dev", "lo").stdout
        assert f"inet {VIP}/32" in lo and "lo:clonelb" in lo, lo
        assert "announcing 10.30.9.10/32 (virtualservice 'web' is up)" in d.logtext()


def test_both_ses_serve_and_every_backend_frame_is_cloned_once(glab, group, tmp_path):
    n = 60
    before = {r: (runtime(d)["connections_total"], clone_stats(d)["num_succeeded"])
              for r, d in group.items()}
    caps = {r: Capture(glab, r, "srv0", str(tmp_path / f"{r}.pcap")) for r in group}
    tap = Capture(glab, "tap", "eth0", str(tmp_path / "tap.pcap"))
    assert connect(glab, n) == n
    for d in group.values():
        settled(d)
    cloned = [p for p in tap.stop() if TCP in p]
    served = {r: runtime(d)["connections_total"] - before[r][0] for r, d in group.items()}
    assert sum(served.values()) == n and all(served.values()), served

    for role, d in group.items():
        # The SE's own back-end frames (the bridge may flood the other's to it too).
        wire = [p for p in caps[role].stop() if TCP in p and SE_BACK[role] in (p[IP].src, p[IP].dst)
                and 80 in (p[TCP].sport, p[TCP].dport)]
        mine = [p for p in cloned if p[Ether].src == SE_TAP_MAC[role]]
        assert all(p[Ether].dst == CLONE_MAC for p in mine)
        conns = {p[TCP].sport if p[IP].src == SE_BACK[role] else p[TCP].dport for p in mine}
        assert len(conns) == served[role], (role, len(conns), served[role])
        got = collections.Counter(map(frame_key, mine))
        want = collections.Counter(map(frame_key, wire))
        missing, extra = want - got, got - want
        assert not missing and not extra, (f"{role}: {sum(missing.values())} back-end frames not "
                                           f"cloned, {sum(extra.values())} extra, of {len(wire)}")
        assert clone_stats(d)["num_succeeded"] - before[role][1] == len(mine), role


def test_kill9_removes_its_next_hop_and_the_other_serves(glab, group):
    bird = [p for p in glab.procs("se2") if str(group["se2"].pid()) != p]
    assert bird, "no BIRD beside clonelbd in se2"
    group["se2"].proc.send_signal(signal.SIGKILL)
    group["se2"].proc.wait()
    wait_for(lambda: glab.next_hops() == [SE_FRONT["se1"]], timeout=15, interval=0.05,
             what="the router to drop the killed SE's next hop")
    # BIRD died with its parent: nothing of the SE is left speaking BGP.
    wait_for(lambda: not glab.procs("se2"), timeout=10, what="se2's BIRD to be gone")
    assert glab.kernel_next_hops() == [SE_FRONT["se1"]]
    assert connect(glab, 20) == 20


def test_sigterm_withdraws_with_a_cease(glab, group):
    d = group["se2"]
    assert d.stop(signal.SIGTERM) == 0
    # Gone before the process is: BIRD closed its session with a Cease
    # notification (not a hold timer, not a dropped connection).
    wait_for(lambda: glab.next_hops() == [SE_FRONT["se1"]], timeout=5, interval=0.05,
             what="the stopped SE's next hop to go")
    nb = glab.neighbor(SE_FRONT["se2"])
    assert nb.get("lastResetDueTo") == "BGP Notification received", nb
    assert nb.get("lastNotificationReason", "").startswith("Cease"), nb
    assert "BGP sessions closed, routes withdrawn" in d.logtext()
    lo = glab.run("se2", "ip", "-4", "addr", "show", "dev", "lo").stdout
    assert VIP not in lo, lo
    assert not glab.procs("se2")
    assert connect(glab, 10) == 10


def test_frozen_se_is_dropped_by_bfd(glab, group):
    # SIGSTOP freezes clonelbd and its BIRD: the SE's kernel still answers TCP,
    # so only BFD (or, without it, the hold time) tells the router.
    wait_for(lambda: glab.bfd_up(SE_FRONT["se2"]), timeout=20, interval=0.1,
             what="the router's BFD session with se2")
    procs = glab.procs("se2")
    for pid in procs:
        os.kill(int(pid), signal.SIGSTOP)
    try:
        wait_for(lambda: glab.next_hops() == [SE_FRONT["se1"]], timeout=20, interval=0.05,
                 what="the router to drop the frozen SE")
        nb = glab.neighbor(SE_FRONT["se2"])
        # The router's BFD, not its hold timer, ended the session.
        assert nb.get("lastNotificationReason") == "Cease/BFD Down", nb
        assert connect(glab, 10) == 10
    finally:
        for pid in procs:
            os.kill(int(pid), signal.SIGCONT)


def test_pool_without_healthy_member_withdraws_the_vip(glab, group):
    # On one SE the pool's members fail their checks (nothing listens on 81).
    d = group["se1"]
    sessions = glab.neighbor(SE_FRONT["se1"])["connectionsEstablished"]
    d.ok("PATCH", "/api/pool/web-pool", {"health_monitor_refs": ["hm"], "default_server_port": 81})
    try:
        wait_for(lambda: glab.next_hops() == [SE_FRONT["se2"]], timeout=15, interval=0.1,
                 what="the route through se1 to be withdrawn")
        assert ("withdrawing 10.30.9.10/32 (virtualservice 'web': pool 'web-pool' has no "
                "healthy member)") in d.logtext()
        assert connect(glab, 10) == 10
    finally:
        d.ok("PATCH", "/api/pool/web-pool", {"health_monitor_refs": [], "default_server_port": 80})
    wait_for(lambda: glab.next_hops() == sorted(SE_FRONT.values()), timeout=15, interval=0.1,
             what="se1's route to come back")
    # Withdrawn and announced again on the same BGP session: BIRD's reconfiguration
    # changed the routes, not the peering.
    assert glab.neighbor(SE_FRONT["se1"])["connectionsEstablished"] == sessions


def test_bad_input_is_refused_naming_field_and_value(glab, ses):
    d = ses["se1"]
    vrf = d.ok("GET", "/api/vrfcontext/global")
    bad = [
        ({"bgp_profile": {"local_as": 0}}, ["bgp_profile.local_as", "0"]),
        ({"bgp_profile": {"local_as": 65000, "peers": [
            {"remote_as": 65100, "peer_ip": {"addr": "router-1", "type": "V4"}}]}},
         ["bgp_profile.peers[1].peer_ip", "router-1"]),
        ({"bgp_profile": {"local_as": 65000, "hold_time": 9, "keepalive_interval": 9}},
         ["bgp_profile.keepalive_interval", "9"]),
    ]
    for body, words in bad:
        status, out = d.api("PATCH", "/api/vrfcontext/global", body)
        assert status == 400 and all(w in out["error"] for w in words), (body, status, out)
    assert d.ok("GET", "/api/vrfcontext/global") == vrf

    status, out = d.api("PATCH", "/api/virtualservice/web", {"se_group_ref": "no-such-group"})
    assert status == 400 and "se_group_ref" in out["error"] and "no-such-group" in out["error"], out
    assert d.ok("GET", "/api/virtualservice/web?include_name")["se_group_ref"].endswith("#Default-Group")

    # The shell says the same and exits 1.
    r = d.cli("-c", "configure vrfcontext global", "-c", "bgp_profile", "-c", "local_as 0")
    assert r.returncode == 1 and "local_as" in r.stderr and "0" in r.stderr, r.stderr

    # Groups: the built-in one stays; one with services cannot be deleted.
    status, out = d.api("DELETE", "/api/serviceenginegroup/Default-Group")
    assert status == 409 and "Default-Group" in out["error"], out
    d.ok("POST", "/api/serviceenginegroup", {"name": "spare", "ha_mode": "HA_MODE_SHARED"})
    d.ok("POST", "/api/virtualservice", {"name": "spare-vs",
                                         "vip": [{"ip_address": {"addr": "10.30.9.20"}}],
                                         "services": [{"port": 80}], "se_group_ref": "spare"})
    status, out = d.api("DELETE", "/api/serviceenginegroup/spare")
    assert status == 409 and "spare-vs" in out["error"], out
    d.ok("DELETE", "/api/virtualservice/spare-vs")
    d.ok("DELETE", "/api/serviceenginegroup/spare")


def test_one_etcd_configured_once_both_announce_and_withdraw(glab, ses):
    """Both SEs on one etcd (tests/lab/group.sh etcd-start): configured once through se1, both
    announce; enable_rhi turned off through se2's API withdraws the VIP from both (which still
    hold it on lo); deleting the service takes it off lo. Runs last: it replaces the SQLite SEs
    of the other tests (one clonelbd per namespace)."""
    for d in ses.values():
        d.stop()
    subprocess.run([GROUP, "etcd-start"], env=glab.env, check=True)
    made = []
    try:
        for role in ("se1", "se2"):
            wd = os.path.join(glab.dir, role + "-etcd")
            os.makedirs(wd)
            made.append(Daemon(glab, wd, role=role, extra_args=[
                "--store", "etcd://10.30.5.100:2379", "--se-name", role,
                "--se-group", "Default-Group"]).start())
        se1, se2 = made
        configure(se1)
        wait_for(lambda: glab.next_hops() == sorted(SE_FRONT.values()), timeout=30,
                 interval=0.2, what="both SEs announcing what se1 was told")
        assert connect(glab, 20) == 20
        se2.ok("PATCH", "/api/virtualservice/web", {"enable_rhi": False})
        wait_for(lambda: glab.next_hops() == [], timeout=15, interval=0.1,
                 what="the VIP withdrawn by both SEs")
        for role, d in zip(("se1", "se2"), made):
            assert "withdrawing 10.30.9.10/32 (no service of group 'Default-Group' with " \
                   "enable_rhi has it)" in d.logtext(), role
            # Still a service of the shared group: every SE keeps accepting its VIP.
            lo = glab.run(role, "ip", "-4", "addr", "show", "dev", "lo").stdout
            assert f"inet {VIP}/32" in lo, (role, lo)
        se1.ok("DELETE", "/api/virtualservice/web")
        for role in ("se1", "se2"):
            wait_for(lambda: VIP not in glab.run(role, "ip", "-4", "addr", "show", "dev",
                                                 "lo").stdout,
                     timeout=10, what=f"the VIP to leave lo of {role} with its service")
    finally:
        for d in made:
            d.stop()
        subprocess.run([GROUP, "etcd-stop"], env=glab.env, check=False)


def on_etcd(glab, ses, group, made):
    """Replaces the SQLite SEs of the other tests (one clonelbd per namespace) with one SE per
    namespace on a fresh etcd (tests/lab/group.sh etcd-start), in SE group @group, into @made
    (role: Daemon). The caller stops them and etcd."""
    for d in ses.values():
        d.stop()
    subprocess.run([GROUP, "etcd-start"], env=glab.env, check=True)
    for role in ("se1", "se2"):
        wd = os.path.join(glab.dir, f"{role}-{group}")
        os.makedirs(wd)
        made[role] = Daemon(glab, wd, role=role, extra_args=[
            "--store", "etcd://10.30.5.100:2379", "--se-name", role,
            "--se-group", group]).start()


def test_active_standby_only_the_holder_announces(glab, ses):
    """An HA_MODE_LEGACY_ACTIVE_STANDBY group on one etcd: the SE elected for the VIP holds it
    on its front interface and is the only one to announce it; kill -9 of the holder, and the
    other takes over and announces it."""
    vip = "10.30.2.100"  # active/standby VIPs are on the front subnet (gratuitous ARP)
    made = {}
    try:
        on_etcd(glab, ses, "as-group", made)
        d = made["se1"]
        d.ok("PATCH", "/api/vrfcontext/global", {"bgp_profile": {"local_as": 65000, "peers": [
            {"remote_as": 65100, "peer_ip": {"addr": ROUTER_IP, "type": "V4"}}]}})
        d.ok("POST", "/api/serviceenginegroup",
             {"name": "as-group", "ha_mode": "HA_MODE_LEGACY_ACTIVE_STANDBY"})
        d.ok("POST", "/api/pool", {"name": "web-pool", "servers": [
            {"ip": {"addr": ip, "type": "V4"}} for ip in POOL]})
        d.ok("POST", "/api/virtualservice", {
            "name": "web-as", "vip": [{"ip_address": {"addr": vip, "type": "V4"}}],
            "services": [{"port": 80}], "pool_ref": "web-pool", "se_group_ref": "as-group",
            "enable_rhi": True})
        hops = wait_for(lambda: glab.next_hops(vip) if len(glab.next_hops(vip)) == 1 else None,
                        timeout=30, interval=0.2, what="one SE announcing the VIP")
        holder = next(r for r, ip in SE_FRONT.items() if ip == hops[0])
        other = "se2" if holder == "se1" else "se1"
        front = glab.run(holder, "ip", "-4", "addr", "show", "dev", "front0").stdout
        assert f"inet {vip}/" in front, front
        assert "announcing 10.30.2.100/32" not in made[other].logtext()  # the standby stays quiet
        made[holder].proc.send_signal(signal.SIGKILL)
        made[holder].proc.wait()
        wait_for(lambda: glab.next_hops(vip) == [SE_FRONT[other]], timeout=30, interval=0.2,
                 what=f"{other} to take the VIP over and announce it")
        assert "announcing 10.30.2.100/32 (virtualservice 'web-as' is up)" in \
            made[other].logtext()
    finally:
        for dd in made.values():
            dd.stop()
        subprocess.run([GROUP, "etcd-stop"], env=glab.env, check=False)
        # Whatever the killed holder left on its front interface.
        for role in ("se1", "se2"):
            glab.run(role, "ip", "addr", "del", f"{vip}/24", "dev", "front0", check=False)
            glab.run(role, "ip", "addr", "del", f"{vip}/32", "dev", "front0", check=False)


VIP6 = "fd00:30:9::10"
ROUTER_IP6 = "fd00:30:2::1"


def next_hops6(glab):
    """The SEs whose address (global or link-local on front0) is a next hop of the router's
    installed BGP route to VIP6/128, sorted."""
    routes = json.loads(glab.vtysh(f"show ipv6 route {VIP6}/128 json") or "{}")
    hops = set()
    for r in routes.get(f"{VIP6}/128", []):
        if r.get("protocol") == "bgp" and r.get("installed"):
            hops |= {h["ip"] for h in r.get("nexthops", []) if h.get("fib")}
    owners = []
    for role in ("se1", "se2"):
        addrs = glab.run(role, "ip", "-6", "-o", "addr", "show", "dev", "front0").stdout
        mine = {w.split("/")[0] for w in addrs.split() if ":" in w and "/" in w}
        if hops & mine:
            owners.append(role)
    return owners if len(hops) == len(owners) else ["unknown hop"] + sorted(hops)


def test_ipv6_vip_announced_over_ipv6_sessions_one_hop_per_se(glab, group):
    """An IPv6 VIP of the shared group's service is on every SE's lo as a /128, announced over
    an IPv6 BGP session (peer_ip V6) beside the IPv4 one: the router's IPv6 route has one next
    hop per SE, and loses an SE's when that SE's pool has no healthy member."""
    v4peer = {"remote_as": 65100, "peer_ip": {"addr": ROUTER_IP, "type": "V4"},
              "subnet": {"ip_addr": {"addr": "10.30.2.0", "type": "V4"}, "mask": 24}, "bfd": True}
    v6peer = {"remote_as": 65100, "peer_ip": {"addr": ROUTER_IP6, "type": "V6"},
              "subnet": {"ip_addr": {"addr": "fd00:30:2::", "type": "V6"}, "mask": 64}}
    vip4 = {"ip_address": {"addr": VIP, "type": "V4"}}
    vip6 = {"ip_address": {"addr": VIP6, "type": "V6"}}

    def profile(peers):
        return {"bgp_profile": {"local_as": 65000, "hold_time": 9, "keepalive_interval": 3,
                                "peers": peers}}
    try:
        # se1 through the shell, as docs/deployment.md shows; se2 through the API.
        r = group["se1"].cli("-c", "configure vrfcontext global", "-c", "bgp_profile",
                             "-c", "peers", "-c", f"peer_ip {ROUTER_IP6}", "-c", "remote_as 65100",
                             "-c", "subnet fd00:30:2::/64", "-c", "no bfd",
                             "-c", "save", "-c", "save", "-c", "save")
        assert r.returncode == 0, r.stdout + r.stderr
        got = group["se1"].ok("GET", "/api/vrfcontext/global")["bgp_profile"]["peers"]
        assert [p["peer_ip"] for p in got] == [v4peer["peer_ip"], v6peer["peer_ip"]], got
        group["se2"].ok("PATCH", "/api/vrfcontext/global", profile([v4peer, v6peer]))
        for d in group.values():
            d.ok("PATCH", "/api/virtualservice/web", {"vip": [vip4, vip6]})
        wait_for(lambda: next_hops6(glab) == ["se1", "se2"], timeout=30, interval=0.2,
                 what="an IPv6 route to the VIP through both SEs")
        out = glab.run("rtr", "ip", "-6", "route", "show", f"{VIP6}/128").stdout
        assert out.count("via ") == 2, out
        assert glab.next_hops() == sorted(SE_FRONT.values())      # IPv4 as it was
        for role, d in group.items():
            lo = glab.run(role, "ip", "-6", "addr", "show", "dev", "lo").stdout
            assert f"inet6 {VIP6}/128" in lo, lo
            assert f"announcing {VIP6}/128 (virtualservice 'web' is up)" in d.logtext()

        d = group["se1"]
        d.ok("PATCH", "/api/pool/web-pool", {"health_monitor_refs": ["hm"],
                                             "default_server_port": 81})
        try:
            wait_for(lambda: next_hops6(glab) == ["se2"], timeout=15, interval=0.1,
                     what="the IPv6 route through se1 to be withdrawn")
            assert (f"withdrawing {VIP6}/128 (virtualservice 'web': pool 'web-pool' has no "
                    "healthy member)") in d.logtext()
        finally:
            d.ok("PATCH", "/api/pool/web-pool", {"health_monitor_refs": [],
                                                 "default_server_port": 80})
        wait_for(lambda: next_hops6(glab) == ["se1", "se2"], timeout=15, interval=0.1,
                 what="se1's IPv6 route to come back")
    finally:
        for d in group.values():
            d.api("PATCH", "/api/virtualservice/web", {"vip": [vip4]})
            d.api("PATCH", "/api/vrfcontext/global", profile([v4peer]))
    wait_for(lambda: next_hops6(glab) == [], timeout=15, interval=0.2,
             what="the IPv6 route gone with the IPv6 VIP")
    for role in group:
        lo = glab.run(role, "ip", "-6", "addr", "show", "dev", "lo").stdout
        assert VIP6 not in lo, lo


SE_FRONT_MAC = {"se1": "02:fc:00:30:02:0b", "se2": "02:fc:00:30:02:0c"}


def unsolicited_nas(pcap, target, mac):
    """The unsolicited neighbour advertisements for @target from @mac in capture @pcap, as
    (eth.src, eth.dst, ipv6.src, ipv6.dst, ipv6.hlim, override flag, target link-layer
    address) tuples."""
    out = subprocess.run(["tshark", "-r", pcap, "-Y",
                          f"icmpv6.type == 136 && icmpv6.nd.na.target_address == {target} "
                          "&& icmpv6.nd.na.flag.s == 0",
                          "-T", "fields", "-e", "eth.src", "-e", "eth.dst", "-e", "ipv6.src",
                          "-e", "ipv6.dst", "-e", "ipv6.hlim", "-e", "icmpv6.nd.na.flag.o",
                          "-e", "icmpv6.opt.linkaddr"],
                         capture_output=True, text=True, timeout=30).stdout.splitlines()
    return {tuple(line.split("\t")) for line in out if line.startswith(mac)}


def test_active_standby_ipv6_vip_moves_by_neighbour_advertisement(glab, ses, tmp_path):
    """An IPv6 VIP of an HA_MODE_LEGACY_ACTIVE_STANDBY group: the elected SE puts it on its front
    interface (a /128, no duplicate address detection); kill -9 of the holder, and the other
    takes it and sends unsolicited neighbour advertisements with the override flag, so the
    router's neighbour entry for the VIP moves to the new holder's MAC at once (the killed SE's
    kernel still has the address and would answer a solicitation) and IPv6 clients behind the
    router connect again. A restarted SE removes what its crashed run left."""
    vip6 = "fd00:30:2::100"  # on the front subnet: reached by neighbour discovery

    def holders():
        return [r for r in ("se1", "se2")
                if f"inet6 {vip6}/128" in glab.run(r, "ip", "-6", "addr", "show", "dev",
                                                    "front0").stdout]

    def router_mac():
        out = glab.run("rtr", "ip", "-6", "neigh", "show", vip6, "dev", "se0").stdout.split()
        return out[out.index("lladdr") + 1] if "lladdr" in out else None

    made, cap = {}, None
    try:
        on_etcd(glab, ses, "as6-group", made)
        d = made["se1"]
        d.ok("POST", "/api/serviceenginegroup",
             {"name": "as6-group", "ha_mode": "HA_MODE_LEGACY_ACTIVE_STANDBY"})
        d.ok("POST", "/api/pool", {"name": "web-pool", "servers": [
            {"ip": {"addr": ip, "type": "V4"}} for ip in POOL]})
        d.ok("POST", "/api/virtualservice", {
            "name": "web-as6", "vip": [{"ip_address": {"addr": vip6, "type": "V6"}}],
            "services": [{"port": 80}], "pool_ref": "web-pool", "se_group_ref": "as6-group"})
        holder = wait_for(lambda: holders()[0] if len(holders()) == 1 else None, timeout=30,
                          interval=0.2, what="one SE holding the IPv6 VIP")
        other = "se2" if holder == "se1" else "se1"
        wait_for(lambda: connect(glab, 1, vip6) == 1, timeout=15, interval=0.2,
                 what="the IPv6 VIP serving through its holder")
        assert connect(glab, 5, vip6) == 5
        assert router_mac() == SE_FRONT_MAC[holder]
        assert holders() == [holder]  # the standby leaves it alone
        assert f"VIP {vip6} added to front0" in made[holder].logtext()
        assert "unsolicited neighbour advertisement sent on front0" in made[holder].logtext()

        pcap = str(tmp_path / "na.pcap")
        cap = glab.popen("rtr", "tcpdump", "-i", "se0", "-nn", "-U", "--immediate-mode", "-w",
                         pcap, "icmp6",
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_for(lambda: os.path.exists(pcap), timeout=5, what="tcpdump")
        made[holder].proc.send_signal(signal.SIGKILL)
        made[holder].proc.wait()
        # The router moves its entry on the advertisement alone: nothing is sent to the VIP
        # until it has.
        wait_for(lambda: router_mac() == SE_FRONT_MAC[other], timeout=30, interval=0.1,
                 what=f"the router's neighbour entry for {vip6} to move to {other}")
        assert other in holders()
        # Its listeners on the VIP bind at their next retry (section 5 of docs/architecture.md).
        wait_for(lambda: connect(glab, 1, vip6) == 1, timeout=10, interval=0.2,
                 what=f"the IPv6 VIP serving through {other}")
        assert connect(glab, 5, vip6) == 5
        assert "this SE is active" in made[other].logtext()
        # The new holder's advertisements to all nodes (tcpdump -U writes each packet as it
        # comes).
        mine = wait_for(lambda: unsolicited_nas(pcap, vip6, SE_FRONT_MAC[other]), timeout=10,
                        what=f"{other}'s unsolicited neighbour advertisements in the capture")
        end_process(cap)
        cap = None
        assert {(m[1], m[2], m[3], m[4], m[6]) for m in mine} == {
            ("33:33:00:00:00:01", vip6, "ff02::1", "255", SE_FRONT_MAC[other])}, mine
        assert {m[5] for m in mine} <= {"1", "True"}, mine          # override

        # The crashed holder starts again: it removes the address its last run left, and
        # stays standby.
        made[holder].start()
        wait_for(lambda: holders() == [other] and
                 f"removed VIP {vip6} from front0, left by an earlier run" in
                 made[holder].logtext(), timeout=15, what=f"{holder} to clean up and stand by")
        # SIGTERM: the address leaves with the SE.
        assert made[other].stop() == 0
        assert other not in holders()
    finally:
        if cap is not None:
            end_process(cap)
        for dd in made.values():
            dd.stop()
        subprocess.run([GROUP, "etcd-stop"], env=glab.env, check=False)
        for role in ("se1", "se2"):
            glab.run(role, "ip", "-6", "addr", "del", f"{vip6}/128", "dev", "front0", check=False)
