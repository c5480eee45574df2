"""TLS profiles and back-end TLS: sslprofile and pkiprofile through the API, the default
profile on a TLS virtual service, pools that speak TLS to nginx HTTPS servers.

Certificates are made with openssl in a temporary directory. Every wait polls with a bound.
"""
import json

# pki and https_servers (nginx HTTPS on the pool addresses) are conftest's fixtures.
from conftest import POOL_IPS, VIP, curl, wait_for


def stored(d, t):
    status, body = d.api("GET", f"/api/{t}")
    assert status == 200, body
    return [o["name"] for o in body["results"]]


def refused(d, path, body, *words):
    status, out = d.api("POST", path, body)
    text = json.dumps(out)
    assert status == 400, f"{path} {body} -> {status}: {text}"
    for w in words:
        assert w in text, f"{w!r} not in {text}"


def s_client(lab, *args, port=443):
    """openssl s_client from the client namespace to VIP:@port; returns the CompletedProcess."""
    return lab.run("cli", "openssl", "s_client", "-connect", f"{VIP}:{port}", "-servername",
                   "web.lab", *args, input="", check=False, timeout=20)


def cipher(r):
    """The suite s_client negotiated, or None when the handshake failed."""
    for line in r.stdout.splitlines():
        if "Cipher is " in line:
            c = line.split("Cipher is ")[1].strip()
            return None if c == "(NONE)" else c
    return None


def tls_vs(d, tls_cert, profile=None):
    d.ok("POST", "/api/pool", {"name": "p80", "servers": [{"ip": {"addr": ip, "type": "V4"}}
                                                          for ip in POOL_IPS]})
    d.ok("POST", "/api/sslkeyandcertificate",
         {"name": "web-cert", "certificate": {"certificate": tls_cert["certificate"]},
          "key": tls_cert["key"]})
    vs = {"name": "web", "vip": [{"ip_address": {"addr": VIP, "type": "V4"}}],
          "services": [{"port": 443, "enable_ssl": True}], "pool_ref": "p80",
          "ssl_key_and_certificate_refs": ["web-cert"]}
    if profile:
        vs["ssl_profile_ref"] = profile
    d.ok("POST", "/api/virtualservice", vs)


def test_profiles_bad_input_refused(daemon):
    """An unknown version, a cipher string OpenSSL rejects, a PEM that does not parse: each
    refused naming the field and the value, and nothing is stored."""
    refused(daemon, "/api/sslprofile",
            {"name": "old", "accepted_versions": [{"type": "SSL_VERSION_TLS9"}]},
            "accepted_versions[1].type", "SSL_VERSION_TLS9")
    refused(daemon, "/api/sslprofile", {"name": "bad12", "accepted_ciphers": "NOSUCHCIPHER"},
            "accepted_ciphers", "NOSUCHCIPHER")
    refused(daemon, "/api/sslprofile", {"name": "bad13", "ciphersuites": "TLS_NOPE_SHA1"},
            "ciphersuites", "TLS_NOPE_SHA1")
    refused(daemon, "/api/pkiprofile",
            {"name": "badca", "ca_certs": [{"certificate": "-----BEGIN CERTIFICATE-----\nAAAA\n"
                                                          "-----END CERTIFICATE-----\n"}]},
            "ca_certs[1].certificate", "BEGIN CERTIFICATE")
    assert stored(daemon, "sslprofile") == ["System-Standard"]
    assert stored(daemon, "pkiprofile") == []
    std = daemon.ok("GET", "/api/sslprofile?name=System-Standard")["results"][0]
    assert [v["type"] for v in std["accepted_versions"]] == ["SSL_VERSION_TLS1_2",
                                                           "SSL_VERSION_TLS1_3"]
    status, out = daemon.api("DELETE", "/api/sslprofile/System-Standard")
    assert status == 409 and "built in" in json.dumps(out), (status, out)


def test_default_profile_refuses_weak_suite(lab, daemon, tls_cert):
    """A TLS service with the default profile takes an ECDHE AEAD suite and refuses
    AES128-SHA (static RSA, CBC); a profile of TLS 1.3 only refuses TLS 1.2."""
    tls_vs(daemon, tls_cert)
    vs = daemon.ok("GET", "/api/virtualservice?name=web")["results"][0]
    std = daemon.ok("GET", "/api/sslprofile?name=System-Standard")["results"][0]
    assert vs["ssl_profile_ref"].endswith(std["uuid"]), (vs["ssl_profile_ref"], std["uuid"])
    wait_for(lambda: cipher(s_client(lab, "-tls1_2")), what="TLS 1.2 handshake")
    r = s_client(lab, "-tls1_2", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256")
    assert cipher(r) == "ECDHE-RSA-AES128-GCM-SHA256", r.stdout[-400:]
    r = s_client(lab, "-tls1_2", "-cipher", "AES128-SHA")
    assert cipher(r) is None, r.stdout[-400:]
    assert "alert handshake failure" in r.stderr, r.stderr[-400:]

    daemon.ok("POST", "/api/sslprofile",
              {"name": "only13", "accepted_versions": [{"type": "SSL_VERSION_TLS1_3"}]})
    daemon.ok("PATCH", "/api/virtualservice/web", {"replace": {"ssl_profile_ref": "only13"}})
    wait_for(lambda: cipher(s_client(lab, "-tls1_2")) is None, what="TLS 1.2 refused")
    r = s_client(lab, "-tls1_3")
    assert cipher(r) == "TLS_AES_256_GCM_SHA384" and "TLSv1.3" in r.stdout, r.stdout[-400:]
    status, out = daemon.api("DELETE", "/api/sslprofile/only13")
    assert status == 409 and "in use by virtualservice 'web'" in json.dumps(out), (status, out)


def tls_pool(d, pki, ips, pki_profile=True, client_cert=False, server_name="pool.lab"):
    if pki_profile:
        d.ok("POST", "/api/pkiprofile", {"name": "ca1", "ca_certs": [{"certificate": pki["ca1"]}]})
    pool = {"name": "tls-pool", "default_server_port": 443, "ssl_profile_ref": "System-Standard",
            "servers": [{"ip": {"addr": ip, "type": "V4"}} for ip in ips]}
    if pki_profile:
        pool["pki_profile_ref"] = "ca1"
    if server_name:
        pool["server_name"] = server_name
    if client_cert:
        d.ok("POST", "/api/sslkeyandcertificate",
             {"name": "client", "certificate": {"certificate": pki["client"]},
              "key": pki["client.key"]})
        pool["ssl_key_and_certificate_ref"] = "client"
    d.ok("POST", "/api/pool", pool)
    d.ok("POST", "/api/virtualservice",
         {"name": "web", "vip": [{"ip_address": {"addr": VIP, "type": "V4"}}],
          "services": [{"port": 80}], "pool_ref": "tls-pool"})


def runtime_pool(d):
    return d.ok("GET", "/api/virtualservice/web/runtime")["pool"]


def test_tls_pool_verified_sni_client_cert(lab, daemon, pki, https_servers):
    """A TLS pool with a PKI profile serves traffic from the server whose certificate chains
    to the CA; the other one (another CA's certificate) is refused and the runtime view says
    why. SNI and the client certificate reach the server; the session is resumed."""
    tls_pool(daemon, pki, POOL_IPS, client_cert=True)
    wait_for(lambda: curl(lab, f"http://{VIP}/", timeout=3).returncode == 0, what="VIP serving")
    bodies = [curl(lab, f"http://{VIP}/", timeout=5) for _ in range(6)]
    for r in bodies:
        assert r.returncode == 0, r.stderr
        assert r.stdout.startswith(f"server {POOL_IPS[0]} sni=pool.lab client=CN=clonelb-client"), r.stdout
    log = daemon.logtext()
    assert any("reused=r" in r.stdout for r in bodies), log[-3000:]
    pool = runtime_pool(daemon)
    assert pool["server_tls"]["verified"] is True and pool["server_tls"]["sni"] == "pool.lab", pool
    bad = next(m for m in pool["members"] if m["ip"]["addr"] == POOL_IPS[1])
    assert bad["tls_error"] == "unable to get local issuer certificate", bad
    assert bad["connect_failures"] >= 1, bad
    assert f"server {POOL_IPS[1]}:443: unable to get local issuer certificate" in daemon.logtext()


def test_tls_pool_unverifiable_refused(lab, daemon, pki, https_servers):
    """With only the server of another CA, the request fails: no plaintext, no unverified
    fallback. Without a name, the certificate is checked against the server's address."""
    tls_pool(daemon, pki, POOL_IPS[1:], server_name=None)
    r = curl(lab, f"http://{VIP}/", timeout=5)
    assert r.returncode != 0 and not r.stdout, (r.returncode, r.stdout)
    wait_for(lambda: runtime_pool(daemon)["members"][0]["tls_error"] ==
             "unable to get local issuer certificate", what="runtime reason")
    assert runtime_pool(daemon)["server_tls"]["sni"] is None


def test_tls_pool_unverified_said(lab, daemon, pki, https_servers):
    """Without a PKI profile the connection is made, unverified, and the runtime view and
    a log line say so."""
    tls_pool(daemon, pki, POOL_IPS[1:], pki_profile=False)
    wait_for(lambda: curl(lab, f"http://{VIP}/", timeout=3).returncode == 0, what="VIP serving")
    r = curl(lab, f"http://{VIP}/", timeout=5)
    assert r.stdout.startswith(f"server {POOL_IPS[1]} sni=pool.lab client= "), r.stdout
    tls = runtime_pool(daemon)["server_tls"]
    assert tls["verified"] is False and tls["verification"] == "unverified: no pki_profile_ref", tls
    assert "pool tls-pool: TLS to the servers is not verified (no pki_profile_ref)" in daemon.logtext()


def test_tls_pool_bad_input_refused(daemon, pki):
    """Pool TLS references that do not exist are refused naming field and value."""
    refused(daemon, "/api/pool", {"name": "p", "ssl_profile_ref": "Nope"},
            "ssl_profile_ref", "Nope")
    refused(daemon, "/api/pool", {"name": "p", "ssl_profile_ref": "System-Standard",
                                  "pki_profile_ref": "nope-pki"}, "pki_profile_ref", "nope-pki")
    assert stored(daemon, "pool") == []


def test_https_monitor_marks_unverifiable_server_down(lab, daemon, pki, https_servers):
    """An HTTPS monitor speaks the pool's TLS: the server whose certificate is another CA's
    is marked DOWN with the reason, the other is UP, and traffic goes to the UP one only."""
    daemon.ok("POST", "/api/healthmonitor",
              {"name": "hm-https", "type": "HEALTH_MONITOR_HTTPS", "send_interval": 1,
               "receive_timeout": 1, "successful_checks": 1, "failed_checks": 1,
               "https_monitor": {"http_request": "GET / HTTP/1.0",
                                 "http_response_code": ["HTTP_2XX"]}})
    tls_pool(daemon, pki, POOL_IPS)
    daemon.ok("PATCH", "/api/pool/tls-pool", {"health_monitor_refs": ["hm-https"]})

    def health():
        return {m["ip"]["addr"]: m for m in runtime_pool(daemon)["members"]}
    wait_for(lambda: health()[POOL_IPS[1]]["health"] == "DOWN" and
             health()[POOL_IPS[0]]["health"] == "UP", timeout=15, what="monitor verdicts")
    bad = health()[POOL_IPS[1]]["health_monitors"][0]
    assert bad["reason"] == "unable to get local issuer certificate", bad
    for _ in range(4):
        r = curl(lab, f"http://{VIP}/", timeout=5)
        assert r.stdout.startswith(f"server {POOL_IPS[0]} "), (r.returncode, r.stdout, r.stderr)


def test_tenant_uses_builtin_profile(daemon):
    """Another tenant's pools and services use admin's built-in System-Standard; a profile of
    admin's own stays invisible to the tenant."""
    daemon.ok("POST", "/api/tenant", {"name": "t1"})
    daemon.ok("POST", "/api/sslprofile", {"name": "admins-own"})
    t1 = {"X-Avi-Tenant": "t1"}
    status, out = daemon.api("POST", "/api/pool", {"name": "tp", "ssl_profile_ref": "System-Standard"},
                             headers=t1)
    assert status == 201, out
    std = daemon.ok("GET", "/api/sslprofile?name=System-Standard")["results"][0]
    assert out["ssl_profile_ref"].endswith(std["uuid"]), out
    status, out = daemon.api("POST", "/api/pool", {"name": "tq", "ssl_profile_ref": "admins-own"},
                             headers=t1)
    assert status == 400 and "sslprofile 'admins-own' does not exist" in out["error"], out


def test_tls_pool_profile_applies_to_servers(lab, daemon, pki, https_servers):
    """The pool's sslprofile is what it offers the servers: TLS 1.3 only towards nginx
    servers that speak TLS 1.2 fails the handshake, the request fails and the runtime view
    says why; back to System-Standard, it serves again."""
    tls_pool(daemon, pki, POOL_IPS[:1])
    wait_for(lambda: curl(lab, f"http://{VIP}/", timeout=3).returncode == 0, what="VIP serving")
    daemon.ok("POST", "/api/sslprofile",
              {"name": "only13", "accepted_versions": [{"type": "SSL_VERSION_TLS1_3"}]})
    daemon.ok("PATCH", "/api/pool/tls-pool", {"ssl_profile_ref": "only13"})
    wait_for(lambda: curl(lab, f"http://{VIP}/", timeout=3).returncode != 0,
             what="TLS 1.3 only refused by a TLS 1.2 server")
    assert runtime_pool(daemon)["members"][0]["tls_error"] == \
        "TLS handshake with the server failed"
    daemon.ok("PATCH", "/api/pool/tls-pool", {"ssl_profile_ref": "System-Standard"})
    wait_for(lambda: curl(lab, f"http://{VIP}/", timeout=3).returncode == 0, what="serving again")
