"""OpenAPI operations of the folders feature (issue 12), appended to ``spec.OPERATIONS``.

Add path parameters this feature introduces to ``spec.PATH_PARAMS`` here.
"""

from __future__ import annotations

from ...bodies import NoFields
from ...folders.requests import FolderCreate, InvitationCreate, PermissionChange
from ...scopes import READ, WRITE
from .model import DENIED, INVALID, NOT_FOUND, PATH_PARAMS, PORTAL, Operation, Param

PATH_PARAMS["folder"] = Param("folder", {"type": "string", "minLength": 1, "maxLength": 63}, "One of your folders", True)
PATH_PARAMS["invitation"] = Param("invitation", {"type": "integer", "minimum": 1},
                                  "A folder invitation's id (one you sent or received)", True)

INVITATION = "The invitation `{id, owner, folder, invitee, permission, state, created, updated}`"
STATE = "The invitation's state does not allow it (`errors.state`)"
OS = "The OS account or the folder's ACLs could not be set up on this machine"
OPERATIONS: tuple[Operation, ...] = (
    Operation("get", f"{PORTAL}/folders", "Your folders, each with the live invitations you sent", "folders", READ,
              {200: "`{owner, folders: [{name, invitations}]}`", 403: DENIED}),
    Operation("post", f"{PORTAL}/folders", "Make a folder of your own (shareable by invitation)", "folders", WRITE,
              {201: "`{name, invitations}`", 400: INVALID, 403: DENIED, 409: "You have a folder of that name", 503: OS},
              body=FolderCreate),
    Operation("post", f"{PORTAL}/folders/{{folder}}/invitations", "Invite a user to one of your folders", "folders",
              WRITE, {201: INVITATION + ", pending", 400: INVALID + " (`invitee`: no such user, or yourself)",
                      403: DENIED, 404: NOT_FOUND, 409: "The user already has a live invitation to the folder"},
              body=InvitationCreate,
              description="Permissions: `ro` read and list; `rw` also write and create (folders get the sticky "
                          "bit: the invitee deletes or renames only what they made); `rwd` also delete anything. "
                          "Enforced by the OS (ACLs for the invitee's account) once they accept."),
    Operation("get", f"{PORTAL}/folder-invitations", "Invitations to your account, pending and accepted", "folders",
              READ, {200: "`{invitee, invitations}`, oldest first", 403: DENIED}),
    Operation("patch", f"{PORTAL}/folder-invitations/{{invitation}}", "Change the permission (the folder's owner)",
              "folders", WRITE, {200: INVITATION, 400: INVALID, 403: DENIED + " (not the owner)", 404: NOT_FOUND,
                                 409: STATE, 503: OS}, body=PermissionChange),
    Operation("delete", f"{PORTAL}/folder-invitations/{{invitation}}", "Revoke an invitation (the folder's owner)",
              "folders", WRITE, {200: INVITATION + ", revoked", 403: DENIED + " (not the owner)", 404: NOT_FOUND,
                                 409: STATE, 503: OS}),
    *(Operation("post", f"{PORTAL}/folder-invitations/{{invitation}}/{action}", summary, "folders", WRITE,
                {200: INVITATION + f", {state}", 400: INVALID, 403: DENIED + " (not the invitee)", 404: NOT_FOUND,
                 409: STATE, 503: OS}, body=NoFields, body_required=False)
      for action, summary, state in (
          ("accept", "Accept an invitation (the folder appears at ~/shared-with-me/<owner>/<folder>)", "accepted"),
          ("decline", "Decline an invitation", "declined"),
          ("leave", "Leave a folder you accepted (your access ends)", "left"))),
)
