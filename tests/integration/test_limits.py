"""Descriptors are a budget (issue 8 item 2): one client cannot starve another virtual service,
the API or the health checks; performance_limits.max_concurrent_connections caps a service.

The daemon runs with a small open-files limit so the budget is reached with a few hundred
connections. Every wait polls with a bound; connections are held by a client process in the
lab's client namespace and closed by the fixture.
"""
import json
import os
import re
import subprocess
import time

import pytest

from conftest import CLONELBD, VIP, Daemon, curl, nginx_pool, wait_for

NOFILE = 1000


class LimitedDaemon(Daemon):
    """clonelbd started with RLIMIT_NOFILE set to NOFILE (soft and hard)."""

    def start(self):
        argv = self.lab.cmd("se", "prlimit", f"--nofile={NOFILE}:{NOFILE}", "--", CLONELBD,
                            "--db", self.db, "--socket", self.socket, "--log-level", "info",
                            *self.extra_args)
        logf = open(self.log, "ab")
        self.proc = subprocess.Popen(argv, stdout=logf, stderr=logf)
        logf.close()
        wait_for(self._ready, timeout=20, what="clonelbd API socket")
        return self


@pytest.fixture
def limited(lab, workdir):
    d = LimitedDaemon(lab, workdir).start()
    try:
        yield d
    finally:
        d.stop()


def make_service(d, name, port, pool, limit=None):
    vs = {"name": name, "vip": [{"ip_address": {"addr": VIP, "type": "V4"}}],
          "services": [{"port": port}], "pool_ref": pool}
    if limit is not None:
        vs["performance_limits"] = {"max_concurrent_connections": limit}
    return d.ok("POST", "/api/virtualservice", vs)


def make_pools(d, names):
    """A fast HTTP monitor (1 s, one failure is DOWN) and one pool per name over both servers."""
    d.ok("POST", "/api/healthmonitor", {"name": "hm", "type": "HEALTH_MONITOR_HTTP",
                                       "send_interval": 1, "receive_timeout": 1,
                                       "failed_checks": 1, "successful_checks": 1})
    for n in names:
        d.ok("POST", "/api/pool", {"name": n, "health_monitor_refs": ["hm"],
                                   "servers": [{"ip": {"addr": "10.10.2.11", "type": "V4"}},
                                               {"ip": {"addr": "10.10.2.12", "type": "V4"}}]})


def runtime(d, name):
    status, body = d.api("GET", f"/api/virtualservice?name={name}")
    assert status == 200, body
    uuid = [o for o in body["results"] if o["name"] == name][0]["uuid"]
    status, rt = d.api("GET", f"/api/virtualservice/{uuid}/runtime")
    assert status == 200, rt
    return rt


def metrics(d):
    """/metrics as {name: value} for unlabelled series and {name[vs]: value} for the series
    of virtual service vs (whatever other labels they carry)."""
    status, text = d.api("GET", "/metrics")
    assert status == 200, text
    out = {}
    for line in text.splitlines():
        m = re.fullmatch(r'([a-z_]+)(\{[^}]*\})? (-?\d+)', line)
        if not m:
            continue
        labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(2) or ""))
        key = m.group(1) + (f"[{labels['virtualservice']}]" if "virtualservice" in labels else "")
        out[key] = int(m.group(3))
    return out


def serves(lab, port):
    r = curl(lab, f"http://{VIP}:{port}/", timeout=5)
    return r.returncode == 0 and r.stdout.startswith("server ")


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def all_up(d, name):
    rt = runtime(d, name)
    return all(m["health"] == "UP" for m in rt["pool"]["members"]) and rt


def test_one_client_cannot_starve_the_others(lab, limited, holders):
    d = limited
    with nginx_pool(lab):
        make_pools(d, ["pa", "pb"])
        make_service(d, "a", 80, "pa")
        make_service(d, "b", 8080, "pb")
        make_service(d, "c", 8081, "pa")
        wait_for(lambda: serves(lab, 80) and serves(lab, 8080), timeout=15, what="a and b serving")
        m = metrics(d)
        assert m["clonelb_fd_limit"] == NOFILE, m
        budget, shared = m["clonelb_fd_client_budget"], m["clonelb_connections_shared_budget"]
        assert 0 < budget <= NOFILE - m["clonelb_fd_reserve"], m
        mine = runtime(d, "a")["connections_guaranteed"]  # each service's own part
        assert mine == m["clonelb_connections_guaranteed"]
        assert mine > 0 and 3 * mine + shared <= budget // 2, (mine, shared, budget)

        # More idle connections to a than the whole descriptor table holds: a takes its
        # own part and the shared half, the rest waits in the kernel backlog.
        h = holders()
        assert h.open(80, NOFILE) == NOFILE
        wait_for(lambda: runtime(d, "a")["connections_current"] == mine + shared, timeout=10,
                 what=f"a holding {mine} + {shared} connections")
        wait_for(lambda: runtime(d, "a")["connections_waiting"] == NOFILE - mine - shared,
                 timeout=10, what="the rest of a's clients waiting in the kernel backlog")
        assert runtime(d, "a")["connections_limited"] >= 1
        assert serves(lab, 8080), "an unrelated service must still answer"

        # c as well: it keeps its own part, and b still answers.
        h2 = holders()
        assert h2.open(8081, NOFILE // 2) == NOFILE // 2
        wait_for(lambda: runtime(d, "c")["connections_current"] == mine, timeout=10,
                 what="c holding its own part")
        assert serves(lab, 8080), "an unrelated service must still answer"

        # And b: now the whole client budget is held; the API and the health checks live on
        # their reserve.
        h3 = holders()
        assert h3.open(8080, NOFILE // 2) == NOFILE // 2
        wait_for(lambda: runtime(d, "b")["connections_current"] == mine, timeout=10,
                 what="b holding its own part")
        assert metrics(d)["clonelb_fd_client_used"] <= budget

        # The daemon is idle under the attack: nothing spins, nothing floods the log.
        # Three health-check rounds pass (send_interval 1 s) while we watch.
        before, log0, t0 = metrics(d), os.path.getsize(d.log), time.monotonic()
        cpu0 = cpu_ticks(d.pid())
        deadline = t0 + 3.5
        while time.monotonic() < deadline:
            for name in ("a", "b", "c"):
                assert all_up(d, name), f"pool members of {name} must stay UP"
            time.sleep(0.2)
        wall = time.monotonic() - t0
        cpu = (cpu_ticks(d.pid()) - cpu0) / os.sysconf("SC_CLK_TCK")
        after = metrics(d)
        assert cpu < wall / 2, f"daemon used {cpu:.2f} s of CPU in {wall:.2f} s: spinning"
        for k in ("clonelb_accept_budget_stops_total", "clonelb_accept_errors_total",
                  'clonelb_vs_connections_limited_total[a]',
                  'clonelb_vs_connections_limited_total[b]',
                  'clonelb_vs_connections_limited_total[c]'):
            assert after[k] == before[k], f"{k} moved from {before[k]} to {after[k]} while idle"
        assert after["clonelb_accept_errors_total"] == 0
        assert after["clonelb_health_checks_skipped_total"] == 0
        grown = os.path.getsize(d.log) - log0
        assert grown < 16 * 1024, f"log grew by {grown} bytes in {wall:.1f} s"
        for name in ("a", "b", "c"):
            for m in runtime(d, name)["pool"]["members"]:
                assert all(c["checks_skipped"] == 0 for c in m["health_monitors"]), m

        # The clients go away: every service serves again.
        for x in (h, h2, h3):
            x.stop()
        wait_for(lambda: metrics(d)["clonelb_fd_client_used"] < budget // 4, timeout=20,
                 what="the attack's descriptors given back")
        wait_for(lambda: serves(lab, 8080) and serves(lab, 80) and serves(lab, 8081),
                 timeout=10, what="every service serving after the attack")
        assert "Too many open files" not in d.logtext()


def test_max_concurrent_connections(lab, daemon, holders):
    d = daemon
    with nginx_pool(lab):
        make_pools(d, ["pa"])
        make_service(d, "a", 80, "pa", limit=3)
        make_service(d, "b", 8080, "pa")
        wait_for(lambda: serves(lab, 80) and serves(lab, 8080), timeout=15, what="serving")
        wait_for(lambda: runtime(d, "a")["connections_current"] == 0, timeout=10,
                 what="probe connections closed")
        assert runtime(d, "a")["max_concurrent_connections"] == 3

        h = holders()
        assert h.open(80, 5) == 5  # the kernel completes all five handshakes
        wait_for(lambda: runtime(d, "a")["connections_current"] == 3, timeout=10,
                 what="three connections taken")
        wait_for(lambda: runtime(d, "a")["connections_waiting"] == 2, timeout=10,
                 what="two waiting in the backlog")
        rt = runtime(d, "a")
        assert rt["connections_current"] == 3 and rt["connections_limited"] >= 1, rt
        m = metrics(d)
        assert m["clonelb_vs_connections_waiting[a]"] == 2, m
        assert m["clonelb_vs_connections_current[a]"] == 3, m
        # Another service is unaffected, and a sixth client of a waits too.
        assert serves(lab, 8080)
        assert curl(lab, f"http://{VIP}/", timeout=2).returncode == 28  # curl: timed out

        # The held connections are served, not dropped, once slots free.
        assert h.cmd("close 0 3") == "closed"
        wait_for(lambda: runtime(d, "a")["connections_waiting"] == 0, timeout=10,
                 what="waiting connections accepted")
        assert h.cmd("req 4 10") == "HTTP/1.1 200 OK"
        assert h.cmd("req 3 10") == "HTTP/1.1 200 OK"

        # Raising the limit through the API takes effect for waiting connections.
        assert h.open(80, 4) == 4
        wait_for(lambda: runtime(d, "a")["connections_waiting"] == 3, timeout=10,
                 what="three more waiting")
        uuid = runtime(d, "a")["uuid"]
        d.ok("PATCH", f"/api/virtualservice/{uuid}",
             {"performance_limits": {"max_concurrent_connections": 0}})
        wait_for(lambda: runtime(d, "a")["connections_current"] == 6, timeout=10,
                 what="no limit: every connection taken")
        assert runtime(d, "a")["connections_waiting"] == 0


BAD = [
    ({"max_concurrent_connections": -1}, "performance_limits.max_concurrent_connections", "-1"),
    ({"max_concurrent_connections": "many"}, "performance_limits.max_concurrent_connections",
     "many"),
    ({"max_concurrent_connections": 1.5}, "performance_limits.max_concurrent_connections",
     "1.5"),
    ({"max_concurrent_connections": 10000001}, "performance_limits.max_concurrent_connections",
     "10000001"),
    ({"max_connections": 5}, "performance_limits.max_connections", "max_connections"),
    (7, "performance_limits", "7"),
]


@pytest.mark.parametrize("value,field,shown", BAD)
def test_bad_performance_limits_refused_by_the_api(lab, daemon, value, field, shown):
    d = daemon
    d.ok("POST", "/api/pool", {"name": "p"})
    vs = {"name": "v", "vip": [{"ip_address": {"addr": VIP, "type": "V4"}}],
          "services": [{"port": 80}], "pool_ref": "p", "performance_limits": value}
    status, body = d.api("POST", "/api/virtualservice", vs)
    assert status == 400, body
    text = json.dumps(body)
    assert field in text and shown in text, body
    assert d.everything()["virtualservice"] == []

    vs["performance_limits"] = {"max_concurrent_connections": 10}
    good = d.ok("POST", "/api/virtualservice", vs)
    status, body = d.api("PATCH", f"/api/virtualservice/{good['uuid']}",
                         {"performance_limits": value})
    assert status == 400, body
    assert field in json.dumps(body), body
    stored = d.everything()["virtualservice"]
    assert [v["performance_limits"] for v in stored] == [{"max_concurrent_connections": 10}]


def test_performance_limits_in_the_shell(lab, daemon):
    d = daemon
    d.ok("POST", "/api/pool", {"name": "p"})
    script = """
configure virtualservice v
vip 10.10.1.10
save
services 80
save
pool_ref p
performance_limits
max_concurrent_connections -5
"""
    r = d.cli("-f", "-", input=script)
    assert r.returncode != 0
    assert "performance_limits.max_concurrent_connections" in r.stderr and "-5" in r.stderr, \
        r.stderr
    assert d.everything()["virtualservice"] == []

    r = d.cli("-f", "-", input=script.replace("-5", "250") + "save\nsave\n", check=0)
    stored = d.everything()["virtualservice"]
    assert [v["performance_limits"] for v in stored] == [{"max_concurrent_connections": 250}]
    r = d.cli("-f", "-", input="show virtualservice v\n", check=0)
    rows = [re.sub(r"\s+", " ", line).strip("| ") for line in r.stdout.splitlines()]
    assert any(row.startswith("performance_limits") for row in rows), r.stdout
    assert any(re.fullmatch(r"max_concurrent_connections \| 250", row) for row in rows), r.stdout

    r = d.cli("-f", "-", input="configure virtualservice v\nperformance_limits\n"
              "max_concurrent_connections 0\nsave\nsave\n", check=0)
    stored = d.everything()["virtualservice"]
    assert [v["performance_limits"] for v in stored] == [{"max_concurrent_connections": 0}]
