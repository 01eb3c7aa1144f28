"""The cold-start benchmark runs end to end and prints its line (few rounds: a smoke test of the rig, not a
measurement; its target is not asserted here)."""

import json
import os
import re
import subprocess
import sys

import pytest

from support import ACCOUNT_PREFIX, REPO, need, proxy_command

pytestmark = pytest.mark.e2e

NUM = r"\d+(?:\.\d+)?"
LINE = re.compile(
    rf"^cold-start: hubfront=request at zero to first byte p50 ({NUM})ms/p99 ({NUM})ms "
    rf"\(runner: wake to ready p50 ({NUM})ms/p99 ({NUM})ms\) by-hand=start to first byte p50 ({NUM})ms/p99 ({NUM})ms "
    rf"ratio=p50 ({NUM}) target=ratio<=3 ok=(True|False) \(n=2, model=linear http.server, isolated=(yes|no)\)$"
)


def test_cold_start_benchmark_prints_its_line(tmp_path):
    need(proxy_command() is not None, "configurable-http-proxy is not installed (run `make test`)")
    results = tmp_path / "latest.json"
    env = dict(os.environ, BENCH_ACCOUNT_PREFIX=f"{ACCOUNT_PREFIX}c-")  # this run's own workload accounts
    proc = subprocess.run([sys.executable, "-m", "bench", "--only", "cold-start", "--quick", "--cold-start-rounds", "2",
                           "--json", str(results)], cwd=REPO, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    [line] = [line for line in proc.stdout.splitlines() if line.startswith("cold-start:")]
    m = LINE.match(line)
    assert m, line
    zero50, zero99, run50, run99, hand50, hand99, r = map(float, m.groups()[:7])
    assert 0 < zero50 <= zero99 and 0 < run50 <= run99 and 0 < hand50 <= hand99
    assert r == pytest.approx(zero50 / hand50, rel=0.05, abs=0.05)
    data = json.loads(results.read_text())["results"]["cold-start"]
    assert data["line"] == line and data["request_at_zero_to_first_byte"]["n"] == 2
