"""Folder invitations as users see them: each action changes the record, applies the OS grant
and is recorded as an activity for both parties. No tornado here.

The OS side follows the record: an invitee's account gets its ACL entry when they accept
(and a new one when the owner changes the permission of an accepted invitation), and
loses it on revoke and leave. Accounts are made when first needed (the owner's when they
create a folder, the invitee's when they accept), as a first launch would.
"""

from __future__ import annotations

from pathlib import Path

from .. import activity
from . import disk, records
from .records import PERMISSION_TITLES, Invitation, InvitationError

KIND = "folder"


class Folders:
    def __init__(self, db_url: str, data_dir: str, isolation=None,
                 home_template: str = "{data_dir}/homes/{username}", hub_prefix: str = "/hub/"):
        self.link = f"{hub_prefix}portal/folders"
        self.db_url = db_url
        self.data_dir = str(data_dir)
        self.isolation = isolation
        self.home_template = home_template

    # -- accounts ------------------------------------------------------------

    def _isolated(self) -> bool:
        return self.isolation is not None and self.isolation.enabled

    def account(self, username: str, hub_groups: list[str]):
        """The user's OS account, made if missing (None without isolation)."""
        if not self._isolated():
            return None
        home = self.home_template.format(data_dir=self.data_dir, username=username)
        return self.isolation.account(username, list(hub_groups), home)

    def _uid(self, username: str) -> int | None:
        if not self._isolated():
            return None
        return self.isolation.uid_of(username)

    def _relink(self, username: str) -> None:
        """Running workloads of ``username`` see the change now (their folder links in the home)."""
        import pwd

        from ..storage.mounts import relink_folders

        uid = self._uid(username)
        if self._isolated() and uid is None:
            return  # no account, no home yet: the first launch makes the links
        gid = pwd.getpwuid(uid).pw_gid if uid is not None else None
        relink_folders(self.db_url, self.data_dir, username,
                       self.home_template.format(data_dir=self.data_dir, username=username), uid, gid)

    def _record(self, inv: Invitation, actor: str, action: str, message: str) -> None:
        for username in dict.fromkeys((actor, inv.owner, inv.invitee)):
            activity.record(self.db_url, username=username, group=None, kind=KIND, action=action,
                            message=message, status="ok", workload_id=str(inv.id),
                            link=self.link)

    # -- folders -------------------------------------------------------------

    def folders(self, owner: str) -> list[dict]:
        """The owner's folders, each with its live invitations."""
        sent: dict[str, list[dict]] = {}
        for inv in records.sent(self.db_url, owner):
            sent.setdefault(inv.folder, []).append(inv.as_json())
        return [{"name": name, "invitations": sent.get(name, [])} for name in disk.list_folders(self.data_dir, owner)]

    def create_folder(self, owner: str, hub_groups: list[str], name: str) -> dict:
        disk.check_name(name)
        account = self.account(owner, hub_groups)
        try:
            disk.create(self.data_dir, owner, name, account and account.uid, account and account.gid)
        except FileExistsError:
            raise records.Conflict("name", f"you already have a folder called {name}") from None
        self._relink(owner)
        activity.record(self.db_url, username=owner, group=None, kind=KIND, action="created",
                        message=f"Folder {name} created", status="ok", link=self.link)
        return {"name": name, "invitations": []}

    # -- invitations ---------------------------------------------------------

    def invite(self, owner: str, folder: str, invitee: str, permission: str) -> Invitation:
        """The caller checked that ``invitee`` is a hub user."""
        if not disk.exists(self.data_dir, owner, folder):
            raise InvitationError("folder", f"you have no folder called {folder}")
        inv = records.create(self.db_url, owner, folder, invitee, permission)
        self._record(inv, owner, "invited",
                     f"{owner} invited {invitee} to folder {folder} ({inv.permission_title})")
        return inv

    def _path(self, inv: Invitation) -> Path:
        return disk.folder_path(self.data_dir, inv.owner, inv.folder)

    def _sticky(self, inv: Invitation) -> None:
        """Sticky folders while someone holds ``rw`` (write, but delete only their own entries)."""
        if self._isolated() and self._path(inv).is_dir():
            live = records.sent(self.db_url, inv.owner, inv.folder)
            disk.set_sticky(self._path(inv), any(i.state == "accepted" and i.permission == "rw" for i in live))

    def accept(self, invitation_id: int, invitee: str, hub_groups: list[str]) -> Invitation:
        records.visible(self.db_url, invitation_id, invitee)
        account = self.account(invitee, hub_groups)  # before the state changes: no account, no acceptance
        _, inv = records.transition(self.db_url, invitation_id, invitee, "accept")
        disk.grant(self._path(inv), account and account.uid, inv.permission)
        self._sticky(inv)
        self._relink(invitee)
        self._record(inv, invitee, "accepted",
                     f"{invitee} accepted folder {inv.folder} of {inv.owner} ({inv.permission_title})")
        return inv

    def decline(self, invitation_id: int, invitee: str) -> Invitation:
        _, inv = records.transition(self.db_url, invitation_id, invitee, "decline")
        self._record(inv, invitee, "declined", f"{invitee} declined folder {inv.folder} of {inv.owner}")
        return inv

    def leave(self, invitation_id: int, invitee: str) -> Invitation:
        _, inv = records.transition(self.db_url, invitation_id, invitee, "leave")
        disk.revoke(self._path(inv), self._uid(invitee))
        self._sticky(inv)
        self._relink(invitee)
        self._record(inv, invitee, "left", f"{invitee} left folder {inv.folder} of {inv.owner}")
        return inv

    def revoke(self, invitation_id: int, owner: str) -> Invitation:
        before, inv = records.transition(self.db_url, invitation_id, owner, "revoke")
        if before.state == "accepted":
            disk.revoke(self._path(inv), self._uid(inv.invitee))
            self._sticky(inv)
        self._relink(inv.invitee)
        self._record(inv, owner, "revoked", f"{owner} revoked {inv.invitee}'s access to folder {inv.folder}")
        return inv

    def set_permission(self, invitation_id: int, owner: str, permission: str) -> Invitation:
        before, inv = records.transition(self.db_url, invitation_id, owner, "permission", permission)
        if inv.state == "accepted" and before.permission != inv.permission:
            disk.grant(self._path(inv), self._uid(inv.invitee), inv.permission)
            self._sticky(inv)
        self._record(inv, owner, "permission",
                     f"{owner} changed {inv.invitee}'s permission on folder {inv.folder} from "
                     f"{PERMISSION_TITLES[before.permission]} to {inv.permission_title}")
        return inv
