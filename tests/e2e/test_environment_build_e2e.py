"""Image environments on the real hub: the first launch builds a cached venv and streams
pip's output to the spawn's progress; later launches reuse it; a failed build shows its
log tail and reserves nothing.

The catalog (HUBFRONT_CATALOG) has an image whose local environment is a tiny wheel
built by the test, and one whose package does not exist. pip runs offline.
"""

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from support import (
    RealHub, build_tiny_wheel, need, progress_events, proxy_command, run_in_server, stop_leftover_servers,
    wait_for_server, wait_for_stopped,
)

from hub_ext.ledger import Ledger

pytestmark = pytest.mark.e2e

ALICE_PW = "alice-Passw0rd!"


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    need(proxy_command() is not None, "configurable-http-proxy is not installed (run `make test`)")
    work = tmp_path_factory.mktemp("env-e2e")
    wheel = build_tiny_wheel(work)
    catalog = work / "catalog.yaml"
    catalog.write_text(yaml.safe_dump({
        "catalog": {
            "instance_types": [{"name": "cpu-small", "cpu": "500m", "memory": "1Gi"}],
            "images": [
                {"name": "base", "display_name": "Python (base)"},
                {"name": "tiny", "display_name": "Tiny", "local": {"packages": [str(wheel)]}},
                {"name": "broken", "display_name": "Broken",
                 "local": {"packages": [str(work / "nowhere" / "hfmissing-0.1-py3-none-any.whl")]}},
            ],
        },
        "groups": {
            "lab": {"members": ["alice"], "policy": {"display_name": "Lab"}},
            "tight": {"members": ["alice"], "policy": {"user_quota": {"cpu": "100m"}}},
        },
    }))
    hub = RealHub(work / "data", env={
        "HUBFRONT_CATALOG": str(catalog), "PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    })
    hub.start()
    try:
        hub.add_user("alice", ALICE_PW)
        yield hub
    finally:
        hub.stop()
        stop_leftover_servers(hub.data_dir)  # servers outlive the hub; none outlives the test


def launch_and_watch(session, image: str) -> tuple[int, list[dict]]:
    """Launch alice's ``lab`` server with ``image`` and read its progress stream from the start."""
    with ThreadPoolExecutor(1) as pool:
        post = pool.submit(session.api, "POST", "/users/alice/servers/lab",
                           json={"group": "lab", "instance_type": "cpu-small", "image": image})
        deadline = time.monotonic() + 30
        while not post.done():  # open the stream as soon as the spawn is pending
            servers = session.api("GET", "/users/alice").json().get("servers") or {}
            if servers.get("lab", {}).get("pending") == "spawn":
                return post, progress_events(session, "alice", "lab")
            assert time.monotonic() < deadline, "the spawn never became pending"
            time.sleep(0.05)
        return post, []


def env_dirs(hub) -> list[Path]:
    return sorted(p for p in (hub.data_dir / "envs").glob("tiny-*") if p.is_dir())


def messages(events) -> list[str]:
    """What the page shows: each step's message, and pip's lines (under Details: an event's ``detail``)."""
    return [e.get("message", "") for e in events] + [e["detail"] for e in events if "detail" in e]


def test_first_launch_builds_with_progress_and_the_package_is_importable(hub):
    alice = hub.login("alice", ALICE_PW)
    post, events = launch_and_watch(alice, "tiny")
    assert post.result().status_code in (201, 202), post.result().text
    text = messages(events)
    assert "Creating the environment for Tiny" in text, text
    assert any(m.startswith("Successfully installed hftiny-0.1") for m in text), text
    assert "Environment for Tiny is ready" in text
    assert events[-1].get("ready") is True, events[-1]
    wait_for_server(alice, "alice", "lab", hub=hub)

    [env] = env_dirs(hub)
    assert (env / ".ready").exists()
    out = json.loads(run_in_server(
        alice, "alice", "lab", "import hftiny, json, sys; print(json.dumps([hftiny.VALUE, sys.prefix]))"))
    assert out == [42, str(env)]
    # JupyterLab itself (from the hub's environment) opens in the built environment
    lab = alice.get(alice.url("/user/alice/lab/lab"))
    assert lab.status_code == 200 and "JupyterLab" in lab.text, lab.text[:500]

    assert alice.api("DELETE", "/users/alice/servers/lab").status_code in (202, 204)
    wait_for_stopped(alice, "alice", "lab")


def test_second_launch_reuses_the_cached_environment(hub):
    alice = hub.login("alice", ALICE_PW)
    [env] = env_dirs(hub)
    stamp = (env / ".ready").stat().st_mtime_ns
    post, events = launch_and_watch(alice, "tiny")
    assert post.result().status_code in (201, 202), post.result().text
    wait_for_server(alice, "alice", "lab", hub=hub)
    text = messages(events)
    assert not any("Creating the environment" in m or "Successfully installed" in m for m in text), text
    assert env_dirs(hub) == [env] and (env / ".ready").stat().st_mtime_ns == stamp
    assert run_in_server(alice, "alice", "lab", "import hftiny; print(hftiny.VALUE)").strip() == "42"
    assert alice.api("DELETE", "/users/alice/servers/lab").status_code in (202, 204)
    wait_for_stopped(alice, "alice", "lab")
    assert Ledger(hub.portal_db_url).reservations() == []


def test_failed_build_shows_its_log_tail_and_reserves_nothing(hub):
    alice = hub.login("alice", ALICE_PW)
    post, events = launch_and_watch(alice, "broken")
    r = post.result()
    failure = r.json()["message"] if r.status_code >= 400 else events[-1]["message"]
    assert "Building the environment of image 'broken' failed" in failure, (r.status_code, r.text, events)
    assert "hfmissing-0.1-py3-none-any.whl" in failure and "does not exist" in failure
    wait_for_stopped(alice, "alice", "lab")
    assert Ledger(hub.portal_db_url).reservations() == []
    r = alice.api("GET", "/portal/groups/lab/usage")
    assert all(row["user"]["used"] == 0 and row["group"]["used"] == 0 for row in r.json()["resources"])
    assert not list((hub.data_dir / "envs").glob("broken-*/"))


def test_over_quota_launch_is_refused_before_building_anything(hub):
    alice = hub.login("alice", ALICE_PW)
    r = alice.api("POST", "/users/alice/servers/tight",
                  json={"group": "tight", "instance_type": "cpu-small", "image": "broken"})
    # refused by quota at once: the (failing) build of "broken" is never attempted
    assert r.status_code == 403, r.text
    assert r.json()["message"] == "CPU: used 0 + requested 0.5 > limit 0.1 (user alice in group tight)"
    assert Ledger(hub.portal_db_url).reservations() == []
