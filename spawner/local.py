"""LocalGroupSpawner: notebooks as local processes (the embedded default).

Each server runs as its owner's OS account, in its own cgroup with the
instance type's memory, CPU and process limits, with a home under the data
dir (``hub_ext.isolation`` does all of that; without root the server runs as
the hub's user, and admins are told). GPUs are handed out as free device
indices in CUDA_VISIBLE_DEVICES, and the device nodes of the others are
denied. A server whose cgroup runs out of memory is stopped as a whole and
reported as "Out of memory (limit …)".
"""

from __future__ import annotations

import asyncio
import math
import os
import sys
from pathlib import Path

from jupyterhub.spawner import LocalProcessSpawner
from traitlets import Int, List, Unicode, default

from hub_ext.keys import hub_key
from hub_ext.datasets.picks import pins_of
from hub_ext.isolation import Isolation, IsolationError
from hub_ext.storage.mounts import MountError, MountSource
from hub_ext.policy import format_memory

from hub_ext.images.environments import EnvironmentBuilder, EnvironmentBuildFailed
from .gpus import nvml_device_indices
from .mixin import WORKLOAD_KIND, GroupPolicy, group_title


class LocalGroupSpawner(GroupPolicy, LocalProcessSpawner):
    allocate_local_devices = True

    home_dir_template = Unicode(
        help="""Home directory of each user's servers; {data_dir} and {username}
        are expanded. Default: {data_dir}/homes/{username}.""",
    ).tag(config=True)

    @default("home_dir_template")
    def _home_default(self):
        return "{data_dir}/homes/{username}"

    env_dir = Unicode(help="Where image environments are built and cached. Default: <data_dir>/envs.").tag(config=True)

    @default("env_dir")
    def _env_dir_default(self):
        return str(Path(self.hubfront.data_dir) / "envs")

    gpu_devices = List(
        Int(), default_value=None, allow_none=True,
        help="""GPU device indices this machine may hand out. Default: every GPU
        NVML reports (none without an NVIDIA driver).""",
    ).tag(config=True)

    pip_args = List(
        Unicode(), help="Extra arguments for pip when building an image environment (e.g. an index URL)."
    ).tag(config=True)

    @default("cmd")
    def _cmd_default(self):
        # the hub's own interpreter, found without relying on $PATH
        return [sys.executable, "-m", "jupyterhub.singleuser"]

    @default("start_timeout")
    def _start_timeout_default(self):
        return 900  # the first launch of an image may build its environment

    @default("http_timeout")
    def _http_timeout_default(self):
        return 120

    _builders: dict[str, EnvironmentBuilder] = {}
    account = None  # the OS account the server runs as (None: the hub's own user)
    cgroup = None  # its cgroup (None: not confined)
    network = None  # its network namespace (None: the host's network)
    _memory_watch: asyncio.Task | None = None

    @property
    def isolation(self) -> Isolation:
        return Isolation.instance(config=self.config)

    @property
    def home_dir(self) -> str:
        return self.home_dir_template.format(data_dir=self.hubfront.data_dir, username=self.user.name)

    @classmethod
    def machine_gpus(cls, config) -> list[int]:
        for klass in cls.mro():
            name = klass.__name__
            if name in config and "gpu_devices" in config[name] and config[name]["gpu_devices"] is not None:
                return list(config[name]["gpu_devices"])
        return list(nvml_device_indices())

    def gpu_inventory(self) -> list[int]:
        if self.gpu_devices is not None:
            return list(self.gpu_devices)
        return list(nvml_device_indices())

    @property
    def builder(self) -> EnvironmentBuilder:
        key = self.env_dir
        if key not in self._builders:
            from hub_ext.images.settings import ImageBuilds

            self._builders[key] = EnvironmentBuilder(
                key, pip_args=self.pip_args, group_pip_args=ImageBuilds(config=self.config).group_pip_args(),
                isolation=self.isolation)
        return self._builders[key]

    # -- progress shown on the spawn-pending page (the mixin's progress()) ----

    def _report(self, line: str) -> None:
        """A line of the environment build's output: under the page's Details."""
        self.progress_step("prepare", detail=line)

    def _built(self, fraction: float, message: str) -> None:
        """How far the environment build is (``EnvironmentBuilder``'s measure) and what it does now."""
        self.progress_step("prepare", fraction, message)

    async def prepare_environment(self, plan) -> None:
        try:
            python = await self.builder.ensure(plan.image, self._report, progress=self._built)
        except EnvironmentBuildFailed as exc:
            message = f"{exc}"
            self.record("failed", "error", f"Environment of image {plan.image.name} failed to build", plan)
            raise self._refuse(message, 503, reason="environment") from None
        if not hasattr(self, "_base_cmd"):
            self._base_cmd = list(self.cmd)
        if python != self.builder.base_python:
            self.cmd = [python, "-m", "jupyterhub.singleuser"]
        else:
            self.cmd = list(self._base_cmd)
        # a built venv layers on the hub's environment, Jupyter data and config included
        self._layer_env = self.builder.layer_env() if plan.image.local.packages else {}

    # -- applying the plan ---------------------------------------------------

    def apply_plan(self, plan, devices) -> None:
        super().apply_plan(plan, devices)
        self.cpus = self._pick_cpus(plan.instance_type.cpu)

    def _pick_cpus(self, cores: float) -> list[int]:
        available = sorted(os.sched_getaffinity(0))
        wanted = max(1, math.ceil(cores))
        if wanted >= len(available):
            return available
        start = sum(self.workload_id.encode()) % len(available)
        return [available[(start + i) % len(available)] for i in range(wanted)]

    async def prepare_workload(self, plan) -> None:
        isolation, it = self.isolation, plan.instance_type
        groups, _ = self._groups()
        try:
            self.account = await asyncio.to_thread(isolation.account, self.user.name, groups, self.home_dir)
            limits = isolation.limits(memory=it.memory, cpu=it.cpu, granted_gpus=self.devices,
                                      gpu_inventory=self.gpu_inventory())
            self.cgroup = await asyncio.to_thread(isolation.create_cgroup, WORKLOAD_KIND, self.workload_id, limits)
            self.network = await asyncio.to_thread(isolation.create_network, WORKLOAD_KIND, self.workload_id)
        except (IsolationError, OSError) as exc:
            raise self._refuse(f"The notebook could not be isolated: {exc}", 503, reason="isolation") from None
        try:  # ~/shared, ~/datasets (pinned versions there too), ~/my-folders, ~/shared-with-me
            self._mount_env = await asyncio.to_thread(self.mount_source().apply, self.user.name, plan.group,
                                                      self.home_dir, self.account, pins_of(plan.datasets) or None)
        except MountError as exc:
            raise self._refuse(f"The notebook's storage could not be mounted: {exc}", 503, reason="storage") from None

    def mount_source(self) -> MountSource:
        key = hub_key(self.hubfront.data_dir, self.authenticator)
        return MountSource(self.hubfront.db_url, self.hubfront.data_dir, self.isolation, key)

    async def start(self):
        ip, port = await super().start()
        # it listens on its own loopback; the hub and the proxy reach it at its namespace's address
        return (self.network.address if self.network is not None else ip), port

    def make_preexec_fn(self, name):
        # its own namespace: private /tmp and /dev/shm, /proc of its account, no_new_privs (hub_ext.isolation)
        return self.isolation.preexec(self.account, self.cgroup, self.home_dir, list(getattr(self, "cpus", [])),
                                      keep=[self.env_dir], network=self.network)

    def user_env(self, env):
        env["USER"] = env["LOGNAME"] = self.account.name if self.account else self.user.name
        env["HOME"] = self.home_dir
        env["SHELL"] = "/bin/bash"
        return env

    def get_env(self):
        env = super().get_env()
        # empty when no GPU is granted: CUDA then sees no device at all
        env["CUDA_VISIBLE_DEVICES"] = ",".join(str(d) for d in self.devices)
        for key, value in getattr(self, "_layer_env", {}).items():
            if key == "JUPYTERLAB_DIR":
                env.setdefault(key, value)
            else:  # search paths: the hub's first, then any the operator passed on
                env[key] = os.pathsep.join(filter(None, [value, env.get(key)]))
        # the hub's API (and any service of the host's loopback) as the server's namespace reaches it
        return self.isolation.workload_env({**self.isolation.scrub(env), **getattr(self, "_mount_env", {})},
                                           self.network)

    def get_args(self):
        args = super().get_args()
        if os.geteuid() == 0 and self.account is None:
            # not isolated under a root hub; Jupyter Server refuses root without this
            args.append("--allow-root")
        return args

    # -- memory: an out-of-memory kill ends the whole server ----------------

    def start_polling(self):
        super().start_polling()
        if self.cgroup is None:  # after a hub restart: find the running server's cgroup again
            self.cgroup = self.isolation.existing_cgroup(WORKLOAD_KIND, self.workload_id)
        if self.cgroup is not None and "memory" in self.cgroup.dirs and self._memory_watch is None:
            self._memory_watch = asyncio.ensure_future(self._watch_memory(self.cgroup))

    def stop_polling(self):
        super().stop_polling()
        task, self._memory_watch = self._memory_watch, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    async def _watch_memory(self, cgroup) -> None:
        """The kernel kills one process of the cgroup (often a kernel); the server goes with it."""
        while cgroup.oom_kills() == 0:
            await asyncio.sleep(self.isolation.oom_check_interval)
        self.log.warning("%s ran out of memory; stopping it", self.workload_id)
        await asyncio.to_thread(cgroup.kill)
        await self.poll_and_notify()

    def _workload_cgroup(self):
        return self.cgroup or self.isolation.existing_cgroup(WORKLOAD_KIND, self.workload_id)

    async def release(self) -> bool:
        """The workload's cgroup goes with its reservation, however it ended (stopped, died,
        failed to start); what the cgroup saw of memory is kept for the exit record."""
        cgroup = self._workload_cgroup()
        self._out_of_memory = bool(cgroup is not None and cgroup.oom_kills())
        released = await super().release()
        self.cgroup = self.network = None
        if cgroup is not None:  # kernels the server left behind go with it
            await asyncio.to_thread(cgroup.remove)
        await asyncio.to_thread(self.isolation.remove_network, WORKLOAD_KIND, self.workload_id)
        return released

    def record_exit(self, status: int, plan) -> None:
        if getattr(self, "_out_of_memory", False):
            limit = format_memory(plan.instance_type.memory)
            self.record("oom", "error", f"Out of memory (limit {limit}): notebook in {group_title(plan)} was stopped", plan)
        else:
            super().record_exit(status, plan)

    async def stop(self, now=False):
        try:
            await super().stop(now=now)
        finally:
            self.account = None

    def move_certs(self, paths):
        return paths
