"""The group Settings page's edit form (hub admins): form fields to a policy change, and back.

The form sends only the fields it shows, and is applied as a merge
(:func:`hub_ext.policy.merge_policy`, what ``PATCH …/policy`` does), so what it
does not show (allowed instance types and images, group images, the default
instance type) is kept as it is. No tornado here.
"""

from __future__ import annotations

import re

from ...policy import RESOURCES, GroupPolicy, format_cpu

QUOTAS = ("quota", "user_quota")
TEXT_FIELDS = ("display_name", "job_default_timeout", "deployments_max", "mlflow_tracking_uri")
# what a group's own admins change on the Settings page (and with PATCH …/policy); hub admins: everything
GROUP_ADMIN_FIELDS = ("job_default_timeout", "mlflow_tracking_uri")
_BINARY = (("Ti", 2**40), ("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10))


def memory_input(nbytes: int | None) -> str:
    """Bytes as the form shows them, exactly and in a way parse_memory reads back: ``4Gi``."""
    if nbytes is None:
        return ""
    for suffix, factor in _BINARY:
        if nbytes and nbytes % factor == 0:
            return f"{nbytes // factor}{suffix}"
    return str(nbytes)


def _amount_input(resource: str, value) -> str:
    if value is None:
        return ""
    if resource == "cpu":
        return format_cpu(value)
    if resource == "memory":
        return memory_input(value)
    return str(value)


def _duration_input(seconds: int) -> str:
    for suffix, factor in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % factor == 0:
            return f"{seconds // factor}{suffix}"
    return str(seconds)


def form_values(policy: GroupPolicy) -> dict[str, str]:
    """The form's fields, pre-filled from ``policy`` (an empty quota field is unlimited)."""
    values = {
        "display_name": policy.display_name,
        "admins": ", ".join(policy.admins),
        "job_default_timeout": _duration_input(policy.job_default_timeout),
        "deployments_enabled": "on" if policy.deployments_enabled else "off",
        "deployments_max": "" if policy.deployments_max is None else str(policy.deployments_max),
        "mlflow_tracking_uri": policy.mlflow_tracking_uri,
    }
    for quota in QUOTAS:
        for resource in RESOURCES:
            values[f"{quota}.{resource}"] = _amount_input(resource, getattr(policy, quota).limit(resource))
    values["quota.storage"] = memory_input(policy.quota.storage)  # a group's only
    return values


def form_patch(form: dict[str, str]) -> dict:
    """A merge patch from the submitted fields; a field not submitted is not changed.

    An empty quota or maximum field means unlimited (``null``), an empty
    tracking URI the platform's; the values themselves are validated by the
    policy model, which names the field.
    """
    patch: dict = {}
    for name in TEXT_FIELDS:
        if name in form:
            value = form[name].strip()
            patch[name] = value if value or name == "display_name" else None
    if "admins" in form:
        patch["admins"] = [n for n in re.split(r"[,\s]+", form["admins"]) if n]
    if "deployments_enabled" in form:
        patch["deployments_enabled"] = form["deployments_enabled"] in ("on", "true", "1")
    for quota in QUOTAS:
        for resource in RESOURCES:
            key = f"{quota}.{resource}"
            if key in form:
                patch.setdefault(quota, {})[resource] = form[key].strip() or None
    if "quota.storage" in form:
        patch.setdefault("quota", {})["storage"] = form["quota.storage"].strip() or None
    return patch
