#!/usr/bin/python3
"""bench.py: clonelb against HAProxy on the same lab, interleaved rounds, medians and ratios.

Run as root from the repository (make bench). Builds the lab of DESIGN.md section 7 under its
own prefix, starts nginx and iperf3 as pool servers, HAProxy and clonelbd side by side in the
se namespace (same thread count, equivalent configuration, different ports), and measures each
scenario for each target in turn, alternating which goes first. Prints a table and writes
bench/out/results.json and bench/out/bench.png. Everything runs inside the lab's namespaces
and is torn down on exit, also on failure.

Extending: a scenario is a function (lab, target) -> float registered in SCENARIOS; a target
is a Target (name, ports, setup). `--clone` adds the target "clonelb+clone": the same clonelbd
serving the same pool on other ports through virtual services that carry a
traffic_clone_profile (see setup_clonelb()).
"""
import argparse
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
        location / {{ return 200 "server {ip}\\n"; }}
    }}
}}
"""


def start_pool(lab, work):
    for ip in POOL:
        d = os.path.join(work, "nginx-" + ip)
        os.makedirs(d)
        with open(os.path.join(d, "nginx.conf"), "w") as f:
            f.write(NGINX_CONF.format(dir=d, ip=ip))
        lab.spawn("srv", "nginx", "-c", os.path.join(d, "nginx.conf"))
    lab.spawn("srv", "iperf3", "-s", "-B", POOL[0], "-p", str(BULK_PORT))
    wait_for(listening(lab, "srv", 80), 10, "nginx")
    wait_for(listening(lab, "srv", BULK_PORT), 10, "iperf3")


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
    trafficcloneprofile body), the services carry it."""
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
    if clone_profile:
        api.req("POST", "/api/trafficcloneprofile", clone_profile)
        extra = {"traffic_clone_profile_ref": clone_profile["name"]}
    vip = [{"ip_address": {"addr": VIP}}]
    api.req("POST", "/api/virtualservice",
            {"name": "web" + suffix, "vip": vip, "pool_ref": "web",
             "services": [{"port": t.http_port}, {"port": t.tls_port, "enable_ssl": True}],
             "ssl_key_and_certificate_refs": ["bench-cert"], **extra})
    api.req("POST", "/api/virtualservice",
            {"name": "bulk" + suffix, "vip": vip, "pool_ref": "bulk",
             "services": [{"port": t.bulk_port}], **extra})


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
    ap.add_argument("--clone", action="store_true",
                    help="also measure clonelb with a traffic clone profile attached")
    ap.add_argument("--haproxy-splice", action="store_true",
                    help="HAProxy with option splice-auto (its default is a buffered copy)")
    ap.add_argument("--prefix", default="bn-")
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench.py: run as root (it creates network namespaces)")
    if not os.path.exists(CLONELBD):
        sys.exit("bench.py: build/clonelbd missing, run make first")
    scen = [s for s in SCENARIOS if not a.only or s[0] in a.only.split(",")]

    work = tempfile.mkdtemp(prefix="clonelb-bench-")
    lab = Lab(a.prefix)
    results, cpu_results = {}, {}
    t0 = time.monotonic()
    try:
        lab.up()
        cert, key = make_cert(work)
        start_pool(lab, work)
        cl = Target("clonelb", 80, 443, 15201)
        ha = Target("haproxy", 8080, 8443, 25201)
        targets = [cl, ha]
        start_haproxy(lab, work, a.threads, ha, a.haproxy_splice)
        p, api = start_clonelbd(lab, work, a.threads)
        cl.pid = child_pid(p.pid, "clonelbd")
        setup_clonelb(api, cl, cert, key)
        if a.clone:
            cc = Target("clonelb+clone", 81, 444, 15202)
            cc.pid = cl.pid
            setup_clonelb(api, cc, cert, key, suffix="-clone", clone_profile={
                "name": "bench-clone",
                "clone_servers": [{"ip_address": {"addr": "10.10.3.2"},
                                   "subnet": {"ip_addr": {"addr": "10.10.3.0"}, "mask": 24}}]})
            targets.append(cc)
        for t in targets:
            wait_for(listening(lab, "se", t.http_port), 10, f"{t.name} listening")
        log(f"bench: {a.threads} threads each, {a.rounds} rounds of {a.seconds}s, "
            f"work dir {work}")
        for r in range(a.rounds):
            order = targets if r % 2 == 0 else list(reversed(targets))
            for key_, label, fn, _, _ in scen:
                for t in order:
                    cpu0 = cpu_seconds(t.pid)
                    v, ops = fn(lab, t, a)
                    cpu = cpu_seconds(t.pid) - cpu0
                    per_op = cpu * 1e6 / ops if ops else None
                    results.setdefault(key_, {}).setdefault(t.name, []).append(v)
                    cpu_results.setdefault(key_, {}).setdefault(t.name, []).append(per_op)
                    log(f"round {r + 1} {label:20s} {t.name:14s} {v:12.2f}" +
                        (f"   cpu {per_op:8.2f} us/op" if per_op else ""))
        report(results, cpu_results, scen, targets, a, time.monotonic() - t0)
    finally:
        lab.down()
        if os.path.exists(os.path.join(work, "clonelbd.log")):
            os.makedirs(OUT, exist_ok=True)
            shutil.copy(os.path.join(work, "clonelbd.log"), os.path.join(OUT, "clonelbd.log"))
        shutil.rmtree(work, ignore_errors=True)


def report(results, cpu_results, scen, targets, a, elapsed):
    os.makedirs(OUT, exist_ok=True)
    base, ref = targets[0].name, "haproxy"
    names = [t.name for t in targets]
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
    text = "\n".join(lines)
    print(text)
    note = (f"(medians of {a.rounds} rounds, {a.seconds}s each, {a.threads} threads; "
            f"ratio = {base}/{ref} of the medians, paired = median of per-round ratios; "
            f"us/op = load balancer CPU time per request, connection or MiB, "
            f"cpu ratio < 1: {base} cheaper; {a.idle} idle connections; {elapsed:.0f}s)")
    print(note)
    with open(os.path.join(OUT, "results.json"), "w") as f:
        json.dump({"args": vars(a), "table": table}, f, indent=2)
    with open(os.path.join(OUT, "table.txt"), "w") as f:
        f.write(text + "\n" + note + "\n")
    chart(table, names, os.path.join(OUT, "bench.png"))


def chart(table, names, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = list(table)
    fig, axes = plt.subplots(1, len(keys), figsize=(3.2 * len(keys), 3.6))
    if len(keys) == 1:
        axes = [axes]
    for ax, k in zip(axes, keys):
        row = table[k]
        vals = [row["median"][n] for n in names]
        ax.bar(names, vals, color=["#2b7bb9", "#999999", "#7bb92b"][:len(names)])
        ax.set_title(f"{row['label']}\nratio {row['ratio']:.2f}", fontsize=9)
        ax.tick_params(axis="x", labelsize=8)
    fig.suptitle("clonelb vs HAProxy (medians)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    print(f"chart: {os.path.relpath(path, ROOT)}")


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    main()
