"""The watch of ``LocalDeployments`` (mixed into it): what the kubelet and the Deployment controller do for
``KubernetesDeployments``. Every ``check_interval`` each replica's process is looked at (restarted after its
back-off when it ended) and health-checked; between those rounds, replicas that are starting are checked
every ``start_check_interval``, and a replica just launched ends the wait at once, so a replica woken from
zero takes requests the moment it answers. Then each deployment's roll-out moves on (:meth:`_progress`).
"""

from __future__ import annotations

import asyncio
import time

from .base import Handle
from .local_replicas import Deployment, Revision, crash_message, last_lines, name_of, probe


class ReplicaWatch:
    """Needs the executor's settings (``check_interval``, ``start_check_interval``, ``check_timeout``,
    ``failure_threshold``, ``backoff_reset``, ``crash_loop_exits``, ``start_timeout``, ``drain_seconds``,
    ``log_tail_lines``), its ``_deployments``, ``_launched`` event and replica methods."""

    async def _watch(self) -> None:
        full_at = 0.0  # when the last full round began (every check_interval)
        while True:
            began = time.monotonic()
            full = began - full_at >= self.check_interval * 0.999
            full_at = began if full else full_at
            deployments = list(self._deployments.values())
            results = await asyncio.gather(*(self._tick(d, full) for d in deployments), return_exceptions=True)
            for dep, result in zip(deployments, results):
                if isinstance(result, Exception):
                    self.log.error("Deployment %s: watching its replicas failed: %r", dep.id, result)
            starting = any(self._starting(d) for d in deployments)
            step = min(self.start_check_interval, self.check_interval) if starting else self.check_interval
            try:  # a replica launched meanwhile ends the wait: its first check comes at once
                await asyncio.wait_for(self._launched.wait(),
                                       max(0.0, min(began + step, full_at + self.check_interval) - time.monotonic()))
            except asyncio.TimeoutError:
                pass
            self._launched.clear()

    @staticmethod
    def _starting(dep: Deployment) -> list:
        """(revision, replica) of the replicas that run but are not ready yet."""
        return [(rev, r) for rev in dep.revisions.values() if not rev.stopping for r in rev.replicas
                if r.ref and not r.ready]

    async def _tick(self, dep: Deployment, full: bool = True) -> None:
        async with dep.lock:
            if full:
                await self._check(dep)
            else:  # between full rounds: only whether starting replicas answer yet
                await self._probe(self._starting(dep))
            await self._progress(dep)
            self._save(dep)

    async def _probe(self, live: list) -> float:
        """Health-check ``live`` (revision, replica) pairs: an answer makes a replica ready, failures in a row
        take a ready one out (``failure_threshold``)."""
        errors = await asyncio.gather(*(probe(r.host, r.port, rev.spec.health_path, self.check_timeout) for rev, r in live))
        now = time.monotonic()
        for (rev, r), error in zip(live, errors):
            r.error = error
            if not error:
                r.failures, r.ready, r.unready_exits = 0, True, 0
                r.ready_since = r.ready_since or now
                if now - r.ready_since >= self.backoff_reset:
                    r.restarts = 0
            elif r.ready:
                r.failures += 1
                r.ready = r.failures < self.failure_threshold
        return now

    async def _check(self, dep: Deployment) -> None:
        """Restart what ended (when its back-off is over), then health-check every running replica."""
        live = []
        for rev in [rev for rev in dep.revisions.values() if not rev.stopping]:
            for r in rev.replicas:
                if r.ref:
                    status = await self.executor.status(Handle("local", r.ref))
                    if status.done:
                        await self._ended(dep, rev, r, status.message or status.phase, status.reason)
                if not r.ref and rev.env_known and not rev.failed and rev.drain_at is None \
                        and time.monotonic() >= r.restart_at:
                    await self._launch(dep, rev, r)
                if r.ref:
                    live.append((rev, r))
        dep.checked = await self._probe(live)

    async def _progress(self, dep: Deployment) -> None:
        """A new revision: fail it, or shift traffic to it once all its replicas are ready. Retire old ones."""
        latest, now = dep.revisions.get(dep.latest), time.monotonic()
        if latest is not None and not latest.served and not latest.failed and not latest.stopping:
            looping = next((r for r in latest.replicas if r.unready_exits >= self.crash_loop_exits), None)
            unready = next((r for r in latest.replicas if not r.ready), None)
            if looping is not None:
                self._fail(dep, latest, "CrashLoop", crash_message(latest, looping))
            elif unready is not None and now - latest.started > self.start_timeout:
                tail = unready.tail
                if unready.ref:
                    data, _ = await self.executor.logs(Handle("local", unready.ref))
                    tail = last_lines(data, self.log_tail_lines)
                self._fail(dep, latest, "HealthCheck", (
                    f"Replica {name_of(latest, unready)} was not ready within {self.start_timeout:g} s "
                    f"(GET {latest.spec.health_path}: {unready.error}). Last log lines:\n{tail}"))
            elif unready is None:
                latest.served, dep.serving = True, latest.spec.revision
                self.log.info("Deployment %s: revision %s serves", dep.id, dep.serving)
                for rev in dep.revisions.values():
                    if rev is not latest and rev.drain_at is None:
                        rev.drain_at = now + (self.drain_seconds if rev.served else 0)
        for rev in list(dep.revisions.values()):
            if rev.drain_at is not None and now >= rev.drain_at and not rev.stopping:
                self._retire(dep, rev, drop=True)

    def _fail(self, dep: Deployment, rev: Revision, reason: str, message: str) -> None:
        self.log.warning("Deployment %s: revision %s failed (%s)", dep.id, rev.spec.revision, reason)
        rev.failed, rev.message = reason, message
        self._retire(dep, rev, drop=False)

