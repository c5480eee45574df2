"""tlspool.py: the "TLS to the pool" rows (issue 11): clients speak plain HTTP to the VIP, the
pool servers HTTPS (nginx, the bench's certificate). HAProxy (`ssl verify none` on its servers)
against clonelb (pool.ssl_profile_ref System-Standard, no PKI profile: unverified as well), and
clonelb with a traffic clone profile carrying plaintext_for_tls_pools against clonelb with
cloning off. A lab of its own (tests/lab/lab.sh)."""
import os

from benchlab import (CLONE_SERVER, NGINX_HEAD, POOL, VIP, Lab, Target, child_pid, hostport, listening, log,
                      run_haproxy, start_clonelbd, wait_for)
from scenarios import clone_counters, cpu_seconds, scenario_keepalive, scenario_newconn

TLS_PORT = 8443        # nginx HTTPS on each pool address: the services without cloning
TLS_CLONE_PORT = 8444  # the same servers for the cloned service's pool
PLAINTEXT = "clonelb+plaintext clone"

# (key, label, scenario, target, base, reference): the figure of @base against @reference.
# Keep-alive: one back-end TLS connection per client connection, kept; handshakes: every
# request on a new client connection (Connection: close), so a new back-end TLS connection.
TLSPOOL_ROWS = [
    ("tlspool_keepalive", "TLS pool keep-alive req/s", scenario_keepalive, 1.0, "clonelb",
     "haproxy"),
    ("tlspool_handshake", "TLS pool handshakes/s", scenario_newconn, 1.0, "clonelb", "haproxy"),
    ("tlspool_keepalive", "TLS pool keep-alive req/s", scenario_keepalive, 0.8, PLAINTEXT,
     "clonelb"),
    ("tlspool_handshake", "TLS pool handshakes/s", scenario_newconn, 0.8, PLAINTEXT, "clonelb"),
]
SCENARIOS = list({r[0]: r[:3] for r in TLSPOOL_ROWS}.values())

NGINX_TLS_CONF = NGINX_HEAD + """    ssl_certificate {cert};
    ssl_certificate_key {key};
    ssl_session_cache shared:tls:10m;
    server {{
        listen {host}:{port} ssl reuseport backlog=8192;
        listen {host}:{clone_port} ssl reuseport backlog=8192;
        location / {{ return 200 "server {ip}\\n"; }}
    }}
}}
"""

HAPROXY_TLSPOOL_CFG = """
global
    nbthread {threads}
    maxconn 9980
    log stderr format raw local0 err
defaults
    mode tcp
    timeout connect 5s
    timeout client 300s
    timeout server 300s
frontend web
    bind {vip}:{http}
    default_backend tlspool
backend tlspool
    balance roundrobin
    server s1 {s1}:{port} ssl verify none check inter 10s
    server s2 {s2}:{port} ssl verify none check inter 10s
"""


def start_tls_pool(lab, work, certdir):
    """nginx HTTPS on each pool address, ports TLS_PORT and TLS_CLONE_PORT, its files in
    @work, with the certificate make_cert() wrote in @certdir."""
    for ip in POOL:
        d = os.path.join(work, "nginx-tls-" + ip)
        os.makedirs(d)
        with open(os.path.join(d, "nginx.conf"), "w") as f:
            f.write(NGINX_TLS_CONF.format(dir=d, ip=ip, host=hostport(ip), port=TLS_PORT,
                                          clone_port=TLS_CLONE_PORT, cert=f"{certdir}/cert.pem",
                                          key=f"{certdir}/key.pem"))
        lab.spawn("srv", "nginx", "-c", os.path.join(d, "nginx.conf"))
    for port in (TLS_PORT, TLS_CLONE_PORT):
        wait_for(listening(lab, "srv", port), 10, f"pool port {port} (TLS)")


def tls_service(api, name, port, server_port, monitor, clone_profile=None):
    """A plain-HTTP virtual service on VIP:@port whose pool speaks TLS to POOL:@server_port."""
    pool = {"name": name, "default_server_port": server_port, "ssl_profile_ref": "System-Standard",
            "servers": [{"ip": {"addr": ip}} for ip in POOL]}
    if monitor:
        pool["health_monitor_refs"] = [monitor]
    api.req("POST", "/api/pool", pool)
    vs = {"name": name, "vip": [{"ip_address": {"addr": VIP}}], "services": [{"port": port}],
          "pool_ref": name}
    if clone_profile:
        vs["traffic_clone_profile_ref"] = clone_profile
    api.req("POST", "/api/virtualservice", vs)


def plaintext_clone(api):
    """The cloned service (pool on TLS_CLONE_PORT, no monitor: health checks would blur its
    clone counters) with a profile of plaintext_for_tls_pools; None, or why the daemon
    refused it (a daemon without plaintext clones: "unknown field")."""
    status, out = api.call("POST", "/api/trafficcloneprofile", {
        "name": "bench-plaintext", "plaintext_for_tls_pools": True,
        "clone_servers": [{"ip_address": {"addr": CLONE_SERVER},
                           "subnet": {"ip_addr": {"addr": "10.10.3.0"}, "mask": 24}}]})
    if status != 201:
        return out.get("error") if isinstance(out, dict) else f"{status} {out}"
    tls_service(api, "tlspool-clone", 81, TLS_CLONE_PORT, None, "bench-plaintext")
    return None


def measure(lab, api, t, fn, a, cloned):
    """(figure, CPU µs per operation, clone engine counter deltas or None) of one run."""
    e0 = clone_counters(api, cloned) if cloned else None
    c0 = cpu_seconds(t.pid)
    v, ops = fn(lab, t, a)
    cpu = cpu_seconds(t.pid) - c0
    e1 = clone_counters(api, cloned) if cloned else None
    return v, (cpu * 1e6 / ops if ops else None), (
        {k: e1[k] - e0[k] for k in e1} if cloned else None)


def tlspool_row(a, work):
    """HAProxy, clonelb and (when the daemon has it) clonelb with a plaintext clone, a.rounds
    interleaved rounds of each of SCENARIOS, the order flipping every round. Returns
    {"results": {key: {target: [figure]}}, "cpu": ..., "engine": {key: [counter deltas]},
    "plaintext": None or why it is not available}."""
    d = os.path.join(work, "tlspool")
    os.makedirs(d)
    lab = Lab(a.prefix)
    res = {"results": {}, "cpu": {}, "engine": {}, "plaintext": None}
    try:
        lab.up()
        if a.offloads:
            lab.offloads_on()
        start_tls_pool(lab, d, work)
        ha = Target("haproxy", 8080, 8443, 25201)
        cl = Target("clonelb", 80, 443, 15201)
        cp = Target(PLAINTEXT, 81, 444, 15202)
        run_haproxy(lab, d, ha, HAPROXY_TLSPOOL_CFG.format(
            threads=a.threads, vip=VIP, http=ha.http_port, s1=POOL[0], s2=POOL[1],
            port=TLS_PORT))
        p, api = start_clonelbd(lab, d, a.threads)
        cl.pid = cp.pid = child_pid(p.pid, "clonelbd")
        api.req("POST", "/api/healthmonitor",
                {"name": "bench-tcp", "type": "HEALTH_MONITOR_TCP", "send_interval": 10})
        tls_service(api, "tlspool", cl.http_port, TLS_PORT, "bench-tcp")
        res["plaintext"] = plaintext_clone(api)
        order = [ha, cl] + ([] if res["plaintext"] else [cp])
        if res["plaintext"]:
            log(f"tlspool: {PLAINTEXT} not available: {res['plaintext']}")
        for t in order:
            wait_for(listening(lab, "se", t.http_port), 10, f"{t.name} listening")
            # Answered through the TLS pool (and the clone server's MAC known).
            wait_for(lambda: lab.run("cli", "curl", "-sf", "-m", "5",
                                     f"http://{VIP}:{t.http_port}/",
                                     check=False).stdout.startswith("server "),
                     20, f"{t.name} answering through its TLS pool")
        for r in range(a.rounds):
            for key_, label, fn in SCENARIOS:
                for t in (order if r % 2 == 0 else list(reversed(order))):
                    v, per_op, eng = measure(lab, api, t, fn, a,
                                             ["tlspool-clone"] if t is cp else None)
                    res["results"].setdefault(key_, {}).setdefault(t.name, []).append(v)
                    res["cpu"].setdefault(key_, {}).setdefault(t.name, []).append(per_op)
                    if eng:
                        res["engine"].setdefault(key_, []).append(eng)
                    log(f"tlspool round {r + 1} {label:26s} {t.name:24s} {v:12.2f}" +
                        (f"   cpu {per_op:8.2f} us/op" if per_op else "") +
                        (f"   cloned {eng['num_total_pkts_cloned']}, succeeded "
                         f"{eng['num_succeeded']}" if eng else ""))
        api.close()
        lab.verify_se_stock()
    finally:
        lab.down()
    return res
