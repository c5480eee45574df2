"""rows.py: the rows that need a lab or a daemon of their own: the all-stock new-connection
row (a fresh lab per load balancer, every namespace on the kernel's defaults), the PATCH
latency row (a clonelbd with a fresh store holding many objects) and the IPv6 rows (clients,
VIP and pool in IPv6, cloning on and off)."""
import os
import statistics
import subprocess
import time

from benchlab import (BULK_PORT, CLONE_BULK_PORT, CLONE_SERVER6, CLONE_SUBNET6, CLONE_WEB_PORT,
                      POOL6, VIP, VIP6, Lab, Target, child_pid, hostport, log, listening,
                      setup_clonelb, start_clonelbd, start_haproxy, start_pool, stop, wait_for)
from scenarios import (FrameCount, cpu_seconds, scenario_bulk, scenario_keepalive,
                       scenario_newconn, time_wait, wrk)


def stock_row(a, work, cert, key):
    """a.stock_labs fresh labs for each load balancer, every namespace on the kernel's
    defaults (one client address, as behind a NAT gateway), a.stock_workers workers;
    a.stock_rounds rounds of a.stock_seconds s of wrk -c64 -H "Connection: close", back to
    back, so that what the rounds leave behind (TIME_WAIT) weighs on the next ones. Returns
    {"runs": [{"lab": i, "target": name, "rates": [...], "errors": [...], "time_wait":
    {role: n}}]}."""
    runs = []
    for i in range(a.stock_labs):
        order = ["haproxy", "clonelb"] if i % 2 == 0 else ["clonelb", "haproxy"]
        for name in order:
            d = os.path.join(work, f"stock-{i + 1}-{name}")
            os.makedirs(d)
            lab = Lab(a.prefix)
            try:
                lab.up(stock_everywhere=True)
                if a.offloads:
                    lab.offloads_on()
                start_pool(lab, d)
                if name == "haproxy":
                    t = Target("haproxy", 8080, 8443, 25201)
                    start_haproxy(lab, d, a.stock_workers, t, certdir=work)
                else:
                    t = Target("clonelb", 80, 443, 15201)
                    p, api = start_clonelbd(lab, d, a.stock_workers)
                    setup_clonelb(api, t, cert, key)
                    api.close()
                wait_for(listening(lab, "se", t.http_port), 10, f"{name} listening")
                rates, errors = [], []
                for r in range(a.stock_rounds):
                    v, _, err = wrk(lab, f"http://{VIP}:{t.http_port}/", 64, a.stock_seconds, "-H",
                                    "Connection: close", with_errors=True)
                    rates.append(v)
                    errors.append(err)
                    log(f"stock lab {i + 1} round {r + 1} {name:10s} {v:12.2f}" +
                        (f"   {err}" if err else ""))
                tw = {role: time_wait(lab, role) for role in ("cli", "se", "srv")}
                lab.verify_se_stock(("cli", "se", "srv", "tap"))  # still all stock
                runs.append({"lab": i + 1, "target": name, "rates": rates, "errors": errors,
                             "time_wait": tw})
            finally:
                lab.down()
    return {"runs": runs}


# The IPv6 rows: (key, label, scenario, target ratio clonelb / HAProxy).
IPV6_SCENARIOS = [("keepalive6", "IPv6 keep-alive req/s", scenario_keepalive, 1.1),
                  ("newconn6", "IPv6 new conn/s", scenario_newconn, 1.1),
                  ("bulk6", "IPv6 bulk Gbit/s", scenario_bulk, 1.1)]


def ipv6_row(a, work, cert, key):
    """HAProxy, clonelb and clonelb with a traffic clone profile (clone server CLONE_SERVER6)
    on a lab of their own where the client, the VIP (VIP6) and the pool (POOL6) are IPv6;
    a.rounds interleaved rounds of each of IPV6_SCENARIOS, the order flipping every round.
    clonelb's runs with and without cloning count the frames of their back-end ports on srv0
    and at the clone server (FrameCount), as the table's do. Returns {"results": {key:
    {target: [figure]}}, "cpu": {key: {target: [us/op]}}, "frames": {key: {target:
    [count]}}}."""
    d = os.path.join(work, "ipv6")
    os.makedirs(d)
    lab = Lab(a.prefix)
    res = {"results": {}, "cpu": {}, "frames": {}}
    try:
        lab.up()
        if a.offloads:
            lab.offloads_on()
        start_pool(lab, d, pool=POOL6)
        ha = Target("haproxy", 8080, 8443, 25201, vip=VIP6, pool=POOL6)
        cl = Target("clonelb", 80, 443, 15201, vip=VIP6, pool=POOL6)
        cc = Target("clonelb+clone", 81, 444, 15202, vip=VIP6, pool=POOL6)
        start_haproxy(lab, d, a.threads, ha, a.haproxy_splice, certdir=work)
        p, api = start_clonelbd(lab, d, a.threads)
        cl.pid = cc.pid = child_pid(p.pid, "clonelbd")
        setup_clonelb(api, cl, cert, key)
        setup_clonelb(api, cc, cert, key, suffix="-clone", clone_profile={
            "name": "bench-clone6", "clone_servers": [{
                "ip_address": {"addr": CLONE_SERVER6},
                "subnet": {"ip_addr": {"addr": CLONE_SUBNET6[0]}, "mask": CLONE_SUBNET6[1]}}]})
        for t in (ha, cl, cc):
            wait_for(listening(lab, "se", t.http_port), 10, f"{t.name} listening (IPv6)")
        # The clone server's MAC known (neighbour discovery) before the first measurement.
        lab.run("cli", "curl", "-s", "-o", "/dev/null", "-m", "5",
                f"http://{hostport(VIP6)}:{cc.http_port}/", check=False)
        order = [ha, cl, cc]
        for r in range(a.rounds):
            for key_, label, fn, _ in IPV6_SCENARIOS:
                for t in (order if r % 2 == 0 else list(reversed(order))):
                    fc = None
                    if t is not ha:
                        cloned = t is cc
                        fc = FrameCount(lab, d, (CLONE_WEB_PORT, CLONE_BULK_PORT) if cloned
                                        else (80, BULK_PORT), api if cloned else None,
                                        cc.services if cloned else (), pool=POOL6)
                        fc.start()
                    try:
                        c0 = cpu_seconds(t.pid)
                        v, ops = fn(lab, t, a)
                        cpu = cpu_seconds(t.pid) - c0
                    except BaseException:
                        if fc:
                            fc.stop(ok=False)
                        raise
                    fr = fc.stop() if fc else None
                    res["results"].setdefault(key_, {}).setdefault(t.name, []).append(v)
                    res["cpu"].setdefault(key_, {}).setdefault(t.name, []).append(
                        cpu * 1e6 / ops if ops else None)
                    if fr:
                        res["frames"].setdefault(key_, {}).setdefault(t.name, []).append(fr)
                    log(f"ipv6 round {r + 1} {label:24s} {t.name:15s} {v:12.2f}" +
                        (f"   clone server received {fr['received']} / expected "
                         f"{fr['expected']}" if fr and t is cc else ""))
        api.close()
        lab.verify_se_stock()
    finally:
        lab.down()
    return res


PATCH_TIME_LIMIT = 30  # seconds of PATCHes of each object at most


def patch_row(a, work):
    """clonelbd in a namespace of its own with a fresh store; creates up to a.patch_objects
    objects through the Unix socket (health monitors and one-server pools, alternately, over
    one kept-alive connection), giving up after a.patch_create_limit s; then times
    a.patch_count PATCHes (at most PATCH_TIME_LIMIT s) of one pool and of one health
    monitor, each setting a field to a new value and checking the answer."""
    lab = Lab(a.prefix)
    ns = lab.ns("api")
    d = os.path.join(work, "patch")
    os.makedirs(d)
    subprocess.run(["ip", "netns", "del", ns], stderr=subprocess.DEVNULL, check=False)
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True)
        p, api = start_clonelbd(lab, d, 1, role="api")
        t0 = time.monotonic()
        deadline = t0 + a.patch_create_limit
        stored, failed = 0, None
        while stored < a.patch_objects and time.monotonic() < deadline:
            i = stored
            if i % 2 == 0:
                kind, body = "healthmonitor", {"name": f"bench-hm-{i}",
                                               "type": "HEALTH_MONITOR_TCP"}
            else:
                kind, body = "pool", {"name": f"bench-pool-{i}",
                                      "servers": [{"ip": {"addr": "10.10.2.11"}}]}
            status, res = api.call("POST", f"/api/{kind}", body)
            if status != 201:
                failed = f"POST /api/{kind} {body['name']}: {status} {res}"
                break
            stored += 1
            if stored % 1000 == 0:
                log(f"patch row: {stored} objects stored, {time.monotonic() - t0:.1f}s")
        create_s = time.monotonic() - t0
        counted = sum(api.req("GET", f"/api/{k}")["count"] for k in ("healthmonitor", "pool"))
        lat = {}
        for kind, name, field, values in (("pool", "bench-pool-1", "default_server_port",
                                           (81, 80)),
                                          ("healthmonitor", "bench-hm-0", "send_interval",
                                           (11, 10))):
            ms = []
            # Bounded in time too: on a store where a change reloads everything, each
            # PATCH may take long; the figure is then made of the PATCHes that fitted.
            until = time.monotonic() + PATCH_TIME_LIMIT
            for j in range(a.patch_count if stored >= 2 else 0):
                if time.monotonic() > until:
                    break
                t1 = time.perf_counter()
                status, res = api.call("PATCH", f"/api/{kind}/{name}",
                                       {field: values[j % 2]})
                ms.append((time.perf_counter() - t1) * 1000.0)
                if status != 200 or res.get(field) != values[j % 2]:
                    raise RuntimeError(f"PATCH /api/{kind}/{name}: {status} {res}")
            lat[kind] = ms
        api.close()
        stop(lab, p)
        return {"target_objects": a.patch_objects, "stored": stored, "counted": counted,
                "create_s": create_s, "gave_up": stored < a.patch_objects,
                "create_error": failed, "patch_ms": lat}
    finally:
        for q in list(lab.procs):
            stop(lab, q)
        subprocess.run(["ip", "netns", "del", ns], check=False)


def quantile(xs, q):
    """The @q quantile of @xs (nearest rank)."""
    s = sorted(xs)
    return s[min(len(s) - 1, max(0, int(round(q * len(s) + 0.5)) - 1))] if s else float("nan")


def median(xs):
    return statistics.median(xs) if xs else float("nan")
