"""An app on Kubernetes: the Deployment and Service the apps' executor instance builds from a template
(names apart from deployments', the template's image and words, the group's storage paths, the
instance type's limits). No cluster: the manifests only, as for deployments."""

from __future__ import annotations

import shlex

from traitlets.config import Config

from hub_ext.apps.records import AppStore
from hub_ext.apps.templates import BUILTIN, Apps, AppTemplate
from hub_ext.images.environments import EnvironmentBuilder
from hub_ext.policy import Catalog
from hub_ext.services.apps import AppRunner
from hub_ext.services.executors.kube_deployments import KubernetesDeployments
from hub_ext.services.executors.kubernetes import KubernetesExecutor
from hub_ext.store.models_apps import App
from hub_ext.services.executors.health_checks import MARK as HEALTH_MARK

GiB = 2**30


def runner(catalog=None) -> AppRunner:
    return AppRunner(store=AppStore("sqlite://", b""), executor=None, ledger=None, templates=lambda n: None,
                     data_dir="/srv/hub", catalog=catalog, builder=None, pod_shared="/home/jovyan/shared")


def local_runner(tmp_path) -> AppRunner:
    """The same runner as processes here (an environment builder: the embedded mode)."""
    return AppRunner(store=AppStore("sqlite://", b""), executor=None, ledger=None, templates=lambda n: None,
                     data_dir="/srv/hub", builder=EnvironmentBuilder(tmp_path))


def row(**kw) -> App:
    values = dict(id=7, group="research", name="tracking", template="mlflow", username="alice",
                  instance_type="cpu-2", cpu=2.0, memory=4 * GiB, gpu=0, env_encrypted="", revision=3)
    values.update(kw)
    return App(**values)


def test_an_mlflow_app_becomes_a_deployment_and_service_named_apart_from_deployments():
    catalog = Catalog.model_validate({"instance_types": [{"name": "cpu-2", "cpu": 2, "memory": "4Gi",
                                                          "node_selector": {"pool": "apps"}}], "images": []})
    template = AppTemplate.model_validate(BUILTIN["mlflow"])
    spec = runner(catalog)._spec(row(), template, 3, "", "")
    assert spec.deployment_id == "tracking-7" and spec.service_account and spec.replicas == 1
    words = shlex.split(spec.command)
    assert words[:2] == ["/bin/sh", "-c"] and len(words) == 3
    script = words[2]
    # served at its own origin's root: no path prefix (a group name that needs URL-encoding cannot break it)
    assert "--static-prefix" not in script and "--port 8080" in script
    assert "sqlite:////home/jovyan/shared/apps/tracking/mlflow.db" in script
    assert spec.health_path == "/health" and spec.port == 8080
    assert spec.container_image == BUILTIN["mlflow"]["kubernetes"]["image"]
    jobs = KubernetesExecutor(namespace="hub")
    apps = KubernetesDeployments(jobs=jobs, namespace="hub", name_prefix=Apps().kube_name_prefix)
    deployment, service = apps.deployment_manifest(spec), apps.service_manifest(spec)
    assert deployment["metadata"]["name"] == service["metadata"]["name"] == "hubfront-app-tracking-7"
    assert KubernetesDeployments(jobs=jobs, namespace="hub").object_name("tracking-7") != "hubfront-app-tracking-7"
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["command"][-1] == spec.command and container["resources"]["limits"]["memory"] == str(4 * GiB)
    assert pod["nodeSelector"] == {"pool": "apps"} and deployment["spec"]["replicas"] == 1
    assert {e["name"]: e.get("value") for e in container["env"]}["HUBFRONT_APP"] == "tracking"


def test_code_server_in_a_pod_runs_its_own_binary_on_the_groups_storage():
    template = AppTemplate.model_validate(BUILTIN["code-server"])
    spec = runner()._spec(row(name="code", template="code-server"), template, 1, "", "")
    assert shlex.split(spec.command)[:5] == ["code-server", "--auth", "none", "--bind-addr", "0.0.0.0:8080"]
    assert spec.command.endswith("/home/jovyan/shared") and spec.health_path == "/healthz"


def test_the_name_prefix_is_an_operators_setting():
    assert Apps(config=Config({"Apps": {"kube_name_prefix": "lab-app-"}})).kube_name_prefix == "lab-app-"


ODD = "Data Science (EU)"


def test_the_apps_data_variable_is_where_the_pod_mounts_the_groups_storage(tmp_path):
    template = AppTemplate.model_validate(BUILTIN["streamlit"])
    spec = runner()._spec(row(group=ODD, name="board", template="streamlit"), template, 1, "", "")
    env = {e["name"]: e.get("value") for e in _deployment(spec)["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["HUBFRONT_APP_DATA"] == "/home/jovyan/shared/apps/board"  # not the hub's /srv/hub/groups/…
    assert "cd /home/jovyan/shared/apps/board &&" in spec.command
    # a local process: the host's path of the same folder, in the variable and the command alike
    spec = local_runner(tmp_path)._spec(row(group=ODD, name="board", template="streamlit"), template, 1, "python", "")
    assert spec.env["HUBFRONT_APP_DATA"] == "/srv/hub/groups/Data Science (EU)/apps/board"
    assert "cd '/srv/hub/groups/Data Science (EU)/apps/board' &&" in spec.command


def _deployment(spec) -> dict:
    jobs = KubernetesExecutor(namespace="hub")
    return KubernetesDeployments(jobs=jobs, namespace="hub", name_prefix="hubfront-app-").deployment_manifest(spec)


def test_every_builtins_probe_is_a_plain_path_at_its_root_whatever_the_groups_name(tmp_path):
    local = local_runner(tmp_path)
    for name in BUILTIN:
        template = AppTemplate.model_validate(BUILTIN[name])
        paths = {}
        for group in ("research", ODD):
            app = row(group=group, name="app", template=name)
            container = _deployment(runner()._spec(app, template, 1, "", ""))["spec"]["template"]["spec"]["containers"][0]
            probes = {container[p]["httpGet"]["path"] for p in ("startupProbe", "readinessProbe", "livenessProbe")}
            assert len(probes) == 1, name
            # the kubelet's checks carry the marker that keeps their lines out of the log
            paths[group] = (probes.pop().removesuffix("?" + HEALTH_MARK), local._spec(app, template, 1, "python", "").health_path)
        kube, here = paths[ODD]
        assert paths["research"] == (kube, here) and kube == here, name  # the group's name is in neither
        assert kube.startswith("/") and not any(c in kube for c in "% ()"), (name, kube)
        assert kube == {"mlflow": "/health", "streamlit": "/_stcore/health", "code-server": "/healthz",
                        "label-studio": "/health", "tensorboard": "/"}[name]
