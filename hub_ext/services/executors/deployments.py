"""The deployment side of the executor seam: how a model deployment's replicas are
made to match its spec, watched, read and stopped (issue 11).

A deployment is long-running and replicated, so its executor works on the whole
deployment, not one process: ``apply`` makes the running replicas match a spec
revision (starting the new revision's replicas, waiting for their health check,
shifting traffic, then stopping the old ones), ``status`` says how many are
ready and where they listen, ``stop`` ends them all. ``local.LocalDeployments``
(processes of the owner's OS account) and ``kube_deployments.KubernetesDeployments``
(an ``apps/v1`` Deployment and a ``v1`` Service) implement it.

Apps (issue 13) are one-replica deployments of their own executor instance (its own
``kind``: cgroups, state files and object names apart from the deployments'), run as
their group's service account (``DeploymentSpec.service_account``).

The runner reserves every replica in the ledger before ``apply`` and releases the
old revision's reservations once ``status`` reports the new revision rolled out.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field

# machine-readable reasons a deployment is Failed with
REASONS = ("ImageNotFound", "ModelNotFound", "CrashLoop", "Unschedulable", "OverQuota", "HealthCheck", "Error")
# why a replica's process (container) ended before it was restarted
RESTART_REASONS = ("OOMKilled", "ExitCode", "Error")


@dataclass(frozen=True)
class DeploymentSpec:
    """One revision of a deployment, everything decided (image, resources, command)."""

    deployment_id: str  # DNS label, unique on the platform
    revision: int  # grows by one with every change that needs new replicas
    username: str  # the owner: replicas run as this OS account (local) / are labelled with it
    group: str
    groups: tuple[str, ...]  # the owner's hub groups (Unix groups of the OS account)
    command: str  # run by /bin/bash -c; must listen on $PORT (a model: ``mlflow models serve``, built by the runner)
    replicas: int = 1
    env: dict[str, str] = field(default_factory=dict)
    cpu: float | None = None  # cores per replica
    memory: int | None = None  # bytes per replica
    gpu: int = 0  # per replica
    gpu_devices: tuple[tuple[int, ...], ...] = ()  # local: the devices the ledger granted, per replica
    health_path: str = "/"  # GET on it answers 2xx/3xx/4xx when a replica is ready (5xx or no answer: not ready)
    port: int = 8080  # Kubernetes: the container port ($PORT); local replicas get a free loopback port each
    image: str = ""  # catalog image name
    python: str = ""  # local: interpreter of the image's environment ("": the hub's)
    container_image: str = ""  # Kubernetes: the image (CPU or GPU variant already chosen)
    node_selector: dict[str, str] = field(default_factory=dict)
    tolerations: tuple[dict, ...] = ()
    service_account: bool = False  # an app: runs as its group's service account, not as username's


@dataclass(frozen=True)
class DeploymentStatus:
    """Where a deployment's replicas are now."""

    revision: int  # the revision that serves (the newest that became ready); 0: none has
    available: int  # ready replicas of the serving revision
    desired: int
    endpoints: tuple[str, ...] = ()  # base URLs of ready replicas ("http://127.0.0.1:41234"), or of the Service
    rolled_out: bool = False  # the latest applied revision serves and no older replica is left
    failed: str = ""  # one of REASONS when the latest revision cannot become ready
    message: str = ""  # for the user: why it failed (with the last log lines for a crash loop), or progress
    checked: float = 0.0  # time.monotonic() of the health checks these endpoints passed (0: not checked here)
    # restarts of the latest revision's most restarted replica in a row (its process or container ended and was
    # started again without staying up in between), and why the last one ended: ``restart_reason`` one of
    # RESTART_REASONS, ``restart_message`` for people ("Out of memory (limit 1 GiB)", "Exit code 1")
    restarts: int = 0
    restart_reason: str = ""
    restart_message: str = ""


class DeploymentExecutor(abc.ABC):
    name: str

    @abc.abstractmethod
    async def apply(self, spec: DeploymentSpec) -> None:
        """Make the deployment's replicas match ``spec`` (idempotent; a newer revision rolls out
        without downtime, the old replicas serving until the new ones are ready)."""

    @abc.abstractmethod
    async def status(self, deployment_id: str) -> DeploymentStatus:
        """Ready replicas, endpoints, roll-out and failure of the deployment, and its replicas' restarts."""

    @abc.abstractmethod
    async def logs(self, deployment_id: str, offset: int = 0) -> tuple[bytes, int]:
        """Output of the deployment's replicas (newest revision first) from ``offset`` on, and the next offset."""

    @abc.abstractmethod
    async def stop(self, deployment_id: str) -> None:
        """End every replica (the deployment can be applied again later)."""

    @abc.abstractmethod
    async def adopt(self, spec: DeploymentSpec) -> bool:
        """After a runner restart: True when replicas of ``spec`` still run (and are watched again)."""
