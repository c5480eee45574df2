"""Data plane through the REST API: HTTP and HTTPS to two nginx servers, algorithms, health
monitors, TLS failures, live changes, descriptors and memory after many connections.

Configured only through clonelbd's API; traffic from the lab's client namespace. No timing
thresholds: every wait polls with a bound.
"""
import os
import subprocess
import time

import pytest

from conftest import POOL_IPS, VIP, Daemon, Nginx, curl, started, wait_for


def setup_web(d, tls_cert=None, algo="LB_ALGORITHM_ROUND_ROBIN", monitor=True, ports=(80,)):
    """One pool of both nginx servers and a VS "web" on VIP with @ports (443: TLS)."""
    if monitor:
        d.ok("POST", "/api/healthmonitor",
             {"name": "hm-http", "type": "HEALTH_MONITOR_HTTP", "send_interval": 1,
              "receive_timeout": 1, "successful_checks": 2, "failed_checks": 2,
              "http_monitor": {"http_request": "GET / HTTP/1.0", "http_response_code": ["HTTP_2XX"]}})
    d.ok("POST", "/api/pool",
         {"name": "web-pool", "lb_algorithm": algo,
          "servers": [{"ip": {"addr": ip, "type": "V4"}} for ip in POOL_IPS],
          "health_monitor_refs": ["hm-http"] if monitor else []})
    vs = {"name": "web", "vip": [{"ip_address": {"addr": VIP, "type": "V4"}}],
          "services": [{"port": p, "enable_ssl": p == 443} for p in ports],
          "pool_ref": "web-pool"}
    if 443 in ports:
        d.ok("POST", "/api/sslkeyandcertificate",
             {"name": "web-cert", "certificate": {"certificate": tls_cert["certificate"]},
              "key": tls_cert["key"]})
        vs["ssl_key_and_certificate_refs"] = ["web-cert"]
    d.ok("POST", "/api/virtualservice", vs)


def runtime(d, vs="web"):
    return d.ok("GET", f"/api/virtualservice/{vs}/runtime")


def member(rt, ip):
    return next(m for m in rt["pool"]["members"] if m["ip"]["addr"] == ip)


def get(lab, url="http://%s/" % VIP, *args):
    """One request in a new connection; returns the answering server's IP or raises."""
    r = curl(lab, url, *args)
    assert r.returncode == 0, f"curl {url} failed ({r.returncode}): {r.stderr}"
    assert r.stdout.startswith("server "), r.stdout
    return r.stdout.split()[1]


def https(lab, tls_cert, name="web.lab", *args):
    return curl(lab, f"https://{name}/", "--cacert", tls_cert["cert_path"],
                "--resolve", f"{name}:443:{VIP}", *args)


def serving(lab, port=80):
    return lambda: curl(lab, f"http://{VIP}:{port}/", timeout=2).returncode == 0


def test_round_robin_http_and_https(lab, daemon, pool_servers, tls_cert):
    setup_web(daemon, tls_cert, ports=(80, 443))
    wait_for(serving(lab), timeout=10, what="VIP serving")
    before = {ip: member(runtime(daemon), ip)["total_connections"] for ip in POOL_IPS}

    seq = [get(lab) for _ in range(10)]
    assert sorted(set(seq)) == POOL_IPS
    assert all(a != b for a, b in zip(seq, seq[1:])), f"not alternating: {seq}"

    tls = []
    for _ in range(6):
        r = https(lab, tls_cert)
        assert r.returncode == 0, r.stderr
        tls.append(r.stdout.split()[1])
    assert all(a != b for a, b in zip(tls, tls[1:])), f"HTTPS not alternating: {tls}"

    wait_for(lambda: runtime(daemon)["connections"]["current"] == 0, timeout=10,
             what="connections closed")
    rt = runtime(daemon)
    assert rt["connections"]["total"] >= 16
    for ip in POOL_IPS:
        m = member(rt, ip)
        assert m["health"] == "UP" and m["enabled"] is True and m["port"] == 80
        assert m["total_connections"] - before[ip] == 8, rt
    # The same figures in Prometheus form.
    status, text = daemon.api("GET", "/metrics")
    assert status == 200
    assert f'clonelb_vs_connections_total{{tenant="admin",virtualservice="web"}} {rt["connections"]["total"]}' \
        in text, text
    assert 'clonelb_vs_connections_current{tenant="admin",virtualservice="web"} 0' in text
    for ip in POOL_IPS:
        assert f'clonelb_pool_member_up{{tenant="admin",pool="web-pool",server="{ip}:80"}} 1' in text


def test_round_robin_even_when_a_member_is_disabled(lab, daemon, pool_servers):
    # Three members, the middle one disabled: its turns go evenly to the two others,
    # not all to the member after it (which would answer two requests in three).
    daemon.ok("POST", "/api/pool",
              {"name": "web-pool", "lb_algorithm": "LB_ALGORITHM_ROUND_ROBIN",
               "servers": [{"ip": {"addr": POOL_IPS[0], "type": "V4"}},
                           {"ip": {"addr": "10.10.2.13", "type": "V4"}, "enabled": False},
                           {"ip": {"addr": POOL_IPS[1], "type": "V4"}}]})
    daemon.ok("POST", "/api/virtualservice",
              {"name": "web", "vip": [{"ip_address": {"addr": VIP, "type": "V4"}}],
               "services": [{"port": 80}], "pool_ref": "web-pool"})
    wait_for(lambda: curl(lab, f"http://{VIP}/").returncode == 0, what="VIP serving")
    seen = [get(lab) for _ in range(30)]
    assert seen.count(POOL_IPS[0]) == 15 and seen.count(POOL_IPS[1]) == 15, seen
    rt = runtime(daemon)
    assert member(rt, POOL_IPS[0])["total_connections"] == 16  # with the wait's request
    assert member(rt, POOL_IPS[1])["total_connections"] == 15


def test_least_connections(lab, daemon, pool_servers, holders, tls_cert):
    setup_web(daemon, tls_cert, algo="LB_ALGORITHM_LEAST_CONNECTIONS", ports=(80, 443))
    wait_for(serving(lab), timeout=10, what="VIP serving")
    h = holders()
    assert h.cmd("open 3") == "opened 3"
    # Three idle connections: least connections puts two on one server, one on the other.
    # (A connection counts for the service when accepted, for its server once connected
    # there, microseconds later: both are waited for.)
    def three():
        r = runtime(daemon)
        on = {ip: member(r, ip)["current_connections"] for ip in POOL_IPS}
        return on if r["connections"]["current"] == 3 and sum(on.values()) == 3 else None
    cur = wait_for(three, timeout=10, what="3 current connections, each on a server")
    assert sorted(cur.values()) == [1, 2], cur
    idle = min(cur, key=cur.get)
    # SNAT: the servers see the SE's own address, never the client's. The holders send
    # nothing: the SE's ACK that establishes each server-side socket goes within
    # PX_ACK_HOLD_MS of the server's answer (px_sess.c), not necessarily by now.
    def server_peers():
        peers = [line.split()[-1].rsplit(":", 1)[0] for line in lab.run(
            "srv", "ss", "-Htn", "state", "established", "( sport = :80 )").stdout.splitlines()]
        return peers if len(peers) >= 3 else None
    peers = wait_for(server_peers, timeout=10, what="3 connections established at the servers")
    assert set(peers) == {"10.10.2.1"}, peers
    # New short connections, HTTP or HTTPS, all go to the less loaded server.
    assert [get(lab) for _ in range(4)] == [idle] * 4
    for _ in range(3):
        r = https(lab, tls_cert)
        assert r.returncode == 0, r.stderr
        assert r.stdout.split()[1] == idle, r.stdout
    assert h.cmd("close") == "closed"
    wait_for(lambda: runtime(daemon)["connections"]["current"] == 0, timeout=10,
             what="connections closed")
    for ip in POOL_IPS:
        assert member(runtime(daemon), ip)["current_connections"] == 0


def test_stopped_server_leaves_and_returns(lab, daemon, pool_servers, workdir):
    setup_web(daemon)
    wait_for(serving(lab), timeout=10, what="VIP serving")
    down_ip = POOL_IPS[1]
    pool_servers[1].stop()
    rt = wait_for(lambda: (lambda r: r if member(r, down_ip)["health"] == "DOWN" else None)(
        runtime(daemon)), timeout=20, what=f"{down_ip} DOWN")
    assert member(rt, POOL_IPS[0])["health"] == "UP"
    assert [get(lab) for _ in range(8)] == [POOL_IPS[0]] * 8
    assert "is DOWN" in daemon.logtext()

    again = Nginx(lab, down_ip, workdir=workdir).start()
    try:
        wait_for(lambda: member(runtime(daemon), down_ip)["health"] == "UP", timeout=20,
                 what=f"{down_ip} UP again")
        assert set(get(lab) for _ in range(6)) == set(POOL_IPS)
    finally:
        again.stop()


def test_no_usable_server_closes_at_once(lab, daemon, pool_servers, tls_cert):
    setup_web(daemon, tls_cert, ports=(80, 443), monitor=False)
    wait_for(serving(lab), timeout=10, what="VIP serving")
    daemon.ok("PATCH", "/api/pool/web-pool",
              {"servers": [{"ip": {"addr": ip, "type": "V4"}, "enabled": False}
                           for ip in POOL_IPS]})
    wait_for(lambda: not runtime(daemon)["pool"]["up"], timeout=10, what="pool down")
    refused = runtime(daemon)["connections_refused"]
    r = curl(lab, f"http://{VIP}/", timeout=20)
    # 52: empty reply, 56: reset. 28 would be a hang until curl's own timeout.
    assert r.returncode in (52, 56), (r.returncode, r.stderr)
    r = https(lab, tls_cert, "web.lab", "--max-time", "20")
    assert r.returncode == 35, (r.returncode, r.stderr)  # handshake failed with an alert
    assert "alert" in r.stderr or "handshake" in r.stderr, r.stderr
    assert runtime(daemon)["connections_refused"] >= refused + 2


def test_tls_wrong_sni_and_plain_text(lab, daemon, pool_servers, tls_cert):
    setup_web(daemon, tls_cert, ports=(443,), monitor=False)
    wait_for(lambda: https(lab, tls_cert).returncode == 0, timeout=10, what="TLS serving")
    # The only certificate is web.lab's: a client asking for another name rejects it.
    r = https(lab, tls_cert, "other.lab")
    assert r.returncode == 60, (r.returncode, r.stderr)
    # Plain HTTP on the TLS port: closed, no HTTP answer, no hang.
    r = curl(lab, f"http://{VIP}:443/", timeout=20)
    assert r.returncode in (52, 56), (r.returncode, r.stdout, r.stderr)
    # TLS 1.1 is refused; 1.2 and 1.3 work.
    assert https(lab, tls_cert, "web.lab", "--tls-max", "1.1").returncode != 0
    for v in ("1.2", "1.3"):
        r = https(lab, tls_cert, "web.lab", "--tlsv" + v, "--tls-max", v)
        assert r.returncode == 0, (v, r.stderr)
    wait_for(lambda: runtime(daemon)["connections"]["current"] == 0, timeout=10,
             what="connections closed")


def test_live_changes(lab, daemon, pool_servers, holders):
    setup_web(daemon)
    wait_for(serving(lab), timeout=10, what="VIP serving")
    h = holders()
    assert h.cmd("open 1") == "opened 1"
    first = h.cmd("get")
    assert first.startswith("HTTP/1.1 200"), first
    held_ip = first.split()[-1]

    # A second service on another port appears without a restart.
    daemon.ok("POST", "/api/virtualservice",
              {"name": "api", "vip": [{"ip_address": {"addr": VIP, "type": "V4"}}],
               "services": [{"port": 8080}], "pool_ref": "web-pool"})
    wait_for(serving(lab, 8080), timeout=10, what="VS api on 8080")

    # Removing a member: new connections avoid it, the held one carries on.
    other = [ip for ip in POOL_IPS if ip != held_ip][0]
    daemon.ok("PATCH", "/api/pool/web-pool",
              {"servers": [{"ip": {"addr": held_ip, "type": "V4"}}]})
    wait_for(lambda: len(runtime(daemon)["pool"]["members"]) == 1, timeout=10,
             what="pool edit applied")
    assert [get(lab) for _ in range(4)] == [held_ip] * 4
    assert h.cmd("get") == f"HTTP/1.1 200 OK server {held_ip}"
    daemon.ok("PATCH", "/api/pool/web-pool",
              {"servers": [{"ip": {"addr": ip, "type": "V4"}} for ip in POOL_IPS]})
    wait_for(lambda: other in [get(lab) for _ in range(2)], timeout=10,
             what="member back in rotation")

    # Deleting a service closes its listener; the other service is untouched.
    daemon.ok("DELETE", "/api/virtualservice/api")
    wait_for(lambda: curl(lab, f"http://{VIP}:8080/", timeout=2).returncode == 7, timeout=10,
             what="8080 refused")
    assert h.cmd("get") == f"HTTP/1.1 200 OK server {held_ip}"
    # Disabling the service closes its connections too.
    daemon.ok("PATCH", "/api/virtualservice/web", {"enabled": False})
    wait_for(lambda: curl(lab, f"http://{VIP}/", timeout=2).returncode == 7, timeout=10,
             what="80 refused")
    assert h.cmd("get").startswith(("closed", "error"))


def proc_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def proc_rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_fds_and_memory_back_to_baseline(lab, daemon, pool_servers, holders, tls_cert):
    setup_web(daemon, tls_cert, ports=(80, 443))
    wait_for(serving(lab), timeout=10, what="VIP serving")
    # Warm up both paths (OpenSSL allocates per-thread state on first use).
    for _ in range(5):
        get(lab)
        assert https(lab, tls_cert).returncode == 0
    wait_for(lambda: runtime(daemon)["connections"]["current"] == 0, timeout=10,
             what="idle daemon")
    time.sleep(0.6)  # one worker tick: trimmed memory
    pid = daemon.pid()
    fds0, rss0 = proc_fds(pid), proc_rss_kb(pid)

    h = holders()
    rounds, per_round = 2, 5000
    for _ in range(rounds):
        assert h.cmd(f"open {per_round}") == f"opened {per_round}"
        wait_for(lambda: runtime(daemon)["connections"]["current"] == per_round, timeout=60,
                 interval=0.2, what=f"{per_round} concurrent connections")
        assert proc_fds(pid) >= fds0 + 2 * per_round
        assert h.cmd("close") == "closed"
        wait_for(lambda: runtime(daemon)["connections"]["current"] == 0, timeout=60,
                 interval=0.2, what="all closed")
    # TLS: complete sessions, and clients that connect and leave mid-handshake.
    for _ in range(10):
        assert https(lab, tls_cert).returncode == 0
    t = holders(443)
    assert t.cmd("open 300") == "opened 300"
    wait_for(lambda: runtime(daemon)["connections"]["current"] == 300, timeout=30,
             what="300 pending handshakes")
    assert t.cmd("close") == "closed"
    wait_for(lambda: runtime(daemon)["connections"]["current"] == 0, timeout=30,
             what="handshakes abandoned")
    rt = runtime(daemon)
    assert rt["connections"]["total"] >= rounds * per_round + 300
    assert sum(m["current_connections"] for m in rt["pool"]["members"]) == 0
    wait_for(lambda: proc_fds(pid) == fds0, timeout=10, what=f"fd count back to {fds0}")
    # Freed session memory goes back to the system once the workers are idle.
    # kB: allocator rounding; 10,000 leaked sessions would be over 2 MB.
    rss_peak_allowance = 1024
    wait_for(lambda: proc_rss_kb(pid) <= rss0 + rss_peak_allowance, timeout=10,
             what=f"RSS back near {rss0} kB (now {proc_rss_kb(pid)} kB)")


# A bad pool server in the srv namespace: "stall" accepts and never answers, "reset"
# answers every connection with a TCP reset once the request arrives.
BAD_SERVER = r"""
import socket, struct, sys, threading
mode, ip, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind((ip, port)); l.listen(1024)
print("ready", flush=True)
held = []
def handle(c):
    if mode == "reset":
        c.recv(4096)
        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.close()
    else:
        held.append(c)
while True:
    c, _ = l.accept()
    threading.Thread(target=handle, args=(c,), daemon=True).start()
"""


@pytest.fixture
def bad_server(lab):
    procs = []

    def start(mode, port):
        p = lab.popen("srv", "/usr/bin/python3", "-c", BAD_SERVER, mode, POOL_IPS[0], str(port),
                      stdout=subprocess.PIPE, text=True)
        procs.append(p)
        assert p.stdout.readline().strip() == "ready"
        return p

    yield start
    for p in procs:
        p.kill()
        p.wait()


def test_bad_servers_affect_only_their_sessions(lab, daemon, pool_servers, bad_server,
                                                holders):
    setup_web(daemon, monitor=False)
    stall = bad_server("stall", 81)
    bad_server("reset", 82)
    for name, port in (("stall", 81), ("reset", 82)):
        daemon.ok("POST", "/api/pool", {"name": name, "default_server_port": port,
                                        "servers": [{"ip": {"addr": POOL_IPS[0]}}]})
        daemon.ok("POST", "/api/virtualservice",
                  {"name": name, "vip": [{"ip_address": {"addr": VIP}}],
                   "services": [{"port": 8000 + port}], "pool_ref": name})
    wait_for(serving(lab), timeout=10, what="VIP serving")

    # Fifty clients stuck on the stalling server...
    h = holders(8081)
    assert h.cmd("open 50") == "opened 50"
    wait_for(lambda: runtime(daemon, "stall")["connections"]["current"] == 50, timeout=10,
             what="50 stalled sessions")
    # ...and a server that resets every connection...
    r = curl(lab, f"http://{VIP}:8082/", timeout=10)
    assert r.returncode in (52, 56), (r.returncode, r.stderr)
    # ...leave the other service alone.
    assert set(get(lab) for _ in range(6)) == set(POOL_IPS)
    rt = runtime(daemon, "stall")
    assert member(rt, POOL_IPS[0])["current_connections"] == 50
    assert runtime(daemon, "reset")["connections"]["current"] == 0
    # Clients leaving only half-close those sessions (the server may still answer);
    # the server going away ends them.
    assert h.cmd("close") == "closed"
    assert runtime(daemon, "stall")["connections"]["current"] == 50
    stall.kill()
    wait_for(lambda: runtime(daemon, "stall")["connections"]["current"] == 0, timeout=10,
             what="stalled sessions closed")


def test_unreachable_member_fails_over(lab, daemon, pool_servers):
    # 10.10.2.99 does not exist: connecting to it fails (no ARP answer); the next
    # server is tried and the client does not notice.
    daemon.ok("POST", "/api/pool", {"name": "web-pool", "servers": [
        {"ip": {"addr": "10.10.2.99"}}, {"ip": {"addr": POOL_IPS[0]}}]})
    daemon.ok("POST", "/api/virtualservice",
              {"name": "web", "vip": [{"ip_address": {"addr": VIP}}],
               "services": [{"port": 80}], "pool_ref": "web-pool"})
    wait_for(serving(lab), timeout=20, what="VIP serving")
    assert [get(lab) for _ in range(3)] == [POOL_IPS[0]] * 3
    rt = runtime(daemon)
    assert member(rt, "10.10.2.99")["connect_failures"] >= 1, rt
    assert member(rt, "10.10.2.99")["current_connections"] == 0
    assert rt["connections_failed"] == 0


def test_http_monitor_status_classes(lab, daemon, pool_servers):
    # nginx answers 200: a monitor that wants 4xx takes both members out...
    setup_web(daemon)
    daemon.ok("PATCH", "/api/healthmonitor/hm-http",
              {"http_monitor": {"http_request": "GET / HTTP/1.0", "http_response_code": ["HTTP_4XX"]}})
    rt = wait_for(lambda: (lambda r: r if not r["pool"]["up"] else None)(runtime(daemon)),
                  timeout=20, what="both members DOWN")
    for ip in POOL_IPS:
        m = member(rt, ip)
        assert m["health"] == "DOWN"
        assert m["health_monitors"][0]["reason"] == "unexpected HTTP status", m
    r = curl(lab, f"http://{VIP}/", timeout=20)
    assert r.returncode in (52, 56), (r.returncode, r.stderr)
    # ...and HTTP_ANY brings them back after successful_checks (they do not
    # start UP just because the monitor changed: the log shows the transition).
    daemon.ok("PATCH", "/api/healthmonitor/hm-http",
              {"http_monitor": {"http_request": "GET / HTTP/1.0", "http_response_code": ["HTTP_ANY"]}})
    wait_for(lambda: all(m["health"] == "UP" for m in runtime(daemon)["pool"]["members"]),
             timeout=20, what="both members UP")
    for ip in POOL_IPS:
        assert f"server {ip}:80 is UP (monitor hm-http: 2 successful checks)" in daemon.logtext()
    assert set(get(lab) for _ in range(4)) == set(POOL_IPS)


@pytest.mark.parametrize("io_uring", ["1", "0"])
def test_bulk_transfer_integrity(lab, workdir, pool_servers, tls_cert, monkeypatch, io_uring):
    """1 MiB bodies through plain and TLS services arrive byte for byte, also when the
    client reads slowly (the relay's back-pressure path), and 200 keep-alive requests
    in parallel each get a whole answer: with the relay's io_uring batches, and with
    plain system calls (CLONELB_IO_URING=0), as the log says at start."""
    monkeypatch.setenv("CLONELB_IO_URING", io_uring)
    try:
        with open("/proc/sys/kernel/io_uring_disabled") as f:
            refused = f.read().strip() != "0"
    except OSError:
        refused = False  # a kernel before 6.6: no such switch
    with started(Daemon(lab, workdir)) as d:
        if io_uring == "0":
            want = "CLONELB_IO_URING=0: relaying with plain system calls"
        elif refused:
            want = "relaying with plain system calls: io_uring: "
        else:
            want = "relaying through io_uring, in batches of up to 64 reads"
        assert want in d.logtext()
        bulk_transfers(lab, d, pool_servers, tls_cert)


def bulk_transfers(lab, daemon, pool_servers, tls_cert):
    import hashlib
    setup_web(daemon, tls_cert, ports=(80, 443), monitor=False)
    wait_for(serving(lab), timeout=10, what="VIP serving")
    want = set()
    for s in pool_servers:
        with open(os.path.join(s.dir, "big"), "rb") as f:
            want.add(hashlib.sha256(f.read()).hexdigest())
    urls = [(f"http://{VIP}/big", []),
            ("https://web.lab/big", ["--cacert", tls_cert["cert_path"],
                                     "--resolve", f"web.lab:443:{VIP}"])]
    for url, extra in urls:
        r = subprocess.run(lab.cmd("cli", "curl", "-sS", "--max-time", "30", *extra, url),
                           capture_output=True, timeout=40)
        assert r.returncode == 0, (url, r.stderr)
        assert len(r.stdout) == 1 << 20, (url, len(r.stdout))
        assert hashlib.sha256(r.stdout).hexdigest() in want, url
    # A client with a 4 KiB receive buffer that reads slowly: the proxy's writes to it
    # come up short and the rest waits in the session while the server is not read.
    for port in (80, 443):
        r = lab.run("cli", "/usr/bin/python3", "-c", SLOW_READER, VIP, str(port),
                    tls_cert["cert_path"], timeout=60)
        size, digest = r.stdout.split()
        assert int(size) == 1 << 20 and digest in want, (port, r.stdout, r.stderr)
    # Many sessions readable in one epoll batch: 200 requests over 50 connections.
    r = subprocess.run(lab.cmd("cli", "curl", "-sS", "--max-time", "30", "--parallel",
                               "--parallel-max", "50", *[f"http://{VIP}/"] * 200),
                       capture_output=True, text=True, timeout=40)
    assert r.returncode == 0, r.stderr
    answers = r.stdout.splitlines()
    assert len(answers) == 200 and set(answers) <= {f"server {ip}" for ip in POOL_IPS}, answers


SLOW_READER = r"""
import hashlib, socket, ssl, sys, time
host, port, ca = sys.argv[1], int(sys.argv[2]), sys.argv[3]
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.connect((host, port))
if port == 443:
    ctx = ssl.create_default_context(cafile=ca)
    s = ctx.wrap_socket(s, server_hostname="web.lab")
s.sendall(b"GET /big HTTP/1.0\r\nHost: web.lab\r\n\r\n")
data = b""
while True:
    chunk = s.recv(4096)
    if not chunk:
        break
    data += chunk
    if len(data) % (64 * 4096) < 4096:
        time.sleep(0.01)
body = data.partition(b"\r\n\r\n")[2]
print(len(body), hashlib.sha256(body).hexdigest())
"""


# A server whose accept queue is full: the SYNs of further connections are dropped, so a
# connect() to it never completes.
SYN_SINK = r"""
import socket, sys, time
ip, port = sys.argv[1], int(sys.argv[2])
l = socket.socket(); l.bind((ip, port)); l.listen(0)
fill = []
for _ in range(2):
    c = socket.socket(); c.setblocking(False); c.connect_ex((ip, port)); fill.append(c)
time.sleep(0.3)
print("ready", flush=True)
sys.stdin.readline()
"""


def test_connect_and_idle_timeouts(lab, workdir, pool_servers, holders, monkeypatch):
    # The 5 s connect and 300 s idle timeouts, shortened for the test.
    monkeypatch.setenv("CLONELB_IDLE_TIMEOUT_MS", "1000")
    monkeypatch.setenv("CLONELB_CONNECT_TIMEOUT_MS", "1000")
    d = Daemon(lab, workdir).start()
    sink = lab.popen("srv", "/usr/bin/python3", "-c", SYN_SINK, POOL_IPS[0], "84",
                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert sink.stdout.readline().strip() == "ready"
        d.ok("POST", "/api/pool", {"name": "web-pool", "servers": [
            {"ip": {"addr": POOL_IPS[0]}, "port": 84}, {"ip": {"addr": POOL_IPS[1]}}]})
        d.ok("POST", "/api/virtualservice",
             {"name": "web", "vip": [{"ip_address": {"addr": VIP}}],
              "services": [{"port": 80}], "pool_ref": "web-pool"})
        wait_for(serving(lab), timeout=20, what="VIP serving")
        # Connections first sent to the silent server fail over once the connect
        # timeout expires; the client only sees an answer from the other one.
        assert [get(lab) for _ in range(3)] == [POOL_IPS[1]] * 3
        rt = runtime(d)
        assert member(rt, POOL_IPS[0])["connect_failures"] >= 1, rt
        assert member(rt, POOL_IPS[0])["current_connections"] == 0
        assert "CLONELB_CONNECT_TIMEOUT_MS: 1000 ms" in d.logtext()

        # A client that says nothing is closed after the idle timeout.
        h = holders()
        assert h.cmd("open 1") == "opened 1"
        wait_for(lambda: runtime(d)["connections"]["current"] == 1, timeout=10,
                 what="held connection")
        wait_for(lambda: runtime(d)["connections"]["current"] == 0, timeout=15,
                 what="idle connection closed")
        assert h.cmd("get").startswith(("closed", "error")), "idle connection still open"
    finally:
        sink.kill()
        sink.wait()
        d.stop()
