"""OpenAPI operations of group images (issue 13), appended to ``spec.OPERATIONS``."""

from __future__ import annotations

from ...bodies import NoFields
from ...images.builds import BuildCreate
from ...images.group import NAME_PATTERN, ImageCreate, ImagePatch
from ...scopes import READ, WRITE
from .model import _FLAG, DENIED, INVALID, NOT_FOUND, PATH_PARAMS, PORTAL, Operation, Param

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

# image builds (issue 13): a group image's versions, built from a base image and package specs
PATH_PARAMS["number"] = Param("number", {"type": "integer", "minimum": 1}, "The build's number (1, 2, ... per image)",
                              True)
BUILDS = f"{ONE}/builds"
BUILD = f"{BUILDS}/{{number}}"
BUILD_ADMINS = " (asking for, cancelling and rebuilding: the group's admins and hub admins)"

OPERATIONS += (
    Operation("get", BUILDS, "The image's builds, newest first", "images", READ,
              {200: "`{group, image, builds}`; each build with `phase` (Pending, Building, Succeeded, Failed, "
                    "Cancelled), `queue_position` while Pending, `elapsed_seconds`, `message` (a failure with "
                    "the log's tail)", 403: DENIED, 404: NOT_FOUND}),
    Operation("post", BUILDS, "Build a new version of the image (creating the group image if it has none of "
                              "that name)", "images", WRITE,
              {201: "The build, Pending: the runner starts it when fewer than its maximum build at once",
               400: INVALID + SPECS + " or a base the group may not use", 403: DENIED + BUILD_ADMINS,
               404: NOT_FOUND, 409: "The catalog has an image of that name"}, body=BuildCreate),
    Operation("get", BUILD, "One build", "images", READ, {200: "The build", 403: DENIED, 404: NOT_FOUND}),
    Operation("post", f"{BUILD}/cancel", "Cancel a build that has not ended", "images", WRITE,
              {202: "Cancelled (Pending), or being stopped (Building)", 400: INVALID, 403: DENIED + BUILD_ADMINS,
               404: NOT_FOUND, 409: "The build already ended"}, body=NoFields, body_required=False),
    Operation("post", f"{BUILD}/rebuild", "Build the same base and packages again, as the next build", "images",
              WRITE, {201: "The new build", 400: INVALID, 403: DENIED + BUILD_ADMINS, 404: NOT_FOUND},
              body=NoFields, body_required=False),
    Operation("get", f"{BUILD}/log", "The build's output (kept after it ends)", "images", READ,
              {200: "Plain text; `X-Log-Offset` says where to ask from next (without `follow`)", 400: INVALID,
               403: DENIED, 404: NOT_FOUND},
              query=(Param("offset", {"type": "integer", "minimum": 0}, "Start at this byte"),
                     Param("follow", _FLAG, "Stream until the build ends")),
              produces={200: "text/plain"}),
)
