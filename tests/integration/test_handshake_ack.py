"""The ACK that completes a back-end handshake (src/proxy/px_sess.c, ACK_HELD).

The SE connects to the server with TCP_QUICKACK 0, so the kernel holds that ACK until the
client's first bytes go to the server, and they carry it: the server's side of the wire shows
SYN, SYN-ACK, then the request, with no bare ACK between. A client that says nothing (a
protocol where the server speaks first) gets the ACK sent alone within PX_ACK_HOLD_MS, and
the server's greeting reaches it. Frames are read off a capture of the SE's back-end
interface; no timing threshold, every wait polls with a bound.
"""
import os
import subprocess

import pytest
from scapy.all import IP, TCP, Raw

from conftest import POOL_IPS, SE_SRV_IP, VIP, wait_for
from test_clone_engine import Capture
from test_proxy import serving, setup_web

CONNS = 20

# Opens @n connections to the VIP one after the other, each sending its request right after
# connect() and reading the whole answer (the server closes).
CLIENT = r"""
import socket, sys
ip, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for _ in range(n):
    s = socket.create_connection((ip, port), timeout=10)
    s.sendall(b"GET / HTTP/1.1\r\nHost: lab\r\nConnection: close\r\n\r\n")
    data = b""
    while True:
        b = s.recv(65536)
        if not b:
            break
        data += b
    assert b" 200 OK" in data, data
    s.close()
print("done", flush=True)
"""

# A server that speaks first: a greeting on accept, then the client's line echoed.
GREETER = r"""
import socket, sys
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind((sys.argv[1], int(sys.argv[2]))); l.listen(16)
print("ready", flush=True)
while True:
    c, _ = l.accept()
    c.sendall(b"220 greeter ready\r\n")
    line = c.recv(4096)
    c.sendall(b"250 " + line)
    c.close()
"""

# Connects, reads the greeting without having sent a byte, then talks.
SILENT_CLIENT = r"""
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10)
print(s.recv(4096).decode().strip(), flush=True)
s.sendall(b"HELO lab\r\n")
print(s.recv(4096).decode().strip(), flush=True)
"""


def backend_conns(pkts, server_port):
    """The SE's connections to @server_port in @pkts: {SE port: [packets in order]}."""
    conns = {}
    for p in pkts:
        t = p[TCP]
        if p[IP].src == SE_SRV_IP and t.dport == server_port:
            conns.setdefault(t.sport, []).append(p)
        elif p[IP].dst == SE_SRV_IP and t.sport == server_port:
            conns.setdefault(t.dport, []).append(p)
    return {k: v for k, v in conns.items() if v and v[0][TCP].flags == "S"}


def after_synack(conn):
    """The SE's first frame after the server's SYN-ACK."""
    seen = False
    for p in conn:
        f = p[TCP].flags
        if p[IP].dst == SE_SRV_IP and f.S and f.A:
            seen = True
        elif seen and p[IP].src == SE_SRV_IP:
            return p
    return None


def payload(p):
    return bytes(p[Raw].load) if Raw in p else b""


@pytest.fixture
def greeter(lab):
    p = lab.popen("srv", "/usr/bin/python3", "-c", GREETER, POOL_IPS[0], "2525",
                  stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "ready"
    yield p
    p.kill()
    p.wait()


def test_first_request_carries_the_handshake_ack(lab, daemon, pool_servers, workdir):
    setup_web(daemon, monitor=False)
    wait_for(serving(lab), timeout=10, what="VIP serving")
    cap = Capture(lab, "se", "srv0", os.path.join(workdir, "srv0.pcap"))
    try:
        r = lab.run("cli", "/usr/bin/python3", "-c", CLIENT, VIP, "80", str(CONNS), timeout=60)
    finally:
        pkts = cap.stop()
    assert r.stdout.strip() == "done"
    conns = backend_conns(pkts, 80)
    assert len(conns) == CONNS, f"{len(conns)} back-end connections captured"
    carried = []
    for port, conn in conns.items():
        first = after_synack(conn)
        assert first is not None, f"SE port {port}: no frame after the SYN-ACK"
        carried.append(payload(first).startswith(b"GET / HTTP/1.1") and bool(first[TCP].flags.A))
    # The request follows the client's own handshake at once; a worker that took longer than
    # PX_ACK_HOLD_MS to see it sends the ACK alone, which a busy machine may do now and then.
    # Without the held ACK no connection has it: the kernel acknowledges the SYN-ACK at once.
    assert sum(carried) >= CONNS * 3 // 4, \
        f"{sum(carried)} of {CONNS} requests carried the handshake's ACK"


def test_server_that_speaks_first_gets_the_ack(lab, daemon, greeter, workdir):
    daemon.ok("POST", "/api/pool", {"name": "greet", "default_server_port": 2525,
                                    "servers": [{"ip": {"addr": POOL_IPS[0]}}]})
    daemon.ok("POST", "/api/virtualservice",
              {"name": "greet", "vip": [{"ip_address": {"addr": VIP}}],
               "services": [{"port": 25}], "pool_ref": "greet"})
    wait_for(lambda: lab.run("se", "ss", "-Hltn", "sport = :25").stdout.strip(), timeout=10,
             what="listener on :25")
    cap = Capture(lab, "se", "srv0", os.path.join(workdir, "srv0.pcap"))
    try:
        r = lab.run("cli", "/usr/bin/python3", "-c", SILENT_CLIENT, VIP, "25", timeout=30)
    finally:
        pkts = cap.stop()
    assert r.stdout.splitlines() == ["220 greeter ready", "250 HELO lab"]
    conns = backend_conns(pkts, 2525)
    assert len(conns) == 1
    conn = next(iter(conns.values()))
    first = after_synack(conn)
    # The client said nothing: the SE's ACK went alone, and the greeting came after it.
    assert first is not None and not payload(first) and first[TCP].flags == "A"
    greeting = next(i for i, p in enumerate(conn) if payload(p).startswith(b"220 "))
    assert conn.index(first) < greeting
