"""How many deployments a group may run: one answer for the form, the API and admission.

Two limits hold at once: the group policy's ``deployments_max`` (this group's running
deployments) and the license's maximum (every group's, platform-wide, admitted with its 10%
grace: :func:`hub_ext.license.deployments_over`). The effective maximum is the smaller; the
form shows it with the reason, and offers Create only while admission would take one more,
because admission asks the same :class:`DeploymentLimits` in its write transaction.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import bindparam, case, func, select

from ..license import DEPLOYMENTS_TEXT, deployments_over
from ..store.models_deployments import Deployment


def _plural(n: int) -> str:
    return f"{n} deployment{'' if n == 1 else 's'}"


def license_allows(license_max: int) -> int:
    """How many deployments the license admits platform-wide: its maximum and its 10% grace."""
    return license_max * 11 // 10  # the most for which deployments_over is False


@dataclass(frozen=True)
class DeploymentLimits:
    """A group's limits now: ``running`` its deployments that count (not stopped, not deleted),
    ``platform`` every group's."""

    group: str
    enabled: bool
    group_max: int | None  # the policy's deployments_max (None: no maximum)
    license_max: int | None  # the license's maximum (None: not checked)
    running: int
    platform: int

    @property
    def license_allows(self) -> int | None:
        return None if self.license_max is None else license_allows(self.license_max)

    @property
    def most(self) -> int | None:
        """The effective maximum: the smaller of the group's and the license's (None: neither limits)."""
        found = [n for n in (self.group_max, self.license_allows) if n is not None]
        return min(found) if found else None

    @property
    def because(self) -> str:
        """Which limit makes the maximum: "the platform's license allows 1", "the group's policy allows 2"."""
        group, lic = self.group_max, self.license_allows
        if lic is None or (group is not None and group < lic):
            return f"the group's policy allows {group}" if group is not None else ""
        grace = f" ({self.license_max} and a 10% grace)" if lic != self.license_max else ""
        if group == lic:
            return f"the group's policy and the platform's license allow {lic}{grace}"
        return f"the platform's license allows {lic}{grace}"

    @property
    def summary(self) -> str:
        """``This group may run at most 1 deployment at a time: the platform's license allows 1``."""
        if self.most is None:
            return ""
        return f"This group may run at most {_plural(self.most)} at a time: {self.because}"

    @property
    def refusal(self) -> str:
        """Why one more deployment would be refused now ("": it would be admitted)."""
        if not self.enabled:
            return f"Deployments are not enabled in group {self.group}"
        if self.group_max is not None and self.running >= self.group_max:
            return (f"Group {self.group} has reached its maximum of {_plural(self.group_max)} "
                    f"(deployments_max)")
        if self.license_max is not None and deployments_over(self.license_max, self.platform + 1):
            return DEPLOYMENTS_TEXT
        return ""

    @property
    def why_not(self) -> str:
        """Why the form offers no Create, in plain words, with what would make room ("": it offers it)."""
        return self.explain("create another")

    def explain(self, action: str) -> str:
        """The refusal of one more deployment in plain words, ending with what makes room for ``action``."""
        if not self.enabled or not self.refusal:
            return self.refusal
        if self.group_max is not None and self.running >= self.group_max:
            return (f"This group runs {self.running} of at most {_plural(self.group_max)} "
                    f"(the group's policy). Stop or delete one to {action}.")
        elsewhere = self.platform - self.running
        where = f", {elsewhere} of them in other groups" if elsewhere else ""
        return (f"The platform's license allows {_plural(self.license_allows)} at a time and {self.platform} "
                f"{'runs' if self.platform == 1 else 'run'}{where}. Stop or delete one to {action}, or ask an "
                f"administrator to upgrade the license.")

    def json(self) -> dict:
        return {"enabled": self.enabled, "most": self.most, "because": self.because or None,
                "group_max": self.group_max, "license_allows": self.license_allows, "running": self.running,
                "platform": self.platform, "may_create": not self.refusal, "refusal": self.refusal or None,
                "summary": self.summary or None, "why_not": self.why_not or None}


_COUNTING = (Deployment.stopped.is_(False), Deployment.delete_requested.is_(False))
# (the group's, the platform's) deployments that count against the limits, in one query built once
_COUNTS = select(func.coalesce(func.sum(case((Deployment.group == bindparam("group"), 1), else_=0)), 0),
                 func.count()).select_from(Deployment).where(*_COUNTING)
_COUNTS_EXCLUDING = _COUNTS.where(Deployment.id != bindparam("exclude"))


def limits_of(session, group: str, policy, license_max: int | None, exclude: str | None = None) -> DeploymentLimits:
    """The group's limits as ``session`` sees them (``exclude``: a stopped deployment about to start)."""
    if exclude is None:
        running, platform = session.execute(_COUNTS, {"group": group}).one()
    else:
        running, platform = session.execute(_COUNTS_EXCLUDING, {"group": group, "exclude": exclude}).one()
    return DeploymentLimits(group, policy.deployments_enabled, policy.deployments_max, license_max,
                            int(running or 0), int(platform or 0))
