"""KubernetesExecutor: the Jobs it builds and a contract test of the API calls it makes.

The fake below stands in for kubernetes_asyncio's BatchV1Api and CoreV1Api: it
records every call with its arguments and answers with canned kubernetes_asyncio
models (as the real client does) or Kubernetes JSON dicts.
"""

import json

import pytest
from kubernetes_asyncio import client as k8s
from kubernetes_asyncio.client.exceptions import ApiException

from hub_ext.services.executors.base import ExecutorError, Handle, JobSpec
from hub_ext.services.executors.kubernetes import KubernetesExecutor, job_status
from hub_ext.kube import LOCKED_DOWN, label_value


class RecordedApi:
    """Records ``(method, kwargs)``; answers from ``replies[method]`` (a value, an exception, or a list of them)."""

    def __init__(self, **replies):
        self.calls = []
        self.replies = replies

    def __getattr__(self, method):
        if method.startswith("_"):
            raise AttributeError(method)

        async def call(**kwargs):
            self.calls.append((method, kwargs))
            reply = self.replies.get(method)
            if isinstance(reply, list):
                reply = reply.pop(0)
            if isinstance(reply, Exception):
                raise reply
            return reply

        return call


def api_error(status, message="boom"):
    exc = ApiException(status=status, reason="Reason")
    exc.body = json.dumps({"message": message})
    return exc


def spec(**overrides):
    values = dict(
        job_id=42, username="Alice Smith", group="research", groups=("research",),
        command="python -c \"print('hi')\"", env={"SEED": "1"}, cpu=1.5, memory=2 * 1024**3,
        timeout=3600, image="pytorch", container_image="quay.io/hubfront/pytorch:2.4",
    )
    values.update(overrides)
    return JobSpec(**values)


def executor(api, **config):
    return KubernetesExecutor(batch_api=api, core_api=api, namespace="jobs", **config)


def job_model(conditions=(), active=None, deleting=False):
    return k8s.V1Job(
        metadata=k8s.V1ObjectMeta(name="hubfront-job-42", namespace="jobs",
                                  deletion_timestamp="2024-05-01T00:00:00Z" if deleting else None),
        status=k8s.V1JobStatus(
            active=active,
            conditions=[k8s.V1JobCondition(type=t, status="True", reason=r, message=m) for t, r, m in conditions]
            or None,
        ),
    )


def pod_model(terminated=None, waiting=None, name="hubfront-job-42-abcde"):
    state = k8s.V1ContainerState(
        terminated=k8s.V1ContainerStateTerminated(**terminated) if terminated else None,
        waiting=k8s.V1ContainerStateWaiting(**waiting) if waiting else None,
    )
    status = k8s.V1ContainerStatus(name="job", image="x", image_id="", ready=False, restart_count=0, state=state)
    return k8s.V1Pod(
        metadata=k8s.V1ObjectMeta(name=name, creation_timestamp="2024-05-01T00:00:00Z"),
        status=k8s.V1PodStatus(phase="Running", container_statuses=[status]),
    )


def pods(*items):
    return k8s.V1PodList(items=list(items))


HANDLE = Handle("kubernetes", "jobs/hubfront-job-42")


# --- manifests -----------------------------------------------------------------


def test_cpu_job_manifest():
    manifest = executor(RecordedApi()).manifest(spec())
    assert manifest["apiVersion"] == "batch/v1" and manifest["kind"] == "Job"
    assert manifest["metadata"]["name"] == "hubfront-job-42"
    assert manifest["metadata"]["namespace"] == "jobs"
    labels = manifest["metadata"]["labels"]
    assert labels["hubfront.io/user"] == label_value("Alice Smith") == "alice-smith---8ae10dfc"  # a valid label value
    assert manifest["metadata"]["annotations"]["hubfront.io/username"] == "Alice Smith"
    assert labels["hubfront.io/group"] == "research" and labels["hubfront.io/job"] == "42"
    job = manifest["spec"]
    assert job["backoffLimit"] == 0
    assert job["activeDeadlineSeconds"] == 3600
    assert job["ttlSecondsAfterFinished"] == 86400
    assert job["template"]["metadata"]["labels"] == labels
    pod = job["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    # the "restricted" Pod Security Standard: never root, the runtime's seccomp profile
    assert pod["securityContext"] == {"fsGroup": 100, "runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
    assert pod["automountServiceAccountToken"] is False
    assert "nodeSelector" not in pod and "tolerations" not in pod
    (container,) = pod["containers"]
    assert container["image"] == "quay.io/hubfront/pytorch:2.4"
    assert container["command"] == ["/bin/bash", "-c", "python -c \"print('hi')\""]
    assert container["securityContext"] == {"runAsUser": 1000, "runAsGroup": 100, **LOCKED_DOWN}
    assert LOCKED_DOWN == {"runAsNonRoot": True, "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
                           "seccompProfile": {"type": "RuntimeDefault"}}
    assert container["resources"] == {
        "limits": {"cpu": "1500m", "memory": str(2 * 1024**3)},
        "requests": {"cpu": "1500m", "memory": str(2 * 1024**3)},
    }
    assert container["env"] == [{"name": "SEED", "value": "1"}, {"name": "NVIDIA_VISIBLE_DEVICES", "value": "none"}]


def test_gpu_job_manifest():
    manifest = executor(RecordedApi(), gpu_resource_name="amd.com/gpu", ttl_seconds_after_finished=600).manifest(spec(
        cpu=8, gpu=2, timeout=2.5, env={"NVIDIA_VISIBLE_DEVICES": "all"},
        node_selector={"gpu": "a100"}, tolerations=({"key": "gpu", "operator": "Exists", "effect": "NoSchedule"},),
    ))
    job = manifest["spec"]
    assert job["activeDeadlineSeconds"] == 3  # rounded up, never 0
    assert job["ttlSecondsAfterFinished"] == 600
    pod = job["template"]["spec"]
    assert pod["nodeSelector"] == {"gpu": "a100"}
    assert pod["tolerations"] == [{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}]
    (container,) = pod["containers"]
    assert container["resources"]["limits"] == {"cpu": "8", "memory": str(2 * 1024**3), "amd.com/gpu": "2"}
    assert "amd.com/gpu" not in container["resources"]["requests"]
    assert container["env"] == []  # the device plugin decides which GPUs the job sees


def test_no_deadline_no_ttl():
    job = executor(RecordedApi(), ttl_seconds_after_finished=None).manifest(spec(timeout=None, cpu=None))["spec"]
    assert "activeDeadlineSeconds" not in job and "ttlSecondsAfterFinished" not in job
    assert job["template"]["spec"]["containers"][0]["resources"]["requests"] == {"memory": str(2 * 1024**3)}


def test_image_without_container_image_is_refused():
    with pytest.raises(ExecutorError, match="no container image"):
        executor(RecordedApi()).manifest(spec(container_image=""))


# --- the API calls -------------------------------------------------------------------


async def test_start_creates_the_job():
    api = RecordedApi()
    ex = executor(api)
    handle = await ex.start(spec())
    assert handle == HANDLE
    assert api.calls == [("create_namespaced_job", {"namespace": "jobs", "body": ex.manifest(spec())})]


async def test_start_again_after_a_crash_does_not_create_a_second_job():
    api = RecordedApi(create_namespaced_job=api_error(409, "already exists"))
    assert await executor(api).start(spec()) == HANDLE


async def test_start_refused_is_a_user_facing_error():
    api = RecordedApi(create_namespaced_job=api_error(403, "exceeded quota: compute-resources"))
    with pytest.raises(ExecutorError, match="exceeded quota: compute-resources"):
        await executor(api).start(spec())


async def test_status_reads_the_job_then_its_pod():
    api = RecordedApi(read_namespaced_job_status=job_model(active=1), list_namespaced_pod=pods(pod_model()))
    status = await executor(api).status(HANDLE)
    assert status.phase == "Running" and not status.done
    assert api.calls == [
        ("read_namespaced_job_status", {"name": "hubfront-job-42", "namespace": "jobs"}),
        ("list_namespaced_pod", {"namespace": "jobs", "label_selector": "job-name=hubfront-job-42"}),
    ]


BACKOFF = ("Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit")


@pytest.mark.parametrize(
    "condition, terminated, expected",
    [
        (("Complete", None, None), {"exit_code": 0, "reason": "Completed"}, ("Succeeded", "", 0, "")),
        (BACKOFF, {"exit_code": 137, "reason": "OOMKilled"}, ("Failed", "OOMKilled", 137, "memory limit")),
        (BACKOFF, {"exit_code": 3, "reason": "Error"}, ("Failed", "ExitCode", 3, "Exited with code 3")),
        # the job controller has already removed the pod at the deadline
        (("Failed", "DeadlineExceeded", "Job was active longer than specified deadline"), None,
         ("Failed", "DeadlineExceeded", None, "longer than specified")),
    ],
    ids=["succeeded", "oom-killed", "exit-code", "deadline-exceeded"],
)
async def test_terminal_status_mapping(condition, terminated, expected):
    api = RecordedApi(
        read_namespaced_job_status=job_model([condition]),
        list_namespaced_pod=pods(pod_model(terminated=terminated)) if terminated else pods(),
    )
    status = await executor(api).status(HANDLE)
    assert (status.phase, status.reason, status.exit_code) == expected[:3]
    assert expected[3] in status.message
    assert status.done


def test_status_from_plain_json_and_the_newest_pod():
    job = {"status": {"conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]}}
    pod = {"status": {"message": "The node was low on resource: memory.", "reason": "Evicted"}}
    status = job_status(job, pod)
    assert (status.phase, status.reason) == ("Failed", "Error") and "low on resource" in status.message
    pending = {"status": {"containerStatuses": [{"name": "job", "state": {"waiting": {"reason": "InvalidImageName"}}}]}}
    assert job_status({"status": {"active": 1}}, pending).reason == "Error"
    pulling = {"status": {"containerStatuses": [{"name": "job", "state": {"waiting": {"reason": "ImagePullBackOff"}}}]}}
    assert job_status({"status": {"active": 1}}, pulling).phase == "Running"


async def test_logs_read_the_pod_log_from_an_offset():
    api = RecordedApi(list_namespaced_pod=pods(pod_model()), read_namespaced_pod_log=["hi\n", "hi\nthere\n"])
    ex = executor(api)
    assert await ex.logs(HANDLE) == (b"hi\n", 3)
    assert await ex.logs(HANDLE, 3) == (b"there\n", 9)
    assert api.calls[:2] == [
        ("list_namespaced_pod", {"namespace": "jobs", "label_selector": "job-name=hubfront-job-42"}),
        ("read_namespaced_pod_log", {"name": "hubfront-job-42-abcde", "namespace": "jobs", "container": "job"}),
    ]


async def test_logs_before_the_pod_exists_or_starts():
    assert await executor(RecordedApi(list_namespaced_pod=pods())).logs(HANDLE, 5) == (b"", 5)
    api = RecordedApi(list_namespaced_pod=pods(pod_model()), read_namespaced_pod_log=api_error(400, "waiting to start"))
    assert await executor(api).logs(HANDLE) == (b"", 0)


async def test_stop_deletes_the_job_and_reports_cancelled():
    api = RecordedApi(read_namespaced_job_status=api_error(404, "not found"))
    ex = executor(api)
    await ex.stop(HANDLE)
    status = await ex.status(HANDLE)
    assert (status.phase, status.reason) == ("Cancelled", "Cancelled")
    assert api.calls[0] == (
        "delete_namespaced_job", {"name": "hubfront-job-42", "namespace": "jobs", "propagation_policy": "Background"},
    )
    assert [c[0] for c in api.calls] == ["delete_namespaced_job", "read_namespaced_job_status"]


async def test_stop_of_a_job_already_gone_is_fine():
    api = RecordedApi(delete_namespaced_job=api_error(404))
    await executor(api).stop(HANDLE)


async def test_a_job_deleted_by_someone_else_fails():
    api = RecordedApi(read_namespaced_job_status=api_error(404))
    status = await executor(api).status(HANDLE)
    assert (status.phase, status.reason) == ("Failed", "Error")


@pytest.mark.parametrize(
    "reply, adopted",
    [
        (job_model(active=1), True),
        (job_model(), True),  # created, pod not scheduled yet
        (job_model([("Complete", None, None)]), False),
        (job_model([("Failed", "DeadlineExceeded", "")]), False),
        (job_model(active=1, deleting=True), False),
        (api_error(404), False),
    ],
)
async def test_adopt(reply, adopted):
    api = RecordedApi(read_namespaced_job_status=reply)
    assert await executor(api).adopt(HANDLE) is adopted
    assert api.calls == [("read_namespaced_job_status", {"name": "hubfront-job-42", "namespace": "jobs"})]


async def test_api_errors_are_executor_errors():
    api = RecordedApi(read_namespaced_job_status=api_error(500, "etcd is sad"))
    with pytest.raises(ExecutorError, match="etcd is sad"):
        await executor(api).status(HANDLE)
    with pytest.raises(ExecutorError, match="not a Kubernetes job handle"):
        await executor(api).status(Handle("local", "123:456"))


async def test_default_client_is_built_lazily_from_config(monkeypatch):
    from kubernetes_asyncio import config as k8s_config

    loaded = []
    monkeypatch.setattr(k8s_config, "load_incluster_config", lambda **kw: (_ for _ in ()).throw(
        k8s_config.ConfigException("not in a cluster")))

    async def load_kube_config(**kwargs):
        loaded.append(kwargs)
        kwargs["client_configuration"].host = "https://cluster.example:6443"

    monkeypatch.setattr(k8s_config, "load_kube_config", load_kube_config)
    ex = KubernetesExecutor(namespace="jobs")
    assert loaded == []  # nothing at construction
    batch, core = await ex._apis()
    assert isinstance(batch, k8s.BatchV1Api) and isinstance(core, k8s.CoreV1Api)
    assert batch.api_client is core.api_client
    assert batch.api_client.configuration.host == "https://cluster.example:6443"
    assert len(loaded) == 1
    await ex.close()


def test_namespace_default(monkeypatch):
    monkeypatch.setenv("POD_NAMESPACE", "hub-ns")
    assert KubernetesExecutor().namespace == "hub-ns"
