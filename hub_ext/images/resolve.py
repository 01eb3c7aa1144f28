"""The one resolver of group images made by builds: wherever images are listed or chosen (spawn form,
job form, deployments, the runner), a built image is its version in use, the newest Succeeded build.

:func:`resolved_policies` returns the policies with each such image replaced by what its build made
(embedded: the base's local packages plus the build's pip packages, so the spawner's
``EnvironmentBuilder.path_for`` names the environment the build produced; Kubernetes: ``image`` /
``gpu_image`` = the built reference), keeping its name, title and description. An image made by
builds with none succeeded yet stays listed with ``unavailable`` set ("building — not yet
available"): forms show it disabled and requests naming it are refused (400). Every group image is
marked ``from_group``: its packages were chosen by a group admin, so an environment built for it
at launch installs wheels only (``EnvironmentBuilder.group_pip_args``).
"""

from __future__ import annotations

from sqlalchemy import select

from ..policy import GroupPolicy, Image
from ..store.engine import read_scope
from ..store.models_images import ImageBuild
from .builds import NEVER_BUILT, NOT_YET


def resolved_policies(policies: dict[str, GroupPolicy], db_url: str) -> dict[str, GroupPolicy]:
    """``{group: policy}`` with the group images made by builds resolved (one query for all groups)."""
    groups = [g for g, p in policies.items() if p.group_images]
    if not groups:
        return policies
    with read_scope(db_url) as s:
        rows = s.execute(select(ImageBuild.group, ImageBuild.image, ImageBuild.number, ImageBuild.phase,
                                ImageBuild.result)
                         .where(ImageBuild.group.in_(groups),
                                ImageBuild.phase.in_(("Succeeded", "Pending", "Building")))
                         .order_by(ImageBuild.number)).all()
    in_use, busy = {}, set()
    for group, image, _, phase, result in rows:
        if phase == "Succeeded":
            in_use[(group, image)] = result
        else:
            busy.add((group, image))
    out = dict(policies)
    for group in groups:
        policy = policies[group]
        images = [_resolved(im, in_use.get((group, im.name)), (group, im.name) in busy)
                  for im in policy.group_images]
        if images != policy.group_images:
            out[group] = policy.model_copy(update={"group_images": images})
    return out


def _resolved(entry: Image, result: str | None, busy: bool) -> Image:
    entry = entry.model_copy(update={"from_group": True})
    if result is not None:
        built = Image.model_validate_json(result)
        return built.model_copy(update={"name": entry.name, "display_name": entry.display_name,
                                        "description": entry.description, "quick_launch": entry.quick_launch,
                                        "built": True, "from_group": True})
    if entry.built:
        return entry.model_copy(update={"unavailable": NOT_YET if busy else NEVER_BUILT})
    return entry


def resolved_policy(policy: GroupPolicy, group: str, db_url: str) -> GroupPolicy:
    return resolved_policies({group: policy}, db_url)[group]


def usable_policy(group, db_url: str) -> GroupPolicy:
    """The policy of hub group ``group`` (an ORM group) as its workloads use it: for reading and
    choosing images, never for storing (edit ``hub_ext.groups.group_policy``'s)."""
    from ..groups import group_policy

    return resolved_policy(group_policy(group), group.name, db_url)
