"""The API under attack (issue 8 items 2, 3, 4, 9, 10): HTTPS only, decisions before the body,
bounded connections and memory, slow clients, descriptor exhaustion, TLS suites.

The limits asserted here are the ones docs/api.md states (src/api/api.h). The
daemon runs in the lab's se namespace; raw clients open their sockets there
from a thread that entered the namespace (setns applies to one thread).
"""
import ctypes
import hashlib
import json
import os
import re
import resource
import socket
import ssl
import stat
import struct
import subprocess
import threading
import time

import pytest

from conftest import (CLIENT_IP, CLONELBD, POOL_IPS, SE_CLI_IP, VIP, Daemon, UnixHTTPConnection,
                      curl, end_process, started, wait_for, write_token)

# src/api/api.h
MAX_BODY = 1 << 20
UNIX_MAX_CONN = 64
TCP_MAX_CONN = 256
TCP_MAX_PER_ADDR = 16
QUEUE_MAX = 64  # src/api/conns.c: accepted, not yet started by MHD
CONN_MEMORY = 32 * 1024
PORT = 9443
TOKEN = "hardening-" + "7" * 22

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def in_ns(lab, role, fn):
    """Runs fn() in a thread inside namespace role; returns its result (sockets it made stay there)."""
    out = {}

    def run():
        try:
            with open(f"/run/netns/{lab.ns[role]}") as f:
                if _libc.setns(f.fileno(), CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), "setns")
            out["v"] = fn()
        except BaseException as e:  # handed to the caller
            out["e"] = e

    t = threading.Thread(target=run)
    t.start()
    t.join()
    if "e" in out:
        raise out["e"]
    return out["v"]


def tcp(lab, src=None, timeout=10):
    """A TCP socket in se, bound to @src (one of 127/8) when given."""
    def make():
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(timeout)
        if src:
            s.bind((src, 0))
        return s
    return in_ns(lab, "se", make)


def tls_ctx(cafile=None):
    if cafile:
        ctx = ssl.create_default_context(cafile=cafile)
    else:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def tls_conn(lab, src=None, timeout=10, cafile=None):
    s = tcp(lab, src, timeout)
    s.connect(("127.0.0.1", PORT))
    return tls_ctx(cafile).wrap_socket(s, server_hostname="127.0.0.1")


def read_response(s):
    """Reads one HTTP response from s; returns (status, headers dict, body text)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    hdrs = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
    n = int(hdrs.get("content-length", "0"))
    while len(body) < n:
        chunk = s.recv(65536)
        if not chunk:
            break
        body += chunk
    return int(lines[0].split()[1]), hdrs, body.decode()


def head_only(method, path, extra=()):
    return ("\r\n".join([f"{method} {path} HTTP/1.1", "Host: clonelb", *extra]) + "\r\n\r\n").encode()


def https(lab, path, *args, token=TOKEN, cafile=None):
    """curl over HTTPS from se; returns (status, body)."""
    auth = ["-H", f"Authorization: Bearer {token}"] if token else []
    verify = ["--cacert", cafile] if cafile else ["-k"]
    r = lab.run("se", "curl", "-sS", "--max-time", "10", *verify, *auth, "-o", "-", "-w",
                "\n%{http_code}", *args, f"https://127.0.0.1:{PORT}{path}", check=False, timeout=20)
    body, _, code = r.stdout.rpartition("\n")
    return int(code or 0), body


def get_unix(d, path, timeout=5):
    """GET on the Unix socket; (status, body), or None when the socket did not take the
    connection or did not answer within timeout seconds."""
    conn = UnixHTTPConnection(d.socket, timeout=timeout)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        text = r.read().decode(errors="replace")
        return r.status, json.loads(text) if r.getheader("Content-Type") == "application/json" else text
    except (OSError, ValueError):
        return None
    finally:
        conn.close()


def metric(d, name, listener):
    """One of the API's own counters from /metrics (Unix socket)."""
    status, text = wait_for(lambda: get_unix(d, "/metrics"), timeout=20, what="/metrics")
    assert status == 200, text
    m = re.search(rf'^{name}{{listener="{listener}"}} (\d+)$', text, re.M)
    assert m, f"{name}{{listener={listener}}} missing from /metrics"
    return int(m.group(1))


def vmrss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"^VmRSS:\s+(\d+) kB", f.read(), re.M).group(1))


@pytest.fixture
def api(lab, workdir):
    """clonelbd with HTTPS on 0.0.0.0:PORT in se (self-signed certificate) and the token."""
    token = write_token(workdir, TOKEN)
    with started(Daemon(lab, workdir, ["--listen", f"0.0.0.0:{PORT}", "--token-file", token])) as d:
        d.cert = os.path.join(workdir, "api-cert.pem")
        d.token_file = token
        wait_for(lambda: https(lab, "/api/pool")[0] == 200, what="the HTTPS listener")
        yield d


def test_listen_is_https_only_with_a_generated_certificate(lab, api, workdir):
    """Plain HTTP to --listen gets no HTTP answer; HTTPS verifies against the generated
    certificate, whose key is 0600 and whose fingerprint the log names; a restart keeps it."""
    key = os.path.join(workdir, "api-key.pem")
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600, oct(os.stat(key).st_mode)
    der = ssl.PEM_cert_to_DER_cert(open(api.cert).read())
    fp = ":".join(f"{b:02X}" for b in hashlib.sha256(der).digest())
    assert f"SHA256 fingerprint {fp}" in api.logtext(), api.logtext()
    assert "self-signed, generated now" in api.logtext()

    # The served certificate is that one, and verifies (its names include 127.0.0.1).
    status, body = https(lab, "/api/pool", cafile=api.cert)
    assert status == 200 and json.loads(body)["count"] == 0, (status, body)
    with tls_conn(lab, cafile=api.cert) as s:
        assert hashlib.sha256(s.getpeercert(binary_form=True)).digest() == hashlib.sha256(der).digest()

    # Plain HTTP: no HTTP answer, nothing served, the token never helps.
    s = tcp(lab)
    s.connect(("127.0.0.1", PORT))
    s.sendall(head_only("GET", "/api/pool", [f"Authorization: Bearer {TOKEN}"]))
    got = b""
    try:
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            got += chunk
    except (ConnectionResetError, socket.timeout):
        pass
    s.close()
    assert not got.startswith(b"HTTP/"), got[:200]
    r = lab.run("se", "curl", "-sS", "--max-time", "5", f"http://127.0.0.1:{PORT}/api/pool",
                "-H", f"Authorization: Bearer {TOKEN}", check=False)
    assert r.returncode != 0 and '"count"' not in r.stdout, (r.returncode, r.stdout)

    # A restart serves the same certificate and says it was not generated again.
    api.stop()
    api.start()
    assert api.logtext().count(f"SHA256 fingerprint {fp}") == 2
    assert api.logtext().count("generated now") == 1
    wait_for(lambda: https(lab, "/api/pool", cafile=api.cert)[0] == 200, what="HTTPS after restart")


def test_given_certificate_and_flag_errors(lab, workdir, tls_cert):
    """--tls-cert/--tls-key serve that pair; one without the other, or without --listen, is refused."""
    token = os.path.join(workdir, "token")
    with open(token, "w") as f:
        f.write(TOKEN)
    base = [f"--db={workdir}/x.db", f"--socket={workdir}/x.sock"]
    for extra, msg in (
            (["--listen", f"127.0.0.1:{PORT}", "--token-file", token, "--tls-cert", tls_cert["cert_path"]],
             "--tls-cert and --tls-key go together (got only --tls-cert)"),
            (["--tls-cert", tls_cert["cert_path"], "--tls-key", tls_cert["key_path"]],
             "--tls-cert needs --listen"),
            (["--listen", f"127.0.0.1:{PORT}", "--token-file", token, "--tls-cert",
              f"{workdir}/missing.pem", "--tls-key", tls_cert["key_path"]],
             f"--tls-cert: {workdir}/missing.pem: No such file or directory")):
        r = subprocess.run(lab.cmd("se", CLONELBD, *base, *extra), capture_output=True, text=True,
                           timeout=20)
        assert r.returncode != 0 and msg in r.stderr, (extra, r.returncode, r.stderr)

    d = Daemon(lab, workdir, ["--listen", f"127.0.0.1:{PORT}", "--token-file", token, "--tls-cert",
                              tls_cert["cert_path"], "--tls-key", tls_cert["key_path"]]).start()
    try:
        der = ssl.PEM_cert_to_DER_cert(tls_cert["certificate"])
        with tls_conn(lab) as s:
            assert s.getpeercert(binary_form=True) == der
        assert tls_cert["cert_path"] in d.logtext()
        assert not os.path.exists(os.path.join(workdir, "api-cert.pem"))
    finally:
        d.stop()


def test_401_and_413_come_before_the_body(lab, api):
    """A request announcing a body is refused on its headers: no body byte is sent, the answer
    comes anyway, and the connection closes (the body is never read)."""
    cases = [
        # (headers, status, error text)
        ([f"Content-Length: {MAX_BODY}", "Content-Type: application/json"], 401,
         "missing or wrong token"),
        (["Authorization: Bearer wrong", f"Content-Length: {MAX_BODY}"], 401, "missing or wrong token"),
        ([f"Authorization: Bearer {TOKEN}", f"Content-Length: {MAX_BODY + 1}"], 413,
         f"{MAX_BODY + 1} bytes is larger than the limit of {MAX_BODY} bytes"),
        (["Transfer-Encoding: chunked"], 401, "missing or wrong token"),
        # The login is the one body a stranger may send, and a small one.
        ([f"Content-Length: {MAX_BODY}"], 413, "larger than the limit of 4096 bytes"),
    ]
    for i, (hdrs, status, text) in enumerate(cases):
        path = "/api/login" if i == 4 else "/api/pool"
        with tls_conn(lab) as s:
            s.sendall(head_only("POST", path, hdrs))
            got, h, body = read_response(s)
            assert got == status and text in json.loads(body)["error"], (hdrs, got, body)
            assert h.get("connection") == "close", h
            assert s.recv(1) == b""  # closed: the announced body is not waited for
    # The same on the Unix socket, where no token is needed.
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(10)
        s.connect(api.socket)
        s.sendall(head_only("PUT", "/api/pool/x", [f"Content-Length: {8 * MAX_BODY}"]))
        got, _, body = read_response(s)
        assert got == 413 and "larger than the limit" in body, body
    assert api.ok("GET", "/api/pool")["count"] == 0  # nothing was created


def test_unsupported_methods_get_405_with_allow(lab, api):
    for method, path, allow in (("DELETE", "/api/pool", "GET, POST"),
                                ("POST", "/api/pool/p1", "GET, PUT, PATCH, DELETE"),
                                ("PATCH", "/api/virtualservice/web/runtime", "GET"),
                                ("PUT", "/metrics", "GET"),
                                ("GET", "/api/login", "POST"),
                                ("TRACE", "/api/pool", "GET, POST")):
        conn = UnixHTTPConnection(api.socket)
        conn.request(method, path)
        r = conn.getresponse()
        body = json.loads(r.read())
        conn.close()
        assert r.status == 405, (method, path, r.status, body)
        assert r.getheader("Allow") == allow, (method, path, r.getheader("Allow"))
        assert body["error"] == f"method {method} is not allowed on this path", body
    # Over HTTPS too; without the token the answer is 401, whatever the method.
    code, body = https(lab, "/api/pool", "-X", "DELETE")
    assert code == 405 and "method DELETE is not allowed" in body, (code, body)
    assert https(lab, "/api/pool", "-X", "DELETE", token=None)[0] == 401
    # With a body, the 405 comes after it, on a connection that stays usable.
    conn = UnixHTTPConnection(api.socket)
    for _ in range(2):
        conn.request("DELETE", "/api/pool", body=json.dumps({"name": "p"}),
                     headers={"Content-Type": "application/json"})
        r = conn.getresponse()
        assert r.status == 405 and r.getheader("Allow") == "GET, POST", r.status
        r.read()
    conn.close()


def test_unauthenticated_bodies_keep_memory_bounded(lab, api):
    """600 connections without a token from 30 client addresses: a quarter announce 1 MiB with
    Content-Length, a quarter send it chunked, half hold 24 KiB of unfinished headers. RSS
    stays within what the connection caps allow, far below the 600 MiB the bodies would take."""
    rss0 = vmrss_kib(api.pid())
    body = b"x" * (64 * 1024)
    conns, failed = [], 0
    for i in range(600):
        src = f"127.0.0.{2 + i % 30}"
        try:
            s = tls_conn(lab, src=src, timeout=5)
            if i % 2:
                s.sendall(b"POST /api/pool HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"p" * 24 * 1024)
            else:
                hdrs = [f"Content-Length: {MAX_BODY}"] if i % 4 else ["Transfer-Encoding: chunked"]
                s.sendall(head_only("POST", "/api/pool", hdrs + ["Content-Type: application/json"]))
            s.setblocking(False)
            conns.append(s)
        except (OSError, ssl.SSLError):
            failed += 1
    # Push as much of the bodies as the daemon will take.
    for _ in range(16):
        for s in conns:
            try:
                s.send(body)
            except (OSError, ssl.SSLError):
                pass
    rss1 = vmrss_kib(api.pid())
    held = len(os.listdir(f"/proc/{api.pid()}/fd"))
    # Per connection: MHD's memory pool (CONN_MEMORY) and GnuTLS's session
    # and record buffers; 128 KiB is a generous bound. The cap and the accept
    # queue bound the connections.
    bound_kib = (TCP_MAX_CONN + QUEUE_MAX) * 128 + 16 * 1024
    assert rss1 - rss0 < bound_kib, f"RSS {rss0} -> {rss1} KiB, bound +{bound_kib} KiB"
    assert held < 600, f"the daemon holds {held} descriptors"
    for s in conns:
        s.close()
    # The API still answers, and nothing was created.
    code, out = wait_for(lambda: (lambda r: r if r[0] == 200 else None)(https(lab, "/api/pool")),
                         timeout=20, what="HTTPS after the attack")
    assert json.loads(out)["count"] == 0
    assert api.ok("GET", "/api/pool")["count"] == 0
    print(f"RSS {rss0} -> {rss1} KiB, {held} descriptors, {failed} connections failed")


def test_slowloris_on_https_leaves_management_reachable(lab, api):
    """slowhttptest (slowloris, 1000 connections) against the HTTPS listener from the client
    namespace: an authorized HTTPS request from another address and a Unix socket request
    still succeed while it runs."""
    log = os.path.join(api.dir, "slowhttptest")
    p = lab.popen("cli", "slowhttptest", "-c", "1000", "-H", "-i", "2", "-r", "300", "-l", "40",
                  "-s", "8192", "-t", "GET", "-u", f"https://{SE_CLI_IP}:{PORT}/api/pool",
                  "-p", "3", "-o", log, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        # The attack is on: the listener holds what the per-address cap
        # allows and has refused hundreds more.
        def attacker_conns():
            r = lab.run("se", "ss", "-Htn", "state", "established", f"( sport = :{PORT} )",
                        "dst", CLIENT_IP, check=False)
            return len(r.stdout.splitlines())
        wait_for(lambda: metric(api, "clonelb_api_connections_refused_total", "tcp") >= 500,
                 timeout=30, what="slowloris connections refused")
        assert attacker_conns() >= TCP_MAX_PER_ADDR
        assert metric(api, "clonelb_api_connections", "tcp") <= TCP_MAX_CONN
        for _ in range(5):
            code, body = wait_for(lambda: (lambda r: r if r[0] == 200 else None)(https(lab, "/api/pool")),
                                  timeout=20, what="an authorized HTTPS request during the attack")
            assert json.loads(body)["count"] == 0
            assert api.ok("GET", "/api/pool")["count"] == 0
        assert p.poll() is None, "the attack ended before the checks"
    finally:
        end_process(p, ask=p.kill)


def test_slow_local_clients_do_not_lock_out_the_unix_socket(lab, api):
    """1200 local clients that open the Unix socket and dribble a header line every second:
    another local client still gets its answers."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 4096:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(4096, hard), hard))
    slow, stop = [], threading.Event()

    def dribble():
        while not stop.wait(1):
            for s in list(slow):
                try:
                    s.send(b"X-Slow: 1\r\n")
                except OSError:
                    slow.remove(s)
                    s.close()

    t = threading.Thread(target=dribble)
    t.start()
    connected, deadline = 0, time.monotonic() + 30
    try:
        for _ in range(1200):
            if time.monotonic() > deadline:
                break
            s = socket.socket(socket.AF_UNIX)
            # Blocking, so connect() waits for room in the backlog, bounded by SO_SNDTIMEO.
            s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, struct.pack("ll", 1, 0))
            try:
                s.connect(api.socket)
                s.send(b"GET /api/pool HTTP/1.1\r\nHost: x\r\n")
                s.setblocking(False)
                slow.append(s)
                connected += 1
            except OSError:
                s.close()
        # Room was made by ending the oldest slow strangers (or their 5 s of
        # silence when the dribbling thread lags), never by refusing newcomers.
        wait_for(lambda: metric(api, "clonelb_api_connections", "unix") <= UNIX_MAX_CONN + 1,
                 timeout=20, what="the Unix listener back within its cap")
        assert metric(api, "clonelb_api_connections_evicted_total", "unix") > 0
        assert metric(api, "clonelb_api_connections_refused_total", "unix") == 0
        for _ in range(5):
            status, body = wait_for(lambda: get_unix(api, "/api/pool"), timeout=20,
                                    what="a local request among slow clients")
            assert status == 200 and body["count"] == 0, body
        assert metric(api, "clonelb_api_connections", "unix") <= UNIX_MAX_CONN + 1
        # The slow clients that are left are the newest, at most the cap of them.
        left = wait_for(lambda: len(slow) <= UNIX_MAX_CONN and len(slow), timeout=10,
                        what="slow clients beyond the cap ended")
        assert 0 < left <= UNIX_MAX_CONN
    finally:
        stop.set()
        t.join()
        for s in slow:
            s.close()


def test_out_of_descriptors_the_api_backs_off_and_recovers(lab, api):
    """With the descriptor table full of TCP connections, a Unix socket connection makes accept()
    fail with EMFILE: the daemon refuses it, logs that at most once a second (no spinning log),
    and answers again once descriptors are free."""
    pid = api.pid()
    used = len(os.listdir(f"/proc/{pid}/fd"))
    with open(f"/proc/{pid}/limits") as f:
        soft = re.search(r"^Max open files\s+(\d+)", f.read(), re.M).group(1)
    # Only the soft limit: it can be raised back without privileges.
    subprocess.run(["prlimit", f"--pid={pid}", f"--nofile={used + 24}:"], check=True)
    try:
        holders = []
        # Strangers: they hold their descriptors for API_STRANGER_TIMEOUT (5 s).
        for i in range(60):
            s = tcp(lab, src=f"127.0.0.{2 + i % 6}", timeout=5)
            try:
                s.connect(("127.0.0.1", PORT))
                holders.append(s)
            except OSError:
                s.close()
        t0 = time.monotonic()
        for _ in range(8):
            s = socket.socket(socket.AF_UNIX)
            s.settimeout(0.5)
            try:
                s.connect(api.socket)
                s.sendall(head_only("GET", "/api/pool"))
                s.recv(100)
            except OSError:
                pass
            finally:
                s.close()
        wait_for(lambda: "out of descriptors" in api.logtext(), timeout=3, what="the EMFILE log line")
        size0 = len(api.logtext())
        elapsed = time.monotonic() - t0
        lines = [ln for ln in api.logtext().splitlines() if "out of descriptors" in ln]
        assert len(lines) <= elapsed + 2, (elapsed, lines)
        assert "Hit process or system resource limit" not in api.logtext()
        for s in holders:
            s.close()
        # Free again: the Unix socket answers without a restart.
        status, body = wait_for(lambda: get_unix(api, "/api/pool", timeout=1), timeout=15,
                                what="the API after EMFILE")
        assert status == 200 and body["count"] == 0, body
        assert len(api.logtext()) - size0 < 64 * 1024
    finally:
        subprocess.run(["prlimit", f"--pid={pid}", f"--nofile={soft}:"], check=False)


def test_tls_service_offers_only_forward_secret_aead_suites(lab, workdir, tls_cert, pool_servers):
    """A TLS virtual service with the default ssl profile (System-Standard): no CBC, no static
    RSA, no TLS 1.1; ECDHE-GCM/CHACHA20 and TLS 1.3 work; testssl.sh finds no weak suite (no
    NULL, anonymous, export, LOW, 3DES/IDEA or obsolete CBC cipher), no protocol older than TLS
    1.2, and nothing potentially vulnerable to LUCKY13."""
    d = Daemon(lab, workdir).start()
    try:
        d.ok("POST", "/api/pool", {"name": "web-pool",
                                   "servers": [{"ip": {"addr": ip, "type": "V4"}} for ip in POOL_IPS]})
        d.ok("POST", "/api/sslkeyandcertificate", {"name": "web-cert", "certificate": tls_cert["certificate"],
                                                   "key": tls_cert["key"]})
        d.ok("POST", "/api/virtualservice", {"name": "web", "vip": [{"ip_address": {"addr": VIP, "type": "V4"}}],
                                             "services": [{"port": 443, "enable_ssl": True}],
                                             "pool_ref": "web-pool", "ssl_key_and_certificate_refs": ["web-cert"]})
        wait_for(lambda: curl(lab, f"https://{VIP}/", "-k").stdout.startswith("server "), what="the TLS service")
        # No ssl_profile_ref given: the service has the built-in default.
        std = d.ok("GET", "/api/sslprofile?name=System-Standard")["results"][0]
        assert d.ok("GET", "/api/virtualservice?name=web")["results"][0]["ssl_profile_ref"].endswith(
            std["uuid"])

        def probe(*args):
            r = lab.run("cli", "openssl", "s_client", "-connect", f"{VIP}:443", *args, input="",
                        check=False, timeout=20)
            m = re.search(r"Cipher is (\S+)", r.stdout)
            return m.group(1) if m else None

        for cipher in ("AES128-SHA", "AES256-SHA256", "AES128-GCM-SHA256", "AES256-GCM-SHA384",
                       "ECDHE-RSA-AES128-SHA", "ECDHE-RSA-AES256-SHA384", "DHE-RSA-AES128-GCM-SHA256"):
            assert probe("-tls1_2", "-cipher", cipher) in (None, "(NONE)"), cipher
        for cipher in ("ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-AES256-GCM-SHA384",
                       "ECDHE-RSA-CHACHA20-POLY1305"):
            assert probe("-tls1_2", "-cipher", cipher) == cipher, cipher
        assert probe("-tls1_3") == "TLS_AES_256_GCM_SHA384"
        assert probe("-tls1_1") in (None, "(NONE)")

        # Only the protocols, LUCKY13 and the cipher categories. testssl probes
        # openssl with lookups of made-up names: the lab has no DNS server, so in
        # a mount namespace of its own it gets a resolv.conf that fails at once.
        resolv = os.path.join(workdir, "resolv.conf")
        with open(resolv, "w") as f:
            f.write("nameserver 127.0.0.1\n")
        report = os.path.join(workdir, "testssl.json")
        r = lab.run("cli", "unshare", "-m", "sh", "-c",
                    f'mount --bind {resolv} /etc/resolv.conf && exec testssl "$@"', "testssl",
                    "--quiet", "--color", "0", "--warnings", "off", "--nodns", "none",
                    "--connect-timeout", "5", "--openssl-timeout", "5", "--jsonfile", report,
                    "-p", "-L", "-s", f"{VIP}:443", check=False, timeout=150,
                    stdin=subprocess.DEVNULL)
        assert "LUCKY13" in r.stdout and "not vulnerable (OK)" in r.stdout, r.stdout
        assert "potentially vulnerable" not in r.stdout.lower(), r.stdout
        with open(report) as f:
            found = {e["id"]: e for e in json.load(f)}
        # testssl's cipher categories: every weak one not offered, the strong (AEAD) one offered.
        for weak in ("NULL", "aNULL", "EXPORT", "LOW", "3DES_IDEA", "AVERAGE"):
            assert found[f"cipherlist_{weak}"]["finding"] == "not offered", found[f"cipherlist_{weak}"]
        assert found["cipherlist_STRONG"]["finding"] == "offered", found["cipherlist_STRONG"]
        for old in ("SSLv2", "SSLv3", "TLS1", "TLS1_1"):
            assert found[old]["finding"].startswith("not offered"), found[old]
        for new in ("TLS1_2", "TLS1_3"):
            assert found[new]["finding"].startswith("offered"), found[new]
        assert found["LUCKY13"]["finding"].startswith("not vulnerable"), found["LUCKY13"]
        bad = [e for e in found.values() if e["severity"] in ("MEDIUM", "HIGH", "CRITICAL")]
        assert not bad, bad
    finally:
        d.stop()


def test_api_listener_offers_only_forward_secret_aead_suites(lab, api):
    def probe(*args):
        r = lab.run("se", "openssl", "s_client", "-connect", f"127.0.0.1:{PORT}", *args, input="",
                    check=False, timeout=20)
        m = re.search(r"Cipher is (\S+)", r.stdout)
        return m.group(1) if m else None

    for cipher in ("AES128-SHA", "AES128-GCM-SHA256", "ECDHE-ECDSA-AES128-SHA", "ECDHE-ECDSA-AES256-SHA384"):
        assert probe("-tls1_2", "-cipher", cipher) in (None, "(NONE)"), cipher
    for cipher in ("ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-CHACHA20-POLY1305"):
        assert probe("-tls1_2", "-cipher", cipher) == cipher, cipher
    assert probe("-tls1_3") is not None and probe("-tls1_3") != "(NONE)"
    assert probe("-tls1_1") in (None, "(NONE)")
