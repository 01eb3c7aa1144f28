"""RBAC from the code: ``config/kubernetes/rbac.yaml`` grants what Hubfront's code asks of the
Kubernetes API (read from the code and from kubernetes_asyncio, ``support_rbac``), and nothing more.

The hub's service account (``hub``) is the runner's too: the runner is a container in the hub's pod.
KubeSpawner's own calls (notebook pods, their claims, events, secrets, services) are granted by the
Zero to JupyterHub chart's hub Role; they are not in this repository's code and not checked here.
Our own claim creation before a notebook (``hub_ext/storage/kube.py``, called by ``spawner/kube.py``)
is, like every call under ``hub_ext/`` and ``spawner/``.
"""

from __future__ import annotations

import ast
import copy

import kubernetes_validate
import pytest
import yaml
from support import REPO
from support_rbac import (
    SCANNED,
    Need,
    Rule,
    api_methods,
    api_uses,
    bound_rules,
    code_needs,
    grants,
    missing,
    needs_of,
    reached_needs,
    templated,
    unused,
)

from hub_ext.images.settings import ImageBuilds

MANIFEST = REPO / "config/kubernetes/rbac.yaml"
WORKLOADS = "hubfront"  # the hub's namespace in the docs: jobs, deployments and apps run there by default
BUILDS = ImageBuilds.class_traits()["namespace"].default_value  # image builds' own namespace
K8S_VERSIONS = (kubernetes_validate.latest_version(), "1.29.0")  # the newest, the oldest the docs support
# (verb, group, resource) a Role may grant though no code calls it, with the reason: none today
UNUSED_ON_PURPOSE: dict[tuple[str, str, str], str] = {}


def manifest() -> list[dict]:
    return [doc for doc in yaml.safe_load_all(MANIFEST.read_text()) if doc]


def _report(gaps: list[Need], where: str) -> str:
    return f"config/kubernetes/rbac.yaml lacks, {where}:\n" + "\n".join(f"  {gap}" for gap in gaps)


# --- the tests --------------------------------------------------------------------------------


def test_api_methods_are_read_from_kubernetes_asyncio():
    methods = api_methods()
    assert methods["read_namespaced_job_status"] == {Rule("get", "batch", "jobs/status", False)}
    assert methods["list_namespaced_pod"] == {Rule("list", "", "pods", False)}
    assert methods["read_namespaced_pod_log"] == {Rule("get", "", "pods/log", False)}
    assert methods["delete_collection_namespaced_job"] == {Rule("deletecollection", "batch", "jobs", False)}
    assert methods["list_node"] == {Rule("list", "", "nodes", True)}
    assert methods["list_job_for_all_namespaces"] == {Rule("list", "batch", "jobs", True)}
    assert methods["patch_namespaced_service"] == {Rule("patch", "", "services", False)}
    assert methods["replace_namespaced_network_policy"] == {Rule("update", "networking.k8s.io", "networkpolicies",
                                                                False)}


def test_uses_are_found_however_the_method_is_reached():
    tree = ast.parse("async def f(api, w):\n"
                     "    await api.create_namespaced_job(namespace='x', body={})\n"
                     "    await call(api.delete_namespaced_service, name='s')\n"
                     "    getattr(api, 'list_node')\n"
                     "    ops = ('read_namespaced_deployment', 'not_an_api_method')\n"
                     "    w.stream(api.list_namespaced_pod, namespace='x')\n"
                     "    await api.list_namespaced_event(namespace='x', watch=True)\n")
    assert {(str(n.rule), n.site) for n in needs_of(api_uses(tree), "m.py")} == {
        ("create batch jobs", "m.py:2"), ("delete core services", "m.py:3"), ("list core nodes (cluster)", "m.py:4"),
        ("get apps deployments", "m.py:5"), ("watch core pods", "m.py:6"),
        ("watch core events", "m.py:7"), ("watch events.k8s.io events", "m.py:7")}


def test_custom_object_calls_take_group_and_resource_from_their_arguments():
    """``CustomObjectsApi`` paths carry the group and resource as parameters: a call's literal arguments
    (keywords, positions, the module's constants) fill them; anything else leaves them unknown."""
    assert api_methods()["list_namespaced_custom_object"] == {Rule("list", "{group}", "{plural}", False)}
    tree = ast.parse("GROUP, PLURAL = 'metrics.k8s.io', 'pods'\n"
                     "CRD = 'example.org'\n"
                     "async def f(api, ns, group):\n"
                     "    await api.list_namespaced_custom_object(group=GROUP, version='v1beta1', namespace=ns,\n"
                     "                                            plural=PLURAL)\n"
                     "    await api.get_namespaced_custom_object('metrics.k8s.io', 'v1beta1', ns, 'pods', 'p')\n"
                     "    await api.get_namespaced_custom_object_status(CRD, 'v1', ns, 'widgets', name='w')\n"
                     "    await api.list_cluster_custom_object(group=CRD, version='v1', plural='gadgets')\n"
                     "    await api.list_namespaced_custom_object(group=group, version='v1', namespace=ns,\n"
                     "                                            plural='pods')\n"
                     "    await call(api.delete_namespaced_custom_object, group=CRD, plural='widgets')\n")
    assert {(str(n.rule), n.site) for n in needs_of(api_uses(tree), "m.py")} == {
        ("list metrics.k8s.io pods", "m.py:4"), ("get metrics.k8s.io pods", "m.py:6"),
        ("get example.org widgets/status", "m.py:7"), ("list example.org gadgets (cluster)", "m.py:8"),
        ("list {group} pods", "m.py:9"),  # a variable: the group is not known
        ("delete {group} {plural}", "m.py:11")}  # handed on: its arguments are not read
    unknown = {n.rule for n in needs_of(api_uses(tree), "m.py") if templated(n.rule)}
    assert unknown == {Rule("list", "{group}", "pods", False), Rule("delete", "{group}", "{plural}", False)}
    # a rule with an unknown group is granted by no rule but a wildcard
    assert not grants({"apiGroups": ["metrics.k8s.io"], "resources": ["pods"], "verbs": ["list"]},
                      Rule("list", "{group}", "pods", False))


def test_every_custom_object_call_names_its_group_and_resource():
    unknown = sorted(str(n) for n in code_needs() if templated(n.rule))
    assert not unknown, ("pass CustomObjectsApi's group and plural as literal strings or module constants, "
                         f"so the RBAC they need can be read: {unknown}")


def test_the_pod_metrics_are_read_with_a_granted_rule_and_its_loss_is_caught():
    metrics = [n for n in code_needs() if n.rule.group == "metrics.k8s.io"]
    assert {n.rule for n in metrics} == {Rule("list", "metrics.k8s.io", "pods", False)}
    [need] = metrics
    path, line = need.site.rsplit(":", 1)
    assert path == "hub_ext/pod_metrics.py"
    assert "list_namespaced_custom_object" in (REPO / path).read_text().splitlines()[int(line) - 1]
    rules = bound_rules(manifest(), WORKLOADS)
    assert not missing(metrics, rules)
    # without the rule, the test of the workloads' Role names the call site
    without = [r for r in rules if "metrics.k8s.io" not in r["apiGroups"]]
    assert len(without) == len(rules) - 1
    gaps = missing({n for n in code_needs() if not n.rule.cluster}, without)
    assert gaps == [need]
    assert f"list metrics.k8s.io pods for list_namespaced_custom_object at {need.site}" in _report(gaps, "")
    # metrics are not read where only image builds run
    assert not [n for n in reached_needs("BuildExecutor") if n.rule.group == "metrics.k8s.io"]


def test_the_ssh_gateways_pod_streams_need_get_and_create_and_are_granted():
    """The gateway's exec and port-forward websockets (hub_ext/ssh/landings.py) are GETs that newer API servers
    also authorize as create: both are needed, both granted, and the loss of either is caught."""
    streams = {n for n in code_needs() if n.rule.resource in ("pods/exec", "pods/portforward")}
    assert {(n.rule.verb, n.rule.resource) for n in streams} == {
        ("get", "pods/exec"), ("create", "pods/exec"), ("get", "pods/portforward"), ("create", "pods/portforward")}
    assert {n.site.rsplit(":", 1)[0] for n in streams} == {"hub_ext/ssh/landings.py"}
    rules = bound_rules(manifest(), WORKLOADS)
    assert not missing(streams, rules)
    without_create = [{**r, "verbs": [v for v in r["verbs"] if v != "create"]}
                      if "pods/exec" in r["resources"] else r for r in rules]
    gaps = missing(streams, without_create)
    assert {(g.rule.verb, g.rule.resource) for g in gaps} == {("create", "pods/exec"), ("create", "pods/portforward")}
    assert "create core pods/exec for connect_get_namespaced_pod_exec at hub_ext/ssh/landings.py:" in _report(gaps, "")
    # the gateway's check of the pod itself: get pods
    assert Rule("get", "", "pods", False) in {n.rule for n in code_needs() if n.site.startswith("hub_ext/ssh/")}


def test_the_code_is_scanned():
    needs = code_needs()
    for method in ("read_namespaced_job_status", "create_namespaced_job", "read_namespaced_pod_log",
                   "create_namespaced_deployment", "create_namespaced_persistent_volume_claim", "list_node"):
        sites = [n.site for n in needs if n.method == method]
        assert sites, f"no call of {method} found under {SCANNED}"
        for site in sites:  # each site is the line that names the method
            path, line = site.rsplit(":", 1)
            assert method in (REPO / path).read_text().splitlines()[int(line) - 1]


def test_each_call_names_one_api_group():
    """A method name two API groups share (``list_namespaced_event``) would need the call's API class."""
    shared = sorted({f"{n.method} at {n.site}" for n in code_needs() if len(api_methods()[n.method]) > 1})
    assert not shared, f"cannot tell which API group these calls reach: {shared}"


def test_the_workloads_role_grants_every_namespaced_call():
    gaps = missing({n for n in code_needs() if not n.rule.cluster}, bound_rules(manifest(), WORKLOADS))
    assert not gaps, _report(gaps, f"in the Role bound to the hub's service account in namespace {WORKLOADS}")


def test_the_cluster_role_grants_every_cluster_wide_call():
    gaps = missing({n for n in code_needs() if n.rule.cluster}, bound_rules(manifest(), None))
    assert not gaps, _report(gaps, "in a ClusterRole bound to the hub's service account")


def test_the_builds_role_grants_what_the_build_executor_calls():
    needs = reached_needs("BuildExecutor")
    assert Rule("create", "batch", "jobs", False) in {n.rule for n in needs}  # the reach is followed
    assert Rule("get", "batch", "jobs/status", False) in {n.rule for n in needs}  # through the jobs executor
    assert not any(n.rule.cluster for n in needs)
    gaps = missing(needs, bound_rules(manifest(), BUILDS))
    assert not gaps, _report(gaps, f"in the Role bound to the hub's service account in namespace {BUILDS}")


@pytest.mark.parametrize(("namespace", "needs"), [
    (WORKLOADS, lambda: {n for n in code_needs() if not n.rule.cluster}),
    (BUILDS, lambda: reached_needs("BuildExecutor")),
    (None, lambda: {n for n in code_needs() if n.rule.cluster}),
], ids=["workloads", "builds", "cluster"])
def test_nothing_is_granted_that_the_code_never_calls(namespace, needs):
    rules = bound_rules(manifest(), namespace)
    assert rules
    extra = unused(rules, needs(), UNUSED_ON_PURPOSE)
    assert not extra, f"config/kubernetes/rbac.yaml grants what no code calls ({namespace or 'cluster'}): {extra}"


def test_every_role_is_bound_to_the_hub_account():
    docs = manifest()
    everything = [r for d in docs if d["kind"] in ("Role", "ClusterRole") for r in d.get("rules") or []]
    bound = [r for namespace in (WORKLOADS, BUILDS, None) for r in bound_rules(docs, namespace)]
    assert sorted(map(str, bound)) == sorted(map(str, everything)), "a Role is bound to nobody, or not to hub"


# the Role that docs/kubernetes.md gave before this manifest, word for word
OLD_ROLE = """
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: hubfront-runner, namespace: hubfront}
rules:
  - apiGroups: ["batch"]
    resources: ["jobs"]
    verbs: ["create", "get", "list", "watch", "delete"]
  - apiGroups: ["apps"]
    resources: ["deployments"]
    verbs: ["create", "get", "update", "delete"]
  - apiGroups: [""]
    resources: ["services"]
    verbs: ["create", "get", "patch", "delete"]
  - apiGroups: [""]
    resources: ["pods", "pods/log"]
    verbs: ["get", "list", "watch"]
  - apiGroups: ["networking.k8s.io"]
    resources: ["networkpolicies"]
    verbs: ["get", "create", "update"]
"""


def test_the_old_role_is_caught_missing_jobs_status():
    gaps = missing({n for n in code_needs() if not n.rule.cluster}, yaml.safe_load(OLD_ROLE)["rules"])
    status = [g for g in gaps if g.rule == Rule("get", "batch", "jobs/status", False)]
    assert status
    message = _report(gaps, "")
    for gap in status:
        assert f"get batch jobs/status for read_namespaced_job_status at {gap.site}" in message
        assert gap.site.startswith("hub_ext/services/executors/")
    assert Rule("create", "", "persistentvolumeclaims", False) in {g.rule for g in gaps}
    # and what it granted beyond the code: reading jobs whole, watching, getting services and pods
    assert ("watch", "batch", "jobs") in unused(yaml.safe_load(OLD_ROLE)["rules"], code_needs(), {})


def test_subresources_are_granted_only_when_listed():
    need = Rule("get", "batch", "jobs/status", False)
    assert not grants({"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["get"]}, need)
    assert grants({"apiGroups": ["batch"], "resources": ["*/status"], "verbs": ["get"]}, need)
    assert grants({"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}, need)
    assert not grants({"apiGroups": ["batch"], "resources": ["jobs/status"], "verbs": ["get"],
                       "resourceNames": ["one"]}, need)


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_the_manifest_is_valid_kubernetes(version):
    docs = manifest()
    assert {d["kind"] for d in docs} == {"Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"}
    for doc in docs:
        kubernetes_validate.validate(doc, version, strict=True)
    misspelt = copy.deepcopy(docs[0])
    misspelt["rules"][0]["verb"] = misspelt["rules"][0].pop("verbs")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(misspelt, version, strict=True)
