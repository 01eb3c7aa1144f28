"""Home panels: each feature registers the panel it adds to the portal home.

A panel is a template included in home.html plus an async provider that gets
the page handler and returns the panel's data (or None to leave it out, e.g.
for a user who may not see it). Keeping the registry here means features never
edit home.html.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Awaitable, Callable

Provider = Callable[[Any], Awaitable[dict | None]]


@dataclass(frozen=True)
class HomePanel:
    name: str
    template: str
    order: int
    provider: Provider
    width: str = "col-lg-6"


PANELS: dict[str, HomePanel] = {}


def register_panel(panel: HomePanel) -> None:
    PANELS[panel.name] = panel


async def render_data(handler) -> list[tuple[HomePanel, dict]]:
    """The panels to show, in order, each with its data."""
    shown = []
    for panel in sorted(PANELS.values(), key=lambda p: p.order):
        data = await panel.provider(handler)
        if data is not None:
            shown.append((panel, data))
    return shown


async def _quickstart(handler) -> dict:
    return {"links": handler.hubfront.docs_links}


register_panel(HomePanel("quickstart", "portal/panels/quickstart.html", 10, _quickstart))
