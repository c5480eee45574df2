"""rows.py: the rows that need a lab or a daemon of their own: the all-stock new-connection
row (a fresh lab per load balancer, every namespace on the kernel's defaults) and the PATCH
latency row (a clonelbd with a fresh store holding many objects)."""
import os
import statistics
import subprocess
import time

from benchlab import (VIP, Lab, Target, log, listening, setup_clonelb, start_clonelbd,
                      start_haproxy, start_pool, stop, wait_for)
from scenarios import time_wait, wrk


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
