"""A Hubfront hub for the job benchmarks (``job-latency``, ``cron``): no stock hub, one group.

The hub is the repository's ``jupyterhub -f jupyterhub_config.py`` in a fresh
temp data dir (as in the other benchmarks); its runner service, started by the
hub, runs the jobs with the local executor. The admin submits everything in
its own group ``bench-jobs``, created through the REST API with a policy whose
quotas are unlimited (jobs count as sessions in a quota: the demo groups'
would hold them back) and ``cpu-small`` jobs. As root, jobs run as the admin's
workload account (prefix ``hfbench-``, or ``$BENCH_ACCOUNT_PREFIX``), which is
deleted at the end with the accounts' Unix groups.
"""

from __future__ import annotations

import os
import tempfile
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from . import hubs
from .spawn import ACCOUNT_PREFIX as DEFAULT_PREFIX

GROUP = "bench-jobs"
INSTANCE_TYPE = "cpu-small"
DONE = ("Succeeded", "Failed", "Cancelled")


def account_prefix() -> str:
    """The workload accounts' prefix; the smoke test passes its own so parallel runs keep theirs."""
    return os.environ.get("BENCH_ACCOUNT_PREFIX") or DEFAULT_PREFIX


def _ok(r, what: str) -> dict:
    if r.status_code >= 400:
        raise RuntimeError(f"{what}: {r.status_code} {r.text[:300]}")
    return r.json() if r.content else {}


@contextmanager
def jobs_hub(tag: str):
    """Yields a started Hubfront hub with the admin in group GROUP (unlimited quota); stops it after."""
    prefix = account_prefix()
    with tempfile.TemporaryDirectory(prefix=f"hubfront-bench-{tag}-") as root:
        if os.geteuid() == 0:
            os.chmod(root, 0o711)  # workload accounts pass through to their homes under it
        hub = hubs.hubfront(Path(root), {"HUBFRONT_ACCOUNT_PREFIX": prefix})
        try:
            hub.start()
            setup_group(hub)
            yield hub
        finally:
            hub.stop()
            if os.geteuid() == 0:
                from hub_ext.isolation.accounts import remove_accounts

                remove_accounts(prefix)


def setup_group(hub: hubs.Hub) -> None:
    r = hub.api("POST", f"/groups/{GROUP}")
    if r.status_code != 409:
        _ok(r, "create group")
    _ok(hub.api("POST", f"/groups/{GROUP}/users", json={"users": [hubs.ADMIN]}), "add admin to group")
    # a full replace: every quota left out is unlimited
    _ok(hub.api("PUT", f"/portal/groups/{GROUP}/policy",
                json={"policy": {"display_name": "Bench jobs", "default_instance_type": INSTANCE_TYPE}}),
        "set group policy")


def submit(hub: hubs.Hub, name: str, command: str = "true") -> dict:
    return _ok(hub.api("POST", f"/portal/groups/{GROUP}/jobs", json={"name": name, "command": command}),
               "submit job")


def job(hub: hubs.Hub, job_id: int) -> dict:
    return _ok(hub.api("GET", f"/portal/jobs/{job_id}"), f"job {job_id}")


def wait_done(hub: hubs.Hub, job_id: int, timeout: float = 60, poll: float = 0.05) -> dict:
    """The job's JSON once it has ended (polled every ``poll`` s; the times measured are the server's)."""
    deadline = time.monotonic() + timeout
    while True:
        data = job(hub, job_id)
        if data["phase"] in DONE:
            return data
        if time.monotonic() > deadline:
            raise RuntimeError(f"job {job_id} still {data['phase']} after {timeout}s: {data.get('message')}\n"
                               f"{hub.log_tail()}")
        time.sleep(poll)


def all_jobs(hub: hubs.Hub) -> list[dict]:
    """Every job of GROUP, newest first (paged by id)."""
    out, before = [], None
    while True:
        params = {"limit": 500, **({"before": before} if before else {})}
        page = _ok(hub.api("GET", f"/portal/groups/{GROUP}/jobs", params=params), "list jobs")["jobs"]
        out.extend(page)
        if len(page) < 500:
            return out
        before = page[-1]["id"]


def ts(value: str | None) -> datetime | None:
    """An API time stamp (ISO 8601, UTC) as an aware datetime."""
    if not value:
        return None
    dt = datetime.fromisoformat(value)
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)
