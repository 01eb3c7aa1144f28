"""Jobs as Kubernetes ``batch/v1`` Jobs (production), through kubernetes_asyncio.

One Job per job, named ``<job_name_prefix><job id>`` so a runner killed between
creating it and recording the handle finds it again instead of starting a second
one (``start`` is idempotent per job id). The Job never retries
(``backoffLimit: 0``), its deadline is the job's timeout
(``activeDeadlineSeconds``) and Kubernetes removes it some time after it ends
(``ttlSecondsAfterFinished``): the runner must have read status and logs by then.

The pod is locked down like notebook pods (``hub_ext.kube.security_contexts``: the
"restricted" Pod Security Standard, a non-root uid, no API token) and gets the instance type's resources with limits
equal to requests, so what the ledger counted is what the pod may use. Before
a group's first pod, the group's NetworkPolicy is applied (``kube_network``).

The API objects are injectable (``batch_api``, ``core_api``, ``networking_api``):
tests pass a recorded fake; otherwise one client is built lazily from the in-cluster service
account, or from kubeconfig outside a cluster. Results are read as Kubernetes
JSON (camelCase dicts), whether the API returned model objects or dicts.
"""

from __future__ import annotations

import asyncio
import math

from kubernetes_asyncio import client as k8s
from kubernetes_asyncio import config as k8s_config
from kubernetes_asyncio.client.exceptions import ApiException
from traitlets import Bool, Int, List, Unicode, default
from traitlets.config import LoggingConfigurable

from hub_ext.storage.kube import KubeStorage, PodStorage
from hub_ext.storage.mounts import MountError
from hub_ext.kube import GROUP_LABEL, USER_LABEL, api_message, label_value, own_namespace, plain, security_contexts

from .base import ConfigurableABC, Executor, ExecutorError, Handle, JobSpec, Status
from .kube_network import KubeNetwork

JOB_LABEL = "hubfront.io/job"
CONTAINER = "job"
# the pod will never start without someone changing the job: fail now, not at the deadline
_HOPELESS_WAITING = ("InvalidImageName", "ErrImageNeverPull", "CreateContainerConfigError")


def with_storage(pod: dict, storage: PodStorage | None) -> None:
    """Add the group's storage, datasets and folders (``hub_ext.storage.kube``) to a pod spec."""
    if storage is None:
        return
    pod["volumes"] = [*pod.get("volumes", []), *storage.volumes]
    for container in pod["containers"]:
        container["volumeMounts"] = [*container.get("volumeMounts", []), *storage.volume_mounts]
        names = {item["name"] for item in storage_env(storage)}
        container["env"] = [e for e in container.get("env", []) if e["name"] not in names] + storage_env(storage)


def storage_env(storage: PodStorage) -> list[dict]:
    return [{"name": k, "value": v} for k, v in storage.env.items()]


def cpu_quantity(cores: float) -> str:
    millis = round(cores * 1000)
    return str(millis // 1000) if millis % 1000 == 0 else f"{millis}m"


class KubernetesExecutor(LoggingConfigurable, Executor, metaclass=ConfigurableABC):
    """Runs each job as a ``batch/v1`` Job in one namespace."""

    name = "kubernetes"

    namespace = Unicode(
        help="""Namespace the Jobs are created in. Defaults to ``$POD_NAMESPACE``,
        then the namespace of the runner's service account (in a cluster), then
        ``default``. The runner's service account needs the Role of
        ``config/kubernetes/rbac.yaml`` there (a test keeps it in step with the code).""",
    ).tag(config=True)

    @default("namespace")
    def _namespace_default(self):
        return own_namespace()

    job_name_prefix = Unicode(
        "hubfront-job-",
        help="""Prefix of the Job names (followed by the job id). Change it when
        two Hubfront installations share a namespace.""",
    ).tag(config=True)

    ttl_seconds_after_finished = Int(
        86400,
        allow_none=True,
        help="""``ttlSecondsAfterFinished`` of each Job: Kubernetes deletes a
        finished Job (and its pod and log) this long after it ends. The runner
        keeps status and logs in the portal DB before that. None: never.""",
    ).tag(config=True)

    gpu_resource_name = Unicode(
        "nvidia.com/gpu",
        help="""Extended resource that requests GPUs (the job's gpu count is set
        as its limit); for example ``amd.com/gpu`` for other device plugins.""",
    ).tag(config=True)

    run_as_user = Int(1000, min=1, help="uid of the job's container (jovyan in the Jupyter Docker Stacks images); "
                                        "never 0 (root).").tag(config=True)

    run_as_group = Int(100, help="Primary gid of the job's container.").tag(config=True)
    fs_group = Int(100, help="``fsGroup`` of the job's pod: mounted volumes are writable by this group.").tag(config=True)

    shell = List(
        Unicode(),
        ["/bin/bash", "-c"],
        help="""The job's command runs as ``shell + [command]`` (the container's
        command, replacing the image's entrypoint).""",
    ).tag(config=True)

    termination_grace_period = Int(
        10,
        help="""Seconds between SIGTERM and SIGKILL when a job is cancelled or
        hits its deadline (the pod's ``terminationGracePeriodSeconds``).""",
    ).tag(config=True)

    automount_service_account_token = Bool(
        False,
        help="Give job pods a Kubernetes API token (off: a job has no business with the API).",
    ).tag(config=True)

    # the storage every workload mounts (hub_ext.storage.mounts.MountSource; set by the runner), None: none
    mounts = None

    def __init__(self, *, batch_api=None, core_api=None, networking_api=None, **kwargs):
        super().__init__(**kwargs)
        self.storage = KubeStorage(parent=self, log=self.log)
        self.network = KubeNetwork(parent=self, log=self.log)
        self._batch = batch_api
        self._core = core_api
        self._networking = networking_api
        self._client = None  # the ApiClient built here, closed by close()
        self._cancelled: set[str] = set()  # refs stopped by this runner

    # --- the API --------------------------------------------------------------

    async def _apis(self):
        if self._batch is None or self._core is None:
            if self._client is None:
                configuration = k8s.Configuration()
                try:
                    k8s_config.load_incluster_config(client_configuration=configuration)
                except k8s_config.ConfigException:
                    await k8s_config.load_kube_config(client_configuration=configuration, persist_config=False)
                self._client = k8s.ApiClient(configuration=configuration)
            self._batch = self._batch or k8s.BatchV1Api(self._client)
            self._core = self._core or k8s.CoreV1Api(self._client)
        return self._batch, self._core

    async def isolate(self, namespace: str, group: str) -> None:
        """The group's NetworkPolicy in ``namespace`` (``kube_network``), before its workload's pods are made."""
        if self._networking is None:
            if self._core is not None and self._client is None:
                return  # APIs given to the constructor (tests) without a networking one
            await self._apis()
            self._networking = k8s.NetworkingV1Api(self._client)
        await self.network.apply(self._networking, namespace, group)

    async def close(self) -> None:
        """Close the API client built here (an addition to the Executor interface)."""
        if self._client is not None:
            await self._client.close()
            self._client = None

    # --- manifests ------------------------------------------------------------

    def job_name(self, spec: JobSpec) -> str:
        return f"{self.job_name_prefix}{spec.job_id}"

    def labels(self, spec: JobSpec) -> dict[str, str]:
        return {
            "app.kubernetes.io/managed-by": "hubfront",
            USER_LABEL: label_value(spec.username),
            GROUP_LABEL: label_value(spec.group),
            JOB_LABEL: str(spec.job_id),
        }

    def resources(self, spec: JobSpec) -> dict:
        amounts = {}
        if spec.cpu:
            amounts["cpu"] = cpu_quantity(spec.cpu)
        if spec.memory:
            amounts["memory"] = str(int(spec.memory))
        limits = dict(amounts)
        if spec.gpu:
            # an extended resource's request defaults to its limit
            limits[self.gpu_resource_name] = str(int(spec.gpu))
        return {"limits": limits, "requests": amounts}

    def env(self, spec: JobSpec) -> list[dict]:
        env = {k: v for k, v in spec.env.items() if k != "NVIDIA_VISIBLE_DEVICES"}
        if not spec.gpu:
            # CUDA images default to "all": without this a job would see every GPU of its node
            env["NVIDIA_VISIBLE_DEVICES"] = "none"
        return [{"name": k, "value": str(v)} for k, v in env.items()]

    async def pod_storage(self, spec) -> PodStorage | None:
        """The group's storage (made before its first pod) and what the pod mounts; None without ``mounts``."""
        if self.mounts is None:
            return None
        _, core = await self._apis()
        pins = dict(getattr(spec, "dataset_pins", None) or {}) or None
        try:
            mounts = await asyncio.to_thread(self.mounts.mounts, spec.username, spec.group, pins, False)
            return await self.storage.prepare(core, mounts, self.namespace)
        except MountError as exc:
            raise ExecutorError(str(exc)) from None

    def security_contexts(self) -> tuple[dict, dict]:
        """The pod's and the container's securityContext ("restricted"), as notebook pods'."""
        return security_contexts(self.run_as_user, self.run_as_group, self.fs_group)

    def manifest(self, spec: JobSpec, storage: PodStorage | None = None) -> dict:
        """The ``batch/v1`` Job for ``spec`` (Kubernetes JSON), with ``storage``'s volumes."""
        if not spec.container_image:
            raise ExecutorError(f"Image {spec.image!r} has no container image for Kubernetes")
        labels = self.labels(spec)
        job_spec = {"backoffLimit": 0}
        if spec.timeout is not None:
            job_spec["activeDeadlineSeconds"] = max(1, math.ceil(spec.timeout))
        if self.ttl_seconds_after_finished is not None:
            job_spec["ttlSecondsAfterFinished"] = self.ttl_seconds_after_finished
        pod_context, container_context = self.security_contexts()
        pod = {
            "restartPolicy": "Never",
            "automountServiceAccountToken": self.automount_service_account_token,
            "terminationGracePeriodSeconds": self.termination_grace_period,
            "securityContext": pod_context,
            "containers": [{
                "name": CONTAINER,
                "image": spec.container_image,
                "command": [*self.shell, spec.command],
                "env": self.env(spec),
                "resources": self.resources(spec),
                "securityContext": container_context,
            }],
        }
        if spec.node_selector:
            pod["nodeSelector"] = dict(spec.node_selector)
        if spec.tolerations:
            pod["tolerations"] = [dict(t) for t in spec.tolerations]
        with_storage(pod, storage)
        job_spec["template"] = {"metadata": {"labels": dict(labels)}, "spec": pod}
        return {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {
                "name": self.job_name(spec),
                "namespace": self.namespace,
                "labels": labels,
                "annotations": {"hubfront.io/username": spec.username, "hubfront.io/group-name": spec.group},
            },
            "spec": job_spec,
        }

    # --- the interface --------------------------------------------------------

    @staticmethod
    def _ref(handle: Handle) -> tuple[str, str]:
        namespace, _, name = handle.ref.partition("/")
        if handle.executor != "kubernetes" or not namespace or not name:
            raise ExecutorError(f"not a Kubernetes job handle: {handle.executor}:{handle.ref}")
        return namespace, name

    async def start(self, spec: JobSpec) -> Handle:
        spec = await spec.resolved()
        body = self.manifest(spec, await self.pod_storage(spec))
        batch, _ = await self._apis()
        await self.isolate(self.namespace, spec.group)
        try:
            await batch.create_namespaced_job(namespace=self.namespace, body=body)
        except ApiException as exc:
            if exc.status != 409:  # 409: created by an earlier attempt for this job id
                raise ExecutorError(f"Kubernetes refused the job: {api_message(exc)}") from None
        return Handle("kubernetes", f"{self.namespace}/{body['metadata']['name']}")

    async def _job(self, namespace: str, name: str) -> dict | None:
        batch, _ = await self._apis()
        try:
            return plain(await batch.read_namespaced_job_status(name=name, namespace=namespace))
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise ExecutorError(f"Kubernetes API: {api_message(exc)}") from None

    async def _pod(self, namespace: str, name: str) -> dict | None:
        """The job's newest pod (one at most with ``backoffLimit: 0``, but be sure)."""
        _, core = await self._apis()
        try:
            pods = plain(await core.list_namespaced_pod(namespace=namespace, label_selector=f"job-name={name}"))
        except ApiException as exc:
            raise ExecutorError(f"Kubernetes API: {api_message(exc)}") from None
        items = pods.get("items") or []
        items.sort(key=lambda p: str(p.get("metadata", {}).get("creationTimestamp", "")))
        return items[-1] if items else None

    async def status(self, handle: Handle) -> Status:
        namespace, name = self._ref(handle)
        job = await self._job(namespace, name)
        if job is None or job.get("metadata", {}).get("deletionTimestamp"):
            if handle.ref in self._cancelled or job is not None:
                return Status("Cancelled", "Cancelled", "Cancelled")
            return Status("Failed", "Error", "The Kubernetes Job is gone (deleted outside Hubfront, or expired)")
        pod = await self._pod(namespace, name)
        return job_status(job, pod)

    async def logs(self, handle: Handle, offset: int = 0) -> tuple[bytes, int]:
        """The pod's whole log is read each time (the API has no byte offsets) and cut at ``offset``."""
        namespace, name = self._ref(handle)
        pod = await self._pod(namespace, name)
        if pod is None:
            return b"", offset
        _, core = await self._apis()
        try:
            text = await core.read_namespaced_pod_log(
                name=pod["metadata"]["name"], namespace=namespace, container=CONTAINER
            )
        except ApiException as exc:
            if exc.status in (400, 404):  # not started yet, or gone
                return b"", offset
            raise ExecutorError(f"Kubernetes API: {api_message(exc)}") from None
        data = text.encode("utf-8", "replace") if isinstance(text, str) else bytes(text or b"")
        return data[offset:], max(offset, len(data))

    async def stop(self, handle: Handle, grace: float = 10.0) -> None:
        """Delete the Job and (in the background) its pod: SIGTERM, SIGKILL after the pod's grace.

        ``grace`` is fixed when the pod is created (``termination_grace_period``).
        """
        namespace, name = self._ref(handle)
        batch, _ = await self._apis()
        try:
            await batch.delete_namespaced_job(name=name, namespace=namespace, propagation_policy="Background")
        except ApiException as exc:
            if exc.status != 404:
                raise ExecutorError(f"Kubernetes API: {api_message(exc)}") from None
        self._cancelled.add(handle.ref)

    async def adopt(self, handle: Handle) -> bool:
        namespace, name = self._ref(handle)
        job = await self._job(namespace, name)
        if job is None or job.get("metadata", {}).get("deletionTimestamp"):
            return False
        return _finished(job) is None


def _finished(job: dict) -> dict | None:
    """The Job's terminal condition (Complete or Failed), if any."""
    for condition in job.get("status", {}).get("conditions") or []:
        if condition.get("status") == "True" and condition.get("type") in ("Complete", "Failed", "FailureTarget"):
            return condition
    return None


def _container(pod: dict | None) -> dict:
    for status in (pod or {}).get("status", {}).get("containerStatuses") or []:
        if status.get("name") == CONTAINER:
            return status
    return {}


def job_status(job: dict, pod: dict | None) -> Status:
    """The job's Status from its Job and pod (Kubernetes JSON)."""
    condition = _finished(job)
    container = _container(pod)
    state = container.get("state", {})
    if condition is None:
        waiting = state.get("waiting") or {}
        if waiting.get("reason") in _HOPELESS_WAITING:
            return Status("Failed", "Error", f"{waiting['reason']}: {waiting.get('message', '')}".rstrip(": "))
        if waiting.get("reason"):
            return Status("Running", message=f"Waiting: {waiting['reason']}")
        return Status("Running")
    if condition["type"] == "Complete":
        return Status("Succeeded", exit_code=0)
    if condition.get("reason") == "DeadlineExceeded":
        return Status("Failed", "DeadlineExceeded", condition.get("message") or "The job ran past its timeout")
    terminated = state.get("terminated") or container.get("lastState", {}).get("terminated") or {}
    code = terminated.get("exitCode")
    if terminated.get("reason") == "OOMKilled":
        return Status("Failed", "OOMKilled", "Out of memory: the job used more than its memory limit", code)
    if code not in (None, 0):
        return Status("Failed", "ExitCode", f"Exited with code {code}", code)
    pod_status = (pod or {}).get("status", {})
    message = pod_status.get("message") or condition.get("message") or condition.get("reason") or "The job failed"
    return Status("Failed", "Error", message, code)
