"""Wire Hubfront into a JupyterHub config object.

``jupyterhub_config.py`` calls ``configure(c)``; so do the tests, so that the
hub under test is set up exactly like the one users run.
"""

from __future__ import annotations

import os

from . import template_dir
from .scopes import CUSTOM_SCOPES, READ, WRITE

SERVICE_NAME = "hubfront-runner"  # the same name as hub_ext.services.webapp.SERVICE_NAME
RUNNER_ROLE = "hubfront-runner"
SSH_SERVICE = "hubfront-ssh"  # the same name as hub_ext.ssh.settings.SERVICE_NAME


CLAIM_SECONDS = 120.0  # how long a port handed out stays claimed: the service it is for binds it well before
_claims: dict[int, tuple[float, object]] = {}


def free_port() -> int:
    """A free port of 127.0.0.1 for a service the hub starts a moment later (the runner, the apps), picked
    below the kernel's ephemeral range: a port the kernel hands out (``bind(0)``) is also what any process's
    next outgoing connection may take before the service binds it, and then the service (and the hub) would
    not start. The port is also *claimed* for ``CLAIM_SECONDS`` by an abstract Unix socket named after it,
    which this process holds: two processes picking at once (tests side by side, a hub and its bench) never
    hand out the same port before its service bound it."""
    import random
    import socket
    import time

    now = time.monotonic()
    for port, (since, claim) in list(_claims.items()):
        if now - since > CLAIM_SECONDS:
            del _claims[port]
            claim.close()
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    for _ in range(100):
        port = random.randint(max(1024, low // 3), low - 1) if low > 3072 else 0
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            port = s.getsockname()[1]
        claim = _claim(port)
        if claim is not None:
            _claims[port] = (now, claim)
            return port
    raise OSError("no free port below the kernel's ephemeral range could be claimed")


def _claim(port: int):
    """An abstract Unix socket named after ``port`` (None when another process holds that name)."""
    import socket

    claim = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        claim.bind(f"\0hubfront-port-{port}")
    except OSError:
        claim.close()
        return None
    claim.set_inheritable(False)
    return claim


def add_runner_service(c) -> None:
    """The runner, a managed service the hub starts (and restarts when it dies).

    Its port is $HUBFRONT_RUNNER_PORT, else a free one; the hub hands it its
    configuration at start (``hub_ext.portal.startup``).
    """
    import sys

    port = int(os.environ.get("HUBFRONT_RUNNER_PORT") or free_port())
    base_url = c.JupyterHub.base_url if "base_url" in c.JupyterHub else "/"
    services = [s for s in (c.JupyterHub.services if "services" in c.JupyterHub else [])
                if s.get("name") != SERVICE_NAME]
    services.append({"name": SERVICE_NAME, "command": [sys.executable, "-m", "hub_ext.services"],
                     "url": f"http://127.0.0.1:{port}", "display": False, **runner_oauth(base_url)})
    c.JupyterHub.services = services
    if "origin" not in c.Apps:  # apps at their own origins, on a port of the runner's (jupyterhub_config.py sets it)
        apps_port = int(os.environ.get("HUBFRONT_APPS_PORT") or free_port())
        c.Apps.port = apps_port
        c.Apps.origin = f"http://{{app}}--{{group}}.apps.localhost:{apps_port}"
    # deployment endpoints, and the apps' login return and old addresses: the proxy sends
    # <base_url>deployments/… and <base_url>apps/… to the runner (apps themselves are served at their
    # own origins); the hub keeps these routes in the proxy (its periodic check restores them)
    routes = dict(c.Proxy.extra_routes) if "extra_routes" in c.Proxy else {}
    for path in ("deployments/", "apps/"):
        routes[f"{base_url.rstrip('/')}/{path}"] = f"http://127.0.0.1:{port}"
    c.Proxy.extra_routes = routes
    _host_routes(c)


def add_ssh_service(c) -> None:
    """The SSH gateway (``hub_ext.ssh``), a managed service the hub starts beside the runner: it listens on
    ``c.SSHGateway.port`` ($HUBFRONT_SSH_PORT, else 8022) and gets its configuration from the hub at start
    (``hub_ext.ssh.service.hand_over_config``). It reads users' groups and their servers' state (the
    notebook server's process, whose sandbox a session joins; on Kubernetes its pod, where sessions run
    through the exec API), starts a user's notebook when they connect
    (``servers``; the hub admits it into the quota as any launch), and tells the hub a server with an SSH
    session open is in use (the idle culler counts it)."""
    import sys

    services = [s for s in (c.JupyterHub.services if "services" in c.JupyterHub else [])
                if s.get("name") != SSH_SERVICE]
    services.append({"name": SSH_SERVICE, "command": [sys.executable, "-m", "hub_ext.ssh"], "display": False})
    c.JupyterHub.services = services
    roles = [r for r in (c.JupyterHub.load_roles if "load_roles" in c.JupyterHub else [])
             if r.get("name") != SSH_SERVICE]
    roles.append({"name": SSH_SERVICE, "description": "Hubfront SSH gateway: reads users' groups and servers",
                  "scopes": ["read:users:name", "read:users:groups", "read:servers", "admin:server_state",
                             "users:activity", "servers"],
                  "services": [SSH_SERVICE]})
    c.JupyterHub.load_roles = roles


def _host_routes(c) -> None:
    """With ``subdomain_host`` the proxy routes by host: the runner's routes get the hub's host in front
    (JupyterHub refuses routes without one then, and those with one otherwise)."""
    from urllib.parse import urlsplit

    host = urlsplit(c.JupyterHub.subdomain_host).netloc.split(":")[0] if "subdomain_host" in c.JupyterHub else ""
    routes = dict(c.Proxy.extra_routes) if "extra_routes" in c.Proxy else {}
    for spec in list(routes):
        bare = "/" + spec.split("/", 1)[1] if not spec.startswith("/") else spec
        if bare.endswith(("/deployments/", "/apps/")):
            routes[f"{host}{bare}" if host else bare] = routes.pop(spec)
    c.Proxy.extra_routes = routes


def use_subdomains(c, subdomain_host: str) -> None:
    """Serve each user's servers on their own subdomain (JupyterHub's ``subdomain_host``, e.g.
    ``https://hub.example.org`` puts alice's at ``https://alice.hub.example.org``), the production
    recommendation: a notebook's pages then never share the hub's origin. Call it after ``configure(c)``
    (it also puts the hub's host on the runner's proxy routes, and sends apps' logins to that host)."""
    c.JupyterHub.subdomain_host = subdomain_host
    if "hub_url" not in c.AppAccess:
        c.AppAccess.hub_url = subdomain_host
    _host_routes(c)


def runner_oauth(base_url: str) -> dict:
    """The runner's OAuth client, with which browsers log in to apps (``hub_ext.services.app_access``):
    back at ``<base_url>apps/oauth_callback`` on the hub's origin (which hands the app's origin a one-time
    ticket), without a confirmation page (the runner is part of the hub). Its tokens need no scopes: ``/hub/api/user`` always tells a token's owner name, admin flag
    and groups."""
    return {"oauth_redirect_uri": f"{base_url.rstrip('/')}/apps/oauth_callback", "oauth_no_confirm": True}


def configure(c, *, spawner: str = "hubfront-local", runner: bool = True, ssh: bool | None = None) -> None:
    """Authenticator, spawner, templates, scopes and roles for the portal, and the runner service.

    ``runner=False`` leaves the runner out of ``c.JupyterHub.services`` (on Kubernetes it is a
    container of its own, registered by the values file with its URL). ``ssh``: start the SSH gateway
    (default: with local notebooks; the Kubernetes values file asks for it, ``ssh=True``, and the gateway
    then runs in the hub's pod).
    """
    from .portal.nav import template_var

    c.JupyterHub.authenticator_class = "hubfront"
    c.JupyterHub.spawner_class = spawner
    c.JupyterHub.template_paths = [template_dir()]
    # templates are compiled once and never looked at on disk again while the hub runs (Jinja's default
    # stats every template of a page on every render): a changed template takes a restart
    jinja = dict(c.JupyterHub.jinja_environment_options) if "jinja_environment_options" in c.JupyterHub else {}
    c.JupyterHub.jinja_environment_options = {"auto_reload": False, **jinja}
    c.JupyterHub.template_vars = {"hubfront": template_var}
    c.JupyterHub.custom_scopes = CUSTOM_SCOPES
    # every user may use the portal API for their own groups; what they may see
    # inside it is decided by group membership
    c.JupyterHub.load_roles = [
        # access:services of the runner: browsers log in to apps through its OAuth client
        {"name": "user", "description": "Hubfront user",
         "scopes": ["self", READ, WRITE, f"access:services!service={SERVICE_NAME}"]},
        # the runner reads group policies and memberships, gives each job a token of its owner (expiring
        # with it, revoked when it ends) and each running app a hub service of its own (no role: its token
        # only says who it is; the hub refuses a service asking for more than the runner has)
        # and stops notebook servers left idle (hub_ext.services.culler, as jupyterhub-idle-culler does; the
        # servers' state names KubeSpawner's pods, whose CPU the cluster's metrics API tells)
        {"name": RUNNER_ROLE, "description": "Hubfront runner: reads groups, gives workloads their owners' tokens",
         "scopes": ["list:groups", "read:groups", "read:users:groups", "read:users:name", "tokens",
                    "list:services", "read:services", "admin:services",
                    "list:users", "read:users:activity", "read:servers", "admin:server_state", "delete:servers"],
         "services": [SERVICE_NAME]},
    ]
    # a notebook's $JUPYTERHUB_API_TOKEN may use the portal API (`hubfront jobs submit` in a notebook)
    c.Spawner.server_token_scopes = ["users:activity!user", "access:servers!server", READ, WRITE]
    if runner:
        add_runner_service(c)
    if ssh if ssh is not None else spawner == "hubfront-local":
        add_ssh_service(c)
    admin = os.environ.get("HUBFRONT_ADMIN_USER", "admin")
    c.Authenticator.admin_users = {admin}
    # one server per group per user, named after the group
    c.JupyterHub.allow_named_servers = True
    # under the hub's prefix when one is set before configure() (as base_url is in JupyterHub's own config)
    prefix = (c.JupyterHub.base_url if "base_url" in c.JupyterHub else "/").rstrip("/")
    c.JupyterHub.default_url = f"{prefix}/hub/home"
    # servers outlive a hub restart; their reservations stay in the ledger and
    # the ones that died meanwhile are released when the hub polls them
    c.JupyterHub.cleanup_servers = False
    # Preferences: put the user's default group in focus at each login
    # (composed with a post_auth_hook set before configure() runs)
    from .portal.preferences.prefs import default_group_hook

    previous = c.Authenticator.post_auth_hook if "post_auth_hook" in c.Authenticator else None
    if not getattr(previous, "hubfront_default_group", False):
        c.Authenticator.post_auth_hook = default_group_hook(previous)
