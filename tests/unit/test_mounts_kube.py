"""Storage in pods (notebook, Job, Deployment): the group's tree groups/<group> of the data claim
(without one: a ReadWriteMany claim per group, created before the group's first pod), mounted at
~/shared; datasets at /datasets/<name>, read-only unless granted read-write; folders from the data
claim; the API calls in order, against a recorded fake. Both ways in test_group_storage_kube.py."""

from __future__ import annotations

from types import SimpleNamespace
from unittest import mock

import kubespawner.spawner
import pytest
from jupyterhub.spawner import SpawnException
from traitlets.config import Config

from hub_ext.datasets.records import version_dir
from hub_ext.folders import disk, records
from hub_ext.policy import POLICY_KEY
from hub_ext.services.executors.base import ExecutorError, JobSpec
from hub_ext.services.executors.deployments import DeploymentSpec
from hub_ext.services.executors.kube_deployments import KubernetesDeployments
from hub_ext.services.executors.kubernetes import KubernetesExecutor
from hub_ext.settings import Hubfront
from hub_ext.storage.kube import KubeStorage
from hub_ext.storage.mounts import MountSource
from hub_ext.store import session_scope
from hub_ext.store.models_storage import Dataset, DatasetGrant, DatasetVersion
from spawner.kube import KubeGroupSpawner
from test_kubernetes_executor import RecordedApi, api_error

SHARED = {"name": "hubfront-shared", "mountPath": "/home/jovyan/shared"}


@pytest.fixture
def source(sqlite_url, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    with session_scope(sqlite_url) as s:
        s.add_all([Dataset(name="imgs", group="research", username="o", kind="files"),
                   Dataset(name="texts", group="teaching", username="o", kind="files")])
        s.flush()
        s.add(DatasetGrant(dataset="texts", group="research", mode="ro"))
    disk.create(data, "bob", "papers", None, None)
    inv = records.create(sqlite_url, "bob", "papers", "alice", "ro")
    records.transition(sqlite_url, inv.id, "alice", "accept")
    return MountSource(sqlite_url, data)


def config(**storage) -> Config:
    cfg = Config()
    cfg.KubeStorage.storage_class = "nfs-rwx"
    cfg.KubeStorage.data_claim = "hubfront-data"
    for k, v in storage.items():
        setattr(cfg.KubeStorage, k, v)
    return cfg


def test_group_claim_is_read_write_many_with_the_configured_class():
    claim = KubeStorage(config=config(claim_size="50Gi")).claim_manifest("Research Lab", "hub")
    assert claim["metadata"]["name"].startswith("hubfront-group-research-lab-")
    assert claim["metadata"]["namespace"] == "hub"
    assert claim["spec"] == {"accessModes": ["ReadWriteMany"], "resources": {"requests": {"storage": "50Gi"}},
                             "storageClassName": "nfs-rwx"}
    assert "storageClassName" not in KubeStorage().claim_manifest("research", "hub")["spec"]  # cluster default
    assert KubeStorage().claim_name("research") == "hubfront-group-research"


async def test_a_job_mounts_the_groups_tree_datasets_and_folders_from_the_data_claim(source):
    api = RecordedApi()
    ex = KubernetesExecutor(batch_api=api, core_api=api, namespace="jobs", config=config())
    ex.mounts = source
    await ex.start(JobSpec(job_id=5, username="alice", group="research", groups=("research",), command="true",
                           image="py", container_image="python:3.12"))
    assert [c[0] for c in api.calls] == ["create_namespaced_job"]  # no claim of its own for the group
    pod = api.calls[0][1]["body"]["spec"]["template"]["spec"]
    assert pod["volumes"] == [{"name": "hubfront-data", "persistentVolumeClaim": {"claimName": "hubfront-data"}}]
    container = pod["containers"][0]
    assert container["volumeMounts"] == [
        {"name": "hubfront-data", "mountPath": "/home/jovyan/shared", "subPath": "groups/research"},
        {"name": "hubfront-data", "mountPath": "/datasets/imgs", "subPath": "datasets/imgs/current", "readOnly": False},
        {"name": "hubfront-data", "mountPath": "/datasets/texts", "subPath": "datasets/texts/current", "readOnly": True},
        {"name": "hubfront-data", "mountPath": "/home/jovyan/shared-with-me/bob/papers",
         "subPath": "folders/bob/papers", "readOnly": True}]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["HUBFRONT_SHARED"] == "/home/jovyan/shared" and env["HUBFRONT_DATASETS"] == "/datasets"


async def test_an_existing_claim_is_used_and_a_refused_one_stops_the_job(source):
    api = RecordedApi(create_namespaced_persistent_volume_claim=api_error(409, "exists"))
    ex = KubernetesExecutor(batch_api=api, core_api=api, namespace="jobs")
    ex.mounts = source
    spec = JobSpec(job_id=6, username="alice", group="research", groups=(), command="true", container_image="x")
    await ex.start(spec)
    assert api.calls[-1][0] == "create_namespaced_job"
    api = RecordedApi(create_namespaced_persistent_volume_claim=api_error(403, "forbidden"))
    ex = KubernetesExecutor(batch_api=api, core_api=api, namespace="jobs")
    ex.mounts = source
    with pytest.raises(ExecutorError, match="storage claim"):
        await ex.start(spec)
    assert [c[0] for c in api.calls] == ["create_namespaced_persistent_volume_claim"]


async def test_a_deployment_mounts_the_groups_claim(source):
    api = RecordedApi()
    jobs = KubernetesExecutor(batch_api=api, core_api=api, namespace="jobs")
    jobs.mounts = source
    deployments = KubernetesDeployments(apps_api=api, core_api=api, jobs=jobs, namespace="jobs")
    await deployments.apply(DeploymentSpec(deployment_id="m", revision=1, username="alice", group="research",
                                           groups=("research",), command="serve", container_image="x"))
    calls = [c[0] for c in api.calls]
    assert calls.index("create_namespaced_persistent_volume_claim") < calls.index("create_namespaced_deployment")
    body = next(c[1]["body"] for c in api.calls if c[0] == "create_namespaced_deployment")
    assert SHARED in body["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]


async def notebook_pod(source, monkeypatch, options: dict, **storage):
    """The pod manifest KubeGroupSpawner makes for alice in research with these launch options
    (and ``storage``: KubeStorage settings over ``config()``'s)."""
    monkeypatch.setattr(kubespawner.spawner, "load_config", lambda **kwargs: None)
    monkeypatch.setattr(kubespawner.spawner, "shared_client", lambda name: mock.AsyncMock(name=name))
    Hubfront.clear_instance()
    cfg = config(**storage)
    cfg.Hubfront.catalog_config = {"instance_types": [{"name": "cpu", "cpu": 1, "memory": "1Gi"}],
                                   "images": [{"name": "py", "image": "python:3.12"}]}
    cfg.Hubfront.db_url, cfg.Hubfront.data_dir = source.db_url, source.data_dir
    cfg.KubeGroupSpawner.volume_mounts = [{"name": "home", "mountPath": "/home/jovyan"}]
    user = SimpleNamespace(name="alice", id=7, url="/user/alice/", escaped_name="alice",
                           orm_user=SimpleNamespace(groups=[SimpleNamespace(name="research", properties={POLICY_KEY: {}})]))
    spawner = KubeGroupSpawner(config=cfg, user=user, orm_spawner=SimpleNamespace(name="research", server=None),
                               _mock=True)
    try:
        spawner.user_options = options
        plan = spawner.resolve_plan()
        await spawner.check_datasets(plan)
        spawner.plan, spawner.devices = plan, []
        spawner.apply_plan(plan, [])
        await spawner.prepare_workload(plan)
        await spawner.load_user_options()
        return spawner, await spawner.get_pod_manifest()
    finally:
        Hubfront.clear_instance()


async def test_notebook_pod_mounts_the_groups_tree_from_the_data_claim(source, monkeypatch):
    spawner, pod = await notebook_pod(source, monkeypatch, {})
    spawner.api.create_namespaced_persistent_volume_claim.assert_not_awaited()
    mounts = {m.mount_path: m for m in pod.spec.containers[0].volume_mounts}
    assert "/home/jovyan" in mounts  # the home kept, the group's storage added
    assert (mounts["/home/jovyan/shared"].name, mounts["/home/jovyan/shared"].sub_path) == ("hubfront-data",
                                                                                           "groups/research")
    assert mounts["/datasets/texts"].read_only is True
    assert "hubfront-data" in {v.name for v in pod.spec.volumes}
    assert "hubfront-shared" not in {v.name for v in pod.spec.volumes}
    assert spawner.get_env()["HUBFRONT_SHARED"] == "/home/jovyan/shared"


async def test_notebook_pod_mounts_the_pinned_version_read_only(source, monkeypatch):
    version_dir(source.data_dir, "imgs", 2).mkdir(parents=True)
    with session_scope(source.db_url) as s:
        s.add(DatasetVersion(dataset="imgs", version=2, username="o"))
    spawner, pod = await notebook_pod(source, monkeypatch, {"datasets": ["imgs@v2", "texts"]})
    mounts = {m.mount_path: m for m in pod.spec.containers[0].volume_mounts}
    assert (mounts["/datasets/imgs"].sub_path, mounts["/datasets/imgs"].read_only) == ("datasets/imgs/v2", True)
    assert (mounts["/datasets/texts"].sub_path, mounts["/datasets/texts"].read_only) == ("datasets/texts/current", True)
    assert spawner.plan.summary()["datasets"] == ["imgs@v2", "texts"]  # kept in the server's state

    # a version that does not exist, or a dataset the group may not use: 400 naming datasets, no pod
    for picks, says in [(["imgs@v7"], "dataset imgs has no version v7"),
                        (["nope"], "no dataset nope for group research")]:
        with pytest.raises(SpawnException) as refused:
            await notebook_pod(source, monkeypatch, {"datasets": picks})
        assert (refused.value.status_code, refused.value.jupyterhub_message) == (400, f"datasets: {says}")
