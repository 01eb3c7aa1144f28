"""GPU devices of this machine, from NVML when a driver is present."""

from __future__ import annotations

import functools


@functools.lru_cache(maxsize=1)
def nvml_device_indices() -> tuple[int, ...]:
    """Indices of the NVIDIA GPUs NVML sees; none when there is no driver."""
    try:
        import pynvml
    except ImportError:
        return ()
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError:
        return ()
    try:
        return tuple(range(pynvml.nvmlDeviceGetCount()))
    finally:
        pynvml.nvmlShutdown()


NO_GPU = "No GPU on this machine"


def machine_reason(gpu: int, inventory) -> str:
    """Why this machine cannot serve ``gpu`` GPUs ("" when it can, or when a scheduler decides)."""
    if not gpu or inventory is None:
        return ""
    if not inventory:
        return NO_GPU
    if gpu > len(inventory):
        return f"This machine has {len(inventory)} GPU{'s' if len(inventory) != 1 else ''}"
    return ""
