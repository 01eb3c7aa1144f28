"""A second process admitting into the ledger, for the cross-process tests.

Usage: ``python ledger_worker.py DB_URL NAME ATTEMPTS GROUP_GPU_QUOTA [THREADS]``.
It prints ``ready`` once imported and connected, waits for a line on stdin (so
that several workers start reserving at the same moment), then makes ATTEMPTS
one-GPU reservations from THREADS threads at once, like a hub or a service
handling concurrent requests, and prints a JSON summary of what it was
granted and refused.
"""

from __future__ import annotations

import json
import sys
from concurrent.futures import ThreadPoolExecutor

from hub_ext.ledger import Ledger, QuotaExceeded, Request
from hub_ext.policy import Quota


def main(db_url: str, name: str, attempts: int, gpu_quota: int, threads: int = 8) -> None:
    ledger = Ledger(db_url)
    ledger.usage("research", None, Quota(), Quota())  # connect before the start signal
    print("ready", flush=True)
    sys.stdin.readline()

    def attempt(i: int) -> str | None:
        try:
            ledger.reserve(
                kind="job", workload_id=f"{name}-{i}", username=f"{name}-user{i % 3}",
                group="research", request=Request(cpu=1, gpu=1),
                group_quota=Quota(gpu=gpu_quota), user_quota=Quota(),
            )
            return None
        except QuotaExceeded as exc:
            return exc.message

    with ThreadPoolExecutor(threads) as pool:
        outcomes = list(pool.map(attempt, range(attempts)))
    admitted = [f"{name}-{i}" for i, refusal in enumerate(outcomes) if refusal is None]
    refusals = sorted({refusal for refusal in outcomes if refusal is not None})
    print(json.dumps({"admitted": admitted, "refusals": refusals}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), *map(int, sys.argv[5:6]))
