"""A workload's restarts in plain words (apps and deployment replicas): "Out of memory (limit 1 GiB):
restarted 4 times — choose a larger instance type". The one wording of it; the features keep their own
advice around it."""

from __future__ import annotations

OOM = "OOMKilled"
LARGER = "choose a larger instance type"


def times(n: int) -> str:
    return "once" if n == 1 else "twice" if n == 2 else f"{n} times"


def note(restarts: int, reason: str, message: str) -> str:
    """``Out of memory (limit 1 GiB): restarted 4 times — choose a larger instance type`` ("" when none)."""
    if restarts <= 0:
        return ""
    text = f"{message or 'Its process ended'}: restarted {times(restarts)}"
    return text + (f" — {LARGER}" if reason == OOM else "")
