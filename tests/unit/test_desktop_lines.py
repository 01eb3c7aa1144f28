"""The Desktop & SSH panel's words without a hub: the command lines (hub_ext.portal.common.ssh), the client's
install lines per system, and what hubfront.pyz holds (the client's modules only, runnable without the
hub's packages)."""

import io
import subprocess
import sys
import zipfile

from hub_ext.portal.common.ssh import GatewayAddress, connect_lines
from hub_ext.portal.desktop import pyz
from hub_ext.portal.desktop.panel import install_lines, user_os

ADDRESS = GatewayAddress(enabled=True, host="hub.example.org", port=2222)


def test_the_lines_name_the_port_the_user_and_the_group():
    lines = connect_lines("alice", "research", ADDRESS)
    assert lines["ssh"] == "ssh -p 2222 alice@hub.example.org"
    assert lines["ssh_group"] == "ssh -p 2222 alice+research@hub.example.org"
    assert lines["sftp"] == "sftp -P 2222 alice+research@hub.example.org"
    assert lines["rsync"] == "rsync -a -e 'ssh -p 2222' results/ alice+research@hub.example.org:shared/results/"
    assert lines["config"].splitlines() == ["Host hubfront-research", "    HostName hub.example.org", "    Port 2222",
                                            "    User alice+research"]
    assert connect_lines("alice", None, ADDRESS) == {"ssh": "ssh -p 2222 alice@hub.example.org"}  # no group
    # a name a shell would split is quoted, so the line still pastes as one command
    assert connect_lines("a b", None, ADDRESS)["ssh"] == "ssh -p 2222 'a b@hub.example.org'"


def test_each_system_gets_its_install_lines():
    assert user_os("Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/131.0") == "windows"
    assert user_os("Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) Safari/605.1.15") == "macos"
    assert user_os("Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0") == "linux"
    assert user_os("") == "linux"
    lines = install_lines("https://hub.example.org/hub/")
    assert lines["unix"].splitlines()[0] == (
        "mkdir -p ~/.local/bin && curl -fsSL 'https://hub.example.org/hub/portal/desktop/hubfront.pyz'"
        " -o ~/.local/bin/hubfront && chmod +x ~/.local/bin/hubfront")
    assert "HUBFRONT_URL='https://hub.example.org/hub/api'" in lines["unix"]
    assert lines["windows"].splitlines()[0] == (
        "Invoke-WebRequest -Uri 'https://hub.example.org/hub/portal/desktop/hubfront.pyz' -OutFile hubfront.pyz")
    assert lines["windows"].splitlines()[-1] == "py hubfront.pyz jobs list"


def test_the_archive_holds_the_client_alone_and_runs_without_the_hub_packages(tmp_path):
    archive = pyz.build()
    assert archive.data.startswith(b"#!/usr/bin/env python3\n")
    names = set(zipfile.ZipFile(io.BytesIO(archive.data)).namelist())
    assert {n for n in names if n.endswith(".py")} == {
        "__main__.py", "hub_ext/__init__.py", "hub_ext/field_messages.py", "hub_ext/cli/__init__.py",
        "hub_ext/cli/client.py", "hub_ext/cli/jobs.py", "hub_ext/cli/standalone.py"}
    path = tmp_path / "hubfront.pyz"
    path.write_bytes(archive.data)
    run = subprocess.run([sys.executable, "-I", "-S", str(path), "--version"], check=False, capture_output=True,
                         text=True, timeout=60)
    assert run.returncode == 0 and run.stdout.startswith("hubfront "), run.stderr
    # a refusal keeps its exit status through the archive's __main__ (zipapp's own would drop it)
    run = subprocess.run([sys.executable, "-I", "-S", str(path), "jobs", "list", "--url", "http://127.0.0.1:9",
                          "--token", "t"], check=False, capture_output=True, text=True, timeout=60)
    assert run.returncode == 2 and "cannot reach the hub" in run.stderr
