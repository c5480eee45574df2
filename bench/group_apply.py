#!/usr/bin/python3
"""group_apply.py: an SE group on etcd: the latency from a change to its application on every SE.

Run as root from the repository (after make build): builds the lab of tests/lab/etcd.sh under
its own prefix, starts etcd and two clonelbd (se1, se2) on it, one virtual service with one VIP
per SE (each on that SE's lo, the client routed to it) and a pool of one server. Each run
PATCHes the pool through se1's API to the other of two servers (each answers with its own
address) and measures, from the moment the PATCH is sent, when a request through each SE is
first answered by the new server: the change has then gone through etcd, each SE's watch and
each SE's data plane. Prints the medians per SE and of the slower SE of each run, and writes
bench/out/group_apply.json. Everything is torn down on exit, also on failure. docs/performance.md
says how the figure extrapolates to N SEs.
"""
import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
LAB = os.path.join(ROOT, "tests", "lab", "etcd.sh")
CLONELBD = os.path.join(os.environ.get("CLONELB_BUILD", os.path.join(ROOT, "build")), "clonelbd")
OUT = os.path.join(ROOT, "bench", "out")
PREFIX = "bg-"
NS = {r: f"{PREFIX}e-{r}" for r in ("cli", "se1", "se2", "srv", "etcd")}
SE_IP = {"se1": "10.20.1.11", "se2": "10.20.1.12"}
VIPS = {"se1": "10.20.1.101", "se2": "10.20.1.102"}
SERVERS = ["10.20.2.21", "10.20.2.22"]

# Polls VIP:80 until the answer names the server @want, and prints the seconds since t0
# (time.time() of the caller: the namespaces share the clock). It says "ready" once started
# and reads t0 from its input then, so the interpreter's start-up is not measured.
PROBE = r"""
import socket, sys, time
vip, want, timeout = sys.argv[1], sys.argv[2], float(sys.argv[3])
print("ready", flush=True)
t0 = float(sys.stdin.readline())
while time.time() < t0 + timeout:
    try:
        s = socket.create_connection((vip, 80), timeout=1)
        s.sendall(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")
        data = b""
        while True:
            c = s.recv(4096)
            if not c:
                break
            data += c
        s.close()
        if want.encode() in data:
            print(time.time() - t0, flush=True)
            sys.exit(0)
    except OSError:
        pass
    time.sleep(0.001)
print("timeout", flush=True)
"""


def sh(*argv, check=True, **kw):
    return subprocess.run(argv, check=check, capture_output=True, text=True, timeout=60, **kw)


def ns(role, *argv, **kw):
    return sh("ip", "netns", "exec", NS[role], *argv, **kw)


def api(sock, method, path, body=None):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(10)
    s.connect(sock)
    data = json.dumps(body).encode() if body is not None else b""
    s.sendall(f"{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
              f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n".encode() + data)
    out = b""
    while True:
        c = s.recv(65536)
        if not c:
            break
        out += c
    s.close()
    head, _, text = out.decode().partition("\r\n\r\n")
    status = int(head.split()[1])
    if status >= 300:
        raise RuntimeError(f"{method} {path}: {status} {text}")
    return json.loads(text) if text.strip() else None


def wait(pred, timeout, what):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.05)
    raise RuntimeError(f"timed out waiting for {what}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=11, help="changes measured (default 11)")
    ap.add_argument("--quick", action="store_true", help="5 runs, to check it works")
    args = ap.parse_args()
    runs = 5 if args.quick else args.runs
    env = dict(os.environ, LAB_PREFIX=PREFIX)
    work = tempfile.mkdtemp(prefix="clonelb-group-bench-")
    procs = []
    try:
        subprocess.run([LAB, "up"], env=env, check=True)
        subprocess.run([LAB, "etcd-start", work], env=env, check=True)
        for ip in SERVERS:
            d = os.path.join(work, ip)
            os.makedirs(d)
            with open(os.path.join(d, "index.html"), "w") as f:
                f.write(f"server {ip}\n")
            procs.append(subprocess.Popen(["ip", "netns", "exec", NS["srv"], "/usr/bin/python3", "-m",
                                           "http.server", "--bind", ip, "--directory", d, "80"],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        socks = {}
        for role in ("se1", "se2"):
            ns(role, "ip", "addr", "add", f"{VIPS[role]}/32", "dev", "lo")
            ns("cli", "ip", "route", "add", f"{VIPS[role]}/32", "via", SE_IP[role])
            socks[role] = os.path.join(work, f"{role}.sock")
            log = open(os.path.join(work, f"{role}.log"), "wb")
            procs.append(subprocess.Popen(["ip", "netns", "exec", NS[role], CLONELBD, "--store",
                                           "etcd://10.20.4.2:2379", "--se-name", role, "--socket",
                                           socks[role], "--db", os.path.join(work, f"{role}.db")],
                                          stdout=log, stderr=log))
            wait(lambda: os.path.exists(socks[role]), 20, f"{role} API")
        api(socks["se1"], "POST", "/api/pool",
            {"name": "p", "servers": [{"ip": {"addr": SERVERS[0], "type": "V4"}, "port": 80}]})
        api(socks["se1"], "POST", "/api/virtualservice", {
            "name": "v", "pool_ref": "p", "services": [{"port": 80}],
            "vip": [{"ip_address": {"addr": VIPS[r], "type": "V4"}} for r in ("se1", "se2")]})
        per_se = {"se1": [], "se2": []}
        every, answered = [], []
        for i in range(runs):
            want = SERVERS[(i + 1) % 2]
            for role in ("se1", "se2"):  # both in step before the change
                old = SERVERS[i % 2]
                r = ns("cli", "/usr/bin/python3", "-c", PROBE, VIPS[role], old, "10",
                       input=f"{time.time()}\n")
                if "timeout" in r.stdout:
                    raise RuntimeError(f"{role} does not serve {old} before run {i}")
            probes = {role: subprocess.Popen(["ip", "netns", "exec", NS["cli"], "/usr/bin/python3", "-c",
                                              PROBE, VIPS[role], want, "10"],
                                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
                      for role in ("se1", "se2")}
            for p in probes.values():
                if p.stdout.readline().strip() != "ready":
                    raise RuntimeError("a probe did not start")
            t0 = time.time()
            for p in probes.values():
                p.stdin.write(f"{t0}\n")
                p.stdin.flush()
            api(socks["se1"], "PATCH", "/api/pool/p",
                {"servers": [{"ip": {"addr": want, "type": "V4"}, "port": 80}]})
            answered.append((time.time() - t0) * 1000)
            got = {}
            for role, p in probes.items():
                out = p.communicate(timeout=30)[0].strip()
                if out == "timeout":
                    raise RuntimeError(f"{role} never applied run {i}")
                got[role] = float(out) * 1000
                per_se[role].append(got[role])
            every.append(max(got.values()))
        row = {"runs": runs, "every_se_ms": statistics.median(every),
               "patch_answered_ms": statistics.median(answered),
               "se1_ms": statistics.median(per_se["se1"]), "se2_ms": statistics.median(per_se["se2"])}
        print(f"{'row':52} {'median':>10}")
        print(f"{'change -> applied on every SE (2 SEs, etcd)':52} {row['every_se_ms']:8.1f} ms")
        print(f"{'  se1 (the SE whose API took the change)':52} {row['se1_ms']:8.1f} ms")
        print(f"{'  se2 (the other SE, through its watch)':52} {row['se2_ms']:8.1f} ms")
        print(f"{'  (the PATCH answered, committed in etcd)':52} {row['patch_answered_ms']:8.1f} ms")
        os.makedirs(OUT, exist_ok=True)
        with open(os.path.join(OUT, "group_apply.json"), "w") as f:
            json.dump(row, f, indent=2)
        return 0
    finally:
        for p in reversed(procs):
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        subprocess.run([LAB, "etcd-stop", work], env=env, check=False)
        subprocess.run([LAB, "down"], env=env, check=False)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
