"""Web UI (issue 5): end-to-end in headless Debian chromium, driven by web/tests/e2e.mjs (playwright-core).

clonelbd listens on 127.0.0.1 inside the lab's se namespace with a token; node
and chromium run in that namespace too. The script creates a traffic clone
profile with two clone servers through the forms, checks that a bad MAC is
shown beside the MAC field and saves nothing, attaches the profile to a
virtual service, and, with the data plane built in, watches the stats page's
counters rise while curl sends requests from the cli namespace to the VIP.
"""
import os
import shutil
import signal
import subprocess
import threading
import time

import pytest

from conftest import POOL_IPS, ROOT, VIP, Daemon, curl

WEB = os.path.join(ROOT, "web")
DIST = os.path.join(WEB, "dist")
E2E = os.path.join(WEB, "tests", "e2e.mjs")
CHROMIUM = "/usr/bin/chromium"
PORT = 8443
REQUESTS = 60


def placeholder(relpath):
    """True while a module is still the placeholder the layout commit put in."""
    with open(os.path.join(ROOT, relpath)) as f:
        return "placeholder" in f.readline()


DATA_PLANE_PENDING = [m for m in ("src/proxy/px.c", "src/clone/clone.c") if placeholder(m)]


@pytest.fixture
def ui(lab, workdir, pool_servers):
    """clonelbd with the web UI on 127.0.0.1:PORT in se, a pool of the two nginx and VS 'web'."""
    for what, path in (("web/dist (make)", os.path.join(DIST, "index.html")),
                       ("playwright-core (make deps)", os.path.join(WEB, "node_modules", "playwright-core")),
                       ("Debian chromium (make deps)", CHROMIUM), ("node", shutil.which("node") or "")):
        assert path and os.path.exists(path), f"missing {what}: {path}"
    token = os.path.join(workdir, "token")
    with open(token, "w") as f:
        f.write(os.urandom(16).hex() + "\n")
    os.chmod(token, 0o600)
    d = Daemon(lab, workdir, ["--listen", f"127.0.0.1:{PORT}", "--token-file", token,
                              "--web-root", DIST]).start()
    try:
        d.ok("POST", "/api/healthmonitor", {"name": "hm-tcp", "type": "HEALTH_MONITOR_TCP",
                                            "send_interval": 1, "receive_timeout": 1})
        d.ok("POST", "/api/pool", {"name": "web-pool", "health_monitor_refs": ["hm-tcp"],
                                   "servers": [{"ip": {"addr": ip, "type": "V4"}} for ip in POOL_IPS]})
        d.ok("POST", "/api/virtualservice", {
            "name": "web", "vip": [{"ip_address": {"addr": VIP, "type": "V4"}}],
            "services": [{"port": 80}], "pool_ref": "web-pool"})
        yield d, token
    finally:
        d.stop()
        if d.proc and d.proc.poll() is None:
            d.proc.kill()


def send_traffic(lab, results):
    """REQUESTS HTTP requests, one connection each, from the client namespace to the VIP."""
    for _ in range(REQUESTS):
        r = curl(lab, f"http://{VIP}/", "-o", "/dev/null", "-w", "%{http_code}")
        results.append(r.stdout.strip())
        time.sleep(0.1)  # spread over a few polls so the chart shows a rate, not one spike


def run_e2e(lab, token, workdir, traffic):
    shots = os.environ.get("CLONELB_UI_SHOTS") or os.path.join(workdir, "shots")
    argv = ["node", E2E, "--base", f"http://127.0.0.1:{PORT}", "--token-file", token,
            "--vs", "web", "--shots", shots]
    if traffic:
        argv.append("--traffic")
    proc = lab.popen("se", *argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                     stderr=subprocess.STDOUT, text=True, start_new_session=True)
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
    assert d.ok("GET", "/api/virtualservice/web")["traffic_clone_profile_ref"] == "ids-profile"
    assert d.api("GET", "/api/trafficcloneprofile/bad-mac")[0] == 404


@pytest.mark.skipif(bool(DATA_PLANE_PENDING),
                    reason="pending: the data plane is still a placeholder in "
                           + ", ".join(DATA_PLANE_PENDING)
                           + " (proxy and clone engine not landed), so no traffic reaches the pool "
                             "and no counter can rise")
def test_web_ui_stats_counters_rise(lab, ui, workdir):
    """With traffic through the VIP, every clone server's counters rise on the live stats page."""
    d, token = ui
    rc, out, codes = run_e2e(lab, token, workdir, traffic=True)
    assert rc == 0, (f"e2e.mjs exited {rc}:\n{out}\nHTTP codes: {codes}\n"
                     f"--- clonelbd log ---\n{d.logtext()[-3000:]}")
    assert codes.count("200") == REQUESTS, f"curl through the VIP: {codes}"
    stats = d.ok("GET", "/api/virtualservice/web/traffic_clone_stats")
    agg = next(e for e in stats if e["proc_id"] == "PROC_Aggregate")
    assert all(s["num_succeeded"] > 0 for s in agg["clone_srvr_stats"]), agg
