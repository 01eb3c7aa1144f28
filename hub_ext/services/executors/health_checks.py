"""Health checks that stay out of a deployment's (or an app's) log.

A replica is checked every second (locally; every few seconds by the kubelet), and most servers
write a line for every request: ``GET /ping`` would fill the log the page shows. So every health
check asks its path with a marker in the query (``/ping?hubfront-health-check``; servers ignore a
query they do not know), and the lines that carry it are left out of the output the executors
hand on. A request a person or a client makes to the same path is logged as usual.
"""

from __future__ import annotations

MARK = "hubfront-health-check"
_MARK = MARK.encode()


def checked_path(path: str) -> str:
    """The path a health check asks: ``path`` with the marker in its query."""
    return f"{path}{'&' if '?' in path else '?'}{MARK}"


def plain_path(checked: str) -> str:
    """The path as the deployment gave it, from the one a health check asks (for messages)."""
    return checked.removesuffix(f"?{MARK}").removesuffix(f"&{MARK}")


def without_health_checks(data: bytes) -> bytes:
    """``data`` without the lines a health check caused (a piece cut in the middle of such a line, too)."""
    if _MARK not in data:
        return data
    return b"".join(line for line in data.splitlines(keepends=True) if _MARK not in line)
