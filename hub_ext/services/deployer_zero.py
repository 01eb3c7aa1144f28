"""Scale to zero, the deployer's half (mixed into :class:`.deployer.Deployer`; the forwarder's half is
:mod:`.forward_wake`).

- **Down**: a deployment with ``min_replicas`` 0 that is Deployed, holds no request and has had none
  for ``scale_down_after`` seconds goes to zero. Idle is the forwarder's own account: the last request
  it admitted or finished (:attr:`.forward_routes.Deployment.last`); a request or websocket still being
  answered (``active``) keeps it up, and a runner that just started counts from when it first saw the
  deployment serve. Its route first says it wakes (new requests are held, not sent to replicas about to
  end), then the executor applies the same revision with 0 replicas (the Kubernetes Deployment stays,
  scaled to 0, with its Service; local replicas end, their revision kept), then its reservations are
  released. ``zero_since``, the phase ``ScaledToZero`` and no serving revision record it; the activity
  says why.
- **At zero**: each pass keeps the route waking and (once per runner) the executor at 0 replicas and the
  ledger empty for it; a change of the spec waits for the next wake; ``min_replicas`` raised above 0 wakes it.
- **Wake** (:meth:`wake`, the forwarder's :class:`.forward_wake.Waker`): one at a time per deployment,
  shared by every request held meanwhile. The replicas are reserved in the ledger as by any start (a
  refusal is answered to the requests, and the deployment stays at zero), then applied; a watcher
  looks at the executor's status every ``wake_poll`` seconds and hands the forwarder the first ready
  replica at once. Wake to ready is the **cold start**, stored with the deployment and an activity.

Every step for one deployment (the pass's and a wake) runs under its lock, and the pass reads the row
again under it: a wake that happened meanwhile is seen.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

from sqlalchemy import update

from ..deployments.scaling import cold_start_words, scaled_activity, scaled_message, scales_down, span
from ..ledger import QuotaExceeded
from ..store import session_scope
from ..store.engine import read_scope
from ..store.models import utcnow
from ..store.models_deployments import SCALED_TO_ZERO, Deployment
from .executors.base import ExecutorError
from .executors.deployments import DeploymentSpec, DeploymentStatus


class ScaleToZero:
    """What :class:`.deployer.Deployer` needs for scale to zero (its ``_zero_init`` runs in its ``__init__``)."""

    wake_poll = 0.05  # seconds between looks at a waking deployment's status
    refusal_reused = 2.0  # seconds a wake refused by the quota answers later requests without asking again

    def _zero_init(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}
        self._wakes: dict[str, asyncio.Future] = {}  # deployment -> the wake in progress
        self._waking: dict[str, float] = {}  # deployment -> time.monotonic() of its wake, until a replica is ready
        self._up_since: dict[str, float] = {}  # deployment -> when this runner first saw it serve (or it woke)
        self._specs: dict[str, DeploymentSpec] = {}  # deployment -> the spec last applied or adopted
        self._zeroed: set[str] = set()  # deployments this runner has seen to at zero (executor and ledger)
        self._refusals: dict[str, tuple[float, str]] = {}  # deployment -> (when, why) of its last refused wake
        self._groups = None  # the groups of the last pass (a wake between passes admits against them)
        self._watchers: set[asyncio.Future] = set()

    def lock_of(self, deployment_id: str) -> asyncio.Lock:
        return self._locks.setdefault(deployment_id, asyncio.Lock())

    def _row(self, deployment_id: str) -> Deployment | None:
        """The row as the DB holds it now."""
        with read_scope(self.db_url) as s:
            return s.get(Deployment, deployment_id)

    # -- the pass ----------------------------------------------------------------------------

    def _wakes_route(self, row: Deployment) -> bool:
        """Whether its endpoint wakes it (at zero, or waking): what the route tells the forwarder."""
        return row.at_zero or row.id in self._waking

    async def _at_zero(self, row: Deployment, groups) -> bool:
        """A pass over a deployment at zero; False (nothing in progress)."""
        if row.min_replicas > 0:  # its minimum was raised: it no longer waits for a request
            await self._wake_locked(row, groups, "woken: its min replicas is no longer 0")
            return True
        self._route(row, DeploymentStatus(revision=0, available=0, desired=0))
        if row.id not in self._zeroed:  # once per runner: nothing runs and nothing is reserved for it
            policy = groups.policies.get(row.group)
            if policy is not None:
                await self.executor.apply(self._zero_spec(row, policy))
            await self._release(row.id, keep=None)
            self._zeroed.add(row.id)
        if row.phase != SCALED_TO_ZERO:  # after an executor's refusal at zero, once it is there again
            self._set(row, phase=SCALED_TO_ZERO, reason="", message=scaled_message(row.scale_down_after))
        return False

    async def _after_status(self, row: Deployment, status: DeploymentStatus, groups) -> None:
        """After a pass saw ``status``: a wake whose replica is ready records its cold start; an idle
        deployment with ``min_replicas`` 0 scales to zero."""
        if row.id in self._waking:
            if status.endpoints:
                await self._cold_started(row, status)
            elif status.failed:
                self._waking.pop(row.id, None)
            return
        if row.phase != "Deployed":
            return
        now = time.monotonic()
        since = self._up_since.setdefault(row.id, now)
        d = self.routes.deployments.get(row.id)
        if d is not None and (d.held or d.active):  # waiting for a wake, or being answered now
            return
        last = max(since, d.last if d is not None and d.last is not None else since)
        if scales_down(row.min_replicas, now - last, row.scale_down_after):
            await self._scale_down(row, groups)

    async def _scale_down(self, row: Deployment, groups) -> None:
        policy = groups.policies.get(row.group)
        if policy is None:
            return
        self._set(row, said=scaled_activity(row.name, row.id, row.scale_down_after), zero_since=utcnow(),
                  phase=SCALED_TO_ZERO, reason="", message=scaled_message(row.scale_down_after), available=0,
                  serving_revision=0)  # nothing serves: woken, it deploys its revision again
        self._route(row, DeploymentStatus(revision=0, available=0, desired=0))  # new requests wait for a wake
        await self.executor.apply(self._zero_spec(row, policy))
        await self._release(row.id, keep=None)
        self._zeroed.add(row.id)
        self._up_since.pop(row.id, None)
        self.log.info("Deployment %s scaled to zero (no requests for %s)", row.id, span(row.scale_down_after))

    def _zero_spec(self, row: Deployment, policy) -> DeploymentSpec:
        """The applied revision at 0 replicas (its last spec, or one made from the row without a new token)."""
        spec = self._specs.get(row.id)
        if spec is None:
            image = next((im for im in policy.allowed_images(self.catalog) if im.name == row.image), None)
            spec = self._spec(row, self.store.open_env(row.env_encrypted), row.serving_revision or row.revision,
                              image, ())
        return replace(spec, replicas=0, gpu_devices=())

    # -- waking ------------------------------------------------------------------------------

    async def wake(self, deployment_id: str) -> str:
        """The forwarder's call for a request at zero: "" once the replicas are starting, else why not."""
        refused = self._refusals.get(deployment_id)
        if refused is not None and time.monotonic() - refused[0] < self.refusal_reused:
            return refused[1]
        task = self._wakes.get(deployment_id)
        if task is None:
            task = self._wakes[deployment_id] = asyncio.ensure_future(self._wake(deployment_id))
            task.add_done_callback(lambda _: self._wakes.pop(deployment_id, None))
        return await asyncio.shield(task)

    async def _wake(self, deployment_id: str) -> str:
        async with self.lock_of(deployment_id):
            row = self._row(deployment_id)
            if row is None or row.stopped or row.delete_requested:
                return f"deployment {deployment_id} is stopped"
            if not row.at_zero:
                return ""  # woken meanwhile (or never at zero): its requests wait for a ready replica
            groups = self._groups
            if groups is None and self.hub is not None:
                groups = self._groups = await self.hub.groups()
            if groups is None:
                return "the runner is starting; try again"
            try:
                return await self._wake_locked(row, groups, "woken by a request")
            except ExecutorError as exc:
                return str(exc)

    async def _wake_locked(self, row: Deployment, groups, why: str) -> str:
        """Reserve, record and apply the replicas of a deployment at zero (its lock held)."""
        began = time.monotonic()
        policy = groups.policies.get(row.group)
        if policy is None:
            return f"group {row.group} no longer exists"
        try:
            devices = await self._reserve_replicas(row, policy)
        except QuotaExceeded as exc:
            message = exc.message
            if self._refusals.get(row.id, (0.0, ""))[1] != message:
                self.store.record(row, "wake-refused", "error",
                                  f"Deployment {row.name!r} ({row.id}) could not wake: {message}")
            self._refusals[row.id] = (time.monotonic(), message)
            return message
        self._refusals.pop(row.id, None)
        self._waking[row.id] = began
        with session_scope(self.db_url) as s:
            s.execute(update(Deployment).where(Deployment.id == row.id).values(wakes=Deployment.wakes + 1))
        self._set(row, said=f"Deployment {row.name!r} ({row.id}) {why}", zero_since=None, phase="Deploying",
                  reason="", message=f"Waking up ({why}): starting {row.replicas} "
                                     f"replica{'s' if row.replicas != 1 else ''}")
        self._route(row, DeploymentStatus(revision=0, available=0, desired=0))
        try:
            await self._apply(row, policy, groups, devices)
        except ExecutorError as exc:
            self._waking.pop(row.id, None)
            await self._release(row.id, keep=None)
            self._set(row, zero_since=utcnow(), phase=SCALED_TO_ZERO, reason="Error",
                      message=f"{scaled_message(row.scale_down_after)}. The last wake failed: {exc}")
            raise
        self._zeroed.discard(row.id)
        self._kept.pop(row.id, None)  # its reservations are settled again once it serves
        watcher = asyncio.ensure_future(self._watch_wake(row, row.cold_start_timeout))
        self._watchers.add(watcher)
        watcher.add_done_callback(self._watchers.discard)
        return ""

    async def _watch_wake(self, row: Deployment, timeout: float) -> None:
        """Until a replica of the woken deployment is ready, it failed, or it no longer wakes (stopped): every
        ``wake_poll`` seconds for ``timeout`` (the requests held meanwhile), then every second."""
        slow_after = time.monotonic() + timeout
        while row.id in self._waking:
            try:
                status = await self.executor.status(row.id)
            except Exception:  # noqa: BLE001 - the next pass reports it
                status = None
            if status is not None and status.endpoints:
                async with self.lock_of(row.id):
                    if row.id in self._waking:
                        await self._cold_started(row, status)
                return
            if status is not None and status.failed:
                return
            await asyncio.sleep(self.wake_poll if time.monotonic() < slow_after else 1.0)

    async def _cold_started(self, row: Deployment, status: DeploymentStatus) -> None:
        """A replica of a woken deployment is ready: the forwarder gets it now; the cold start is recorded."""
        began = self._waking.pop(row.id, None)
        self._route(row, status)
        await self._settle(row, status)  # its phase says it serves now, not at the next pass
        if began is None:
            return
        now = time.monotonic()
        seconds = now - began
        self._up_since[row.id] = now
        at = utcnow()
        with session_scope(self.db_url) as s:
            s.execute(update(Deployment).where(Deployment.id == row.id).values(
                last_cold_start=seconds, last_cold_start_at=at))
        row.last_cold_start, row.last_cold_start_at = seconds, at
        self.store.record(row, "woken", "ok", f"Deployment {row.name!r} ({row.id}) ready after "
                                              f"{cold_start_words(seconds)} (cold start)")
        self.log.info("Deployment %s: cold start %.2f s", row.id, seconds)

    # -- reading -------------------------------------------------------------------------------

    def _fresh(self, row: Deployment) -> Deployment | None:
        """The row again when scale to zero may have changed it since the pass read it (a wake)."""
        if row.min_replicas != 0 and row.zero_since is None:
            return row
        return self._row(row.id)
