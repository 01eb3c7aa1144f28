"""Hubfront's own configuration, shared by the authenticator, the portal and the spawners.

One ``Hubfront`` object per process, configured from the same traitlets config as
the hub (``c.Hubfront.data_dir = ...``). It knows where the portal database and
the catalog are; it holds no per-request state.
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml
from traitlets import Dict, Integer, List, TraitError, Unicode, default, observe, validate
from traitlets.config import SingletonConfigurable

from . import default_catalog_file
from .policy import Catalog, check_tracking_uri, parse_catalog
from .store import changes


class Hubfront(SingletonConfigurable):
    data_dir = Unicode(
        help="""Directory for the embedded default's state: the SQLite databases,
        the generated admin password, per-user homes and cached environments.
        Defaults to $HUBFRONT_DATA_DIR, else ./data.""",
    ).tag(config=True)

    @default("data_dir")
    def _data_dir_default(self):
        return os.path.abspath(os.environ.get("HUBFRONT_DATA_DIR", "data"))

    db_url = Unicode(
        help="""SQLAlchemy URL of the portal database (ledger, group context,
        accounts, ...). Shared by the hub and the managed service. Use a
        PostgreSQL URL in production.""",
    ).tag(config=True)

    @default("db_url")
    def _db_url_default(self):
        return os.environ.get(
            "HUBFRONT_DB_URL", f"sqlite:///{Path(self.data_dir) / 'hubfront.sqlite'}"
        )

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._place_change_stamps(None)

    @observe("db_url", "data_dir")
    def _place_change_stamps(self, _change):
        # the hub and the runner share the data folder: the portal database's change stamps live there
        # when the database is not a file beside it (PostgreSQL)
        changes.place(self.db_url, self.data_dir)

    catalog_file = Unicode(
        help="""YAML file with the platform catalog (``catalog:`` instance types
        and images) and the demo groups (``groups:``) loaded at start.""",
    ).tag(config=True)

    @default("catalog_file")
    def _catalog_file_default(self):
        return os.environ.get("HUBFRONT_CATALOG", default_catalog_file())

    catalog_config = Dict(
        help="""Catalog given directly in traitlets config; when set it replaces
        the ``catalog:`` section of ``catalog_file``.""",
    ).tag(config=True)

    docs_links = List(
        help="""Links shown in the home page's User Guide / Quickstart panel, as
        a list of ``{"title": ..., "url": ...}``.""",
    ).tag(config=True)

    @default("docs_links")
    def _docs_links_default(self):
        return [
            {"title": "JupyterLab user guide", "url": "https://jupyterlab.readthedocs.io/en/stable/user/interface.html"},
            {"title": "JupyterHub: using the hub", "url": "https://jupyterhub.readthedocs.io/en/stable/tutorial/getting-started/index.html"},
            {"title": "Hubfront user guide", "url": "/hub/portal/docs/user-guide"},
            {"title": "Hubfront REST API", "url": "/hub/portal/docs/rest-api"},
        ]

    mlflow_tracking_uri = Unicode(
        help="""The MLflow tracking server (and model registry) of groups whose policy names
        none (a group admin sets the group's own on its Settings page): http(s)://host:port,
        or file:///abs/path or sqlite:////abs/path.db read by the hub itself. The Models
        page lists its registered models; deployments of ``models:/…`` URIs load from it.
        Empty: no platform-wide server. Defaults to $HUBFRONT_MLFLOW_TRACKING_URI.""",
    ).tag(config=True)

    @default("mlflow_tracking_uri")
    def _mlflow_tracking_uri_default(self):
        return os.environ.get("HUBFRONT_MLFLOW_TRACKING_URI", "")

    @validate("mlflow_tracking_uri")
    def _check_mlflow_tracking_uri(self, proposal):
        try:
            return check_tracking_uri(proposal["value"])
        except ValueError as exc:
            raise TraitError(f"Hubfront.mlflow_tracking_uri: {exc}") from None

    mlflow_timeout = Integer(
        5, min=1,
        help="""Seconds the hub waits for an MLflow tracking server, per HTTP request
        (MLflow's MLFLOW_HTTP_REQUEST_TIMEOUT in the hub); a whole Models page read waits
        at most three times this, then says the server did not answer.""",
    ).tag(config=True)

    mlflow_retries = Integer(
        0, min=0, max=10,
        help="""How often the hub retries a failed request to an MLflow tracking server
        (MLflow's MLFLOW_HTTP_REQUEST_MAX_RETRIES in the hub, with its back-off of 2 s, 4 s, …).
        0: a server that is down is reported at once.""",
    ).tag(config=True)

    _file_cache: dict | None = None

    def file_config(self) -> dict:
        if self._file_cache is None:
            path = Path(self.catalog_file)
            self._file_cache = yaml.safe_load(path.read_text()) or {} if path.exists() else {}
        return self._file_cache

    resource_groups = List(
        help="""Resource groups (named sets of Kubernetes nodes: ``name``, ``display_name``, ``description``,
        ``node_selector``, ``tolerations``); when set they replace the catalog's ``resource_groups:``.
        On the embedded default every workload runs on this machine, the one resource group ``local``.""",
    ).tag(config=True)

    _catalog: Catalog | None = None

    @property
    def catalog(self) -> Catalog:
        if self._catalog is None:
            from .mode import on_nodes

            raw = dict(self.catalog_config or self.file_config().get("catalog", {}) or {})
            if self.resource_groups:
                raw["resource_groups"] = self.resource_groups
            self._catalog = parse_catalog(raw).placed(local=not on_nodes(self.config))
        return self._catalog

    def demo_groups(self) -> dict:
        return self.file_config().get("groups", {}) or {}
