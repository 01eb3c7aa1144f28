"""The SSH gateway on Kubernetes as shipped: the hub starts it in its pod (values.yaml), the hub's NetworkPolicy
lets its port in from anywhere and nothing else more, and ``config/kubernetes/ssh-service.yaml``'s LoadBalancer
(or its NodePort alternative, as docs/kubernetes.md gives it) sends the public port to that port of the hub's
pod, keeping the client's address. Each object is validated strictly against the Kubernetes schemas."""

from __future__ import annotations

import copy

import kubernetes_validate
import pytest
import yaml
from kube_objects import CONFIG_DIR
from test_kube_spawner import chart_config
from test_network_policy import CHART_HUB_INGRESS, HUB, INGRESS_CONTROLLER, POSTGRES, PROXY, PUBLIC, allowed, hub_policy
from traitlets.config import Config

from hub_ext import mode
from hub_ext.configure import SSH_SERVICE
from hub_ext.ssh.landings import PodLandings, landings_for
from support import REPO

VALUES = yaml.safe_load((CONFIG_DIR / "values.yaml").read_text())
[SERVICE] = [d for d in yaml.safe_load_all((CONFIG_DIR / "ssh-service.yaml").read_text()) if d]
GATEWAY = VALUES["hub"]["config"]["SSHGateway"]
VERSIONS = ["1.29.0", kubernetes_validate.latest_version()]


def nodeport_variant() -> dict:
    """The NodePort alternative, as the manifest's comment and docs/kubernetes.md give it."""
    service = copy.deepcopy(SERVICE)
    service["spec"]["type"] = "NodePort"
    service["spec"]["ports"][0]["nodePort"] = 30022
    return service


@pytest.mark.parametrize("version", VERSIONS)
def test_the_service_and_its_nodeport_variant_are_valid(version):
    for service in (SERVICE, nodeport_variant()):
        kubernetes_validate.validate(service, version, strict=True)
    broken = copy.deepcopy(SERVICE)
    broken["spec"]["ports"][0]["target_port"] = broken["spec"]["ports"][0].pop("targetPort")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, version, strict=True)


def test_the_service_sends_the_public_port_to_the_gateway_in_the_hubs_pod():
    spec = SERVICE["spec"]
    assert spec["type"] == "LoadBalancer"
    assert spec["externalTrafficPolicy"] == "Local"  # the throttle and the activities see the client's address
    assert spec["selector"].items() <= HUB.labels.items()  # the chart's labels of the hub's pod
    assert spec["selector"]["component"] == "hub" and not spec["selector"].items() <= PROXY.labels.items()
    [port] = spec["ports"]
    assert port["targetPort"] == GATEWAY["port"] == 8022 and port["port"] == GATEWAY["public_port"]
    assert SERVICE["metadata"]["namespace"] == "hubfront"


def test_the_hubs_policy_lets_the_gateways_port_in_from_anywhere_and_no_other_port_more():
    policies = [hub_policy()]
    for source in (PUBLIC, PROXY, POSTGRES, INGRESS_CONTROLLER):
        assert allowed(policies, HUB, source, GATEWAY["port"], "TCP", "Ingress"), source
    assert not allowed(policies, HUB, PUBLIC, 8081, "TCP", "Ingress")  # the hub's API stays the chart's
    assert not allowed(policies, HUB, PUBLIC, 10101, "TCP", "Ingress")
    [rule] = [r for r in VALUES["hub"]["networkPolicy"]["ingress"] if not r.get("from")]
    assert rule["ports"] == [{"port": GATEWAY["port"], "protocol": "TCP"}] and rule is not CHART_HUB_INGRESS


def test_the_hub_starts_the_gateway_in_its_pod_and_its_sessions_land_in_pods(tmp_path, monkeypatch):
    for name, value in VALUES["hub"]["extraEnv"].items():
        monkeypatch.setenv(name, value if isinstance(value, str) else f"<{name}>")
    c = chart_config(VALUES)
    assert SSH_SERVICE in {s["name"] for s in c.JupyterHub.services if "command" in s}  # managed: in the hub's pod
    assert SSH_SERVICE in {r["name"] for r in c.JupyterHub.load_roles}
    assert (c.SSHGateway.public_host, c.SSHGateway.public_port) == (GATEWAY["public_host"], GATEWAY["public_port"])
    assert mode.kubernetes(c)  # hand_over_config then sets c.KubeSSH.enabled for the gateway
    assert isinstance(landings_for(object(), Config({"KubeSSH": {"enabled": True}})), PodLandings)


def test_the_docs_give_the_service_the_nodeport_and_the_images_sftp_server():
    docs = (REPO / "docs/kubernetes.md").read_text()
    for words in ("config/kubernetes/ssh-service.yaml", "type: NodePort", "nodePort: 30022", "openssh-sftp-server",
                  "pods/exec", "pods/portforward", "externalTrafficPolicy: Local", "public_host"):
        assert words in docs, words
