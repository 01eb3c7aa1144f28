"""Admission races: threads and separate OS processes never over-admit a quota.

The hub and the managed service are different processes admitting into the
same portal database, so the ledger's lock must hold across processes, on
SQLite (``BEGIN IMMEDIATE``) and on PostgreSQL (advisory transaction lock).
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from hub_ext.ledger import _PG_GROUP_NS, Ledger, QuotaExceeded, Request
from hub_ext.policy import Quota

WORKER = Path(__file__).with_name("ledger_worker.py")
REPO = Path(__file__).resolve().parents[2]


@pytest.mark.postgres
def test_fifty_concurrent_admissions_on_postgres(pg_url):
    ledger = Ledger(pg_url)
    users = ["alice", "bob", "carol", "dave", "erin"]
    start = threading.Barrier(50)

    def attempt(i):
        start.wait()
        try:
            return ledger.reserve(
                kind="server", workload_id=f"server-{i}", username=users[i % 5], group="research",
                request=Request(cpu=1, memory=2**30, gpu=1), group_quota=Quota(gpu=4), user_quota=Quota(),
            )
        except QuotaExceeded as exc:
            return exc

    with ThreadPoolExecutor(50) as pool:
        results = list(pool.map(attempt, range(50)))
    refused = [r for r in results if isinstance(r, QuotaExceeded)]
    assert (50 - len(refused), len(refused)) == (4, 46)
    assert {e.message for e in refused} == {"GPU: used 4 + requested 1 > limit 4 (group research)"}
    assert ledger.usage("research", None, Quota(gpu=4), Quota()).group["gpu"].used == 4
    assert sum(r.gpu for r in ledger.reservations(group="research")) == 4


@pytest.mark.postgres
def test_groups_do_not_share_a_lock_on_postgres(pg_url):
    """An open admission in one group does not stop another group's admission."""
    import sqlalchemy as sa

    from hub_ext.store import get_engine

    ledger = Ledger(pg_url)
    engine = get_engine(pg_url)
    with engine.connect() as conn, conn.begin():
        # hold the research group's lock the way reserve() takes it
        conn.execute(sa.text(f"SELECT pg_advisory_xact_lock({_PG_GROUP_NS}, hashtext('research'))"))
        other = ledger.reserve(kind="server", workload_id="v", username="bob", group="vision",
                               request=Request(gpu=1), group_quota=Quota(gpu=1), user_quota=Quota())
        assert other.group == "vision"
        pool = ThreadPoolExecutor(1)
        blocked = pool.submit(
            ledger.reserve, kind="server", workload_id="r", username="alice", group="research",
            request=Request(gpu=1), group_quota=Quota(gpu=1), user_quota=Quota())
        with pytest.raises(TimeoutError):
            blocked.result(timeout=0.5)
    assert blocked.result(timeout=10).group == "research"
    pool.shutdown()



@pytest.mark.postgres
def test_concurrent_groups_never_share_a_gpu_device_on_postgres(pg_url):
    """Group locks alone would let two groups pick the same free device at once."""
    ledger = Ledger(pg_url, gpu_inventory=lambda: [0, 1, 2, 3])
    start = threading.Barrier(16)

    def attempt(i):
        start.wait()
        try:
            return ledger.reserve(
                kind="server", workload_id=f"s{i}", username=f"user{i}", group=f"group{i % 8}",
                request=Request(gpu=1), group_quota=Quota(), user_quota=Quota(), allocate_devices=True,
            )
        except QuotaExceeded as exc:
            return exc

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(attempt, range(16)))
    admitted = [r for r in results if not isinstance(r, QuotaExceeded)]
    refused = [r for r in results if isinstance(r, QuotaExceeded)]
    assert sorted(d for r in admitted for d in r.device_ids) == [0, 1, 2, 3]
    assert {e.message for e in refused} == {"GPU devices: requested 1 > free 0 on this machine"}
    assert len(refused) == 12

def _race_two_processes(db_url: str, attempts: int, quota: int) -> list[dict]:
    workers = [
        subprocess.Popen(
            [sys.executable, str(WORKER), db_url, name, str(attempts), str(quota)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=REPO,
        )
        for name in ("hub", "service")
    ]
    try:
        for w in workers:
            assert w.stdout.readline().strip() == "ready"
        for w in workers:  # start both at the same moment
            w.stdin.write("go\n")
            w.stdin.flush()
        outputs = [w.communicate(timeout=120)[0] for w in workers]
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
    assert all(w.returncode == 0 for w in workers)
    return [json.loads(out.strip().splitlines()[-1]) for out in outputs]


def _assert_exact_admission(ledger: Ledger, results: list[dict], quota: int) -> None:
    admitted = [wid for r in results for wid in r["admitted"]]
    assert len(admitted) == quota
    for r in results:
        assert set(r["refusals"]) <= {f"GPU: used {quota} + requested 1 > limit {quota} (group research)"}
    held = ledger.reservations(group="research")
    assert sorted(r.workload_id for r in held) == sorted(admitted)
    assert ledger.usage("research", None, Quota(gpu=quota), Quota()).group["gpu"].used == quota


def test_two_processes_never_over_admit_on_sqlite(sqlite_url):
    results = _race_two_processes(sqlite_url, attempts=40, quota=24)
    _assert_exact_admission(Ledger(sqlite_url), results, 24)


@pytest.mark.postgres
def test_two_processes_never_over_admit_on_postgres(pg_url):
    results = _race_two_processes(pg_url, attempts=40, quota=24)
    _assert_exact_admission(Ledger(pg_url), results, 24)
