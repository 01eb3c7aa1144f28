"""Job and schedule requests: the pydantic models that validate what users send.

The same models validate API bodies and the pages' forms, and generate the
OpenAPI document. A template (what to run) is resolved against the group's
policy and the catalog into a ``Resolved`` job: the instance type's limits
are what the job reserves in the ledger.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..bodies import BodyError
from ..ledger import Request
from ..policy import (
    RESOURCE_LABELS, Catalog, Duration, GroupPolicy, Image, InstanceType, Quota, ResourceGroup, format_amount,
)
from ..resource_groups import FIELD, ResourceGroupRefused, choose

MAX_ENV = 100
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
# set by the executor for every job; a job may not override them
RESERVED_ENV = ("HOME", "USER", "LOGNAME", "SHELL", "CUDA_VISIBLE_DEVICES")
RESERVED_PREFIXES = ("HUBFRONT_", "JUPYTERHUB_")


class RequestError(BodyError):
    """A job template the group's policy refuses, naming the field (answered with 400)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def _check_env(env: dict[str, str]) -> dict[str, str]:
    if len(env) > MAX_ENV:
        raise ValueError(f"at most {MAX_ENV} variables")
    for name, value in env.items():
        if not _ENV_NAME.match(name):
            raise ValueError(f"{name!r} is not a variable name (letters, digits and _, not first a digit)")
        if name in RESERVED_ENV or name.startswith(RESERVED_PREFIXES):
            raise ValueError(f"{name} is set by Hubfront for every job")
        if "\0" in value:
            raise ValueError(f"{name}: a value may not contain a NUL character")
    return env


class JobTemplate(_Strict):
    """What to run. ``timeout`` defaults to the group's default job timeout."""

    name: str = Field(min_length=1, max_length=200, description="Display name")
    command: str = Field(min_length=1, max_length=65536, description="Run by /bin/bash -c")
    image: str | None = Field(default=None, max_length=255, description="Catalog or group image; default: the group's first")
    instance_type: str | None = Field(default=None, max_length=255,
                                      description="Default: the group's default instance type")
    resource_group: str | None = Field(default=None, max_length=255,
                                       description="Where it runs; default: the first the group may use")
    env: dict[str, str] = Field(default_factory=dict, description="Environment variables")
    timeout: Duration | None = Field(default=None, description="Seconds, or 30m, 2h, 1d")
    datasets: list[str] = Field(default_factory=list, description="Datasets the job needs: names, or name@v<N> "
                                                                   "to pin a version (read-only)")

    @field_validator("datasets")
    @classmethod
    def _datasets(cls, value: list[str]) -> list[str]:
        from ..datasets.picks import check_syntax

        return check_syntax(value)

    @field_validator("command")
    @classmethod
    def _no_nul(cls, value: str) -> str:
        if "\0" in value:
            raise ValueError("may not contain a NUL character")
        return value

    _env = field_validator("env")(_check_env)


class JobSubmit(JobTemplate):
    """``POST …/groups/{group}/jobs``."""


class ScheduleCreate(JobTemplate):
    """``POST …/groups/{group}/schedules``: a job template plus a recurrence."""

    recurrence: str = Field(max_length=120, description="inactive, daily, weekly, monthly or a 5-field cron expression")
    time_zone: str | None = Field(default=None, max_length=64, description="IANA zone; default: your preference, else UTC")
    overlap: Literal["skip", "allow"] = "skip"


class SchedulePatch(_Strict):
    """``PATCH /schedules/{id}``: only the fields sent change."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    command: str | None = Field(default=None, min_length=1, max_length=65536)
    image: str | None = Field(default=None, max_length=255)
    instance_type: str | None = Field(default=None, max_length=255)
    resource_group: str | None = Field(default=None, max_length=255)
    env: dict[str, str] | None = None
    timeout: Duration | None = None
    recurrence: str | None = Field(default=None, max_length=120)
    time_zone: str | None = Field(default=None, max_length=64)
    overlap: Literal["skip", "allow"] | None = None
    datasets: list[str] | None = None

    _env = field_validator("env")(lambda cls, v: v if v is None else _check_env(v))
    _datasets = field_validator("datasets")(lambda cls, v: v if v is None else JobTemplate._datasets(v))


@dataclass(frozen=True)
class Resolved:
    """A template checked against the group's policy: what runs, and what it reserves."""

    name: str
    command: str
    image: Image
    instance_type: InstanceType
    env: dict[str, str]
    timeout: int
    datasets: tuple[str, ...] = ()  # picks: ("imagenet", "labels@v3")
    resource_group: ResourceGroup | None = None  # where it runs (hub_ext.resource_groups)

    @property
    def placed(self) -> str:
        """The resource group's name, as stored ("" when none was chosen)."""
        return self.resource_group.name if self.resource_group else ""

    @property
    def request(self) -> Request:
        return request_of(self.instance_type)


def request_of(instance_type: InstanceType) -> Request:
    """What a workload of this instance type reserves: the type's limits."""
    return Request(cpu=instance_type.cpu, memory=instance_type.memory, gpu=instance_type.gpu)


def choose_runtime(instance_type_name: str | None, image_name: str | None, policy: GroupPolicy, catalog: Catalog,
                   group: str) -> tuple[InstanceType, Image]:
    """The instance type and image a workload asks for, checked against the group's policy (400 naming
    the field); missing ones default to the group's default instance type and its first fitting image."""
    allowed_types = policy.allowed_instance_types(catalog)
    if instance_type_name:
        instance_type = next((it for it in allowed_types if it.name == instance_type_name), None)
        if instance_type is None:
            raise RequestError({"instance_type": f"{instance_type_name!r} is not allowed in group {group}"})
    else:
        instance_type = policy.default_instance(catalog)
        if instance_type is None:
            raise RequestError({"instance_type": f"group {group} has no instance type available"})
    images = policy.allowed_images(catalog)
    if image_name:
        image = next((im for im in images if im.name == image_name), None)
        if image is None:
            raise RequestError({"image": f"{image_name!r} is not allowed in group {group}"})
        if image.unavailable:
            raise RequestError({"image": f"{image_name!r} is {image.unavailable}"})
        if not image.supports(instance_type):
            kind = "GPU" if instance_type.gpu else "CPU"
            raise RequestError({"image": f"{image.name!r} has no {kind} variant for instance type "
                                         f"{instance_type.name!r}"})
    else:
        image = next((im for im in images if im.supports(instance_type) and not im.unavailable), None)
        if image is None:
            raise RequestError({"image": f"group {group} has no image for instance type {instance_type.name!r}"})
    return instance_type, image


def resolve(template: JobTemplate, policy: GroupPolicy, catalog: Catalog, group: str) -> Resolved:
    """Check the instance type and image against the group's policy (400 naming the field)."""
    instance_type, image = choose_runtime(template.instance_type, template.image, policy, catalog, group)
    timeout = template.timeout or policy.job_default_timeout
    return Resolved(template.name, template.command, image, instance_type, dict(template.env), timeout,
                    tuple(template.datasets), placed_in(template.resource_group, instance_type, policy, catalog, group))


def placed_in(name: str | None, instance_type: InstanceType, policy: GroupPolicy, catalog: Catalog,
              group: str) -> ResourceGroup:
    """The resource group a workload asks for, checked (400 naming ``resource_group``)."""
    try:
        return choose(name, instance_type, policy, catalog, group)
    except ResourceGroupRefused as exc:
        raise RequestError({FIELD: str(exc)}) from None


def never_fits(request: Request, group: str, username: str, group_quota: Quota, user_quota: Quota) -> str:
    """Why a request exceeds a quota on its own (so it could never start), or ""."""
    over = []
    for scope, quota in ((f"group {group}", group_quota), (f"user {username} in group {group}", user_quota)):
        for resource in ("cpu", "memory", "gpu"):
            limit = quota.limit(resource)
            amount = request.amount(resource)
            if limit is not None and amount > limit + 1e-9:
                over.append(f"{RESOURCE_LABELS[resource]}: requested {format_amount(resource, amount)} > limit "
                            f"{format_amount(resource, limit)} ({scope})")
        if quota.sessions is not None and quota.sessions < 1:
            over.append(f"Sessions: requested 1 > limit {quota.sessions} ({scope})")
    if not over:
        return ""
    return "This job can never fit: " + "; ".join(over)
