"""Every Kubernetes object Hubfront generates, made by the real code paths with only the API client
replaced (no cluster can run here): notebook pods and their claims (KubeSpawner's own manifests, for
CPU and GPU instance types, with the group's storage, datasets and shared folders mounted), Jobs and a
recurring run, kaniko and buildah builds, deployment and app Deployments and Services, the groups'
NetworkPolicies, and the documents of ``config/kubernetes/*.yaml``.

Each comes for two people: a plain one (alice in research) and an odd one (a 60-character dotted,
capitalised user name in the group "Data Science (EU)"), so names, labels and paths made from them are
checked too. ``test_kube_validate`` validates them against the Kubernetes schemas, ``test_pod_security``
checks their pods against the Pod Security Standards.
"""

from __future__ import annotations

import copy
import json
import shlex
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from unittest import mock

import kubespawner.spawner
import yaml
from kubernetes_asyncio.client.exceptions import ApiException
from traitlets.config import Config

from hub_ext.datasets.records import version_dir
from hub_ext.folders import disk, records
from hub_ext.kube import plain
from hub_ext.policy import POLICY_KEY
from hub_ext.settings import Hubfront
from hub_ext.storage.mounts import MountSource
from hub_ext.store import session_scope, upgrade
from hub_ext.store.models_storage import Dataset, DatasetGrant, DatasetVersion
from support import REPO

ODD_USER = "Jane.Q.Public-Anderson.Research.Lab.Example.Org.Team.Member1"
ODD_GROUP = "Data Science (EU)"
PEOPLE = [("alice", "research"), (ODD_USER, ODD_GROUP)]
NAMESPACE = "hubfront"
CONFIG_DIR = REPO / "config" / "kubernetes"
GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
CATALOG = {
    "instance_types": [
        {"name": "cpu-small", "cpu": "500m", "memory": "1Gi"},
        {"name": "cpu-large", "cpu": 4, "memory": "16Gi"},
        {"name": "gpu-1", "cpu": 4, "memory": "24Gi", "gpu": 1, "node_selector": {"hubfront.io/gpu": "true"},
         "tolerations": [GPU_TOLERATION]},
    ],
    "images": [{"name": "py", "image": "quay.io/jupyter/base-notebook:2025-06-02",
                "gpu_image": "quay.io/jupyter/pytorch-notebook:cuda12-2025-06-02"}],
}
# the home volume as the values file's singleuser.storage makes it (the chart turns it into these traits)
HOME = {"pvc_name_template": "claim-{user_server}", "volume_name_template": "volume-{user_server}",
        "storage_pvc_ensure": True, "storage_capacity": "10Gi", "storage_access_modes": ["ReadWriteOnce"],
        "volumes": [{"name": "volume-{user_server}", "persistentVolumeClaim": {"claimName": "{pvc_name}"}}],
        "volume_mounts": [{"name": "volume-{user_server}", "mountPath": "/home/jovyan"}]}


@dataclass(frozen=True)
class Made:
    """One generated object: what it is, its Kubernetes JSON, and the Pod Security level its pods must
    pass (None: it holds no pod)."""

    what: str
    body: dict
    level: str | None = None


def pod_of(body: dict) -> dict | None:
    """The pod (``{"metadata", "spec"}``) a Pod, Job or Deployment makes; None for other kinds."""
    kind = body.get("kind")
    if kind == "Pod":
        return {"metadata": body.get("metadata") or {}, "spec": body["spec"]}
    if kind in ("Job", "Deployment"):
        return body["spec"]["template"]
    return None


# --- the API client, replaced ---------------------------------------------------------------


class Recorder:
    """Stands in for kubernetes_asyncio's API objects: records each call; a read answers 404, so every
    object is created (NetworkPolicies, Jobs, Deployments, Services, claims)."""

    def __init__(self):
        self.calls: list[tuple[str, dict]] = []

    def __getattr__(self, method):
        if method.startswith("_"):
            raise AttributeError(method)

        async def call(**kwargs):
            self.calls.append((method, kwargs))
            if method.startswith("read_"):
                raise ApiException(status=404, reason="Not Found")

        return call

    def created(self) -> list[dict]:
        return [kwargs["body"] for method, kwargs in self.calls if method.startswith("create_")]


@contextmanager
def no_cluster():
    """KubeSpawner without a cluster: no kubeconfig loaded, a mock API client (as test_kube_spawner)."""
    with mock.patch.object(kubespawner.spawner, "load_config", lambda **kwargs: None), \
            mock.patch.object(kubespawner.spawner, "shared_client", lambda name: mock.AsyncMock(name=name)):
        Hubfront.clear_instance()
        try:
            yield
        finally:
            Hubfront.clear_instance()


# --- what the pods mount ------------------------------------------------------------------------


def dataset_name(group: str) -> str:
    return "imgs" if group == "research" else "eu-survey"


def data_source(root: Path) -> MountSource:
    """A portal database and data dir where each person's group has a dataset (with a version) and another
    group's dataset granted, and each person has a folder and one shared with them by bob."""
    data = root / "data"
    data.mkdir(parents=True)
    db_url = f"sqlite:///{root / 'hubfront.sqlite'}"
    upgrade(db_url)
    with session_scope(db_url) as s:
        s.add(Dataset(name="texts", group="teaching", username="o", kind="files"))
        for _, group in PEOPLE:
            s.add(Dataset(name=dataset_name(group), group=group, username="o", kind="files"))
        s.flush()
        for _, group in PEOPLE:
            s.add(DatasetGrant(dataset="texts", group=group, mode="ro"))
            s.add(DatasetVersion(dataset=dataset_name(group), version=1, username="o"))
    for user, group in PEOPLE:
        version_dir(data, dataset_name(group), 1).mkdir(parents=True)
        disk.create(data, user, "notes", None, None)
        disk.create(data, "bob", f"papers-{dataset_name(group)}", None, None)
        invitation = records.create(db_url, "bob", f"papers-{dataset_name(group)}", user, "ro")
        records.transition(db_url, invitation.id, user, "accept")
    return MountSource(db_url, data)


def storage_config(source: MountSource, data_claim: bool) -> Config:
    cfg = Config()
    cfg.Hubfront.db_url, cfg.Hubfront.data_dir = source.db_url, source.data_dir
    cfg.KubeStorage.data_claim = "hubfront-data" if data_claim else ""
    cfg.KubeStorage.storage_class = "nfs-rwx"
    return cfg


# --- notebooks --------------------------------------------------------------------------------


def user_of(name: str, group: str, policy: dict | None = None):
    groups = [SimpleNamespace(name=group, properties={POLICY_KEY: policy or {}})]
    return SimpleNamespace(name=name, id=7, url=f"/user/{name}/", escaped_name=name,
                           orm_user=SimpleNamespace(groups=groups))


async def launch(spawner, options: dict):
    """GroupPolicy.start's steps (minus the ledger), then KubeSpawner._start's up to the pod."""
    spawner.user_options = options
    plan = spawner.resolve_plan()
    await spawner.prepare_environment(plan)
    await spawner.check_datasets(plan)
    spawner.plan, spawner.devices = plan, []
    spawner.apply_plan(plan, [])
    await spawner.prepare_workload(plan)
    await spawner.load_user_options()
    return await spawner.get_pod_manifest()


async def notebook(source: MountSource, user: str, group: str, instance_type: str, data_claim: bool = True,
                   config: Config | None = None) -> list[Made]:
    """The notebook pod of ``user`` in ``group``, its home claim and (without the data claim) the
    group's claim, as KubeSpawner and the hub make them."""
    from spawner.kube import KubeGroupSpawner
    from spawner.plan import server_name_for

    cfg = storage_config(source, data_claim)
    cfg.Hubfront.catalog_config = CATALOG
    for key, value in HOME.items():
        setattr(cfg.KubeGroupSpawner, key, copy.deepcopy(value))
    cfg.KubeGroupSpawner.namespace = NAMESPACE
    cfg.merge(config or Config())
    with no_cluster():
        spawner = KubeGroupSpawner(config=cfg, user=user_of(user, group),
                                   orm_spawner=SimpleNamespace(name=server_name_for(group), server=None), _mock=True)
        datasets = [f"{dataset_name(group)}@v1", "texts"] if data_claim else []
        pod = plain(await launch(spawner, {"group": group, "instance_type": instance_type, "image": "py",
                                           "datasets": datasets}))
        made = [Made(f"notebook pod ({instance_type}, {user} in {group})", pod, "restricted"),
                Made(f"notebook home claim ({user} in {group})", plain(spawner.get_pvc_manifest()))]
        for call in spawner.api.create_namespaced_persistent_volume_claim.await_args_list:
            made.append(Made(f"group claim ({group})", call.kwargs["body"]))
    return made


# --- the runner's workloads ----------------------------------------------------------------------


def job_spec(user: str, group: str, job_id: int, instance_type: str, **extra):
    from hub_ext.policy import Catalog
    from hub_ext.services.executors.base import JobSpec

    it = Catalog.model_validate(CATALOG).instance_type(instance_type)
    image = CATALOG["images"][0]
    return JobSpec(job_id=job_id, username=user, group=group, groups=(group,), command="python train.py --epochs 3",
                   env={"SEED": "1"}, cpu=float(it.cpu), memory=int(it.memory), gpu=it.gpu, timeout=3600,
                   image="py", container_image=image["gpu_image"] if it.gpu else image["image"],
                   node_selector=dict(it.node_selector), tolerations=tuple(it.tolerations), **extra)


def app_specs(source: MountSource, group: str, user: str):
    """The DeploymentSpec of each built-in app template installed in ``group`` (the apps' real path)."""
    from hub_ext.apps.records import AppStore
    from hub_ext.apps.templates import BUILTIN, AppTemplate
    from hub_ext.policy import Catalog
    from hub_ext.services.apps import AppRunner
    from hub_ext.store.models_apps import App

    runner = AppRunner(store=AppStore("sqlite://", b""), executor=None, ledger=None, templates=lambda n: None,
                       data_dir=source.data_dir, catalog=Catalog.model_validate(CATALOG), builder=None,
                       pod_shared="/home/jovyan/shared")
    for index, name in enumerate(BUILTIN, 1):
        template = AppTemplate.model_validate(BUILTIN[name])
        if template.kubernetes is None:
            continue
        row = App(id=index, group=group, name=f"{name}-lab", template=name, username=user, instance_type="cpu-large",
                  cpu=4.0, memory=16 * 2**30, gpu=0, env_encrypted="", revision=1)
        yield name, runner._spec(row, template, 1, "", "")


async def workloads(source: MountSource, user: str, group: str, data_claim: bool = True) -> list[Made]:
    """Jobs, a recurring run, builds, deployments and apps of ``user`` in ``group``, with the NetworkPolicies
    applied before them: what the runner sends to the API."""
    from hub_ext.apps.templates import Apps
    from hub_ext.deployments.requests import MODEL_HEALTH_PATH, model_serve_command
    from hub_ext.images.settings import ImageBuilds
    from hub_ext.services.executors.deployments import DeploymentSpec
    from hub_ext.services.executors.kube_builds import KubernetesBuilds
    from hub_ext.services.executors.kube_deployments import KubernetesDeployments
    from hub_ext.services.executors.kubernetes import KubernetesExecutor
    from hub_ext.store.models_images import ImageBuild

    api = Recorder()
    cfg = storage_config(source, data_claim)
    jobs = KubernetesExecutor(batch_api=api, core_api=api, networking_api=api, namespace=NAMESPACE, config=cfg)
    jobs.mounts = source
    whats = []
    await jobs.start(job_spec(user, group, 41, "cpu-small"))
    whats.append("job (cpu-small)")
    await jobs.start(job_spec(user, group, 42, "gpu-1"))
    whats.append("job (gpu-1)")
    # a schedule's run reaches the executor as a job like any other (Runner._spec), here pinned to a dataset version
    await jobs.start(job_spec(user, group, 43, "cpu-large", dataset_pins={dataset_name(group): 1} if data_claim else {}))
    whats.append("recurring run (cpu-large, pinned dataset)")
    for tool in ("kaniko", "buildah"):
        builds = KubernetesBuilds(ImageBuilds(tool=tool, push_secret="push-creds"), jobs)
        await builds.start(ImageBuild(id=7 if tool == "kaniko" else 8, group=group, image="vision", number=1,
                                      username=user, base="py", packages='{"pip": ["torch==2.4.0"], "apt": ["git"]}',
                                      ref=f"registry.example.org/hub/vision:{tool}", source=CATALOG["images"][0]["image"]))
        whats.append(f"{tool} build")
    deployments = KubernetesDeployments(apps_api=api, core_api=api, jobs=jobs, namespace=NAMESPACE)
    long_id = ("iris-classifier-" + "x" * 63)[:63]
    for deployment_id, it, model in (("iris", "cpu-small", "models:/iris/1"), (long_id, "gpu-1", "")):
        spec = job_spec(user, group, 0, it)
        await deployments.apply(DeploymentSpec(
            deployment_id=deployment_id, revision=3, username=user, group=group, groups=(group,),
            command=model_serve_command(model) if model else "python -m http.server $PORT", replicas=2,
            env={"MODEL": "iris"}, cpu=spec.cpu, memory=spec.memory, gpu=spec.gpu, port=8080,
            health_path=MODEL_HEALTH_PATH if model else "/", image="py", container_image=spec.container_image,
            node_selector=spec.node_selector, tolerations=spec.tolerations))
        whats += [f"deployment {deployment_id} ({it})", f"deployment {deployment_id} Service"]
    apps = KubernetesDeployments(apps_api=api, core_api=api, jobs=jobs, namespace=NAMESPACE,
                                 name_prefix=Apps().kube_name_prefix)
    for name, spec in app_specs(source, group, user):
        await apps.apply(spec)
        whats += [f"app {name}", f"app {name} Service"]
    made, named = [], iter(whats)
    for body in api.created():
        kind = body["kind"]
        if kind == "NetworkPolicy":
            made.append(Made(f"NetworkPolicy of {group} in {body['metadata']['namespace']}", body))
        elif kind == "PersistentVolumeClaim":
            made.append(Made(f"group claim ({group})", body))
        else:
            what = next(named)
            level = "baseline" if what.endswith("build") else "restricted" if kind in ("Job", "Deployment") else None
            made.append(Made(f"{what}, {user} in {group}", body, level))
    return made


async def everything(root: Path) -> list[Made]:
    """Every object, for both people, with the data claim (datasets and folders mounted) and without it
    (a claim per group), on CPU and GPU instance types."""
    source = data_source(root)
    made = []
    for user, group in PEOPLE:
        for it in ("cpu-small", "gpu-1"):
            made += await notebook(source, user, group, it)
        made += await notebook(source, user, group, "cpu-large", data_claim=False)
        made += await workloads(source, user, group)
        made += await workloads(source, user, group, data_claim=False)
    unique = {(m.what, json.dumps(m.body, sort_keys=True)): m for m in made}  # a group's claim is made each time
    return list(unique.values())


def config_documents() -> list[Made]:
    """Each document of ``config/kubernetes/*.yaml`` but the Helm values file (not a Kubernetes object)."""
    made = []
    for path in sorted(CONFIG_DIR.glob("*.yaml")):
        if path.name == "values.yaml":
            continue
        for index, doc in enumerate(yaml.safe_load_all(path.read_text())):
            if doc:
                made.append(Made(f"{path.name} #{index} {doc.get('kind')} {doc.get('metadata', {}).get('name')}", doc))
    return made


# --- the chart's part of a notebook pod ----------------------------------------------------------


def chart_singleuser(values: dict) -> Config:
    """The KubeSpawner settings Zero to JupyterHub's hub config derives from ``singleuser`` (the ones a
    pod's security depends on), with the chart's defaults where the values file sets nothing. With
    ``cloudMetadata.blockWithIptables`` (the chart's default: true) the chart adds a privileged init
    container running iptables, with NET_ADMIN, as root."""
    single = values.get("singleuser") or {}
    cfg = Config()
    spawner = cfg.KubeSpawner
    spawner.uid = single.get("uid", 1000)
    spawner.fs_gid = single.get("fsGid", 100)
    spawner.allow_privilege_escalation = single.get("allowPrivilegeEscalation", False)
    spawner.extra_labels = dict(single.get("extraLabels", {"hub.jupyter.org/network-access-hub": "true"}))
    spawner.node_selector = dict(single.get("nodeSelector") or {})
    spawner.tolerations = list(single.get("extraTolerations") or [])
    spawner.extra_containers = list(single.get("extraContainers") or [])
    init = list(single.get("initContainers") or [])
    metadata = single.get("cloudMetadata") or {}
    if metadata.get("blockWithIptables", True):
        ip = metadata.get("ip", "169.254.169.254")
        init.append({"name": "block-cloud-metadata", "image": "quay.io/jupyterhub/k8s-network-tools:4.3.3",
                     "command": shlex.split(f"iptables --append OUTPUT --protocol tcp --destination {ip} "
                                            "--destination-port 80 --jump DROP"),
                     "securityContext": {"privileged": True, "runAsUser": 0, "capabilities": {"add": ["NET_ADMIN"]}}})
    spawner.init_containers = init
    return cfg
