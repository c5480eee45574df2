"""Shared fixtures of the integration tests: the lab namespaces, clonelbd, its API, the shell, nginx.

Every fixture cleans up after itself, also when the test fails. Run as root
with /usr/bin/python3 -m pytest (Debian's python sees python3-scapy).
"""
import contextlib
import hashlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("CLONELB_BUILD", os.path.join(ROOT, "build"))
CLONELBD = os.path.join(BUILD, "clonelbd")
CLONELB = os.path.join(BUILD, "clonelb")
LAB = os.path.join(ROOT, "tests", "lab", "lab.sh")

VIP = "10.10.1.10"
CLIENT_IP = "10.10.1.2"
SE_CLI_IP = "10.10.1.1"
SE_SRV_IP = "10.10.2.1"
SE_TAP_IP = "10.10.3.1"
POOL_IPS = ["10.10.2.11", "10.10.2.12"]
TAP_IP = "10.10.3.2"
TAP_SUBNET = "10.10.3.0/24"
# The same links in IPv6 (tests/lab/lab.sh).
VIP6 = "fd00:10:1::10"
CLIENT_IP6 = "fd00:10:1::2"
SE_SRV_IP6 = "fd00:10:2::1"
POOL_IPS6 = ["fd00:10:2::11", "fd00:10:2::12"]
TAP_IP6 = "fd00:10:3::2"
TAP_SUBNET6 = "fd00:10:3::/64"
TYPES = ["healthmonitor", "sslkeyandcertificate", "trafficcloneprofile", "pool", "vsvip", "virtualservice"]


def hostport(ip):
    """@ip as it goes before ":port": an IPv6 address in brackets."""
    return f"[{ip}]" if ":" in ip else ip


def wait_for(pred, timeout=10.0, interval=0.05, what="condition"):
    """Polls pred() until it returns a true value, which is returned; fails after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def end_process(p, ask=None, timeout=10):
    """Ends child @p: ask() (default: SIGTERM) lets it stop by itself within
    @timeout seconds, then it is killed. Does nothing if it already exited."""
    if p is None or p.poll() is not None:
        return
    (ask or p.terminate)()
    try:
        p.wait(timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


class Namespaces:
    """Runs commands in the namespaces of a lab; a subclass sets self.ns, each role's namespace."""

    def cmd(self, role, *argv):
        """The argv that runs argv in namespace role."""
        return ["ip", "netns", "exec", self.ns[role], *argv]

    def run(self, role, *argv, check=True, timeout=60, **kw):
        return subprocess.run(self.cmd(role, *argv), check=check, timeout=timeout,
                              capture_output=True, text=True, **kw)

    def popen(self, role, *argv, **kw):
        return subprocess.Popen(self.cmd(role, *argv), **kw)


class Lab(Namespaces):
    """The namespaces of tests/lab/lab.sh under one prefix."""

    def __init__(self, prefix):
        self.prefix = prefix
        self.ns = {r: prefix + r for r in ("cli", "se", "srv", "tap")}
        self.env = dict(os.environ, LAB_PREFIX=prefix)

    def up(self):
        subprocess.run([LAB, "up"], env=self.env, check=True)

    def down(self):
        subprocess.run([LAB, "down"], env=self.env, check=False)


@pytest.fixture(scope="module")
def lab():
    prefix = os.environ.get("LAB_PREFIX") or f"t{os.getpid() % 10000}-"
    lb = Lab(prefix)
    lb.up()
    try:
        yield lb
    finally:
        lb.down()


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=30):
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


class Daemon:
    """A clonelbd on a throw-away database and socket, in the lab's se namespace (or the host's)."""

    def __init__(self, lab, workdir, extra_args=(), role="se"):
        self.lab = lab
        self.role = role  # the lab namespace it runs in (the SE group lab has se1, se2)
        self.dir = workdir
        self.db = os.path.join(workdir, "config.db")
        self.socket = os.path.join(workdir, "api.sock")
        self.log = os.path.join(workdir, "clonelbd.log")
        self.extra_args = list(extra_args)
        self.proc = None

    def start(self):
        argv = [CLONELBD, "--db", self.db, "--socket", self.socket, "--log-level", "debug",
                *self.extra_args]
        if self.lab:
            argv = self.lab.cmd(self.role, *argv)
        logf = open(self.log, "ab")
        self.proc = subprocess.Popen(argv, stdout=logf, stderr=logf)
        logf.close()
        wait_for(self._ready, timeout=20, what="clonelbd API socket")
        return self

    def _ready(self):
        if self.proc.poll() is not None:
            raise AssertionError(f"clonelbd exited with {self.proc.returncode}:\n{self.logtext()}")
        try:
            return self.api("GET", "/api/pool")[0] == 200
        except OSError:
            return False

    def logtext(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def stop(self, sig=signal.SIGTERM, timeout=20):
        """Stops the daemon with sig; returns its exit status."""
        if not self.proc or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"clonelbd did not stop on {sig} within {timeout}s")

    def api(self, method, path, body=None, headers=None, raw=None):
        """One request on the Unix socket; returns (status, parsed JSON or text or None)."""
        conn = UnixHTTPConnection(self.socket)
        data = raw if raw is not None else (json.dumps(body) if body is not None else None)
        hdrs = {"Content-Type": "application/json", **(headers or {})}
        try:
            conn.request(method, path, body=data, headers=hdrs)
            resp = conn.getresponse()
            text = resp.read().decode(errors="replace")
        finally:
            conn.close()
        try:
            return resp.status, json.loads(text) if text else None
        except ValueError:
            return resp.status, text

    def everything(self):
        """The whole stored configuration as the API shows it, in every tenant."""
        out = {}
        for t in TYPES:
            status, body = self.api("GET", f"/api/{t}", headers={"X-Avi-Tenant": "*"})
            assert status == 200, body
            out[t] = body["results"]
        return out

    def ok(self, method, path, body=None):
        """Like api() but asserts a 2xx status and returns the body."""
        status, out = self.api(method, path, body)
        assert 200 <= status < 300, f"{method} {path} -> {status}: {out}"
        return out

    def cli(self, *args, input=None, check=None, timeout=60):
        """Runs the clonelb shell against this daemon."""
        r = subprocess.run([CLONELB, "--socket", self.socket, *args], input=input,
                           capture_output=True, text=True, timeout=timeout)
        if check is not None:
            assert r.returncode == check, f"clonelb {args} -> {r.returncode}\n{r.stdout}\n{r.stderr}"
        return r

    def pid(self):
        return self.proc.pid


@pytest.fixture
def workdir():
    d = tempfile.mkdtemp(prefix="clonelb-test-")
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


@contextlib.contextmanager
def started(daemon):
    """Starts Daemon @daemon and yields it; stops it afterwards, also when the body fails."""
    daemon.start()
    try:
        yield daemon
    finally:
        daemon.stop()
        if daemon.proc and daemon.proc.poll() is None:
            daemon.proc.kill()


def write_token(workdir, token):
    """Writes @token to <workdir>/token, mode 0600, for --token-file; returns its path."""
    path = os.path.join(workdir, "token")
    with open(path, "w") as f:
        f.write(token + "\n")
    os.chmod(path, 0o600)
    return path


@pytest.fixture
def daemon(lab, workdir):
    with started(Daemon(lab, workdir)) as d:
        yield d


# What every lab nginx starts with: one worker, everything in its own directory.
NGINX_HEAD = """
worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
"""

NGINX_CONF = NGINX_HEAD + """    keepalive_requests 1000000;
    client_max_body_size 64m;
    server {{
        listen {host}:{port} reuseport;
        location / {{ return 200 "server {ip}\\n"; }}
        location /big {{ alias {dir}/big; }}
    }}
}}
"""


class Nginx:
    """One nginx pool server in the lab's srv namespace, on one address."""

    def __init__(self, lab, ip, port=80, workdir=None):
        self.lab, self.ip, self.port = lab, ip, port
        self.dir = tempfile.mkdtemp(prefix=f"nginx-{ip}-", dir=workdir)
        # nginx's workers do not run as root: mkdtemp's 0700 would hide /big from them.
        for d in ([workdir] if workdir else []) + [self.dir]:
            os.chmod(d, 0o755)
        with open(os.path.join(self.dir, "nginx.conf"), "w") as f:
            f.write(NGINX_CONF.format(dir=self.dir, ip=ip, host=hostport(ip), port=port))
        with open(os.path.join(self.dir, "big"), "wb") as f:
            f.write(os.urandom(1 << 20))
        os.chmod(os.path.join(self.dir, "big"), 0o644)
        self.proc = None

    def start(self):
        self.proc = self.lab.popen("srv", "nginx", "-c", os.path.join(self.dir, "nginx.conf"),
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(self._listening, timeout=10, what=f"nginx on {self.ip}:{self.port}")
        return self

    def _listening(self):
        r = self.lab.run("srv", "ss", "-Hltn", f"src {hostport(self.ip)}:{self.port}", check=False)
        return str(self.port) in r.stdout

    def stop(self):
        end_process(self.proc)
        shutil.rmtree(self.dir, ignore_errors=True)


@contextlib.contextmanager
def nginx_pool(lab, port=80, ips=None):
    """nginx on both pool addresses (@ips: POOL_IPS, or POOL_IPS6); each answers
    "server <ip>" and serves /big (1 MiB). Stops every server it started, also
    when a later one fails to start."""
    d = tempfile.mkdtemp(prefix="nginx-pool-")
    servers = []
    try:
        for ip in ips or POOL_IPS:
            servers.append(Nginx(lab, ip, port=port, workdir=d).start())
        yield servers
    finally:
        for s in servers:
            s.stop()
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def pool_servers(lab):
    """nginx on both pool addresses, port 80, for one test."""
    with nginx_pool(lab) as servers:
        yield servers


def curl(lab, url, *args, timeout=10):
    """curl from the client namespace; returns the CompletedProcess."""
    return lab.run("cli", "curl", "-sS", "--max-time", str(timeout), *args, url,
                   check=False, timeout=timeout + 5)


@pytest.fixture(scope="session")
def tls_cert():
    """A self-signed certificate and key for TLS services (PEM text)."""
    d = tempfile.mkdtemp(prefix="clonelb-cert-")
    try:
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                        "-subj", "/CN=web.lab", "-addext", "subjectAltName=DNS:web.lab",
                        "-keyout", f"{d}/key.pem", "-out", f"{d}/cert.pem"],
                       check=True, capture_output=True)
        with open(f"{d}/cert.pem") as c, open(f"{d}/key.pem") as k:
            yield {"certificate": c.read(), "key": k.read(),
                   "cert_path": f"{d}/cert.pem", "key_path": f"{d}/key.pem"}
    finally:
        shutil.rmtree(d, ignore_errors=True)


# A client in the lab's client namespace that holds TCP connections to VIP and
# talks on command, one answer line each:
#   "open N [PORT]"      N idle connections to VIP:PORT (default: the holder's
#                        port); answers "opened K", K the handshakes completed
#   "req [I [TIMEOUT]]"  an HTTP/1.1 request on connection I (default 0);
#                        answers its status line, "closed", "timeout" or "error ..."
#   "get [I [TIMEOUT]]"  the same, answering the status line and the body
#   "close [I J]"        closes connections I..J-1 (default: all, forgotten)
HOLDER = r"""
import resource, select, socket, sys
host, default_port = sys.argv[1], int(sys.argv[2])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
socks = []
def say(*a):
    print(*a, flush=True)
def request(i, timeout, with_body):
    s = socks[i]; s.setblocking(True); s.settimeout(timeout)
    data = b""
    try:
        s.sendall(b"GET / HTTP/1.1\r\nHost: lab\r\n\r\n")
        while b"\r\n\r\n" not in data or (with_body and not data.endswith(b"\n")):
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    except socket.timeout:
        return "timeout"
    except OSError as e:
        return f"error {e}"
    head, _, body = data.partition(b"\r\n\r\n")
    if not head:
        return "closed"
    status = head.split(b"\r\n")[0].decode()
    return f"{status} {body.decode().strip()}" if with_body else status
for line in sys.stdin:
    cmd = line.split()
    if cmd[0] == "open":
        n = int(cmd[1]); port = int(cmd[2]) if len(cmd) > 2 else default_port; new = []
        for _ in range(n):
            s = socket.socket(); s.setblocking(False)
            s.connect_ex((host, port)); new.append(s)
        pending = {s.fileno(): s for s in new}
        poller = select.poll()
        for fd in pending:
            poller.register(fd, select.POLLOUT)
        while pending:
            ready = poller.poll(10000)
            if not ready:
                break
            for fd, _ in ready:
                poller.unregister(fd)
                pending.pop(fd, None)
        bad = sum(1 for s in new if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR))
        socks += new
        say("opened", len(new) - len(pending) - bad)
    elif cmd[0] in ("req", "get"):
        i = int(cmd[1]) if len(cmd) > 1 else 0
        timeout = float(cmd[2]) if len(cmd) > 2 else 10.0
        say(request(i, timeout, cmd[0] == "get"))
    elif cmd[0] == "close":
        if len(cmd) > 2:
            for s in socks[int(cmd[1]):int(cmd[2])]:
                s.close()
        else:
            for s in socks:
                s.close()
            socks = []
        say("closed")
"""


class Holder:
    """Connections held open from the client namespace (see HOLDER); stop() ends it."""

    def __init__(self, lab, port=80):
        self.p = lab.popen("cli", "/usr/bin/python3", "-c", HOLDER, VIP, str(port),
                           stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def cmd(self, line):
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()
        out = self.p.stdout.readline().strip()
        assert out, f"holder exited on {line!r}"
        return out

    def open(self, port, n):
        """Opens @n idle connections to VIP:@port; returns how many the kernel completed."""
        return int(self.cmd(f"open {n} {port}").split()[1])

    def stop(self):
        end_process(self.p, ask=self.p.stdin.close)  # end of input: it leaves by itself


@pytest.fixture
def holders(lab):
    """holders(port=80) starts a Holder; every one started is stopped at the end."""
    made = []

    def make(port=80):
        made.append(Holder(lab, port))
        return made[-1]
    try:
        yield make
    finally:
        for h in made:
            h.stop()


# ---- HTTPS pool servers (test_tls_pool.py, test_clone_plaintext.py) ---------

HTTPS_CONF = NGINX_HEAD + """    client_max_body_size 4m;
    server {{
        listen {host}:443 ssl;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        ssl_client_certificate {ca};
        ssl_verify_client optional;
        ssl_session_cache shared:tls:1m;
        ssl_protocols TLSv1.2;
        location / {{
            return 200 "server {ip} sni=$ssl_server_name client=$ssl_client_s_dn reused=$ssl_session_reused\\n";
        }}
        location = /big {{ alias {dir}/big; }}
        location /up/ {{ root {dir}; dav_methods PUT; create_full_put_path on; }}
    }}
}}
"""


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def pki():
    """Two CAs; a server certificate of CA "ca1" for pool.lab and both pool addresses, one of
    CA "ca2" for the same names, a client certificate of ca1. Paths and PEM texts."""
    d = tempfile.mkdtemp(prefix="clonelb-pki-")
    os.chmod(d, 0o755)  # nginx's workers read the files
    try:
        for ca in ("ca1", "ca2"):
            openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
                    f"/CN=clonelb test {ca}", "-keyout", f"{ca}.key", "-out", f"{ca}.pem", cwd=d)
        san = "subjectAltName=DNS:pool.lab," + ",".join(f"IP:{ip}" for ip in POOL_IPS)
        for name, ca, subj, ext in (("srv1", "ca1", "/CN=pool.lab", san),
                                    ("srv2", "ca2", "/CN=pool.lab", san),
                                    ("client", "ca1", "/CN=clonelb-client", "extendedKeyUsage=clientAuth")):
            openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", subj, "-keyout",
                    f"{name}.key", "-out", f"{name}.csr", cwd=d)
            with open(os.path.join(d, f"{name}.ext"), "w") as f:
                f.write(ext + "\n")
            openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
                    "-CAcreateserial", "-days", "2", "-extfile", f"{name}.ext", "-out",
                    f"{name}.pem", cwd=d)
        for f in os.listdir(d):
            os.chmod(os.path.join(d, f), 0o644)
        out = {"dir": d}
        for f in ("ca1", "ca2", "srv1", "srv2", "client"):
            with open(os.path.join(d, f"{f}.pem")) as fh:
                out[f] = fh.read()
        with open(os.path.join(d, "client.key")) as fh:
            out["client.key"] = fh.read()
        yield out
    finally:
        shutil.rmtree(d, ignore_errors=True)


class HttpsServer:
    """One nginx HTTPS server of https_servers: its address, directory, process, and the
    sha256 of the /big it serves."""

    def __init__(self, ip, dir, proc, big_sha256):
        self.ip, self.dir, self.proc, self.big_sha256 = ip, dir, proc, big_sha256


@contextlib.contextmanager
def https_pool(lab, pki, workdir, ips=None, certs=("srv1", "srv2")):
    """nginx HTTPS on the pool addresses @ips (POOL_IPS, or POOL_IPS6), port 443, with the
    certificates @certs of pki: by default the first with ca1's, the second with ca2's. Each answers its address, the SNI it got
    and the client's DN on /, serves /big (the same 1 MiB on both) and stores what is PUT
    under /up/ in <dir>/up/. Yields the HttpsServers; stops every one it started."""
    servers = []
    big = os.urandom(1 << 20)
    os.chmod(workdir, 0o755)
    try:
        for ip, name in zip(ips or POOL_IPS, certs):
            d = tempfile.mkdtemp(prefix=f"nginx-tls-{ip}-", dir=workdir)
            os.chmod(d, 0o755)
            with open(os.path.join(d, "big"), "wb") as f:
                f.write(big)
            os.chmod(os.path.join(d, "big"), 0o644)
            os.mkdir(os.path.join(d, "up"))
            os.chmod(os.path.join(d, "up"), 0o777)  # nginx's workers write the uploads
            with open(os.path.join(d, "nginx.conf"), "w") as f:
                f.write(HTTPS_CONF.format(dir=d, ip=ip, host=hostport(ip),
                                          cert=f"{pki['dir']}/{name}.pem",
                                          key=f"{pki['dir']}/{name}.key",
                                          ca=f"{pki['dir']}/ca1.pem"))
            proc = lab.popen("srv", "nginx", "-c", os.path.join(d, "nginx.conf"),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            servers.append(HttpsServer(ip, d, proc, hashlib.sha256(big).hexdigest()))
            wait_for(lambda: ":443" in lab.run("srv", "ss", "-Hltn", f"src {hostport(ip)}:443",
                                               check=False).stdout, what=f"nginx on {ip}:443")
        yield servers
    finally:
        for s in servers:
            end_process(s.proc)


@pytest.fixture
def https_servers(lab, pki, workdir):
    """https_pool() on POOL_IPS, for one test."""
    with https_pool(lab, pki, workdir) as servers:
        yield servers
