"""KubernetesDeployments: the Deployment and Service it builds, and a contract test of its API calls.

The API fake is the jobs executor test's ``RecordedApi`` (records calls, answers
with kubernetes_asyncio models or Kubernetes JSON dicts). The notebook pod it is
compared with is built by KubeSpawner itself, as in test_kube_spawner.
"""

import json

import aiohttp
import pytest
from kubernetes_asyncio import client as k8s
from test_kube_spawner import container, launch, make_spawner, no_cluster  # noqa: F401 (autouse fixture)
from test_kubernetes_executor import RecordedApi, api_error
from traitlets.config import Config

from hub_ext.services.executors.base import ExecutorError
from hub_ext.services.executors.deployments import DeploymentSpec
from hub_ext.services.executors.kube_deployments import KubernetesDeployments
from hub_ext.kube import plain
from hub_ext.services.executors.kubernetes import KubernetesExecutor
from hub_ext.kube import label_value

GiB = 2**30
NAME = "hubfront-deploy-iris"
SELECTOR = "hubfront.io/deployment=iris,app.kubernetes.io/instance=hubfront-deploy-iris"
ENDPOINT = "http://hubfront-deploy-iris.models.svc.cluster.local:80"
GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}


def spec(**overrides):
    values = dict(
        deployment_id="iris", revision=3, username="Alice Smith", group="research", groups=("research",),
        command="mlflow models serve -m models:/iris/1 -h 0.0.0.0 -p $PORT --env-manager local", replicas=2,
        env={"MLFLOW_TRACKING_URI": "http://mlflow:5000", "PORT": "1"}, cpu=0.5, memory=GiB,
        health_path="/ping", port=8080, image="mlflow", container_image="quay.io/hubfront/mlflow:2.16",
    )
    values.update(overrides)
    return DeploymentSpec(**values)


def deployments(api, **config):
    return KubernetesDeployments(apps_api=api, core_api=api, namespace="models", **config)


def pod_spec(manifest):
    return manifest["spec"]["template"]["spec"]


# --- manifests -----------------------------------------------------------------


def test_deployment_manifest():
    manifest = deployments(RecordedApi()).deployment_manifest(spec())
    assert (manifest["apiVersion"], manifest["kind"]) == ("apps/v1", "Deployment")
    meta = manifest["metadata"]
    assert (meta["name"], meta["namespace"]) == (NAME, "models")
    assert meta["labels"]["hubfront.io/user"] == label_value("Alice Smith") == "alice-smith---8ae10dfc"
    assert meta["labels"]["hubfront.io/group"] == "research" and meta["labels"]["hubfront.io/deployment"] == "iris"
    assert meta["annotations"]["hubfront.io/revision"] == "3"
    assert meta["annotations"]["hubfront.io/username"] == "Alice Smith"
    body = manifest["spec"]
    assert body["replicas"] == 2 and body["progressDeadlineSeconds"] == 900
    # zero downtime: a new replica first, an old one goes only once the new one is ready
    assert body["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
    template = body["template"]
    assert template["metadata"]["labels"] == meta["labels"]
    assert body["selector"]["matchLabels"].items() <= template["metadata"]["labels"].items()
    assert template["metadata"]["annotations"] == {"hubfront.io/revision": "3"}  # a new revision always rolls out
    pod = template["spec"]
    assert pod["automountServiceAccountToken"] is False and pod["enableServiceLinks"] is False
    assert "nodeSelector" not in pod and "tolerations" not in pod
    (server,) = pod["containers"]
    assert server["image"] == "quay.io/hubfront/mlflow:2.16"
    assert server["command"] == ["/bin/bash", "-c", spec().command]
    assert server["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
    assert server["env"] == [  # the container's port wins over a PORT of the user's
        {"name": "MLFLOW_TRACKING_URI", "value": "http://mlflow:5000"},
        {"name": "NVIDIA_VISIBLE_DEVICES", "value": "none"},
        {"name": "PORT", "value": "8080"},
    ]
    assert server["resources"] == {
        "limits": {"cpu": "500m", "memory": str(GiB)}, "requests": {"cpu": "500m", "memory": str(GiB)},
    }
    # the marker keeps the kubelet's checks out of the deployment's log (executors.health_checks)
    check = {"httpGet": {"path": "/ping?hubfront-health-check", "port": 8080}, "periodSeconds": 5, "timeoutSeconds": 3}
    assert server["readinessProbe"] == {**check, "failureThreshold": 2}
    assert server["livenessProbe"] == {**check, "failureThreshold": 3}
    assert server["startupProbe"] == {**check, "failureThreshold": 120}  # 600 s to load a model
    assert server["lifecycle"] == {"preStop": {"exec": {"command": ["/bin/bash", "-c", "sleep 5"]}}}
    assert pod["terminationGracePeriodSeconds"] > 5  # SIGKILL never comes during the drain


async def test_security_context_is_the_notebook_pods():
    notebook = await launch(make_spawner(), group="research", instance_type="cpu-small", image="tensorflow")
    pod = pod_spec(deployments(RecordedApi()).deployment_manifest(spec()))
    assert pod["securityContext"] == notebook.spec.security_context
    assert pod["containers"][0]["securityContext"] == container(notebook).security_context
    assert pod["containers"][0]["securityContext"]["runAsNonRoot"] is True


def test_gpu_replicas_on_gpu_nodes_with_the_jobs_pod_settings():
    config = Config()
    config.KubernetesExecutor.gpu_resource_name = "amd.com/gpu"
    config.KubernetesExecutor.run_as_user = 1234
    ex = deployments(RecordedApi(), config=config, progress_deadline=1200, startup_timeout=62, probe_period=10)
    pod = pod_spec(ex.deployment_manifest(spec(
        cpu=8, memory=24 * GiB, gpu=2, node_selector={"hubfront.io/gpu": "true"}, tolerations=(GPU_TOLERATION,),
    )))
    assert pod["nodeSelector"] == {"hubfront.io/gpu": "true"}
    assert pod["tolerations"] == [GPU_TOLERATION]
    (server,) = pod["containers"]
    assert server["resources"]["limits"] == {"cpu": "8", "memory": str(24 * GiB), "amd.com/gpu": "2"}
    assert server["resources"]["requests"] == {"cpu": "8", "memory": str(24 * GiB)}  # the GPU request is its limit
    assert "NVIDIA_VISIBLE_DEVICES" not in {item["name"] for item in server["env"]}  # the device plugin decides
    assert server["securityContext"]["runAsUser"] == 1234
    assert server["startupProbe"]["failureThreshold"] == 7 and server["startupProbe"]["periodSeconds"] == 10


def test_service_manifest_selects_every_replica_of_the_deployment():
    ex = deployments(RecordedApi())
    service, deployment = ex.service_manifest(spec()), ex.deployment_manifest(spec())
    assert (service["apiVersion"], service["kind"], service["metadata"]["name"]) == ("v1", "Service", NAME)
    assert service["spec"]["type"] == "ClusterIP"
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    assert "hubfront.io/revision" not in service["spec"]["selector"]  # old and new replicas serve during a roll-out
    assert service["spec"]["ports"] == [{"name": "http", "protocol": "TCP", "port": 80, "targetPort": 8080}]
    assert ex.endpoint("iris") == ENDPOINT


async def test_manifests_use_only_fields_of_the_api_schema():
    """Read back through kubernetes_asyncio's models, which drop a misspelt field: nothing is lost."""
    ex = deployments(RecordedApi())
    gpu = spec(gpu=1, node_selector={"hubfront.io/gpu": "true"}, tolerations=(GPU_TOLERATION,))
    async with k8s.ApiClient() as client:
        for manifest, model in ((ex.deployment_manifest(gpu), "V1Deployment"), (ex.service_manifest(gpu), "V1Service")):
            assert plain(client._ApiClient__deserialize(manifest, model)) == manifest


def test_long_ids_make_valid_service_names():
    ex = deployments(RecordedApi())
    first, second = ex.object_name("m" * 60 + "-a"), ex.object_name("m" * 60 + "-b")
    assert len(first) <= 63 and first.startswith("hubfront-deploy-") and first != second


def test_no_drain_and_no_container_image():
    ex = deployments(RecordedApi(), drain_seconds=0)
    assert "lifecycle" not in pod_spec(ex.deployment_manifest(spec()))["containers"][0]
    with pytest.raises(ExecutorError, match="no container image"):
        ex.deployment_manifest(spec(container_image=""))


# --- apply ---------------------------------------------------------------------------


async def test_apply_creates_the_deployment_and_the_service():
    api = RecordedApi()
    ex = deployments(api)
    await ex.apply(spec())
    assert api.calls == [
        ("create_namespaced_deployment", {"namespace": "models", "body": ex.deployment_manifest(spec())}),
        ("create_namespaced_service", {"namespace": "models", "body": ex.service_manifest(spec())}),
    ]


async def test_apply_again_replaces_the_deployment_and_patches_the_service():
    api = RecordedApi(create_namespaced_deployment=api_error(409, "exists"),
                      create_namespaced_service=api_error(409, "exists"))
    ex = deployments(api)
    await ex.apply(spec(revision=4, env={}))
    deployment, service = ex.deployment_manifest(spec(revision=4, env={})), ex.service_manifest(spec(revision=4))
    assert [c[0] for c in api.calls] == [
        "create_namespaced_deployment", "replace_namespaced_deployment",
        "create_namespaced_service", "patch_namespaced_service",
    ]
    assert api.calls[1][1] == {"name": NAME, "namespace": "models", "body": deployment}
    assert api.calls[3][1] == {"name": NAME, "namespace": "models", "body": service}
    # a whole replacement: a variable removed from the deployment is gone from the pods
    assert [e["name"] for e in pod_spec(api.calls[1][1]["body"])["containers"][0]["env"]] == [
        "NVIDIA_VISIBLE_DEVICES", "PORT"]


async def test_apply_refused_is_a_user_facing_error():
    api = RecordedApi(create_namespaced_deployment=api_error(403, 'exceeded quota: compute, requested: cpu=1'))
    with pytest.raises(ExecutorError, match="Kubernetes refused the Deployment: exceeded quota"):
        await deployments(api).apply(spec())
    api = RecordedApi(create_namespaced_deployment=aiohttp.ClientConnectionError("connection refused"))
    with pytest.raises(ExecutorError, match="cannot be reached"):
        await deployments(api).apply(spec())


# --- status ----------------------------------------------------------------------


def deployment_reply(revision=3, generation=2, observed=2, replicas=2, updated=2, ready=2, conditions=()):
    """What the API answers: the manifest that was applied, with the controller's status."""
    body = deployments(RecordedApi()).deployment_manifest(spec(revision=revision))
    body["metadata"]["generation"] = generation
    body["status"] = {
        "observedGeneration": observed, "replicas": replicas, "updatedReplicas": updated, "readyReplicas": ready,
        "conditions": [{"type": t, "status": s, "reason": r, "message": m} for t, s, r, m in conditions],
    }
    return body


def pod(name, revision=3, ready=True, waiting=None, restarts=0, last_exit=None, unschedulable=None):
    terminated = k8s.V1ContainerStateTerminated(exit_code=last_exit) if last_exit is not None else None
    server = k8s.V1ContainerStatus(
        name="server", image="x", image_id="", ready=ready, restart_count=restarts,
        state=k8s.V1ContainerState(waiting=k8s.V1ContainerStateWaiting(**waiting) if waiting else None),
        last_state=k8s.V1ContainerState(terminated=terminated),
    )
    conditions = [k8s.V1PodCondition(type="Ready", status=str(ready))]
    if unschedulable:
        conditions.append(k8s.V1PodCondition(type="PodScheduled", status="False", reason="Unschedulable",
                                             message=unschedulable))
    return k8s.V1Pod(
        metadata=k8s.V1ObjectMeta(name=name, annotations={"hubfront.io/revision": str(revision)},
                                  creation_timestamp="2024-05-01T00:00:00Z"),
        status=k8s.V1PodStatus(phase="Pending" if unschedulable else "Running", conditions=conditions,
                               container_statuses=None if unschedulable else [server]),
    )


def pods(*items):
    return k8s.V1PodList(items=list(items))


async def status_of(deployment, *items, **replies):
    api = RecordedApi(read_namespaced_deployment=deployment, list_namespaced_pod=pods(*items), **replies)
    return await deployments(api).status("iris"), api.calls


async def test_ready_deployment_read_from_models():
    model = k8s.V1Deployment(
        metadata=k8s.V1ObjectMeta(name=NAME, generation=1, annotations={"hubfront.io/revision": "3"}),
        spec=k8s.V1DeploymentSpec(replicas=2, selector=k8s.V1LabelSelector(), template=k8s.V1PodTemplateSpec()),
        status=k8s.V1DeploymentStatus(observed_generation=1, replicas=2, updated_replicas=2, ready_replicas=2),
    )
    status, calls = await status_of(model, pod("iris-a"), pod("iris-b"))
    assert (status.revision, status.available, status.desired) == (3, 2, 2)
    assert status.endpoints == (ENDPOINT,) and status.rolled_out and not status.failed
    assert status.message == "2 of 2 replicas ready"
    assert calls == [
        ("read_namespaced_deployment", {"name": NAME, "namespace": "models"}),
        ("list_namespaced_pod", {"namespace": "models", "label_selector": SELECTOR}),
    ]


async def test_rolling_update_keeps_the_old_revision_serving():
    reply = deployment_reply(revision=4, generation=3, observed=3, replicas=3, updated=1, ready=2)
    status, _ = await status_of(reply, pod("old-a", 3), pod("old-b", 3), pod("new-a", 4, ready=False))
    assert (status.revision, status.available, status.desired) == (3, 2, 2)
    assert status.endpoints == (ENDPOINT,) and not status.rolled_out and not status.failed
    assert "Rolling out revision 4" in status.message
    # the new replica is ready: it serves, but the roll-out is not over while an old one runs
    status, _ = await status_of(reply, pod("old-a", 3), pod("new-a", 4))
    assert (status.revision, status.available, status.rolled_out) == (4, 1, False)


async def test_just_applied_the_status_of_the_previous_generation_says_nothing_about_this_one():
    # revision 3 had failed; revision 4 is applied and the controller has not seen it yet
    deadline = ("Progressing", "False", "ProgressDeadlineExceeded", "ReplicaSet has timed out progressing.")
    reply = deployment_reply(revision=4, generation=3, observed=2, conditions=[deadline])
    status, _ = await status_of(reply, pod("old-a", 3), pod("old-b", 3))
    assert not status.failed and not status.rolled_out and status.revision == 3
    # seen, and the counts are the new revision's: only then is it rolled out
    status, _ = await status_of(deployment_reply(revision=4, generation=3, observed=3), pod("a", 4), pod("b", 4))
    assert status.rolled_out and status.revision == 4
    status, _ = await status_of(deployment_reply(revision=4, generation=3, observed=2), pod("a", 4), pod("b", 4))
    assert not status.rolled_out
    # the pods have the last word on what serves (a replica can leave the Service after the count was made)
    status, _ = await status_of(deployment_reply(revision=4, generation=3, observed=3), pod("a", 4, ready=False),
                                pod("b", 3))
    assert not status.rolled_out and (status.revision, status.available) == (3, 1)


async def test_a_failing_old_revision_is_not_the_new_ones_failure():
    reply = deployment_reply(revision=4, generation=3, observed=3, replicas=3, updated=2, ready=2)
    crashing = pod("old-a", 3, ready=False, waiting={"reason": "CrashLoopBackOff"}, restarts=9)
    status, _ = await status_of(reply, crashing, pod("new-a", 4), pod("new-b", 4))
    assert not status.failed and (status.revision, status.available) == (4, 2)


async def test_image_not_found_while_the_old_revision_serves():
    reply = deployment_reply(revision=4, generation=3, observed=3, replicas=3, updated=1, ready=2)
    pulling = {"reason": "ImagePullBackOff", "message": 'Back-off pulling image "quay.io/hubfront/mlflow:2.16"'}
    status, _ = await status_of(reply, pod("old-a", 3), pod("old-b", 3), pod("new-a", 4, False, pulling))
    assert status.failed == "ImageNotFound"
    assert "quay.io/hubfront/mlflow:2.16 cannot be pulled" in status.message
    assert (status.revision, status.available, status.endpoints) == (3, 2, (ENDPOINT,))


async def test_crash_loop_with_the_last_log_lines():
    reply = deployment_reply(ready=0)
    crashing = pod("iris-a", ready=False, waiting={"reason": "CrashLoopBackOff"}, restarts=4, last_exit=1)
    status, calls = await status_of(reply, crashing, read_namespaced_pod_log="loading model\nKeyError: 'iris'\n")
    assert status.failed == "CrashLoop" and status.endpoints == () and status.available == 0
    assert "restarted 4 times, last exit code 1" in status.message
    assert status.message.endswith("last log lines:\nloading model\nKeyError: 'iris'")
    assert calls[-1] == ("read_namespaced_pod_log", {
        "name": "iris-a", "namespace": "models", "container": "server", "previous": True, "tail_lines": 20,
    })


async def test_unschedulable_with_the_schedulers_message():
    message = "0/3 nodes are available: 3 Insufficient nvidia.com/gpu."
    status, _ = await status_of(deployment_reply(ready=0), pod("iris-a", ready=False, unschedulable=message))
    assert status.failed == "Unschedulable" and status.message == f"No node can run a replica: {message}"


async def test_progress_deadline_is_a_failed_health_check():
    deadline = ("Progressing", "False", "ProgressDeadlineExceeded", 'ReplicaSet "iris-7d9" has timed out progressing.')
    status, _ = await status_of(deployment_reply(ready=0, conditions=[deadline]), pod("iris-a", ready=False))
    assert status.failed == "HealthCheck"
    assert "did not pass its health check (GET /ping) within 900 s" in status.message
    assert "timed out progressing" in status.message


async def test_replicas_refused_by_a_resource_quota():
    refused = ("ReplicaFailure", "True", "FailedCreate", 'pods "iris-x" is forbidden: exceeded quota: compute')
    status, _ = await status_of(deployment_reply(ready=0, replicas=0, updated=0, conditions=[refused]))
    assert status.failed == "OverQuota" and "exceeded quota" in status.message


async def test_a_deployment_deleted_outside_hubfront_fails_but_a_stopped_one_does_not():
    api = RecordedApi(read_namespaced_deployment=api_error(404))
    ex = deployments(api)
    gone = await ex.status("iris")
    assert (gone.failed, gone.available, gone.endpoints) == ("Error", 0, ())
    await ex.stop("iris")
    stopped = await ex.status("iris")
    assert (stopped.failed, stopped.message) == ("", "Stopped")


async def test_status_is_read_at_most_once_a_second_and_says_when_replicas_were_seen_ready():
    api = RecordedApi(read_namespaced_deployment=deployment_reply(), list_namespaced_pod=pods(pod("a"), pod("b")))
    ex = deployments(api)
    first = await ex.status("iris")
    assert first.checked > 0 and await ex.status("iris") is first
    assert len(api.calls) == 2
    await ex.apply(spec())  # a change is seen at once
    assert (await ex.status("iris")).checked > first.checked and len(api.calls) == 6
    ex.status_max_age = 0
    api.replies["list_namespaced_pod"] = pods(pod("a", ready=False))
    none_ready = await ex.status("iris")
    assert (none_ready.available, none_ready.endpoints, none_ready.checked) == (0, (), 0.0)


async def test_api_errors_are_executor_errors():
    with pytest.raises(ExecutorError, match="etcd is sad"):
        await status_of(api_error(500, "etcd is sad"))


# --- logs, stop, adopt -------------------------------------------------------------


async def test_logs_of_every_replica_newest_revision_first():
    api = RecordedApi(
        list_namespaced_pod=pods(pod("iris-old", 2), pod("iris-new", 3), pod("iris-pending", 3, ready=False)),
        read_namespaced_pod_log=["serving v3\n", api_error(400, "ContainerCreating"), "serving v2"] * 2,
    )
    ex = deployments(api)
    text = (b"==> iris-new (revision 3) <==\nserving v3\n==> iris-pending (revision 3) <==\n"
            b"==> iris-old (revision 2) <==\nserving v2\n")
    assert await ex.logs("iris") == (text, len(text))
    assert api.calls[1] == ("read_namespaced_pod_log", {"name": "iris-new", "namespace": "models",
                                                        "container": "server"})
    assert await ex.logs("iris", 30) == (text[30:], len(text))
    # every replica replaced, the text is shorter than the offset: it starts over
    api.replies["list_namespaced_pod"] = pods(pod("iris-v4", 4))
    api.replies["read_namespaced_pod_log"] = "v4\n"
    fresh = b"==> iris-v4 (revision 4) <==\nv4\n"
    assert await ex.logs("iris", len(text)) == (fresh, len(fresh))


async def test_stop_deletes_both_and_tolerates_what_is_gone():
    for reply in (None, api_error(404)):
        api = RecordedApi(delete_namespaced_deployment=reply, delete_namespaced_service=reply)
        await deployments(api).stop("iris")
        assert api.calls == [
            ("delete_namespaced_deployment", {"name": NAME, "namespace": "models", "propagation_policy": "Background"}),
            ("delete_namespaced_service", {"name": NAME, "namespace": "models"}),
        ]
    with pytest.raises(ExecutorError, match="forbidden"):
        await deployments(RecordedApi(delete_namespaced_service=api_error(403, "forbidden"))).stop("iris")


def deleting(reply):
    reply["metadata"]["deletionTimestamp"] = "2024-05-01T00:00:00Z"
    return reply


@pytest.mark.parametrize("reply, adopted", [
    (deployment_reply(revision=3), True),
    (deployment_reply(revision=2), False),  # an older revision runs: apply again
    (deleting(deployment_reply(revision=3)), False),
    (api_error(404), False),
])
async def test_adopt(reply, adopted):
    api = RecordedApi(read_namespaced_deployment=reply)
    assert await deployments(api).adopt(spec(revision=3)) is adopted
    assert api.calls == [("read_namespaced_deployment", {"name": NAME, "namespace": "models"})]


# --- client and configuration ------------------------------------------------------


async def test_default_client_is_built_lazily_from_a_kubeconfig(monkeypatch, tmp_path):
    from kubernetes_asyncio.config import kube_config

    kubeconfig = tmp_path / "config"
    kubeconfig.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "lab",
        "clusters": [{"name": "lab", "cluster": {"server": "https://cluster.example:6443"}}],
        "users": [{"name": "runner", "user": {"token": "t0k3n"}}],
        "contexts": [{"name": "lab", "context": {"cluster": "lab", "user": "runner"}}],
    }))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)  # not in a cluster
    monkeypatch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(tmp_path / "missing"))
    ex = KubernetesDeployments(namespace="models")
    with pytest.raises(ExecutorError, match="No Kubernetes configuration"):
        await ex.status("iris")
    monkeypatch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(kubeconfig))
    apps, core = await ex._apis()
    assert isinstance(apps, k8s.AppsV1Api) and isinstance(core, k8s.CoreV1Api)
    assert apps.api_client is core.api_client
    assert apps.api_client.configuration.host == "https://cluster.example:6443"
    assert await ex._apis() == (apps, core)  # built once
    await ex.close()


def test_namespace_defaults_to_the_jobs(monkeypatch):
    monkeypatch.setenv("POD_NAMESPACE", "hub-ns")
    assert KubernetesDeployments().namespace == "hub-ns"
    config = Config()
    config.KubernetesExecutor.namespace = "workloads"
    assert KubernetesDeployments(config=config).namespace == "workloads"
    jobs = KubernetesExecutor(namespace="shared", termination_grace_period=30)
    ex = KubernetesDeployments(jobs=jobs)
    assert ex.namespace == "shared" and ex.jobs is jobs
    assert pod_spec(ex.deployment_manifest(spec()))["terminationGracePeriodSeconds"] == 30
