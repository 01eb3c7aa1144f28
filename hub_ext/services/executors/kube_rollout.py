"""How a deployment's roll-out reads from what Kubernetes reports: the revision a Deployment or pod
carries, the replicas ready, and why a replica cannot become ready without a change (an image
that cannot be pulled, a crash loop, a pod that cannot be scheduled)."""

from __future__ import annotations

from datetime import datetime

from hub_ext.quantities import format_memory, parse_memory

from .deployments import DeploymentStatus
from .health_checks import plain_path

REVISION_ANNOTATION = "hubfront.io/revision"
CONTAINER = "server"

_WAITING_FAILURES = {
    **dict.fromkeys(("ImagePullBackOff", "ErrImagePull", "InvalidImageName", "ErrImageNeverPull"), "ImageNotFound"),
    "CrashLoopBackOff": "CrashLoop", "CreateContainerConfigError": "Error", "CreateContainerError": "Error",
}



def revision_of(meta: dict) -> int:
    try:
        return int((meta.get("annotations") or {}).get(REVISION_ANNOTATION, 0))
    except (TypeError, ValueError):
        return 0


def _condition(obj: dict, kind: str) -> dict:
    return next((c for c in obj.get("status", {}).get("conditions") or [] if c.get("type") == kind), {})


def _pod_failure(pod: dict, image: str) -> tuple[str, str]:
    """Why this replica cannot become ready without a change, if it cannot."""
    statuses = pod.get("status", {}).get("containerStatuses") or []
    server = next((s for s in statuses if s.get("name") == CONTAINER), {})
    waiting = (server.get("state") or {}).get("waiting") or {}
    reason = _WAITING_FAILURES.get(waiting.get("reason"))
    detail = waiting.get("message") or waiting.get("reason") or ""
    if reason == "ImageNotFound":
        return reason, f"The image {image} cannot be pulled: {detail}"
    if reason == "CrashLoop":
        code = ((server.get("lastState") or {}).get("terminated") or {}).get("exitCode")
        exited = f", last exit code {code}" if code is not None else ""
        return reason, f"The server keeps exiting (restarted {server.get('restartCount', 0)} times{exited})"
    if reason:
        return reason, f"{waiting['reason']}: {detail}"
    scheduled = _condition(pod, "PodScheduled")
    if scheduled.get("status") == "False" and scheduled.get("reason") == "Unschedulable":
        return "Unschedulable", f"No node can run a replica: {scheduled.get('message', '')}".rstrip(": ")
    return "", ""


def _started(value) -> datetime | None:
    if isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def _ended_how(pod: dict, terminated: dict) -> tuple[str, str]:
    """Why the server container's previous run ended (a deployments.RESTART_REASONS reason, and for people)."""
    if terminated.get("reason") == "OOMKilled":
        server = next((c for c in pod.get("spec", {}).get("containers") or [] if c.get("name") == CONTAINER), {})
        try:
            limit = format_memory(parse_memory(server["resources"]["limits"]["memory"]))
        except (KeyError, TypeError, ValueError):
            return "OOMKilled", "Out of memory"
        return "OOMKilled", f"Out of memory (limit {limit})"
    if terminated.get("exitCode") is not None:
        return "ExitCode", f"Exit code {terminated['exitCode']}"
    return "Error", terminated.get("reason") or "ended"


def restarts_of(pods: list[dict], revision: int, bases: dict[str, int], now: datetime,
                stable_after: float) -> tuple[int, str, str]:
    """Restarts in a row of the server container of ``revision``'s most restarted pod, and why its last run
    ended. Kubernetes counts a pod's restarts for ever; a run that stayed up ``stable_after`` seconds starts
    the count in a row again: ``bases`` (pod name -> restart count then, kept by the caller) holds where."""
    found = (0, "", "")
    for pod in pods:
        if revision_of(pod.get("metadata", {})) != revision:
            continue
        statuses = pod.get("status", {}).get("containerStatuses") or []
        server = next((s for s in statuses if s.get("name") == CONTAINER), {})
        name, count = pod["metadata"].get("name", ""), server.get("restartCount", 0)
        started = _started(((server.get("state") or {}).get("running") or {}).get("startedAt"))
        if started is not None and (now - started).total_seconds() >= stable_after:
            bases[name] = count
        in_a_row = count - bases.get(name, 0)
        if in_a_row > found[0]:
            found = (in_a_row, *_ended_how(pod, (server.get("lastState") or {}).get("terminated") or {}))
    return found


def rollout_status(deployment: dict, pods: list[dict], endpoint: str) -> tuple[DeploymentStatus, dict | None]:
    """The deployment's status from its Deployment and live pods (Kubernetes JSON), and the pod whose
    log tail belongs in the message (a crash loop), if any."""
    meta, spec, state = deployment.get("metadata", {}), deployment.get("spec", {}), deployment.get("status", {})
    latest, desired = revision_of(meta), spec.get("replicas", 1)
    ready = [p for p in pods if _condition(p, "Ready").get("status") == "True"]
    serving = max((revision_of(p["metadata"]) for p in ready), default=0)
    available = sum(1 for p in ready if revision_of(p["metadata"]) == serving)
    observed = state.get("observedGeneration", 0) >= meta.get("generation", 0)
    counts = [state.get(key, 0) for key in ("replicas", "updatedReplicas", "readyReplicas")]
    rolled_out = observed and serving == latest and counts == [desired] * 3

    failed, message, crashing = "", "", None
    template = spec.get("template", {}).get("spec", {}).get("containers") or [{}]
    for pod in pods:
        if revision_of(pod["metadata"]) == latest:
            failed, message = _pod_failure(pod, template[0].get("image", ""))
            if failed:
                crashing = pod if failed == "CrashLoop" else None
                break
    progressing, replica_failure = _condition(deployment, "Progressing"), _condition(deployment, "ReplicaFailure")
    if failed or not observed:  # conditions of an older generation say nothing about this one
        pass
    elif progressing.get("status") == "False" and progressing.get("reason") == "ProgressDeadlineExceeded":
        probe = (template[0].get("readinessProbe") or {}).get("httpGet", {}).get("path", "")
        failed = "HealthCheck"
        message = (f"Revision {latest} did not pass its health check (GET {plain_path(probe)}) within "
                   f"{spec.get('progressDeadlineSeconds', '?')} s: {progressing.get('message', '')}").rstrip(": ")
    elif replica_failure.get("status") == "True":
        text = replica_failure.get("message") or replica_failure.get("reason") or "Replicas cannot be created"
        failed, message = ("OverQuota" if "exceeded quota" in text else "Error"), text

    if not failed:
        message = f"{available} of {desired} replicas ready"
        if serving and serving != latest:
            message = f"Rolling out revision {latest} ({counts[1]} of {desired} replicas); revision {serving} serves"
    status = DeploymentStatus(revision=serving, available=available, desired=desired,
                              endpoints=(endpoint,) if available else (), rolled_out=rolled_out,
                              failed=failed, message=message)
    return status, crashing
