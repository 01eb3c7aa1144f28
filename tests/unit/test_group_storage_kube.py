"""Group storage on Kubernetes, both ways (see hub_ext.storage.kube):

- with ``KubeStorage.data_claim`` (the claim holding the hub's data dir) every pod of the group
  mounts ``groups/<group>`` of it at ~/shared, the tree the hub's Shared Files page works on
  (made by the hub before the pod, so the kubelet never makes it root's), and no claim is made;
- without it each group gets a ReadWriteMany claim of its own, and the hub, which cannot reach
  those claims, says its Shared Files page and APIs are absent (``hub_reaches_group_storage``).
"""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from traitlets.config import Config

from hub_ext.services.executors.base import ExecutorError, JobSpec
from hub_ext.services.executors.deployments import DeploymentSpec
from hub_ext.services.executors.kube_deployments import KubernetesDeployments
from hub_ext.services.executors.kubernetes import KubernetesExecutor
from hub_ext.storage.kube import hub_reaches_group_storage
from spawner.kube import KubeGroupSpawner
from test_kubernetes_executor import RecordedApi
from test_mounts_kube import config, notebook_pod, source  # noqa: F401 - source is a fixture

GROUP_TREE = {"name": "hubfront-data", "mountPath": "/home/jovyan/shared", "subPath": "groups/research"}
DATA_VOLUME = {"name": "hubfront-data", "persistentVolumeClaim": {"claimName": "hubfront-data"}}


def job(job_id=5, group="research") -> JobSpec:
    return JobSpec(job_id=job_id, username="alice", group=group, groups=(group,), command="true",
                   container_image="python:3.12")


def pod_of(body: dict) -> dict:
    return body["spec"]["template"]["spec"]


async def test_with_the_data_claim_a_job_mounts_the_groups_tree_the_hub_serves_and_no_claim_is_made(source):
    api = RecordedApi()
    ex = KubernetesExecutor(batch_api=api, core_api=api, namespace="jobs", config=config())
    ex.mounts = source
    await ex.start(job())
    assert [c[0] for c in api.calls] == ["create_namespaced_job"]
    pod = pod_of(api.calls[0][1]["body"])
    assert pod["volumes"] == [DATA_VOLUME]  # one volume: the group's tree, datasets and folders are subPaths of it
    assert pod["containers"][0]["volumeMounts"][0] == GROUP_TREE
    # the hub made the tree before the pod (a subPath the kubelet makes would be root's)
    tree = Path(source.data_dir) / "groups" / "research"
    assert tree.is_dir() and stat.S_IMODE(tree.stat().st_mode) == 0o700


async def test_with_the_data_claim_a_deployment_mounts_the_same_tree(source):
    api = RecordedApi()
    jobs = KubernetesExecutor(batch_api=api, core_api=api, namespace="jobs", config=config())
    jobs.mounts = source
    deployments = KubernetesDeployments(apps_api=api, core_api=api, jobs=jobs, namespace="jobs")
    await deployments.apply(DeploymentSpec(deployment_id="m", revision=1, username="alice", group="research",
                                           groups=("research",), command="serve", container_image="x"))
    calls = [c[0] for c in api.calls]
    assert "create_namespaced_persistent_volume_claim" not in calls
    pod = pod_of(next(c[1]["body"] for c in api.calls if c[0] == "create_namespaced_deployment"))
    assert pod["volumes"] == [DATA_VOLUME]
    assert GROUP_TREE in pod["containers"][0]["volumeMounts"]


async def test_a_group_tree_that_is_a_link_stops_the_job_before_anything_is_made(source, tmp_path):
    (Path(source.data_dir) / "groups").mkdir()
    (Path(source.data_dir) / "groups" / "research").symlink_to(tmp_path)
    api = RecordedApi()
    ex = KubernetesExecutor(batch_api=api, core_api=api, namespace="jobs", config=config())
    ex.mounts = source
    with pytest.raises(ExecutorError, match="symbolic link"):
        await ex.start(job())
    assert api.calls == []


async def test_without_the_data_claim_a_job_gets_the_groups_own_claim_and_no_data_mounts(source):
    api = RecordedApi()
    ex = KubernetesExecutor(batch_api=api, core_api=api, namespace="jobs", config=config(data_claim=""))
    ex.mounts = source
    await ex.start(job())
    assert [c[0] for c in api.calls] == ["create_namespaced_persistent_volume_claim", "create_namespaced_job"]
    claim = api.calls[0][1]["body"]
    assert (claim["metadata"]["name"], claim["spec"]["accessModes"]) == ("hubfront-group-research", ["ReadWriteMany"])
    pod = pod_of(api.calls[1][1]["body"])
    assert pod["volumes"] == [{"name": "hubfront-shared", "persistentVolumeClaim": {"claimName": "hubfront-group-research"}}]
    assert pod["containers"][0]["volumeMounts"] == [{"name": "hubfront-shared", "mountPath": "/home/jovyan/shared"}]


async def test_without_the_data_claim_a_notebook_pod_gets_the_groups_own_claim_made_before_it(source, monkeypatch):
    spawner, pod = await notebook_pod(source, monkeypatch, {}, data_claim="")
    spawner.api.create_namespaced_persistent_volume_claim.assert_awaited_once()
    body = spawner.api.create_namespaced_persistent_volume_claim.await_args.kwargs["body"]
    assert body["metadata"]["name"] == "hubfront-group-research"
    shared = next(m for m in pod.spec.containers[0].volume_mounts if m.mount_path == "/home/jovyan/shared")
    assert (shared.name, shared.sub_path) == ("hubfront-shared", None)
    volumes = {v.name: v for v in pod.spec.volumes}
    assert volumes["hubfront-shared"].persistent_volume_claim == {"claimName": "hubfront-group-research"}
    assert "hubfront-data" not in volumes  # no data claim: no dataset or folder mounts either
    assert not (Path(source.data_dir) / "groups" / "research").exists()  # nothing made on the hub's side


# -- the hub: does it reach the groups' storage? ----------------------------------------------

def hub_config(spawner, data_claim: str | None = None) -> Config:
    c = Config()
    if spawner is not None:
        c.JupyterHub.spawner_class = spawner
    if data_claim is not None:
        c.KubeStorage.data_claim = data_claim
    return c


@pytest.mark.parametrize("spawner", [None, "hubfront-local", "localprocess", "jupyterhub.tests.mocking.MockSpawner"])
def test_local_workloads_always_use_the_hubs_trees(spawner):
    assert hub_reaches_group_storage(hub_config(spawner)) is True


@pytest.mark.parametrize("spawner", ["hubfront-kube", "spawner.kube.KubeGroupSpawner", KubeGroupSpawner,
                                     "kubespawner.KubeSpawner"])
def test_pods_use_the_hubs_trees_only_through_the_data_claim(spawner):
    assert hub_reaches_group_storage(hub_config(spawner)) is False
    assert hub_reaches_group_storage(hub_config(spawner, "")) is False
    assert hub_reaches_group_storage(hub_config(spawner, "hubfront-data")) is True
