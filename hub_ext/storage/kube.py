"""Storage in pods (Kubernetes): the group's storage, datasets and folders every notebook pod,
Job and Deployment of the group mounts.

- The hub's data dir is best a claim of its own (``data_claim``, ReadWriteMany, mounted by the
  hub and the runner at ``Hubfront.data_dir``). The group's storage is then ``groups/<group>``
  of it, mounted with a ``subPath`` at ``<home>/shared``: the very tree the hub's Shared Files
  page, uploads and share links work on. The hub makes that tree before the group's first pod
  (a ``subPath`` the kubelet makes would be root's).
- Without ``data_claim`` the group's storage is a claim of its own (``ReadWriteMany``,
  ``storage_class``, ``claim_size``), named ``<claim_prefix><group>``, created before the
  group's first pod and kept (deleting a group's files is an admin's decision); the hub does
  not reach it, so the Shared Files page and its APIs are absent
  (:func:`hub_reaches_group_storage`).
- Datasets and users' folders live in the hub's data dir, so they are mounted only with
  ``data_claim``: each dataset with a ``subPath`` at ``/datasets/<name>``, ``readOnly`` unless
  the group was granted read-write (pins mount the version, always read-only); the user's
  folders at ``<home>/my-folders/<folder>`` and accepted folders at
  ``<home>/shared-with-me/<owner>/<folder>``, ``readOnly`` for read-only invitations. Pods
  all run as one uid, so inside a pod ``rw`` and ``rwd`` both mean a writable mount.
- Env datasets become variables, as locally, with ``HUBFRONT_SHARED`` and ``HUBFRONT_DATASETS``.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from dataclasses import dataclass, field

from traitlets import Unicode
from traitlets.config import LoggingConfigurable

from ..mode import kubernetes
from .mounts import MountError, Mounts
from .tree import ensure_group_root

SHARED_VOLUME = "hubfront-shared"
DATA_VOLUME = "hubfront-data"


def dns_label(text: str, prefix: str = "") -> str:
    """``prefix + text`` as a DNS label (kept when already one, else slugged with a hash)."""
    name = prefix + text
    if re.fullmatch(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?", name):
        return name
    slug = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")[:52].rstrip("-")
    return f"{slug}-{hashlib.sha256(text.encode()).hexdigest()[:10]}".lstrip("-")


@dataclass(frozen=True)
class PodStorage:
    """What one pod mounts: ``volumes`` of the pod spec, ``volume_mounts`` of its container, ``env``."""

    claim: str
    volumes: list[dict] = field(default_factory=list)
    volume_mounts: list[dict] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)


class KubeStorage(LoggingConfigurable):
    storage_class = Unicode(
        "", help="storageClassName of the groups' own claims (without data_claim) (one that offers ReadWriteMany, e.g. NFS or CephFS); "
                 "empty: the cluster's default class.",
    ).tag(config=True)
    claim_size = Unicode("10Gi", help="Size requested for each group's claim.").tag(config=True)
    claim_prefix = Unicode("hubfront-group-", help="Prefix of the groups' claim names (then the group).").tag(config=True)
    data_claim = Unicode(
        "",
        help="""Claim (ReadWriteMany) holding the hub's data dir (mounted by the hub and the
        runner at Hubfront.data_dir). The groups' storage is then groups/<group> of it, and
        datasets and users' folders come from it too, each mounted with subPath: the hub serves
        the same files the pods see. Empty: each group gets a claim of its own (storage_class,
        claim_size, claim_prefix) that the hub cannot reach, so the Shared Files page, its APIs
        and share links are absent, and pods get no dataset or folder mounts (env datasets
        still become variables).""",
    ).tag(config=True)
    home = Unicode("/home/jovyan", help="The home directory in the images: the group's storage is mounted at "
                                        "<home>/shared, folders under <home>/my-folders and <home>/shared-with-me."
                   ).tag(config=True)
    datasets_path = Unicode("/datasets", help="Where datasets are mounted in pods (<datasets_path>/<name>).").tag(config=True)

    def claim_name(self, group: str) -> str:
        return dns_label(group, self.claim_prefix)

    def claim_manifest(self, group: str, namespace: str) -> dict:
        spec = {"accessModes": ["ReadWriteMany"], "resources": {"requests": {"storage": self.claim_size}}}
        if self.storage_class:
            spec["storageClassName"] = self.storage_class
        from hub_ext.kube import GROUP_LABEL, label_value

        return {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                "metadata": {"name": self.claim_name(group), "namespace": namespace,
                             "labels": {"app.kubernetes.io/managed-by": "hubfront", GROUP_LABEL: label_value(group)},
                             "annotations": {"hubfront.io/group-name": group}},
                "spec": spec}

    async def prepare(self, core_api, mounts: Mounts, namespace: str) -> PodStorage:
        """Before a pod of ``mounts.group``: its storage made (the group's tree in the data claim, else
        the group's claim), then what the pod mounts. MountError when that fails."""
        if self.data_claim:
            try:
                await asyncio.to_thread(ensure_group_root, mounts.data_dir, mounts.group, None)
            except (OSError, ValueError) as exc:
                raise MountError(f"The group's storage could not be prepared: {exc}") from None
        else:
            await self.ensure_claim(core_api, mounts.group, namespace)
        return self.pod_storage(mounts)

    async def ensure_claim(self, core_api, group: str, namespace: str) -> str:
        """Create the group's claim unless it exists (409); its name. MountError when refused.
        With ``data_claim`` nothing is created: the group's storage is in that claim."""
        if self.data_claim:
            return self.data_claim
        from kubernetes_asyncio.client.exceptions import ApiException

        body = self.claim_manifest(group, namespace)
        try:
            await core_api.create_namespaced_persistent_volume_claim(namespace=namespace, body=body)
        except ApiException as exc:
            if exc.status != 409:
                raise MountError(f"Kubernetes refused the group's storage claim: {exc.reason or exc.status}") from None
        return body["metadata"]["name"]

    def pod_storage(self, mounts: Mounts) -> PodStorage:
        """The volumes and mounts of a pod of ``mounts.group`` (paths in the data claim are ``subPath``s)."""
        home = self.home.rstrip("/")
        shared = f"{home}/shared"
        env = {**mounts.env, "HUBFRONT_SHARED": shared, "HUBFRONT_DATASETS": self.datasets_path}
        if not self.data_claim:
            claim = self.claim_name(mounts.group)
            return PodStorage(claim, [{"name": SHARED_VOLUME, "persistentVolumeClaim": {"claimName": claim}}],
                              [{"name": SHARED_VOLUME, "mountPath": shared}], env)
        volumes = [{"name": DATA_VOLUME, "persistentVolumeClaim": {"claimName": self.data_claim}}]
        volume_mounts = [{"name": DATA_VOLUME, "mountPath": shared,
                          "subPath": str(mounts.shared.relative_to(mounts.data_dir))}]
        data_mounts = [(f"{self.datasets_path.rstrip('/')}/{d.name}", d.path, not d.writable)
                       for d in mounts.datasets if d.path is not None]
        data_mounts += [(f"{home}/my-folders/{f.folder}", f.path, False) for f in mounts.my_folders]
        data_mounts += [(f"{home}/shared-with-me/{f.owner}/{f.folder}", f.path, f.permission == "ro")
                        for f in mounts.shared_with_me]
        for path, source, read_only in data_mounts:
            volume_mounts.append({"name": DATA_VOLUME, "mountPath": path,
                                  "subPath": str(source.relative_to(mounts.data_dir)), "readOnly": read_only})
        return PodStorage(self.data_claim, volumes, volume_mounts, env)


def merged(existing, ours: list[dict], key: str):
    """``ours`` put into a KubeSpawner list-or-dict trait, replacing entries with the same ``key``."""
    names = {item[key] for item in ours}
    if isinstance(existing, dict):
        return {**{k: v for k, v in existing.items() if v.get(key) not in names}, **{i[key]: i for i in ours}}
    return [item for item in (existing or []) if item.get(key) not in names] + list(ours)


# -- whether the hub's trees are the workloads' ------------------------------------------

UNREACHABLE = "Group storage is not reachable from the hub on this deployment: set KubeStorage.data_claim"


def hub_reaches_group_storage(config) -> bool:
    """Whether ``<data>/groups/<group>`` on the hub is the storage the group's workloads mount.

    Local workloads link to it, so it is. Kubernetes pods (a KubeSpawner-based
    ``JupyterHub.spawner_class``) mount ``groups/<group>`` of ``KubeStorage.data_claim``, the claim
    holding the hub's data dir, when it is set; without it each group has a claim of its own that
    the hub never sees, and what reads or writes the hub's trees (the Shared Files page, the files
    and uploads APIs, share links) must be absent rather than show files no workload sees.
    """
    if not kubernetes(config):
        return True
    return bool(KubeStorage(config=config).data_claim)
