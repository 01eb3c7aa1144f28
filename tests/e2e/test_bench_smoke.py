"""The bench rig runs end to end: both hubs start, get populated, and the line has its shape.

This is a smoke test of ``python -m bench`` (few samples, small population), not
a measurement: the ratio target is not asserted here.
"""

import json
import re
import subprocess
import sys

import pytest

from support import REPO, need, proxy_command

pytestmark = pytest.mark.e2e

NUM = r"\d+(?:\.\d+)?"
HOME_LINE = re.compile(
    rf"^home: hubfront=p50 ({NUM})ms/p99 ({NUM})ms stock=p50 ({NUM})ms/p99 ({NUM})ms "
    rf"ratio=p50 ({NUM})/p99 ({NUM}) target<=({NUM})$"
)


def test_home_benchmark_prints_its_line(tmp_path):
    need(proxy_command() is not None, "configurable-http-proxy is not installed (run `make test`)")
    results = tmp_path / "latest.json"
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--only", "home", "--quick", "--users", "30", "--groups", "6",
         "--home-rounds", "2", "--home-requests", "10", "--json", str(results)],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    lines = [line for line in proc.stdout.splitlines() if line.startswith("home:")]
    assert len(lines) == 1, proc.stdout
    m = HOME_LINE.match(lines[0])
    assert m, lines[0]
    hf50, hf99, st50, st99, r50, r99, _target = map(float, m.groups())
    assert 0 < hf50 <= hf99 and 0 < st50 <= st99
    assert r50 == pytest.approx(hf50 / st50, rel=0.05, abs=0.02)

    doc = json.loads(results.read_text())
    home = doc["results"]["home"]
    assert home["line"] == lines[0]
    assert home["hubfront"]["n"] == home["stock"]["n"] == 2 * 10
    assert home["users"] == 30 and home["measured_user_groups"] == 5
