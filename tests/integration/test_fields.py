"""The field policy and the reference's shapes against the real daemon: every reference field at
its default accepted and put back, a non-default one refused naming it, unknown names refused,
description/markers stored; the certificate and monitor objects, traffic through an HTTP and a
TCP monitor and a TLS service; clone_srvr_stats[].ip as {addr, type}; old rows loading; 405.

The payloads are built from the daemon's own table (GET /api/fieldpolicy/<type>), which
src/config/refschema.c holds, generated from the vendor's published swagger files.
"""
import copy
import json
import os
import sqlite3
import subprocess

import pytest

from conftest import (POOL_IPS, TAP_IP, TYPES, VIP, Daemon, UnixHTTPConnection, curl, nginx_pool,
                      wait_for)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (namespaces)")

SUBNET = {"ip_addr": {"addr": "10.10.3.0", "type": "V4"}, "mask": 24}
ADDR = {"addr": POOL_IPS[0], "type": "V4"}


@pytest.fixture(scope="module")
def d(lab, tmp_path_factory):
    dm = Daemon(lab, str(tmp_path_factory.mktemp("fields"))).start()
    try:
        yield dm
    finally:
        dm.stop()


@pytest.fixture
def clean(d):
    """Deletes every object the test made, referencing types first."""
    yield d
    for t in reversed(TYPES):
        for o in d.everything()[t]:
            d.api("DELETE", f"/api/{t}/{o['uuid']}")


def policy(d, t):
    out = d.ok("GET", f"/api/fieldpolicy/{t}")
    assert out["type"] == t and out["reference_version"], out
    return out["objects"]


def minimal(t, tls_cert, name):
    """The least a valid object of type @t needs, with its sub-objects present."""
    return {
        "healthmonitor": {"name": name, "type": "HEALTH_MONITOR_HTTP", "http_monitor": {},
                          "https_monitor": {}, "tcp_monitor": {}},
        "sslkeyandcertificate": {"name": name, "certificate": {"certificate": tls_cert["certificate"]},
                                 "key": tls_cert["key"]},
        "trafficcloneprofile": {"name": name, "clone_servers": [
            {"ip_address": {"addr": TAP_IP, "type": "V4"}, "subnet": SUBNET}]},
        "pool": {"name": name, "servers": [{"ip": ADDR}]},
        "vsvip": {"name": name, "vip": [{"vip_id": "1", "ip_address": {"addr": "10.10.1.99", "type": "V4"}}]},
        "virtualservice": {"name": name, "vip": [{"ip_address": {"addr": VIP, "type": "V4"}}],
                           "services": [{"port": 8080}], "performance_limits": {}},
    }[t]


def with_defaults(obj, objs, t):
    """@obj with every reference field clonelb lacks, at its default, at every level."""
    out = copy.deepcopy(obj)
    out.update(objs[t]["defaults"])
    for path, entry in objs.items():
        if path == t:
            continue
        sub = out.get(path)
        for elem in sub if isinstance(sub, list) else [sub] if isinstance(sub, dict) else []:
            elem.update(entry["defaults"])
    return out


def drop_meta(o):
    return {k: v for k, v in o.items() if k not in ("_last_modified", "uuid", "url")}


def test_every_reference_field_at_its_default_is_accepted_and_puts_back(clean, tls_cert):
    d = clean
    total = 0
    for t in TYPES:
        objs = policy(d, t)
        body = with_defaults(minimal(t, tls_cert, f"all-{t}"), objs, t)
        total += sum(len(e["defaults"]) for e in objs.values())
        status, made = d.api("POST", f"/api/{t}", body)
        assert status == 201, (t, made)
        got = d.ok("GET", f"/api/{t}/all-{t}")
        # Returned as they were sent (the stored object is what was configured).
        for k, v in objs[t]["defaults"].items():
            assert got.get(k) == v, (t, k, got.get(k), v)  # null: not set
        for path, entry in objs.items():
            sub = got.get(path) if path != t else None
            for elem in sub if isinstance(sub, list) else [sub] if isinstance(sub, dict) else []:
                for k, v in entry["defaults"].items():
                    assert elem.get(k) == v, (t, path, k, elem.get(k), v)
        # A GET puts back unchanged (write-only key kept by PUT).
        status, again = d.api("PUT", f"/api/{t}/all-{t}", got)
        assert status == 200, (t, again)
        assert drop_meta(again) == drop_meta(got), t
    assert total > 200, f"only {total} reference fields in the table"


def test_non_default_value_refused_naming_field_and_value(clean, tls_cert):
    d = clean
    tried = 0
    for t in TYPES:
        objs = policy(d, t)
        for k, v in objs[t]["defaults"].items():
            if isinstance(v, bool):
                bad = not v
            elif isinstance(v, int):
                bad = v + 7
            else:
                continue
            body = minimal(t, tls_cert, "bad")
            body[k] = bad
            status, out = d.api("POST", f"/api/{t}", body)
            assert status == 400, (t, k, out)
            assert out["error"].startswith(f"{t}.{k}: not supported by clonelb (got "
                                           f"{json.dumps(bad)}; only the default {json.dumps(v)})"), out
            tried += 1
        assert d.ok("GET", f"/api/{t}?name=bad")["count"] == 0, t
    assert tried > 50
    # In a sub-object, and in a nested reference object.
    body = minimal("pool", tls_cert, "bad")
    body["servers"][0]["ratio"] = 3
    status, out = d.api("POST", "/api/pool", body)
    assert status == 400 and out["error"].startswith(
        "servers[1].ratio: not supported by clonelb (got 3; only the default 1)"), out
    body = minimal("virtualservice", tls_cert, "bad")
    body["application_profile_ref"] = "/api/applicationprofile?name=System-HTTP"
    status, out = d.api("POST", "/api/virtualservice", body)
    assert status == 400 and "virtualservice.application_profile_ref: not supported by " \
        "clonelb" in out["error"] and "System-HTTP" in out["error"], out
    body = minimal("healthmonitor", tls_cert, "bad")
    body["tcp_monitor"] = {"tcp_half_open": True}
    status, out = d.api("POST", "/api/healthmonitor", body)
    assert status == 400 and out["error"].startswith("tcp_monitor.tcp_half_open: not supported"), out


def test_a_reference_style_body_is_accepted(clean, tls_cert):
    """Fields as the reference's GET fills them: system objects in URL form, a service's
    port_range_end equal to its port, computed fields."""
    d = clean
    ctl = "https://ctl.example/api"
    body = minimal("virtualservice", tls_cert, "refstyle")
    body.update({
        "url": f"{ctl}/virtualservice/virtualservice-1", "_last_modified": "1700000000000000",
        "cloud_ref": f"{ctl}/cloud/cloud-1#Default-Cloud",
        "se_group_ref": "/api/serviceenginegroup?name=Default-Group",
        "analytics_profile_ref": f"{ctl}/analyticsprofile/ap-1#System-Analytics-Profile",
        "network_profile_ref": "/api/networkprofile?name=System-TCP-Proxy",
        "vrf_context_ref": f"{ctl}/vrfcontext/vrf-1#global", "type": "VS_TYPE_NORMAL",
        "services": [{"port": 8080, "port_range_end": 8080, "enable_ssl": False}]})
    made = d.ok("POST", "/api/virtualservice", body)
    assert made["cloud_ref"] == body["cloud_ref"] and made["services"][0]["port_range_end"] == 8080
    assert "url" not in made or made["url"] != body["url"]
    status, out = d.api("PATCH", "/api/virtualservice/refstyle",
                        {"services": [{"port": 8080, "port_range_end": 8090}]})
    assert status == 400 and out["error"] == "services[1].port_range_end: not supported by clonelb " \
        "(got 8090; only the port itself, 8080)", out
    status, out = d.api("PATCH", "/api/virtualservice/refstyle",
                        {"cloud_ref": f"{ctl}/cloud/cloud-2#Other-Cloud"})
    assert status == 400 and out["error"].startswith("virtualservice.cloud_ref: not supported by clonelb"), out


def test_unknown_names_refused(clean, tls_cert):
    d = clean
    for t in TYPES:
        body = minimal(t, tls_cert, "unk")
        body["no_such_field"] = 1
        status, out = d.api("POST", f"/api/{t}", body)
        assert status == 400 and out["error"] == f"no_such_field: unknown field 'no_such_field' of {t}", out
    body = minimal("virtualservice", tls_cert, "unk")
    body["analytics_policy"] = {"full_client_logs": {"enabled": False, "bogus": 1}}
    status, out = d.api("POST", "/api/virtualservice", body)
    assert status == 400 and "analytics_policy.full_client_logs.bogus: unknown field" in out["error"], out


def test_description_and_markers_round_trip(clean, tls_cert):
    d = clean
    marks = [{"key": "app", "values": ["web", "blue"]}]
    values = {"description": "described", "markers": marks, "configpb_attributes": {"version": 2}}
    seen = set()
    for t in TYPES:
        # Where the reference's schema has them (its certificate has no description).
        stored = policy(d, t)[t]["stored"]
        seen |= set(stored)
        body = minimal(t, tls_cert, "described")
        body.update({k: values[k] for k in stored})
        d.ok("POST", f"/api/{t}", body)
        got = d.ok("GET", f"/api/{t}/described")
        assert {k: got[k] for k in stored} == {k: values[k] for k in stored}, got
        if "description" in stored:
            d.ok("PATCH", f"/api/{t}/described", {"description": "changed"})
            assert d.ok("GET", f"/api/{t}/described")["description"] == "changed"
    assert seen == set(values), seen
    shown = d.cli("-c", "show pool described", check=0).stdout
    assert "| description" in shown and "changed" in shown, shown
    status, out = d.api("PATCH", "/api/pool/described", {"markers": [{"key": 5}]})
    assert status == 400 and out["error"] == "pool.markers[1].key: expected a string, got 5", out


def openssl_field(cert_path, flag):
    r = subprocess.run(["openssl", "x509", "-in", cert_path, "-noout", flag],
                       capture_output=True, text=True, check=True)
    return r.stdout.strip().split("=", 1)[1]


def test_certificate_shape(clean, tls_cert):
    d = clean
    made = d.ok("POST", "/api/sslkeyandcertificate",
                {"name": "c1", "type": "SSL_CERTIFICATE_TYPE_VIRTUALSERVICE",
                 "certificate": {"certificate": tls_cert["certificate"]}, "key": tls_cert["key"]})
    c = made["certificate"]
    assert c["certificate"] == tls_cert["certificate"]
    assert c["subject"]["common_name"] == "web.lab" and c["self_signed"] is True
    assert c["fingerprint"] == openssl_field(tls_cert["cert_path"], "-fingerprint")
    assert c["serial_number"] == str(int(openssl_field(tls_cert["cert_path"], "-serial"), 16))
    assert made["type"] == "SSL_CERTIFICATE_TYPE_VIRTUALSERVICE" and "key" not in made
    # What the client says of the parsed fields is replaced by what the PEM says.
    got = d.ok("GET", "/api/sslkeyandcertificate/c1")
    got["certificate"]["subject"] = {"common_name": "forged"}
    again = d.ok("PUT", "/api/sslkeyandcertificate/c1", got)
    assert again["certificate"]["subject"]["common_name"] == "web.lab" and "key" not in again
    # The earlier shape (PEM text) is accepted and answered in the new one.
    old = d.ok("POST", "/api/sslkeyandcertificate",
               {"name": "c2", "certificate": tls_cert["certificate"], "key": tls_cert["key"]})
    assert old["certificate"]["certificate"] == tls_cert["certificate"]
    status, out = d.api("POST", "/api/sslkeyandcertificate",
                        {"name": "c3", "type": "SSL_CERTIFICATE_TYPE_CA",
                         "certificate": {"certificate": tls_cert["certificate"]}, "key": tls_cert["key"]})
    assert status == 400 and out["error"] == "sslkeyandcertificate.type: SSL_CERTIFICATE_TYPE_CA is not " \
        "supported by clonelb (supported: SSL_CERTIFICATE_TYPE_VIRTUALSERVICE)", out
    shown = d.cli("-c", "show sslkeyandcertificate c1", check=0).stdout
    assert "common_name" in shown and "web.lab" in shown and "PRIVATE KEY" not in shown


def member_health(d):
    rt = d.ok("GET", "/api/virtualservice/web/runtime")
    return {m["ip"]["addr"]: m["health"] for m in rt["pool"]["members"]}


def member_reasons(d, monitor):
    rt = d.ok("GET", "/api/virtualservice/web/runtime")
    return [h for m in rt["pool"]["members"] for h in m["health_monitors"] if h["health_monitor"] == monitor]


def test_monitor_shapes_and_traffic_with_tls(lab, clean, tls_cert):
    d = clean
    quick = {"send_interval": 2, "receive_timeout": 1, "successful_checks": 1, "failed_checks": 1}
    hm = d.ok("POST", "/api/healthmonitor",
              {"name": "hm-http", "type": "HEALTH_MONITOR_HTTP", **quick,
               "http_monitor": {"http_request": "GET / HTTP/1.0", "http_response_code": ["HTTP_2XX"]}})
    assert hm["http_monitor"] == {"http_request": "GET / HTTP/1.0", "http_response_code": ["HTTP_2XX"]}
    assert "http_request" not in hm
    # The shell sets the same in one line each.
    d.cli("-c", "configure healthmonitor hm-tcp", "-c", "type HEALTH_MONITOR_TCP",
          *[x for k, v in quick.items() for x in ("-c", f"{k} {v}")],
          "-c", "tcp_monitor tcp_request 'GET / HTTP/1.0\r\n\r\n'",
          "-c", "tcp_monitor tcp_response 'server 10.10.2.'", "-c", "save", check=0)
    tcp = d.ok("GET", "/api/healthmonitor/hm-tcp")["tcp_monitor"]
    assert tcp == {"tcp_request": "GET / HTTP/1.0\r\n\r\n", "tcp_response": "server 10.10.2."}, tcp
    d.ok("POST", "/api/sslkeyandcertificate",
         {"name": "web-cert", "certificate": {"certificate": tls_cert["certificate"]}, "key": tls_cert["key"]})
    d.ok("POST", "/api/pool", {"name": "web-pool", "servers": [{"ip": {"addr": ip}} for ip in POOL_IPS],
                               "health_monitor_refs": ["hm-http", "hm-tcp"]})
    d.ok("POST", "/api/virtualservice",
         {"name": "web", "vip": [{"ip_address": {"addr": VIP}}], "pool_ref": "web-pool",
          "services": [{"port": 80}, {"port": 443, "enable_ssl": True}],
          "ssl_key_and_certificate_refs": ["web-cert"]})
    with nginx_pool(lab):
        wait_for(lambda: set(member_health(d).values()) == {"UP"}, timeout=20, what="members UP")
        r = curl(lab, f"http://{VIP}/")
        assert r.returncode == 0 and r.stdout.startswith("server 10.10.2."), r.stderr
        r = curl(lab, "https://web.lab/", "--cacert", tls_cert["cert_path"], "--resolve", f"web.lab:443:{VIP}")
        assert r.returncode == 0 and r.stdout.startswith("server 10.10.2."), r.stderr
        # The TCP monitor reads the answer: a keyword it does not hold takes members down.
        d.ok("PATCH", "/api/healthmonitor/hm-tcp",
             {"tcp_monitor": {"tcp_request": "GET / HTTP/1.0\r\n\r\n", "tcp_response": "no such text"}})
        wait_for(lambda: set(member_health(d).values()) == {"DOWN"}, timeout=20, what="members DOWN")
        d.ok("PATCH", "/api/healthmonitor/hm-tcp", {"tcp_monitor": {}})
        wait_for(lambda: set(member_health(d).values()) == {"UP"}, timeout=20, what="members UP again")
        # Old shape on input still moves into http_monitor.
        d.ok("PATCH", "/api/healthmonitor/hm-http", {"http_response_code": ["HTTP_4XX"]})
        assert d.ok("GET", "/api/healthmonitor/hm-http")["http_monitor"]["http_response_code"] == ["HTTP_4XX"]
        wait_for(lambda: set(member_health(d).values()) == {"DOWN"}, timeout=20, what="members DOWN (4XX)")
        # http_response: the answer must hold it too; monitor_port: checks go there.
        good = {"http_request": "GET / HTTP/1.0", "http_response_code": ["HTTP_2XX"],
                "http_response": "server 10.10.2."}
        d.ok("PATCH", "/api/healthmonitor/hm-http", {"http_monitor": good})
        wait_for(lambda: set(member_health(d).values()) == {"UP"}, timeout=20, what="UP (http_response)")
        d.ok("PATCH", "/api/healthmonitor/hm-http", {"monitor_port": 81})
        wait_for(lambda: {m.get("reason") for m in member_reasons(d, "hm-http")} == {"connection refused"},
                 timeout=20, what="DOWN (port 81)")
        assert set(member_health(d).values()) == {"DOWN"}
        d.ok("PATCH", "/api/healthmonitor/hm-http", {"monitor_port": None,
                                                     "http_monitor": {**good, "http_response": "absent"}})
        wait_for(lambda: {m.get("reason") for m in member_reasons(d, "hm-http")} ==
                 {"answer does not hold http_response"}, timeout=20, what="DOWN (no text)")
        assert set(member_health(d).values()) == {"DOWN"}


def test_clone_srvr_stats_ip_is_an_address(lab, clean):
    d = clean
    d.ok("POST", "/api/trafficcloneprofile",
         {"name": "ids", "clone_servers": [{"ip_address": {"addr": TAP_IP, "type": "V4"}, "subnet": SUBNET,
                                            "mac": "02:00:00:00:00:02"}]})
    d.ok("POST", "/api/pool", {"name": "web-pool", "servers": [{"ip": {"addr": ip}} for ip in POOL_IPS]})
    d.ok("POST", "/api/virtualservice",
         {"name": "web", "vip": [{"ip_address": {"addr": VIP}}], "services": [{"port": 80}],
          "pool_ref": "web-pool", "traffic_clone_profile_ref": "ids"})
    with nginx_pool(lab):
        wait_for(lambda: curl(lab, f"http://{VIP}/", timeout=2).returncode == 0, timeout=10, what="VIP")
        st = d.ok("GET", "/api/virtualservice/web/traffic_clone_stats")
        row = st[0]["clone_srvr_stats"][0]
        assert row["ip"] == {"addr": TAP_IP, "type": "V4"}, row
        assert row["num_total_pkts_cloned"] > 0, row
    shown = d.cli("-c", "show virtualservice web traffic_clone_stats", check=0).stdout
    rows = [[c.strip() for c in line.split("|")[1:3]] for line in shown.splitlines()
            if line.count("|") == 3]
    assert ["ip", TAP_IP] in rows, shown


def test_405_with_allow_on_every_api_path(d):
    paths = {"/api/pool": "GET, POST", "/api/pool/x": "GET, PUT, PATCH, DELETE",
             "/api/virtualservice/x/runtime": "GET", "/api/virtualservice/x/traffic_clone_stats": "GET",
             "/api/se/interfaces": "GET", "/api/fieldpolicy/pool": "GET", "/metrics": "GET"}
    for path, allow in paths.items():
        for method in ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"]:
            conn_status, out = d.api(method, path)
            if method in allow.split(", "):
                assert conn_status != 405, (method, path, out)
                continue
            c = UnixHTTPConnection(d.socket)  # the raw response, for its headers
            c.request(method, path)
            r = c.getresponse()
            body = r.read()
            c.close()
            assert r.status == 405 and r.getheader("Allow") == allow, (method, path, r.status, r.getheader("Allow"))
            assert json.loads(body)["error"] == f"method {method} is not allowed on this path"
    # Unknown paths are 404 whatever the method.
    for method in ["GET", "PUT", "DELETE"]:
        assert d.api(method, "/api/nosuchtype/x")[0] == 404
        assert d.api(method, "/api/pool/x/runtime")[0] == 404


def test_old_rows_load_in_the_new_shapes(clean, tls_cert):
    dm = clean  # one clonelbd per network namespace: the module's, restarted
    dm.ok("POST", "/api/healthmonitor", {"name": "hm", "type": "HEALTH_MONITOR_HTTP",
                                         "http_monitor": {"http_request": "GET /old HTTP/1.0"}})
    dm.ok("POST", "/api/sslkeyandcertificate",
          {"name": "c", "certificate": {"certificate": tls_cert["certificate"]}, "key": tls_cert["key"]})
    dm.stop()
    # Write the rows back as an earlier clonelb stored them.
    db = sqlite3.connect(dm.db)
    for (rid, t, body) in db.execute("SELECT id, type, body FROM objects").fetchall():
        o = json.loads(body)
        if t == "healthmonitor":
            o.update(o.pop("http_monitor"))
        elif t == "sslkeyandcertificate":
            o["certificate"] = o["certificate"]["certificate"]
            o.pop("type")
        else:
            continue
        db.execute("UPDATE objects SET body = ? WHERE id = ?", (json.dumps(o), rid))
    db.commit()
    db.close()
    dm.start()
    hm = dm.ok("GET", "/api/healthmonitor/hm")
    assert hm["http_monitor"]["http_request"] == "GET /old HTTP/1.0" and "http_request" not in hm, hm
    c = dm.ok("GET", "/api/sslkeyandcertificate/c")
    assert c["certificate"]["certificate"] == tls_cert["certificate"], c
    assert c["certificate"]["subject"]["common_name"] == "web.lab", c
    assert c["type"] == "SSL_CERTIFICATE_TYPE_VIRTUALSERVICE", c
