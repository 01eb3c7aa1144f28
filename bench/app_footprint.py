"""``python -m bench.app_footprint``: how much memory a built-in app needs, measured on the runner's own path.

As root, on a machine with cgroups: the app is installed into a scratch portal database and run by the
runner's apps loop (``AppRunner`` over ``LocalDeployments`` of kind ``app``) as a group's service account,
in its own cgroup and network namespace, exactly as the runner runs it, under a memory limit large enough
that nothing is killed (``--limit``). Once it is Running, a load a group puts on an MLflow tracking server
(``--registrations`` models logged and registered through its artifact proxy, ``--page-loads`` loads of its
UI: the page, its scripts and styles, and the searches its model and experiment lists make) is sent to
it. Meanwhile the cgroup's anonymous memory (what the kernel cannot reclaim: ``total_rss`` on cgroup v1,
``anon`` on v2) is sampled; at the end the kernel's own peak of the cgroup (``memory.max_usage_in_bytes``
on v1, ``memory.peak`` on v2: file cache included, which the kernel drops before it kills) is read.

``--env NAME=VALUE`` overrides a template variable (``MLFLOW_WORKERS=2``,
``MLFLOW_SERVER_ENABLE_JOB_EXECUTION=true``). The result line says the peaks and whether the app was
restarted meanwhile. The load functions (:func:`register_models`, :func:`load_ui`) are what the isolation
test of the minimum sends too.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import re
import shutil
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from hub_ext.quantities import format_memory, parse_memory

UI_SEARCHES = ("/ajax-api/2.0/mlflow/registered-models/search?max_results=25",
               "/ajax-api/2.0/mlflow/experiments/search?max_results=25")


def register_models(endpoint: str, count: int, prefix: str = "footprint") -> list[str]:
    """Log ``count`` small pyfunc models through the server at ``endpoint`` (their files go through its
    artifact proxy) and register each as a model of its own; the versions' ``models:/`` URIs back."""
    if count <= 0:
        return []
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")  # a server that went away: said soon
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "60")
    import mlflow
    import mlflow.pyfunc

    class Echo(mlflow.pyfunc.PythonModel):
        def predict(self, context, model_input):
            return model_input

    client = mlflow.MlflowClient(tracking_uri=endpoint, registry_uri=endpoint)
    mlflow.set_tracking_uri(endpoint)
    mlflow.set_registry_uri(endpoint)
    experiment = client.get_experiment_by_name(prefix)
    experiment_id = experiment.experiment_id if experiment else client.create_experiment(prefix)
    uris = []
    for i in range(count):
        with mlflow.start_run(experiment_id=experiment_id):
            info = mlflow.pyfunc.log_model(name="model", python_model=Echo(), pip_requirements=["mlflow"],
                                           registered_model_name=f"{prefix}-{i}")
        uris.append(f"models:/{prefix}-{i}/{info.registered_model_version}")
    return uris


def load_ui(endpoint: str, count: int, timeout: float = 30, searches=UI_SEARCHES) -> int:
    """``count`` loads of the UI as a browser makes them (the page, each script and style it names, and
    ``searches``: MLflow's model and experiment lists); the bytes read. Any answer but 200 raises."""
    def fetch(path: str) -> bytes:
        with urllib.request.urlopen(endpoint.rstrip("/") + "/" + path.lstrip("./"), timeout=timeout) as r:
            if r.status != 200:
                raise OSError(f"GET {path}: HTTP {r.status}")
            return r.read()

    total = 0
    for _ in range(count):
        page = fetch("/")
        assets = re.findall(r'(?:src|href)="([^"]+\.(?:js|css))"', page.decode(errors="replace"))
        total += len(page) + sum(len(fetch(a)) for a in assets) + sum(len(fetch(s)) for s in searches)
    return total


class MemorySampler:
    """The cgroup's anonymous memory, sampled every ``interval`` seconds in a thread; ``peak`` the most seen,
    ``kernel_peak()`` the kernel's own high-water mark of the whole cgroup (file cache included)."""

    def __init__(self, memory_dir: Path, version: int, interval: float = 0.2):
        self.dir, self.version, self.interval = memory_dir, version, interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def anon(self) -> int:
        from hub_ext.isolation.cgroups import _read_key  # the cgroup files' one reader

        return _read_key(self.dir / "memory.stat", "anon" if self.version == 2 else "total_rss")

    def kernel_peak(self) -> int:
        name = "memory.peak" if self.version == 2 else "memory.max_usage_in_bytes"
        try:
            return int((self.dir / name).read_text())
        except (OSError, ValueError):
            return 0

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self.anon())
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.anon())


async def measure(args) -> str:
    from hub_ext.apps.records import AppStore, executor_id
    from hub_ext.apps.requests import AppInstall
    from hub_ext.apps.templates import template
    from hub_ext.images.environments import EnvironmentBuilder
    from hub_ext.isolation import Isolation
    from hub_ext.isolation.accounts import remove_accounts
    from hub_ext.keys import load_key
    from hub_ext.ledger import Ledger
    from hub_ext.policy import GroupPolicy, InstanceType
    from hub_ext.services.apps import AppRunner
    from hub_ext.services.executors.local import LocalExecutor
    from hub_ext.services.executors.local_deployments import LocalDeployments
    from hub_ext.services.hubapi import Groups
    from hub_ext.storage.mounts import MountSource
    from hub_ext.store import upgrade
    from hub_ext.store.engine import read_scope
    from hub_ext.store.models_apps import App

    if os.geteuid() != 0:
        raise SystemExit("run it as root: the app runs as a group's service account in a cgroup of its own")
    found = template(args.template)
    if found is None:
        raise SystemExit(f"no template named {args.template!r}")
    tmp = Path(tempfile.mkdtemp(prefix="hf-footprint-"))
    tmp.chmod(0o711)
    data = tmp / "data"
    data.mkdir(mode=0o711)
    isolation = Isolation(isolate="always", account_prefix=args.account_prefix, data_dir=str(data),
                          keep_paths=[str(tmp)])
    if isolation.hierarchy is None:
        raise SystemExit(f"no writable cgroup tree here: {isolation.status().warnings}")
    db_url = f"sqlite:///{tmp}/portal.sqlite"
    upgrade(db_url)
    key = load_key("", str(tmp))
    jobs = LocalExecutor(isolation=isolation, gpu_inventory=[], kill_grace=1.0)
    jobs.mounts = MountSource(db_url, str(data), isolation, key)
    executor = LocalDeployments(kind="app", executor=jobs, check_interval=0.5, check_timeout=5.0,
                                start_timeout=600.0, failure_threshold=5)
    store = AppStore(db_url, key)
    log = logging.getLogger("footprint")
    envs = Path(args.envs) if args.envs else tmp / "envs"
    runner = AppRunner(store=store, executor=executor, ledger=Ledger(db_url), templates=template,
                       data_dir=str(data), builder=EnvironmentBuilder(envs), log=log)
    groups = Groups(policies={"footprint": GroupPolicy()}, members={})
    env = dict(item.split("=", 1) for item in args.env)
    size = InstanceType(name="measure", cpu=args.cpu, memory=parse_memory(args.limit))
    row = store.install(group="footprint", username="bench", body=AppInstall(name=args.template, template=args.template),
                        template=found, instance_type=size, env=env)
    try:
        began = time.monotonic()
        while True:
            await runner.reconcile(groups)
            with read_scope(db_url) as s:
                row = s.get(App, row.id)
            if row.phase == "Running":
                break
            if row.phase == "Failed" or time.monotonic() - began > 900:
                raise SystemExit(f"the app did not start: {row.phase} {row.reason}: {row.message}")
            await asyncio.sleep(0.5)
        ready = time.monotonic() - began
        replica = executor.replicas(executor_id(row))[0]
        cgroup = isolation.existing_cgroup("app", replica["name"])
        sampler = MemorySampler(cgroup.dirs["memory"], cgroup.version)
        with sampler:
            idle = sampler.anon()
            registrations = args.registrations if found.registry else 0  # an MLflow server: models to register
            await asyncio.to_thread(register_models, row.endpoint, registrations)
            after_registrations = sampler.anon()
            await asyncio.to_thread(load_ui, row.endpoint, args.page_loads, 30, UI_SEARCHES if found.registry else ())
            await runner.reconcile(groups)
        restarts = executor.replicas(executor_id(row))[0]["restarts"]
        kernel_peak = sampler.kernel_peak()
    finally:
        await executor.stop(executor_id(row))
        await executor.close()
        remove_accounts(args.account_prefix)
        shutil.rmtree(tmp, ignore_errors=True)
    mib = lambda n: f"{n / 2**20:.0f} MiB"  # noqa: E731
    settings = " ".join(args.env) or "template defaults"
    return (f"app-footprint {args.template} ({settings}; limit {format_memory(size.memory)}, {args.cpu:g} CPU): "
            f"ready in {ready:.0f} s; anonymous memory idle {mib(idle)}, after {registrations} registrations "
            f"{mib(after_registrations)}, peak {mib(sampler.peak)}; cgroup peak with file cache "
            f"{mib(kernel_peak)}; restarts {restarts}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.app_footprint", description=__doc__.splitlines()[0])
    p.add_argument("template", nargs="?", default="mlflow", help="a built-in template (default mlflow)")
    p.add_argument("--env", action="append", default=[], metavar="NAME=VALUE", help="a template variable")
    p.add_argument("--limit", default="8Gi", help="the memory limit it runs under (default 8Gi: nothing killed)")
    p.add_argument("--cpu", type=float, default=2.0, help="its CPU limit in cores (default 2)")
    p.add_argument("--registrations", type=int, default=20, help="models registered (default 20)")
    p.add_argument("--page-loads", type=int, default=50, help="UI page loads (default 50)")
    p.add_argument("--envs", default="", help="where built app environments are kept (default: a scratch dir)")
    p.add_argument("--account-prefix", default="hfbench-", help="prefix of the OS accounts it makes and removes")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    print(asyncio.run(measure(args)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
