"""Firing recurring jobs: the DB side of :mod:`.schedules` (which has the time rules).

For each active schedule the runner asks ``due_runs`` which scheduled times
since the last one handled are due; in one transaction it records each of
them in ``schedule_runs`` (started, skipped or missed) and creates the job of
the one that starts. The unique key on (schedule, scheduled time) makes a
second runner's identical transaction fail as a whole, so a scheduled time
yields at most one job however many runners race.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from ..jobs.records import JobStore
from ..times import utc
from ..jobs import submission
from ..store import session_scope
from ..store.engine import read_scope
from ..store.models import utcnow
from ..store.models_jobs import ACTIVE_PHASES, Job, JobSchedule, ScheduleRun
from ..jobs.schedules import INACTIVE, Schedule, ScheduleError, due_runs, iter_runs, overlap_decision, run_key


class Scheduler:
    def __init__(self, store: JobStore, *, clock=utcnow, grace: timedelta = timedelta(hours=1), catalog=None,
                 log=None):
        self.store = store
        self.db_url = store.db_url
        self.clock = clock
        self.grace = grace
        self.catalog = catalog
        self.log = log

    def fire_due(self, groups) -> list[int]:
        """Handle every due scheduled time; return the ids of the jobs started."""
        with read_scope(self.db_url) as s:
            schedules = list(s.scalars(select(JobSchedule).where(JobSchedule.recurrence != INACTIVE)))
        started = []
        for row in schedules:
            job_id = self.fire(row, groups)
            if job_id is not None:
                started.append(job_id)
        return started

    def next_due(self) -> datetime | None:
        """The earliest scheduled time still to come, over every active schedule (the runner wakes then)."""
        now = self.clock()
        with read_scope(self.db_url) as s:
            schedules = list(s.scalars(select(JobSchedule).where(JobSchedule.recurrence != INACTIVE)))
        soonest = None
        for row in schedules:
            try:
                schedule = Schedule.parse(row.recurrence, row.time_zone, row.overlap)
            except ScheduleError:
                continue
            after = max(filter(None, [now, utc(row.last_scheduled)]))
            upcoming = next(iter_runs(schedule, after), None)
            if upcoming is not None and (soonest is None or upcoming < soonest):
                soonest = upcoming
        return soonest

    def fire(self, row: JobSchedule, groups) -> int | None:
        try:
            schedule = Schedule.parse(row.recurrence, row.time_zone, row.overlap)
        except ScheduleError as exc:
            if self.log:
                self.log.warning("Schedule %s: %s", row.id, exc)
            return None
        now = self.clock()
        since = utc(row.last_scheduled) or utc(row.updated) or utc(row.created)
        due = due_runs(schedule, since, now, self.grace)
        if due.last is None:
            return None
        job_id = None
        self._events = []
        try:
            with session_scope(self.db_url) as s:
                current = s.get(JobSchedule, row.id, with_for_update=True)
                if current is None or utc(current.last_scheduled) != utc(row.last_scheduled):
                    return None  # deleted, or another runner has just handled these times
                for at in due.missed:
                    s.add(ScheduleRun(schedule_id=row.id, scheduled=run_key(row.id, at)[1], outcome="missed",
                                      reason="The runner was not running at this time"))
                for at in due.fire:
                    outcome, reason, job_id = self._start(s, row, schedule, at, groups)
                    s.add(ScheduleRun(schedule_id=row.id, scheduled=run_key(row.id, at)[1], outcome=outcome,
                                      job_id=job_id, reason=reason))
                current.last_scheduled = run_key(row.id, due.last)[1]
                s.flush()
        except IntegrityError:
            return None  # another runner recorded the same scheduled time first: nothing twice
        # recorded after the commit: the transaction above holds SQLite's write lock
        if due.missed:
            self.store.record_schedule(row, "missed", "error",
                                       f"Recurring job {row.name!r} missed {len(due.missed)} run(s) "
                                       f"while the runner was down")
        for event in self._events:
            event()
        return job_id

    def _start(self, s, row: JobSchedule, schedule: Schedule, at: datetime, groups):
        active = s.scalar(select(func.count()).select_from(Job).where(
            Job.schedule_id == row.id, Job.phase.in_(ACTIVE_PHASES)))
        decision = overlap_decision(schedule, active or 0)
        if not decision.start:
            self._events.append(lambda: self.store.record_schedule(
                row, "skipped", "info", f"Recurring job {row.name!r}: {decision.reason}"))
            return "skipped", decision.reason, None
        policy = groups.policies.get(row.group)
        if policy is None or row.username not in groups.members.get(row.group, ()):
            reason = f"Skipped: {row.username} is no longer a member of group {row.group}"
            self._events.append(lambda: self.store.record_schedule(
                row, "skipped", "error", f"Recurring job {row.name!r}: {reason}"))
            return "skipped", reason, None
        try:
            job = submission.submit(self.store, submission.template_of(self.store, row), group=row.group,
                                    username=row.username, policy=policy, catalog=self.catalog, schedule_id=row.id,
                                    scheduled_for=utc(at), session=s, record=False)
        except ValueError as exc:  # RequestError and BodyError (a dataset pick no longer usable) are ValueErrors
            reason = f"Skipped: {exc}"
            self._events.append(lambda: self.store.record_schedule(
                row, "skipped", "error", f"Recurring job {row.name!r}: {reason}"))
            return "skipped", reason, None
        self._events.append(lambda: self.store.record_submitted(job, job.message if job.done else ""))
        return "started", "", job.id
