"""Authentication, users, tenants and roles (issue 9 items 1, 2 and 7) on the real HTTPS listener.

clonelbd listens on 127.0.0.1 inside the lab's se namespace. The client below does what the
reference product's Python SDK (ApiSession) does: POST /login form-encoded, keep the csrftoken
and sessionid cookies, send X-CSRFToken, Referer, X-Avi-Version and X-Avi-Tenant with each
request, and log in again when an answer is 401 or 419. Its sockets are made inside the se
namespace (setns), so each test may pick its own client address on 127/8: login attempts are
counted per address.
"""
import base64
import contextlib
import ctypes
import http.client
import json
import os
import sqlite3
import ssl
import subprocess
import tempfile
import urllib.parse

import pytest

from conftest import CLONELB, Daemon, wait_for

PORT = 8450
TOKEN = "auth-test-token-0123456789"
ADMIN_PW = "first-admin-password"
CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


@contextlib.contextmanager
def in_netns(name):
    """Runs the block with this thread in network namespace @name (sockets made there stay there)."""
    with open("/proc/self/ns/net") as home, open(f"/run/netns/{name}") as ns:
        if _libc.setns(ns.fileno(), CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns")
        try:
            yield
        finally:
            if _libc.setns(home.fileno(), CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns back")


def cookies_of(resp):
    """{name: (value, attributes)} of the answer's Set-Cookie headers."""
    out = {}
    for line in resp.msg.get_all("Set-Cookie") or []:
        first, *attrs = [p.strip() for p in line.split(";")]
        name, _, value = first.partition("=")
        out[name] = (value, attrs)
    return out


class Client:
    """HTTPS to the daemon's listener from @source, the way the SDK does requests."""

    def __init__(self, lab, source="127.0.0.1", cafile=None):
        self.lab, self.source, self.cafile = lab, source, cafile

    def raw(self, method, path, body=None, headers=None):
        """One request on a new connection; returns (status, headers, parsed JSON or text)."""
        ctx = ssl.create_default_context(cafile=self.cafile) if self.cafile else ssl._create_unverified_context()
        with in_netns(self.lab.ns["se"]):
            conn = http.client.HTTPSConnection("127.0.0.1", PORT, context=ctx, timeout=30,
                                               source_address=(self.source, 0))
            conn.connect()
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            text = resp.read().decode(errors="replace")
        finally:
            conn.close()
        try:
            data = json.loads(text) if text else None
        except ValueError:
            data = text
        return resp.status, resp, data


class Sdk(Client):
    """ApiSession's flow: login, cookies, CSRF, tenant headers, re-login on 401 and 419."""

    def __init__(self, lab, user="admin", password=ADMIN_PW, token=None, tenant=None, tenant_uuid=None,
                 source="127.0.0.1"):
        super().__init__(lab, source)
        self.user, self.password, self.token = user, password, token
        self.tenant, self.tenant_uuid = tenant, tenant_uuid
        self.csrf = self.session = None
        self.logins = 0
        self.login_answer = None

    def login(self):
        creds = {"username": self.user}
        creds.update({"token": self.token} if self.token else {"password": self.password})
        # requests' data=dict: a form-encoded body.
        status, resp, out = self.raw("POST", "/login", urllib.parse.urlencode(creds),
                                     {"Content-Type": "application/x-www-form-urlencoded"})
        self.logins += 1
        assert status == 200, (status, out)
        c = cookies_of(resp)
        self.csrf, self.session = c["csrftoken"][0], c[out.get("session_cookie_name", "sessionid")][0]
        self.login_answer = (out, c)
        return out

    def headers(self, extra=None):
        h = {"Referer": f"https://127.0.0.1:{PORT}", "Content-Type": "application/json",
             "X-Avi-Version": "22.1.1", "timeout": "60"}
        if self.tenant_uuid:
            h["X-Avi-Tenant-UUID"] = self.tenant_uuid
        elif self.tenant:
            h["X-Avi-Tenant"] = self.tenant
        if self.csrf:
            h["X-CSRFToken"] = self.csrf
            h["Cookie"] = f"csrftoken={self.csrf}; sessionid={self.session}; avi-sessionid={self.session}"
        h.update(extra or {})
        return h

    def api(self, method, path, data=None, headers=None, retries=3):
        if not self.csrf:
            self.login()
        body = json.dumps(data) if data is not None else None
        status, resp, out = self.raw(method, "/api/" + path, body, self.headers(headers))
        if status in (401, 419) and retries:
            self.login()
            return self.api(method, path, data, headers, retries - 1)
        return status, out


@pytest.fixture
def controller(lab):
    """Starts clonelbd with HTTPS on 127.0.0.1:PORT in se, the API token and the admin password."""
    started = []
    workdir = tempfile.mkdtemp(prefix="clonelb-auth-")

    def start(*extra):
        with open(os.path.join(workdir, "token"), "w") as f:
            f.write(TOKEN + "\n")
        with open(os.path.join(workdir, "admin-pw"), "w") as f:
            f.write(ADMIN_PW + "\n")
        d = Daemon(lab, workdir, ["--listen", f"127.0.0.1:{PORT}", "--token-file",
                                  os.path.join(workdir, "token"), "--admin-password-file",
                                  os.path.join(workdir, "admin-pw"), *extra]).start()
        d.workdir = workdir
        started.append(d)
        return d

    try:
        yield start
    finally:
        for d in started:
            d.stop()
        subprocess.run(["rm", "-rf", workdir], check=False)


def test_login_with_password_and_with_token(lab, controller):
    d = controller()
    sdk = Sdk(lab, source="127.0.0.11")
    out = sdk.login()
    answer, cookies = sdk.login_answer
    assert out["version"]["Version"] and out["user"]["username"] == "admin", out
    assert out["user"]["is_superuser"] is True and "password" not in out["user"], out
    assert {"csrftoken", "sessionid", "avi-sessionid"} <= set(cookies), cookies
    assert cookies["sessionid"][0] == cookies["avi-sessionid"][0]
    assert "HttpOnly" in cookies["sessionid"][1] and "Secure" in cookies["sessionid"][1], cookies
    status, tenants = sdk.api("GET", "tenant")
    assert status == 200 and [t["name"] for t in tenants["results"]] == ["admin"], tenants

    # A JSON body works too; a wrong password is 401 naming the field.
    c = Client(lab, "127.0.0.11")
    status, _, out = c.raw("POST", "/login", json.dumps({"username": "admin", "password": ADMIN_PW}),
                           {"Content-Type": "application/json"})
    assert status == 200 and out["user"]["name"] == "admin", out
    status, _, out = c.raw("POST", "/login", "username=admin&password=wrong-one",
                           {"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 401 and out == {"error": "password: wrong user name or password"}, out
    status, _, out = c.raw("POST", "/login", "username=admin", {"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 400 and out["error"].startswith("password: required"), out

    # username + token, as the SDK's token login sends it.
    tok = Sdk(lab, token=TOKEN, source="127.0.0.11")
    assert tok.login()["user"]["username"] == "admin"
    assert tok.api("GET", "pool")[0] == 200
    status, _, out = c.raw("POST", "/login", "username=admin&token=nope",
                           {"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 401 and out == {"error": "token: wrong token"}, out


def test_password_is_stored_hashed_and_never_returned(lab, controller):
    d = controller()
    sdk = Sdk(lab, source="127.0.0.12")
    for name in ("ann", "ben"):
        status, out = sdk.api("POST", "user", {"name": name, "password": "same-password-1",
                                               "access": [{"tenant_ref": "admin", "role_ref": "Tenant-Admin"}]})
        assert status == 201 and "password" not in out, out
    assert "password" not in sdk.api("GET", "user/ann")[1]
    assert all("password" not in u for u in sdk.api("GET", "user")[1]["results"])
    assert "password" not in d.ok("GET", "/api/user/ann")  # nor on the Unix socket
    rows = sqlite3.connect(d.db).execute("SELECT name, body FROM objects WHERE type = 'user'").fetchall()
    hashes = {name: json.loads(body)["password"] for name, body in rows}
    assert ADMIN_PW not in json.dumps(hashes) and "same-password-1" not in json.dumps(hashes), hashes
    assert all(h.startswith("pbkdf2_sha256$") for h in hashes.values()), hashes
    assert hashes["ann"] != hashes["ben"]  # salted
    assert Sdk(lab, "ann", "same-password-1", source="127.0.0.12").login()["user"]["name"] == "ann"
    status, out = sdk.api("POST", "user", {"name": "cat", "password": "short"})
    assert status == 400 and out["error"] == "password: shorter than 8 characters", out


def test_csrf_is_needed_on_changes(lab, controller):
    d = controller()
    sdk = Sdk(lab, source="127.0.0.13")
    sdk.login()
    pool = json.dumps({"name": "p-csrf"})
    cookie = {"Cookie": f"sessionid={sdk.session}", "Content-Type": "application/json"}
    status, _, out = sdk.raw("POST", "/api/pool", pool, cookie)
    assert status == 403 and out["error"].startswith("CSRF: X-CSRFToken header missing"), out
    status, _, out = sdk.raw("POST", "/api/pool", pool, {**cookie, "X-CSRFToken": "0" * 64})
    assert status == 403 and out["error"] == "CSRF: X-CSRFToken does not match this session's csrftoken cookie", out
    assert d.ok("GET", "/api/pool?name=p-csrf")["count"] == 0  # nothing was created
    status, _, out = sdk.raw("GET", "/api/pool", None, cookie)  # reads need no token
    assert status == 200, out
    status, out = sdk.api("POST", "pool", {"name": "p-csrf"})
    assert status == 201, out
    assert sdk.logins == 1

    # The web UI's login (/api/login) opens the same kind of session, under its own cookie.
    status, resp, out = sdk.raw("POST", "/api/login", json.dumps({"username": "admin", "password": ADMIN_PW}),
                                {"Content-Type": "application/json"})
    web = cookies_of(resp)
    assert status == 204 and {"clonelb_session", "csrftoken"} <= set(web), resp.msg
    jar = {"Cookie": f"clonelb_session={web['clonelb_session'][0]}", "Content-Type": "application/json"}
    assert sdk.raw("POST", "/api/pool", json.dumps({"name": "p-web"}), jar)[0] == 403
    status, _, out = sdk.raw("POST", "/api/pool", json.dumps({"name": "p-web"}),
                             {**jar, "X-CSRFToken": web["csrftoken"][0]})
    assert status == 201, out


def test_session_expiry_gives_419_and_the_sdk_logs_in_again(lab, controller):
    controller("--session-lifetime", "2")
    sdk = Sdk(lab, source="127.0.0.14")
    sdk.login()
    assert sdk.login_answer[0]["controller"]["session_lifetime"] == 2
    old = sdk.headers()

    def expired():
        status, _, out = sdk.raw("GET", "/api/pool", None, old)
        assert status in (200, 419), (status, out)
        return (status, out) if status == 419 else None

    status, out = wait_for(expired, timeout=20, interval=0.2, what="the session to expire")
    assert out["error"].startswith("session expired"), out
    status, out = sdk.api("GET", "pool")
    assert status == 200 and sdk.logins == 2, (status, out, sdk.logins)


def test_basic_bearer_and_logout(lab, controller):
    controller()
    c = Client(lab, "127.0.0.15")
    basic = "Basic " + base64.b64encode(f"admin:{ADMIN_PW}".encode()).decode()
    assert c.raw("GET", "/api/pool", None, {"Authorization": basic})[0] == 200
    status, _, out = c.raw("POST", "/api/tenant", json.dumps({"name": "by-basic"}),
                           {"Authorization": basic, "Content-Type": "application/json"})
    assert status == 201, out  # no cookie, no CSRF token needed
    bad = "Basic " + base64.b64encode(b"admin:nope").decode()
    status, _, out = c.raw("GET", "/api/pool", None, {"Authorization": bad})
    assert status == 401 and out["error"] == "Authorization: wrong user name or password", out
    assert c.raw("GET", "/api/pool", None, {"Authorization": f"Bearer {TOKEN}"})[0] == 200
    status, _, out = c.raw("GET", "/api/pool")
    assert status == 401 and "log in" in out["error"], out

    sdk = Sdk(lab, source="127.0.0.15")
    sdk.login()
    h = sdk.headers()
    status, resp, out = sdk.raw("POST", "/logout", None, h)
    assert status == 200 and cookies_of(resp)["sessionid"][0] == "", resp.msg
    status, _, out = sdk.raw("GET", "/api/pool", None, h)
    assert status == 401 and out["error"].startswith("session unknown or ended"), out


def test_login_attempts_are_rate_limited_per_address(lab, controller):
    controller()
    c = Client(lab, "127.0.0.16")
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    statuses = [c.raw("POST", "/login", "username=admin&password=guess-%d" % i, form)[0] for i in range(10)]
    assert statuses == [401] * 10, statuses
    status, resp, out = c.raw("POST", "/login", f"username=admin&password={ADMIN_PW}", form)
    assert status == 429 and out["error"].startswith("login: too many attempts"), out
    assert int(resp.getheader("Retry-After")) > 0, resp.msg
    # Basic is refused as well, before any password is checked; another address is not limited.
    basic = "Basic " + base64.b64encode(f"admin:{ADMIN_PW}".encode()).decode()
    assert c.raw("GET", "/api/pool", None, {"Authorization": basic})[0] == 429
    assert Sdk(lab, source="127.0.0.17").login()["user"]["name"] == "admin"


def test_a_user_sees_and_changes_only_its_tenants(lab, controller):
    d = controller()
    admin = Sdk(lab, source="127.0.0.18")
    t = {}
    for name in ("t1", "t2"):
        status, t[name] = admin.api("POST", "tenant", {"name": name})
        assert status == 201, t[name]
    for user, role in (("u1", "Tenant-Admin"), ("op1", "Application-Operator")):
        status, out = admin.api("POST", "user", {"name": user, "password": f"{user}-password",
                                                 "access": [{"tenant_ref": "t1", "role_ref": role}]})
        assert status == 201, out
    admin.tenant = "t2"
    status, p2 = admin.api("POST", "pool", {"name": "p2"})
    assert status == 201 and p2["tenant_ref"].endswith("/api/tenant/" + t["t2"]["uuid"]), p2

    u1 = Sdk(lab, "u1", "u1-password", tenant="t1", source="127.0.0.18")
    status, p1 = u1.api("POST", "pool", {"name": "p1"})
    assert status == 201 and p1["tenant_ref"].endswith("/api/tenant/" + t["t1"]["uuid"]), p1
    # Tenant t2 by name or uuid in the header: 403.
    for hdr in ({"X-Avi-Tenant": "t2"}, {"X-Avi-Tenant": t["t2"]["uuid"]}):
        status, out = u1.api("GET", "pool", headers=hdr)
        assert status == 403 and out["error"] == "X-Avi-Tenant: user 'u1' has no access to tenant 't2'", out
    u1.tenant, u1.tenant_uuid = None, t["t2"]["uuid"]
    assert u1.api("GET", "pool")[0] == 403
    assert u1.api("POST", "pool", {"name": "sneak"})[0] == 403
    u1.tenant, u1.tenant_uuid = "t1", None
    # t2's object by name or uuid from t1: not found, never named.
    for key in ("p2", p2["uuid"]):
        for method, body in (("GET", None), ("PUT", {"name": "p2", "default_server_port": 9}),
                             ("PATCH", {"default_server_port": 9}), ("DELETE", None)):
            status, out = u1.api(method, f"pool/{key}", body)
            assert status == 404 and out == {"error": f"pool '{key}' not found"}, (method, key, out)
    assert [p["name"] for p in u1.api("GET", "pool")[1]["results"]] == ["p1"]
    assert u1.api("GET", "pool", headers={"X-Avi-Tenant": "*"})[0] == 403
    # Tenants: only t1 is listed; t2 is 404; users and tenant changes are not for a Tenant-Admin.
    status, out = u1.api("GET", "tenant")
    assert status == 200 and [x["name"] for x in out["results"]] == ["t1"] and out["count"] == 1, out
    assert u1.api("GET", "tenant/t2")[0] == 404
    status, out = u1.api("GET", "user")
    assert status == 403 and out["error"].startswith("user: user 'u1' has no access to user objects"), out
    assert u1.api("POST", "tenant", {"name": "t3"})[0] == 403
    status, again = admin.api("GET", f"pool/{p2['uuid']}")
    assert status == 200 and again == p2  # unchanged

    # Application-Operator reads t1 and cannot write.
    op = Sdk(lab, "op1", "op1-password", tenant="t1", source="127.0.0.18")
    status, out = op.api("GET", "pool/p1")
    assert status == 200 and out["uuid"] == p1["uuid"], out
    for method, path, body in (("POST", "pool", {"name": "op-pool"}), ("PATCH", "pool/p1", {"default_server_port": 81}),
                               ("DELETE", "pool/p1", None)):
        status, out = op.api(method, path, body)
        assert status == 403 and out["error"] == "pool: user 'op1' may only read (role Application-Operator in tenant 't1')", out
    assert admin.api("GET", "pool/p1", headers={"X-Avi-Tenant": "t1"})[1] == p1


def test_tenants_roles_and_what_cannot_be_deleted(lab, controller):
    controller()
    admin = Sdk(lab, source="127.0.0.19")
    assert admin.api("POST", "tenant", {"name": "t2"})[0] == 201
    assert admin.api("POST", "pool", {"name": "p2"}, headers={"X-Avi-Tenant": "t2"})[0] == 201
    status, out = admin.api("DELETE", "tenant/t2")
    assert status == 409 and out["error"] == "tenant 't2' still holds 1 object: pool 'p2' (delete them first)", out
    assert admin.api("GET", "tenant/t2")[0] == 200
    assert admin.api("DELETE", "pool/p2", headers={"X-Avi-Tenant": "t2"})[0] == 204
    assert admin.api("DELETE", "tenant/t2")[0] == 204
    status, out = admin.api("DELETE", "tenant/admin")
    assert status == 409 and "built in" in out["error"], out
    # An object cannot go to a tenant that does not exist.
    status, out = admin.api("POST", "pool", {"name": "p9"}, headers={"X-Avi-Tenant": "t9"})
    assert status == 400 and out["error"].startswith("tenant_ref: tenant 't9' does not exist"), out
    # The built-in roles are there and read-only, even for System-Admin.
    status, roles = admin.api("GET", "role")
    assert [r["name"] for r in roles["results"]] == ["System-Admin", "Tenant-Admin", "Application-Operator"], roles
    for method, path, body in (("PUT", "role/System-Admin", {"name": "System-Admin"}),
                               ("POST", "role", {"name": "mine"}), ("DELETE", "role/Tenant-Admin", None)):
        status, out = admin.api(method, path, body)
        assert status == 403 and out["error"].startswith("role: the built-in roles"), out
    # Access naming a tenant or role that does not exist is refused.
    status, out = admin.api("POST", "user", {"name": "x1", "access": [{"tenant_ref": "admin", "role_ref": "Boss"}]})
    assert status == 400 and out["error"] == "access[1].role_ref: role 'Boss' does not exist", out


def shell(lab, *args, password=ADMIN_PW, env_extra=None):
    env = dict(os.environ, CLONELB_PASSWORD=password or "", **(env_extra or {}))
    if not password:
        env.pop("CLONELB_PASSWORD")
    return subprocess.run(lab.cmd("se", CLONELB, "--controller", f"https://127.0.0.1:{PORT}", *args),
                          capture_output=True, text=True, timeout=60, env=env, stdin=subprocess.DEVNULL)


def test_shell_against_a_remote_controller(lab, controller, tls_cert):
    d = controller()
    cert = os.path.join(d.workdir, "api-cert.pem")
    script = ["-c", "configure pool remote-pool", "-c", "default_server_port 8080", "-c", "save",
              "-c", "show pool remote-pool"]
    r = shell(lab, "--ca", cert, *script)
    assert r.returncode == 0, r.stderr
    local = d.cli("-c", "show pool remote-pool", check=0)
    assert r.stdout.endswith(local.stdout) and "8080" in local.stdout, (r.stdout, local.stdout)
    r = shell(lab, "--insecure", "--json", "-c", "show pool remote-pool")
    assert r.returncode == 0 and json.loads(r.stdout)["default_server_port"] == 8080, r
    r = shell(lab, "--ca", cert, "--token-file", os.path.join(d.workdir, "token"), "-c", "show tenant admin",
              password=None)
    assert r.returncode == 0 and "the built-in tenant" in r.stdout, r

    # Without --ca or --insecure the self-signed certificate is refused; so is a wrong CA.
    for args in ((), ("--ca", tls_cert["cert_path"])):
        r = shell(lab, *args, "-c", "show pool")
        assert r.returncode == 1, r
        assert f"the certificate of https://127.0.0.1:{PORT} is not trusted" in r.stderr, r.stderr
    r = shell(lab, "--ca", cert, "-c", "show pool", password="wrong-password")
    assert r.returncode == 1 and "login to https://127.0.0.1:8450 as 'admin' refused (HTTP 401): " \
        "password: wrong user name or password" in r.stderr, r.stderr
    r = shell(lab, "--ca", cert, "-c", "show pool", password=None)
    assert r.returncode == 1 and "no password for 'admin'" in r.stderr, r.stderr
    r = subprocess.run(lab.cmd("se", CLONELB, "--controller", "https://127.0.0.1:1", "--insecure", "-c", "show pool"),
                       capture_output=True, text=True, timeout=60, env=dict(os.environ, CLONELB_PASSWORD="x"))
    assert r.returncode == 1 and "cannot reach the controller https://127.0.0.1:1" in r.stderr, r.stderr


def test_shell_asks_the_password_on_the_terminal(lab, controller):
    """Without $CLONELB_PASSWORD the shell asks on its terminal, without echo, then logs in."""
    import pty
    import select
    import time
    d = controller()
    argv = lab.cmd("se", CLONELB, "--controller", f"https://127.0.0.1:{PORT}", "--insecure",
                   "-c", "show tenant admin")
    env = {k: v for k, v in os.environ.items() if k not in ("CLONELB_PASSWORD", "CLONELB_TOKEN")}
    pid, fd = pty.fork()
    if pid == 0:
        os.execvpe(argv[0], argv, env)
    seen, sent, deadline = b"", False, time.monotonic() + 30
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 1)
            if not ready:
                continue
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break  # the shell exited and closed the terminal
            if not chunk:
                break
            seen += chunk
            if not sent and b"Password for admin at https://127.0.0.1:" in seen:
                os.write(fd, ADMIN_PW.encode() + b"\n")
                sent = True
    finally:
        end = time.monotonic() + 10
        done, status = os.waitpid(pid, os.WNOHANG)
        while not done and time.monotonic() < end:
            time.sleep(0.05)
            done, status = os.waitpid(pid, os.WNOHANG)
        if not done:  # still running past the deadline: end it
            os.kill(pid, 9)
            _, status = os.waitpid(pid, 0)
        os.close(fd)
    text = seen.decode(errors="replace")
    assert sent, text
    assert os.waitstatus_to_exitcode(status) == 0, text
    assert ADMIN_PW not in text, text  # not echoed
    assert "the built-in tenant" in text, text
