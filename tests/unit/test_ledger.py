"""The ledger on SQLite: admission, refusals, release, usage, reconcile, GPU devices."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from hub_ext.ledger import Ledger, QuotaExceeded, Request
from hub_ext.policy import Quota

GiB = 2**30
UNLIMITED = Quota()


def admit(ledger, workload_id, *, user="alice", group="research", request=Request(cpu=1, memory=GiB),
          group_quota=UNLIMITED, user_quota=UNLIMITED, kind="server", **kw):
    return ledger.reserve(kind=kind, workload_id=workload_id, username=user, group=group,
                          request=request, group_quota=group_quota, user_quota=user_quota, **kw)


@pytest.fixture
def ledger(sqlite_url):
    return Ledger(sqlite_url)


def test_admission_within_quota_records_the_reservation(ledger):
    quota = Quota(cpu=4, memory="8Gi", gpu=2, sessions=2)
    r = admit(ledger, "alice/research", request=Request(cpu=2, memory=4 * GiB, gpu=1), group_quota=quota,
              user_quota=quota)
    assert (r.kind, r.workload_id, r.username, r.group) == ("server", "alice/research", "alice", "research")
    assert (r.cpu, r.memory, r.gpu, r.device_ids) == (2.0, 4 * GiB, 1, [])
    # a second one still fits exactly at every limit
    admit(ledger, "job-1", kind="job", request=Request(cpu=2, memory=4 * GiB, gpu=1), group_quota=quota,
          user_quota=quota)
    assert [x.workload_id for x in ledger.reservations(group="research")] == ["alice/research", "job-1"]
    assert [x.workload_id for x in ledger.reservations(kind="job")] == ["job-1"]
    assert ledger.get("server", "alice/research").cpu == 2.0
    assert ledger.get("server", "nobody") is None


def test_refusal_names_the_exact_resource_and_scope(ledger):
    admit(ledger, "a", request=Request(gpu=3))
    with pytest.raises(QuotaExceeded) as exc:
        admit(ledger, "b", user="bob", request=Request(gpu=2), group_quota=Quota(gpu=4))
    assert exc.value.over == ["GPU: used 3 + requested 2 > limit 4 (group research)"]
    assert exc.value.message == "GPU: used 3 + requested 2 > limit 4 (group research)"
    assert str(exc.value) == exc.value.message
    assert ledger.get("server", "b") is None


def test_refusal_lists_every_resource_over_in_both_scopes(ledger):
    admit(ledger, "a", request=Request(cpu=2, memory=4 * GiB, gpu=1))
    admit(ledger, "b", user="bob", request=Request(cpu=1, memory=2 * GiB, gpu=1))
    group_quota = Quota(cpu=4, memory="6Gi", gpu=8, sessions=2)
    user_quota = Quota(cpu=2, memory="16Gi", gpu=1, sessions=5)
    with pytest.raises(QuotaExceeded) as exc:
        admit(ledger, "c", request=Request(cpu=1.5, memory=1 * GiB, gpu=1), group_quota=group_quota,
              user_quota=user_quota)
    assert exc.value.over == [
        "CPU: used 3 + requested 1.5 > limit 4 (group research)",
        "Memory: used 6 GiB + requested 1 GiB > limit 6 GiB (group research)",
        "Sessions: used 2 + requested 1 > limit 2 (group research)",
        "CPU: used 2 + requested 1.5 > limit 2 (user alice in group research)",
        "GPU: used 1 + requested 1 > limit 1 (user alice in group research)",
    ]
    assert exc.value.message == "; ".join(exc.value.over)
    assert len(ledger.reservations()) == 2


def test_quota_is_per_group_and_user_quota_per_member(ledger):
    admit(ledger, "a", request=Request(gpu=2))
    # another group's use does not count against research
    admit(ledger, "x", group="vision", request=Request(gpu=2), group_quota=Quota(gpu=2))
    # bob's use in research does not count against alice's user quota
    admit(ledger, "b", user="bob", request=Request(gpu=1), user_quota=Quota(gpu=2))
    with pytest.raises(QuotaExceeded, match=r"GPU: used 2 \+ requested 1 > limit 2 \(user alice"):
        admit(ledger, "c", request=Request(gpu=1), user_quota=Quota(gpu=2))


def test_unlimited_never_refuses(ledger):
    for i in range(30):
        admit(ledger, f"w{i}", request=Request(cpu=64, memory=512 * GiB, gpu=8))
    assert len(ledger.reservations(group="research")) == 30


def test_resource_not_requested_is_not_blocked_by_a_lowered_limit(ledger):
    admit(ledger, "gpu-job", request=Request(cpu=1, gpu=4))
    # the group's GPU limit was lowered to 2 afterwards: CPU-only work still starts
    admit(ledger, "cpu-only", request=Request(cpu=1), group_quota=Quota(gpu=2))
    with pytest.raises(QuotaExceeded, match="GPU: used 4 "):
        admit(ledger, "more-gpu", request=Request(gpu=1), group_quota=Quota(gpu=2))


def test_cpu_fractions_fit_their_limit_exactly(ledger):
    for i in range(3):
        admit(ledger, f"w{i}", request=Request(cpu=0.1), group_quota=Quota(cpu=0.3))
    with pytest.raises(QuotaExceeded, match=r"CPU: used 0.3 \+ requested 0.1 > limit 0.3"):
        admit(ledger, "w3", request=Request(cpu=0.1), group_quota=Quota(cpu=0.3))


def test_release_frees_quota_and_is_idempotent(ledger):
    quota = Quota(sessions=1)
    admit(ledger, "a", group_quota=quota)
    with pytest.raises(QuotaExceeded, match="Sessions: used 1"):
        admit(ledger, "b", group_quota=quota)
    assert ledger.release("server", "a") is True
    assert ledger.release("server", "a") is False
    assert ledger.release("server", "never-existed") is False
    admit(ledger, "b", group_quota=quota)


def test_re_reserving_the_same_workload_returns_it_unchanged(ledger):
    first = admit(ledger, "a", request=Request(cpu=2, gpu=1), group_quota=Quota(gpu=1))
    # re-admission (hub restart, retried start) reserves nothing twice, even at the limit
    again = admit(ledger, "a", request=Request(cpu=8, gpu=1), group_quota=Quota(gpu=1))
    assert (again.id, again.cpu, again.gpu) == (first.id, 2.0, 1)
    assert len(ledger.reservations()) == 1


def test_usage_reports_used_limit_remaining_and_unlimited(ledger):
    admit(ledger, "a", request=Request(cpu=2, memory=4 * GiB, gpu=1))
    admit(ledger, "b", user="bob", request=Request(cpu=1, memory=2 * GiB, gpu=0))
    admit(ledger, "x", group="vision", request=Request(cpu=16, gpu=4))
    usage = ledger.usage("research", "alice", Quota(cpu=8, gpu=4), Quota(memory="16Gi", sessions=3))

    assert usage.group["cpu"].used == 3 and usage.group["cpu"].limit == 8
    assert usage.group["cpu"].remaining == 5 and not usage.group["cpu"].unlimited
    assert (usage.group["gpu"].used, usage.group["gpu"].remaining) == (1, 3)
    assert usage.group["memory"].used == 6 * GiB and usage.group["memory"].unlimited
    assert usage.group["memory"].limit is None and usage.group["memory"].remaining is None
    assert usage.group["sessions"].used == 2 and usage.group["sessions"].unlimited

    assert usage.user["cpu"].used == 2 and usage.user["cpu"].unlimited
    assert (usage.user["memory"].used, usage.user["memory"].remaining) == (4 * GiB, 12 * GiB)
    assert (usage.user["sessions"].used, usage.user["sessions"].remaining) == (1, 2)

    assert ledger.usage("research", None, UNLIMITED, UNLIMITED).user is None
    empty = ledger.usage("empty-group", "carol", Quota(gpu=2), Quota(gpu=1))
    assert (empty.group["gpu"].used, empty.group["gpu"].remaining) == (0, 2)
    assert (empty.user["gpu"].used, empty.user["gpu"].remaining) == (0, 1)


def test_usage_remaining_is_never_negative_after_a_limit_is_lowered(ledger):
    admit(ledger, "a", request=Request(gpu=4))
    gpu = ledger.usage("research", "alice", Quota(gpu=2), UNLIMITED).group["gpu"]
    assert (gpu.used, gpu.limit, gpu.remaining) == (4, 2, 0)


def test_per_user_sums_each_member(ledger):
    admit(ledger, "a1", request=Request(cpu=1, memory=GiB, gpu=1))
    admit(ledger, "a2", kind="job", request=Request(cpu=0.5, memory=GiB))
    admit(ledger, "b1", user="bob", request=Request(cpu=4, memory=8 * GiB, gpu=2))
    admit(ledger, "x", user="carol", group="vision", request=Request(cpu=1))
    assert ledger.per_user("research") == {
        "alice": {"cpu": 1.5, "memory": 2 * GiB, "gpu": 1, "sessions": 2},
        "bob": {"cpu": 4.0, "memory": 8 * GiB, "gpu": 2, "sessions": 1},
    }
    assert ledger.per_user("nobody-here") == {}


def test_reconcile_drops_dead_workloads_only(ledger):
    for wid in ("live-1", "dead-1", "live-2", "dead-2"):
        admit(ledger, wid)
    admit(ledger, "dead-job", kind="job")
    seen = []

    def alive(r):
        seen.append(r.workload_id)
        return r.workload_id.startswith("live")

    dropped = ledger.reconcile(alive, kind="server")
    assert sorted(r.workload_id for r in dropped) == ["dead-1", "dead-2"]
    assert "dead-job" not in seen  # other kinds are not even asked about
    assert sorted(r.workload_id for r in ledger.reservations()) == ["dead-job", "live-1", "live-2"]
    assert [r.workload_id for r in ledger.reconcile(alive)] == ["dead-job"]
    assert ledger.reconcile(alive) == []


def test_gpu_devices_are_never_handed_out_twice(sqlite_url):
    ledger = Ledger(sqlite_url, gpu_inventory=lambda: [0, 1, 2, 3])
    a = admit(ledger, "a", request=Request(gpu=2), allocate_devices=True)
    b = admit(ledger, "b", user="bob", group="vision", request=Request(gpu=1), allocate_devices=True)
    assert a.device_ids == [0, 1] and b.device_ids == [2]
    assert ledger.get("server", "a").device_ids == [0, 1]
    # no GPU asked: no device, even when allocating
    assert admit(ledger, "cpu", request=Request(cpu=1), allocate_devices=True).device_ids == []
    # without allocate_devices (e.g. Kubernetes schedules GPUs itself) nothing is held
    assert admit(ledger, "k8s", request=Request(gpu=3)).device_ids == []

    with pytest.raises(QuotaExceeded) as exc:
        admit(ledger, "c", request=Request(gpu=2), allocate_devices=True)
    assert exc.value.over == ["GPU devices: requested 2 > free 1 on this machine"]
    assert ledger.get("server", "c") is None

    ledger.release("server", "a")
    c = admit(ledger, "c", request=Request(gpu=3), allocate_devices=True)
    assert sorted(c.device_ids) == [0, 1, 3]


def test_device_shortage_and_quota_are_reported_together(sqlite_url):
    ledger = Ledger(sqlite_url, gpu_inventory=lambda: [0])
    admit(ledger, "a", request=Request(gpu=1), allocate_devices=True)
    with pytest.raises(QuotaExceeded) as exc:
        admit(ledger, "b", request=Request(gpu=1), group_quota=Quota(gpu=1), allocate_devices=True)
    assert exc.value.over == [
        "GPU: used 1 + requested 1 > limit 1 (group research)",
        "GPU devices: requested 1 > free 0 on this machine",
    ]


def test_negative_request_is_refused():
    with pytest.raises(ValueError, match="gpu"):
        Request(gpu=-1)


def test_fifty_concurrent_admissions_never_exceed_the_group_gpu_quota(sqlite_url):
    ledger = Ledger(sqlite_url, gpu_inventory=lambda: list(range(8)))
    users = ["alice", "bob", "carol", "dave", "erin"]
    start = threading.Barrier(50)

    def attempt(i):
        start.wait()
        try:
            r = admit(ledger, f"server-{i}", user=users[i % 5], request=Request(cpu=1, memory=GiB, gpu=1),
                      group_quota=Quota(gpu=4), allocate_devices=True)
            return r
        except QuotaExceeded as exc:
            return exc

    with ThreadPoolExecutor(50) as pool:
        results = list(pool.map(attempt, range(50)))
    admitted = [r for r in results if not isinstance(r, QuotaExceeded)]
    refused = [r for r in results if isinstance(r, QuotaExceeded)]
    assert (len(admitted), len(refused)) == (4, 46)
    assert {e.message for e in refused} == {"GPU: used 4 + requested 1 > limit 4 (group research)"}
    assert ledger.usage("research", None, Quota(gpu=4), UNLIMITED).group["gpu"].used == 4
    assert sum(r.gpu for r in ledger.reservations(group="research")) == 4
    devices = [d for r in admitted for d in r.device_ids]
    assert sorted(devices) == [0, 1, 2, 3]


def test_shortfalls_previews_a_refusal_without_reserving(ledger):
    admit(ledger, "a", request=Request(gpu=3))
    kw = dict(group="research", username="bob", group_quota=Quota(gpu=4), user_quota=Quota(sessions=0))
    assert ledger.shortfalls(request=Request(gpu=2), **kw) == [
        "GPU: used 3 + requested 2 > limit 4 (group research)",
        "Sessions: used 0 + requested 1 > limit 0 (user bob in group research)",
    ]
    assert ledger.shortfalls(request=Request(gpu=1), group="research", username="bob",
                             group_quota=Quota(gpu=4), user_quota=UNLIMITED) == []
    assert len(ledger.reservations()) == 1


def test_admission_reads_indexes_only_never_the_whole_table(sqlite_url):
    """With thousands of reservations, what reserve() reads under the lock comes from indexes (the sums from a
    covering one, the devices held from the GPU holders' rows only): no statement scans the table."""
    from hub_ext.ledger.reservations import _ADMISSION
    from hub_ext.store import get_engine

    engine = get_engine(sqlite_url)
    params = {"kind": "server", "workload_id": "w", "group": "research", "username": "alice"}
    with engine.connect() as conn:
        for devices in (False, True):
            compiled = _ADMISSION["sqlite", devices].compile(engine)
            bound = compiled.construct_params(params)
            plan = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}",
                                        tuple(bound[name] for name in compiled.positiontup)).all()
            steps = [row[3] for row in plan]
            assert any("COVERING INDEX ix_reservations_group_use" in s for s in steps), steps
            assert not any(s.startswith("SCAN") and "INDEX" not in s for s in steps), steps
