"""My folders and folder invitations: the REST API, the page and the home's Invitations panel.

Everything here is the caller's own: their folders, the invitations they sent and those they
received. An invitation the caller is no party to answers 404, like one that does not exist.
The logic (records, OS grants, activities) is in :mod:`hub_ext.folders.service`.
"""

from __future__ import annotations

import asyncio

from jupyterhub import orm
from jupyterhub.scopes import needs_scope
from tornado import web

from ...bodies import NoFields
from ...folders import disk as folders_disk
from ...folders.records import PERMISSION_TITLES, Conflict, InvitationError, NotFound, received
from ...folders.requests import FolderCreate, InvitationCreate, PermissionChange
from ...folders.service import Folders
from ...isolation import Isolation, IsolationError
from ...scopes import READ, WRITE
from ...store.models_storage import FolderInvitation
from ..common.base import PortalAPIHandler, PortalHandler
from ..home.panels import HomePanel, register_panel
from ..nav import MenuEntry, register_menu

def folders_of(handler) -> Folders:
    config = handler.settings.get("config")
    spawner = config.LocalGroupSpawner if config is not None and "LocalGroupSpawner" in config else {}
    return Folders(handler.db_url, handler.hubfront.data_dir, Isolation.instance(config=config),
                   spawner.get("home_dir_template") or "{data_dir}/homes/{username}", handler.hub.base_url)


class _FoldersAPI(PortalAPIHandler):
    @property
    def folders(self) -> Folders:
        return folders_of(self)

    def groups_of(self, name: str) -> list[str]:
        user = orm.User.find(self.db, name)
        return [g.name for g in user.groups] if user is not None else []

    def invitation_id(self, value: str) -> int:
        return self.parse_id(value, "invitation", FolderInvitation.id, status=404)

    async def act(self, call, *args, status: int = 200):
        """Run a service call off the loop; its refusals become 400/403/404/409."""
        try:
            result = await asyncio.to_thread(call, *args)
        except NotFound:
            raise web.HTTPError(404, "No such invitation") from None
        except PermissionError as exc:
            raise web.HTTPError(403, str(exc)) from None
        except Conflict as exc:
            self.field_error({exc.field: exc.message}, 409)
        except InvitationError as exc:
            self.field_error({exc.field: exc.message})
        except (IsolationError, OSError) as exc:  # accounts or ACLs could not be set up: the machine's problem
            self.log.error("Folders: %s", exc)
            raise web.HTTPError(503, f"The folder's permissions could not be applied: {exc}") from None
        self.set_status(status)
        self.write_json(result if isinstance(result, dict) else result.as_json())


class FoldersAPIHandler(_FoldersAPI):
    """GET (your folders with their invitations), POST (make a folder): /hub/api/portal/folders."""

    @needs_scope(READ)
    async def get(self):
        name = self.current_user.name
        self.write_json({"owner": name, "folders": await asyncio.to_thread(self.folders.folders, name)})

    @needs_scope(WRITE)
    async def post(self):
        body = self.body(FolderCreate)
        name = self.current_user.name
        await self.act(self.folders.create_folder, name, self.groups_of(name), body.name, status=201)


class FolderInvitationsAPIHandler(_FoldersAPI):
    """POST /hub/api/portal/folders/{folder}/invitations: invite a user by name."""

    @needs_scope(WRITE)
    async def post(self, folder):
        body = self.body(InvitationCreate)
        if not folders_disk.exists(self.hubfront.data_dir, self.current_user.name, folder):
            raise web.HTTPError(404, f"No such folder: {folder}")
        if orm.User.find(self.db, body.invitee) is None:
            self.field_error({"invitee": f"no such user: {body.invitee}"})
        await self.act(self.folders.invite, self.current_user.name, folder, body.invitee, body.permission,
                       status=201)


class ReceivedAPIHandler(_FoldersAPI):
    """GET /hub/api/portal/folder-invitations: invitations to you, pending and accepted."""

    @needs_scope(READ)
    async def get(self):
        rows = await asyncio.to_thread(received, self.db_url, self.current_user.name)
        self.write_json({"invitee": self.current_user.name, "invitations": [r.as_json() for r in rows]})


class InvitationAPIHandler(_FoldersAPI):
    """PATCH (the owner changes the permission), DELETE (the owner revokes): /folder-invitations/{id}."""

    @needs_scope(WRITE)
    async def patch(self, invitation):
        body = self.body(PermissionChange)
        await self.act(self.folders.set_permission, self.invitation_id(invitation), self.current_user.name,
                       body.permission)

    @needs_scope(WRITE)
    async def delete(self, invitation):
        await self.act(self.folders.revoke, self.invitation_id(invitation), self.current_user.name)


class _InviteeAction(_FoldersAPI):
    """POST /folder-invitations/{id}/<action> (the invitee)."""

    action = ""

    @needs_scope(WRITE)
    async def post(self, invitation):
        invitation_id = self.invitation_id(invitation)
        self.body(NoFields)
        name = self.current_user.name
        if self.action == "accept":
            await self.act(self.folders.accept, invitation_id, name, self.groups_of(name))
        else:
            await self.act(getattr(self.folders, self.action), invitation_id, name)


class AcceptAPIHandler(_InviteeAction):
    action = "accept"


class DeclineAPIHandler(_InviteeAction):
    action = "decline"


class LeaveAPIHandler(_InviteeAction):
    action = "leave"


class FoldersPage(PortalHandler):
    """GET /hub/portal/folders: make folders, invite, change or revoke; invitations to you."""

    @web.authenticated
    async def get(self):
        name = self.current_user.name
        folders = await asyncio.to_thread(folders_of(self).folders, name)
        invitations = await asyncio.to_thread(received, self.db_url, name)
        await self.render_portal("portal/folders.html", folders=folders, invitations=invitations,
                                 permissions=PERMISSION_TITLES)


async def _invitations_panel(handler) -> dict | None:
    # one indexed read, on the loop: a thread's hand-over costs the page more than the query
    pending = received(handler.db_url, handler.current_user.name, ("pending",))
    return {"invitations": pending, "permissions": PERMISSION_TITLES} if pending else None


register_menu(MenuEntry("My Folders", "portal/folders", "fa-folder-tree"))
register_panel(HomePanel("folder-invitations", "portal/panels/folder_invitations.html", 6, _invitations_panel,
                         width="col-12"))

handlers = [
    (r"/api/portal/folders", FoldersAPIHandler),
    (r"/api/portal/folders/([^/]+)/invitations", FolderInvitationsAPIHandler),
    (r"/api/portal/folder-invitations", ReceivedAPIHandler),
    (r"/api/portal/folder-invitations/([^/]+)", InvitationAPIHandler),
    (r"/api/portal/folder-invitations/([^/]+)/accept", AcceptAPIHandler),
    (r"/api/portal/folder-invitations/([^/]+)/decline", DeclineAPIHandler),
    (r"/api/portal/folder-invitations/([^/]+)/leave", LeaveAPIHandler),
    (r"/portal/folders", FoldersPage),
]
