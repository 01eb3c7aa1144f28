"""KubeSpawner pods (production): the group's plan becomes the pod's resources.

KubeSpawner applies ``profile_list`` overrides inside ``_start`` (through
``load_user_options``), i.e. *after* the mixin has admitted the launch and
applied the plan. So the plan is applied again once KubeSpawner is done with
profiles: an operator's profile may add volumes or labels, but it can never
give a pod more than the instance type that was counted in the ledger.
"""

from __future__ import annotations

import asyncio
import copy

from kubespawner import KubeSpawner
from traitlets import Unicode, default

from hub_ext.resource_groups import Placement
from hub_ext.kube import GROUP_LABEL, LOCKED_DOWN, RESTRICTED_POD, USER_LABEL, label_value

from .mixin import GroupPolicy
from .plan import LaunchPlan

HOST_NAMESPACES = ("hostNetwork", "hostPID", "hostIPC")  # never from a profile's extra_pod_config


def merged_tolerations(configured, extra: list[dict]):
    """Add the instance type's tolerations to configured ones, keeping their shape (list or dict)."""
    if isinstance(configured, dict):
        merged = dict(configured)
        present = list(merged.values())
        for index, toleration in enumerate(extra):
            if toleration not in present:
                merged[f"hubfront-{index}"] = toleration
        return merged
    merged = list(configured or [])
    merged.extend(t for t in extra if t not in merged)
    return merged


class KubeGroupSpawner(GroupPolicy, KubeSpawner):
    """KubeSpawner that runs each notebook inside its group's policy and quota."""

    gpu_resource_name = Unicode(
        "nvidia.com/gpu",
        help="""Extended resource that requests GPUs for a pod: the instance
        type's gpu count is set as this resource's limit. Change it for other
        device plugins (for example ``amd.com/gpu``).""",
    ).tag(config=True)

    @default("uid")
    def _uid_default(self):
        return 1000  # jovyan in the Jupyter Docker Stacks images

    @default("gid")
    def _gid_default(self):
        return 100

    @default("fs_gid")
    def _fs_gid_default(self):
        return 100  # volumes (the home, later the group's storage) writable by the notebook user

    async def prepare_environment(self, plan: LaunchPlan) -> None:
        if not plan.container_image:
            raise self._refuse(
                f"Image {plan.image.title!r} has no container image for Kubernetes", 400
            )

    _pod_storage = None  # the group's claim, datasets and folders (hub_ext.storage.kube), set before the pod

    async def prepare_workload(self, plan: LaunchPlan) -> None:
        """Create the group's claim before its first pod; work out what the pod mounts."""
        from hub_ext.keys import hub_key
        from hub_ext.datasets.picks import pins_of
        from hub_ext.storage.kube import KubeStorage
        from hub_ext.storage.mounts import MountError, MountSource

        data_dir = self.hubfront.data_dir
        key = hub_key(data_dir, self.authenticator)
        storage = KubeStorage(config=self.config, log=self.log)
        try:
            mounts = await asyncio.to_thread(MountSource(self.hubfront.db_url, data_dir, key=key).mounts,
                                             self.user.name, plan.group, pins_of(plan.datasets) or None, False)
            self._pod_storage = await storage.prepare(self.api, mounts, self.namespace)
        except MountError as exc:
            raise self._refuse(f"The notebook's storage could not be mounted: {exc}", 503, reason="storage") from None
        self.apply_plan(plan, self.devices)

    def _apply_storage(self) -> None:
        from hub_ext.storage.kube import merged

        storage = self._pod_storage
        if storage is not None:
            self.volumes = merged(self.volumes, storage.volumes, "name")
            self.volume_mounts = merged(self.volume_mounts, storage.volume_mounts, "mountPath")

    def apply_plan(self, plan: LaunchPlan, devices: list[int]) -> None:
        super().apply_plan(plan, devices)
        self._apply_storage()
        it = plan.instance_type
        self.image = plan.container_image or self.image
        limits = {k: v for k, v in self.extra_resource_limits.items() if k != self.gpu_resource_name}
        if it.gpu:
            limits[self.gpu_resource_name] = str(it.gpu)
        self.extra_resource_limits = limits
        # an extended resource's request defaults to its limit; a stale one could only conflict
        self.extra_resource_guarantees = {
            k: v for k, v in self.extra_resource_guarantees.items() if k != self.gpu_resource_name
        }
        placed = Placement.of(it, plan.resource_group)  # the resource group's nodes, over the instance type's
        self.node_selector = {**self.node_selector, **placed.node_selector}
        self.tolerations = merged_tolerations(self.tolerations, list(placed.tolerations))
        self._lock_down()
        self.extra_labels = {
            **self.extra_labels,
            USER_LABEL: label_value(self.user.name),
            GROUP_LABEL: label_value(plan.group),
        }

    def _lock_down(self) -> None:
        """The "restricted" Pod Security Standard (``hub_ext.kube``) over whatever a profile set: never
        root, no privilege, no capability, the runtime's seccomp profile, no host namespace."""
        self.privileged = False
        if self.uid == 0:
            self.uid = 1000
        self.allow_privilege_escalation = False
        # fresh copies: KubeSpawner's profile overrides update dict traits in place
        if not callable(self.container_security_context):
            csc = {**(self.container_security_context or {}), **copy.deepcopy(LOCKED_DOWN)}
            if csc.get("runAsUser") == 0:  # the container's context wins over uid
                del csc["runAsUser"]
            self.container_security_context = csc
        if not callable(self.pod_security_context):
            psc = {**(self.pod_security_context or {}), **copy.deepcopy(RESTRICTED_POD)}
            if psc.get("runAsUser") == 0:
                del psc["runAsUser"]
            self.pod_security_context = psc
        self.extra_pod_config = {k: v for k, v in self.extra_pod_config.items() if k not in HOST_NAMESPACES}

    async def load_user_options(self):
        """Let KubeSpawner apply profile overrides, then put the admitted plan back on top."""
        await super().load_user_options()
        if self.plan is not None:
            self.apply_plan(self.plan, self.devices)

    def get_env(self):
        env = super().get_env()
        if self._pod_storage is not None:
            env.update(self._pod_storage.env)
        if self.plan is not None:
            if self.plan.instance_type.gpu:
                env.pop("NVIDIA_VISIBLE_DEVICES", None)  # the device plugin sets the granted devices
            else:
                # CUDA images default to "all": without this a pod sees every GPU of its node
                env["NVIDIA_VISIBLE_DEVICES"] = "none"
        return env
