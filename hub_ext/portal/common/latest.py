"""What a page shows that is read over the network (an MLflow registry's listing, the runner's health): kept,
and read again in the background, so that a page never waits for another server once it has a reading.

``Latest.get`` hands the last reading of a key at once; one older than ``ttl`` is read again in the
background for the next look (one read per key at a time). Only the first look of a key (or one that asks
for a fresh reading: the page's Refresh) waits for the read. A reading keeps when it was taken: pages say how
old it is. A read that fails with one of the ``expected`` errors is a reading too (the page says why, and
when it was seen); any other error is the caller's, and is not kept.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Awaitable, Callable, Hashable


log = logging.getLogger(__name__)


def _said(read: asyncio.Future) -> None:
    if not read.cancelled() and read.exception() is not None:  # (a look that waited for it has its answer)
        log.warning("A reading for a page failed: %r", read.exception())


@dataclass(frozen=True)
class Reading:
    value: object  # None when the read failed
    error: Exception | None
    taken: float  # time.time()

    @property
    def age(self) -> float:
        return max(0.0, time.time() - self.taken)


class Latest:
    def __init__(self, ttl: float, expected: tuple[type[Exception], ...] = ()):
        self.ttl, self.expected = ttl, expected
        self._kept: dict[Hashable, Reading] = {}
        self._reading: dict[Hashable, asyncio.Future] = {}

    def peek(self, key: Hashable) -> Reading | None:
        return self._kept.get(key)

    async def get(self, key: Hashable, read: Callable[[], Awaitable[object]], fresh: bool = False) -> Reading:
        kept = self._kept.get(key)
        if kept is not None and not fresh:
            if kept.age >= self.ttl:
                self._start(key, read)
            return kept
        return await asyncio.shield(self._start(key, read))

    def _start(self, key: Hashable, read) -> asyncio.Future:
        found = self._reading.get(key)
        if found is None:
            found = self._reading[key] = asyncio.ensure_future(self._read(key, read))
            found.add_done_callback(_said)
        return found

    async def _read(self, key: Hashable, read) -> Reading:
        try:
            reading = Reading(await read(), None, time.time())
        except self.expected as exc:
            reading = Reading(None, exc, time.time())
        except Exception:
            self._reading.pop(key, None)
            raise
        self._kept[key] = reading
        self._reading.pop(key, None)
        return reading
