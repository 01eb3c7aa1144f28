"""The Logs / Errors page."""

from __future__ import annotations

from jupyterhub import orm
from tornado import web

from hub_ext.groups import group_policy

from ..activities.feed import feed_settings, parse_paging
from ..activities.handlers import titles_of
from ..common.base import PortalHandler
from ..nav import MenuEntry, register_menu
from ..preferences.prefs import user_zone
from .listing import NotAllowed, entries, query_for


class LogsHandler(PortalHandler):
    @web.authenticated
    async def get(self):
        user = self.current_user
        _, before, errors = parse_paging(None, self.get_argument("before", None))
        if errors:
            raise web.HTTPError(400, f"before: {errors['before']}")
        try:
            q = query_for(user.name, user.admin, self.get_argument("user", None), self.get_argument("group", ""),
                          self.get_argument("errors", "") in ("1", "on", "true"), before)
        except NotAllowed as exc:
            raise web.HTTPError(403, str(exc)) from None
        if user.admin:
            titles = {g.name: group_policy(g).display_name or g.name for g in self.db.query(orm.Group)}
        else:
            titles = titles_of(self)
        rows, older = entries(self.db_url, q, user_zone(self.db_url, user.name), feed_settings().page_size, titles)
        groups = sorted(titles.items(), key=lambda item: item[1].lower())  # (name, display name)
        await self.render_portal("portal/logs.html", rows=rows, q=q, older=older, groups=groups,
                                 everyone=user.admin and q.user is None)


register_menu(MenuEntry("Logs / Errors", "portal/logs", "fa-list-check"))

handlers = [(r"/portal/logs", LogsHandler)]
