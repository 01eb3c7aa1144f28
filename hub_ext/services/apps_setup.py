"""Building the runner's apps loop (``AppRunner``) from the runner's config and its jobs' executor.

Apps get a deployment executor instance of their own: locally a ``LocalDeployments`` of kind
``app`` over the jobs' ``LocalExecutor`` (cgroups ``app-…``, logs and state files apart from the
deployments'), on Kubernetes a ``KubernetesDeployments`` whose objects are named
``Apps.kube_name_prefix`` + ``<app>-<id>``.
"""

from __future__ import annotations

import os

from ..apps.records import AppStore
from ..apps.templates import Apps, template
from ..mode import runs_here


def build_apps(config, log, reconciler, key: bytes):
    from ..settings import Hubfront
    from .apps import AppRunner

    hubfront = Hubfront.instance(config=config)
    apps = Apps.instance(config=config)
    jobs = reconciler.executor
    if not runs_here(jobs):
        from .executors.kube_deployments import KubernetesDeployments

        from ..storage.kube import KubeStorage

        executor = KubernetesDeployments(config=config, log=log, jobs=jobs, name_prefix=apps.kube_name_prefix)
        pod_shared = f"{KubeStorage(config=config).home.rstrip('/')}/shared"
    else:
        from .executors.local_deployments import LocalDeployments

        executor = LocalDeployments(kind="app", config=config, log=log, executor=jobs)
        pod_shared = ""
    store = AppStore(hubfront.db_url, key, reconciler.settings.hub_prefix)
    return AppRunner(store=store, executor=executor, ledger=reconciler.ledger,
                     templates=lambda name: template(name, config), data_dir=hubfront.data_dir,
                     base_url=os.environ.get("HUBFRONT_BASE_URL", "/"), catalog=reconciler.catalog,
                     builder=reconciler.builder, log_cap=reconciler.settings.log_cap, log=log, pod_shared=pod_shared,
                     hub=reconciler.hub, max_restarts=apps.max_restarts)
