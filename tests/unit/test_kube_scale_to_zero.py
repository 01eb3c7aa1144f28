"""Scale to zero on Kubernetes (issue 25): through the same executor interface as locally, the revision that
serves is applied with 0 replicas. The Deployment stays (replaced with ``replicas: 0`` and the same pod
template, so nothing rolls out) and so does its Service; woken, the same revision goes back to its replicas.
Both objects at zero are valid for the oldest and newest Kubernetes the docs support (kubernetes_validate,
strict), and a Deployment at 0 replicas reads as no replica ready, not as a failure."""

from dataclasses import replace

import pytest
from test_kube_deployments import NAME, deployment_reply, deployments, pod, spec, status_of  # noqa: F401
from test_kube_validate import VERSIONS, invalid
from test_kubernetes_executor import RecordedApi, api_error


def exists():
    return RecordedApi(create_namespaced_deployment=api_error(409, "exists"),
                       create_namespaced_service=api_error(409, "exists"))


async def test_at_zero_the_deployment_is_scaled_to_0_replicas_and_keeps_its_service():
    serving = spec(env={"MODEL": "iris"})
    api = exists()
    ex = deployments(api)
    await ex.apply(replace(serving, replicas=0, gpu_devices=()))
    methods = [c[0] for c in api.calls]
    assert "delete_namespaced_deployment" not in methods and "delete_namespaced_service" not in methods
    assert methods == ["create_namespaced_deployment", "replace_namespaced_deployment",
                       "create_namespaced_service", "patch_namespaced_service"]
    zero = api.calls[1][1]["body"]
    assert zero["spec"]["replicas"] == 0
    # the same pod template as the revision that served: scaling it rolls nothing out
    assert zero["spec"]["template"] == ex.deployment_manifest(serving)["spec"]["template"]
    assert zero["metadata"]["annotations"]["hubfront.io/revision"] == "3"

    api = exists()
    await deployments(api).apply(serving)  # woken: the same revision with its replicas
    assert api.calls[1][1]["body"]["spec"]["replicas"] == 2


@pytest.mark.parametrize("version", VERSIONS)
def test_the_objects_at_zero_are_valid(version):
    ex = deployments(RecordedApi())
    at_zero = replace(spec(), replicas=0, gpu_devices=())
    for body in (ex.deployment_manifest(at_zero), ex.service_manifest(at_zero)):
        assert invalid(body, version) is None


async def test_a_deployment_at_zero_replicas_has_no_endpoint_and_no_failure():
    reply = deployment_reply(replicas=0, updated=0, ready=0)
    reply["spec"]["replicas"] = 0
    status, _ = await status_of(reply)
    assert (status.available, status.desired, status.endpoints, status.failed) == (0, 0, (), "")
