"""What the portal layout needs on every page: groups, group context, menus.

``template_var(user)`` is registered as ``c.JupyterHub.template_vars["hubfront"]``
so that JupyterHub's own pages (spawn, token, admin) render inside the same
layout as the portal's pages.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Callable

from .. import context
from ..groups import display_name, group_policy, member_groups
from ..settings import Hubfront


@dataclass(frozen=True)
class MenuEntry:
    title: str
    path: str  # relative to the hub prefix, e.g. "home"
    icon: str
    group_admin: bool = False
    shortcut: str = ""  # text of the Quickstart shortcut button, if any
    # whether the feature is there on this deployment (called per page; None: always)
    available: Callable[[], bool] | None = field(default=None, compare=False)

    @property
    def shown(self) -> bool:
        return self.available is None or self.available()


# An entry is listed here only once its feature works.
USER_MENU: list[MenuEntry] = [
    MenuEntry("Home", "home", "fa-house"),
]
GROUP_ADMIN_MENU: list[MenuEntry] = [
    MenuEntry("Settings", "portal/group-settings", "fa-sliders", group_admin=True,
              shortcut="Review group settings"),
]


def register_menu(entry: MenuEntry) -> None:
    """Feature modules add their menu entry when they are loaded."""
    target = GROUP_ADMIN_MENU if entry.group_admin else USER_MENU
    if all(e.path != entry.path for e in target):
        target.append(entry)


@dataclass(frozen=True)
class Banner:
    """A message shown above every portal page (license warnings, announcements)."""

    id: str
    text: str
    level: str = "warning"  # bootstrap alert level: info, warning, danger
    html: str = ""  # already-sanitised HTML body, shown under the text when set
    dismissible: bool = False
    home_panel: str = ""  # the home panel that shows the same thing: home shows it there only


# Callables ``(orm_user, nav, db_url) -> list[Banner]``, registered by features.
BANNER_PROVIDERS: list[Callable] = []


def register_banner(provider: Callable) -> None:
    if provider not in BANNER_PROVIDERS:
        BANNER_PROVIDERS.append(provider)


@dataclass
class Nav:
    username: str
    is_admin: bool
    groups: list[dict] = field(default_factory=list)
    group: str | None = None
    group_display: str = ""
    is_group_admin: bool = False
    banners: list[Banner] = field(default_factory=list)
    # what the culler saw of the user's servers, read once per page by the banner that needs it
    # (hub_ext.portal.notebooks.lifecycle.page_idle_views); None: not read yet
    idle_views: dict | None = field(default=None, repr=False)

    # the menus are worked out once per page (a template reads them several times; ``available`` is
    # called once per entry), after build_nav has set the group
    @functools.cached_property
    def menu(self) -> list[MenuEntry]:
        return [e for e in USER_MENU if e.shown] if self.group else []

    @functools.cached_property
    def admin_menu(self) -> list[MenuEntry]:
        return [e for e in GROUP_ADMIN_MENU if e.shown] if self.group and self.is_group_admin else []

    @property
    def shortcuts(self) -> list[MenuEntry]:
        return [e for e in self.menu + self.admin_menu if e.shortcut]


def build_nav(orm_user, db_url: str) -> Nav:
    groups = member_groups(orm_user)
    names = [g.name for g in groups]
    current = context.keep_focus(db_url, orm_user.name, names)  # a group joined later never takes its place
    nav = Nav(username=orm_user.name, is_admin=bool(orm_user.admin))
    nav.groups = [{"name": g.name, "display_name": display_name(g)} for g in groups]
    if current:
        group = next(g for g in groups if g.name == current)
        nav.group = current
        nav.group_display = display_name(group)
        nav.is_group_admin = nav.is_admin or group_policy(group).is_admin(orm_user.name)
    for provider in BANNER_PROVIDERS:
        nav.banners.extend(provider(orm_user, nav, db_url))
    return nav


class LazyNav:
    """The layout's data, built on first use.

    JupyterHub evaluates ``template_vars`` for every page; portal pages pass
    their own Nav, so this one is only ever built for JupyterHub's own pages.
    """

    def __init__(self, orm_user, db_url: str):
        self._args = (orm_user, db_url)
        self._nav: Nav | None = None

    def __getattr__(self, name):
        if self._nav is None:
            self._nav = build_nav(*self._args)
        return getattr(self._nav, name)


def template_var(user):
    """``template_vars`` callable: the layout's data for the logged-in user, or None."""
    if user is None:
        return None
    return LazyNav(user.orm_user, Hubfront.instance().db_url)
