"""The sftp benchmark runs end to end and prints its line (a small file, two rounds: a smoke test of the rig,
not a measurement; its target is not asserted here)."""

import os
import re

import pytest

from support import need, proxy_command, run_bench

pytestmark = [pytest.mark.e2e, pytest.mark.isolation]

NUM = r"\d+(?:\.\d+)?"
LINE = re.compile(
    rf"^sftp: hubfront=upload through the gateway p50 ({NUM}) MiB/s plain=(OpenSSH sshd|a direct file copy \(no sshd "
    rf"found\)) p50 ({NUM}) MiB/s ratio=throughput ({NUM}) target=ratio>=0.8 ok=(True|False) \(n=2, 8 MiB file, "
    rf"client sftp, ciphers (\S+) / (\S+)\)$"
)


def test_sftp_benchmark_prints_its_line(tmp_path):
    need(proxy_command() is not None, "configurable-http-proxy is not installed (run `make test`)")
    need(os.geteuid() == 0, "the SSH gateway lands as the users' OS accounts: the bench runs as root (CI does)")
    lines, results = run_bench(tmp_path, "--only", "sftp", "--quick", "--sftp-mib", "8", accounts="s-", timeout=600)
    line = lines["sftp"]
    m = LINE.match(line)
    assert m, line
    gateway, baseline, r = float(m.group(1)), float(m.group(3)), float(m.group(4))
    assert gateway > 0 and baseline > 0 and r == pytest.approx(gateway / baseline, rel=0.1, abs=0.05)
    data = results["sftp"]
    assert data["line"] == line and len(data["gateway_mib_s"]) == 2 and data["mib"] == 8
