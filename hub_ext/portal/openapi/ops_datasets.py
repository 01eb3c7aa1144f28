"""OpenAPI operations of the datasets feature (issue 12), appended to ``spec.OPERATIONS``."""

from __future__ import annotations

from ...bodies import NoFields
from ...datasets.requests import DatasetCreate, DatasetPatch, GrantSet, VersionCreate
from ..files.handlers import MoveBody
from ...scopes import READ, WRITE
from .model import DENIED, INVALID, NOT_FOUND, PATH_PARAMS, PORTAL, Operation, Param

PATH_PARAMS["dataset"] = Param("dataset", {"type": "string", "pattern": "^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$"},
                               "The dataset's name", True)
PATH_PARAMS["grantee"] = Param("grantee", {"type": "string", "minLength": 1}, "The group granted the dataset", True)

_DS = f"{PORTAL}/groups/{{group}}/datasets"
_ONE = f"{_DS}/{{dataset}}"
_MANAGE = DENIED + " (only members of the owner group manage a dataset)"
_FILES = f"{_ONE}/files"
_READ_ONLY = DENIED + " (the group may only read it: a read-only grant, or a git dataset)"
_NO_FILES = NOT_FOUND + ", an env dataset (no files), a git dataset not synced yet, or no such file or folder"

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
    # -- its files, as the Shared Files browser shows them (the files API's answers) -----------------------
    Operation("get", f"{_FILES}/", "The root of a dataset's files (what workloads see at ~/datasets/<name>)",
              "datasets", READ, {200: "`{path: \"\", entries, storage: {writable}}` (`writable`: the group may change "
                                      "them), or `?download=zip`", 403: DENIED, 404: _NO_FILES},
              query=(Param("download", {"type": "string", "enum": ["zip"]}, "`zip`: download as a zip"),),
              produces={200: ("application/json", "application/zip")}),
    Operation("get", f"{_FILES}/{{file_path}}", "A dataset's folder, a file's bytes, a preview or a zip", "datasets",
              READ, {200: "As the group's files API", 400: INVALID, 403: DENIED, 404: _NO_FILES},
              query=(Param("download", {"type": "string", "enum": ["zip"]}, "A folder: `zip` streams it as a zip"),
                     Param("preview", {"type": "string", "enum": ["1", "true"]}, "A file: its beginning")),
              produces={200: ("application/json", "application/octet-stream", "application/zip")}),
    Operation("post", f"{_FILES}/{{file_path}}", "Make a folder (`?op=mkdir`) or move/rename (`?op=move`) in a "
              "dataset the group may write", "datasets", WRITE,
              {200: "Moved: `{path, from}`", 201: "Made", 400: INVALID, 403: _READ_ONLY, 404: _NO_FILES,
               409: "It exists already"},
              query=(Param("op", {"type": "string", "enum": ["mkdir", "move"]}, "What to do", True),),
              body=MoveBody, body_required=False),
    Operation("delete", f"{_FILES}/{{file_path}}", "Delete a file or folder of a dataset the group may write",
              "datasets", WRITE, {204: "Deleted", 400: INVALID, 403: _READ_ONLY, 404: _NO_FILES},
              body=NoFields, body_required=False),
    Operation("put", f"{_FILES}/{{file_path}}", "Not here: files go into a dataset through the uploads API",
              "datasets", WRITE, {405: "Upload through `POST …/uploads` with area `dataset:<name>`", 403: DENIED,
                                  404: _NO_FILES}, raw_body="application/octet-stream", body_required=False),
)
