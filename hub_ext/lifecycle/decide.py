"""When a notebook server is stopped, and the words for it: pure functions of what the culler saw.

A server is idle since the latest of: its start, its last activity the hub saw (requests, kernels
executing, terminals: the single-user server reports them), the last look at which its cgroup's CPU (or its
GPUs) was above the threshold, and its owner's last Keep running. It is stopped ``idle_timeout`` after
that, or at ``max_age`` after its start, whichever comes first; its owner is warned ``warn_before`` ahead.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from ..quantities import format_duration
from .rules import IdleRules

IDLE, MAX_AGE = "idle", "max_age"


@dataclass(frozen=True)
class Decision:
    idle_since: datetime | None
    cull_at: datetime | None  # None: never
    reason: str  # IDLE, MAX_AGE or "" (never)

    def due(self, now: datetime) -> bool:
        return self.cull_at is not None and now >= self.cull_at

    def warning(self, now: datetime, rules: IdleRules) -> bool:
        return self.cull_at is not None and now >= self.cull_at - timedelta(seconds=rules.warn_before)


def idle_since(*, started: datetime | None, last_activity: datetime | None, busy_at: datetime | None,
               kept_at: datetime | None) -> datetime | None:
    seen = [t for t in (started, last_activity, busy_at, kept_at) if t is not None]
    return max(seen) if seen else None


def decide(rules: IdleRules, *, started: datetime | None, last_activity: datetime | None = None,
           busy_at: datetime | None = None, kept_at: datetime | None = None) -> Decision:
    since = idle_since(started=started, last_activity=last_activity, busy_at=busy_at, kept_at=kept_at)
    deadlines = []
    if rules.idle_timeout and since is not None:
        deadlines.append((since + timedelta(seconds=rules.idle_timeout), IDLE))
    if rules.max_age and started is not None:
        deadlines.append((started + timedelta(seconds=rules.max_age), MAX_AGE))
    if not deadlines:
        return Decision(since, None, "")
    at, reason = min(deadlines, key=lambda d: (d[0], d[1] != MAX_AGE))
    return Decision(since, at, reason)


def keep_refusal(rules: IdleRules, decision: Decision, extensions: int) -> str:
    """Why Keep running cannot extend this server ("" when it can)."""
    if not rules.idle_timeout:
        return "This notebook is not stopped for being idle: there is nothing to extend."
    if decision.reason == MAX_AGE:
        return (f"This notebook reaches its maximum age of {format_duration(rules.max_age)}: "
                "it cannot be kept running past it.")
    if extensions >= rules.max_extensions:
        return (f"Keep running was used {extensions} time{'s' if extensions != 1 else ''} on this notebook, "
                f"the most allowed ({rules.max_extensions}).")
    return ""


def measured_words(rules: IdleRules, cpu_measured: bool, gpu_measured: bool) -> str:
    words = ["no activity"]
    if cpu_measured:
        words.append(f"CPU < {rules.cpu_percent:g} %")
    if gpu_measured:
        words.append(f"GPU < {rules.gpu_percent:g} %")
    return ", ".join(words)


def stop_message(rules: IdleRules, reason: str, *, cpu_measured: bool = False, gpu_measured: bool = False) -> str:
    """What the notebook's activity says when the culler stopped it."""
    if reason == MAX_AGE:
        return f"Stopped at its maximum age of {format_duration(rules.max_age)}"
    return (f"Stopped after {format_duration(rules.idle_timeout)} idle "
            f"({measured_words(rules, cpu_measured, gpu_measured)})")


def warning_text(decision: Decision, now: datetime, rules: IdleRules) -> str:
    """ "Stops in 9 min: idle since 14:02 UTC" (the page adds the Keep running button)."""
    left = max(0.0, (decision.cull_at - now).total_seconds()) if decision.cull_at else 0.0
    minutes = int(left // 60)
    when = f"in {minutes} min" if minutes else ("in less than a minute" if left > 0 else "now")
    if decision.reason == MAX_AGE:
        return f"Stops {when}: it reaches its maximum age of {format_duration(rules.max_age)}"
    since = decision.idle_since.strftime("%H:%M UTC") if decision.idle_since else "its start"
    return f"Stops {when}: idle since {since}"
