"""Model deployments as local processes (the embedded default): ``LocalDeployments``.

Each replica is started through ``LocalExecutor`` like a job (``JobSpec.kind``
``deployment``, workload id ``<deployment>-r<revision>-<index>``): it runs as its
owner's OS account in its own cgroup, watched by a keeper process, so it outlives
the runner and a new runner adopts it back. It listens on a free loopback port of
its own, given as ``$PORT`` (``$HOST`` is 127.0.0.1: in its own network namespace, the runner reaches that
loopback at the namespace's address).

A background task (started by the first ``apply`` or ``adopt``, or ``start()``) does
what the kubelet and the Deployment controller do for ``KubernetesDeployments``,
every ``check_interval``:

- health checks: GET ``<health_path>``; an answer below 500 makes a replica ready,
  ``failure_threshold`` failures in a row make a ready one unready until it passes
  again (a readiness check: the process is not restarted for it);
- restarts: a replica whose process ended starts again after a back-off
  (``backoff_base`` doubling up to ``backoff_max``; from the start again once it
  stayed ready ``backoff_reset`` seconds). ``crash_loop_exits`` exits in a row
  without becoming ready is a crash loop;
- replicas that are starting are checked every ``start_check_interval`` (a replica woken from zero
  takes requests the moment it answers); the others every ``check_interval``;
- roll-outs: a new revision's replicas start beside the serving ones; once all are
  ready it serves (``status`` reports its endpoints) and the old replicas get
  SIGTERM ``drain_seconds`` later, when the forwarder has moved over. A new
  revision that crash-loops or is not ready within ``start_timeout`` is stopped;
  the old one serves on and ``status`` says why, with the replica's last log lines.

What a new runner needs to find the replicas again (``local_replicas.saved_state``)
is in ``<log_dir>/deployments/<id>.json`` (hub-only, written atomically; an instance for
apps, ``kind`` "app", keeps its own in ``<log_dir>/apps/``); a replica
of a revision read back is restarted once ``adopt`` or ``apply`` gave its environment.

``apply`` of the revision that serves with another number of replicas scales it in place, as
changing a Kubernetes Deployment's ``replicas`` does: at 0 (a deployment scaled to zero) its replicas
end and the revision stays, so the same revision applied again with its replicas starts them anew.

``logs`` is one append-only stream per deployment, so the runner can copy it by
offset as it does a job's: each round takes the replicas' new output, newest
revision first, every piece under a line naming its replica. Only its latest
``log_buffer`` bytes are held (the runner keeps the rest in the portal DB); an
offset beyond the stream (a runner that read more before a restart) continues it.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from dataclasses import replace

from traitlets import Float, Instance, Int, default
from traitlets.config import LoggingConfigurable


from . import keeper
from .base import ExecutorError, Handle, JobSpec
from .deployments import DeploymentExecutor, DeploymentSpec, DeploymentStatus
from .base import ConfigurableABC
from .local import LocalExecutor
from .local_watch import ReplicaWatch
from .local_replicas import (Deployment, Replica, Revision, crash_message, free_port, last_lines, name_of, restart_line,
                             revisions_from, save_state, state_path)

KIND = "deployment"  # the replicas' cgroup kind


class LocalDeployments(ReplicaWatch, LoggingConfigurable, DeploymentExecutor, metaclass=ConfigurableABC):
    name = "local"

    check_interval = Float(1.0, help="Seconds between rounds of health checks (and checks that replicas run)."
                           ).tag(config=True)
    start_check_interval = Float(
        0.1, help="Seconds between health checks of replicas that are starting (not ready yet): how soon a "
                  "replica woken from zero takes requests once it answers.").tag(config=True)
    check_timeout = Float(2.0, help="Seconds a health check may take before it counts as failed.").tag(config=True)
    failure_threshold = Int(
        3, help="Failed health checks in a row that take a ready replica out of the endpoints (until it passes again).",
    ).tag(config=True)
    backoff_base = Float(1.0, help="Seconds before restarting a replica whose process ended; doubled for each "
                                   "further exit.").tag(config=True)
    backoff_max = Float(60.0, help="Longest wait before restarting a replica.").tag(config=True)
    backoff_reset = Float(60.0, help="Seconds a restarted replica must stay ready for its back-off to start again "
                                     "from backoff_base.").tag(config=True)
    crash_loop_exits = Int(
        5,
        help="""Exits in a row without becoming ready that make a crash loop: a new
        revision then fails (CrashLoop, with the replica's last log lines) and is
        stopped; the serving one keeps being restarted, reported failed while none
        of its replicas is ready.""",
    ).tag(config=True)
    start_timeout = Float(
        300.0, help="Seconds a new revision's replicas may take to become ready (loading a model) before the revision "
                    "fails (HealthCheck) and is stopped, the old one serving on.",
    ).tag(config=True)
    drain_seconds = Float(
        5.0, help="Seconds old replicas keep running after a new revision took over, before SIGTERM, so requests "
                  "forwarded to them just before finish (longer than the runner's endpoint refresh).",
    ).tag(config=True)
    stop_grace = Float(10.0, help="Seconds between SIGTERM and SIGKILL when a replica is stopped.").tag(config=True)
    log_tail_lines = Int(20, help="Last log lines of a replica quoted in a CrashLoop or HealthCheck message."
                         ).tag(config=True)
    log_buffer = Int(2 * 2**20, help="Bytes of each deployment's latest output held for logs() (the runner copies "
                                     "it into the portal DB).").tag(config=True)

    executor = Instance(LocalExecutor, help="Starts, watches and stops the replicas' processes.")

    @default("executor")
    def _executor_default(self):
        return LocalExecutor(config=self.config, log=self.log)

    def __init__(self, kind: str = KIND, **kwargs):
        super().__init__(**kwargs)
        self.kind = kind  # "deployment", or "app": names the cgroups, logs and state files of this instance's
        self._deployments: dict[str, Deployment] = {}
        self._task: asyncio.Task | None = None
        self._launched = asyncio.Event()  # set when a replica starts: the watch checks it without waiting

    @property
    def state_dir(self) -> str:
        return os.path.join(self.executor.log_dir, f"{self.kind}s")

    # -- the background task ------------------------------------------------

    def start(self) -> None:
        """Start the health checks and restarts (the first ``apply`` or ``adopt`` does it too)."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._watch())

    async def close(self) -> None:
        """Stop watching; the replicas go on running, for the next runner to adopt."""
        tasks = [t for d in self._deployments.values() for t in d.tasks] + [t for t in [self._task] if t]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._task = None

    # -- replicas -------------------------------------------------------------

    async def _launch(self, dep: Deployment, rev: Revision, r: Replica) -> None:
        spec, name = rev.spec, name_of(rev, r)
        taken = {x.port for d in self._deployments.values() for v in d.revisions.values() for x in v.replicas if x.ref}
        r.port = free_port(taken)
        env = {**spec.env, "PORT": str(r.port), "HOST": "127.0.0.1", "HUBFRONT_DEPLOYMENT_ID": spec.deployment_id,
               "HUBFRONT_REVISION": str(spec.revision), "HUBFRONT_REPLICA": str(r.index)}
        devices = spec.gpu_devices[r.index] if r.index < len(spec.gpu_devices) else ()
        job = JobSpec(job_id=0, kind=self.kind, workload_id=name, username=spec.username, group=spec.group,
                      groups=spec.groups, command=spec.command, env=env, cpu=spec.cpu, memory=spec.memory,
                      gpu=spec.gpu, gpu_devices=tuple(devices), image=spec.image, python=spec.python,
                      service_account=spec.service_account)
        try:
            handle = await self.executor.start(job)
        except ExecutorError as exc:
            self._schedule_restart(dep, rev, r, "could not start", str(exc), "Error")
            return
        r.ref, r.host = handle.ref, await asyncio.to_thread(self.executor.address, handle)
        r.read, r.ready, r.ready_since, r.failures, r.error = 0, False, None, 0, "not checked yet"
        self._launched.set()

    async def _ended(self, dep: Deployment, rev: Revision, r: Replica, how: str, reason: str) -> None:
        """Its process ended: keep its output and last lines, forget its log, restart it after the back-off."""
        handle = Handle("local", r.ref)
        await self._collect(dep, [(rev, r)])
        data, _ = await self.executor.logs(handle)
        await self.executor.forget(handle)
        r.ref = ""
        self._schedule_restart(dep, rev, r, how, last_lines(data, self.log_tail_lines),
                               reason if reason in ("OOMKilled", "ExitCode") else "Error")

    def _schedule_restart(self, dep: Deployment, rev: Revision, r: Replica, how: str, tail: str, reason: str) -> None:
        if r.ready_since is None:
            r.unready_exits += 1
        r.ready, r.ready_since, r.exit, r.exit_reason, r.tail = False, None, how or "ended", reason, tail
        r.restarts += 1
        delay = min(self.backoff_base * 2 ** min(r.restarts - 1, 30), self.backoff_max)
        r.restart_at = time.monotonic() + delay
        dep.append(name_of(rev, r), restart_line(r, delay).encode(), self.log_buffer)

    def _retire(self, dep: Deployment, rev: Revision, drop: bool) -> None:
        """Stop a revision's replicas in the background (``drop``: then forget the revision)."""
        rev.stopping = True

        async def retire():
            await asyncio.gather(*(self._stop_replica(dep, rev, r) for r in rev.replicas if r.ref))
            if drop:
                async with dep.lock:
                    dep.revisions.pop(rev.spec.revision, None)
                    self._save(dep)
            rev.stopping = False

        task = asyncio.create_task(retire())
        dep.tasks.add(task)
        task.add_done_callback(dep.tasks.discard)

    async def _stop_replica(self, dep: Deployment, rev: Revision, r: Replica) -> None:
        ref = r.ref
        handle = Handle("local", ref)
        try:
            await self.executor.stop(handle, self.stop_grace)
        except ExecutorError as exc:
            self.log.warning("Deployment %s: replica %s: %s", dep.id, name_of(rev, r), exc)
            return
        async with dep.lock:
            if r.ref == ref:  # not stopped by another caller meanwhile
                await self._collect(dep, [(rev, r)])
                await self.executor.forget(handle)
                r.ref, r.ready = "", False

    # -- output -------------------------------------------------------------

    async def _collect(self, dep: Deployment, replicas) -> None:
        for rev, r in replicas:
            if r.ref:
                data, r.read = await self.executor.logs(Handle("local", r.ref), r.read)
                if data:
                    dep.append(name_of(rev, r), data, self.log_buffer)

    # -- state ----------------------------------------------------------------

    def _save(self, dep: Deployment) -> None:
        save_state(dep, self.state_dir)

    async def _get(self, deployment_id: str) -> Deployment:
        """The deployment in memory, else as its state file left it (its old revisions retired), else new."""
        dep = self._deployments.get(deployment_id)
        if dep is not None:
            return dep
        dep = self._deployments[deployment_id] = Deployment(deployment_id)
        state = keeper.read_state(state_path(self.state_dir, deployment_id)) or {}
        dep.serving, dep.latest = state.get("serving", 0), state.get("latest", 0)
        dep.log_size = state.get("log_size", 0)
        for rev, retiring in revisions_from(state):
            dep.revisions[rev.spec.revision] = rev
            if rev.failed or retiring or rev.spec.revision not in (dep.serving, dep.latest):
                self._retire(dep, rev, drop=not rev.failed)
        dep.saved = json.dumps(state, sort_keys=True)
        return dep

    # -- the interface ----------------------------------------------------------

    async def apply(self, spec: DeploymentSpec) -> None:
        self.start()
        dep = await self._get(spec.deployment_id)
        # replicas scaled away a moment ago end first: a replica started again has their names (cgroup, netns)
        await asyncio.gather(*list(dep.scaling), return_exceptions=True)
        async with dep.lock:
            if spec.revision <= dep.latest:  # applied already (or older than what runs)
                dep.know_env(spec)
                rev = dep.revisions.get(spec.revision)
                if spec.revision == dep.latest and rev is not None and not rev.stopping and not rev.failed \
                        and len(rev.replicas) != spec.replicas:
                    await self._scale(dep, rev, spec)
                    self._save(dep)
                return
            for rev in dep.revisions.values():
                if not rev.served and not rev.stopping:  # superseded before it served, or failed
                    self._retire(dep, rev, drop=True)
            rev = dep.revisions[spec.revision] = Revision(spec, [Replica(i) for i in range(spec.replicas)])
            dep.latest = spec.revision
            for r in rev.replicas:
                await self._launch(dep, rev, r)
            self._save(dep)
        self.log.info("Deployment %s: revision %s started (%s replicas)", dep.id, spec.revision, spec.replicas)

    async def _scale(self, dep: Deployment, rev: Revision, spec: DeploymentSpec) -> None:
        """The revision with ``spec.replicas`` replicas (its lock held): the last ones end (in the background), or
        new ones start with ``spec`` (its environment and devices)."""
        have = len(rev.replicas)
        if spec.replicas < have:
            surplus, rev.replicas = rev.replicas[spec.replicas:], rev.replicas[:spec.replicas]
            rev.spec = replace(rev.spec, replicas=spec.replicas)

            async def end():
                await asyncio.gather(*(self._stop_replica(dep, rev, r) for r in surplus if r.ref))

            task = asyncio.create_task(end())
            dep.tasks.add(task)
            dep.scaling.add(task)
            task.add_done_callback(dep.tasks.discard)
            task.add_done_callback(dep.scaling.discard)
        else:
            rev.spec, rev.env_known = spec, True
            added = [Replica(i) for i in range(have, spec.replicas)]
            rev.replicas += added
            for r in added:
                await self._launch(dep, rev, r)
        self.log.info("Deployment %s: revision %s scaled from %s to %s replicas", dep.id, rev.spec.revision, have,
                      spec.replicas)

    async def status(self, deployment_id: str) -> DeploymentStatus:
        dep = self._deployments.get(deployment_id)
        if dep is None or not dep.latest:
            return DeploymentStatus(revision=0, available=0, desired=0, checked=dep.checked if dep else 0.0)
        serving, latest = dep.revisions.get(dep.serving), dep.revisions.get(dep.latest)
        ready = [r for r in serving.replicas if r.ready] if serving else []
        failed, message = (latest.failed, latest.message) if latest else ("", "")
        looping = [r for r in serving.replicas if r.unready_exits >= self.crash_loop_exits] if serving else []
        if not failed and not ready and looping:
            failed, message = "CrashLoop", crash_message(serving, looping[0])
        elif not failed and latest is not None and not latest.served:
            message = f"Revision {dep.latest}: {sum(r.ready for r in latest.replicas)} of {len(latest.replicas)} ready"
        watched = latest or serving  # the replicas whose restarts are reported: the latest revision's
        restarted = max(watched.replicas, key=lambda r: r.restarts) if watched and watched.replicas else None
        restarts = restarted.restarts if restarted else 0
        return DeploymentStatus(
            revision=dep.serving, available=len(ready), desired=latest.spec.replicas if latest else 0,
            endpoints=tuple(f"http://{r.host}:{r.port}" for r in ready), failed=failed, message=message,
            rolled_out=serving is not None and dep.serving == dep.latest and len(dep.revisions) == 1,
            checked=dep.checked, restarts=restarts, restart_reason=restarted.exit_reason if restarts else "",
            restart_message=restarted.exit if restarts else "")

    async def logs(self, deployment_id: str, offset: int = 0) -> tuple[bytes, int]:
        dep = self._deployments.get(deployment_id)
        if dep is None:
            return b"", offset
        async with dep.lock:
            if offset > dep.log_size:
                dep.log_size, dep.buffer = offset, bytearray()
            revisions = sorted((v for v in dep.revisions.values() if not v.stopping), key=lambda v: -v.spec.revision)
            await self._collect(dep, [(rev, r) for rev in revisions for r in rev.replicas])
            self._save(dep)  # what was read, so a new runner goes on from there
            start = dep.log_size - len(dep.buffer)
            return bytes(dep.buffer[max(0, offset - start):]), dep.log_size

    async def stop(self, deployment_id: str) -> None:
        """Stop every replica (SIGTERM, SIGKILL after ``stop_grace``) and forget the deployment's state; its
        last output stays readable through ``logs``."""
        dep = await self._get(deployment_id)
        async with dep.lock:
            for rev in dep.revisions.values():
                rev.stopping = True
            dep.serving = dep.latest = 0
        replicas = [(rev, r) for rev in list(dep.revisions.values()) for r in rev.replicas if r.ref]
        await asyncio.gather(*(self._stop_replica(dep, rev, r) for rev, r in replicas), *list(dep.tasks))
        async with dep.lock:
            left = [r for rev in dep.revisions.values() for r in rev.replicas if r.ref]
            if left:
                self._save(dep)
                raise ExecutorError(f"{len(left)} replica(s) of deployment {deployment_id} did not stop")
            names = [name_of(rev, r) for rev in dep.revisions.values() for r in rev.replicas]
            dep.revisions.clear()
            for name in names:  # the keepers remove them; this is for one that was killed
                cgroup = await asyncio.to_thread(self.executor.isolation.existing_cgroup, self.kind, name)
                if cgroup is not None:
                    await asyncio.to_thread(cgroup.remove)
            self._save(dep)

    async def adopt(self, spec: DeploymentSpec) -> bool:
        """Watch again the replicas the state file names (restarting those that ended meanwhile), after one
        round of health checks; True when ``spec``'s revision is among them and has not failed."""
        self.start()
        dep = await self._get(spec.deployment_id)
        dep.know_env(spec)
        await self._tick(dep)
        rev = dep.revisions.get(spec.revision)
        return rev is not None and not rev.failed and not rev.stopping

    def replicas(self, deployment_id: str) -> list[dict]:
        """The replicas as now known (revision, index, port, handle ref, ready, restarts): for pages and tests."""
        dep = self._deployments.get(deployment_id)
        return [{"revision": rev.spec.revision, "index": r.index, "name": name_of(rev, r), "port": r.port,
                 "ref": r.ref, "ready": r.ready, "restarts": r.restarts}
                for rev in (dep.revisions.values() if dep else ()) for r in rev.replicas]
