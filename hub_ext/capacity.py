"""What a resource group holds: its nodes' allocatable CPU, memory and GPUs.

On the embedded default that is this machine (its CPUs, its memory, the GPUs launches may get);
on Kubernetes the sum over the nodes its node selector matches, read from the API
(:mod:`hub_ext.kube_nodes`) at most every ``ttl`` seconds, in the background of the page that asks
first — a page never waits for a slow API server longer than the read itself, and a failed read is
said, never replaced by a made-up figure.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import time
from dataclasses import dataclass

from .kube_nodes import label_selector, list_nodes
from .policy import ResourceGroup, format_cpu, format_memory
from .quantities import parse_cpu, parse_memory

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Capacity:
    nodes: int
    cpu: float
    memory: int
    gpu: int
    error: str = ""  # why it could not be read ("" when read)

    def doc(self) -> dict:
        return {"nodes": self.nodes, "cpu": self.cpu, "memory": self.memory, "gpu": self.gpu,
                "text": {"cpu": format_cpu(self.cpu), "memory": format_memory(self.memory), "gpu": str(self.gpu)},
                "error": self.error}


def this_machine(gpus: list[int] | None) -> Capacity:
    """This machine: its CPUs (those this process may use), its memory, the GPUs launches may get."""
    cpu, memory = _machine()
    return Capacity(nodes=1, cpu=cpu, memory=memory, gpu=len(gpus or ()))


@functools.lru_cache(maxsize=1)
def _machine() -> tuple[float, int]:
    """CPUs and memory, read once per process (the dashboard shows them on every home page)."""
    import psutil

    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (psutil.cpu_count() or 1)
    return float(cpus), int(psutil.virtual_memory().total)


def of_nodes(nodes: list[dict], gpu_resource: str) -> Capacity:
    """The sum of the nodes' ``status.allocatable`` (cordoned nodes left out: nothing new lands there)."""
    cpu, memory, gpu, count = 0.0, 0, 0, 0
    for node in nodes:
        if (node.get("spec") or {}).get("unschedulable"):
            continue
        allocatable = (node.get("status") or {}).get("allocatable") or {}
        count += 1
        cpu += parse_cpu(allocatable.get("cpu", 0))
        memory += parse_memory(allocatable.get("memory", 0))
        gpu += int(allocatable.get(gpu_resource, 0) or 0)
    return Capacity(nodes=count, cpu=cpu, memory=memory, gpu=gpu)


class ClusterCapacity:
    """Each resource group's capacity on Kubernetes, kept for ``ttl`` seconds."""

    def __init__(self, gpu_resource: str = "nvidia.com/gpu", ttl: float = 30.0, reader=list_nodes):
        self.gpu_resource = gpu_resource
        self.ttl = ttl
        self.reader = reader
        self._cache: dict[str | None, tuple[float, Capacity]] = {}
        self._reading: dict[str | None, asyncio.Task] = {}

    async def of(self, rg: ResourceGroup) -> Capacity:
        selector = label_selector(rg.node_selector)
        found = self._cache.get(selector)
        if found is not None and time.monotonic() - found[0] < self.ttl:
            return found[1]
        task = self._reading.get(selector)
        if task is None or task.done():
            task = self._reading[selector] = asyncio.ensure_future(self._read(selector))
        return await asyncio.shield(task)

    async def _read(self, selector: str | None) -> Capacity:
        try:
            nodes = await self.reader(selector=selector)
            capacity = of_nodes(nodes, self.gpu_resource)
        except Exception as exc:  # noqa: BLE001 - shown in the panel instead of figures
            log.warning("Reading the nodes of %s failed: %s", selector or "the cluster", exc)
            capacity = Capacity(0, 0.0, 0, 0, error=f"The cluster's nodes could not be read: {exc}")
        self._cache[selector] = (time.monotonic(), capacity)
        return capacity
