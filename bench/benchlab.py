"""benchlab.py: the bench's lab, pool servers and load balancers (HAProxy, clonelbd).

The lab is tests/lab/lab.sh's; this module adds what the bench needs on top: the pool servers
(nginx, iperf3), HAProxy and clonelbd with equivalent configurations, the REST API client, and
the sysctl rule: the SE namespace always keeps the kernel's defaults (those of a freshly
created namespace), the client and server namespaces are tuned (CLIENT_SIDE_TUNING) or, for the
all-stock row, kept on the defaults too. The same settings serve HAProxy and clonelbd.
"""
import http.client
import json
import os
import socket
import subprocess
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
OUT = os.path.join(ROOT, "bench", "out")
LAB_SH = os.path.join(ROOT, "tests", "lab", "lab.sh")
CLONELBD = os.path.join(ROOT, "build", "clonelbd")
SENSOR_BPF = os.path.join(ROOT, "build", "bench", "sensor.bpf.o")  # bench/sensor.bpf.c
VIP = "10.10.1.10"
POOL = ["10.10.2.11", "10.10.2.12"]
BULK_PORT = 5201  # iperf3 on POOL[0]
# Back-end ports of the cloned services (same nginx and a second iperf3 on the same servers).
CLONE_WEB_PORT = 8081
CLONE_BULK_PORT = 5202
CLONE_SERVER = "10.10.3.2"  # the tap namespace's eth0
# The same lab in IPv6 (tests/lab/lab.sh), for the IPv6 rows.
VIP6 = "fd00:10:1::10"
POOL6 = ["fd00:10:2::11", "fd00:10:2::12"]
CLONE_SERVER6 = "fd00:10:3::2"
CLONE_SUBNET6 = ("fd00:10:3::", 64)
COLLECTOR = "10.10.6.2"     # lab.sh routers-up: the col namespace, two router hops away
COLLECTOR_FILTER = "udp dst port 4789"  # the VXLAN clones as the collector's eth0 gets them
CLONE_SCENARIOS = ("keepalive", "newconn", "bulk", "tls")
CLONE_TARGET = 0.85  # cloning on >= 0.85x cloning off, on every row
# Priority of the bench's own tc u32 + mirred filters (the "tc mirred" rows): another
# priority than the clone engine's, so that neither touches the other's filter.
MIRRED_PRIO = 7

# The client and server namespaces stand for the outside world, many hosts with many
# addresses: a single client address may use the whole port range and reuse its TIME_WAIT
# ports, as many clients together would. Applied identically whichever load balancer runs,
# and never to the SE (where both load balancers run): it keeps the kernel's defaults.
CLIENT_SIDE_TUNING = {"net.ipv4.ip_local_port_range": "10000 60999",
                      "net.ipv4.tcp_tw_reuse": "1"}
TUNED_ROLES = ("cli", "srv")

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

    def up(self, stock_everywhere=False):
        """lab.sh up, then the sysctl rule: every namespace back on the kernel's defaults
        (whatever lab.sh set), then, unless @stock_everywhere, CLIENT_SIDE_TUNING on the
        client and server namespaces only."""
        subprocess.run([LAB_SH, "up"], env=self.env, check=True)
        self.sysctl_notes = {}
        for role in ("cli", "se", "srv", "tap"):
            self.sysctl_notes[role] = restore_stock(self, role)
        if not stock_everywhere:
            for role in TUNED_ROLES:
                set_sysctls(self, role, CLIENT_SIDE_TUNING)
        self.verify_se_stock(("cli", "se", "srv", "tap") if stock_everywhere else ("se",))
        self.rps_default("tap", "eth0")
        self.sensor_capture_only("tap", "eth0")
        # The tests turn tx checksumming off on tap0 so that their captures
        # show complete checksums (a veth never computes them). Here tap0 gets
        # back the checksum offload every NIC has, as srv0 has it: otherwise
        # each clone, and only the clone, is checksummed in software.
        subprocess.run(self.cmd("se", "ethtool", "-K", "tap0", "tx", "on"), check=True,
                       stdout=subprocess.DEVNULL)

    def routers_up(self, offloads):
        """lab.sh routers-up: r1, r2 and the collector col behind rtr0. With @offloads, rtr0
        gets the offloads srv0 and tap0 have (the collector side stays wire-size, as a
        sensor's capture would)."""
        subprocess.run([LAB_SH, "routers-up"], env=self.env, check=True)
        for role in ("r1", "r2"):
            for ifname in ("eth0", "eth1"):
                self.rps_default(role, ifname)
        self.rps_default("col", "eth0")
        if offloads:
            subprocess.run(self.cmd("se", "ethtool", "-K", "rtr0", "tso", "on", "gso", "on",
                                    "tx", "on"), check=True, stdout=subprocess.DEVNULL)

    def rps_default(self, role, ifname):
        """Receive packet steering of @role's @ifname back to the kernel's default, off.
        lab.sh spreads what the clone server and the collector's path receive over every CPU by
        flow hash, as a sensor's NIC does with RSS: the tests check each flow's order there.
        On a NIC that steering costs the sensor nothing on the SE's CPUs; here RPS's
        inter-processor interrupts run on the same 2 CPUs as the SE, and in a virtual machine
        each is an exit to the hypervisor, charged to the SE sending the clone. The bench counts
        frames, not their order: the receivers keep the kernel's defaults, the same for tc
        mirred, cloning and VXLAN."""
        path = f"/sys/class/net/{ifname}/queues/rx-0/rps_cpus"
        subprocess.run(self.cmd(role, "sh", "-c", f"echo 0 > {path}"), check=True)
        mask = self.run(role, "cat", path).stdout.strip()
        if int(mask.replace(",", ""), 16):
            raise RuntimeError(f"{role} {ifname}: rps_cpus is still {mask}")

    def sensor_capture_only(self, role, ifname):
        """The clone server (@role's @ifname) takes frames as a capture-only sensor does:
        bench/sensor.bpf.c at its tc ingress ends every TCP frame after the veth's counters
        and any capture have seen it, instead of the namespace's IP stack routing and
        discarding each one (the clones are addressed to it, a bare mirror's are not, so the
        stack did that for the clones only). ARP and ICMP still reach the stack. On a real
        sensor that work is the sensor host's; here it ran on the SE's CPUs. The same for
        tc mirred and cloning; `se` is untouched."""
        if not os.path.exists(SENSOR_BPF):
            raise RuntimeError(f"{SENSOR_BPF} missing, run make first")
        self.run(role, "tc", "qdisc", "add", "dev", ifname, "clsact")
        self.run(role, "tc", "filter", "add", "dev", ifname, "ingress", "prio", "1", "bpf",
                 "direct-action", "obj", SENSOR_BPF, "sec", "tc")
        out = self.run(role, "tc", "filter", "show", "dev", ifname, "ingress").stdout
        if "sensor.bpf.o" not in out or "direct-action" not in out:
            raise RuntimeError(f"{role} {ifname}: sensor program not attached: {out}")

    def verify_se_stock(self, roles=("se",)):
        """Raises unless every net.ipv4 / net.core sysctl of @roles equals a fresh
        namespace's."""
        for role in roles:
            diff = differing(self, role)
            if diff:
                raise RuntimeError(f"{role} namespace not on the kernel's default sysctls: " +
                                   ", ".join(f"{k}={v[0]!r} (default {v[1]!r})"
                                             for k, v in diff.items()))

    def sysctl_summary(self, stock_everywhere):
        """One line per namespace saying what the bench reset and what it tuned."""
        lines = []
        for role in ("cli", "se", "srv", "tap"):
            reset = self.sysctl_notes.get(role, {})
            r = ", ".join(f"{k} {v[0]!r} -> {v[1]!r}" for k, v in reset.items())
            tuned = not stock_everywhere and role in TUNED_ROLES
            lines.append(f"  {role}: " + ("tuned " + ", ".join(
                f"{k}={v!r}" for k, v in CLIENT_SIDE_TUNING.items()) if tuned
                else "kernel defaults") +
                (f" (reset to the default after lab.sh up: {r})" if r else ""))
        return "\n".join(lines)

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


def hostport(ip):
    """@ip as it goes before ":port" (in a URL, a bind line): IPv6 in brackets."""
    return f"[{ip}]" if ":" in ip else ip


def wait_for(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.1)
    raise RuntimeError(f"timed out waiting for {what}")


# ---- sysctls: the defaults are those of a namespace created for the purpose ----

SYSCTL_DIRS = ("/proc/sys/net/ipv4", "/proc/sys/net/core")
# Not settings: a per-namespace secret the kernel generates when first needed.
NOT_SETTINGS = {"net.ipv4.tcp_fastopen_key"}
READ_SYSCTLS = r"""
import json, os, sys
out = {}
for d in sys.argv[1:]:
    for f in sorted(os.listdir(d)):
        p = os.path.join(d, f)
        if not os.path.isfile(p) or not os.access(p, os.R_OK):
            continue
        try:
            with open(p) as fh:
                out[p[len("/proc/sys/"):].replace("/", ".")] = " ".join(fh.read().split())
        except OSError:
            pass
print(json.dumps(out))
"""
_stock = None


def read_sysctls(ns):
    out = subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-c", READ_SYSCTLS,
                          *SYSCTL_DIRS], capture_output=True, text=True, check=True,
                         timeout=TOOL_TIMEOUT).stdout
    return json.loads(out)


def stock_sysctls(prefix):
    """net.ipv4.* and net.core.* of a namespace just created: the kernel's defaults."""
    global _stock
    if _stock is None:
        ns = prefix + "stock"
        subprocess.run(["ip", "netns", "del", ns], stderr=subprocess.DEVNULL, check=False)
        subprocess.run(["ip", "netns", "add", ns], check=True)
        try:
            _stock = read_sysctls(ns)
        finally:
            subprocess.run(["ip", "netns", "del", ns], check=False)
    return _stock


def differing(lab, role):
    """{name: (value, default)} of the sysctls of @role that differ from the defaults."""
    cur, ref = read_sysctls(lab.ns(role)), stock_sysctls(lab.prefix)
    return {k: (cur[k], ref[k]) for k in ref
            if k in cur and cur[k] != ref[k] and k not in NOT_SETTINGS}


def set_sysctls(lab, role, values):
    for k, v in values.items():
        lab.run(role, "sysctl", "-qw", f"{k}={v}")


def restore_stock(lab, role):
    """Writes the default back into every sysctl of @role that differs; returns what changed."""
    diff = differing(lab, role)
    set_sysctls(lab, role, {k: v[1] for k, v in diff.items()})
    return diff


def listening(lab, role, port):
    return lambda: f":{port} " in lab.run(role, "ss", "-Hltn", check=False).stdout + " "


# The pool servers' nginx.conf up to the server block (bench/tlspool.py adds TLS to it).
NGINX_HEAD = """
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
"""

NGINX_CONF = NGINX_HEAD + """    server {{
        listen {host}:80 reuseport backlog=8192;
        listen {host}:{clone_port} reuseport backlog=8192;
        location / {{ return 200 "server {ip}\\n"; }}
    }}
}}
"""


def start_pool(lab, work, pool=POOL):
    """nginx on each address of @pool (POOL, or POOL6 for the IPv6 rows), iperf3 on the first."""
    for ip in pool:
        d = os.path.join(work, "nginx-" + ip)
        os.makedirs(d)
        with open(os.path.join(d, "nginx.conf"), "w") as f:
            f.write(NGINX_CONF.format(dir=d, ip=ip, host=hostport(ip), clone_port=CLONE_WEB_PORT))
        lab.spawn("srv", "nginx", "-c", os.path.join(d, "nginx.conf"))
    for port in (BULK_PORT, CLONE_BULK_PORT):
        lab.spawn("srv", "iperf3", "-s", "-B", pool[0], "-p", str(port))
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

    def __init__(self, name, http_port, tls_port, bulk_port, vip=VIP, pool=POOL):
        self.name = name
        self.http_port, self.tls_port, self.bulk_port = http_port, tls_port, bulk_port
        self.vip, self.pool = vip, pool  # VIP6 and POOL6 for the IPv6 rows
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


def start_haproxy(lab, work, threads, t, splice=False, certdir=None):
    """HAProxy with @threads threads, its configuration and log in @work, the certificate
    make_cert() wrote in @certdir (default @work)."""
    return run_haproxy(lab, work, t, HAPROXY_CFG.format(
        threads=threads, vip=hostport(t.vip), http=t.http_port, tls=t.tls_port,
        bulk=t.bulk_port, crt=f"{certdir or work}/combined.pem", s1=hostport(t.pool[0]),
        s2=hostport(t.pool[1]), bulkport=BULK_PORT,
        splice="\n    option splice-auto" if splice else "",
        # splice pipes need descriptors too (hard limit 20000)
        maxconn=7000 if splice else 9980))


def run_haproxy(lab, work, t, config):
    """HAProxy in the se namespace with configuration text @config, written with its log in
    @work; returns its process once it listens on @t's HTTP port."""
    cfg = os.path.join(work, "haproxy.cfg")
    with open(cfg, "w") as f:
        f.write(config)
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
    """clonelbd's REST API on its Unix socket. One HTTP/1.1 connection, kept open between
    requests (the PATCH row times requests, not connection set-ups); reopened if the daemon
    closed it."""

    def __init__(self, path, timeout=30):
        self.path, self.timeout = path, timeout
        self.conn = None

    def _connect(self):
        conn = http.client.HTTPConnection("localhost", timeout=self.timeout)
        conn.sock = socket.socket(socket.AF_UNIX)
        conn.sock.settimeout(self.timeout)
        conn.sock.connect(self.path)
        return conn

    def call(self, method, path, body=None):
        """(status, parsed body or None) of one request."""
        data = json.dumps(body) if body is not None else None
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = self._connect()
            try:
                self.conn.request(method, path, body=data,
                                  headers={"Content-Type": "application/json"})
                r = self.conn.getresponse()
                text = r.read().decode()
                break
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError,
                    http.client.CannotSendRequest):
                self.close()
                if attempt:
                    raise
        if r.will_close:
            self.close()
        try:
            parsed = json.loads(text) if text else None
        except ValueError:
            parsed = text
        return r.status, parsed

    def req(self, method, path, body=None):
        status, parsed = self.call(method, path, body)
        if status >= 300:
            raise RuntimeError(f"{method} {path}: {status} {parsed}")
        return parsed

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def start_clonelbd(lab, work, threads, role="se", name="clonelbd"):
    """clonelbd with @threads workers in namespace @role, its store and socket in @work
    (an existing store is kept: a restart with another worker count serves the same
    configuration)."""
    sock = os.path.join(work, name + ".sock")
    if os.path.exists(sock):
        os.unlink(sock)  # a stopped daemon's: wait for the new one's
    logf = open(os.path.join(work, name + ".log"), "ab")
    p = lab.spawn(role, CLONELBD, "--db", os.path.join(work, name + ".db"), "--socket", sock,
                  "--workers", str(threads), "--log-level", "warn", stdout=logf, stderr=logf)
    logf.close()
    wait_for(lambda: os.path.exists(sock) or p.poll() is not None, 10, "clonelbd socket")
    if p.poll() is not None:
        with open(os.path.join(work, name + ".log")) as f:
            log(f.read()[-2000:])
        raise RuntimeError(f"clonelbd exited with {p.returncode}")
    return p, Api(sock)


def stop(lab, p, timeout=15):
    """Ends one process the bench started (SIGTERM, then SIGKILL after @timeout)."""
    if p.poll() is None:
        p.terminate()
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    if p in lab.procs:
        lab.procs.remove(p)


def setup_clonelb(api, t, cert, key, clone_profile=None, suffix=""):
    """Services equivalent to HAProxy's: plain, TLS, bulk. With @clone_profile (a
    trafficcloneprofile body), the services carry it and use pools of their own: the same
    servers on the clone back-end ports, without health monitor (health checks are not
    cloned; on ports of their own they would blur the frame count of the cloned services)."""
    if not suffix:
        api.req("POST", "/api/sslkeyandcertificate",
                {"name": "bench-cert", "certificate": {"certificate": cert}, "key": key})
        api.req("POST", "/api/healthmonitor",
                {"name": "bench-tcp", "type": "HEALTH_MONITOR_TCP", "send_interval": 10})
        api.req("POST", "/api/pool", {"name": "web", "health_monitor_refs": ["bench-tcp"],
                                      "servers": [{"ip": {"addr": ip}} for ip in t.pool]})
        api.req("POST", "/api/pool", {"name": "bulk", "health_monitor_refs": ["bench-tcp"],
                                      "servers": [{"ip": {"addr": t.pool[0]},
                                                   "port": BULK_PORT}]})
    extra = {}
    web_pool, bulk_pool = "web", "bulk"
    if clone_profile:
        api.req("POST", "/api/trafficcloneprofile", clone_profile)
        extra = {"traffic_clone_profile_ref": clone_profile["name"]}
        web_pool, bulk_pool = "web" + suffix, "bulk" + suffix
        api.req("POST", "/api/pool", {"name": web_pool,
                                      "servers": [{"ip": {"addr": ip}, "port": CLONE_WEB_PORT}
                                                  for ip in t.pool]})
        api.req("POST", "/api/pool", {"name": bulk_pool,
                                      "servers": [{"ip": {"addr": t.pool[0]},
                                                   "port": CLONE_BULK_PORT}]})
    vip = [{"ip_address": {"addr": t.vip}}]
    api.req("POST", "/api/virtualservice",
            {"name": "web" + suffix, "vip": vip, "pool_ref": web_pool,
             "services": [{"port": t.http_port}, {"port": t.tls_port, "enable_ssl": True}],
             "ssl_key_and_certificate_refs": ["bench-cert"], **extra})
    api.req("POST", "/api/virtualservice",
            {"name": "bulk" + suffix, "vip": vip, "pool_ref": bulk_pool,
             "services": [{"port": t.bulk_port}], **extra})
    t.services = ["web" + suffix, "bulk" + suffix]

