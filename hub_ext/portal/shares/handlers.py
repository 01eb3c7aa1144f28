"""Share links: the REST API of a group's links (members make, list and revoke them).

``GET/POST /hub/api/portal/groups/{group}/shares`` and ``DELETE …/shares/{share}``. A group
the caller is not a member of is 404 (hub admins may list any group's links). The token is in
the POST's answer only; the database keeps its digest. The public side (``/hub/share/<token>``)
is in :mod:`.public`.
"""

from __future__ import annotations

from jupyterhub.scopes import needs_scope
from tornado import web

from ...scopes import READ, WRITE
from ...storage.shares import ShareCreate, ShareStore, as_json, refuse_missing
from ...store.models_storage import Share
from ..files.common import require_group_storage
from ..common.member import MemberAPIHandler


def share_store(handler) -> ShareStore:
    return ShareStore(handler.hubfront.db_url, handler.hub.base_url)


class _SharesAPI(MemberAPIHandler):
    async def prepare(self):
        await super().prepare()
        require_group_storage(self.hubfront)

    @property
    def store(self) -> ShareStore:
        return share_store(self)


class GroupSharesAPIHandler(_SharesAPI):
    """GET (list) and POST (create; the token and link are in this answer only)."""

    @needs_scope(READ)
    def get(self, group_name):
        group = self.member_group(group_name) if not self.current_user.admin else self.visible_group(group_name)
        self.write_json({"group": group.name, "shares": [as_json(s) for s in self.store.list(group.name)]})

    @needs_scope(WRITE)
    def post(self, group_name):
        from ...storage.paths import BadPath, resolve
        from ...storage.tree import group_root

        group = self.member_group(group_name)
        body = self.body(ShareCreate)
        try:
            target = resolve(group_root(self.hubfront.data_dir, group.name), body.path)
        except BadPath as exc:
            self.field_error({"path": str(exc)})
        except (FileNotFoundError, NotADirectoryError):
            self.field_error(refuse_missing(body.path).errors)
        kind = "folder" if target.is_dir() else "file"
        share, token = self.store.create(group.name, self.current_user.name, body, kind)
        self.set_status(201)
        self.write_json({**as_json(share), "kind": kind, "token": token, "url": self.store.link(token)})


class ShareAPIHandler(_SharesAPI):
    """DELETE: revoke a link (it answers 410 from then on). Its maker, the group's admins and
    hub admins may; other members get 403."""

    @needs_scope(WRITE)
    def delete(self, group_name, share_id):
        group = self.member_group(group_name)
        ident = self.parse_id(share_id, "share", Share.id, status=404)
        share = self.store.get(group.name, ident)
        if share is None:
            raise web.HTTPError(404, f"No such share link: {share_id}")
        viewer = self.viewer
        if share.username != viewer.username and group.name not in viewer.group_admin_of and not viewer.admin:
            raise web.HTTPError(403, "Only the link's maker, the group's admins and admins revoke it")
        self.store.revoke(group.name, ident, viewer.username)
        self.set_status(204)
        self.finish()


_ID = r"([^/]+)"
handlers = [
    (rf"/api/portal/groups/{_ID}/shares", GroupSharesAPIHandler),
    (rf"/api/portal/groups/{_ID}/shares/{_ID}", ShareAPIHandler),
]
from .public import handlers as _public; handlers += _public  # noqa: E402
# the Shared Files page is registered here too: hub_ext/portal/files/handlers.py is the files API's
from ..files.pages import handlers as _files_page; handlers += _files_page  # noqa: E402
