"""Home panels: each feature registers the panel it adds to the portal home.

A panel is a template plus an async provider that gets the page handler and
returns the panel's data (or None to leave it out, e.g. for a user who may not
see it). Keeping the registry here means features never edit home.html.

The home is the most visited page, so a panel is built once and kept
(:mod:`..common.fragments`) while nothing it was built from changed: the tables
its provider read (known from the database engine, nothing to declare), the
caller, the group in focus and its policy, the user's servers (:func:`home_key`),
and whatever else in memory the panel names in ``varies``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Hashable

from markupsafe import Markup

from ..common.fragments import XSRF, FragmentCache, with_xsrf

Provider = Callable[[Any], Awaitable[dict | None]]


@dataclass(frozen=True)
class HomePanel:
    name: str
    template: str
    order: int
    provider: Provider
    width: str = "col-lg-6"
    varies: Callable[[Any], Hashable] | None = None  # what else in memory the panel is built from


PANELS: dict[str, HomePanel] = {}


def register_panel(panel: HomePanel) -> None:
    PANELS[panel.name] = panel


PARTS = FragmentCache()


def home_key(handler) -> tuple:
    """What every part of the home is built from besides the database (:meth:`.PortalHandler.page_key`)."""
    return handler.page_key()


async def part(handler, key: tuple, template: str, data: Callable[[], Awaitable[dict | None]], **ns) -> Markup:
    """One part of the home (empty when ``data`` gives None), built or kept, with the request's XSRF token."""

    async def build() -> str:
        found = await data()
        if found is None:
            return ""
        return handler.render_template(template, sync=True, hubfront=handler.nav(), xsrf_token=XSRF, **found, **ns)

    html = await PARTS.get(handler.db_url, key, build)
    return Markup(with_xsrf(html, handler))


def _ordered() -> list[HomePanel]:
    return sorted(PANELS.values(), key=lambda p: p.order)


def varies(handler) -> tuple:
    """What in memory, besides :func:`home_key`, each panel is built from (the whole home block depends on)."""
    return tuple(panel.varies(handler) if panel.varies else None for panel in _ordered())


async def render_data(handler, varied: tuple | None = None) -> list[tuple[HomePanel, Markup]]:
    """The panels to show, in order, each as its HTML (``varied``: :func:`varies`, when the caller has it)."""
    shown, common = [], home_key(handler)
    for panel, panel_varies in zip(_ordered(), varies(handler) if varied is None else varied):
        key = ("panel", panel.name, common, panel_varies)

        async def data(panel=panel):
            found = await panel.provider(handler)
            return None if found is None else {"data": found}

        html = await part(handler, key, panel.template, data)
        if html:
            shown.append((panel, html))
    return shown


async def _quickstart(handler) -> dict:
    return {"links": handler.hubfront.docs_links}


register_panel(HomePanel("quickstart", "portal/panels/quickstart.html", 10, _quickstart))
