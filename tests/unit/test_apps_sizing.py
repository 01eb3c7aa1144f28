"""Apps fit their instance type (issue 24), without a hub: what each template needs at least, which instance
type a group's app gets or is refused, the words of an app's restarts, and the restarts a Kubernetes app's
pods report through the deployments' executor (the real ``KubernetesDeployments.status``, only the API
client replaced)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from test_kubernetes_executor import RecordedApi

from hub_ext.apps import restarts, sizing
from hub_ext.apps.templates import BUILTIN, AppTemplate, catalog
from hub_ext.bodies import BodyError
from hub_ext.policy import Catalog, GroupPolicy, InstanceType
from hub_ext.services.executors.deployments import DeploymentSpec
from hub_ext.services.executors.kube_deployments import KubernetesDeployments
from hub_ext.times import utcnow

GiB, MiB = 2**30, 2**20
CATALOG = Catalog.model_validate({"instance_types": [
    {"name": "cpu-tiny", "cpu": "250m", "memory": "512Mi"}, {"name": "cpu-small", "cpu": "500m", "memory": "1Gi"},
    {"name": "cpu-medium", "cpu": 2, "memory": "4Gi"}], "images": []})
MLFLOW = catalog(["mlflow"])["mlflow"]


def test_every_builtin_declares_what_it_needs_and_mlflow_its_measured_size():
    every = catalog(list(BUILTIN))
    for name, t in every.items():
        assert t.min_memory >= 256 * MiB and t.min_cpu > 0, name
    # measured (docs/admin-guide.md): one worker without MLflow's background jobs peaks at 380 MiB; the minimum
    # leaves it more than twice that, and the variables the size was measured with are the defaults
    assert (MLFLOW.min_memory, MLFLOW.min_cpu) == (GiB, 0.5) and MLFLOW.min_memory >= 2.5 * 380 * MiB
    assert MLFLOW.defaults["MLFLOW_WORKERS"] == "1" and MLFLOW.defaults["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] == "false"
    assert "--workers \"${MLFLOW_WORKERS:-1}\"" in MLFLOW.local.command
    assert MLFLOW.as_json()["min_memory"] == GiB and MLFLOW.needs() == "1 GiB of memory and 0.5 CPU"


def test_minimums_are_quantities_as_the_catalogs_and_bad_ones_are_named():
    t = AppTemplate(name="t", display_name="T", min_memory="1536Mi", min_cpu="1500m", local={"command": "c"})
    assert (t.min_memory, t.min_cpu) == (1536 * MiB, 1.5)
    assert AppTemplate(name="t", display_name="T", local={"command": "c"}).needs() == ""  # none declared: any fits
    with pytest.raises(ValueError, match="min_memory") as exc:
        AppTemplate(name="t", display_name="T", min_memory="lots", local={"command": "c"})
    assert "invalid memory quantity" in str(exc.value)


def test_what_a_too_small_type_lacks_is_said_in_plain_words():
    tiny, small = CATALOG.instance_type("cpu-tiny"), CATALOG.instance_type("cpu-small")
    assert MLFLOW.shortfall(small) == "" and MLFLOW.too_small(small) == ""
    assert MLFLOW.shortfall(tiny) == "needs at least 1 GiB of memory and 0.5 CPU"
    assert MLFLOW.too_small(tiny) == ("MLflow tracking server needs at least 1 GiB of memory and 0.5 CPU; "
                                      "cpu-tiny has 512 MiB and 0.25 CPU")
    memory_only = InstanceType(name="fast", cpu=8, memory=512 * MiB)
    assert MLFLOW.too_small(memory_only) == "MLflow tracking server needs at least 1 GiB of memory; fast has 512 MiB"


def test_the_default_is_the_groups_when_it_holds_the_app_else_the_first_that_does():
    assert sizing.default_for(MLFLOW, GroupPolicy(default_instance_type="cpu-medium"), CATALOG).name == "cpu-medium"
    assert sizing.default_for(MLFLOW, GroupPolicy(default_instance_type="cpu-tiny"), CATALOG).name == "cpu-small"
    offers = sizing.offers(MLFLOW, GroupPolicy(), CATALOG)
    assert [(o.name, o.why_not) for o in offers] == [("cpu-tiny", "needs at least 1 GiB of memory and 0.5 CPU"),
                                                    ("cpu-small", ""), ("cpu-medium", "")]
    assert offers[0].title == "cpu-tiny (0.25 CPU, 512 MiB) — needs at least 1 GiB of memory and 0.5 CPU"
    assert sizing.default_for(MLFLOW, GroupPolicy(instance_types=["cpu-tiny"]), CATALOG) is None


def test_the_api_gets_the_default_or_a_400_naming_instance_type():
    policy = GroupPolicy(default_instance_type="cpu-tiny")
    assert sizing.choose(MLFLOW, None, policy, CATALOG, "lab").name == "cpu-small"
    assert sizing.choose(MLFLOW, "cpu-medium", policy, CATALOG, "lab").name == "cpu-medium"
    with pytest.raises(BodyError) as exc:
        sizing.choose(MLFLOW, "cpu-tiny", policy, CATALOG, "lab")
    assert exc.value.errors == {"instance_type": MLFLOW.too_small(CATALOG.instance_type("cpu-tiny"))}
    with pytest.raises(BodyError) as exc:
        sizing.choose(MLFLOW, "cpu-huge", policy, CATALOG, "lab")
    assert exc.value.errors == {"instance_type": "'cpu-huge' is not allowed in group lab"}
    with pytest.raises(BodyError) as exc:
        sizing.choose(MLFLOW, None, GroupPolicy(instance_types=["cpu-tiny"]), CATALOG, "lab")
    assert exc.value.errors["instance_type"] == ("no instance type group lab may use holds MLflow tracking server: "
                                                 "it needs at least 1 GiB of memory and 0.5 CPU")
    # an app whose template left the catalog: any allowed type (nothing to measure it by)
    assert sizing.choose(None, "cpu-tiny", policy, CATALOG, "lab").name == "cpu-tiny"


def test_restarts_in_words():
    oom = "Out of memory (limit 1 GiB)"
    assert restarts.note(4, "OOMKilled", oom) == f"{oom}: restarted 4 times — choose a larger instance type"
    assert restarts.note(1, "ExitCode", "Exit code 3") == "Exit code 3: restarted once"
    assert restarts.note(0, "OOMKilled", oom) == ""
    assert restarts.given_up(5, "OOMKilled", oom).endswith(
        "No longer restarted: change its instance type in Settings, then Start it again.")
    assert restarts.not_answering("Starting", "", 2, "OOMKilled") == "restarting after running out of memory"
    assert restarts.not_answering("Starting", "", 2, "ExitCode") == "restarting after its process ended"
    assert restarts.not_answering("Starting", "", 0, "") == "starting"
    assert restarts.not_answering("Stopped", "", 0, "").startswith("stopped")
    assert restarts.not_answering("Failed", "OOMKilled", 5, "OOMKilled").startswith("failed: it ran out of memory")


# -- Kubernetes: the same report from pods -----------------------------------------------------------------


def app_spec(**kw) -> DeploymentSpec:
    values = dict(deployment_id="tracking-7", revision=2, username="alice", group="lab", groups=("lab",),
                  command="mlflow server", memory=GiB, cpu=0.5, health_path="/health", container_image="mlflow:3")
    return DeploymentSpec(**{**values, **kw})


def server_pod(executor, restarts: int, started, last: dict | None) -> dict:
    """A pod of the app's Deployment as the API answers it (its container's limits from the manifest)."""
    template = executor.deployment_manifest(app_spec())["spec"]["template"]
    running = {"running": {"startedAt": started.isoformat().replace("+00:00", "Z")}} if started else {
        "waiting": {"reason": "CrashLoopBackOff"}}
    return {"metadata": {"name": "hubfront-app-tracking-7-abc", **template["metadata"]},
            "spec": template["spec"],
            "status": {"conditions": [{"type": "Ready", "status": "True" if started else "False"}],
                       "containerStatuses": [{"name": "server", "ready": bool(started), "restartCount": restarts,
                                              "state": running, "lastState": {"terminated": last} if last else {}}]}}


async def test_a_kubernetes_apps_restarts_and_out_of_memory_come_through_the_executor_interface():
    probe = KubernetesDeployments(apps_api=RecordedApi(), core_api=RecordedApi(), namespace="hub", status_max_age=0)
    deployment = probe.deployment_manifest(app_spec())
    deployment["metadata"]["generation"] = 1
    deployment["status"] = {"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1, "readyReplicas": 1}
    oom = {"reason": "OOMKilled", "exitCode": 137}
    now = utcnow()

    async def status(pod):
        probe._apps = probe._core = RecordedApi(read_namespaced_deployment=deployment,
                                                list_namespaced_pod={"items": [pod]}, read_namespaced_pod_log="")
        return await probe.status("tracking-7")

    s = await status(server_pod(probe, 4, now - timedelta(seconds=20), oom))
    assert (s.restarts, s.restart_reason, s.restart_message) == (4, "OOMKilled", "Out of memory (limit 1 GiB)")
    s = await status(server_pod(probe, 5, None, oom))  # crash-looping: still counted
    assert s.restarts == 5 and s.restart_reason == "OOMKilled"
    # up for longer than restart_reset: the count in a row starts again (Kubernetes' own never does)
    s = await status(server_pod(probe, 5, now - timedelta(seconds=probe.restart_reset + 1), oom))
    assert s.restarts == 0 and s.restart_reason == ""
    s = await status(server_pod(probe, 6, now - timedelta(seconds=3), {"reason": "Error", "exitCode": 2}))
    assert (s.restarts, s.restart_reason, s.restart_message) == (1, "ExitCode", "Exit code 2")
