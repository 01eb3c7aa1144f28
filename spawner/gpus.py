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


def gpu_percent_of(pids: set[int]) -> float | None:
    """The highest utilisation (percent, NVML's last sample) of the GPUs on which any of ``pids`` runs;
    None when no GPU can be read (no driver) or none of them uses one."""
    if not pids:
        return None
    try:
        import pynvml

        pynvml.nvmlInit()
    except Exception:  # noqa: BLE001 - no library, no driver
        return None
    try:
        found = []
        for index in range(pynvml.nvmlDeviceGetCount()):
            device = pynvml.nvmlDeviceGetHandleByIndex(index)
            running = {p.pid for p in pynvml.nvmlDeviceGetComputeRunningProcesses(device)}
            if running & pids:
                found.append(float(pynvml.nvmlDeviceGetUtilizationRates(device).gpu))
        return max(found) if found else None
    except Exception:  # noqa: BLE001 - a device gone or an old driver: not measured
        return None
    finally:
        try:
            pynvml.nvmlShutdown()
        except Exception:  # noqa: BLE001
            pass
