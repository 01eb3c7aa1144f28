"""The executor interfaces: how an admitted workload is started, watched, read, stopped and adopted
back after a runner restart, declared once per kind, every operation async:

- :class:`Executor`: jobs (``local.LocalExecutor``: processes, the embedded default;
  ``kubernetes.KubernetesExecutor``: batch/v1 Jobs);
- :class:`.deployments.DeploymentExecutor`: deployments and apps (``local_deployments``,
  ``kube_deployments``);
- :class:`BuildExecutor`: image builds (``local_builds``, ``kube_builds``).

The runner only talks to these interfaces, never probes for a method. Everything an
executor needs to find a workload again is in its ``Handle``, which the runner stores in
the portal DB. :class:`ConfigurableABC` is the metaclass an executor that is also
configurable (traitlets) needs.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field, replace
from typing import Awaitable, Callable

from traitlets import MetaHasTraits


class ConfigurableABC(MetaHasTraits, abc.ABCMeta):
    """The metaclass of an executor that is a traitlets ``LoggingConfigurable`` and implements an interface."""

# machine-readable reasons a job ends with (issue 10)
REASONS = ("OverQuota", "DeadlineExceeded", "Cancelled", "ExitCode", "OOMKilled", "ImageBuildFailed",
           "ServiceRestart", "Error")


@dataclass(frozen=True)
class JobSpec:
    """What to run, for whom, with which resources (all decided before the executor is called)."""

    job_id: int
    username: str
    group: str
    groups: tuple[str, ...]  # the user's hub groups (Unix groups of the OS account)
    command: str  # run by /bin/bash -c (local) or as the container's command (Kubernetes)
    env: dict[str, str] = field(default_factory=dict)
    cpu: float | None = None  # cores
    memory: int | None = None  # bytes
    gpu: int = 0
    gpu_devices: tuple[int, ...] = ()  # local: the devices the ledger granted
    timeout: float | None = None  # seconds from start; None: no deadline
    image: str = ""  # catalog image name
    python: str = ""  # local: interpreter of the image's environment ("" : the hub's)
    container_image: str = ""  # Kubernetes: the image (CPU or GPU variant already chosen)
    node_selector: dict[str, str] = field(default_factory=dict)
    tolerations: tuple[dict, ...] = ()
    # local: other workloads started like a job (a deployment's replica: kind "deployment", id
    # "<deployment>-r<revision>-<index>") name their cgroup, log file and working directory by these
    kind: str = "job"
    workload_id: str = ""  # "": the job id
    dataset_pins: dict[str, int] = field(default_factory=dict)  # {"name": 3}: dataset name@v3 (read-only)
    # an app: runs as its group's service account (home <data>/service-homes/<account>), not as username's
    service_account: bool = False
    # variables still being made (a job's API token, which the hub mints while the executor prepares the
    # workload): a future of a dict that never fails; ``resolved()`` waits for it before the workload starts
    env_pending: Awaitable[dict[str, str]] | None = field(default=None, compare=False, repr=False)

    async def resolved(self) -> "JobSpec":
        """This spec with ``env_pending`` waited for and merged into ``env``."""
        if self.env_pending is None:
            return self
        return replace(self, env={**self.env, **await self.env_pending}, env_pending=None)

    @property
    def workload(self) -> str:
        """The id the workload's cgroup, log file and working directory are named by."""
        return self.workload_id or str(self.job_id)


@dataclass(frozen=True)
class Handle:
    """How to find a started workload again (stored by the runner)."""

    executor: str  # "local" | "kubernetes"
    ref: str  # local: "<pid>:<process start time>"; Kubernetes: "<namespace>/<job name>"


@dataclass(frozen=True)
class Status:
    phase: str  # "Running" | "Succeeded" | "Failed" | "Cancelled"
    reason: str = ""  # one of REASONS when the phase is Failed or Cancelled
    message: str = ""
    exit_code: int | None = None

    @property
    def done(self) -> bool:
        return self.phase in ("Succeeded", "Failed", "Cancelled")


class Watched(abc.ABC):
    """What every workload started by a handle shares (a job, an image build): watched, read, stopped,
    adopted back after a runner restart, and forgotten once its record no longer needs it."""

    name: str

    @abc.abstractmethod
    async def status(self, handle: Handle) -> Status:
        """Where the workload is now (deadline, exit code and out-of-memory included)."""

    @abc.abstractmethod
    async def logs(self, handle: Handle, offset: int = 0) -> tuple[bytes, int]:
        """Output (stdout and stderr) from byte ``offset`` on, and the offset to ask from next."""

    @abc.abstractmethod
    async def stop(self, handle: Handle, grace: float = 10.0) -> None:
        """Stop it: SIGTERM (or delete) first, forcibly after ``grace`` seconds."""

    @abc.abstractmethod
    async def adopt(self, handle: Handle) -> bool:
        """After a runner restart: True when the workload still runs (and is watched again)."""

    async def forget(self, handle: Handle) -> None:
        """Its record is gone or final: remove what the executor still keeps of it. Nothing by default."""

    def prepare(self) -> None:
        """Get ready to start workloads without delay (the runner calls it once, at its start). Nothing by
        default."""

    def notify(self, callback: Callable[[Handle], None]) -> bool:
        """Have ``callback(handle)`` called in the running event loop when a workload may have changed (ended,
        above all), so that its watcher looks at once. False (the default): this executor cannot tell, and
        its watchers only look from time to time; they keep doing so anyway, as the fallback."""
        return False


class Executor(Watched):
    """Jobs (and, through them, the local replicas of deployments and apps)."""

    @abc.abstractmethod
    async def start(self, spec: JobSpec) -> Handle:
        """Start the workload; raise ``ExecutorError`` with a user-facing message when it cannot."""

    async def artifacts(self, handle: Handle, *, job_id: int, username: str, max_bytes: int, max_files: int):
        """The files the ended job left to keep (``hub_ext.jobs.artifacts.Collected``), or None when this
        executor keeps none (a pod's files end with it)."""
        return None


class BuildExecutor(Watched):
    """Image builds: started from the build's row."""

    @abc.abstractmethod
    async def start(self, build) -> Handle:
        """Start building ``build`` (a ``store.models_images.ImageBuild``)."""


class ExecutorError(Exception):
    """A workload could not be started or reached; the message is for the user."""
