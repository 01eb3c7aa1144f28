"""How the runner turns what an app's executor reports into the app's row (mixed into ``AppRunner``).

- healthy and of the latest revision: ``Running`` (its message only says something when there is
  something to say: the restarts in a row and why, e.g. "Out of memory (limit 1 GiB): restarted twice —
  choose a larger instance type");
- the previous settings serve while new ones start, or nothing answers yet: ``Starting``, with the
  restarts' note when its process keeps ending;
- the executor says the revision cannot run: ``Failed`` with its reason;
- restarted ``max_restarts`` times in a row (any executor: ``DeploymentStatus.restarts``): it is stopped
  and its reservation released, ``Failed`` with the last restart's reason ("OOMKilled") and what to do, a
  line in its log; it stays so (across runner restarts: the row says it) until its settings change or a
  group admin starts it again, which counts from 0.
"""

from __future__ import annotations

import asyncio
import time

from ..apps import restarts as words
from ..store.models_apps import App
from .executors.deployments import DeploymentStatus


class AppStatus:
    """Needs ``_set``, ``_halt``, ``_append_log``, ``_release`` and ``max_restarts`` of ``AppRunner``."""

    max_restarts: int = 0
    routes = None  # the apps' route table (RouteTable): the forwarder's account of each app's requests

    async def stop_when_idle(self, row: App) -> bool:
        """An app with an ``idle_timeout`` that has answered no request for that long (none in flight) is
        stopped, which releases its reservation; True when it was. Idle counts from its last request, or
        from when this runner first saw it running."""
        up = self.__dict__.setdefault("_up_since", {})
        if row.phase != "Running" or not row.idle_timeout:
            up.pop(row.id, None)
            return False
        now = time.monotonic()
        since = up.setdefault(row.id, now)
        d = self.routes.deployments.get(f"{row.group}/{row.name}") if self.routes is not None else None
        if d is not None and (d.active or d.held):
            return False
        last = max(since, d.last) if d is not None and d.last is not None else since
        if now - last < row.idle_timeout:
            return False
        up.pop(row.id, None)
        await asyncio.to_thread(self.store.stop, row, "", True)
        self.wake.set()
        return True

    def gave_up(self, row: App) -> bool:
        """Whether the runner stopped restarting the app (it waits for a new revision or a start)."""
        return row.phase == "Failed" and bool(self.max_restarts) and row.restarts >= self.max_restarts

    async def _settle(self, row: App, status: DeploymentStatus) -> None:
        counted = {"restarts": status.restarts}
        if status.restarts:  # the last reason stays after the count starts again
            counted.update(restart_reason=status.restart_reason, restart_message=status.restart_message)
        if self.max_restarts and status.restarts >= self.max_restarts:
            await self._give_up(row, status, counted)
            return
        note = words.note(status.restarts, status.restart_reason, status.restart_message)
        if status.failed:
            message = f"{note}. {status.message}" if note else status.message
            self._set(row, phase="Failed", reason=status.failed, message=message,
                      endpoint=status.endpoints[0] if status.endpoints else "", **counted)
        elif status.available and status.revision == row.revision:
            self._set(row, phase="Running", reason="", message=note, endpoint=status.endpoints[0],
                      running_revision=status.revision, **counted)
        elif status.available:  # the previous settings serve while the new ones start
            self._set(row, phase="Starting", reason="", endpoint=status.endpoints[0], running_revision=status.revision,
                      message=note or status.message or "Restarting with new settings", **counted)
        else:
            self._set(row, phase="Starting", reason="", message=note or status.message or "Waiting for its health check",
                      endpoint="", **counted)
        if status.rolled_out and status.revision == row.revision:
            await self._release(row, keep=row.revision)

    async def _give_up(self, row: App, status: DeploymentStatus, counted: dict) -> None:
        """Stop restarting it: its process ends, its reservation goes, the reason stays on the row."""
        await self._halt(row)
        oom = status.restart_reason == words.OOM
        reason = words.OOM if oom else status.failed or status.restart_reason or "CrashLoop"
        message = words.given_up(status.restarts, status.restart_reason, status.restart_message)
        self._append_log(row.id, f"[{message}]\n".encode())
        if status.failed and not oom:  # the executor's account too (a crash loop's last log lines)
            message = f"{message}\n{status.message}"
        self._set(row, phase="Failed", reason=reason, message=message, endpoint="", running_revision=0, **counted)
