"""The one place that reads the cluster's nodes (with the ``hubfront-nodes`` ClusterRole's ``list nodes``):
the license counts them, resource groups sum their allocatable capacity.

Nodes are read with a label selector built from a node selector, as Kubernetes' own scheduler matches
them; what Kubernetes answers comes back as plain JSON (:func:`hub_ext.kube.plain`).
"""

from __future__ import annotations

from .kube import plain


def label_selector(node_selector: dict[str, str]) -> str | None:
    """``{"pool": "gpu", "zone": "a"}`` as the label selector ``pool=gpu,zone=a`` (None: every node)."""
    return ",".join(f"{key}={value}" for key, value in sorted(node_selector.items())) or None


async def list_nodes(node_selector: dict[str, str] | None = None, *, selector: str | None = None) -> list[dict]:
    """The nodes matching ``node_selector`` (or a label ``selector``), read in the cluster's config."""
    from kubernetes_asyncio import client, config

    try:
        config.load_incluster_config()
    except config.ConfigException:
        await config.load_kube_config()
    async with client.ApiClient() as api:
        answer = await client.CoreV1Api(api).list_node(
            label_selector=selector if selector is not None else label_selector(node_selector or {}))
    return [plain(node) for node in answer.items]
