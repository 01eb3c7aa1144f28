"""System Resources for a member: what they hold against their quota, and what each of their sessions
uses right now.

A session is any workload holding a reservation in the ledger in the member's name (a notebook, a job,
a deployment replica). Its allocation is the reservation (the instance type's limits); what it uses
now is read from its cgroup's counters (``hub_ext.isolation``'s ``Cgroup.stats``): memory held, and CPU
as the cores used between two readings (the page's previous refresh, or two readings half a second
apart on the first). On Kubernetes it is read from the cluster's metrics API instead (``pods``). Where
nothing can be read it says why: local workloads without cgroups, a cluster without metrics-server.
"""

from __future__ import annotations

import threading
import time

from ...isolation.cgroups import Stats
from ...ledger.workloads import APP, DEPLOYMENT, JOB, NOTEBOOK
from ...quantities import format_amount, format_memory

FIRST_READING_GAP = 0.5  # seconds between the two readings of a session seen for the first time
KEEP_READING = 120.0  # a reading older than this is not used for the CPU figure
ON_KUBERNETES = "Live CPU and memory are not shown: {reason}. What each session holds is its allocation."
NO_CGROUPS = ("Live CPU and memory are not available: workloads on this hub run without cgroups "
              "(an administrator sees why on every page).")

_readings: dict[str, Stats] = {}
_lock = threading.Lock()


def title_of(kind: str, workload_id: str, group_title: str) -> str:
    """A session as the member knows it."""
    if kind == NOTEBOOK:
        return f"Notebook in {group_title}"
    if kind == JOB:
        return f"Job #{workload_id}"
    if kind == DEPLOYMENT:
        name, _, replica = workload_id.partition("#")
        return f"Deployment {name.partition('@')[0]} (replica {replica or 0})"
    if kind == APP:
        return f"App #{workload_id.partition('@')[0]}"
    return f"{kind} {workload_id}"


def _live(cgroups: dict[str, object]) -> dict[str, tuple[float | None, Stats]]:
    """(cores used, the reading now) of each session's cgroup, by key; sessions without a recent
    reading get two, half a second apart (one wait for all of them)."""
    with _lock:
        earlier = {key: _readings.get(key) for key in cgroups}
    fresh = [key for key, r in earlier.items() if r is None or time.monotonic() - r.at > KEEP_READING]
    for key in fresh:
        earlier[key] = cgroups[key].stats()
    if fresh:
        time.sleep(FIRST_READING_GAP)
    now = {key: cgroup.stats() for key, cgroup in cgroups.items()}
    with _lock:
        if len(_readings) > 10_000:
            _readings.clear()
        _readings.update(now)
    return {key: (now[key].cpu_cores(earlier[key]), now[key]) for key in cgroups}


def _percent(part: float | None, whole: float | None) -> int | None:
    if part is None or not whole:
        return None
    return max(0, min(100, round(100 * part / whole)))


def session_row(r, titles: dict[str, str]) -> dict:
    """A reservation as a row of the page: what it holds, and no live figure yet."""
    group_title = titles.get(r.group, r.group)
    return {
        "key": f"{r.kind}:{r.workload_id}", "kind": r.kind, "workload_id": r.workload_id, "group": r.group,
        "title": title_of(r.kind, r.workload_id, group_title), "group_title": group_title,
        "cpu": r.cpu, "memory": r.memory, "gpu": r.gpu,
        "allocated": f"{format_amount('cpu', r.cpu)} CPU · {format_memory(r.memory)}"
                     + (f" · {r.gpu} GPU" if r.gpu else ""),
        "cpu_used": None, "memory_used": None, "cpu_percent": None, "memory_percent": None,
        "cpu_text": "—", "memory_text": "—",
        "sampled_at": None, "window_seconds": None,  # Kubernetes: the metrics sample's time and CPU window
    }


def fill_live(row: dict, cores: float | None, memory: int | None, memory_limit: int | None) -> None:
    """A row's live figures: cores used and bytes held, against its allocation (memory: ``memory_limit``)."""
    limit = memory_limit or row["memory"] or None
    row.update(cpu_used=cores, memory_used=memory,
               cpu_percent=_percent(cores, row["cpu"]), memory_percent=_percent(memory, limit))
    if cores is not None:
        row["cpu_text"] = f"{cores:.2f} of {format_amount('cpu', row['cpu'])} cores"
    if memory is not None:
        row["memory_text"] = f"{format_memory(memory)} of {format_memory(limit)}"


def session_rows(reservations, titles: dict[str, str], isolation) -> tuple[list[dict], str]:
    """One row per reservation with its allocation and, where its cgroup is readable, its live use; and
    the reason when live use cannot be read at all (empty when it can). Kubernetes: ``pods.kube_session_rows``."""
    unavailable = "" if isolation is not None and isolation.hierarchy else NO_CGROUPS
    rows, cgroups = [], {}
    for r in reservations:
        rows.append(session_row(r, titles))
        key = rows[-1]["key"]
        cgroup = isolation.existing_cgroup(r.kind, r.workload_id) if not unavailable else None
        if cgroup is not None:
            cgroups[key] = cgroup
        elif not unavailable:
            rows[-1]["cpu_text"] = rows[-1]["memory_text"] = "not readable"
    live = _live(cgroups) if cgroups else {}
    for row in rows:
        if row["key"] in live:
            cores, reading = live[row["key"]]
            fill_live(row, cores, reading.memory, reading.memory_limit)
    return rows, unavailable
