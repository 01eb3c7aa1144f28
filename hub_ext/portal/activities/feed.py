"""Activities as pages and the API show them: local times and live status.

The live status of an event's workload is "running" while the workload holds a
reservation in the ledger, so a "notebook started" event an hour ago shows
whether that notebook still runs now.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from traitlets import Float, Int
from traitlets.config import Configurable

from ... import activity
from ...store.models_portal import Activity
from ..common import ids
from ..preferences.prefs import format_time

GROUP_KIND = "group"  # the Groups console's lines ("Group alpha created"): about the id itself


class ActivityFeed(Configurable):
    recent_limit = Int(10, help="How many activities the home page's Recent panel lists.").tag(config=True)
    refresh_seconds = Float(
        10.0, help="How often the Recent panel refreshes itself, in seconds (0 turns refreshing off).",
    ).tag(config=True)
    page_size = Int(50, help="Activities per page on the Logs / Errors page.").tag(config=True)


def feed_settings() -> ActivityFeed:
    """The feed's settings, made once per hub configuration (read on every home page)."""
    from ...settings import Hubfront

    hubfront = Hubfront.instance()
    feed = getattr(hubfront, "_activity_feed", None)
    if feed is None:
        feed = hubfront._activity_feed = ActivityFeed(config=hubfront.config)
    return feed


def safe_link(link: str | None) -> str | None:
    """Only same-site paths and http(s) addresses become links (never ``javascript:``)."""
    if not link:
        return None
    if link.startswith("/") and not link.startswith("//") and "\\" not in link:
        return link
    if link.lower().startswith(("https://", "http://")):
        return link
    return None


def verb(kind: str, action: str) -> str:
    """What happened, without repeating the category: ("share", "share-revoked") -> "revoked"."""
    for sep in ("-", "_"):
        if action.startswith(kind + sep) and len(action) > len(kind) + 1:
            action = action[len(kind) + 1:]
            break
    return action.replace("-", " ").replace("_", " ")


def event_label(kind: str, action: str) -> str:
    """The event as people read it: ("share", "share-revoked") -> "Share revoked"."""
    return f"{kind.replace('-', ' ').replace('_', ' ').capitalize()} {verb(kind, action)}"


def present(db_url: str, rows: list[activity.ActivityRow], zone: ZoneInfo,
            group_titles: dict[str, str] | None = None) -> list[dict]:
    """Each row as pages and the API show it; ``group_titles``: display names by group name, which the
    message names groups by too (the record keeps the ids; the Groups console's own lines keep them, as
    they are about the id)."""
    titles = group_titles or {}
    shown = []
    for row in rows:
        data = row.as_json()
        if row.kind != GROUP_KIND:
            data["message"] = activity.name_groups(row.message, titles)
        data["time"] = format_time(row.created, zone)
        data["link"] = safe_link(row.link)
        data["live"] = "running" if row.running else None
        data["verb"] = verb(row.kind, row.action)
        data["event"] = event_label(row.kind, row.action)
        data["group_title"] = titles.get(row.group, row.group) if row.group else None
        shown.append(data)
    return shown


SCOPES = ("mine", "group")


def group_feed(db_url: str, group: str, zone: ZoneInfo, limit: int, before_id: int | None = None,
               errors_only: bool = False, *, viewer: str, scope: str = "mine",
               group_titles: dict[str, str] | None = None) -> list[dict]:
    """The newest activities in one group for the Recent panel: the viewer's own, or with
    ``scope="group"`` (group admins only) also the other members', never their errors; groups named by
    ``group_titles`` (display names by group name)."""
    if scope == "group":
        rows = activity.recent(db_url, group=group, limit=limit, before_id=before_id, errors_only=errors_only,
                               errors_of_only=viewer)
    else:
        rows = activity.recent(db_url, username=viewer, group=group, limit=limit, before_id=before_id,
                               errors_only=errors_only)
    return present(db_url, rows, zone, group_titles)


def parse_paging(limit: str | None, before: str | None, max_limit: int = 200) -> tuple[int | None, int | None, dict]:
    """``limit`` and ``before`` query arguments (ids parsed as every id is); errors name the field."""
    errors, values = {}, []
    for name, text, column, high in (("limit", limit, None, max_limit), ("before", before, Activity.id, None)):
        try:
            values.append(ids.optional_id(text, name, column, high=high))
        except ids.BadId as exc:
            errors.update(exc.errors)
            values.append(None)
    return values[0], values[1], errors
