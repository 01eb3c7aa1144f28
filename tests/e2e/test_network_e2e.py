"""Network isolation end to end (as root): the real hub, proxy and runner; a job of group "red" scans every
port that listens on the host and in every other workload's namespace, and reaches only the hub's API and
the proxy's public port, and through the proxy a public deployment of group "blue" (its private one
answers 401 there, as to anyone without a client token). Blue's private replica, blue's notebook server and
a web server started inside that notebook stay out of its reach, as do the runner's port, the proxy's API
port and PostgreSQL. A killed hub leaves no namespace of a dead workload behind.
"""

from __future__ import annotations

import json
import os
import shlex
import socket
import subprocess
import time
from urllib.parse import urlsplit

import psutil
import pytest
import requests

from hub_ext.isolation.network import RUN_NETNS
from support import (
    catalog_hub, make_groups, need, proxy_command, run_in_server, stop_leftover_servers, wait_for_server,
)
from test_deployments_e2e import create
from test_deployments_e2e import wait as wait_deployed
from test_jobs_e2e import log_of, submit, wait

pytestmark = [pytest.mark.e2e, pytest.mark.isolation]

PASSWORD = "net-Passw0rd!"
# every target at once (a dropped packet only times out): which ones accept a connection
SCAN = r"""
import asyncio, json, os, sys, urllib.request, urllib.error

async def one(host, port):
    try:
        _, w = await asyncio.wait_for(asyncio.open_connection(host, port), 4)
        w.close()
        return "open"
    except (OSError, asyncio.TimeoutError) as exc:
        return type(exc).__name__

async def main(targets):
    found = await asyncio.gather(*(one(h, p) for h, p in targets))
    return {f"{h}:{p}": f for (h, p), f in zip(targets, found)}

def status(url, token=None):
    headers = {"Authorization": f"token {token}"} if token else {}
    try:
        return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10).status
    except urllib.error.HTTPError as exc:
        return exc.code

result = {"scan": asyncio.run(main(json.load(open(sys.argv[1])))), "api_url": os.environ["JUPYTERHUB_API_URL"]}
api, public = os.environ["JUPYTERHUB_API_URL"], os.environ["HUBFRONT_PUBLIC_URL"].rstrip("/")
result["api"] = status(api.rstrip("/") + "/")
result["public"] = status(public + "/deployments/bpub/")
result["private"] = status(public + "/deployments/bpriv/")
token = os.environ.get("JUPYTERHUB_API_TOKEN", "")  # its owner's, for the portal's API
result["me"] = (status(api.rstrip("/") + "/portal/me", token), status(api.rstrip("/") + "/portal/me"))
result["token"] = token
print("RESULT " + json.dumps(result))
"""


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    need(proxy_command() is not None, "configurable-http-proxy is not installed (run `make test`)")
    need(os.geteuid() == 0, "network namespaces need root (as in CI)")
    hub = catalog_hub(tmp_path_factory.mktemp("net-e2e"), [{"name": "tiny", "cpu": "500m", "memory": "512Mi"}],
                      "c.LocalDeployments.check_interval = 0.3\nc.HubfrontLicense.free_tier_max_deployments = 20\n")
    hub.start()
    try:
        policy = {"instance_types": ["tiny", "cpu-small"], "default_instance_type": "tiny", "deployments_enabled": True}
        make_groups(hub, {"red": policy, "blue": policy})
        hub.add_user("alice", PASSWORD, ["red"])
        hub.add_user("bob", PASSWORD, ["blue"])
        yield hub
    finally:
        hub.stop()
        stop_leftover_servers(hub.data_dir)


def namespaces(hub, spares: bool = False) -> dict[str, tuple[str, list[int]]]:
    """This hub's workload namespaces (``spares``: only those made ahead): name -> (address, TCP ports
    listening inside)."""
    from hub_ext.isolation import Isolation

    networks = Isolation(data_dir=str(hub.data_dir), isolate="always").tag
    found = {}
    for name in sorted(os.listdir(RUN_NETNS)):
        if not name.startswith(f"hf-{networks}-") or name.startswith(f"hf-{networks}-spare-") != spares:
            continue
        addr = subprocess.run(["ip", "-n", name, "-4", "-o", "addr", "show", "dev", "eth0"], capture_output=True,
                              text=True).stdout.split()
        ports = subprocess.run(["ip", "netns", "exec", name, "ss", "-Hltn"], capture_output=True, text=True).stdout
        found[name] = (addr[3].split("/")[0] if len(addr) > 3 else "",
                       sorted({int(line.split()[3].rpartition(":")[2]) for line in ports.splitlines() if line}))
    return found


def host_ports() -> list[int]:
    return sorted({c.laddr.port for c in psutil.net_connections(kind="tcp4") if c.status == psutil.CONN_LISTEN})


def host_addresses() -> list[str]:
    return sorted({a.address for addrs in psutil.net_if_addrs().values() for a in addrs
                   if a.family == socket.AF_INET})


def test_a_job_reaches_the_hub_and_the_proxy_and_no_other_tenant_or_host_port(hub):
    bob = hub.login("bob", PASSWORD)
    create(bob, group="blue", id="bpub")
    create(bob, group="blue", id="bpriv")
    assert bob.api("PATCH", "/portal/deployments/bpriv", json={"access": "private"}).status_code == 200
    r = bob.api("POST", "/users/bob/servers/blue", json={"group": "blue", "instance_type": "cpu-small",
                                                        "image": "base"})
    assert r.status_code in (201, 202), r.text
    wait_for_server(bob, "bob", "blue", hub=hub)
    # a web server bob starts inside his notebook, on a port of his choosing
    run_in_server(bob, "bob", "blue", "import subprocess, sys\nsubprocess.Popen([sys.executable, '-m', "
                  "'http.server', '8765', '--bind', '127.0.0.1'], start_new_session=True, cwd='/tmp', "
                  "stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\nprint('ok')")
    # ... which bob's own notebook reaches on its loopback, as on a laptop
    assert run_in_server(bob, "bob", "blue", "import time, urllib.request\nfor _ in range(100):\n    try:\n"
                         "        print(urllib.request.urlopen('http://127.0.0.1:8765/', timeout=5).status); break\n"
                         "    except OSError as exc:\n        last = exc\n        time.sleep(0.2)\nelse:\n    print(repr(last))"
                         ).strip() == "200"
    wait_deployed(bob, "bpub")
    wait_deployed(bob, "bpriv")
    blue = namespaces(hub)
    deadline = time.monotonic() + 30
    while not any(8765 in ports for _, ports in blue.values()):
        assert time.monotonic() < deadline, f"the server in bob's notebook did not start: {blue}"
        time.sleep(0.5)
        blue = namespaces(hub)
    assert len(blue) >= 3  # bob's notebook server and his two replicas, each in its own namespace
    gateway = "10.213.0.1"
    targets = [(addr, port) for addr, ports in blue.values() for port in ports]
    targets += [(host, port) for port in host_ports() for host in ["127.0.0.1", gateway, *host_addresses()]]
    targets += [(gateway, 5432), ("127.0.0.1", 5432)]  # PostgreSQL, where the suite has it
    scan_file = hub.data_dir / "homes" / "targets.json"  # readable by the job: in the data dir
    scan_file.parent.mkdir(exist_ok=True)
    scan_file.write_text(json.dumps(targets))
    scan_file.chmod(0o644)
    alice = hub.login("alice", PASSWORD)
    job = submit(alice, group="red", command=f"python3 -c {shlex.quote(SCAN)} {shlex.quote(str(scan_file))}")
    job = wait(alice, job["id"], timeout=120)
    log = log_of(alice, job["id"])
    assert job["phase"] == "Succeeded", log
    result = json.loads(log.split("RESULT ", 1)[1].splitlines()[0])
    opened = sorted(k for k, v in result["scan"].items() if v == "open")
    hub_port, public_port = urlsplit(result["api_url"]).port, hub.port
    assert urlsplit(result["api_url"]).hostname == gateway
    # the hub's API, the proxy and the apps' port (the forwarder, with its own checks; also on the job's own
    # loopback, where the apps' *.localhost names lead): nothing else
    doors = {f"{gateway}:{hub_port}", f"{gateway}:{public_port}", f"{gateway}:{hub.apps_port}",
             f"127.0.0.1:{hub.apps_port}"}
    assert opened == sorted(doors), opened
    assert result["api"] == 200  # the hub's API answers the job (at its gateway address)
    assert (result["public"], result["private"]) == (200, 401)  # through the proxy, with its checks
    assert result["me"] == [200, 403]  # the portal's API with its owner's token (and nothing without it)
    # ... which went with the job
    revoked = requests.get(f"{hub.base_url}/hub/api/portal/me", timeout=10,
                           headers={"Authorization": f"token {result['token']}"})
    assert revoked.status_code == 403
    # while from outside, through the proxy, the private one still answers 401 and the public one 200
    assert requests.get(f"{hub.base_url}/deployments/bpriv/", timeout=10).status_code == 401
    assert requests.get(f"{hub.base_url}/deployments/bpub/", timeout=10).status_code == 200


def test_a_killed_hub_leaves_no_namespace_of_a_dead_workload_and_adopted_ones_keep_theirs(hub):
    alice = hub.login("alice", PASSWORD)
    job = submit(alice, group="red", command="sleep 600")
    deadline = time.monotonic() + 30
    while alice.api("GET", f"/portal/jobs/{job['id']}").json()["phase"] != "Running":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    before, made_ahead = namespaces(hub), namespaces(hub, spares=True)
    assert made_ahead  # the runner's and the hub's, ready for the next starts
    # a namespace whose workload died while nothing watched it (made as a crash would leave it)
    from hub_ext.isolation import Isolation

    iso = Isolation(data_dir=str(hub.data_dir), isolate="always", hub_api_url="http://127.0.0.1:1/")
    dead = iso.create_network("job", "died-unwatched")
    hub.kill()
    hub.start()
    after = namespaces(hub)
    assert dead.name not in after
    assert set(before) <= set(after)  # the running job, the replicas and the notebook kept theirs
    deadline = time.monotonic() + 30  # those made ahead by the killed hub and its runner (which ends once it
    while set(made_ahead) & set(namespaces(hub, spares=True)):  # finds itself orphaned) go
        assert time.monotonic() < deadline, "namespaces made ahead by processes that are gone were left"
        time.sleep(0.5)
    bob = hub.login("bob", PASSWORD)
    deadline = time.monotonic() + 30
    while requests.get(f"{hub.base_url}/deployments/bpub/", timeout=10).status_code != 200:
        assert time.monotonic() < deadline, "an adopted replica is not reachable after the restart"
        time.sleep(0.5)
    assert bob.api("GET", "/users/bob").json()["servers"]["blue"]["ready"]
    assert alice.api("POST", f"/portal/jobs/{job['id']}/cancel").status_code in (200, 202, 204)


# a replica that tells what its owner's token does at the portal's API (and, for this test only, the token)
TOKEN_SERVER = r"""
import json, os, urllib.error, urllib.request
from http.server import BaseHTTPRequestHandler, HTTPServer

class H(BaseHTTPRequestHandler):
    def do_GET(self):
        token = os.environ.get("JUPYTERHUB_API_TOKEN", "")
        me = urllib.request.Request(os.environ["JUPYTERHUB_API_URL"].rstrip("/") + "/portal/me",
                                    headers={"Authorization": f"token {token}"})
        try:
            status = urllib.request.urlopen(me, timeout=10).status
        except urllib.error.HTTPError as exc:
            status = exc.code
        body = json.dumps({"me": status, "token": token}).encode()
        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers()
        self.wfile.write(body)

HTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
"""


def test_a_replica_calls_the_portal_as_its_owner_until_the_deployment_stops(hub):
    bob = hub.login("bob", PASSWORD)
    create(bob, group="blue", id="tok", command=f"exec python3 -c {shlex.quote(TOKEN_SERVER)}")
    wait_deployed(bob, "tok")
    answer = requests.get(f"{hub.base_url}/deployments/tok/", timeout=30).json()
    assert answer["me"] == 200 and answer["token"]
    me = requests.get(f"{hub.base_url}/hub/api/portal/me", headers={"Authorization": f"token {answer['token']}"},
                      timeout=10)
    assert me.status_code == 200 and me.json()["name"] == "bob"
    assert bob.api("POST", "/portal/deployments/tok/stop").status_code == 202
    wait_deployed(bob, "tok", phase="Stopped")
    gone = requests.get(f"{hub.base_url}/hub/api/portal/me", headers={"Authorization": f"token {answer['token']}"},
                        timeout=10)
    assert gone.status_code == 403


def test_a_job_downloads_a_package_from_the_index(hub):
    """The outside world through the host (forwarded and masqueraded): pip reaches the package index."""
    try:
        socket.create_connection(("pypi.org", 443), timeout=10).close()
    except OSError as exc:
        need(False, f"this machine itself does not reach pypi.org ({exc}): nothing to compare with")
    alice = hub.login("alice", PASSWORD)
    job = submit(alice, group="red", command="python3 -m pip download --isolated --no-deps --no-cache-dir "
                                             "--cert /etc/ssl/certs/ca-certificates.crt --index-url https://pypi.org/simple/ --dest wheels six "
                                             "&& ls wheels")
    job = wait(alice, job["id"], timeout=180)
    log = log_of(alice, job["id"])
    assert job["phase"] == "Succeeded" and "six-" in log and ".whl" in log, log
