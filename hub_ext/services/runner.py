"""The runner: reconciles jobs and schedules (desired state in the portal DB) with the world.

One pass (``reconcile``), run when the hub wakes the runner, when the executor tells that a started
job may have ended (``Executor.notify``: the local keepers' state files), on a timer and at start:

1. started jobs: copy new output into the DB, notice how they ended, carry out cancel requests, release their
   reservations, keep their artifacts;
2. schedules: start the runs that are due (at most one job per scheduled time);
3. the queue: admit Pending jobs in the ledger (kind ``job``) by the rule of :mod:`.queue` and start them
   through the executor;
4. now and then: remove deleted jobs and those past the retention.

Everything the runner needs to resume is in the DB (and in the processes or Kubernetes Jobs its executor
adopts back), so it can be killed at any moment.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import timedelta

from sqlalchemy import func, select, update
from tornado.httpclient import HTTPClientError

from ..jobs import logs as job_logs
from ..jobs.records import KIND, JobStore
from ..jobs.retention import expired_jobs
from ..times import utc
from ..datasets.picks import pins_of
from ..jobs.requests import never_fits
from ..ledger import Ledger, QuotaExceeded, Request
from ..ledger.workloads import Liveness, job_id
from ..store import session_scope
from ..store.engine import read_scope
from ..store.models import utcnow
from ..store.models_jobs import DONE_PHASES, Job, JobArtifact
from ..mode import runs_here
from ..resource_groups import placement
from .executors.base import Executor, ExecutorError, Handle, JobSpec, Status
from .hubapi import Groups, HubAPI, HubUnreachable
from .queue import QueueState, hold_message
from .runner_settings import Runner
from .scheduler import Scheduler

TOKEN_SPARE = 600  # seconds a job's token outlives its deadline (it is revoked when the job ends)


def token_note(job: Job) -> str:
    return f"hubfront job {job.id}"


class Reconciler:
    """One runner's state: the executor, the jobs it is starting, the pass lock."""

    def __init__(self, *, settings: Runner, store: JobStore, executor: Executor, hub: HubAPI, ledger: Ledger,
                 builder=None, catalog=None, clock=utcnow, log=None, deployer=None):
        self.settings = settings
        self.store = store
        self.db_url = store.db_url
        self.executor = executor
        self.hub = hub
        self.ledger = ledger
        self.builder = builder
        self.catalog = catalog
        self.clock = clock
        self.log = log or settings.log
        self.scheduler = Scheduler(store, clock=clock, grace=timedelta(seconds=settings.missed_grace),
                                   catalog=catalog, log=self.log)
        self._lock = asyncio.Lock()
        self._starting: dict[int, asyncio.Task] = {}
        self._last_purge = 0.0
        self.wake = asyncio.Event()
        self._watched: set[str] = set()  # handle refs of the started jobs: news of one wakes the runner
        self.deployer = deployer  # the deployments' loop (hub_ext.services.deployer), None: jobs only
        self._deployments_busy = False
        self._unreachable_said = -60.0
        self.last_pass = None  # when the last reconcile pass ended (GET api/health says it)

    # -- the pass ------------------------------------------------------------

    async def reconcile(self) -> None:
        async with self._lock:
            asked = asyncio.ensure_future(self.hub.groups())  # the hub answers while we look at started jobs
            try:
                await self._watch_started()  # first: how a job ended is the news that most often woke us
            except BaseException:
                asked.cancel()
                raise
            try:
                groups = await asked
            except (OSError, HTTPClientError) as exc:
                raise HubUnreachable(str(exc)) from None
            await asyncio.to_thread(self.scheduler.fire_due, groups)
            await self._admit(groups)
            if self.deployer is not None:
                self._deployments_busy = await self.deployer.reconcile(groups)
            full = time.monotonic() - self._last_purge > 600  # now and then past the retention; the deleted each pass
            self._last_purge = time.monotonic() if full else self._last_purge
            await self._purge(deleted_only=not full)
            self.last_pass = self.clock()

    async def run(self) -> None:
        """Reconcile at start, on every wake-up and on a timer, for ever."""
        await self.startup()
        while True:
            try:
                await self.reconcile()
            except HubUnreachable as exc:  # the hub is restarting or gone (and restarts us when it is back)
                if time.monotonic() - self._unreachable_said > 60:  # once a minute, not every pass
                    self._unreachable_said = time.monotonic()
                    self.log.warning("Reconcile passes skipped: the hub's API is not reachable (%s)", exc)
            except Exception:  # noqa: BLE001 - one failed pass must not end the runner
                self.log.exception("Reconcile pass failed")
            busy = self._deployments_busy or self._has_started()
            timeout = self.settings.watch_interval if busy else self.settings.reconcile_interval
            due = await asyncio.to_thread(self.scheduler.next_due)
            if due is not None:  # wake for the next scheduled run on the dot
                timeout = max(0.0, min(timeout, (due - self.clock()).total_seconds() + 0.005))
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.wake.wait(), timeout)
            self.wake.clear()

    def _has_started(self) -> bool:
        with read_scope(self.db_url) as s:
            return bool(s.scalar(select(func.count()).select_from(Job).where(Job.phase.in_(("Preparing", "Running")))))

    # -- start-up ------------------------------------------------------------

    async def startup(self) -> None:
        """Adopt what still runs, end what does not, then make the ledger hold exactly the running jobs."""
        self.executor.prepare()
        self.executor.notify(self._heard)  # False: only the looks every watch_interval see a job end
        with read_scope(self.db_url) as s:
            started = list(s.scalars(select(Job).where(Job.phase.in_(("Preparing", "Running")))))
        for job in started:
            if not job.handle:
                await self._finish(job, Status("Failed", "ServiceRestart",
                                               "The runner restarted while the job was being started"))
                continue
            handle = Handle(job.executor, job.handle)
            if await self.executor.adopt(handle):
                self.log.info("Job %s re-adopted (%s)", job.id, job.handle)
                continue
            status = await self.executor.status(handle)
            if not status.done:
                status = Status("Failed", "ServiceRestart", "The runner restarted and the job could not be found")
            await self._copy_logs(job, handle)
            await self._finish(job, status, handle)

        dropped = await asyncio.to_thread(self.ledger.reconcile, Liveness(self.db_url), KIND)
        if dropped:
            self.log.info("Released %d reservation(s) of jobs that no longer run", len(dropped))
        if self.deployer is not None:
            try:
                groups = await self.hub.groups()
            except (OSError, HTTPClientError) as exc:
                self.log.warning("Deployments not adopted now: the hub's API is not reachable (%s)", exc)
                groups = None
            await self.deployer.startup(groups)

    # -- started jobs ----------------------------------------------------------

    def _heard(self, handle: Handle) -> None:
        if handle.ref in self._watched:
            self.wake.set()

    async def _watch_started(self) -> None:
        with read_scope(self.db_url) as s:
            started = list(s.scalars(select(Job).where(Job.phase.in_(("Preparing", "Running")), Job.handle != "")))
        self._watched = {job.handle for job in started}
        for job in started:
            if job.id in self._starting:
                continue
            handle = Handle(job.executor, job.handle)
            try:
                if job.cancel_requested:
                    await self.executor.stop(handle, self.settings.cancel_grace)
                    status = await self.executor.status(handle)
                    if not status.done or status.phase != "Cancelled":
                        status = Status("Cancelled", "Cancelled", "Cancelled", status.exit_code)
                else:
                    status = await self.executor.status(handle)
                await self._copy_logs(job, handle)
                if status.done:
                    await self._finish(job, status, handle)
            except ExecutorError as exc:
                self.log.warning("Job %s: %s", job.id, exc)

    async def _copy_logs(self, job: Job, handle: Handle) -> None:
        offset = job.log_read
        while True:
            data, nxt = await self.executor.logs(handle, offset)
            if not data:
                if nxt != offset:
                    with session_scope(self.db_url) as s:
                        s.execute(update(Job).where(Job.id == job.id).values(log_read=nxt))
                return
            start = nxt - len(data)
            with session_scope(self.db_url) as s:
                job_logs.append(s, job.id, start, data, self.settings.log_cap)
                s.execute(update(Job).where(Job.id == job.id).values(log_read=nxt))
            offset = nxt
            job.log_read = nxt

    async def _finish(self, job: Job, status: Status, handle: Handle | None = None) -> None:
        """Record how the job ended, keep its artifacts, revoke its API token (meanwhile), release its reservation."""
        note, files = "", []
        revoked = asyncio.ensure_future(self.hub.revoke_workload_tokens(job.username, token_note(job)))
        if handle is not None:
            try:
                got = await self.executor.artifacts(handle, job_id=job.id, username=job.username,
                                                    max_bytes=self.settings.artifacts_max_bytes,
                                                    max_files=self.settings.artifacts_max_files)
                if got is not None:
                    files = got.files
                    note = got.note(self.settings.artifacts_max_bytes, self.settings.artifacts_max_files)
            except Exception as exc:  # noqa: BLE001 - the job's outcome stands without them
                self.log.warning("Job %s: artifacts not collected: %s", job.id, exc)
                note = f"Artifacts were not collected: {exc}"
        try:
            await revoked
        except Exception as exc:  # noqa: BLE001 - it expires anyway
            self.log.warning("Job %s: its API token was not revoked: %s", job.id, exc)
        now = self.clock()
        message = status.message or ("Succeeded" if status.phase == "Succeeded" else status.phase)
        with session_scope(self.db_url) as s:
            changed = s.execute(
                update(Job).where(Job.id == job.id, Job.phase.not_in(DONE_PHASES)).values(
                    phase=status.phase, reason=status.reason if status.phase != "Succeeded" else "",
                    message=message, exit_code=status.exit_code, finished=now, updated=now,
                    artifacts_note=note)
            ).rowcount
            if changed:
                for path, data in files:
                    s.add(JobArtifact(job_id=job.id, path=path, size=len(data), data=data))
        await asyncio.to_thread(self.ledger.release, KIND, str(job.id))
        if not changed:
            return
        if status.phase == "Succeeded":
            self.store.record(job, "succeeded", "ok", f"Job {job.name!r} (#{job.id}) succeeded")
        elif status.phase == "Cancelled":
            self.store.record(job, "cancelled", "info", f"Job {job.name!r} (#{job.id}) cancelled")
        else:
            self.store.record(job, "failed", "error",
                              f"Job {job.name!r} (#{job.id}) failed ({status.reason}): {message}")

    # -- the queue -------------------------------------------------------------

    async def _admit(self, groups: Groups) -> None:
        with read_scope(self.db_url) as s:
            pending = list(s.scalars(select(Job).where(Job.phase == "Pending", Job.delete_requested.is_(False))
                                     .order_by(Job.id)))
        if not pending:
            return
        now = self.clock()
        state = QueueState(timedelta(seconds=self.settings.barrier_after))
        snapshots: dict[str, object] = {}
        for job in pending:
            policy = groups.policies.get(job.group)
            if policy is None or job.username not in groups.members.get(job.group, ()):
                await self._fail_pending(job, "Error", f"{job.username} is no longer a member of group {job.group}")
                continue
            request = Request(cpu=job.cpu, memory=job.memory, gpu=job.gpu)
            never = never_fits(request, job.group, job.username, policy.quota, policy.user_quota)
            if not never and job.gpu and runs_here(self.executor) and self.ledger.gpu_inventory is not None:
                machine = len(await asyncio.to_thread(self.ledger.gpu_inventory))
                if machine < job.gpu:
                    never = (f"This job can never fit: GPU devices: requested {job.gpu} > {machine} on this "
                             "machine")
            if never:
                await self._fail_pending(job, "OverQuota", never)
                continue
            held_by = state.held_by(job.group, job.username)
            if held_by is not None:
                if job.group not in snapshots:
                    snapshots[job.group] = await asyncio.to_thread(self.ledger.snapshot, job.group)
                over = snapshots[job.group].shortfalls(job.username, request, policy.quota, policy.user_quota)
                self._set_message(job, "; ".join(over) if over else
                                  hold_message(held_by, job.group in state.barriers))
                continue
            try:
                reservation = await asyncio.to_thread(
                    self.ledger.reserve, kind=KIND, workload_id=job_id(job.id), username=job.username,
                    group=job.group, request=request, group_quota=policy.quota, user_quota=policy.user_quota,
                    allocate_devices=runs_here(self.executor), resource_group=job.resource_group)
            except QuotaExceeded as exc:
                state.refused(job.id, job.group, job.username, exc.over, utc(job.created), now)
                self._set_message(job, exc.message)
                continue
            snapshots.pop(job.group, None)
            with session_scope(self.db_url) as s:
                won = s.execute(update(Job).where(Job.id == job.id, Job.phase == "Pending").values(
                    phase="Preparing", admitted=now, updated=now, message="Starting")).rowcount
            if not won:  # cancelled or deleted meanwhile
                await asyncio.to_thread(self.ledger.release, KIND, str(job.id))
                continue
            image = next((im for im in policy.allowed_images(self.catalog) if im.name == job.image), None)
            self._starting[job.id] = asyncio.create_task(
                self._start(job, image, reservation.device_ids, groups.user_groups(job.username)))

    def _set_message(self, job: Job, message: str) -> None:
        if job.message == message:
            return
        with session_scope(self.db_url) as s:
            s.execute(update(Job).where(Job.id == job.id, Job.phase == "Pending").values(message=message))

    async def _fail_pending(self, job: Job, reason: str, message: str) -> None:
        now = self.clock()
        with session_scope(self.db_url) as s:
            changed = s.execute(update(Job).where(Job.id == job.id, Job.phase == "Pending").values(
                phase="Failed", reason=reason, message=message, finished=now, updated=now)).rowcount
        if changed:
            self.store.record(job, "failed", "error", f"Job {job.name!r} (#{job.id}) failed ({reason}): {message}")

    async def _start(self, job: Job, image, devices: list[int], user_groups: tuple[str, ...]) -> None:
        token = asyncio.ensure_future(self._token(job))  # minted while the executor prepares the job
        try:
            spec = await self._spec(job, image, devices, user_groups, token)
            handle = await self.executor.start(spec)
            self._watched.add(handle.ref)  # its end may come before the next pass reads it back
        except Exception as exc:  # noqa: BLE001
            await token  # minted (it never fails) before _finish revokes it
            if isinstance(exc, _BuildFailed):
                await self._finish(job, Status("Failed", "ImageBuildFailed", str(exc)))
            elif isinstance(exc, ExecutorError):
                await self._finish(job, Status("Failed", "Error", str(exc)))
            else:
                self.log.exception("Job %s could not start", job.id)
                await self._finish(job, Status("Failed", "Error", f"The job could not start: {exc}"))
        else:
            now = self.clock()
            with session_scope(self.db_url) as s:
                s.execute(update(Job).where(Job.id == job.id).values(
                    phase="Running", started=now, updated=now, executor=handle.executor, handle=handle.ref,
                    message="Running"))
            self.store.record(job, "started", "info", f"Job {job.name!r} (#{job.id}) started in {job.group}")
        finally:
            self._starting.pop(job.id, None)
            self.wake.set()

    async def _token(self, job: Job) -> dict[str, str]:
        """Its owner's token, for the hub's and the portal's API (submit a follow-up job, read files)."""
        try:
            return await self.hub.workload_token(job.username, token_note(job), job.timeout + TOKEN_SPARE)
        except Exception as exc:  # noqa: BLE001 - the job runs without one
            self.log.warning("Job %s: no API token for it: %s", job.id, exc)
            return {}

    async def _spec(self, job: Job, image, devices: list[int], user_groups: tuple[str, ...], token) -> JobSpec:
        """What the executor needs (``token``: the future of its API token); ``image``: the catalog's or the group's."""
        python, container_image = "", ""
        instance_type = self.catalog.instance_type(job.instance_type) if self.catalog else None
        if image is not None:
            if runs_here(self.executor) and self.builder is not None:
                try:
                    python = await self.builder.ensure(image, lambda line: None)
                except Exception as exc:  # noqa: BLE001 - EnvironmentBuildFailed and OSErrors alike
                    raise _BuildFailed(f"The environment of image {image.name} failed to build: {exc}") from None
            if instance_type is not None:
                container_image = image.container_image(instance_type) or ""
            else:
                container_image = image.image or image.gpu_image or ""
        placed = placement(self.catalog, instance_type, job.resource_group)
        return JobSpec(
            job_id=job.id, username=job.username, group=job.group, groups=user_groups, command=job.command,
            env=self.store.open_env(job.env_encrypted), env_pending=token, dataset_pins=pins_of(job.dataset_picks),
            cpu=job.cpu or None, memory=job.memory or None, gpu=job.gpu, gpu_devices=tuple(devices),
            timeout=float(job.timeout), image=job.image,
            python=python, container_image=container_image, node_selector=placed.node_selector,
            tolerations=placed.tolerations)

    # -- removal ---------------------------------------------------------------

    async def _purge(self, deleted_only: bool = False) -> None:
        with read_scope(self.db_url) as s:
            doomed = list(s.scalars(select(Job).where(Job.delete_requested.is_(True))))
        if not deleted_only:
            doomed += await asyncio.to_thread(self._expired)
        for job in doomed:
            if not job.done:
                if job.phase == "Pending":
                    await self._finish(job, Status("Cancelled", "Cancelled", "Deleted"))
                continue  # a started one is stopped by _watch_started (delete implies cancel)
            if job.handle:
                try:
                    await self.executor.forget(Handle(job.executor, job.handle))
                except Exception as exc:  # noqa: BLE001
                    self.log.warning("Job %s: leftovers not removed: %s", job.id, exc)
            await asyncio.to_thread(self.store.purge, job.id)

    def _expired(self) -> list[Job]:
        return expired_jobs(self.db_url, self.clock(), self.settings.retention_days, self.settings.keep_per_group)


class _BuildFailed(Exception):
    pass

