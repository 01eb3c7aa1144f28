"""Each workload's own network namespace on real processes, namespaces and nftables (as root).

Two workloads of two accounts, each in its namespace, made by the isolation module as a hub makes them:
the one scans the host's loopback, the gateway, the other's address and the host's own addresses; it
reaches the hub's API and the proxy's public port through the gateway and nothing else of the host or of
the other workload, while the hub (root, on the host) reaches both workloads' servers. A namespace whose
workload is gone is stale and removed at the next start; one still in use is kept; a range the machine
already uses stops the hub with a clear message; the hub's table goes when it closes the gateway. A start
takes a namespace made ahead (the same namespace, now under the workload's name, as private as any); one
that was replaced meanwhile is never taken, and one whose process is gone is removed at the next start.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from hub_ext.isolation import IsolationError
from hub_ext.isolation import netgate, netspares
from hub_ext.isolation.network import RUN_NETNS
from support import free_port, isolated_data_dir, need

pytestmark = pytest.mark.isolation

SCAN = r"""
import json, socket, sys
found = {}
for host, port in json.loads(sys.argv[1]):
    s = socket.socket(); s.settimeout(1.5)
    try:
        s.connect((host, port)); found[f"{host}:{port}"] = "open"
    except OSError as exc:
        found[f"{host}:{port}"] = type(exc).__name__
    finally:
        s.close()
print(json.dumps(found))
"""


def listen(host: str, port: int, preexec=None) -> subprocess.Popen:
    """An HTTP server on host:port (in a workload's namespaces with ``preexec``)."""
    return subprocess.Popen([sys.executable, "-m", "http.server", "--bind", host, str(port)], cwd="/",
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=preexec)


def reachable(host: str, port: int, timeout: float = 20) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection((host, port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.2)
    return False


def interface_gone(name: str, timeout: float = 20) -> bool:
    """The kernel destroys a namespace's interfaces a moment after its last user went."""
    deadline = time.monotonic() + timeout
    while os.path.exists(f"/sys/class/net/{name}") and time.monotonic() < deadline:
        time.sleep(0.1)
    return not os.path.exists(f"/sys/class/net/{name}")


def netns_of(pid: int) -> int:
    return os.stat(f"/proc/{pid}/ns/net").st_ino


@pytest.fixture
def hub(tmp_path):
    need(os.geteuid() == 0, "network namespaces need root (CI runs the suite as root)")
    need(shutil.which("nft") is not None and shutil.which("ip") is not None,
         "nftables and iproute2 are not installed (run `make test` as root)")
    data, iso = isolated_data_dir(tmp_path)
    hub_port, public_port = free_port(), free_port()
    iso.hub_api_url = f"http://127.0.0.1:{hub_port}/hub/api"
    iso.public_url = f"http://127.0.0.1:{public_port}/"
    servers = [listen("127.0.0.1", hub_port), listen("127.0.0.1", public_port)]
    assert netgate.open_gateway(iso, iso.networks, logging.getLogger("test")) == []
    yield iso, hub_port, public_port, servers
    for proc in servers:
        proc.kill()
        proc.wait()
    for name in iso.networks.names():
        iso.networks.remove(name)
    netgate.close_gateway(iso.networks)


def workload(iso, user: str, name: str):
    home = Path(iso.data_dir) / "homes" / user  # homes lie in the data dir (a workload's /tmp is its own)
    home.mkdir(parents=True, exist_ok=True)
    account = iso.account(user, ["research"], str(home))
    network = iso.create_network("job", name)
    return account, network, iso.preexec(account, None, str(home), network=network)


def test_a_workload_reaches_the_hub_and_the_proxy_and_nothing_else_of_the_host_or_another_workload(hub, tmp_path):
    iso, hub_port, public_port, servers = hub
    runner_port, other_port = free_port(), free_port()
    servers += [listen("127.0.0.1", runner_port), listen("0.0.0.0", other_port)]  # the runner; a service on all
    _, net_b, enter_b = workload(iso, "bob", "b-1")
    b_port, b_any = free_port(), free_port()
    b_server = listen("127.0.0.1", b_port, enter_b)  # on B's own loopback, as servers listen by default
    servers += [b_server, listen("0.0.0.0", b_any, enter_b)]
    account_a, net_a, enter_a = workload(iso, "alice", "a-1")
    assert net_a.address != net_b.address and net_a.gateway == net_b.gateway == "10.213.0.1"
    # the hub (root, on the host) reaches B's servers at its namespace's address
    assert reachable(net_b.address, b_port) and reachable(net_b.address, b_any)
    host_addresses = [a for a in subprocess.run(["hostname", "-I"], capture_output=True, text=True).stdout.split()
                      if ":" not in a]
    targets = [(net_a.gateway, hub_port), (net_a.gateway, public_port), (net_a.gateway, runner_port),
               ("127.0.0.1", hub_port), ("127.0.0.1", runner_port), (net_b.address, b_port), (net_b.address, b_any),
               (net_b.host, other_port), (net_a.host, other_port), (net_a.host, runner_port),
               (net_a.gateway, 5432), (net_a.host, 5432),  # PostgreSQL, where the suite has it
               *[(addr, other_port) for addr in host_addresses]]
    scan = subprocess.run([sys.executable, "-c", SCAN, json.dumps(targets)], capture_output=True, text=True,
                          timeout=120, preexec_fn=enter_a, cwd="/")
    assert scan.returncode == 0, scan.stderr
    found = json.loads(scan.stdout)
    opened = {k for k, v in found.items() if v == "open"}
    assert opened == {f"{net_a.gateway}:{hub_port}", f"{net_a.gateway}:{public_port}"}, found
    assert b_server.poll() is None  # B's server was there all along


def test_the_workloads_loopback_is_its_own_and_its_processes_share_it(hub, tmp_path):
    iso, *_ = hub
    _, net, enter = workload(iso, "carol", "c-1")
    port = free_port()
    server = listen("127.0.0.1", port, enter)
    try:
        scan = subprocess.run([sys.executable, "-c", SCAN, json.dumps([("127.0.0.1", port)])], capture_output=True,
                              text=True, timeout=60, preexec_fn=enter, cwd="/")
        deadline = time.monotonic() + 20
        while json.loads(scan.stdout)[f"127.0.0.1:{port}"] != "open" and time.monotonic() < deadline:
            time.sleep(0.3)  # the server may still be starting
            scan = subprocess.run([sys.executable, "-c", SCAN, json.dumps([("127.0.0.1", port)])],
                                  capture_output=True, text=True, timeout=60, preexec_fn=enter, cwd="/")
        assert json.loads(scan.stdout)[f"127.0.0.1:{port}"] == "open"
        assert netns_of(server.pid) != netns_of(os.getpid())
        with socket.socket() as s:  # the host's loopback does not have it
            s.settimeout(1)
            assert s.connect_ex(("127.0.0.1", port)) != 0
        six = subprocess.run(["ip", "-6", "-o", "addr", "show", "dev", net.veth], capture_output=True, text=True)
        assert six.stdout.strip() == ""  # no IPv6 on the host's end: nothing reaches the host over it
    finally:
        server.kill()
        server.wait()


def test_a_name_of_the_loopback_leads_to_the_gateway_with_its_host_intact(hub):
    """The apps' origins of the embedded default (``*.apps.localhost``) resolve to a workload's own loopback:
    their port there leads on to the gateway, and the server sees the name the workload asked for."""
    iso, *_ = hub
    apps_port = free_port()
    iso.host_services = [f"http://{{app}}--{{group}}.apps.localhost:{apps_port}"]
    seen = listen_echoing_host("127.0.0.1", apps_port)
    try:
        netgate.open_gateway(iso, iso.networks, logging.getLogger("test"))  # the hub's start: the new door
        _, net, enter = workload(iso, "frank", "f-1")
        ask = ("import urllib.request, sys; print(urllib.request.urlopen(urllib.request.Request("
               f"'http://127.0.0.1:{apps_port}/', headers={{'Host': 'mlflow--lab.apps.localhost:{apps_port}'}}),"
               " timeout=10).read().decode())")
        out = subprocess.run([sys.executable, "-c", ask], capture_output=True, text=True, timeout=60,
                             preexec_fn=enter, cwd="/")
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == f"mlflow--lab.apps.localhost:{apps_port} from {net.address}"
    finally:
        seen.kill()
        seen.wait()


def listen_echoing_host(host: str, port: int) -> subprocess.Popen:
    """A server on the host answering each GET with the Host header it got and the caller's address."""
    code = ("import http.server as h\nclass H(h.BaseHTTPRequestHandler):\n def do_GET(self):\n"
            "  b = (self.headers['Host'] + ' from ' + self.client_address[0]).encode()\n"
            "  self.send_response(200); self.send_header('Content-Length', str(len(b))); self.end_headers();"
            " self.wfile.write(b)\n"
            f"h.HTTPServer(({host!r}, {port}), H).serve_forever()")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert reachable(host, port)
    return proc


def test_stale_namespaces_go_at_start_and_live_ones_stay(hub, tmp_path):
    iso, *_ = hub
    _, live, enter = workload(iso, "dave", "live-1")
    stale = iso.create_network("job", "stale-1")  # its workload is gone (a crash before it started)
    sleeper = subprocess.Popen(["sleep", "300"], preexec_fn=enter, cwd="/")
    try:
        assert netns_of(sleeper.pid) == os.stat(f"{RUN_NETNS}/{live.name}").st_ino
        removed = iso.networks.remove_stale()
        assert removed == [stale.name]
        assert interface_gone(stale.veth)
        assert iso.existing_network("job", "live-1") == live  # found again, as a restarted runner does
    finally:
        sleeper.kill()
        sleeper.wait()
    iso.remove_network("job", "live-1")
    assert interface_gone(live.veth)


def test_a_range_the_machine_uses_stops_the_hub_and_the_rules_go_when_no_workload_is_left(hub):
    iso, *_ = hub
    table = f"hubfront-{iso.tag}"
    assert subprocess.run(["nft", "list", "table", "inet", table], capture_output=True).returncode == 0
    dummy = f"hfx{uuid.uuid4().hex[:8]}"  # not a Hubfront veth name: someone else's interface
    iso.network_range = "10.214.0.0/16"
    subprocess.run(["ip", "link", "add", dummy, "type", "veth", "peer", "name", f"{dummy}p"], check=True)
    try:
        subprocess.run(["ip", "addr", "add", "10.214.3.1/24", "dev", dummy], check=True)
        with pytest.raises(IsolationError, match=r"Isolation.network_range 10.214.0.0/16 is already used on this "
                                                 r"machine \(address 10.214.3.1/24 on " + dummy):
            netgate.open_gateway(iso, iso.networks, logging.getLogger("test"))
    finally:
        subprocess.run(["ip", "link", "delete", dummy], check=True)
    iso.network_range = "10.213.0.0/16"
    _, _, enter = workload(iso, "erin", "e-1")
    sleeper = subprocess.Popen(["sleep", "300"], preexec_fn=enter, cwd="/")
    try:  # a workload outlives the hub (notebooks and jobs do): the rules stay for it
        assert netgate.close_gateway(iso.networks) is False
        assert subprocess.run(["nft", "list", "table", "inet", table], capture_output=True).returncode == 0
    finally:
        sleeper.kill()
        sleeper.wait()
    assert netgate.close_gateway(iso.networks) is True  # none left: the table goes, and its namespaces
    assert subprocess.run(["nft", "list", "table", "inet", table], capture_output=True).returncode != 0
    assert iso.networks.names(spares=True) == []  # the ones made ahead too


def made_ahead(iso, timeout: float = 20) -> str:
    """The name of a namespace made ahead for this hub, once one is ready."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        spares = netspares.ready(iso.networks)
        if spares:
            assert set(spares) <= set(iso.networks.names(spares=True)) - set(iso.networks.names())
            return spares[0]
        time.sleep(0.05)
    raise AssertionError("no namespace was made ahead")


def test_a_start_takes_a_namespace_made_ahead_and_it_is_as_private_as_any(hub):
    iso, hub_port, public_port, servers = hub
    other_port = free_port()
    servers.append(listen("0.0.0.0", other_port))
    workload(iso, "fay", "f-1")  # made at its start; one more is made ahead meanwhile
    spare = made_ahead(iso)
    was = os.stat(f"{RUN_NETNS}/{spare}").st_ino
    _, net, enter = workload(iso, "fay", "f-2")
    assert net.name == iso.networks.ns_prefix + iso.cgroup_name("job", "f-2")
    assert os.stat(net.path).st_ino == was and not os.path.exists(f"{RUN_NETNS}/{spare}")  # taken, renamed
    port = free_port()
    servers.append(listen("127.0.0.1", port, enter))
    assert reachable(net.address, port)  # the hub reaches its server
    targets = [(net.gateway, hub_port), (net.gateway, other_port), (net.host, other_port), ("127.0.0.1", hub_port)]
    scan = subprocess.run([sys.executable, "-c", SCAN, json.dumps(targets)], capture_output=True, text=True,
                          timeout=120, preexec_fn=enter, cwd="/")
    opened = {k for k, v in json.loads(scan.stdout).items() if v == "open"}
    assert opened == {f"{net.gateway}:{hub_port}"}, scan.stdout
    assert iso.existing_network("job", "f-2") == net  # found again by its name, as a restarted runner does
    ahead = made_ahead(iso)
    assert ahead != spare  # another is made ahead
    removed = iso.networks.remove_stale()  # (f-1, whose workload never ran, goes)
    assert os.path.exists(f"{RUN_NETNS}/{ahead}") and ahead not in removed  # a live process's: no workload's


def test_a_namespace_made_ahead_that_was_replaced_or_whose_process_is_gone_is_never_used(hub):
    iso, *_ = hub
    workload(iso, "gus", "g-1")
    spare = made_ahead(iso)
    # someone put another namespace in its place: the start must not take it (it makes its own)
    subprocess.run(["ip", "netns", "delete", spare], check=True)
    subprocess.run(["ip", "netns", "add", spare], check=True)
    impostor = os.stat(f"{RUN_NETNS}/{spare}").st_ino
    _, net, enter = workload(iso, "gus", "g-2")
    assert os.stat(net.path).st_ino != impostor
    port = free_port()
    server = listen("127.0.0.1", port, enter)
    try:
        assert reachable(net.address, port)  # a namespace made at its start, complete
    finally:
        server.kill()
        server.wait()
    # one left by a process that is gone (a runner killed) is removed at the hub's next start
    gone = f"{iso.networks.ns_prefix}spare-{2**22 + 7}-0"
    subprocess.run(["ip", "netns", "add", gone], check=True)
    live = made_ahead(iso)
    removed = iso.networks.remove_stale()  # (g-1 and g-2, whose processes are gone, too)
    assert not os.path.exists(f"{RUN_NETNS}/{gone}") and gone not in removed  # a workload's are listed
    assert os.path.exists(f"{RUN_NETNS}/{live}")  # this process's, ready, stay


def test_the_suites_end_removes_every_hubs_spares_whose_process_is_gone(hub):
    iso, *_ = hub
    netspares.prime(iso.networks)
    live = made_ahead(iso)  # this process's, ready
    other_hubs = f"hf-{os.urandom(4).hex()}-spare-{2**22 + 9}-0"  # a hub killed outright, never started again
    workloads = f"hf-{os.urandom(4).hex()}-job-{2**22 + 9}"  # a workload's namespace is never such a spare
    try:
        for name in (other_hubs, workloads):
            subprocess.run(["ip", "netns", "add", name], check=True)
        removed = netspares.remove_orphans()
        assert other_hubs in removed and workloads not in removed and live not in removed
        assert not os.path.exists(f"{RUN_NETNS}/{other_hubs}")
        assert os.path.exists(f"{RUN_NETNS}/{workloads}") and os.path.exists(f"{RUN_NETNS}/{live}")
    finally:
        for name in (other_hubs, workloads):
            subprocess.run(["ip", "netns", "delete", name], capture_output=True)
