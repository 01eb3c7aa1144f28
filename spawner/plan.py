"""Resolve a launch request into a plan: group, instance type and image.

No JupyterHub here, so the rules are testable on their own: membership, the
group's allowed instance types and images, GPU/CPU image variants, and the
server-name-per-group convention.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from hub_ext.datasets.picks import check_syntax
from hub_ext.field_messages import field_messages, summary
from hub_ext.policy import Catalog, GroupPolicy, Image, InstanceType, ResourceGroup
from hub_ext.resource_groups import FIELD, ResourceGroupRefused, choose

_SERVER_NAME = re.compile(r"^[a-z][a-z0-9-]{0,29}$")


class LaunchRefused(Exception):
    """A launch the caller may not make; ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 403):
        super().__init__(message)
        self.message = message
        self.status = status


_NAME = Field(default=None, max_length=255)


class LaunchOptions(BaseModel):
    """What a launch may ask for (API body, form, query); anything else is refused."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    group: str | None = _NAME
    instance_type: str | None = _NAME
    image: str | None = _NAME
    resource_group: str | None = _NAME
    profile: str | None = _NAME  # KubeSpawner's profile_list slug (Kubernetes only)
    datasets: list[str] | None = Field(default=None, description="Datasets the notebook picks: names, or "
                                       "name@v<N> to mount a version (read-only) at ~/datasets/<name>")

    _datasets = field_validator("datasets")(lambda cls, v: v if v is None else check_syntax(v))


def split_picks(text: str) -> list[str]:
    """The form's ``datasets`` field, ``"imagenet,labels@v3"``, as picks."""
    return [p.strip() for p in text.split(",") if p.strip()]


def launch_options(raw: Any) -> dict:
    """The validated options (``None`` and empty values dropped), or a 400 naming the field."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise LaunchRefused("options: expected a JSON object", 400)
    try:
        options = LaunchOptions.model_validate(raw)
    except ValidationError as exc:
        field, message = next(iter(field_messages(exc).items()))
        raise LaunchRefused(summary({field: message}), 400) from None
    return {k: v for k, v in options.model_dump().items() if v}


def server_name_for(group: str) -> str:
    """The notebook server name for a group: the group's name when valid, else a slug.

    Slugs keep a short hash of the original name so two groups never map to
    one server name.
    """
    if _SERVER_NAME.match(group):
        return group
    slug = re.sub(r"[^a-z0-9-]+", "-", group.lower()).strip("-") or "group"
    if not slug[0].isalpha():
        slug = "g-" + slug
    digest = hashlib.sha256(group.encode()).hexdigest()[:6]
    return f"{slug[:23].rstrip('-')}-{digest}"


def group_for_server(server_name: str, group_names: list[str]) -> str | None:
    return next((g for g in group_names if server_name_for(g) == server_name), None)


@dataclass(frozen=True)
class LaunchPlan:
    group: str
    instance_type: InstanceType
    image: Image
    policy: GroupPolicy
    datasets: tuple[str, ...] = ()  # picks: ("imagenet", "labels@v3")
    resource_group: ResourceGroup | None = None  # where it runs (hub_ext.resource_groups)

    @property
    def container_image(self) -> str | None:
        return self.image.container_image(self.instance_type)

    def summary(self) -> dict:
        out = {"group": self.group, "instance_type": self.instance_type.name, "image": self.image.name}
        if self.resource_group is not None:
            out["resource_group"] = self.resource_group.name
        return {**out, "datasets": list(self.datasets)} if self.datasets else out


def resolve(
    *,
    server_name: str,
    options: dict,
    group_names: list[str],
    policies: dict[str, GroupPolicy],
    catalog: Catalog,
) -> LaunchPlan:
    """Check a launch against membership and the group policy; refuse with a reason."""
    options = launch_options(options)
    group = options.get("group", "")
    if not server_name:
        raise LaunchRefused(
            "Notebook servers are named after their group: launch one from the Notebooks page.", 400
        )
    if not group:
        group = group_for_server(server_name, group_names) or ""
        if not group:
            raise LaunchRefused(f"No group of yours has the server name {server_name!r}", 404)
    if group not in group_names:
        raise LaunchRefused(f"You are not a member of group {group!r}")
    if server_name_for(group) != server_name:
        raise LaunchRefused(
            f"The server for group {group!r} must be named {server_name_for(group)!r}", 400
        )
    policy = policies[group]
    allowed_types = policy.allowed_instance_types(catalog)
    type_name = options.get("instance_type", "")
    if type_name:
        instance_type = next((it for it in allowed_types if it.name == type_name), None)
        if instance_type is None:
            raise LaunchRefused(f"Instance type {type_name!r} is not allowed in group {group!r}")
    else:
        instance_type = policy.default_instance(catalog)
        if instance_type is None:
            raise LaunchRefused(f"Group {group!r} has no instance type available")
    images = [im for im in policy.allowed_images(catalog) if im.supports(instance_type)]
    usable = [im for im in images if not im.unavailable]
    image_name = options.get("image", "")
    if image_name:
        image = next((im for im in images if im.name == image_name), None)
        if image is None:
            if any(im.name == image_name for im in policy.allowed_images(catalog)):
                kind = "GPU" if instance_type.gpu else "CPU"
                raise LaunchRefused(
                    f"Image {image_name!r} has no {kind} variant for instance type {instance_type.name!r}", 400
                )
            raise LaunchRefused(f"Image {image_name!r} is not allowed in group {group!r}")
        if image.unavailable:
            raise LaunchRefused(f"Image {image.title!r} is {image.unavailable}", 400)
    else:
        if not usable:
            raise LaunchRefused(f"Group {group!r} has no image for instance type {instance_type.name!r}")
        image = usable[0]
    try:
        resource_group = choose(options.get("resource_group"), instance_type, policy, catalog, group)
    except ResourceGroupRefused as exc:
        raise LaunchRefused(f"{FIELD}: {exc}", 400) from None
    return LaunchPlan(group=group, instance_type=instance_type, image=image, policy=policy,
                      datasets=tuple(options.get("datasets") or ()), resource_group=resource_group)
