"""Image builds: what the hub stores when a group admin asks for one (no tornado here).

A build of group image ``image`` takes a base image (the catalog's or the group's, as the group may
use it now) and package specs by manager, each checked by its manager's grammar
(:mod:`.specs`), and fixes at once what it will make (``result``, an :class:`~hub_ext.policy.Image`)
and its content-addressed ``ref``:

- embedded: a Python environment with the base's local packages plus the pip specs; ``ref`` is the
  environment's directory name (:meth:`hub_ext.images.environments.EnvironmentBuilder.path_for`), so a
  notebook of the built image finds it ready and builds nothing;
- Kubernetes: ``<push registry>/<group>-<image>:<digest12>``, the digest a sha256 of the canonical
  JSON of the base container image and the packages.

Builds of an image are numbered 1, 2, 3...; the newest Succeeded one is the version in use
(:mod:`.resolve`). The runner's builder (``hub_ext.services.builder``) carries them out.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime, timezone

from pydantic import Field
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from ..bodies import BodyError, Strict
from ..policy import Catalog, GroupPolicy, Image, LocalEnvironment
from ..store import session_scope
from ..store.engine import read_scope
from ..store.models import utcnow
from ..store.models_images import BUILD_DONE, ImageBuild
from .group import NameTaken
from .specs import Packages
from ..times import iso

NOT_YET = "building — not yet available"
NEVER_BUILT = "no build succeeded yet — not available"


class BuildCreate(Strict):
    """A build of a group image (created with the build when the group has no image of that name)."""

    base: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$",
                      description="The base image: one of the catalog's or the group's that the group may use")
    packages: Packages = Field(default_factory=Packages, description="What the build adds, by manager")
    display_name: str | None = Field(default=None, max_length=128, description="For a new image")
    description: str | None = Field(default=None, max_length=2000, description="For a new image")


def digest(base: dict, packages: Packages) -> str:
    """sha256 of the canonical JSON of a base and packages (lists sorted: their order changes nothing)."""
    doc = {"base": base, "packages": {m: sorted(getattr(packages, m)) for m in ("pip", "apt", "conda")}}
    return hashlib.sha256(json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def repository(group: str, image: str) -> str:
    """``<group>-<image>`` as a registry repository name (lower case, ``[a-z0-9._-]``)."""
    name = re.sub(r"[^a-z0-9._-]+", "-", f"{group}-{image}".lower()).strip("-._")
    return re.sub(r"[._-]{2,}", "-", name) or "image"


def plan(policy: GroupPolicy, catalog: Catalog, group: str, image: str, body: BuildCreate, *, embedded: bool,
         push_registry: str = "") -> tuple[Image, str, str]:
    """What the build makes (``result``), its ``ref`` and its ``source`` (Kubernetes: the base's container
    image, "" embedded); BodyError naming the field at fault.

    ``policy`` is the group's policy as the group uses it now (:func:`.resolve.resolved_policy`), so a
    base that is itself a built image is its version in use."""
    errors: dict[str, str] = {}
    if embedded:
        errors.update(body.packages.embedded_errors())
    if body.packages.is_empty():
        errors["packages"] = "name at least one package to add to the base image"
    base = next((im for im in policy.allowed_images(catalog) if im.name == body.base), None)
    if body.base == image:
        errors["base"] = "an image cannot be its own base"
    elif base is None:
        errors["base"] = f"{body.base!r} is not an image group {group} may use"
    elif base.unavailable:
        errors["base"] = f"{body.base!r} is {base.unavailable}"
    if not embedded and not push_registry:
        errors["base"] = "builds on Kubernetes need a registry to push to (c.ImageBuilds.push_registry)"
    if errors:
        raise BodyError(errors)
    if embedded:
        from .environments import EnvironmentBuilder

        pip = [*base.local.packages, *(p for p in body.packages.pip if p not in base.local.packages)]
        result = Image(name=image, local=LocalEnvironment(python=base.local.python, packages=pip))
        return result, EnvironmentBuilder("").path_for(result).name, ""
    source = base.image or base.gpu_image
    if not source:
        raise BodyError({"base": f"{body.base!r} has no container image to build from"})
    ref = f"{push_registry.rstrip('/')}/{repository(group, image)}:{digest({'image': source}, body.packages)[:12]}"
    result = Image(name=image, image=ref if base.image else None, gpu_image=None if base.image else ref,
                   local=base.local)
    return result, ref, source


def with_entry(policy: GroupPolicy, catalog: Catalog, image: str, body: BuildCreate) -> GroupPolicy | None:
    """The policy with a group image entry for builds of ``image`` (None: it has one and nothing changes);
    NameTaken when the catalog has an image of that name."""
    if catalog.image(image) is not None:
        raise NameTaken(f"{image!r} is an image of the catalog; builds make group images of other names")
    current = next((im for im in policy.group_images if im.name == image), None)
    changes = {k: getattr(body, k) for k in ("display_name", "description") if getattr(body, k) is not None}
    if current is None:
        entry = Image(name=image, built=True, **changes)
        return policy.model_copy(update={"group_images": [*policy.group_images, entry]})
    if not changes:
        return None
    entry = current.model_copy(update=changes)
    return policy.model_copy(update={"group_images": [entry if im.name == image else im
                                                      for im in policy.group_images]})


def create(db_url: str, *, group: str, image: str, username: str, base: str, packages: dict, result: Image,
           ref: str, source: str = "") -> ImageBuild:
    """A new Pending build, numbered after the image's last one."""
    for attempt in range(5):
        try:  # a write session takes the write lock first (store.engine): the number is read under it
            with session_scope(db_url) as s:
                last = s.scalar(select(func.max(ImageBuild.number)).where(
                    ImageBuild.group == group, ImageBuild.image == image)) or 0
                row = ImageBuild(group=group, image=image, number=last + 1, username=username, base=base,
                                 packages=json.dumps(packages, sort_keys=True), ref=ref,
                                 result=result.model_dump_json(exclude_defaults=True), source=source,
                                 phase="Pending", message="",
                                 cancel_requested=False, handle="", log_size=0, created=utcnow())
                s.add(row)
                s.flush()
                return row
        except IntegrityError:  # another request took that number
            if attempt == 4:
                raise
    raise AssertionError("unreachable")


def rebuild(db_url: str, build: ImageBuild, username: str) -> ImageBuild:
    """The same base and packages again, as the image's next build."""
    return create(db_url, group=build.group, image=build.image, username=username, base=build.base,
                  packages=build.package_specs, result=Image.model_validate_json(build.result), ref=build.ref,
                  source=build.source)


def cancel(db_url: str, build: ImageBuild) -> ImageBuild:
    """A Pending build ends Cancelled at once; a Building one is asked to stop (the runner kills it)."""
    now = utcnow()
    with session_scope(db_url) as s:
        s.execute(update(ImageBuild).where(ImageBuild.id == build.id, ImageBuild.phase == "Pending").values(
            phase="Cancelled", message="Cancelled before it started", finished=now))
        s.execute(update(ImageBuild).where(ImageBuild.id == build.id, ImageBuild.phase == "Building").values(
            cancel_requested=True, message="Cancelling"))
    return get(db_url, build.group, build.image, build.number)


def forget(db_url: str, group: str, image: str) -> None:
    """The group image ``image`` was removed: its builds go (logs too), a Building one is cancelled first
    (it stays, Cancelled, so a new image of that name never takes an old build as its version)."""
    from sqlalchemy import delete

    with session_scope(db_url) as s:
        mine = (ImageBuild.group == group, ImageBuild.image == image)
        s.execute(update(ImageBuild).where(*mine, ImageBuild.phase == "Building").values(
            cancel_requested=True, message="Cancelling: the image was removed"))
        s.execute(delete(ImageBuild).where(*mine, ImageBuild.phase != "Building"))


def builds_of(db_url: str, group: str, image: str | None = None) -> list[ImageBuild]:
    """The group's builds (of one image), newest first."""
    query = select(ImageBuild).where(ImageBuild.group == group)
    if image is not None:
        query = query.where(ImageBuild.image == image)
    with read_scope(db_url) as s:
        return list(s.scalars(query.order_by(ImageBuild.image, ImageBuild.number.desc())))


def get(db_url: str, group: str, image: str, number: int) -> ImageBuild | None:
    with read_scope(db_url) as s:
        return s.scalar(select(ImageBuild).where(ImageBuild.group == group, ImageBuild.image == image,
                                                 ImageBuild.number == number))


def queue_positions(db_url: str) -> dict[int, int]:
    """``{build id: 1, ...}``: the Pending builds in the order the runner starts them."""
    with read_scope(db_url) as s:
        ids = s.scalars(select(ImageBuild.id).where(ImageBuild.phase == "Pending").order_by(ImageBuild.id))
        return {build_id: i for i, build_id in enumerate(ids, 1)}




def elapsed(build: ImageBuild, now: datetime | None = None) -> float | None:
    """Seconds it has built (so far), None before it started."""
    if build.started is None:
        return None
    start = build.started if build.started.tzinfo else build.started.replace(tzinfo=timezone.utc)
    end = build.finished or now or utcnow()
    end = end if end.tzinfo else end.replace(tzinfo=timezone.utc)
    return max(0.0, (end - start).total_seconds())


def build_json(build: ImageBuild, positions: dict[int, int] | None = None) -> dict:
    """A build as the API shows it (``queue_position``: 1 = next to start, None unless Pending)."""
    return {"number": build.number, "group": build.group, "image": build.image, "username": build.username,
            "base": build.base, "packages": build.package_specs, "ref": build.ref, "phase": build.phase,
            "message": build.message, "done": build.phase in BUILD_DONE,
            "cancel_requested": bool(build.cancel_requested), "log_size": build.log_size,
            "queue_position": (positions or {}).get(build.id) if build.phase == "Pending" else None,
            "created": iso(build.created), "started": iso(build.started), "finished": iso(build.finished),
            "elapsed_seconds": elapsed(build)}


def environments_used(db_url: str) -> dict[str, str]:
    """``{ref: what}`` of the builds whose result is used: each image's version in use, and builds waiting
    or building (embedded: the environments' directory names, for maintenance's clean-up)."""
    with read_scope(db_url) as s:
        rows = s.execute(select(ImageBuild.group, ImageBuild.image, ImageBuild.number, ImageBuild.phase,
                                ImageBuild.ref)
                         .where(ImageBuild.phase.in_(("Succeeded", "Pending", "Building")))
                         .order_by(ImageBuild.number)).all()
    in_use, used = {}, {}
    for group, image, number, phase, ref in rows:
        if phase == "Succeeded":
            in_use[(group, image)] = (ref, f"{image} of group {group} (build #{number})")
        else:
            used[ref] = f"{image} of group {group} (build #{number}, {phase.lower()})"
    used.update(dict(in_use.values()))
    return used
