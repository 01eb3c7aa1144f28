"""A notebook picks datasets on a MockHub with the real LocalGroupSpawner (tiny server, real homes and
links): the spawn form offers the group's datasets with their versions, a pinned pick makes the
notebook's ~/datasets/<name> the version's folder while the others stay current, and a pick the group
may not make is a 400 naming datasets that leaves no server behind."""

import json
import os
import re
from pathlib import Path

from conftest_helpers import login, make_user
from jupyterhub.tests.utils import async_requests, public_url
from spawn_rig import configure_spawner, wait_ready

from hub_ext.datasets.records import dataset_dir, version_dir
from hub_ext.settings import Hubfront

hub_config = configure_spawner
LAB, OTHER = "sd-lab", "sd-other"


async def test_a_notebook_pins_a_dataset_version(app):
    await make_user(app, "sd-ada", groups=[LAB])
    await make_user(app, "sd-bo", groups=[OTHER])
    ada, bo = await login(app, "sd-ada"), await login(app, "sd-bo")
    api = f"/portal/groups/{LAB}/datasets"
    for name in ("sd-labels", "sd-raw"):
        r = await ada.api("POST", api, data=json.dumps({"name": name, "kind": "files"}))
        assert r.status_code == 201, r.text
    data = Hubfront.instance().data_dir
    current = dataset_dir(data, "sd-labels") / "current"
    (current / "labels.csv").write_text("v1\n")
    assert (await ada.api("POST", f"{api}/sd-labels/versions", data="{}")).status_code == 201
    (current / "labels.csv").write_text("v2\n")  # the current files move on after v1
    r = await bo.api("POST", f"/portal/groups/{OTHER}/datasets",
                     data=json.dumps({"name": "sd-theirs", "kind": "files"}))
    assert r.status_code == 201, r.text

    # picks the group may not make: 400 naming datasets, nothing started, no server row
    for body, says in [({"datasets": ["sd-labels@v9"]}, "datasets: dataset sd-labels has no version v9"),
                       ({"datasets": ["sd-theirs"]}, f"datasets: no dataset sd-theirs for group {LAB}"),
                       ({"datasets": ["Nope!"]}, "Datasets: 'Nope!' is not a dataset name, or name@v<version>")]:
        r = await ada.api("POST", f"/users/sd-ada/servers/{LAB}", data=json.dumps({"group": LAB, **body}))
        assert (r.status_code, r.json()["message"]) == (400, says), r.text
    assert LAB not in app.users["sd-ada"].orm_user.orm_spawners

    # the spawn form offers the group's datasets, with the versions of each
    form = (await ada.get(f"hub/spawn/sd-ada/{LAB}")).text
    picks = re.search(r'<div class="mb-3 hf-dataset-picks".*?name="datasets"[^>]*>', form, re.S).group(0)
    assert 'data-name="sd-labels"' in picks and '<option value="1">v1</option>' in picks
    assert 'data-name="sd-raw"' in picks and "sd-theirs" not in picks
    dialog = (await ada.get(f"hub/portal/start?group={LAB}")).text  # the home's Start dialog: the same form
    assert 'class="mb-3 hf-dataset-picks"' in dialog and 'data-name="sd-labels"' in dialog

    # the form says so too, and starts nothing
    r = await ada.post(f"hub/spawn/sd-ada/{LAB}", allow_redirects=False,
                       data={"group": LAB, "instance_type": "small", "datasets": "sd-labels@v9"})
    assert r.status_code == 400 and "datasets: dataset sd-labels has no version v9" in r.text
    assert not app.users["sd-ada"].spawners[LAB].active

    # the launch form's POST (as the page sends it: picks joined in the hidden field)
    r = await ada.post(f"hub/spawn/sd-ada/{LAB}", allow_redirects=False,
                       data={"group": LAB, "instance_type": "small", "image": "base", "datasets": "sd-labels@v1"})
    assert r.status_code == 302, r.text
    await wait_ready(app, "sd-ada", LAB)
    env = (await async_requests.get(public_url(app) + f"user/sd-ada/{LAB}/env")).json()
    home = Path(env["HOME"])
    assert env["HUBFRONT_DATASETS"] == str(home / "datasets")
    pinned = home / "datasets" / "sd-labels"
    assert os.path.realpath(pinned) == str(version_dir(data, "sd-labels", 1).resolve())
    assert (pinned / "labels.csv").read_text() == "v1\n"
    assert os.path.realpath(home / "datasets" / "sd-raw") == str((dataset_dir(data, "sd-raw") / "current").resolve())
    assert app.users["sd-ada"].spawners[LAB].user_options["datasets"] == ["sd-labels@v1"]
    await app.users["sd-ada"].stop(LAB)
    page = (await ada.get("hub/portal/notebooks")).text  # its Start button launches it with the same picks
    start = re.search(r'<form method="post" action="[^"]*spawn/sd-ada/sd-lab" class="d-inline hf-start">(.*?)</form>',
                      page, re.S).group(1)
    assert '<input type="hidden" name="datasets" value="sd-labels@v1">' in start

    # the form opens again with the last picks; launched without a pin, the link is the current files again
    form = (await ada.get(f"hub/spawn/sd-ada/{LAB}")).text
    assert re.search(r'id="hf-spawn-ds-sd-labels" value="sd-labels" checked', form)
    assert '<option value="1" selected>v1</option>' in form
    r = await ada.post(f"hub/spawn/sd-ada/{LAB}", allow_redirects=False,
                       data={"group": LAB, "instance_type": "small", "image": "base", "datasets": ""})
    assert r.status_code == 302, r.text
    await wait_ready(app, "sd-ada", LAB)
    assert (pinned / "labels.csv").read_text() == "v2\n"
    await app.users["sd-ada"].stop(LAB)
