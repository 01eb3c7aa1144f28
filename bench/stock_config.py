"""Stock JupyterHub 6.1.1 for the side-by-side benchmarks.

Nothing of Hubfront is loaded: JupyterHub's own pages, a shared-password
authenticator, LocalProcessSpawner. It is deployed like Hubfront's
embedded default (SQLite under the data dir, the same configurable-http-proxy,
same ports scheme) and reads the same environment variables that bench/hubs.py
sets for both hubs: HUBFRONT_DATA_DIR, HUBFRONT_PORT, HUBFRONT_HUB_PORT,
HUBFRONT_PROXY_API_PORT, HUBFRONT_ADMIN_USER, HUBFRONT_ADMIN_PASSWORD and
BENCH_USER_PASSWORD. BENCH_SPAWNER_CMD (JSON list) sets the single-user command.
"""

import json
import os
import shutil
from pathlib import Path

c = get_config()  # noqa: F821

here = Path(__file__).resolve().parent
repo = here.parent
data_dir = Path(os.environ["HUBFRONT_DATA_DIR"]).resolve()
data_dir.mkdir(parents=True, exist_ok=True)

c.JupyterHub.authenticator_class = "shared-password"
c.SharedPasswordAuthenticator.user_password = os.environ["BENCH_USER_PASSWORD"]
c.SharedPasswordAuthenticator.admin_password = os.environ["HUBFRONT_ADMIN_PASSWORD"]
c.Authenticator.admin_users = {os.environ.get("HUBFRONT_ADMIN_USER", "admin")}
c.Authenticator.allow_all = True
# LocalProcessSpawner, in the variant that runs servers as the hub's OS user
# (as Hubfront's LocalGroupSpawner does) instead of switching to a system user
# of the same name, with a per-user home under the data dir (as Hubfront).
c.JupyterHub.spawner_class = "simple"
c.SimpleLocalProcessSpawner.home_dir_template = str(data_dir / "homes" / "{username}")

c.JupyterHub.bind_url = f"http://127.0.0.1:{os.environ['HUBFRONT_PORT']}"
c.JupyterHub.hub_port = int(os.environ["HUBFRONT_HUB_PORT"])
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{os.environ['HUBFRONT_PROXY_API_PORT']}"
c.JupyterHub.db_url = f"sqlite:///{data_dir / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(data_dir / "jupyterhub_cookie_secret")
c.ConfigurableHTTPProxy.pid_file = str(data_dir / "jupyterhub-proxy.pid")

proxy = repo / "node_modules" / ".bin" / "configurable-http-proxy"
c.ConfigurableHTTPProxy.command = [str(proxy) if proxy.exists() else shutil.which("configurable-http-proxy") or "configurable-http-proxy"]

if os.environ.get("BENCH_SPAWNER_CMD"):
    c.Spawner.cmd = json.loads(os.environ["BENCH_SPAWNER_CMD"])
