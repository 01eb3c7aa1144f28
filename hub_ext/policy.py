"""Catalog and group policy models (quantities are parsed by :mod:`hub_ext.quantities`).

Everything an operator or a group admin writes about resources passes through
these pydantic models, so a bad value is refused with the field at fault before
anything is stored. Quantities follow Kubernetes conventions: CPU in cores
(``2``, ``0.5``, ``500m``) and memory in bytes (``4Gi``, ``4G``, ``4096Mi``).
"""

from __future__ import annotations

import functools
import json
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from .field_messages import field_messages, summary
from .quantities import (  # noqa: F401 - the policy's quantities, imported from here by many
    MAX_COUNT, MAX_CPU, MAX_DURATION, MAX_MEMORY, RESOURCE_LABELS, RESOURCES, Count, Cpu, Duration, Lifetime, Memory,
    Slug,
    format_amount, format_cpu, format_memory, parse_cpu, parse_duration, parse_memory,
)

TRACKING_URI_SCHEMES = ("http", "https", "file", "sqlite")


def check_tracking_uri(value: str) -> str:
    """An MLflow tracking URI the hub can read a model registry from, or empty (none set).

    http(s) needs a host; file and sqlite an absolute path (a relative one
    would depend on the hub's working directory): ``file:///srv/mlruns``,
    ``sqlite:////srv/mlflow.db``.
    """
    from urllib.parse import urlsplit

    value = value.strip()
    if not value:
        return ""
    if len(value) > 2048 or any(ch.isspace() or ord(ch) < 32 for ch in value):
        raise ValueError("must be one URI (no spaces), at most 2048 characters")
    scheme, _, rest = value.partition("://")
    if scheme.lower() not in TRACKING_URI_SCHEMES:
        raise ValueError(f"must start with {', '.join(s + '://' for s in TRACKING_URI_SCHEMES)}")
    if scheme.lower() in ("http", "https"):
        try:
            parts = urlsplit(value)
            host = parts.hostname
        except ValueError as exc:
            raise ValueError(f"invalid URL ({exc})") from None
        if parts.username or parts.password:  # every member reads the policy: no secrets in it
            raise ValueError("must not hold a user name or password (the policy is shown to every member)")
        if not host:
            raise ValueError("an http(s) URI needs a host, e.g. http://mlflow.example.org:5000")
    else:  # file:///srv/mlruns (rest "/srv/mlruns"), sqlite:////srv/mlflow.db (rest "//srv/mlflow.db")
        lead = "/" if scheme.lower() == "file" else "//"
        if not rest.startswith(lead) or rest.startswith(lead + "/") or len(rest) <= len(lead):
            raise ValueError(f"a {scheme}: URI needs an absolute path, e.g. "
                             + ("file:///srv/mlruns" if lead == "/" else "sqlite:////srv/mlflow.db"))
    return value


TrackingUri = Annotated[str, AfterValidator(check_tracking_uri),
                        WithJsonSchema({"type": "string", "maxLength": 2048,
                                        "pattern": r"^\s*((https?|file|sqlite)://\S+)?\s*$",
                                        "examples": ["http://mlflow.example.org:5000"]}, mode="validation")]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class InstanceType(_Model):
    """A platform-wide machine shape. Quota counts these *limits*."""

    name: Slug
    display_name: str = ""
    description: str = ""
    cpu: Cpu = 1.0
    memory: Memory = 2**30
    gpu: Count = 0
    node_selector: dict[str, str] = {}
    tolerations: list[dict[str, Any]] = []
    resource_groups: list[str] = []  # the resource groups it runs in; empty: every one
    # a notebook of this type is stopped sooner (GPU types): overrides the group's and the platform's; 0 never
    idle_timeout: Lifetime | None = None
    max_age: Lifetime | None = None

    @property
    def title(self) -> str:
        return self.display_name or self.name

    def resources(self) -> dict[str, float]:
        return {"cpu": self.cpu, "memory": self.memory, "gpu": self.gpu, "sessions": 1}

    def summary(self) -> str:
        text = f"{format_cpu(self.cpu)} CPU · {format_memory(self.memory)}"
        return text + (f" · {self.gpu} GPU" if self.gpu else "")


class LocalEnvironment(_Model):
    """How an image runs in the embedded mode: an interpreter, or packages built into a venv."""

    python: str | None = None
    packages: list[str] = []


class Image(_Model):
    """A notebook image: a CPU and/or GPU container image plus a local environment."""

    name: Slug
    display_name: str = ""
    description: str = ""
    image: str | None = None
    gpu_image: str | None = None
    local: LocalEnvironment = LocalEnvironment()
    quick_launch: Literal["tensorflow", "pytorch"] | None = None
    built: bool = False  # a group image made by image builds: its newest Succeeded build is what runs
    # why it cannot be used now ("building — not yet available"); set by hub_ext.images.resolve, never stored
    unavailable: str = Field(default="", exclude=True)
    # packages a group admin chose (set by hub_ext.images.resolve, never stored): installed from wheels only
    from_group: bool = Field(default=False, exclude=True)

    @property
    def title(self) -> str:
        return self.display_name or self.name

    def supports(self, instance_type: InstanceType) -> bool:
        """GPU images go with GPU instance types, CPU images with CPU ones."""
        if instance_type.gpu:
            return bool(self.gpu_image) or not (self.image or self.gpu_image)
        return bool(self.image) or not (self.image or self.gpu_image)

    def container_image(self, instance_type: InstanceType) -> str | None:
        if instance_type.gpu and self.gpu_image:
            return self.gpu_image
        return self.image or self.gpu_image


class ResourceGroup(_Model):
    """A named set of nodes (Backend.AI's resource group, a node pool): a workload placed in it gets its
    node selector and tolerations. On one machine there is one, the implicit ``local``."""

    name: Slug
    display_name: str = ""
    description: str = ""
    node_selector: dict[str, str] = {}
    tolerations: list[dict[str, Any]] = []

    @property
    def title(self) -> str:
        return self.display_name or self.name


class Catalog(_Model):
    instance_types: list[InstanceType] = []
    images: list[Image] = []
    resource_groups: list[ResourceGroup] = []  # Kubernetes node pools; none declared: one implicit group
    # whether workloads run on this one machine (then the declared resource groups do not apply): set by
    # whoever loads the catalog from the mode (Hubfront.catalog), never by the catalog file
    _local: bool = PrivateAttr(default=True)

    @property
    def local(self) -> bool:
        return self._local

    def placed(self, local: bool) -> "Catalog":
        """This catalog, for a process whose workloads run on this machine (``local``) or on nodes."""
        copy = self.model_copy()
        copy._local = local
        return copy

    @model_validator(mode="after")
    def _unique_names(self) -> "Catalog":
        for field in ("instance_types", "images", "resource_groups"):
            names = [item.name for item in getattr(self, field)]
            dupes = sorted({n for n in names if names.count(n) > 1})
            if dupes:
                raise ValueError(f"{field}: duplicate names {', '.join(dupes)}")
        declared = {rg.name for rg in self.resource_groups}
        for it in self.instance_types:
            unknown = [n for n in it.resource_groups if n not in declared]
            if unknown:
                raise ValueError(f"instance type {it.name}: unknown resource group(s) {', '.join(unknown)}")
        return self

    def instance_type(self, name: str) -> InstanceType | None:
        return next((it for it in self.instance_types if it.name == name), None)

    def image(self, name: str) -> Image | None:
        return next((im for im in self.images if im.name == name), None)


class Quota(_Model):
    """Limits over cpu, memory, gpu and sessions (and the group's storage); ``None`` means unlimited."""

    cpu: Cpu | None = None
    memory: Memory | None = None
    gpu: Count | None = None
    sessions: Count | None = None
    storage: Memory | None = None  # bytes of group storage (group quota only), e.g. "50Gi"

    def limit(self, resource: str) -> float | None:
        return getattr(self, resource)


class GroupPolicy(_Model):
    """A group's policy, stored in JupyterHub's ``group.properties["hubfront"]``."""

    display_name: str = Field(default="", max_length=128)
    admins: list[str] = []
    quota: Quota = Quota()
    user_quota: Quota = Quota()
    instance_types: list[str] = ["*"]
    images: list[str] = ["*"]
    resource_groups: list[str] = ["*"]  # the catalog's resource groups its workloads may use
    group_images: list[Image] = []
    default_instance_type: str | None = None
    job_default_timeout: Duration = 86400
    deployments_enabled: bool = False
    deployments_max: Count | None = None
    mlflow_tracking_uri: TrackingUri = ""  # the group's MLflow server (Models page); empty: the platform's
    # notebooks' lifecycle (hub_ext.lifecycle): None is the platform's default (c.Lifecycle), 0 never
    idle_timeout: Lifetime | None = None
    warn_before: Duration | None = None
    max_age: Lifetime | None = None
    max_extensions: Count | None = None

    @field_validator("user_quota")
    @classmethod
    def _storage_is_the_groups(cls, quota: Quota) -> Quota:
        if quota.storage is not None:
            raise ValueError("storage is a quota of the whole group (set quota.storage), not of each member")
        return quota

    @field_validator("instance_types", "images", "resource_groups")
    @classmethod
    def _names(cls, names: list[str]) -> list[str]:
        return list(dict.fromkeys(n.strip() for n in names if n.strip()))

    def allowed_instance_types(self, catalog: Catalog) -> list[InstanceType]:
        if "*" in self.instance_types:
            return list(catalog.instance_types)
        return [it for it in catalog.instance_types if it.name in self.instance_types]

    def allowed_images(self, catalog: Catalog) -> list[Image]:
        if "*" in self.images:
            base = list(catalog.images)
        else:
            base = [im for im in catalog.images if im.name in self.images]
        names = {im.name for im in base}
        return base + [im for im in self.group_images if im.name not in names]

    def check_against(self, catalog: Catalog) -> None:
        """Refuse names the catalog does not know, naming the field."""
        known_types = {it.name for it in catalog.instance_types}
        known_images = {im.name for im in catalog.images}
        errors: dict[str, str] = {}
        bad = [n for n in self.instance_types if n != "*" and n not in known_types]
        if bad:
            errors["instance_types"] = f"unknown instance type(s): {', '.join(bad)}"
        bad = [n for n in self.images if n != "*" and n not in known_images]
        if bad:
            errors["images"] = f"unknown image(s): {', '.join(bad)}"
        known_groups = {rg.name for rg in catalog.resource_groups}
        bad = [n for n in self.resource_groups if n != "*" and n not in known_groups]
        if bad:
            errors["resource_groups"] = f"unknown resource group(s): {', '.join(bad)}"
        if self.default_instance_type and self.default_instance_type not in {
            it.name for it in self.allowed_instance_types(catalog)
        }:
            errors["default_instance_type"] = (
                f"{self.default_instance_type!r} is not an allowed instance type"
            )
        if errors:
            raise PolicyError(errors)

    def default_instance(self, catalog: Catalog) -> InstanceType | None:
        allowed = self.allowed_instance_types(catalog)
        if self.default_instance_type:
            chosen = next((it for it in allowed if it.name == self.default_instance_type), None)
            if chosen:
                return chosen
        return allowed[0] if allowed else None

    def is_admin(self, username: str) -> bool:
        return username in self.admins


class PolicyError(ValueError):
    """A policy or catalog refused, with one message per field at fault."""

    def __init__(self, errors: dict[str, str]):
        self.errors = errors
        super().__init__(summary(errors))


def parse_policy(data: Any, catalog: Catalog | None = None) -> GroupPolicy:
    """Validate a policy document; raise PolicyError naming each bad field."""
    if not isinstance(data, dict):
        raise PolicyError({"body": "a policy must be a JSON object"})
    try:
        policy = GroupPolicy.model_validate(data)
    except ValidationError as exc:
        raise PolicyError(field_messages(exc)) from None
    if catalog is not None:
        policy.check_against(catalog)
    return policy


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch: objects merge key by key, ``null`` removes, anything else replaces."""
    if not isinstance(patch, dict):
        return patch
    merged = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = merge_patch(merged.get(key), value)
    return merged


def merge_policy(current: GroupPolicy, patch: Any, catalog: Catalog | None = None) -> GroupPolicy:
    """``current`` with a partial change applied (what PATCH does): fields not in ``patch`` are kept.

    A ``null`` resets a field to its default (for a quota value: unlimited).
    The result is validated like a full policy, naming each bad field.
    """
    if not isinstance(patch, dict):
        raise PolicyError({"body": "a policy change must be a JSON object"})
    return parse_policy(merge_patch(current.model_dump(mode="json"), patch), catalog)


def parse_catalog(data: Any) -> Catalog:
    try:
        return Catalog.model_validate(data or {})
    except ValidationError as exc:
        raise PolicyError(field_messages(exc)) from None


POLICY_KEY = "hubfront"


def policy_of(properties: dict | None) -> GroupPolicy:
    """Read the policy from a group's properties.

    A stored policy that no longer validates (edited by hand through the hub's
    API) falls back to the most restrictive reading: nothing allowed, so a bad
    edit can never widen access.
    """
    raw = (properties or {}).get(POLICY_KEY)
    if raw is None:
        return GroupPolicy()
    return _parse_stored(json.dumps(raw, sort_keys=True))


@functools.lru_cache(maxsize=1024)
def _parse_stored(raw_json: str) -> GroupPolicy:
    # policies are read on every page; the same stored document parses once
    try:
        return GroupPolicy.model_validate_json(raw_json)
    except ValidationError:
        return GroupPolicy(
            instance_types=[], images=[], resource_groups=[], quota=Quota(cpu=0, memory=0, gpu=0, sessions=0, storage=0)
        )


def properties_with(properties: dict | None, policy: GroupPolicy) -> dict:
    """A new properties dict holding ``policy`` (reassign it; never mutate in place)."""
    new = dict(properties or {})
    new[POLICY_KEY] = policy.model_dump(mode="json")
    return new
