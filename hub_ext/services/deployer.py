"""The runner's deployment loop: makes the replicas match each deployment's desired state.

One pass (``reconcile``), run with the jobs' pass (on a wake-up from the hub, on a
timer, at start) and on its own shorter tick while any deployment is changing:

- a deployment whose desired revision is not applied yet: every replica of that
  revision is reserved in the ledger (kind ``deployment``, one reservation per
  replica, ``<id>@<revision>#<n>``), then the executor rolls it out; refused by
  the quota → ``Failed``/``OverQuota`` with the ledger's message, tried again
  each pass while the older revision (if any) keeps serving;
- every deployment: the executor's status becomes phase, availability and the
  forwarder's route (endpoints, access, clients); once a revision serves alone,
  the reservations of the others are released; output is copied into the DB;
- stopped ones: replicas ended, reservations released, ``Stopped`` (the endpoint
  answers 503); deleted ones: the same, then the rows go;
- ``min_replicas`` 0: scaled to zero after ``scale_down_after`` without requests, woken by the
  next request (:mod:`.deployer_zero`, :mod:`.forward_wake`).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

from sqlalchemy import select, update

from ..deployments.records import KIND, DeploymentStore
from ..times import utc
from ..deployments.requests import model_serve_command
from ..jobs import logs as logs_mod
from ..ledger import Ledger, QuotaExceeded, Request
from ..ledger.workloads import Liveness, replica_id, revision_of
from ..apps.registry import app_of, canonical_uri, reachable_uri, tracking_uri_of
from ..store import session_scope
from ..store.engine import read_scope
from ..store.models import utcnow
from ..store.models_deployments import Deployment, DeploymentClient
from ..mode import runs_here
from ..resource_groups import GoneResourceGroup, placement
from .executors.base import ExecutorError
from .executors.deployments import DeploymentExecutor, DeploymentSpec, DeploymentStatus
from .forward import ClientCredential, Route, RouteTable
from .forward_clients import FreshClients
from .deployer_zero import ScaleToZero
from .desired import DesiredState
from .hubapi import Groups, HubAPI


def token_note(row: Deployment) -> str:
    """What the hub notes the tokens of a deployment's replicas by (with " revision <n>")."""
    return f"hubfront deployment {row.id}"


class Deployer(ScaleToZero, DesiredState):
    def __init__(self, *, store: DeploymentStore, executor: DeploymentExecutor, ledger: Ledger, routes: RouteTable,
                 catalog=None, builder=None, log_cap: int = 10 * 2**20, mlflow_tracking_uri: str = "", log=None,
                 hub: HubAPI | None = None):
        self.store = store
        self.db_url = store.db_url
        self.executor = executor
        self.ledger = ledger
        self.routes = routes
        self.catalog = catalog
        self.builder = builder
        self.log_cap = log_cap
        self.mlflow_tracking_uri = mlflow_tracking_uri
        self.log = log
        self.hub = hub  # gives each revision's replicas a token of the deployment's owner
        # a client's token works as soon as the hub created it: a refused call reads the clients again
        routes.fresh_clients = FreshClients(routes, self.clients_of)
        routes.waker = self  # a request at zero wakes the deployment (.forward_wake)
        self._zero_init()
        self._applied: dict[str, int] = {}  # deployment -> revision handed to the executor
        self._kept: dict[str, int | None] = {}  # deployment -> the revision whose reservations alone remain
        self._stats_flushed = 0.0
        self._flushed: dict[str, tuple[int, int, int]] = {}  # counts already added to the DB, per deployment

    # -- the pass --------------------------------------------------------------

    async def reconcile(self, groups: Groups) -> bool:
        """One pass; True while any deployment is changing (the runner then comes back sooner)."""
        with read_scope(self.db_url) as s:
            rows = list(s.scalars(select(Deployment)))
        self._groups = groups
        busy = await self.pass_over(rows, groups)
        if time.monotonic() - self._stats_flushed > 5:
            self._stats_flushed = time.monotonic()
            await asyncio.to_thread(self._flush_stats, [r.id for r in rows if not r.delete_requested])
        return busy

    def _refused(self, row: Deployment, exc: ExecutorError) -> None:
        self._set(row, phase="Failed", reason="Error", message=str(exc))

    @staticmethod
    def what(row: Deployment) -> str:
        return f"Deployment {row.id}"

    async def startup(self, groups: Groups | None) -> None:
        """Adopt the replicas that still run, then make the ledger hold exactly the deployments that serve.

        ``groups`` (None: the hub did not answer) gives the environment replicas are restarted with; without
        it nothing is adopted now, and the first pass applies the serving revision again instead."""
        with read_scope(self.db_url) as s:
            rows = list(s.scalars(select(Deployment).where(Deployment.stopped.is_(False),
                                                           Deployment.serving_revision > 0)))
        for row in rows if groups is not None else ():
            policy = groups.policies.get(row.group)
            if policy is None:
                continue
            try:
                spec = self._spec(row, await self._environment(row, policy, row.serving_revision), row.serving_revision,
                                  None, (), "", groups.user_groups(row.username))
                if await self.executor.adopt(spec):
                    self._applied[row.id] = row.serving_revision
                    self._specs[row.id] = spec
                    self.log.info("Deployment %s re-adopted (revision %s)", row.id, row.serving_revision)
            except (ExecutorError, GoneResourceGroup) as exc:
                self.log.warning("Deployment %s not adopted: %s", row.id, exc)

        dropped = await asyncio.to_thread(self.ledger.reconcile, Liveness(self.db_url), KIND)
        if dropped:
            self.log.info("Released %d reservation(s) of deployment replicas that no longer run", len(dropped))

    async def follow_routes(self, interval: float = 0.25) -> None:
        """For ever: refresh the forwarder's endpoints from the executor between passes, so traffic
        shifts to a new revision the moment it is ready and leaves a replica that stopped answering."""
        while True:
            await asyncio.sleep(interval)
            for deployment_id in list(self._applied):
                route = self.routes.get(deployment_id)
                if route is None:
                    continue
                try:
                    status = await self.executor.status(deployment_id)
                except Exception:  # noqa: BLE001 - the next pass reports it
                    continue
                if status.endpoints != route.endpoints or status.checked != route.checked:
                    self.routes.set(replace(route, endpoints=tuple(status.endpoints), checked=status.checked))

    # -- serving -----------------------------------------------------------------

    async def _serve(self, row: Deployment, groups: Groups) -> bool:
        async with self.lock_of(row.id):  # a wake (deployer_zero) does not interleave with the pass
            row = self._fresh(row)
            if row is None:
                return False
            return await self._serve_locked(row, groups)

    async def _serve_locked(self, row: Deployment, groups: Groups) -> bool:
        policy = groups.policies.get(row.group)
        if policy is None:
            self._set(row, phase="Failed", reason="Error", message=f"Group {row.group} no longer exists")
            return False
        if row.at_zero:
            return await self._at_zero(row, groups)
        if self._applied.get(row.id, 0) < row.revision:
            try:
                placement(self.catalog, None, row.resource_group)
            except GoneResourceGroup as exc:
                self._set(row, phase="Failed", reason="Error", message=str(exc))
                return False
            devices = await self._reserve(row, policy)
            if devices is None:
                return False
            await self._apply(row, policy, groups, devices)
        status = await self.executor.status(row.id)
        await self._copy_logs(row)
        self._route(row, status)
        await self._settle(row, status)
        await self._after_status(row, status, groups)
        return not (status.rolled_out and status.available >= row.replicas) and not status.failed

    async def _apply(self, row: Deployment, policy, groups: Groups, devices) -> None:
        """Hand the executor the desired revision with the devices the ledger granted (a wake at the same
        revision keeps its replicas' environment and token)."""
        image = next((im for im in policy.allowed_images(self.catalog) if im.name == row.image), None)
        python = await self._python(image)
        known = self._specs.get(row.id)
        env = known.env if known is not None and known.revision == row.revision else \
            await self._environment(row, policy, row.revision)
        spec = self._spec(row, env, row.revision, image, devices, python, groups.user_groups(row.username))
        await self.executor.apply(spec)
        self._applied[row.id] = row.revision
        self._specs[row.id] = spec

    async def _environment(self, row: Deployment, policy, revision: int) -> dict[str, str]:
        """The deployment's variables, a token of its owner (the hub's and the portal's API; revoked when it
        stops), and for a model the group's MLflow tracking server."""
        env = self.store.open_env(row.env_encrypted)
        token = {}
        if self.hub is not None:
            try:
                token = await self.hub.workload_token(row.username, f"{token_note(row)} revision {revision}", None)
            except Exception as exc:  # noqa: BLE001 - it runs without one
                self.log.warning("Deployment %s: no API token for its replicas: %s", row.id, exc)
        if not row.model_uri:
            return {**token, **env}
        # the registry the Models page listed the model from; MLflow's usage reports stay off
        model_env = {"MLFLOW_DISABLE_TELEMETRY": "true"}
        if tracking := tracking_uri_of(policy, self.mlflow_tracking_uri):
            if app_of(tracking, row.group) is not None and token:
                # the group's own MLflow app: at its origin, through the apps' forwarder as the owner (a
                # replica's own network namespace reaches no other workload directly)
                model_env.update(MLFLOW_TRACKING_URI=canonical_uri(tracking, row.group),
                                 MLFLOW_TRACKING_TOKEN=token["JUPYTERHUB_API_TOKEN"])
            else:
                model_env["MLFLOW_TRACKING_URI"] = reachable_uri(self.db_url, row.group, tracking)
        return {**token, **model_env, **env}

    async def _reserve(self, row: Deployment, policy) -> list[tuple[int, ...]] | None:
        """Reserve every replica of the desired revision (None: refused, recorded as OverQuota)."""
        try:
            return await self._reserve_replicas(row, policy)
        except QuotaExceeded as exc:
            serving = " (the previous revision keeps serving)" if row.serving_revision else ""
            self._set(row, phase="Failed", reason="OverQuota", message=exc.message + serving)
            return None

    async def _reserve_replicas(self, row: Deployment, policy) -> list[tuple[int, ...]]:
        """Every replica of the desired revision reserved, with its devices; QuotaExceeded (nothing kept) if not."""
        request = Request(cpu=row.cpu, memory=row.memory, gpu=row.gpu)
        devices = []
        try:
            for index in range(row.replicas):
                reservation = await asyncio.to_thread(
                    self.ledger.reserve, kind=KIND, workload_id=replica_id(row.id, row.revision, index),
                    username=row.username, group=row.group, request=request, group_quota=policy.quota,
                    user_quota=policy.user_quota, allocate_devices=runs_here(self.executor),
                    resource_group=row.resource_group)
                devices.append(tuple(reservation.device_ids))
        except QuotaExceeded:
            for index in range(row.replicas):
                await asyncio.to_thread(self.ledger.release, KIND, replica_id(row.id, row.revision, index))
            raise
        return devices

    async def _python(self, image) -> str:
        if image is None or self.builder is None or not runs_here(self.executor):
            return ""
        return await self.builder.ensure(image, lambda line: None)

    def _spec(self, row: Deployment, env: dict, revision: int, image, devices, python: str = "",
              user_groups: tuple[str, ...] = ()) -> DeploymentSpec:
        instance_type = self.catalog.instance_type(row.instance_type) if self.catalog else None
        container_image = ""
        if image:
            container_image = (image.container_image(instance_type) if instance_type else image.image) or ""
        placed = placement(self.catalog, instance_type, row.resource_group)
        return DeploymentSpec(
            deployment_id=row.id, revision=revision, username=row.username, group=row.group,
            groups=user_groups or (row.group,), command=model_serve_command(row.model_uri) if row.model_uri else row.command,
            replicas=row.replicas, env=env, cpu=row.cpu or None, memory=row.memory or None, gpu=row.gpu,
            gpu_devices=tuple(devices), health_path=row.health_path, image=row.image, python=python,
            container_image=container_image, node_selector=placed.node_selector, tolerations=placed.tolerations)

    async def _settle(self, row: Deployment, status: DeploymentStatus) -> None:
        """Phase and availability from the executor's status; release what the serving revision no longer needs."""
        self._set(row, restarts=status.restarts, restart_reason=status.restart_reason,
                  restart_message=status.restart_message)
        if status.failed:
            self._set(row, phase="Failed", reason=status.failed, message=status.message,
                      available=status.available, serving_revision=status.revision or row.serving_revision)
        elif status.rolled_out and status.revision == row.revision and status.available >= row.replicas:
            self._set(row, phase="Deployed", reason="", message=f"{status.available} of {row.replicas} ready",
                      available=status.available, serving_revision=status.revision)
        else:
            phase = "Updating" if row.serving_revision else "Deploying"
            self._set(row, phase=phase, reason="", message=status.message or
                      f"{status.available} of {row.replicas} ready", available=status.available,
                      serving_revision=status.revision or row.serving_revision)
        if status.rolled_out and status.revision == row.revision:
            await self._release(row.id, keep=row.revision)
        elif status.failed and status.revision != row.revision:
            await self._release(row.id, keep=status.revision)  # the failed one's

    async def _release(self, deployment_id: str, keep: int | None) -> None:
        """Release the deployment's reservations of every revision but ``keep`` (once per settled
        revision: a deployment that stays as it is costs no ledger query per pass)."""
        if keep is not None and self._kept.get(deployment_id) == keep:
            return
        self._kept[deployment_id] = keep
        held = await asyncio.to_thread(self.ledger.reservations, kind=KIND)
        for r in held:
            name, revision = revision_of(r.workload_id)
            if name != deployment_id or revision == keep:
                continue
            await asyncio.to_thread(self.ledger.release, KIND, r.workload_id)

    def clients_of(self, deployment_id: str) -> dict[str, ClientCredential]:
        """A private deployment's clients as the portal DB holds them now."""
        with read_scope(self.db_url) as s:
            return {c.name: ClientCredential(c.token_digest, utc(c.expires), c.revoked is not None)
                    for c in s.scalars(select(DeploymentClient).where(DeploymentClient.deployment_id == deployment_id))}

    def _route(self, row: Deployment, status: DeploymentStatus) -> None:
        clients = self.clients_of(row.id) if row.access == "private" else {}
        self.routes.set(Route(deployment_id=row.id, access=row.access, endpoints=tuple(status.endpoints),
                              checked=status.checked, clients=clients, group=row.group,
                              wakes=self._wakes_route(row), cold_start_timeout=row.cold_start_timeout))

    # -- stopping and removal ------------------------------------------------------

    async def _revoke(self, row: Deployment) -> None:
        if self.hub is not None:
            try:
                await self.hub.revoke_workload_tokens(row.username, token_note(row))
            except Exception as exc:  # noqa: BLE001 - revoked at the next stop
                self.log.warning("Deployment %s: its replicas' API tokens were not revoked: %s", row.id, exc)

    async def _stop(self, row: Deployment) -> None:
        self._route(row, DeploymentStatus(revision=0, available=0, desired=0))
        if row.phase == "Stopped":
            return
        await self.executor.stop(row.id)
        await self._revoke(row)
        self._forget(row.id)
        await self._release(row.id, keep=None)
        await self._copy_logs(row)
        self._set(row, phase="Stopped", reason="", message="Stopped", available=0, serving_revision=0, zero_since=None)
        self.store.record(row, "stopped", "info", f"Deployment {row.name!r} ({row.id}) stopped")

    async def _remove(self, row: Deployment) -> None:
        self.routes.remove(row.id)
        await self.executor.stop(row.id)
        await self._revoke(row)
        self._forget(row.id)
        await self._release(row.id, keep=None)
        await asyncio.to_thread(self.store.purge, row.id)

    # -- records -------------------------------------------------------------------

    def _set(self, row: Deployment, said: str = "", **values) -> None:
        """Write what changed; a phase change is an activity (``said``: its message, else the phase's own)."""
        changed = {k: v for k, v in values.items() if getattr(row, k) != v}
        if not changed:
            return
        with session_scope(self.db_url) as s:
            s.execute(update(Deployment).where(Deployment.id == row.id).values(**changed, updated=utcnow()))
        before = row.phase
        for k, v in changed.items():
            setattr(row, k, v)
        if "phase" in changed and changed["phase"] != before:
            status = {"Deployed": "ok", "Failed": "error"}.get(row.phase, "info")
            detail = f" ({row.reason}): {row.message}" if row.phase == "Failed" else ""
            self.store.record(row, row.phase.lower(), status,
                              said or f"Deployment {row.name!r} ({row.id}) {row.phase.lower()}{detail}")

    async def _copy_logs(self, row: Deployment) -> None:
        data, nxt = await self.executor.logs(row.id, row.log_read)
        if not data and nxt == row.log_read:
            return
        start = nxt - len(data)
        with session_scope(self.db_url) as s:
            if data:
                logs_mod.append(s, row.id, start, data, self.log_cap, owner=logs_mod.DEPLOYMENTS)
            s.execute(update(Deployment).where(Deployment.id == row.id).values(log_read=nxt))
        row.log_read = nxt

    def _forget(self, deployment_id: str) -> None:
        """What this runner kept of a deployment that stopped or went (its scale to zero's too)."""
        self._applied.pop(deployment_id, None)
        for kept in (self._specs, self._waking, self._up_since, self._refusals):
            kept.pop(deployment_id, None)
        self._zeroed.discard(deployment_id)

    def _flush_stats(self, ids: list[str]) -> None:
        with session_scope(self.db_url) as s:
            for deployment_id in ids:
                stats = self.routes.stats(deployment_id)
                if stats is None:
                    continue
                counts = (stats.requests, stats.errors, stats.unauthorized)
                before = self._flushed.get(deployment_id, (0, 0, 0))
                if counts == before:
                    continue
                # the forwarder counts since the runner started: the DB adds up across restarts
                d = Deployment
                last = {"last_request": stats.last_request} if stats.last_request is not None else {}
                s.execute(update(d).where(d.id == deployment_id).values(
                    requests=d.requests + counts[0] - before[0], errors=d.errors + counts[1] - before[1],
                    unauthorized=d.unauthorized + counts[2] - before[2],
                    latency_p50=stats.p50_ms, latency_p99=stats.p99_ms, **last))
                self._flushed[deployment_id] = counts
