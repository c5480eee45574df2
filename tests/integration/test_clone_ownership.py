"""The clone engine's kernel state and counters (issue 8 item 10): one clonelbd per network
namespace, whose tc filters no second one removes; counter slots that no amount of profile
edits takes from a live clone server.

clonelbd runs in the lab's se namespace, configured through its REST API; traffic is real
HTTP from the client namespace. Every wait polls with a bound.
"""
import os
import signal
import subprocess
import tempfile
import time

import pytest

from conftest import CLONELBD, VIP, Daemon, UnixHTTPConnection, end_process, wait_for
from test_clone import (Client, agg, client, no_stray_filters, serving, server, settle,  # noqa: F401
                        web_servers)
from test_clone_engine import TAP_MAC, Harness, assert_identity

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (namespaces, eBPF)")

OUR_IFS = ("srv0", "tap0", "cli0")


def tc_show(lab):
    """`tc filter show` of every hook of the SE's interfaces, as text (program ids included)."""
    return {(ifname, hook): lab.run("se", "tc", "filter", "show", "dev", ifname, hook).stdout
            for ifname in OUR_IFS for hook in ("ingress", "egress")}


def configure_web(d, servers):
    d.ok("POST", "/api/trafficcloneprofile", {"name": "ids", "clone_servers": servers})
    d.ok("POST", "/api/pool", {"name": "web-pool",
                               "servers": [{"ip": {"addr": "10.10.2.11", "type": "V4"}}]})
    d.ok("POST", "/api/virtualservice", {
        "name": "web", "vip": [{"ip_address": {"addr": VIP, "type": "V4"}}],
        "services": [{"port": 80}], "pool_ref": "web-pool", "traffic_clone_profile_ref": "ids"})


def start_second(lab, workdir, role="se"):
    """clonelbd with its own --db and --socket in namespace @role; returns (Popen, socket)."""
    d = tempfile.mkdtemp(prefix="second-", dir=workdir)
    sock = os.path.join(d, "api.sock")
    p = lab.popen(role, CLONELBD, "--db", os.path.join(d, "config.db"), "--socket", sock,
                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return p, sock


def api_answers(sock):
    conn = UnixHTTPConnection(sock, timeout=5)
    try:
        conn.request("GET", "/api/pool")
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


def test_second_daemon_in_the_same_namespace_refuses_and_touches_nothing(
        lab, web_servers, daemon, client, workdir, no_stray_filters):
    configure_web(daemon, [server("10.10.3.2", TAP_MAC)])
    wait_for(serving(client), what="VIP serving")
    before = tc_show(lab)
    assert "handle 0xc10e" in before[("srv0", "ingress")] and "handle 0xc10e" in before[("srv0", "egress")]

    p, sock = start_second(lab, workdir)
    try:
        out, err = p.communicate(timeout=30)
    finally:
        end_process(p)
    assert p.returncode == 1, (p.returncode, out, err)
    # The message names the live daemon: its pid and its command line (its --socket).
    assert "another clonelbd is running in this network namespace" in err, err
    assert f"pid {daemon.pid()}:" in err and daemon.socket in err, err
    assert not os.path.exists(sock)
    # Nothing of the live one's kernel state was touched: same filters, same programs.
    assert tc_show(lab) == before
    # And it goes on cloning.
    settle(daemon)
    row0, = agg(daemon)
    assert client.get(3)[0] == 3
    settle(daemon)
    row1, = agg(daemon)
    assert row1["num_succeeded"] > row0["num_succeeded"]
    assert_identity(row1)
    assert "removed" not in daemon.logtext()


def test_engine_started_beside_a_live_daemon_leaves_its_filters(lab, web_servers, daemon, client,
                                                                workdir, no_stray_filters):
    # The engine's start-up cleanup itself asks who owns the namespace: another user of
    # the engine (here the test harness) removes nothing while a clonelbd lives.
    configure_web(daemon, [server("10.10.3.2", TAP_MAC)])
    wait_for(serving(client), what="VIP serving")
    before = tc_show(lab)
    h = Harness(lab, tempfile.mkdtemp(prefix="harness-", dir=workdir))
    try:
        assert tc_show(lab) == before
    finally:
        h.quit()
    assert "another clonelbd owns this network namespace" in h.log()
    assert tc_show(lab) == before
    settle(daemon)
    row0, = agg(daemon)
    assert client.get(2)[0] == 2
    settle(daemon)
    assert agg(daemon)[0]["num_succeeded"] > row0["num_succeeded"]


def test_claim_is_per_namespace_and_ends_with_its_owner(lab, web_servers, daemon, client, workdir,
                                                        no_stray_filters):
    configure_web(daemon, [server("10.10.3.2", TAP_MAC)])
    wait_for(serving(client), what="VIP serving")
    # Another network namespace is another owner's: a daemon there starts.
    p, sock = start_second(lab, workdir, role="tap")
    try:
        wait_for(lambda: p.poll() is not None or api_answers(sock), timeout=20,
                 what="the daemon in the tap namespace")
        assert p.poll() is None, p.communicate()
    finally:
        end_process(p)
    # The owner dies without cleaning up: its filters stay, its claim goes with it.
    daemon.stop(signal.SIGKILL)
    assert "handle 0xc10e" in tc_show(lab)[("srv0", "ingress")]
    d2 = Daemon(lab, tempfile.mkdtemp(prefix="third-", dir=workdir)).start()
    try:
        # It owns the namespace now, so the crashed run's filters are its to remove.
        wait_for(lambda: "removed 2 tc filter(s) left by an earlier run" in d2.logtext(), timeout=10,
                 what="the crash cleanup")
        assert all("handle 0xc10e" not in text for text in tc_show(lab).values())
    finally:
        d2.stop()


def test_live_counters_survive_more_profile_edits_than_counter_slots(lab, web_servers, daemon, client,
                                                                     no_stray_filters):
    d = daemon
    configure_web(d, [server("10.10.3.2", TAP_MAC)])
    # A second service whose profile is edited over and over (a script, an
    # orchestrator): each edit resets that service's counters.
    d.ok("POST", "/api/trafficcloneprofile",
         {"name": "edited", "clone_servers": [server("10.10.3.3", "02:de:ad:00:00:03")]})
    d.ok("POST", "/api/virtualservice", {
        "name": "other", "vip": [{"ip_address": {"addr": VIP, "type": "V4"}}],
        "services": [{"port": 8080}], "pool_ref": "web-pool", "traffic_clone_profile_ref": "edited"})
    wait_for(serving(client), what="VIP serving")
    assert client.get(5)[0] == 5
    settle(d)
    last, = agg(d)
    assert last["num_succeeded"] > 0

    # More edits than there are counter slots (8192), bounded in count and time.
    edits, deadline = 8300, time.monotonic() + 600
    for i in range(edits):
        assert time.monotonic() < deadline, f"only {i} edits in the time allowed"
        status, out = d.api("PATCH", "/api/trafficcloneprofile/edited", {"preserve_client_ip": i % 2 == 0})
        assert status == 200, out
        if i % 500 == 0 or i == edits - 1:
            # The live server's counters are never zeroed, and keep counting.
            row, = agg(d)
            assert row["num_total_pkts_cloned"] >= last["num_total_pkts_cloned"], (i, last, row)
            assert row["num_succeeded"] >= last["num_succeeded"], (i, last, row)
            last = row
            assert client.get(1)[0] == 1
    settle(d)
    before, = agg(d)
    assert before["num_succeeded"] >= last["num_succeeded"]
    assert client.get(5)[0] == 5
    settle(d)
    after, = agg(d)
    assert after["num_succeeded"] > before["num_succeeded"]
    assert_identity(after)
    # Nor shared: the edited service had no traffic, and counts nothing of the live one's.
    other = d.ok("GET", "/api/virtualservice/other/traffic_clone_stats")[0]["clone_srvr_stats"]
    assert len(other) == 1 and other[0]["num_total_pkts_cloned"] == 0 and other[0]["bytes"] == 0, other
