"""Pod Security Standards: every pod Hubfront makes is admitted in a namespace that enforces "restricted"
(notebooks, jobs, scheduled runs, deployment and app replicas); image builds, which run as root, pass
"baseline" and run in a namespace of their own. The chart's pods pass "restricted" with the values file,
and a notebook pod made with the values file has no privileged init container.

The checker (tests/support_pss.py) is the published profile field by field; the cases below show it
refuses a pod for each rule, so a pass means something.
"""

from __future__ import annotations

import copy
import json
from types import SimpleNamespace

import pytest
import yaml
from kube_objects import PEOPLE, chart_singleuser, everything, pod_of
from support_pss import violations
from test_kube_spawner import launch, make_user, no_cluster, production  # noqa: F401 - fixtures

from hub_ext.images.settings import ImageBuilds
from hub_ext.kube import plain
from hub_ext.services.executors.base import JobSpec
from hub_ext.services.executors.kubernetes import KubernetesExecutor
from spawner.kube import KubeGroupSpawner
from support import REPO

NAMESPACES = list(yaml.safe_load_all((REPO / "config/kubernetes/namespaces.yaml").read_text()))


@pytest.fixture(scope="module")
async def made(tmp_path_factory):
    return await everything(tmp_path_factory.mktemp("kube-objects"))


def test_every_workload_pod_passes_restricted_and_builds_pass_baseline(made):
    pods = [m for m in made if m.level]
    failures = {m.what: violations(pod_of(m.body), m.level) for m in pods}
    assert not {what: found for what, found in failures.items() if found}
    kinds = {m.what.split(" (")[0].split(",")[0] for m in pods}
    assert {"notebook pod", "job", "recurring run", "kaniko build", "buildah build"} <= kinds
    assert any(k.startswith("deployment ") for k in kinds) and any(k.startswith("app ") for k in kinds)
    for user, group in PEOPLE:  # both people, the odd names too
        assert sum(f"{user} in {group}" in m.what for m in pods) >= 10
    # only the builds are held to less, and they would not pass "restricted": they run as root
    assert {m.what.split(",")[0] for m in pods if m.level == "baseline"} == {"kaniko build", "buildah build"}
    for build in (m for m in pods if m.level == "baseline"):
        assert any(v.startswith("Running as Non-root") for v in violations(pod_of(build.body), "restricted"))


# --- the checker refuses a pod for each rule ----------------------------------------------


def restricted_pod() -> dict:
    spec = JobSpec(job_id=1, username="alice", group="research", groups=("research",), command="true",
                   container_image="python:3.12")
    return KubernetesExecutor(namespace="hubfront").manifest(spec)["spec"]["template"]


def container(pod, kind="containers"):
    return pod["spec"][kind][0]


def sc(pod, kind="containers"):
    return container(pod, kind)["securityContext"]


def add_init(pod):
    pod["spec"]["initContainers"] = [copy.deepcopy(container(pod)) | {"name": "init"}]


# (what the pod does, its change, the control named, whether "baseline" refuses it too)
RULES = [
    ("host network", lambda p: p["spec"].update(hostNetwork=True), "Host Namespaces", True),
    ("host PID", lambda p: p["spec"].update(hostPID=True), "Host Namespaces", True),
    ("host IPC", lambda p: p["spec"].update(hostIPC=True), "Host Namespaces", True),
    ("privileged", lambda p: sc(p).update(privileged=True), "Privileged Containers", True),
    ("privileged init container", lambda p: (add_init(p), sc(p, "initContainers").update(privileged=True)),
     "Privileged Containers", True),
    ("privileged ephemeral container", lambda p: p["spec"].update(ephemeralContainers=[
        copy.deepcopy(container(p)) | {"name": "debug", "securityContext": sc(p) | {"privileged": True}}]),
     "Privileged Containers", True),
    ("SYS_ADMIN added", lambda p: sc(p)["capabilities"].update(add=["SYS_ADMIN"]), "Capabilities", True),
    ("NET_ADMIN added", lambda p: sc(p)["capabilities"].update(add=["NET_ADMIN"]), "Capabilities", True),
    ("hostPath volume", lambda p: p["spec"].update(volumes=[{"name": "h", "hostPath": {"path": "/"}}]),
     "HostPath Volumes", True),
    ("host port", lambda p: container(p).update(ports=[{"containerPort": 80, "hostPort": 80}]), "Host Ports", True),
    ("AppArmor annotation unconfined", lambda p: p["metadata"].update(
        annotations={"container.apparmor.security.beta.kubernetes.io/job": "unconfined"}), "AppArmor", True),
    ("AppArmor profile unconfined", lambda p: sc(p).update(appArmorProfile={"type": "Unconfined"}), "AppArmor", True),
    ("SELinux type", lambda p: p["spec"]["securityContext"].update(seLinuxOptions={"type": "spc_t"}), "SELinux", True),
    ("SELinux user", lambda p: sc(p).update(seLinuxOptions={"user": "system_u"}), "SELinux", True),
    ("unmasked /proc", lambda p: sc(p).update(procMount="Unmasked"), "/proc Mount Type", True),
    ("seccomp unconfined", lambda p: sc(p).update(seccompProfile={"type": "Unconfined"}), "Seccomp", True),
    ("unsafe sysctl", lambda p: p["spec"]["securityContext"].update(sysctls=[{"name": "kernel.msgmax", "value": "1"}]),
     "Sysctls", True),
    ("Windows host process", lambda p: sc(p).update(windowsOptions={"hostProcess": True}), "HostProcess", True),
    ("NFS volume", lambda p: p["spec"].update(volumes=[{"name": "n", "nfs": {"server": "nfs", "path": "/"}}]),
     "Volume Types", False),
    ("privilege escalation", lambda p: sc(p).update(allowPrivilegeEscalation=True), "Privilege Escalation", False),
    ("privilege escalation unset", lambda p: sc(p).pop("allowPrivilegeEscalation"), "Privilege Escalation", False),
    ("runAsNonRoot false", lambda p: sc(p).update(runAsNonRoot=False), "Running as Non-root:", False),
    ("runAsNonRoot nowhere", lambda p: (sc(p).pop("runAsNonRoot"), p["spec"]["securityContext"].pop("runAsNonRoot")),
     "Running as Non-root:", False),
    ("uid 0", lambda p: sc(p).update(runAsUser=0), "Running as Non-root user", False),
    ("pod uid 0", lambda p: p["spec"]["securityContext"].update(runAsUser=0), "Running as Non-root user", False),
    ("seccomp nowhere", lambda p: (sc(p).pop("seccompProfile"), p["spec"]["securityContext"].pop("seccompProfile")),
     "Seccomp", False),
    ("capabilities kept", lambda p: sc(p).pop("capabilities"), "Capabilities", False),
    ("CHOWN added back", lambda p: sc(p)["capabilities"].update(add=["CHOWN"]), "Capabilities", False),
    ("init container escalating", lambda p: (add_init(p), sc(p, "initContainers").pop("allowPrivilegeEscalation")),
     "Privilege Escalation", False),
]


@pytest.mark.parametrize("change, control, baseline_too", [r[1:] for r in RULES], ids=[r[0] for r in RULES])
def test_the_checker_refuses_a_pod_breaking_one_rule(change, control, baseline_too):
    pod = restricted_pod()
    assert violations(pod) == []
    change(pod)
    found = violations(pod)
    assert any(v.startswith(control) for v in found), found
    # nothing else is found, but what the same field breaks at the other level
    assert all(v.startswith(control) or v.startswith(("HostPath", "Volume Types")) for v in found), found
    baseline = violations(pod, "baseline")
    assert (bool(baseline) and all(v.startswith(control) for v in baseline)) is baseline_too, baseline


@pytest.mark.parametrize("change", [
    lambda p: sc(p)["capabilities"].update(add=["NET_BIND_SERVICE"]),
    lambda p: sc(p).update(seccompProfile={"type": "Localhost", "localhostProfile": "profiles/job.json"}),
    lambda p: (sc(p).pop("runAsNonRoot"), sc(p).pop("seccompProfile")),  # the pod's settings suffice
    lambda p: p["spec"]["securityContext"].update(sysctls=[{"name": "net.ipv4.ip_unprivileged_port_start",
                                                            "value": "0"}]),
    lambda p: p["spec"].update(volumes=[{"name": "c", "configMap": {"name": "x"}}, {"name": "e", "emptyDir": {}}]),
], ids=["NET_BIND_SERVICE", "Localhost seccomp", "pod-level settings", "safe sysctl", "core volumes"])
def test_the_checker_admits_what_restricted_allows(change):
    pod = restricted_pod()
    change(pod)
    assert violations(pod) == []


# --- the values file ---------------------------------------------------------------------


async def values_notebook(values: dict, c, policy) -> dict:
    """The notebook pod of the values file: the chart's singleuser settings, the hub's config over them."""
    config = chart_singleuser(values)
    config.merge(c)
    spawner = KubeGroupSpawner(config=config, user=make_user("admin", ["research"], policy=policy),
                               orm_spawner=SimpleNamespace(name="research", server=None), _mock=True)
    return plain(await launch(spawner, group="research", instance_type="gpu-1", image="pytorch"))


async def test_the_values_notebook_pod_has_no_privileged_init_container_and_passes_restricted(production):  # noqa: F811
    values, c, data = production
    policy = data["groups"]["research"]["policy"]
    pod = await values_notebook(values, c, policy)
    assert values["singleuser"]["cloudMetadata"]["blockWithIptables"] is False
    for init in pod["spec"].get("initContainers") or []:
        context = init.get("securityContext") or {}
        assert not context.get("privileged") and "NET_ADMIN" not in (context.get("capabilities") or {}).get("add", [])
    assert violations(pod) == []
    assert pod["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"

    # the chart's default would add its iptables container, which neither level admits
    chart_default = copy.deepcopy(values)
    del chart_default["singleuser"]["cloudMetadata"]
    pod = await values_notebook(chart_default, c, policy)
    [init] = pod["spec"]["initContainers"]
    assert init["securityContext"]["privileged"] is True
    found = violations(pod, "baseline")
    assert any(v.startswith("Privileged Containers") for v in found)
    assert any(v.startswith("Capabilities") and "NET_ADMIN" in v for v in found)


def chart_pods(values: dict) -> dict[str, dict]:
    """The pods of the chart's components, with the security contexts the values file gives them (where the
    chart's templates put them: a component's containerSecurityContext on its container, the hub's
    podSecurityContext on its pod; the other pods have no pod-level context)."""
    hub, pre = values["hub"], values["prePuller"]
    puller = {"initContainers": [{"name": "image-pull-singleuser", "image": "quay.io/jupyter/base-notebook",
                                  "command": ["/bin/sh", "-c", "echo Pulling complete"],
                                  "securityContext": pre["containerSecurityContext"]}],
              "containers": [{"name": "pause", "image": "registry.k8s.io/pause:3.10",
                              "securityContext": pre["pause"]["containerSecurityContext"]}]}
    return {
        "hub": {"securityContext": hub["podSecurityContext"],
                "volumes": [{"name": "config", "configMap": {"name": "hub"}}, {"name": "secret", "secret": {"secretName": "hub"}},
                            *hub["extraVolumes"]],
                "containers": [*hub["extraContainers"],
                               {"name": "hub", "image": "hub", "securityContext": hub["containerSecurityContext"]}]},
        "proxy": {"containers": [{"name": "chp", "image": "chp",
                                  "securityContext": values["proxy"]["chp"]["containerSecurityContext"]}]},
        "user-scheduler": {"volumes": [{"name": "config", "configMap": {"name": "user-scheduler"}}],
                           "containers": [{"name": "kube-scheduler", "image": "registry.k8s.io/kube-scheduler",
                                           "securityContext": values["scheduling"]["userScheduler"][
                                               "containerSecurityContext"]}]},
        "user-placeholder": {"containers": [{"name": "pause", "image": "registry.k8s.io/pause:3.10",
                                             "securityContext": values["scheduling"]["userPlaceholder"][
                                                 "containerSecurityContext"]}]},
        "hook-image-awaiter": {"containers": [{"name": "hook-image-awaiter", "image": "k8s-image-awaiter",
                                               "securityContext": pre["hook"]["containerSecurityContext"]}]},
        "hook-image-puller": puller,
        "continuous-image-puller": puller,
    }


def test_the_charts_pods_and_the_runner_pass_restricted_with_the_values():
    values = yaml.safe_load((REPO / "config/kubernetes/values.yaml").read_text())
    pods = chart_pods(values)
    assert {name: violations(spec) for name, spec in pods.items() if violations(spec)} == {}
    [runner] = values["hub"]["extraContainers"]
    assert runner["securityContext"]["runAsNonRoot"] is True and runner["securityContext"]["runAsUser"] != 0
    # the chart's own defaults (a user, no privilege escalation) are not enough: the values are what passes
    bare = {"containers": [{"name": "chp", "image": "chp", "securityContext": {
        "runAsUser": 65534, "runAsGroup": 65534, "allowPrivilegeEscalation": False}}]}
    assert {v.split(":")[0] for v in violations(bare)} == {"Running as Non-root", "Seccomp", "Capabilities"}


def test_the_namespaces_enforce_restricted_and_builds_run_apart_at_baseline():
    by_name = {doc["metadata"]["name"]: doc["metadata"]["labels"] for doc in NAMESPACES}
    workloads, builds = by_name["hubfront"], by_name["hubfront-builds"]
    for labels, level in ((workloads, "restricted"), (builds, "baseline")):
        for mode in ("enforce", "warn", "audit"):
            assert labels[f"pod-security.kubernetes.io/{mode}"] == level
        assert labels["pod-security.kubernetes.io/enforce-version"] == "v1.29"
    values = yaml.safe_load((REPO / "config/kubernetes/values.yaml").read_text())
    [runner] = values["hub"]["extraContainers"]
    config = json.loads(next(e["value"] for e in runner["env"] if e["name"] == "HUBFRONT_RUNNER_CONFIG"))
    # the workloads run in the restricted namespace, the builds in the other one
    assert config["KubernetesExecutor"]["namespace"] == config["KubernetesDeployments"]["namespace"] == "hubfront"
    assert config["ImageBuilds"]["namespace"] == ImageBuilds().namespace == "hubfront-builds"
