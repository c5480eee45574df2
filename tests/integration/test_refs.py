"""References as the reference product writes them (issue 9 items 3 and 4): every reference form on
every *_ref field, url and ?include_name, the read-only cloud, vsvip objects carrying traffic, the
reference's PATCH forms, and a GET of every type PUT back unchanged, on the Unix socket and on the
HTTPS listener (requests written as the vendor's SDK writes them: JSON bodies, refs it read back)."""
import json
import os
import sqlite3

import pytest

from conftest import (Daemon, POOL_IPS, SE_CLI_IP, TAP_IP, VIP, curl, started, wait_for, write_token)

PORT = 9443
TOKEN = "refs-" + "9" * 27
CLOUD = "Default-Cloud"


class Https:
    """The daemon's HTTPS listener, reached with curl from the se namespace."""

    def __init__(self, lab, host=None):
        self.lab, self.host = lab, host

    def api(self, method, path, body=None, headers=None):
        args = ["-sS", "-k", "--max-time", "10", "-X", method, "-H", f"Authorization: Bearer {TOKEN}",
                "-H", "Content-Type: application/json", "-D", "/dev/stderr", "-o", "-", "-w",
                "\n%{http_code}"]
        for k, v in (headers or {}).items():
            args += ["-H", f"{k}: {v}"]
        if self.host:
            args += ["-H", f"Host: {self.host}"]
        if body is not None:
            args += ["--data-binary", json.dumps(body)]
        r = self.lab.run("se", "curl", *args, f"https://127.0.0.1:{PORT}{path}", check=False,
                         timeout=20)
        text, _, code = r.stdout.rpartition("\n")
        self.headers = r.stderr
        try:
            return int(code or 0), json.loads(text) if text else None
        except ValueError:
            return int(code or 0), text

    def ok(self, method, path, body=None):
        status, out = self.api(method, path, body)
        assert 200 <= status < 300, f"{method} {path} -> {status}: {out}"
        return out


@pytest.fixture
def d(lab, workdir):
    """clonelbd with the Unix socket and HTTPS on 0.0.0.0:PORT in se."""
    token = write_token(workdir, TOKEN)
    with started(Daemon(lab, workdir, ["--listen", f"0.0.0.0:{PORT}", "--token-file", token])) as dm:
        dm.https = Https(lab)
        wait_for(lambda: dm.https.api("GET", "/api/pool")[0] == 200, what="the HTTPS listener")
        yield dm


@pytest.fixture(params=["unix", "https"])
def client(request, d):
    """The same API through either transport, and the base its answers write references with."""
    c = d if request.param == "unix" else d.https
    c.base = "" if request.param == "unix" else f"https://127.0.0.1:{PORT}"
    return c


def ip(addr):
    return {"addr": addr, "type": "V4"}


def setup_all(c, tls_cert):
    """One object of every type, each referenced: returns {name: object as created}."""
    o = {}
    o["hm"] = c.ok("POST", "/api/healthmonitor", {"name": "hm", "type": "HEALTH_MONITOR_TCP"})
    o["hm2"] = c.ok("POST", "/api/healthmonitor", {"name": "hm2", "type": "HEALTH_MONITOR_TCP"})
    o["cert"] = c.ok("POST", "/api/sslkeyandcertificate", {
        "name": "cert", "certificate": tls_cert["certificate"], "key": tls_cert["key"]})
    o["ids"] = c.ok("POST", "/api/trafficcloneprofile", {
        "name": "ids", "cloud_ref": CLOUD,
        "clone_servers": [{"ip_address": ip(TAP_IP), "subnet": {"ip_addr": ip("10.10.3.0"), "mask": 24}}]})
    o["p"] = c.ok("POST", "/api/pool", {"name": "p", "health_monitor_refs": ["hm"],
                                        "servers": [{"ip": ip(POOL_IPS[0])}]})
    o["vv"] = c.ok("POST", "/api/vsvip", {"name": "vv", "cloud_ref": CLOUD,
                                          "vip": [{"vip_id": "0", "ip_address": ip(VIP)}]})
    o["web"] = c.ok("POST", "/api/virtualservice", {
        "name": "web", "vip": [{"ip_address": ip(SE_CLI_IP)}], "services": [{"port": 80}],
        "pool_ref": "p", "traffic_clone_profile_ref": "ids", "ssl_key_and_certificate_refs": ["cert"]})
    o["shared"] = c.ok("POST", "/api/virtualservice", {
        "name": "shared", "vsvip_ref": "vv", "services": [{"port": 81}]})
    o["cloud"] = c.ok("GET", f"/api/cloud?name={CLOUD}")["results"][0]
    return o


def forms(t, obj):
    """Every form a reference to @obj (of type @t) takes."""
    u, n = obj["uuid"], obj["name"]
    return [n, u, f"/api/{t}/{u}", f"https://ctl.example:8443/api/{t}/{u}#{n}",
            f"https://10.9.9.9/api/{t}/{u}", f"/api/{t}?name={n}", f"/api/{t}/?name={n}"]


# (type, object, field, target type, target object, a list field?)
FIELDS = [
    ("trafficcloneprofile", "ids", "cloud_ref", "cloud", "cloud", False),
    ("pool", "p", "health_monitor_refs", "healthmonitor", "hm2", True),
    ("vsvip", "vv", "cloud_ref", "cloud", "cloud", False),
    ("virtualservice", "web", "pool_ref", "pool", "p", False),
    ("virtualservice", "web", "traffic_clone_profile_ref", "trafficcloneprofile", "ids", False),
    ("virtualservice", "web", "ssl_key_and_certificate_refs", "sslkeyandcertificate", "cert", True),
    ("virtualservice", "shared", "vsvip_ref", "vsvip", "vv", False),
]


def test_every_form_on_every_ref_field(client, tls_cert):
    """Each form of each *_ref field of every type is taken and stored as the target's uuid; the
    answer writes it back as <base>/api/<type>/<uuid>, and ?include_name adds #name."""
    o = setup_all(client, tls_cert)
    for t, name, field, tt, target, is_list in FIELDS:
        want = f"{client.base}/api/{tt}/{o[target]['uuid']}"
        for form in forms(tt, o[target]):
            out = client.ok("PATCH", f"/api/{t}/{o[name]['uuid']}", {field: [form] if is_list else form})
            assert out[field] == ([want] if is_list else want), (field, form, out[field])
        got = client.ok("GET", f"/api/{t}/{name}?include_name")[field]
        assert got == ([f"{want}#{o[target]['name']}"] if is_list else f"{want}#{o[target]['name']}")
    # tenant_ref takes the forms too (tenant admin's uuid is "admin", as in the reference).
    for form in ["admin", "/api/tenant/admin", "https://h/api/tenant/admin#admin",
                 "/api/tenant?name=admin", "/api/tenant/?name=admin"]:
        out = client.ok("PATCH", "/api/pool/p", {"tenant_ref": form, "default_server_port": 81})
        assert out["tenant_ref"] == f"{client.base}/api/tenant/admin"


def test_wrong_type_unknown_and_bad_forms_are_refused(client, tls_cert):
    """A reference to the wrong type, to nothing, to another tenant, or in no known form is refused
    with the field and the value named, and nothing changes."""
    o = setup_all(client, tls_cert)
    hm, p = o["hm"]["uuid"], o["p"]["uuid"]
    before = client.ok("GET", "/api/virtualservice/web")
    bad = [
        ({"pool_ref": f"/api/healthmonitor/{hm}"},
         f"pool_ref: '/api/healthmonitor/{hm}' refers to a healthmonitor, not a pool"),
        ({"pool_ref": f"https://h/api/healthmonitor/{hm}#hm"},
         f"pool_ref: 'https://h/api/healthmonitor/{hm}#hm' refers to a healthmonitor, not a pool"),
        ({"pool_ref": "/api/healthmonitor?name=hm"},
         "pool_ref: '/api/healthmonitor?name=hm' refers to a healthmonitor, not a pool"),
        ({"pool_ref": hm}, f"pool_ref: '{hm}' is a healthmonitor, not a pool"),
        ({"pool_ref": "nope"}, "pool_ref: pool 'nope' does not exist"),
        ({"pool_ref": "/api/pool/pool-0000"}, "pool_ref: pool '/api/pool/pool-0000' does not exist"),
        ({"pool_ref": "/api/pool/p"}, "pool_ref: pool '/api/pool/p' does not exist"),  # path takes a uuid
        ({"pool_ref": "/api/pool?name=nope"}, "pool_ref: pool '/api/pool?name=nope' does not exist"),
        ({"pool_ref": "/api/pool?cloud=x"}, "pool_ref: '/api/pool?cloud=x': unknown query parameter 'cloud' (a reference takes only name=)"),
        ({"pool_ref": "a/b"}, "pool_ref: 'a/b': not a name, a uuid or /api/<type>/<uuid>"),
        ({"ssl_key_and_certificate_refs": ["cert", f"/api/pool/{p}"]},
         f"ssl_key_and_certificate_refs[2]: '/api/pool/{p}' refers to a pool, not a sslkeyandcertificate"),
        ({"vsvip_ref": "/api/vsvip?name=none"}, "vsvip_ref: vsvip '/api/vsvip?name=none' does not exist"),
        ({"tenant_ref": "/api/pool/x"}, "tenant_ref: '/api/pool/x' refers to a pool, not a tenant"),
    ]
    for body, msg in bad:
        status, out = client.api("PATCH", "/api/virtualservice/web", body)
        assert (status, out["error"]) == (400, msg), body
    status, out = client.api("PATCH", "/api/trafficcloneprofile/ids", {"cloud_ref": "/api/cloud?name=Other"})
    assert (status, out["error"]) == (400, "cloud_ref: cloud '/api/cloud?name=Other' does not exist")
    # An object of another tenant is invisible to references, by uuid as by name.
    t2 = {"X-Avi-Tenant": "t2"}
    assert client.api("POST", "/api/tenant", {"name": "t2"})[0] == 201
    status, other = client.api("POST", "/api/pool", {"name": "other"}, headers=t2)
    assert status == 201, other
    for form in [other["uuid"], f"/api/pool/{other['uuid']}", "/api/pool?name=other", "other"]:
        status, out = client.api("PATCH", "/api/virtualservice/web", {"pool_ref": form})
        assert (status, out["error"]) == (400, f"pool_ref: pool '{form}' does not exist"), form
    assert client.ok("GET", "/api/virtualservice/web") == before


def test_url_and_include_name(d, lab, tls_cert):
    """Every object has url; on HTTPS refs and url carry the Host of the request, on the Unix socket
    they are paths; ?include_name adds #name to each, in lists too."""
    o = setup_all(d, tls_cert)
    vs = d.ok("GET", "/api/virtualservice/web")
    assert vs["url"] == f"/api/virtualservice/{vs['uuid']}"
    assert vs["tenant_ref"] == "/api/tenant/admin"
    assert vs["pool_ref"] == f"/api/pool/{o['p']['uuid']}"
    named = d.ok("GET", "/api/virtualservice?include_name")["results"]
    web = next(x for x in named if x["name"] == "web")
    assert web["url"] == f"/api/virtualservice/{vs['uuid']}#web"
    assert web["tenant_ref"] == "/api/tenant/admin#admin"
    assert web["pool_ref"] == f"/api/pool/{o['p']['uuid']}#p"
    assert web["ssl_key_and_certificate_refs"] == [f"/api/sslkeyandcertificate/{o['cert']['uuid']}#cert"]
    # Pages keep asking for names.
    page = d.ok("GET", "/api/healthmonitor?page_size=1&include_name")
    assert page["next"] == "/api/healthmonitor?page=2&page_size=1&include_name"
    assert d.ok("GET", page["next"])["results"][0]["url"].endswith("#hm2")
    # The SDK's form: include_name= with an empty value.
    assert d.ok("GET", "/api/pool/p?include_name=")["health_monitor_refs"] == [
        f"/api/healthmonitor/{o['hm']['uuid']}#hm"]
    h = Https(lab, host="ctl.example:8443")
    out = h.ok("GET", "/api/virtualservice/web?include_name")
    assert out["url"] == f"https://ctl.example:8443/api/virtualservice/{vs['uuid']}#web"
    assert out["pool_ref"] == f"https://ctl.example:8443/api/pool/{o['p']['uuid']}#p"
    assert out["tenant_ref"] == "https://ctl.example:8443/api/tenant/admin#admin"
    # A Host that is no plain host[:port] is not echoed: the --listen address is written instead.
    out = Https(lab, host="evil/x?y").ok("GET", "/api/pool/p")
    assert out["url"] == f"https://0.0.0.0:{PORT}/api/pool/{o['p']['uuid']}"
    # The url an answer gives is where the object is.
    assert h.ok("GET", out["url"].split(f":{PORT}", 1)[1])["name"] == "p"


def test_cloud_is_read_only(client):
    """GET lists and shows Default-Cloud (by name, uuid or ?name=); every write is 405 with a clear
    error and Allow: GET."""
    lst = client.ok("GET", "/api/cloud")
    assert lst["count"] == 1 and lst["results"][0]["name"] == CLOUD
    cloud = lst["results"][0]
    assert cloud["uuid"].startswith("cloud-") and cloud["vtype"] == "CLOUD_LINUXSERVER"
    assert client.ok("GET", f"/api/cloud/{cloud['uuid']}")["name"] == CLOUD
    assert client.ok("GET", f"/api/cloud/{CLOUD}")["uuid"] == cloud["uuid"]
    # Seen from every tenant: every tenant's profiles are in this cloud.
    status, out = client.api("GET", "/api/cloud", headers={"X-Avi-Tenant": "t2"})
    assert status == 200 and out["count"] == 1
    for method, path, body in [("POST", "/api/cloud", {"name": "c2"}),
                               ("PUT", f"/api/cloud/{CLOUD}", cloud),
                               ("PATCH", f"/api/cloud/{CLOUD}", {"vtype": "CLOUD_LINUXSERVER"}),
                               ("DELETE", f"/api/cloud/{cloud['uuid']}", None)]:
        status, out = client.api(method, path, body)
        assert status == 405, (method, out)
        assert out["error"] == (f"cloud is read-only: method {method} is not allowed "
                                "(clonelb has one cloud, Default-Cloud)")
    assert client.ok("GET", "/api/cloud")["results"] == [cloud]


def get_ok(lab, url):
    r = curl(lab, url, timeout=3)
    return r.returncode == 0 and r.stdout.startswith("server ")


def test_vsvip_carries_traffic_and_is_protected(d, lab, pool_servers):
    """A service on a vsvip listens on the vsvip's addresses; a change of the vsvip's address moves
    it; a vsvip in use cannot be deleted; vip and vsvip_ref are exclusive; VIP:port stays unique."""
    d.ok("POST", "/api/pool", {"name": "p", "servers": [{"ip": ip(a)} for a in POOL_IPS]})
    vv = d.ok("POST", "/api/vsvip", {"name": "vv", "vip": [{"vip_id": "0", "ip_address": ip(VIP)}]})
    assert vv["cloud_ref"].startswith("/api/cloud/cloud-") and vv["vip"][0]["enabled"] is True
    d.ok("POST", "/api/virtualservice", {"name": "web", "vsvip_ref": f"/api/vsvip/{vv['uuid']}",
                                         "services": [{"port": 80}], "pool_ref": "p"})
    wait_for(lambda: get_ok(lab, f"http://{VIP}/"), what=f"traffic through the vsvip's {VIP}")
    # Exactly one of vip and vsvip_ref.
    for body, msg in [({"name": "x", "services": [{"port": 82}]},
                       "vip: at least one entry is required (or set vsvip_ref)"),
                      ({"name": "x", "services": [{"port": 82}], "vsvip_ref": "vv",
                        "vip": [{"ip_address": ip(VIP)}]},
                       "vsvip_ref: a virtual service has vip or vsvip_ref, not both")]:
        status, out = d.api("POST", "/api/virtualservice", body)
        assert (status, out["error"]) == (400, msg)
    # Two services may share a vsvip on different ports, not on the same one.
    status, out = d.api("POST", "/api/virtualservice", {"name": "x", "vsvip_ref": "vv", "services": [{"port": 80}]})
    assert (status, out["error"]) == (409, f"services[1].port: {VIP}:80 is already used by virtualservice 'web'")
    status, out = d.api("POST", "/api/virtualservice", {"name": "y", "vip": [{"ip_address": ip(SE_CLI_IP)}],
                                                        "services": [{"port": 80}]})
    assert status == 201, out
    # A vsvip change that would put web on y's VIP:port is refused, naming both.
    status, out = d.api("PATCH", "/api/vsvip/vv", {"vip": [{"vip_id": "0", "ip_address": ip(SE_CLI_IP)}]})
    assert (status, out["error"]) == (409, "vip: virtualservice 'web' uses this vsvip: services[1].port: "
                                           f"{SE_CLI_IP}:80 is already used by virtualservice 'y'")
    for body, msg in [({"vip": []}, "vip: at least one entry is required"),
                      ({"vip": [{"ip_address": ip("10.10.1.20")}]}, "vip[1].vip_id: required field missing"),
                      ({"vip": [{"vip_id": "0", "ip_address": ip("10.10.1.20")},
                                {"vip_id": "1", "ip_address": ip("10.10.1.20")}]},
                       "vip[2].ip_address: 10.10.1.20 is vip[1]'s already"),
                      ({"vip": [{"vip_id": "0", "ip_address": ip("10.10.1.20")},
                                {"vip_id": "0", "ip_address": ip("10.10.1.21")}]},
                       "vip: duplicate entry 0")]:
        status, out = d.api("PATCH", "/api/vsvip/vv", body)
        assert (status, out["error"]) == (400, msg), body
    # Moving the vsvip's address re-applies web on the new address.
    d.ok("DELETE", "/api/virtualservice/y")
    d.ok("PATCH", "/api/vsvip/vv", {"replace": {"vip": [{"vip_id": "0", "ip_address": ip(SE_CLI_IP)}]}})
    wait_for(lambda: get_ok(lab, f"http://{SE_CLI_IP}/"), what=f"traffic on the vsvip's new {SE_CLI_IP}")
    wait_for(lambda: not get_ok(lab, f"http://{VIP}/"), what=f"nothing left on the old {VIP}")
    runtime = d.ok("GET", "/api/virtualservice/web/runtime")
    assert SE_CLI_IP in json.dumps(runtime) and VIP not in json.dumps(runtime), runtime
    # In use: no delete; free: deleted.
    status, out = d.api("DELETE", "/api/vsvip/vv")
    assert (status, out["error"]) == (409, "vsvip 'vv' is in use by virtualservice 'web' (vsvip_ref)")
    d.ok("DELETE", "/api/virtualservice/web")
    assert d.api("DELETE", f"/api/vsvip/{vv['uuid']}")[0] == 204
    wait_for(lambda: not get_ok(lab, f"http://{SE_CLI_IP}/"), what="the service gone")


def test_patch_forms(client, tls_cert):
    """{"add"|"replace"|"delete": {...}} beside the merge PATCH: lists gain and lose elements
    (references in any form), fields are replaced or cleared; bad forms are refused naming the field."""
    o = setup_all(client, tls_cert)
    hm, hm2 = o["hm"]["uuid"], o["hm2"]["uuid"]
    b = client.base
    out = client.ok("PATCH", "/api/pool/p", {"add": {
        "servers": [{"ip": ip(POOL_IPS[1]), "port": 8080}, {"ip": ip(POOL_IPS[0])}],
        "health_monitor_refs": ["/api/healthmonitor?name=hm2", f"{b}/api/healthmonitor/{hm}#hm"]}})
    assert [(s["ip"]["addr"], s.get("port")) for s in out["servers"]] == [(POOL_IPS[0], None), (POOL_IPS[1], 8080)]
    assert out["health_monitor_refs"] == [f"{b}/api/healthmonitor/{hm}", f"{b}/api/healthmonitor/{hm2}"]
    out = client.ok("PATCH", "/api/pool/p", {"delete": {
        "servers": [{"ip": ip(POOL_IPS[0])}], "health_monitor_refs": [hm], "default_server_port": 80}})
    assert [s["ip"]["addr"] for s in out["servers"]] == [POOL_IPS[1]]
    assert out["health_monitor_refs"] == [f"{b}/api/healthmonitor/{hm2}"]
    out = client.ok("PATCH", "/api/pool/p", {"replace": {
        "lb_algorithm": "LB_ALGORITHM_LEAST_CONNECTIONS", "health_monitor_refs": ["hm"], "name": "p2"}})
    assert out["name"] == "p2" and out["lb_algorithm"] == "LB_ALGORITHM_LEAST_CONNECTIONS"
    assert out["health_monitor_refs"] == [f"{b}/api/healthmonitor/{hm}"] and len(out["servers"]) == 1
    # The renamed pool is still web's: references hold uuids.
    assert client.ok("GET", "/api/virtualservice/web?include_name")["pool_ref"].endswith("#p2")
    out = client.ok("PATCH", "/api/virtualservice/web", {"add": {"performance_limits": {"max_concurrent_connections": 5}}})
    assert out["performance_limits"] == {"max_concurrent_connections": 5}
    out = client.ok("PATCH", "/api/virtualservice/web", {"delete": {"traffic_clone_profile_ref": "ids",
                                                                    "performance_limits": None}})
    assert "traffic_clone_profile_ref" not in out and "performance_limits" not in out
    # The merge PATCH of before is still there.
    assert client.ok("PATCH", "/api/pool/p2", {"default_server_port": 8081})["default_server_port"] == 8081
    before = client.ok("GET", "/api/pool/p2")
    bad = [({"add": 5}, "add: expected an object of fields, got 5"),
           ({"add": {}, "delete": {}}, "delete: give one of add, replace or delete in a PATCH, not both add and delete"),
           ({"replace": {"lb_algorithm": "LB_ALGORITHM_ROUND_ROBIN"}, "default_server_port": 1},
            "default_server_port: a PATCH with replace takes no other field (put 'default_server_port' inside "
            "replace, or PATCH the fields alone)"),
           ({"add": {"servers": {"ip": ip("10.10.2.13")}}}, 'add.servers: expected a list of elements to add, got {"ip":{"addr":"10.10.2.13","type":"V4"}}'),
           ({"delete": {"colour": "red"}}, "delete.colour: unknown field 'colour' of pool"),
           ({"add": {"health_monitor_refs": ["/api/pool?name=p2"]}},
            "add.health_monitor_refs[1]: '/api/pool?name=p2' refers to a pool, not a healthmonitor"),
           ({"delete": {"health_monitor_refs": ["nope"]}}, "delete.health_monitor_refs[1]: healthmonitor 'nope' does not exist"),
           ({"replace": {"uuid": "pool-1"}}, "replace.uuid: cannot be changed"),
           ({"replace": {"servers": [{"ip": ip("10.10.2.300")}]}}, "servers[1].ip: invalid IPv4 address '10.10.2.300'"),
           ({"add": {"servers": [{"ip": ip(POOL_IPS[1]), "port": 9}]}}, f"servers: duplicate entry {POOL_IPS[1]}")]
    for body, msg in bad:
        status, out = client.api("PATCH", "/api/pool/p2", body)
        assert status == 400 and out["error"].startswith(msg), (body, out)
    # Inside the transaction of every change: If-Match holds for the reference's PATCH too.
    status, out = client.api("PATCH", "/api/pool/p2", {"replace": {"default_server_port": 1}},
                             headers={"If-Match": '"1"'})
    assert status == 409 and out["error"].startswith("If-Match: pool 'p2' changed since"), out
    assert client.ok("GET", "/api/pool/p2") == before


def test_get_put_round_trip_of_every_type(client, tls_cert):
    """Every object of every type, as GET gives it (url, URL refs, with or without #name), PUT back
    unchanged, is taken and stays the same; cloud, read-only, answers its 405."""
    setup_all(client, tls_cert)
    types = ["healthmonitor", "sslkeyandcertificate", "trafficcloneprofile", "pool", "vsvip", "virtualservice"]
    for query in ["", "?include_name"]:
        for t in types:
            objs = client.ok("GET", f"/api/{t}{query}")["results"]
            assert objs, t
            for obj in objs:
                assert obj["url"].split("#")[0] == f"{client.base}/api/{t}/{obj['uuid']}"
                out = client.ok("PUT", f"/api/{t}/{obj['uuid']}{query}", obj)
                again = client.ok("GET", f"/api/{t}/{obj['uuid']}{query}")
                for x in (obj, out, again):
                    x.pop("_last_modified")
                assert out == again == obj, (t, obj["name"])
    # url is the answer's, never stored: PUT with "#name" in it, GET without shows none.
    for t in types:
        assert all("#" not in o["url"] for o in client.ok("GET", f"/api/{t}")["results"]), t
    cloud = client.ok("GET", "/api/cloud")["results"][0]
    assert client.api("PUT", f"/api/cloud/{cloud['uuid']}", cloud)[0] == 405


def test_stored_names_migrate_to_uuids(lab, workdir):
    """A store whose rows name their references (as clonelb wrote them before) loads; its
    references are rewritten to uuids once, and still count (in use, data plane, shell)."""
    db = os.path.join(workdir, "config.db")
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE objects (id INTEGER PRIMARY KEY AUTOINCREMENT, type TEXT NOT NULL,"
                " uuid TEXT NOT NULL UNIQUE, name TEXT NOT NULL, tenant TEXT NOT NULL, body TEXT NOT NULL,"
                " UNIQUE (type, tenant, name))")
    rows = [("healthmonitor", "healthmonitor-1", "hm", {"type": "HEALTH_MONITOR_TCP"}),
            ("trafficcloneprofile", "trafficcloneprofile-1", "ids", {"cloud_ref": CLOUD, "clone_servers": []}),
            ("pool", "pool-1", "p", {"health_monitor_refs": ["hm"],
                                     "servers": [{"ip": ip(POOL_IPS[0])}]}),
            ("virtualservice", "virtualservice-1", "web",
             {"vip": [{"ip_address": ip(VIP)}], "services": [{"port": 80}], "pool_ref": "p",
              "traffic_clone_profile_ref": "ids"})]
    for t, u, n, body in rows:
        con.execute("INSERT INTO objects (type, uuid, name, tenant, body) VALUES (?, ?, ?, 'admin', ?)",
                    (t, u, n, json.dumps({**body, "name": n, "uuid": u, "tenant_ref": "admin",
                                          "_last_modified": "1"})))
    con.commit()
    con.close()
    d = Daemon(lab, workdir).start()
    try:
        vs = d.ok("GET", "/api/virtualservice/web?include_name")
        assert vs["pool_ref"] == "/api/pool/pool-1#p"
        assert vs["traffic_clone_profile_ref"] == "/api/trafficcloneprofile/trafficcloneprofile-1#ids"
        assert d.ok("GET", "/api/pool/p")["health_monitor_refs"] == ["/api/healthmonitor/healthmonitor-1"]
        cloud = d.ok("GET", "/api/cloud")["results"][0]["uuid"]
        assert d.ok("GET", "/api/trafficcloneprofile/ids")["cloud_ref"] == f"/api/cloud/{cloud}"
        status, out = d.api("DELETE", "/api/healthmonitor/hm")
        assert (status, out["error"]) == (409, "healthmonitor 'hm' is in use by pool 'p' (health_monitor_refs)")
        # The data plane found the pool through the rewritten reference.
        rt = d.ok("GET", "/api/virtualservice/web/runtime")
        assert POOL_IPS[0] in json.dumps(rt), rt
        # The shell shows names.
        r = d.cli("-c", "show virtualservice web", check=0)
        row = next(line for line in r.stdout.splitlines() if "pool_ref" in line)
        assert row.split("|")[2].strip() == "p", r.stdout
    finally:
        d.stop()
    # Written once: the rows hold uuids now.
    con = sqlite3.connect(db)
    body = json.loads(con.execute("SELECT body FROM objects WHERE uuid = 'virtualservice-1'").fetchone()[0])
    con.close()
    assert body["pool_ref"] == "pool-1" and body["traffic_clone_profile_ref"] == "trafficcloneprofile-1"


def test_shell_shows_and_takes_names(d, tls_cert):
    """The shell shows references by name (from ?include_name) and edits them by name."""
    setup_all(d, tls_cert)
    r = d.cli("-c", "show pool p", check=0)
    row = next(line for line in r.stdout.splitlines() if "health_monitor_refs" in line)
    assert row.split("|")[2].strip() == "hm", r.stdout
    assert "/api/" not in r.stdout, r.stdout
    d.cli("-c", "configure pool p", "-c", "health_monitor_refs hm2", "-c", "no health_monitor_refs hm",
          "-c", "save", check=0)
    refs = d.ok("GET", "/api/pool/p?include_name")["health_monitor_refs"]
    assert [x.split("#")[1] for x in refs] == ["hm2"]
    r = d.cli("-c", "show virtualservice shared", check=0)
    row = next(line for line in r.stdout.splitlines() if "vsvip_ref" in line)
    assert row.split("|")[2].strip() == "vv", r.stdout


def test_the_vendor_automation_flow(d):
    """What the vendor's Ansible glue (avi/sdk/utils/ansible_utils.py) and SDK do, over HTTPS: find
    by name with include_refs/include_name, create with refs written as /api/<type>?name=X, take
    the tenant from tenant_ref's #name, reuse an answer's url as a reference, PUT the module's
    object again, PATCH {"add": ...} and {"delete": ...}."""
    h = d.https
    params = "include_refs=&include_name="
    assert h.ok("GET", f"/api/vsvip?name=vv&{params}") == {"count": 0, "results": []}
    admin, cloud = "/api/tenant?name=admin", f"/api/cloud?name={CLOUD}"
    vv = h.ok("POST", "/api/vsvip", {"name": "vv", "tenant_ref": admin, "cloud_ref": cloud,
                                     "vip": [{"vip_id": "0", "ip_address": ip(VIP)}]})
    pool = h.ok("POST", "/api/pool", {"name": "p", "tenant_ref": admin,
                                      "servers": [{"ip": ip(POOL_IPS[0]), "port": 80}]})
    # get_obj_ref(): the answer's url is a reference.
    module_obj = {"name": "web", "tenant_ref": admin, "vsvip_ref": vv["url"], "pool_ref": "/api/pool?name=p",
                  "services": [{"port": 80}]}
    web = h.ok("POST", "/api/virtualservice", module_obj)
    assert web["pool_ref"] == pool["url"] and web["vsvip_ref"] == vv["url"]
    # A second run finds it and checks its tenant the way the glue does.
    existing = h.ok("GET", f"/api/virtualservice?name=web&{params}")["results"][0]
    assert existing["tenant_ref"].split("#")[1] == module_obj["tenant_ref"].split("name=")[1]
    assert existing["uuid"] == web["uuid"] and existing["url"] == f"{web['url']}#web"
    out = h.ok("PUT", f"/api/virtualservice/{existing['uuid']}", module_obj)
    assert out["pool_ref"] == pool["url"] and out["services"] == [{"port": 80, "enable_ssl": False}]
    # avi_api_update_method: patch, avi_api_patch_op: add / delete (name popped, as the glue does).
    patch_obj = {k: v for k, v in module_obj.items() if k != "name"}
    patch_obj["services"] = [{"port": 81}]
    out = h.ok("PATCH", f"/api/virtualservice/{existing['uuid']}", {"add": patch_obj})
    assert [s["port"] for s in out["services"]] == [80, 81]
    out = h.ok("PATCH", f"/api/virtualservice/{existing['uuid']}",
               {"delete": {"services": [{"port": 81}], "tenant_ref": admin}})
    assert [s["port"] for s in out["services"]] == [80] and out["pool_ref"] == pool["url"]
    # state: absent, by name: the uuid from ?name=, then DELETE; the vsvip after its user.
    for t, n in [("virtualservice", "web"), ("vsvip", "vv"), ("pool", "p")]:
        uuid = h.ok("GET", f"/api/{t}?name={n}")["results"][0]["uuid"]
        assert h.api("DELETE", f"/api/{t}/{uuid}")[0] == 204
