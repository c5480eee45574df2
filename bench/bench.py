#!/usr/bin/python3
"""bench.py: clonelb against HAProxy on the same lab, interleaved rounds, medians and ratios.

Run as root from the repository (make bench). Builds the lab of tests/lab/lab.sh under its own
prefix, starts nginx and iperf3 as pool servers, HAProxy and clonelbd side by side in the se
namespace (same thread count, equivalent configuration, different ports), and measures each
scenario for each target in turn, alternating which goes first. Prints tables and writes
bench/out/table.txt, bench/out/results.json and bench/out/bench.png. Everything runs inside
the lab's namespaces and is torn down on exit, also on failure. docs/performance.md says what
each row measures.

The sysctl rule (benchlab.Lab.up): the SE namespace, where both load balancers run, keeps the
kernel's defaults (those of a fresh namespace; the bench checks it before it measures and
tunes nothing there); the client and server namespaces get CLIENT_SIDE_TUNING, the same for
both load balancers; the all-stock row leaves every namespace on the defaults.

Row groups (--rows): table (the interleaved scenarios, with cloning on/off and tc mirred on/off
next to clonelb), workers (new connections with each --workers count), sustained (a long
new-connection run, one rate per second), stock (the all-stock row, fresh labs), patch (PATCH
latency with many stored objects), ipv6 (keep-alive, new connections and bulk with client,
VIP and pool in IPv6, HAProxy against clonelb with cloning off and on; a lab of their own),
tlspool (TLS to the pool: plain HTTP to the VIP, HTTPS servers; HAProxy with ssl on its servers
against clonelb with pool.ssl_profile_ref, and clonelb with a plaintext_for_tls_pools clone
against cloning off; a lab of their own, bench/tlspool.py).

Cloning (on by default, `--no-clone` to skip): the target "clonelb+clone" is the same clonelbd
serving the same nginx and iperf3 servers through virtual services that carry a
traffic_clone_profile with one clone server (the tap namespace's 10.10.3.2). It runs the
CLONE_SCENARIOS right next to clonelb with cloning off, and its back-end traffic uses ports of
its own on the servers (CLONE_WEB_PORT, CLONE_BULK_PORT; its pools have no health monitor), so
that during its runs the frames of the cloned services on the SE's back-end interface can be
counted exactly (see FrameCount) and compared with the frames the clone server received. The
target "clonelb+mirred" is clonelb with cloning off plus a bare tc u32/mirred mirror of
srv0 to tap0 (scenarios.Mirred), the in-kernel limit a clone engine can be held against. The
target "clonelb+vxlan" (`--no-vxlan` to skip) clones the same way to a VXLAN collector two
router hops away (lab.sh routers-up); its completeness counts what the collector's eth0
received.
"""
import argparse
import fcntl
import os
import shutil
import signal
import sys
import tempfile
import time

from benchlab import (CLONE_SCENARIOS, CLONE_SERVER, CLONE_WEB_PORT, CLONE_BULK_PORT,
                      COLLECTOR, COLLECTOR_FILTER,
                      BULK_PORT, CLONELBD, OUT, VIP, Lab, Target, child_pid, listening, log,
                      make_cert, setup_clonelb, start_clonelbd, start_haproxy, start_pool,
                      stop, wait_for)
from report import report
from rows import ipv6_row, patch_row, stock_row
from scenarios import (SCENARIOS, BatchPolicy, FrameCount, Mirred, cpu_seconds, scenario_newconn,
                       sustained_newconn, time_wait)
from tlspool import tlspool_row

ROW_GROUPS = ("table", "workers", "sustained", "stock", "patch", "ipv6", "tlspool")
SETTLED_TIME_WAIT = 100
_lock = None


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", default=",".join(ROW_GROUPS),
                    help="comma-separated row groups: " + ", ".join(ROW_GROUPS) +
                         " (default: all)")
    ap.add_argument("--rounds", type=int, default=3, help="rounds of the interleaved rows")
    ap.add_argument("--seconds", type=int, default=5, help="duration of each measurement")
    ap.add_argument("--threads", type=int, default=2,
                    help="worker threads of both load balancers in the table")
    ap.add_argument("--workers", default="1,2",
                    help="worker counts of the new-connection rows and the sustained run")
    ap.add_argument("--idle", type=int, default=9000,
                    help="idle connections for the RSS scenario (the container's hard "
                         "open-files limit of 20000 caps a full proxy near 9,990)")
    ap.add_argument("--only", help="comma-separated scenario keys of the table")
    ap.add_argument("--clone", action=argparse.BooleanOptionalAction, default=True,
                    help="also measure clonelb with a traffic clone profile (one clone "
                         "server) on the scenarios " + ", ".join(CLONE_SCENARIOS) +
                         ", with the clone's completeness (default: on)")
    ap.add_argument("--mirred", action=argparse.BooleanOptionalAction, default=True,
                    help="also measure clonelb with a bare tc mirred mirror of srv0 to tap0 "
                         "on the same scenarios (default: on)")
    ap.add_argument("--vxlan", action=argparse.BooleanOptionalAction, default=True,
                    help="also measure clonelb cloning over VXLAN to a collector two router "
                         "hops away (lab.sh routers-up) on the same scenarios (default: on)")
    ap.add_argument("--haproxy-batch", action=argparse.BooleanOptionalAction, default=True,
                    help="also measure HAProxy with its threads under SCHED_BATCH, clonelbd's "
                         "default worker policy, on keep-alive and new connections: a "
                         "reference row (default: on)")
    ap.add_argument("--haproxy-splice", action="store_true",
                    help="HAProxy with option splice-auto (its default is a buffered copy)")
    ap.add_argument("--prefix", default="bn-")
    ap.add_argument("--offloads", action=argparse.BooleanOptionalAction, default=True,
                    help="give every lab veth the kernel's default offloads (TSO/GSO/GRO and "
                         "checksum on), as NICs have them; --no-offloads keeps the tests' lab "
                         "(wire-size frames, every segment handled in software)")
    ap.add_argument("--sustained-seconds", type=int, default=60,
                    help="duration of the sustained new-connection run")
    ap.add_argument("--settle", type=int, default=65,
                    help="before each sustained run, wait at most this many seconds for the "
                         "SE's TIME_WAIT sockets of the runs before to expire (down to %d)"
                         % SETTLED_TIME_WAIT)
    ap.add_argument("--stock-labs", type=int, default=3,
                    help="fresh all-stock labs for each load balancer")
    ap.add_argument("--stock-rounds", type=int, default=3)
    ap.add_argument("--stock-seconds", type=int, default=6)
    ap.add_argument("--stock-workers", type=int, default=1)
    ap.add_argument("--patch-objects", type=int, default=10000,
                    help="objects stored before the PATCHes are timed")
    ap.add_argument("--patch-count", type=int, default=200,
                    help="PATCHes timed, of each of the two objects")
    ap.add_argument("--patch-create-limit", type=int, default=180,
                    help="seconds after which the PATCH row stops creating objects and "
                         "times the PATCHes with what is stored")
    a = ap.parse_args()
    for opt in ("rounds", "seconds", "threads", "idle", "sustained_seconds", "stock_labs",
                "stock_rounds", "stock_seconds", "stock_workers", "patch_objects",
                "patch_count", "patch_create_limit"):
        if getattr(a, opt) < 1:
            ap.error(f"--{opt.replace('_', '-')}: {getattr(a, opt)} is not at least 1")
    if a.settle < 0:
        ap.error(f"--settle: {a.settle} is negative")
    a.rows = [r for r in a.rows.split(",") if r]
    bad = [r for r in a.rows if r not in ROW_GROUPS]
    if bad:
        ap.error(f"--rows: unknown row group {bad[0]!r} (known: {', '.join(ROW_GROUPS)})")
    try:
        a.workers = [int(w) for w in a.workers.split(",") if w]
    except ValueError:
        ap.error(f"--workers: {a.workers!r} is not a comma-separated list of numbers")
    if not a.workers or min(a.workers) < 1:
        ap.error(f"--workers: {a.workers!r}: worker counts are at least 1")
    return a


def measure(lab, t, fn, a, fc=None):
    """One measurement of @fn on @t: (figure, CPU µs per operation or None, frame count)."""
    if getattr(t, "mirred", None):
        t.mirred.on()
    if getattr(t, "policy", None):
        t.policy.on()
    if fc:
        fc.start()
    try:
        cpu0 = cpu_seconds(t.pid)
        v, ops = fn(lab, t, a)
        cpu = cpu_seconds(t.pid) - cpu0
    except BaseException:
        if fc:
            fc.stop(ok=False)
        raise
    finally:
        if getattr(t, "mirred", None):
            t.mirred.off()
        if getattr(t, "policy", None):
            t.policy.off()
    fr = fc.stop() if fc else None
    return v, (cpu * 1e6 / ops if ops else None), fr


# The scenarios of the HAProxy + SCHED_BATCH reference row.
BATCH_SCENARIOS = ("keepalive", "newconn")


def interleaved(lab, work, a, scen, run_order, cl, api, res):
    """a.rounds rounds of every scenario of @scen on each target of @run_order, the order
    flipping every round; clonelb's derived targets (clone, mirred) only on CLONE_SCENARIOS,
    each with the same frame counting as clonelb's own runs of those scenarios."""
    derived = [t for t in run_order if t is not cl and t.name.startswith("clonelb+")]
    for r in range(a.rounds):
        order = run_order if r % 2 == 0 else list(reversed(run_order))
        for key_, label, fn, _, _ in scen:
            base_key = key_.split("_w")[0]
            for t in order:
                if t in derived and base_key not in CLONE_SCENARIOS:
                    continue
                if t.name == "haproxy+batch" and base_key not in BATCH_SCENARIOS:
                    continue
                fc = None
                if derived and base_key in CLONE_SCENARIOS and (t is cl or t in derived):
                    cloned = t.name in ("clonelb+clone", "clonelb+vxlan")
                    fc = FrameCount(lab, work, (CLONE_WEB_PORT, CLONE_BULK_PORT)
                                    if cloned else (80, BULK_PORT),
                                    api if cloned else None,
                                    getattr(t, "services", ()) if cloned else (),
                                    rx=("col", "eth0", COLLECTOR_FILTER, "rtr0")
                                    if t.name == "clonelb+vxlan" else None)
                v, per_op, fr = measure(lab, t, fn, a, fc)
                if fr:
                    res["frames"].setdefault(key_, {}).setdefault(t.name, []).append(fr)
                    if t in derived:
                        log(f"  {t.name}: received {fr['received']} / expected "
                            f"{fr['expected']}" + (f", engine {fr['engine']}, identity "
                                                   f"{'ok' if fr['identity'] else 'BROKEN'}"
                                                   if 'engine' in fr else "") +
                            f", capture drops {fr['capture_drops']}"
                            f"{'' if fr['valid'] else ' INVALID'}")
                res["results"].setdefault(key_, {}).setdefault(t.name, []).append(v)
                res["cpu"].setdefault(key_, {}).setdefault(t.name, []).append(per_op)
                log(f"round {r + 1} {label:24s} {t.name:15s} {v:12.2f}" +
                    (f"   cpu {per_op:8.2f} us/op" if per_op else ""))


def sustained(lab, a, workers, targets, res, flip):
    """The sustained run of each of @targets (HAProxy and clonelb) with @workers workers."""
    order = list(reversed(targets)) if flip else targets
    for t in order:
        # Settled: what the runs before left has expired; the health checks' own few
        # TIME_WAIT sockets (a handful every 10 s) do not count.
        deadline = time.monotonic() + a.settle
        while time_wait(lab, "se") > SETTLED_TIME_WAIT and time.monotonic() < deadline:
            time.sleep(1)
        tw = time_wait(lab, "se")
        log(f"sustained {a.sustained_seconds}s, {workers} workers, {t.name} "
            f"(SE TIME_WAIT at start: {tw})")
        s = sustained_newconn(lab, t, a.sustained_seconds)
        s["se_time_wait_at_start"] = tw
        res["sustained"].setdefault(str(workers), {})[t.name] = s
        ps = s["per_second"]
        if ps:
            log(f"  {t.name}: median {sorted(ps)[len(ps) // 2]:.0f} lowest {min(ps):.0f} conn/s "
                f"over {len(ps)} s, wrk {s['wrk_rate']:.0f} req/s {s['errors']}")


def start_both(lab, work, a, threads, ha, cl):
    """HAProxy and clonelbd (the store in @work kept, so a restart serves the same services)
    with @threads workers each."""
    ha.proc = start_haproxy(lab, work, threads, ha, a.haproxy_splice)
    p, api = start_clonelbd(lab, work, threads)
    cl.proc, cl.pid = p, child_pid(p.pid, "clonelbd")
    return api


def add_derived(lab, api, a, scen, cert, key, targets):
    """clonelb's derived targets of the table: cloning on, tc mirred on."""
    cc = None
    if a.clone and scen:
        cc = Target("clonelb+clone", 81, 444, 15202)
        setup_clonelb(api, cc, cert, key, suffix="-clone", clone_profile={
            "name": "bench-clone",
            "clone_servers": [{"ip_address": {"addr": CLONE_SERVER},
                               "subnet": {"ip_addr": {"addr": "10.10.3.0"}, "mask": 24}}]})
        targets.append(cc)
    if a.vxlan and scen:
        cv = Target("clonelb+vxlan", 82, 445, 15203)
        setup_clonelb(api, cv, cert, key, suffix="-vxlan", clone_profile={
            "name": "bench-vxlan",
            "clone_servers": [{"ip_address": {"addr": COLLECTOR},
                               "encap_type": "CLONE_ENCAP_VXLAN", "vni": 42}]})
        targets.append(cv)
    if a.mirred and scen:
        cm = Target("clonelb+mirred", 80, 443, 15201)
        cm.mirred = Mirred(lab)
        targets.append(cm)
    return cc


def lab_rows(lab, work, a, scen, cert, key, res, targets):
    """The rows of the shared lab (table, workers, sustained): the table's thread count
    first, then the other worker counts, both load balancers restarted for each."""
    lab.up()
    res["sysctls"] = lab.sysctl_summary(False)
    log("bench: sysctls\n" + res["sysctls"])
    if a.offloads:
        lab.offloads_on()
    if a.vxlan and scen:
        lab.routers_up(a.offloads)
    start_pool(lab, work)
    cl = Target("clonelb", 80, 443, 15201)
    ha = Target("haproxy", 8080, 8443, 25201)
    targets += [cl, ha]
    cc = None
    counts = [a.threads] + [w for w in a.workers if w != a.threads]
    for n, threads in enumerate(counts):
        if n:
            stop(lab, ha.proc)
            stop(lab, cl.proc)
        api = start_both(lab, work, a, threads, ha, cl)
        run_order = [ha, cl]
        if n == 0:
            setup_clonelb(api, cl, cert, key)
            cc = add_derived(lab, api, a, scen, cert, key, targets)
            if a.haproxy_batch and scen:
                hb = Target("haproxy+batch", ha.http_port, ha.tls_port, ha.bulk_port)
                hb.policy = BatchPolicy(hb)
                targets.append(hb)
        for t in targets:
            if t.name.startswith("clonelb+"):
                t.pid = cl.pid
            if t.name == "haproxy+batch":
                t.pid = ha.pid
        for t in targets:
            wait_for(listening(lab, "se", t.http_port), 10, f"{t.name} listening")
        for t in targets:
            if t.name == "clonelb+vxlan":
                lab.run("cli", "curl", "-s", "-o", "/dev/null", "-m", "5",
                        f"http://{VIP}:{t.http_port}/", check=False)
        if cc:
            # One request through the cloned service, so that the clone server's MAC is
            # known before the first measurement.
            lab.run("cli", "curl", "-s", "-o", "/dev/null", "-m", "5",
                    f"http://{VIP}:{cc.http_port}/", check=False)
        if n == 0 and scen:
            log(f"bench: {threads} workers each, {a.rounds} rounds of {a.seconds}s, "
                f"work dir {work}")
            # clonelb runs between HAProxy and its derived targets, so that each comparison
            # is back to back; the order flips every round.
            interleaved(lab, work, a, scen, run_order + targets[2:], cl, api, res)
        if "workers" in a.rows and threads in a.workers:
            key_ = f"newconn_w{threads}"
            row = (key_, f"new conn/s, {threads} worker{'s' if threads > 1 else ''}",
                   scenario_newconn, True, 1.1)
            res["worker_rows"].append(row)
            if threads == a.threads and "newconn" in res["results"]:
                # The table's own row, measured with this worker count.
                for k in ("results", "cpu"):
                    res[k][key_] = {t: v for t, v in res[k]["newconn"].items()
                                    if t in ("clonelb", "haproxy")}
            else:
                interleaved(lab, work, a, [row], run_order, cl, api, res)
        if "sustained" in a.rows and threads in a.workers:
            sustained(lab, a, threads, [ha, cl], res, n % 2 == 1)
        api.close()
    # Neither load balancer may have changed the SE's sysctls either.
    lab.verify_se_stock()
    res["sysctls"] += "\n  (se checked again at the end of these rows: still the defaults)"


def lock_prefix(prefix):
    """Two runs with the same prefix would tear down each other's lab (lab.sh up starts with
    a down) and share the CPUs: waits for the other one (bounded). The lock is held until the
    process exits."""
    global _lock
    lock = _lock = open(f"/tmp/clonelb-bench-{prefix}.lock", "w")
    deadline = time.monotonic() + 900
    while True:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return lock
        except BlockingIOError:
            if time.monotonic() > deadline:
                sys.exit(f"bench.py: another bench with prefix {prefix} still runs")
            log(f"bench: another bench with prefix {prefix} runs, waiting")
            time.sleep(10)


def main():
    a = parse_args()
    if os.geteuid() != 0:
        sys.exit("bench.py: run as root (it creates network namespaces)")
    if not os.path.exists(CLONELBD):
        sys.exit("bench.py: build/clonelbd missing, run make first")
    scen = [s for s in SCENARIOS if not a.only or s[0] in a.only.split(",")]
    if "table" not in a.rows:
        scen = []
    lock_prefix(a.prefix)
    work = tempfile.mkdtemp(prefix="clonelb-bench-")
    lab = Lab(a.prefix)
    res = {"results": {}, "cpu": {}, "frames": {}, "sustained": {}, "stock": None,
           "patch": None, "ipv6": None, "tlspool": None, "worker_rows": [], "sysctls": "", "failed": [],
           "durations": {}}
    t0 = time.monotonic()
    targets = []
    try:
        cert, key = make_cert(work)
        # Each group of rows on its own: one that fails is reported with its error, and
        # the rows measured before and after it are still printed.
        groups = (("table/workers/sustained",
                   lambda: lab_rows(lab, work, a, scen, cert, key, res, targets),
                   any(r in a.rows for r in ("table", "workers", "sustained"))),
                  ("stock", lambda: res.__setitem__("stock", stock_row(a, work, cert, key)),
                   "stock" in a.rows),
                  ("patch", lambda: res.__setitem__("patch", patch_row(a, work)),
                   "patch" in a.rows),
                  ("ipv6", lambda: res.__setitem__("ipv6", ipv6_row(a, work, cert, key)),
                   "ipv6" in a.rows),
                  ("tlspool", lambda: res.__setitem__("tlspool", tlspool_row(a, work)),
                   "tlspool" in a.rows))
        for name, fn, wanted in groups:
            if not wanted:
                continue
            g0 = time.monotonic()
            try:
                fn()
            except Exception as e:  # reported, and the exit code says so
                log(f"bench: the {name} rows failed: {e!r}")
                res["failed"].append(f"{name}: {e!r}")
            finally:
                lab.down()
                res["durations"][name] = time.monotonic() - g0
        report(res, scen, targets, a, time.monotonic() - t0)
        broken = [f"{k} round {i + 1}" for k, per in res["frames"].items()
                  for i, f in enumerate(per.get("clonelb+clone", [])) if not f["identity"]]
        if broken:
            sys.exit("bench.py: traffic_clone_stats identity num_total_pkts_cloned == "
                     "num_succeeded + num_mbuf_alloc_failed + num_driver_failures broken "
                     "after: " + ", ".join(broken))
        if res["failed"]:
            sys.exit("bench.py: rows failed: " + "; ".join(res["failed"]))
    finally:
        lab.down()
        if os.path.exists(os.path.join(work, "clonelbd.log")):
            os.makedirs(OUT, exist_ok=True)
            shutil.copy(os.path.join(work, "clonelbd.log"), os.path.join(OUT, "clonelbd.log"))
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    main()
