"""Workloads as the ledger knows them: how each kind writes its id, and the one rule that says whether
the workload behind a reservation still runs (so its reservation stays).

Every reconcile uses :class:`Liveness`: the hub at start (notebooks), the runner at start (jobs,
deployment replicas, apps) and Maintenance's "recompute quota use" (all kinds at once), so they
cannot disagree. Image builds reserve nothing, so they have no reservation to judge.

The rule, per kind:

- ``notebook`` (``<user>/<server>``): the hub runs the server or is starting it. Only the hub
  knows, so a caller without the hub's list (the runner) leaves notebooks alone.
- ``job`` (``<job id>``): Pending, Preparing or Running. A Pending job holds a reservation made a
  moment before it turns Preparing (a runner restarted in between admits it again and gets the
  same reservation back: admission is idempotent per workload).
- ``deployment`` (``<deployment id>@<revision>#<replica>``) and ``app`` (``<app id>@<revision>``):
  the row exists, is not stopped *and done stopping* (replicas may still run while it stops), and
  the revision is the one serving or the one being rolled out.
"""

from __future__ import annotations

from sqlalchemy import select

from ..store.engine import read_scope
from ..store.models_apps import App
from ..store.models_deployments import Deployment
from ..store.models_jobs import Job

NOTEBOOK, JOB, DEPLOYMENT, APP = "notebook", "job", "deployment", "app"
JOB_HOLDING = ("Pending", "Preparing", "Running")  # the phases in which a job holds its reservation


# -- ids ---------------------------------------------------------------------------------------

def notebook_id(username: str, server: str) -> str:
    return f"{username}/{server}"


def job_id(job: int) -> str:
    return str(job)


def replica_id(deployment_id: str, revision: int, index: int) -> str:
    return f"{deployment_id}@{revision}#{index}"


def app_id(app: int, revision: int) -> str:
    """Unique among apps, and never a deployment's (whose ids are not numbers)."""
    return f"{app}@{revision}"


def revision_of(workload_id: str) -> tuple[str, int]:
    """(deployment or app id, revision) of a replica's or an app's workload id; ValueError if it is neither."""
    name, _, rest = workload_id.partition("@")
    return name, int(rest.partition("#")[0] or 0)


# -- liveness -----------------------------------------------------------------------------------

class Liveness:
    """``alive(reservation)`` for :meth:`hub_ext.ledger.Ledger.reconcile`.

    ``running_notebooks``: ``<user>/<server>`` of every server the hub runs or is starting; None
    when the caller is not the hub (notebooks are then kept, not judged).
    """

    def __init__(self, db_url: str, running_notebooks: set[str] | None = None):
        self.db_url = db_url
        self.running_notebooks = running_notebooks

    def __call__(self, reservation) -> bool:
        kind, workload_id = reservation.kind, reservation.workload_id
        if kind == NOTEBOOK:
            return self.running_notebooks is None or workload_id in self.running_notebooks
        if kind == JOB:
            return self.job(workload_id)
        if kind in (DEPLOYMENT, APP):
            return self.revision(kind, workload_id)
        return True  # a kind this version does not know: not judged

    def job(self, workload_id: str) -> bool:
        if not workload_id.isdigit():
            return False
        with read_scope(self.db_url) as s:
            return s.scalar(select(Job.phase).where(Job.id == int(workload_id))) in JOB_HOLDING

    def revision(self, kind: str, workload_id: str) -> bool:
        try:
            owner, revision = revision_of(workload_id)
        except ValueError:
            return False
        with read_scope(self.db_url) as s:
            if kind == DEPLOYMENT:
                row = s.get(Deployment, owner)
                revisions = (row.serving_revision, row.revision) if row is not None else ()
            else:
                row = s.get(App, int(owner)) if owner.isdigit() else None
                revisions = (row.running_revision, row.revision) if row is not None else ()
        if row is None or (row.stopped and row.phase == "Stopped"):
            return False
        return revision in revisions
