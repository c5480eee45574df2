"""TLS profiles and back-end TLS: sslprofile and pkiprofile through the API, the default
profile on a TLS virtual service, pools that speak TLS to nginx HTTPS servers.

Certificates are made with openssl in a temporary directory. Every wait polls with a bound.
"""
import json
import os
import shutil
import subprocess
import tempfile

import pytest

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
