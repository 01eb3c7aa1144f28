"""``spawn``: spawn-to-ready of sequential single-user servers (issue 3).

Both hubs run the same single-user command (``jupyterhub-singleuser`` of the
venv, found first on PATH). Hubfront launches the measured user's server in a
group through ``POST /hub/api/users/{u}/servers/{group}`` with ``group``,
``instance_type`` and ``image`` (``spawner.local.LocalGroupSpawner``: policy
check, ledger reservation, CPU affinity, and, when the bench runs as root,
workload isolation: the user's OS account, a cgroup with the instance type's
limits; the line says ``isolated=yes``); stock launches the default server
with ``POST /hub/api/users/{u}/server`` (JupyterHub's LocalProcessSpawner, in its
Simple variant that runs the server as the hub's OS user, as Hubfront's does).

The clock starts before the POST and stops when the user model says the server
is ``ready`` (the POST itself returns once ready when that takes less than the
hub's slow_spawn_timeout; otherwise the user model is polled every 20 ms, the
same on both hubs). Each server is stopped, and the stop awaited, before the
next launch; launches alternate hubfront/stock, flipping the order each round.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import requests

from . import hubs
from .population import Population, populate
from .stats import Line, alternate, percentile, ratio, summary

TARGET = 1.10  # median spawn-to-ready, hubfront/stock (issues 3 and 8)
ACCOUNT_PREFIX = "hfbench-"  # OS accounts the bench's hub makes, deleted afterwards
# 2 cores, this machine's all: the server's own start-up is not throttled by its CPU quota, so the
# ratio measures what the spawner adds (policy, ledger, isolation). With cpu-small (0.5 core) the
# start-up itself runs at half a core, by design (docs/benchmarks.md has both figures).
INSTANCE_TYPE = "cpu-medium"
IMAGE = "base"
POLL_S = 0.02


def add_arguments(parser) -> None:
    g = parser.add_argument_group("spawn")
    g.add_argument("--spawn-servers", type=int, help="measured launches per hub (default 20, quick 2)")
    g.add_argument("--spawn-timeout", type=float, default=120, help="seconds one launch may take (default 120)")
    g.add_argument("--spawn-instance-type", default=INSTANCE_TYPE,
                   help=f"instance type of Hubfront's launches (default {INSTANCE_TYPE})")


def run(args) -> str:
    n = args.spawn_servers or (2 if args.quick else 20)
    pop = Population.make(args.users, args.groups, args.user_groups)
    group = pop.measured_groups[0] if pop.measured_groups else None
    if group is None:
        raise RuntimeError("the measured user needs a group (--user-groups >= 1)")
    with tempfile.TemporaryDirectory(prefix="hubfront-bench-") as root, workload_accounts(root):
        with hubs.side_by_side(Path(root), hubfront_env={"HUBFRONT_ACCOUNT_PREFIX": ACCOUNT_PREFIX}) as (hf, st):
            for hub in (hf, st):
                populate(hub, pop)
            launchers = {hf: Launcher(hf, pop.measured, group, args.spawn_timeout, args.spawn_instance_type),
                         st: Launcher(st, pop.measured, group, args.spawn_timeout)}
            for hub in (hf, st):
                allow_root_in_home(hub, pop.measured)
            for launcher in launchers.values():  # warm-up: the first launch fills caches
                launcher.once()
            samples = alternate(n, [hf, st], lambda hub, _r: [launchers[hub].once()])
            isolated = "workloads run as their owners' OS accounts" in hf.log_path.read_text()
    hf_s, st_s = samples[hf], samples[st]
    r50 = ratio(percentile(hf_s, 50), percentile(st_s, 50))
    text = (f"spawn: hubfront={fmt(hf_s)} stock={fmt(st_s)} "
            f"ratio=p50 {r50:.2f}/max {ratio(max(hf_s), max(st_s)):.2f} target<={TARGET:.2f} "
            f"isolated={'yes' if isolated else 'no'}")
    return Line(text, {
        "hubfront": summary(hf_s), "stock": summary(st_s),
        "ratio": {"p50": r50, "max": ratio(max(hf_s), max(st_s))}, "target": TARGET,
        "servers": n, "group": group, "instance_type": args.spawn_instance_type, "image": IMAGE,
        "dropped_connections": {h.kind: launchers[h].dropped for h in (hf, st)}, "isolated": isolated,
    })


@contextmanager
def workload_accounts(root: str):
    """As root: let workload accounts pass through the temp dir to their homes; delete them after."""
    if os.geteuid() != 0:
        yield
        return
    os.chmod(root, 0o711)
    try:
        yield
    finally:
        from hub_ext.isolation.accounts import remove_accounts

        remove_accounts(ACCOUNT_PREFIX)


def fmt(samples) -> str:
    return f"p50 {percentile(samples, 50):.2f}s/max {max(samples):.2f}s (n={len(samples)})"


def allow_root_in_home(hub: hubs.Hub, user: str) -> None:
    """Where the bench runs as root, let jupyter-server run as root, on both hubs alike.

    jupyter-server refuses root without ``allow_root``; both spawners give the
    server HOME=<data_dir>/homes/<user> (their default), whose ~/.jupyter it reads.
    """
    if os.geteuid() != 0:
        return
    conf = hub.data_dir / "homes" / user / ".jupyter"
    conf.mkdir(parents=True, exist_ok=True)
    (conf / "jupyter_server_config.json").write_text(json.dumps({"ServerApp": {"allow_root": True}}))


class Launcher:
    """Starts the measured user's server on one hub, waits for ready, stops it."""

    def __init__(self, hub: hubs.Hub, user: str, group: str, timeout: float, instance_type: str = INSTANCE_TYPE):
        self.hub, self.user, self.timeout = hub, user, timeout
        if hub.kind == "hubfront":
            self.server = group  # one server per group, named after it
            self.path = f"/users/{user}/servers/{group}"
            self.body = {"group": group, "instance_type": instance_type, "image": IMAGE}
        else:
            self.server = ""
            self.path = f"/users/{user}/server"
            self.body = None
        self.dropped = 0  # connections the proxy dropped before answering (reported in the JSON)

    def once(self) -> float:
        t0 = time.perf_counter()
        try:
            r = self.hub.api("POST", self.path, json=self.body, timeout=self.timeout)
        except requests.ConnectionError:
            # the connection dropped before the answer: the hub may be spawning all the same
            self.dropped += 1
            r = None
        if r is not None and r.status_code not in (201, 202):
            raise RuntimeError(f"{self.hub.kind}: launch gave {r.status_code}: {r.text[:300]}\n{self.hub.log_tail()}")
        if r is None or r.status_code == 202:
            self.wait(lambda s: s is not None and s.get("ready"), "ready")
        elapsed = time.perf_counter() - t0
        self.stop()
        return elapsed

    def stop(self) -> None:
        try:
            r = self.hub.api("DELETE", self.path, timeout=self.timeout)
        except requests.ConnectionError:
            self.dropped += 1
        else:
            if r.status_code not in (202, 204):
                raise RuntimeError(f"{self.hub.kind}: stop gave {r.status_code}: {r.text[:300]}")
        self.wait(lambda s: s is None or not (s.get("ready") or s.get("pending")), "stopped")

    def server_model(self) -> dict | None:
        r = self.hub.api("GET", f"/users/{self.user}")
        r.raise_for_status()
        return (r.json().get("servers") or {}).get(self.server)

    def wait(self, done, what: str) -> None:
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            model = self.server_model()
            if done(model):
                return
            if model is not None and not model.get("pending") and not model.get("ready") and what == "ready":
                raise RuntimeError(f"{self.hub.kind}: server stopped before ready\n{self.hub.log_tail()}")
            time.sleep(POLL_S)
        raise RuntimeError(f"{self.hub.kind}: server not {what} in {self.timeout}s\n{self.hub.log_tail()}")
