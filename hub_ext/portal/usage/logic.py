"""Resource Dashboard: quota use of a group and of one member, from the ledger."""

from __future__ import annotations

from hub_ext.ledger import Amount, Snapshot
from hub_ext.policy import RESOURCE_LABELS, RESOURCES, GroupPolicy, format_amount, format_memory


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


def storage_line(used: int, limit: int | None) -> dict:
    """The group's storage: measured use against ``quota.storage`` (None: unlimited)."""
    amount = Amount.of(used, limit)
    return {**_amount("memory", amount), "label": "Storage", "used_text": format_memory(used),
            "limit_text": format_memory(limit)}


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
