"""Shared test helpers: real hub processes, logins, and honest skipping.

``need(condition, reason)`` skips with a visible reason on a developer machine
that lacks a server, and fails instead when ``CI=true``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from bench.hubs import Hub, free_port  # noqa: F401  (free_port is used by tests)
from bench.hubs import HubSession as BenchSession

REPO = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
# OS accounts made by test hubs (as root) carry their own prefix and are deleted at the end; each
# pytest-xdist worker has its own, so that workers running at once never share (or delete) an account
_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")  # "gw0", "gw1", ...; "" without xdist
ACCOUNT_PREFIX = os.environ.get("HUBFRONT_TEST_ACCOUNT_PREFIX") or (f"hft{_WORKER[2:]}-" if _WORKER else "hftest-")


def let_workloads_pass(path: Path) -> None:
    """Workload accounts must pass through to a test hub's data dir, but pytest keeps its temp
    tree root-only (0700): give the directories above ``path`` inside the temp dir search permission."""
    import tempfile

    if os.geteuid() != 0:
        return
    tmp = Path(tempfile.gettempdir()).resolve()
    for directory in [*reversed(Path(path).resolve().parents), Path(path).resolve()]:
        if tmp in directory.parents and directory.is_dir() and not directory.stat().st_mode & 0o001:
            directory.chmod(directory.stat().st_mode | 0o011)


def isolated_data_dir(tmp_path: Path):
    """``(<tmp>/data, Isolation)``: a fresh data dir workload accounts may pass (0711), isolation always on."""
    from hub_ext.isolation import Isolation

    data = tmp_path / "data"
    data.mkdir()
    let_workloads_pass(data)
    data.chmod(0o711)
    return data, Isolation(isolate="always", account_prefix=ACCOUNT_PREFIX, data_dir=str(data))


def host_mounts() -> list[str]:
    """The host's mount points (what a workload's namespace must never add to), without the pins of the
    workloads' network namespaces in /run/netns (the isolation module's own, made and removed as workloads
    start and end, also by other tests running at the same time)."""
    with open("/proc/self/mountinfo") as f:
        return sorted(p for p in (line.split()[4] for line in f) if not p.startswith("/run/netns/"))


def need(condition: bool, reason: str) -> None:
    if condition:
        return
    if IN_CI:
        pytest.fail(f"required under CI=true: {reason}")
    pytest.skip(reason)


@pytest.fixture(autouse=True, name="cleanup_after")
def no_mockhub_cleanup():
    """Replaces JupyterHub's async MockHub clean-up in folders that drive a real hub (import it
    into their conftest): Playwright's sync API cannot share the thread with pytest-asyncio's runner."""
    yield


def proxy_command() -> str | None:
    local = REPO / "node_modules" / ".bin" / "configurable-http-proxy"
    if local.exists():
        return str(local)
    from shutil import which

    return which("configurable-http-proxy")


def xsrf_of(html: str) -> str:
    m = re.search(r'xsrf_token: "([^"]+)"', html)
    assert m, "page carries no xsrf token"
    return m.group(1)


class HubSession(BenchSession):
    """A logged-in browser-like session: cookies plus the page's XSRF token."""

    # The proxy (node's HTTP server) closes a kept-alive connection idle for 5 s; a request sent on it
    # just then is reset before the hub sees it. Requests that may be sent twice are sent again on a new
    # connection, as a browser does; POST and PATCH never are.
    _RETRY = Retry(total=2, connect=2, read=1, status=0, redirect=False,
                   allowed_methods=frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"}))

    def __init__(self, base_url: str):
        super().__init__(base_url)
        self.mount("http://", HTTPAdapter(max_retries=self._RETRY))

    def api(self, method: str, path: str, **kw):
        headers = kw.pop("headers", {})
        headers.setdefault("X-XSRFToken", self.xsrf)
        return self.request(method, self.url("/hub/api" + path), headers=headers, **kw)


def resolve_localhost() -> None:
    """Let this process's ``requests`` reach ``*.localhost`` names at the loopback, as browsers do (RFC 6761;
    glibc may not resolve them): the URL, its Host header and its cookies' domain stay the app's."""
    import socket

    if getattr(socket.getaddrinfo, "hubfront_localhost", False):
        return
    real = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        name = host.decode() if isinstance(host, bytes) else host
        if isinstance(name, str) and name.lower().rstrip(".").endswith(".localhost"):
            host = "127.0.0.1"
        return real(host, *args, **kwargs)

    getaddrinfo.hubfront_localhost = True
    socket.getaddrinfo = getaddrinfo


class RealHub(Hub):
    """The real ``jupyterhub -f jupyterhub_config.py`` in a temp data dir on free ports.

    The process handling is the benchmarks' (bench.hubs.Hub), so tests and
    benchmarks start the hub the same way; tests add their own admin password,
    strict logins and local accounts.
    """

    def __init__(self, data_dir: Path, admin_password: str = "admin-Passw0rd!", env: dict | None = None,
                 config: Path | None = None):
        super().__init__("hubfront", config or REPO / "jupyterhub_config.py", data_dir, env)
        self.admin_password = admin_password
        self.apps_port = free_port()  # apps at http://<app>--<group>.apps.localhost:<apps_port>

    def app_origin(self, group: str, app: str) -> str:
        """Where an app of this hub is served (its own origin; see :func:`resolve_localhost`)."""
        from hub_ext.apps.origin import app_origin

        return app_origin(f"http://{{app}}--{{group}}.apps.localhost:{self.apps_port}", group, app)

    def env(self) -> dict:
        env = super().env()
        env["HUBFRONT_ADMIN_PASSWORD"] = self.admin_password
        env["HUBFRONT_APPS_PORT"] = str(self.apps_port)
        env.update(self.extra_env)
        return env

    def start(self, timeout: float = 90) -> "RealHub":
        let_workloads_pass(self.data_dir.parent)
        return super().start(timeout)

    def close(self) -> None:
        """The end of a test's hub: stop it and end what it left running (replicas, jobs and servers outlive
        the hub and the runner by design; the session's leftover check fails the run on any)."""
        self.stop()
        stop_leftover_servers(self.data_dir)

    def kill(self) -> None:
        """Stop the hub abruptly (SIGKILL to the hub only), as a crash would."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None

    def login(self, username: str, password: str) -> HubSession:
        s = HubSession(self.base_url)
        s.get(s.url("/hub/login"))
        r = s.post(s.url("/hub/login"), data={"username": username, "password": password,
                                              "_xsrf": s.cookies.get("_xsrf", "")})
        r.raise_for_status()
        assert "/hub/login" not in r.url, f"login of {username} failed"
        s.xsrf = xsrf_of(s.get(s.url("/hub/home")).text)
        return s

    def admin(self) -> HubSession:
        return self.login("admin", self.admin_password)

    def add_user(self, name: str, password: str, groups: list[str] = ()) -> None:
        """Create a local account and hub user, and put it in ``groups``."""
        from hub_ext.auth.passwords import set_password

        set_password(self.portal_db_url, name, password)
        admin = self.admin()
        r = admin.api("POST", f"/users/{name}")
        assert r.status_code in (201, 409), r.text
        for group in groups:
            r = admin.api("POST", f"/groups/{group}/users", json={"users": [name]})
            if r.status_code == 404:
                admin.api("POST", f"/groups/{group}").raise_for_status()
                r = admin.api("POST", f"/groups/{group}/users", json={"users": [name]})
            r.raise_for_status()



PG_ADMIN_URL = os.environ.get("HUBFRONT_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def catalog_hub(work: Path, instance_types: list[dict], config: str = "") -> RealHub:
    """A RealHub (not started) in ``work``: the shipped catalog plus ``instance_types``, no seeded groups,
    and ``config`` (lines of Python) after jupyterhub_config.py."""
    import yaml

    catalog = yaml.safe_load((REPO / "config" / "hubfront.yaml").read_text())
    catalog["catalog"]["instance_types"] += instance_types
    catalog["groups"] = {}
    (work / "catalog.yaml").write_text(yaml.safe_dump(catalog))
    (work / "config.py").write_text(f"load_subconfig({str(REPO / 'jupyterhub_config.py')!r})\n{config}")
    return RealHub(work / "data", env={"HUBFRONT_CATALOG": str(work / "catalog.yaml")}, config=work / "config.py")


def make_groups(hub: RealHub, policies: dict[str, dict]) -> None:
    """Create each group (as the hub's admin) with its policy."""
    admin = hub.admin()
    for group, policy in policies.items():
        assert admin.api("POST", f"/groups/{group}").status_code == 201
        assert admin.api("PUT", f"/portal/groups/{group}/policy", json={"policy": policy}).status_code == 200


def pg_available() -> tuple[bool, str]:
    import sqlalchemy as sa

    try:
        engine = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
        engine.dispose()
        return True, ""
    except Exception as exc:  # noqa: BLE001 - any failure means no server
        return False, f"PostgreSQL not reachable at {PG_ADMIN_URL}: {exc.__class__.__name__}"


def create_pg_database() -> str:
    """A fresh, migrated portal database on the PostgreSQL server; drop it with drop_pg_database."""
    import uuid

    import sqlalchemy as sa

    from hub_ext.store import upgrade

    name = f"hubfront_test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    upgrade(url)
    return url


def drop_pg_database(url: str) -> None:
    import sqlalchemy as sa

    from hub_ext.store.engine import get_engine

    get_engine(url).dispose()
    name = url.rsplit("/", 1)[1]
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


SCREENSHOTS = REPO / "data" / "screenshots"


def screenshot(pg, name: str) -> Path:
    """Keep a screenshot of what the test saw (data/screenshots/) for people to look at."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    pg.screenshot(path=str(path), full_page=True)
    return path


def shown(page, dialog: str) -> None:
    """Wait until a Bootstrap dialog has finished opening (its fade-in done, "shown" fired)."""
    page.wait_for_function("s => { const m = document.querySelector(s); return m.classList.contains('show') "
                           "&& !m.dataset.hfShowing && getComputedStyle(m).opacity === '1'; }", arg=dialog)


def close_dialog(page, dialog: str, button: str = ".btn-close") -> None:
    """Close an open dialog with one of its buttons, as a person does once it is on the screen, and
    see it gone. (Closing while it still opens is portal.js's own concern.)"""
    from playwright.sync_api import expect

    shown(page, dialog)
    page.locator(f"{dialog} {button}").click()
    expect(page.locator(dialog)).to_be_hidden()


def ui_login(page, hub: "RealHub", username: str, password: str) -> None:
    """Log in through the login form, as a person would."""
    page.goto(hub.base_url + "/hub/login")
    page.fill("#username_input", username)
    page.fill("#password_input", password)
    page.click("#login_submit")
    page.wait_for_url("**/hub/home")


def run_bench(tmp_path: Path, *args: str, accounts: str = "", timeout: float = 300) -> tuple[dict, dict]:
    """``python -m bench <args>`` as ``make bench`` runs it, its results in ``tmp_path``; it must succeed.
    ``accounts``: a prefix of this run's own workload accounts. Returns (benchmark -> its one line, results)."""
    import json

    results = tmp_path / "latest.json"
    env = dict(os.environ, BENCH_ACCOUNT_PREFIX=f"{ACCOUNT_PREFIX}{accounts}") if accounts else None
    proc = subprocess.run([sys.executable, "-m", "bench", *args, "--json", str(results)], cwd=REPO,
                          capture_output=True, text=True, timeout=timeout, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    doc = json.loads(results.read_text())["results"]
    lines = {}
    for line in proc.stdout.splitlines():
        name = line.split(":", 1)[0]
        if name in doc:
            assert name not in lines, proc.stdout
            lines[name] = line
    return lines, doc


def thaw(data: Path) -> None:
    """Clear every immutable flag the storage quota guard may have left in a data dir's group trees (or the
    temporary folder cannot be removed)."""
    from hub_ext.isolation import fsflags, safefs

    groups = Path(data) / "groups"
    if groups.is_dir():
        fd = safefs.open_dir(groups)
        try:
            fsflags.set_tree(fd, False)
        finally:
            os.close(fd)


def until(check, timeout: float = 60, what: str = "", interval: float = 0.2):
    """Ask ``check()`` until it answers something true, and return that; after ``timeout`` seconds fail
    naming ``what`` and the last answer. For a state a background process (the runner, a keeper, the
    proxy, the kernel's scheduler) reaches in its own time: the test waits for the state, never for a
    moment, so a machine twice as slow only takes longer."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"not reached in {timeout:g} s: {what or 'the awaited state'}; last seen: {value!r}")
        time.sleep(interval)


# -- notebook servers on the real hub --------------------------------------------------


def wait_for_server(session: HubSession, user: str, server: str, timeout: float = 120,
                    hub: "RealHub | None" = None) -> dict:
    """Poll ``GET /hub/api/users/{user}`` until ``servers[server]`` is ready; return its model.

    Fails early, with the hub's log tail when ``hub`` is given, if the server
    vanishes from the list (its spawn failed).
    """
    deadline = time.monotonic() + timeout
    seen_pending = False
    while time.monotonic() < deadline:
        r = session.api("GET", f"/users/{user}")
        r.raise_for_status()
        model = (r.json().get("servers") or {}).get(server)
        if model and model.get("ready"):
            return model
        if model:
            seen_pending = True
        elif seen_pending:
            raise AssertionError(f"{user}/{server} stopped before it was ready\n{hub.log_tail() if hub else ''}")
        time.sleep(0.3)
    raise AssertionError(f"{user}/{server} not ready in {timeout}s\n{hub.log_tail() if hub else ''}")


def wait_for_stopped(session: HubSession, user: str, server: str, timeout: float = 60) -> None:
    """Poll until the hub lists no ``server`` for ``user`` (stopped, nothing pending)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = session.api("GET", f"/users/{user}")
        r.raise_for_status()
        if server not in (r.json().get("servers") or {}):
            return
        time.sleep(0.3)
    raise AssertionError(f"{user}/{server} still listed after {timeout}s")


def user_token(session: HubSession, user: str, note: str = "e2e") -> str:
    """A fresh API token for ``user``, asked for from the user's own session."""
    r = session.api("POST", f"/users/{user}/tokens", json={"note": note, "expires_in": 3600})
    assert r.status_code == 201, r.text
    return r.json()["token"]


def run_in_server(session: HubSession, user: str, server: str, code: str, timeout: float = 60,
                  token: str | None = None) -> str:
    """Run ``code`` in a new kernel of the user's server, through the proxy; return its stdout.

    Uses the server's REST API (``POST .../api/kernels``) and the kernel's
    websocket (Jupyter messaging, JSON frames), the way JupyterLab does. An
    error in the code fails with the kernel's traceback.
    """
    import json
    import uuid

    import websocket

    token = token or user_token(session, user)
    headers = {"Authorization": f"token {token}"}
    api = session.base_url + f"/user/{user}/{server}/api/kernels"
    r = requests.post(api, json={}, headers=headers, timeout=30)
    assert r.status_code == 201, f"{r.status_code} {r.text[:500]}"
    kernel_id = r.json()["id"]
    ws_url = api.replace("http://", "ws://", 1) + f"/{kernel_id}/channels"
    ws = websocket.create_connection(ws_url, header=[f"Authorization: token {token}"], timeout=timeout)
    try:
        msg_id = uuid.uuid4().hex
        ws.send(json.dumps({
            "header": {"msg_id": msg_id, "username": user, "session": uuid.uuid4().hex,
                       "msg_type": "execute_request", "version": "5.3"},
            "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
            "content": {"code": code, "silent": False, "store_history": False,
                        "user_expressions": {}, "allow_stdin": False, "stop_on_error": True},
        }))
        out: list[str] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = json.loads(ws.recv())
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "stream" and content.get("name") == "stdout":
                out.append(content["text"])
            elif kind == "error":
                raise AssertionError("kernel error:\n" + "\n".join(content.get("traceback", [])))
            elif kind == "status" and content.get("execution_state") == "idle":
                return "".join(out)
        raise AssertionError(f"no reply from the kernel in {timeout}s; stdout so far: {''.join(out)!r}")
    finally:
        ws.close()
        requests.delete(f"{api}/{kernel_id}", headers=headers, timeout=30)


def progress_events(session: HubSession, user: str, server: str, timeout: float = 180) -> list[dict]:
    """Read the spawn's progress stream (Server-Sent Events) to its end; return the events."""
    import json

    events = []
    with session.get(session.url(f"/hub/api/users/{user}/servers/{server}/progress"),
                     stream=True, timeout=timeout) as r:
        r.raise_for_status()
        for line in r.iter_lines(decode_unicode=True):
            if line and line.startswith("data:"):
                event = json.loads(line[len("data:"):])
                events.append(event)
                if event.get("ready") or event.get("failed"):
                    break
    return events


def build_tiny_wheel(workdir: Path, name: str = "hftiny", value: int = 42) -> Path:
    """Build ``<name>-0.1`` (a module with ``VALUE = value``) into a wheel, offline; return its path.

    Uses the test interpreter's pip and hatchling (no build isolation, no index).
    """
    src = Path(workdir) / f"{name}-src"
    (src / "src" / name).mkdir(parents=True, exist_ok=True)
    (src / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["hatchling"]\nbuild-backend = "hatchling.build"\n\n'
        f'[project]\nname = "{name}"\nversion = "0.1"\n'
    )
    (src / "src" / name / "__init__.py").write_text(f"VALUE = {value}\n")
    out = Path(workdir) / "wheels"
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
         "--disable-pip-version-check", "-w", str(out), str(src)],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    [wheel] = out.glob(f"{name}-0.1-*.whl")
    return wheel


def stop_leftover_servers(data_dir: Path, timeout: float = 10) -> list[int]:
    """Terminate the workloads of a test hub that are still running; return their pids.

    The hub leaves servers running when it stops (``cleanup_servers = False``), and
    deployment replicas and jobs outlive the runner by design, so a test would leave
    them behind (holding ports the next tests may be given). They are found by their
    working directory, the user's home under ``data_dir``; their keepers end with them.
    """
    import psutil

    root = str(Path(data_dir).resolve())
    found = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        try:
            if proc.pid != os.getpid() and proc.cwd().startswith(root + os.sep):
                proc.terminate()
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    _, alive = psutil.wait_procs(found, timeout=timeout)
    for proc in alive:
        proc.kill()
    return [p.pid for p in found] + remove_networks(data_dir)


def leftover_processes(root: str) -> list:
    """Processes (not this one, nor its ancestors) that belong to the tests under ``root``: ``root`` in
    their command line, working directory or environment (a workload's home is under its hub's data dir).
    Not by account name: another test run on the same machine uses the same test accounts."""
    import psutil

    mine = {os.getpid(), *(p.pid for p in psutil.Process().parents())}
    found = []
    for proc in psutil.process_iter(["pid", "username", "cmdline"]):
        if proc.pid in mine:
            continue
        try:
            if any(root in part for part in proc.info["cmdline"] or ()) or \
                    proc.cwd().startswith(root) or any(root in v for v in proc.environ().values()):
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


def remove_networks(data_dir: Path) -> list[int]:
    """As root: kill what still runs in the test hub's workload network namespaces (a server a notebook
    started in a session of its own), remove them and the hub's nftables table; the pids killed."""
    if os.geteuid() != 0 or not os.path.isdir("/run/netns"):
        return []
    from hub_ext.isolation import Isolation
    from hub_ext.isolation.netrules import table_name

    tag, killed = Isolation(data_dir=str(data_dir)).tag, []
    for name in os.listdir("/run/netns"):
        if name.startswith(f"hf-{tag}-"):
            pids = subprocess.run(["ip", "netns", "pids", name], capture_output=True, text=True).stdout.split()
            for pid in map(int, pids):
                try:
                    os.kill(pid, 9)
                    killed.append(pid)
                except ProcessLookupError:
                    pass
            subprocess.run(["ip", "netns", "delete", name], capture_output=True)
    subprocess.run(["nft", "delete", "table", "inet", table_name(tag)], capture_output=True)
    return killed


def put_deployments(db_url: str, n: int, prefix: str = "dep", stopped: int = 0) -> None:
    """Make the portal DB hold exactly ``n`` deployments that count (plus ``stopped`` stopped ones,
    which do not), as the license sees them, without running anything."""
    from hub_ext.store import session_scope
    from hub_ext.store.models_deployments import Deployment

    with session_scope(db_url) as s:
        s.query(Deployment).filter(Deployment.id.like(f"{prefix}-%")).delete(synchronize_session=False)
        for i in range(n + stopped):
            s.add(Deployment(id=f"{prefix}-{i}", group="g", username="u", name=f"{prefix} {i}",
                             instance_type="cpu-1", command="true", stopped=i >= n,
                             phase="Stopped" if i >= n else "Deployed"))


def git(*args, cwd=None) -> str:
    """Run git for a test (an author of its own, no user config); its stdout, stripped."""
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@x", "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout.strip()


def bare_repository(tmp_path: Path, readme: str) -> tuple[Path, Path]:
    """A bare repository with one commit ("First commit", README.md = ``readme``), and a clone to push from."""
    bare, work = tmp_path / "origin.git", tmp_path / "work"
    git("init", "--bare", "-b", "main", str(bare))
    git("clone", str(bare), str(work))
    (work / "README.md").write_text(readme)
    git("add", ".", cwd=work)
    git("commit", "-m", "First commit", cwd=work)
    git("push", "origin", "HEAD:main", cwd=work)
    return bare, work


def html_elements(markup: str) -> list[tuple[str, dict]]:
    """The elements a browser would build from ``markup``, as (tag, attributes): text such as
    ``&lt;script&gt;`` is just text (for checking that rendered Markdown holds nothing that runs)."""
    from html.parser import HTMLParser

    found = []

    class Collect(HTMLParser):
        def handle_starttag(self, tag, attrs):
            found.append((tag, dict(attrs)))

    Collect().feed(markup)
    return found


def remove_test_cgroups(root: str, cgroup_root: str = "hubfront") -> int:
    """Remove the cgroup subtrees of the tests' hubs once they are empty: each hub's subtree is named by
    its data dir (``Isolation.tag``), and every test hub's data dir lies under ``root``, so nothing of
    another hub on this machine is touched. A cgroup still in use refuses its removal and stays."""
    import hashlib

    from hub_ext.isolation.cgroups import parse_mounts

    dirs = [p for pattern in ("*", "*/*", "*/*/*", "*/*/*/*") for p in Path(root).glob(pattern) if p.is_dir()]
    tags = {hashlib.sha256(str(p.resolve()).encode()).hexdigest()[:8] for p in dirs}
    unified, v1 = parse_mounts(Path("/proc/self/mounts").read_text())
    removed = 0
    for mount in {*v1.values(), *([unified] if unified else [])}:
        for tag in tags:
            top = mount / cgroup_root / tag
            if not top.is_dir():
                continue
            for cgroup in sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)) + [top]:
                try:
                    cgroup.rmdir()
                    removed += 1
                except OSError:
                    pass
    return removed
