"""OpenAPI operations of the SSH keys (issue 26), appended to ``spec.OPERATIONS``."""

from __future__ import annotations

from ...scopes import READ, WRITE
from ...ssh.keys import SSHKeyAdd
from .model import DENIED, INVALID, NOT_FOUND, PATH_PARAMS, PORTAL, Operation, Param

PATH_PARAMS["key"] = Param("key", {"type": "integer", "minimum": 1}, "The SSH key's id", True)

OPERATIONS: tuple[Operation, ...] = (
    Operation("get", f"{PORTAL}/me/ssh-keys", "Your SSH keys, and how to reach the SSH gateway", "me", READ,
              {200: "`{keys: [{id, name, type, fingerprint (SHA256:…), added, last_used}], gateway: {enabled, host, "
                    "port, host_keys: [{type, fingerprint}]}}`", 403: DENIED}),
    Operation("post", f"{PORTAL}/me/ssh-keys", "Add an SSH public key (an activity)", "me", WRITE,
              {201: "The key: `{id, name, type, fingerprint, added, last_used}`",
               400: INVALID + " (`public_key`: not an OpenSSH public key, too weak, or added already)",
               403: DENIED}, body=SSHKeyAdd,
              description="The key signs in to the SSH gateway (`ssh -p <port> <user>@<host>`) as you, into your "
                          "running notebook."),
    Operation("delete", f"{PORTAL}/me/ssh-keys/{{key}}", "Remove one of your SSH keys (an activity)", "me", WRITE,
              {204: "Removed: it signs in no more", 403: DENIED, 404: NOT_FOUND}),
)
