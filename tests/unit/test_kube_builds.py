"""Image builds on Kubernetes: the build Job (kaniko by default, buildah selectable), its generated
Dockerfile, registry credentials from a Secret, and the API calls (a recorded fake, as for jobs)."""

import shlex

import pytest
from traitlets.config import Config

from test_kubernetes_executor import RecordedApi, api_error, job_model

from hub_ext.images.settings import ImageBuilds
from hub_ext.services.executors.base import ExecutorError, Handle
from hub_ext.services.executors.kube_builds import KubernetesBuilds, dockerfile
from hub_ext.services.executors.kubernetes import KubernetesExecutor
from hub_ext.store.models_images import ImageBuild

REF = "registry.example.org/hub/research-cows:0123456789ab"
SOURCE = "quay.io/jupyter/scipy-notebook:2024-05-27"
PACKAGES = {"pip": ["cowsay==6.1", "numpy>=1.2,<3"], "apt": ["curl"], "conda": ["conda-forge::pandas>=2"]}


def builds(api=None, **settings):
    config = Config({"ImageBuilds": {"namespace": "builds", **settings}})
    jobs = KubernetesExecutor(batch_api=api, core_api=api, namespace="jobs")
    return KubernetesBuilds(ImageBuilds(config=config), jobs)


def row(**values):
    data = dict(id=7, group="research", image="cows", number=3, username="Ann Lee", base="sci",
                packages='{"pip": ["cowsay==6.1"]}', ref=REF, source=SOURCE)
    data.update(values)
    return ImageBuild(**data)


def manifest(kube, **values):
    return kube.manifest(build_id=7, group="research", image="cows", username="Ann Lee", source=SOURCE,
                         packages=PACKAGES, ref=REF, **values)


def test_the_dockerfile_installs_every_spec_quoted():
    text = dockerfile(SOURCE, PACKAGES, 1000)
    assert text.splitlines() == [
        f"FROM {SOURCE}",
        "USER root",
        "RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends curl "
        "&& rm -rf /var/lib/apt/lists/*",
        "USER 1000",
        "RUN conda install --yes 'conda-forge::pandas>=2' && conda clean --all --yes",
        "RUN python -m pip install --no-cache-dir cowsay==6.1 'numpy>=1.2,<3'",
    ]
    # what a shell makes of the pip line is the specs as given, one argument each
    assert shlex.split(text.splitlines()[-1].removeprefix("RUN "))[-2:] == ["cowsay==6.1", "numpy>=1.2,<3"]
    assert dockerfile(SOURCE, {"pip": ["a"]}, 1000).splitlines() == [f"FROM {SOURCE}",
                                                                     "RUN python -m pip install --no-cache-dir a"]


def test_kaniko_job_pushes_the_ref_with_the_secret_as_docker_config():
    kube = builds(push_secret="push-creds")
    job = manifest(kube)
    assert job["metadata"]["name"] == "hubfront-build-7" and job["metadata"]["namespace"] == "builds"
    assert job["metadata"]["labels"]["hubfront.io/image-build"] == "7"
    assert job["spec"]["backoffLimit"] == 0 and job["spec"]["activeDeadlineSeconds"] == 3600
    pod = job["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False and pod["restartPolicy"] == "Never"
    [container] = pod["containers"]
    assert container["name"] == "job"  # status and logs are read as for jobs
    assert container["image"].startswith("gcr.io/kaniko-project/executor:")
    script = container["command"][-1]
    assert f"--destination={REF}" in script and "--dockerfile=/workspace/Dockerfile" in script
    [env] = container["env"]
    assert env["name"] == "HUBFRONT_DOCKERFILE" and env["value"] == dockerfile(SOURCE, PACKAGES, 1000)
    assert {"name": "push-secret", "mountPath": "/kaniko/.docker", "readOnly": True} in container["volumeMounts"]
    assert {"name": "push-secret", "secret": {"secretName": "push-creds", "items": [
        {"key": ".dockerconfigjson", "path": "config.json"}]}} in pod["volumes"]
    assert container["resources"]["limits"] == {"cpu": "1", "memory": "4Gi"}


def test_buildah_is_selectable_with_its_own_image_and_auth_file():
    kube = builds(tool="buildah", push_secret="push-creds", insecure_registry=True, builder_image="my/buildah:1")
    [container] = manifest(kube)["spec"]["template"]["spec"]["containers"]
    script = container["command"][-1]
    assert container["image"] == "my/buildah:1"
    assert "buildah --storage-driver=vfs bud --isolation=chroot --tls-verify=false" in script
    assert f"buildah --storage-driver=vfs push --tls-verify=false {REF}" in script
    assert {"name": "REGISTRY_AUTH_FILE", "value": "/etc/hubfront/push/config.json"} in container["env"]
    assert ImageBuilds(config=Config({"ImageBuilds": {"tool": "buildah"}})).builder_image.startswith("quay.io/buildah")


async def test_start_creates_the_job_once_and_status_logs_cancel_are_the_jobs_executors():
    api = RecordedApi(create_namespaced_job=[None, api_error(409)], read_namespaced_job_status=job_model(),
                      list_namespaced_pod={"items": []}, delete_namespaced_job=None)
    kube = builds(api)
    handle = await kube.start(row())
    assert handle == Handle("kubernetes", "builds/hubfront-build-7")
    assert await kube.start(row()) == handle  # 409: an earlier attempt created it
    method, kwargs = api.calls[0]
    assert method == "create_namespaced_job" and kwargs["namespace"] == "builds"
    assert kwargs["body"]["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"] == \
        f"FROM {SOURCE}\nRUN python -m pip install --no-cache-dir cowsay==6.1\n"
    assert (await kube.status(handle)).phase == "Running"
    await kube.stop(handle)
    assert ("delete_namespaced_job", {"name": "hubfront-build-7", "namespace": "builds",
                                      "propagation_policy": "Background"}) in api.calls


async def test_refusals_are_told():
    kube = builds(RecordedApi(create_namespaced_job=api_error(403, "forbidden: jobs")))
    with pytest.raises(ExecutorError, match="forbidden: jobs"):
        await kube.start(row())
    with pytest.raises(ExecutorError, match="no container image"):
        await kube.start(row(source=""))


def test_builds_run_in_a_namespace_of_their_own_as_root_without_privileges():
    """kaniko and buildah run as root: "baseline", never in the "restricted" namespace of the workloads."""
    jobs = KubernetesExecutor(namespace="hubfront")
    assert KubernetesBuilds(ImageBuilds(), jobs).namespace == "hubfront-builds"  # the default
    assert manifest(KubernetesBuilds(ImageBuilds(namespace=""), jobs))["metadata"]["namespace"] == "hubfront"
    for tool in ("kaniko", "buildah"):
        pod = manifest(builds(tool=tool))["spec"]["template"]["spec"]
        [container] = pod["containers"]
        assert container["securityContext"] == {"runAsUser": 0, "runAsNonRoot": False}  # no privileged, no capability
        assert not any(key in pod for key in ("hostNetwork", "hostPID", "hostIPC"))
    assert manifest(builds())["spec"]["template"]["spec"]["securityContext"] == {
        "seccompProfile": {"type": "RuntimeDefault"}}
