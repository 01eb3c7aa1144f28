"""KubeGroupSpawner: the pod it would create, built without a cluster.

The launch runs the same steps as ``GroupPolicy.start`` followed by
KubeSpawner's ``_start``: resolve the plan from the user's groups, apply it,
let KubeSpawner load user options (profile overrides), then build the pod
manifest. Only the Kubernetes client and its config loading are replaced.
"""

from __future__ import annotations

from types import SimpleNamespace
from unittest import mock

import kubespawner.spawner
import pytest
import yaml
from jupyterhub.spawner import SpawnException
from kubespawner.slugs import is_valid_label
from traitlets.config import Config

from hub_ext.policy import POLICY_KEY
from hub_ext.settings import Hubfront
from spawner.kube import GROUP_LABEL, USER_LABEL, KubeGroupSpawner
from spawner.plan import server_name_for
from support import REPO

GiB = 2**30
GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
CATALOG = {
    "instance_types": [
        {"name": "cpu-small", "cpu": "500m", "memory": "1Gi"},
        {"name": "cpu-large", "cpu": 4, "memory": "16Gi"},
        {
            "name": "gpu-1", "cpu": 4, "memory": "24Gi", "gpu": 1,
            "node_selector": {"hubfront.io/gpu": "true"},
            "tolerations": [GPU_TOLERATION],
        },
    ],
    "images": [
        {"name": "tensorflow", "image": "example.org/tf:cpu", "gpu_image": "example.org/tf:cuda"},
        {"name": "local-only", "local": {"python": "python3"}},
    ],
}


@pytest.fixture(autouse=True)
def no_cluster(monkeypatch):
    monkeypatch.setattr(kubespawner.spawner, "load_config", lambda **kwargs: None)
    monkeypatch.setattr(kubespawner.spawner, "shared_client", lambda name: mock.Mock(name=name))
    Hubfront.clear_instance()
    yield
    Hubfront.clear_instance()


def make_user(name="alice", groups=("research",), policy=None):
    orm_groups = [SimpleNamespace(name=g, properties={POLICY_KEY: policy or {}}) for g in groups]
    return SimpleNamespace(
        name=name, id=7, url=f"/user/{name}/", escaped_name=name,
        orm_user=SimpleNamespace(groups=orm_groups),
    )


def make_spawner(server="research", user=None, **kube_config) -> KubeGroupSpawner:
    cfg = Config()
    cfg.Hubfront.catalog_config = CATALOG
    for key, value in kube_config.items():
        setattr(cfg.KubeGroupSpawner, key, value)
    orm_spawner = SimpleNamespace(name=server, server=None)
    return KubeGroupSpawner(config=cfg, user=user or make_user(), orm_spawner=orm_spawner, _mock=True)


async def launch(spawner: KubeGroupSpawner, **options):
    """GroupPolicy.start's steps (minus the ledger), then KubeSpawner._start's up to the pod."""
    spawner.user_options = options
    plan = spawner.resolve_plan()
    await spawner.prepare_environment(plan)
    spawner.plan = plan
    spawner.apply_plan(plan, [])
    await spawner.load_user_options()
    return await spawner.get_pod_manifest()


def container(pod):
    return pod.spec.containers[0]


def env_of(pod) -> dict:
    return {e.name: e.value for e in container(pod).env}


async def test_cpu_instance_type_sets_limits_guarantees_image_and_hides_gpus():
    pod = await launch(make_spawner(), group="research", instance_type="cpu-large", image="tensorflow")
    resources = container(pod).resources
    assert float(resources.limits["cpu"]) == 4 and float(resources.requests["cpu"]) == 4
    assert int(resources.limits["memory"]) == 16 * GiB and int(resources.requests["memory"]) == 16 * GiB
    assert "nvidia.com/gpu" not in resources.limits
    assert "nvidia.com/gpu" not in (resources.requests or {})
    assert container(pod).image == "example.org/tf:cpu"
    env = env_of(pod)
    assert env["NVIDIA_VISIBLE_DEVICES"] == "none"
    assert (env["HUBFRONT_GROUP"], env["HUBFRONT_INSTANCE_TYPE"], env["HUBFRONT_IMAGE"]) == (
        "research", "cpu-large", "tensorflow")
    assert not pod.spec.node_selector
    assert not pod.spec.tolerations


async def test_gpu_instance_type_requests_the_gpu_on_gpu_nodes_with_the_cuda_image():
    pod = await launch(make_spawner(), group="research", instance_type="gpu-1", image="tensorflow")
    resources = container(pod).resources
    assert resources.limits["nvidia.com/gpu"] == "1"
    assert float(resources.limits["cpu"]) == 4 and int(resources.limits["memory"]) == 24 * GiB
    assert container(pod).image == "example.org/tf:cuda"
    assert pod.spec.node_selector == {"hubfront.io/gpu": "true"}
    assert [t.to_dict() for t in pod.spec.tolerations] == [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule",
         "toleration_seconds": None, "value": None}
    ]
    assert "NVIDIA_VISIBLE_DEVICES" not in env_of(pod)


DEDICATED = {"key": "dedicated", "operator": "Equal", "value": "notebooks", "effect": "NoSchedule"}


@pytest.mark.parametrize("configured", [[DEDICATED], {"a-dedicated": DEDICATED}], ids=["list", "dict"])
async def test_instance_type_scheduling_merges_with_configured_node_selector_and_tolerations(configured):
    spawner = make_spawner(node_selector={"pool": "users"}, tolerations=configured)
    pod = await launch(spawner, group="research", instance_type="gpu-1")
    assert pod.spec.node_selector == {"pool": "users", "hubfront.io/gpu": "true"}
    assert [t.key for t in pod.spec.tolerations] == ["dedicated", "nvidia.com/gpu"]


async def test_gpu_resource_name_is_configurable():
    spawner = make_spawner(gpu_resource_name="amd.com/gpu")
    pod = await launch(spawner, group="research", instance_type="gpu-1")
    limits = container(pod).resources.limits
    assert limits["amd.com/gpu"] == "1"
    assert "nvidia.com/gpu" not in limits


async def test_pod_is_labelled_with_user_and_group_as_valid_label_values():
    group = "ML Research (2025)"
    spawner = make_spawner(server=server_name_for(group), user=make_user("alice@example.org", [group]))
    labels = (await launch(spawner, instance_type="cpu-small")).metadata.labels
    assert is_valid_label(labels[USER_LABEL]) and labels[USER_LABEL].startswith("alice-example-org")
    assert is_valid_label(labels[GROUP_LABEL]) and labels[GROUP_LABEL].startswith("ml-research-2025")
    # two groups that slug alike still get different labels
    twin = "ML research 2025"
    other = make_spawner(server=server_name_for(twin), user=make_user("alice@example.org", [twin]))
    assert (await launch(other, instance_type="cpu-small")).metadata.labels[GROUP_LABEL] != labels[GROUP_LABEL]


async def test_plain_names_are_labelled_unchanged():
    pod = await launch(make_spawner(), group="research", instance_type="cpu-small")
    assert pod.metadata.labels[USER_LABEL] == "alice"
    assert pod.metadata.labels[GROUP_LABEL] == "research"


async def test_group_policy_wins_over_a_profile_override():
    profiles = [{
        "display_name": "Big", "slug": "big", "default": True,
        "kubespawner_override": {
            "cpu_limit": 16, "mem_limit": "64G", "image": "example.org/other:latest",
            "extra_resource_limits": {"nvidia.com/gpu": "4"},
            "extra_labels": {"team": "vision"},
            "environment": {"NVIDIA_VISIBLE_DEVICES": "all"},
        },
    }]
    spawner = make_spawner(profile_list=profiles)
    pod = await launch(spawner, group="research", instance_type="cpu-small", image="tensorflow", profile="big")
    resources = container(pod).resources
    assert float(resources.limits["cpu"]) == 0.5
    assert int(resources.limits["memory"]) == GiB
    assert "nvidia.com/gpu" not in resources.limits
    assert container(pod).image == "example.org/tf:cpu"
    assert env_of(pod)["NVIDIA_VISIBLE_DEVICES"] == "none"
    # what the profile adds without touching the policy is kept
    assert pod.metadata.labels["team"] == "vision"
    assert pod.metadata.labels[GROUP_LABEL] == "research"


async def test_pod_runs_as_non_root_without_privileges_even_if_a_profile_asks_for_them():
    profiles = [{
        "display_name": "Root", "slug": "root", "default": True,
        "kubespawner_override": {
            "uid": 0, "privileged": True, "allow_privilege_escalation": True,
            "container_security_context": {"runAsNonRoot": False, "capabilities": {"add": ["SYS_ADMIN"]},
                                           "readOnlyRootFilesystem": True, "runAsUser": 0,
                                           "seccompProfile": {"type": "Unconfined"}},
            "pod_security_context": {"runAsNonRoot": False, "runAsUser": 0, "seccompProfile": {"type": "Unconfined"}},
            "extra_pod_config": {"hostNetwork": True, "hostPID": True, "priorityClassName": "high"},
        },
    }]
    for spawner, options in ((make_spawner(), {}), (make_spawner(profile_list=profiles), {"profile": "root"})):
        pod = await launch(spawner, group="research", instance_type="cpu-small", image="tensorflow", **options)
        csc = container(pod).security_context
        assert csc["runAsUser"] == 1000  # never root, even when a profile says 0
        assert csc["runAsNonRoot"] is True and csc["allowPrivilegeEscalation"] is False
        assert csc["capabilities"] == {"drop": ["ALL"]} and "privileged" not in csc
        assert csc["seccompProfile"] == {"type": "RuntimeDefault"}
        # the "restricted" Pod Security Standard at the pod's level too
        assert pod.spec.security_context == {"fsGroup": 100, "runAsNonRoot": True,
                                             "seccompProfile": {"type": "RuntimeDefault"}}
        assert not pod.spec.host_network and not pod.spec.host_pid
    # an operator's own hardening is kept, and what the profile adds beside the host namespaces
    assert csc["readOnlyRootFilesystem"] is True and pod.spec.priority_class_name == "high"


async def test_an_image_without_a_container_image_is_refused_before_anything_is_reserved():
    spawner = make_spawner()
    spawner.user_options = {"group": "research", "instance_type": "cpu-small", "image": "local-only"}
    plan = spawner.resolve_plan()
    with pytest.raises(SpawnException) as info:
        await spawner.prepare_environment(plan)
    assert "has no container image for Kubernetes" in str(info.value)


def test_hubfront_kube_entry_point_loads_the_kube_group_spawner():
    from jupyterhub.app import JupyterHub

    hub = JupyterHub(spawner_class="hubfront-kube")
    assert hub.spawner_class is KubeGroupSpawner


# -- the production sample: config/kubernetes/values.yaml -------------------------

VALUES = REPO / "config" / "kubernetes" / "values.yaml"
CULLER_ROLE = {"name": "jupyterhub-idle-culler", "scopes": ["list:users", "read:servers", "delete:servers"],
               "services": ["jupyterhub-idle-culler"]}


def chart_config(values: dict) -> Config:
    """What the chart's jupyterhub_config.py does with the values Hubfront sets, in its order:
    its own roles (the culler's), hub.db, hub.config, then hub.extraConfig."""
    hub = values["hub"]
    c = Config()
    c.JupyterHub.load_roles = [dict(CULLER_ROLE)]
    c.JupyterHub.db_url = hub["db"]["url"]
    c.JupyterHub.allow_named_servers = hub["allowNamedServers"]
    for app, section in hub["config"].items():
        c[app].update(section)
    for _, source in sorted(hub["extraConfig"].items()):
        exec(source, {"c": c})  # noqa: S102 - the chart execs extraConfig the same way
    return c


@pytest.fixture
def production(tmp_path, monkeypatch):
    """The values' hub config, with the catalog file mounted where hub.extraFiles puts it."""
    values = yaml.safe_load(VALUES.read_text())
    for name, value in values["hub"]["extraEnv"].items():  # the chart's env: secrets stand in for themselves
        monkeypatch.setenv(name, value if isinstance(value, str) else f"<{name} from the Secret>")
    mount_path = values["hub"]["config"]["Hubfront"]["catalog_file"]
    catalog_file = next(f for f in values["hub"]["extraFiles"].values() if f["mountPath"] == mount_path)
    local_copy = tmp_path / "hubfront.yaml"
    local_copy.write_text(yaml.safe_dump(catalog_file["data"]))
    c = chart_config(values)
    c.Hubfront.catalog_file = str(local_copy)
    return values, c, catalog_file["data"]


def test_values_select_hubfront_and_keep_the_chart_roles(production):
    from jupyterhub.app import JupyterHub

    from hub_ext.auth import HubfrontAuthenticator
    from hub_ext.scopes import READ, WRITE

    values, c, _ = production
    hub = JupyterHub(config=c)
    assert hub.spawner_class is KubeGroupSpawner
    assert hub.authenticator_class is HubfrontAuthenticator
    roles = {role["name"]: role for role in c.JupyterHub.load_roles}
    assert roles["jupyterhub-idle-culler"] == CULLER_ROLE
    assert {READ, WRITE} <= set(roles["user"]["scopes"])
    assert c.JupyterHub.allow_named_servers is True
    assert c.JupyterHub.template_paths  # the portal's templates
    # two PostgreSQL databases: JupyterHub's and the portal's (each keeps its own alembic version)
    hub_db, portal_db = c.JupyterHub.db_url, c.Hubfront.db_url
    assert hub_db.startswith("postgresql+psycopg://") and portal_db.startswith("postgresql+psycopg://")
    assert hub_db.rsplit("/", 1)[1] != portal_db.rsplit("/", 1)[1]
    assert values["hub"]["db"]["type"] == "postgres"


def test_values_catalog_and_groups_are_valid(production):
    from hub_ext.policy import GroupPolicy, parse_catalog

    _, _, data = production
    catalog = parse_catalog(data["catalog"])
    assert {it.name for it in catalog.instance_types if it.gpu} == {"gpu-1", "gpu-2"}
    assert all(im.image for im in catalog.images), "every image must run on Kubernetes"
    for spec in data["groups"].values():
        GroupPolicy.model_validate(spec["policy"]).check_against(catalog)


async def test_values_launch_a_gpu_pytorch_pod(production):
    _, c, data = production
    policy = data["groups"]["research"]["policy"]
    spawner = KubeGroupSpawner(
        config=c, user=make_user("admin", ["research"], policy=policy),
        orm_spawner=SimpleNamespace(name="research", server=None), _mock=True,
    )
    pod = await launch(spawner, group="research", instance_type="gpu-1", image="pytorch")
    assert container(pod).image == "quay.io/jupyter/pytorch-notebook:cuda12-2025-06-02"
    assert container(pod).resources.limits["nvidia.com/gpu"] == "1"
    assert pod.spec.node_selector == {"hubfront.io/gpu": "true"}
    assert env_of(pod)["HUBFRONT_GROUP"] == "research"


def test_values_run_the_runner_next_to_the_hub_with_the_same_database(production):
    import json

    values, c, _ = production
    [service] = [s for s in c.JupyterHub.services if s["name"] == "hubfront-runner"]
    assert "command" not in service and service["url"] == "http://127.0.0.1:10101"
    assert service["api_token"] == "<HUBFRONT_RUNNER_TOKEN from the Secret>"
    [container] = values["hub"]["extraContainers"]
    env = {e["name"]: e for e in container["env"]}
    assert env["JUPYTERHUB_API_TOKEN"]["valueFrom"] == values["hub"]["extraEnv"]["HUBFRONT_RUNNER_TOKEN"]["valueFrom"]
    assert env["JUPYTERHUB_SERVICE_URL"]["value"] == service["url"]
    config = json.loads(env["HUBFRONT_RUNNER_CONFIG"]["value"])
    assert config["Runner"]["executor"] == "kubernetes"
    assert config["KubernetesDeployments"]["namespace"] == config["KubernetesExecutor"]["namespace"]
    # deployment endpoints and the apps' login return: proxy -> the hub's Service -> the runner, listening
    # beyond loopback; host-routed, as users' servers are on their own subdomains (subdomain_host)
    assert c.JupyterHub.subdomain_host == "https://hub.example.org"
    assert c.Proxy.extra_routes == {"hub.example.org/deployments/": "http://hub:10101",
                                    "hub.example.org/apps/": "http://hub:10101"}
    # apps at their own origins: the hub and the runner agree on it; the runner's apps port is on the Service
    assert config["Apps"]["origin"] == values["hub"]["config"]["Apps"]["origin"]
    assert {"name": "apps", "port": config["Apps"]["port"], "targetPort": 10102} in values["hub"]["service"]["extraPorts"]
    assert config["AppAccess"]["hub_url"] == c.JupyterHub.subdomain_host
    # browsers log in to apps with the runner's OAuth client, coming back under /apps/
    assert (service["oauth_redirect_uri"], service["oauth_no_confirm"]) == ("/apps/oauth_callback", True)
    [user_role] = [r for r in c.JupyterHub.load_roles if r["name"] == "user"]
    assert "access:services!service=hubfront-runner" in user_role["scopes"]
    assert env["HUBFRONT_RUNNER_BIND"]["value"] == "0.0.0.0"
    assert {"name": "deployments", "port": 10101, "targetPort": 10101} in values["hub"]["service"]["extraPorts"]
    assert values["hub"]["networkPolicy"]["ingress"][0]["ports"] == [{"port": 10101, "protocol": "TCP"}]
    assert config["Hubfront"]["db_url"] == c.Hubfront.db_url
    assert config["Hubfront"]["catalog_file"] == c.Hubfront.catalog_file or \
        config["Hubfront"]["catalog_file"] == values["hub"]["config"]["Hubfront"]["catalog_file"]


def test_values_keep_the_data_dir_on_one_read_write_many_claim_whose_groups_are_the_groups_storage(production):
    """The hub and the runner mount the claim at Hubfront.data_dir and name it as KubeStorage.data_claim,
    so pods mount groups/<group> of the tree the hub's Shared Files page serves."""
    import json

    from hub_ext.storage.kube import KubeStorage
    from hub_ext.storage.kube import hub_reaches_group_storage

    values, c, _ = production
    hub = values["hub"]
    claim = yaml.safe_load((VALUES.parent / "data-claim.yaml").read_text())
    assert claim["kind"] == "PersistentVolumeClaim" and claim["spec"]["accessModes"] == ["ReadWriteMany"]
    name = claim["metadata"]["name"]
    [volume] = [v for v in hub["extraVolumes"] if v.get("persistentVolumeClaim", {}).get("claimName") == name]
    data_dir = c.Hubfront.data_dir
    assert {"name": volume["name"], "mountPath": data_dir} in hub["extraVolumeMounts"]
    [runner] = hub["extraContainers"]
    assert {"name": volume["name"], "mountPath": data_dir} in runner["volumeMounts"]
    runner_config = json.loads(next(e["value"] for e in runner["env"] if e["name"] == "HUBFRONT_RUNNER_CONFIG"))
    assert runner_config["Hubfront"]["data_dir"] == data_dir
    assert KubeStorage(config=c).data_claim == runner_config["KubeStorage"]["data_claim"] == name
    assert hub_reaches_group_storage(c)  # the Shared Files page is there
