"""The queue's rule on the real ledger (SQLite): per-group FIFO, user quota blocks only its user,
the group quota lets smaller jobs backfill until the oldest has waited ``barrier_after``."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

from cryptography.fernet import Fernet
from sqlalchemy import update

from hub_ext.jobs import logs as job_logs
from hub_ext.jobs.records import JobStore
from hub_ext.jobs.requests import JobTemplate, resolve
from hub_ext.ledger import Ledger
from hub_ext.policy import parse_catalog, parse_policy
from hub_ext.services.executors.base import Executor, Handle, Status
from hub_ext.services.hubapi import Groups
from hub_ext.services.runner import Reconciler, Runner
from hub_ext.store import session_scope
from hub_ext.store.engine import read_scope
from hub_ext.store.models_jobs import Job

CATALOG = parse_catalog({"instance_types": [{"name": "one", "cpu": 1, "memory": "1Gi"},
                                            {"name": "three", "cpu": 3, "memory": "1Gi"}],
                         "images": [{"name": "base"}]})
T0 = datetime(2030, 3, 1, 12, 0, tzinfo=timezone.utc)


class Started(Executor):
    """Records starts; every started job keeps running (the queue is what is under test)."""

    name = "recorded"

    def __init__(self):
        self.started = []

    async def start(self, spec):
        self.started.append(spec.job_id)
        return Handle(self.name, str(spec.job_id))

    async def status(self, handle):
        return Status("Running")

    async def logs(self, handle, offset=0):
        return b"", offset

    async def stop(self, handle, grace=10.0):
        pass

    async def adopt(self, handle):
        return True


class Hub:
    def __init__(self, groups):
        self._groups = groups

    async def groups(self):
        return self._groups


def rig(sqlite_url, policy, members=("ann", "ben")):
    policy = parse_policy(policy)
    store = JobStore(sqlite_url, Fernet.generate_key())
    clock = [T0]
    executor = Started()
    reconciler = Reconciler(settings=Runner(barrier_after=300), store=store, executor=executor,
                            hub=Hub(Groups({"lab": policy}, {"lab": frozenset(members)})),
                            ledger=Ledger(sqlite_url), catalog=CATALOG, clock=lambda: clock[0])

    def submit(user, instance_type):
        job = resolve(JobTemplate(name=f"{user}-{instance_type}", command="true", instance_type=instance_type),
                      policy, CATALOG, "lab")
        row = store.submit(group="lab", username=user, job=job)
        with session_scope(sqlite_url) as s:
            s.execute(update(Job).where(Job.id == row.id).values(created=clock[0]))
        return row.id

    async def reconcile():
        await reconciler.reconcile()
        await asyncio.gather(*list(reconciler._starting.values()))

    return store, executor, submit, reconcile, clock


def phase(url, job_id):
    with read_scope(url) as s:
        job = s.get(Job, job_id)
        return job.phase, job.message


async def test_a_user_over_their_quota_does_not_hold_back_others(sqlite_url):
    store, executor, submit, reconcile, _ = rig(sqlite_url, {"user_quota": {"cpu": 1}})
    a1, a2, b1 = submit("ann", "one"), submit("ann", "one"), submit("ben", "one")
    await reconcile()
    assert executor.started == [a1, b1]
    assert phase(sqlite_url, a2) == ("Pending", "CPU: used 1 + requested 1 > limit 1 (user ann in group lab)")
    assert store.queue_positions("lab") == {a2: 1}


async def test_backfill_then_a_barrier_for_the_oldest_job(sqlite_url):
    store, executor, submit, reconcile, clock = rig(sqlite_url, {"quota": {"cpu": 4}})
    first = submit("ann", "three")
    await reconcile()
    big = submit("ben", "three")  # does not fit next to the first (3 + 3 > 4)
    small = submit("ann", "one")  # fits: backfills while the big one waits
    await reconcile()
    assert executor.started == [first, small]
    assert phase(sqlite_url, big) == ("Pending", "CPU: used 3 + requested 3 > limit 4 (group lab)")
    # the small one ends; after barrier_after, no later job may pass the big one any more
    await asyncio.to_thread(Ledger(sqlite_url).release, "job", str(small))
    with session_scope(sqlite_url) as s:
        s.execute(update(Job).where(Job.id == small).values(phase="Succeeded"))
    clock[0] = T0 + timedelta(seconds=301)
    late = submit("ann", "one")
    await reconcile()
    assert executor.started == [first, small]  # 1 CPU is free, but the big job is first in line
    assert phase(sqlite_url, late) == (
        "Pending", f"Waiting behind job #{big}, which has waited longest for the group's quota and starts first")


async def test_a_member_who_left_the_group_fails_with_the_reason(sqlite_url):
    store, executor, submit, reconcile, _ = rig(sqlite_url, {}, members=("ann",))
    job = submit("ben", "one")
    await reconcile()
    assert executor.started == []
    with read_scope(sqlite_url) as s:
        row = s.get(Job, job)
    assert (row.phase, row.reason, row.message) == ("Failed", "Error", "ben is no longer a member of group lab")


def test_a_log_over_its_cap_keeps_the_latest_output(sqlite_url):
    store, *_ = rig(sqlite_url, {})
    job = resolve(JobTemplate(name="chatty", command="true"), parse_policy({}), CATALOG, "lab")
    job_id = store.submit(group="lab", username="ann", job=job).id
    offset = 0
    for i in range(40):
        data = f"{i:04d} ".encode() * 200  # 1000 bytes a write
        with session_scope(sqlite_url) as s:
            job_logs.append(s, job_id, offset, data, cap=10_000)
        offset += len(data)
    piece = job_logs.read(sqlite_url, job_id, 0)
    assert piece.next == offset == 40_000
    assert 7_500 <= len(piece.data) <= 10_000 and piece.data.endswith(b"0039 ")
    assert piece.dropped == piece.start and piece.start > 0
    assert job_logs.read(sqlite_url, job_id, 39_500).data == b"0039 " * 100  # from any offset still kept
