"""Web UI (issue 5): end-to-end in headless Debian chromium, driven by web/tests/e2e.mjs (playwright-core).

clonelbd listens (HTTPS, self-signed) on 127.0.0.1 inside the lab's se namespace with a token; node
and chromium run in that namespace too. The script creates a traffic clone
profile with two clone servers through the forms, checks that a bad MAC is
shown beside the MAC field and saves nothing, attaches the profile to a
virtual service, and, with the data plane built in, watches the stats page's
counters rise while curl sends requests from the cli namespace to the VIP.
"""
import json
import os
import shutil
import signal
import subprocess
import threading
import time

import pytest

from conftest import POOL_IPS, ROOT, VIP, Daemon, curl, started, wait_for, write_token
from test_etcd import (STORE, SeView, agg_stats, base_config, curl_vip, route_vip_via, vs,  # noqa: F401
                       elab, pool_server, ses, vip_on_lo)  # (fixtures)

WEB = os.path.join(ROOT, "web")
DIST = os.path.join(WEB, "dist")
E2E = os.path.join(WEB, "tests", "e2e.mjs")
CHROMIUM = "/usr/bin/chromium"
PORT = 8443
REQUESTS = 100


@pytest.fixture
def ui(lab, workdir, pool_servers):
    """clonelbd with the web UI on 127.0.0.1:PORT in se, a pool of the two nginx and VS 'web'."""
    for what, path in (("web/dist (make)", os.path.join(DIST, "index.html")),
                       ("playwright-core (make deps)", os.path.join(WEB, "node_modules", "playwright-core")),
                       ("Debian chromium (make deps)", CHROMIUM), ("node", shutil.which("node") or "")):
        assert path and os.path.exists(path), f"missing {what}: {path}"
    token = write_token(workdir, os.urandom(16).hex())
    with started(Daemon(lab, workdir, ["--listen", f"127.0.0.1:{PORT}", "--token-file", token,
                                       "--web-root", DIST])) as d:
        d.ok("POST", "/api/healthmonitor", {"name": "hm-tcp", "type": "HEALTH_MONITOR_TCP",
                                            "send_interval": 1, "receive_timeout": 1})
        d.ok("POST", "/api/pool", {"name": "web-pool", "health_monitor_refs": ["hm-tcp"],
                                   "servers": [{"ip": {"addr": ip, "type": "V4"}} for ip in POOL_IPS]})
        d.ok("POST", "/api/virtualservice", {
            "name": "web", "vip": [{"ip_address": {"addr": VIP, "type": "V4"}}],
            "services": [{"port": 80}], "pool_ref": "web-pool"})
        # Chromium runs in se and aborts its requests (ERR_NETWORK_CHANGED) when an address
        # there changes: a fresh lab's link-local IPv6 addresses leave duplicate detection
        # a second or two after the links came up.
        wait_for(lambda: not lab.run("se", "ip", "-6", "addr", "show", "tentative").stdout.strip(),
                 timeout=15, what="se's IPv6 addresses past duplicate detection")
        yield d, token


def send_traffic(lab, results):
    """REQUESTS HTTP requests, one connection each, from the client namespace to the VIP."""
    for _ in range(REQUESTS):
        r = curl(lab, f"http://{VIP}/", "-o", "/dev/null", "-w", "%{http_code}")
        results.append(r.stdout.strip())
        time.sleep(0.1)  # spread over a few polls so the chart shows a rate, not one spike


def run_e2e(lab, token, workdir, traffic, extra=()):
    shots = os.environ.get("CLONELB_UI_SHOTS") or os.path.join(workdir, "shots")
    argv = ["node", E2E, "--base", f"https://127.0.0.1:{PORT}", "--token-file", token,
            "--vs", "web", "--shots", shots, *extra]
    if traffic:
        argv.append("--traffic")
    # The script's own API calls verify the daemon's self-signed certificate.
    env = dict(os.environ, NODE_EXTRA_CA_CERTS=os.path.join(workdir, "api-cert.pem"))
    proc = lab.popen("se", *argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                     stderr=subprocess.STDOUT, text=True, start_new_session=True, env=env)
    out, codes, sender = [], [], None
    try:
        for line in proc.stdout:
            out.append(line)
            if line.strip() == "WAIT traffic":
                sender = threading.Thread(target=send_traffic, args=(lab, codes))
                sender.start()
                proc.stdin.write("started\n")
                proc.stdin.flush()
                sender.join()
                proc.stdin.write("done\n")
                proc.stdin.flush()
        rc = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        if sender:
            sender.join()
    return rc, "".join(out), codes


def test_web_ui_forms_login_and_errors(lab, ui, workdir):
    """Login, profile with two clone servers, bad MAC, attach, delete refused, stats page polling."""
    d, token = ui
    rc, out, _ = run_e2e(lab, token, workdir, traffic=False)
    assert rc == 0, f"e2e.mjs exited {rc}:\n{out}\n--- clonelbd log ---\n{d.logtext()[-3000:]}"
    # What the browser did is in the store: the profile, attached; no bad-mac.
    assert d.ok("GET", "/api/virtualservice/web?include_name")["traffic_clone_profile_ref"].endswith(
        "#ids-profile")
    assert d.api("GET", "/api/trafficcloneprofile/bad-mac")[0] == 404


def test_web_ui_stats_counters_rise(lab, ui, workdir):
    """With traffic through the VIP, every clone server's counters rise on the live stats page."""
    d, token = ui
    rc, out, codes = run_e2e(lab, token, workdir, traffic=True)
    assert rc == 0, (f"e2e.mjs exited {rc}:\n{out}\nHTTP codes: {codes}\n"
                     f"--- clonelbd log ---\n{d.logtext()[-3000:]}")
    assert codes.count("200") == REQUESTS, f"curl through the VIP: {codes}"
    # The script saw each clone server's counter rise on the page (the API's
    # counters are reset by its last step, which edits the profile).
    for ip in ("10.10.3.2", "10.10.3.3"):
        assert f"ok: clone server {ip}: frames cloned rose" in out, out


def test_web_ui_stats_one_section_per_se_of_a_group(ses, elab, pool_server, vip_on_lo, tmp_path):
    """Two SEs on one etcd (tests/lab/etcd.sh), each with clones of the VIP's traffic: se1's stats
    page has a section per SE, headed by its name, each showing that SE's own counters."""
    token = write_token(str(tmp_path), os.urandom(16).hex())
    se1 = ses("se1", STORE, "--listen", f"127.0.0.1:{PORT}", "--token-file", token, "--web-root", DIST)
    se2 = ses("se2")
    base_config(se1)
    se1.ok("POST", "/api/virtualservice", vs(traffic_clone_profile_ref="ids"))
    # One connection through se1, three through se2: the sections' counters differ.
    for role, n in (("se1", 1), ("se2", 3)):
        route_vip_via(elab, role)
        wait_for(lambda: curl_vip(elab), timeout=10, what=f"the VIP through {role}")
        for _ in range(n - 1):
            assert curl_vip(elab)
    # Each SE publishes its own entry about once a second: both APIs agree before the page is read.
    wait_for(lambda: (lambda a, b: len(a) == 2 and all(a.values()) and a == b)(agg_stats(se1), agg_stats(se2)),
             timeout=15, what="both SEs' clone stats, the same through both APIs")
    rc, out, _ = run_e2e(SeView(elab, "se1"), token, se1.dir, False, ["--ses", "2", "--stats-only"])
    assert rc == 0, f"e2e.mjs exited {rc}:\n{out}\n--- se1 log ---\n{se1.logtext()[-3000:]}"
    for name in ("se1", "se2"):
        assert f'is headed "Service Engine: {name}"' in out, out


def http(lab, method, path, *args):
    """One request to the TCP listener from inside se; returns (status, headers text, body text)."""
    r = lab.run("se", "curl", "-sSk", "-i", "-X", method, *args, f"https://127.0.0.1:{PORT}{path}")
    head, _, body = r.stdout.replace("\r\n", "\n").partition("\n\n")
    return int(head.split()[1]), head, body


def test_se_interfaces(lab, ui):
    """GET /api/se/interfaces: the SE's interfaces with their subnets, for the Network select."""
    d, _ = ui
    ifaces = {i["name"]: i["subnets"] for i in d.ok("GET", "/api/se/interfaces")}
    assert ifaces == {"cli0": ["10.10.1.0/24", "fd00:10:1::/64"],
                      "srv0": ["10.10.2.0/24", "fd00:10:2::/64"],
                      "tap0": ["10.10.3.0/24", "fd00:10:3::/64"]}, ifaces  # a VIP adds no subnet
    assert d.api("DELETE", "/api/se/interfaces")[0] == 405


def test_login_cookie_and_static_files(lab, ui):
    """The login endpoint, the cookie it sets, and what is served without it."""
    d, token_file = ui
    with open(token_file) as f:
        token = f.read().strip()
    status, _, body = http(lab, "POST", "/api/login", "-d", json.dumps({"token": "nope"}))
    assert status == 401 and json.loads(body)["error"] == "token: wrong token", body
    status, head, _ = http(lab, "POST", "/api/login", "-d", json.dumps({"token": token}))
    assert status == 204, head
    cookie = next(ln for ln in head.splitlines() if ln.lower().startswith("set-cookie:"))
    # The cookie holds a session id, never the token, and never leaves HTTPS.
    assert token not in cookie, cookie
    session = cookie.split(":", 1)[1].strip().split(";")[0]
    assert session.startswith("clonelb_session=") and len(session) > len("clonelb_session=") + 32, cookie
    for flag in ("Secure", "HttpOnly", "SameSite=Strict"):
        assert flag in [a.strip() for a in cookie.split(";")], cookie

    # Without the cookie: 401 from the API, the login page for any page,
    # but the login page's own assets.
    assert http(lab, "GET", "/api/pool")[0] == 401
    for page in ("/", "/index.html", "/nonexistent.html"):
        status, head, body = http(lab, "GET", page)
        assert status == 200 and 'id="login-form"' in body and 'id="main"' not in body, (page, body[:200])
        assert "frame-ancestors 'none'" in head, head  # the pages are never framed
    assert http(lab, "GET", "/assets/app.css")[0] == 200
    # With it: the API and the app.
    status, _, body = http(lab, "GET", "/api/pool", "-b", session)
    assert status == 200 and json.loads(body)["count"] == 1
    status, _, body = http(lab, "GET", "/", "-b", session)
    assert status == 200 and 'id="main"' in body
    assert http(lab, "GET", "/api/pool", "-b", "clonelb_session=" + "0" * 64)[0] == 401
    assert http(lab, "GET", "/api/pool", "-b", f"clonelb_token={token}")[0] == 401  # the old cookie
    status, head, _ = http(lab, "POST", "/api/logout", "-b", session)
    assert status == 204 and "Max-Age=0" in head
    assert http(lab, "GET", "/api/pool", "-b", session)[0] == 401  # the session has ended
