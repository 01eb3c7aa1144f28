"""Serving a workload's persisted output over HTTP: at once, or followed live until it ends.

Jobs and deployments keep their output in the portal DB (``hub_ext.jobs.logs``);
this is the one way both are read back.
"""

from __future__ import annotations

import asyncio
from typing import Callable

from tornado.iostream import StreamClosedError

from ..jobs import logs as logs_mod

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
