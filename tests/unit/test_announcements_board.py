"""Announcements logic: sanitising, audience, time window, dismissal and re-show on edit."""

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from hub_ext import activity
from hub_ext.portal.announcements import board
from hub_ext.portal.common.markdown import render_markdown
from support import html_elements

UTC = ZoneInfo("UTC")
GROUPS = ["red", "blue", "green"]


def make(url, **data):
    base = {"title": "Maintenance", "body": "Down on *Sunday*", "published": True}
    base.update(data)
    return board.create(url, base, "admin", GROUPS, UTC)


@pytest.mark.parametrize("body", [
    "<script>alert('x')</script>",
    "<img src=x onerror=alert(1)>",
    "[click](javascript:alert(1))",
    '<a href="javascript:alert(1)">click</a>',
    "<iframe src='https://evil.example'></iframe>",
    '<div onclick="alert(1)">x</div>',
    "[x](JaVaScRiPt:alert(1))",
    "<svg><script>alert(1)</script></svg>",
])
def test_markdown_never_yields_markup_that_runs(body):
    elements = html_elements(render_markdown(body))
    assert {tag for tag, _ in elements} <= {"p", "a"}
    for tag, attrs in elements:
        assert not [name for name in attrs if name.startswith("on")]
        assert not attrs.get("href", "").lower().startswith("javascript")


def test_markdown_keeps_formatting_and_safe_links():
    html = render_markdown("**Bold** and [docs](https://example.org/guide)")
    assert "<strong>Bold</strong>" in html
    assert 'href="https://example.org/guide"' in html and "noopener" in html


def test_audience_filtering(sqlite_url):
    make(sqlite_url, title="For red", audience=["red"])
    make(sqlite_url, title="For everyone", audience="all")
    assert [v.title for v in board.visible_for(sqlite_url, ["blue"])] == ["For everyone"]
    assert [v.title for v in board.visible_for(sqlite_url, ["red"])] == ["For everyone", "For red"]
    assert [v.title for v in board.visible_for(sqlite_url, [])] == ["For everyone"]


def test_drafts_and_time_window(sqlite_url):
    now = datetime(2030, 6, 1, 12, tzinfo=timezone.utc)
    make(sqlite_url, title="Draft", published=False)
    make(sqlite_url, title="Later", starts="2030-06-02T00:00:00+00:00")
    make(sqlite_url, title="Over", expires="2030-06-01T11:00:00+00:00")
    make(sqlite_url, title="Now", starts="2030-06-01T11:00:00+00:00", expires="2030-06-01T13:00:00+00:00")
    assert [v.title for v in board.visible_for(sqlite_url, GROUPS, now)] == ["Now"]


def test_naive_times_are_in_the_authors_zone(sqlite_url):
    v = board.create(sqlite_url, {"title": "t", "starts": "2030-06-01T09:00"}, "admin", GROUPS,
                     ZoneInfo("Europe/Berlin"))
    assert v.starts == datetime(2030, 6, 1, 7, tzinfo=timezone.utc)


def test_dismiss_hides_until_edited(sqlite_url):
    a = make(sqlite_url, audience=["red"])
    assert [v.id for v in board.banners_for(sqlite_url, "ann", ["red"])] == [a.id]
    board.dismiss(sqlite_url, "ann", a.id, ["red"])
    assert board.banners_for(sqlite_url, "ann", ["red"]) == []
    assert [v.id for v in board.banners_for(sqlite_url, "bob", ["red"])] == [a.id]  # per user
    # publishing state alone is not an edit
    board.update(sqlite_url, a.id, {"published": True}, GROUPS, UTC)
    assert board.banners_for(sqlite_url, "ann", ["red"]) == []
    edited = board.update(sqlite_url, a.id, {"body": "Now on *Monday*"}, GROUPS, UTC)
    assert edited.version == a.version + 1
    assert [v.id for v in board.banners_for(sqlite_url, "ann", ["red"])] == [a.id]


def test_cannot_dismiss_what_one_cannot_see(sqlite_url):
    a = make(sqlite_url, audience=["red"])
    with pytest.raises(board.NoSuchAnnouncement):
        board.dismiss(sqlite_url, "eve", a.id, ["blue"])


@pytest.mark.parametrize("data, field", [
    ({"title": ""}, "title"),
    ({"title": "x" * 201}, "title"),
    ({"title": "t", "severity": "panic"}, "severity"),
    ({"title": "t", "audience": ["nope"]}, "audience"),
    ({"title": "t", "audience": []}, "audience"),
    ({"title": "t", "starts": "tomorrow"}, "starts"),
    ({"title": "t", "starts": "2030-01-02T00:00", "expires": "2030-01-01T00:00"}, "expires"),
    ({"title": "t", "published": "yes"}, "published"),
    ({"title": "t", "colour": "red"}, "colour"),
])
def test_bad_fields_are_named(sqlite_url, data, field):
    with pytest.raises(board.AnnouncementError) as info:
        board.create(sqlite_url, data, "admin", GROUPS, UTC)
    assert field in info.value.errors
    assert board.all_announcements(sqlite_url) == []


def test_publishing_records_an_activity_for_the_audience(sqlite_url):
    a = make(sqlite_url, title="Quota change", audience=["red"], published=False)
    assert activity.recent(sqlite_url, group="red") == []
    board.update(sqlite_url, a.id, {"published": True}, GROUPS, UTC, link="/hub/portal/announcements")
    rows = activity.recent(sqlite_url, group="red")
    assert [(r.kind, r.action, r.message) for r in rows] == [("announcement", "published", "Announcement: Quota change")]
    assert activity.recent(sqlite_url, group="blue") == []


def test_delete(sqlite_url):
    a = make(sqlite_url)
    board.dismiss(sqlite_url, "ann", a.id, GROUPS)
    board.remove(sqlite_url, a.id)
    assert board.visible_for(sqlite_url, GROUPS) == []
    with pytest.raises(board.NoSuchAnnouncement):
        board.remove(sqlite_url, a.id)
