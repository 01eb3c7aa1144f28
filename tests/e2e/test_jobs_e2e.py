"""Jobs end to end: the real hub, the real runner service, jobs as real processes under OS accounts."""

from __future__ import annotations

import os
import signal
import time

import pytest
import yaml

from hub_ext.ledger import Ledger
from support import ACCOUNT_PREFIX, REPO, RealHub, need, proxy_command, until

pytestmark = [pytest.mark.e2e, pytest.mark.isolation]

PASSWORD = "jobs-Passw0rd!"
DONE = ("Succeeded", "Failed", "Cancelled")


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    need(proxy_command() is not None, "configurable-http-proxy is not installed (run `make test`)")
    need(os.geteuid() == 0, "jobs run as their owners' OS accounts: the hub must run as root (as in CI)")
    work = tmp_path_factory.mktemp("jobs-e2e")
    catalog = yaml.safe_load((REPO / "config" / "hubfront.yaml").read_text())
    catalog["catalog"]["instance_types"] += [
        {"name": "tiny", "cpu": "500m", "memory": "256Mi"},
        {"name": "gpu-tiny", "cpu": "500m", "memory": "256Mi", "gpu": 1},
        {"name": "gpu-pair", "cpu": "500m", "memory": "256Mi", "gpu": 2},
    ]
    catalog["groups"] = {}
    (work / "catalog.yaml").write_text(yaml.safe_dump(catalog))
    # one (pretend) GPU on this machine, so that GPU jobs are admitted and given device 0
    (work / "config.py").write_text(
        f"load_subconfig({str(REPO / 'jupyterhub_config.py')!r})\n"
        "c.LocalExecutor.gpu_inventory = [0]\n"
        "c.LocalExecutor.kill_grace = 2.0\n")
    hub = RealHub(work / "data", env={"HUBFRONT_CATALOG": str(work / "catalog.yaml")}, config=work / "config.py")
    hub.start()
    try:
        admin = hub.admin()
        for group, policy in {
            "jq": {"instance_types": ["tiny", "gpu-tiny", "gpu-pair"], "default_instance_type": "tiny",
                   "quota": {"gpu": 1}, "admins": ["gina"]},
            "other": {"instance_types": ["tiny"]},
        }.items():
            assert admin.api("POST", f"/groups/{group}").status_code == 201
            assert admin.api("PUT", f"/portal/groups/{group}/policy", json={"policy": policy}).status_code == 200
        hub.add_user("alice", PASSWORD, ["jq"])
        hub.add_user("bob", PASSWORD, ["jq"])
        hub.add_user("gina", PASSWORD, ["jq"])
        hub.add_user("olga", PASSWORD, ["other"])
        yield hub
    finally:
        hub.stop()


@pytest.fixture(scope="module")
def alice(hub):
    return hub.login("alice", PASSWORD)


def submit(s, group="jq", **body):
    body.setdefault("name", "test job")
    r = s.api("POST", f"/portal/groups/{group}/jobs", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def wait(s, job_id, phases=DONE, timeout=60.0):
    until = time.monotonic() + timeout
    while True:
        job = s.api("GET", f"/portal/jobs/{job_id}").json()
        if job["phase"] in phases:
            return job
        assert time.monotonic() < until, f"job {job_id} still {job['phase']}: {job['message']}"
        time.sleep(0.2)


def log_of(s, job_id) -> str:
    return s.api("GET", f"/portal/jobs/{job_id}/log").text


def test_a_job_runs_as_its_owner_and_keeps_its_output_and_artifacts(hub, alice):
    job = submit(alice, command="python3 -c \"print('hi')\"; id -un; mkdir -p artifacts/sub; "
                                "echo 42 > artifacts/result.txt; echo x > artifacts/sub/more.txt")
    assert job["phase"] == "Pending" and job["timeout"] == 86400  # the group's default timeout
    job = wait(alice, job["id"])
    assert (job["phase"], job["reason"], job["exit_code"]) == ("Succeeded", None, 0), job
    log = log_of(alice, job["id"])
    assert "hi\n" in log and f"{ACCOUNT_PREFIX}alice\n" in log  # the user's OS account, not root
    r = alice.api("GET", f"/portal/jobs/{job['id']}/log?download=1")
    assert "attachment" in r.headers["Content-Disposition"] and r.text == log
    listing = alice.api("GET", f"/portal/jobs/{job['id']}/artifacts").json()
    assert [(a["path"], a["size"]) for a in listing["artifacts"]] == [("result.txt", 3), ("sub/more.txt", 2)]
    r = alice.get(alice.url(listing["artifacts"][0]["url"]))
    assert r.status_code == 200 and r.content == b"42\n"
    assert r.headers["Content-Type"] == "application/octet-stream"
    messages = [a["message"] for a in alice.api("GET", "/portal/me/activities?group=jq").json()["activities"]]
    assert any("succeeded" in m and f"#{job['id']}" in m for m in messages), messages


def test_a_job_past_its_timeout_fails_with_deadline_exceeded(alice):
    job = submit(alice, command="sleep 600", timeout="2s")
    job = wait(alice, job["id"], timeout=40)
    assert (job["phase"], job["reason"]) == ("Failed", "DeadlineExceeded"), job
    assert "2 s" in job["message"]


def test_cancel_stops_a_running_job_and_frees_its_quota(hub, alice):
    job = submit(alice, command="echo started; sleep 600")
    wait(alice, job["id"], phases=("Running",))
    r = alice.api("POST", f"/portal/jobs/{job['id']}/cancel")
    assert r.status_code == 202
    job = wait(alice, job["id"], timeout=40)
    assert (job["phase"], job["reason"]) == ("Cancelled", "Cancelled")
    assert Ledger(hub.portal_db_url).get("job", str(job["id"])) is None
    r = alice.api("POST", f"/portal/jobs/{job['id']}/cancel")
    assert r.status_code == 409  # already ended


def test_a_job_over_memory_fails_out_of_memory(alice):
    job = submit(alice, command="python3 -c \"b = b'x' * (1 << 30); print(len(b))\"")
    job = wait(alice, job["id"])
    assert (job["phase"], job["reason"]) == ("Failed", "OOMKilled"), job
    assert "256 MiB" in job["message"]


def test_a_second_gpu_job_waits_with_the_ledgers_message_then_runs(hub, alice):
    bob = hub.login("bob", PASSWORD)
    done_file = hub.data_dir / "homes" / "alice" / "gpu-job-may-end"  # the first holds the GPU until then
    first = submit(alice, instance_type="gpu-tiny", command=f"echo $CUDA_VISIBLE_DEVICES; i=0; "
                   f"while [ ! -e {done_file} ] && [ $i -lt 1200 ]; do sleep 0.1; i=$((i+1)); done")
    try:
        wait(alice, first["id"], phases=("Running",))
        second = submit(bob, instance_type="gpu-tiny", command="echo second")

        def judged():  # the runner says why it waits in the pass after the submission
            job = bob.api("GET", f"/portal/jobs/{second['id']}").json()
            return job if (job["queue"] or {}).get("message") != "Waiting for the runner" else None

        pending = until(judged, 60, "the runner's word on the second job")
        assert pending["phase"] == "Pending"
        assert pending["queue"] == {"position": 1, "message": "GPU: used 1 + requested 1 > limit 1 (group jq); "
                                                              "GPU devices: requested 1 > free 0 on this machine"}
    finally:
        if done_file.parent.is_dir():  # the first job's home
            done_file.touch()
    done = wait(bob, second["id"], timeout=60)
    assert done["phase"] == "Succeeded" and done["started"] >= wait(alice, first["id"])["finished"]
    assert log_of(alice, first["id"]).startswith("0\n")  # the device the ledger granted


def test_a_job_that_can_never_fit_fails_at_once(alice):
    job = submit(alice, instance_type="gpu-pair", command="true")
    assert (job["phase"], job["reason"]) == ("Failed", "OverQuota")
    assert job["message"] == "This job can never fit: GPU: requested 2 > limit 1 (group jq)"


def test_other_people_see_only_what_they_may(hub, alice):
    job = submit(alice, command="sleep 600")
    bob, olga, gina = (hub.login(n, PASSWORD) for n in ("bob", "olga", "gina"))
    for s in (bob, olga):  # a member of the group and a member of another group alike: 404
        for method, path in (("GET", ""), ("GET", "/log"), ("GET", "/artifacts"), ("POST", "/cancel"),
                             ("POST", "/rerun"), ("DELETE", "")):
            assert s.api(method, f"/portal/jobs/{job['id']}{path}").status_code == 404, (method, path)
    assert job["id"] not in [j["id"] for j in bob.api("GET", "/portal/groups/jq/jobs").json()["jobs"]]
    assert olga.api("GET", "/portal/groups/jq/jobs").status_code == 404
    assert olga.api("POST", "/portal/groups/jq/jobs", json={"name": "x", "command": "true"}).status_code == 404
    # the group's admin sees every job of the group and cancels, but does not re-run as alice
    assert job["id"] in [j["id"] for j in gina.api("GET", "/portal/groups/jq/jobs").json()["jobs"]]
    assert gina.api("POST", f"/portal/jobs/{job['id']}/rerun").status_code == 403
    assert gina.api("POST", f"/portal/jobs/{job['id']}/cancel").status_code == 202
    assert wait(alice, job["id"], timeout=40)["phase"] == "Cancelled"
    # re-run: a new job with the same template
    again = alice.api("POST", f"/portal/jobs/{job['id']}/rerun").json()
    assert again["id"] != job["id"] and again["rerun_of"] == job["id"] and again["command"] == "sleep 600"
    assert alice.api("DELETE", f"/portal/jobs/{again['id']}").status_code == 204
    assert alice.api("GET", f"/portal/jobs/{again['id']}").status_code == 404


def test_bad_requests_name_the_field_and_store_nothing(alice):
    before = len(alice.api("GET", "/portal/groups/jq/jobs").json()["jobs"])
    for body, field in (({"name": "x", "command": "true", "colour": "red"}, "colour"),
                        ({"name": "", "command": "true"}, "name"),
                        ({"name": "x", "command": "true", "timeout": "soon"}, "timeout"),
                        ({"name": "x", "command": "true", "env": {"HOME": "/"}}, "env"),
                        ({"name": "x", "command": "true", "instance_type": "cpu-large"}, "instance_type")):
        r = alice.api("POST", "/portal/groups/jq/jobs", json=body)
        assert r.status_code == 400 and field in r.json()["errors"], (body, r.text)
    r = alice.api("POST", "/portal/groups/jq/schedules",
                  json={"name": "x", "command": "true", "recurrence": "every tuesday"})
    assert r.status_code == 400 and "recurrence" in r.json()["errors"]
    assert len(alice.api("GET", "/portal/groups/jq/jobs").json()["jobs"]) == before


def test_a_schedule_shows_its_next_five_runs_in_its_zone(alice):
    r = alice.api("POST", "/portal/groups/jq/schedules",
                  json={"name": "nightly", "command": "true", "recurrence": "daily", "time_zone": "Asia/Tokyo"})
    assert r.status_code == 201, r.text
    schedule = r.json()
    assert len(schedule["next_runs"]) == 5 and all(t.endswith("T04:00:00+09:00") for t in schedule["next_runs"])
    r = alice.api("POST", f"/portal/schedules/{schedule['id']}/run")
    assert r.status_code == 201 and r.json()["schedule_id"] is None  # run now: an ordinary job
    assert alice.api("DELETE", f"/portal/schedules/{schedule['id']}").status_code == 204


def test_a_killed_runner_is_restarted_and_adopts_the_running_job(hub, alice):
    admin = hub.admin()
    pid = admin.api("GET", "/services/hubfront-runner").json()["pid"]
    assert pid
    job = submit(alice, command="sleep 4; echo survived")
    wait(alice, job["id"], phases=("Running",))
    os.kill(pid, signal.SIGKILL)
    until = time.monotonic() + 90  # the hub polls its services every 30 s
    while True:
        new = admin.api("GET", "/services/hubfront-runner").json()["pid"]
        if new and new != pid:
            break
        assert time.monotonic() < until, "the hub did not restart the runner"
        time.sleep(1)
    job = wait(alice, job["id"], timeout=60)
    assert job["phase"] == "Succeeded" and "survived" in log_of(alice, job["id"])
    held = [r.workload_id for r in Ledger(hub.portal_db_url).reservations(kind="job")]
    running = [j["id"] for j in alice.api("GET", "/portal/groups/jq/jobs").json()["jobs"] if j["phase"] == "Running"]
    assert sorted(held) == sorted(str(i) for i in running)
