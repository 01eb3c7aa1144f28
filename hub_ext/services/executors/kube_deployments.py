"""Model deployments as an ``apps/v1`` Deployment behind a ``v1`` Service (production).

Each Hubfront deployment is one Deployment and one ClusterIP Service, both named
``<name_prefix><deployment id>`` (shortened with a hash beyond a DNS label's 63
characters), so ``apply`` is idempotent: a runner killed half-way through finds
what it created and updates it.

Zero downtime is Kubernetes' rolling update, held to the same rule as the local
executor: ``maxUnavailable: 0`` and ``maxSurge: 1`` mean an old replica is taken
down only after a new one passed its readiness probe (an HTTP GET on the spec's
health path), and each replica keeps serving for ``drain_seconds`` after it left
the Service's endpoints, before it gets SIGTERM. Every revision is written into
the pod template as an annotation, so a new revision always rolls out, and the
pods say which revision they serve. Unlike the local health check, a probe counts
only 2xx and 3xx answers as healthy: the health path must not answer 404.

Pods are set up like the jobs' (``kubernetes.KubernetesExecutor``, whose config
they share: uid, gid, fsGroup, GPU resource, shell, grace period, API token) and
locked down like notebook pods. The API client is the jobs executor's too (one
built lazily from the service account or kubeconfig), or injected ``apps_api``/``core_api``.
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import replace

import aiohttp
from kubernetes_asyncio import client as k8s
from kubernetes_asyncio import config as k8s_config
from kubernetes_asyncio.client.exceptions import ApiException
from traitlets import Float, Int, Unicode, default
from traitlets.config import LoggingConfigurable

from hub_ext.kube import GROUP_LABEL, USER_LABEL, api_message, label_value, plain

from .base import ExecutorError
from hub_ext.times import utcnow

from .kube_rollout import CONTAINER, REVISION_ANNOTATION, restarts_of, revision_of, rollout_status
from .deployments import DeploymentExecutor, DeploymentSpec, DeploymentStatus
from .health_checks import checked_path, without_health_checks
from .base import ConfigurableABC
from .kubernetes import KubernetesExecutor, with_storage

DEPLOYMENT_LABEL = "hubfront.io/deployment"
INSTANCE_LABEL = "app.kubernetes.io/instance"  # the object name: unique per installation in a namespace
# a container waiting for one of these will not become ready without a change to the deployment
class KubernetesDeployments(LoggingConfigurable, DeploymentExecutor, metaclass=ConfigurableABC):
    """Runs each deployment as a Deployment and a ClusterIP Service in one namespace."""

    name = "kubernetes"

    namespace = Unicode(
        help="""Namespace of the Deployments and Services. Defaults to the jobs'
        (``KubernetesExecutor.namespace``: ``$POD_NAMESPACE``, then the runner's
        service account's namespace, then ``default``). The runner's service
        account needs create/get/update/delete on deployments (apps),
        create/get/patch/delete on services, and get/list on pods and pods/log.""",
    ).tag(config=True)

    @default("namespace")
    def _namespace_default(self):
        return self.jobs.namespace

    name_prefix = Unicode(
        "hubfront-deploy-",
        help="""Prefix of the Deployment and Service names (then the deployment id); it starts
        with a letter (Service names are DNS labels). Change it when two Hubfronts share a namespace.""",
    ).tag(config=True)

    service_port = Int(80, help="Port of each deployment's Service (to the container's $PORT).").tag(config=True)
    cluster_domain = Unicode(
        "cluster.local", help="DNS domain of the cluster: endpoints are ``http://<service>.<namespace>.svc.<domain>``.",
    ).tag(config=True)
    progress_deadline = Int(
        900,
        help="""``progressDeadlineSeconds``: a revision whose replicas are not all
        ready this long after its roll-out began fails (HealthCheck) while the old
        replicas keep serving. Keep it above ``startup_timeout``.""",
    ).tag(config=True)
    startup_timeout = Int(
        600, help="Seconds a replica may take to pass its first health check (loading a model) before a restart.",
    ).tag(config=True)
    probe_period = Int(5, help="Seconds between health checks of a replica.").tag(config=True)
    probe_timeout = Int(3, help="Seconds a health check may take before it counts as failed.").tag(config=True)
    liveness_failures = Int(
        3, help="Failed health checks in a row before a running replica is restarted (it leaves the Service after 2).",
    ).tag(config=True)
    drain_seconds = Int(
        5,
        help="""Seconds a replica keeps running after it left the Service, before
        SIGTERM (a preStop sleep), so no request reaches a server that has exited.
        Keep it below ``KubernetesExecutor.termination_grace_period``. 0: none.""",
    ).tag(config=True)
    crash_log_lines = Int(20, help="Last log lines of a crashing replica in a CrashLoop message.").tag(config=True)
    restart_reset = Float(
        600.0, help="""Seconds a restarted replica's container must keep running for its restarts in a row
        (``DeploymentStatus.restarts``) to count from 0 again (the kubelet resets its back-off after 10 min).""",
    ).tag(config=True)
    status_max_age = Float(
        1.0, help="Seconds a status read from the API is reused (the runner asks several times a second). 0: never.",
    ).tag(config=True)

    def __init__(self, *, apps_api=None, core_api=None, jobs: KubernetesExecutor | None = None, **kwargs):
        super().__init__(**kwargs)
        self._apps, self._core, self._own_jobs = apps_api, core_api, jobs is None
        # pod settings and the API client, shared with the jobs (configured as KubernetesExecutor)
        self.jobs = jobs or KubernetesExecutor(parent=self, log=self.log, core_api=core_api)
        self._stopped: set[str] = set()  # deployment ids stopped by this runner
        self._statuses: dict[str, tuple[float, DeploymentStatus]] = {}  # id -> (monotonic time, status)
        self._restart_bases: dict[str, dict[str, int]] = {}  # id -> pod -> its restart count when last stable

    # --- the API --------------------------------------------------------------

    async def _apis(self):
        if self._apps is None or self._core is None:
            try:
                _, core = await self.jobs._apis()
            except k8s_config.ConfigException as exc:
                raise ExecutorError(f"No Kubernetes configuration: {exc}") from None
            self._core = self._core or core
            self._apps = self._apps or k8s.AppsV1Api(core.api_client)
        return self._apps, self._core

    async def close(self) -> None:
        """Close the API client built here (an addition to the DeploymentExecutor interface)."""
        if self._own_jobs:
            await self.jobs.close()

    async def _call(self, method, *, allow=(), what="Kubernetes API", **kwargs):
        """One API call; a status in ``allow`` comes back as the ApiException, other failures as ExecutorError."""
        try:
            return await method(**kwargs)
        except ApiException as exc:
            if exc.status in allow:
                return exc
            raise ExecutorError(f"{what}: {api_message(exc)}") from None
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            raise ExecutorError(f"{what}: the Kubernetes API cannot be reached ({exc})") from None

    # --- manifests ------------------------------------------------------------

    def object_name(self, deployment_id: str) -> str:
        return label_value(f"{self.name_prefix}{deployment_id}")

    def selector(self, deployment_id: str) -> dict[str, str]:
        """What the Deployment and the Service select (immutable once created, so no owner in it)."""
        return {DEPLOYMENT_LABEL: label_value(deployment_id), INSTANCE_LABEL: self.object_name(deployment_id)}

    def labels(self, spec: DeploymentSpec) -> dict[str, str]:
        return {"app.kubernetes.io/managed-by": "hubfront", USER_LABEL: label_value(spec.username),
                GROUP_LABEL: label_value(spec.group), **self.selector(spec.deployment_id)}

    def endpoint(self, deployment_id: str) -> str:
        host = f"{self.object_name(deployment_id)}.{self.namespace}.svc.{self.cluster_domain}"
        return f"http://{host}:{self.service_port}"

    def env(self, spec: DeploymentSpec) -> list[dict]:
        env = [item for item in self.jobs.env(spec) if item["name"] != "PORT"]
        return [*env, {"name": "PORT", "value": str(spec.port)}]

    def probes(self, spec: DeploymentSpec) -> dict:
        """Startup (room to load a model), readiness (in the Service or not), liveness (restart when hung)."""
        # the kubelet's checks carry the marker that keeps their lines out of the log (health_checks)
        check = {"httpGet": {"path": checked_path(spec.health_path), "port": spec.port},
                 "periodSeconds": self.probe_period, "timeoutSeconds": self.probe_timeout}
        starting = max(1, math.ceil(self.startup_timeout / self.probe_period))
        return {"startupProbe": {**check, "failureThreshold": starting},
                "readinessProbe": {**check, "failureThreshold": 2},
                "livenessProbe": {**check, "failureThreshold": self.liveness_failures}}

    def deployment_manifest(self, spec: DeploymentSpec, storage=None) -> dict:
        """The ``apps/v1`` Deployment for ``spec`` (Kubernetes JSON), with ``storage``'s volumes."""
        if not spec.container_image:
            raise ExecutorError(f"Image {spec.image!r} has no container image for Kubernetes")
        jobs = self.jobs
        labels = self.labels(spec)
        pod_context, container_context = jobs.security_contexts()  # as notebook pods' ("restricted")
        container = {
            "name": CONTAINER, "image": spec.container_image, "command": [*jobs.shell, spec.command],
            "env": self.env(spec),
            "ports": [{"name": "http", "containerPort": spec.port, "protocol": "TCP"}],
            "resources": jobs.resources(spec),
            **self.probes(spec),
            "securityContext": container_context,
        }
        if self.drain_seconds > 0:
            container["lifecycle"] = {"preStop": {"exec": {"command": [*jobs.shell, f"sleep {self.drain_seconds}"]}}}
        pod = {
            "automountServiceAccountToken": jobs.automount_service_account_token,
            "enableServiceLinks": False,  # no variables for every Service of the namespace
            "terminationGracePeriodSeconds": jobs.termination_grace_period,
            "securityContext": pod_context,
            "containers": [container],
        }
        if spec.node_selector:
            pod["nodeSelector"] = dict(spec.node_selector)
        if spec.tolerations:
            pod["tolerations"] = [dict(t) for t in spec.tolerations]
        with_storage(pod, storage)
        revision = {REVISION_ANNOTATION: str(spec.revision)}
        return {
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {
                "name": self.object_name(spec.deployment_id),
                "namespace": self.namespace,
                "labels": labels,
                "annotations": {**revision, "hubfront.io/username": spec.username,
                                "hubfront.io/group-name": spec.group},
            },
            "spec": {
                "replicas": spec.replicas,
                "selector": {"matchLabels": self.selector(spec.deployment_id)},
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
                "progressDeadlineSeconds": self.progress_deadline,
                "template": {"metadata": {"labels": dict(labels), "annotations": revision}, "spec": pod},
            },
        }

    def service_manifest(self, spec: DeploymentSpec) -> dict:
        """The ClusterIP Service in front of every ready replica, of any revision."""
        return {
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": self.object_name(spec.deployment_id), "namespace": self.namespace,
                         "labels": self.labels(spec)},
            "spec": {
                "type": "ClusterIP",
                "selector": self.selector(spec.deployment_id),
                "ports": [{"name": "http", "protocol": "TCP", "port": self.service_port, "targetPort": spec.port}],
            },
        }

    # --- the interface --------------------------------------------------------

    async def apply(self, spec: DeploymentSpec) -> None:
        """Create both objects; when they exist, replace the Deployment (so removed variables go) and
        patch the Service (its cluster IP stays)."""
        apps, core = await self._apis()
        deployment, service = self.deployment_manifest(spec, await self.jobs.pod_storage(spec)), self.service_manifest(spec)
        await self.jobs.isolate(self.namespace, spec.group)  # the group's NetworkPolicy (kube_network)
        await self._create_or_update(apps.create_namespaced_deployment, apps.replace_namespaced_deployment, deployment)
        await self._create_or_update(core.create_namespaced_service, core.patch_namespaced_service, service)
        self._stopped.discard(spec.deployment_id)
        self._statuses.pop(spec.deployment_id, None)

    async def _create_or_update(self, create, update, body: dict) -> None:
        what, target = f"Kubernetes refused the {body['kind']}", {"namespace": self.namespace, "body": body}
        if isinstance(await self._call(create, allow=(409,), what=what, **target), ApiException):  # 409: it exists
            await self._call(update, what=what, name=body["metadata"]["name"], **target)

    async def _deployment(self, deployment_id: str) -> dict | None:
        apps, _ = await self._apis()
        found = await self._call(apps.read_namespaced_deployment, allow=(404,),
                                 name=self.object_name(deployment_id), namespace=self.namespace)
        if isinstance(found, ApiException):
            return None
        deployment = plain(found)
        return None if deployment.get("metadata", {}).get("deletionTimestamp") else deployment

    async def _pods(self, deployment_id: str) -> list[dict]:
        _, core = await self._apis()
        selector = ",".join(f"{k}={v}" for k, v in self.selector(deployment_id).items())
        pods = plain(await self._call(core.list_namespaced_pod, namespace=self.namespace, label_selector=selector))
        return [p for p in (pods or {}).get("items") or [] if not p.get("metadata", {}).get("deletionTimestamp")]

    async def _read_log(self, pod: dict, **options) -> str:
        """A replica's log ("" before its container started, or once the pod is gone)."""
        _, core = await self._apis()
        text = await self._call(core.read_namespaced_pod_log, allow=(400, 404), name=pod["metadata"]["name"],
                                namespace=self.namespace, container=CONTAINER, **options)
        if isinstance(text, ApiException) or text is None:
            return ""
        return text if isinstance(text, str) else bytes(text).decode("utf-8", "replace")

    async def status(self, deployment_id: str) -> DeploymentStatus:
        """Read from the API at most every ``status_max_age`` seconds. ``checked`` is when the pods were
        seen ready (the kubelet's readiness probes are the health checks): the forwarder takes the
        Service back into its rotation with the next status after a failed request."""
        now = time.monotonic()
        read, status = self._statuses.get(deployment_id, (-math.inf, None))
        if status is None or now - read > self.status_max_age:
            status = await self._read_status(deployment_id, now)
            self._statuses[deployment_id] = (now, status)
        return status

    async def _read_status(self, deployment_id: str, now: float) -> DeploymentStatus:
        deployment = await self._deployment(deployment_id)
        if deployment is None:
            if deployment_id in self._stopped:
                return DeploymentStatus(revision=0, available=0, desired=0, message="Stopped")
            return DeploymentStatus(revision=0, available=0, desired=0, failed="Error",
                                    message="The Kubernetes Deployment is gone (deleted outside Hubfront)")
        pods = await self._pods(deployment_id)
        status, crashing = rollout_status(deployment, pods, self.endpoint(deployment_id))
        bases = self._restart_bases.setdefault(deployment_id, {})
        restarts, reason, how = restarts_of(pods, revision_of(deployment["metadata"]), bases, utcnow(),
                                            self.restart_reset)
        status = replace(status, restarts=restarts, restart_reason=reason, restart_message=how)
        if crashing is not None:
            # the crashed run's output; a container that never finished one has none
            tail = await self._read_log(crashing, previous=True, tail_lines=self.crash_log_lines)
            if tail.strip():
                status = replace(status, message=f"{status.message}; last log lines:\n{tail.rstrip()}")
        return replace(status, checked=now) if status.endpoints else status

    async def logs(self, deployment_id: str, offset: int = 0) -> tuple[bytes, int]:
        """Every replica's log under a header line, newest revision first, read whole each time (the API
        has no byte offsets) and cut at ``offset``. When replicas went away and the text became shorter
        than ``offset``, it is all returned again from its start."""
        pods = sorted(await self._pods(deployment_id), key=lambda p: (
            -revision_of(p["metadata"]), str(p["metadata"].get("creationTimestamp", "")), p["metadata"]["name"]))
        parts = []
        for pod in pods:
            meta = pod["metadata"]
            text = without_health_checks((await self._read_log(pod)).encode()).decode()
            parts.append(f"==> {meta['name']} (revision {revision_of(meta)}) <==\n{text}")
            if text and not text.endswith("\n"):
                parts.append("\n")
        data = "".join(parts).encode("utf-8", "replace")
        if offset > len(data):
            offset = 0
        return data[offset:], len(data)

    async def stop(self, deployment_id: str) -> None:
        """Delete the Deployment (its pods go in the background, each draining first) and the Service."""
        apps, core = await self._apis()
        target = {"name": self.object_name(deployment_id), "namespace": self.namespace}
        await self._call(apps.delete_namespaced_deployment, allow=(404,), propagation_policy="Background", **target)
        await self._call(core.delete_namespaced_service, allow=(404,), **target)
        self._stopped.add(deployment_id)
        self._statuses.pop(deployment_id, None)
        self._restart_bases.pop(deployment_id, None)

    async def adopt(self, spec: DeploymentSpec) -> bool:
        deployment = await self._deployment(spec.deployment_id)
        return deployment is not None and revision_of(deployment["metadata"]) == spec.revision
