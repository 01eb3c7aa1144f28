"""Which lifecycle rules apply to one notebook: the instance type's, else the group's, else the platform's."""

from __future__ import annotations

from dataclasses import dataclass

from ..policy import GroupPolicy, InstanceType
from ..quantities import parse_duration, parse_lifetime
from .settings import Lifecycle


@dataclass(frozen=True)
class IdleRules:
    idle_timeout: int  # seconds; 0: never stopped for being idle
    warn_before: int
    max_age: int  # seconds; 0: no maximum age
    max_extensions: int
    cpu_percent: float
    gpu_percent: float

    @property
    def active(self) -> bool:
        return bool(self.idle_timeout or self.max_age)


def rules_for(settings: Lifecycle, policy: GroupPolicy | None, instance_type: InstanceType | None) -> IdleRules:
    def pick(name: str, platform: int) -> int:
        for source in (instance_type, policy):
            value = getattr(source, name, None) if source is not None else None
            if value is not None:
                return int(value)
        return platform

    policy_warn = policy.warn_before if policy is not None else None
    policy_extensions = policy.max_extensions if policy is not None else None
    return IdleRules(
        idle_timeout=pick("idle_timeout", parse_lifetime(settings.idle_timeout)),
        warn_before=int(policy_warn if policy_warn is not None else parse_duration(settings.warn_before)),
        max_age=pick("max_age", parse_lifetime(settings.max_age)),
        max_extensions=int(policy_extensions if policy_extensions is not None else settings.max_extensions),
        cpu_percent=settings.cpu_percent,
        gpu_percent=settings.gpu_percent,
    )
