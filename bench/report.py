"""report.py: the bench's tables, results.json and chart."""
import json
import os
import statistics

from benchlab import CLONE_SCENARIOS, CLONE_SERVER, CLONE_TARGET, COLLECTOR, OUT, ROOT
from rows import median, quantile

SUSTAINED_FLOOR = 0.8  # lowest one-second rate at least 0.8x the median of the run


def pct(num, den):
    return f"{100.0 * num / den:.3f} %" if den else "-"


def fmt(x, width, digits=2):
    return f"{x:{width}.{digits}f}" if x is not None else f"{'-':>{width}s}"


def compare(runs, cpu_runs, base, ref):
    """Medians, ratio base/ref of the medians, paired ratio (median of the per-round ratios
    of two measurements that ran back to back) and CPU per operation of @base and @ref."""
    names = [base, ref]
    med = {n: statistics.median(runs[n]) for n in names}
    ratio = med[base] / med[ref] if med[ref] else float("nan")
    pairs = [x / y for x, y in zip(runs[base], runs[ref]) if y]
    paired = statistics.median(pairs) if pairs else float("nan")
    cpu = {n: [c for c in cpu_runs.get(n, []) if c] for n in names}
    cpu_med = {n: statistics.median(cpu[n]) if cpu[n] else None for n in names}
    cpu_ratio = cpu_med[base] / cpu_med[ref] if cpu_med[base] and cpu_med[ref] else None
    return {"median": med, "runs": {n: runs[n] for n in names}, "ratio": ratio,
            "paired_ratio": paired, "cpu_us_per_op": cpu_med, "cpu_ratio": cpu_ratio}


def compare_lines(title, rows, names, note):
    """A table of @rows (label, comparison, target, higher, met) between @names (a column
    at least as wide as its name)."""
    wide = {n: max(15, len(n) + 1) for n in names}
    cpu_wide = {n: max(21, len(n) + 7) for n in names}
    head = f"{title:26s}" + "".join(f"{n:>{wide[n]}s}" for n in names) + \
        f"{'ratio':>8s}{'paired':>8s}{'target':>8s}  met" + \
        "".join(f"{n + ' us/op':>{cpu_wide[n]}s}" for n in names) + f"{'cpu ratio':>10s}"
    lines = [head, "-" * len(head)]
    for label, c, target, higher, met in rows:
        lines.append(f"{label:26s}" + "".join(fmt(c["median"][n], wide[n]) for n in names) +
                     f"{c['ratio']:8.3f}{c['paired_ratio']:8.3f}"
                     f"{('>=' if higher else '<=') + str(target):>8s}"
                     f"  {'yes' if met else 'NO ':3s}" +
                     "".join(fmt(c["cpu_us_per_op"][n], cpu_wide[n]) for n in names) +
                     fmt(c["cpu_ratio"], 10, 3))
    return lines + [note]


def main_table(res, rows, a, elapsed):
    table, out = {}, []
    for key_, label, _, higher, target in rows:
        runs = res["results"].get(key_, {})
        if "clonelb" not in runs or "haproxy" not in runs:
            continue
        c = compare(runs, res["cpu"][key_], "clonelb", "haproxy")
        c.update(label=label, target=target, higher_is_better=higher,
                 met=c["ratio"] >= target if higher else c["ratio"] <= target)
        table[key_] = c
        out.append((label, c, target, higher, c["met"]))
    if not out:
        return table, []
    note = (f"(medians of {a.rounds} rounds, {a.seconds}s each, {a.threads} workers each "
            f"unless the row says; ratio = clonelb/haproxy of the medians, paired = median of "
            f"per-round ratios; us/op = load balancer CPU time per request, connection or MiB, "
            f"cpu ratio < 1: clonelb cheaper; {a.idle} idle connections; {elapsed:.0f}s)")
    return table, compare_lines("metric", out, ["clonelb", "haproxy"], note)


MIRRED_GAP_TARGET = 2.0  # points: cloning on within 2 points of a bare tc mirred


def mirred_gap(clone_table, mirred_table):
    """Cloning's cost against the kernel's own mirror, row by row: both as ratios to clonelb
    alone measured in the same run; the gap in points of those ratios (paired: of the
    per-round ratios)."""
    table, lines = {}, []
    for key_ in ("keepalive", "newconn", "bulk"):
        c, m = clone_table.get(key_), mirred_table.get(key_)
        if not c or not m:
            continue
        g = {"label": c["label"], "clone": c["ratio"], "mirred": m["ratio"],
             "gap": (m["ratio"] - c["ratio"]) * 100,
             "gap_paired": (m["paired_ratio"] - c["paired_ratio"]) * 100}
        g["met"] = g["gap"] <= MIRRED_GAP_TARGET
        table[key_] = g
    if not table:
        return table, lines
    head = (f"{'cloning against tc mirred':26s}{'clone':>8s}{'mirred':>8s}{'gap pts':>9s}"
            f"{'paired':>8s}{'target':>8s}{'met':>5s}")
    lines += ["", head, "-" * len(head)]
    for g in table.values():
        lines.append(f"{g['label']:26s}{g['clone']:8.3f}{g['mirred']:8.3f}{g['gap']:9.1f}"
                     f"{g['gap_paired']:8.1f}{'<=' + str(MIRRED_GAP_TARGET):>8s}"
                     f"{'yes' if g['met'] else 'NO':>5s}")
    lines.append("(clone, mirred: clonelb+clone/clonelb and clonelb+mirred/clonelb of the "
                 "medians of the same run; gap = mirred - clone in points)")
    return table, lines


def expected_frames(on, f):
    """The frames the clone server should have received in run @f of @on. Over VXLAN the
    routers on the way cut the SE's super-frames into wire frames before the collector, whose
    link stays wire-size: there the engine's succeeded (wire frames) is the measure."""
    if on == "clonelb+vxlan" and "engine" in f:
        return f["engine"]["num_succeeded"]
    return f["expected"]


def batch_table(res, scen):
    """The reference row: clonelb against HAProxy with its threads under SCHED_BATCH (the
    policy clonelbd's workers have by default), and what that policy gives HAProxy."""
    table, lines = {}, []
    for key_, label, _, _, _ in scen:
        runs = res["results"].get(key_, {})
        if not {"clonelb", "haproxy", "haproxy+batch"} <= set(runs):
            continue
        c = compare(runs, res["cpu"][key_], "clonelb", "haproxy+batch")
        gain = compare(runs, res["cpu"][key_], "haproxy+batch", "haproxy")
        c.update(label=label, haproxy_batch_over_default=gain["ratio"])
        table[key_] = c
        lines.append(f"{label:26s}{c['median']['clonelb']:12.2f}"
                     f"{c['median']['haproxy+batch']:15.2f}{c['ratio']:8.3f}"
                     f"{c['paired_ratio']:8.3f}{gain['ratio']:14.3f}" +
                     fmt(c["cpu_us_per_op"]["haproxy+batch"], 21))
    if not lines:
        return table, []
    head = (f"{'reference: HAProxy batch':26s}{'clonelb':>12s}{'haproxy+batch':>15s}"
            f"{'ratio':>8s}{'paired':>8s}{'batch/default':>14s}{'haproxy+batch us/op':>21s}")
    return table, ["", head, "-" * len(head), *lines,
                   "(haproxy+batch: the same HAProxy with every thread under SCHED_BATCH, the "
                   "policy clonelbd gives its workers by default (--worker-sched), set for each "
                   "of its runs and put back after; ratio = clonelb/haproxy+batch; "
                   "batch/default = haproxy+batch/haproxy: what the policy alone gives HAProxy. "
                   "For reference: the targets are against HAProxy's default, the table above)"]


def derived_table(res, scen, on, what, note):
    """clonelb with @on (clonelb+clone or clonelb+mirred) against clonelb, and completeness."""
    table, rows = {}, []
    for key_, label, _, _, _ in scen:
        runs = res["results"].get(key_, {})
        if key_ not in CLONE_SCENARIOS or on not in runs or "clonelb" not in runs:
            continue
        c = compare(runs, res["cpu"][key_], on, "clonelb")
        fr = res["frames"].get(key_, {}).get(on, [])
        exp, rec = sum(expected_frames(on, f) for f in fr), sum(f["received"] for f in fr)
        c.update(label=label, target=CLONE_TARGET, met=c["ratio"] >= CLONE_TARGET,
                 frames=res["frames"].get(key_, {}), expected=exp, received=rec,
                 valid=all(f["valid"] for f in fr),
                 complete=rec == exp and all(f["valid"] for f in fr),
                 identity=all(f.get("identity", True) for f in fr))
        table[key_] = c
        rows.append((label, c, CLONE_TARGET, True, c["met"]))
    if not rows:
        return table, []
    lines = [""] + compare_lines(what, rows, [on, "clonelb"], note)
    engine = on in ("clonelb+clone", "clonelb+vxlan")
    head = (f"{what.split(' ')[0] + ' completeness':26s}{'round':>6s}{'received':>12s}"
            f"{'expected':>12s}{'complete':>11s}" +
            (f"{'engine total':>14s}{'succeeded':>11s}{'mbuf':>6s}{'driver':>7s}"
             f"{'identity':>9s}" if engine else "") + f"{'tap drops':>10s}{'cap drops':>10s}")
    lines += ["", head, "-" * len(head)]
    for key_, c in table.items():
        for r, f in enumerate(res["frames"][key_][on]):
            e, exp = f.get("engine"), expected_frames(on, f)
            lines.append(
                f"{c['label']:26s}{r + 1:6d}{f['received']:12d}{exp:12d}"
                f"{pct(f['received'], exp):>11s}" +
                (f"{e['num_total_pkts_cloned']:14d}{e['num_succeeded']:11d}"
                 f"{e['num_mbuf_alloc_failed']:6d}{e['num_driver_failures']:7d}"
                 f"{'ok' if f['identity'] else 'BROKEN':>9s}" if engine else "") +
                f"{f['tap0_tx_dropped'] + f['tap_rx_dropped']:10d}{f['capture_drops']:10d}" +
                ("" if f["valid"] else "  INVALID"))
        # The 100 % target is the clone engine's; the bare mirror's figure is for reference.
        lines.append(f"{c['label']:26s}{'all':>6s}{c['received']:12d}{c['expected']:12d}"
                     f"{pct(c['received'], c['expected']):>11s}" +
                     (f"  target 100 %: {'met' if c['complete'] else 'NOT met'}" if engine
                      else "") +
                     f"{'' if c['valid'] else ' (run invalid: capture drops)'}")
    return table, lines


COMPLETENESS_NOTE = (
    "(received: frames of the cloned services the clone server's interface received; "
    "expected: their frames on the SE's back-end interface srv0, both directions; both from "
    "the veth packet counters minus the other frames of the interface; engine: "
    "traffic_clone_stats deltas, identity: total == succeeded + mbuf + driver (the engine "
    "counts wire frames: a GSO/GRO super-frame as its gso_segs; with --offloads, the default, "
    "the veth counters count super-frames, so in bulk received/expected are below the "
    "engine's figures; with --no-offloads all three count wire frames); tap drops: tap0 "
    "tx_dropped + tap rx_dropped; cap drops: drops of the tcpdump of the other frames)")


def sustained_table(res, a):
    if not res["sustained"]:
        return {}, []
    head = (f"{'new conn/s, ' + str(a.sustained_seconds) + ' s run':26s}{'workers':>8s}"
            f"{'median':>10s}{'lowest':>10s}{'low/med':>8s}{'target':>8s}  met"
            f"{'wrk avg':>10s}{'seconds':>8s}{'SE TW at start':>15s}  errors")
    lines, table = ["", head, "-" * len(head)], {}
    for w, per in res["sustained"].items():
        for name in ("clonelb", "haproxy"):
            s = per.get(name)
            if not s:
                continue
            ps = s["per_second"]
            med, low = median(ps), (min(ps) if ps else float("nan"))
            ratio = low / med if med else float("nan")
            s.update(median=med, lowest=low, lowest_over_median=ratio)
            met = ratio >= SUSTAINED_FLOOR
            lines.append(f"{name:26s}{w:>8s}{med:10.0f}{low:10.0f}{ratio:8.3f}"
                         f"{'>=' + str(SUSTAINED_FLOOR):>8s}  {'yes' if met else 'NO ':3s}"
                         f"{s['wrk_rate']:10.0f}{len(ps):8d}{s['se_time_wait_at_start']:15d}"
                         f"  {s['errors'] or '-'}")
        c, h = per.get("clonelb"), per.get("haproxy")
        if c and h and h.get("median"):
            lines.append(f"{'  clonelb/haproxy':26s}{w:>8s}{c['median'] / h['median']:10.3f}"
                         f"{c['lowest'] / h['lowest'] if h['lowest'] else float('nan'):10.3f}")
        table[w] = per
    lines.append("(one rate per second: connections the client namespace opened that did not "
                 "fail, from its TCP counters ActiveOpens - AttemptFails read every second; "
                 "the first and last seconds left out; wrk avg: wrk's own requests/s over the "
                 "whole run; SE TW: TIME_WAIT sockets in the SE when the run started)")
    return table, lines


def stock_table(res, a):
    st = res["stock"]
    if not st:
        return []
    by = {}
    for run in st["runs"]:
        by.setdefault(run["lab"], {})[run["target"]] = run
    head = (f"{'all-stock new conn/s':26s}{'lab':>4s}{'round':>6s}{'clonelb':>12s}"
            f"{'haproxy':>12s}{'ratio':>8s}{'target':>8s}  met  TIME_WAIT after (cli/se/srv) "
            f"clonelb | haproxy")
    lines = ["", head, "-" * len(head)]
    ratios = []
    for i, per in sorted(by.items()):
        c, h = per.get("clonelb"), per.get("haproxy")
        if not (c and h):
            continue
        for r, (x, y) in enumerate(zip(c["rates"], h["rates"])):
            ratio = x / y if y else float("nan")
            ratios.append(ratio)
            tw = "" if r else "  " + " | ".join(
                "/".join(str(run["time_wait"][k]) for k in ("cli", "se", "srv"))
                for run in (c, h))
            lines.append(f"{'':26s}{i:4d}{r + 1:6d}{x:12.0f}{y:12.0f}{ratio:8.3f}{'>=1.0':>8s}"
                         f"  {'yes' if ratio >= 1.0 else 'NO ':3s}{tw}")
    if ratios:
        lines.append(f"{'':26s}{'median ratio':>22s}{median(ratios):16.3f}; rounds met "
                     f"{sum(r >= 1.0 for r in ratios)} of {len(ratios)}")
    lines.append(f"(every namespace on the kernel's default sysctls, one client address; a "
                 f"fresh lab for each load balancer and each lab number, {a.stock_workers} "
                 f"worker(s); rounds of {a.stock_seconds}s of wrk -t1 -c64 -H \"Connection: "
                 f"close\" back to back)")
    st["median_ratio"] = median(ratios) if ratios else None
    return lines


def patch_table(res):
    p = res["patch"]
    if not p:
        return []
    head = (f"{'PATCH latency':26s}{'objects':>9s}{'median ms':>11s}{'p99 ms':>9s}"
            f"{'max ms':>9s}{'target':>9s}  met")
    lines = ["", head, "-" * len(head)]
    for kind, ms in p["patch_ms"].items():
        med, p99 = median(ms), quantile(ms, 0.99)
        p[f"{kind}_median_ms"], p[f"{kind}_p99_ms"] = med, p99
        lines.append(f"{'PATCH ' + kind:26s}{p['stored']:9d}{med:11.2f}{p99:9.2f}"
                     f"{max(ms) if ms else float('nan'):9.2f}{'<10':>9s}"
                     f"  {'yes' if med < 10 and p['stored'] >= p['target_objects'] else 'NO '}")
    rate = p["stored"] / p["create_s"] if p["create_s"] else 0
    lines.append(f"(objects: {p['stored']} of {p['target_objects']} stored in "
                 f"{p['create_s']:.1f}s, {rate:.0f}/s, health monitors and one-server pools "
                 f"alternately over one kept-alive Unix-socket connection"
                 + (", gave up at the time limit" if p["gave_up"] and not p["create_error"]
                    else "") + (f"; stopped on {p['create_error']}" if p["create_error"] else "")
                 + f"; the API lists {p['counted']}; "
                 + ", ".join(f"{len(ms)} PATCHes of the {k}" for k, ms in p["patch_ms"].items())
                 + f", over the same connection; target: median in "
                 f"single-digit milliseconds with all {p['target_objects']} stored)")
    return lines


def ipv6_table(res):
    """The IPv6 rows: clonelb against HAProxy, cloning on against off, completeness."""
    v6 = res.get("ipv6")
    if not v6:
        return {}, []
    from rows import IPV6_SCENARIOS
    out, clone_rows, table = [], [], {}
    for key_, label, _, target in IPV6_SCENARIOS:
        runs = v6["results"].get(key_, {})
        if not all(n in runs for n in ("clonelb", "haproxy", "clonelb+clone")):
            continue
        c = compare(runs, v6["cpu"][key_], "clonelb", "haproxy")
        c.update(label=label, target=target, met=c["ratio"] >= target)
        out.append((label, c, target, True, c["met"]))
        cc = compare(runs, v6["cpu"][key_], "clonelb+clone", "clonelb")
        fr = v6["frames"].get(key_, {}).get("clonelb+clone", [])
        exp, rec = sum(f["expected"] for f in fr), sum(f["received"] for f in fr)
        cc.update(label=label, target=CLONE_TARGET, met=cc["ratio"] >= CLONE_TARGET,
                  expected=exp, received=rec,
                  complete=rec == exp and all(f["valid"] for f in fr),
                  identity=all(f.get("identity", True) for f in fr))
        clone_rows.append((label, cc, CLONE_TARGET, True, cc["met"]))
        table[key_] = {"vs_haproxy": c, "clone": cc}
    if not out:
        return table, []
    lines = [""] + compare_lines("IPv6 (VIP, pool, client)", out, ["clonelb", "haproxy"],
                                 "(the IPv6 rows: a lab of their own, client, VIP and pool "
                                 "servers in IPv6; ratio and paired as in the table)")
    lines += [""] + compare_lines("IPv6 cloning on / off", clone_rows,
                                  ["clonelb+clone", "clonelb"],
                                  "(one clone server, fd00:10:3::2 in the tap namespace)")
    head = f"{'IPv6 clone completeness':26s}{'received':>12s}{'expected':>12s}{'complete':>11s}"
    lines += ["", head, "-" * len(head)]
    for label, cc, _, _, _ in clone_rows:
        lines.append(f"{label:26s}{cc['received']:12d}{cc['expected']:12d}"
                     f"{pct(cc['received'], cc['expected']):>11s}"
                     f"  target 100 %: {'met' if cc['complete'] else 'NOT met'}")
    return table, lines


def tlspool_table(res):
    """TLS to the pool: clonelb against HAProxy, and the plaintext clone against cloning off
    (or why it is not available)."""
    tp = res.get("tlspool")
    if not tp:
        return {}, []
    from tlspool import PLAINTEXT, TLSPOOL_ROWS
    rows, table = {}, {}
    for key_, label, _, target, base, ref in TLSPOOL_ROWS:
        runs = tp["results"].get(key_, {})
        if base not in runs or ref not in runs:
            continue
        c = compare(runs, tp["cpu"][key_], base, ref)
        c.update(label=label, target=target, met=c["ratio"] >= target)
        rows.setdefault((base, ref), []).append((label, c, target, True, c["met"]))
        table.setdefault(key_, {})[f"{base} / {ref}"] = c
    lines = []
    if ("clonelb", "haproxy") in rows:
        lines += [""] + compare_lines("TLS to the pool", rows[("clonelb", "haproxy")],
                                      ["clonelb", "haproxy"],
                                      "(client -> plain HTTP VIP, pool servers nginx HTTPS, "
                                      "same certificate; HAProxy: ssl verify none, clonelb: "
                                      "ssl_profile_ref System-Standard without pki_profile_ref; "
                                      "handshakes: Connection: close, a new back-end TLS "
                                      "connection per request)")
    if tp["plaintext"]:
        lines += ["", f"{'TLS pool, ' + PLAINTEXT:26s}  not available: {tp['plaintext']}"]
    elif (PLAINTEXT, "clonelb") in rows:
        lines += [""] + compare_lines("plaintext clone on / off", rows[(PLAINTEXT, "clonelb")],
                                      [PLAINTEXT, "clonelb"],
                                      f"(a traffic clone profile with plaintext_for_tls_pools: "
                                      f"one clone server, {CLONE_SERVER}; engine counters of "
                                      f"each run in results.json)")
    return {"rows": table, "plaintext": tp["plaintext"], "engine": tp["engine"]}, lines


def report(res, scen, targets, a, elapsed):
    os.makedirs(OUT, exist_ok=True)
    table, lines = main_table(res, scen + res["worker_rows"], a, elapsed)
    clone_table, cl = derived_table(
        res, scen, "clonelb+clone", "cloning on / off",
        f"(ratio = clonelb+clone/clonelb of the medians, paired = median of per-round ratios; "
        f"one clone server, {CLONE_SERVER} in the tap namespace; cpu ratio > 1: cloning costs "
        f"clonelbd CPU)")
    lines += cl + ([COMPLETENESS_NOTE] if cl else [])
    mirred_table, ml = derived_table(
        res, scen, "clonelb+mirred", "tc mirred on / off",
        "(clonelb with cloning off plus a tc u32/mirred mirror of every srv0 frame to "
        "tap0, against clonelb alone: the in-kernel limit; received/expected as above)")
    lines += ml
    vxlan_table, vl = derived_table(
        res, scen, "clonelb+vxlan", "vxlan delivery on / off",
        f"(clonelb cloning over VXLAN to {COLLECTOR}, two router hops away, against clonelb "
        f"alone; received: the frames the collector's eth0 got; expected: the engine's succeeded, "
        f"wire frames (the routers cut super-frames); tap drops: rtr0 tx_dropped, the first "
        f"router's input; target: >= {CLONE_TARGET}x)")
    lines += vl
    gap, gl = mirred_gap(clone_table, mirred_table)
    lines += gl
    batch, bl = batch_table(res, scen)
    lines += bl
    sus, sl = sustained_table(res, a)
    lines += sl + stock_table(res, a) + patch_table(res)
    v6_table, v6l = ipv6_table(res)
    lines += v6l
    tls_table, tl = tlspool_table(res)
    lines += tl
    if res["sysctls"]:
        lines += ["", "sysctls of the lab of the table, the worker rows and the sustained run:",
                  res["sysctls"]]
    lines += [f"ROW FAILED: {f}" for f in res["failed"]]
    lines.append(f"(whole run {elapsed:.0f}s: " + ", ".join(
        f"{k} {v:.0f}s" for k, v in res["durations"].items()) + ")")
    text = "\n".join(lines)
    print(text)
    with open(os.path.join(OUT, "results.json"), "w") as f:
        json.dump({"args": vars(a), "table": table, "clone": clone_table,
                   "mirred": mirred_table, "vxlan": vxlan_table, "clone_vs_mirred": gap,
                   "haproxy_batch": batch,
                   "sustained": sus, "stock": res["stock"],
                   "patch": res["patch"], "ipv6": v6_table, "tlspool": tls_table,
                   "sysctls": res["sysctls"],
                   "failed": res["failed"], "durations": res["durations"]}, f, indent=2)
    with open(os.path.join(OUT, "table.txt"), "w") as f:
        f.write(text + "\n")
    # The table's own new-connection row already shows the worker row of its thread count.
    shown = {k: v for k, v in table.items()
             if not (k == f"newconn_w{a.threads}" and "newconn" in table)}
    if shown:
        chart(shown, clone_table, [t.name for t in targets
                                   if t.name not in ("clonelb+mirred", "haproxy+batch")],
              os.path.join(OUT, "bench.png"))


def chart(table, clone_table, names, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = list(table)
    n = len(keys) + (1 if clone_table else 0)
    fig, axes = plt.subplots(1, n, figsize=(3.2 * n, 3.8))
    if n == 1:
        axes = [axes]
    colors = {"clonelb": "#2b7bb9", "haproxy": "#999999", "clonelb+clone": "#7bb92b"}
    for ax, k in zip(axes, keys):
        row = table[k]
        shown = [nm for nm in names if nm in row["median"]]
        vals = [row["median"][nm] for nm in shown]
        title = f"{row['label']}\nvs haproxy {row['ratio']:.2f}"
        if k in clone_table:
            shown.append("clonelb+clone")
            vals.append(clone_table[k]["median"]["clonelb+clone"])
            title += f", clone on/off {clone_table[k]['ratio']:.2f}"
        ax.bar([nm.replace("+", "+\n") for nm in shown], vals,
               color=[colors.get(nm, "#cccccc") for nm in shown])
        ax.set_title(title, fontsize=8)
        ax.tick_params(axis="x", labelsize=7)
    if clone_table:
        ax = axes[-1]
        ks = list(clone_table)
        vals = [100.0 * clone_table[k]["received"] / clone_table[k]["expected"]
                if clone_table[k]["expected"] else 0 for k in ks]
        ax.bar([clone_table[k]["label"].split(" ")[0] for k in ks], vals, color="#7bb92b")
        lo = min(vals + [100.0])
        ax.set_ylim(max(0, lo - 1), 100.5)
        ax.set_title("clone completeness %\n(received / srv0 frames)", fontsize=8)
        ax.tick_params(axis="x", labelsize=7)
    fig.suptitle("clonelb vs HAProxy, and clonelb with cloning on vs off (medians)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    print(f"chart: {os.path.relpath(path, ROOT)}")
