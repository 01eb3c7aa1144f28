"""GET /hub/api/portal/me/activities?group= and the home page's Recent panel."""

from __future__ import annotations

from jupyterhub.scopes import needs_scope

from ...scopes import READ
from ..common.base import PortalAPIHandler
from ..home.panels import HomePanel, register_panel
from ..preferences.prefs import user_zone
from .feed import SCOPES, feed_settings, group_feed, parse_paging


def titles_of(handler) -> dict[str, str]:
    """The display names of the caller's groups, by group name (what their activity lines name)."""
    return {g["name"]: g["display_name"] for g in handler.nav().groups}


class ActivitiesAPIHandler(PortalAPIHandler):
    """The caller's newest activities in a group they are in (default: the group in focus);
    ``scope=group``: a group admin's view of every member's (errors only their own)."""

    @needs_scope(READ)
    def get(self):
        limit, before, errors = parse_paging(self.get_argument("limit", None), self.get_argument("before", None))
        scope = self.get_argument("scope", "mine")
        if scope not in SCOPES:
            errors["scope"] = f"one of {', '.join(SCOPES)}"
        if errors:
            self.field_error(errors)
        group = self.get_argument("group", "") or self.nav().group
        if not group:
            return self.write_json({"group": None, "scope": scope, "activities": []})
        orm_group = self.visible_group(group)  # 404 for a group the caller is not in
        if scope == "group":
            self.require_group_admin(orm_group)
        zone = user_zone(self.db_url, self.current_user.name)
        rows = group_feed(self.db_url, orm_group.name, zone, limit or feed_settings().recent_limit, before,
                          errors_only=self.get_argument("errors", "") in ("1", "true"),
                          viewer=self.current_user.name, scope=scope, group_titles=titles_of(self))
        self.write_json({"group": orm_group.name, "scope": scope, "activities": rows})


async def _recent_panel(handler) -> dict:
    cfg = feed_settings()
    group = handler.nav().group
    zone = user_zone(handler.db_url, handler.current_user.name)
    return {"group": group, "refresh_ms": int(cfg.refresh_seconds * 1000), "limit": cfg.recent_limit,
            "activities": group_feed(handler.db_url, group, zone, cfg.recent_limit, viewer=handler.current_user.name,
                                     group_titles=titles_of(handler)),
            "can_see_group": handler.nav().is_group_admin}


register_panel(HomePanel("recent", "portal/panels/recent.html", 40, _recent_panel))

handlers = [(r"/api/portal/me/activities", ActivitiesAPIHandler)]
