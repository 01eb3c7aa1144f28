"""OpenAPI operations of group images (issue 13), appended to ``spec.OPERATIONS``."""

from __future__ import annotations

from ...images.group import NAME_PATTERN, ImageCreate, ImagePatch
from ...scopes import READ, WRITE
from .spec import DENIED, INVALID, NOT_FOUND, PATH_PARAMS, PORTAL, Operation, Param

PATH_PARAMS["image"] = Param("image", {"type": "string", "pattern": NAME_PATTERN}, "The group image's name", True)

ADMINS = " (adding, changing and removing: the group's admins and hub admins)"
SPECS = (" (a package spec its manager's grammar refuses, named as given under `packages.<manager>.<index>`, "
         "e.g. `numpy>>1`; apt and conda packages in the embedded mode)")
ONE = f"{PORTAL}/groups/{{group}}/images/{{image}}"

OPERATIONS: tuple[Operation, ...] = (
    Operation("get", f"{PORTAL}/groups/{{group}}/images", "The group's images and the catalog's it may use", "images",
              READ, {200: "`{group, embedded, images}`, each image with `source`: `group` or `catalog`",
                     403: DENIED, 404: NOT_FOUND}),
    Operation("post", f"{PORTAL}/groups/{{group}}/images", "Add an existing image to the group", "images", WRITE,
              {201: "The image, usable at once in the group's notebooks, jobs and deployments",
               400: INVALID + SPECS, 403: DENIED + ADMINS, 404: NOT_FOUND,
               409: "`name` is taken by an image of the catalog or of the group"}, body=ImageCreate),
    Operation("get", ONE, "One of the group's own images", "images", READ,
              {200: "The image", 403: DENIED, 404: NOT_FOUND}),
    Operation("patch", ONE, "Change one of the group's images (fields sent only)", "images", WRITE,
              {200: "The image, changed", 400: INVALID + SPECS, 403: DENIED + ADMINS, 404: NOT_FOUND},
              body=ImagePatch),
    Operation("delete", ONE, "Remove one of the group's images", "images", WRITE,
              {204: "Removed (running notebooks keep theirs)", 403: DENIED + ADMINS, 404: NOT_FOUND}),
)
