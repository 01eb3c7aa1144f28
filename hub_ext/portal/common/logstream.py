"""Serving a workload's persisted output over HTTP: at once, or followed live until it ends.

Jobs, deployments, apps and image builds keep their output in the portal DB
(``hub_ext.jobs.logs``); :class:`LogAPI` is the one handler that reads it back,
each feature saying only which log it is and when it has ended.
"""

from __future__ import annotations

import asyncio
from typing import Callable

from tornado.iostream import StreamClosedError

from jupyterhub.scopes import needs_scope

from ...jobs import logs as logs_mod
from ...scopes import READ

FOLLOW_TICK = 0.5  # seconds between looks for new output while following a log


async def serve_log(handler, db_url: str, key, offset: int, *, follow: bool, ended: Callable[[int], bool],
                    owner: logs_mod.Owner = logs_mod.JOBS, filename: str = "") -> None:
    """Write the output from ``offset`` on. Without ``follow`` the answer carries ``X-Log-Offset``
    (where to ask from next); with it, output streams until ``ended(offset)`` says nothing more comes."""
    handler.set_header("Content-Type", "text/plain; charset=utf-8")
    handler.set_header("X-Content-Type-Options", "nosniff")
    if filename:
        handler.set_header("Content-Disposition", f"attachment; filename={filename}")
    first = True
    while True:
        piece = await asyncio.to_thread(logs_mod.read, db_url, key, offset, owner=owner)
        if first and not follow:
            handler.set_header("X-Log-Offset", str(piece.next))
        if first and piece.dropped and offset == 0 and piece.data:
            handler.write(f"[... {piece.dropped} earlier bytes not kept ...]\n".encode())
        first = False
        if piece.data:
            handler.write(piece.data)
            offset = piece.next
        if not follow:
            break
        try:
            await handler.flush()
        except StreamClosedError:
            return
        if ended(offset):
            break
        if not piece.data:
            await asyncio.sleep(FOLLOW_TICK)
    handler.finish()


class LogAPI:
    """GET a workload's output from ``?offset=N`` on; ``?follow=1`` streams it until it ends; ``?download=1``
    sends it as a file. Mixed into a feature's API handler (a ``PortalAPIHandler``), which says
    which log it is in :meth:`log_of` and what it keeps it under in ``owner``."""

    owner: logs_mod.Owner = logs_mod.JOBS

    def log_of(self, *args) -> tuple[object, str, Callable[[int], bool]]:
        """(the log's key, the download's file name, ``ended(offset)``) of the workload in the URL; raises 404
        for one the caller may not see."""
        raise NotImplementedError

    @needs_scope(READ)
    async def get(self, *args):
        key, filename, ended = self.log_of(*args)
        offset = self.parse_id(self.get_query_argument("offset", "0"), "offset", self.owner.size, low=0)
        follow = self.get_query_argument("follow", "0") in ("1", "true")
        download = self.get_query_argument("download", "0") in ("1", "true")
        await serve_log(self, self.db_url, key, offset, follow=follow, ended=ended, owner=self.owner,
                        filename=filename if download else "")
