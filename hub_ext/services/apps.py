"""The runner's apps loop: makes each installed app's process match its desired state.

An app is a one-replica long-running workload, run through the same deployment
executor as model deployments (an instance of its own, kind ``app``: cgroups, state
files and object names apart), as its group's service account. One pass:

- an app whose revision is not applied yet: its instance type is reserved in the
  ledger (kind ``app``, ``<app id>@<revision>``; refused by the group's quota →
  ``Failed``/``OverQuota`` with the ledger's message, tried again each pass), its
  environment is built once (pip packages into a venv, an npm package into a prefix,
  under ``<data>/envs``; ``Installing``, the build's output in the app's log), then
  the executor starts it (``Starting``) and health-checks it;
- every running app: ``Running`` once its health check passes, with ``endpoint`` (where
  the runner reaches it; the forwarder serves the app's own origin from it);
  ``Failed`` with the reason and the last log lines when it crash-loops or never
  becomes ready; its restarts in a row and why (out of memory…) on the row, and after
  ``max_restarts`` of them it is no longer restarted (``app_status``); older revisions'
  reservations are released once the new one runs; the output is copied into the portal DB;
- stopped apps: the process ended, the reservation released, ``Stopped``; uninstalled
  ones: the same, then the app's data (only when asked) and the row go.

Apps are never culled as idle; only their group's admins stop them. After a runner
restart the apps that still run are adopted back (``startup``), their settings being
the row's. Data lives in the group's storage, ``<data>/groups/<group>/apps/<app>``.
"""

from __future__ import annotations

import asyncio
import errno
import os
import shlex
import time
from dataclasses import replace
from typing import Callable

from sqlalchemy import select, update
from tornado.httpclient import HTTPClientError

from ..apps.records import KIND, AppStore, executor_id, reservation_id
from ..apps.templates import AppTemplate, environment_image, expand
from ..isolation import fdtree, safefs
from ..jobs import logs as logs_mod
from ..ledger import Ledger, QuotaExceeded, Request
from ..ledger.workloads import Liveness, revision_of
from ..policy import Quota
from ..storage.tree import GROUPS, group_root
from ..store import session_scope
from ..store.engine import read_scope
from ..store.models import utcnow
from ..store.models_apps import App
from ..mode import runs_here
from ..resource_groups import GoneResourceGroup, placement
from .executors.base import ExecutorError
from .executors.deployments import DeploymentExecutor, DeploymentSpec
from .app_status import AppStatus
from .app_tokens import AppTokens
from .desired import DesiredState
from .hubapi import Groups, HubAPI

APPS_DIR = "apps"  # in the group's storage: <group>/apps/<app>


def data_path(data_dir: str, group: str, name: str) -> str:
    return str(group_root(data_dir, group) / APPS_DIR / name)


def ledger_user(row: App) -> str:
    """Whom an app's reservation is counted for: not a member (its user quota does not apply), the app."""
    return f"app:{row.name}"


class AppRunner(AppStatus, DesiredState):
    def __init__(self, *, store: AppStore, executor: DeploymentExecutor, ledger: Ledger,
                 templates: Callable[[str], AppTemplate | None], data_dir: str, base_url: str = "/", catalog=None,
                 builder=None, log_cap: int = 10 * 2**20, log=None, busy_interval: float = 1.0,
                 idle_interval: float = 5.0, pod_shared: str = "/home/jovyan/shared", hub: HubAPI | None = None,
                 max_restarts: int = 5):
        self.store = store
        self.max_restarts = max_restarts  # restarts in a row after which an app is no longer restarted (0: never)
        self.tokens = AppTokens(hub, store, self._set, log)  # each running app: a token of its own hub service
        self.db_url = store.db_url
        self.executor = executor
        self.ledger = ledger
        self.templates = templates
        self.data_dir = data_dir
        self.base_url = base_url
        self.catalog = catalog
        self.builder = builder  # hub_ext.images.environments.EnvironmentBuilder (local) or None (Kubernetes)
        self.log_cap = log_cap
        self.log = log
        self.busy_interval, self.idle_interval = busy_interval, idle_interval
        self.pod_shared = pod_shared  # Kubernetes: where a pod has the group's storage (KubeStorage.home + /shared)
        self.wake = asyncio.Event()
        self._applied: dict[int, int] = {}  # app id -> revision handed to the executor
        self._installing: dict[int, asyncio.Task] = {}  # app id -> its environment's build
        self._failed: dict[int, int] = {}  # app id -> the revision whose install failed

    # -- the loop ----------------------------------------------------------------------------

    async def run(self, groups_of: Callable) -> None:
        """Adopt what runs, then a pass on every wake-up and on a timer, for ever (``groups_of``: the hub's
        groups and policies, ``HubAPI.groups``)."""
        try:
            groups = await groups_of()
        except Exception as exc:  # noqa: BLE001 - adopted by the first pass instead
            self.log.warning("Apps not adopted now: the hub's API is not reachable (%s)", exc)
            groups = None
        await self.startup(groups)
        said = -60.0
        while True:
            busy = False
            try:
                groups = await groups_of()
            except (OSError, HTTPClientError) as exc:  # the hub restarts (and restarts us) or is gone
                groups = None
                if time.monotonic() - said > 60:
                    said = time.monotonic()
                    self.log.warning("Apps passes skipped: the hub's API is not reachable (%s)", exc)
            try:
                busy = groups is not None and await self.reconcile(groups)
            except Exception:  # noqa: BLE001 - one failed pass must not end the loop
                self.log.exception("Apps pass failed")
            try:
                await asyncio.wait_for(self.wake.wait(), self.busy_interval if busy else self.idle_interval)
            except asyncio.TimeoutError:
                pass
            self.wake.clear()

    async def reconcile(self, groups: Groups) -> bool:
        """One pass; True while any app is on its way somewhere."""
        with read_scope(self.db_url) as s:
            rows = list(s.scalars(select(App)))
        return await self.pass_over(rows, groups)

    def _refused(self, row: App, exc: ExecutorError) -> None:
        self._set(row, phase="Failed", reason="Error", message=str(exc), endpoint="")

    @staticmethod
    def what(row: App) -> str:
        return f"App {row.group}/{row.name}"

    async def startup(self, groups: Groups | None) -> None:
        """Adopt the apps that still run, then make the ledger hold exactly the apps that run or start."""
        with read_scope(self.db_url) as s:
            rows = list(s.scalars(select(App).where(App.stopped.is_(False), App.running_revision > 0)))
        for row in rows if groups is not None else ():
            template = self.templates(row.template)
            if template is None or row.group not in groups.policies:
                continue
            python, npm_bin = self._ready_env(template)
            if python is None:
                continue
            spec = self._spec(row, template, row.running_revision, python, npm_bin, await self.tokens.env(row))
            try:
                if await self.executor.adopt(spec):
                    self._applied[row.id] = row.running_revision
                    self.log.info("App %s/%s re-adopted (revision %s)", row.group, row.name, row.running_revision)
            except ExecutorError as exc:
                self.log.warning("App %s/%s not adopted: %s", row.group, row.name, exc)

        dropped = await asyncio.to_thread(self.ledger.reconcile, Liveness(self.db_url), KIND)
        if dropped:
            self.log.info("Released %d reservation(s) of apps that no longer run", len(dropped))
        if groups is not None:
            await self.tokens.forget({r.id for r in rows if r.id in self._applied})

    # -- running -------------------------------------------------------------------------------

    async def _serve(self, row: App, groups: Groups) -> bool:
        policy = groups.policies.get(row.group)
        template = self.templates(row.template)
        if policy is None or template is None:
            what = f"Group {row.group} no longer exists" if policy is None else \
                f"Template {row.template} is no longer in the catalog"
            self._set(row, phase="Failed", reason="Error", message=what, endpoint="")
            return False
        mode = "local" if self.builder is not None else "kubernetes"
        if getattr(template, mode) is None:
            self._set(row, phase="Failed", reason="Error", endpoint="",
                      message=f"Template {template.name} has no way to run {'here' if mode == 'local' else 'in a pod'}")
            return False
        if self._failed.get(row.id) == row.revision:  # its install failed: not again until changed or started
            if row.phase == "Failed":
                return False
            del self._failed[row.id]  # a group admin started it again
        if self.gave_up(row):  # restarted too often in a row: not again until changed or started (app_status)
            return False
        if self._applied.get(row.id, 0) < row.revision:
            try:
                placement(self.catalog, None, row.resource_group)
            except GoneResourceGroup as exc:
                self._set(row, phase="Failed", reason="Error", message=str(exc), endpoint="")
                return False
            devices = await self._reserve(row, policy)
            if devices is None:
                return False
            built = await self._environment(row, template)
            if built is None:
                return row.id in self._installing  # building (busy), or failed
            spec = replace(self._spec(row, template, row.revision, *built, await self.tokens.env(row)),
                           gpu_devices=(devices,))
            self._set(row, phase="Starting", reason="", message="Waiting for its health check")
            await self.executor.apply(spec)
            self._applied[row.id] = row.revision
        status = await self.executor.status(executor_id(row))
        await self._copy_logs(row)
        await self._settle(row, status)
        if await self.stop_when_idle(row):  # its idle timeout without requests (issue 25)
            return True
        return row.phase != "Running" and row.phase != "Failed"

    async def _reserve(self, row: App, policy) -> tuple[int, ...] | None:
        """Reserve the app's instance type (its GPU devices back; None: refused, recorded as OverQuota)."""
        request = Request(cpu=row.cpu, memory=row.memory, gpu=row.gpu)
        try:
            reservation = await asyncio.to_thread(
                self.ledger.reserve, kind=KIND, workload_id=reservation_id(row), username=ledger_user(row),
                group=row.group, request=request, group_quota=policy.quota, user_quota=Quota(),
                allocate_devices=runs_here(self.executor), resource_group=row.resource_group)
        except QuotaExceeded as exc:
            running = " (the previous settings keep running)" if row.running_revision else ""
            self._set(row, phase="Failed", reason="OverQuota", message=exc.message + running)
            return None
        return tuple(reservation.device_ids)

    def _ready_env(self, template: AppTemplate) -> tuple[str | None, str]:
        """(python, npm bin) of an environment built already; python None: a build is needed."""
        if self.builder is None or template.local is None:
            return "", ""
        if template.local.npm:
            npm_bin = self.builder.npm_bin_for(template.local.npm, template.local.npm_setup)
            return (self.builder.base_python if npm_bin else None), npm_bin or ""
        return self.builder.python_for(environment_image(template)), ""

    async def _environment(self, row: App, template: AppTemplate) -> tuple[str, str] | None:
        """The built environment (python, npm bin), or None while it builds (a task) or after it failed."""
        python, npm_bin = self._ready_env(template)
        if python is not None:
            return python, npm_bin
        task = self._installing.get(row.id)
        if task is None:
            self._set(row, phase="Installing", reason="", message=f"Building the environment of {template.name}")
            self._installing[row.id] = asyncio.create_task(self._build(row, template))
            return None
        if not task.done():
            return None
        del self._installing[row.id]
        error = task.exception() if not task.cancelled() else None
        if error is None:
            return self._ready_env(template) if self._ready_env(template)[0] is not None else None
        tail = getattr(error, "log_tail", str(error))
        self._set(row, phase="Failed", reason="InstallFailed", message=f"Installing {template.name} failed:\n{tail}")
        await asyncio.to_thread(self.ledger.release, KIND, reservation_id(row))
        self._failed[row.id] = row.revision
        return None

    async def _build(self, row: App, template: AppTemplate) -> None:
        def report(line: str) -> None:
            self._append_log(row.id, (line + "\n").encode())

        if template.local.npm:
            await self.builder.ensure_npm(template.local.npm, report, template.local.npm_setup)
        else:
            await self.builder.ensure(environment_image(template), report)

    def _spec(self, row: App, template: AppTemplate, revision: int, python: str, npm_bin: str,
              token: dict[str, str] | None = None) -> DeploymentSpec:
        prefix = ""  # each app is served at the root of its own origin (hub_ext.apps.origin)
        local = template.local is not None and self.builder is not None
        if local:  # a process here: the group's storage where the host has it
            values = {"port": "$PORT", "host": "$HOST", "shared": str(group_root(self.data_dir, row.group)),
                      "data": data_path(self.data_dir, row.group, row.name)}
        else:  # a pod: the group's storage is mounted at pod_shared (hub_ext.storage.kube)
            values = {"port": str(template.port or 8080), "host": "0.0.0.0", "shared": self.pod_shared,
                      "data": f"{self.pod_shared}/{APPS_DIR}/{row.name}"}
        values["prefix"] = prefix
        env = {**template.defaults, **self.store.open_env(row.env_encrypted), **(token or {}),
               "MLFLOW_DISABLE_TELEMETRY": "true",
               "HUBFRONT_APP": row.name, "HUBFRONT_APP_PREFIX": prefix, "HUBFRONT_APP_DATA": values["data"]}
        if local:
            command = expand(template.local.command, values)
            if npm_bin:
                command = f"export PATH={npm_bin}:\"$PATH\"; {command}"
            container_image = ""
        else:  # words as given, each expanded as it is
            kube = template.kubernetes
            command = shlex.join(expand(part, values, quote_values=False) for part in [*kube.command, *kube.args])
            container_image = kube.image
        instance_type = self.catalog.instance_type(row.instance_type) if self.catalog else None
        placed = placement(self.catalog, instance_type, row.resource_group)
        return DeploymentSpec(
            deployment_id=executor_id(row), revision=revision, username=row.username, group=row.group,
            groups=(row.group,), command=command, replicas=1, env=env, cpu=row.cpu or None, memory=row.memory or None,
            gpu=row.gpu, health_path=expand(template.health_path, values, quote_values=False),
            port=template.port or 8080, image=f"app-{template.name}", python=python, container_image=container_image,
            node_selector=placed.node_selector, tolerations=placed.tolerations, service_account=True)

    async def _release(self, row: App, keep: int | None) -> None:
        held = await asyncio.to_thread(self.ledger.reservations, kind=KIND, group=row.group)
        for r in held:
            owner, revision = revision_of(r.workload_id)
            if owner == str(row.id) and revision != keep:
                await asyncio.to_thread(self.ledger.release, KIND, r.workload_id)

    # -- stopping and removal --------------------------------------------------------------------

    async def _halt(self, row: App) -> None:
        task = self._installing.pop(row.id, None)
        if task is not None:
            task.cancel()
        self._failed.pop(row.id, None)
        await self.executor.stop(executor_id(row))
        self._applied.pop(row.id, None)
        await self._release(row, keep=None)
        await self._copy_logs(row)
        await self.tokens.drop(row)

    async def _stop(self, row: App) -> None:
        if row.phase == "Stopped":
            return
        await self._halt(row)
        said = {} if row.reason == "Idle" else {"reason": "", "message": "Stopped"}  # stopped when idle: says so
        self._set(row, phase="Stopped", endpoint="", running_revision=0, **said)

    async def _remove(self, row: App) -> None:
        await self._halt(row)
        if row.delete_data:
            await asyncio.to_thread(remove_data, self.data_dir, row.group, row.name)
        await asyncio.to_thread(self.store.purge, row.id)

    # -- records ---------------------------------------------------------------------------------

    def _set(self, row: App, **values) -> None:
        """Write what changed; a phase change is an activity."""
        changed = {k: v for k, v in values.items() if getattr(row, k) != v}
        if not changed:
            return
        with session_scope(self.db_url) as s:
            s.execute(update(App).where(App.id == row.id).values(**changed, updated=utcnow()))
        before = row.phase
        for k, v in changed.items():
            setattr(row, k, v)
        if "phase" in changed and changed["phase"] != before and row.phase in ("Running", "Failed", "Stopped"):
            status = {"Running": "ok", "Failed": "error"}.get(row.phase, "info")
            detail = f" ({row.reason}): {row.message}" if row.phase == "Failed" else ""
            self.store.record(row, row.phase.lower(), status,
                              f"App {row.name!r} of {row.group} {row.phase.lower()}{detail}")

    def _append_log(self, app_id: int, data: bytes) -> None:
        with session_scope(self.db_url) as s:
            start = s.scalar(select(App.log_size).where(App.id == app_id))
            if start is not None:
                logs_mod.append(s, app_id, start, data, self.log_cap, owner=logs_mod.APPS)

    async def _copy_logs(self, row: App) -> None:
        data, nxt = await self.executor.logs(executor_id(row), row.log_read)
        if not data and nxt == row.log_read:
            return
        with session_scope(self.db_url) as s:
            if data:
                start = s.scalar(select(App.log_size).where(App.id == row.id)) or 0
                logs_mod.append(s, row.id, start, data, self.log_cap, owner=logs_mod.APPS)
            s.execute(update(App).where(App.id == row.id).values(log_read=nxt))
        row.log_read = nxt


def remove_data(data_dir: str, group: str, name: str) -> bool:
    """Remove ``<group storage>/apps/<name>`` (uninstall with its data), never following a link members
    may have put in the way: every step is opened relative to its parent without following links."""
    try:
        with safefs.beneath(os.path.join(data_dir, GROUPS), f"{group}/{APPS_DIR}", safefs.DIR_FLAGS) as fd:
            return fdtree.remove_at(fd, name)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):  # not there, or a link in the way
            return False
        raise
