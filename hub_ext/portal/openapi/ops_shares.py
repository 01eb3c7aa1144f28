"""OpenAPI operations of the shares feature (issue 12), appended to ``spec.OPERATIONS``.

Add path parameters this feature introduces to ``spec.PATH_PARAMS`` here.
"""

from __future__ import annotations

from ...scopes import READ, WRITE
from ...storage.shares import ShareCreate
from .ops_files import ABSENT
from .model import DENIED, INVALID, NOT_FOUND, PATH_PARAMS, PORTAL, Operation, Param

PATH_PARAMS["share"] = Param("share", {"type": "integer", "minimum": 1}, "The share link's id", True)

OPERATIONS: tuple[Operation, ...] = (
    Operation("get", f"{PORTAL}/groups/{{group}}/shares", "A group's share links (never their tokens)", "shares",
              READ, {200: "`{group, shares}`, newest first, revoked and expired ones too (`state` says which)",
                     403: DENIED, 404: NOT_FOUND + ABSENT}),
    Operation("post", f"{PORTAL}/groups/{{group}}/shares", "Make a share link to a file or folder (its token is "
              "shown once)", "shares", WRITE,
              {201: "The link with its `token` and `url` (the public page `/hub/share/<token>`)",
               400: INVALID + " (`path`: no such file or folder)", 403: DENIED, 404: NOT_FOUND + ABSENT}, body=ShareCreate,
              description="Anyone with the link may read the file or folder without logging in, until it "
                          "expires or is revoked; then it answers 410."),
    Operation("delete", f"{PORTAL}/groups/{{group}}/shares/{{share}}", "Revoke a share link", "shares", WRITE,
              {204: "Revoked (its page answers 410 from now on)",
               403: DENIED + " (the link's maker, the group's admins and hub admins only)", 404: NOT_FOUND + ABSENT}),
)
