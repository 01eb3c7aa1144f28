"""The launch page and the spawn-pending page as a member meets them (MockHub, the real LocalGroupSpawner):
the launch page is the portal's form with the remaining quota, and a launch that builds its image's
environment streams phases with real progress, pip's lines only as details."""

import json
import re

from conftest_helpers import login, make_user
from spawn_rig import CATALOG, configure_spawner, wait_ready
from support import build_tiny_wheel

OFFLINE = ["--no-index", "--disable-pip-version-check"]


def hub_config(cfg, data):
    configure_spawner(cfg, data)
    wheel = build_tiny_wheel(data / "wheel")
    tiny = {"name": "tiny", "display_name": "Tiny", "image": "tiny:cpu", "local": {"packages": [str(wheel)]}}
    cfg.Hubfront.catalog_config = {**CATALOG, "images": [*CATALOG["images"], tiny]}
    cfg.LocalGroupSpawner.pip_args = OFFLINE


def events_of(stream: str) -> list[dict]:
    return [json.loads(line[len("data: "):]) for line in stream.splitlines() if line.startswith("data: ")]


async def test_the_launch_page_is_the_portal_form_with_the_remaining_quota(app):
    await make_user(app, "sp-ann", groups=["sp-a"], policies={"sp-a": {"display_name": "Spawn Lab",
                                                                        "user_quota": {"cpu": 1, "sessions": 2}}})
    ann = await login(app, "sp-ann")
    page = (await ann.get("hub/spawn/sp-ann/sp-a")).text
    assert "Server Options" not in page and "btn-jupyter" not in page  # not JupyterHub's stock page
    assert 'id="hf-sidemenu"' in page and '<h1 class="h4 mb-0">Start a notebook</h1>' in page
    assert "Launching in group <strong>Spawn Lab</strong>" in page
    form = page[page.index('id="spawn_form"'):]
    assert 'id="hf-spawn-launch"' in form and 'action="/' in page  # posts where JupyterHub's form does
    remaining = dict(re.findall(r'<tr data-resource="(\w+)"><td>[^<]+</td><td class="text-end">([^<]+)</td>', form))
    assert remaining == {"cpu": "1", "memory": "unlimited", "gpu": "unlimited", "sessions": "2"}
    # "medium" (2 CPU) does not fit her 1 CPU: disabled with the ledger's reason, as in the home's dialog
    assert re.search(r'id="it-medium"[^>]*disabled', form) and "Over quota: CPU" in form
    # a launch refused anyway (the form was bypassed) comes back to the same page, with the reason on top
    r = await ann.post("hub/spawn/sp-ann/sp-a", data={"group": "sp-a", "instance_type": "medium", "image": "base"})
    refused = r.text[r.text.index('id="hf-spawn"'):]
    assert 'class="alert alert-danger spawn-error-msg"' in refused and 'id="spawn_form"' in refused
    assert "CPU: used 0 + requested 2 &gt; limit 1 (user sp-ann in group Spawn Lab)" in refused
    assert not app.users["sp-ann"].spawners["sp-a"].active


async def test_a_launch_shows_phases_with_real_progress_and_pip_output_only_as_details(app):
    await make_user(app, "sp-bob", groups=["sp-b"])
    bob = await login(app, "sp-bob")
    r = await bob.post("hub/spawn/sp-bob/sp-b", data={"group": "sp-b", "instance_type": "small", "image": "tiny"},
                       allow_redirects=False)
    assert r.status_code == 302 and "spawn-pending/sp-bob/sp-b" in r.headers["Location"], r.text
    pending = (await bob.get("hub/spawn-pending/sp-bob/sp-b")).text
    assert 'data-phase="prepare"' in pending and 'data-phase="start"' in pending
    assert '<details id="progress-details"' in pending and "<summary>Details</summary>" in pending
    assert 'id="hf-sidemenu"' in pending  # the portal's layout
    stream = await bob.api("GET", "/users/sp-bob/servers/sp-b/progress", timeout=120)
    events = events_of(stream.text)
    await wait_ready(app, "sp-bob", "sp-b")

    assert events[-1]["ready"] is True and events[-1]["progress"] == 100, events[-3:]
    progress = [e["progress"] for e in events if "progress" in e]
    assert progress == sorted(progress), progress  # the bar never goes back
    phases = [e["phase"] for e in events if "phase" in e]
    assert phases == sorted(phases, key=["prepare", "start"].index) and set(phases) == {"prepare", "start"}
    building = [e["progress"] for e in events if e.get("phase") == "prepare"]
    assert any(0 < p < 60 for p in building), building  # the build moves the bar; it does not sit at 0 %
    messages = {e["message"] for e in events}
    assert "Installing 1 package" in messages and "Starting the server" in messages
    details = [e["detail"] for e in events if "detail" in e]
    assert any(d.startswith("Successfully installed hftiny-0.1") for d in details), details
    assert not any(m.startswith(("Successfully installed", "Processing ")) for m in messages)  # pip stays in Details
    assert (await bob.api("DELETE", "/users/sp-bob/servers/sp-b")).status_code in (202, 204)
