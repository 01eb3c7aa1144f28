"""The portal: hub pages and APIs, one subfolder per feature."""

from __future__ import annotations

from tornado.web import StaticFileHandler

from .. import static_dir
from ..auth.bootstrap import ensure_admin_account, seed_groups
from ..store import upgrade


# Feature folders; each one's package exports its routes, ``handlers = [(pattern, class), ...]``.
# A feature adds itself here with one line.
FEATURES = [
    "home",
    "context",
    "groups",
    "account",
    "users_admin",
    "admin_groups",
    "invitations",
    "notebooks",
    "usage",
    "docs",
    "announcements",
    "license",
    "activities",
    "system",
    "about",
    "preferences",
    "logs",
    "launch",
    "jobs",
    "models",
    "deployments",
    "files",
    "shares",
    "datasets",
    "folders",
    "images",
    "apps",
    "maintenance",
    "ssh_keys",
    "desktop",
    "openapi",
]


def portal_handlers(hubfront) -> list:
    """Every portal route (relative to the hub prefix) with its init kwargs."""
    from importlib import import_module

    routes = []
    for feature in FEATURES:
        module = import_module(f"{__name__}.{feature}")
        routes.extend((pattern, cls, {"hubfront": hubfront}) for pattern, cls in module.handlers)
    routes.append((r"/portal/static/(.*)", StaticFileHandler, {"path": static_dir()}))
    return routes


def startup(app, hubfront) -> None:
    """Once per hub start: migrate the portal DB, create the admin account, seed groups,
    release reservations of notebook servers the hub no longer runs, and put the
    hub's state out of workloads' reach."""
    import os
    import sys

    from ..isolation import Isolation

    upgrade(hubfront.db_url)
    admin = getattr(app.authenticator, "bootstrap_admin", None)
    if admin:
        ensure_admin_account(
            hubfront.db_url, hubfront.data_dir, admin, os.environ.get("HUBFRONT_ADMIN_PASSWORD")
        )
    seed_groups(app.db, hubfront.demo_groups(), log=app.log)
    from jupyterhub.spawner import LocalProcessSpawner

    isolation = Isolation.instance(config=app.config)
    # where workloads reach the hub's API and the proxy (through their namespace's gateway)
    isolation.hub_api_url, isolation.public_url = app.hub.api_url, app.bind_url
    from ..apps.templates import Apps

    isolation.host_services = list(dict.fromkeys(filter(None, [  # the apps' origins, a platform MLflow, proxies
        *isolation.host_services, Apps(config=app.config).origin, hubfront.mlflow_tracking_uri,
        *(os.environ.get(k, "") for k in PROXY_VARS)])))
    isolation.startup(app.log, [sys.prefix, sys.base_prefix, sys.executable],
                      local=issubclass(app.spawner_class, LocalProcessSpawner))
    from spawner.mixin import reconcile_notebooks
    from ..ledger import Ledger

    dropped = reconcile_notebooks(app.db, Ledger(hubfront.db_url))
    if dropped:
        app.log.info("Hubfront: released %d reservation(s) of servers that are gone", len(dropped))
    watch_hub_database(app, hubfront)
    hand_over_runner_config(app, hubfront)
    from ..ssh.service import hand_over_config as hand_over_ssh_config

    hand_over_ssh_config(app, hubfront)


PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL",
              "npm_config_registry")
# a proxy, a private CA, a package index: what builds in the runner need to reach package registries
NETWORK_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy", "SSL_CERT_FILE",
                "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "PIP_CERT", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL",
                "NODE_EXTRA_CA_CERTS", "npm_config_registry", "npm_config_cafile")


def watch_hub_database(app, hubfront) -> None:
    """JupyterHub's own database gets change stamps too (``hub_ext.store.changes``): the runner asks the hub
    for its groups again only once a group or a membership changed."""
    from ..store import changes

    changes.place(app.db_url, hubfront.data_dir)
    changes.watch(app.db.get_bind(), app.db_url)


def hand_over_runner_config(app, hubfront) -> None:
    """Give the runner service the hub's configuration (the sections it reads), the secret key, and the
    variables of :data:`NETWORK_VARS` the hub has."""
    import json
    import os

    from ..isolation import Isolation
    from ..services.webapp import SERVICE_NAME, runner_config
    from ..keys import hub_key

    service = app._service_map.get(SERVICE_NAME)
    if service is None or not service.managed:
        return
    config = json.loads(runner_config(app.config))
    config.setdefault("Hubfront", {}).update(data_dir=hubfront.data_dir, db_url=hubfront.db_url,
                                             catalog_file=hubfront.catalog_file)
    config.setdefault("Runner", {}).setdefault("hub_prefix", app.hub.base_url)
    from ..store import changes

    if (stamps := changes.path_for(app.db_url)) is not None:
        config["Runner"].setdefault("hub_changes", os.path.abspath(stamps))  # the runner's folder may differ
    isolation = Isolation.instance(config=app.config)
    if isolation.networks is not None:  # the runner's workloads get namespaces too
        config.setdefault("Isolation", {}).update(hub_api_url=isolation.hub_api_url, public_url=isolation.public_url,
                                                  host_services=isolation.host_services)
    service.environment = {
        **service.environment,
        # the runner builds environments (pip, npm): it reaches registries as the hub does
        **{k: os.environ[k] for k in NETWORK_VARS if k in os.environ},
        "HUBFRONT_RUNNER_CONFIG": json.dumps(config),
        "HUBFRONT_SECRET_KEY": hub_key(hubfront.data_dir, app.authenticator).decode(),
        "HUBFRONT_BASE_URL": app.base_url,  # deployment endpoints are at <base_url>deployments/
    }
