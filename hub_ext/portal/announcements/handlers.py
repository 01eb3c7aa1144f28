"""Announcements: the page (admins manage, everyone reads), the REST API, banners and home panel."""

from __future__ import annotations

from jupyterhub import orm
from jupyterhub.scopes import needs_scope
from tornado import web

from ...bodies import NoFields
from ...scopes import READ, WRITE
from ...store.models_portal import Announcement
from ..common.base import PortalAPIHandler, PortalHandler
from ..home.panels import HomePanel, register_panel
from ..nav import Banner, MenuEntry, register_banner, register_menu
from ..preferences.prefs import format_time, user_zone
from . import board


ACTIONS = ("create", "update", "publish", "unpublish", "delete")


class _AnnouncementsMixin:
    def group_names(self) -> list[str]:
        return [g.name for g in self.current_user.orm_user.groups]

    def known_groups(self) -> list[str]:
        return [name for (name,) in self.db.query(orm.Group.name)]

    def zone(self):
        return user_zone(self.db_url, self.current_user.name)

    def page_link(self) -> str:
        return self.hub.base_url + "portal/announcements"

    def require_admin(self):
        if not self.current_user.admin:
            raise web.HTTPError(403, "Only administrators manage announcements")

    def path_id(self, ident: str) -> int:
        return self.parse_id(ident, "id", Announcement.id, status=404)


def _form_data(handler) -> dict:
    arg = handler.get_body_argument
    groups = handler.get_body_arguments("groups")
    return {
        "title": arg("title", ""), "body": arg("body", ""), "severity": arg("severity", "info"),
        "audience": "all" if arg("audience", "all") == "all" else groups,
        "starts": arg("starts", ""), "expires": arg("expires", ""), "published": arg("published", "") == "on",
    }


class AnnouncementsPageHandler(_AnnouncementsMixin, PortalHandler):
    """GET /hub/portal/announcements; admins POST forms (create, update, publish, unpublish, delete)."""

    async def _render(self, errors=None, form=None, status=200):
        zone = self.zone()
        self.set_status(status)
        admin = self.current_user.admin
        await self.render_portal(
            "portal/announcements.html",
            announcements=board.all_announcements(self.db_url) if admin
            else board.visible_for(self.db_url, self.group_names()),
            manage=admin, all_groups=sorted(self.known_groups()) if admin else [],
            errors=errors or {}, form=form or {}, when=lambda dt: format_time(dt, zone),
            local_input=lambda dt: dt.astimezone(zone).strftime("%Y-%m-%dT%H:%M") if dt else "",
            zone_name=str(zone),
        )

    @web.authenticated
    async def get(self):
        await self._render()

    @web.authenticated
    async def post(self):
        self.require_admin()
        action = self.get_body_argument("action", "")
        if action not in ACTIONS:
            raise web.HTTPError(400, "action: one of " + ", ".join(ACTIONS))
        ident = None if action == "create" else self.parse_id(self.get_body_argument("id", ""), "id", Announcement.id)
        try:
            if action == "create":
                board.create(self.db_url, _form_data(self), self.current_user.name, self.known_groups(),
                             self.zone(), link=self.page_link())
            elif action == "update":
                board.update(self.db_url, ident, _form_data(self), self.known_groups(), self.zone(),
                             link=self.page_link())
            elif action in ("publish", "unpublish"):
                board.update(self.db_url, ident, {"published": action == "publish"}, self.known_groups(),
                             self.zone(), link=self.page_link())
            else:
                board.remove(self.db_url, ident)
        except board.AnnouncementError as exc:
            form = {k: self.get_body_argument(k, "") for k in
                    ("action", "id", "title", "body", "severity", "audience", "starts", "expires", "published")}
            form["groups"] = self.get_body_arguments("groups")
            return await self._render(exc.errors, form, status=400)
        except board.NoSuchAnnouncement:
            raise web.HTTPError(404, "No such announcement") from None
        self.redirect(self.page_link())


class AnnouncementsAPIHandler(_AnnouncementsMixin, PortalAPIHandler):
    """GET (the caller's announcements; admins: ?all=1 for every one) and POST (admins)."""

    @needs_scope(READ)
    def get(self):
        if self.get_argument("all", "") in ("1", "true"):
            self.require_admin()
            views = board.all_announcements(self.db_url)
        else:
            views = board.visible_for(self.db_url, self.group_names())
        self.write_json({"announcements": [v.as_json() for v in views]})

    @needs_scope(WRITE)
    def post(self):
        self.require_admin()
        body = self.body(board.AnnouncementCreate)
        try:
            view = board.create(self.db_url, body.model_dump(exclude_unset=True), self.current_user.name,
                                self.known_groups(), self.zone(), link=self.page_link())
        except board.AnnouncementError as exc:
            self.field_error(exc.errors)
        self.set_status(201)
        self.write_json(view.as_json())


class AnnouncementAPIHandler(_AnnouncementsMixin, PortalAPIHandler):
    """GET/PUT/DELETE /hub/api/portal/announcements/{id}."""

    def _visible(self, ident: int) -> board.AnnouncementView:
        try:
            view = board.get(self.db_url, ident)
        except board.NoSuchAnnouncement:
            raise web.HTTPError(404, "No such announcement") from None
        if not self.current_user.admin and view.id not in {v.id for v in board.visible_for(
                self.db_url, self.group_names())}:
            raise web.HTTPError(404, "No such announcement")
        return view

    @needs_scope(READ)
    def get(self, ident):
        self.write_json(self._visible(self.path_id(ident)).as_json())

    @needs_scope(WRITE)
    def put(self, ident):
        ident = self._visible(self.path_id(ident)).id
        self.require_admin()
        body = self.body(board.AnnouncementUpdate)
        try:
            view = board.update(self.db_url, ident, body.model_dump(exclude_unset=True), self.known_groups(),
                                self.zone(), link=self.page_link())
        except board.AnnouncementError as exc:
            self.field_error(exc.errors)
        self.write_json(view.as_json())

    @needs_scope(WRITE)
    def delete(self, ident):
        ident = self._visible(self.path_id(ident)).id
        self.require_admin()
        board.remove(self.db_url, ident)
        self.set_status(204)
        self.finish()


class DismissAPIHandler(_AnnouncementsMixin, PortalAPIHandler):
    """POST /hub/api/portal/announcements/{id}/dismiss: hide its banner (until it is edited)."""

    @needs_scope(WRITE)
    def post(self, ident):
        ident = self.path_id(ident)
        self.body(NoFields)
        try:
            board.dismiss(self.db_url, self.current_user.name, ident, self.group_names())
        except board.NoSuchAnnouncement:
            raise web.HTTPError(404, "No such announcement") from None
        self.write_json({"dismissed": ident})


def announcement_banners(orm_user, nav, db_url) -> list[Banner]:
    views = board.banners_for(db_url, orm_user.name, [g["name"] for g in nav.groups])
    return [Banner(id=f"announcement-{v.id}", text=v.title, level=v.level, html=v.html, dismissible=True,
                   home_panel="announcements") for v in views]


async def _panel(handler) -> dict | None:
    """The home's panel holds what the banner shows on other pages: dismissed there or here, it is gone
    from both (until it is edited); the Announcements page keeps every one."""
    views = board.banners_for(handler.db_url, handler.current_user.name, [g["name"] for g in handler.nav().groups])
    if not views:
        return None
    zone = user_zone(handler.db_url, handler.current_user.name)
    return {"announcements": [(v, format_time(v.updated, zone)) for v in views]}


register_banner(announcement_banners)
register_panel(HomePanel("announcements", "portal/panels/announcements.html", 5, _panel, width="col-12"))
register_menu(MenuEntry("Announcements", "portal/announcements", "fa-bullhorn"))

handlers = [
    (r"/portal/announcements", AnnouncementsPageHandler),
    (r"/api/portal/announcements", AnnouncementsAPIHandler),
    (r"/api/portal/announcements/(\d+)", AnnouncementAPIHandler),
    (r"/api/portal/announcements/(\d+)/dismiss", DismissAPIHandler),
]
