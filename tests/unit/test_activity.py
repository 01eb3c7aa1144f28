"""The append-only activity record behind Recent activities and Logs / Errors."""

import pytest

from hub_ext import activity
from hub_ext.store import session_scope
from hub_ext.store.models import Reservation


def test_recent_is_newest_first_and_filtered(sqlite_url):
    activity.record(sqlite_url, username="ann", group="red", kind="notebook", action="started",
                    message="Notebook started", status="ok", workload_id="ann/red")
    activity.record(sqlite_url, username="bob", group="red", kind="job", action="failed",
                    message="Job train-1 failed", status="error", link="/services/hubfront/jobs/1")
    activity.record(sqlite_url, username="ann", group="blue", kind="notebook", action="refused",
                    message="GPU: used 3 + requested 2 > limit 4 (group blue)", status="error")
    red = activity.recent(sqlite_url, group="red")
    assert [r.message for r in red] == ["Job train-1 failed", "Notebook started"]
    assert red[0].created.tzinfo is not None and red[0].created.utcoffset().total_seconds() == 0
    ann = activity.recent(sqlite_url, username="ann")
    assert [r.group for r in ann] == ["blue", "red"]
    errors = activity.recent(sqlite_url, username="ann", errors_only=True)
    assert [r.action for r in errors] == ["refused"]
    assert red[0].link == "/services/hubfront/jobs/1"


def test_paging_back_with_before_id(sqlite_url):
    for i in range(5):
        activity.record(sqlite_url, username="cy", group="g", kind="job", action="created", message=f"job {i}")
    first = activity.recent(sqlite_url, group="g", limit=2)
    assert [r.message for r in first] == ["job 4", "job 3"]
    older = activity.recent(sqlite_url, group="g", limit=2, before_id=first[-1].id)
    assert [r.message for r in older] == ["job 2", "job 1"]


def test_unknown_status_is_refused(sqlite_url):
    with pytest.raises(ValueError):
        activity.record(sqlite_url, username="d", group=None, kind="job", action="x", message="m", status="bad")
    assert activity.recent(sqlite_url, username="d") == []


def test_record_has_no_update_or_delete_api():
    public = {n for n in dir(activity) if not n.startswith("_")}
    assert not {n for n in public if n.startswith(("update", "delete", "remove", "edit"))}


def test_running_workloads_come_from_the_ledger(sqlite_url):
    def event(action, workload, status="info"):
        activity.record(sqlite_url, username="e", group="g", kind="notebook", action=action, message=action,
                        workload_id=workload, status=status)

    event("started", "e/g")  # an earlier run of e/g ...
    event("stopped", "e/g")  # ... that ended
    event("started", "e/h")  # e/h holds no reservation
    with session_scope(sqlite_url) as s:  # e/g runs again: reserved, then its "started" is recorded
        s.add(Reservation(kind="notebook", workload_id="e/g", username="e", group="g", cpu=1, memory=1,
                          gpu=0, gpu_devices=""))
    event("started", "e/g")
    event("refused", "e/g", status="error")  # a second launch refused while it runs
    rows = activity.recent(sqlite_url, username="e")
    assert [(r.workload_id, r.action, r.running) for r in rows] == [
        ("e/g", "refused", False), ("e/g", "started", True), ("e/h", "started", False),
        ("e/g", "stopped", False), ("e/g", "started", False)]  # only the run that holds it now


def test_group_query_uses_its_index_with_10000_rows(sqlite_url):
    from hub_ext.store import get_engine
    from hub_ext.store.models_portal import Activity
    from hub_ext.store.models import utcnow

    now = utcnow()
    rows = [dict(created=now, username=f"u{i % 50}", group=f"g{i % 20}", kind="job", action="created",
                 status="info", message=f"job {i}") for i in range(10_000)]
    with get_engine(sqlite_url).begin() as conn:
        conn.execute(Activity.__table__.insert(), rows)
    # the home query uses the (group, id) index rather than scanning the table
    with get_engine(sqlite_url).connect() as conn:
        plan = " ".join(str(r) for r in conn.exec_driver_sql(
            'EXPLAIN QUERY PLAN SELECT * FROM activities WHERE "group" = ? ORDER BY id DESC LIMIT 20',
            ("g3",)))
    assert "ix_activities_group_id" in plan and "TEMP B-TREE" not in plan
    assert [r.message for r in activity.recent(sqlite_url, group="g3", limit=2)] == ["job 9983", "job 9963"]


def test_record_and_recent_on_postgresql(pg_url):
    with session_scope(pg_url) as s:
        s.add(Reservation(kind="notebook", workload_id="pg/g", username="pg", group="g", cpu=1, memory=1,
                          gpu=0, gpu_devices=""))
    activity.record(pg_url, username="pg", group="g", kind="notebook", action="started", message="one",
                    workload_id="pg/g")
    activity.record(pg_url, username="pg", group="g", kind="notebook", action="failed", message="two",
                    status="error")
    rows = activity.recent(pg_url, group="g")
    assert [r.message for r in rows] == ["two", "one"] and rows[0].created.tzinfo is not None
    assert [r.message for r in activity.recent(pg_url, username="pg", errors_only=True)] == ["two"]
    assert {r.message: r.running for r in activity.recent(pg_url, group="g")} == {"one": True, "two": False}


def test_messages_name_groups_by_their_display_names_where_they_mention_them():
    titles = {"alpha": "Alpha Lab", "vision": "Computer Vision", "plain": "plain", "bare": ""}
    refusal = "CPU: used 1 + requested 2 > limit 2 (group alpha); GPU: used 0 + requested 1 > limit 0 (user bob in group alpha)"
    assert activity.name_groups(refusal, titles) == (
        "CPU: used 1 + requested 2 > limit 2 (group Alpha Lab); "
        "GPU: used 0 + requested 1 > limit 0 (user bob in group Alpha Lab)")
    assert activity.name_groups("Job 'in alpha' (#3) submitted in alpha", titles) == \
        "Job 'in alpha' (#3) submitted in Alpha Lab"  # a quoted name is someone's choice, kept
    assert activity.name_groups("App 'x' of alpha running; Group vision granted dataset d", titles) == \
        "App 'x' of Alpha Lab running; Group Computer Vision granted dataset d"
    assert activity.name_groups("the group's limit in alpha.", titles) == "the group's limit in Alpha Lab."
    # whole ids only, only where a group is mentioned, and only groups with a display name of their own
    for text in ("in alpha-2 and alpha2", "alpha went in", "in plain and in bare", "Notebook in Alpha Lab"):
        assert activity.name_groups(text, titles) == text
    assert activity.name_groups("", titles) == "" and activity.name_groups("in alpha", {}) == "in alpha"
