"""Issue 8 items 5-8: concurrent operators, tenancy as a boundary, ?name= and paging, damaged stores."""
import json
import os
import sqlite3
import subprocess
import threading

import pytest

from conftest import CLONELBD, Daemon, VIP

TOKEN = "store-test-token"
TCP_PORT = 8450


def pool(name, **extra):
    return {"name": name, **extra}


def vs(name, port, pool_ref=None):
    body = {"name": name, "vip": [{"ip_address": {"addr": VIP, "type": "V4"}}],
            "services": [{"port": port}]}
    if pool_ref:
        body["pool_ref"] = pool_ref
    return body


def as_tenant(t):
    return {"X-Avi-Tenant": t}


@pytest.fixture
def daemon(daemon):
    """conftest's daemon with the tenants these tests use (a tenant must exist to hold objects)."""
    for t in ("t1", "t2"):
        daemon.ok("POST", "/api/tenant", {"name": t})
    return daemon


# --- item 5: concurrent operators -----------------------------------------------------------

# Runs in the se namespace: N PATCHes of one field over TCP, one JSON answer per line.
TCP_PATCHER = r"""
import http.client, json, ssl, sys
port, token, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
def conn(tls):
    if tls:
        return http.client.HTTPSConnection("127.0.0.1", port, timeout=30,
                                           context=ssl._create_unverified_context())
    return http.client.HTTPConnection("127.0.0.1", port, timeout=30)
hdr = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}
# The listener speaks HTTPS or plain HTTP depending on the build: ask it.
try:
    c = conn(True); c.request("GET", "/api/pool", headers=hdr); c.getresponse().read(); tls = True
except (ssl.SSLError, ConnectionError, http.client.HTTPException):
    tls = False
c = conn(tls)
for i in range(1, n + 1):
    c.request("PATCH", "/api/pool/shared", body=json.dumps({"default_server_port": 1000 + i}),
              headers=hdr)
    r = c.getresponse()
    print(json.dumps({"status": r.status, "body": json.loads(r.read())}), flush=True)
"""


@pytest.fixture
def tcp_daemon(lab, workdir):
    token_file = os.path.join(workdir, "token")
    with open(token_file, "w") as f:
        f.write(TOKEN + "\n")
    d = Daemon(lab, workdir, ["--listen", f"127.0.0.1:{TCP_PORT}", "--token-file", token_file]).start()
    try:
        yield d
    finally:
        d.stop()


def server_octet(obj):
    return int(obj["servers"][0]["ip"]["addr"].rsplit(".", 1)[1])


def test_concurrent_patches_of_two_fields_lose_nothing(lab, tcp_daemon):
    d, n = tcp_daemon, 100
    d.ok("POST", "/api/pool", pool("shared", default_server_port=1000,
                                   servers=[{"ip": {"addr": "10.10.2.1", "type": "V4"}}]))
    unix_answers = []

    def unix_side():
        for j in range(2, n + 2):
            unix_answers.append(d.api("PATCH", "/api/pool/shared",
                                      {"servers": [{"ip": {"addr": f"10.10.2.{j}", "type": "V4"}}]}))

    t = threading.Thread(target=unix_side)
    t.start()
    tcp = lab.run("se", "/usr/bin/python3", "-c", TCP_PATCHER, str(TCP_PORT), TOKEN, str(n),
                  timeout=120)
    t.join(120)
    assert not t.is_alive()
    tcp_answers = [json.loads(line) for line in tcp.stdout.splitlines()]
    assert len(tcp_answers) == n and len(unix_answers) == n, tcp.stderr
    assert all(a["status"] == 200 for a in tcp_answers), tcp_answers[:3]
    assert all(s == 200 for s, _ in unix_answers), unix_answers[:3]

    # In commit order (_last_modified), each field only moves forward: a
    # PATCH that merged into an old copy would put the other field back.
    versions = sorted([a["body"] for a in tcp_answers] + [b for _, b in unix_answers],
                      key=lambda o: int(o["_last_modified"]))
    ports = [o["default_server_port"] for o in versions]
    octets = [server_octet(o) for o in versions]
    assert ports == sorted(ports), "a TCP PATCH was undone by a concurrent one"
    assert octets == sorted(octets), "a Unix-socket PATCH was undone by a concurrent one"
    final = d.ok("GET", "/api/pool/shared")
    assert final["default_server_port"] == 1000 + n and server_octet(final) == n + 1, final


def test_if_match_makes_an_update_conditional(daemon):
    d = daemon
    v1 = d.ok("POST", "/api/pool", pool("cond", default_server_port=81))
    status, v2 = d.api("PATCH", "/api/pool/cond", {"default_server_port": 82},
                       headers={"If-Match": v1["_last_modified"]})
    assert status == 200 and v2["default_server_port"] == 82, v2
    # The version v1 names is gone: both PATCH and PUT are refused, nothing changes.
    for method, body in (("PATCH", {"default_server_port": 83}),
                         ("PUT", {"name": "cond", "default_server_port": 84})):
        status, out = d.api(method, "/api/pool/cond", body,
                            headers={"If-Match": f'"{v1["_last_modified"]}"'})
        assert status == 409, out
        assert out["error"].startswith("If-Match: pool 'cond' changed since"), out
        assert d.ok("GET", "/api/pool/cond") == v2
    status, v3 = d.api("PUT", "/api/pool/cond", {"name": "cond", "default_server_port": 85},
                       headers={"If-Match": f'"{v2["_last_modified"]}"'})
    assert status == 200 and v3["default_server_port"] == 85, v3


# --- item 6: tenancy ------------------------------------------------------------------------

def test_another_tenant_cannot_reach_an_object_by_uuid(daemon):
    d = daemon
    status, secret = d.api("POST", "/api/pool", pool("t1-secret-pool", default_server_port=8081),
                           headers=as_tenant("t1"))
    assert status == 201, secret
    uuid = secret["uuid"]
    for method, body in (("GET", None), ("PATCH", {"default_server_port": 9}),
                         ("PUT", {"name": "stolen"}), ("DELETE", None)):
        for key in (uuid, "t1-secret-pool"):
            status, out = d.api(method, f"/api/pool/{key}", body, headers=as_tenant("t2"))
            # Only what the client sent comes back: nothing of tenant t1.
            assert status == 404 and out == {"error": f"pool '{key}' not found"}, (method, out)
    status, listed = d.api("GET", "/api/pool", headers=as_tenant("t2"))
    assert status == 200 and listed["count"] == 0, listed
    status, mine = d.api("GET", f"/api/pool/{uuid}", headers=as_tenant("t1"))
    assert status == 200 and mine == secret


def test_a_body_cannot_choose_another_tenant(daemon):
    d = daemon
    before = d.everything()
    for hdr in ({}, as_tenant("t2")):
        status, out = d.api("POST", "/api/pool", pool("sneaky", tenant_ref="t1"), headers=hdr)
        assert status == 400, out
        assert out["error"].startswith("tenant_ref: \"t1\" is not the tenant of the request"), out
    assert d.everything() == before
    d.ok("POST", "/api/pool", pool("mine"))
    status, out = d.api("PATCH", "/api/pool/mine", {"tenant_ref": "t1"})
    assert status == 400 and out["error"].startswith("tenant_ref: "), out
    # Writes name one tenant; "*" is for reading.
    status, out = d.api("POST", "/api/pool", pool("everywhere"), headers=as_tenant("*"))
    assert status == 400 and "tenant '*'" in out["error"], out


def test_vip_conflict_does_not_name_another_tenants_service(daemon):
    d = daemon
    status, out = d.api("POST", "/api/virtualservice", vs("t1-secret-vs", 80), headers=as_tenant("t1"))
    assert status == 201, out
    status, out = d.api("POST", "/api/virtualservice", vs("mine", 80), headers=as_tenant("t2"))
    assert status == 409, out
    assert out["error"] == f"services[1].port: {VIP}:80 is already used by a virtual service of another tenant", out
    status, out = d.api("POST", "/api/virtualservice", vs("again", 80), headers=as_tenant("t1"))
    assert status == 409 and "virtualservice 't1-secret-vs'" in out["error"], out


def test_metrics_carry_the_tenant(daemon):
    d = daemon
    for tenant, port in (("t1", 80), ("t2", 81)):
        h = as_tenant(tenant)
        assert d.api("POST", "/api/pool", pool("web-pool", servers=[
            {"ip": {"addr": "10.10.2.11", "type": "V4"}}]), headers=h)[0] == 201
        assert d.api("POST", "/api/virtualservice", vs("web", port, "web-pool"), headers=h)[0] == 201
    text = d.ok("GET", "/metrics")
    samples = [line.rsplit(" ", 1)[0] for line in text.splitlines() if line and not line.startswith("#")]
    dup = {s for s in samples if samples.count(s) > 1}
    assert not dup, f"duplicate series: {sorted(dup)}"
    for tenant in ("t1", "t2"):
        assert f'clonelb_vs_connections_total{{tenant="{tenant}",virtualservice="web"}}' in samples
        assert (f'clonelb_pool_member_up{{tenant="{tenant}",pool="web-pool",server="10.10.2.11:80"}}'
                in samples)


# --- item 7: ?name= and paging --------------------------------------------------------------

def test_name_filter_is_exact(daemon):
    d = daemon
    for name in ("a", "ab", "b", "A"):
        d.ok("POST", "/api/pool", pool(name))
    assert d.api("POST", "/api/pool", pool("a"), headers=as_tenant("t2"))[0] == 201
    out = d.ok("GET", "/api/pool?name=a")
    assert out["count"] == 1 and [o["name"] for o in out["results"]] == ["a"], out
    assert out["results"][0]["tenant_ref"] == "/api/tenant/admin"
    out = d.ok("GET", "/api/pool?name=zz")
    assert out == {"count": 0, "results": []}, out
    status, out = d.api("GET", "/api/pool?name=a", headers=as_tenant("t2"))
    t2 = d.ok("GET", "/api/tenant/t2")["uuid"]
    assert status == 200 and out["count"] == 1 and out["results"][0]["tenant_ref"] == f"/api/tenant/{t2}", out


def test_paging_with_next(daemon):
    d = daemon
    names = [f"p{i}" for i in range(7)]
    for name in names:
        d.ok("POST", "/api/pool", pool(name))
    seen, url, pages = [], "/api/pool?page_size=3", 0
    while url:
        out = d.ok("GET", url)
        assert out["count"] == 7, out
        assert len(out["results"]) <= 3
        seen += [o["name"] for o in out["results"]]
        url = out.get("next")
        pages += 1
        assert pages <= 3, out
    assert seen == names and pages == 3
    out = d.ok("GET", "/api/pool?page=2&page_size=5")
    assert [o["name"] for o in out["results"]] == names[5:] and "next" not in out, out
    assert d.ok("GET", "/api/pool")["count"] == 7


@pytest.mark.parametrize("query, error", [
    ("page_size=0", "page_size: invalid value '0' (an integer from 1 to 200)"),
    ("page_size=201", "page_size: invalid value '201' (an integer from 1 to 200)"),
    ("page=abc", "page: invalid value 'abc' (an integer from 1 to 1000000000)"),
    ("page=0&page_size=2", "page: invalid value '0' (an integer from 1 to 1000000000)"),
])
def test_bad_paging_is_refused(daemon, query, error):
    status, out = daemon.api("GET", f"/api/pool?{query}")
    assert status == 400 and out == {"error": error}, out


# --- item 8: damaged store ------------------------------------------------------------------

def store_with_pools(lab, workdir, n):
    """A store of @n pools written by clonelbd itself (one pool) and copied with sqlite3."""
    d = Daemon(lab, workdir).start()
    d.ok("POST", "/api/pool", pool("p0", servers=[{"ip": {"addr": "10.10.2.11", "type": "V4"}}]))
    assert d.stop() == 0
    db = sqlite3.connect(d.db)
    body = json.loads(db.execute("SELECT body FROM objects WHERE name = 'p0'").fetchone()[0])
    for i in range(1, n):
        b = dict(body, name=f"p{i}", uuid=f"pool-00000000-0000-4000-8000-{i:012d}")
        db.execute("INSERT INTO objects (type, uuid, name, tenant, body) VALUES ('pool', ?, ?, 'admin', ?)",
                   (b["uuid"], b["name"], json.dumps(b, sort_keys=True)))
    db.commit()
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    return d


def start_fails(lab, d):
    try:
        r = subprocess.run(lab.cmd("se", CLONELBD, "--db", d.db, "--socket", d.socket),
                           capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail("clonelbd started on a damaged store (still running after 30 s)")
    assert r.returncode == 1, f"clonelbd exited with {r.returncode}: {r.stderr}"
    assert not os.path.exists(d.socket)
    return r.stderr


def test_store_with_a_zeroed_page_is_refused(lab, workdir):
    d = store_with_pools(lab, workdir, 300)
    size = os.path.getsize(d.db)
    page = 4096
    with open(d.db, "r+b") as f:
        f.seek(size - page + 8)
        f.write(b"\0" * (page // 2))
    err = start_fails(lab, d)
    assert err.startswith(f"clonelbd: config store {d.db}: integrity check failed: "), err
    assert "start refused" in err and err.count("\n") == 1, err


def test_store_row_without_uuid_is_refused(lab, workdir):
    d = store_with_pools(lab, workdir, 10)
    db = sqlite3.connect(d.db)
    row = db.execute("SELECT id FROM objects WHERE name = 'p5'").fetchone()[0]
    db.execute("UPDATE objects SET body = json_remove(body, '$.uuid') WHERE name = 'p5'")
    db.commit()
    db.close()
    err = start_fails(lab, d)
    assert f"row {row} (pool 'p5'): body has no uuid" in err, err


def test_store_row_that_does_not_load_is_refused(lab, workdir):
    d = store_with_pools(lab, workdir, 10)
    db = sqlite3.connect(d.db)
    db.execute("UPDATE objects SET body = '{\"name\": \"p7\", trunc' WHERE name = 'p7'")
    db.execute("""UPDATE objects SET body = json_set(body, '$.default_server_port', 'eighty')
                  WHERE name = 'p8'""")
    db.commit()
    row = db.execute("SELECT id FROM objects WHERE name = 'p7'").fetchone()[0]
    db.close()
    err = start_fails(lab, d)
    assert f"row {row} (pool 'p7'): body is not valid JSON" in err, err
    db = sqlite3.connect(d.db)
    db.execute("DELETE FROM objects WHERE name = 'p7'")
    db.commit()
    row = db.execute("SELECT id FROM objects WHERE name = 'p8'").fetchone()[0]
    db.close()
    err = start_fails(lab, d)
    assert f"row {row} (pool 'p8'): body does not load: default_server_port" in err, err


# --- item 10 (routes): a method a path does not support --------------------------------------

@pytest.mark.parametrize("method, path", [("DELETE", "/api/pool"), ("PUT", "/api/pool"),
                                          ("POST", "/api/pool/p"), ("POST", "/api/se/interfaces")])
def test_unsupported_method_is_405(daemon, method, path):
    before = daemon.everything()
    status, out = daemon.api(method, path, {"name": "p"})
    assert status == 405 and out == {"error": f"method {method} is not allowed on this path"}, out
    assert daemon.everything() == before
