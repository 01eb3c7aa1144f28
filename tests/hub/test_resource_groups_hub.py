"""Resource groups on a hub that runs workloads on Kubernetes (MockHub with ``hubfront-kube``; no cluster: the
nodes' list is what a replaced reader answers, the same JSON Kubernetes sends).

Two resource groups are declared, one of them a GPU pool; group ``rgh-lab`` may use only the first. Its
members see only that one in the Resource Dashboard, the launch form and the job form; asking for the
other — a notebook, a job, a deployment, an app — is a 400 naming ``resource_group``.
"""

from __future__ import annotations

import importlib
import json
import re
from unittest import mock

import kubespawner.spawner
import pytest
from jupyterhub import orm

from conftest_helpers import login, make_user
from hub_ext.capacity import ClusterCapacity

usage_handlers = importlib.import_module("hub_ext.portal.usage.handlers")  # the package's `handlers` are its routes

spawner_class = "hubfront-kube"  # read by tests/hub/conftest.py
GROUP = "rgh-lab"
POLICY = {"resource_groups": ["general"], "deployments_enabled": True}
CATALOG = {
    "instance_types": [{"name": "small", "cpu": 1, "memory": "1Gi"},
                       {"name": "gpu-1", "cpu": 4, "memory": "8Gi", "gpu": 1, "resource_groups": ["gpu-pool"]}],
    "images": [{"name": "base", "image": "example.org/base:1", "gpu_image": "example.org/base:1-cuda"}],
    "resource_groups": [
        {"name": "general", "display_name": "General", "description": "CPU nodes",
         "node_selector": {"pool": "general"}},
        {"name": "gpu-pool", "display_name": "GPU pool", "description": "A100 nodes",
         "node_selector": {"pool": "gpu"},
         "tolerations": [{"key": "pool", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}]},
    ],
}
NODES = {"pool=general": [
    {"metadata": {"name": "n1"}, "spec": {}, "status": {"allocatable": {"cpu": "7910m", "memory": "31Gi"}}},
    {"metadata": {"name": "n2"}, "spec": {}, "status": {"allocatable": {"cpu": "8", "memory": "32Gi"}}},
]}


def hub_config(cfg, data):
    cfg.Hubfront.catalog_config = CATALOG


@pytest.fixture(scope="module", autouse=True)
def no_cluster():
    """KubeSpawner loads a cluster's config when made, and the panel reads nodes: neither reaches a cluster."""
    asked = []

    async def nodes(selector=None):
        asked.append(selector)
        return NODES.get(selector, [])

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(kubespawner.spawner, "load_config", lambda **kwargs: None)
        patch.setattr(kubespawner.spawner, "shared_client", lambda name: mock.AsyncMock(name=name))
        patch.setattr(usage_handlers, "_cluster", ClusterCapacity(reader=nodes))
        yield asked


@pytest.fixture
async def ann(app):
    await make_user(app, "rgh-ann", groups=[GROUP], policies={GROUP: POLICY})
    return await login(app, "rgh-ann")


async def test_a_member_sees_only_the_resource_groups_the_group_may_use_with_their_nodes(app, ann, no_cluster):
    usage = (await ann.api("GET", f"/portal/groups/{GROUP}/usage")).json()
    assert [rg["name"] for rg in usage["resource_groups"]] == ["general"]
    held = usage["resource_group"]
    assert held["name"] == "general" and held["capacity"]["nodes"] == 2
    assert held["capacity"]["cpu"] == pytest.approx(15.91) and held["capacity"]["memory"] == 63 * 2**30
    assert "pool=general" in no_cluster  # the resource group's node selector, as a label selector
    r = await ann.api("GET", f"/portal/groups/{GROUP}/usage?resource_group=gpu-pool")
    assert r.status_code == 400 and "resource_group" in r.json()["errors"]
    home = (await ann.get("hub/home")).text
    pick = re.search(r'<select id="hf-rg-pick".*?</select>', home, re.S).group(0)
    assert "General" in pick and "GPU pool" not in pick
    assert "15.9" in home and "63" in home  # the nodes' CPU and memory, as the panel words them


async def test_the_forms_offer_only_the_allowed_resource_groups(app, ann):
    form = (await ann.get(f"hub/spawn/rgh-ann/{GROUP}")).text
    rg = re.search(r'<select class="form-select" name="resource_group".*?</select>', form, re.S).group(0)
    assert 'value="general"' in rg and "gpu-pool" not in rg
    jobs = (await ann.get("hub/portal/jobs")).text
    rg = re.search(r'name="resource_group">.*?</select>', jobs, re.S).group(0)
    assert 'value="general"' in rg and "gpu-pool" not in rg


async def test_a_workload_in_a_resource_group_the_group_may_not_use_is_a_400_naming_it(app, ann):
    launch = await ann.api("POST", f"/users/rgh-ann/servers/{GROUP}",
                           data=json.dumps({"group": GROUP, "instance_type": "small", "resource_group": "gpu-pool"}))
    assert launch.status_code == 400 and "resource_group" in launch.json()["message"]
    assert GROUP not in {s.name for s in orm.User.find(app.db, "rgh-ann").orm_spawners.values()}  # no server left
    job = await ann.api("POST", f"/portal/groups/{GROUP}/jobs",
                        json={"name": "j", "command": "true", "resource_group": "gpu-pool"})
    assert job.status_code == 400 and list(job.json()["errors"]) == ["resource_group"], job.text
    deployment = await ann.api("POST", f"/portal/groups/{GROUP}/deployments",
                               json={"id": "rgh-d", "name": "d", "command": "serve", "resource_group": "gpu-pool"})
    assert deployment.status_code == 400 and "resource_group" in deployment.json()["errors"], deployment.text
    gpu_type = await ann.api("POST", f"/portal/groups/{GROUP}/jobs",
                             json={"name": "j", "command": "true", "instance_type": "gpu-1"})
    assert gpu_type.status_code == 400 and "resource_group" in gpu_type.json()["errors"], gpu_type.text


async def test_a_job_in_an_allowed_resource_group_records_it(app, ann):
    r = await ann.api("POST", f"/portal/groups/{GROUP}/jobs", json={"name": "placed", "command": "true"})
    assert r.status_code == 201, r.text
    job = r.json()
    assert job["resource_group"] == "general"
    await ann.api("POST", f"/portal/jobs/{job['id']}/cancel")


async def test_the_images_page_shows_the_container_images_that_run_on_kubernetes(app):
    """Issue 24: the Images page names what runs: on Kubernetes the container images (the embedded
    default shows its local environments instead, tests/hub/test_group_images.py)."""
    await make_user(app, "rgh-boss", groups=[GROUP], policies={GROUP: {**POLICY, "admins": ["rgh-boss"]}})
    boss = await login(app, "rgh-boss")
    page = (await boss.get("hub/portal/images")).text
    row = re.search(r'<tr class="hf-image-row" data-name="base".*?</tr>', page, re.S).group(0)
    assert "example.org/base:1" in row and "GPU: example.org/base:1-cuda" in row
    assert "<th>Container image</th>" in page and "What runs here" not in page and "hf-image-runs" not in page
