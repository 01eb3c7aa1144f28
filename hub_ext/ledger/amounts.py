"""What the ledger counts: a workload's request, a scope's use against its limit, and the refusal that
names every resource over it (``GPU: used 3 + requested 2 > limit 4 (group research)``)."""

from __future__ import annotations

from dataclasses import dataclass

from ..policy import RESOURCE_LABELS, RESOURCES, Quota, format_amount

_EPSILON = 1e-9  # CPU sums are floats: 0.1 + 0.2 must fit in a limit of 0.3


@dataclass(frozen=True)
class Request:
    """What one workload asks for: its instance type's limits."""

    cpu: float = 0.0
    memory: int = 0
    gpu: int = 0
    sessions: int = 1  # every reservation counts as one session

    def __post_init__(self) -> None:
        for resource in RESOURCES:
            if getattr(self, resource) < 0:
                raise ValueError(f"{resource}: a request must not be negative")

    def amount(self, resource: str) -> float:
        return getattr(self, resource)


class QuotaExceeded(Exception):
    """Admission refused; ``over`` has one line per resource over its limit."""

    def __init__(self, over: list[str] | str):
        self.over = [over] if isinstance(over, str) else list(over)
        self.message = "; ".join(self.over)
        super().__init__(self.message)


@dataclass(frozen=True)
class Amount:
    """One resource of one scope: ``limit``/``remaining`` are None when unlimited."""

    used: float
    limit: float | None
    remaining: float | None

    @property
    def unlimited(self) -> bool:
        return self.limit is None

    @classmethod
    def of(cls, used: float, limit: float | None) -> "Amount":
        remaining = None if limit is None else max(limit - used, 0)
        return cls(used=used, limit=limit, remaining=remaining)


@dataclass(frozen=True)
class Usage:
    """A group's use against its quota, and one member's against the user quota."""

    group: dict[str, Amount]
    user: dict[str, Amount] | None


@dataclass(frozen=True)
class Snapshot:
    """A group's use at one moment, per member: usage and advisory checks without new queries."""

    group: str
    members: dict[str, dict[str, float]]

    def used(self, username: str | None = None) -> dict[str, float]:
        rows = [self.members.get(username, {})] if username is not None else self.members.values()
        return {r: sum(row.get(r, 0) for row in rows) for r in RESOURCES}

    def usage(self, username: str | None, group_quota: Quota, user_quota: Quota) -> Usage:
        group_used = self.used()
        user = None
        if username is not None:
            user_used = self.used(username)
            user = {r: Amount.of(user_used[r], user_quota.limit(r)) for r in RESOURCES}
        return Usage(group={r: Amount.of(group_used[r], group_quota.limit(r)) for r in RESOURCES}, user=user)

    def shortfalls(self, username: str, request: Request, group_quota: Quota, user_quota: Quota) -> list[str]:
        over = over_lines(self.used(), request, group_quota, f"group {self.group}")
        return over + over_lines(self.used(username), request, user_quota, f"user {username} in group {self.group}")


def over_lines(used: dict[str, float], request: Request, quota: Quota, scope: str) -> list[str]:
    lines = []
    for resource in RESOURCES:
        limit, asked = quota.limit(resource), request.amount(resource)
        if limit is None or asked <= 0:
            continue  # unlimited, or not asked for: a lowered limit never blocks other resources
        if used[resource] + asked > limit + _EPSILON:
            lines.append(
                f"{RESOURCE_LABELS[resource]}: used {format_amount(resource, used[resource])}"
                f" + requested {format_amount(resource, asked)}"
                f" > limit {format_amount(resource, limit)} ({scope})"
            )
    return lines
