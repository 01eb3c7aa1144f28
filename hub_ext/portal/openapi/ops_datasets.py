"""OpenAPI operations of the datasets feature (issue 12), appended to ``spec.OPERATIONS``."""

from __future__ import annotations

from ...bodies import NoFields
from ...datasets.requests import DatasetCreate, DatasetPatch, GrantSet, VersionCreate
from ...scopes import READ, WRITE
from .model import DENIED, INVALID, NOT_FOUND, PATH_PARAMS, PORTAL, Operation, Param

PATH_PARAMS["dataset"] = Param("dataset", {"type": "string", "pattern": "^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$"},
                               "The dataset's name", True)
PATH_PARAMS["grantee"] = Param("grantee", {"type": "string", "minLength": 1}, "The group granted the dataset", True)

_DS = f"{PORTAL}/groups/{{group}}/datasets"
_ONE = f"{_DS}/{{dataset}}"
_MANAGE = DENIED + " (only members of the owner group manage a dataset)"

OPERATIONS: tuple[Operation, ...] = (
    Operation("get", _DS, "The datasets a group owns or was granted", "datasets", READ,
              {200: "`{group, datasets}` with each one's `mode` for the group, size and file count",
               403: DENIED, 404: NOT_FOUND}),
    Operation("post", _DS, "Create a dataset (files, git or env), owned by the group", "datasets", WRITE,
              {201: "The dataset", 400: INVALID, 403: DENIED, 404: NOT_FOUND,
               409: "The name is taken (names are unique on the platform)"}, body=DatasetCreate),
    Operation("get", _ONE, "A dataset, with its grants and versions", "datasets", READ,
              {200: "The dataset (env secrets' values are never returned)", 403: DENIED, 404: NOT_FOUND}),
    Operation("patch", _ONE, "Change a dataset (only the fields sent)", "datasets", WRITE,
              {200: "The dataset", 400: INVALID, 403: _MANAGE, 404: NOT_FOUND}, body=DatasetPatch),
    Operation("delete", _ONE, "Delete a dataset with its files and versions", "datasets", WRITE,
              {204: "Deleted", 403: DENIED + " (the owner group's admins, its creator and hub admins)",
               404: NOT_FOUND}),
    Operation("put", f"{_ONE}/grants/{{grantee}}", "Grant the dataset to another group, or change the mode",
              "datasets", WRITE, {200: "`{group, mode, created}`", 400: INVALID, 403: _MANAGE, 404: NOT_FOUND},
              body=GrantSet),
    Operation("delete", f"{_ONE}/grants/{{grantee}}", "Revoke a group's grant", "datasets", WRITE,
              {204: "Revoked", 403: _MANAGE, 404: NOT_FOUND}),
    Operation("get", f"{_ONE}/versions", "A files dataset's versions, newest first", "datasets", READ,
              {200: "`{dataset, versions}`", 403: DENIED, 404: NOT_FOUND}),
    Operation("post", f"{_ONE}/versions", "Snapshot a files dataset as its next version (read-only)",
              "datasets", WRITE, {201: "The version; jobs pin it as `name@v<version>`", 400: INVALID,
                                  403: _MANAGE, 404: NOT_FOUND}, body=VersionCreate, body_required=False),
    Operation("post", f"{_ONE}/sync", "Sync a git dataset now (the runner clones or fetches it)", "datasets",
              WRITE, {202: "The dataset, sync asked for", 400: INVALID, 403: _MANAGE, 404: NOT_FOUND},
              body=NoFields, body_required=False),
)
