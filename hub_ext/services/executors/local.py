"""LocalExecutor: each job a local process (the embedded default).

A job runs as ``/bin/bash -c <command>`` in a session (process group) of its own, as its submitter's OS
account, in its own cgroup (kind ``job``, id the job id) with the reservation's memory, CPU, process and GPU
limits: all of that comes from ``hub_ext.isolation``, as for notebooks. Without root there is no account and
no cgroup and the job runs as the hub's user (as notebooks do).

- Working directory: ``<home>/jobs/<job id>`` (created by the job's own account), with ``HOME`` the user's
  home (``<data_dir>/homes/<username>``, the notebooks' home): each job has its own ``./artifacts`` and the
  user's files are at ``~``.
- Environment: the hub's ``env_keep`` variables (scrubbed of secrets), the job's own variables, then
  ``HOME``/``USER``/``CUDA_VISIBLE_DEVICES`` (the granted devices; empty: no GPU) and the image's interpreter
  first on ``PATH``.
- Each job is watched by a keeper process (``keeper.py``), not by the runner, so the runner can be killed at
  any moment: the keeper copies output into ``<log_dir>/<job id>.log`` (0600, hub-owned, capped with the tail
  kept), enforces the deadline (SIGTERM to the group, SIGKILL after ``kill_grace``), carries out stops, kills
  an out-of-memory job whole, removes the cgroup at the end and records the outcome in ``<log_dir>/state/``.
- Other workloads started like a job (a deployment's replicas, ``JobSpec.kind`` ``deployment``) are named by
  ``JobSpec.workload`` instead of the job id: cgroup (kind, id), ``<log_dir>/<kind>-<id>.log``,
  ``<home>/<kind>s/<id>``; only jobs get ``HUBFRONT_JOB_ID`` (the others' callers put theirs in ``env``).
- Apps (``JobSpec.service_account``) run as their group's service account instead, with its home
  (``Isolation.service_home``) and the group's storage, no user's folders.
- Keepers are forked by the runner's warm keeper server (``prepare``, with spare network namespaces); the
  runner hears a job's end from its keeper's state file at once (``notify``: inotify). Both in ``keepers.py``.
- Handles: ``ref`` is ``"<pid>:<start time>"`` of the job's process (psutil's create_time), which also names
  its state file, so a reused pid is never taken for the job. Because the keeper records the exit status,
  ``status()`` knows how a job ended even when it ended while the runner was down; only when the keeper itself
  is gone (machine reboot) or the handle is unknown is it Failed/``ServiceRestart``, exit code unknown.
  ``adopt()`` is True while the job runs; for a handle it does not adopt, ``status()`` says how it ended.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

from traitlets import Bool, Float, Instance, Int, List, Unicode, default
from traitlets.config import LoggingConfigurable

from hub_ext.isolation import Isolation, IsolationError, fdtree, safefs
from hub_ext.storage.mounts import MountError

from . import keeper
from .keepers import PACKAGE_ROOT, KeeperServer, StateWatch, launch_alone
from .local_state import duration_text, outcome, parse_ref, process_is
from .base import ConfigurableABC, Executor, ExecutorError, Handle, JobSpec, Status

CGROUP_KIND = "job"


class LocalExecutor(Executor, LoggingConfigurable, metaclass=ConfigurableABC):
    name = "local"

    log_dir = Unicode(help="""Directory of the jobs' logs and state files (hub-owned, mode 0700):
        <log_dir>/<job id>.log. Default: <data_dir>/jobs/logs.""").tag(config=True)

    @default("log_dir")
    def _log_dir_default(self):
        return str(Path(self.isolation.data_dir) / "jobs" / "logs")

    log_cap = Int(
        10 * 2**20,
        help="""Most bytes of output kept per job. Past it the oldest output is
        dropped and at least three quarters of the cap, the latest, is kept.""",
    ).tag(config=True)

    kill_grace = Float(
        10.0, help="Seconds between SIGTERM and SIGKILL when a job runs past its timeout.",
    ).tag(config=True)

    home_template = Unicode(
        "{data_dir}/homes/{username}",
        help="Home directory of each user's jobs, as for notebooks; {data_dir} and {username} are expanded.",
    ).tag(config=True)

    env_keep = List(
        Unicode(), ["PATH", "LANG", "LC_ALL", "TZ"],
        help="Variables of the runner's environment a job inherits (secrets are scrubbed regardless).",
    ).tag(config=True)

    gpu_inventory = List(
        Int(), default_value=None, allow_none=True,
        help="GPU indices of this machine; nodes of those a job was not granted are denied to it. "
             "Default: every GPU NVML reports.",
    ).tag(config=True)

    keeper_server = Bool(True, help="""Fork each job's keeper from one warm keeper server started with the runner
        (its interpreter and imports ready) instead of a new interpreter per job.""").tag(config=True)

    isolation = Instance(Isolation)

    # the storage every workload mounts (hub_ext.storage.mounts.MountSource; set by the runner), None: none
    mounts = None

    @default("isolation")
    def _isolation_default(self):
        return Isolation.instance(config=self.config)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._keepers: dict[str, subprocess.Popen] = {}  # keepers this runner started, reaped in status()
        self._server: KeeperServer | None = None  # the runner's (prepare); without: a new interpreter per keeper
        self._watch: StateWatch | None = None

    def home(self, username: str) -> str:
        return self.home_template.format(data_dir=self.isolation.data_dir, username=username)

    def home_of(self, spec: JobSpec) -> str:
        """The workload's home: its owner's, or its group's service account's (an app)."""
        return self.isolation.service_home(spec.group) if spec.service_account else self.home(spec.username)

    def log_path(self, job_id: int | str, kind: str = CGROUP_KIND) -> str:
        name = f"{job_id}.log" if kind == CGROUP_KIND else f"{kind}-{job_id}.log"
        return os.path.join(self.log_dir, name)

    def _state_file(self, handle: Handle) -> str:
        return keeper.state_path(os.path.join(self.log_dir, "state"), handle.ref)

    # -- start -------------------------------------------------------------

    def _environment(self, spec: JobSpec, home: str, account) -> dict:
        env = self.isolation.scrub({k: os.environ[k] for k in self.env_keep if k in os.environ})
        env.setdefault("PATH", os.defpath)
        env.update(spec.env)
        if spec.python:
            env["PATH"] = os.pathsep.join([os.path.dirname(spec.python), env["PATH"]])
        env.update(HOME=home, USER=account.name if account else spec.username, SHELL="/bin/bash",
                   CUDA_VISIBLE_DEVICES=",".join(str(d) for d in spec.gpu_devices),
                   HUBFRONT_GROUP=spec.group, HUBFRONT_IMAGE=spec.image)
        if spec.kind == CGROUP_KIND:
            env["HUBFRONT_JOB_ID"] = str(spec.job_id)
        env["LOGNAME"] = env["USER"]
        # the hub's API (as a namespace reaches it: Isolation.workload_env), as every workload has it
        hub_api = self.isolation.hub_api_url or os.environ.get("JUPYTERHUB_API_URL", "")
        if hub_api:
            env.setdefault("JUPYTERHUB_API_URL", hub_api)
        return env

    def _isolate(self, spec: JobSpec, home: str):
        iso = self.isolation
        if spec.service_account:
            account = iso.service_account(spec.group)
        else:
            account = iso.account(spec.username, list(spec.groups), home)
        inventory = self.gpu_inventory
        if inventory is None:
            from spawner.gpus import nvml_device_indices

            inventory = nvml_device_indices()
        limits = iso.limits(memory=spec.memory, cpu=spec.cpu, granted_gpus=spec.gpu_devices, gpu_inventory=inventory)
        return account, iso.create_cgroup(spec.kind, spec.workload, limits)

    def _undo(self, spec: JobSpec, cgroup) -> None:
        """What was made for a workload that did not start: its cgroup and network namespace."""
        if cgroup is not None:
            cgroup.remove()
        self.isolation.remove_network(spec.kind, spec.workload)

    def _sandbox(self, spec: JobSpec, network) -> dict | None:
        """The workload's namespaces (``hub_ext.isolation.sandbox``); its environment stays reachable."""
        env = os.path.dirname(os.path.dirname(spec.python)) if spec.python else ""
        sandbox = self.isolation.sandbox(keep=[env], network=network)
        return sandbox and sandbox.to_dict()

    def address(self, handle: Handle) -> str:
        """Where the runner reaches the workload's servers: its namespace's address (which leads to its own
        loopback, where they listen), or the host's loopback."""
        state = self._state(handle) or {}
        return state.get("address") or "127.0.0.1"

    def _mount(self, spec: JobSpec, home: str, account) -> dict[str, str]:
        """The group's tree, datasets and folders linked into the home (``hub_ext.storage.mounts``);
        a workload that pins dataset versions gets its own folder of dataset links."""
        if self.mounts is None:
            return {}
        own = os.path.join(home, f"{spec.kind}s", spec.workload, "datasets")
        owner = "" if spec.service_account else spec.username  # a service account has no folders of its own
        return self.mounts.apply(owner, spec.group, home, account, dict(spec.dataset_pins) or None, own)

    async def start(self, spec: JobSpec) -> Handle:
        home, cgroup = self.home_of(spec), None
        # its network namespace (the slowest part: several ip processes) is made meanwhile
        made = asyncio.ensure_future(asyncio.to_thread(self.isolation.create_network, spec.kind, spec.workload))
        with contextlib.ExitStack() as starting:
            try:
                account, cgroup = await asyncio.to_thread(self._isolate, spec, home)
                # its cgroup made (making one takes the lock a move does): its child's move is kept fast from here
                starting.enter_context(self.isolation.starting())
                storage = await asyncio.to_thread(self._mount, spec, home, account)
                network = await made
            except Exception as exc:
                await asyncio.gather(made, return_exceptions=True)  # nothing is left being made
                await asyncio.to_thread(self._undo, spec, cgroup)
                if isinstance(exc, MountError):
                    raise ExecutorError(f"The {spec.kind}'s storage could not be mounted: {exc}") from None
                if isinstance(exc, (IsolationError, OSError)):
                    raise ExecutorError(f"The {spec.kind} could not be isolated: {exc}") from None
                raise
            return await self._launched(spec, home, account, cgroup, storage, network)

    async def _launched(self, spec: JobSpec, home: str, account, cgroup, storage: dict, network) -> Handle:
        spec = await spec.resolved()  # its token, minted meanwhile
        env = self.isolation.workload_env({**storage, **self._environment(spec, home, account)}, network)
        config = {
            "job_id": spec.job_id, "kind": spec.kind, "workload": spec.workload, "command": spec.command,
            "env": env, "home": home, "address": network.address if network else "",
            "netns": network.name if network else "",
            "workdir": os.path.join(f"{spec.kind}s", spec.workload),
            "account": account and {"uid": account.uid, "gid": account.gid, "groups": list(account.groups)},
            "cgroup": cgroup and {"name": cgroup.name, "version": cgroup.version,
                                  "dirs": {c: str(d) for c, d in cgroup.dirs.items()}},
            "sandbox": self._sandbox(spec, network),
            "log": self.log_path(spec.workload, spec.kind), "log_cap": self.log_cap,
            "state_dir": os.path.join(self.log_dir, "state"),
            "timeout": spec.timeout, "grace": self.kill_grace, "memory": spec.memory,
        }
        try:
            ref = await asyncio.to_thread(self._launch, config)
        except BaseException:
            await asyncio.to_thread(self._undo, spec, cgroup)
            raise
        self.log.info("%s %s of %s started (%s)", spec.kind.capitalize(), spec.workload, spec.username, ref)
        return Handle(self.name, ref)

    def _launch(self, config: dict) -> str:
        safefs.ensure_dir(self.log_dir, 0o700)  # the runner's own: logs and state
        safefs.ensure_dir(config["state_dir"], 0o700)
        reply = self._server.launch(config) if self._server is not None else None
        if reply is None:  # a keeper of its own: this runner's child, reaped in status()
            reply, proc = launch_alone(config)
            self._keepers.update({reply[3:]: proc} if proc is not None else {})
        if not reply.startswith("ok "):
            raise ExecutorError(f"The {config['kind']} could not start: {reply[6:] or 'no reply'}")
        return reply[3:]

    def prepare(self) -> None:
        """The runner's start: its keeper server and spare namespaces are ready by the first job."""
        with contextlib.suppress(IsolationError):
            self.isolation.prime_networks()
        if self.keeper_server and self._server is None:
            self._server = KeeperServer()
            self._server.start()

    def notify(self, callback: Callable[[Handle], None]) -> bool:
        """``callback(handle)`` whenever a keeper records news of its workload (its end above all)."""
        state_dir = os.path.join(self.log_dir, "state")
        try:
            for folder in (self.log_dir, state_dir):  # the runner's own
                safefs.ensure_dir(folder, 0o700)
            self._watch = self._watch or StateWatch(state_dir)
            self._watch.listen(asyncio.get_running_loop(), lambda ref: callback(Handle(self.name, ref)))
        except OSError as exc:  # e.g. fs.inotify.max_user_instances reached: the runner's looks still see ends
            self.log.warning("Jobs' ends seen at the runner's looks only: %s not watched (%s)", state_dir, exc)
            return False
        return True

    def close(self) -> None:
        """Stop the keeper server and the watch (the keepers and their jobs go on)."""
        server, watch, self._server, self._watch = self._server, self._watch, None, None
        for part in filter(None, (server, watch)):
            part.close()

    # -- watch ---------------------------------------------------------------

    def _state(self, handle: Handle) -> dict | None:
        keeper_proc = self._keepers.get(handle.ref)
        if keeper_proc is not None and keeper_proc.poll() is not None:
            del self._keepers[handle.ref]  # reaped
        return keeper.read_state(self._state_file(handle))

    def _keeper_alive(self, state: dict) -> bool:
        return process_is(state["keeper"], state["keeper_start"])

    def _check(self, handle: Handle) -> Status:
        path = self._state_file(handle)
        state = self._state(handle)
        if state is None:
            return Status("Failed", "ServiceRestart", "The job is unknown to this machine (its record is gone); "
                          "its exit code is unknown")
        if state.get("done") or self._keeper_alive(state):
            return outcome(state)
        state = keeper.read_state(path) or state  # it may have finished just now
        if not state.get("done"):  # the keeper is gone without a word: end what is left, once
            self._kill_leftovers(state)
            state.update(done=True, lost=True, ended=time.time())
            keeper.write_state(path, state)
        return outcome(state)

    def _kill_leftovers(self, state: dict) -> None:
        if process_is(state["pid"], float(state["ref"].partition(":")[2])):
            try:
                os.killpg(state["pid"], signal.SIGKILL)
            except OSError:
                pass
        kind, workload = state.get("kind", CGROUP_KIND), state.get("workload") or str(state["job_id"])
        cgroup = self.isolation.existing_cgroup(kind, workload)
        if cgroup is not None:
            cgroup.remove()
        self.isolation.remove_network(kind, workload)

    async def status(self, handle: Handle) -> Status:
        return await asyncio.to_thread(self._check, handle)

    async def logs(self, handle: Handle, offset: int = 0) -> tuple[bytes, int]:
        return await asyncio.to_thread(keeper.read_log, self._state_file(handle), offset)

    async def stop(self, handle: Handle, grace: float = 10.0) -> None:
        """Ask the keeper to stop the job (it reports Cancelled) and wait until it has ended."""
        path = self._state_file(handle)
        state = await asyncio.to_thread(self._state, handle)
        if state is None or state.get("done"):
            return
        stop = keeper.stop_path(path)
        with open(stop, "w") as f:
            f.write(str(grace))
        until = time.monotonic() + grace + 15
        while time.monotonic() < until:
            status = await self.status(handle)
            if status.done:
                return
            await asyncio.sleep(keeper.TICK)
        raise ExecutorError(f"The job did not stop within {duration_text(grace + 15)}")

    async def adopt(self, handle: Handle) -> bool:
        """True when the job still runs (its process, by pid and start time, and its keeper)."""
        pid_start = parse_ref(handle.ref)
        if pid_start is None:
            return False
        state = await asyncio.to_thread(self._state, handle)
        if state is None or state.get("done") or not process_is(*pid_start):
            return False
        return self._keeper_alive(state)

    async def forget(self, handle: Handle) -> None:
        """Remove a finished job's log and state (the runner calls it when the job is deleted).

        An addition to the ``Executor`` interface, local only: Kubernetes has its own TTL.
        """
        state = await asyncio.to_thread(self._state, handle)
        if state is not None and not state.get("done"):
            await self.stop(handle, self.kill_grace)
        path = self._state_file(handle)
        for name in (state or {}).get("log"), keeper.stop_path(path), path:
            if name:
                fdtree.remove_path(name)  # the runner's own log dir

    async def artifacts(self, handle: Handle, *, job_id: int, username: str, max_bytes: int, max_files: int):
        """The files the job left in ``<workdir>/artifacts``, read as the job's own OS account.

        The directory belongs to the user, who may change it at any time (from a
        notebook, say), so it is never read with the runner's privileges: a child
        process drops to the account and sends the files back as a tar stream,
        which is checked again against the limits here.
        """
        from hub_ext.jobs import artifacts

        root = os.path.join(self.home(username), "jobs", str(job_id), "artifacts")
        if not os.path.lexists(root):  # most jobs keep none: no reader to start (a yes leads to the safe one)
            return artifacts.Collected()
        if not self.isolation.enabled:
            return await asyncio.to_thread(artifacts.collect, root, max_bytes, max_files)
        import pwd

        from hub_ext.isolation.names import account_name

        try:
            entry = pwd.getpwnam(account_name(self.isolation.account_prefix, username))
        except KeyError:
            return artifacts.Collected()
        env = {"PATH": os.defpath, "PYTHONPATH": PACKAGE_ROOT, "LANG": "C.UTF-8"}
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "hub_ext.jobs.artifacts", root, str(max_bytes), str(max_files),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL, env=env, cwd="/",
            user=entry.pw_uid, group=entry.pw_gid, extra_groups=[], start_new_session=True)
        limit = max_bytes + 1024 * (max_files + 2) + 2**20  # contents plus tar headers
        blob = bytearray()
        try:
            async with asyncio.timeout(300):
                while chunk := await proc.stdout.read(2**20):
                    blob += chunk
                    if len(blob) > limit:
                        break
        except TimeoutError:
            pass
        finally:
            if proc.returncode is None:
                try:
                    proc.kill()
                except ProcessLookupError:
                    pass
            await proc.wait()
        return artifacts.from_tar(bytes(blob), max_bytes, max_files)
