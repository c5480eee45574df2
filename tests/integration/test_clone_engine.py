"""The clone engine on its own (no daemon, no proxy): frames on the wire, stats, tc filters.

src/clone/clone_harness (built from clone_harness.c) plays the proxy's part:
it opens back-end connections the proxy's way (bind, on_connect, connect) and
calls clone_apply() with JSON snapshots, in the lab's se namespace. Captures
are taken on the clone server (tap eth0) and on the SE's back-end interface
(srv0), and compared frame by frame with scapy.
"""
import collections
import json
import os
import select
import signal
import subprocess
import time

import pytest
from scapy.all import IP, TCP, Ether, rdpcap
from scapy.layers.inet import in4_chksum
from scapy.utils import checksum

from conftest import BUILD, CLIENT_IP, POOL_IPS, SE_SRV_IP, nginx_pool, wait_for

HARNESS = os.path.join(BUILD, "src", "clone", "clone_harness")
TAP_MAC = "02:fc:00:00:03:02"     # the tap namespace's eth0 (lab.sh)
TAP0_MAC = "02:fc:00:00:03:01"    # the SE's clone interface
SRV0_MAC = "02:fc:00:00:02:01"
VS_ID, VS_UUID = 7, "vs-7-uuid"
PORT = 80

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (namespaces, eBPF)")


# ---- helpers ---------------------------------------------------------------

class Harness:
    """clone_harness in the se namespace, driven line by line."""

    def __init__(self, lab, workdir):
        self.lab, self.dir = lab, workdir
        self.errlog = open(os.path.join(workdir, "harness.log"), "ab")
        self.proc = lab.popen("se", HARNESS, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=self.errlog, text=True, bufsize=1)
        self.buf = b""
        ready = self._line(20)
        assert ready.startswith("ready "), ready
        self.se_uuid = ready.split()[1]
        self.n_snap = 0

    def _line(self, timeout=60):
        # Our own buffer: select() cannot see lines a file object has buffered.
        fd = self.proc.stdout.fileno()
        while b"\n" not in self.buf:
            r, _, _ = select.select([fd], [], [], timeout)
            assert r, f"clone_harness did not answer within {timeout}s"
            chunk = os.read(fd, 65536)
            assert chunk, f"clone_harness exited: {self.proc.poll()}: {self.log()}"
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        return line.decode()

    def log(self):
        with open(os.path.join(self.dir, "harness.log"), errors="replace") as f:
            return f.read()

    def cmd(self, line, timeout=60):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        return self._line(timeout)

    def apply(self, snap):
        self.n_snap += 1
        path = os.path.join(self.dir, f"snap{self.n_snap}.json")
        with open(path, "w") as f:
            json.dump(snap, f)
        assert self.cmd(f"apply {path}") == "ok"

    def conns(self, n, server=POOL_IPS[0], path="/", vs_id=VS_ID, client=CLIENT_IP):
        """n back-end connections; returns (count ok, bytes, [local ports])."""
        out = self.cmd(f"conn {vs_id} {client} {server} {PORT} {n} {path}").split()
        assert out[0] == "ok", out
        ports = [] if out[3] == "-" else [int(p) for p in out[3].split(",")]
        return int(out[1]), int(out[2]), ports

    def health_check(self, server=POOL_IPS[0]):
        out = self.cmd(f"hc {server} {PORT}").split()
        assert out[0] == "ok" and int(out[1]) > 0, out
        return int(out[2])

    def stats(self, uuid=VS_UUID, detail=False):
        return json.loads(self.cmd(f"stats {uuid}" + (" detail" if detail else "")))

    def quit(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write("quit\n")
                self.proc.stdin.flush()
                self.proc.wait(20)
            except (BrokenPipeError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        self.errlog.close()

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.errlog.close()


class Capture:
    """tcpdump -w on one interface of one namespace."""

    def __init__(self, lab, role, ifname, path):
        self.path = path
        self.proc = lab.popen(role, "tcpdump", "-i", ifname, "-n", "-U", "--immediate-mode",
                              "-B", "65536", "-s", "0", "-w", path,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        r, _, _ = select.select([self.proc.stderr], [], [], 10)
        assert r and "listening on" in self.proc.stderr.readline(), "tcpdump did not start"

    def _size(self):
        try:
            return os.path.getsize(self.path)
        except OSError:
            return -1

    def stop(self, interface_drops_ok=False):
        """Stops tcpdump; returns the IPv4 TCP packets it captured. Any frame tcpdump lost
        (its buffer full: "dropped by kernel") fails the test. A frame the interface itself
        dropped before tcpdump could see it ("dropped by interface", the device's rx_dropped)
        fails it too unless @interface_drops_ok; self.if_dropped says how many."""
        # Let tcpdump write what it has read before it is interrupted.
        size = [self._size()]

        def unchanged():
            time.sleep(0.2)
            now = self._size()
            same = now == size[0]
            size[0] = now
            return same
        wait_for(unchanged, timeout=10, interval=0, what=f"{self.path} to stop growing")
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        err = self.proc.stderr.read()

        def count(what):
            return sum(int(line.split()[0]) for line in err.splitlines() if what in line)
        self.if_dropped = count("dropped by interface")
        self.dropped = count("dropped by kernel") + (0 if interface_drops_ok else self.if_dropped)
        # A capture that lost frames proves nothing either way (a 64 MiB
        # buffer makes this rare even on a busy machine).
        assert self.dropped == 0, f"tcpdump on {self.path} dropped {self.dropped} frames"
        return [p for p in rdpcap(self.path) if IP in p and TCP in p]


def profile(servers, preserve=False, modified="1", name="ids"):
    """A trafficcloneprofile; servers: list of (ip, mac or None) or dicts."""
    cs = []
    for s in servers:
        if isinstance(s, dict):
            cs.append(s)
            continue
        ip, mac = s
        d = {"ip_address": {"addr": ip, "type": "V4"},
             "subnet": {"ip_addr": {"addr": "10.10.3.0", "type": "V4"}, "mask": 24}}
        if mac:
            d["mac"] = mac
        cs.append(d)
    return {"_id": 50, "uuid": f"{name}-uuid", "name": name, "tenant_ref": "admin",
            "_last_modified": modified, "preserve_client_ip": preserve,
            "cloud_ref": "Default-Cloud", "clone_servers": cs}


def snapshot(prof=None, with_ref=True):
    vs = {"_id": VS_ID, "uuid": VS_UUID, "name": "web", "tenant_ref": "admin",
          "_last_modified": "1", "pool_ref": "web-pool", "enabled": True,
          "vip": [{"ip_address": {"addr": "10.10.1.10", "type": "V4"}}],
          "services": [{"port": 80, "enable_ssl": False}]}
    if prof and with_ref:
        vs["traffic_clone_profile_ref"] = prof["name"]
    pool = {"_id": 20, "uuid": "pool-uuid", "name": "web-pool", "tenant_ref": "admin",
            "_last_modified": "1", "lb_algorithm": "LB_ALGORITHM_ROUND_ROBIN",
            "servers": [{"ip": {"addr": ip, "type": "V4"}, "port": PORT, "enabled": True}
                        for ip in POOL_IPS]}
    return {"virtualservice": [vs], "pool": [pool],
            "trafficcloneprofile": [prof] if prof else []}


def conn_key(p):
    """The back-end connection of frame p, as (SE port, server address)."""
    if p[IP].src == SE_SRV_IP or p[TCP].dport == PORT:
        return p[TCP].sport
    return p[TCP].dport


def frame_key(p):
    """The IP packet of p with its TCP checksum zeroed: the SE's back-end
    capture shows the partial checksum a veth leaves to offload, the clone the
    completed one; every other byte must be equal."""
    raw = bytearray(bytes(p[IP]))
    off = p[IP].ihl * 4 + 16
    raw[off:off + 2] = b"\0\0"
    return bytes(raw)


def backend_frames(frames, ports):
    return [p for p in frames if {p[TCP].sport, p[TCP].dport} & set(ports)
            and {p[IP].src, p[IP].dst} & set(POOL_IPS)]


def agg(stats):
    assert stats[0]["proc_id"] == "PROC_Aggregate", stats
    return stats[0]["clone_srvr_stats"]


def assert_identity(row):
    assert row["num_total_pkts_cloned"] == (row["num_succeeded"] + row["num_mbuf_alloc_failed"]
                                            + row["num_driver_failures"]), row


def settle(h, timeout=10):
    """Waits until the clone counters stop moving (the last FIN/ACK is in)."""
    last = [None]

    def still():
        now = json.dumps(agg(h.stats()))
        same = now == last[0]
        last[0] = now
        return same
    time.sleep(0.2)
    wait_for(still, timeout=timeout, interval=0.3, what="clone counters to settle")


def tc_filters(lab, ifname):
    """{hook: number of our filters} on ifname in the se namespace."""
    out = {}
    for hook in ("ingress", "egress"):
        r = lab.run("se", "tc", "filter", "show", "dev", ifname, hook, check=False)
        out[hook] = sum(1 for line in r.stdout.splitlines() if "handle 0xc10e" in line)
    return out


def checksums_ok(p):
    ip = bytes(p[IP])[: p[IP].ihl * 4]
    return checksum(ip) == 0 and in4_chksum(6, p[IP], bytes(p[TCP])) == 0


# ---- fixtures --------------------------------------------------------------

@pytest.fixture(scope="module")
def nginx(lab):
    with nginx_pool(lab, port=PORT) as servers:
        yield servers


@pytest.fixture
def harness(lab, nginx, workdir):
    assert os.path.exists(HARNESS), f"build first: {HARNESS} is missing"
    h = Harness(lab, workdir)
    try:
        yield h
        # Whatever the test did, the engine never took a slow step (netlink, tc, ARP,
        # getifaddrs) while holding the lock the proxy's connection hook waits on.
        if h.proc.poll() is None:
            assert metrics(h)["clonelb_clone_engine_slow_steps_under_write_lock_total"] == 0
    finally:
        h.quit()
        # Whatever happened, no filter of ours stays behind for the next test.
        for ifname in ("srv0", "tap0", "cli0"):
            for hook in ("ingress", "egress"):
                lab.run("se", "tc", "filter", "del", "dev", ifname, hook, "pref", str(0xc10e),
                        check=False)


@pytest.fixture
def captures(lab, workdir):
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


# ---- tests -----------------------------------------------------------------

def rx_dropped(lab, role, ifname):
    """The receive drops counted by @ifname of @role (a veth counts there the frames its
    peer handed it while the kernel's backlog queue was full)."""
    return int(lab.run(role, "cat", f"/sys/class/net/{ifname}/statistics/rx_dropped").stdout)


def cloned_whole(lab, captures, run, counters, settled, backend_of, attempts=3):
    """Runs @run() with the clone server's eth0 and srv0 captured, until a run whose every
    back-end frame reached the clone server once. @counters() is the clone server's
    counter row, @settled() waits for it to stop moving, @backend_of(srv0 frames, what
    run() returned) picks the back-end frames. Returns (cloned, srv0 frames, what run()
    returned, the counters before that run).

    The clone server's eth0 takes what the engine sends into the kernel's backlog queue
    of netdev_max_backlog frames, a host-wide sysctl not tuned here. When the machine is
    busy, a 1 MiB burst can overflow it, and the clone server's eth0 counts each frame
    lost so in rx_dropped. The engine counts in num_driver_failures those whose send
    failed there and then; a frame that steering (RPS) queues for the other CPU is lost
    after its send succeeded. A run whose only loss is that (as many frames missing as
    eth0 dropped, no more send failures than that, none extra) says nothing against the
    SE and is repeated, at most @attempts times. Any other loss fails at once."""
    for _ in range(attempts):
        before = counters()
        drops0 = rx_dropped(lab, "tap", "eth0")
        tap, srv0 = captures("tap", "eth0"), captures("se", "srv0")
        result = run()
        settled()
        cloned, wire = tap.stop(), srv0.stop()
        registered = backend_of(wire, result)
        got, want = collections.Counter(map(frame_key, cloned)), collections.Counter(map(frame_key, registered))
        missing, extra = want - got, got - want
        if not missing and not extra:
            return cloned, wire, result, before
        row = counters()
        failed = row["num_driver_failures"] - before.get("num_driver_failures", 0)
        dropped = rx_dropped(lab, "tap", "eth0") - drops0
        assert not extra and sum(missing.values()) == dropped >= failed, (
            f"{sum(missing.values())} frames not cloned, {sum(extra.values())} extra; "
            f"{len(cloned)} cloned, {len(registered)} on srv0; {failed} send failures counted, "
            f"{dropped} dropped by the clone server's eth0; stats {row}; "
            f"missing e.g. {[IP(k).summary() for k in list(missing)[:3]]}; tcpdump drops {tap.dropped} "
            f"{srv0.dropped}; {lab.run('se', 'cat', '/proc/net/softnet_stat').stdout}")
    pytest.fail(f"the clone server's receive queue overflowed in {attempts} runs out of {attempts}")


def test_every_backend_frame_cloned_exactly_once(lab, harness, captures):
    harness.apply(snapshot(profile([("10.10.3.2", None)])))  # MAC resolved through ARP
    hc_port = []

    def run():
        ok, nbytes, ports = harness.conns(5, path="/big")
        assert ok == 5 and nbytes > 5 * (1 << 20)
        hc_port[:] = [harness.health_check()]
        ok2, _, ports2 = harness.conns(3, server=POOL_IPS[1])
        assert ok2 == 3
        return ports + ports2
    cloned, wire, ports, before = cloned_whole(
        lab, captures, run, lambda: (agg(harness.stats()) or [{}])[0], lambda: settle(harness),
        backend_frames)

    assert len(backend_frames(wire, ports)) > 5 * 700  # 1 MiB each: hundreds of segments
    assert all(p[Ether].dst == TAP_MAC and p[Ether].src == TAP0_MAC for p in cloned)
    # The health check crossed srv0 but was not cloned.
    assert backend_frames(wire, hc_port) and not backend_frames(cloned, hc_port)
    # The production frames left unchanged.
    assert all(p[Ether].src == SRV0_MAC for p in wire if p[IP].src == SE_SRV_IP)

    row, = agg(harness.stats())
    assert row["ip"] == {"addr": "10.10.3.2", "type": "V4"} and row["mac"] == TAP_MAC
    sent = {k: row[k] - before.get(k, 0) for k in ("num_succeeded", "num_total_pkts_cloned", "bytes")}
    assert sent["num_succeeded"] == len(cloned) == sent["num_total_pkts_cloned"], (sent, row)
    assert sent["bytes"] == sum(len(p) for p in cloned), (sent, row)
    assert_identity(row)


def test_round_robin_per_connection_three_servers(lab, harness, captures):
    macs = {"10.10.3.2": "02:cc:00:00:00:02", "10.10.3.3": "02:cc:00:00:00:03",
            "10.10.3.4": "02:cc:00:00:00:04"}
    harness.apply(snapshot(profile(list(macs.items()))))
    tap = captures("tap", "eth0")
    ok, _, ports = harness.conns(30)
    assert ok == 30
    settle(harness)
    cloned = tap.stop()

    per_conn = collections.defaultdict(set)
    for p in cloned:
        per_conn[conn_key(p)].add(p[Ether].dst)
    assert set(per_conn) == set(ports)
    assert all(len(m) == 1 for m in per_conn.values()), per_conn
    per_server = collections.Counter(next(iter(m)) for m in per_conn.values())
    assert per_server == {mac: 10 for mac in macs.values()}, per_server

    rows = agg(harness.stats())
    assert [r["ip"]["addr"] for r in rows] == list(macs)  # the profile's order
    by_mac = collections.Counter(p[Ether].dst for p in cloned)
    for r in rows:
        assert_identity(r)
        assert r["num_succeeded"] == by_mac[macs[r["ip"]["addr"]]], (r, by_mac)


def test_preserve_client_ip(lab, harness, captures):
    harness.apply(snapshot(profile([("10.10.3.2", TAP_MAC)], preserve=True)))
    tap, pool = captures("tap", "eth0"), captures("srv", "eth0")
    ok, _, ports = harness.conns(3, path="/big")
    assert ok == 3
    settle(harness)
    cloned, seen_by_pool = tap.stop(), pool.stop()

    assert cloned
    for p in cloned:
        assert CLIENT_IP in (p[IP].src, p[IP].dst) and SE_SRV_IP not in (p[IP].src, p[IP].dst), p.summary()
        assert checksums_ok(p), f"bad checksum: {p.summary()}"
    # Both directions: client -> server and server -> client.
    assert {p[IP].src for p in cloned} == {CLIENT_IP, POOL_IPS[0]}
    # The pool server still talks to the SE.
    mine = backend_frames(seen_by_pool, ports)
    assert mine and all(SE_SRV_IP in (p[IP].src, p[IP].dst) for p in mine)
    assert all(CLIENT_IP not in (p[IP].src, p[IP].dst) for p in mine)
    assert len(mine) == len(cloned)
    row, = agg(harness.stats())
    assert row["num_succeeded"] == len(cloned)


def test_health_checks_and_host_traffic_not_cloned(lab, harness, captures):
    harness.apply(snapshot(profile([("10.10.3.2", TAP_MAC)])))
    tap = captures("tap", "eth0")
    for _ in range(5):
        harness.health_check()
    lab.run("se", "ping", "-c", "2", "-i", "0.2", POOL_IPS[0])
    time.sleep(0.5)
    cloned = tap.stop()
    assert cloned == []
    row, = agg(harness.stats())
    assert row["num_total_pkts_cloned"] == 0, row


def test_adding_a_server_live_affects_new_connections_only(lab, harness, captures):
    a, b = ("10.10.3.2", "02:cc:00:00:00:0a"), ("10.10.3.3", "02:cc:00:00:00:0b")
    harness.apply(snapshot(profile([a], modified="1")))
    tap = captures("tap", "eth0")
    assert harness.cmd(f"open 0 {VS_ID} {CLIENT_IP} {POOL_IPS[0]} {PORT}").startswith("ok")
    old_port = int(harness.cmd(f"open 1 {VS_ID} {CLIENT_IP} {POOL_IPS[1]} {PORT}").split()[1])
    harness.apply(snapshot(profile([a, b], modified="2")))
    # The open connections carry on after the change, all to a.
    assert int(harness.cmd("finish 0 /big").split()[1]) > 1 << 20
    assert int(harness.cmd("finish 1 /").split()[1]) > 0
    ok, _, ports = harness.conns(4)
    assert ok == 4
    settle(harness)
    cloned = tap.stop()

    per_conn = collections.defaultdict(set)
    for p in cloned:
        per_conn[conn_key(p)].add(p[Ether].dst)
    assert per_conn[old_port] == {a[1]}
    new = collections.Counter(next(iter(per_conn[p])) for p in ports)
    assert new == {a[1]: 2, b[1]: 2}, new


def test_profile_change_resets_stats(lab, harness):
    prof = profile([("10.10.3.2", TAP_MAC)], modified="1")
    harness.apply(snapshot(prof))
    first_reset = harness.stats()[0]["last_reset"]
    assert harness.conns(2)[0] == 2
    settle(harness)
    row, = agg(harness.stats())
    assert row["num_succeeded"] > 0
    # The same configuration again (another object changed): no reset.
    harness.apply(snapshot(prof))
    assert agg(harness.stats())[0]["num_succeeded"] == row["num_succeeded"]
    # The profile changed: every counter starts again from zero.
    harness.apply(snapshot(profile([("10.10.3.2", TAP_MAC)], preserve=True, modified="2")))
    st = harness.stats(detail=True)
    assert st[0]["last_reset"] > first_reset
    assert [e["proc_id"] for e in st] == ["PROC_Aggregate"] + [f"PROC_{i}" for i in range(len(st) - 1)]
    assert len(st) >= 2
    for entry in st:
        r, = entry["clone_srvr_stats"]
        assert r["num_total_pkts_cloned"] == 0 and r["num_succeeded"] == 0 and r["bytes"] == 0, entry


def test_removing_the_profile_stops_cloning(lab, harness, captures):
    prof = profile([("10.10.3.2", TAP_MAC)])
    harness.apply(snapshot(prof))
    assert tc_filters(lab, "srv0") == {"ingress": 1, "egress": 1}
    harness.apply(snapshot(prof, with_ref=False))
    # Nothing needs the hooks any more.
    assert tc_filters(lab, "srv0") == {"ingress": 0, "egress": 0}
    tap = captures("tap", "eth0")
    assert harness.conns(3)[0] == 3
    time.sleep(0.5)
    assert tap.stop() == []
    st = harness.stats()
    assert st[0]["clone_srvr_stats"] == []
    assert harness.stats("no-such-vs") is None


def test_open_connection_stops_being_cloned_when_profile_removed(lab, harness, captures):
    prof = profile([("10.10.3.2", TAP_MAC)])
    harness.apply(snapshot(prof))
    # Keep the hooks attached through a second cloned service on the same pool.
    snap = snapshot(prof)
    other = dict(snap["virtualservice"][0], _id=8, uuid="vs-8-uuid", name="other")
    snap["virtualservice"].append(other)
    harness.apply(snap)
    assert harness.cmd(f"open 0 {VS_ID} {CLIENT_IP} {POOL_IPS[0]} {PORT}").startswith("ok")
    del snap["virtualservice"][0]["traffic_clone_profile_ref"]
    harness.apply(snap)
    tap = captures("tap", "eth0")
    assert int(harness.cmd("finish 0 /").split()[1]) > 0
    time.sleep(0.5)
    assert tap.stop() == []


def test_sigterm_detaches_and_crash_restart_leaves_one_filter(lab, nginx, workdir):
    prof = profile([("10.10.3.2", TAP_MAC)])
    h = Harness(lab, workdir)
    try:
        h.apply(snapshot(prof))
        assert tc_filters(lab, "srv0") == {"ingress": 1, "egress": 1}
    finally:
        h.quit()
    assert tc_filters(lab, "srv0") == {"ingress": 0, "egress": 0}

    h = Harness(lab, workdir)
    h.apply(snapshot(prof))
    h.kill9()
    # A crash leaves them behind...
    assert tc_filters(lab, "srv0") == {"ingress": 1, "egress": 1}
    h = Harness(lab, workdir)
    try:
        # ...the next start removes them, and attaching leaves exactly one per hook.
        assert tc_filters(lab, "srv0") == {"ingress": 0, "egress": 0}
        h.apply(snapshot(prof))
        assert tc_filters(lab, "srv0") == {"ingress": 1, "egress": 1}
        assert h.conns(2)[0] == 2
        settle(h)
        assert agg(h.stats())[0]["num_succeeded"] > 0
    finally:
        h.quit()
    assert tc_filters(lab, "srv0") == {"ingress": 0, "egress": 0}


def test_dummy_mac_and_unresolvable_server_do_not_hurt_production(lab, harness, captures):
    dummy_mac = ("10.10.3.99", "02:de:ad:be:ef:01")       # pure sniffer: dummy IP and MAC
    no_mac = ("10.10.3.98", None)                          # nobody answers ARP
    harness.apply(snapshot(profile([dummy_mac, no_mac])))
    tap = captures("tap", "eth0")
    ok, nbytes, ports = harness.conns(10, path="/big")
    assert ok == 10 and nbytes >= 10 * (1 << 20)          # production traffic complete
    settle(harness)
    cloned = tap.stop()
    r_dummy, r_nomac = agg(harness.stats())
    assert r_dummy["num_succeeded"] == len([p for p in cloned if p[Ether].dst == dummy_mac[1]]) > 0
    assert r_nomac["mac"] == "" and r_nomac["num_succeeded"] == 0
    assert r_nomac["num_no_mac"] == r_nomac["num_driver_failures"] == r_nomac["num_total_pkts_cloned"] > 0
    for r in (r_dummy, r_nomac):
        assert_identity(r)
    # Nothing for the unresolved server was queued and sent later.
    assert all(p[Ether].dst == dummy_mac[1] for p in cloned)


def test_clone_server_without_interface_is_counted_not_fatal(lab, harness):
    gone = {"ip_address": {"addr": "10.10.9.2", "type": "V4"},
            "subnet": {"ip_addr": {"addr": "10.10.9.0", "type": "V4"}, "mask": 24}}
    harness.apply(snapshot(profile([gone, ("10.10.3.2", TAP_MAC)])))
    ok, _, _ = harness.conns(4)
    assert ok == 4
    settle(harness)
    r_gone, r_ok = agg(harness.stats())
    assert r_gone["interface"] == "" and r_gone["num_no_interface"] == r_gone["num_total_pkts_cloned"] > 0
    assert r_ok["num_succeeded"] > 0
    assert_identity(r_gone)
    assert "no interface" in harness.log()


def test_mac_follows_the_neighbour_table(lab, harness, captures):
    harness.apply(snapshot(profile([("10.10.3.2", None)])))
    assert agg(harness.stats())[0]["mac"] == TAP_MAC
    # The clone server is replaced by another box with the same IP.
    new_mac = "02:fc:00:00:03:99"
    lab.run("tap", "ip", "link", "set", "eth0", "address", new_mac)
    try:
        lab.run("se", "ip", "neigh", "replace", "10.10.3.2", "lladdr", new_mac, "dev", "tap0")
        wait_for(lambda: agg(harness.stats())[0]["mac"] == new_mac, timeout=10,
                 what="the resolver to notice the new MAC")
        tap = captures("tap", "eth0")
        assert harness.conns(2)[0] == 2
        settle(harness)
        cloned = tap.stop()
        assert cloned and all(p[Ether].dst == new_mac for p in cloned)
    finally:
        lab.run("tap", "ip", "link", "set", "eth0", "address", TAP_MAC)
        # Not "replace": that would leave a PERMANENT entry behind for later tests.
        lab.run("se", "ip", "neigh", "del", "10.10.3.2", "dev", "tap0", check=False)


def test_connection_map_is_bounded(lab, harness):
    harness.apply(snapshot(profile([("10.10.3.2", TAP_MAC)])))
    # Half again as many connections as the map holds, churned through the hook: the
    # oldest are evicted and the map stays at its fixed size (CLONE_CONN_MAX).
    n = int(harness.cmd(f"churn 400000 {VS_ID}", timeout=600).split()[1])
    assert 0 < n <= 262144, n
    # And real connections are still registered and cloned afterwards.
    assert harness.conns(2)[0] == 2
    settle(harness)
    assert agg(harness.stats())[0]["num_succeeded"] > 0


def test_filter_removed_by_hand_comes_back(lab, harness, captures):
    harness.apply(snapshot(profile([("10.10.3.2", TAP_MAC)])))
    assert tc_filters(lab, "srv0") == {"ingress": 1, "egress": 1}
    lab.run("se", "tc", "filter", "del", "dev", "srv0", "ingress", "pref", str(0xc10e))
    assert tc_filters(lab, "srv0") == {"ingress": 0, "egress": 1}
    wait_for(lambda: tc_filters(lab, "srv0") == {"ingress": 1, "egress": 1}, timeout=10,
             what="the engine to attach again")
    assert "attaching again" in harness.log()
    tap = captures("tap", "eth0")
    assert harness.conns(2)[0] == 2
    settle(harness)
    cloned = tap.stop()
    # Both directions are cloned again.
    assert {p[IP].src for p in cloned} == {SE_SRV_IP, POOL_IPS[0]}


def test_clone_interface_that_is_also_the_backend_interface(lab, harness, captures):
    # A sniffer on the pool's own segment: clones leave by srv0, where the program
    # also runs; it must not clone its own clones.
    sniffer = {"ip_address": {"addr": "10.10.2.99", "type": "V4"}, "mac": "02:5e:00:00:00:99",
               "subnet": {"ip_addr": {"addr": "10.10.2.0", "type": "V4"}, "mask": 24}}
    harness.apply(snapshot(profile([sniffer])))
    seg = captures("srv", "eth0")           # tcpdump's promiscuous mode sees the clones too
    ok, _, ports = harness.conns(3, path="/big")
    assert ok == 3
    settle(harness)
    frames = backend_frames(seg.stop(), ports)
    clones = [p for p in frames if p[Ether].dst == sniffer["mac"]]
    production = [p for p in frames if p[Ether].dst != sniffer["mac"]]
    assert clones and all(p[Ether].src == SRV0_MAC for p in clones)
    assert collections.Counter(map(frame_key, clones)) == collections.Counter(map(frame_key, production))
    row, = agg(harness.stats())
    assert row["num_succeeded"] == len(clones) == row["num_total_pkts_cloned"], row
    metrics = harness.cmd("metrics")
    lines = [metrics]
    while lines[-1] != ".":
        lines.append(harness._line())
    own = next(l for l in lines if 'event="own_clone"' in l)
    assert int(own.split()[-1]) >= len([p for p in clones if p[IP].src == SE_SRV_IP]), own


def test_health_check_reusing_a_closed_connections_port_is_not_cloned(lab, harness, captures):
    harness.apply(snapshot(profile([("10.10.3.2", TAP_MAC)])))
    ok, _, ports = harness.conns(1)
    assert ok == 1
    tap = captures("tap", "eth0")
    # Within the close grace period, from the very same SE port to the same server.
    out = harness.cmd(f"hc {POOL_IPS[0]} {PORT} {ports[0]}").split()
    assert out[0] == "ok" and int(out[1]) > 0 and int(out[2]) == ports[0], out
    time.sleep(0.5)
    assert tap.stop() == []
    metrics = [harness.cmd("metrics")]
    while metrics[-1] != ".":
        metrics.append(harness._line())
    reused = next(l for l in metrics if 'event="reused"' in l)
    assert int(reused.split()[-1]) >= 1, reused


def test_profile_change_resets_every_service_that_uses_it(lab, harness):
    prof = profile([("10.10.3.2", TAP_MAC)], modified="1")
    snap = snapshot(prof)
    snap["virtualservice"].append(dict(snap["virtualservice"][0], _id=8, uuid="vs-8-uuid", name="other"))
    harness.apply(snap)
    assert harness.conns(2, vs_id=7)[0] == 2
    assert harness.conns(2, vs_id=8)[0] == 2
    settle(harness)
    for uuid in (VS_UUID, "vs-8-uuid"):
        assert agg(harness.stats(uuid))[0]["num_succeeded"] > 0
    snap["trafficcloneprofile"][0] = dict(prof, _last_modified="2")
    harness.apply(snap)
    for uuid in (VS_UUID, "vs-8-uuid"):
        row, = agg(harness.stats(uuid))
        assert row["num_total_pkts_cloned"] == row["num_succeeded"] == 0, (uuid, row)


# ---- issue 8 item 10: MACs that change, neighbours that fail, the engine's locks ----

def metrics(h):
    """The harness's Prometheus lines as {name{labels}: value}."""
    lines = [h.cmd("metrics")]
    while lines[-1] != ".":
        lines.append(h._line())
    return {l.rsplit(" ", 1)[0]: float(l.rsplit(" ", 1)[1]) for l in lines[:-1]
            if l and not l.startswith("#")}


def test_mac_change_without_gratuitous_arp_is_followed(lab, harness, captures):
    harness.apply(snapshot(profile([("10.10.3.2", None)])))
    wait_for(lambda: agg(harness.stats())[0]["mac"] == TAP_MAC, timeout=10, what="the MAC resolved")
    events_before = metrics(harness).get("clonelb_clone_neighbour_events_total", 0)
    # Another box takes the address over and announces nothing: no gratuitous ARP
    # (arp_notify off, the kernel's default), nothing written on the SE's side.
    new_mac = "02:fc:00:00:03:98"
    lab.run("tap", "sysctl", "-qw", "net.ipv4.conf.eth0.arp_notify=0")
    lab.run("tap", "ip", "link", "set", "eth0", "address", new_mac)
    try:
        # Traffic keeps flowing meanwhile; the engine must find the new MAC by itself
        # (a deadline far below the ~44 s the kernel's own re-probing of a stale entry takes).
        def followed():
            assert harness.conns(1)[0] == 1
            return agg(harness.stats())[0]["mac"] == new_mac
        wait_for(followed, timeout=15, interval=0.2, what="the engine to follow the new MAC")
        tap = captures("tap", "eth0")
        assert harness.conns(3)[0] == 3
        settle(harness)
        cloned = tap.stop()
        assert cloned and all(p[Ether].dst == new_mac for p in cloned), \
            collections.Counter(p[Ether].dst for p in cloned)
        row, = agg(harness.stats())
        assert_identity(row)
        assert row["num_succeeded"] > 0
        # It was the kernel's neighbour table, through its notifications, that told us.
        assert metrics(harness)["clonelb_clone_neighbour_events_total"] > events_before
        neigh = lab.run("se", "ip", "neigh", "show", "10.10.3.2", "dev", "tap0").stdout
        assert new_mac in neigh, neigh
    finally:
        lab.run("tap", "ip", "link", "set", "eth0", "address", TAP_MAC)
        # Not "replace": that would leave a PERMANENT entry behind for later tests.
        lab.run("se", "ip", "neigh", "del", "10.10.3.2", "dev", "tap0", check=False)


def test_failed_neighbour_counts_clones_as_not_sent(lab, harness):
    harness.apply(snapshot(profile([("10.10.3.2", None)])))
    wait_for(lambda: agg(harness.stats())[0]["mac"] == TAP_MAC, timeout=10, what="the MAC resolved")
    assert harness.conns(2)[0] == 2
    settle(harness)
    before, = agg(harness.stats())
    assert before["num_succeeded"] > 0
    # The clone server goes silent and the SE forgets it: its entry becomes
    # INCOMPLETE, then FAILED. Clones must not go on to the old MAC as "succeeded".
    lab.run("tap", "ip", "link", "set", "eth0", "arp", "off")
    try:
        lab.run("se", "ip", "neigh", "flush", "dev", "tap0", "nud", "all")
        wait_for(lambda: agg(harness.stats())[0]["mac"] == "", timeout=10,
                 what="the engine to drop the unresolved MAC")
        assert harness.conns(3)[0] == 3       # production traffic is unaffected
        settle(harness)
        after, = agg(harness.stats())
        assert after["num_succeeded"] == before["num_succeeded"], (before, after)
        assert after["num_no_mac"] - before["num_no_mac"] > 0
        assert (after["num_driver_failures"] - before["num_driver_failures"]
                == after["num_no_mac"] - before["num_no_mac"]
                == after["num_total_pkts_cloned"] - before["num_total_pkts_cloned"])
        assert_identity(after)
        state = lab.run("se", "ip", "neigh", "show", "10.10.3.2", "dev", "tap0").stdout
        assert "lladdr" not in state, state
    finally:
        lab.run("tap", "ip", "link", "set", "eth0", "arp", "on")
    # It answers again: resolved again, cloned again.
    wait_for(lambda: agg(harness.stats())[0]["mac"] == TAP_MAC, timeout=15, what="the MAC resolved again")
    assert harness.conns(2)[0] == 2
    settle(harness)
    assert agg(harness.stats())[0]["num_succeeded"] > after["num_succeeded"]


def test_quiet_resolver_rounds_take_no_write_lock(lab, harness):
    # One server resolved through the neighbour table (re-validated every round), one
    # with its MAC in the profile.
    snap = snapshot(profile([("10.10.3.2", None), ("10.10.3.77", "02:de:ad:be:ef:77")]))
    harness.apply(snap)
    wait_for(lambda: agg(harness.stats())[0]["mac"] == TAP_MAC, timeout=10, what="the MAC resolved")
    m0 = metrics(harness)
    rounds0 = m0["clonelb_clone_resolver_rounds_total"]
    locks0 = m0["clonelb_clone_engine_write_locks_total"]
    # The same configuration again (another object changed): nothing to swap.
    harness.apply(snap)
    # Let the resolver make a dozen rounds (each re-validates the resolved server by ARP
    # at most once a second) and count how often the hook's lock was taken for writing.
    wait_for(lambda: metrics(harness)["clonelb_clone_resolver_rounds_total"] >= rounds0 + 12,
             timeout=30, interval=0.25, what="twelve resolver rounds")
    m = metrics(harness)
    assert m["clonelb_clone_engine_write_locks_total"] == locks0
    assert m["clonelb_clone_engine_slow_steps_under_write_lock_total"] == 0
    # Connections are still registered and cloned.
    assert harness.conns(2)[0] == 2
    settle(harness)
    assert agg(harness.stats())[0]["num_succeeded"] > 0
    # A real change does take it (what the counter counts is real).
    harness.apply(snapshot(profile([("10.10.3.2", None)], modified="2")))
    assert metrics(harness)["clonelb_clone_engine_write_locks_total"] > locks0
