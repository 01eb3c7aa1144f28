"""System Resources on Kubernetes: which pods each of a member's sessions runs in, and what they use now,
from the cluster's metrics API (``hub_ext.pod_metrics``).

- A notebook is its spawner's pod (KubeSpawner's ``namespace`` and ``pod_name``).
- A job is the pods of the Job its handle names (``<namespace>/<job name>``, written by the runner when
  it started the job); Kubernetes' Job controller names them ``<job name>-<suffix>``.
- A deployment replica is one of the pods labelled ``hubfront.io/deployment=<id>`` and the member's
  ``hubfront.io/user`` in the deployments' namespace (``SystemResources.workload_namespace``).
  Kubernetes does not number a Deployment's pods: the member's replicas of a deployment, in revision
  and replica order, take its pods in name order.
- An app's reservation is counted for the app, not for a member, so it is never a member's session.

Notebooks and jobs are read from one list of the namespace's Hubfront pods, shared by every member's
page; each deployment from a list of its own pods; both kept a few seconds by ``pod_metrics``. A pod
started in the last half minute has no sample yet ("not measured yet").
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from sqlalchemy import select

from ...kube import USER_LABEL, label_value
from ...ledger.workloads import DEPLOYMENT, JOB, NOTEBOOK
from ...pod_metrics import HUBFRONT_PODS, PodUsage, Usage, pod_usage
from ...store.engine import read_scope
from ...times import iso
from .sessions import ON_KUBERNETES, fill_live, session_row

NOT_MEASURED = "not measured yet"


@dataclass(frozen=True)
class Place:
    """Where a session's pods are: a namespace, and the pods of the list ``selector`` gives that are
    ``names`` or begin with ``prefix`` (every one of them when neither is given)."""

    namespace: str
    names: tuple[str, ...] = ()
    prefix: str = ""
    selector: str = HUBFRONT_PODS

    def pods(self, usage: Usage) -> list[PodUsage]:
        if self.names:
            return [usage.by_pod[name] for name in self.names if name in usage.by_pod]
        return usage.starting(self.prefix)


def notebook_pods(username: str, spawners: dict) -> dict[str, tuple[str, str]]:
    """``<user>/<server>`` -> (namespace, pod name) of each of the user's KubeSpawner servers."""
    return {f"{username}/{name}": (spawner.namespace, spawner.pod_name) for name, spawner in spawners.items()
            if getattr(spawner, "pod_name", None) and getattr(spawner, "namespace", None)}


def job_handles(db_url: str, job_ids: Iterable[str]) -> dict[str, str]:
    """Job id -> ``<namespace>/<job name>`` of each of these jobs the Kubernetes executor started."""
    from ...store.models_jobs import Job

    ids = sorted({int(j) for j in job_ids if str(j).isdigit()})
    if not ids:
        return {}
    with read_scope(db_url) as s:
        found = s.execute(select(Job.id, Job.executor, Job.handle).where(Job.id.in_(ids))).all()
    return {str(i): handle for i, executor, handle in found if executor == "kubernetes" and "/" in handle}


def places_of(reservations, username: str, notebooks: dict[str, tuple[str, str]], jobs: dict[str, str],
              workload_namespace: str) -> dict[str, Place]:
    """Each session's pods, by row key; a session whose pods cannot be named yet (a job not started) has none."""
    # imported on Kubernetes only, not at every hub's start
    from ...services.executors.kube_deployments import DEPLOYMENT_LABEL

    places = {}
    for r in reservations:
        key = f"{r.kind}:{r.workload_id}"
        if r.kind == NOTEBOOK and r.workload_id in notebooks:
            namespace, pod = notebooks[r.workload_id]
            places[key] = Place(namespace, names=(pod,))
        elif r.kind == JOB and r.workload_id in jobs:
            namespace, _, name = jobs[r.workload_id].partition("/")
            places[key] = Place(namespace, prefix=f"{name}-")
        elif r.kind == DEPLOYMENT:
            deployment = r.workload_id.partition("@")[0]
            selector = f"{DEPLOYMENT_LABEL}={label_value(deployment)},{USER_LABEL}={label_value(username)}"
            places[key] = Place(workload_namespace, selector=selector)
    return places


def _replica_order(workload_id: str) -> tuple[int, int]:
    """(revision, replica) of ``<deployment>@<revision>#<replica>``."""
    rest = workload_id.partition("@")[2]
    revision, _, index = rest.partition("#")
    return (int(revision) if revision.isdigit() else 0, int(index) if index.isdigit() else 0)


async def kube_session_rows(reservations, titles: dict[str, str], places: dict[str, Place], *,
                            usage: Callable[..., Awaitable[Usage]] = pod_usage,
                            config=None) -> tuple[list[dict], str]:
    """One row per reservation with its allocation and its pods' live use; and why live use cannot be
    read (empty when the metrics API answered for every session's namespace)."""
    rows = [session_row(r, titles) for r in reservations]
    asks = sorted({(p.namespace, p.selector) for p in places.values()})
    answers = await asyncio.gather(*(usage(namespace, selector=selector, config=config)
                                     for namespace, selector in asks))
    answered = dict(zip(asks, answers))
    taken: dict[tuple[str, str], list[PodUsage]] = {}  # a deployment's pods, handed to its replicas in order
    reasons = []
    for row in sorted(rows, key=lambda row: _replica_order(row["workload_id"])):
        place = places.get(row["key"])
        if place is None:
            row["cpu_text"] = row["memory_text"] = NOT_MEASURED
            continue
        answer = answered[place.namespace, place.selector]
        if answer.unavailable:
            reasons.append(answer.unavailable)
            continue
        pods = place.pods(answer)
        if row["kind"] == DEPLOYMENT:
            left = taken.setdefault((place.namespace, place.selector), list(pods))
            pods = [left.pop(0)] if left else []
        if not pods:
            row["cpu_text"] = row["memory_text"] = NOT_MEASURED
            continue
        fill_live(row, sum(p.cpu for p in pods), sum(p.memory for p in pods), None)
        stamps = [p.timestamp for p in pods if p.timestamp is not None]
        row.update(sampled_at=iso(max(stamps)) if stamps else None, window_seconds=max(p.window for p in pods))
    return rows, ON_KUBERNETES.format(reason=reasons[0]) if reasons else ""
