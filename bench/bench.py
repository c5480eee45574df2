#!/usr/bin/python3
"""bench.py: clonelb against HAProxy on the same lab, interleaved rounds, medians and ratios.

Run as root from the repository (make bench). Builds the lab of DESIGN.md section 7 under its
own prefix, starts nginx and iperf3 as pool servers, HAProxy and clonelbd side by side in the
se namespace (same thread count, equivalent configuration, different ports), and measures each
scenario for each target in turn, alternating which goes first. Prints a table and writes
bench/out/results.json and bench/out/bench.png. Everything runs inside the lab's namespaces
and is torn down on exit, also on failure.

Extending: a scenario is a function (lab, target) -> float registered in SCENARIOS; a target
is a Target (name, ports, setup).

Cloning (on by default, `--no-clone` to skip): the target "clonelb+clone" is the same clonelbd
serving the same nginx and iperf3 servers through virtual services that carry a
traffic_clone_profile with one clone server (the tap namespace's 10.10.3.2). It runs the
CLONE_SCENARIOS right next to clonelb with cloning off, and its back-end traffic uses ports of
its own on the servers (CLONE_WEB_PORT, CLONE_BULK_PORT; its pools have no health monitor), so
that during its runs the frames of the cloned services on the SE's back-end interface can be
counted exactly (see Completeness) and compared with the frames the clone server received.
"""
import argparse
import fcntl
import http.client
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
OUT = os.path.join(ROOT, "bench", "out")
LAB_SH = os.path.join(ROOT, "tests", "lab", "lab.sh")
CLONELBD = os.path.join(ROOT, "build", "clonelbd")
VIP = "10.10.1.10"
POOL = ["10.10.2.11", "10.10.2.12"]
BULK_PORT = 5201  # iperf3 on POOL[0]
# Back-end ports of the cloned services (same nginx and a second iperf3 on the same servers).
CLONE_WEB_PORT = 8081
CLONE_BULK_PORT = 5202
CLONE_SERVER = "10.10.3.2"  # the tap namespace's eth0
CLONE_SCENARIOS = ("keepalive", "newconn", "bulk")
CLONE_TARGET = 0.85  # issue 4: cloning on >= 0.85x cloning off

# Bounds: every tool runs with a duration and a timeout.
TOOL_TIMEOUT = 60


def log(*a):
    print(*a, file=sys.stderr, flush=True)


class Lab:
    def __init__(self, prefix):
        self.prefix = prefix
        self.env = dict(os.environ, LAB_PREFIX=prefix)
        self.procs = []

    def ns(self, role):
        return self.prefix + role

    def cmd(self, role, *argv):
        return ["ip", "netns", "exec", self.ns(role), *argv]

    def run(self, role, *argv, timeout=TOOL_TIMEOUT, check=True):
        return subprocess.run(self.cmd(role, *argv), capture_output=True, text=True,
                              timeout=timeout, check=check)

    def spawn(self, role, *argv, **kw):
        kw.setdefault("stdout", subprocess.DEVNULL)
        kw.setdefault("stderr", subprocess.DEVNULL)
        p = subprocess.Popen(self.cmd(role, *argv), **kw)
        self.procs.append(p)
        return p

    def up(self):
        subprocess.run([LAB_SH, "up"], env=self.env, check=True)
        # The tests turn tx checksumming off on tap0 so that their captures
        # show complete checksums (a veth never computes them). Here tap0 gets
        # back the checksum offload every NIC has, as srv0 has it: otherwise
        # each clone, and only the clone, is checksummed in software.
        subprocess.run(self.cmd("se", "ethtool", "-K", "tap0", "tx", "on"), check=True,
                       stdout=subprocess.DEVNULL)

    def offloads_on(self):
        """TSO, GSO, GRO and checksum offload back on for every veth of the lab."""
        for role, ifs in (("cli", ["eth0"]), ("se", ["cli0", "srv0", "tap0"]),
                          ("srv", ["eth0"]), ("tap", ["eth0"])):
            for ifname in ifs:
                subprocess.run(self.cmd(role, "ethtool", "-K", ifname, "tso", "on", "gso", "on",
                                        "gro", "on", "tx", "on"),
                               check=True, stdout=subprocess.DEVNULL)

    def down(self):
        for p in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        subprocess.run([LAB_SH, "down"], env=self.env, check=False)


def wait_for(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.1)
    raise RuntimeError(f"timed out waiting for {what}")


def listening(lab, role, port):
    return lambda: f":{port} " in lab.run(role, "ss", "-Hltn", check=False).stdout + " "


NGINX_CONF = """
worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
worker_rlimit_nofile 19000;
events {{ worker_connections 18000; }}
http {{
    access_log off;
    client_body_temp_path {dir}; proxy_temp_path {dir}; fastcgi_temp_path {dir};
    uwsgi_temp_path {dir}; scgi_temp_path {dir};
    keepalive_requests 100000000;
    keepalive_timeout 600s;
    server {{
        listen {ip}:80 reuseport backlog=8192;
        listen {ip}:{clone_port} reuseport backlog=8192;
        location / {{ return 200 "server {ip}\\n"; }}
    }}
}}
"""


def start_pool(lab, work):
    for ip in POOL:
        d = os.path.join(work, "nginx-" + ip)
        os.makedirs(d)
        with open(os.path.join(d, "nginx.conf"), "w") as f:
            f.write(NGINX_CONF.format(dir=d, ip=ip, clone_port=CLONE_WEB_PORT))
        lab.spawn("srv", "nginx", "-c", os.path.join(d, "nginx.conf"))
    for port in (BULK_PORT, CLONE_BULK_PORT):
        lab.spawn("srv", "iperf3", "-s", "-B", POOL[0], "-p", str(port))
    for port in (80, CLONE_WEB_PORT, BULK_PORT, CLONE_BULK_PORT):
        wait_for(listening(lab, "srv", port), 10, f"pool port {port}")


def make_cert(work):
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=bench.lab", "-addext", "subjectAltName=DNS:bench.lab",
                    "-keyout", f"{work}/key.pem", "-out", f"{work}/cert.pem"],
                   check=True, capture_output=True)
    with open(f"{work}/cert.pem") as c, open(f"{work}/key.pem") as k:
        cert, key = c.read(), k.read()
    with open(f"{work}/combined.pem", "w") as f:
        f.write(cert + key)
    return cert, key


class Target:
    """A load balancer under test: where its services listen and how to find its process."""

    def __init__(self, name, http_port, tls_port, bulk_port):
        self.name = name
        self.http_port, self.tls_port, self.bulk_port = http_port, tls_port, bulk_port
        self.pid = None


HAPROXY_CFG = """
global
    nbthread {threads}
    maxconn {maxconn}
    tune.ssl.default-dh-param 2048
    log stderr format raw local0 err
defaults
    mode tcp{splice}
    timeout connect 5s
    timeout client 300s
    timeout server 300s
frontend web
    bind {vip}:{http}
    default_backend pool
frontend webtls
    bind {vip}:{tls} ssl crt {crt} ssl-min-ver TLSv1.2
    default_backend pool
frontend bulk
    bind {vip}:{bulk}
    default_backend bulkpool
backend pool
    balance roundrobin
    server s1 {s1}:80 check inter 10s
    server s2 {s2}:80 check inter 10s
backend bulkpool
    server b1 {s1}:{bulkport} check inter 10s
"""


def start_haproxy(lab, work, threads, t, splice=False):
    cfg = os.path.join(work, "haproxy.cfg")
    with open(cfg, "w") as f:
        f.write(HAPROXY_CFG.format(threads=threads, vip=VIP, http=t.http_port, tls=t.tls_port,
                                   bulk=t.bulk_port, crt=f"{work}/combined.pem", s1=POOL[0],
                                   s2=POOL[1], bulkport=BULK_PORT,
                                   splice="\n    option splice-auto" if splice else "",
                                   # splice pipes need descriptors too (hard limit 20000)
                                   maxconn=7000 if splice else 9980))
    logf = open(os.path.join(work, "haproxy.log"), "ab")
    p = lab.spawn("se", "haproxy", "-db", "-f", cfg, stdout=logf, stderr=logf)
    logf.close()
    try:
        wait_for(listening(lab, "se", t.http_port), 10, "haproxy")
    except RuntimeError:
        with open(os.path.join(work, "haproxy.log")) as f:
            log(f.read())
        raise
    t.pid = child_pid(p.pid, "haproxy")
    return p


def child_pid(pid, name):
    """`ip netns exec` execs the command, so the pid is the process itself; check anyway."""
    with open(f"/proc/{pid}/comm") as f:
        if f.read().strip() == name:
            return pid
    out = subprocess.run(["pgrep", "-P", str(pid), name], capture_output=True, text=True)
    return int(out.stdout.split()[0])


class Api:
    """clonelbd's REST API on its Unix socket."""

    def __init__(self, path):
        self.path = path

    def req(self, method, path, body=None):
        conn = http.client.HTTPConnection("localhost", timeout=30)
        conn.sock = socket.socket(socket.AF_UNIX)
        conn.sock.connect(self.path)
        conn.request(method, path, body=json.dumps(body) if body is not None else None,
                     headers={"Content-Type": "application/json"})
        r = conn.getresponse()
        text = r.read().decode()
        conn.close()
        if r.status >= 300:
            raise RuntimeError(f"{method} {path}: {r.status} {text}")
        return json.loads(text) if text else None


def start_clonelbd(lab, work, threads):
    sock = os.path.join(work, "clonelb.sock")
    logf = open(os.path.join(work, "clonelbd.log"), "ab")
    p = lab.spawn("se", CLONELBD, "--db", os.path.join(work, "config.db"), "--socket", sock,
                  "--workers", str(threads), "--log-level", "warn", stdout=logf, stderr=logf)
    logf.close()
    wait_for(lambda: os.path.exists(sock), 10, "clonelbd socket")
    return p, Api(sock)


def setup_clonelb(api, t, cert, key, clone_profile=None, suffix=""):
    """Services equivalent to HAProxy's: plain, TLS, bulk. With @clone_profile (a
    trafficcloneprofile body), the services carry it and use pools of their own: the same
    servers on the clone back-end ports, without health monitor (health checks are not
    cloned; on ports of their own they would blur the frame count of the cloned services)."""
    if not suffix:
        api.req("POST", "/api/sslkeyandcertificate",
                {"name": "bench-cert", "certificate": cert, "key": key})
        api.req("POST", "/api/healthmonitor",
                {"name": "bench-tcp", "type": "HEALTH_MONITOR_TCP", "send_interval": 10})
        api.req("POST", "/api/pool", {"name": "web", "health_monitor_refs": ["bench-tcp"],
                                      "servers": [{"ip": {"addr": ip}} for ip in POOL]})
        api.req("POST", "/api/pool", {"name": "bulk", "health_monitor_refs": ["bench-tcp"],
                                      "servers": [{"ip": {"addr": POOL[0]},
                                                   "port": BULK_PORT}]})
    extra = {}
    web_pool, bulk_pool = "web", "bulk"
    if clone_profile:
        api.req("POST", "/api/trafficcloneprofile", clone_profile)
        extra = {"traffic_clone_profile_ref": clone_profile["name"]}
        web_pool, bulk_pool = "web" + suffix, "bulk" + suffix
        api.req("POST", "/api/pool", {"name": web_pool,
                                      "servers": [{"ip": {"addr": ip}, "port": CLONE_WEB_PORT}
                                                  for ip in POOL]})
        api.req("POST", "/api/pool", {"name": bulk_pool,
                                      "servers": [{"ip": {"addr": POOL[0]},
                                                   "port": CLONE_BULK_PORT}]})
    vip = [{"ip_address": {"addr": VIP}}]
    api.req("POST", "/api/virtualservice",
            {"name": "web" + suffix, "vip": vip, "pool_ref": web_pool,
             "services": [{"port": t.http_port}, {"port": t.tls_port, "enable_ssl": True}],
             "ssl_key_and_certificate_refs": ["bench-cert"], **extra})
    api.req("POST", "/api/virtualservice",
            {"name": "bulk" + suffix, "vip": vip, "pool_ref": bulk_pool,
             "services": [{"port": t.bulk_port}], **extra})
    t.services = ["web" + suffix, "bulk" + suffix]


# ---- scenarios: each returns one figure, higher is better unless noted ----

def wrk(lab, url, conns, seconds, *extra):
    out = lab.run("cli", "wrk", "-t1", f"-c{conns}", f"-d{seconds}s", *extra, url,
                  timeout=seconds + 30).stdout
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    errs = re.search(r"Socket errors: (.*)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if not m:
        raise RuntimeError(f"wrk output: {out}")
    if errs or non2xx or float(m.group(1)) == 0:
        log(f"  note: {url}: {errs.group(0) if errs else ''} {non2xx.group(0) if non2xx else ''}")
        if float(m.group(1)) == 0:
            log(out)
    total = re.search(r"(\d+) requests in", out)
    return float(m.group(1)), int(total.group(1)) if total else 0


def scenario_keepalive(lab, t, a):
    """HTTP requests/s over 64 keep-alive connections."""
    return wrk(lab, f"http://{VIP}:{t.http_port}/", 64, a.seconds)


def scenario_newconn(lab, t, a):
    """New connections/s: one request per connection (Connection: close)."""
    return wrk(lab, f"http://{VIP}:{t.http_port}/", 64, a.seconds, "-H", "Connection: close")


def scenario_tls(lab, t, a):
    """TLS handshakes/s: one HTTPS request per connection, RSA-2048 certificate."""
    return wrk(lab, f"https://{VIP}:{t.tls_port}/", 32, a.seconds, "-H", "Connection: close")


def scenario_bulk(lab, t, a):
    """Bulk transfer Gbit/s: one iperf3 stream client to server through the proxy."""
    out = lab.run("cli", "iperf3", "-c", VIP, "-p", str(t.bulk_port), "-t", str(a.seconds),
                  "-J", timeout=a.seconds + 30, check=False).stdout
    j = json.loads(out)
    if "error" in j:
        raise RuntimeError(f"iperf3: {j['error']}")
    end = j["end"]["sum_received"]
    return end["bits_per_second"] / 1e9, end["bytes"] / (1 << 20)


HOLDER = r"""
import resource, select, socket, sys
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
n = int(sys.argv[3]); socks = []
for _ in range(n):
    s = socket.socket(); s.setblocking(False); s.connect_ex((sys.argv[1], int(sys.argv[2])))
    socks.append(s)
poller = select.poll()
pending = {s.fileno() for s in socks}
for fd in pending:
    poller.register(fd, select.POLLOUT)
while pending:
    ready = poller.poll(20000)
    if not ready:
        break
    for fd, _ in ready:
        poller.unregister(fd); pending.discard(fd)
print(n - len(pending), flush=True)
sys.stdin.readline()
"""


def cpu_seconds(pid):
    """User + system CPU time of process @pid, all threads."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))


def established(lab, port):
    out = lab.run("se", "ss", "-Htn", "state", "established", f"sport = :{port}").stdout
    return len(out.splitlines())


def scenario_rss_idle(lab, t, a):
    """RSS in MB of the load balancer holding a.idle idle client connections (lower is better)."""
    p = lab.spawn("cli", "/usr/bin/python3", "-c", HOLDER, VIP, str(t.http_port), str(a.idle),
                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        opened = int(p.stdout.readline() or 0)
        if opened != a.idle:
            raise RuntimeError(f"only {opened} of {a.idle} connections opened")
        # Every client connection accepted and relayed to a server.
        wait_for(lambda: established(lab, t.http_port) >= a.idle, 60, "connections accepted")
        time.sleep(1)
        return rss_kb(t.pid) / 1024.0, 0
    finally:
        p.stdin.close()
        p.wait(30)
        wait_for(lambda: established(lab, t.http_port) == 0, 60, "connections closed")


# ---- clone completeness: frames of the cloned services on srv0 versus frames at the clone server

def pool_frames_filter(ports):
    """pcap filter: TCP frames between the SE and a pool server's @ports (either direction)."""
    hosts = " or ".join(f"host {ip}" for ip in POOL)
    pp = " or ".join(f"port {p}" for p in ports)
    src = f"(({hosts.replace('host', 'src host')}) and ({pp.replace('port', 'src port')}))"
    dst = f"(({hosts.replace('host', 'dst host')}) and ({pp.replace('port', 'dst port')}))"
    return f"tcp and ({src} or {dst})"


def link_counters(lab, role, dev):
    # ip -n: setns only, lighter than ip netns exec (this runs every 0.1 s around a run).
    j = json.loads(subprocess.run(["ip", "-n", lab.ns(role), "-j", "-s", "link", "show", "dev",
                                   dev], capture_output=True, text=True, timeout=TOOL_TIMEOUT,
                                  check=True).stdout)[0]
    st = j["stats64"]
    return {"rx": st["rx"]["packets"], "rx_dropped": st["rx"]["dropped"],
            "tx": st["tx"]["packets"], "tx_dropped": st["tx"]["dropped"]}


def clone_counters(api, services):
    """PROC_Aggregate counters of @services summed over their clone servers."""
    tot = {k: 0 for k in ("num_total_pkts_cloned", "num_succeeded", "num_mbuf_alloc_failed",
                          "num_driver_failures")}
    for name in services:
        for entry in api.req("GET", f"/api/virtualservice/{name}/traffic_clone_stats"):
            if entry.get("proc_id") != "PROC_Aggregate":
                continue
            for cs in entry.get("clone_srvr_stats", []):
                for k in tot:
                    tot[k] += int(cs.get(k, 0))
    return tot


class FrameCount:
    """Counts, without capturing them, the frames of the services served on the servers' @ports
    that cross the SE's back-end interface (srv0, both directions) and that the clone server's
    interface (tap eth0) receives, over one measurement.

    The exact, drop-free counters are the veth's packet counters (`ip -s link`): srv0's rx + tx
    (+ tx_dropped: frames that went through the tc hooks but that the veth could not hand
    over) and the tap's rx. They also count the few other frames of those interfaces (health
    checks, ARP, the clone engine's MAC probes): a tcpdump of the complement (every frame *not*
    of those ports, a handful per second) runs on each interface for the window, and its
    frames timestamped inside the window are subtracted. That capture sees almost nothing, so
    it costs almost nothing; its own "dropped by kernel" is reported, and a run where it
    dropped anything is invalid (a frame it missed would not be subtracted). The same counting
    runs around the cloning-off runs of the same scenarios, so both pay the same overhead."""

    def __init__(self, lab, work, ports, api=None, services=()):
        self.lab, self.work, self.ports = lab, work, ports
        self.api, self.services = api, services
        self.caps = []

    def _srv0_tap(self):
        return link_counters(self.lab, "se", "srv0"), link_counters(self.lab, "tap", "eth0"), \
            link_counters(self.lab, "se", "tap0")

    def _quiet(self, quiet_s, max_s):
        """Wait until srv0 and the tap have seen no frame for @quiet_s (at most @max_s)."""
        deadline = time.monotonic() + max_s
        last = self._srv0_tap()[:2]
        since = time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.1)
            cur = self._srv0_tap()[:2]
            if cur != last:
                last, since = cur, time.monotonic()
            elif time.monotonic() - since >= quiet_s:
                return True
        return False

    def start(self):
        flt = f"not ({pool_frames_filter(self.ports)})"
        for role, dev, direction in (("se", "srv0", "inout"), ("tap", "eth0", "in")):
            base = os.path.join(self.work, f"cap-{role}-{dev}")
            out, err = open(base + ".txt", "w"), open(base + ".err", "w")
            p = self.lab.spawn(role, "tcpdump", "-i", dev, "-n", "-tt", "-l", "-B", "16384",
                               "-Q", direction, flt, stdout=out, stderr=err)
            out.close()
            err.close()
            self.caps.append((p, base))
            wait_for(lambda: "listening on" in open(base + ".err").read(), 10,
                     f"tcpdump on {dev}")
        self._quiet(0.3, 3)
        self.t0 = time.time()
        self.c0 = self._srv0_tap()
        self.e0 = clone_counters(self.api, self.services) if self.api else None

    def stop(self, ok=True):
        res = None
        try:
            if ok:
                settled = self._quiet(0.5, 5)
                c1 = self._srv0_tap()
                t1 = time.time()
                e1 = clone_counters(self.api, self.services) if self.api else None
        finally:
            caps = []
            for p, base in self.caps:
                if p.poll() is None:
                    p.send_signal(signal.SIGINT)
                    try:
                        p.wait(10)
                    except subprocess.TimeoutExpired:
                        p.kill()
                        p.wait()
                caps.append(base)
            self.caps = []
        if not ok:
            return None
        other, drops = [], 0
        for base in caps:
            n = 0
            with open(base + ".txt") as f:
                for line in f:
                    try:
                        ts = float(line.split(None, 1)[0])
                    except (ValueError, IndexError):
                        continue
                    n += self.t0 <= ts <= t1
            other.append(n)
            with open(base + ".err") as f:
                m = re.search(r"(\d+) packets? dropped by kernel", f.read())
            drops += int(m.group(1)) if m else 1  # no statistics line: count as invalid
        (s0, t0_, x0), (s1, t1_, x1) = self.c0, c1
        srv0 = sum(s1[k] - s0[k] for k in ("rx", "tx", "tx_dropped"))
        res = {"expected": srv0 - other[0], "received": t1_["rx"] - t0_["rx"] - other[1],
               "srv0_frames": srv0, "srv0_other": other[0], "tap_rx": t1_["rx"] - t0_["rx"],
               "tap_other": other[1], "tap_rx_dropped": t1_["rx_dropped"] - t0_["rx_dropped"],
               "tap0_tx_dropped": x1["tx_dropped"] - x0["tx_dropped"],
               "capture_drops": drops, "settled": settled}
        if e1:
            res["engine"] = {k: e1[k] - self.e0[k] for k in e1}
            res["engine_abs"] = e1
            res["identity"] = e1["num_total_pkts_cloned"] == (
                e1["num_succeeded"] + e1["num_mbuf_alloc_failed"] + e1["num_driver_failures"])
        res["valid"] = drops == 0 and settled
        return res


# A scenario function returns (figure, operations): operations (requests, connections,
# MiB) divide the load balancer's CPU time into a cost per operation, a figure much less
# sensitive than throughput to what else the machine is doing.
SCENARIOS = [
    # (key, label, function, higher is better, target ratio)
    ("keepalive", "keep-alive req/s", scenario_keepalive, True, 1.0),
    ("newconn", "new conn/s", scenario_newconn, True, 1.0),
    ("bulk", "bulk Gbit/s", scenario_bulk, True, 1.0),
    ("tls", "TLS handshakes/s", scenario_tls, True, 0.9),
    ("rss_idle", "RSS MB, idle conns", scenario_rss_idle, False, 1.0),
]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=5, help="duration of each measurement")
    ap.add_argument("--threads", type=int, default=os.cpu_count(),
                    help="worker threads of both load balancers")
    ap.add_argument("--idle", type=int, default=9000,
                    help="idle connections for the RSS scenario (the container's hard "
                         "open-files limit of 20000 caps a full proxy near 9,990)")
    ap.add_argument("--only", help="comma-separated scenario keys")
    ap.add_argument("--clone", action=argparse.BooleanOptionalAction, default=True,
                    help="also measure clonelb with a traffic clone profile (one clone "
                         "server) on the scenarios " + ", ".join(CLONE_SCENARIOS) +
                         ", with the clone's completeness (default: on)")
    ap.add_argument("--haproxy-splice", action="store_true",
                    help="HAProxy with option splice-auto (its default is a buffered copy)")
    ap.add_argument("--prefix", default="bn-")
    ap.add_argument("--offloads", action=argparse.BooleanOptionalAction, default=True,
                    help="give every lab veth the kernel's default offloads (TSO/GSO/GRO and "
                         "checksum on), as NICs have them; --no-offloads keeps the tests' lab "
                         "(wire-size frames, every segment handled in software)")
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench.py: run as root (it creates network namespaces)")
    if not os.path.exists(CLONELBD):
        sys.exit("bench.py: build/clonelbd missing, run make first")
    scen = [s for s in SCENARIOS if not a.only or s[0] in a.only.split(",")]

    # Two runs with the same prefix would tear down each other's lab (lab.sh up starts with
    # a down) and share the CPUs: wait for the other one (bounded).
    lock = open(f"/tmp/clonelb-bench-{a.prefix}.lock", "w")
    deadline = time.monotonic() + 900
    while True:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() > deadline:
                sys.exit(f"bench.py: another bench with prefix {a.prefix} still runs")
            log(f"bench: another bench with prefix {a.prefix} runs, waiting")
            time.sleep(10)
    work = tempfile.mkdtemp(prefix="clonelb-bench-")
    lab = Lab(a.prefix)
    results, cpu_results, frames = {}, {}, {}
    t0 = time.monotonic()
    try:
        lab.up()
        if a.offloads:
            lab.offloads_on()
        cert, key = make_cert(work)
        start_pool(lab, work)
        cl = Target("clonelb", 80, 443, 15201)
        ha = Target("haproxy", 8080, 8443, 25201)
        targets = [cl, ha]
        cc = None
        start_haproxy(lab, work, a.threads, ha, a.haproxy_splice)
        p, api = start_clonelbd(lab, work, a.threads)
        cl.pid = child_pid(p.pid, "clonelbd")
        setup_clonelb(api, cl, cert, key)
        if a.clone:
            cc = Target("clonelb+clone", 81, 444, 15202)
            cc.pid = cl.pid
            setup_clonelb(api, cc, cert, key, suffix="-clone", clone_profile={
                "name": "bench-clone",
                "clone_servers": [{"ip_address": {"addr": CLONE_SERVER},
                                   "subnet": {"ip_addr": {"addr": "10.10.3.0"}, "mask": 24}}]})
            targets.append(cc)
            # One frame through each cloned service so that the clone server's MAC is known
            # before the first measurement (its first frames would count as no_mac otherwise).
            lab.run("cli", "curl", "-s", "-o", "/dev/null", "-m", "5",
                    f"http://{VIP}:{cc.http_port}/", check=False)
        for t in targets:
            wait_for(listening(lab, "se", t.http_port), 10, f"{t.name} listening")
        log(f"bench: {a.threads} threads each, {a.rounds} rounds of {a.seconds}s, "
            f"work dir {work}")
        # clonelb runs between HAProxy and clonelb+clone, so that both of its comparisons
        # are back to back; the order flips every round.
        run_order = [ha, cl] + ([cc] if cc else [])
        for r in range(a.rounds):
            order = run_order if r % 2 == 0 else list(reversed(run_order))
            for key_, label, fn, _, _ in scen:
                for t in order:
                    if t is cc and key_ not in CLONE_SCENARIOS:
                        continue
                    fc = None
                    if cc and key_ in CLONE_SCENARIOS and t in (cl, cc):
                        # Same counting around cloning off and on (same overhead).
                        fc = FrameCount(lab, work, (CLONE_WEB_PORT, CLONE_BULK_PORT)
                                        if t is cc else (80, BULK_PORT),
                                        api if t is cc else None, getattr(t, "services", ()))
                        fc.start()
                    try:
                        cpu0 = cpu_seconds(t.pid)
                        v, ops = fn(lab, t, a)
                        cpu = cpu_seconds(t.pid) - cpu0
                    except BaseException:
                        if fc:
                            fc.stop(ok=False)
                        raise
                    if fc:
                        fr = fc.stop()
                        frames.setdefault(key_, {}).setdefault(t.name, []).append(fr)
                        if t is cc:
                            log(f"  clone: received {fr['received']} / expected "
                                f"{fr['expected']} ({pct(fr['received'], fr['expected'])}), "
                                f"engine {fr['engine']}, identity "
                                f"{'ok' if fr['identity'] else 'BROKEN'}, capture drops "
                                f"{fr['capture_drops']}{'' if fr['valid'] else ' INVALID'}")
                    per_op = cpu * 1e6 / ops if ops else None
                    results.setdefault(key_, {}).setdefault(t.name, []).append(v)
                    cpu_results.setdefault(key_, {}).setdefault(t.name, []).append(per_op)
                    log(f"round {r + 1} {label:20s} {t.name:14s} {v:12.2f}" +
                        (f"   cpu {per_op:8.2f} us/op" if per_op else ""))
        report(results, cpu_results, frames, scen, targets, a, time.monotonic() - t0)
        broken = [f"{k} round {i + 1}" for k, per in frames.items()
                  for i, f in enumerate(per.get("clonelb+clone", [])) if not f["identity"]]
        if broken:
            sys.exit("bench.py: traffic_clone_stats identity num_total_pkts_cloned == "
                     "num_succeeded + num_mbuf_alloc_failed + num_driver_failures broken "
                     "after: " + ", ".join(broken))
    finally:
        lab.down()
        if os.path.exists(os.path.join(work, "clonelbd.log")):
            os.makedirs(OUT, exist_ok=True)
            shutil.copy(os.path.join(work, "clonelbd.log"), os.path.join(OUT, "clonelbd.log"))
        shutil.rmtree(work, ignore_errors=True)


def pct(num, den):
    return f"{100.0 * num / den:.3f} %" if den else "-"


def report(results, cpu_results, frames, scen, targets, a, elapsed):
    os.makedirs(OUT, exist_ok=True)
    base, ref = targets[0].name, "haproxy"
    names = [base, ref]
    head = f"{'metric':22s}" + "".join(f"{n:>15s}" for n in names) + \
        f"{'ratio':>8s}{'paired':>8s}{'target':>8s}  met" + \
        "".join(f"{n + ' us/op':>20s}" for n in names) + f"{'cpu ratio':>10s}"
    lines = [head, "-" * len(head)]
    table = {}
    for key_, label, _, higher, target in scen:
        runs = results[key_]
        med = {n: statistics.median(runs[n]) for n in names}
        ratio = med[base] / med[ref] if med[ref] else float("nan")
        # Ratio of the two measurements of the same round, which ran back to back.
        paired = statistics.median(x / y for x, y in zip(runs[base], runs[ref]) if y)
        met = ratio >= target if higher else ratio <= target
        cpu = {n: [c for c in cpu_results[key_][n] if c] for n in names}
        cpu_med = {n: statistics.median(cpu[n]) if cpu[n] else None for n in names}
        cpu_ratio = (cpu_med[base] / cpu_med[ref]) if cpu_med[base] and cpu_med[ref] else None
        table[key_] = {"label": label, "median": med, "runs": runs, "ratio": ratio,
                       "paired_ratio": paired, "target": target, "higher_is_better": higher,
                       "met": met, "cpu_us_per_op": cpu_med, "cpu_runs": cpu_results[key_],
                       "cpu_ratio": cpu_ratio}
        lines.append(f"{label:22s}" + "".join(f"{med[n]:15.2f}" for n in names) +
                     f"{ratio:8.3f}{paired:8.3f}{('>=' if higher else '<=') + str(target):>8s}"
                     f"  {'yes' if met else 'NO ':3s}" +
                     "".join(f"{cpu_med[n]:20.2f}" if cpu_med[n] else f"{'-':>20s}"
                             for n in names) +
                     (f"{cpu_ratio:10.3f}" if cpu_ratio else f"{'-':>10s}"))
    note = (f"(medians of {a.rounds} rounds, {a.seconds}s each, {a.threads} threads; "
            f"ratio = {base}/{ref} of the medians, paired = median of per-round ratios; "
            f"us/op = load balancer CPU time per request, connection or MiB, "
            f"cpu ratio < 1: {base} cheaper; {a.idle} idle connections; {elapsed:.0f}s)")
    lines.append(note)
    clone_table = {}
    on = "clonelb+clone"
    ckeys = [s_ for s_ in scen if s_[0] in CLONE_SCENARIOS and on in results.get(s_[0], {})]
    if ckeys:
        names = [base, on]
        head = f"{'cloning on / off':22s}" + "".join(f"{n:>15s}" for n in names) + \
            f"{'ratio':>8s}{'paired':>8s}{'target':>8s}  met" + \
            "".join(f"{n + ' us/op':>20s}" for n in names) + f"{'cpu ratio':>10s}"
        lines += ["", head, "-" * len(head)]
        for key_, label, _, _, _ in ckeys:
            runs = results[key_]
            med = {n: statistics.median(runs[n]) for n in names}
            ratio = med[on] / med[base] if med[base] else float("nan")
            paired = statistics.median(y / x for x, y in zip(runs[base], runs[on]) if x)
            met = ratio >= CLONE_TARGET
            cpu = {n: [c for c in cpu_results[key_][n] if c] for n in names}
            cpu_med = {n: statistics.median(cpu[n]) if cpu[n] else None for n in names}
            cpu_ratio = cpu_med[on] / cpu_med[base] if cpu_med[base] and cpu_med[on] else None
            fr = frames.get(key_, {}).get(on, [])
            exp = sum(f["expected"] for f in fr)
            rec = sum(f["received"] for f in fr)
            clone_table[key_] = {
                "label": label, "median": med, "runs": {n: runs[n] for n in names},
                "ratio": ratio, "paired_ratio": paired, "target": CLONE_TARGET, "met": met,
                "cpu_us_per_op": cpu_med, "cpu_ratio": cpu_ratio,
                "frames": frames.get(key_, {}), "expected": exp, "received": rec,
                "complete": rec == exp and all(f["valid"] for f in fr),
                "valid": all(f["valid"] for f in fr),
                "identity": all(f.get("identity") for f in fr)}
            lines.append(f"{label:22s}" + "".join(f"{med[n]:15.2f}" for n in names) +
                         f"{ratio:8.3f}{paired:8.3f}{'>=' + str(CLONE_TARGET):>8s}"
                         f"  {'yes' if met else 'NO ':3s}" +
                         "".join(f"{cpu_med[n]:20.2f}" if cpu_med[n] else f"{'-':>20s}"
                                 for n in names) +
                         (f"{cpu_ratio:10.3f}" if cpu_ratio else f"{'-':>10s}"))
        lines.append(f"(ratio = {on}/{base} of the medians, paired = median of per-round "
                     f"ratios; one clone server, {CLONE_SERVER} in the tap namespace; cpu ratio "
                     f"> 1: cloning costs clonelbd CPU)")
        head = (f"{'clone completeness':22s}{'round':>6s}{'received':>12s}{'expected':>12s}"
                f"{'complete':>11s}{'engine total':>14s}{'succeeded':>11s}{'mbuf':>6s}"
                f"{'driver':>7s}{'identity':>9s}{'tap drops':>10s}{'cap drops':>10s}")
        lines += ["", head, "-" * len(head)]
        for key_, label, _, _, _ in ckeys:
            for r, f in enumerate(frames.get(key_, {}).get(on, [])):
                e = f["engine"]
                lines.append(
                    f"{label:22s}{r + 1:6d}{f['received']:12d}{f['expected']:12d}"
                    f"{pct(f['received'], f['expected']):>11s}"
                    f"{e['num_total_pkts_cloned']:14d}{e['num_succeeded']:11d}"
                    f"{e['num_mbuf_alloc_failed']:6d}{e['num_driver_failures']:7d}"
                    f"{'ok' if f['identity'] else 'BROKEN':>9s}"
                    f"{f['tap0_tx_dropped'] + f['tap_rx_dropped']:10d}"
                    f"{f['capture_drops']:10d}" + ("" if f["valid"] else "  INVALID"))
            c = clone_table[key_]
            lines.append(f"{label:22s}{'all':>6s}{c['received']:12d}{c['expected']:12d}"
                         f"{pct(c['received'], c['expected']):>11s}  target 100 %: "
                         f"{'met' if c['complete'] else 'NOT met'}"
                         f"{'' if c['valid'] else ' (run invalid: capture drops)'}")
        lines.append("(received: frames of the cloned services the clone server's interface "
                     "received; expected: their frames on the SE's back-end interface srv0, "
                     "both directions; both from the veth packet counters minus the other "
                     "frames of the interface; engine: traffic_clone_stats deltas, identity: "
                     "total == succeeded + mbuf + driver (the engine counts wire frames: a "
                     "GSO/GRO super-frame as its gso_segs; with --offloads, the default, the "
                     "veth counters count super-frames, so in bulk received/expected are "
                     "below the engine's figures; with --no-offloads all three count wire "
                     "frames); tap drops: tap0 "
                     "tx_dropped + tap rx_dropped; cap drops: drops of the tcpdump of the "
                     "other frames)")
    text = "\n".join(lines)
    print(text)
    with open(os.path.join(OUT, "results.json"), "w") as f:
        json.dump({"args": vars(a), "table": table, "clone": clone_table}, f, indent=2)
    with open(os.path.join(OUT, "table.txt"), "w") as f:
        f.write(text + "\n")
    chart(table, clone_table, [t.name for t in targets], os.path.join(OUT, "bench.png"))


def chart(table, clone_table, names, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = list(table)
    n = len(keys) + (1 if clone_table else 0)
    fig, axes = plt.subplots(1, n, figsize=(3.2 * n, 3.8))
    if n == 1:
        axes = [axes]
    colors = {"clonelb": "#2b7bb9", "haproxy": "#999999", "clonelb+clone": "#7bb92b"}
    for ax, k in zip(axes, keys):
        row = table[k]
        shown = [nm for nm in names if nm in row["median"]]
        vals = [row["median"][nm] for nm in shown]
        title = f"{row['label']}\nvs haproxy {row['ratio']:.2f}"
        if k in clone_table:
            shown.append("clonelb+clone")
            vals.append(clone_table[k]["median"]["clonelb+clone"])
            title += f", clone on/off {clone_table[k]['ratio']:.2f}"
        ax.bar([nm.replace("+", "+\n") for nm in shown], vals,
               color=[colors.get(nm, "#cccccc") for nm in shown])
        ax.set_title(title, fontsize=8)
        ax.tick_params(axis="x", labelsize=7)
    if clone_table:
        ax = axes[-1]
        ks = list(clone_table)
        vals = [100.0 * clone_table[k]["received"] / clone_table[k]["expected"]
                if clone_table[k]["expected"] else 0 for k in ks]
        ax.bar([clone_table[k]["label"].split(" ")[0] for k in ks], vals, color="#7bb92b")
        lo = min(vals + [100.0])
        ax.set_ylim(max(0, lo - 1), 100.5)
        ax.set_title("clone completeness %\n(received / srv0 frames)", fontsize=8)
        ax.tick_params(axis="x", labelsize=7)
    fig.suptitle("clonelb vs HAProxy, and clonelb with cloning on vs off (medians)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    print(f"chart: {os.path.relpath(path, ROOT)}")


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    main()
