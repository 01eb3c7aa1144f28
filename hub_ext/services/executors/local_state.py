"""What a local workload's keeper recorded, read back: the job's :class:`Status` (deadline, out of
memory, signal, exit code) and whether a process is still the one that was started (a pid the
kernel gave to another process since is not)."""

from __future__ import annotations

import signal

import psutil

from hub_ext.policy import format_memory

from .base import Status


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def duration_text(seconds: float) -> str:
    return f"{seconds:g} s" if seconds < 120 else f"{seconds / 60:g} min"


def outcome(state: dict) -> Status:
    """The status a keeper's recorded facts amount to."""
    if not state.get("done"):
        return Status("Running")
    if state.get("lost"):
        return Status("Failed", "ServiceRestart", "The job's supervisor is gone (the machine or the runner "
                      "restarted while it ran); its exit code is unknown")
    if state.get("error"):
        return Status("Failed", "Error", state["error"])
    code, ended_by = state.get("returncode"), state.get("ended_by")
    exit_code = 128 - code if code is not None and code < 0 else code
    if ended_by == "stop":
        return Status("Cancelled", "Cancelled", "Cancelled", exit_code)
    if ended_by == "deadline":
        return Status("Failed", "DeadlineExceeded",
                      f"Deadline exceeded: still running after its timeout of {duration_text(state['timeout'])}", exit_code)
    if ended_by == "oom" or state.get("oom_kills"):
        return Status("Failed", "OOMKilled", f"Out of memory (limit {format_memory(state.get('memory'))})", exit_code)
    if code == 0:
        return Status("Succeeded", exit_code=0)
    if code is not None and code < 0:
        return Status("Failed", "ExitCode", f"Killed by {_signal_name(-code)} (exit code {exit_code})", exit_code)
    return Status("Failed", "ExitCode", f"Exit code {code}", exit_code)


def parse_ref(ref: str) -> tuple[int, float] | None:
    pid, _, start = ref.partition(":")
    try:
        return int(pid), float(start)
    except ValueError:
        return None


def same_start(a: float, b: float) -> bool:
    """Whether two psutil create times are the same process start.

    A create time is the start in clock ticks since boot (exact) plus the boot time,
    which the kernel derives from the wall clock, so it moves by whole seconds when
    the clock is adjusted: the tick part must match exactly, the seconds within 2.
    """
    diff = a - b
    return abs(diff) <= 2.001 and abs(diff - round(diff)) < 1e-3


def process_is(pid: int, start: float) -> bool:
    """Whether ``pid`` is still the process that started at ``start`` (and not a zombie)."""
    try:
        proc = psutil.Process(pid)
        return same_start(proc.create_time(), start) and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False
