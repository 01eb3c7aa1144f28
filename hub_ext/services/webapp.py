"""The runner as a process: ``python -m hub_ext.services`` (a JupyterHub managed service).

Configuration: the hub hands over the traitlets config sections the runner
reads (``Hubfront``, ``Isolation``, ``Runner``, ``LocalExecutor``,
``KubernetesExecutor``, ``LocalGroupSpawner``) as JSON in
``$HUBFRONT_RUNNER_CONFIG`` (see :func:`runner_config`), so the runner is
configured exactly like the hub. On Kubernetes the same variable comes from
the values file.

HTTP (under ``$JUPYTERHUB_SERVICE_PREFIX``, on the port of ``$JUPYTERHUB_SERVICE_URL``):
``POST api/wake`` (the hub, with the runner's own API token) starts a
reconcile pass now (``?loop=jobs`` or ``apps``: of that loop only); ``GET api/health``
answers 200 while the loop is alive. A runner on the hub's machine (its jobs run here) also hears
wake-ups as datagrams on a Unix socket in the data dir (``wake_socket``; ``<loop> <token>``, the same
token checked): a wake-up then costs the hub one system call, not an HTTP exchange (issue 27).
On the same port, ``<base_url>deployments/<id>/…`` is the deployments' endpoints
(``forward.py``) and ``<base_url>apps/`` the apps' login return and the redirects of their old
addresses (``forward_apps.py``), which the proxy sends here (``Proxy.extra_routes``, set by
``configure()``). The apps themselves are served at their own origins on a port of their own
(``c.Apps.port``/``bind_ip``; ``forward_apps.py``).
"""

from __future__ import annotations

from ..mode import KUBERNETES, runs_here

import asyncio
import contextlib
import hmac
import json
import logging
import os
import signal
import socket
import stat
from urllib.parse import urlparse

from tornado import web
from traitlets.config import Config

SECTIONS = ("Hubfront", "Isolation", "Runner", "LocalExecutor", "KubernetesExecutor", "LocalGroupSpawner",
            "LocalDeployments", "KubernetesDeployments", "EndpointForwarder", "AppAccess", "Datasets", "KubeStorage",
            "ImageBuilds", "Apps", "QuotaGuard", "KubeNetwork", "Lifecycle")
SERVICE_NAME = "hubfront-runner"


def runner_config(config) -> str:
    """The JSON of the config sections the runner reads (values that are not JSON are left out)."""
    out = {}
    for section in SECTIONS:
        if section in config:
            values = {}
            for key, value in config[section].items():
                try:
                    json.dumps(value)
                except TypeError:
                    continue
                values[key] = value
            out[section] = values
    return json.dumps(out)


class _Handler(web.RequestHandler):
    def initialize(self, reconciler, token):
        self.reconciler = reconciler
        self.token = token

    def check_xsrf_cookie(self):  # token-authenticated API, no cookies
        pass


def wake(reconciler, loop: str) -> None:
    """A pass now of ``loop``: "jobs" (with deployments), "apps", or "": every loop."""
    if loop != "apps":
        reconciler.wake.set()
    if loop != "jobs" and getattr(reconciler, "apps", None) is not None:
        reconciler.apps.wake.set()


class WakeHandler(_Handler):
    def post(self):
        given = self.request.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), f"token {self.token}".encode()):
            raise web.HTTPError(403)
        wake(self.reconciler, self.get_argument("loop", ""))
        self.set_status(202)
        self.finish({"status": "woken"})


def wake_socket(data_dir: str) -> str:
    """Where a runner on this machine hears wake-ups (a Unix datagram socket in the data dir, the hub's own)."""
    return os.path.join(data_dir, "runner-wake.sock")


def hear_wakes(reconciler, token: str, path: str, log: logging.Logger) -> socket.socket | None:
    """Wake-ups as datagrams ``<loop> <token>`` on the Unix socket ``path``, the token checked as ``POST
    api/wake`` checks it. Where it cannot be made the hub finds nobody there and wakes the runner over HTTP."""
    try:
        with contextlib.suppress(FileNotFoundError):
            if stat.S_ISSOCK(os.lstat(path).st_mode):
                os.unlink(path)  # a runner's before this one
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(path)
    except OSError as exc:
        log.info("Wake-ups over HTTP only (%s)", exc)
        return None
    sock.setblocking(False)
    expected = f" {token}".encode()

    def heard() -> None:
        while True:
            try:
                data = sock.recv(512)
            except (BlockingIOError, InterruptedError):
                return
            loop, sep, rest = data.partition(b" ")
            if sep and hmac.compare_digest(b" " + rest, expected) and loop in (b"jobs", b"apps", b"all"):
                wake(reconciler, "" if loop == b"all" else loop.decode())

    asyncio.get_running_loop().add_reader(sock.fileno(), heard)
    return sock


class HealthHandler(_Handler):
    def get(self):
        last = self.reconciler.last_pass
        self.finish({"status": "ok", "last_pass": last.isoformat() if last else None})


def build(config: Config, log: logging.Logger):
    """The reconciler with its executor, ledger and hub client, from ``config``."""
    from ..keys import hub_key
    from ..jobs.records import JobStore
    from ..ledger import Ledger
    from ..settings import Hubfront
    from .hubapi import HubAPI
    from .runner import Reconciler, Runner

    hubfront = Hubfront.instance(config=config)
    settings = Runner(config=config, log=log)
    key = hub_key(hubfront.data_dir)
    store = JobStore(hubfront.db_url, key, settings.hub_prefix)
    builder, inventory = None, None
    if settings.executor == KUBERNETES:
        from .executors.kubernetes import KubernetesExecutor

        executor = KubernetesExecutor(config=config, log=log)
    else:
        from hub_ext.images.environments import EnvironmentBuilder
        from .executors.local import LocalExecutor

        executor = LocalExecutor(config=config, log=log)
        env_dir = settings.env_dir or os.path.join(hubfront.data_dir, "envs")
        pip_args = config.LocalGroupSpawner.get("pip_args", []) if "LocalGroupSpawner" in config else []
        from ..images.settings import ImageBuilds

        builder = EnvironmentBuilder(env_dir, pip_args=pip_args,
                                     group_pip_args=ImageBuilds(config=config).group_pip_args())

        def inventory():
            if executor.gpu_inventory is not None:
                return list(executor.gpu_inventory)
            from spawner.gpus import nvml_device_indices

            return list(nvml_device_indices())
    from ..storage.mounts import MountSource

    # every workload mounts its group's storage, datasets and folders (hub_ext.storage.mounts)
    executor.mounts = MountSource(hubfront.db_url, hubfront.data_dir, getattr(executor, "isolation", None), key)
    ledger = Ledger(hubfront.db_url, gpu_inventory=inventory)
    deployer = build_deployer(config, log, hubfront, settings, key, ledger, builder, executor)
    hub = HubAPI(db_url=hubfront.db_url, hub_changes=settings.hub_changes)
    reconciler = Reconciler(settings=settings, store=store, executor=executor, hub=hub,
                            ledger=ledger, builder=builder, catalog=hubfront.catalog, log=log, deployer=deployer)
    from .builder import build_builder

    reconciler.image_builder = build_builder(config, log, hubfront, settings, builder, executor)  # image builds
    return reconciler


def build_deployer(config, log, hubfront, settings, key, ledger, builder, jobs_executor):
    """The deployments' loop with its executor (the same kind as the jobs', sharing its settings and
    client) and the endpoints' route table."""
    from .. import license
    from ..deployments.records import DeploymentStore
    from .deployer import Deployer
    from .forward import RouteTable
    from .hubapi import HubAPI

    if not runs_here(jobs_executor):
        from .executors.kube_deployments import KubernetesDeployments

        executor = KubernetesDeployments(config=config, log=log, jobs=jobs_executor)
    else:
        from .executors.local_deployments import LocalDeployments

        executor = LocalDeployments(config=config, log=log, executor=jobs_executor)
    db_url = hubfront.db_url
    store = DeploymentStore(db_url, key, settings.hub_prefix,
                            license_max=lambda: license.evaluate(db_url).max_deployments)
    return Deployer(store=store, executor=executor, ledger=ledger, routes=RouteTable(), catalog=hubfront.catalog,
                    builder=builder, log_cap=settings.log_cap,
                    mlflow_tracking_uri=getattr(hubfront, "mlflow_tracking_uri", "") or "", log=log,
                    hub=HubAPI(db_url=hubfront.db_url))


async def main() -> None:
    logging.basicConfig(level=logging.INFO, format="[%(levelname)1.1s %(asctime)s runner] %(message)s")
    log = logging.getLogger("hubfront.runner")
    config = Config(json.loads(os.environ.get("HUBFRONT_RUNNER_CONFIG") or "{}"))
    reconciler = build(config, log)
    prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/services/hubfront-runner/")
    url = urlparse(os.environ.get("JUPYTERHUB_SERVICE_URL", "http://127.0.0.1:10101"))
    token = os.environ["JUPYTERHUB_API_TOKEN"]
    kwargs = {"reconciler": reconciler, "token": token}
    routes = [(prefix + "api/wake", WakeHandler, kwargs), (prefix + "api/health", HealthHandler, kwargs)]
    base_url = os.environ.get("HUBFRONT_BASE_URL", "/")
    if reconciler.deployer is not None:
        from .forward import EndpointForwarder, handlers as endpoint_handlers

        routes += endpoint_handlers(reconciler.deployer.routes, prefix=f"{base_url.rstrip('/')}/deployments/",
                                    forwarder=EndpointForwarder(config=config, log=log))
    from ..keys import hub_key
    from ..settings import Hubfront
    from .forward_apps import follow_apps, serve_apps

    hubfront = Hubfront.instance(config=config)
    from ..apps.templates import Apps

    apps_settings = Apps.instance(config=config)
    app_routes, access, app_handlers, moved_handlers = serve_apps(  # access asked of the hub per request
        config, log, base_url=base_url, hub_prefix=reconciler.settings.hub_prefix, token=token,
        hub_api_url=os.environ["JUPYTERHUB_API_URL"], key=hub_key(hubfront.data_dir),
        client_id=os.environ.get("JUPYTERHUB_CLIENT_ID") or f"service-{SERVICE_NAME}")
    routes += moved_handlers
    app = web.Application(routes)
    # on Kubernetes the proxy pod reaches the endpoints through the hub's Service: listen beyond loopback
    app.listen(url.port or 80, os.environ.get("HUBFRONT_RUNNER_BIND") or url.hostname or "127.0.0.1")
    log.info("Runner listening on %s%s (executor: %s)", url.netloc, prefix, reconciler.executor.name)
    if runs_here(reconciler.executor):  # (kept open while the runner runs)
        _wakes = hear_wakes(reconciler, token, wake_socket(hubfront.data_dir), log)
    # each app at its own origin (c.Apps.origin), on the apps' port: never on the hub's origin
    web.Application(app_handlers).listen(apps_settings.listen_port(), apps_settings.bind_ip)
    log.info("Apps served at %s on %s:%s", apps_settings.origin, apps_settings.bind_ip, apps_settings.listen_port())
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    task = asyncio.create_task(reconciler.run())
    from .apps_setup import build_apps  # the apps' loop (hub_ext.services.apps)

    reconciler.apps = build_apps(config, log, reconciler, hub_key(hubfront.data_dir))
    reconciler.apps.routes = app_routes  # what the apps' forwarder saw of their requests (idle apps stop)
    background = [asyncio.create_task(orphaned(stop, log)),
                  asyncio.create_task(reconciler.image_builder.run(stop)),
                  asyncio.create_task(reconciler.apps.run(reconciler.hub.groups))]
    from ..datasets.settings import Datasets
    from ..isolation import Isolation
    from .dataset_sync import follow as follow_datasets

    background.append(asyncio.create_task(follow_apps(hubfront.db_url, app_routes, access.hosts, log=log)))
    background.append(asyncio.create_task(follow_datasets(
        hubfront.db_url, hubfront.data_dir, Datasets.instance(config=config), reconciler.settings.hub_prefix,
        getattr(reconciler.executor, "isolation", None) or Isolation.instance(config=config))))  # git as the group
    if reconciler.deployer is not None:
        background.append(asyncio.create_task(reconciler.deployer.follow_routes()))
    from ..storage.adopter import keep_permissions  # what members move into shared storage becomes shared

    background.append(asyncio.create_task(keep_permissions(
        hubfront.data_dir, hubfront.db_url, getattr(reconciler.executor, "isolation", None), stop)))
    from ..storage.quota_guard import guard_storage  # a group over its storage quota gets a read-only tree

    background.append(asyncio.create_task(guard_storage(
        hubfront.data_dir, hubfront.db_url, getattr(reconciler.executor, "isolation", None), reconciler.hub.groups,
        stop, config)))
    from .culler import build_culler  # idle and old notebooks are stopped (issue 25)

    reconciler.culler = build_culler(config, hubfront, reconciler.hub, reconciler.executor)
    background.append(asyncio.create_task(reconciler.culler.run(stop)))
    await asyncio.wait([task, asyncio.create_task(stop.wait())], return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        task.result()  # a crash of the loop ends the process; the hub restarts it
    log.info("Runner stopping; jobs and deployments go on and are adopted back at the next start")


async def orphaned(stop: asyncio.Event, log: logging.Logger, interval: float = 2.0) -> None:
    """Stop when the process that started us (the hub) is gone: the hub's next start starts a new
    runner on the same port, which an orphan would keep."""
    parent = os.getppid()
    while not stop.is_set():
        await asyncio.sleep(interval)
        if os.getppid() != parent:
            log.warning("The hub that started the runner is gone; stopping")
            stop.set()
