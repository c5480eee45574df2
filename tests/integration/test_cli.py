"""The clonelb shell (issue 2 items 3 and 4): the reference transcript, modes, show, errors, exit codes."""
import json
import os
import pty
import re
import select
import subprocess
import termios
import time

import pytest

from conftest import CLONELB, TAP_IP, TAP_SUBNET, wait_for

# docs/architecture.md section 1.2, as the shell must print it with --echo (prompt + command),
# minus the stats table, which is checked against the API's numbers below.
TRANSCRIPT = """\
[admin:clonelb]: > configure trafficcloneprofile ids-profile
[admin:clonelb]: trafficcloneprofile> clone_servers
New object being created
[admin:clonelb]: trafficcloneprofile:clone_servers> ip_address 10.10.3.2
[admin:clonelb]: trafficcloneprofile:clone_servers> subnet 10.10.3.0/24
[admin:clonelb]: trafficcloneprofile:clone_servers> mac 4e:e9:4e:2d:b9:bb
[admin:clonelb]: trafficcloneprofile:clone_servers> save
[admin:clonelb]: trafficcloneprofile> preserve_client_ip
[admin:clonelb]: trafficcloneprofile> save
[admin:clonelb]: > configure virtualservice web
[admin:clonelb]: virtualservice> traffic_clone_profile_ref ids-profile
[admin:clonelb]: virtualservice> save
[admin:clonelb]: > show virtualservice web traffic_clone_stats
"""


def commands(transcript):
    """The commands typed in a transcript (text after the prompt's "> ")."""
    return [line.split("> ", 1)[1] for line in transcript.splitlines() if line.startswith("[")]


def run_script(d, text, *args, check=None):
    """Runs text as a clonelb -f script (from standard input)."""
    return d.cli(*args, "-f", "-", input=text, check=check)


def table_rows(text):
    """The (field, value) rows of +---+ tables, the field keeping its indentation."""
    rows = []
    for line in text.splitlines():
        m = re.fullmatch(r"\| (.*?) \| (.*?) \|", line)
        if m and m.group(1).strip() != "Field":
            rows.append((m.group(1).rstrip(), m.group(2).rstrip()))
    return rows


@pytest.fixture
def web(daemon):
    """A pool and a virtual service "web" without a clone profile, made through the shell."""
    run_script(daemon, """
configure pool pool1
servers 10.10.2.11
port 80
save
servers 10.10.2.12
save
save
configure virtualservice web
vip
ip_address 10.10.1.10
save
services 80
save
pool_ref pool1
save
""", check=0)
    return daemon


@pytest.fixture
def ids(web):
    """web plus the reference transcript's profile ids-profile, assigned to web."""
    r = run_script(web, "\n".join(commands(TRANSCRIPT)[:-1]) + "\n", check=0)
    assert r.stderr == ""
    return web


def test_reference_transcript(web):
    d = web
    r = d.cli("--echo", "-f", "-", input="\n".join(commands(TRANSCRIPT)) + "\n", check=0)
    assert r.stderr == ""
    assert r.stdout.startswith(TRANSCRIPT), r.stdout

    prof = d.ok("GET", "/api/trafficcloneprofile/ids-profile")
    assert prof["clone_servers"] == [{
        "ip_address": {"addr": "10.10.3.2", "type": "V4"},
        "subnet": {"ip_addr": {"addr": "10.10.3.0", "type": "V4"}, "mask": 24},
        "mac": "4e:e9:4e:2d:b9:bb"}]
    assert prof["preserve_client_ip"] is True
    # Answers write references as URLs; ?include_name appends the name.
    assert d.ok("GET", "/api/virtualservice/web?include_name")["traffic_clone_profile_ref"].endswith(
        "#ids-profile")

    # The stats table: the borders and layout of docs/architecture.md section 1.2, values from the API.
    table = r.stdout[len(TRANSCRIPT):]
    lines = table.splitlines()
    rule = lines[0]
    assert re.fullmatch(r"\+-+\+-+\+", rule), table
    assert lines[2] == rule and lines[-1] == rule, table
    assert re.fullmatch(r"\| Field +\| Value +\|", lines[1]), table
    assert all(len(line) == len(rule) for line in lines), table
    stats = d.ok("GET", "/api/virtualservice/web/traffic_clone_stats")[0]
    srv = stats["clone_srvr_stats"][0]
    rows = table_rows(table)
    want = [("se_uuid", stats["se_uuid"]), ("proc_id", "PROC_Aggregate"), ("clone_srvr_stats[1]", ""),
            ("  ip", "10.10.3.2")] + [(f"  {k}", str(srv[k])) for k in (
                "num_total_pkts_cloned", "num_mbuf_alloc_failed", "num_driver_failures", "num_succeeded")]
    for row in want:
        assert row in rows, (row, table)
    assert [f for f, _ in rows][:4] == ["se_uuid", "proc_id", "clone_srvr_stats[1]", "  ip"], table


def test_show_json_is_the_api_json(ids):
    d = ids
    r = d.cli("--json", "-c", "show trafficcloneprofile ids-profile", check=0)
    assert json.loads(r.stdout) == d.ok("GET", "/api/trafficcloneprofile/ids-profile")
    r = d.cli("-c", "show virtualservice web traffic_clone_stats --json", check=0)
    assert json.loads(r.stdout) == d.ok("GET", "/api/virtualservice/web/traffic_clone_stats")
    r = d.cli("--json", "-c", "show pool", check=0)
    assert [o["name"] for o in json.loads(r.stdout)["results"]] == ["pool1"]


def test_show_tables(ids):
    d = ids
    r = d.cli("-c", "show trafficcloneprofile ids-profile", check=0)
    rows = table_rows(r.stdout)
    prof = d.ok("GET", "/api/trafficcloneprofile/ids-profile")
    assert rows[:2] == [("name", "ids-profile"), ("uuid", prof["uuid"])]
    assert ("clone_servers[1]", "") in rows
    assert ("  ip_address", "10.10.3.2") in rows and ("  subnet", "10.10.3.0/24") in rows
    assert ("  mac", "4e:e9:4e:2d:b9:bb") in rows and ("preserve_client_ip", "True") in rows
    r = d.cli("-c", "show trafficcloneprofile", check=0)
    assert ("ids-profile", prof["uuid"]) in table_rows(r.stdout)
    r = d.cli("-c", "show virtualservice web runtime", check=0)
    runtime = d.ok("GET", "/api/virtualservice/web/runtime")
    assert table_rows(r.stdout)[0] == (next(iter(runtime)), str(next(iter(runtime.values()))))


def test_edit_existing_object(ids, tls_cert):
    d = ids
    r = run_script(d, f"""
configure healthmonitor hm
type HEALTH_MONITOR_TCP
save
configure pool pool1
servers 10.10.2.11
port 8080
save
no servers 10.10.2.12
health_monitor_refs hm
lb_algorithm LB_ALGORITHM_LEAST_CONNECTIONS
save
configure trafficcloneprofile ids-profile
clone_servers 10.10.3.2
no mac
save
no preserve_client_ip
save
configure sslkeyandcertificate cert
certificate @{tls_cert["cert_path"]}
key @{tls_cert["key_path"]}
save
""", check=0)
    assert "Overwriting the previously entered value for lb_algorithm" in r.stdout
    pool = d.ok("GET", "/api/pool/pool1?include_name")
    assert pool["servers"] == [{"ip": {"addr": "10.10.2.11", "type": "V4"}, "port": 8080, "enabled": True}]
    assert [r.split("#")[1] for r in pool["health_monitor_refs"]] == ["hm"]
    assert pool["lb_algorithm"] == "LB_ALGORITHM_LEAST_CONNECTIONS"
    prof = d.ok("GET", "/api/trafficcloneprofile/ids-profile")
    assert "mac" not in prof["clone_servers"][0] and prof["preserve_client_ip"] is False
    cert = d.ok("GET", "/api/sslkeyandcertificate/cert")
    assert cert["certificate"]["certificate"] == tls_cert["certificate"]
    assert cert["certificate"]["subject"]["common_name"] == "web.lab"
    r = d.cli("-c", "show sslkeyandcertificate cert", check=0)
    assert tls_cert["key"].splitlines()[1] not in r.stdout and "BEGIN CERTIFICATE" in r.stdout


def test_cancel_exit_and_unsaved_block(ids):
    d = ids
    before = d.everything()
    r = run_script(d, """
configure trafficcloneprofile ids-profile
preserve_client_ip false
clone_servers 10.10.3.2
mac 02:00:00:00:00:01
cancel
cancel
configure pool pool1
no servers 10.10.2.11
exit
""", check=0)
    assert "unsaved changes to pool pool1 dropped" in r.stderr
    r = run_script(d, "configure pool pool1\nno servers 10.10.2.11\n", check=1)
    assert "Warning: pool pool1 not saved (end of input): changes dropped" in r.stderr
    r = d.cli("-c", "configure pool newpool", "-c", "servers 10.10.2.30", check=1)
    assert "pool newpool not saved" in r.stderr
    assert d.everything() == before


BAD = [
    # (script, text the error must contain)
    ("configure trafficcloneprofile ids-profile\nclone_servers\nip_address 10.0.0.256\n"
     "subnet 10.10.3.0/24\nsave\nsave\n",
     "Error: clone_servers[2].ip_address: invalid IPv4 address '10.0.0.256'"),
    ("configure trafficcloneprofile ids-profile\nclone_servers 10.10.3.2\nmac 4e:e9:4e:2d:b9\nsave\nsave\n",
     'Error: clone_servers[1].mac: invalid MAC address "4e:e9:4e:2d:b9"'),
    ("configure trafficcloneprofile p2\nclone_servers 10.10.3.5\nsubnet 10.10.3.0/33\nsave\nsave\n",
     "Error: clone_servers[1].subnet.mask: invalid prefix length 33"),
    ("configure trafficcloneprofile ids-profile\nbogus 1\nsave\n",
     "Error: unknown field 'bogus' of trafficcloneprofile"),
    ("configure trafficcloneprofile ids-profile\nclone_servers 10.10.3.2\nbogus 1\nsave\nsave\n",
     "Error: unknown field 'bogus' of clone_servers"),
    ("configure trafficcloneprofile ids-profile\nclone_servers\nip_address 10.10.3.2\n"
     "subnet 10.10.3.0/24\nsave\nsave\n",
     "Error: clone_servers: duplicate entry 10.10.3.2"),
    # The store's own checks, passed through as the API words them.
    ("configure trafficcloneprofile p2\nclone_servers 10.99.0.2\nsubnet 10.99.0.0/24\nsave\nsave\n",
     "Error: clone_servers[1].subnet: 10.99.0.0/24 is not the subnet of any interface"),
    ("configure trafficcloneprofile p2\nclone_servers 10.10.3.255\nsubnet 10.10.3.0/24\nsave\nsave\n",
     "Error: clone_servers[1].ip_address: 10.10.3.255 is the broadcast address of subnet 10.10.3.0/24"),
    ("configure trafficcloneprofile p2\nclone_servers 10.10.3.1\nnetwork_ref tap0\nsave\nsave\n",
     "Error: clone_servers[1].ip_address: 10.10.3.1 is an address of this SE (interface 'tap0')"),
    ("configure trafficcloneprofile p2\nclone_servers 10.10.9.2\nnetwork_ref tap0\nsave\nsave\n",
     "Error: clone_servers[1].ip_address: 10.10.9.2 is not in a subnet of interface 'tap0'"),
    ("configure virtualservice web\ntraffic_clone_profile_ref missing\nsave\n",
     "Error: traffic_clone_profile_ref: trafficcloneprofile 'missing' does not exist"),
    ("delete trafficcloneprofile ids-profile\n",
     "Error: trafficcloneprofile 'ids-profile' is in use by virtualservice 'web'"),
    ("configure virtualservice web\nservices 443\nenable_ssl\nsave\nsave\n",
     "Error: services[2].enable_ssl: port 443 terminates TLS but ssl_key_and_certificate_refs is empty"),
    ("configure pool pool1\nservers 10.10.2.11\nport 70000\nsave\nsave\n",
     "Error: servers[1].port: invalid value 70000"),
    ("configure pool pool1\nlb_algorithm FASTEST\nsave\n",
     'Error: lb_algorithm: invalid value "FASTEST"'),
    ("configure nosuchtype x\n", "Error: unknown object type 'nosuchtype'"),
    ("configure pool pool1\nsave\nfrobnicate\n", "Error: unknown command 'frobnicate'"),
]


@pytest.mark.parametrize("script,needle", BAD, ids=[b[1][7:50] for b in BAD])
def test_bad_input_is_refused_and_changes_nothing(ids, script, needle):
    d = ids
    before = d.everything()
    shown = d.cli("--json", "-c", "show trafficcloneprofile ids-profile", check=0).stdout
    r = run_script(d, script, check=1)
    assert needle in r.stderr, r.stderr
    assert "  at <stdin> line " in r.stderr
    assert d.everything() == before
    assert d.cli("--json", "-c", "show trafficcloneprofile ids-profile", check=0).stdout == shown


def test_eleventh_clone_server(ids):
    d = ids
    lines = ["configure trafficcloneprofile ten"]
    for i in range(2, 12):
        lines += [f"clone_servers 10.10.3.{i}", f"subnet {TAP_SUBNET}", "save"]
    run_script(d, "\n".join(lines[:-3] + ["save"]) + "\n", check=0)  # 9 servers
    assert len(d.ok("GET", "/api/trafficcloneprofile/ten")["clone_servers"]) == 9
    before = d.everything()
    r = run_script(d, "\n".join(["configure trafficcloneprofile ten"] + lines[-3:] +
                                ["clone_servers 10.10.3.99", f"subnet {TAP_SUBNET}", "save", "save"]) + "\n",
                   check=1)
    assert "Error: clone_servers: 11 entries, at most 10 allowed" in r.stderr
    assert d.everything() == before
    run_script(d, "\n".join(["configure trafficcloneprofile ten"] + lines[-3:] + ["save"]) + "\n", check=0)
    assert len(d.ok("GET", "/api/trafficcloneprofile/ten")["clone_servers"]) == 10


def test_later_commands_run_after_a_failure(ids):
    d = ids
    r = d.cli("-c", "delete trafficcloneprofile ids-profile", "-c", "configure healthmonitor hm2",
              "-c", "type HEALTH_MONITOR_HTTP", "-c", "save", check=1)
    assert "in use by virtualservice 'web'" in r.stderr and "  at -c #1:" in r.stderr
    assert d.ok("GET", "/api/healthmonitor/hm2")["type"] == "HEALTH_MONITOR_HTTP"
    d.cli("-c", "delete healthmonitor hm2", check=0)
    assert d.api("GET", "/api/healthmonitor/hm2")[0] == 404


def test_duplicate_name_from_a_concurrent_create(ids):
    """Two shells create the same name: the second save gets the API's 409, nothing changes."""
    d = ids
    p = subprocess.Popen([CLONELB, "--socket", d.socket, "-f", "-"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    p.stdin.write("configure healthmonitor dup\ntype HEALTH_MONITOR_HTTP\nwhere\n")
    p.stdin.flush()
    assert "healthmonitor dup" in p.stdout.readline()  # the shell has loaded (not found) dup
    d.cli("-c", "configure healthmonitor dup", "-c", "type HEALTH_MONITOR_TCP", "-c", "save", check=0)
    before = d.everything()
    out, err = p.communicate("save\n", timeout=60)
    assert p.returncode == 1
    assert "Error: name: healthmonitor 'dup' already exists in tenant 'admin'" in err
    assert d.everything() == before


def test_tenants(ids):
    d = ids
    d.ok("POST", "/api/tenant", {"name": "blue"})
    r = d.cli("--tenant", "blue", "-c", "configure trafficcloneprofile blue-ids", "-c", "clone_servers",
              "-c", f"ip_address {TAP_IP}", "-c", f"subnet {TAP_SUBNET}", "-c", "save", "-c", "save", check=0)
    assert d.api("GET", "/api/trafficcloneprofile/blue-ids", headers={"X-Avi-Tenant": "blue"})[0] == 200
    assert d.api("GET", "/api/trafficcloneprofile/blue-ids")[0] == 404
    before = d.everything()
    r = d.cli("-c", "configure virtualservice web", "-c", "traffic_clone_profile_ref blue-ids",
              "-c", "save", check=1)
    assert "trafficcloneprofile 'blue-ids'" in r.stderr
    assert d.everything() == before


def test_no_daemon(workdir):
    r = subprocess.run([CLONELB, "--socket", os.path.join(workdir, "none.sock"), "-c", "show pool"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1
    assert r.stderr.startswith("Error: cannot talk to clonelbd on ") and "none.sock" in r.stderr


def test_bad_flags():
    r = subprocess.run([CLONELB, "--bogus"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "usage: clonelb" in r.stderr


class Pty:
    """clonelb in a pseudo-terminal, so that libedit runs as for a person."""

    def __init__(self, socket):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.environ["HOME"] = os.path.dirname(socket)
            os.environ["TERM"] = "xterm"
            os.execv(CLONELB, [CLONELB, "--socket", socket])
        self.buf = b""

    def expect(self, text, timeout=30):
        """Reads until text (bytes or str) has arrived; returns what came up to it and drops it."""
        want = text.encode() if isinstance(text, str) else text
        deadline = time.monotonic() + timeout
        while want not in self.buf:
            left = deadline - time.monotonic()
            assert left > 0, f"no {want!r} in {self.buf[-400:]!r}"
            r, _, _ = select.select([self.fd], [], [], left)
            if r:
                try:
                    self.buf += os.read(self.fd, 4096)
                except OSError:
                    break
                # What a person would read: no cursor moves, carriage returns or bells.
                self.buf = re.sub(rb"\x1b\[[0-9;?]*[A-Za-z]|[\r\x07]", b"", self.buf)
        assert want in self.buf, f"no {want!r} in {self.buf[-400:]!r}"
        before, self.buf = self.buf.split(want, 1)
        return before.decode(errors="replace")

    def send(self, text, timeout=30):
        """Types text once libedit has the terminal in raw mode (it reads keys, not lines)."""
        deadline = time.monotonic() + timeout
        while termios.tcgetattr(self.fd)[3] & termios.ICANON:
            assert time.monotonic() < deadline, "the shell never put the terminal in raw mode"
            time.sleep(0.01)
        os.write(self.fd, text.encode())

    def close(self, timeout=30):
        """Waits for the shell to end (it would die of SIGHUP if the terminal went first)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            r, _, _ = select.select([self.fd], [], [], deadline - time.monotonic())
            try:
                if r and not os.read(self.fd, 4096):
                    break
            except OSError:  # EIO: the other side has closed
                break
        pid, status = os.waitpid(self.pid, os.WNOHANG)
        if pid == 0:
            os.kill(self.pid, 9)
            _, status = os.waitpid(self.pid, 0)
        os.close(self.fd)
        return os.waitstatus_to_exitcode(status)


def test_interactive_prompts_and_tab_completion(ids):
    d = ids
    t = Pty(d.socket)
    try:
        t.expect("[admin:clonelb]: > ")
        t.send("conf\t")  # verb
        t.expect("configure ")
        t.send("trafficc\t")  # type
        t.expect("trafficcloneprofile ")
        t.send("ids\t")  # existing object name, asked from the API
        t.expect("ids-profile ")
        t.send("\r")
        t.expect("[admin:clonelb]: trafficcloneprofile> ")
        t.send("no clone_servers\x03")  # Ctrl-C drops the line, not the mode
        t.expect("[admin:clonelb]: trafficcloneprofile> ")
        t.send("preserve_c\t")  # field name
        t.expect("preserve_client_ip ")
        t.send("fa\t")  # bool value
        t.expect("false ")
        t.send("\r")
        t.expect("Overwriting the previously entered value for preserve_client_ip")
        t.send("clone_servers 10.10\t")  # key of an existing element
        t.expect("10.10.3.2 ")
        t.send("\r")
        t.expect("[admin:clonelb]: trafficcloneprofile:clone_servers> ")
        t.send("exit\r")
        t.expect("[admin:clonelb]: trafficcloneprofile> ")
        t.send("save\r")
        t.expect("[admin:clonelb]: > ")
        t.send("exit\r")
    finally:
        code = t.close()
    assert code == 0
    assert d.ok("GET", "/api/trafficcloneprofile/ids-profile")["preserve_client_ip"] is False


# ---- issue 13: filters, snaplen, budget, encapsulation, health -----------------------

def test_profile_filters_snaplen_budget_through_sub_modes(ids):
    d = ids
    r = run_script(d, """
configure trafficcloneprofile ids-profile
filters 20
action CLONE_FILTER_ACCEPT
save
filters 10
action CLONE_FILTER_REJECT
direction CLONE_DIR_TO_SERVER
client_prefix 10.10.1.0/24
server_port_start 80
server_port_end 80
save
snaplen 128
max_bytes_per_flow 4096
budget_action CLONE_BUDGET_STOP
save
""", check=0)
    assert r.stdout.count("New object being created") == 2 and r.stderr == "", r
    prof = d.ok("GET", "/api/trafficcloneprofile/ids-profile")
    assert prof["filters"] == [
        {"rule_number": 20, "action": "CLONE_FILTER_ACCEPT", "direction": "CLONE_DIR_BOTH"},
        {"rule_number": 10, "action": "CLONE_FILTER_REJECT", "direction": "CLONE_DIR_TO_SERVER",
         "client_prefix": {"ip_addr": {"addr": "10.10.1.0", "type": "V4"}, "mask": 24},
         "server_port_start": 80, "server_port_end": 80}]
    assert (prof["snaplen"], prof["max_bytes_per_flow"], prof["budget_action"]) == \
        (128, 4096, "CLONE_BUDGET_STOP")
    rows = table_rows(d.cli("-c", "show trafficcloneprofile ids-profile", check=0).stdout)
    for row in [("filters[2]", ""), ("  rule_number", "10"), ("  client_prefix", "10.10.1.0/24"),
                ("  action", "CLONE_FILTER_REJECT"), ("snaplen", "128"),
                ("budget_action", "CLONE_BUDGET_STOP")]:
        assert row in rows, (row, rows)
    # A rule is opened by its number, edited, and removed by it.
    run_script(d, "configure trafficcloneprofile ids-profile\nfilters 10\nno server_port_end\n"
               "server_port_start 443\nsave\nno filters 20\nsave\n", check=0)
    prof = d.ok("GET", "/api/trafficcloneprofile/ids-profile")
    assert [(f["rule_number"], f.get("server_port_start"), f.get("server_port_end"))
            for f in prof["filters"]] == [(10, 443, None)]


FILTER_BAD = [
    ("configure trafficcloneprofile ids-profile\nfilters 10\naction CLONE_FILTER_ACCEPT\n"
     "server_port_start 8080\nserver_port_end 80\nsave\nsave\n",
     "Error: filters[1].server_port_end: 80 is below server_port_start 8080"),
    ("configure trafficcloneprofile ids-profile\nfilters 10\naction CLONE_FILTER_ACCEPT\nsave\n"
     "filters 20\naction CLONE_FILTER_ACCEPT\nrule_number 10\nsave\nsave\n",
     "Error: filters: duplicate entry 10"),
    ("configure trafficcloneprofile ids-profile\nfilters 10\naction CLONE_FILTER_ACCEPT\n"
     "client_prefix 10.10.1.7/24\nsave\nsave\n",
     "Error: filters[1].client_prefix: 10.10.1.7/24 has host bits set (the network is 10.10.1.0/24)"),
    ("configure trafficcloneprofile ids-profile\nfilters 10\naction CLONE_FILTER_MAYBE\nsave\nsave\n",
     'Error: filters[1].action: invalid value "CLONE_FILTER_MAYBE"'),
    ("configure trafficcloneprofile ids-profile\nsnaplen 12\nsave\n",
     "Error: snaplen: 12 is shorter than a minimal frame"),
]


@pytest.mark.parametrize("script,needle", FILTER_BAD, ids=[b[1][7:40] for b in FILTER_BAD])
def test_bad_filters_refused_in_the_shell(ids, script, needle):
    d = ids
    before = d.everything()
    r = run_script(d, script, check=1)
    assert needle in r.stderr, r.stderr
    assert d.everything() == before


def test_stats_table_shows_health_and_reasons(ids):
    d = ids

    def looked():
        st = d.ok("GET", "/api/virtualservice/web/traffic_clone_stats")[0]["clone_srvr_stats"][0]
        return st["oper_state"] != "OPER_UNKNOWN" and st
    st = wait_for(looked, what="the health watcher's first look")
    assert (st["oper_state"], st["health_check"]) == ("OPER_UP", "none"), st  # a configured MAC
    rows = table_rows(d.cli("-c", "show virtualservice web traffic_clone_stats", check=0).stdout)
    for k in ("oper_state", "health_check", "num_no_mac", "num_no_interface", "num_filtered",
              "num_truncated", "num_budget_skipped", "num_mtu_truncated", "num_failover"):
        assert k in st, (k, st)
        assert (f"  {k}", str(st[k])) in rows, (k, rows)


def test_clone_server_encapsulation_in_its_sub_mode(ids):
    d = ids
    r = run_script(d, """
configure trafficcloneprofile ids-profile
clone_servers 10.10.3.7
subnet 10.10.3.0/24
encap_type CLONE_ENCAP_VXLAN
vni 5000
dst_port 4790
save
clone_servers 10.10.3.8
subnet 10.10.3.0/24
encap_type CLONE_ENCAP_ERSPAN_III
erspan_session_id 7
save
save
""", check=0)
    assert r.stderr == "", r.stderr
    cs = d.ok("GET", "/api/trafficcloneprofile/ids-profile")["clone_servers"]
    assert [(c["ip_address"]["addr"], c.get("encap_type"), c.get("vni"), c.get("dst_port"),
             c.get("erspan_session_id")) for c in cs[1:]] == [
        ("10.10.3.7", "CLONE_ENCAP_VXLAN", 5000, 4790, None),
        ("10.10.3.8", "CLONE_ENCAP_ERSPAN_III", None, None, 7)]
    rows = table_rows(d.cli("-c", "show trafficcloneprofile ids-profile", check=0).stdout)
    assert ("  encap_type", "CLONE_ENCAP_VXLAN") in rows and ("  vni", "5000") in rows, rows
    before = d.everything()
    for line, needle in (("vni 16777216", "Error: clone_servers[2].vni: invalid value 16777216"),
                         ("erspan_session_id 1024",
                          "Error: clone_servers[2].erspan_session_id: invalid value 1024"),
                         ("encap_type CLONE_ENCAP_GRE", 'Error: clone_servers[2].encap_type: invalid value "CLONE_ENCAP_GRE"')):
        r = run_script(d, f"configure trafficcloneprofile ids-profile\nclone_servers 10.10.3.7\n{line}\n"
                       "save\nsave\n", check=1)
        assert needle in r.stderr, (line, r.stderr)
    assert d.everything() == before
