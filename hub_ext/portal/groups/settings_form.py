"""A policy's values as the Groups console's form shows them (``4Gi``, ``2h``; empty: unlimited), and the fields
a group's own admins change (with ``PATCH …/policy``, in the console's form). No tornado here.
"""

from __future__ import annotations

from ...policy import RESOURCES, GroupPolicy, format_cpu

QUOTAS = ("quota", "user_quota")
# what a group's own admins change (in the console's form, with PATCH …/policy); hub admins: everything
GROUP_ADMIN_FIELDS = ("job_default_timeout", "mlflow_tracking_uri")
GROUP_ADMIN_LABELS = {"job_default_timeout": "default job timeout", "mlflow_tracking_uri": "MLflow tracking URI"}
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


def _lifetime_input(seconds: int | None) -> str:
    return "" if seconds is None else ("never" if seconds == 0 else _duration_input(seconds))


def form_values(policy: GroupPolicy) -> dict[str, str]:
    """The form's fields, pre-filled from ``policy`` (an empty quota field is unlimited)."""
    values = {
        "display_name": policy.display_name,
        "admins": ", ".join(policy.admins),
        "job_default_timeout": _duration_input(policy.job_default_timeout),
        "deployments_enabled": "on" if policy.deployments_enabled else "off",
        "deployments_max": "" if policy.deployments_max is None else str(policy.deployments_max),
        "mlflow_tracking_uri": policy.mlflow_tracking_uri,
        # the notebooks' lifecycle: empty is the platform's default, "never" none
        "idle_timeout": _lifetime_input(policy.idle_timeout),
        "warn_before": "" if policy.warn_before is None else _duration_input(policy.warn_before),
        "max_age": _lifetime_input(policy.max_age),
        "max_extensions": "" if policy.max_extensions is None else str(policy.max_extensions),
    }
    for quota in QUOTAS:
        for resource in RESOURCES:
            values[f"{quota}.{resource}"] = _amount_input(resource, getattr(policy, quota).limit(resource))
    values["quota.storage"] = memory_input(policy.quota.storage)  # a group's only
    return values
