"""SE groups on etcd (issue 10): one store interface, two stores; two SEs on one etcd; outages; stats per SE; active/standby.

The lab is tests/lab/etcd.sh: a client, two SE namespaces and the pool, clone
and etcd namespaces on shared segments. etcd is a real etcd-server started by
these tests in its own namespace, its data in a temporary directory.
"""
import os
import shutil
import signal
import subprocess
import tempfile
import threading

import pytest

from conftest import CLONELB, ROOT, Daemon, Namespaces, Nginx, end_process, wait_for

LAB = os.path.join(ROOT, "tests", "lab", "etcd.sh")
ETCD = "10.20.4.2:2379"
STORE = f"etcd://{ETCD}"
VIP = "10.20.1.100"
SE_IP = {"se1": "10.20.1.11", "se2": "10.20.1.12"}
SE_MAC = {"se1": "02:fd:00:01:01:01", "se2": "02:fd:00:02:01:01"}
POOL_IP = "10.20.2.21"
TAP_IP = "10.20.3.2"
TYPES = ["healthmonitor", "sslkeyandcertificate", "trafficcloneprofile", "pool", "virtualservice"]


class EtcdLab(Namespaces):
    """The namespaces of tests/lab/etcd.sh, and the etcd it runs."""

    def __init__(self, prefix):
        self.env = dict(os.environ, LAB_PREFIX=prefix)
        self.ns = {r: f"{prefix}e-{r}" for r in ("cli", "se1", "se2", "srv", "tap", "etcd")}
        self.etcd_dir = tempfile.mkdtemp(prefix="clonelb-etcd-")

    def sh(self, *args):
        subprocess.run([LAB, *args], env=self.env, check=True, timeout=60)

    def etcd_start(self):
        self.sh("etcd-start", self.etcd_dir)

    def etcd_stop(self):
        self.sh("etcd-stop", self.etcd_dir)

    def etcd_clear(self):
        """Deletes every key clonelb wrote: each test starts from an empty store."""
        r = self.run("etcd", "curl", "-sf", f"http://{ETCD}/v3/kv/deleterange", "-d",
                     '{"key": "L2Nsb25lbGIv", "range_end": "L2Nsb25lbGIw"}')  # /clonelb/ .. /clonelb0
        assert '"header"' in r.stdout, r


class SeView(Namespaces):
    """The lab as conftest's Daemon (and a test_web run) sees it: its "se" is one of the two SEs."""

    def __init__(self, lab, role):
        self.lab, self.role = lab, role

    def cmd(self, role, *argv):
        return self.lab.cmd(self.role if role == "se" else role, *argv)


@pytest.fixture(scope="module")
def elab():
    lb = EtcdLab(os.environ.get("LAB_PREFIX") or f"t{os.getpid() % 10000}-")
    lb.sh("up")
    try:
        lb.etcd_start()
        yield lb
    finally:
        lb.etcd_stop()
        lb.sh("down")
        shutil.rmtree(lb.etcd_dir, ignore_errors=True)


@pytest.fixture
def ses(elab):
    """ses(role, store=STORE, *args) starts clonelbd in SE namespace role; all stop at the end."""
    elab.etcd_clear()
    made, dirs = [], []

    def start(role, store=STORE, *args):
        d = tempfile.mkdtemp(prefix=f"clonelb-{role}-")
        dirs.append(d)
        argv = ["--se-name", role, *args] + (["--store", store] if store else [])
        made.append(Daemon(SeView(elab, role), d, argv).start())
        return made[-1]
    try:
        yield start
    finally:
        for dm in made:
            dm.stop()
        for d in dirs:
            shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def pool_server(elab):
    srv = Nginx(elab, POOL_IP).start()
    try:
        yield srv
    finally:
        srv.stop()


def profile(name="ids"):
    return {"name": name, "clone_servers": [
        {"ip_address": {"addr": TAP_IP, "type": "V4"},
         "subnet": {"ip_addr": {"addr": "10.20.3.0", "type": "V4"}, "mask": 24}}]}


def vs(name="web", vip=VIP, **extra):
    return {"name": name, "vip": [{"ip_address": {"addr": vip, "type": "V4"}}],
            "services": [{"port": 80}], "pool_ref": "pool1", **extra}


def base_config(d):
    d.ok("POST", "/api/healthmonitor", {"name": "hm", "type": "HEALTH_MONITOR_TCP",
                                        "send_interval": 5, "receive_timeout": 2})
    d.ok("POST", "/api/pool", {"name": "pool1", "health_monitor_refs": ["hm"],
                               "servers": [{"ip": {"addr": POOL_IP, "type": "V4"}, "port": 80}]})
    d.ok("POST", "/api/trafficcloneprofile", profile())


def curl_vip(elab, timeout=3):
    r = elab.run("cli", "curl", "-sS", "--max-time", str(timeout), f"http://{VIP}/",
                 check=False, timeout=timeout + 5)
    return r.returncode == 0 and f"server {POOL_IP}" in r.stdout


def agg_stats(d, name="web"):
    status, out = d.api("GET", f"/api/virtualservice/{name}/traffic_clone_stats")
    assert status == 200, out
    return {e["se_uuid"]: e["clone_srvr_stats"][0]["num_total_pkts_cloned"] if e["clone_srvr_stats"] else 0
            for e in out}


def uuid_of(d, se_name):
    return next(e["uuid"] for e in d.ok("GET", "/api/serviceengine")["results"] if e["name"] == se_name)


# ---- the same rules and errors on both stores ------------------------------------------------

def clone_server(ip=TAP_IP, subnet="10.20.3.0", mask=24):
    return {"ip_address": {"addr": ip, "type": "V4"},
            "subnet": {"ip_addr": {"addr": subnet, "type": "V4"}, "mask": mask}}


# A representative subset of test_api.py's BAD, in this lab's addresses.
BAD = [
    ("POST", "/api/trafficcloneprofile", {"name": "p2", "clone_servers": [clone_server(ip="10.0.0.256")]},
     400, "clone_servers[1].ip_address: invalid IPv4 address '10.0.0.256'"),
    ("POST", "/api/trafficcloneprofile", {"name": "p2", "clone_servers": [clone_server(ip="10.20.3.11")]},
     400, "clone_servers[1].ip_address: 10.20.3.11 is an address of this SE (interface 't0')"),
    ("PATCH", "/api/trafficcloneprofile/ids", {"clone_servers": [clone_server(ip=f"10.20.3.{i}") for i in range(2, 13)]},
     400, "clone_servers: 11 entries, at most 10 allowed"),
    ("PATCH", "/api/virtualservice/web", {"traffic_clone_profile_ref": "missing"},
     400, "traffic_clone_profile_ref: trafficcloneprofile 'missing' does not exist"),
    ("DELETE", "/api/trafficcloneprofile/ids", None,
     409, "trafficcloneprofile 'ids' is in use by virtualservice 'web' (traffic_clone_profile_ref)"),
    ("DELETE", "/api/pool/pool1", None, 409, "pool 'pool1' is in use by virtualservice 'web' (pool_ref)"),
    ("POST", "/api/pool", {"name": "pool1"}, 409, "name: pool 'pool1' already exists in tenant 'admin'"),
    ("POST", "/api/pool", {"name": "pool2", "colour": "blue"}, 400, "colour: unknown field 'colour'"),
    ("POST", "/api/virtualservice", vs(name="web2"),
     409, f"services[1].port: {VIP}:80 is already used by virtualservice 'web'"),
    ("PATCH", "/api/virtualservice/web", {"services": [{"port": 443, "enable_ssl": True}]},
     400, "services[1].enable_ssl: port 443 terminates TLS but ssl_key_and_certificate_refs is empty"),
    ("DELETE", "/api/serviceenginegroup/Default-Group", None,
     409, "serviceenginegroup 'Default-Group' is built in and cannot be deleted or renamed"),
]


@pytest.mark.parametrize("store", ["sqlite", "etcd"])
def test_bad_input_same_error_on_both_stores(ses, store):
    d = ses("se1", None if store == "sqlite" else STORE)
    base_config(d)
    d.ok("POST", "/api/virtualservice", vs(traffic_clone_profile_ref="ids"))
    before = d.everything()
    for method, path, body, status, needle in BAD:
        got, out = d.api(method, path, body)
        assert (got, needle in (out or {}).get("error", "")) == (status, True), (method, path, got, out)
    # If-Match: the version the client saw, or 409.
    lm = d.ok("GET", "/api/pool/pool1")["_last_modified"]
    got, out = d.api("PATCH", "/api/pool/pool1", {"default_server_port": 81},
                     headers={"If-Match": '"1"'})
    assert got == 409 and "If-Match: pool 'pool1' changed since" in out["error"], out
    assert d.everything() == before
    got, out = d.api("PATCH", "/api/pool/pool1", {"default_server_port": 81},
                     headers={"If-Match": f'"{lm}"'})
    assert got == 200 and out["default_server_port"] == 81, out
    # One SE: itself, up, in the default group, with the uuid its stats carry.
    ses_list = d.ok("GET", "/api/serviceengine")
    assert [(e["name"], e["se_group_ref"], e["oper_status"]["state"]) for e in ses_list["results"]] == \
        [("se1", "Default-Group", "OPER_UP")], ses_list
    assert ses_list["results"][0]["uuid"].startswith("se1:se-")
    stats = d.ok("GET", "/api/virtualservice/web/traffic_clone_stats")
    assert [e["se_uuid"] for e in stats] == [ses_list["results"][0]["uuid"]], stats
    got, out = d.api("POST", "/api/serviceengine", {"name": "x"})
    assert got == 405, out


def test_bad_store_flags(elab, workdir):
    for args, needle in ((["--store", "zookeeper://x"], "--store: invalid value 'zookeeper://x'"),
                         (["--store", "etcd://10.20.4.2"], "invalid etcd endpoint '10.20.4.2'"),
                         (["--se-name", "a b"], "--se-name: invalid name 'a b'"),
                         (["--store-ca", "/x"], "--store-ca, --store-cert and --store-key are for")):
        r = elab.run("se1", os.path.join(os.path.dirname(CLONELB), "clonelbd"), "--db",
                     f"{workdir}/x.db", "--socket", f"{workdir}/x.sock", *args, check=False, timeout=20)
        assert r.returncode != 0 and needle in r.stderr, (args, r.stderr)


# ---- two SEs on one etcd ---------------------------------------------------------------------

def test_change_through_one_se_is_served_and_applied_by_both(ses, elab):
    se1, se2 = ses("se1"), ses("se2")
    base_config(se1)
    made = se1.ok("POST", "/api/virtualservice", vs(traffic_clone_profile_ref="ids"))
    # Served by the other at once: its watch brings the change within moments.
    got = wait_for(lambda: (lambda r: r[1] if r[0] == 200 else None)(se2.api("GET", "/api/virtualservice/web")),
                   timeout=5, what="se2 serving the virtual service")
    assert got == made
    assert se2.everything() == se1.everything()
    # Applied by both: each SE's data plane and clone engine run it.
    for d, name in ((se1, "se1"), (se2, "se2")):
        wait_for(lambda: "virtualservice 'web' created" in d.logtext(), timeout=5, what="applied")
        me = uuid_of(se1, name)
        # Its own live entry comes first: its clone engine runs the service.
        wait_for(lambda: d.ok("GET", "/api/virtualservice/web/traffic_clone_stats")[0]["se_uuid"] == me,
                 timeout=5, what=f"{name}'s clone engine running the service")
    # Both registered, up.
    assert [(e["name"], e["oper_status"]["state"]) for e in se2.ok("GET", "/api/serviceengine")["results"]] == \
        [("se1", "OPER_UP"), ("se2", "OPER_UP")]
    r = se2.cli("-c", "show serviceengine", check=0)
    rows = [[c.strip() for c in l.split("|")[1:-1]] for l in r.stdout.splitlines() if l.startswith("| se")]
    assert rows == [["se1", uuid_of(se1, "se1"), "Default-Group", "OPER_UP"],
                    ["se2", uuid_of(se1, "se2"), "Default-Group", "OPER_UP"]], r.stdout
    # A change through the second is seen by the first, with the same rules.
    se2.ok("PATCH", "/api/pool/pool1", {"default_server_port": 8080})
    wait_for(lambda: se1.ok("GET", "/api/pool/pool1").get("default_server_port") == 8080, timeout=5,
             what="se1 seeing se2's change")
    got, out = se1.api("DELETE", "/api/pool/pool1")
    assert got == 409 and out["error"] == "pool 'pool1' is in use by virtualservice 'web' (pool_ref)", out
    # An SE that stops is OPER_DOWN for the others; one that restarts picks up the configuration.
    se2.stop()
    assert [(e["name"], e["oper_status"]["state"]) for e in se1.ok("GET", "/api/serviceengine")["results"]] == \
        [("se1", "OPER_UP"), ("se2", "OPER_DOWN")]
    se1.ok("POST", "/api/pool", {"name": "while-se2-was-down"})
    se2.start()
    assert se2.everything() == se1.everything()


def test_two_nodes_creating_one_name_at_once_exactly_one_wins(ses):
    se1, se2 = ses("se1"), ses("se2")
    names = [f"race{i}" for i in range(15)]
    results = {}
    go = threading.Barrier(2)

    def create(d, tag):
        go.wait()
        for n in names:
            results[(n, tag)] = d.api("POST", "/api/healthmonitor", {"name": n, "type": "HEALTH_MONITOR_TCP"})
    threads = [threading.Thread(target=create, args=(d, t)) for d, t in ((se1, 1), (se2, 2))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for n in names:
        got = sorted(results[(n, t)][0] for t in (1, 2))
        assert got == [201, 409], (n, results[(n, 1)], results[(n, 2)])
        loser = next(results[(n, t)][1] for t in (1, 2) if results[(n, t)][0] == 409)
        assert loser["error"] == f"name: healthmonitor '{n}' already exists in tenant 'admin'", loser
    for d in (se1, se2):
        wait_for(lambda: len(d.ok("GET", "/api/healthmonitor")["results"]) == len(names), timeout=5,
                 what="every name once")
    # If-Match, racing: of two updates of the same version, one wins.
    se1.ok("POST", "/api/pool", {"name": "contended"})
    lm = se1.ok("GET", "/api/pool/contended")["_last_modified"]
    wait_for(lambda: se2.api("GET", "/api/pool/contended")[0] == 200, timeout=5, what="se2 in step")
    upd = {}
    go = threading.Barrier(2)

    def patch(d, port):
        go.wait()
        upd[port] = d.api("PATCH", "/api/pool/contended", {"default_server_port": port},
                          headers={"If-Match": f'"{lm}"'})
    threads = [threading.Thread(target=patch, args=a) for a in ((se1, 81), (se2, 82))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(r[0] for r in upd.values()) == [200, 409], upd
    won = next(p for p, r in upd.items() if r[0] == 200)
    lost = next(r for r in upd.values() if r[0] == 409)
    assert "If-Match: pool 'contended' changed since" in lost[1]["error"], lost
    assert se1.ok("GET", "/api/pool/contended")["default_server_port"] == won
    # In-use against delete, racing: the reference and the delete cannot both win.
    se1.ok("POST", "/api/pool", {"name": "target"})
    out = {}
    go = threading.Barrier(2)

    def delete():
        go.wait()
        out["del"] = se1.api("DELETE", "/api/pool/target")

    def refer():
        go.wait()
        out["ref"] = se2.api("POST", "/api/virtualservice", {**vs(), "pool_ref": "target"})
    threads = [threading.Thread(target=delete), threading.Thread(target=refer)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    pools = {p["name"] for p in se1.ok("GET", "/api/pool")["results"]}
    if out["del"][0] == 204:
        assert out["ref"][0] == 400 and "pool 'target' does not exist" in out["ref"][1]["error"], out
        assert "target" not in pools
    else:
        assert out["del"][0] == 409 and out["ref"][0] == 201, out
        assert "target" in pools


# ---- traffic: shared group, stats per SE -----------------------------------------------------

@pytest.fixture
def vip_on_lo(elab):
    """The VIP on lo of both SEs (as an HA_MODE_SHARED group has it), the client routed by hand."""
    for role in ("se1", "se2"):
        elab.run(role, "ip", "addr", "add", f"{VIP}/32", "dev", "lo")
    try:
        yield
    finally:
        for role in ("se1", "se2"):
            elab.run(role, "ip", "addr", "del", f"{VIP}/32", "dev", "lo", check=False)
        elab.run("cli", "ip", "route", "del", f"{VIP}/32", check=False)


def route_vip_via(elab, role):
    elab.run("cli", "ip", "route", "replace", f"{VIP}/32", "via", SE_IP[role])


def test_stats_per_se_and_reset_on_every_se(ses, elab, pool_server, vip_on_lo):
    se1, se2 = ses("se1"), ses("se2")
    base_config(se1)
    se1.ok("POST", "/api/virtualservice", vs(traffic_clone_profile_ref="ids"))
    u1, u2 = uuid_of(se1, "se1"), uuid_of(se1, "se2")
    for role, n in (("se1", 3), ("se2", 5)):
        route_vip_via(elab, role)
        wait_for(lambda: curl_vip(elab), timeout=10, what=f"the VIP through {role}")
        for _ in range(n - 1):
            assert curl_vip(elab)
    # Each SE publishes its own counters; either SE's API shows both.
    for d in (se1, se2):
        both = wait_for(lambda: (lambda s: s if len(s) == 2 and all(s.values()) else None)(agg_stats(d)),
                        timeout=10, what="two SEs with clones")
        assert set(both) == {u1, u2}, both
    full = se2.ok("GET", "/api/virtualservice/web/traffic_clone_stats")
    assert [e["proc_id"] for e in full] == ["PROC_Aggregate", "PROC_Aggregate"]
    assert full[0]["se_uuid"] == u2  # the SE answering comes first
    # The shell prints one table per SE.
    r = se1.cli("-c", "show virtualservice web traffic_clone_stats", check=0)
    assert r.stdout.count("| se_uuid") == 2 and u1 in r.stdout and u2 in r.stdout, r.stdout
    # /metrics labels each series with its SE.
    m = se2.ok("GET", "/metrics")
    assert f'clonelb_clone_frames_total{{se="{u2}",tenant="admin",virtualservice="web"' in m, m[-2000:]
    # A profile change resets the counters on every SE.
    se1.ok("PATCH", "/api/trafficcloneprofile/ids", {"preserve_client_ip": True})
    wait_for(lambda: agg_stats(se1) == {u1: 0, u2: 0}, timeout=10, what="counters reset on both SEs")


def test_etcd_down_traffic_and_cloning_go_on_writes_503_then_resume(ses, elab, pool_server, vip_on_lo):
    se1, se2 = ses("se1"), ses("se2")
    base_config(se1)
    se1.ok("POST", "/api/virtualservice", vs(traffic_clone_profile_ref="ids"))
    route_vip_via(elab, "se1")
    wait_for(lambda: curl_vip(elab), timeout=10, what="the VIP")
    u1 = uuid_of(se1, "se1")
    try:
        elab.etcd_stop()
        before = agg_stats(se1)[u1]
        for _ in range(3):
            assert curl_vip(elab)
        assert agg_stats(se1)[u1] > before  # still cloning, on the last configuration
        for d in (se1, se2):
            got, out = wait_for(lambda: (lambda r: r if r[0] == 503 else None)(
                d.api("POST", "/api/pool", {"name": "during"})), timeout=10, what="503")
            assert out["error"].startswith(f"store unavailable: etcd at {ETCD}: "), out
            assert d.ok("GET", "/api/virtualservice/web")["name"] == "web"  # reads still answer
    finally:
        elab.etcd_start()
    # Writes work again without a restart; the other SE catches up.
    wait_for(lambda: se1.api("POST", "/api/pool", {"name": "after"})[0] == 201, timeout=15,
             what="writes after etcd is back")
    wait_for(lambda: se2.api("GET", "/api/pool/after")[0] == 200, timeout=10, what="se2 catching up")
    assert curl_vip(elab)
    assert "store: following etcd again" in se2.logtext()


def test_se_cut_off_from_etcd_catches_up_after_compaction(ses, elab):
    se1, se2 = ses("se1"), ses("se2")
    se1.ok("POST", "/api/pool", {"name": "before"})
    wait_for(lambda: se2.api("GET", "/api/pool/before")[0] == 200, timeout=5, what="se2 in step")
    elab.run("se2", "ip", "link", "set", "m0", "down")
    try:
        # Its lease keepalive fails, so it drops its watch too (TCP alone
        # would keep a silent stream open for minutes).
        wait_for(lambda: "writes answer 503" in se2.logtext(), timeout=15, what="se2 noticing it is cut off")
        got, out = se2.api("POST", "/api/pool", {"name": "x"})
        assert got == 503 and out["error"].startswith(f"store unavailable: etcd at {ETCD}: "), out
        se1.ok("POST", "/api/pool", {"name": "while-cut-off"})
        se1.ok("DELETE", "/api/pool/before")
        # What se2 missed is compacted away: it must read everything again.
        rev = elab.run("etcd", "curl", "-sf", f"http://{ETCD}/v3/kv/range", "-d", '{"key": "AA=="}').stdout
        rev = rev.split('"revision":"')[1].split('"')[0]
        elab.run("etcd", "curl", "-sf", f"http://{ETCD}/v3/kv/compaction", "-d",
                 f'{{"revision": "{rev}", "physical": true}}')
    finally:
        elab.run("se2", "ip", "link", "set", "m0", "up")
    wait_for(lambda: se2.api("GET", "/api/pool/while-cut-off")[0] == 200, timeout=15, what="se2 resync")
    assert se2.api("GET", "/api/pool/before")[0] == 404
    assert "configuration read again from the store" in se2.logtext()
    wait_for(lambda: se2.api("POST", "/api/pool", {"name": "x"})[0] == 201, timeout=10, what="se2 writes")


# ---- active/standby --------------------------------------------------------------------------

def holder(elab):
    """The SEs whose front interface has the VIP."""
    return [r for r in ("se1", "se2")
            if f"{VIP}/32" in elab.run(r, "ip", "-4", "-o", "addr", "show", "dev", "f0").stdout]


def test_active_standby_takeover_by_gratuitous_arp(ses, elab, pool_server, workdir):
    se1 = ses("se1", STORE, "--se-group", "ha")
    se1.ok("POST", "/api/serviceenginegroup", {"name": "ha", "ha_mode": "HA_MODE_LEGACY_ACTIVE_STANDBY"})
    base_config(se1)
    se1.ok("POST", "/api/virtualservice", vs(se_group_ref="ha"))
    wait_for(lambda: holder(elab) == ["se1"], timeout=10, what="se1 holding the VIP")
    se2 = ses("se2", STORE, "--se-group", "ha")
    wait_for(lambda: curl_vip(elab), timeout=10, what="the VIP through se1")
    assert holder(elab) == ["se1"]  # the standby leaves it alone
    pcap = os.path.join(workdir, "arp.pcap")
    cap = elab.popen("cli", "tcpdump", "-i", "eth0", "-nn", "-U", "-w", pcap, "arp",
                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        # tcpdump creates the file only after its capture and filter are in place.
        wait_for(lambda: os.path.exists(pcap), timeout=5, what="tcpdump")
        se1.stop(signal.SIGKILL)
        wait_for(lambda: holder(elab)[-1:] == ["se2"], timeout=15, what="se2 taking the VIP over")
        wait_for(lambda: curl_vip(elab), timeout=10, what="the VIP through se2")
    finally:
        end_process(cap)
    out = subprocess.run(["tshark", "-r", pcap, "-Y", f"arp.src.proto_ipv4 == {VIP} && arp.dst.proto_ipv4 == {VIP}",
                          "-T", "fields", "-e", "arp.src.hw_mac", "-e", "eth.dst"],
                         capture_output=True, text=True, timeout=30).stdout.split("\n")
    assert f"{SE_MAC['se2']}\tff:ff:ff:ff:ff:ff" in out, out
    neigh = elab.run("cli", "ip", "neigh", "show", VIP).stdout
    assert SE_MAC["se2"] in neigh, neigh
    assert "this SE is active" in se2.logtext()
    # SIGTERM: the address leaves with the SE.
    se2.stop()
    assert "se2" not in holder(elab)
    # A crashed SE's address is removed when it starts again.
    assert holder(elab) == ["se1"]
    se1.start()
    wait_for(lambda: holder(elab) == ["se1"] and "left by an earlier run" in se1.logtext(), timeout=10,
             what="se1 again")


# ---- etcd over TLS with client certificates -------------------------------------------------

def test_etcd_over_tls_with_client_certificates(elab):
    d = tempfile.mkdtemp(prefix="clonelb-etcd-tls-")
    tls = os.path.join(d, "tls")
    os.makedirs(tls)
    env = dict(elab.env, ETCD_PORT="2389")
    daemon = None

    def ossl(*a):
        subprocess.run(["openssl", *a], check=True, capture_output=True, cwd=tls)
    try:
        ossl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
             "-subj", "/CN=lab-ca", "-keyout", "ca.key", "-out", "ca.pem")
        with open(os.path.join(tls, "ext"), "w") as f:
            f.write("subjectAltName=IP:10.20.4.2\nextendedKeyUsage=serverAuth,clientAuth\n")
        for who in ("server", "client"):
            ossl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", f"/CN={who}",
                 "-keyout", f"{who}.key", "-out", f"{who}.csr")
            ossl("x509", "-req", "-in", f"{who}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                 "-days", "2", "-extfile", "ext", "-out", f"{who}.pem")
        subprocess.run([LAB, "etcd-start", d], env=env, check=True, timeout=60)
        daemon = Daemon(SeView(elab, "se1"), d, [
            "--se-name", "se1", "--store", "etcd://10.20.4.2:2389", "--store-ca", f"{tls}/ca.pem",
            "--store-cert", f"{tls}/client.pem", "--store-key", f"{tls}/client.key"]).start()
        daemon.ok("POST", "/api/pool", {"name": "over-tls"})
        assert [e["name"] for e in daemon.ok("GET", "/api/serviceengine")["results"]] == ["se1"]
        # The key is in that etcd, and etcd refuses a client without a certificate.
        r = elab.run("etcd", "curl", "-sS", "--cacert", f"{tls}/ca.pem", "https://10.20.4.2:2389/v3/kv/range",
                     "-d", '{"key": "AA=="}', check=False)
        assert r.returncode != 0, r
    finally:
        if daemon:
            daemon.stop()
        subprocess.run([LAB, "etcd-stop", d], env=env, check=False, timeout=60)
        shutil.rmtree(d, ignore_errors=True)


def test_damaged_object_in_etcd_is_named_and_refused(ses, elab):
    se1 = ses("se1")
    se1.ok("POST", "/api/pool", {"name": "good"})
    key = "/clonelb/obj/pool-0000-bad"
    b64 = lambda s: __import__("base64").b64encode(s.encode()).decode()
    elab.run("etcd", "curl", "-sf", f"http://{ETCD}/v3/kv/put", "-d",
             f'{{"key": "{b64(key)}", "value": "{b64("{not json")}"}}')
    try:
        # The running SE refuses changes, naming the key, and keeps what it runs.
        got, out = wait_for(lambda: (lambda r: r if r[0] == 503 and key in r[1]["error"] else None)(
            se1.api("POST", "/api/pool", {"name": "x"})), timeout=10, what="503 naming the key")
        assert f"key {key}: " in out["error"] and "body is not valid JSON" in out["error"], out
        assert se1.api("GET", "/api/pool/good")[0] == 200
        # A start on it is refused, naming it.
        se1.stop()
        r = elab.run("se1", se1.proc.args[4], "--store", STORE, "--socket", f"{se1.dir}/b.sock",
                     "--db", f"{se1.dir}/b.db", check=False, timeout=30)
        assert r.returncode != 0 and f"key {key}: " in r.stderr and "start refused" in r.stderr, r.stderr
    finally:
        elab.run("etcd", "curl", "-sf", f"http://{ETCD}/v3/kv/deleterange", "-d", f'{{"key": "{b64(key)}"}}')


def test_lone_sqlite_se_holds_its_active_standby_vips(ses, elab, pool_server):
    se1 = ses("se1", None, "--se-group", "ha")
    se1.ok("POST", "/api/serviceenginegroup", {"name": "ha", "ha_mode": "HA_MODE_LEGACY_ACTIVE_STANDBY"})
    base_config(se1)
    se1.ok("POST", "/api/virtualservice", vs(se_group_ref="ha"))
    wait_for(lambda: holder(elab) == ["se1"], timeout=10, what="se1 holding the VIP")
    wait_for(lambda: curl_vip(elab), timeout=10, what="the VIP through se1")
    se1.ok("PATCH", "/api/virtualservice/web", {"enabled": False})
    wait_for(lambda: holder(elab) == [], timeout=10, what="the VIP gone with its service")
