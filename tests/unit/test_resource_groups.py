"""Resource groups: which a group may use, where a workload is placed, what a resource group holds, and
what is used in it — without a hub (hub_ext.resource_groups, hub_ext.capacity, the ledger's placement).

The notebook pod's placement is built through KubeSpawner's own get_pod_manifest (only the client replaced).
"""

from __future__ import annotations

import os

import psutil
import pytest
from traitlets.config import Config

from hub_ext import resource_groups as rgs
from hub_ext.capacity import ClusterCapacity, of_nodes, this_machine
from hub_ext.jobs.requests import JobTemplate, RequestError, resolve
from hub_ext.ledger import Ledger, Request
from hub_ext.policy import GroupPolicy, PolicyError, Quota, parse_catalog, parse_policy
from hub_ext.settings import Hubfront
from hub_ext.store import upgrade
from spawner.kube import KubeGroupSpawner
from test_kube_spawner import CATALOG as KUBE_CATALOG, GPU_TOLERATION, launch, make_spawner, make_user
from test_kube_spawner import no_cluster  # noqa: F401 - autouse: KubeSpawner reaches no cluster

POOL_TAINT = {"key": "pool", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}
GROUPS = [
    {"name": "general", "display_name": "General", "description": "CPU nodes",
     "node_selector": {"pool": "general"}},
    {"name": "gpu-pool", "display_name": "GPU pool", "description": "A100 nodes",
     "node_selector": {"pool": "gpu"}, "tolerations": [POOL_TAINT]},
]
CATALOG = {
    "instance_types": [{"name": "small", "cpu": 1, "memory": "1Gi"},
                       {"name": "gpu-1", "cpu": 4, "memory": "8Gi", "gpu": 1, "resource_groups": ["gpu-pool"],
                        "node_selector": {"hubfront.io/gpu": "true"}, "tolerations": [GPU_TOLERATION]}],
    "images": [{"name": "base", "image": "example.org/base:1", "gpu_image": "example.org/base:1-cuda"}],
    "resource_groups": GROUPS,
}
FIRST_ONLY = GroupPolicy(resource_groups=["general"])


def on_nodes():
    return parse_catalog(CATALOG).placed(local=False)


def test_one_machine_has_one_resource_group_whatever_is_declared():
    catalog = parse_catalog(CATALOG)  # as the embedded default loads it
    assert [rg.name for rg in rgs.allowed(GroupPolicy(), catalog)] == ["local"]
    assert [rg.name for rg in rgs.allowed(FIRST_ONLY, catalog)] == ["local"]
    small = catalog.instance_type("small")
    assert rgs.choose(None, small, FIRST_ONLY, catalog, "lab") is rgs.LOCAL
    with pytest.raises(rgs.ResourceGroupRefused, match="'gpu-pool' is not a resource group group lab may use"):
        rgs.choose("gpu-pool", small, FIRST_ONLY, catalog, "lab")


def test_on_kubernetes_with_none_declared_the_cluster_is_one_resource_group():
    catalog = parse_catalog({k: v for k, v in CATALOG.items() if k != "resource_groups"
                             } | {"instance_types": [CATALOG["instance_types"][0]]}).placed(local=False)
    assert [rg.name for rg in rgs.allowed(GroupPolicy(), catalog)] == ["cluster"]
    assert rgs.Placement.of(catalog.instance_type("small"), rgs.available(catalog)[0]).node_selector == {}


def test_a_group_sees_only_the_resource_groups_its_policy_allows():
    catalog = on_nodes()
    assert [rg.name for rg in rgs.allowed(GroupPolicy(), catalog)] == ["general", "gpu-pool"]
    assert [rg.name for rg in rgs.allowed(FIRST_ONLY, catalog)] == ["general"]
    with pytest.raises(rgs.ResourceGroupRefused, match="not a resource group group lab may use"):
        rgs.choose("gpu-pool", catalog.instance_type("small"), FIRST_ONLY, catalog, "lab")


def test_an_instance_type_runs_only_in_its_resource_groups_and_defaults_to_the_first_it_runs_in():
    catalog, gpu = on_nodes(), on_nodes().instance_type("gpu-1")
    assert rgs.choose(None, gpu, GroupPolicy(), catalog, "lab").name == "gpu-pool"
    with pytest.raises(rgs.ResourceGroupRefused, match="'gpu-1' does not run in resource group 'general'"):
        rgs.choose("general", gpu, GroupPolicy(), catalog, "lab")
    with pytest.raises(rgs.ResourceGroupRefused, match="no resource group where instance type 'gpu-1' runs"):
        rgs.choose(None, gpu, FIRST_ONLY, catalog, "lab")


def test_a_job_in_a_resource_group_it_may_not_use_is_a_400_naming_the_field():
    with pytest.raises(RequestError) as refused:
        resolve(JobTemplate(name="j", command="true", resource_group="gpu-pool"), FIRST_ONLY, on_nodes(), "lab")
    assert list(refused.value.errors) == ["resource_group"]
    job = resolve(JobTemplate(name="j", command="true"), FIRST_ONLY, on_nodes(), "lab")
    assert job.placed == "general"


def test_the_catalog_and_policies_refuse_unknown_resource_groups_naming_the_field():
    with pytest.raises(PolicyError, match="unknown resource group"):
        parse_catalog({**CATALOG, "instance_types": [{"name": "x", "resource_groups": ["nowhere"]}]})
    with pytest.raises(PolicyError, match="duplicate names general"):
        parse_catalog({**CATALOG, "resource_groups": GROUPS + GROUPS[:1]})
    with pytest.raises(PolicyError) as refused:
        parse_policy({"resource_groups": ["nowhere"]}, on_nodes())
    assert "resource_groups" in refused.value.errors


def test_placement_puts_the_resource_groups_selector_and_tolerations_over_the_instance_types():
    catalog = on_nodes()
    placed = rgs.Placement.of(catalog.instance_type("gpu-1"), catalog.resource_groups[1])
    assert placed.node_selector == {"hubfront.io/gpu": "true", "pool": "gpu"}
    assert list(placed.tolerations) == [POOL_TAINT, GPU_TOLERATION]
    with pytest.raises(rgs.GoneResourceGroup, match="'removed' no longer exists"):
        rgs.placement(catalog, None, "removed")
    assert rgs.placement(catalog, None, "").node_selector == {"pool": "general"}  # a row from before: the first


async def test_a_notebook_pod_carries_its_resource_groups_node_selector_and_tolerations():
    spawner = make_spawner(user=make_user(policy={"resource_groups": ["*"]}))
    spawner.config.JupyterHub.spawner_class = KubeGroupSpawner
    spawner.config.Hubfront.catalog_config = {**KUBE_CATALOG, "resource_groups": GROUPS}
    Hubfront.clear_instance()
    pod = await launch(spawner, instance_type="gpu-1", image="tensorflow", resource_group="gpu-pool")
    assert pod.spec.node_selector == {"hubfront.io/gpu": "true", "pool": "gpu"}
    tolerations = [t.to_dict() if hasattr(t, "to_dict") else t for t in pod.spec.tolerations]
    assert any(t.get("key") == "pool" and t.get("value") == "gpu" for t in tolerations)
    assert any(t.get("key") == "nvidia.com/gpu" for t in tolerations)


async def test_a_notebook_launch_into_a_resource_group_the_group_may_not_use_is_refused_with_400():
    spawner = make_spawner(user=make_user(policy={"resource_groups": ["general"]}))
    spawner.config.JupyterHub.spawner_class = KubeGroupSpawner
    spawner.config.Hubfront.catalog_config = {**KUBE_CATALOG, "resource_groups": GROUPS}
    Hubfront.clear_instance()
    with pytest.raises(Exception) as refused:
        await launch(spawner, instance_type="cpu-small", image="tensorflow", resource_group="gpu-pool")
    assert getattr(refused.value, "status_code", None) == 400 and "resource_group" in str(refused.value)


def test_this_machine_holds_its_cpus_memory_and_the_gpus_launches_may_get():
    held = this_machine([0, 1])
    assert held.nodes == 1 and held.gpu == 2
    assert held.cpu == len(os.sched_getaffinity(0)) and held.memory == psutil.virtual_memory().total


def node(name, cpu, memory, gpu=None, labels=None, cordoned=False):
    allocatable = {"cpu": cpu, "memory": memory, **({"nvidia.com/gpu": gpu} if gpu else {})}
    return {"metadata": {"name": name, "labels": labels or {}}, "spec": {"unschedulable": cordoned} if cordoned else {},
            "status": {"allocatable": allocatable}}


def test_a_resource_groups_capacity_is_its_schedulable_nodes_allocatable_sum():
    held = of_nodes([node("a", "7910m", "32Gi", "4"), node("b", "8", "31876Mi"), node("c", "8", "32Gi", cordoned=True)],
                    "nvidia.com/gpu")
    assert (held.nodes, held.cpu, held.memory, held.gpu) == (2, 15.91, 32 * 2**30 + 31876 * 2**20, 4)


async def test_cluster_capacity_reads_the_nodes_of_the_resource_groups_selector_and_says_when_it_cannot():
    asked = []

    async def reader(selector=None):
        asked.append(selector)
        if selector == "pool=broken":
            raise RuntimeError("Forbidden: nodes is forbidden")
        return [node("g1", "16", "64Gi", "8")]

    cluster = ClusterCapacity(reader=reader)
    held = await cluster.of(on_nodes().resource_groups[1])
    assert asked == ["pool=gpu"] and (held.nodes, held.gpu) == (1, 8)
    await cluster.of(on_nodes().resource_groups[1])
    assert asked == ["pool=gpu"]  # kept for a while: pages do not each ask the API server
    broken = await cluster.of(rgs.ResourceGroup(name="b", node_selector={"pool": "broken"}))
    assert broken.nodes == 0 and "could not be read: Forbidden" in broken.error


def test_use_is_shown_per_resource_group_and_quota_stays_per_group(tmp_path):
    url = f"sqlite:///{tmp_path / 'portal.sqlite'}"
    upgrade(url)
    ledger = Ledger(url)
    quota = Quota(cpu=6)
    ledger.reserve(kind="job", workload_id="1", username="ann", group="lab", request=Request(cpu=2, memory=0),
                   group_quota=quota, user_quota=Quota(), resource_group="gpu-pool")
    ledger.reserve(kind="job", workload_id="2", username="bob", group="lab", request=Request(cpu=3, memory=0),
                   group_quota=quota, user_quota=Quota(), resource_group="general")
    ledger.reserve(kind="job", workload_id="3", username="ann", group="lab", request=Request(cpu=1, memory=0),
                   group_quota=quota, user_quota=Quota())  # from before resource groups: the first one's
    gpu, general = ledger.placed_snapshot("lab", "gpu-pool", False), ledger.placed_snapshot("lab", "general", True)
    assert gpu.used()["cpu"] == 2 and gpu.used("ann")["cpu"] == 2 and gpu.used("bob")["cpu"] == 0
    assert general.used()["cpu"] == 4 and general.used("ann")["cpu"] == 1
    assert ledger.snapshot("lab").used()["cpu"] == 6  # one quota for the whole group
    with pytest.raises(Exception, match="CPU"):
        ledger.reserve(kind="job", workload_id="4", username="ann", group="lab", request=Request(cpu=1, memory=0),
                       group_quota=quota, user_quota=Quota(), resource_group="gpu-pool")


def test_the_hub_and_the_runner_place_the_catalog_by_their_mode():
    hub = Config()
    hub.Hubfront.catalog_config = CATALOG
    Hubfront.clear_instance()
    assert Hubfront.instance(config=hub).catalog.local  # the embedded default
    Hubfront.clear_instance()
    runner = Config()
    runner.Hubfront.catalog_config = CATALOG
    runner.Runner.executor = "kubernetes"
    assert not Hubfront.instance(config=runner).catalog.local
    Hubfront.clear_instance()
    extra = Config()
    extra.Hubfront.catalog_config = {k: v for k, v in CATALOG.items() if k != "resource_groups"}
    extra.Hubfront.resource_groups = GROUPS  # c.Hubfront.resource_groups replaces the catalog's
    extra.JupyterHub.spawner_class = KubeGroupSpawner
    assert [rg.name for rg in rgs.available(Hubfront.instance(config=extra).catalog)] == ["general", "gpu-pool"]
    Hubfront.clear_instance()


def test_an_apps_replicas_are_placed_in_the_resource_group_it_was_given(tmp_path):
    from hub_ext.apps.records import AppStore
    from hub_ext.apps.templates import BUILTIN, AppTemplate
    from hub_ext.services.apps import AppRunner
    from hub_ext.store.models_apps import App

    runner = AppRunner(store=AppStore("sqlite://", b""), executor=None, ledger=None, templates=lambda n: None,
                       data_dir=str(tmp_path), catalog=on_nodes(), builder=None, pod_shared="/home/jovyan/shared")
    row = App(id=1, group="lab", name="m", template="mlflow", username="ann", instance_type="gpu-1", cpu=4.0,
              memory=8 * 2**30, gpu=1, env_encrypted="", revision=1, resource_group="gpu-pool")
    spec = runner._spec(row, AppTemplate.model_validate(BUILTIN["mlflow"]), 1, "", "")
    assert spec.node_selector == {"hubfront.io/gpu": "true", "pool": "gpu"}
    assert POOL_TAINT in spec.tolerations and GPU_TOLERATION in spec.tolerations
    row.resource_group = "retired"
    with pytest.raises(rgs.GoneResourceGroup):
        runner._spec(row, AppTemplate.model_validate(BUILTIN["mlflow"]), 1, "", "")
