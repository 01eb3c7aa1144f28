"""Network namespaces made ahead, so that a workload's start does not wait for its own (``network``).

Making a namespace takes several ``ip``/``nft`` processes: tens of milliseconds, the slowest part of a job's
start. Each process (the hub, the runner) keeps ``Networks.spares`` of them ready, each as complete as a
workload's (its veth pair, addresses, the rules inside; the host's rules cover every interface of the hub),
named ``hf-<tag>-spare-<pid>-<n>`` (no workload has such a name: a workload's starts with its kind).

A start takes one: its pin in ``/run/netns`` is bound to the workload's name, as ``ip netns`` pins a
namespace, checked to be the very namespace the spare was, and the spare's pin is removed; another is made
in the background once the start is through (``REFILL_AFTER``). A spare holds no process, so nothing runs
in it before a workload's own processes do. A spare that is gone (a hub's start removes those of processes
that are gone; ``close``) is never used: the start makes its namespace as before.
"""

from __future__ import annotations

import atexit
import ctypes
import itertools
import logging
import os
import threading
from dataclasses import replace
from typing import TYPE_CHECKING

from .accounts import IsolationError

if TYPE_CHECKING:
    from .network import Network, Networks

PREFIX = "spare-"
REFILL_AFTER = 0.05  # seconds: a spare is made again once the start that took one is through (its launch)
MS_BIND, MNT_DETACH = 4096, 2
RUN_NETNS = "/run/netns"

log = logging.getLogger(__name__)
_pools: dict[tuple, list[tuple["Network", tuple[int, int]]]] = {}  # (tag, range, ports) -> spares, oldest first
_filling: set[tuple] = set()
_closed: set[str] = set()  # hubs (tags) whose spares were dropped: none made again until reopened
_timers: list[threading.Timer] = []  # fills scheduled or under way (waited for at exit)
_lock = threading.Lock()
_count = itertools.count()


def is_spare(name: str) -> bool:
    """Whether ``name`` (without the hub's prefix) is a spare's."""
    return name.startswith(PREFIX)


def owner_alive(name: str) -> bool:
    """Whether the process that made spare ``name`` is still there (a pid reused meanwhile keeps it a while
    longer: it is removed once that process is gone too)."""
    pid = name[len(PREFIX):].partition("-")[0]
    return pid.isdigit() and os.path.exists(f"/proc/{pid}")


def _libc(call: str, *args) -> None:
    if getattr(ctypes.CDLL(None, use_errno=True), call)(*args) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def _identity(path: str) -> tuple[int, int]:
    st = os.stat(path, follow_symlinks=False)
    return st.st_dev, st.st_ino


def _rename(old: str, new: str, identity: tuple[int, int]) -> None:
    """Pin namespace ``old`` (whose pin was ``identity``) at ``new``, then unpin ``old``."""
    src, dst = f"{RUN_NETNS}/{old}", f"{RUN_NETNS}/{new}"
    os.close(os.open(dst, os.O_RDONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0))
    try:
        _libc("mount", src.encode(), dst.encode(), None, MS_BIND, None)
        if _identity(dst) != identity:  # not that namespace any more (removed meanwhile): never used
            _libc("umount2", dst.encode(), MNT_DETACH)
            raise OSError(f"spare {old} is gone")
    except OSError:
        os.unlink(dst)
        raise
    _libc("umount2", src.encode(), MNT_DETACH)
    os.unlink(src)


def _key(networks: "Networks", ports: tuple[int, ...]) -> tuple:
    return networks.tag, str(networks.range), tuple(ports)


def take(networks: "Networks", name: str, ports: tuple[int, ...]) -> "Network | None":
    """A spare made for ``networks`` with ``ports``, now workload ``name``'s; None: none ready."""
    with _lock:
        pool = _pools.get(_key(networks, ports))
        if not pool:
            return None
        spare, identity = pool.pop(0)
    full = networks.ns_prefix + name
    try:
        _rename(spare.name, full, identity)
    except OSError as exc:
        log.info("Spare network namespace %s not used (%s)", spare.name, exc)
        _remove(networks, spare.name)
        return None
    return replace(spare, name=full)


def ready(networks: "Networks") -> list[str]:
    """The names of this process's spares of the hub of ``networks``, ready, in the order they are taken."""
    with _lock:
        return [net.name for key, pool in _pools.items() if key[0] == networks.tag for net, _ in pool]


def prime(networks: "Networks", ports: tuple[int, ...] = ()) -> None:
    """Make spares up to ``networks.spares``, in the background, ``REFILL_AFTER`` from now."""
    key = _key(networks, ports)
    with _lock:
        if (networks.spares <= 0 or networks.tag in _closed or key in _filling
                or len(_pools.get(key, ())) >= networks.spares):
            return
        _filling.add(key)
    timer = threading.Timer(REFILL_AFTER, _fill, (networks, key, ports))
    timer.daemon = True
    with _lock:
        _timers[:] = [t for t in _timers if t.is_alive()] + [timer]
    timer.start()


def _fill(networks: "Networks", key: tuple, ports: tuple[int, ...]) -> None:
    try:
        while True:
            with _lock:
                if networks.tag in _closed or len(_pools.get(key, ())) >= networks.spares:
                    return
            try:
                net = networks._make(f"{PREFIX}{os.getpid()}-{next(_count)}", ports)
                identity = _identity(net.path)
            except (IsolationError, OSError) as exc:
                log.warning("No network namespace made ahead (%s): starts make their own", exc)
                return
            with _lock:
                kept = networks.tag not in _closed
                if kept:
                    _pools.setdefault(key, []).append((net, identity))
            if not kept:  # dropped while it was being made
                _remove(networks, net.name)
    finally:
        with _lock:
            _filling.discard(key)


def _remove(networks, name: str) -> None:
    try:
        networks.remove(name)
    except IsolationError:
        pass


def close(networks: "Networks") -> None:
    """Remove this process's spares of the hub of ``networks`` and make none again until :func:`reopen`
    (the hub closes its gateway)."""
    with _lock:
        _closed.add(networks.tag)
        dropped = [net for key, pool in _pools.items() if key[0] == networks.tag for net, _ in pool]
        for key in [k for k in _pools if k[0] == networks.tag]:
            del _pools[key]
    for net in dropped:
        _remove(networks, net.name)


def remove_orphans(prefix: str = "hf-") -> list[str]:
    """Remove the spares whose process is gone, of the hub whose namespaces start with ``prefix`` (its start:
    ``Networks.remove_stale``) or, by default, of every hub on this machine (a hub killed outright that never
    starts again, a test's, would leave its spares behind: the test suite sweeps them at its end). Returns the
    names removed."""
    from .network import Networks

    try:
        found = os.listdir(RUN_NETNS)
    except OSError:
        return []
    removed = []
    for name in found:
        rest = name.split("-", 2)[-1]  # hf-<tag>-<name>: a spare's name starts with PREFIX, a workload's never
        if name.startswith(prefix) and name.count("-") >= 2 and is_spare(rest) and not owner_alive(rest):
            _remove(Networks, name)
            removed.append(name)
    return removed


def reopen(networks: "Networks") -> None:
    with _lock:
        _closed.discard(networks.tag)


@atexit.register
def drop_all() -> None:
    """At exit (or when a caller ends without it: a test worker), this process's spares go (a forked child,
    which inherited the list, leaves them alone)."""
    from .network import Networks

    mine = f"{PREFIX}{os.getpid()}-"
    with _lock:
        _closed.update(key[0] for key in list(_pools) + list(_filling))  # no fill keeps what it makes now
        timers = list(_timers)
    for timer in timers:  # one being made is finished (and removed), never cut off half made
        timer.cancel()
        timer.join(10)
    with _lock:
        dropped = [net for pool in _pools.values() for net, _ in pool if mine in net.name]
        _pools.clear()
    for net in dropped:
        _remove(Networks, net.name)
