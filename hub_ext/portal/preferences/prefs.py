"""Preferences: the group put in focus at login, and the time zone times are shown in.

Times are stored in UTC everywhere; ``format_time`` turns them into the user's
local time for pages. The default group is applied by a login hook
(``default_group_hook``) that ``hub_ext.configure`` installs as
``c.Authenticator.post_auth_hook``.
"""

from __future__ import annotations

import inspect
import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import Field
from traitlets import Unicode
from traitlets.config import Configurable

from ... import context
from ...bodies import Strict
from ...store import session_scope
from ...store.models import utcnow
from ...store.models_portal import Preference

log = logging.getLogger("hubfront.preferences")


class PortalPreferences(Configurable):
    default_timezone = Unicode(
        "UTC",
        help="""IANA time zone (e.g. ``Europe/Berlin``) in which times are shown to
        users who have not chosen one in Preferences.""",
    ).tag(config=True)


def default_timezone() -> str:
    from ...settings import Hubfront

    name = PortalPreferences(config=Hubfront.instance().config).default_timezone
    return name if valid_timezone(name) else "UTC"


@lru_cache(maxsize=1)
def timezone_names() -> list[str]:
    return sorted(available_timezones() | {"UTC"})


@lru_cache(maxsize=1)
def _zone_set() -> frozenset[str]:
    return frozenset(timezone_names())


def valid_timezone(name: str) -> bool:
    return isinstance(name, str) and name in _zone_set()


@dataclass(frozen=True)
class Preferences:
    default_group: str | None = None
    timezone: str | None = None

    def as_json(self) -> dict:
        return {"default_group": self.default_group, "timezone": self.timezone}


class PreferencesUpdate(Strict):
    """``PUT /api/portal/me/preferences``: only the fields sent change."""

    default_group: str | None = Field(
        default=None, description="The group put in focus at login: one of yours; empty or null for the last used")
    timezone: str | None = Field(
        default=None, description="IANA time zone such as Europe/Berlin; empty or null for the hub's default")


class PreferenceError(ValueError):
    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


def get(db_url: str, username: str) -> Preferences:
    with session_scope(db_url) as s:
        row = s.get(Preference, username)
        return Preferences(row.default_group, row.timezone) if row else Preferences()


def save(db_url: str, username: str, data: dict, group_names: list[str]) -> Preferences:
    """Change the fields present in ``data``; refuse (changing nothing) on any bad field.

    ``default_group``: one of the user's groups, or empty/None for "the last used".
    ``timezone``: an IANA name, or empty/None for the hub's default.
    """
    current = get(db_url, username)
    errors, values = {}, {"default_group": current.default_group, "timezone": current.timezone}
    unknown = set(data) - set(values)
    for name in sorted(unknown):
        errors[name] = "unknown field"
    if "default_group" in data:
        group = data["default_group"] or None
        if group is not None and (not isinstance(group, str) or group not in group_names):
            errors["default_group"] = "must be one of your groups"
        values["default_group"] = group
    if "timezone" in data:
        zone = data["timezone"] or None
        if zone is not None and not valid_timezone(zone):
            errors["timezone"] = f"unknown time zone {zone!r} (use an IANA name such as Europe/Berlin)"
        values["timezone"] = zone
    if errors:
        raise PreferenceError(errors)
    with session_scope(db_url) as s:
        row = s.get(Preference, username)
        if row is None:
            s.add(Preference(username=username, updated=utcnow(), **values))
        else:
            row.default_group, row.timezone, row.updated = values["default_group"], values["timezone"], utcnow()
    _zones.pop((db_url, username), None)
    return Preferences(**values)


# Every page shows times: each user's zone is kept in memory, forgotten on save.
_zones: dict[tuple[str, str], ZoneInfo] = {}


def user_zone(db_url: str, username: str) -> ZoneInfo:
    zone = _zones.get((db_url, username))
    if zone is None:
        try:
            zone = ZoneInfo(get(db_url, username).timezone or default_timezone())
        except (ZoneInfoNotFoundError, ValueError):
            zone = ZoneInfo("UTC")
        if len(_zones) > 10_000:
            _zones.clear()
        _zones[(db_url, username)] = zone
    return zone


def format_time(dt: datetime | None, zone: ZoneInfo) -> str:
    """``2030-06-01 14:00 CEST``: a stored UTC time in the user's zone."""
    if dt is None:
        return ""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")


def apply_default_group(db_url: str, username: str, group_names: list[str]) -> str | None:
    """Put the preferred group in focus (at login). Returns it, or None if none applies."""
    group = get(db_url, username).default_group
    if group and group in group_names:
        context.set_group(db_url, username, group, group_names)
        return group
    return None


def default_group_hook(previous=None):
    """A ``post_auth_hook`` applying the default group, after ``previous`` (if any)."""

    async def hook(authenticator, handler, authentication):
        if previous is not None:
            authentication = previous(authenticator, handler, authentication)
            if inspect.isawaitable(authentication):
                authentication = await authentication
        if not authentication:
            return authentication
        try:
            from jupyterhub import orm

            from ...settings import Hubfront

            user = orm.User.find(handler.db, authentication["name"])
            if user is not None:
                apply_default_group(Hubfront.instance().db_url, user.name, [g.name for g in user.groups])
        except Exception:  # noqa: BLE001 - a preference must never block a login
            log.exception("Could not apply the default group of %s", authentication.get("name"))
        return authentication

    hook.hubfront_default_group = True
    return hook
