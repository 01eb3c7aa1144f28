"""``hubfront jobs ...`` end to end: the CLI as a subprocess against the real hub and runner,
with a token, as a script would use it; and from inside a real notebook server, with the
server's own $JUPYTERHUB_API_TOKEN and $JUPYTERHUB_API_URL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
import requests

from support import (
    REPO, RealHub, need, proxy_command, run_in_server, stop_leftover_servers, user_token, wait_for_server,
    wait_for_stopped,
)

pytestmark = [pytest.mark.e2e, pytest.mark.isolation]

PASSWORD = "cli-Passw0rd!"
USER = "carol"
DONE = ("Succeeded", "Failed", "Cancelled")


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    need(proxy_command() is not None, "configurable-http-proxy is not installed (run `make test`)")
    need(os.geteuid() == 0, "jobs run as their owners' OS accounts: the hub must run as root (as in CI)")
    work = tmp_path_factory.mktemp("jobs-cli")
    (work / "config.py").write_text(
        f"load_subconfig({str(REPO / 'jupyterhub_config.py')!r})\n"
        "c.LocalExecutor.kill_grace = 2.0\n")
    hub = RealHub(work / "data", config=work / "config.py")
    hub.start()
    try:
        hub.add_user(USER, PASSWORD, ["research"])  # the demo group of config/hubfront.yaml
        yield hub
    finally:
        hub.stop()
        stop_leftover_servers(hub.data_dir)


@pytest.fixture(scope="module")
def session(hub):
    return hub.login(USER, PASSWORD)


@pytest.fixture(scope="module")
def token(session):
    return user_token(session, USER, note="jobs cli")


def cli_env(hub, token: str | None) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTERHUB_", "HUBFRONT_"))}
    env["HUBFRONT_URL"] = hub.base_url  # a bare hub address: the CLI adds /hub/api
    if token:
        env["JUPYTERHUB_API_TOKEN"] = token
    return env


def hubfront(hub, token, *args, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hub_ext.cli", "jobs", *args], env=cli_env(hub, token),
                          capture_output=True, text=True, timeout=timeout)


def api_job(hub, token, job_id) -> dict:
    r = requests.get(f"{hub.base_url}/hub/api/portal/jobs/{job_id}",
                     headers={"Authorization": f"token {token}"}, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def wait_phase(hub, token, job_id, phases=DONE, timeout=60.0) -> dict:
    until = time.monotonic() + timeout
    while True:
        job = api_job(hub, token, job_id)
        if job["phase"] in phases:
            return job
        assert time.monotonic() < until, f"job {job_id} still {job['phase']}: {job['message']}"
        time.sleep(0.3)


def test_submit_follow_list_and_logs(hub, token):
    done = hubfront(hub, token, "submit", "--name", "cli hi", "--env", "GREETING=hello", "--follow",
                    "--", "python3", "-c", "import os; print('hi'); print(os.environ['GREETING'])")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "hi\nhello\n"
    first, *_, last = done.stderr.strip().splitlines()
    assert first.startswith("job ") and "submitted in group research" in first
    job_id = first.split()[1]
    assert last == f"job {job_id} Succeeded"
    job = api_job(hub, token, job_id)
    assert (job["name"], job["group"], job["username"], job["env"]) == (
        "cli hi", "research", USER, {"GREETING": "hello"})

    listed = hubfront(hub, token, "list")
    assert listed.returncode == 0, listed.stderr
    header, *rows = listed.stdout.splitlines()
    assert header.split()[:5] == ["ID", "NAME", "PHASE", "REASON", "OWNER"]
    row = next(r for r in rows if r.split()[0] == job_id)
    assert "cli hi" in row and "Succeeded" in row and USER in row

    as_json = hubfront(hub, token, "list", "--group", "research", "--phase", "Succeeded", "--json")
    assert as_json.returncode == 0, as_json.stderr
    assert job_id in [str(j["id"]) for j in json.loads(as_json.stdout)]

    logs = hubfront(hub, token, "logs", job_id)
    assert (logs.returncode, logs.stdout) == (0, "hi\nhello\n"), logs.stderr
    followed = hubfront(hub, token, "logs", "--follow", job_id)  # an ended job: prints and returns
    assert (followed.returncode, followed.stdout) == (0, "hi\nhello\n"), followed.stderr


def test_submit_prints_the_id_and_wait_reports_a_failure(hub, token):
    plain = hubfront(hub, token, "submit", "--name", "one string", "echo one; echo two")
    assert plain.returncode == 0, plain.stderr
    job_id = plain.stdout.strip()
    assert job_id.isdigit()
    assert wait_phase(hub, token, job_id)["phase"] == "Succeeded"
    assert hubfront(hub, token, "logs", job_id).stdout == "one\ntwo\n"

    failed = hubfront(hub, token, "submit", "--name", "fails", "--wait", "--json", "--", "sh", "-c", "exit 3")
    assert failed.returncode == 1, failed.stderr
    assert "Failed" in failed.stderr.strip().splitlines()[-1] and "exit code 3" in failed.stderr
    decoder = json.JSONDecoder()
    submitted, end = decoder.raw_decode(failed.stdout)
    final = json.loads(failed.stdout[end:])
    assert submitted["id"] == final["id"] and (final["phase"], final["exit_code"]) == ("Failed", 3)


def test_cancel_ends_a_running_job(hub, token):
    started = hubfront(hub, token, "submit", "--name", "sleeper", "--timeout", "5m", "--", "sleep", "60")
    assert started.returncode == 0, started.stderr
    job_id = started.stdout.strip()
    assert api_job(hub, token, job_id)["timeout"] == 300
    wait_phase(hub, token, job_id, phases=("Running",))
    cancel = hubfront(hub, token, "cancel", job_id)
    assert cancel.returncode == 0, cancel.stderr
    assert cancel.stdout.startswith(f"job {job_id} ")
    job = wait_phase(hub, token, job_id, timeout=40)
    assert (job["phase"], job["reason"]) == ("Cancelled", "Cancelled")
    listed = hubfront(hub, token, "list", "--phase", "Cancelled")
    assert any(r.split()[0] == job_id for r in listed.stdout.splitlines()[1:]), listed.stdout
    again = hubfront(hub, token, "cancel", job_id)  # it has ended: the API's 409, one line
    assert again.returncode == 2
    assert again.stderr == "error: phase: the job has already ended (Cancelled)\n"


def test_errors_are_one_line_with_the_apis_message(hub, token):
    empty = hubfront(hub, token, "submit", "--name", "", "--", "true")
    assert empty.returncode == 2 and empty.stdout == ""
    assert empty.stderr == "error: Name: enter a name\n"

    missing = hubfront(hub, token, "logs", "999999")
    assert (missing.returncode, missing.stderr) == (2, "error: No such job: 999999\n")

    other = hubfront(hub, token, "list", "--group", "teaching")  # not a member
    assert (other.returncode, other.stderr) == (2, "error: No such group: teaching\n")

    bad_token = hubfront(hub, "not-a-token", "list")
    assert bad_token.returncode == 2 and bad_token.stderr.startswith("error: ")
    assert len(bad_token.stderr.splitlines()) == 1

    no_token = hubfront(hub, None, "list")
    assert (no_token.returncode, no_token.stderr) == (2, "error: no token: set JUPYTERHUB_API_TOKEN or pass --token\n")

    gone = subprocess.run([sys.executable, "-m", "hub_ext.cli", "jobs", "list", "--url", "http://127.0.0.1:9"],
                          env=cli_env(hub, token), capture_output=True, text=True, timeout=60)
    assert gone.returncode == 2
    assert gone.stderr.startswith("error: cannot reach the hub at http://127.0.0.1:9/hub/api: ")


NOTEBOOK_CODE = """
import json, os, subprocess, sys
assert os.environ.get("JUPYTERHUB_API_TOKEN") and os.environ.get("JUPYTERHUB_API_URL")
assert not os.environ.get("HUBFRONT_URL") and not os.environ.get("HUBFRONT_TOKEN")
p = subprocess.run([sys.executable, "-m", "hub_ext.cli", "jobs", "submit", "--name", "from-nb", "--follow",
                    "--", "echo", "from-notebook"], capture_output=True, text=True, timeout=120)
print(json.dumps({"rc": p.returncode, "stdout": p.stdout, "stderr": p.stderr}))
"""


def test_a_notebook_submits_a_job_with_its_own_token(hub, session, token):
    r = session.api("POST", f"/users/{USER}/servers/research",
                    json={"group": "research", "instance_type": "cpu-small", "image": "base"})
    assert r.status_code in (201, 202), r.text
    try:
        wait_for_server(session, USER, "research", hub=hub)
        seen = json.loads(run_in_server(session, USER, "research", NOTEBOOK_CODE, timeout=150, token=token))
        assert seen["rc"] == 0, seen
        assert seen["stdout"] == "from-notebook\n", seen
        job_id = seen["stderr"].split()[1]
        job = api_job(hub, token, job_id)
        assert (job["name"], job["group"], job["username"], job["phase"]) == ("from-nb", "research", USER, "Succeeded")
    finally:
        session.api("DELETE", f"/users/{USER}/servers/research")
        wait_for_stopped(session, USER, "research")
