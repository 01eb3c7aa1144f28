"""Each group's NetworkPolicy on Kubernetes: a workload reaches no other tenant's server except
through the hub's forwarder.

One ``networking.k8s.io/v1`` NetworkPolicy per group and namespace, named ``<name_prefix><group>``
(a DNS label), selects every pod of the group that runs its members' code by the
``hubfront.io/group`` label they all carry: notebook pods (``spawner.kube``), Jobs, deployment and
app replicas, and image builds (a build runs the packages' install scripts). It allows:

- ingress only from the hub pod, which holds the runner (``hub.extraContainers`` in the values
  file), and the proxy pod;
- egress to the hub's API port (8081), the proxy's public port (8000), DNS (53, UDP and TCP, to
  kube-dns in kube-system), anything in ``extra_egress``, and every other IPv4 address outside
  ``blocked_cidrs`` (the cluster's pod and Service ranges; by default the private ranges, as the
  chart's ``nonPrivateIPs`` rule) and outside the cloud metadata address 169.254.169.254.

Policies only ever add what they allow, and a pod that some policy selects accepts nothing else,
so a pod of another group (or any pod but the hub and the proxy) is refused at the receiving pod,
and a workload cannot open a connection to a pod or Service address on its side either.

The runner applies the policy (:meth:`KubeNetwork.apply`) before it creates a group's Job,
Deployment or build the first time after it starts: created, or replaced when it differs from
what this module makes, so a changed setting reaches existing groups. A refusal (no RBAC for
networkpolicies) fails the workload: nothing runs unconfined. Notebook pods are selected too;
before the runner has made a group's policy, the chart's ``singleuser`` policy
(``singleuser.networkPolicy`` in the values file) gives them the same rules. Policies of deleted
groups are kept (they select nothing).
"""

from __future__ import annotations

import copy
import ipaddress

from kubernetes_asyncio.client.exceptions import ApiException
from traitlets import Bool, Dict, Int, List, TraitError, Unicode, validate
from traitlets.config import LoggingConfigurable

from hub_ext.storage.kube import dns_label
from hub_ext.kube import GROUP_LABEL, api_message, label_value, plain

from .base import ExecutorError

CLOUD_METADATA = "169.254.169.254/32"
PRIVATE_RANGES = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"]
NAMESPACE_NAME = "kubernetes.io/metadata.name"  # the label every namespace carries (Kubernetes 1.21+)


class KubeNetwork(LoggingConfigurable):
    """Makes and applies the groups' NetworkPolicies (``c.KubeNetwork``, read by the runner)."""

    enabled = Bool(
        True,
        help="""Apply a NetworkPolicy per group before its workloads start. Off only when the
        cluster's own policies already confine Hubfront's pods: without a policy, any pod of the
        cluster reaches every workload's server.""",
    ).tag(config=True)

    name_prefix = Unicode("hubfront-group-", help="Prefix of the policies' names (then the group).").tag(config=True)

    hub_selector = Dict(
        {"app": "jupyterhub", "component": "hub"},
        help="Labels of the hub pod, which holds the runner (Zero to JupyterHub's).",
    ).tag(config=True)

    proxy_selector = Dict(
        {"app": "jupyterhub", "component": "proxy"},
        help="Labels of the proxy pod (Zero to JupyterHub's).",
    ).tag(config=True)

    hub_namespace = Unicode(
        "",
        help="""Namespace of the hub and proxy pods when the workloads run in another one
        (``KubernetesExecutor.namespace``); empty: the same.""",
    ).tag(config=True)

    hub_port = Int(8081, help="The hub pod's API port, which workloads may reach.").tag(config=True)
    proxy_port = Int(
        8000, help="The proxy pod's public port (behind ``proxy-public``), which workloads may reach.",
    ).tag(config=True)

    dns_namespace = Unicode("kube-system", help="Namespace of the cluster's DNS pods.").tag(config=True)
    dns_selector = Dict({"k8s-app": "kube-dns"}, help="Labels of the cluster's DNS pods.").tag(config=True)

    blocked_cidrs = List(
        Unicode(),
        list(PRIVATE_RANGES),
        help="""IPv4 ranges workloads may not reach (besides the cloud metadata address, always
        blocked): at least the cluster's pod and Service CIDRs. The default, the private ranges,
        holds them on most clusters and also keeps the nodes and the private network out of reach;
        list only your cluster's ranges to let workloads reach other private addresses.""",
    ).tag(config=True)

    extra_egress = List(
        Dict(),
        help="""More egress rules (NetworkPolicyEgressRule, Kubernetes JSON) for every group, for
        example an in-cluster registry that image builds push to, or a package mirror or proxy on
        a private address.""",
    ).tag(config=True)

    @validate("blocked_cidrs")
    def _valid_cidrs(self, proposal):
        out = []
        for text in proposal["value"]:
            try:
                network = ipaddress.ip_network(text, strict=False)
            except ValueError:
                raise TraitError(f"KubeNetwork.blocked_cidrs: {text!r} is not a CIDR") from None
            if network.version != 4 or network.prefixlen == 0:
                raise TraitError(f"KubeNetwork.blocked_cidrs: {text!r} must be an IPv4 range narrower than 0.0.0.0/0")
            out.append(str(network))
        return out

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._applied: set[tuple[str, str]] = set()  # (namespace, name) checked since the runner started

    # --- the policy ---------------------------------------------------------------

    def policy_name(self, group: str) -> str:
        return dns_label(group, self.name_prefix)

    def _peer(self, labels: dict, namespace: str) -> dict:
        peer = {"podSelector": {"matchLabels": dict(labels)}}
        if namespace:
            peer["namespaceSelector"] = {"matchLabels": {NAMESPACE_NAME: namespace}}
        return peer

    def policy(self, namespace: str, group: str) -> dict:
        """The group's NetworkPolicy in ``namespace`` (Kubernetes JSON)."""
        hub = self._peer(self.hub_selector, self.hub_namespace)
        proxy = self._peer(self.proxy_selector, self.hub_namespace)
        dns = self._peer(self.dns_selector, self.dns_namespace)
        egress = [
            {"to": [copy.deepcopy(hub)], "ports": [{"protocol": "TCP", "port": self.hub_port}]},
            {"to": [copy.deepcopy(proxy)], "ports": [{"protocol": "TCP", "port": self.proxy_port}]},
            {"to": [dns], "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]},
            {"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": [*self.blocked_cidrs, CLOUD_METADATA]}}]},
            *copy.deepcopy(self.extra_egress),
        ]
        return {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {
                "name": self.policy_name(group),
                "namespace": namespace,
                "labels": {"app.kubernetes.io/managed-by": "hubfront", GROUP_LABEL: label_value(group)},
                "annotations": {"hubfront.io/group-name": group},
            },
            "spec": {
                "podSelector": {"matchLabels": {GROUP_LABEL: label_value(group)}},
                "policyTypes": ["Ingress", "Egress"],
                "ingress": [{"from": [hub, proxy]}],  # every port: notebooks, replicas, apps
                "egress": egress,
            },
        }

    # --- applying it --------------------------------------------------------------

    async def apply(self, api, namespace: str, group: str) -> None:
        """Create the group's policy in ``namespace``, or replace it when it differs; once per runner start.

        ``api``: a kubernetes_asyncio ``NetworkingV1Api`` (needs get, create and update on
        networkpolicies). Raises :class:`ExecutorError` when Kubernetes refuses.
        """
        if not self.enabled:
            return
        body = self.policy(namespace, group)
        name = body["metadata"]["name"]
        if (namespace, name) in self._applied:
            return
        try:
            try:
                current = plain(await api.read_namespaced_network_policy(name=name, namespace=namespace))
            except ApiException as exc:
                if exc.status != 404:
                    raise
                current = None
            if current is None:
                try:
                    await api.create_namespaced_network_policy(namespace=namespace, body=body)
                    self.log.info("NetworkPolicy %s/%s created for group %s", namespace, name, group)
                except ApiException as exc:
                    if exc.status != 409:  # 409: made meanwhile (another runner): replace it below
                        raise
                    current = {}
            if current is not None and not _same(current, body):
                await api.replace_namespaced_network_policy(name=name, namespace=namespace, body=body)
                self.log.info("NetworkPolicy %s/%s replaced for group %s", namespace, name, group)
        except ApiException as exc:
            raise ExecutorError(f"Kubernetes refused the group's NetworkPolicy {name}: {api_message(exc)}") from None
        self._applied.add((namespace, name))


def _same(current: dict, body: dict) -> bool:
    """Whether the policy read back is the one :meth:`KubeNetwork.policy` makes (spec and labels)."""
    labels = (current.get("metadata") or {}).get("labels") or {}
    return current.get("spec") == body["spec"] and all(
        labels.get(key) == value for key, value in body["metadata"]["labels"].items()
    )
