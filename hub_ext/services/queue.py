"""The job queue's rule: which Pending job may try to start, in which order.

Per group, oldest first (FIFO), with two refinements:

- **User quota blocks only that user.** A job refused only by its owner's
  user quota holds back that user's later jobs in the group (their own order
  is kept) but never other users' jobs (PrimeHub's rule).
- **Group quota: backfill, then a barrier.** A job refused by the group quota
  (or by the machine's free GPU devices) lets later jobs that fit start in
  the meantime, so the group's quota is not left idle; but once it has waited
  ``barrier_after`` seconds, nothing later in its group starts until it has
  started. Smaller jobs can therefore delay a large one by at most that long
  and never starve it. (Strict FIFO would leave quota idle behind every large
  job; pure backfill lets a stream of small jobs starve it forever.)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta


def group_blocked(over: list[str]) -> bool:
    """Whether a ledger refusal involves the group's quota or the machine (not only the user's quota)."""
    return any("(group " in line or line.startswith("GPU devices") for line in over)


@dataclass
class QueueState:
    """What one pass has learned so far: who is held back, and behind which job."""

    barrier_after: timedelta
    barriers: dict[str, int] = field(default_factory=dict)  # group -> the job first in line
    user_holds: dict[tuple[str, str], int] = field(default_factory=dict)  # (group, user) -> their first job

    def held_by(self, group: str, username: str) -> int | None:
        """The earlier job that holds this one back, if any."""
        if group in self.barriers:
            return self.barriers[group]
        return self.user_holds.get((group, username))

    def refused(self, job_id: int, group: str, username: str, over: list[str], waiting_since: datetime,
                now: datetime) -> None:
        """Record a refusal: it holds back the user's later jobs, or (after a while) the whole group."""
        if group_blocked(over):
            if now - waiting_since >= self.barrier_after:
                self.barriers.setdefault(group, job_id)
        else:
            self.user_holds.setdefault((group, username), job_id)


def hold_message(held_by: int, barrier: bool) -> str:
    if barrier:
        return (f"Waiting behind job #{held_by}, which has waited longest for the group's quota "
                "and starts first")
    return f"Waiting behind your earlier job #{held_by}, which does not fit your quota yet"
