#!/usr/bin/python3
"""group.py: what predicts an SE group's scale-out, measured on the lab of tests/lab/group.sh.

Two clonelbd SEs announce one VIP by BGP (BIRD 2, route health injection) to an FRR router that
spreads new connections over both by ECMP. This machine has two cores, so absolute scale-out
cannot be shown; these rows measure what predicts it (docs/performance.md extrapolates them):

  spread    1,000 new connections from the client namespace, each from its own port: each SE's
            share (target: 50 % +- 10 points each).
  cpu       CPU time per connection of each SE in the group (4,000 connections a round, after a
            warm-up of 200) against a lone SE serving as many on its own, the other withdrawn
            (target: within 10 %).
  failover  kill -9 of an SE's clonelbd while a client opens new connections one after another
            (each gives up after 0.2 s): the time from the kill to the first one that succeeds
            (necessarily through the other SE), to the end of the last one that fails (after
            which every new connection succeeds: the failover a client sees; target: median of
            5 runs at most 3 s with BFD or a short hold time), and to the router's route
            without the dead next hop (as fast as `ip route` can be polled).
  freeze    the same with the SE hung instead (SIGSTOP of clonelbd and its BIRD): its kernel
            still answers TCP, so only BFD (or the hold time) tells the router.

In this lab the router's ECMP choice follows the hash the client's socket put on the packet
(the veth keeps it, and Linux's multipath hash uses an L4 hash that is already there), so each
new connection picks an SE at random, even from the same client port; a hardware router hashes
the 5-tuple. Either way about half the new connections never meet the dead SE.

Rows are functions in ROWS; --rows picks some (the etcd store adds its change-latency row
here). --quick runs fewer connections and failovers: a check that the rows work, not a
measurement. Run as root from the repository. Everything runs inside the lab's namespaces and
is torn down on exit, also on failure. Writes bench/out/group.json.
"""
import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlab import CLONELBD, OUT, ROOT, Api, log  # noqa: E402

GROUP_SH = os.path.join(ROOT, "tests", "lab", "group.sh")
VIP = "10.30.9.10"
FRONT = {"se1": "10.30.2.11", "se2": "10.30.2.12"}
POOL = ["10.30.3.11", "10.30.3.12"]
WARMUP = 200  # connections before each measured cpu round, not counted
FAILOVER_TARGET_S = 3.0

# n sequential HTTP/1.0 requests to VIP:80, a new connection (and port) each; prints the count
# of 200 answers.
CLIENT = r"""
import socket, sys
ok = 0
for _ in range(int(sys.argv[2])):
    try:
        s = socket.create_connection((sys.argv[1], 80), timeout=5)
        s.sendall(b"GET / HTTP/1.0\r\nHost: lab\r\n\r\n")
        data = b""
        while True:
            c = s.recv(4096)
            if not c:
                break
            data += c
        s.close()
        ok += data.startswith(b"HTTP/1.1 200")
    except OSError:
        pass
print(ok, flush=True)
"""

# New connections, one after another (at most one every 5 ms), until argv[2] seconds pass or
# stdin closes; prints "ok START END" or "fail START END" (CLOCK_MONOTONIC, the bench's clock)
# per attempt. An attempt fails when no answer came within 0.2 s.
RETRY = r"""
import socket, sys, time, select
until = time.monotonic() + float(sys.argv[2])
while time.monotonic() < until:
    if select.select([sys.stdin], [], [], 0)[0] and not sys.stdin.readline():
        break
    t = time.monotonic()
    try:
        s = socket.create_connection((sys.argv[1], 80), timeout=0.2)
        s.sendall(b"GET / HTTP/1.0\r\nHost: lab\r\n\r\n")
        ok = s.recv(64).startswith(b"HTTP/1.1 200")
        s.close()
    except OSError:
        ok = False
    print("ok" if ok else "fail", t, time.monotonic(), flush=True)
    time.sleep(0.005)
"""


class GroupLab:
    def __init__(self, prefix, work):
        self.prefix, self.work = prefix, work
        self.env = dict(os.environ, LAB_PREFIX=prefix, LAB_DIR=os.path.join(work, "lab"))
        self.procs = []

    def cmd(self, role, *argv):
        return ["ip", "netns", "exec", f"{self.prefix}g{role}", *argv]

    def run(self, role, *argv, timeout=120):
        return subprocess.run(self.cmd(role, *argv), capture_output=True, text=True,
                              timeout=timeout, check=True)

    def spawn(self, role, *argv, **kw):
        p = subprocess.Popen(self.cmd(role, *argv), **kw)
        self.procs.append(p)
        return p

    def up(self):
        subprocess.run([GROUP_SH, "up"], env=self.env, check=True, stdout=subprocess.DEVNULL)

    def down(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        subprocess.run([GROUP_SH, "down"], env=self.env, check=False)

    def bfd_up(self, ip):
        out = self.run("rtr", "vtysh", "--vty_socket", os.path.join(self.work, "lab", "frr"),
                       "-c", "show bfd peers json").stdout
        return any(p.get("peer") == ip and p.get("status") == "up" for p in json.loads(out or "[]"))

    def hops(self):
        out = self.run("rtr", "ip", "route", "show", f"{VIP}/32").stdout.split()
        return sorted(out[i + 1] for i, w in enumerate(out) if w == "via")


def wait_for(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


class Se:
    """One clonelbd SE of the group, in namespace gse1 or gse2."""

    def __init__(self, lab, role):
        self.lab, self.role = lab, role
        self.dir = os.path.join(lab.work, role)
        os.makedirs(self.dir, exist_ok=True)
        self.sock = os.path.join(self.dir, "api.sock")
        self.p = None
        self.api = Api(self.sock)

    def start(self):
        if os.path.exists(self.sock):
            os.unlink(self.sock)
        logf = open(os.path.join(self.dir, "clonelbd.log"), "ab")
        self.p = self.lab.spawn(self.role, CLONELBD, "--db", os.path.join(self.dir, "config.db"),
                                "--socket", self.sock, "--log-level", "info",
                                stdout=logf, stderr=logf)
        logf.close()
        wait_for(lambda: os.path.exists(self.sock) or self.p.poll() is not None, 10,
                 f"{self.role} API socket")
        if self.p.poll() is not None:
            raise RuntimeError(f"clonelbd in {self.role} exited with {self.p.returncode}")
        self.api.close()

    def stop(self, sig=signal.SIGTERM):
        if self.p and self.p.poll() is None:
            self.p.send_signal(sig)
            self.p.wait(20)

    def conns(self):
        return self.api.req("GET", "/api/virtualservice/web/runtime")["connections_total"]

    def cpu_ns(self):
        """CPU time of every thread of clonelbd, in ns (schedstat: not cut to clock ticks)."""
        total = 0
        task_dir = f"/proc/{self.p.pid}/task"
        for t in os.listdir(task_dir):
            with open(f"{task_dir}/{t}/schedstat") as f:
                total += int(f.read().split()[0])
        return total

    def configure(self):
        a = self.api
        a.req("PATCH", "/api/vrfcontext/global", {"bgp_profile": {
            "local_as": 65000, "hold_time": 9, "keepalive_interval": 3,
            "peers": [{"remote_as": 65100, "peer_ip": {"addr": "10.30.2.1", "type": "V4"},
                       "bfd": True}]}})
        a.req("POST", "/api/pool", {"name": "web-pool",
                                    "servers": [{"ip": {"addr": ip, "type": "V4"}} for ip in POOL]})
        a.req("POST", "/api/virtualservice", {
            "name": "web", "vip": [{"ip_address": {"addr": VIP, "type": "V4"}}],
            "services": [{"port": 80}], "pool_ref": "web-pool", "enable_rhi": True})


def clients(lab, n):
    return int(lab.run("cli", "/usr/bin/python3", "-c", CLIENT, VIP, str(n), timeout=600).stdout)


def both_up(lab, ses):
    """Both SEs running and the router's route through both, unchanged for a second (zebra
    may install it more than once while the sessions come up, reordering the next hops,
    which moves flows)."""
    for s in ses.values():
        if s.p.poll() is not None:
            s.start()
    wait_for(lambda: lab.hops() == sorted(FRONT.values()), 30, "both next hops")
    last = [None, time.monotonic()]

    def stable():
        now = lab.run("rtr", "ip", "route", "show", f"{VIP}/32").stdout
        if now != last[0]:
            last[0], last[1] = now, time.monotonic()
        return time.monotonic() - last[1] >= 1.0
    wait_for(stable, 30, "a stable route")


def measure(lab, ses, n, roles):
    """n connections while SEs @roles announce; (answered, served, CPU ns per connection) by SE.
    A warm-up of WARMUP connections goes first, not counted: an SE that has just (re)started
    is still applying its configuration and coming up in BGP, work that is not per connection."""
    clients(lab, WARMUP)
    before = {r: (ses[r].conns(), ses[r].cpu_ns()) for r in roles}
    ok = clients(lab, n)
    served = {r: ses[r].conns() - before[r][0] for r in roles}
    cpu = {r: (ses[r].cpu_ns() - before[r][1]) / max(served[r], 1) for r in roles}
    return ok, served, cpu


def row_spread_cpu(lab, ses, a, out):
    """Group and lone runs interleaved (a.rounds of each, alternating which goes first): the
    machine is shared, and a slow second of one would otherwise land on one side only."""
    n = a.cpu_connections
    group, lone = [], []
    for rnd in range(a.rounds):
        for kind in (("group", "lone") if rnd % 2 == 0 else ("lone", "group")):
            both_up(lab, ses)
            if kind == "group":
                group.append(measure(lab, ses, n, ("se1", "se2")))
                continue
            # The lone SE: se2 withdrawn (SIGTERM), se1 serves everything.
            ses["se2"].stop()
            wait_for(lambda: lab.hops() == [FRONT["se1"]], 10, "se2 withdrawn")
            lone.append(measure(lab, ses, n, ("se1",)))
    both_up(lab, ses)
    ok, served, _ = measure(lab, ses, a.connections, ("se1", "se2"))
    share = {r: 100.0 * served[r] / max(ok, 1) for r in ses}
    cpu = {r: statistics.median(g[2][r] for g in group) for r in ses}
    lone_cpu = statistics.median(x[2]["se1"] for x in lone)
    out["spread"] = {"connections": a.connections, "answered": ok, "served": served, "share_pct": share,
                     "cpu_rounds_served": [g[1] for g in group],
                     "target": "50 +- 10 % each",
                     "met": ok == a.connections and all(40 <= v <= 60 for v in share.values())}
    out["cpu"] = {"rounds": a.rounds, "connections": n, "us_per_conn": {r: v / 1000 for r, v in cpu.items()},
                  "lone_us_per_conn": lone_cpu / 1000,
                  "lone_answered": [x[0] for x in lone],
                  "ratio_to_lone": {r: v / lone_cpu for r, v in cpu.items()},
                  "target": "within 10 % of a lone SE",
                  "met": all(abs(v / lone_cpu - 1) <= 0.10 for v in cpu.values())}


def ns_pids(lab, role):
    r = subprocess.run(["ip", "netns", "pids", f"{lab.prefix}g{role}"], capture_output=True,
                       text=True)
    return [int(p) for p in r.stdout.split()]


def stopped(pid):
    """Whether every thread of @pid is in the stopped state."""
    try:
        for t in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{t}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] not in ("T", "t"):
                    return False
    except FileNotFoundError:
        pass
    return True


def route_change(lab, since, timeout=15):
    """Seconds from @since until the router's route has only se1 as next hop (inf if not)."""
    deadline = time.monotonic() + timeout
    while lab.hops() != [FRONT["se1"]]:
        if time.monotonic() > deadline:
            return float("inf")  # reported as such: the row says the target is not met
    return time.monotonic() - since


def row_failover(lab, ses, a, out, freeze=False):
    """kill -9 of se2's clonelbd (freeze: SIGSTOP of clonelbd and its BIRD, a hung host whose
    kernel still answers: only BFD tells the router) while a client opens new connections."""
    first_ok, recovered, route_gone = [], [], []
    key = "freeze" if freeze else "failover"
    run = tries = 0
    while run < a.failovers:
        tries += 1
        if tries > 3 * a.failovers:
            raise RuntimeError(f"{key}: the route kept changing before the kill")
        both_up(lab, ses)
        if freeze:
            wait_for(lambda: lab.bfd_up(FRONT["se2"]), 20, "the router's BFD session with se2")
            both_up(lab, ses)
        p = lab.spawn("cli", "/usr/bin/python3", "-c", RETRY, VIP, "60", stdin=subprocess.PIPE,
                      stdout=subprocess.PIPE, text=True)
        line = p.stdout.readline().split()
        if not line or line[0] != "ok":
            raise RuntimeError(f"new connections do not work before the kill: {line}")
        if lab.hops() != sorted(FRONT.values()):
            p.kill()  # the route moved meanwhile: not a clean start, again
            p.wait()
            continue
        frozen = ns_pids(lab, "se2") if freeze else []
        t_kill = time.monotonic()
        if freeze:
            for pid in frozen:
                os.kill(pid, signal.SIGSTOP)
            # kill() returns before the target stops: wait until every thread has.
            wait_for(lambda: all(stopped(pid) for pid in frozen), 5, "se2 to be stopped")
        else:
            ses["se2"].stop(signal.SIGKILL)
        # Attempts that began before the SE was gone may still have reached it.
        t_dead = time.monotonic()
        gone = route_change(lab, t_kill)
        time.sleep(1.5)  # the client goes on: are the connections after the change all good?
        p.stdin.close()  # the client stops at its next attempt
        lines = [x.split() for x in p.stdout.read().splitlines()]
        p.wait(30)
        for pid in frozen:
            os.kill(pid, signal.SIGCONT)
        if freeze:
            ses["se2"].stop()  # a fresh start for the next run, as after a kill
        after = [(w[0], float(w[1]), float(w[2])) for w in lines if float(w[1]) > t_dead]
        oks = [st for r, st, _ in after if r == "ok"]
        fails = [end for r, _, end in after if r == "fail"]
        if not oks:
            raise RuntimeError(f"{key}: no new connection succeeded after the SE was gone")
        first_ok.append(oks[0] - t_kill)
        recovered.append(max(fails) - t_kill if fails else 0.0)
        route_gone.append(gone)
        run += 1
        log(f"{key} {run}: first success after {first_ok[-1] * 1000:.0f} ms, last failure "
            f"over after {recovered[-1] * 1000:.0f} ms ({len(fails)} of {len(after)} attempts "
            f"failed), route without se2 seen after {gone * 1000:.0f} ms")
    out[key] = {"runs": a.failovers, "first_success_s": first_ok,
                "median_first_success_s": statistics.median(first_ok),
                "all_succeed_after_s": recovered,
                "median_all_succeed_after_s": statistics.median(recovered),
                "route_gone_s": route_gone, "median_route_gone_s": statistics.median(route_gone),
                "target": f"median <= {FAILOVER_TARGET_S} s",
                "met": statistics.median(recovered) <= FAILOVER_TARGET_S}
    both_up(lab, ses)


def row_freeze(lab, ses, a, out):
    row_failover(lab, ses, a, out, freeze=True)


ROWS = {"spread": row_spread_cpu, "failover": row_failover, "freeze": row_freeze}


def report(out):
    lines = ["SE group (tests/lab/group.sh: FRR router, 2 SEs, BIRD, ECMP)"]
    if "spread" in out:
        s = out["spread"]
        lines.append(f"  spread of {s['connections']} connections: se1 {s['share_pct']['se1']:.1f} %, "
                     f"se2 {s['share_pct']['se2']:.1f} % ({s['answered']} answered; target "
                     f"{s['target']}: {'met' if s['met'] else 'NOT met'})")
        c = out["cpu"]
        lines.append(f"  CPU per connection ({c['connections']} connections a round, median of "
                     f"{c['rounds']} rounds): se1 {c['us_per_conn']['se1']:.1f} us "
                     f"({c['ratio_to_lone']['se1']:.2f}x lone), se2 {c['us_per_conn']['se2']:.1f} us "
                     f"({c['ratio_to_lone']['se2']:.2f}x lone), lone SE {c['lone_us_per_conn']:.1f} us "
                     f"(target {c['target']}: {'met' if c['met'] else 'NOT met'})")
    for key, what in (("failover", "kill -9"), ("freeze", "SIGSTOP (hung SE, BFD)")):
        if key not in out:
            continue
        f = out[key]
        ms = lambda xs: ", ".join(f"{x * 1000:.0f}" for x in xs)  # noqa: E731
        lines.append(f"  {what} of an SE, median of {f['runs']} runs: first new connection "
                     f"through the other after {f['median_first_success_s'] * 1000:.0f} ms "
                     f"({ms(f['first_success_s'])}); every new connection succeeds after "
                     f"{f['median_all_succeed_after_s'] * 1000:.0f} ms "
                     f"({ms(f['all_succeed_after_s'])}); route without it seen after "
                     f"{f['median_route_gone_s'] * 1000:.0f} ms (target {f['target']}: "
                     f"{'met' if f['met'] else 'NOT met'})")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", default=",".join(ROWS), help="comma-separated: " + ", ".join(ROWS))
    ap.add_argument("--quick", action="store_true",
                    help="200 connections, 2 failovers, 1 cpu round: a check, not a measurement")
    ap.add_argument("--connections", type=int, default=1000, help="connections of the spread row")
    ap.add_argument("--cpu-connections", type=int, default=4000,
                    help="connections of each group and lone round of the cpu row")
    ap.add_argument("--failovers", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3, help="group/lone rounds of the cpu row")
    ap.add_argument("--prefix", default=os.environ.get("LAB_PREFIX", "bgrp-"))
    a = ap.parse_args()
    if a.quick:
        a.connections, a.cpu_connections, a.failovers, a.rounds = 200, 200, 2, 1
    rows = [r for r in a.rows.split(",") if r]
    for r in rows:
        if r not in ROWS:
            ap.error(f"--rows: unknown row '{r}' (one of {', '.join(ROWS)})")
    if os.geteuid() != 0:
        sys.exit("group.py: run as root (network namespaces)")
    work = tempfile.mkdtemp(prefix="clonelb-bench-group-")
    os.chmod(work, 0o755)
    lab = GroupLab(a.prefix, work)
    out = {"quick": a.quick}
    try:
        lab.up()
        nginx_dir = os.path.join(work, "nginx")
        os.makedirs(nginx_dir)
        with open(os.path.join(nginx_dir, "nginx.conf"), "w") as f:
            f.write(f"""worker_processes 1; daemon off; pid {nginx_dir}/pid; error_log {nginx_dir}/e.log;
events {{ worker_connections 4096; }}
http {{ access_log off; client_body_temp_path {nginx_dir}/b; proxy_temp_path {nginx_dir}/p;
  fastcgi_temp_path {nginx_dir}/f; uwsgi_temp_path {nginx_dir}/u; scgi_temp_path {nginx_dir}/s;
  server {{ listen {POOL[0]}:80; listen {POOL[1]}:80; location / {{ return 200 "ok\\n"; }} }} }}
""")
        lab.spawn("srv", "nginx", "-c", os.path.join(nginx_dir, "nginx.conf"),
                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        ses = {r: Se(lab, r) for r in ("se1", "se2")}
        for s in ses.values():
            s.start()
            s.configure()
        for r in rows:
            ROWS[r](lab, ses, a, out)
    finally:
        lab.down()
        shutil.rmtree(work, ignore_errors=True)
    text = report(out)
    print(text)
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "group.json"), "w") as f:
        json.dump(out, f, indent=2)


if __name__ == "__main__":
    main()
