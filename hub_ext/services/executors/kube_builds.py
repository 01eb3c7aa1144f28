"""Image builds on Kubernetes: one ``batch/v1`` Job per build that builds a generated Dockerfile with
kaniko (default) or buildah (``c.ImageBuilds.tool``) and pushes it to the build's content-addressed
reference (``c.ImageBuilds.push_registry``; credentials from the Secret ``c.ImageBuilds.push_secret``,
a ``kubernetes.io/dockerconfigjson`` mounted as the builder's docker config).

The Dockerfile (``FROM`` the base's container image, then ``apt-get install``, ``conda install`` and
``pip install``, every spec shell-quoted) reaches the pod in an environment variable that the
container's first command writes into an ``emptyDir`` build context, so a build needs no ConfigMap.
The Job is named ``<job_name_prefix><build id>`` (start is idempotent per build), never retries, and
has the build timeout as its deadline. Status, logs, cancel (delete) and adoption after a runner
restart are the jobs executor's (:class:`.kubernetes.KubernetesExecutor`), whose API client and TTL it
shares (a handle names its namespace): its container is named like a job's.

Builds are the one kind of pod that is not "restricted" (``hub_ext.kube``): kaniko runs as root inside
its container (it unpacks the base image into its own filesystem and runs the ``RUN`` steps there);
buildah runs as root with ``--storage-driver vfs`` and ``--isolation chroot``, which need neither
``privileged`` nor an added capability. That is the Pod Security level "baseline", so the Jobs run in a
namespace of their own (``ImageBuilds.namespace``, labelled ``baseline``), apart from the users'
workloads, with the group's NetworkPolicy applied there too. kaniko gets the runtime's seccomp profile;
buildah keeps the runtime's default (its chroot isolation makes mounts the default profile may refuse).
Neither gets a Kubernetes API token.
"""

from __future__ import annotations

import shlex

from kubernetes_asyncio.client.exceptions import ApiException

from hub_ext.images.settings import ImageBuilds
from hub_ext.store.models_images import ImageBuild
from hub_ext.kube import GROUP_LABEL, RUNTIME_DEFAULT, USER_LABEL, api_message, label_value

from .base import BuildExecutor, ExecutorError, Handle, Status
from .kubernetes import CONTAINER, KubernetesExecutor

BUILD_LABEL = "hubfront.io/image-build"
CONTEXT = "/workspace"
PUSH_CONFIG = "/etc/hubfront/push"


def dockerfile(source: str, packages: dict[str, list[str]], user: int) -> str:
    """The Dockerfile of a build: each manager's specs installed in one layer, every spec quoted."""
    lines = [f"FROM {source}"]
    quoted = {m: " ".join(shlex.quote(s) for s in packages.get(m) or []) for m in ("apt", "conda", "pip")}
    if quoted["apt"]:
        lines += ["USER root",
                  "RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "
                  f"{quoted['apt']} && rm -rf /var/lib/apt/lists/*",
                  f"USER {user}"]
    if quoted["conda"]:
        lines.append(f"RUN conda install --yes {quoted['conda']} && conda clean --all --yes")
    if quoted["pip"]:
        lines.append(f"RUN python -m pip install --no-cache-dir {quoted['pip']}")
    return "\n".join(lines) + "\n"


class KubernetesBuilds(BuildExecutor):
    """Starts build Jobs; watches, reads, stops and adopts them through the jobs executor."""

    name = "kubernetes"

    def __init__(self, settings: ImageBuilds, jobs: KubernetesExecutor):
        self.settings = settings
        self.jobs = jobs

    @property
    def namespace(self) -> str:
        """Where the build Jobs run: ``ImageBuilds.namespace``, else the jobs' namespace."""
        return self.settings.namespace or self.jobs.namespace

    def job_name(self, build_id: int) -> str:
        return f"{self.settings.job_name_prefix}{build_id}"

    def command(self, ref: str) -> list[str]:
        """The container's command: write the Dockerfile, then build and push ``ref``."""
        write = f'mkdir -p {CONTEXT} && printf "%s" "$HUBFRONT_DOCKERFILE" > {CONTEXT}/Dockerfile'
        if self.settings.tool == "kaniko":
            build = ["/kaniko/executor", f"--context=dir://{CONTEXT}", f"--dockerfile={CONTEXT}/Dockerfile",
                     f"--destination={ref}", "--cleanup"]
            if self.settings.insecure_registry:
                build += ["--insecure", "--skip-tls-verify"]
            run = shlex.join(build)
        else:
            tls = ["--tls-verify=false"] if self.settings.insecure_registry else []
            run = (shlex.join(["buildah", "--storage-driver=vfs", "bud", "--isolation=chroot", *tls,
                               "-f", f"{CONTEXT}/Dockerfile", "-t", ref, CONTEXT])
                   + " && " + shlex.join(["buildah", "--storage-driver=vfs", "push", *tls, ref]))
        return ["/bin/sh", "-c", f"{write} && {run}"]

    def manifest(self, *, build_id: int, group: str, image: str, username: str, source: str,
                 packages: dict[str, list[str]], ref: str) -> dict:
        """The ``batch/v1`` Job that builds and pushes ``ref`` (Kubernetes JSON)."""
        labels = {"app.kubernetes.io/managed-by": "hubfront", "app.kubernetes.io/component": "image-build",
                  USER_LABEL: label_value(username), GROUP_LABEL: label_value(group), BUILD_LABEL: str(build_id)}
        env = [{"name": "HUBFRONT_DOCKERFILE", "value": dockerfile(source, packages, self.jobs.run_as_user)}]
        mounts = [{"name": "context", "mountPath": CONTEXT}]
        volumes = [{"name": "context", "emptyDir": {}}]
        if self.settings.push_secret:
            volumes.append({"name": "push-secret", "secret": {
                "secretName": self.settings.push_secret,
                "items": [{"key": ".dockerconfigjson", "path": "config.json"}]}})
            if self.settings.tool == "kaniko":
                mounts.append({"name": "push-secret", "mountPath": "/kaniko/.docker", "readOnly": True})
            else:
                mounts.append({"name": "push-secret", "mountPath": PUSH_CONFIG, "readOnly": True})
                env.append({"name": "REGISTRY_AUTH_FILE", "value": f"{PUSH_CONFIG}/config.json"})
        amounts = {"cpu": self.settings.cpu, "memory": self.settings.memory}
        container = {"name": CONTAINER, "image": self.settings.builder_image, "command": self.command(ref),
                     "env": env, "volumeMounts": mounts, "resources": {"limits": amounts, "requests": dict(amounts)},
                     "securityContext": {"runAsUser": 0, "runAsNonRoot": False}}  # "baseline": root, no privilege
        pod = {"restartPolicy": "Never", "automountServiceAccountToken": False,
               "terminationGracePeriodSeconds": self.jobs.termination_grace_period,
               "containers": [container], "volumes": volumes}
        if self.settings.tool == "kaniko":
            pod["securityContext"] = {"seccompProfile": dict(RUNTIME_DEFAULT)}
        if self.settings.node_selector:
            pod["nodeSelector"] = dict(self.settings.node_selector)
        job_spec = {"backoffLimit": 0, "activeDeadlineSeconds": self.settings.timeout,
                    "template": {"metadata": {"labels": dict(labels)}, "spec": pod}}
        if self.jobs.ttl_seconds_after_finished is not None:
            job_spec["ttlSecondsAfterFinished"] = self.jobs.ttl_seconds_after_finished
        return {"apiVersion": "batch/v1", "kind": "Job",
                "metadata": {"name": self.job_name(build_id), "namespace": self.namespace, "labels": labels,
                             "annotations": {"hubfront.io/username": username, "hubfront.io/group-name": group,
                                             "hubfront.io/image": image, "hubfront.io/ref": ref}},
                "spec": job_spec}

    async def start(self, build: ImageBuild) -> Handle:
        if not build.source:
            raise ExecutorError("The base image has no container image to build from")
        body = self.manifest(build_id=build.id, group=build.group, image=build.image, username=build.username,
                             source=build.source, packages=build.package_specs, ref=build.ref)
        batch, _ = await self.jobs._apis()
        await self.jobs.isolate(self.namespace, build.group)  # a build runs install scripts: confined too
        try:
            await batch.create_namespaced_job(namespace=self.namespace, body=body)
        except ApiException as exc:
            if exc.status != 409:  # 409: created by an earlier attempt for this build
                raise ExecutorError(f"Kubernetes refused the build job: {api_message(exc)}") from None
        return Handle("kubernetes", f"{self.namespace}/{body['metadata']['name']}")

    async def status(self, handle: Handle) -> Status:
        return await self.jobs.status(handle)

    async def logs(self, handle: Handle, offset: int = 0) -> tuple[bytes, int]:
        return await self.jobs.logs(handle, offset)

    async def stop(self, handle: Handle, grace: float = 10.0) -> None:
        await self.jobs.stop(handle, grace)

    async def adopt(self, handle: Handle) -> bool:
        return await self.jobs.adopt(handle)

