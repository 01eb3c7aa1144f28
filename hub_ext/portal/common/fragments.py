"""Page parts kept between requests while what they were built from is unchanged (the home's panels).

A part is built once and kept under a key naming everything it was built from that is not in the
database (the user, the group in focus, the group's policy, the user's servers...); what it read from
the database is known from :func:`hub_ext.store.changes.recording`, and the part is used again only
while the stamps of those tables are what they were before it was built. A part is also never older
than ``MAX_AGE`` seconds, for what time alone changes (an idle notebook's countdown, an expiry, the age
of a storage figure). A part built from a read that cannot be known, or on a database without shared
stamps, is not kept.

A part holding a form has the page's XSRF token put in on every use: it is built with ``XSRF``
standing for it. A part may hold kept parts (the home's main block holds its panels): it then depends on
what they were built from and is as old as the oldest of them, and their ``XSRF`` stays for it to fill in.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Awaitable, Callable, Hashable

from hub_ext.store import changes

MAX_AGE = 10.0
SIZE = 4096
XSRF = f"hf-xsrf-{secrets.token_hex(8)}"  # never in a page: replaced by the request's token


class Identity:
    """A key part that is an object, compared by identity (kept alive by the key, so never reused)."""

    __slots__ = ("obj",)

    def __init__(self, obj):
        self.obj = obj

    def __hash__(self):
        return id(self.obj)

    def __eq__(self, other):
        return isinstance(other, Identity) and other.obj is self.obj


@dataclass(frozen=True)
class _Kept:
    html: str
    offsets: tuple
    stamps: tuple
    born: float
    read: frozenset  # the tables it was built from (told to a part it is used in)


# while a part is built: when the parts it holds were built (a part holding others is as old as its oldest)
_inside: ContextVar[list | None] = ContextVar("hubfront_fragment_inside", default=None)


def _used(read, born: float) -> None:
    """A part built from ``read`` at ``born`` goes into the part being built, if any: that one depends on what
    it read and is no younger."""
    changes.note_reads(read)
    outer = _inside.get()
    if outer is not None:
        outer.append(born)


class FragmentCache:
    def __init__(self, size: int = SIZE, max_age: float = MAX_AGE):
        self.size, self.max_age = size, max_age
        self._kept: OrderedDict[Hashable, _Kept] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    async def get(self, url: str, key: Hashable, build: Callable[[], Awaitable[str]]) -> str:
        """The part under ``key``, built by ``build`` unless a kept one is still current."""
        shared = changes.stamps(url)
        kept = self._kept.get(key)
        if (shared is not None and kept is not None and time.monotonic() - kept.born < self.max_age
                and shared.of(kept.offsets) == kept.stamps):
            self.hits += 1
            _used(kept.read, kept.born)
            return kept.html
        self.misses += 1
        before = shared.snapshot() if shared is not None else None
        born, parts = time.monotonic(), []
        token = _inside.set(parts)
        try:
            with changes.recording() as read:
                html = await build()
        finally:
            _inside.reset(token)
        born = min([born, *parts])
        if shared is not None and changes.UNKNOWN not in read:
            with self._lock:
                offsets = shared.offsets(read)
                self._kept[key] = _Kept(html, offsets, shared.of(offsets, before), born, frozenset(read))
                self._kept.move_to_end(key)
                while len(self._kept) > self.size:
                    self._kept.popitem(last=False)
        _used(read, born)
        return html

    def clear(self) -> None:
        with self._lock:
            self._kept.clear()


def with_xsrf(html: str, handler) -> str:
    """``html`` with the request's XSRF token where it was built with ``XSRF`` (the hub works it out once a
    request); unchanged inside a part being built, which is kept with ``XSRF`` and filled in when used."""
    if XSRF not in html or _inside.get() is not None:
        return html
    return html.replace(XSRF, handler.xsrf_token.decode("ascii"))
