"""The data plane on a stock SE: back-end ports chosen by the kernel, back-end TIME_WAIT, the SYN
still cloned.

The lab's SE namespace keeps the kernel's default TCP sysctls (tests/lab/lab.sh); the client
namespace stands for many hosts and may reuse its TIME_WAIT ports. No timing thresholds: every
load is bounded by a count and every wait polls with a bound.
"""
import collections
import os
import struct

import pytest
from scapy.all import IP, TCP, Ether, PcapReader

from conftest import POOL_IPS, SE_SRV_IP, VIP, Daemon, end_process, nginx_pool, wait_for
from test_clone import agg, backend, configure, server, settle  # noqa: F401
from test_clone_engine import captures, frame_key  # noqa: F401

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (namespaces, eBPF)")

WORKERS = 2

# A client that closes first: N HTTP/1.1 keep-alive requests, each on its own connection,
# read up to the end of the body (Content-Length), then close() while the server keeps the
# connection open. Four threads. Prints "ok OK FAILED".
CLOSER = r"""
import socket, sys, threading
host, n = sys.argv[1], int(sys.argv[2])
res = {"ok": 0, "failed": 0}; lock = threading.Lock()
def one():
    s = socket.create_connection((host, 80), timeout=10)
    s.sendall(b"GET / HTTP/1.1\r\nHost: lab\r\n\r\n")
    data = b""
    while b"\r\n\r\n" not in data:
        c = s.recv(4096)
        if not c:
            break
        data += c
    head, _, body = data.partition(b"\r\n\r\n")
    clen = [int(l.split(b":")[1]) for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")]
    while clen and len(body) < clen[0]:
        c = s.recv(4096)
        if not c:
            break
        body += c
    s.close()
    return head.startswith(b"HTTP/1.1 200") and bool(clen) and len(body) == clen[0]
def work(k):
    for _ in range(k):
        try:
            r = one()
        except OSError:
            r = False
        with lock:
            res["ok" if r else "failed"] += 1
ths = [threading.Thread(target=work, args=(n // 4 + (i < n % 4),)) for i in range(4)]
[t.start() for t in ths]
[t.join() for t in ths]
print("ok", res["ok"], res["failed"])
"""


def sysctl(lab, role, name):
    return lab.run(role, "cat", "/proc/sys/net/ipv4/" + name).stdout.split()


@pytest.fixture(scope="module")
def web_servers(lab):
    with nginx_pool(lab, port=80) as servers:
        yield servers


@pytest.fixture
def daemon2(lab, workdir):
    d = Daemon(lab, workdir, ["--workers", str(WORKERS)]).start()
    try:
        yield d
    finally:
        d.stop()
        end_process(d.proc)


def se_time_wait(lab):
    """TIME_WAIT sockets of the SE by side: towards the pool (back end), towards clients."""
    out = lab.run("se", "ss", "-Htan", "state", "time-wait").stdout.splitlines()
    back = [l for l in out if l.split()[-2].startswith(SE_SRV_IP + ":")]
    return len(back), len(out) - len(back)


def test_se_namespace_is_stock(lab):
    # The kernel's defaults: TIME_WAIT reuse for loopback only, the default port range.
    assert sysctl(lab, "se", "tcp_tw_reuse") == ["2"]
    assert sysctl(lab, "se", "ip_local_port_range") == ["32768", "60999"]


def test_more_backend_connections_than_a_worker_share_with_se_time_wait(lab, web_servers, daemon2):
    lo, hi = map(int, sysctl(lab, "se", "ip_local_port_range"))
    share = (hi - lo + 1) // WORKERS  # what one worker had when the daemon carved the range
    n = share + 2000
    daemon2.ok("POST", "/api/pool", {"name": "one", "servers": [{"ip": {"addr": POOL_IPS[0],
                                                                          "type": "V4"}}]})
    daemon2.ok("POST", "/api/virtualservice",
               {"name": "web", "vip": [{"ip_address": {"addr": VIP, "type": "V4"}}],
                "services": [{"port": 80}], "pool_ref": "one"})
    wait_for(lambda: lab.run("cli", "curl", "-s", "-m", "2", f"http://{VIP}/",
                             check=False).returncode == 0, what="VIP serving")
    r = lab.run("cli", "/usr/bin/python3", "-c", CLOSER, VIP, str(n), timeout=900)
    assert r.stdout.split() == ["ok", str(n), "0"], r.stdout + r.stderr
    # The client closed first and the server keeps connections alive, so the SE sent the
    # back end's first FIN: it holds back-end TIME_WAIT (fewer than n: a port whose
    # 4-tuple rested in TIME_WAIT is bound again and takes it over).
    back, _ = se_time_wait(lab)
    assert back > 0, back
    rt = daemon2.ok("GET", "/api/virtualservice/web/runtime")
    assert rt["connections_failed"] == 0, rt
    # A restarted daemon finds those TIME_WAIT 4-tuples in place: connections still succeed.
    daemon2.stop()
    daemon2.start()
    wait_for(lambda: lab.run("cli", "curl", "-s", "-m", "2", f"http://{VIP}/",
                             check=False).returncode == 0, what="VIP serving after the restart")
    r = lab.run("cli", "/usr/bin/python3", "-c", CLOSER, VIP, "2000", timeout=300)
    assert r.stdout.split() == ["ok", "2000", "0"], r.stdout + r.stderr


def test_syn_cloned_with_kernel_chosen_port(lab, web_servers, daemon, captures):
    configure(daemon, [server("10.10.3.2")])
    wait_for(lambda: lab.run("cli", "curl", "-s", "-m", "2", f"http://{VIP}/",
                             check=False).returncode == 0, what="VIP serving")
    settle(daemon)
    tap, srv0 = captures("tap", "eth0"), captures("se", "srv0")
    for _ in range(5):
        r = lab.run("cli", "curl", "-sS", "-m", "5", f"http://{VIP}/", check=False)
        assert r.returncode == 0 and r.stdout.startswith("server "), r.stdout + r.stderr
    settle(daemon)
    cloned, wire = tap.stop(), backend(srv0.stop())
    lo, hi = map(int, sysctl(lab, "se", "ip_local_port_range"))
    syns = [p for p in wire if p[IP].src == SE_SRV_IP and p[TCP].flags & 0x12 == 0x02]
    assert len(syns) >= 5, len(syns)
    # The ports the kernel chose, from its ephemeral range...
    assert all(lo <= p[TCP].sport <= hi for p in syns), [p[TCP].sport for p in syns]
    # ...and each SYN, the very first frame, is among the clones, as is its SYN-ACK.
    keys = set(map(frame_key, cloned))
    assert all(frame_key(p) in keys for p in syns)
    synacks = [p for p in wire if p[IP].dst == SE_SRV_IP and p[TCP].flags & 0x12 == 0x12]
    assert synacks and all(frame_key(p) in keys for p in synacks)


def test_reused_4tuple_within_grace_is_cloned_afresh(lab, web_servers, daemon, captures):
    # Clients that close first leave back-end TIME_WAIT; a rested port is bound again, so a
    # new connection may get the 4-tuple of one whose map entry is still in its grace
    # period. Its SYN must start a fresh entry: every frame cloned once, and each
    # connection (from its SYN on) to one clone server only, the servers taking turns.
    macs = {"10.10.3.2": "02:cc:00:00:00:02", "10.10.3.3": "02:cc:00:00:00:03"}
    configure(daemon, [server(ip, mac) for ip, mac in macs.items()])
    wait_for(lambda: lab.run("cli", "curl", "-s", "-m", "2", f"http://{VIP}/",
                             check=False).returncode == 0, what="VIP serving")
    settle(daemon)
    tap, srv0 = captures("tap", "eth0"), captures("se", "srv0")

    def tup(p):
        return (p[TCP].sport, p[IP].dst) if p[IP].src == SE_SRV_IP else (p[TCP].dport, p[IP].src)

    def is_syn(p):
        return p[IP].src == SE_SRV_IP and p[TCP].flags & 0x12 == 0x02

    def reuse_seen():
        """Whether the back-end capture so far has two SYNs on one 4-tuple."""
        n = collections.Counter()
        try:
            with PcapReader(srv0.path) as frames:
                for p in frames:
                    if IP in p and TCP in p and is_syn(p):
                        n[tup(p)] += 1
        except (EOFError, OSError, struct.error):
            pass  # the last frame may still be half written
        return any(v > 1 for v in n.values())

    # Rounds of 100 connections until a 4-tuple is used twice (bounded).
    for _ in range(30):
        r = lab.run("cli", "/usr/bin/python3", "-c", CLOSER, VIP, "100", timeout=120)
        assert r.stdout.split() == ["ok", "100", "0"], r.stdout + r.stderr
        if reuse_seen():
            break
    settle(daemon)
    cloned, wire = tap.stop(), backend(srv0.stop())

    syn_count = collections.Counter(tup(p) for p in wire if is_syn(p))
    assert any(n > 1 for n in syn_count.values()), "no 4-tuple was used twice"
    got, want = collections.Counter(map(frame_key, cloned)), collections.Counter(map(frame_key, wire))
    assert got == want, f"{sum((want - got).values())} not cloned, {sum((got - want).values())} extra"
    # Split the clones of each 4-tuple at its SYNs (a new sequence number: not a
    # retransmission): one clone server per connection.
    conns = collections.defaultdict(list)  # 4-tuple -> [(the SYN's seq, {clone MACs})]
    for p in cloned:
        t = tup(p)
        if is_syn(p) and (not conns[t] or conns[t][-1][0] != p[TCP].seq):
            conns[t].append((p[TCP].seq, set()))
        if conns[t]:
            conns[t][-1][1].add(p[Ether].dst)
    split = [c[1] for t in conns for c in conns[t]]
    assert all(len(m) == 1 for m in split), [m for m in split if len(m) != 1]
    per_server = collections.Counter(next(iter(m)) for m in split)
    assert set(per_server) == set(macs.values()), per_server
