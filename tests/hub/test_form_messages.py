"""What the REST API answers a person's mistakes with (issue 24), as the pages show them: a 400 whose
body is ``{status, message, errors}``, each message in plain words naming the form's field; paths a
browser would resolve before sending are refused by name, and nothing is made or moved."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from urllib.parse import quote

import pytest
from conftest_helpers import login, make_user

from hub_ext.settings import Hubfront
from hub_ext.storage.tree import group_root

ROOT_ONLY = pytest.mark.skipif(os.geteuid() != 0, reason="group storage as the hub makes it needs root")


def refused(r, field: str, message: str) -> None:
    assert r.status_code == 400, r.text
    assert r.json() == {"status": 400, "message": message, "errors": {field: message}}, r.text


async def test_job_and_schedule_fields_are_refused_in_plain_words(app):
    await make_user(app, "fm-ann", groups=["fm-lab"])
    ann = await login(app, "fm-ann")
    r = await ann.api("POST", "/portal/groups/fm-lab/jobs", data=json.dumps({"name": "Nightly", "command": "  \n "}))
    refused(r, "command", "Command: enter a command to run")
    schedule = {"name": "Nightly", "command": "date", "recurrence": "61 * * * *", "time_zone": "UTC"}
    r = await ann.api("POST", "/portal/groups/fm-lab/schedules", data=json.dumps(schedule))
    refused(r, "recurrence", "Recurrence: minute 61 is out of range 0–59")
    r = await ann.api("POST", "/portal/groups/fm-lab/schedules", data=json.dumps({**schedule, "recurrence": "0 24 * * *"}))
    refused(r, "recurrence", "Recurrence: hour 24 is out of range 0–23")
    r = await ann.api("POST", "/portal/groups/fm-lab/jobs", data=json.dumps({"name": "", "command": "date", "timeout": "soon"}))
    assert r.status_code == 400
    body = r.json()
    assert body["errors"]["name"] == "Name: enter a name"
    assert body["message"].startswith("Name: enter a name; Timeout: ")
    assert "should" not in body["message"] and "Input" not in body["message"]


async def test_a_deployment_without_a_command_says_so(app):
    await make_user(app, "fm-dee", groups=["fm-dep"], policies={"fm-dep": {"deployments_enabled": True}})
    dee = await login(app, "fm-dee")
    r = await dee.api("POST", "/portal/groups/fm-dep/deployments",
                      data=json.dumps({"id": "blank", "name": "Blank", "command": "   "}))
    assert r.status_code == 400
    assert r.json()["message"] == "Command: enter a command to run, or serve a model from the registry instead"


@ROOT_ONLY
async def test_file_names_with_dot_dot_are_refused_by_name_and_nothing_moves(app):
    await make_user(app, "fm-fay", groups=["fm-files"])
    fay = await login(app, "fm-fay")
    files = "/portal/groups/fm-files/files/"
    assert (await fay.api("PUT", files + "data.csv", data=b"a,b\n")).status_code == 201
    root = group_root(Hubfront.instance().data_dir, "fm-files")

    # Rename to ../../../etc/evil.csv: the body's "to", told as the dialog names it
    r = await fay.api("POST", files + "data.csv?op=move", data=json.dumps({"to": "../../../etc/evil.csv"}))
    refused(r, "to", "Name: '..' is not allowed in a file name")
    assert (root / "data.csv").is_file() and not Path("/etc/evil.csv").exists()

    # New folder "../escape" and "a/../b": the page sends the name as one segment ("/" encoded), so the
    # browser does not resolve it away; the hub refuses both with the same words, and makes nothing
    for name in ("../escape", "a/../b", "a/./b"):
        r = await fay.api("POST", files + quote(name, safe="") + "?op=mkdir")
        assert r.status_code == 400, (name, r.text)
        assert r.json()["message"] == f"Name: '{'..' if '..' in name else '.'}' is not allowed in a file name", name
    assert sorted(p.name for p in root.iterdir()) == ["data.csv"]
    assert not (root.parent / "escape").exists()
    # a name with a "/" in it still makes the folders on its way, as before
    r = await fay.api("POST", files + quote("a/b", safe="") + "?op=mkdir")
    assert r.status_code == 201 and (root / "a" / "b").is_dir()


async def test_the_full_name_input_takes_what_the_server_takes(app):
    await make_user(app, "fm-gus", groups=["fm-lab"])
    gus = await login(app, "fm-gus")
    page = (await gus.get("hub/portal/account")).text
    assert re.search(r'<input[^>]*name="full_name" maxlength="64"', page), page
    r = await gus.api("PATCH", "/portal/me", data=json.dumps({"full_name": "x" * 65}))
    assert r.status_code == 400 and "64" in r.json()["errors"]["full_name"]
