"""Network isolation on Kubernetes: each group's NetworkPolicy (``kube_network``) and the values file's.

The policies are checked two ways: against the Kubernetes API schema (``kubernetes_validate``,
strict: a misspelt field fails), and by what they let through, with a small evaluator of
NetworkPolicy's documented semantics (a pod that some policy selects accepts, or sends, only
what one of those policies' rules allows; ``ipBlock`` also matches pod addresses, as Calico
does). The pods are the ones Hubfront makes: their labels come from the executors' manifests
and from KubeSpawner's own pod (as in test_kube_spawner).
"""

from __future__ import annotations

import copy
import ipaddress
import json
from dataclasses import dataclass, field

import kubernetes_validate
import pytest
import yaml
from kubernetes_asyncio import client as k8s
from test_kube_deployments import spec as deployment_spec
from test_kube_spawner import launch, make_spawner, make_user, no_cluster  # noqa: F401 (autouse fixture)
from test_kubernetes_executor import RecordedApi, api_error
from test_kubernetes_executor import spec as job_spec
from traitlets import TraitError
from traitlets.config import Config

from hub_ext.images.settings import ImageBuilds
from hub_ext.services.executors.base import ExecutorError
from hub_ext.services.executors.kube_builds import KubernetesBuilds
from hub_ext.services.executors.kube_deployments import KubernetesDeployments
from hub_ext.services.executors.kube_network import KubeNetwork
from hub_ext.kube import plain
from hub_ext.services.executors.kubernetes import KubernetesExecutor
from hub_ext.store.models_images import ImageBuild
from spawner.plan import server_name_for
from support import REPO

K8S_VERSION = "1.30.0"
NS = "hubfront"
VALUES = yaml.safe_load((REPO / "config/kubernetes/values.yaml").read_text())
# what Zero to JupyterHub 4.x accepts under <component>.networkPolicy (its values schema forbids other keys)
Z2JH_NETPOL_KEYS = {"enabled", "ingress", "egress", "egressAllowRules", "interNamespaceAccessLabels",
                    "allowedIngressPorts"}
Z2JH_EGRESS_RULES = {"cloudMetadataServer", "dnsPortsCloudMetadataServer", "dnsPortsKubeSystemNamespace",
                     "dnsPortsPrivateIPs", "nonPrivateIPs", "privateIPs"}


# --- a NetworkPolicy evaluator -------------------------------------------------------


@dataclass
class Pod:
    labels: dict
    ip: str
    namespace: str = NS
    policies: list = field(default_factory=list, repr=False)


def selects(selector: dict, labels: dict) -> bool:
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        ok = {"In": key in labels and labels[key] in values, "NotIn": labels.get(key) not in values,
              "Exists": key in labels, "DoesNotExist": key not in labels}[op]
        if not ok:
            return False
    return True


def peer_matches(peer: dict, policy_namespace: str, other) -> bool:
    ip = other.ip if isinstance(other, Pod) else other
    if "ipBlock" in peer:
        block = peer["ipBlock"]
        address = ipaddress.ip_address(ip)
        return address in ipaddress.ip_network(block["cidr"]) and not any(
            address in ipaddress.ip_network(e) for e in block.get("except") or [])
    if not isinstance(other, Pod):
        return False  # selectors match pods only
    if "namespaceSelector" in peer:
        in_namespace = selects(peer["namespaceSelector"], {"kubernetes.io/metadata.name": other.namespace})
    else:
        in_namespace = other.namespace == policy_namespace
    return in_namespace and selects(peer.get("podSelector") or {}, other.labels)


def port_matches(ports, port: int, protocol: str) -> bool:
    return not ports or any(p.get("protocol", "TCP") == protocol and p.get("port") in (None, port) for p in ports)


def allowed(policies, pod: Pod, other, port: int, protocol: str, direction: str) -> bool:
    """Whether ``pod``'s policies let ``direction`` ("Ingress": from ``other``; "Egress": to it) through."""
    key, peers = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
    selecting = [p for p in policies if p["metadata"].get("namespace", NS) == pod.namespace
                 and direction in p["spec"]["policyTypes"] and selects(p["spec"]["podSelector"], pod.labels)]
    if not selecting:
        return True
    return any(
        port_matches(rule.get("ports"), port, protocol)
        and (not rule.get(peers) or any(peer_matches(peer, p["metadata"].get("namespace", NS), other)
                                        for peer in rule[peers]))
        for p in selecting for rule in p["spec"].get(key) or []
    )


def connects(policies, source: Pod, target, port: int, protocol: str = "TCP") -> bool:
    """``source`` opens a connection to ``target`` (a pod, or an address outside the cluster)."""
    out = allowed(policies, source, target, port, protocol, "Egress")
    return out and (not isinstance(target, Pod) or allowed(policies, target, source, port, protocol, "Ingress"))


# --- the pods ------------------------------------------------------------------------

HUB = Pod({"app": "jupyterhub", "component": "hub", "release": NS, "hub.jupyter.org/network-access-proxy-api": "true",
           "hub.jupyter.org/network-access-singleuser": "true"}, "10.244.0.2")  # holds the runner
PROXY = Pod({"app": "jupyterhub", "component": "proxy", "release": NS, "hub.jupyter.org/network-access-hub": "true",
             "hub.jupyter.org/network-access-singleuser": "true"}, "10.244.0.3")
KUBE_DNS = Pod({"k8s-app": "kube-dns"}, "10.244.0.10", "kube-system")
POSTGRES = Pod({"app": "postgresql"}, "10.244.0.20")
INGRESS_CONTROLLER = Pod({"app.kubernetes.io/name": "ingress-nginx"}, "10.244.0.30", "ingress-nginx")
PUBLIC, METADATA, API_SERVICE, NODE = "140.82.112.3", "169.254.169.254", "10.96.0.1", "192.168.1.10"
# the chart's own hub rule (templates/hub/netpol.yaml): the API port from labelled pods
CHART_HUB_INGRESS = {"from": [{"podSelector": {"matchLabels": {"hub.jupyter.org/network-access-hub": "true"}}}],
                     "ports": [{"port": 8081, "protocol": "TCP"}]}


def hub_policy() -> dict:
    """The chart's NetworkPolicy of the hub pod with the values file's ingress rules."""
    rules = [CHART_HUB_INGRESS, *copy.deepcopy(VALUES["hub"]["networkPolicy"]["ingress"])]
    return {"metadata": {"name": "hub", "namespace": NS},
            "spec": {"podSelector": {"matchLabels": {"app": "jupyterhub", "component": "hub"}},
                     "policyTypes": ["Ingress"], "ingress": rules}}


def runner_config() -> Config:
    [runner] = VALUES["hub"]["extraContainers"]
    env = {e["name"]: e.get("value") for e in runner["env"]}
    return Config(json.loads(env["HUBFRONT_RUNNER_CONFIG"]))


def build(group: str) -> ImageBuild:
    return ImageBuild(id=7, group=group, image="cows", number=3, username="Ann Lee", base="sci",
                      packages='{"pip": ["cowsay==6.1"]}', ref="registry.example.org/hub/cows:1",
                      source="quay.io/jupyter/scipy-notebook:2024-05-27")


async def workloads(group: str, subnet: int) -> dict[str, Pod]:
    """A pod of each kind the group runs, labelled as Hubfront labels it."""
    jobs = KubernetesExecutor(namespace=NS)
    deployments = KubernetesDeployments(jobs=jobs, namespace=NS)
    builds = KubernetesBuilds(ImageBuilds(), jobs)
    b = build(group)
    # the chart gives notebook pods singleuser.extraLabels (network-access-hub by default)
    spawner = make_spawner(server=server_name_for(group), user=make_user("alice", [group]),
                           extra_labels={"hub.jupyter.org/network-access-hub": "true"})
    notebook = await launch(spawner, group=group, instance_type="cpu-small", image="tensorflow")
    templates = {
        "job": jobs.manifest(job_spec(group=group))["spec"]["template"],
        "replica": deployments.deployment_manifest(deployment_spec(group=group))["spec"]["template"],
        "build": builds.manifest(build_id=b.id, group=group, image=b.image, username=b.username, source=b.source,
                                 packages=b.package_specs, ref=b.ref)["spec"]["template"],
    }
    pods = {kind: Pod(t["metadata"]["labels"], f"10.244.{subnet}.{i}")
            for i, (kind, t) in enumerate(templates.items(), 1)}
    pods["notebook"] = Pod(dict(notebook.metadata.labels), f"10.244.{subnet}.9")
    return pods


@pytest.fixture
async def cluster():
    """Two groups' workloads with their policies, the hub's policy and the chart's pods."""
    network = KubeNetwork(config=runner_config())
    research, other = await workloads("research", 1), await workloads("Data Science (EU)", 2)
    policies = [network.policy(NS, "research"), network.policy(NS, "Data Science (EU)"), hub_policy()]
    return policies, research, other


# --- the manifests -------------------------------------------------------------------


@pytest.mark.parametrize("settings", [{}, {"hub_namespace": "jhub", "extra_egress": [
    {"to": [{"ipBlock": {"cidr": "10.8.0.5/32"}}], "ports": [{"protocol": "TCP", "port": 5000}]}]}])
@pytest.mark.parametrize("group", ["research", "Data Science (EU)", "x" * 80])
def test_policies_are_valid_kubernetes_objects(group, settings):
    policy = KubeNetwork(**settings).policy(NS, group)
    kubernetes_validate.validate(policy, K8S_VERSION, strict=True)
    name = policy["metadata"]["name"]
    assert len(name) <= 63 and name.startswith("hubfront-group-")
    for rule in policy["spec"]["egress"]:
        for peer in rule.get("to", []):
            if "ipBlock" in peer:  # the API server refuses an except outside its cidr
                cidr = ipaddress.ip_network(peer["ipBlock"]["cidr"])
                assert all(ipaddress.ip_network(e).subnet_of(cidr) for e in peer["ipBlock"].get("except", []))


def test_values_network_rules_are_valid_and_use_only_the_charts_keys():
    for component in (VALUES["hub"], VALUES["singleuser"]):
        netpol = component["networkPolicy"]
        assert set(netpol) <= Z2JH_NETPOL_KEYS and set(netpol.get("egressAllowRules", {})) <= Z2JH_EGRESS_RULES
        wrapped = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "v"},
                   "spec": {"podSelector": {}, "ingress": netpol.get("ingress", []),
                            "egress": netpol.get("egress", [])}}
        kubernetes_validate.validate(wrapped, K8S_VERSION, strict=True)


def test_each_kind_of_workload_is_selected_by_its_groups_policy_only(cluster):
    policies, research, other = cluster
    mine, theirs = policies[0]["spec"]["podSelector"], policies[1]["spec"]["podSelector"]
    for kind in ("job", "replica", "build", "notebook"):
        assert selects(mine, research[kind].labels) and not selects(theirs, research[kind].labels), kind
        assert selects(theirs, other[kind].labels) and not selects(mine, other[kind].labels), kind
    for pod in (HUB, PROXY, POSTGRES):
        assert not any(selects(p["spec"]["podSelector"], pod.labels) for p in policies[:2])


# --- what gets through -----------------------------------------------------------------


def test_a_workload_admits_only_the_hub_the_runner_and_the_proxy(cluster):
    policies, research, other = cluster
    for kind, target in research.items():
        assert connects(policies, HUB, target, 8888), kind  # the hub, and the runner in the hub's pod
        assert connects(policies, PROXY, target, 8080), kind
        for source in [*other.values(), POSTGRES, INGRESS_CONTROLLER]:
            assert not connects(policies, source, target, 8888), (source, kind)
        for source_kind, source in research.items():  # not even another workload of its own group
            if source_kind != kind:
                assert not connects(policies, source, target, 8080), (source_kind, kind)


def test_a_workload_reaches_the_hub_api_the_proxy_dns_and_the_internet_only(cluster):
    policies, research, other = cluster
    job, notebook = research["job"], research["notebook"]
    for pod in (job, notebook):
        assert allowed(policies, pod, HUB, 8081, "TCP", "Egress")
        assert connects(policies, pod, PROXY, 8000)
        assert not connects(policies, pod, PROXY, 8001)  # the proxy's API
        assert connects(policies, pod, KUBE_DNS, 53, "UDP") and connects(policies, pod, KUBE_DNS, 53, "TCP")
        assert connects(policies, pod, PUBLIC, 443)
        for address in (METADATA, API_SERVICE, NODE, "172.20.0.4"):
            assert not connects(policies, pod, address, 80), address
        assert not connects(policies, pod, POSTGRES, 5432)
        # another group's server, even where its own policy would have let it in: the address is blocked
        assert not allowed(policies, pod, other["replica"], 8080, "TCP", "Egress")
    # the hub's API admits the notebooks (the chart labels them), not the runner's pods
    assert connects(policies, notebook, HUB, 8081) and not connects(policies, job, HUB, 8081)


def test_the_runners_port_admits_the_proxy_and_the_hub_only(cluster):
    policies, research, _ = cluster
    deployments_port = next(p["port"] for p in VALUES["hub"]["service"]["extraPorts"] if p["name"] == "deployments")
    assert connects(policies, PROXY, HUB, deployments_port)
    for source in [*research.values(), POSTGRES, INGRESS_CONTROLLER]:
        assert not allowed(policies, HUB, source, deployments_port, "TCP", "Ingress"), source
    # the apps' port: the ingress controller (apps at their own origins), no workload
    assert allowed(policies, HUB, INGRESS_CONTROLLER, 10102, "TCP", "Ingress")
    assert not any(allowed(policies, HUB, pod, 10102, "TCP", "Ingress") for pod in research.values())


def test_blocked_cidrs_can_name_only_the_clusters_ranges():
    network = KubeNetwork(blocked_cidrs=["10.244.0.0/16", "10.96.0.0/12"])
    policy = network.policy(NS, "research")
    job = Pod({"hubfront.io/group": "research"}, "10.244.1.1")
    assert connects([policy], job, NODE, 22)  # now a private address outside the cluster is reachable
    assert not connects([policy], job, "10.244.7.7", 80) and not connects([policy], job, API_SERVICE, 443)
    assert not connects([policy], job, METADATA, 80)  # always
    for wrong in ("::/0", "0.0.0.0/0", "fd00::/8", "10.0.0.300/8"):
        with pytest.raises(TraitError):
            KubeNetwork(blocked_cidrs=[wrong])


def test_values_notebooks_get_the_same_rules_as_the_runners_workloads():
    singleuser = VALUES["singleuser"]
    rules = singleuser["networkPolicy"]["egressAllowRules"]
    assert singleuser["networkPolicy"]["enabled"] is True
    assert rules["cloudMetadataServer"] is False and rules["privateIPs"] is False and rules["nonPrivateIPs"] is True
    assert rules["dnsPortsPrivateIPs"] is False and rules["dnsPortsCloudMetadataServer"] is False
    assert not singleuser["networkPolicy"].get("egress")  # nothing added beside the chart's rules
    # the chart refuses blockWithIptables with the policy; the policy blocks the metadata server instead
    assert singleuser["cloudMetadata"]["blockWithIptables"] is False
    # the chart's nonPrivateIPs rule blocks the private ranges: so does the runner's KubeNetwork
    assert KubeNetwork(config=runner_config()).blocked_cidrs == ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"]


# --- applying them ---------------------------------------------------------------------


async def read_back(body: dict):
    """The policy as the API server answers a read: a kubernetes_asyncio model."""
    async with k8s.ApiClient() as client:
        return client._ApiClient__deserialize(copy.deepcopy(body), "V1NetworkPolicy")


async def test_apply_creates_the_policy_once_per_runner_start():
    api, network = RecordedApi(read_namespaced_network_policy=api_error(404, "not found")), KubeNetwork()
    await network.apply(api, NS, "research")
    await network.apply(api, NS, "research")
    body = network.policy(NS, "research")
    assert plain(await read_back(body)) == body  # every field is one of the API's
    assert api.calls == [("read_namespaced_network_policy", {"name": "hubfront-group-research", "namespace": NS}),
                         ("create_namespaced_network_policy", {"namespace": NS, "body": body})]


async def test_apply_leaves_an_unchanged_policy_and_replaces_a_changed_one():
    body = KubeNetwork().policy(NS, "research")
    api = RecordedApi(read_namespaced_network_policy=await read_back(body))
    await KubeNetwork().apply(api, NS, "research")
    assert [c[0] for c in api.calls] == ["read_namespaced_network_policy"]

    loosened = copy.deepcopy(body)
    loosened["spec"]["ingress"].append({"from": [{"podSelector": {}}]})  # someone opened it to every pod
    api = RecordedApi(read_namespaced_network_policy=await read_back(loosened))
    await KubeNetwork().apply(api, NS, "research")
    assert api.calls[1] == ("replace_namespaced_network_policy", {"name": "hubfront-group-research",
                                                                 "namespace": NS, "body": body})


async def test_apply_made_meanwhile_is_replaced_and_a_refusal_fails_the_workload():
    api = RecordedApi(read_namespaced_network_policy=api_error(404), create_namespaced_network_policy=api_error(409))
    await KubeNetwork().apply(api, NS, "research")
    assert [c[0] for c in api.calls][-1] == "replace_namespaced_network_policy"

    forbidden = 'networkpolicies.networking.k8s.io is forbidden: User "system:serviceaccount:hubfront:hub" cannot create'
    api = RecordedApi(read_namespaced_network_policy=api_error(404),
                      create_namespaced_network_policy=api_error(403, forbidden))
    network = KubeNetwork()
    with pytest.raises(ExecutorError, match="NetworkPolicy hubfront-group-research: networkpolicies.* is forbidden"):
        await network.apply(api, NS, "research")
    api.replies["create_namespaced_network_policy"] = None
    await network.apply(api, NS, "research")  # not remembered as done: tried again
    assert [c[0] for c in api.calls].count("create_namespaced_network_policy") == 2


async def test_disabled_applies_nothing():
    api = RecordedApi()
    await KubeNetwork(enabled=False).apply(api, NS, "research")
    assert api.calls == []


async def test_the_runner_applies_the_policy_before_the_groups_pods():
    api = RecordedApi(read_namespaced_network_policy=api_error(404))
    jobs = KubernetesExecutor(batch_api=api, core_api=api, networking_api=api, namespace="jobs")
    await jobs.start(job_spec(group="research"))
    deployments = KubernetesDeployments(apps_api=api, core_api=api, jobs=jobs, namespace="models")
    await deployments.apply(deployment_spec(group="research"))
    await KubernetesBuilds(ImageBuilds(), jobs).start(build("vision"))
    order = [(name, kwargs.get("namespace"), (kwargs.get("body") or {}).get("metadata", {}).get("name"))
             for name, kwargs in api.calls if name.startswith("create_")]
    assert order == [
        ("create_namespaced_network_policy", "jobs", "hubfront-group-research"),
        ("create_namespaced_job", "jobs", "hubfront-job-42"),
        ("create_namespaced_network_policy", "models", "hubfront-group-research"),  # the deployments' namespace
        ("create_namespaced_deployment", "models", "hubfront-deploy-iris"),
        ("create_namespaced_service", "models", "hubfront-deploy-iris"),
        ("create_namespaced_network_policy", "hubfront-builds", "hubfront-group-vision"),  # the builds' namespace
        ("create_namespaced_job", "hubfront-builds", "hubfront-build-7"),
    ]


async def test_a_refused_policy_starts_no_pod():
    api = RecordedApi(read_namespaced_network_policy=api_error(403, "forbidden"))
    jobs = KubernetesExecutor(batch_api=api, core_api=api, networking_api=api, namespace="jobs")
    with pytest.raises(ExecutorError, match="NetworkPolicy"):
        await jobs.start(job_spec(group="research"))
    assert not any(name == "create_namespaced_job" for name, _ in api.calls)
