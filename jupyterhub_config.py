"""Hubfront, embedded default: one machine, SQLite, local processes, configurable-http-proxy.

Environment: HUBFRONT_PORT (8000), HUBFRONT_DATA_DIR (./data),
HUBFRONT_ADMIN_USER (admin), HUBFRONT_ADMIN_PASSWORD (generated on first start),
HUBFRONT_ISOLATE (auto), HUBFRONT_ACCOUNT_PREFIX (hubfront-),
HUBFRONT_APPS_PORT (8002: where the runner serves apps, each at its own host name),
HUBFRONT_APPS_ORIGIN (http://{app}--{group}.apps.localhost:<apps port>).
For Kubernetes, see config/kubernetes/values.yaml.
"""

import os
import shutil
from urllib.parse import urlsplit
from pathlib import Path

from hub_ext.configure import configure

c = get_config()  # noqa: F821

here = Path(__file__).resolve().parent
data_dir = Path(os.environ.get("HUBFRONT_DATA_DIR", here / "data")).resolve()
data_dir.mkdir(parents=True, exist_ok=True)

configure(c)

c.JupyterHub.bind_url = f"http://127.0.0.1:{os.environ.get('HUBFRONT_PORT', '8000')}"
# apps at their own origins (never the hub's): *.localhost reaches the loopback in browsers
apps_port = int(os.environ.get("HUBFRONT_APPS_PORT", "8002"))
c.Apps.origin = os.environ.get("HUBFRONT_APPS_ORIGIN") or f"http://{{app}}--{{group}}.apps.localhost:{apps_port}"
c.Apps.port = apps_port
c.Apps.bind_ip = urlsplit(c.JupyterHub.bind_url).hostname  # like the proxy's public port
c.AppAccess.hub_url = c.JupyterHub.bind_url  # apps send browsers back here to log in
c.JupyterHub.hub_port = int(os.environ.get("HUBFRONT_HUB_PORT", "8081"))
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{os.environ.get('HUBFRONT_PROXY_API_PORT', '8001')}"
c.JupyterHub.db_url = f"sqlite:///{data_dir / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(data_dir / "jupyterhub_cookie_secret")
c.ConfigurableHTTPProxy.pid_file = str(data_dir / "jupyterhub-proxy.pid")
c.Hubfront.data_dir = str(data_dir)
c.Hubfront.db_url = f"sqlite:///{data_dir / 'hubfront.sqlite'}"
# workloads run as their owners' OS accounts when the hub runs as root (see docs/admin-guide.md)
c.Isolation.isolate = os.environ.get("HUBFRONT_ISOLATE", "auto")
c.Isolation.account_prefix = os.environ.get("HUBFRONT_ACCOUNT_PREFIX", "hubfront-")

proxy = here / "node_modules" / ".bin" / "configurable-http-proxy"
c.ConfigurableHTTPProxy.command = [str(proxy) if proxy.exists() else shutil.which("configurable-http-proxy") or "configurable-http-proxy"]
