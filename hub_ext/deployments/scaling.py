"""Scale to zero in words and rules, shared by the runner (which scales and wakes), the API and the pages.

A deployment with ``min_replicas`` 0 is scaled to zero once it has had no request for
``scale_down_after`` seconds: its replicas end, its reservations are released, and its endpoint
still answers: the next request wakes it (admitted in the ledger like any start) and is held
until a replica is ready, at most ``cold_start_timeout`` seconds.
"""

from __future__ import annotations

_UNITS = ((86400, "day"), (3600, "h"), (60, "min"))


def span(seconds: float) -> str:
    """A setting's length in words: ``30 min``, ``1 h``, ``2 days``, ``90 s`` → ``1 min 30 s``."""
    whole = max(0, int(round(seconds)))
    for size, unit in _UNITS:
        if whole >= size and whole % size == 0:
            n = whole // size
            return f"{n} {unit}{'s' if unit == 'day' and n != 1 else ''}"
    if whole >= 60:
        return f"{span(whole - whole % 60)} {whole % 60} s"
    return f"{whole} s"


def scaled_message(scale_down_after: float) -> str:
    """What the deployment says while at zero (its ``message``, on its page and in the API)."""
    return f"Scaled to zero (no requests for {span(scale_down_after)}) — wakes on the next request"


def scaled_activity(name: str, deployment_id: str, scale_down_after: float) -> str:
    return f"Deployment {name!r} ({deployment_id}) scaled to zero (no requests for {span(scale_down_after)})"


def compact(seconds: int) -> str:
    """A duration as the forms take it back: ``30m``, ``1h``, ``2d``, ``90`` (seconds)."""
    for size, suffix in ((86400, "d"), (3600, "h"), (60, "m")):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size}{suffix}"
    return str(seconds)


def explained(min_replicas: int, replicas: int, at_zero: bool, scale_down_after: float, cold_start_timeout: float) -> str:
    """What scale to zero does for this deployment now, in one sentence for its page."""
    if min_replicas > 0:
        return (f"Off: its {replicas} replica{'s stay' if replicas != 1 else ' stays'} up. With min replicas 0 "
                "it would scale to zero when idle.")
    if at_zero:
        return scaled_message(scale_down_after)
    return (f"Scales to zero after {span(scale_down_after)} without requests; the request that wakes it waits "
            f"up to {span(cold_start_timeout)} for a replica.")


def cold_start_words(seconds: float | None) -> str:
    """``3.2 s``, ``450 ms`` (None: ``—``)."""
    if seconds is None:
        return "—"
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.1f} s"


def scales_down(min_replicas: int, idle: float, scale_down_after: float) -> bool:
    """Whether a serving deployment idle for ``idle`` seconds is scaled to zero now."""
    return min_replicas == 0 and idle >= scale_down_after
