"""The runner's image builder: carries out the image builds the hub stores (``hub_ext.images.builds``).

Each step:

1. Building builds: copy new output into the portal DB (the page follows it live), carry out cancel
   requests (the executor kills the build), and record how each ended: Succeeded (the image's new
   version in use), Failed (with the log's tail; the previous version stays in use) or Cancelled;
2. Pending builds start in the order they were asked for, while fewer than
   ``c.Runner.max_concurrent_builds`` build on this runner; the others wait (the API shows their place).

Builds reserve nothing in the ledger. At start, builds left Building by an earlier runner are adopted
back when their executor still runs them (a Kubernetes Job) and failed with a ServiceRestart message
otherwise (the embedded mode builds inside the runner process).
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy import select, update

from .. import activity
from ..jobs import logs as logs_mod
from ..store import session_scope
from ..store.engine import read_scope
from ..store.models import utcnow
from ..store.models_images import ImageBuild
from ..mode import runs_here
from .executors.base import ExecutorError, Handle, Status

TAIL_LINES = 20


class Builder:
    def __init__(self, *, db_url: str, executor, max_concurrent: int = 2, log_cap: int = 10 * 2**20,
                 hub_prefix: str = "/hub/", poll: float = 1.0, log: logging.Logger | None = None, clock=utcnow):
        self.db_url = db_url
        self.executor = executor
        self.max_concurrent = max(0, int(max_concurrent))  # 0: start none (builds wait)
        self.log_cap = log_cap
        self.hub_prefix = hub_prefix
        self.poll = poll
        self.log = log or logging.getLogger("hubfront.builder")
        self.clock = clock

    # -- the loop ------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        await self.startup()
        while not stop.is_set():
            try:
                await self.step()
            except Exception:  # a bad pass must not end the builds of everyone
                self.log.exception("Image build step failed")
            try:
                await asyncio.wait_for(stop.wait(), self.poll)
            except asyncio.TimeoutError:
                pass

    async def startup(self) -> None:
        """Adopt builds an earlier runner left Building, or fail them saying why."""
        for row in self._rows("Building"):
            handle = _handle(row)
            if handle is not None and await self._adopt(handle):
                self.log.info("Adopted image build %s/%s #%s", row.group, row.image, row.number)
                continue
            status = await self._status(handle) if handle is not None else None
            if status is None or not status.done:
                status = Status("Failed", "ServiceRestart", "The runner restarted while this build ran and could "
                                "not find it again. Rebuild it.")
            await self._finish(row, handle, status)

    async def step(self) -> None:
        running = 0
        for row in self._rows("Building"):
            if not await self._watch(row):
                running += 1
        for row in self._rows("Pending"):
            if running >= self.max_concurrent:
                break
            if await self._start(row):
                running += 1

    # -- one build -----------------------------------------------------------

    async def _start(self, row: ImageBuild) -> bool:
        now = self.clock()
        with session_scope(self.db_url) as s:
            won = s.execute(update(ImageBuild).where(ImageBuild.id == row.id, ImageBuild.phase == "Pending")
                            .values(phase="Building", started=now, message="Building")).rowcount
        if not won:  # cancelled meanwhile
            return False
        self.log.info("Building image %s/%s #%s (%s)", row.group, row.image, row.number, row.ref)
        try:
            handle = await self.executor.start(row)
        except ExecutorError as exc:
            await self._finish(row, None, Status("Failed", "Error", str(exc)))
            return False
        with session_scope(self.db_url) as s:
            s.execute(update(ImageBuild).where(ImageBuild.id == row.id)
                      .values(handle=f"{handle.executor}:{handle.ref}"))
        return True

    async def _watch(self, row: ImageBuild) -> bool:
        """Copy output, carry out a cancel request; True when the build ended."""
        handle = _handle(row)
        if handle is None:  # started by a runner that died before storing the handle
            await self._finish(row, None, Status("Failed", "ServiceRestart", "The build's runner stopped while "
                                                 "starting it. Rebuild it."))
            return True
        await self._copy_logs(row, handle)
        if row.cancel_requested:
            try:
                await self.executor.stop(handle)
            except ExecutorError as exc:
                self.log.warning("Cancelling build %s: %s", row.id, exc)
        status = await self._status(handle)
        if status is None or not status.done:
            return False
        await self._finish(row, handle, status)
        return True

    async def _finish(self, row: ImageBuild, handle: Handle | None, status: Status) -> None:
        if handle is not None:
            row.log_size = await self._copy_logs(row, handle)
            await self.executor.forget(handle)
        phase = status.phase
        if row.cancel_requested and phase != "Succeeded":
            phase, message = "Cancelled", "Cancelled"
        elif phase == "Succeeded":
            message = f"Built {row.ref}"
        elif phase == "Cancelled":
            message = "Cancelled"
        else:
            tail = self._tail(row)
            message = status.message + (f"\n{tail}" if tail else "")
        with session_scope(self.db_url) as s:
            s.execute(update(ImageBuild).where(ImageBuild.id == row.id)
                      .values(phase=phase, message=message, finished=self.clock()))
        what = {"Succeeded": ("build succeeded", "ok"), "Cancelled": ("build cancelled", "info")}.get(
            phase, ("build failed", "error"))
        activity.record(self.db_url, username=row.username, group=row.group, kind="image", action=what[0],
                        status=what[1], workload_id=f"{row.image}#{row.number}",
                        message=f"Build #{row.number} of image {row.image}: {phase}"
                                + (f" ({status.message})" if phase == "Failed" else ""),
                        link=f"{self.hub_prefix}portal/images?image={row.image}&build={row.number}")
        self.log.info("Image build %s/%s #%s: %s", row.group, row.image, row.number, phase)

    async def _copy_logs(self, row: ImageBuild, handle: Handle) -> int:
        try:
            data, _ = await self.executor.logs(handle, row.log_size)
        except ExecutorError as exc:
            self.log.warning("Reading the log of build %s: %s", row.id, exc)
            return row.log_size
        if data:
            offset = row.log_size
            with session_scope(self.db_url) as s:
                logs_mod.append(s, row.id, offset, data, self.log_cap, owner=logs_mod.BUILDS)
            row.log_size = offset + len(data)
        return row.log_size

    def _tail(self, row: ImageBuild) -> str:
        size = logs_mod.size(self.db_url, row.id, owner=logs_mod.BUILDS)
        piece = logs_mod.read(self.db_url, row.id, max(0, size - 16384), owner=logs_mod.BUILDS)
        lines = piece.data.decode("utf-8", "replace").splitlines()
        return "\n".join(lines[-TAIL_LINES:])

    async def _status(self, handle: Handle) -> Status | None:
        try:
            return await self.executor.status(handle)
        except ExecutorError as exc:
            self.log.warning("Status of build %s: %s", handle.ref, exc)
            return None

    async def _adopt(self, handle: Handle) -> bool:
        try:
            return await self.executor.adopt(handle)
        except ExecutorError:
            return False

    def _rows(self, phase: str) -> list[ImageBuild]:
        with read_scope(self.db_url) as s:
            return list(s.scalars(select(ImageBuild).where(ImageBuild.phase == phase).order_by(ImageBuild.id)))


def _handle(row: ImageBuild) -> Handle | None:
    executor, _, ref = (row.handle or "").partition(":")
    return Handle(executor, ref) if executor and ref else None


def build_builder(config, log, hubfront, settings, env_builder, jobs_executor) -> Builder:
    """The builder with the executor of this runner's kind (wired by ``app.build``)."""
    from ..images.settings import ImageBuilds

    settings_builds = ImageBuilds.instance(config=config)
    if not runs_here(jobs_executor):
        from .executors.kube_builds import KubernetesBuilds

        executor = KubernetesBuilds(settings_builds, jobs_executor)
    else:
        from hub_ext.images.environments import EnvironmentBuilder

        from .executors.local_builds import LocalBuilds

        # the spawner's directory and pip arguments (so notebooks find what builds made), wheels only
        pip_args = [*env_builder.pip_args, *settings_builds.group_pip_args()]
        executor = LocalBuilds(EnvironmentBuilder(env_builder.root, env_builder.base_python, pip_args))
    return Builder(db_url=hubfront.db_url, executor=executor, max_concurrent=settings.max_concurrent_builds,
                   log_cap=settings.log_cap, hub_prefix=settings.hub_prefix, log=log)
