"""The apps' runner loop on real processes (as root): an app installed in a group runs as the group's
service account in an ``app`` cgroup, holds a kind ``app`` reservation, becomes Running with an
endpoint once healthy; settings survive stop/start and a runner restart (adoption); a settings change
restarts it; quota refusals, and uninstall with and without its data. MLflow and Streamlit, installed in a
group named "Data Science (EU)", run and answer through the apps' forwarder at their own origins."""

from __future__ import annotations

import asyncio
import grp
import json
import os
import pwd
import re
import sys
import time
import urllib.request
from urllib.parse import urlsplit

import psutil
import pytest
from sqlalchemy import select

from hub_ext.apps.records import AppStore, executor_id
from hub_ext.apps.requests import AppInstall
from hub_ext.apps.templates import AppTemplate
from hub_ext.apps.templates import template as builtin
from hub_ext.keys import load_key
from hub_ext.isolation.names import MAX_LENGTH, account_name, service_account_name, unix_group_name
from hub_ext.ledger import Ledger
from hub_ext.policy import GroupPolicy, InstanceType
from hub_ext.services.apps import AppRunner
from hub_ext.services.executors.local_deployments import LocalDeployments
from hub_ext.services.forward_apps import follow_apps
from hub_ext.services.hubapi import Groups
from hub_ext.storage.mounts import MountSource
from hub_ext.store import upgrade
from hub_ext.store.engine import read_scope
from hub_ext.store.models_apps import App
from hub_ext.images.environments import EnvironmentBuilder
from support import ACCOUNT_PREFIX
from support_apps import Apps, FakeHub, host
from test_local_executor import isolated, make_executor  # noqa: F401 - the fixture, shared

pytestmark = pytest.mark.isolation

SERVER = """
import http.server, os, sys

prefix = sys.argv[1]
with open("visits", "a") as f:  # in the app's data folder (its working directory)
    f.write("started\\n")
print(f"tiny app on {os.environ['PORT']} under {prefix}", flush=True)


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = f"uid={os.getuid()} greeting={os.environ.get('GREETING')} path={self.path}".encode()
        self.send_response(200 if self.path.startswith(prefix) else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
"""
FAST = dict(check_interval=0.1, check_timeout=1.0, failure_threshold=2, backoff_base=0.2, backoff_max=1.0,
            crash_loop_exits=3, start_timeout=20.0, drain_seconds=0.2, stop_grace=2.0)
SMALL = InstanceType(name="small", cpu=1, memory=2**30)


class Rig:
    def __init__(self, tmp_path, executor_base):
        self.tmp = tmp_path
        self.data_dir = executor_base.isolation.data_dir
        self.db_url = f"sqlite:///{tmp_path}/portal.sqlite"
        upgrade(self.db_url)
        self.key = load_key("", str(tmp_path))
        self.store = AppStore(self.db_url, self.key)
        self.ledger = Ledger(self.db_url)
        self.base = executor_base
        executor_base.mounts = MountSource(self.db_url, self.data_dir, executor_base.isolation, self.key)
        server = tmp_path / "tiny.py"
        server.write_text(SERVER)
        server.chmod(0o644)
        self.template = AppTemplate(
            name="tiny", display_name="Tiny", env=[{"name": "GREETING", "default": "hello"}],
            health_path="{prefix}/", local={"command": f"mkdir -p {{data}} && cd {{data}} && exec {sys.executable} "
                                                       f"{server} {{prefix}}"})
        self.groups = Groups(policies={"research": GroupPolicy(quota={"cpu": 2})}, members={})
        self.runner = self.new_runner()

    def template_named(self, name: str) -> AppTemplate | None:
        """The test's tiny app, or a built-in template (mlflow, streamlit…)."""
        return self.template if name == "tiny" else builtin(name)

    def new_runner(self, **settings) -> AppRunner:
        """A runner with a new apps executor (``settings`` over :data:`FAST`)."""
        self.executor = LocalDeployments(kind="app", executor=self.base, **{**FAST, **settings})
        return AppRunner(store=self.store, executor=self.executor, ledger=self.ledger,
                         templates=self.template_named, data_dir=self.data_dir,
                         builder=EnvironmentBuilder(self.tmp / "envs"), log=__import__("logging").getLogger("t"))

    def install(self, name="tiny", group="research", template="tiny", instance_type=SMALL, **kw) -> App:
        body = AppInstall(name=name, template=template, **kw)
        return self.store.install(group=group, username="alice", body=body, template=self.template_named(template),
                                  instance_type=instance_type, env=kw.get("env") or {})

    def row(self, app_id: int) -> App:
        with read_scope(self.db_url) as s:
            return s.get(App, app_id)

    async def until(self, app_id: int, phase: str, timeout: float = 40) -> App:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            await self.runner.reconcile(self.groups)
            row = self.row(app_id)
            if row is not None and row.phase == phase:
                return row
            await asyncio.sleep(0.2)
        raise AssertionError(f"app {app_id} is {row.phase if row else 'gone'} ({row.message if row else ''}), "
                             f"not {phase}")

    def held(self) -> list:
        return [r for r in self.ledger.reservations(kind="app")]


@pytest.fixture
async def rig(tmp_path, isolated):  # noqa: F811
    rig = Rig(tmp_path, isolated)
    yield rig
    for group in rig.groups.policies:
        for row in rig.store.list(group):
            await rig.executor.stop(executor_id(row))
    await rig.executor.close()


def get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as r:
        return r.read().decode()


def process_of(app_id: int) -> psutil.Process:
    for p in psutil.process_iter(["cmdline"]):
        if "tiny.py" in " ".join(p.info["cmdline"] or []):
            return p
    raise AssertionError("the app's process is not running")


async def test_install_runs_as_the_groups_service_account_and_reserves(rig):
    row = rig.install(env={"GREETING": "hi"})
    row = await rig.until(row.id, "Running")
    assert row.endpoint.startswith("http://127.0.0.1:") and row.running_revision == 1
    answer = get(f"{row.endpoint}/apps/research/tiny/")
    service = pwd.getpwnam(service_account_name(ACCOUNT_PREFIX, "research"))
    assert f"uid={service.pw_uid}" in answer and "greeting=hi" in answer
    try:  # not the installer's account (other tests of the run may have made alice's)
        installer = pwd.getpwnam(account_name(ACCOUNT_PREFIX, "alice")).pw_uid
    except KeyError:
        installer = None
    assert installer != service.pw_uid and f"uid={installer}" not in answer
    cgroup = open(f"/proc/{process_of(row.id).pid}/cgroup").read()
    assert "/app-tiny-" in cgroup
    assert [(r.kind, r.workload_id, r.cpu) for r in rig.held()] == [("app", f"{row.id}@1", 1.0)]
    data = os.path.join(rig.data_dir, "groups", "research", "apps", "tiny", "visits")
    assert os.stat(data).st_uid == service.pw_uid


async def test_settings_survive_stop_start_and_a_runner_restart(rig):
    row = await rig.until(rig.install(env={"GREETING": "kept"}).id, "Running")
    rig.store.stop(row, "admin")
    row = await rig.until(row.id, "Stopped")
    assert rig.held() == [] and row.endpoint == ""
    with pytest.raises(AssertionError):
        process_of(row.id)
    rig.store.start(row, "admin")
    row = await rig.until(row.id, "Running")
    assert "greeting=kept" in get(f"{row.endpoint}/apps/research/tiny/")
    pid = process_of(row.id).pid
    # the runner goes away (its watchers stop, the app runs on); a new one adopts it
    await rig.executor.close()
    rig.runner = rig.new_runner()
    await rig.runner.startup(rig.groups)
    row = await rig.until(row.id, "Running")
    assert process_of(row.id).pid == pid
    assert "greeting=kept" in get(f"{row.endpoint}/apps/research/tiny/")
    assert [r.workload_id for r in rig.held()] == [f"{row.id}@1"]


async def test_a_settings_change_restarts_it_with_them(rig):
    row = await rig.until(rig.install().id, "Running")
    assert "greeting=hello" in get(f"{row.endpoint}/apps/research/tiny/")  # the template's default
    row = rig.store.update(row, {"env": {"GREETING": "changed"}}, None, "admin")
    assert row.revision == 2 and row.phase == "Starting"
    deadline = time.monotonic() + 30
    while "greeting=changed" not in get(f"{(row := await rig.until(row.id, 'Running')).endpoint}/apps/research/tiny/"):
        assert time.monotonic() < deadline
        await asyncio.sleep(0.2)
    await rig.until(row.id, "Running")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # the old revision's reservation goes once the new one runs alone
        await rig.runner.reconcile(rig.groups)
        if [r.workload_id for r in rig.held()] == [f"{row.id}@2"]:
            break
        await asyncio.sleep(0.2)
    assert [r.workload_id for r in rig.held()] == [f"{row.id}@2"]


async def test_over_quota_fails_with_the_ledgers_message(rig):
    first = await rig.until(rig.install(name="one").id, "Running")
    rig.groups.policies["research"] = GroupPolicy(quota={"cpu": 1})
    second = await rig.until(rig.install(name="two").id, "Failed")
    assert second.reason == "OverQuota" and "CPU" in second.message
    assert [r.workload_id for r in rig.held()] == [f"{first.id}@1"]


async def test_uninstall_keeps_the_data_unless_asked(rig):
    kept = await rig.until(rig.install(name="kept").id, "Running")
    gone = await rig.until(rig.install(name="gone").id, "Running")
    apps = os.path.join(rig.data_dir, "groups", "research", "apps")
    rig.store.uninstall(kept, "admin", delete_data=False)
    rig.store.uninstall(gone, "admin", delete_data=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        await rig.runner.reconcile(rig.groups)
        if rig.row(kept.id) is None and rig.row(gone.id) is None:
            break
        await asyncio.sleep(0.2)
    assert rig.row(kept.id) is None and rig.row(gone.id) is None
    assert os.path.exists(os.path.join(apps, "kept", "visits")) and not os.path.exists(os.path.join(apps, "gone"))
    assert rig.held() == []


async def test_removing_data_never_follows_a_link_members_put_there(rig, tmp_path):
    from hub_ext.services.apps import remove_data

    outside = tmp_path / "precious"
    outside.mkdir()
    (outside / "file").write_text("x")
    apps = os.path.join(rig.data_dir, "groups", "research", "apps")
    os.makedirs(os.path.join(rig.data_dir, "groups", "research"), exist_ok=True)
    os.symlink(outside, apps)
    assert remove_data(rig.data_dir, "research", "precious") is False
    assert (outside / "file").exists()


ODD = "Data Science (EU)"  # a group name no host name, URL path or OS account can hold as it is
MEDIUM = InstanceType(name="medium", cpu=1, memory=3 * 2**30)  # more than MLflow needs (1 GiB): names are tested here


async def test_mlflow_and_streamlit_of_a_group_named_data_science_eu_run_and_answer_at_their_origins(rig):
    """Both built-ins run as the group's service account, in its storage (a path with spaces), become Running
    once their health checks at their roots pass, and answer through the apps' forwarder at their own origins,
    which the group's old ``/apps/<group>/<app>/`` addresses redirect to."""
    rig.groups.policies[ODD] = GroupPolicy(quota={"cpu": 2})
    await rig.executor.close()  # nothing started yet: a runner that gives MLflow's import time to finish
    rig.runner = rig.new_runner(start_timeout=240.0, check_interval=0.5, check_timeout=5.0, failure_threshold=5)
    board = rig.install("board", group=ODD, template="streamlit")
    tracking = rig.install("tracking", group=ODD, template="mlflow", instance_type=MEDIUM)
    await rig.until(board.id, "Installing", timeout=10)
    board = await rig.until(board.id, "Running", timeout=300)  # pip installs streamlit into its venv once
    tracking = await rig.until(tracking.id, "Running", timeout=240)

    # the group's OS names are valid account and group names, and the apps run as its service account
    service, unix_group = service_account_name(ACCOUNT_PREFIX, ODD), unix_group_name(ACCOUNT_PREFIX, ODD)
    for name in (service, unix_group):
        assert re.fullmatch(r"[a-z_][a-z0-9_-]*", name) and len(name) <= MAX_LENGTH, name
    account = pwd.getpwnam(service)
    assert account.pw_name in grp.getgrnam(unix_group).gr_mem
    storage = os.path.join(rig.data_dir, "groups", ODD, "apps")
    for path in (os.path.join(storage, "board", "app.py"), os.path.join(storage, "tracking", "mlflow.db")):
        assert os.stat(path).st_uid == account.pw_uid, path
    assert "import streamlit as st" in open(os.path.join(storage, "board", "app.py")).read()
    log = b"".join(c.data for c in _chunks(rig, board.id)).decode()
    assert "Installing streamlit" in log and "You can now view your Streamlit app" in log

    hub = FakeHub()
    hub.user("tok-eve", "eve", [ODD])
    hub.user("tok-bob", "bob", ["research"])
    eve = {"Authorization": "token tok-eve"}
    forwarder = Apps(hub)
    following = asyncio.ensure_future(follow_apps(rig.db_url, forwarder.table, forwarder.access.hosts, interval=0.1))
    try:
        deadline = time.monotonic() + 60
        while not (f"{ODD}/tracking" in forwarder.table.deployments and f"{ODD}/board" in forwarder.table.deployments):
            assert time.monotonic() < deadline, "the forwarder's routes did not follow the rows"
            await asyncio.sleep(0.1)
        # Streamlit: its health answer and its page, at its origin's root
        r = await forwarder.at("board", "/_stcore/health", group=ODD, headers=eve)
        assert (r.code, r.body) == (200, b"ok")
        r = await forwarder.at("board", "/", group=ODD, headers=eve)
        assert r.code == 200 and b"<title>Streamlit</title>" in r.body
        # MLflow: its REST API, its artifact store in the group's storage
        api = "/api/2.0/mlflow"
        r = await forwarder.at("tracking", f"{api}/experiments/create", group=ODD, method="POST",
                               body=json.dumps({"name": "eu-runs"}), headers={**eve, "Content-Type": "application/json"})
        assert r.code == 200, r.body
        experiment = json.loads(r.body)["experiment_id"]
        artifact = f"/api/2.0/mlflow-artifacts/artifacts/{experiment}/check/hello.txt"
        r = await forwarder.at("tracking", artifact, group=ODD, method="PUT", body=b"hello from the EU", headers=eve)
        assert r.code == 200, r.body
        saved = os.path.join(storage, "tracking", "artifacts", experiment, "check", "hello.txt")
        assert open(saved, "rb").read() == b"hello from the EU" and os.stat(saved).st_uid == account.pw_uid
        # the old address on the hub's origin: the group's name encoded as browsers do, sent to the app's origin
        r = await forwarder.on_hub(f"/apps/Data%20Science%20(EU)/tracking{api}/experiments/get-by-name"
                                   "?experiment_name=eu-runs")
        assert r.code == 302
        moved = urlsplit(r.headers["Location"])
        assert moved.netloc == host("tracking", ODD) and moved.path == f"{api}/experiments/get-by-name"
        r = await forwarder.fetch(f"{moved.path}?{moved.query}", headers={"Host": moved.netloc, **eve})
        assert r.code == 200 and json.loads(r.body)["experiment"]["experiment_id"] == experiment
        r = await forwarder.at("tracking", artifact, group=ODD, headers=eve)
        assert (r.code, r.body) == (200, b"hello from the EU")
        # another group's member: no such app
        r = await forwarder.at("tracking", f"{api}/experiments/search?max_results=1", group=ODD,
                               headers={"Authorization": "token tok-bob"})
        assert r.code == 404
    finally:
        following.cancel()
        forwarder.server.stop()
        forwarder.hub_server.stop()
        await forwarder.server.close_all_connections()
        hub.server.stop()


def _chunks(rig, app_id):
    from hub_ext.store.models_apps import AppLogChunk

    with read_scope(rig.db_url) as s:
        return list(s.scalars(select(AppLogChunk).where(AppLogChunk.app_id == app_id).order_by(AppLogChunk.offset)))


async def test_a_template_without_a_local_way_to_run_fails_saying_so(rig):
    rig.template = AppTemplate(name="tiny", display_name="Pods only", kubernetes={"image": "x"})
    row = await rig.until(rig.install().id, "Failed", timeout=10)
    assert "no way to run here" in row.message and rig.held() == []
