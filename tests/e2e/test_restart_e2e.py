"""Requirement 8: servers outlive a hub restart; the ones that died meanwhile are released.

Two real servers run (alice and bob in group ``a``); the hub stops (SIGTERM,
servers are left running); bob's server is killed while the hub is down; the
hub starts again on the same data dir and ports. Alice's server is resumed
with its reservation, bob's is released and listed as stopped.
"""

import json
import os
import signal
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor

import psutil
import pytest
import requests

from support import (
    RealHub, free_port, need, proxy_command, run_in_server, stop_leftover_servers, user_token, wait_for_server,
    wait_for_stopped,
)

from hub_ext.ledger import Ledger

pytestmark = pytest.mark.e2e

USERS = {"alice": "alice-Passw0rd!", "bob": "bob-Passw0rd!"}


def server_pids(hub: RealHub) -> dict[str, int]:
    """user -> pid of their server ``a``, from the spawner state in the hub's database."""
    db = sqlite3.connect(hub.data_dir / "jupyterhub.sqlite")
    try:
        rows = db.execute(
            "SELECT users.name, spawners.state FROM spawners JOIN users ON users.id = spawners.user_id"
            " WHERE spawners.name = 'a'"
        ).fetchall()
    finally:
        db.close()
    return {name: json.loads(state)["pid"] for name, state in rows if state and json.loads(state).get("pid")}


def running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def wait_gone(pid: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while running(pid):
        assert time.monotonic() < deadline, f"process {pid} still running"
        time.sleep(0.1)


def test_running_server_is_resumed_and_dead_one_released(tmp_path):
    need(proxy_command() is not None, "configurable-http-proxy is not installed (run `make test`)")
    # the same hub API port across the restart: resumed servers talk to the hub there
    hub = RealHub(tmp_path / "data", env={"HUBFRONT_HUB_PORT": str(free_port()),
                                          "HUBFRONT_PROXY_API_PORT": str(free_port())})
    hub.start()
    pids: dict[str, int] = {}
    try:
        for name, pw in USERS.items():
            hub.add_user(name, pw, ["a"])
        sessions = {name: hub.login(name, pw) for name, pw in USERS.items()}
        with ThreadPoolExecutor(2) as pool:  # launch both at once (each POST waits up to 10 s)
            launches = [pool.submit(s.api, "POST", f"/users/{name}/servers/a",
                                    json={"group": "a", "instance_type": "cpu-small", "image": "base"})
                        for name, s in sessions.items()]
        for r in (f.result() for f in launches):
            assert r.status_code in (201, 202), r.text
        for name, s in sessions.items():
            wait_for_server(s, name, "a", hub=hub)
        pids = server_pids(hub)
        assert set(pids) == {"alice", "bob"}
        for name, pid in pids.items():
            assert psutil.Process(pid).environ()["HUBFRONT_GROUP"] == "a"
        ledger = Ledger(hub.portal_db_url)
        assert {r.workload_id for r in ledger.reservations()} == {"alice/a", "bob/a"}
        alice_token = user_token(sessions["alice"], "alice")

        hub.stop()
        assert running(pids["alice"]) and running(pids["bob"]), "servers must outlive the hub"
        os.kill(pids["bob"], signal.SIGKILL)
        wait_gone(pids["bob"])
        # nothing is reachable while the hub (and its proxy) is down
        with pytest.raises(requests.ConnectionError):
            requests.get(hub.base_url + "/user/alice/a/api/status", timeout=5)

        hub.start()
        alice = hub.login("alice", USERS["alice"])
        model = wait_for_server(alice, "alice", "a", timeout=60, hub=hub)
        assert model["user_options"]["group"] == "a"
        assert running(pids["alice"]) and server_pids(hub)["alice"] == pids["alice"], "resumed, not respawned"
        # reachable through the (restarted) proxy, kernels and all
        assert run_in_server(alice, "alice", "a", "import os; print(os.environ['HUBFRONT_GROUP'])",
                             token=alice_token).strip() == "a"

        bob = hub.login("bob", USERS["bob"])
        wait_for_stopped(bob, "bob", "a")
        assert [r.workload_id for r in ledger.reservations()] == ["alice/a"]
        r = bob.api("GET", "/portal/groups/a/usage")
        sessions_row = next(row for row in r.json()["resources"] if row["resource"] == "sessions")
        assert (sessions_row["user"]["used"], sessions_row["group"]["used"]) == (0, 1)

        r = alice.api("DELETE", "/users/alice/servers/a")
        assert r.status_code in (202, 204), r.text
        wait_for_stopped(alice, "alice", "a")
        assert ledger.reservations() == []
        wait_gone(pids["alice"])
    finally:
        hub.stop()
        stop_leftover_servers(hub.data_dir)  # never leave a server behind when the test fails midway
