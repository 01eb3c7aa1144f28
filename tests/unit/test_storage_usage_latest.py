"""A group's storage figure as pages show it (issue 27): the last measurement and its time, never measured
while the caller waits; a stale or invalidated figure is measured again in the background, and kept on show
until then."""

import time

from hub_ext.portal.usage.logic import storage_line
from hub_ext.storage import usage
from hub_ext.storage.tree import group_root

MiB = 1024 * 1024


def _wait_for(fn, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("not measured in time")


def test_latest_measures_in_the_background_and_keeps_the_last_figure_until_the_next(tmp_path, monkeypatch):
    root = group_root(tmp_path, "lat-g")
    root.mkdir(parents=True)
    (root / "a.bin").write_bytes(b"\0" * MiB)
    usage.invalidate("lat-g")
    assert usage.latest(tmp_path, "lat-g") is None  # never measured: nothing to show yet, one measurement starts
    used, at = _wait_for(lambda: usage.latest(tmp_path, "lat-g"))
    assert used == MiB and abs(time.time() - at) < 10
    # a write invalidates it: the last figure stays on show while the next is measured behind
    (root / "b.bin").write_bytes(b"\0" * MiB)
    usage.invalidate("lat-g")
    assert usage.latest(tmp_path, "lat-g") == (MiB, at)
    assert _wait_for(lambda: (usage.latest(tmp_path, "lat-g") or (0,))[0] == 2 * MiB)
    # fresh (within TTL): no measurement at all
    calls = []
    monkeypatch.setattr(usage, "measure", lambda *roots: calls.append(roots) or 0)
    assert usage.latest(tmp_path, "lat-g")[0] == 2 * MiB
    time.sleep(0.1)
    assert calls == []


def test_measured_says_when_and_used_is_unchanged(tmp_path):
    root = group_root(tmp_path, "lat-h")
    root.mkdir(parents=True)
    (root / "c.bin").write_bytes(b"\0" * 3)
    usage.invalidate("lat-h")
    before = time.time()
    used, at = usage.measured(tmp_path, "lat-h")
    assert used == 3 and before <= at <= time.time()
    assert usage.used(tmp_path, "lat-h") == 3 and usage.measured(tmp_path, "lat-h") == (3, at)  # cached, same time


def test_the_storage_line_says_how_old_its_figure_is():
    now = 1_800_000_000.0
    line = storage_line(6 * MiB, 10 * MiB, now - 2, now=now)
    assert (line["used_text"], line["limit_text"], line["percent"]) == ("6 MiB", "10 MiB", 60)
    assert line["age_text"] == "measured just now" and line["measured_at"] == "2027-01-15T07:59:58+00:00"
    assert storage_line(6 * MiB, None, now - 130, now=now)["age_text"] == "measured 2 min 10 s ago"
    assert storage_line(6 * MiB, None, now - 7200, now=now)["age_text"] == "measured 2 h ago"
    waiting = storage_line(None, 10 * MiB)
    assert waiting["used_text"] == "being measured" and waiting["percent"] is None and waiting["limit_text"] == "10 MiB"
