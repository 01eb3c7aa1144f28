"""``job-latency``: submit→Running and submit→Succeeded of no-op jobs (issues 10 and 27).

One Hubfront hub (``bench.jobhub``: its runner service runs jobs with the local
executor; as root each job runs as the submitter's workload account, in a
cgroup, watched by a keeper process). The admin submits ``--job-latency-jobs``
jobs (default 100) with the command ``true`` through
``POST /hub/api/portal/groups/bench-jobs/jobs``, **one at a time**: each is
submitted once the previous one has ended, so no job waits behind another
(the group's quota is unlimited) and each measures the path from the API to a
running process, not a queue.

Times come from the job's own time stamps, written by the hub and the runner
on this machine's clock: submit→Running is ``started`` minus the wall-clock
time just before the POST was sent, submit→Succeeded is ``finished`` minus the
same. The client polls the job every 50 ms only to know when it ended; the
poll interval does not enter the figures. One warm-up job first (it makes the
workload account) is not counted.

Baseline, alternated with the jobs in the same run (A/B, the order flipping each
round): the same command started with plain ``subprocess.Popen(["/bin/bash",
"-c", "true"])`` (jobs run ``/bin/bash -c <command>``): spawn→running is the
time ``Popen`` takes to return (the child has exec'd), spawn→exited until
``wait()`` returns. The ratio says what the job machinery costs over a bare
process. The targets (issue 27): submit→Running p50 at most 50 ms over the bare
process's running p50 (``added``), and submit→Succeeded p50 ≤ 150 ms (the
runner hears a job's end from its keeper at once, not at its next look).
"""

from __future__ import annotations

import subprocess
import time

from . import jobhub
from .stats import Line, alternate, percentile, ratio, summary

TARGET_ADDED_RUNNING_P50_S = 0.050  # submit→Running p50 minus subprocess's running p50
TARGET_SUCCEEDED_P50_S = 0.150
COMMAND = "true"


def add_arguments(parser) -> None:
    g = parser.add_argument_group("job-latency")
    g.add_argument("--job-latency-jobs", type=int, help="measured jobs (default 100, quick 5)")
    g.add_argument("--job-latency-timeout", type=float, default=60, help="seconds one job may take (default 60)")


def one_job(hub, i: int, timeout: float) -> dict:
    sent = time.time()
    created = jobhub.submit(hub, f"latency-{i}", COMMAND)
    data = jobhub.wait_done(hub, created["id"], timeout)
    if data["phase"] != "Succeeded":
        raise RuntimeError(f"job {data['id']} {data['phase']} ({data.get('reason')}): {data.get('message')}\n"
                           f"{hub.log_tail()}")
    at = {k: jobhub.ts(data[k]).timestamp() - sent for k in ("created", "admitted", "started", "finished")}
    return at


def one_process() -> tuple[float, float]:
    t0 = time.perf_counter()
    proc = subprocess.Popen(["/bin/bash", "-c", COMMAND])
    t1 = time.perf_counter()
    code = proc.wait()
    t2 = time.perf_counter()
    if code != 0:
        raise RuntimeError(f"bash -c {COMMAND} exited with {code}")
    return t1 - t0, t2 - t0


def fmt(samples) -> str:
    return f"p50 {percentile(samples, 50) * 1000:.1f}ms/p99 {percentile(samples, 99) * 1000:.1f}ms"


def run(args) -> str:
    n = args.job_latency_jobs or (5 if args.quick else 100)
    timeout = args.job_latency_timeout
    jobs: list[dict] = []
    procs: list[tuple[float, float]] = []
    with jobhub.jobs_hub("jobs") as hub:
        one_job(hub, -1, timeout)  # warm-up: the workload account, the image's environment
        one_process()

        def measure(kind, i):
            if kind == "job":
                jobs.append(one_job(hub, i, timeout))
            else:
                procs.append(one_process())
            return []

        alternate(n, ["job", "process"], measure)
        isolated = "workloads run as their owners' OS accounts" in hub.log_path.read_text(errors="replace")
    running = [j["started"] for j in jobs]
    succeeded = [j["finished"] for j in jobs]
    p_running = [p[0] for p in procs]
    p_done = [p[1] for p in procs]
    r_run = ratio(percentile(running, 50), percentile(p_running, 50))
    r_done = ratio(percentile(succeeded, 50), percentile(p_done, 50))
    added = percentile(running, 50) - percentile(p_running, 50)
    ok = added <= TARGET_ADDED_RUNNING_P50_S and percentile(succeeded, 50) <= TARGET_SUCCEEDED_P50_S
    text = (f"job-latency: hubfront=running {fmt(running)} succeeded {fmt(succeeded)} "
            f"subprocess=running {fmt(p_running)} exited {fmt(p_done)} "
            f"ratio=running p50 {r_run:.1f}/succeeded p50 {r_done:.1f} added=running p50 {added * 1000:+.1f}ms "
            f"target=running p50<=subprocess+{TARGET_ADDED_RUNNING_P50_S * 1000:.0f}ms "
            f"succeeded p50<={TARGET_SUCCEEDED_P50_S * 1000:.0f}ms ok={ok} "
            f"(n={n}, server time stamps, isolated={'yes' if isolated else 'no'})")
    return Line(text, {
        "jobs": n, "command": COMMAND, "instance_type": jobhub.INSTANCE_TYPE, "isolated": isolated,
        "timing": "job time stamps (server clock) minus the wall-clock time before the POST",
        "submit_to_created": summary([j["created"] for j in jobs]),
        "submit_to_admitted": summary([j["admitted"] for j in jobs]),
        "submit_to_running": summary(running), "submit_to_succeeded": summary(succeeded),
        "subprocess_running": summary(p_running), "subprocess_exited": summary(p_done),
        "ratio": {"running_p50": r_run, "succeeded_p50": r_done}, "added_running_p50_s": added,
        "target_added_running_p50_s": TARGET_ADDED_RUNNING_P50_S, "target_succeeded_p50_s": TARGET_SUCCEEDED_P50_S,
        "ok": ok,
    })
