"""A group's own images (``GroupPolicy.group_images``): the bodies that add and change one, and the
policy that results (no tornado here). The handlers store the policy the usual way, so an image is
in the group's spawn form, job form and deployments at once, and in no other group's."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field

from ..bodies import BodyError, Strict
from ..policy import Catalog, GroupPolicy, Image, LocalEnvironment
from .specs import Packages

MAX_GROUP_IMAGES = 100
# a container image reference: [registry[:port]/]path[:tag][@sha256:digest]
_REFERENCE = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*(?::[0-9]+)?(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
                        r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[0-9a-f]{64})?$")


def _reference(value: str) -> str:
    if len(value) > 255 or not _REFERENCE.match(value):
        raise ValueError(f"{value!r} is not a container image reference "
                         "(e.g. quay.io/jupyter/scipy-notebook:2024-05-27)")
    return value


Reference = Annotated[str, AfterValidator(_reference)]
NAME_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"


class ImagePatch(Strict):
    """The fields of a group image that may change (its name does not)."""

    display_name: str | None = Field(default=None, max_length=128)
    description: str | None = Field(default=None, max_length=2000)
    image: Reference | None = Field(default=None, description="Container image for Kubernetes")
    gpu_image: Reference | None = Field(default=None, description="Its GPU variant, used with GPU instance types")
    packages: Packages | None = Field(default=None, description="The embedded mode's local environment: pip "
                                                                "packages (apt and conda: Kubernetes builds only)")


class ImageCreate(ImagePatch):
    """A group image: an existing container image and/or, in the embedded mode, pip packages."""

    name: str = Field(pattern=NAME_PATTERN, description="Lower case letters, digits and '-'; unique among the "
                                                         "catalog's and the group's images")


def _errors_for(image: Image, packages: Packages | None, embedded: bool) -> dict[str, str]:
    errors: dict[str, str] = {}
    if packages is not None:
        if packages.apt or packages.conda:
            errors.update(packages.embedded_errors() if embedded else {
                f"packages.{m}": "an added image is used as it is: apt and conda packages go into a built image"
                for m in ("apt", "conda") if getattr(packages, m)})
    if not embedded and not image.image:
        errors["image"] = "a container image is required on Kubernetes"
    return errors


def _image_from(body: ImagePatch, base: Image) -> Image:
    data = base.model_dump()
    for field in ("display_name", "description", "image", "gpu_image"):
        if field in body.model_fields_set:
            data[field] = getattr(body, field) or ("" if field in ("display_name", "description") else None)
    if "packages" in body.model_fields_set:
        data["local"] = LocalEnvironment(python=base.local.python,
                                         packages=list(body.packages.pip) if body.packages else [])
    return Image.model_validate(data)


class NameTaken(ValueError):
    """An image of that name exists (answered with 409 naming ``name``)."""


def with_added(policy: GroupPolicy, catalog: Catalog, body: ImageCreate, embedded: bool) -> tuple[GroupPolicy, Image]:
    """The policy with the new image, or BodyError / NameTaken naming the field at fault."""
    if catalog.image(body.name) is not None:
        raise NameTaken(f"{body.name!r} is an image of the catalog; choose another name")
    if any(im.name == body.name for im in policy.group_images):
        raise NameTaken(f"the group already has an image {body.name!r}")
    if len(policy.group_images) >= MAX_GROUP_IMAGES:
        raise BodyError({"name": f"a group has at most {MAX_GROUP_IMAGES} images"})
    image = _image_from(body, Image(name=body.name))
    if errors := _errors_for(image, body.packages, embedded):
        raise BodyError(errors)
    return policy.model_copy(update={"group_images": [*policy.group_images, image]}), image


def with_changed(policy: GroupPolicy, name: str, body: ImagePatch, embedded: bool) -> tuple[GroupPolicy, Image]:
    current = group_image(policy, name)
    image = _image_from(body, current)
    if errors := _errors_for(image, body.packages, embedded):
        raise BodyError(errors)
    images = [image if im.name == name else im for im in policy.group_images]
    return policy.model_copy(update={"group_images": images}), image


def without(policy: GroupPolicy, name: str) -> GroupPolicy:
    group_image(policy, name)
    return policy.model_copy(update={"group_images": [im for im in policy.group_images if im.name != name]})


def group_image(policy: GroupPolicy, name: str) -> Image:
    """The group's image ``name``; KeyError if the group has none of that name."""
    found = next((im for im in policy.group_images if im.name == name), None)
    if found is None:
        raise KeyError(name)
    return found


def image_json(image: Image, source: str) -> dict:
    """An image as the API shows it; ``source`` is "group" or "catalog"."""
    return {"name": image.name, "display_name": image.display_name, "title": image.title,
            "description": image.description, "image": image.image, "gpu_image": image.gpu_image,
            "packages": {"pip": list(image.local.packages), "apt": [], "conda": []}, "source": source,
            "built": image.built, "unavailable": image.unavailable or None}
