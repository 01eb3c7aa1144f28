"""Every Kubernetes object Hubfront generates, and every one it ships, against the Kubernetes API schemas.

Validated strictly (a field the API does not know is an error, as the API server's strict field
validation makes it) with ``kubernetes_validate``, against the oldest Kubernetes version the docs
support and the newest the installed ``kubernetes_validate`` ships: the objects of ``kube_objects``
(notebook pods and claims, jobs, a recurring run, builds, deployments and apps with their Services,
NetworkPolicies), every document of ``config/kubernetes/*.yaml`` and the Kubernetes parts of the values
file, each as the type it is. The values file keeps to the chart's keys (``z2jh_values_keys.txt``).
Names, labels, ports and probe paths made from odd user and group names are checked as the API server
checks them.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from kube_objects import CONFIG_DIR, PEOPLE, config_documents, everything, pod_of
from kubernetes_validate.utils import all_versions, latest_version

from support import REPO

OLDEST = "1.29.0"  # the oldest Kubernetes docs/kubernetes.md supports
NEWEST = latest_version()
VERSIONS = [OLDEST, NEWEST]
VALUES = yaml.safe_load((CONFIG_DIR / "values.yaml").read_text())
KEYS = [line.strip() for line in (Path(__file__).parent / "z2jh_values_keys.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")]

DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
DNS_1035 = re.compile(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?")
SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
LABEL_NAME = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?")
PORT_NAME = re.compile(r"(?=.*[a-z])[a-z0-9]+(-[a-z0-9]+)*")  # an IANA service name (and 15 characters at most)
ENV_NAME = re.compile(r"[-._a-zA-Z][-._a-zA-Z0-9]*")
# a URL's path, and a query (health checks carry one: hub_ext.services.executors.health_checks)
URL_PATH = re.compile(r"/([A-Za-z0-9\-._~!$&'()*+,;=:@/]|%[0-9A-Fa-f]{2})*(\?([A-Za-z0-9\-._~!$&'()*+,;=:@/?]|%[0-9A-Fa-f]{2})*)?")


@pytest.fixture(scope="module")
async def made(tmp_path_factory):
    return await everything(tmp_path_factory.mktemp("kube-objects"))


def invalid(body: dict, version: str) -> str | None:
    try:
        kubernetes_validate.validate(body, version, strict=True)
    except kubernetes_validate.ValidationError as exc:
        return f"{'.'.join(map(str, exc.path))}: {exc.message}"
    return None


# --- the schemas ---------------------------------------------------------------------


def test_both_versions_are_shipped_and_documented():
    assert OLDEST in all_versions() and NEWEST in all_versions()
    docs = (REPO / "docs/kubernetes.md").read_text()
    assert f"Kubernetes {OLDEST.rsplit('.', 1)[0]} and newer" in docs  # the supported versions


@pytest.mark.parametrize("version", VERSIONS)
def test_every_generated_object_is_valid(made, version):
    errors = {m.what: invalid(m.body, version) for m in made}
    assert {what: error for what, error in errors.items() if error} == {}
    kinds = {m.body["kind"] for m in made}
    assert kinds == {"Pod", "PersistentVolumeClaim", "Job", "Deployment", "Service", "NetworkPolicy"}


@pytest.mark.parametrize("version", VERSIONS)
def test_every_shipped_manifest_is_valid(version):
    documents = config_documents()
    assert {d.body["kind"] for d in documents} >= {"Namespace", "PersistentVolumeClaim", "Ingress", "Role"}
    errors = {d.what: invalid(d.body, version) for d in documents}
    assert {what: error for what, error in errors.items() if error} == {}


def test_the_validator_is_strict(made):
    job = next(m.body for m in made if m.body["kind"] == "Job" and m.level == "restricted")
    assert invalid(job, NEWEST) is None
    for where in (lambda b: b["spec"]["template"]["spec"]["containers"][0],  # a made-up field, at any depth
                  lambda b: b["spec"]["template"]["spec"]["containers"][0]["securityContext"],
                  lambda b: b["spec"], lambda b: b["metadata"]):
        broken = copy.deepcopy(job)
        where(broken)["runAsRoot"] = False
        assert "runAsRoot" in invalid(broken, NEWEST)
    broken = copy.deepcopy(job)
    broken["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["cpu"] = ["1"]  # a wrong type
    assert invalid(broken, NEWEST)


# --- names, labels and paths ---------------------------------------------------------


def label_problems(where: str, labels: dict | None, values=True) -> list[str]:
    out = []
    for key, value in (labels or {}).items():
        prefix, _, name = key.rpartition("/")
        if (prefix and (len(prefix) > 253 or not SUBDOMAIN.fullmatch(prefix))) or not LABEL_NAME.fullmatch(name):
            out.append(f"{where}: key {key!r}")
        if values and value and not LABEL_NAME.fullmatch(str(value)):
            out.append(f"{where}: value {value!r} of {key}")
    return out


def pod_problems(pod: dict) -> list[str]:
    spec, out = pod["spec"], label_problems("pod labels", (pod.get("metadata") or {}).get("labels"))
    volumes = {v["name"] for v in spec.get("volumes") or []}
    out += [f"volume {v!r}" for v in volumes if not DNS_LABEL.fullmatch(v)]
    out += label_problems("nodeSelector", spec.get("nodeSelector"))
    for container in [*(spec.get("initContainers") or []), *spec["containers"]]:
        name = container["name"]
        if not DNS_LABEL.fullmatch(name):
            out.append(f"container {name!r}")
        out += [f"{name}: port name {p['name']!r}" for p in container.get("ports") or []
                if "name" in p and not (len(p["name"]) <= 15 and PORT_NAME.fullmatch(p["name"]))]
        out += [f"{name}: env {e['name']!r}" for e in container.get("env") or [] if not ENV_NAME.fullmatch(e["name"])]
        for mount in container.get("volumeMounts") or []:
            sub = mount.get("subPath", "")
            if mount["name"] not in volumes or not mount["mountPath"].startswith("/") or sub.startswith("/") \
                    or ".." in sub.split("/"):
                out.append(f"{name}: mount {mount}")
        ports = {p["containerPort"] for p in container.get("ports") or []} | {p.get("name") for p in container.get("ports") or []}
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            check = (container.get(probe) or {}).get("httpGet")
            if check and (not URL_PATH.fullmatch(check["path"]) or check["port"] not in ports):
                out.append(f"{name}: {probe} {check}")
    return out


def name_problems(body: dict) -> list[str]:
    meta, kind = body["metadata"], body["kind"]
    name, out = meta["name"], label_problems("labels", meta.get("labels"))
    out += label_problems("annotations", meta.get("annotations"), values=False)
    # Pods, Jobs and Deployments name their pods and a label value; a Service's name is a DNS-1035 label
    rule = {"Service": DNS_1035, "Namespace": DNS_LABEL, "Pod": DNS_LABEL, "Job": DNS_LABEL,
            "Deployment": DNS_LABEL}.get(kind, SUBDOMAIN)
    if not rule.fullmatch(name) or len(name) > 253:
        out.append(f"name {name!r}")
    spec = body.get("spec") or {}
    for selector in (spec.get("selector"), (spec.get("selector") or {}).get("matchLabels"),
                     (spec.get("podSelector") or {}).get("matchLabels")):
        if isinstance(selector, dict) and all(isinstance(v, str) for v in selector.values()):
            out += label_problems("selector", selector)
    pod = pod_of(body)
    return out + (pod_problems(pod) if pod else [])


def test_names_labels_ports_and_probe_paths_are_valid_for_odd_names(made):
    problems = {m.what: name_problems(m.body) for m in [*made, *config_documents()]}
    assert {what: found for what, found in problems.items() if found} == {}
    odd_user, odd_group = PEOPLE[1]
    assert len(odd_user) == 60 and any(odd_group in m.what for m in made)
    # what was made from the odd names still says who and which group it is for
    notes = [m.body["metadata"].get("annotations") or {} for m in made if m.body["kind"] in ("Job", "Deployment")]
    assert {"hubfront.io/username": odd_user, "hubfront.io/group-name": odd_group}.items() <= \
        next(n for n in notes if n.get("hubfront.io/group-name") == odd_group).items()


def test_the_name_check_refuses_what_the_api_server_refuses(made):
    deployment = next(m.body for m in made if m.body["kind"] == "Deployment")
    assert name_problems(deployment) == []
    for change in (lambda b: b["metadata"].update(name="Data Science (EU)"),
                   lambda b: b["metadata"]["labels"].update({"hubfront.io/group": "Data Science (EU)"}),
                   lambda b: b["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"].update(
                       path="/apps/Data Science (EU)/health"),
                   lambda b: b["spec"]["template"]["spec"]["containers"][0]["ports"][0].update(name="http-endpoint-long")):
        broken = copy.deepcopy(deployment)
        change(broken)
        assert name_problems(broken)


# --- the values file -----------------------------------------------------------------


def matches(pattern: list[str], path: list[str]) -> bool:
    return len(pattern) == len(path) and all(p in ("*", k) for p, k in zip(pattern, path))


def known(path: list[str]) -> bool:
    """Whether ``path`` (keys from the top) is one of the chart's keys, on the way to one, or in a free-form part."""
    for pattern in KEYS:
        parts = pattern.split(".")
        free = parts[-1] == "**"
        parts = parts[:-1] if free else parts
        if len(path) <= len(parts) and matches(parts[:len(path)], path):
            return True
        if free and len(path) > len(parts) and matches(parts, path[:len(parts)]):
            return True
    return False


def unknown_keys(node, path=()) -> list[str]:
    """Every key path of ``node`` that is not the chart's."""
    out = []
    for key, value in (node.items() if isinstance(node, dict) else ()):
        here = [*path, str(key)]
        out += unknown_keys(value, here) if known(here) else [".".join(here)]
    return out


def test_the_values_keep_to_the_charts_keys():
    assert unknown_keys(VALUES) == []
    assert known(["hub", "config", "Anything", "at_all"]) and known(["hub", "extraFiles", "mine", "mountPath"])
    made_up = copy.deepcopy(VALUES)
    made_up["hub"]["extraContainerz"] = []
    made_up["singleuser"]["storage"]["dynamic"]["pvcNameTemplat"] = "x"
    made_up["hub"]["extraFiles"]["hubfront-catalog"]["mountpath"] = "/x"
    made_up["scheduling"]["userScheduler"]["securityContext"] = {}
    assert sorted(unknown_keys(made_up)) == ["hub.extraContainerz", "hub.extraFiles.hubfront-catalog.mountpath",
                                             "scheduling.userScheduler.securityContext",
                                             "singleuser.storage.dynamic.pvcNameTemplat"]


def env_list(env) -> list[dict]:
    """The chart's extraEnv (a map of name to value or to an EnvVar without its name, or a list) as EnvVars."""
    if isinstance(env, list):
        return env
    return [{"name": k, "value": v} if isinstance(v, str) else {"name": k, **v} for k, v in (env or {}).items()]


def pod(spec: dict) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "values"}, "spec": spec}


def container(**fields) -> dict:
    return {"name": "c", "image": "x", **fields}


def values_snippets(values: dict) -> dict[str, dict]:
    """The Kubernetes parts of the values file, each wrapped in the object it is part of."""
    hub, single = values["hub"], values["singleuser"]
    snippets = {
        "hub.extraContainers, hub.extraVolumes": pod({"containers": hub.get("extraContainers") or [container()],
                                                      "volumes": hub.get("extraVolumes") or []}),
        "hub.extraVolumeMounts, hub.extraEnv": pod({"containers": [container(
            volumeMounts=hub.get("extraVolumeMounts") or [], env=env_list(hub.get("extraEnv")))]}),
        "hub.podSecurityContext": pod({"securityContext": hub.get("podSecurityContext") or {},
                                       "containers": [container()]}),
        "hub.service.extraPorts": {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "hub"},
                                   "spec": {"ports": hub["service"].get("extraPorts") or []}},
        "ingress.hosts, ingress.tls": {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "j"},
                                       "spec": {"tls": values["ingress"].get("tls") or [],
                                                "rules": [{"host": h} for h in values["ingress"].get("hosts") or []]}},
        "singleuser": pod({"containers": [container(env=env_list(single.get("extraEnv")),
                                                    volumeMounts=single["storage"].get("extraVolumeMounts") or [])],
                           "initContainers": single.get("initContainers") or [],
                           "volumes": single["storage"].get("extraVolumes") or [],
                           "nodeSelector": single.get("nodeSelector") or {},
                           "tolerations": single.get("extraTolerations") or []}),
    }
    for name, component in (("hub", hub), ("singleuser", single)):
        netpol = component.get("networkPolicy") or {}
        snippets[f"{name}.networkPolicy"] = {
            "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": name},
            "spec": {"podSelector": {}, "ingress": netpol.get("ingress") or [], "egress": netpol.get("egress") or []}}
    for path, context in security_contexts(values):
        snippets[path] = pod({"containers": [container(securityContext=context)]})
    for name, file in (hub.get("extraFiles") or {}).items():  # the catalog's scheduling rules become pods' fields
        for it in ((file.get("data") or {}).get("catalog") or {}).get("instance_types") or []:
            snippets[f"hub.extraFiles.{name} instance type {it['name']}"] = pod({
                "containers": [container()], "nodeSelector": it.get("node_selector") or {},
                "tolerations": it.get("tolerations") or []})
    return snippets


def security_contexts(node, path=()):
    """Every ``containerSecurityContext`` of the values file, with its path."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "containerSecurityContext":
                yield ".".join([*path, key]), value
            else:
                yield from security_contexts(value, (*path, key))


@pytest.mark.parametrize("version", VERSIONS)
def test_the_values_files_kubernetes_parts_are_valid(version):
    snippets = values_snippets(VALUES)
    assert len([p for p in snippets if p.endswith("containerSecurityContext")]) == 7
    errors = {path: invalid(body, version) for path, body in snippets.items()}
    assert {path: error for path, error in errors.items() if error} == {}
    # the runner's config inside its container's environment is JSON the runner reads
    [runner] = VALUES["hub"]["extraContainers"]
    assert json.loads(next(e["value"] for e in runner["env"] if e["name"] == "HUBFRONT_RUNNER_CONFIG"))
    broken = copy.deepcopy(VALUES)
    broken["hub"]["extraContainers"][0]["securityContext"]["runAsNonroot"] = True  # a misspelt field
    assert "runAsNonroot" in invalid(values_snippets(broken)["hub.extraContainers, hub.extraVolumes"], version)
