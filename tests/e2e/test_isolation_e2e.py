"""Workload isolation on the real hub (running as root, as in CI): real JupyterLab servers
run as their owners' OS accounts, confined by cgroups, and cannot read the hub's state.
"""

from __future__ import annotations

import hashlib
import json
import os
import pwd
import signal
import stat
import threading
import time
import uuid
from pathlib import Path

import pytest
import requests
import yaml

from hub_ext.isolation.cgroups import parse_mounts
from hub_ext.ledger import Ledger
from support import (
    ACCOUNT_PREFIX, REPO, RealHub, host_mounts, need, proxy_command, run_in_server, screenshot, stop_leftover_servers,
    ui_login, until, user_token, wait_for_server, wait_for_stopped,
)

pytestmark = [pytest.mark.e2e, pytest.mark.isolation]

PASSWORD = "iso-Passw0rd!"
USERS = ("alice", "bob", "carol", "dave")


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    need(proxy_command() is not None, "configurable-http-proxy is not installed (run `make test`)")
    need(os.geteuid() == 0, "workload isolation needs a hub running as root (CI runs the suite as root)")
    work = tmp_path_factory.mktemp("isolation-e2e")
    catalog = yaml.safe_load((REPO / "config" / "hubfront.yaml").read_text())
    catalog["catalog"]["instance_types"].append(
        {"name": "tiny", "display_name": "Tiny", "cpu": "500m", "memory": "512Mi"})
    catalog["groups"] = {}
    (work / "catalog.yaml").write_text(yaml.safe_dump(catalog))
    data = work / "data"
    data.mkdir()
    data.chmod(0o755)  # a careless operator's data dir: the hub must fix it
    (data / "stray-secret").write_text("left readable by someone")
    (data / "stray-secret").chmod(0o644)
    from hub_ext.keys import load_key

    load_key("", str(data))  # the TOTP key file, as the hub makes it on first use
    hub = RealHub(data, admin_password="", env={"HUBFRONT_CATALOG": str(work / "catalog.yaml")})
    hub.start()
    try:
        hub.admin_password = (data / "admin-password").read_text().strip()  # generated on first start
        admin = hub.admin()
        assert admin.api("POST", "/groups/iso").status_code == 201
        r = admin.api("PUT", "/portal/groups/iso/policy", json={"policy": {"instance_types": ["tiny"]}})
        assert r.status_code == 200, r.text
        for name in USERS:
            hub.add_user(name, PASSWORD, ["iso"])
        yield hub
    finally:
        hub.stop()
        stop_leftover_servers(hub.data_dir)


def launch(hub, user):
    session = hub.login(user, PASSWORD)
    r = session.api("POST", f"/users/{user}/servers/iso", json={"group": "iso", "instance_type": "tiny", "image": "base"})
    assert r.status_code in (201, 202), r.text
    wait_for_server(session, user, "iso", hub=hub)
    return session


@pytest.fixture
def notebooks(hub):
    """``notebooks(user)`` starts ``user``'s server; each one is stopped after the test whatever the test did,
    so that a failed test leaves no server running into the next one."""
    started = []

    def start(user):
        started.append(user)
        return launch(hub, user)

    yield start
    for user in started:
        session = hub.login(user, PASSWORD)
        session.api("DELETE", f"/users/{user}/servers/iso")  # 404 when the test stopped it already
        wait_for_stopped(session, user, "iso", timeout=120)


def workload_cgroups(hub, user) -> list[Path]:
    """The memory cgroups of ``user``'s notebooks on this hub (its subtree is named after the data dir)."""
    subtree = hashlib.sha256(str(hub.data_dir.resolve()).encode()).hexdigest()[:8]
    return list(Path("/sys/fs/cgroup/memory/hubfront", subtree).glob(f"notebook-{user}-*"))


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_data_dir_made_readable_is_fixed_at_start(hub):
    data = hub.data_dir
    assert mode(data) == 0o711
    assert mode(data / "stray-secret") == 0o600
    for name in ("hubfront.sqlite", "jupyterhub.sqlite", "jupyterhub_cookie_secret", "admin-password", "secret-key"):
        assert mode(data / name) == 0o600, name
    assert "data dir was readable by others, fixed" in hub.log_path.read_text()


def test_notebook_runs_as_its_owner_and_cannot_read_the_hub_or_other_homes(hub, notebooks):
    bob = notebooks("bob")
    out = run_in_server(bob, "bob", "iso", "open('notes.txt', 'w').write('bob only'); import os; print(os.getcwd())")
    bob_home = out.strip()
    assert bob_home == str(hub.data_dir / "homes" / "bob")
    alice = notebooks("alice")
    data = hub.data_dir
    targets = [data / "hubfront.sqlite", data / "jupyterhub.sqlite", data / "jupyterhub_cookie_secret",
               data / "admin-password", data / "secret-key", Path(bob_home) / "notes.txt"]
    code = f"""
import json, os, sys
result = {{"uid": os.getuid(), "env": sorted(k for k in os.environ if "PASSWORD" in k or k.startswith("CONFIGPROXY"))}}
for path in {[str(t) for t in targets]!r} + [{str(data)!r}]:
    try:
        (os.listdir if os.path.isdir(path) else lambda p: open(p, 'rb').read())(path)
        result[path] = "read"
    except PermissionError:
        result[path] = "denied"
open("mine.txt", "w").write("ok")
result["home"] = open("mine.txt").read()
try:
    open(os.path.join(sys.prefix, "planted.py"), "w")
    result["env_dir"] = "written"
except PermissionError:
    result["env_dir"] = "denied"
print(json.dumps(result))
"""
    result = json.loads(run_in_server(alice, "alice", "iso", code))
    assert result.pop("uid") == pwd.getpwnam(f"{ACCOUNT_PREFIX}alice").pw_uid != 0
    assert result.pop("env") == []  # no HUBFRONT_ADMIN_PASSWORD, no proxy token
    assert result.pop("home") == "ok" and result.pop("env_dir") == "denied"
    assert result == {str(p): "denied" for p in [*targets, data]}
    alice.api("DELETE", "/users/alice/servers/iso")
    wait_for_stopped(alice, "alice", "iso")
    # bob shuts his server down from JupyterLab (File > Shut Down): a clean exit, not an error
    r = requests.post(f"{hub.base_url}/user/bob/iso/api/shutdown", timeout=30,
                      headers={"Authorization": f"token {user_token(bob, 'bob')}"})
    assert r.status_code in (200, 204), r.text
    wait_for_stopped(bob, "bob", "iso", timeout=90)  # noticed at the hub's next poll
    last = bob.api("GET", "/portal/me/activities").json()["activities"][0]
    assert (last["action"], last["status"], last["message"]) == ("stopped", "info", "Notebook in iso stopped")
    assert workload_cgroups(hub, "bob") == [] and workload_cgroups(hub, "alice") == []


def cgroup_dir(pid: int, controller: str) -> Path:
    """Where ``pid``'s cgroup of ``controller`` is on this host's cgroup v1 mounts (skips elsewhere)."""
    _, mounts = parse_mounts(Path("/proc/self/mounts").read_text())
    need(controller in mounts, f"no cgroup v1 {controller} controller on this host")
    path = next(line.split(":", 2)[2] for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines()
                if controller in line.split(":")[1].split(","))
    return mounts[controller] / path.lstrip("/")


def throttled(cpu: Path) -> int:
    """How many CFS periods the kernel has held the cgroup back for reaching its quota."""
    return int(next(line.split()[1] for line in (cpu / "cpu.stat").read_text().splitlines()
                    if line.startswith("nr_throttled ")))


def spinning(marker: str) -> list[int]:
    """The processes whose command line carries ``marker``."""
    import psutil

    return [p.pid for p in psutil.process_iter(["cmdline"]) if marker in (p.info["cmdline"] or [])]


SPIN = """
import subprocess, sys
spin = "import time\\nend = time.monotonic() + 300\\nwhile time.monotonic() < end: pass"
procs = [subprocess.Popen([sys.executable, "-c", spin, MARKER]) for _ in range(4)]
print([p.wait() for p in procs])
"""


def test_cpu_bound_work_is_held_to_half_a_core(hub, notebooks):
    """Tiny is 500m: the server's cgroup has a CFS quota of half a core, what its kernels start runs in it,
    the kernel throttles it there, and four processes spinning at once get no more than half a core between
    them. (On a busy machine they get less: the cap is a ceiling Hubfront sets, not a share it promises.)"""
    dave = notebooks("dave")
    # the server process (the kernel is gone after each call): the whole workload is in one cgroup
    server = int(run_in_server(dave, "dave", "iso", "import os; print(os.getppid())"))
    cpu, cpuacct = cgroup_dir(server, "cpu"), cgroup_dir(server, "cpuacct")
    quota, period = (int((cpu / name).read_text()) for name in ("cpu.cfs_quota_us", "cpu.cfs_period_us"))
    assert quota / period == 0.5, (quota, period)
    marker = f"hf-spin-{uuid.uuid4().hex}"
    failed = []

    def spin():
        try:
            run_in_server(dave, "dave", "iso", SPIN.replace("MARKER", repr(marker)), timeout=400)
        except BaseException as exc:  # noqa: BLE001 - reported below
            failed.append(exc)

    kernel = threading.Thread(target=spin, daemon=True)
    kernel.start()
    try:
        spinners = until(lambda: failed or (len(found := spinning(marker)) == 4 and found), 120, "four spinners")
        assert not failed, failed
        assert set(spinners) <= {int(p) for p in (cpu / "cgroup.procs").read_text().split()}  # in the capped cgroup
        before, used, t0 = throttled(cpu), int((cpuacct / "cpuacct.usage").read_text()), time.monotonic()
        # the cap at work: the kernel holds the cgroup back once it has had its half core of a period
        until(lambda: throttled(cpu) > before and time.monotonic() - t0 >= 5, 180, "the cgroup throttled")
        cores = (int((cpuacct / "cpuacct.usage").read_text()) - used) / 1e9 / (time.monotonic() - t0)
        assert cores <= 0.6, cores  # at most the half core, whatever they ask for
    finally:
        for pid in spinning(marker):
            os.kill(pid, signal.SIGKILL)
        kernel.join(60)
    dave.api("DELETE", "/users/dave/servers/iso")
    wait_for_stopped(dave, "dave", "iso", timeout=120)
    assert not cpu.exists() and not cpuacct.exists()  # the workload's cgroup went with it


def test_out_of_memory_is_reported_and_the_reservation_released(hub, page, notebooks):
    carol = notebooks("carol")
    try:
        run_in_server(carol, "carol", "iso", "b = bytearray(2 * 2**30)\nfor i in range(0, len(b), 4096): b[i] = 1",
                      timeout=60)
    except Exception:  # noqa: BLE001 - the kernel dies under the cell; its socket goes with it
        pass
    wait_for_stopped(carol, "carol", "iso", timeout=120)
    expected = "Out of memory (limit 512 MiB)"
    events = carol.api("GET", "/portal/me/activities").json()
    assert any(expected in e["message"] and e["status"] == "error" for e in events["activities"]), events
    assert expected in carol.get(carol.url("/hub/portal/notebooks")).text
    until(lambda: Ledger(hub.portal_db_url).reservations(group="iso") == [], 60, "the group's reservations released")
    until(lambda: workload_cgroups(hub, "carol") == [], 60, "carol's cgroup removed")  # it goes with the server
    ui_login(page, hub, "carol", PASSWORD)
    page.goto(hub.base_url + "/hub/portal/notebooks")
    assert expected in page.locator("tr[data-server=iso] .hf-outcome").inner_text()
    screenshot(page, "notebooks-out-of-memory")


def terminal_says(session, user: str, command: str, expect: str, timeout: float = 30) -> str:
    """Open a JupyterLab terminal (REST, then its websocket, as the browser does), type ``command``,
    return what it printed once ``expect`` shows."""
    import websocket

    token = user_token(session, user)
    headers = {"Authorization": f"token {token}"}
    server = f"{session.base_url}/user/{user}/iso"
    api = f"{server}/api/terminals"
    r = requests.post(api, headers=headers, timeout=30)
    assert r.status_code == 200, r.text
    name = r.json()["name"]
    ws = websocket.create_connection(f"{server.replace('http://', 'ws://', 1)}/terminals/websocket/{name}",
                                     header=[f"Authorization: token {token}"], timeout=timeout)
    try:
        ws.send(json.dumps(["stdin", command + "\r"]))
        seen, deadline = "", time.monotonic() + timeout
        while expect not in seen and time.monotonic() < deadline:
            kind, *payload = json.loads(ws.recv())
            if kind == "stdout":
                seen += payload[0]
        assert expect in seen, seen
        return seen
    finally:
        ws.close()
        requests.delete(f"{api}/{name}", headers=headers, timeout=30)


SANDBOX_PROBE = """
import json, os
def nnp(pid):
    return next(line.split()[1] for line in open(f"/proc/{pid}/status") if line.startswith("NoNewPrivs"))
print(json.dumps({"kernel": nnp("self"), "server": nnp(os.getppid()), "uid": os.getuid(),
                  "tmp": os.path.lexists("/tmp/planted-e2e"), "shm": os.path.lexists("/dev/shm/planted-e2e"),
                  "owners": sorted({os.stat(f"/proc/{p}").st_uid for p in os.listdir("/proc") if p.isdigit()})}))
"""


def test_notebooks_have_their_own_tmp_and_proc_and_no_new_privileges(hub, notebooks):
    """A symlink planted in one notebook's /tmp (and /dev/shm) is not in another's; a notebook lists only
    its own account's processes; the server, its kernels and terminals run with no_new_privs; nothing of
    it stays mounted on the host."""
    before = host_mounts()
    try:
        carol, dave = notebooks("carol"), notebooks("dave")
        run_in_server(carol, "carol", "iso", "import os; os.symlink('/etc/hostname', '/tmp/planted-e2e'); "
                                             "os.symlink('/etc/hostname', '/dev/shm/planted-e2e')")
        assert not os.path.lexists("/tmp/planted-e2e") and not os.path.lexists("/dev/shm/planted-e2e")
        mine = json.loads(run_in_server(carol, "carol", "iso", SANDBOX_PROBE))
        assert (mine["tmp"], mine["shm"]) == (True, True)  # her next kernel shares her server's /tmp
        other = json.loads(run_in_server(dave, "dave", "iso", SANDBOX_PROBE))
        assert (other["kernel"], other["server"]) == ("1", "1")
        assert (other["tmp"], other["shm"]) == (False, False)
        assert other["owners"] == [other["uid"]] == [pwd.getpwnam(f"{ACCOUNT_PREFIX}dave").pw_uid]
        terminal_says(dave, "dave", "grep NoNewPrivs /proc/self/status", "NoNewPrivs:\t1")
        assert host_mounts() == before
    finally:
        for user in ("carol", "dave"):
            session = hub.login(user, PASSWORD)
            session.api("DELETE", f"/users/{user}/servers/iso")
            wait_for_stopped(session, user, "iso", timeout=120)
    assert host_mounts() == before
