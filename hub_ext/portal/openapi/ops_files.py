"""OpenAPI operations of the files feature (issue 12): group storage and its resumable (tus) uploads."""

from __future__ import annotations

from ...bodies import NoFields
from ...scopes import READ, WRITE
from ..files.handlers import MoveBody
from .model import _FLAG, DENIED, INVALID, NOT_FOUND, PATH_PARAMS, PORTAL, Operation, Param

PATH_PARAMS["file_path"] = Param("file_path", {"type": "string", "minLength": 1},
                                 "A file's or folder's path in the group's storage (`a/b.csv`)", True)
PATH_PARAMS["upload"] = Param("upload", {"type": "string", "pattern": "^[0-9a-f]{32}$"}, "The upload's id", True)

FILES = f"{PORTAL}/groups/{{group}}/files"
UPLOADS = f"{PORTAL}/groups/{{group}}/uploads"
ABSENT = ("; or the hub does not reach group storage on this deployment (Kubernetes without "
          "`KubeStorage.data_claim`: the API is absent, the message says so)")
MEMBERS = NOT_FOUND + " (members of the group only), or no such file or folder" + ABSENT
BAD_PATH = INVALID + " (`path`: `..`, an absolute path, a NUL byte, a link leading outside the group's storage)"
OVER = "Over the group's storage quota: `Storage: used … + upload … > limit … (group …)` (also in `Hubfront-Error`)"
CONFLICT = "It exists already, or a file is where a folder is wanted (or the other way round)"
TUS = "Another tus version than 1.0.0 (header `Tus-Resumable`; the answer's `Tus-Version` says which)"

TUS_RESUMABLE = Param("Tus-Resumable", {"type": "string", "pattern": r"^[0-9]{1,4}\.[0-9]{1,4}\.[0-9]{1,4}$",
                                         "examples": ["1.0.0"]},
                      "The tus protocol's version: `1.0.0` (another one: 412 with `Tus-Version`)", True)
STORAGE = ("`storage: {read_only, reason}`: read-only while the group is over its storage quota, `reason` "
           "`Storage over quota: used … of …; the group's storage is read-only until files are deleted`")
LISTING = (f"A folder: `{{path, entries: [{{name, type: folder|file, size, mtime}}], storage}}` ({STORAGE});"
           " a file: its bytes (a download)")

OPERATIONS: tuple[Operation, ...] = (
    Operation("get", f"{FILES}/", "The root of the group's storage", "files", READ,
              {200: "`{path: \"\", entries, storage}` (or `?download=zip`: the whole storage as a zip)",
               400: INVALID, 403: DENIED, 404: MEMBERS},
              query=(Param("download", {"type": "string", "enum": ["zip"]}, "`zip`: download as a zip"),),
              produces={200: ("application/json", "application/zip")}),
    Operation("get", f"{FILES}/{{file_path}}", "A folder's listing, a file's bytes, a preview or a zip", "files",
              READ, {200: LISTING, 400: BAD_PATH, 403: DENIED, 404: MEMBERS},
              query=(Param("download", {"type": "string", "enum": ["zip"]}, "A folder: `zip` streams it as a zip"),
                     Param("preview", _FLAG, "A file: `{kind: text|csv|image|binary, …}` of its beginning")),
              produces={200: ("application/json", "application/octet-stream", "application/zip")}),
    Operation("put", f"{FILES}/{{file_path}}", "Write a whole (small) file: made or replaced", "files", WRITE,
              {201: "`{path, name, type, size, mtime}`", 400: BAD_PATH, 403: DENIED, 404: MEMBERS,
               409: CONFLICT, 413: OVER}, raw_body="application/octet-stream", body_required=False,
              description="Large files: use the resumable uploads below. Missing folders are made."),
    Operation("delete", f"{FILES}/{{file_path}}", "Delete a file or a folder with everything in it", "files", WRITE,
              {204: "Deleted", 400: BAD_PATH, 403: DENIED, 404: MEMBERS}, body=NoFields, body_required=False),
    Operation("post", f"{FILES}/{{file_path}}", "Make a folder (`?op=mkdir`) or move/rename (`?op=move`)", "files",
              WRITE, {200: "Moved: `{path, from}`", 201: "Made: `{path, type: folder}`", 400: BAD_PATH + " (`to`, `op`)",
                      403: DENIED, 404: MEMBERS, 409: CONFLICT},
              query=(Param("op", {"type": "string", "enum": ["mkdir", "move"]}, "What to do", True),),
              body=MoveBody, body_required=False, description="`op=move` takes `{\"to\": \"new/path\"}`; "
                                                              "`op=mkdir` no body (missing folders above are made)."),
    # -- tus 1.0 -------------------------------------------------------------------------
    Operation("options", UPLOADS, "The tus server's capabilities", "files", READ,
              {204: "`Tus-Version`, `Tus-Extension` (creation, termination), `Tus-Max-Size`"}),
    Operation("post", UPLOADS, "Start a resumable upload (tus creation): the quota is held now", "files", WRITE,
              {201: "Created: `Location` is the upload's URL, `Upload-Offset: 0`", 400: BAD_PATH
               + " (`Upload-Length`, `Upload-Metadata`, `area`)", 403: DENIED, 404: MEMBERS, 409: CONFLICT,
               412: TUS, 413: OVER + "; or larger than `Tus-Max-Size`"},
              headers=(TUS_RESUMABLE,
                       Param("Upload-Length", {"type": "string", "pattern": "^[0-9]{1,19}$"}, "Bytes to come", True),
                       Param("Upload-Metadata", {"type": "string"},
                             "`path <base64>` (the file's path, folders made on completion) and optionally "
                             "`area <base64>` (\"\": the group's storage, `dataset:<name>`)", True))),
    Operation("options", f"{UPLOADS}/{{upload}}", "The tus server's capabilities", "files", READ,
              {204: "`Tus-Version`, `Tus-Extension`, `Tus-Max-Size`", 404: "Not an upload's id"}),
    Operation("head", f"{UPLOADS}/{{upload}}", "How much of an upload has arrived", "files", WRITE,
              {200: "`Upload-Offset`, `Upload-Length`", 400: INVALID + " (`Tus-Resumable`)", 403: DENIED, 404: NOT_FOUND + " (your uploads only)",
               412: TUS}, headers=(TUS_RESUMABLE,)),
    Operation("patch", f"{UPLOADS}/{{upload}}", "Send bytes from `Upload-Offset` on (the last ones complete it)",
              "files", WRITE,
              {204: "Stored: `Upload-Offset` is the new offset; at the length the file is in place",
               400: INVALID + " (more bytes than the length)", 403: DENIED, 404: NOT_FOUND + " (your uploads only)",
               409: "`Upload-Offset` is not where the upload is (the header says where)", 412: TUS,
               415: "Not `application/offset+octet-stream`"},
              headers=(TUS_RESUMABLE, Param("Upload-Offset", {"type": "string", "pattern": "^[0-9]{1,19}$"},
                                            "Where these bytes start", True)),
              raw_body="application/offset+octet-stream"),
    Operation("delete", f"{UPLOADS}/{{upload}}", "Abandon an upload (tus termination): its hold is released",
              "files", WRITE, {204: "Abandoned", 400: INVALID + " (`Tus-Resumable`)", 403: DENIED, 404: NOT_FOUND + " (your uploads only)",
                               409: "A request is writing to it", 412: TUS}, headers=(TUS_RESUMABLE,)),
)
