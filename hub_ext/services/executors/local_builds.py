"""Image builds in the embedded mode: a Python environment built by the hub's own
:class:`hub_ext.images.environments.EnvironmentBuilder` (the same code, cache and directory the spawner
uses, so a notebook of the built image finds its environment ready).

A build is a task of the runner process. Its output (pip's, line by line) is kept in memory until the
builder copies it into the portal DB; cancelling kills pip and removes the half-made environment. A
build does not survive the runner: after a restart ``adopt`` says so and the builder fails it
honestly (rebuild it).
"""

from __future__ import annotations

import asyncio

from hub_ext.policy import Image
from hub_ext.store.models_images import ImageBuild
from hub_ext.images.environments import EnvironmentBuildFailed, EnvironmentBuilder

from .base import BuildExecutor, ExecutorError, Handle, Status

LOST = ("The runner restarted while this build ran, and a build in the embedded mode runs inside the "
        "runner: it was stopped. Rebuild it.")


class _Running:
    def __init__(self):
        self.task: asyncio.Task | None = None
        self.output = bytearray()
        self.start = 0  # offset of output[0]


class LocalBuilds(BuildExecutor):
    name = "local"

    def __init__(self, builder: EnvironmentBuilder):
        self.builder = builder
        self._running: dict[str, _Running] = {}

    async def start(self, build: ImageBuild) -> Handle:
        result = Image.model_validate_json(build.result)
        if not result.local.packages:
            raise ExecutorError("Nothing to build: the image has no packages")
        ref = f"build-{build.id}"
        running = self._running[ref] = _Running()

        def report(line: str) -> None:
            running.output += (line.rstrip("\n") + "\n").encode("utf-8", "replace")

        async def work() -> str:
            ready = self.builder.python_for(result)
            if ready:
                report(f"The environment {self.builder.path_for(result).name} (the same base and packages) is "
                       "already built: reused")
                return ready
            return await self.builder.ensure(result, report)

        running.task = asyncio.create_task(work())
        return Handle(self.name, ref)

    async def status(self, handle: Handle) -> Status:
        running = self._running.get(handle.ref)
        if running is None or running.task is None:
            return Status("Failed", "ServiceRestart", LOST)
        task = running.task
        if not task.done():
            return Status("Running")
        if task.cancelled():
            return Status("Cancelled", "Cancelled", "Cancelled")
        exc = task.exception()
        if isinstance(exc, EnvironmentBuildFailed):
            return Status("Failed", "ImageBuildFailed", "pip could not install the packages")
        if exc is not None:
            return Status("Failed", "Error", f"The build failed: {exc}")
        return Status("Succeeded", exit_code=0)

    async def logs(self, handle: Handle, offset: int = 0) -> tuple[bytes, int]:
        running = self._running.get(handle.ref)
        if running is None:
            return b"", offset
        end = running.start + len(running.output)
        data = bytes(running.output[max(0, offset - running.start):])
        # what was read is kept in the DB: drop it here
        keep = max(0, offset - running.start)
        del running.output[:keep]
        running.start += keep
        return data, max(offset, end)

    async def stop(self, handle: Handle, grace: float = 10.0) -> None:
        running = self._running.get(handle.ref)
        if running is not None and running.task is not None and not running.task.done():
            running.task.cancel()
            try:
                await running.task
            except (asyncio.CancelledError, Exception):  # its end is read by status()
                pass

    async def adopt(self, handle: Handle) -> bool:
        return handle.ref in self._running

    async def forget(self, handle: Handle) -> None:
        self._running.pop(handle.ref, None)
