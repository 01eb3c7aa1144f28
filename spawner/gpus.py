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
