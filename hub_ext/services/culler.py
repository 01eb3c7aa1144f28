"""The one culler of notebook servers (issue 25): a task of the runner that looks at every running
server at least every ``c.Lifecycle.interval`` seconds, through the hub's REST API (as
jupyterhub-idle-culler does: the runner's service token lists users' servers and stops them), the same way
for local processes and KubeSpawner pods.

Each look writes what it saw (``hub_ext.lifecycle.records``): the server's last activity the hub has
(kept fresh by the single-user server's own reports), its CPU use since the previous look from its cgroup
(locally) or the metrics API (Kubernetes, where it answers), its GPUs' use (NVML, locally); a server whose
use is above the thresholds is busy even with no browser open. A server past its deadline is stopped
through the hub, whose spawner releases its reservation and writes the activity with the culler's words.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime

from tornado.httpclient import HTTPClientError

from .. import activity
from ..lifecycle.decide import stop_message, warning_text
from ..lifecycle.records import Seen, observe, record_pass, stopping
from ..lifecycle.rules import IdleRules, rules_for
from ..lifecycle.settings import Lifecycle
from ..ledger.workloads import NOTEBOOK, notebook_id
from ..times import utcnow
from .hubapi import Groups, HubAPI

log = logging.getLogger("hubfront.culler")


def _time(value) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


class LocalUsage:
    """CPU (and GPU) use of local notebooks from their cgroups, between two looks."""

    def __init__(self, isolation):
        self.isolation = isolation
        self._last: dict[str, object] = {}

    async def read(self, servers: dict[str, dict]) -> dict[str, tuple[float | None, float | None]]:
        """(cores, GPU percent) of each server, by workload id (``servers``: the hub's server models)."""
        return await asyncio.to_thread(self._read, list(servers))

    def _read(self, workload_ids):
        from spawner.gpus import gpu_percent_of

        found, now = {}, {}
        for wid in workload_ids:
            cgroup = self.isolation.existing_cgroup(NOTEBOOK, wid) if self.isolation is not None else None
            if cgroup is None:
                continue
            reading = cgroup.stats()
            earlier = self._last.get(wid)
            now[wid] = reading
            cores = reading.cpu_cores(earlier) if earlier is not None else None
            found[wid] = (cores, gpu_percent_of(set(cgroup.pids())))
        self._last = now  # servers gone are forgotten
        return found


class PodUsage:
    """CPU use of notebook pods from the cluster's metrics API (hub_ext.pod_metrics), where it answers: each
    server's pod is named in KubeSpawner's state (the runner reads it with ``admin:server_state``). GPU use
    is not measured on Kubernetes (it would need the cluster's DCGM exporter)."""

    def __init__(self, config=None, api=None):
        self.config, self.api = config, api
        self.unavailable = ""

    async def read(self, servers: dict[str, dict]) -> dict[str, tuple[float | None, float | None]]:
        from ..pod_metrics import pod_usage

        by_namespace: dict[str, dict[str, str]] = {}
        for wid, model in servers.items():
            state = model.get("state") or {}
            if state.get("pod_name") and state.get("namespace"):
                by_namespace.setdefault(state["namespace"], {})[state["pod_name"]] = wid
        found = {}
        for namespace, pods in by_namespace.items():
            usage = await pod_usage(namespace, list(pods), config=self.config, api=self.api)
            self.unavailable = usage.unavailable
            for name, pod in usage.by_pod.items():
                if name in pods:
                    found[pods[name]] = (pod.cpu, None)
        return found


class Culler:
    def __init__(self, *, db_url: str, hub: HubAPI, settings: Lifecycle, catalog, usage, groups=None,
                 clock=utcnow, hub_prefix: str = "/hub/"):
        self.db_url = db_url
        self.hub = hub
        self.settings = settings
        self.catalog = catalog
        self.usage = usage
        self.groups = groups or hub.groups
        self.clock = clock
        self.link = f"{hub_prefix}portal/notebooks"
        self.last_pass: datetime | None = None
        self._warned: dict[tuple[str, str], datetime] = {}

    def _say_warning(self, s: Seen, decision, now: datetime, rules: IdleRules) -> None:
        activity.record(self.db_url, username=s.username, group=s.group or None, kind=NOTEBOOK, action="warned",
                        message=f"Notebook in {s.group}: {warning_text(decision, now, rules)} (Keep running on the "
                                "Notebooks page keeps it)",
                        workload_id=notebook_id(s.username, s.server_name), link=self.link)

    def _rules(self, groups: Groups, group: str, instance_type: str) -> IdleRules:
        policy = groups.policies.get(group)
        it = self.catalog.instance_type(instance_type) if instance_type else None
        if it is None and policy is not None:
            it = policy.default_instance(self.catalog)
        return rules_for(self.settings, policy, it)

    async def look(self) -> dict:
        """One pass: see every running server, stop those past their deadline."""
        started = time.monotonic()
        groups = await self.groups()
        servers = await self.hub.running_servers()
        ids = {(user, name): notebook_id(user, name) for user, name, _ in servers}
        usage = await self.usage.read({ids[(user, name)]: model for user, name, model in servers})
        seen = []
        for user, name, model in servers:
            options = model.get("user_options") or {}
            group = options.get("group") or name
            it_name = options.get("instance_type") or ""
            rules = self._rules(groups, group, it_name)
            cores, gpu = usage.get(ids[(user, name)], (None, None))
            it = self.catalog.instance_type(it_name)
            busy = False
            if cores is not None and it is not None and it.cpu:
                busy = 100 * cores / it.cpu >= rules.cpu_percent
            if gpu is not None:
                busy = busy or gpu >= rules.gpu_percent
            seen.append(Seen(user, name, group, it_name, _time(model.get("started")), _time(model.get("last_activity")),
                             cores, gpu, busy))
        now = self.clock()
        by_key = {(s.username, s.server_name): s for s in seen}
        decisions = await asyncio.to_thread(
            observe, self.db_url, seen, lambda s: self._rules(groups, s.group, s.instance_type), now)
        warned = stopped = 0
        errors = []
        for key, decision in decisions.items():
            s = by_key[key]
            rules = self._rules(groups, s.group, s.instance_type)
            if decision.due(now):
                message = stop_message(rules, decision.reason, cpu_measured=s.cpu_cores is not None,
                                       gpu_measured=s.gpu_percent is not None)
                await asyncio.to_thread(stopping, self.db_url, s.username, s.server_name, message)
                try:
                    await self.hub.stop_server(s.username, s.server_name)
                    stopped += 1
                    log.info("Stopped %s/%s: %s", s.username, s.server_name, message)
                except (OSError, HTTPClientError) as exc:
                    errors.append(f"{s.username}/{s.server_name}: {exc}")
            elif decision.warning(now, rules):
                warned += 1
                if self._warned.get(key) != decision.cull_at:  # said once per deadline (Keep running moves it)
                    self._warned[key] = decision.cull_at
                    await asyncio.to_thread(self._say_warning, s, decision, now, rules)
        self._warned = {k: v for k, v in self._warned.items() if k in decisions}
        self.last_pass = now
        summary = {"at": now, "seconds": time.monotonic() - started, "servers": len(seen), "warned": warned,
                   "stopped": stopped, "error": "; ".join(errors)}
        await asyncio.to_thread(record_pass, self.db_url, **summary)
        return summary

    async def run(self, stop: asyncio.Event) -> None:
        """Look every ``interval`` seconds until ``stop``; a failed look is logged and the next one comes."""
        said = -3600.0
        while not stop.is_set():
            try:
                await self.look()
            except (OSError, HTTPClientError) as exc:  # the hub is restarting
                if time.monotonic() - said > 60:
                    said = time.monotonic()
                    log.warning("Idle culling skipped: the hub's API is not reachable (%s)", exc)
            except Exception:  # noqa: BLE001 - one failed look must not end the culler
                log.exception("Idle culling pass failed")
            try:
                await asyncio.wait_for(stop.wait(), self.settings.interval)
            except asyncio.TimeoutError:
                pass


def build_culler(config, hubfront, hub: HubAPI, executor) -> Culler:
    from ..mode import runs_here

    if runs_here(executor):
        usage = LocalUsage(getattr(executor, "isolation", None))
    else:
        usage = PodUsage(config)
    from .runner_settings import Runner

    return Culler(db_url=hubfront.db_url, hub=hub, settings=Lifecycle(config=config), catalog=hubfront.catalog,
                  usage=usage, hub_prefix=Runner(config=config).hub_prefix)
