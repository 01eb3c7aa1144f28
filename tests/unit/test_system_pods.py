"""System Resources on Kubernetes (``hub_ext.portal.system.pods``): each of a member's sessions is matched
to the pods the real code makes for it (KubeSpawner's notebook pod, the executor's Job and Deployment),
and shows their live CPU and memory from a recorded metrics.k8s.io answer, or why it cannot."""

from __future__ import annotations

import functools
import json

import pytest
from kubernetes_asyncio.client.exceptions import ApiException
from test_kube_spawner import make_spawner, no_cluster  # noqa: F401 (autouse fixture)

from hub_ext import pod_metrics
from hub_ext.kube import label_value
from hub_ext.ledger.workloads import notebook_id, replica_id
from hub_ext.pod_metrics import pod_usage
from hub_ext.portal.system.pods import NOT_MEASURED, Place, job_handles, kube_session_rows, notebook_pods, places_of
from hub_ext.portal.system.resources import SystemResources, user_view
from hub_ext.services.executors.base import JobSpec
from hub_ext.services.executors.deployments import DeploymentSpec
from hub_ext.services.executors.kube_deployments import KubernetesDeployments
from hub_ext.services.executors.kubernetes import KubernetesExecutor
from hub_ext.store import session_scope
from hub_ext.store.models import Reservation
from hub_ext.store.models_jobs import Job

GiB = 2**30
USER, GROUP, NS = "Alice Smith", "research", "hubfront"
TITLES = {GROUP: "Research"}


def reservation(kind, workload_id, cpu, memory):
    return Reservation(kind=kind, workload_id=workload_id, username=USER, group=GROUP, cpu=cpu, memory=memory, gpu=0)


def metrics(*pods):
    """A PodMetricsList as metrics-server answers: (name, [(cpu, memory) per container], timestamp)."""
    return {"kind": "PodMetricsList", "apiVersion": "metrics.k8s.io/v1beta1", "metadata": {},
            "items": [{"metadata": {"name": name, "namespace": NS, "creationTimestamp": "2026-12-06T19:30:00Z"},
                       "timestamp": stamp, "window": "15.5s",
                       "containers": [{"name": f"c{i}", "usage": {"cpu": cpu, "memory": memory}}
                                      for i, (cpu, memory) in enumerate(containers)]}
                      for name, containers, stamp in pods]}


class MetricsApi:
    """A CustomObjectsApi answering each label selector's list from ``answers`` (a value or an exception)."""

    def __init__(self, answers):
        self.answers, self.calls = answers, []

    async def list_namespaced_custom_object(self, **kwargs):
        self.calls.append((kwargs["namespace"], kwargs["label_selector"]))
        answer = self.answers[kwargs["label_selector"]]
        if isinstance(answer, Exception):
            raise answer
        return json.loads(json.dumps(answer))


@pytest.fixture(autouse=True)
def fresh():
    pod_metrics.forget()
    yield
    pod_metrics.forget()


@pytest.fixture
def made():
    """Alice's notebook, job 42 and deployment ``web`` (2 replicas), made by the real code paths."""
    notebook = make_spawner(server=GROUP, namespace=NS)
    job = KubernetesExecutor(batch_api=None, core_api=None, namespace=NS)
    job_spec = JobSpec(job_id=42, username=USER, group=GROUP, groups=(GROUP,), command="python train.py", env={},
                       cpu=4, memory=8 * GiB, timeout=3600, image="py", container_image="quay.io/x/py:1")
    web = KubernetesDeployments(apps_api=None, core_api=None, namespace=NS).deployment_manifest(DeploymentSpec(
        deployment_id="web", revision=2, username=USER, group=GROUP, groups=(GROUP,), command="serve", replicas=2,
        env={}, cpu=1, memory=GiB, health_path="/", port=8080, image="py", container_image="quay.io/x/py:1"))
    return {"notebook": notebook, "job": f"{NS}/{job.job_name(job_spec)}",
            "replica_labels": web["spec"]["template"]["metadata"]["labels"]}


def sessions(made):
    held = [reservation("notebook", notebook_id(USER, GROUP), 2, 4 * GiB), reservation("job", "42", 4, 8 * GiB),
            reservation("job", "43", 1, GiB),  # submitted, not started: no handle yet
            reservation("deployment", replica_id("web", 2, 1), 1, GiB),
            reservation("deployment", replica_id("web", 2, 0), 1, GiB)]
    places = places_of(held, USER, notebook_pods(USER, {GROUP: made["notebook"]}), {"42": made["job"]}, NS)
    return held, places


def test_each_session_is_found_where_the_real_code_puts_its_pods(made):
    _, places = sessions(made)
    pod = made["notebook"].pod_name
    assert places["notebook:Alice Smith/research"] == Place(NS, names=(pod,))
    assert places["job:42"] == Place(NS, prefix="hubfront-job-42-")  # the Job controller's pod names
    assert "job:43" not in places
    selector = places["deployment:web@2#0"].selector
    assert selector == f"hubfront.io/deployment=web,hubfront.io/user={label_value(USER)}"
    # the selector picks the pods of the Deployment the executor makes
    wanted = dict(pair.split("=") for pair in selector.split(","))
    assert wanted.items() <= made["replica_labels"].items()


async def test_on_kubernetes_each_session_shows_its_pods_live_use(made):
    held, places = sessions(made)
    pod = made["notebook"].pod_name
    everyone = metrics((pod, [("1500m", "1Gi")], "2026-12-06T19:29:50Z"),
                       ("hubfront-job-42-x7k2p", [("3", "6Gi"), ("100m", "512Mi")], "2026-12-06T19:29:45Z"),
                       ("hubfront-job-420-abcde", [("8", "8Gi")], "2026-12-06T19:29:45Z"),  # another job
                       ("jupyter-bob--research", [("2", "2Gi")], "2026-12-06T19:29:45Z"))
    replicas = metrics(("hubfront-deploy-web-6d4f9-b2xqz", [("250m", "256Mi")], "2026-12-06T19:29:40Z"),
                       ("hubfront-deploy-web-6d4f9-a1bcd", [("500000000n", "262144Ki")], "2026-12-06T19:29:41Z"))
    api = MetricsApi({"hubfront.io/user": everyone, places["deployment:web@2#0"].selector: replicas})
    rows, unavailable = await kube_session_rows(held, TITLES, places, usage=functools.partial(pod_usage, api=api))
    assert unavailable == ""
    assert sorted(api.calls) == [(NS, "hubfront.io/deployment=web,hubfront.io/user=alice-smith---8ae10dfc"),
                                 (NS, "hubfront.io/user")]  # one list for the namespace, one for the deployment
    by_key = {row["key"]: row for row in rows}
    notebook = by_key["notebook:Alice Smith/research"]
    assert (notebook["title"], notebook["cpu_text"], notebook["memory_text"]) == (
        "Notebook in Research", "1.50 of 2 cores", "1 GiB of 4 GiB")
    assert (notebook["cpu_percent"], notebook["memory_percent"]) == (75, 25)
    assert notebook["sampled_at"] == "2026-12-06T19:29:50+00:00" and notebook["window_seconds"] == 15.5
    job = by_key["job:42"]  # its containers summed; job 420's pod is not job 42's
    assert (job["cpu_used"], job["memory_used"]) == (pytest.approx(3.1), 6 * GiB + 512 * 2**20)
    assert (job["cpu_text"], job["memory_text"], job["cpu_percent"]) == ("3.10 of 4 cores", "6.5 GiB of 8 GiB", 78)
    assert by_key["job:43"]["cpu_text"] == by_key["job:43"]["memory_text"] == NOT_MEASURED
    # replicas take the deployment's pods in name order: #0 the first, #1 the second
    assert by_key["deployment:web@2#0"]["cpu_text"] == "0.50 of 1 cores"
    assert by_key["deployment:web@2#1"]["cpu_text"] == "0.25 of 1 cores"
    assert [row["key"] for row in rows] == [f"{r.kind}:{r.workload_id}" for r in held]  # the ledger's order
    view = user_view(rows, [], unavailable)
    assert view["text"]["job:42:memory"] == "6.5 GiB of 8 GiB" and view["percent"]["notebook:Alice Smith/research:cpu"] == 75
    assert view["live_unavailable"] == ""


async def test_a_pod_without_a_sample_yet_is_not_measured_yet(made):
    held, places = sessions(made)
    api = MetricsApi({"hubfront.io/user": metrics(), places["deployment:web@2#0"].selector: metrics()})
    rows, unavailable = await kube_session_rows(held, TITLES, places, usage=functools.partial(pod_usage, api=api))
    assert unavailable == "" and {row["cpu_text"] for row in rows} == {NOT_MEASURED}
    assert all(row["cpu_percent"] is None and row["sampled_at"] is None for row in rows)


@pytest.mark.parametrize(("status", "reason"), [
    (404, "The cluster has no metrics API (metrics-server is not installed)"),
    (403, "The hub may not read pod metrics in namespace hubfront"),
    (503, "The cluster's metrics API is not answering (metrics-server is unavailable)"),
])
async def test_without_the_metrics_api_the_page_says_why(made, status, reason):
    held, places = sessions(made)
    error = ApiException(status=status, reason="Reason")
    api = MetricsApi({"hubfront.io/user": error, places["deployment:web@2#0"].selector: error})
    rows, unavailable = await kube_session_rows(held, TITLES, places, usage=functools.partial(pod_usage, api=api))
    assert unavailable.startswith(f"Live CPU and memory are not shown: {reason}")
    assert unavailable.endswith(". What each session holds is its allocation.")
    started = [row for row in rows if row["key"] != "job:43"]
    assert {(row["cpu_text"], row["memory_text"], row["cpu_used"]) for row in started} == {("—", "—", None)}
    assert {row["allocated"] for row in rows} >= {"2 CPU · 4 GiB", "4 CPU · 8 GiB"}  # what each holds, as ever


async def test_no_session_asks_nothing():
    api = MetricsApi({})
    assert await kube_session_rows([], TITLES, {}, usage=functools.partial(pod_usage, api=api)) == ([], "")
    assert api.calls == []


def test_jobs_are_found_by_the_handle_the_runner_wrote(sqlite_url):
    with session_scope(sqlite_url) as s:
        for job_id, executor, handle in [(42, "kubernetes", "jobs-ns/hubfront-job-42"), (43, "", ""),
                                         (44, "local", "1234:5678"), (45, "kubernetes", "hubfront/hubfront-job-45")]:
            s.add(Job(id=job_id, group=GROUP, username=USER, name=f"j{job_id}", command="true", image="py",
                      instance_type="small", timeout=60, executor=executor, handle=handle))
    assert job_handles(sqlite_url, ["42", "43", "44", "alice/research", "99"]) == {"42": "jobs-ns/hubfront-job-42"}
    assert job_handles(sqlite_url, []) == {}
    held = [reservation("job", "42", 1, GiB)]
    assert places_of(held, USER, {}, job_handles(sqlite_url, ["42"]), NS) == {
        "job:42": Place("jobs-ns", prefix="hubfront-job-42-")}


def test_the_deployments_namespace_defaults_to_the_hubs_own(monkeypatch, tmp_path):
    monkeypatch.setenv("POD_NAMESPACE", "hubfront-prod")
    assert SystemResources().workload_namespace == "hubfront-prod"
    assert SystemResources(workload_namespace="models").workload_namespace == "models"
    monkeypatch.delenv("POD_NAMESPACE")
    account = tmp_path / "namespace"  # the service account's namespace file, as mounted in a pod
    monkeypatch.setattr("hub_ext.kube.SERVICE_ACCOUNT_NAMESPACE", str(account))
    assert SystemResources().workload_namespace == "default"  # outside a cluster
    account.write_text("hubfront\n")
    assert SystemResources().workload_namespace == "hubfront"
