"""scenarios.py: the measurements of the interleaved table, and clone completeness counting.

A scenario is a function (lab, target, args) -> (figure, operations); operations (requests,
connections, MiB) divide the load balancer's CPU time into a cost per operation.
"""
import json
import os
import re
import signal
import subprocess
import time

from benchlab import MIRRED_PRIO, POOL, TOOL_TIMEOUT, VIP, hostport, log, wait_for

# ---- scenarios: each returns one figure, higher is better unless noted ----

def wrk(lab, url, conns, seconds, *extra, with_errors=False):
    """wrk -t1 -c@conns for @seconds: (requests/s, requests[, socket errors and non-2xx])."""
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
    res = (float(m.group(1)), int(total.group(1)) if total else 0)
    if with_errors:
        err = " ".join(x.group(0) for x in (errs, non2xx) if x)
        return res + (err,)
    return res


def vip(t):
    """The VIP @t serves on as it goes before ":port" (the IPv6 rows' in brackets)."""
    return hostport(getattr(t, "vip", VIP))


def scenario_keepalive(lab, t, a):
    """HTTP requests/s over 64 keep-alive connections."""
    return wrk(lab, f"http://{vip(t)}:{t.http_port}/", 64, a.seconds)


def scenario_newconn(lab, t, a):
    """New connections/s: one request per connection (Connection: close)."""
    return wrk(lab, f"http://{vip(t)}:{t.http_port}/", 64, a.seconds, "-H", "Connection: close")


def scenario_tls(lab, t, a):
    """TLS handshakes/s: one HTTPS request per connection, RSA-2048 certificate."""
    return wrk(lab, f"https://{vip(t)}:{t.tls_port}/", 32, a.seconds, "-H", "Connection: close")


def scenario_bulk(lab, t, a):
    """Bulk transfer Gbit/s: one iperf3 stream client to server through the proxy."""
    out = lab.run("cli", "iperf3", "-c", getattr(t, "vip", VIP), "-p", str(t.bulk_port),
                  "-t", str(a.seconds),
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

def pool_frames_filter(ports, pool=POOL):
    """pcap filter: TCP frames between the SE and a pool server's @ports (either direction);
    @pool: the servers' addresses (POOL6 for the IPv6 rows)."""
    hosts = " or ".join(f"host {ip}" for ip in pool)
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

    def __init__(self, lab, work, ports, api=None, services=(), rx=None, pool=POOL):
        self.lab, self.work, self.ports, self.pool = lab, work, ports, pool
        self.api, self.services = api, services
        # Where the clones arrive: (namespace, interface, pcap filter of the clones there,
        # the SE's interface they leave by). Default: the tap's eth0, by the pool ports.
        self.rx = rx or ("tap", "eth0", pool_frames_filter(ports, pool), "tap0")
        self.caps = []

    def _srv0_tap(self):
        return link_counters(self.lab, "se", "srv0"), link_counters(self.lab, *self.rx[:2]), \
            link_counters(self.lab, "se", self.rx[3])

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
        for role, dev, direction, flt in (("se", "srv0", "inout",
                                           f"not ({pool_frames_filter(self.ports, self.pool)})"),
                                          (self.rx[0], self.rx[1], "in", f"not ({self.rx[2]})")):
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
    ("keepalive", "keep-alive req/s", scenario_keepalive, True, 1.1),
    ("newconn", "new conn/s", scenario_newconn, True, 1.1),
    ("bulk", "bulk Gbit/s", scenario_bulk, True, 1.1),
    ("tls", "TLS handshakes/s", scenario_tls, True, 1.0),
    ("rss_idle", "RSS MB, idle conns", scenario_rss_idle, False, 0.5),
]


# ---- the sustained new-connection run: one rate per second ----

def tcp_counters(pid):
    """The Tcp: line of /proc/@pid/net/snmp (the counters of that process's namespace)."""
    with open(f"/proc/{pid}/net/snmp") as f:
        rows = [line.split() for line in f if line.startswith("Tcp:")]
    return dict(zip(rows[0][1:], (int(x) for x in rows[1][1:])))


def sustained_newconn(lab, t, seconds, conns=64):
    """wrk -c@conns -H "Connection: close" for @seconds against @t; the client namespace's
    TCP counters read every second give the connections opened per second (ActiveOpens minus
    AttemptFails: connects that did not fail, divided by the time between two readings).
    Returns {"per_second": [...], "wrk_rate", "wrk_total", "errors"}; the first and last
    seconds (wrk starting, wrk stopping) are left out of per_second."""
    p = lab.spawn("cli", "wrk", "-t1", f"-c{conns}", f"-d{seconds}s", "-H", "Connection: close",
                  f"http://{VIP}:{t.http_port}/", stdout=subprocess.PIPE, text=True)
    samples = []
    try:
        nxt = time.monotonic()
        while p.poll() is None and len(samples) <= seconds + 5:
            try:
                c = tcp_counters(p.pid)
            except (OSError, IndexError):
                break  # wrk is gone
            samples.append((time.monotonic(), c["ActiveOpens"] - c["AttemptFails"]))
            nxt += 1.0
            time.sleep(max(0.0, nxt - time.monotonic()))
        out, _ = p.communicate(timeout=seconds + 30)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        if p in lab.procs:
            lab.procs.remove(p)
    # Divided by the time that really passed between two readings: a reading the loaded
    # machine delayed must not make one second look slow and the next one fast.
    rates = [(nb - na) / (tb - ta) for (ta, na), (tb, nb) in zip(samples, samples[1:])
             if tb > ta]
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total = re.search(r"(\d+) requests in", out)
    errs = re.search(r"Socket errors: (.*)", out)
    return {"per_second": rates[1:-1], "wrk_rate": float(m.group(1)) if m else 0.0,
            "wrk_total": int(total.group(1)) if total else 0,
            "errors": errs.group(1) if errs else ""}


def time_wait(lab, role):
    """Sockets in TIME_WAIT in namespace @role."""
    return len(lab.run(role, "ss", "-Htan", "state", "time-wait").stdout.splitlines())


# ---- tc mirred: the kernel's own mirror of srv0 to tap0, the in-kernel limit of cloning

class Mirred:
    """A match-everything u32 + mirred filter (matchall is not built into every kernel) on
    each clsact hook of the SE's srv0 that mirrors every frame
    to tap0 (no MAC rewrite, no per-service selection: all a bare kernel mirror does). Added
    for one measurement, removed right after; at a priority of its own (MIRRED_PRIO), before
    the clone engine's filter, with the verdict "continue" so that the clone engine's filter
    still runs after it, as in the cloning-off runs it is compared with (a filter's own verdict
    would end the hook there)."""

    def __init__(self, lab):
        self.lab = lab

    def on(self):
        self.lab.run("se", "tc", "qdisc", "add", "dev", "srv0", "clsact", check=False)
        for hook in ("ingress", "egress"):
            self.lab.run("se", "tc", "filter", "add", "dev", "srv0", hook, "prio",
                         str(MIRRED_PRIO), "protocol", "all", "u32", "match", "u32", "0", "0",
                         "action", "mirred", "egress", "mirror",
                         "dev", "tap0", "continue")

    def off(self):
        for hook in ("ingress", "egress"):
            self.lab.run("se", "tc", "filter", "del", "dev", "srv0", hook, "prio",
                         str(MIRRED_PRIO), check=False)



class BatchPolicy:
    """HAProxy's threads under SCHED_BATCH, the policy clonelbd gives its workers by default
    (--worker-sched), for one measurement: a reference row that shows how much of the
    difference is the scheduling policy. Put back to SCHED_OTHER, HAProxy's default, right
    after."""

    def __init__(self, target):
        self.target = target  # its pid is HAProxy's, set at each (re)start

    def _set(self, flag):
        for tid in os.listdir(f"/proc/{self.target.pid}/task"):
            subprocess.run(["chrt", flag, "-p", "0", tid], check=True, capture_output=True,
                           timeout=10)

    def on(self):
        self._set("-b")

    def off(self):
        self._set("-o")
