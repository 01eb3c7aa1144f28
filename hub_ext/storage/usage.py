"""How much storage a group uses: measured on disk (never trusted from counters), cached briefly.

A group's use is its tree (``<data>/groups/<group>``) plus the trees of the
files datasets it owns (``<data>/datasets/<name>``, versions included). Files
are counted by apparent size; a file hard-linked several times (dataset
versions are hard-link snapshots) counts once. Measuring walks the trees with
``os.scandir`` and never follows symbolic links; callers on the event loop run
:func:`used` in a thread. A page never measures: it shows :func:`latest`, the last figure and when it
was taken, which starts a measurement in the background when that figure is older than ``TTL`` or
was invalidated since.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .tree import group_root

TTL = 10.0  # seconds a measurement is reused
log = logging.getLogger("hubfront.storage")

_cache: dict[tuple[str, str], tuple[float, int]] = {}
_generation: dict[str, int] = {}  # bumped by invalidate(): a measurement begun before is not kept
_lock = threading.Lock()
# the last figure of each group and its wall-clock time, kept through invalidate() (what pages show)
_latest: dict[tuple[str, str], tuple[int, float]] = {}
_refreshing: set[tuple[str, str]] = set()
_background = ThreadPoolExecutor(max_workers=1, thread_name_prefix="storage-usage")


def walk(*roots: Path, skip: tuple[str, ...] = (), sizes: dict | None = None) -> tuple[int, int]:
    """(bytes, files) of the regular files under ``roots``: hard links counted once, symbolic links not
    followed, folders named in ``skip`` left out; missing roots count 0. ``sizes``, when given, gets
    every file's size by ``(st_dev, st_ino)`` (what :class:`Tally` keeps up to date)."""
    total = files = 0
    seen: set[tuple[int, int]] = set()
    stack = [str(r) for r in roots]
    while stack:
        try:
            with os.scandir(stack.pop()) as entries:
                for entry in entries:
                    try:
                        if entry.is_dir(follow_symlinks=False):
                            if entry.name not in skip:
                                stack.append(entry.path)
                        elif entry.is_file(follow_symlinks=False):
                            st = entry.stat(follow_symlinks=False)
                            if sizes is not None:
                                sizes[(st.st_dev, st.st_ino)] = st.st_size
                            if st.st_nlink > 1:
                                if (st.st_dev, st.st_ino) in seen:
                                    continue
                                seen.add((st.st_dev, st.st_ino))
                            total += st.st_size
                            files += 1
                    except OSError:  # removed while we looked
                        continue
        except (FileNotFoundError, NotADirectoryError, PermissionError):
            continue
    return total, files


def measure(*roots: Path) -> int:
    """Bytes of the regular files under ``roots`` (see :func:`walk`)."""
    return walk(*roots)[0]


class Tally:
    """A group's use kept current between measurements, counted as :func:`walk` counts (apparent
    size, hard links once): :meth:`saw` a file's new size (after a write, a truncation, a file made or
    moved in) moves the total by the difference. Removals are not seen by inode, so whoever notices
    one measures again (:func:`walk` into a new ``sizes``, then :meth:`reset`)."""

    def __init__(self, total: int = 0, sizes: dict | None = None):
        self.reset(total, sizes or {})

    def reset(self, total: int, sizes: dict) -> None:
        self.total, self.sizes = total, sizes

    def saw(self, st: os.stat_result) -> int:
        """A regular file's current ``lstat``; the new total."""
        key = (st.st_dev, st.st_ino)
        self.total += st.st_size - self.sizes.get(key, 0)
        self.sizes[key] = st.st_size
        return self.total


def dataset_roots(db_url: str | None, data_dir, group: str) -> list[Path]:
    """The trees of the files datasets ``group`` owns."""
    if not db_url:
        return []
    from sqlalchemy import select

    from ..store import get_engine
    from ..store.models_storage import Dataset

    query = select(Dataset.name).where(Dataset.group == group, Dataset.kind == "files")
    with get_engine(db_url).connect() as conn:
        return [Path(data_dir) / "datasets" / name for name in conn.scalars(query)]


def used(data_dir, group: str, db_url: str | None = None) -> int:
    """Bytes ``group`` uses (its tree, and its files datasets when ``db_url`` is given); cached TTL s."""
    return measured(data_dir, group, db_url)[0]


def measured(data_dir, group: str, db_url: str | None = None) -> tuple[int, float]:
    """:func:`used`, and when that figure was measured (``time.time()``)."""
    key = (str(data_dir), group)
    now = time.monotonic()
    with _lock:
        hit, generation = _cache.get(key), _generation.get(group, 0)
        figure = _latest.get(key)
    if hit is not None and now - hit[0] < TTL:
        return hit[1], figure[1] if figure else time.time()
    total = measure(group_root(data_dir, group), *dataset_roots(db_url, data_dir, group))
    taken = time.time()
    with _lock:
        if _generation.get(group, 0) == generation:
            _cache[key] = (now, total)
            _latest[key] = (total, taken)
    return total, taken


def latest(data_dir, group: str, db_url: str | None = None) -> tuple[int, float] | None:
    """``(bytes, measured_at)`` of ``group``'s last measurement (``time.time()``), without measuring; None
    before the first. When it is older than ``TTL`` or was invalidated since, a measurement starts in the
    background (one per group at a time), for the next look."""
    key = (str(data_dir), group)
    with _lock:
        hit, figure = _cache.get(key), _latest.get(key)
        stale = hit is None or time.monotonic() - hit[0] >= TTL
        start = stale and key not in _refreshing
        if start:
            _refreshing.add(key)
    if start:
        _background.submit(_refresh, key, data_dir, group, db_url)
    return figure


def _refresh(key, data_dir, group: str, db_url: str | None) -> None:
    try:
        used(data_dir, group, db_url)
    except Exception:  # noqa: BLE001 - the next look tries again; the page keeps the last figure
        log.warning("Measuring the storage of group %s failed", group, exc_info=True)
    finally:
        with _lock:
            _refreshing.discard(key)


def invalidate(group: str) -> None:
    """Forget ``group``'s measurement (after a write), so the next :func:`used` measures again."""
    with _lock:
        _generation[group] = _generation.get(group, 0) + 1
        for key in [k for k in _cache if k[1] == group]:
            del _cache[key]
