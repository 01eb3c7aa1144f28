"""LocalGroupSpawner: notebooks as local processes (the embedded default).

Servers run as the hub's OS user with a per-user home under the data dir.
CPU is applied by CPU affinity and GPUs by handing out free device indices in
CUDA_VISIBLE_DEVICES. Memory is enforced by admission only: a local process
can use more than its instance type says; hard memory limits need Kubernetes.
"""

from __future__ import annotations

import asyncio
import math
import os
import sys
from pathlib import Path

from jupyterhub.spawner import LocalProcessSpawner
from traitlets import Int, List, Unicode, default

from .environments import EnvironmentBuilder, EnvironmentBuildFailed
from .gpus import nvml_device_indices
from .mixin import GroupPolicy


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
    _events: list[str] = []

    @property
    def home_dir(self) -> str:
        return self.home_dir_template.format(data_dir=self.hubfront.data_dir, username=self.user.name)

    def gpu_inventory(self) -> list[int]:
        if self.gpu_devices is not None:
            return list(self.gpu_devices)
        return list(nvml_device_indices())

    @property
    def builder(self) -> EnvironmentBuilder:
        key = self.env_dir
        if key not in self._builders:
            self._builders[key] = EnvironmentBuilder(key, pip_args=self.pip_args)
        return self._builders[key]

    # -- progress shown on the spawn-pending page --------------------------

    def _report(self, message: str) -> None:
        self._events.append(message)

    async def progress(self):
        seen = 0
        while self._spawn_pending:
            while seen < len(self._events):
                yield {"message": self._events[seen][:300]}
                seen += 1
            await asyncio.sleep(0.5)

    async def prepare_environment(self, plan) -> None:
        self._events = []
        try:
            python = await self.builder.ensure(plan.image, self._report)
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

    def make_preexec_fn(self, name):
        home, cpus = self.home_dir, list(getattr(self, "cpus", []))

        def preexec():
            os.makedirs(home, 0o700, exist_ok=True)
            os.chdir(home)
            if cpus:
                os.sched_setaffinity(0, cpus)

        return preexec

    def user_env(self, env):
        env["USER"] = self.user.name
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
        return env

    def get_args(self):
        args = super().get_args()
        if os.geteuid() == 0:
            # the hub runs as root in containers and CI; Jupyter Server refuses root without this
            args.append("--allow-root")
        return args

    def move_certs(self, paths):
        return paths
