"""Firing recurring jobs in the portal DB with a controllable clock: once per scheduled time, missed runs."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

from cryptography.fernet import Fernet
from sqlalchemy import select

from hub_ext.datasets.picks import pins_of
from hub_ext.jobs.records import JobStore
from hub_ext.jobs.recurring import ScheduleStore
from hub_ext.jobs.requests import JobTemplate, resolve
from hub_ext.policy import parse_catalog, parse_policy
from hub_ext.services.hubapi import Groups
from hub_ext.services.scheduler import Scheduler
from hub_ext.store import session_scope
from hub_ext.store.engine import read_scope
from hub_ext.store.models_jobs import Job, JobSchedule, ScheduleRun
from hub_ext.store.models_storage import Dataset, DatasetVersion

CATALOG = parse_catalog({"instance_types": [{"name": "small", "cpu": 1, "memory": "1Gi"}],
                         "images": [{"name": "base"}]})
POLICY = parse_policy({})
GROUPS = Groups({"lab": POLICY}, {"lab": frozenset({"alice"})})
T0 = datetime(2030, 3, 1, 12, 0, tzinfo=timezone.utc)


class Clock:
    def __init__(self, now):
        self.now = now

    def __call__(self):
        return self.now


def make(sqlite_url, recurrence="*/10 * * * *", overlap="allow", created=T0, datasets=()):
    store = JobStore(sqlite_url, Fernet.generate_key())
    job = resolve(JobTemplate(name="every ten", command="true", env={"TOKEN": "s3cret"}, datasets=list(datasets)),
                  POLICY, CATALOG, "lab")
    row = ScheduleStore(store).create(group="lab", username="alice", job=job, recurrence=recurrence,
                                      time_zone="Europe/Berlin", overlap=overlap)
    with session_scope(sqlite_url) as s:  # as if created at T0
        s.get(JobSchedule, row.id).created = created
        s.get(JobSchedule, row.id).updated = created
    return store, row.id


def jobs(url):
    with read_scope(url) as s:
        return list(s.scalars(select(Job).order_by(Job.id)))


def runs(url):
    with read_scope(url) as s:
        return [(r.scheduled.replace(tzinfo=timezone.utc), r.outcome) for r in
                s.scalars(select(ScheduleRun).order_by(ScheduleRun.scheduled))]


def test_each_scheduled_time_makes_one_job_on_time(sqlite_url):
    store, _ = make(sqlite_url)
    clock = Clock(T0 + timedelta(minutes=9, seconds=59))
    scheduler = Scheduler(store, clock=clock, catalog=CATALOG)
    assert scheduler.fire_due(GROUPS) == []
    assert scheduler.next_due() == T0 + timedelta(minutes=10)
    clock.now = T0 + timedelta(minutes=10, seconds=0.2)
    assert len(scheduler.fire_due(GROUPS)) == 1
    assert scheduler.fire_due(GROUPS) == []  # the same tick again: nothing twice
    [job] = jobs(sqlite_url)
    assert job.scheduled_for.replace(tzinfo=timezone.utc) == T0 + timedelta(minutes=10)
    assert store.open_env(job.env_encrypted) == {"TOKEN": "s3cret"} and "s3cret" not in job.env_encrypted
    assert runs(sqlite_url) == [(T0 + timedelta(minutes=10), "started")]


def _datasets(url) -> None:
    with session_scope(url) as s:
        s.add_all([Dataset(name="imagenet", group="lab", username="alice", kind="files"),
                   Dataset(name="labels", group="lab", username="alice", kind="files")])
        s.flush()
        s.add(DatasetVersion(dataset="labels", version=3, username="alice"))


def test_scheduled_jobs_keep_the_dataset_picks(sqlite_url):
    _datasets(sqlite_url)
    store, _ = make(sqlite_url, datasets=["imagenet", "labels@v3"])
    Scheduler(store, clock=Clock(T0 + timedelta(minutes=10)), catalog=CATALOG).fire_due(GROUPS)
    [job] = jobs(sqlite_url)
    assert job.dataset_picks == ["imagenet", "labels@v3"]
    assert store.open_env(job.env_encrypted) == {"TOKEN": "s3cret"}  # the picks are not in the environment
    assert pins_of(job.dataset_picks) == {"labels": 3}  # what the runner hands the executor


def test_a_run_whose_dataset_is_gone_is_skipped_with_the_reason(sqlite_url):
    _datasets(sqlite_url)
    store, _ = make(sqlite_url, datasets=["imagenet", "labels@v3"])
    with session_scope(sqlite_url) as s:  # the group's admin deleted the dataset since
        s.delete(s.get(Dataset, "imagenet"))
    Scheduler(store, clock=Clock(T0 + timedelta(minutes=10)), catalog=CATALOG).fire_due(GROUPS)
    assert jobs(sqlite_url) == [] and runs(sqlite_url) == [(T0 + timedelta(minutes=10), "skipped")]
    with read_scope(sqlite_url) as s:
        reason = s.scalars(select(ScheduleRun)).one().reason
    assert "no dataset imagenet for group lab" in reason, reason


def test_a_run_missed_during_an_outage_starts_once_inside_the_grace(sqlite_url):
    store, _ = make(sqlite_url)
    scheduler = Scheduler(store, clock=Clock(T0 + timedelta(minutes=45)), grace=timedelta(hours=1), catalog=CATALOG)
    scheduler.fire_due(GROUPS)
    scheduler.fire_due(GROUPS)
    assert len(jobs(sqlite_url)) == 1  # only the latest (12:40) starts; 12:10, 12:20, 12:30 were missed
    assert runs(sqlite_url) == [(T0 + timedelta(minutes=m), o) for m, o in
                                ((10, "missed"), (20, "missed"), (30, "missed"), (40, "started"))]


def test_a_run_missed_beyond_the_grace_is_recorded_as_missed(sqlite_url):
    store, _ = make(sqlite_url, recurrence="0 14 * * *", created=T0)  # 14:00 in Berlin is 13:00 UTC
    scheduler = Scheduler(store, clock=Clock(T0 + timedelta(hours=3)), grace=timedelta(hours=1), catalog=CATALOG)
    scheduler.fire_due(GROUPS)
    assert jobs(sqlite_url) == []
    assert runs(sqlite_url) == [(T0 + timedelta(hours=1), "missed")]


def test_skip_overlap_records_the_skipped_run(sqlite_url):
    store, _ = make(sqlite_url, overlap="skip")
    clock = Clock(T0 + timedelta(minutes=10))
    scheduler = Scheduler(store, clock=clock, catalog=CATALOG)
    scheduler.fire_due(GROUPS)
    clock.now = T0 + timedelta(minutes=20)
    scheduler.fire_due(GROUPS)  # the first job is still Pending: this run is skipped
    assert len(jobs(sqlite_url)) == 1
    assert runs(sqlite_url)[-1] == (T0 + timedelta(minutes=20), "skipped")


def test_two_runners_racing_on_one_schedule_make_one_job(sqlite_url):
    store, _ = make(sqlite_url)
    clock = Clock(T0 + timedelta(minutes=10))
    barrier = threading.Barrier(4)
    made = []

    def runner():
        scheduler = Scheduler(JobStore(sqlite_url, store.key), clock=clock, catalog=CATALOG)
        barrier.wait()
        made.extend(scheduler.fire_due(GROUPS))

    threads = [threading.Thread(target=runner) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(made) == 1 and len(jobs(sqlite_url)) == 1
    assert runs(sqlite_url) == [(T0 + timedelta(minutes=10), "started")]


def test_a_member_who_left_gets_no_job(sqlite_url):
    store, _ = make(sqlite_url)
    scheduler = Scheduler(store, clock=Clock(T0 + timedelta(minutes=10)), catalog=CATALOG)
    scheduler.fire_due(Groups({"lab": POLICY}, {"lab": frozenset()}))
    assert jobs(sqlite_url) == [] and runs(sqlite_url) == [(T0 + timedelta(minutes=10), "skipped")]
