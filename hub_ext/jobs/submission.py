"""Submitting a job, the one way: from a template (a form, the API, a schedule's run, a re-run) to a
Pending job. The same checks whichever way it comes: the dataset picks the group may use, the
instance type and image its policy allows, and whether it could ever fit the quotas."""

from __future__ import annotations

from ..datasets.picks import check_picks
from ..store.models_jobs import Job
from .records import JobStore
from .requests import JobTemplate, Resolved, never_fits, resolve


def template_of(store: JobStore, row) -> JobTemplate:
    """The template a stored job or schedule was made from (its variables opened), to run it again."""
    return JobTemplate(name=row.name, command=row.command, image=row.image, instance_type=row.instance_type,
                       resource_group=row.resource_group or None, env=store.open_env(row.env_encrypted), timeout=row.timeout, datasets=row.dataset_picks)


def resolved(db_url: str, template: JobTemplate, policy, catalog, group: str) -> Resolved:
    """The template checked against the group (its datasets, its policy); ``BodyError`` naming the field."""
    check_picks(db_url, group, template.datasets)
    return resolve(template, policy, catalog, group)


def submit(store: JobStore, template: JobTemplate, *, group: str, username: str, policy, catalog,
           **origin) -> Job:
    """Check ``template`` (:func:`resolved`) and store it as ``username``'s Pending job in ``group``; ``origin``:
    what :meth:`JobStore.submit` takes besides (``rerun_of``, ``schedule_id``, ``session``, …)."""
    job = resolved(store.db_url, template, policy, catalog, group)
    never = never_fits(job.request, group, username, policy.quota, policy.user_quota)
    return store.submit(group=group, username=username, job=job, never_fits=never, **origin)
