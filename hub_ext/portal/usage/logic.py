"""Resource Dashboard: quota use of a group and of one member, from the ledger."""

from __future__ import annotations

import time
from datetime import datetime, timezone

from hub_ext.ledger import Amount, Snapshot
from hub_ext.policy import RESOURCE_LABELS, RESOURCES, GroupPolicy, format_amount, format_memory
from hub_ext.quantities import format_age
from hub_ext.times import iso


def _amount(resource: str, a: Amount) -> dict:
    return {
        "used": a.used,
        "limit": a.limit,
        "remaining": a.remaining,
        "unlimited": a.unlimited,
        "used_text": format_amount(resource, a.used),
        "limit_text": format_amount(resource, a.limit),
        "percent": None if a.unlimited or not a.limit else min(100, round(100 * a.used / a.limit)),
    }


def dashboard(snapshot: Snapshot, username: str, policy: GroupPolicy, per_user: bool) -> dict:
    """The usage document behind the home panel and GET /api/portal/groups/{g}/usage.

    Every member sees the group's totals and their own use; ``per_user`` adds
    every member's use (for group admins and admins).
    """
    usage = snapshot.usage(username, policy.quota, policy.user_quota)
    doc = {
        "group": snapshot.group,
        "resources": [
            {
                "resource": r,
                "label": RESOURCE_LABELS[r],
                "group": _amount(r, usage.group[r]),
                "user": _amount(r, usage.user[r]),
            }
            for r in RESOURCES
        ],
    }
    if per_user:
        doc["users"] = [
            {"username": name, **{r: used[r] for r in RESOURCES},
             "text": {r: format_amount(r, used[r]) for r in RESOURCES}}
            for name, used in sorted(snapshot.members.items())
        ]
    return doc


def storage_line(used: int | None, limit: int | None, measured_at: float | None = None,
                 now: float | None = None) -> dict:
    """The group's storage: measured use against ``quota.storage`` (None: unlimited), and how old that
    measurement is (``measured_at``: ``time.time()``); ``used`` None: not measured yet (it is being)."""
    if used is None:
        return {**_amount("memory", Amount.of(0, limit)), "used": None, "remaining": None, "label": "Storage",
                "used_text": "being measured", "limit_text": format_memory(limit), "percent": None,
                "measured_at": None, "age_text": ""}
    age = None if measured_at is None else max(0.0, (now or time.time()) - measured_at)
    return {**_amount("memory", Amount.of(used, limit)), "label": "Storage", "used_text": format_memory(used),
            "limit_text": format_memory(limit), "measured_at": iso(datetime.fromtimestamp(measured_at, timezone.utc))
            if measured_at is not None else None,
            "age_text": "" if age is None else f"measured {format_age(age, just_now=5)}"}


def resource_group_doc(summary: dict, capacity: dict, placed: Snapshot, username: str) -> dict:
    """One resource group in the panel: what its nodes hold (``capacity``: :meth:`hub_ext.capacity.Capacity.doc`)
    and what the member and the group use there (quota stays per group, above)."""
    mine, group = placed.used(username), placed.used()
    return {
        **summary,
        "capacity": capacity,
        "used": [{"resource": r, "label": RESOURCE_LABELS[r], "user": mine[r], "group": group[r],
                  "user_text": format_amount(r, mine[r]), "group_text": format_amount(r, group[r])}
                 for r in RESOURCES],
    }
