"""One pass over the rows of a desired-state table (deployments, apps): each is removed, stopped or
served as its row asks, one failing row never stops the others, and an executor's refusal is
recorded on the row for its owner to read."""

from __future__ import annotations

from .executors.base import ExecutorError


class DesiredState:
    """Mixed into a reconciler that has ``_remove``, ``_stop``, ``_serve(row, groups) -> busy``,
    ``_refused(row, exc)`` and a ``log``; ``what(row)`` names a row in the log."""

    async def pass_over(self, rows, groups) -> bool:
        """Act on every row; True while any is on its way somewhere (the runner then comes back sooner)."""
        busy = False
        for row in rows:
            try:
                if row.delete_requested:
                    await self._remove(row)
                elif row.stopped:
                    await self._stop(row)
                else:
                    busy |= await self._serve(row, groups)
            except ExecutorError as exc:
                self._refused(row, exc)
            except Exception:  # noqa: BLE001 - one row must not stop the others
                self.log.exception("%s: reconcile failed", self.what(row))
        return busy
