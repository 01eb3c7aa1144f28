"""The two hubs under comparison, started the same way on the same machine.

``hubfront`` is the repository's ``jupyterhub -f jupyterhub_config.py``; ``stock``
is plain JupyterHub with ``bench/stock_config.py`` (shared-password login, the
default LocalProcessSpawner, its own home page). Both run in a fresh temp data
dir on free ports, behind the configurable-http-proxy from ``node_modules``, and
both read the same environment variables for their ports and admin password.
Only 127.0.0.1 is ever contacted.
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
ADMIN = "admin"
# SharedPasswordAuthenticator wants >= 32 characters for the admin password.
ADMIN_PASSWORD = "bench-admin-" + secrets.token_hex(16)
USER_PASSWORD = "bench-user-Passw0rd!"


def free_port() -> int:
    """A free port of 127.0.0.1, as the hub picks its services' (below the ephemeral range: see there)."""
    from hub_ext.configure import free_port as pick

    return pick()


def proxy_dir() -> Path:
    return REPO / "node_modules" / ".bin"


class HubSession(requests.Session):
    """A logged-in, browser-like session (cookies plus the page's XSRF token)."""

    def __init__(self, base_url: str):
        super().__init__()
        self.base_url = base_url.rstrip("/")
        self.xsrf = ""

    def url(self, path: str) -> str:
        return self.base_url + path


class Hub:
    """One jupyterhub process (with its proxy) in ``data_dir``."""

    def __init__(self, kind: str, config: Path, data_dir: Path, env: dict | None = None):
        self.kind = kind
        self.config = config
        self.data_dir = Path(data_dir)
        self.port = free_port()
        self.ssh_port = free_port()  # the SSH gateway's (hub_ext.ssh), 8022 otherwise
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.extra_env = env or {}
        self.proc: subprocess.Popen | None = None
        self.log_path = self.data_dir / "hub.log"
        self._token = ""
        self.run_as: tuple[int, int] | None = None  # (uid, gid) to start the hub as, from a root caller

    # -- process -------------------------------------------------------------
    def env(self) -> dict:
        env = dict(os.environ)
        env.update(
            HUBFRONT_DATA_DIR=str(self.data_dir),
            HUBFRONT_PORT=str(self.port),
            HUBFRONT_HUB_PORT=str(free_port()),
            HUBFRONT_PROXY_API_PORT=str(free_port()),
            HUBFRONT_SSH_PORT=str(self.ssh_port),
            HUBFRONT_APPS_PORT=str(free_port()),  # the apps' forwarder: another hub on this machine may hold the default
            HUBFRONT_ADMIN_USER=ADMIN,
            HUBFRONT_ADMIN_PASSWORD=ADMIN_PASSWORD,
            BENCH_USER_PASSWORD=USER_PASSWORD,
            PATH=f"{proxy_dir()}{os.pathsep}{BIN}{os.pathsep}{env.get('PATH', '')}",
        )
        env.pop("HUBFRONT_DB_URL", None)
        env.update(self.extra_env)
        return env

    def start(self, timeout: float = 120) -> "Hub":
        self.launch()
        return self.wait_ready(timeout)

    def launch(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        user = {"user": self.run_as[0], "group": self.run_as[1], "extra_groups": []} if self.run_as else {}
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [str(BIN / "jupyterhub"), "-f", str(self.config)],
                cwd=self.data_dir, env=self.env(), stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True, **user,
            )

    def wait_ready(self, timeout: float = 120) -> "Hub":
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.kind} hub exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                if requests.get(self.base_url + "/hub/login", timeout=2).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"{self.kind} hub did not come up in {timeout}s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self.proc = None

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- HTTP ----------------------------------------------------------------
    def login(self, username: str, password: str) -> HubSession:
        s = HubSession(self.base_url)
        s.get(s.url("/hub/login"), timeout=30)
        # next=/hub/home: stock would otherwise go on to spawn the user's server
        r = s.post(s.url("/hub/login?next=%2Fhub%2Fhome"), timeout=60,
                   data={"username": username, "password": password, "_xsrf": s.cookies.get("_xsrf", "")})
        r.raise_for_status()
        if "/hub/login" in r.url:
            raise RuntimeError(f"{self.kind}: login of {username} failed")
        m = re.search(r'xsrf_token: "([^"]+)"', s.get(s.url("/hub/home"), timeout=30).text)
        s.xsrf = m.group(1) if m else s.cookies.get("_xsrf", "")
        return s

    @property
    def token(self) -> str:
        """An API token of the admin, made once through a cookie login."""
        if not self._token:
            s = self.login(ADMIN, ADMIN_PASSWORD)
            r = s.post(s.url(f"/hub/api/users/{ADMIN}/tokens"), json={"note": "bench", "expires_in": 7200},
                       headers={"X-XSRFToken": s.xsrf}, timeout=30)
            r.raise_for_status()
            self._token = r.json()["token"]
        return self._token

    def api(self, method: str, path: str, **kw) -> requests.Response:
        headers = kw.pop("headers", {})
        headers["Authorization"] = f"token {self.token}"
        kw.setdefault("timeout", 60)
        url = f"{self.base_url}/hub/api{path}"
        if method != "GET":
            return requests.request(method, url, headers=headers, **kw)
        for attempt in range(3):  # a dropped connection is retried where that is harmless
            try:
                return requests.request(method, url, headers=headers, **kw)
            except requests.ConnectionError:
                if attempt == 2:
                    raise
                time.sleep(0.1)

    @property
    def portal_db_url(self) -> str:
        return f"sqlite:///{self.data_dir / 'hubfront.sqlite'}"

    def set_local_password(self, username: str, password: str) -> None:
        """Hubfront logs in local accounts only: give ``username`` one (no-op on stock)."""
        if self.kind == "hubfront":
            from hub_ext.auth.passwords import set_password

            set_password(self.portal_db_url, username, password)


def hubfront(root: Path, env: dict | None = None) -> Hub:
    return Hub("hubfront", REPO / "jupyterhub_config.py", root / "hubfront", env)


def stock(root: Path, env: dict | None = None) -> Hub:
    return Hub("stock", Path(__file__).resolve().parent / "stock_config.py", root / "stock", env)


@contextmanager
def side_by_side(root: Path, hubfront_env: dict | None = None, stock_env: dict | None = None):
    """Start both hubs at once in ``root`` and stop both afterwards: yields (hubfront, stock)."""
    pair = (hubfront(Path(root), hubfront_env), stock(Path(root), stock_env))
    try:
        for hub in pair:
            hub.launch()
        for hub in pair:
            hub.wait_ready()
        yield pair
    finally:
        for hub in pair:
            hub.stop()
