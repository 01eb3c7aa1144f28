"""``cron``: every-minute recurring jobs fire on time, once each (issue 10).

One Hubfront hub (``bench.jobhub``). The admin creates ``--cron-schedules``
schedules (default 20) in group ``bench-jobs`` (unlimited quota) through
``POST /hub/api/portal/groups/bench-jobs/schedules`` with ``recurrence: "* * * *
*"``, ``time_zone: "UTC"`` and the command ``true``, then waits until
``--cron-minutes`` whole minutes (default 3) have struck after the last one was
created, plus ``SETTLE_S`` seconds for the last runs to be recorded.

Every schedule is then due at each minute boundary after its own ``created``
up to the last of those minutes (3 or, for schedules created just before a
minute struck, 4 runs each). From the group's job list (each job a schedule
started carries ``schedule_id`` and ``scheduled_for``):

- lateness: the job's ``created`` (the runner's time stamp when it made the
  job) minus its ``scheduled_for``, over the first job of every due time;
- duplicates: due times with more than one job;
- misses: due times with no job by the end (within ``SETTLE_S`` of the last).

The schedules' ``runs`` (the runner's record of each time it handled) are
counted too: ``skipped`` and ``missed`` outcomes appear in the JSON. The
schedules are deleted at the end. Targets: lateness p99 ≤ 1 s, no duplicates,
no misses.
"""

from __future__ import annotations

import time
from collections import defaultdict
from datetime import datetime, timedelta, timezone

from . import jobhub
from .stats import Line, percentile, summary

TARGET_P99_S = 1.0
SETTLE_S = 5.0
COMMAND = "true"


def add_arguments(parser) -> None:
    g = parser.add_argument_group("cron")
    g.add_argument("--cron-schedules", type=int, help="every-minute schedules (default 20, quick 2)")
    g.add_argument("--cron-minutes", type=int, help="minutes that strike while they run (default 3, quick 1)")


def minute_after(t: datetime) -> datetime:
    """The first whole minute strictly after ``t``."""
    return t.replace(second=0, microsecond=0) + timedelta(minutes=1)


def due_times(created: datetime, last: datetime) -> list[datetime]:
    out, t = [], minute_after(created)
    while t <= last:
        out.append(t)
        t += timedelta(minutes=1)
    return out


def run(args) -> str:
    count = args.cron_schedules or (2 if args.quick else 20)
    minutes = args.cron_minutes or (1 if args.quick else 3)
    with jobhub.jobs_hub("cron") as hub:
        schedules = []
        try:
            for i in range(count):
                r = hub.api("POST", f"/portal/groups/{jobhub.GROUP}/schedules",
                            json={"name": f"cron-{i}", "command": COMMAND, "recurrence": "* * * * *",
                                  "time_zone": "UTC"})
                schedules.append(jobhub._ok(r, "create schedule"))
            created = {s["id"]: jobhub.ts(s["created"]) for s in schedules}
            last = minute_after(max(created.values())) + timedelta(minutes=minutes - 1)
            wait = (last - datetime.now(timezone.utc)).total_seconds() + SETTLE_S
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:  # sleep, but notice a hub that died
                if hub.proc.poll() is not None:
                    raise RuntimeError(f"the hub exited with {hub.proc.returncode}:\n{hub.log_tail()}")
                time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
            jobs = [j for j in jobhub.all_jobs(hub) if j.get("schedule_id") in created]
            runs = {s["id"]: jobhub._ok(hub.api("GET", f"/portal/schedules/{s['id']}"), "schedule")["runs"]
                    for s in schedules}
        finally:
            for s in schedules:
                r = hub.api("DELETE", f"/portal/schedules/{s['id']}")
                if r.status_code != 204:
                    print(f"cron: schedule {s['id']} not deleted: {r.status_code} {r.text[:200]}", flush=True)
    return report(count, minutes, created, last, jobs, runs)


def report(count: int, minutes: int, created: dict, last: datetime, jobs: list[dict], runs: dict) -> Line:
    by_time: dict[tuple[int, datetime], list[dict]] = defaultdict(list)
    for j in jobs:
        by_time[(j["schedule_id"], jobhub.ts(j["scheduled_for"]))].append(j)
    due = [(sid, t) for sid, c in created.items() for t in due_times(c, last)]
    lateness, start_lateness, misses, duplicates = [], [], [], []
    for key in due:
        got = sorted(by_time.get(key, []), key=lambda j: j["id"])
        if not got:
            misses.append(key)
            continue
        if len(got) > 1:
            duplicates.append(key)
        first = got[0]
        lateness.append((jobhub.ts(first["created"]) - key[1]).total_seconds())
        if first.get("started"):
            start_lateness.append((jobhub.ts(first["started"]) - key[1]).total_seconds())
    extra = sorted({k for k in by_time if k not in set(due)}, key=lambda k: (k[0], k[1]))
    outcomes: dict[str, int] = defaultdict(int)
    for rs in runs.values():
        for r in rs:
            outcomes[r["outcome"]] += 1
    failed = [j["id"] for j in jobs if j["phase"] in ("Failed", "Cancelled")]
    if not lateness:
        raise RuntimeError(f"no scheduled job ran ({len(due)} due, {len(jobs)} jobs)")
    p50, p99, worst = percentile(lateness, 50), percentile(lateness, 99), max(lateness)
    ok = p99 <= TARGET_P99_S and not duplicates and not misses
    text = (f"cron: lateness p50={p50 * 1000:.0f}ms p99={p99 * 1000:.0f}ms max={worst * 1000:.0f}ms "
            f"duplicates={len(duplicates)} misses={len(misses)} target p99<={TARGET_P99_S:g}s ok={ok} "
            f"(schedules={count}, minutes={minutes}, runs={len(due)})")
    return Line(text, {
        "schedules": count, "minutes": minutes, "due_runs": len(due), "jobs": len(jobs),
        "lateness": summary(lateness), "start_lateness": summary(start_lateness) if start_lateness else None,
        "timing": "job created minus scheduled_for (server clock)",
        "duplicates": [[sid, t.isoformat()] for sid, t in duplicates],
        "misses": [[sid, t.isoformat()] for sid, t in misses],
        "outside_window": [[sid, t.isoformat()] for sid, t in extra],
        "run_outcomes": dict(outcomes), "jobs_failed": failed,
        "target_p99_s": TARGET_P99_S, "ok": ok,
    })
