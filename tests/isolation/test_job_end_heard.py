"""The runner hears a job's end from its keeper at once: with its looks at running jobs 30 s apart, a job that
ends a second after it started is Succeeded within seconds (the real runner loop, the real local executor and its keepers; no hub).

Runs anywhere: the executor does not isolate (the job runs as this user)."""

from __future__ import annotations

import asyncio
import time

from cryptography.fernet import Fernet

from hub_ext.jobs.records import JobStore
from hub_ext.jobs.requests import JobTemplate, resolve
from hub_ext.ledger import Ledger
from hub_ext.policy import parse_catalog, parse_policy
from hub_ext.services.hubapi import Groups
from hub_ext.services.runner import Reconciler, Runner
from hub_ext.store.engine import read_scope
from hub_ext.store.models_jobs import Job
from test_local_executor import make_executor

CATALOG = parse_catalog({"instance_types": [{"name": "one", "cpu": 1, "memory": "1Gi"}], "images": [{"name": "base"}]})
POLICY = parse_policy({"instance_types": ["one"], "default_instance_type": "one"})


class Hub:
    """The hub's API as the runner uses it: the group, and no tokens to mint or revoke."""

    async def groups(self):
        return Groups({"lab": POLICY}, {"lab": frozenset({"ann"})})

    async def workload_token(self, username, note, expires_in):
        return {}

    async def revoke_workload_tokens(self, username, note):
        return 0


def job_row(url, job_id) -> Job:
    with read_scope(url) as s:
        return s.get(Job, job_id)


async def test_a_job_end_is_seen_long_before_the_next_look(sqlite_url, tmp_path):
    executor = make_executor(tmp_path, "never")
    store = JobStore(sqlite_url, Fernet.generate_key())
    settings = Runner(watch_interval=30.0, reconcile_interval=30.0)  # the looks: far apart
    reconciler = Reconciler(settings=settings, store=store, executor=executor, hub=Hub(), ledger=Ledger(sqlite_url),
                            catalog=CATALOG)
    loop = asyncio.create_task(reconciler.run())
    try:
        for n in range(2):  # each runs past the runner's look right after its start, then must be seen ending
            template = JobTemplate(name=f"short-{n}", command="sleep 1; echo done", instance_type="one")
            job_id = store.submit(group="lab", username="ann", job=resolve(template, POLICY, CATALOG, "lab")).id
            submitted = time.monotonic()
            reconciler.wake.set()  # as the hub does after a submission
            while job_row(sqlite_url, job_id).phase not in ("Succeeded", "Failed"):
                assert time.monotonic() - submitted < 10, f"job {job_id}: {job_row(sqlite_url, job_id).phase}"
                assert not loop.done(), loop
                await asyncio.sleep(0.05)
            job = job_row(sqlite_url, job_id)
            assert (job.phase, job.exit_code) == ("Succeeded", 0), job.message
            assert job.started is not None and job.finished is not None
            while Ledger(sqlite_url).reservations(kind="job"):  # its quota is free again (released just after)
                assert time.monotonic() - submitted < 10, "the job's reservation was not released"
                await asyncio.sleep(0.05)
    finally:
        loop.cancel()
        await asyncio.gather(loop, return_exceptions=True)
        executor.close()


def keeper_servers() -> list:
    import psutil

    found = []
    for child in psutil.Process().children():
        try:  # another test's child this worker has not reaped yet is a zombie: no command line
            if "--serve" in child.cmdline():
                found.append(child)
        except (psutil.ZombieProcess, psutil.NoSuchProcess):
            continue
    return found


async def test_jobs_start_from_the_keeper_server_and_again_once_it_is_gone(tmp_path):
    from test_local_executor import log_text, spec, wait_done

    executor = make_executor(tmp_path, "never")
    executor.prepare()  # as the runner does at its start
    try:
        first = await executor.start(spec("echo one"))
        assert (await wait_done(executor, first)).phase == "Succeeded" and await log_text(executor, first) == "one\n"
        [server] = keeper_servers()
        server.kill()  # killed, say, for memory: the next job starts all the same (and a new server with it)
        server.wait(10)
        second = await executor.start(spec("echo two"))
        assert (await wait_done(executor, second)).phase == "Succeeded" and await log_text(executor, second) == "two\n"
    finally:
        executor.close()
    assert keeper_servers() == []  # nothing of the executor's is left running
