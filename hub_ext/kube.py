"""What every Kubernetes object Hubfront makes shares: its labels, the locked-down security context,
and how an API answer reads (pods of notebooks, Jobs, Deployments, build Jobs, NetworkPolicies).

The spawner, the executors and the storage code all import these from here, so a
label or the security context is defined once and no lower layer reaches up to
the spawner for it.
"""

from __future__ import annotations

import copy
import json
import os
from datetime import datetime

from kubespawner.slugs import is_valid_label, safe_slug

# What the embedded default's isolation module does for local processes (own
# account, no privileges), the pod's securityContext does on Kubernetes: the
# "restricted" Pod Security Standard, so the pods are admitted in a namespace
# labelled pod-security.kubernetes.io/enforce: restricted. It is applied with the
# plan, so no profile override can loosen it. Image builds are the one exception
# (hub_ext.services.executors.kube_builds: their own namespace, "baseline").
RUNTIME_DEFAULT = {"type": "RuntimeDefault"}  # the container runtime's seccomp profile
# every container's securityContext (notebooks, jobs, replicas, apps)
LOCKED_DOWN = {"runAsNonRoot": True, "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
               "seccompProfile": RUNTIME_DEFAULT}
# every such pod's securityContext
RESTRICTED_POD = {"runAsNonRoot": True, "seccompProfile": RUNTIME_DEFAULT}
USER_LABEL = "hubfront.io/user"
GROUP_LABEL = "hubfront.io/group"


def security_contexts(uid: int, gid: int, fs_gid: int) -> tuple[dict, dict]:
    """The pod's and its container's ``securityContext`` for a workload running as ``uid``:``gid``
    with volumes writable by ``fs_gid``; the shape KubeSpawner gives notebook pods (the uid in
    the container's context, ``fsGroup`` in the pod's). A uid of 0 is refused."""
    if uid == 0:
        raise ValueError("a workload's uid must not be 0 (root)")
    pod = {"fsGroup": fs_gid, **copy.deepcopy(RESTRICTED_POD)}
    container = {"runAsUser": uid, "runAsGroup": gid, **copy.deepcopy(LOCKED_DOWN)}
    return pod, container


def label_value(text: str) -> str:
    """A valid Kubernetes label value for ``text`` (kept as is when already valid)."""
    return safe_slug(text, is_valid=is_valid_label, max_length=63)


def plain(obj):
    """A kubernetes_asyncio model (or a dict of them) as Kubernetes JSON: camelCase keys, no Nones."""
    if obj is None or isinstance(obj, (str, int, float, bool, datetime)):
        return obj
    if isinstance(obj, (list, tuple)):
        return [plain(item) for item in obj]
    if isinstance(obj, dict):
        return {key: plain(value) for key, value in obj.items() if value is not None}
    if hasattr(obj, "openapi_types") and hasattr(obj, "attribute_map"):
        return {
            obj.attribute_map[attr]: plain(getattr(obj, attr))
            for attr in obj.openapi_types
            if getattr(obj, attr) is not None
        }
    raise TypeError(f"cannot read {type(obj).__name__} as Kubernetes JSON")


def api_message(exc) -> str:
    """What Kubernetes said when it refused (a kubernetes_asyncio ``ApiException``), in its own words."""
    try:
        return json.loads(exc.body).get("message") or exc.reason
    except (TypeError, ValueError, AttributeError):
        return str(exc.reason or exc.status)


SERVICE_ACCOUNT_NAMESPACE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"


def own_namespace() -> str:
    """The namespace this process runs in on Kubernetes: ``$POD_NAMESPACE``, then its service account's,
    else ``default``."""
    if os.environ.get("POD_NAMESPACE"):
        return os.environ["POD_NAMESPACE"]
    try:
        with open(SERVICE_ACCOUNT_NAMESPACE) as f:
            return f.read().strip() or "default"
    except OSError:
        return "default"


async def cluster_configuration():
    """The Kubernetes client's configuration of this process: its pod's service account, else the kubeconfig
    (a hub run outside the cluster). Raises kubernetes_asyncio's ``ConfigException`` when there is neither."""
    from kubernetes_asyncio import client, config

    configuration = client.Configuration()
    try:
        config.load_incluster_config(client_configuration=configuration)
    except config.ConfigException:
        await config.load_kube_config(client_configuration=configuration, persist_config=False)
    return configuration
