"""REST API and config store (issue 2): validation errors, persistence, authentication, secrets."""
import json
import socket
import os
import signal
import stat
import subprocess
import threading

import pytest

from conftest import CLONELBD, Daemon, TAP_IP, wait_for


def clone_server(ip=TAP_IP, subnet="10.10.3.0", mask=24, **extra):
    return {"ip_address": {"addr": ip, "type": "V4"},
            "subnet": {"ip_addr": {"addr": subnet, "type": "V4"}, "mask": mask}, **extra}


@pytest.fixture
def base(daemon, tls_cert):
    """A small valid configuration: monitor, pool, profile, certificate, virtual service."""
    d = daemon
    d.ok("POST", "/api/healthmonitor", {"name": "hm", "type": "HEALTH_MONITOR_TCP",
                                        "send_interval": 5, "receive_timeout": 2})
    d.ok("POST", "/api/pool", {"name": "pool1", "health_monitor_refs": ["hm"],
                               "servers": [{"ip": {"addr": "10.10.2.11", "type": "V4"}}]})
    d.ok("POST", "/api/trafficcloneprofile", {"name": "ids", "clone_servers": [clone_server()]})
    d.ok("POST", "/api/sslkeyandcertificate", {"name": "cert", "key": tls_cert["key"],
                                               "certificate": {"certificate": tls_cert["certificate"]}})
    d.ok("POST", "/api/virtualservice", {
        "name": "web", "vip": [{"ip_address": {"addr": "10.10.1.10", "type": "V4"}}],
        "services": [{"port": 80}], "pool_ref": "pool1", "traffic_clone_profile_ref": "ids"})
    return d


BAD = [
    # (method, path, body, status, text the error must contain)
    ("POST", "/api/trafficcloneprofile",
     {"name": "p2", "clone_servers": [clone_server(ip="10.0.0.256")]},
     400, "clone_servers[1].ip_address: invalid IPv4 address '10.0.0.256'"),
    ("POST", "/api/trafficcloneprofile",
     {"name": "p2", "clone_servers": [clone_server(mac="4e:e9:4e:2d:b9")]},
     400, 'clone_servers[1].mac: invalid MAC address "4e:e9:4e:2d:b9"'),
    ("POST", "/api/trafficcloneprofile",
     {"name": "p2", "clone_servers": [clone_server(mask=33)]},
     400, "clone_servers[1].subnet.mask: invalid prefix length 33"),
    ("PATCH", "/api/trafficcloneprofile/ids",
     {"clone_servers": [clone_server(ip=f"10.10.3.{i}") for i in range(2, 13)]},
     400, "clone_servers: 11 entries, at most 10 allowed"),
    ("POST", "/api/trafficcloneprofile",
     {"name": "p2", "clone_servers": [clone_server(ip="10.99.0.2", subnet="10.99.0.0")]},
     400, "clone_servers[1].subnet: 10.99.0.0/24 is not the subnet of any interface"),
    ("POST", "/api/trafficcloneprofile",
     {"name": "p2", "clone_servers": [{"ip_address": {"addr": "10.10.3.9"}, "network_ref": "nope0"}]},
     400, "clone_servers[1].network_ref: no interface 'nope0'"),
    # A clone server is a host of a directly connected subnet (issue 8 item 10).
    ("POST", "/api/trafficcloneprofile",
     {"name": "p2", "clone_servers": [clone_server(ip="10.10.3.1")]},
     400, "clone_servers[1].ip_address: 10.10.3.1 is an address of this SE (interface 'tap0')"),
    ("POST", "/api/trafficcloneprofile",
     {"name": "p2", "clone_servers": [clone_server(ip="10.10.3.255")]},
     400, "clone_servers[1].ip_address: 10.10.3.255 is the broadcast address of subnet 10.10.3.0/24"),
    ("POST", "/api/trafficcloneprofile",
     {"name": "p2", "clone_servers": [clone_server(ip="10.10.3.0")]},
     400, "clone_servers[1].ip_address: 10.10.3.0 is the network address of subnet 10.10.3.0/24"),
    ("PATCH", "/api/trafficcloneprofile/ids",
     {"clone_servers": [clone_server(), clone_server(ip="10.10.2.1", subnet="10.10.2.0")]},
     400, "clone_servers[2].ip_address: 10.10.2.1 is an address of this SE (interface 'srv0')"),
    ("POST", "/api/trafficcloneprofile",
     {"name": "p2", "clone_servers": [{"ip_address": {"addr": "10.10.9.2"}, "network_ref": "tap0"}]},
     400, "clone_servers[1].ip_address: 10.10.9.2 is not in a subnet of interface 'tap0'"),
    ("POST", "/api/trafficcloneprofile",
     {"name": "p2", "clone_servers": [{"ip_address": {"addr": "10.10.3.1"}, "network_ref": "tap0"}]},
     400, "clone_servers[1].ip_address: 10.10.3.1 is an address of this SE (interface 'tap0')"),
    ("PATCH", "/api/trafficcloneprofile/ids",
     {"clone_servers": [{"ip_address": {"addr": "10.10.3.255"}, "network_ref": "tap0"}]},
     400, "clone_servers[1].ip_address: 10.10.3.255 is the broadcast address of subnet 10.10.3.0/24"),
    ("PATCH", "/api/virtualservice/web", {"traffic_clone_profile_ref": "missing"},
     400, "traffic_clone_profile_ref: trafficcloneprofile 'missing' does not exist"),
    ("DELETE", "/api/trafficcloneprofile/ids", None,
     409, "trafficcloneprofile 'ids' is in use by virtualservice 'web' (traffic_clone_profile_ref)"),
    ("POST", "/api/pool", {"name": "pool1"}, 409, "name: pool 'pool1' already exists in tenant 'admin'"),
    ("POST", "/api/pool", {"name": "pool2", "colour": "blue"}, 400, "colour: unknown field 'colour'"),
    ("PATCH", "/api/virtualservice/web", {"services": [{"port": 443, "enable_ssl": True}]},
     400, "services[1].enable_ssl: port 443 terminates TLS but ssl_key_and_certificate_refs is empty"),
    ("POST", "/api/virtualservice", {"name": "web2", "vip": [{"ip_address": {"addr": "10.10.1.10"}}],
                                     "services": [{"port": 80}]},
     409, "services[1].port: 10.10.1.10:80 is already used by virtualservice 'web'"),
    ("POST", "/api/healthmonitor", {"name": "hm2", "type": "HEALTH_MONITOR_UDP"},
     400, "healthmonitor.type: HEALTH_MONITOR_UDP is not supported by clonelb (supported: "
          "HEALTH_MONITOR_TCP, HEALTH_MONITOR_HTTP, HEALTH_MONITOR_HTTPS)"),
    ("POST", "/api/healthmonitor", {"name": "hm2", "type": "HEALTH_MONITOR_NOSUCH"},
     400, 'type: invalid value "HEALTH_MONITOR_NOSUCH"'),
    ("POST", "/api/sslkeyandcertificate", {"name": "c2", "key": "-----BEGIN PRIVATE KEY-----\nyy",
                                           "certificate": {"certificate": "-----BEGIN CERTIFICATE-----\nxx"}},
     400, "certificate.certificate: not a valid PEM certificate"),
]


@pytest.mark.parametrize("method,path,body,status,needle", BAD, ids=[b[4][:40] for b in BAD])
def test_bad_input_is_refused_and_changes_nothing(base, method, path, body, status, needle):
    before = base.everything()
    got, out = base.api(method, path, body)
    assert got == status, out
    assert needle in out["error"], out
    assert base.everything() == before


def test_clone_server_by_network_ref_alone_is_accepted(base):
    # The counterpart of the refusals above: a host of tap0's subnet, by interface name.
    out = base.ok("POST", "/api/trafficcloneprofile", {
        "name": "by-if", "clone_servers": [{"ip_address": {"addr": "10.10.3.7"}, "network_ref": "tap0"}]})
    assert out["clone_servers"][0]["network_ref"] == "tap0"


def test_malformed_json_and_oversized_body(base):
    before = base.everything()
    status, out = base.api("POST", "/api/pool", raw='{"name": "p3", ')
    assert status == 400 and out["error"].startswith("request body: invalid JSON"), out
    # 413 comes on the headers, before the body is read (so it is read here
    # before any body is sent), and the connection closes.
    big = json.dumps({"name": "p4", "pad": "x" * (1 << 20)}).encode()
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(10)
        s.connect(base.socket)
        s.sendall(b"POST /api/pool HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: %d\r\n\r\n" % len(big))
        answer = s.makefile("rb").read().decode()
    head, _, text = answer.partition("\r\n\r\n")
    assert head.startswith("HTTP/1.1 413"), answer[:300]
    assert "1 MiB" in json.loads(text)["error"], text
    status, out = base.api("POST", "/api/pool", raw="[1, 2]")
    assert status == 400 and "expected a JSON object" in out["error"], out
    assert base.everything() == before


def test_cross_tenant_reference_is_refused(base):
    base.ok("POST", "/api/tenant", {"name": "blue"})
    status, out = base.api("POST", "/api/trafficcloneprofile", {"name": "other-ids", "tenant_ref": "blue",
                                                                 "clone_servers": [clone_server()]},
                           headers={"X-Avi-Tenant": "blue"})
    assert status == 201, out
    status, prof = base.api("GET", "/api/trafficcloneprofile/other-ids", headers={"X-Avi-Tenant": "blue"})
    assert status == 200
    before = base.everything()
    for ref in ("other-ids", prof["uuid"]):
        status, out = base.api("PATCH", "/api/virtualservice/web", {"traffic_clone_profile_ref": ref})
        assert status == 400, out
        # Refused as if it did not exist: nothing of tenant blue is named.
        assert out["error"] == f"traffic_clone_profile_ref: trafficcloneprofile '{ref}' does not exist", out
    assert base.everything() == before


def test_crud_and_reference_by_uuid(base):
    prof = base.ok("GET", "/api/trafficcloneprofile/ids")
    assert prof["uuid"].startswith("trafficcloneprofile-")
    # References are answered in URL form (docs/api.md, "Reference forms").
    assert prof["preserve_client_ip"] is False and prof["cloud_ref"].startswith("/api/cloud/cloud-")
    vs = base.ok("PATCH", f"/api/virtualservice/{base.ok('GET', '/api/virtualservice/web')['uuid']}",
                 {"traffic_clone_profile_ref": prof["uuid"]})
    assert vs["traffic_clone_profile_ref"] == f"/api/trafficcloneprofile/{prof['uuid']}"  # stored by uuid
    vs = base.ok("PATCH", "/api/virtualservice/web", {"traffic_clone_profile_ref": None})
    assert "traffic_clone_profile_ref" not in vs
    status, _ = base.api("DELETE", "/api/trafficcloneprofile/ids")
    assert status == 204
    status, out = base.api("GET", "/api/trafficcloneprofile/ids")
    assert status == 404 and out["error"] == "trafficcloneprofile 'ids' not found"
    status, out = base.api("GET", "/api/nosuchtype")
    assert status == 404 and "unknown object type 'nosuchtype'" in out["error"]


def test_key_is_never_returned(base, tls_cert):
    key_marker = tls_cert["key"].splitlines()[1]
    responses = [base.api("GET", "/api/sslkeyandcertificate"),
                 base.api("GET", "/api/sslkeyandcertificate/cert"),
                 base.api("PATCH", "/api/sslkeyandcertificate/cert", {}),
                 base.api("PUT", "/api/sslkeyandcertificate/cert",
                          {"certificate": {"certificate": tls_cert["certificate"]}})]
    for status, body in responses:
        assert status == 200, body
        assert key_marker not in json.dumps(body)
        assert "key" not in (body["results"][0] if "results" in body else body)
    # PUT without the write-only key kept it: enable_ssl still works with it.
    base.ok("PATCH", "/api/virtualservice/web", {"ssl_key_and_certificate_refs": ["cert"],
                                                 "services": [{"port": 80}, {"port": 443, "enable_ssl": True}]})


def test_unix_socket_is_0600(daemon):
    mode = stat.S_IMODE(os.stat(daemon.socket).st_mode)
    assert mode == 0o600, oct(mode)


def test_tcp_listener_needs_the_token(lab, workdir):
    token_file = os.path.join(workdir, "token")
    with open(token_file, "w") as f:
        f.write("s3cret-token\n")
    d = Daemon(lab, workdir, ["--listen", "127.0.0.1:8443", "--token-file", token_file]).start()
    try:
        def get(*hdr):
            r = lab.run("se", "curl", "-sk", "-o", "/dev/null", "-w", "%{http_code}",
                        *sum((["-H", h] for h in hdr), []), "https://127.0.0.1:8443/api/pool", check=False)
            return r.stdout
        assert get() == "401"
        assert get("Authorization: Bearer wrong") == "401"
        assert get("Authorization: Bearer s3cret-token") == "200"
    finally:
        d.stop()


def test_listen_without_token_has_no_bearer_token(lab, workdir):
    """Without --token-file, HTTPS serves users who log in (test_auth.py) and no bearer token works."""
    d = Daemon(lab, workdir, ["--listen", "127.0.0.1:8444"]).start()
    try:
        r = lab.run("se", "curl", "-sk", "-w", "\n%{http_code}", "-H", "Authorization: Bearer ",
                    "https://127.0.0.1:8444/api/pool", check=False)
        body, code = r.stdout.rsplit("\n", 1)
        assert code == "401" and "missing or wrong token" in json.loads(body)["error"], r.stdout
    finally:
        d.stop()


def test_bad_flags(workdir):
    r = subprocess.run([CLONELBD, "--workers", "zero"], capture_output=True, text=True, timeout=10)
    assert r.returncode == 2 and "--workers: invalid value 'zero'" in r.stderr
    r = subprocess.run([CLONELBD, "--log-level", "loud"], capture_output=True, text=True, timeout=10)
    assert r.returncode == 2 and "--log-level: invalid value 'loud'" in r.stderr
    r = subprocess.run([CLONELBD, "--worker-sched", "fifo"], capture_output=True, text=True,
                       timeout=10)
    assert r.returncode == 2 and "--worker-sched: invalid value 'fifo' (batch, normal)" in r.stderr


def worker_policies(pid):
    """{thread name: scheduling policy} of clonelbd's proxy workers, as chrt reports them."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/comm") as f:
            name = f.read().strip()
        if name.startswith("clonelb-w"):
            r = subprocess.run(["chrt", "-p", tid], capture_output=True, text=True, check=True)
            out[name] = r.stdout.splitlines()[0].split()[-1]
    return out


@pytest.mark.parametrize("flag,policy", [((), "SCHED_BATCH"), (("--worker-sched", "normal"), "SCHED_OTHER"),
                                         (("--worker-sched", "batch"), "SCHED_BATCH")])
def test_worker_threads_named_and_scheduled(lab, workdir, flag, policy):
    d = Daemon(lab, workdir, ["--workers", "2", *flag]).start()
    try:
        # (ip netns exec runs clonelbd in its own process: the pid is the daemon's.)
        with open(f"/proc/{d.proc.pid}/comm") as f:
            assert f.read().strip() == "clonelbd"
        assert worker_policies(d.proc.pid) == {"clonelb-w0": policy, "clonelb-w1": policy}
    finally:
        d.stop()


def test_config_survives_restart(base):
    before = base.everything()
    assert base.stop() == 0
    base.start()
    assert base.everything() == before


def test_kill9_during_changes_loses_no_committed_change(lab, workdir):
    d = Daemon(lab, workdir).start()
    committed = []
    stop = threading.Event()

    def writer():
        i = 0
        while not stop.is_set() and i < 5000:
            try:
                status, _ = d.api("POST", "/api/healthmonitor",
                                  {"name": f"hm{i}", "type": "HEALTH_MONITOR_TCP"})
            except OSError:
                return
            if status == 201:
                committed.append(f"hm{i}")
            i += 1

    t = threading.Thread(target=writer)
    t.start()
    wait_for(lambda: len(committed) >= 50, timeout=60, what="50 committed changes")
    d.proc.send_signal(signal.SIGKILL)
    d.proc.wait()
    stop.set()
    t.join(30)
    d.start()
    try:
        names = {o["name"] for o in d.ok("GET", "/api/healthmonitor")["results"]}
        missing = [n for n in committed if n not in names]
        assert not missing, f"{len(missing)} committed changes lost, e.g. {missing[:5]}"
        r = subprocess.run(["sqlite3", d.db, "PRAGMA integrity_check;"], capture_output=True, text=True)
        assert r.stdout.strip() == "ok", r.stdout + r.stderr
    finally:
        d.stop()
