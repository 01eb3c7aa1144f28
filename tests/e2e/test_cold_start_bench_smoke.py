"""The cold-start benchmark runs end to end and prints its line (few rounds: a smoke test of the rig, not a
measurement; its target is not asserted here)."""

import re

import pytest

from support import need, proxy_command, run_bench

pytestmark = pytest.mark.e2e

NUM = r"\d+(?:\.\d+)?"
LINE = re.compile(
    rf"^cold-start: hubfront=request at zero to first byte p50 ({NUM})ms/p99 ({NUM})ms "
    rf"\(runner: wake to ready p50 ({NUM})ms/p99 ({NUM})ms\) by-hand=start to first byte p50 ({NUM})ms/p99 ({NUM})ms "
    rf"ratio=p50 ({NUM}) target=ratio<=3 ok=(True|False) \(n=2, model=linear http.server, isolated=(yes|no)\)$"
)


def test_cold_start_benchmark_prints_its_line(tmp_path):
    need(proxy_command() is not None, "configurable-http-proxy is not installed (run `make test`)")
    lines, results = run_bench(tmp_path, "--only", "cold-start", "--quick", "--cold-start-rounds", "2", accounts="c-")
    line = lines["cold-start"]
    m = LINE.match(line)
    assert m, line
    zero50, zero99, run50, run99, hand50, hand99, r = map(float, m.groups()[:7])
    assert 0 < zero50 <= zero99 and 0 < run50 <= run99 and 0 < hand50 <= hand99
    assert r == pytest.approx(zero50 / hand50, rel=0.05, abs=0.05)
    data = results["cold-start"]
    assert data["line"] == line and data["request_at_zero_to_first_byte"]["n"] == 2
