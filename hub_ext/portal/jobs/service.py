"""The hub's side of jobs: the stores of jobs and schedules (their secrets sealed with the hub's key)."""

from __future__ import annotations

from ...jobs.records import JobStore
from ...jobs.recurring import ScheduleStore
from ...keys import hub_key


def job_store(handler) -> JobStore:
    hubfront = handler.hubfront
    return JobStore(hubfront.db_url, hub_key(hubfront.data_dir, handler.authenticator), handler.hub.base_url)


def schedule_store(handler) -> ScheduleStore:
    return ScheduleStore(job_store(handler))
