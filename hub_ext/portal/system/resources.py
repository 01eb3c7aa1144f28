"""System Resources: what the platform's machines are doing right now.

Admins see the number of nodes and running sessions, and CPU, memory and GPU
utilisation (psutil; NVIDIA GPUs through NVML when a driver is present). A
normal user sees their own: what they hold in each of their groups against their
quota and the group's, and the live CPU and memory of each of their sessions
(``sessions``; on Kubernetes ``pods``). ``user_view`` holds no system-wide figure at all, so nothing can
leak through the page or the API.
"""

from __future__ import annotations

import logging
import threading

import psutil
from traitlets import Float, Unicode, default
from traitlets.config import Configurable

log = logging.getLogger("hubfront.system")
GiB = 2**30


class SystemResources(Configurable):
    refresh_seconds = Float(
        5.0, help="How often the System Resources page refreshes itself, in seconds (0: never).",
    ).tag(config=True)

    workload_namespace = Unicode(
        help="""On Kubernetes: the namespace the runner runs deployment replicas in (the runner's
        ``c.KubernetesDeployments.namespace``), where their pods' live CPU and memory are read.
        Defaults to the hub's own namespace (``$POD_NAMESPACE``, then its service account's), where
        ``config/kubernetes/values.yaml`` runs them. Jobs' and notebooks' namespaces are known
        without it.""",
    ).tag(config=True)

    @default("workload_namespace")
    def _workload_namespace_default(self):
        from ...kube import own_namespace

        return own_namespace()


def system_settings() -> SystemResources:
    from ...settings import Hubfront

    return SystemResources(config=Hubfront.instance().config)


class _Nvml:
    """NVML, initialised once; a machine without a driver simply has no GPUs."""

    def __init__(self):
        self.lock = threading.Lock()
        self.ready: bool | None = None

    def gpus(self) -> list[dict]:
        with self.lock:
            if self.ready is None:
                try:
                    import pynvml

                    pynvml.nvmlInit()
                    self.ready = True
                except Exception as exc:  # noqa: BLE001 - no driver, no library, no device
                    log.info("No NVIDIA GPUs to report (%s)", exc.__class__.__name__)
                    self.ready = False
            if not self.ready:
                return []
            try:
                import pynvml

                found = []
                for i in range(pynvml.nvmlDeviceGetCount()):
                    handle = pynvml.nvmlDeviceGetHandleByIndex(i)
                    util = pynvml.nvmlDeviceGetUtilizationRates(handle)
                    mem = pynvml.nvmlDeviceGetMemoryInfo(handle)
                    name = pynvml.nvmlDeviceGetName(handle)
                    found.append({
                        "index": i, "name": name.decode() if isinstance(name, bytes) else str(name),
                        "utilization": float(util.gpu), "memory_used": int(mem.used),
                        "memory_total": int(mem.total),
                    })
                return found
            except Exception as exc:  # noqa: BLE001 - a GPU fell off the bus: report none, keep going
                log.warning("Reading GPU utilisation failed: %s", exc)
                return []


_nvml = _Nvml()
psutil.cpu_percent(interval=None)  # the first reading is meaningless; take it now


def host_metrics() -> dict:
    mem = psutil.virtual_memory()
    return {
        "cpu_percent": psutil.cpu_percent(interval=None), "cpu_count": psutil.cpu_count() or 1,
        "memory_used": int(mem.total - mem.available), "memory_total": int(mem.total),
        "memory_percent": float(mem.percent), "gpus": _nvml.gpus(),
    }


def _gib(n: int) -> str:
    return f"{n / GiB:.1f} GiB"


def admin_view(nodes: int, sessions: int, metrics: dict) -> dict:
    gpus = metrics["gpus"]
    gpu_util = round(sum(g["utilization"] for g in gpus) / len(gpus), 1) if gpus else None
    text = {
        "nodes": str(nodes), "sessions": str(sessions),
        "cpu": f"{metrics['cpu_percent']:.0f}% of {metrics['cpu_count']} cores",
        "memory": f"{_gib(metrics['memory_used'])} of {_gib(metrics['memory_total'])}",
        "gpu": f"{gpu_util:.0f}% of {len(gpus)} GPUs" if gpus else "no GPUs",
    }
    for g in gpus:
        text[f"gpu{g['index']}"] = f"{g['utilization']:.0f}% · {_gib(g['memory_used'])} of {_gib(g['memory_total'])}"
    return {
        "scope": "system", "nodes": nodes, "sessions": sessions, **metrics, "gpu_utilization": gpu_util,
        "text": text,
        "percent": {"cpu": metrics["cpu_percent"], "memory": metrics["memory_percent"], "gpu": gpu_util},
    }


def user_view(sessions: list[dict], allocation: list[dict], unavailable: str) -> dict:
    """A member's page: ``sessions`` (``sessions.session_rows``), ``allocation`` (per group, the Resource
    Dashboard's document), ``unavailable`` (why live use cannot be read; empty when it can)."""
    text = {"sessions": str(len(sessions))}
    percent: dict[str, int | None] = {}
    for row in sessions:
        for what in ("cpu", "memory"):
            text[f"{row['key']}:{what}"] = row[f"{what}_text"]
            percent[f"{row['key']}:{what}"] = row[f"{what}_percent"]
    for doc in allocation:
        for r in doc["resources"]:
            for scope in ("user", "group"):
                a = r[scope]
                text[f"{doc['group']}:{scope}:{r['resource']}"] = f"{a['used_text']} of {a['limit_text']}"
                percent[f"{doc['group']}:{scope}:{r['resource']}"] = a["percent"]
    return {"scope": "user", "sessions": len(sessions), "session_rows": sessions, "allocation": allocation,
            "live_unavailable": unavailable, "text": text, "percent": percent}
