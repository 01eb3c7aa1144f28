"""Announcements: what admins tell users, shown on home and as a banner on every page.

The body is Markdown, rendered by the portal's one safe renderer
(:mod:`hub_ext.portal.common.markdown`), so nothing in a body can run in a reader's browser.
Every edit bumps ``version``; a user's dismissal remembers the version it hid,
so an edited announcement shows again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from pydantic import Field
from sqlalchemy import delete, select

from ... import activity
from ...bodies import Strict
from ...store import changes, get_engine, session_scope
from ...store.models import utcnow
from ...store.models_portal import Announcement, AnnouncementDismissal
from ...times import utc
from ..common.markdown import render_markdown

SEVERITIES = {"info": "info", "warning": "warning", "critical": "danger"}  # -> bootstrap alert level
_WHEN = "An ISO date and time, e.g. 2030-06-01T09:00 (without an offset: in your time zone); empty or null for none"


class AnnouncementUpdate(Strict):
    """``PUT /api/portal/announcements/{id}``: only the fields sent change."""

    title: str = Field(default=None, description="1 to 200 characters")
    body: str = Field(default=None, description="Markdown, at most 20000 characters")
    severity: Literal["info", "warning", "critical"] = Field(default=None, description="How the banner looks")
    audience: Literal["all", ""] | Annotated[list[str], Field(min_length=1)] | None = Field(
        default=None, description='"all" (also empty or null), or the names of the groups that see it')
    starts: str | None = Field(default=None, description=_WHEN)
    expires: str | None = Field(default=None, description=_WHEN + "; after starts")
    published: bool = Field(default=None, description="Shown to its audience (between starts and expires)")


class AnnouncementCreate(AnnouncementUpdate):
    """``POST /api/portal/announcements``: a new announcement (a title at least)."""

    title: str = Field(description="1 to 200 characters")


class AnnouncementError(ValueError):
    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


class NoSuchAnnouncement(LookupError):
    pass


@dataclass(frozen=True)
class AnnouncementView:
    id: int
    title: str
    body: str
    html: str
    severity: str
    audience: str | list[str]  # "all" or group names
    starts: datetime | None
    expires: datetime | None
    published: bool
    version: int
    author: str
    updated: datetime

    @property
    def level(self) -> str:
        return SEVERITIES.get(self.severity, "info")

    def current(self, now: datetime) -> bool:
        return self.published and (self.starts is None or self.starts <= now) and (
            self.expires is None or now < self.expires)

    def as_json(self) -> dict:
        return {"id": self.id, "title": self.title, "body": self.body, "html": self.html,
                "severity": self.severity, "audience": self.audience,
                "starts": self.starts.isoformat() if self.starts else None,
                "expires": self.expires.isoformat() if self.expires else None,
                "published": self.published, "version": self.version, "author": self.author,
                "updated": self.updated.isoformat()}




def _view(a: Announcement) -> AnnouncementView:
    return AnnouncementView(a.id, a.title, a.body, render_markdown(a.body), a.severity,
                            a.groups or "all", utc(a.starts), utc(a.expires), a.published, a.version,
                            a.author, utc(a.updated))


def _when(value, zone: ZoneInfo) -> datetime | None:
    """An ISO datetime (a naive one is in the user's zone) or empty for none."""
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise ValueError
    dt = datetime.fromisoformat(value.strip())
    return (dt.replace(tzinfo=zone) if dt.tzinfo is None else dt).astimezone(timezone.utc)


def validate(data: dict, known_groups: list[str], zone: ZoneInfo, before: Announcement | None = None) -> dict:
    """Checked column values for the fields given; raises AnnouncementError naming each bad field."""
    errors, out = {}, {}
    unknown = set(data) - {"title", "body", "severity", "audience", "starts", "expires", "published"}
    for name in sorted(unknown):
        errors[name] = "unknown field"
    if "title" in data or before is None:
        title = data.get("title")
        if not isinstance(title, str) or not title.strip():
            errors["title"] = "required"
        elif len(title.strip()) > 200:
            errors["title"] = "at most 200 characters"
        else:
            out["title"] = title.strip()
    if "body" in data:
        if not isinstance(data["body"], str) or len(data["body"]) > 20_000:
            errors["body"] = "Markdown text of at most 20000 characters"
        else:
            out["body"] = data["body"]
    if "severity" in data:
        if not isinstance(data["severity"], str) or data["severity"] not in SEVERITIES:
            errors["severity"] = "one of info, warning, critical"
        else:
            out["severity"] = data["severity"]
    if "audience" in data:
        audience = data["audience"]
        if audience in ("all", None, ""):
            out["audience_groups"] = ""
        elif isinstance(audience, list) and audience and all(isinstance(g, str) for g in audience):
            missing = sorted(set(audience) - set(known_groups))
            if missing:
                errors["audience"] = f"no such group: {', '.join(missing)}"
            else:
                out["audience_groups"] = ",".join(sorted(set(audience)))
        else:
            errors["audience"] = '"all" or a non-empty list of group names'
    for name in ("starts", "expires"):
        if name in data:
            try:
                out[name] = _when(data[name], zone)
            except (ValueError, OverflowError):  # OverflowError: year 1 or 9999 moved out of range by the zone
                errors[name] = "an ISO date and time, e.g. 2030-06-01T09:00"
    if "published" in data:
        if not isinstance(data["published"], bool):
            errors["published"] = "true or false"
        else:
            out["published"] = data["published"]
    starts = out.get("starts", utc(before.starts) if before else None)
    expires = out.get("expires", utc(before.expires) if before else None)
    if starts and expires and expires <= starts and "starts" not in errors and "expires" not in errors:
        errors["expires"] = "must be after the start"
    if errors:
        raise AnnouncementError(errors)
    return out


def _record_published(db_url, a: Announcement, known_groups: list[str], link: str | None) -> None:
    for group in a.groups or known_groups:
        activity.record(db_url, username=a.author, group=group, kind="announcement", action="published",
                        message=f"Announcement: {a.title}", status="info", link=link)


def create(db_url, data: dict, author: str, known_groups: list[str], zone: ZoneInfo,
           link: str | None = None) -> AnnouncementView:
    values = validate(data, known_groups, zone)
    now = utcnow()
    with session_scope(db_url) as s:
        a = Announcement(title=values["title"], body=values.get("body", ""),
                         severity=values.get("severity", "info"),
                         audience_groups=values.get("audience_groups", ""), starts=values.get("starts"),
                         expires=values.get("expires"), published=values.get("published", False),
                         version=1, author=author, created=now, updated=now)
        s.add(a)
        s.flush()
        view = _view(a)
    _forget(db_url)
    if view.published:
        _record_published(db_url, a, known_groups, link)
    return view


def update(db_url, announcement_id: int, data: dict, known_groups: list[str], zone: ZoneInfo,
           link: str | None = None) -> AnnouncementView:
    """Change the given fields; any change other than publishing bumps the version."""
    with session_scope(db_url) as s:
        a = s.get(Announcement, announcement_id)
        if a is None:
            raise NoSuchAnnouncement(announcement_id)
        values = validate(data, known_groups, zone, before=a)
        was_published = a.published
        edited = False
        for name, value in values.items():
            old = utc(getattr(a, name)) if name in ("starts", "expires") else getattr(a, name)
            if old != value:
                setattr(a, name, value)
                edited = edited or name != "published"
        if edited:
            a.version += 1
        if edited or a.published != was_published:
            a.updated = utcnow()
        view = _view(a)
    _forget(db_url)
    if view.published and not was_published:
        _record_published(db_url, a, known_groups, link)
    return view


def remove(db_url, announcement_id: int) -> None:
    with session_scope(db_url) as s:
        a = s.get(Announcement, announcement_id)
        if a is None:
            raise NoSuchAnnouncement(announcement_id)
        s.delete(a)
        s.execute(delete(AnnouncementDismissal).where(AnnouncementDismissal.announcement_id == announcement_id))
    _forget(db_url)


def get(db_url, announcement_id: int) -> AnnouncementView:
    with session_scope(db_url) as s:
        a = s.get(Announcement, announcement_id)
        if a is None:
            raise NoSuchAnnouncement(announcement_id)
        return _view(a)


def all_announcements(db_url) -> list[AnnouncementView]:
    with session_scope(db_url) as s:
        return [_view(a) for a in s.scalars(select(Announcement).order_by(Announcement.id.desc()))]


# Every page shows banners, so the published announcements and each user's
# dismissals are kept in memory; this process is the only writer, and every
# write below forgets what it changed. PUBLISHED_TTL bounds staleness anyway.
PUBLISHED_TTL = 30.0
_published: dict[str, tuple[float, list[AnnouncementView]]] = {}
_dismissed: dict[tuple[str, str], dict[int, int]] = {}


def _forget(db_url: str, username: str | None = None) -> None:
    if username is None:
        _published.pop(db_url, None)
        for key in [k for k in _dismissed if k[0] == db_url]:
            _dismissed.pop(key, None)
    else:
        _dismissed.pop((db_url, username), None)


def published(db_url) -> list[AnnouncementView]:
    """Every published announcement, newest first, whatever its time window."""
    changes.note_reads([Announcement.__tablename__])  # kept here: a page part built from it still depends on it
    cached = _published.get(db_url)
    if cached and time.monotonic() - cached[0] < PUBLISHED_TTL:
        return cached[1]
    with session_scope(db_url) as s:
        views = [_view(a) for a in s.scalars(select(Announcement).where(Announcement.published.is_(True))
                                             .order_by(Announcement.id.desc()))]
    _published[db_url] = (time.monotonic(), views)
    return views


def visible_for(db_url, group_names: list[str], now: datetime | None = None) -> list[AnnouncementView]:
    """Published, current announcements for everyone or for one of these groups, newest first."""
    now, names = now or utcnow(), set(group_names)
    return [v for v in published(db_url)
            if v.current(now) and (v.audience == "all" or names.intersection(v.audience))]


def dismissed_versions(db_url, username: str) -> dict[int, int]:
    changes.note_reads([AnnouncementDismissal.__tablename__])
    found = _dismissed.get((db_url, username))
    if found is None:
        t = AnnouncementDismissal.__table__
        with get_engine(db_url).connect() as conn:
            rows = conn.execute(select(t.c.announcement_id, t.c.version).where(t.c.username == username))
            found = {aid: version for aid, version in rows}
        if len(_dismissed) > 10_000:
            _dismissed.clear()
        _dismissed[(db_url, username)] = found
    return found


def banners_for(db_url, username: str, group_names: list[str], now: datetime | None = None):
    """The announcements to show as banners: visible and not dismissed at their current version."""
    hidden = dismissed_versions(db_url, username)
    return [v for v in visible_for(db_url, group_names, now) if hidden.get(v.id, 0) < v.version]


def dismiss(db_url, username: str, announcement_id: int, group_names: list[str]) -> None:
    """Hide the banner for this user, until the announcement is edited."""
    shown = {v.id: v for v in visible_for(db_url, group_names)}
    if announcement_id not in shown:
        raise NoSuchAnnouncement(announcement_id)
    version = shown[announcement_id].version
    with session_scope(db_url) as s:
        row = s.get(AnnouncementDismissal, (username, announcement_id))
        if row is None:
            s.add(AnnouncementDismissal(username=username, announcement_id=announcement_id, version=version,
                                        dismissed=utcnow()))
        else:
            row.version, row.dismissed = version, utcnow()
    _forget(db_url, username)
