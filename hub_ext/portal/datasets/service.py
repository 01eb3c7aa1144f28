"""The hub's side of datasets: the store (with the hub's key and Unix groups) and the settings."""

from __future__ import annotations

from ...datasets.settings import Datasets
from ...datasets.store import DatasetStore
from ...isolation import Isolation
from ..jobs.service import secret_key


def isolation(hubfront) -> Isolation:
    return Isolation.instance(config=hubfront.config)


def dataset_store(handler) -> DatasetStore:
    hubfront = handler.hubfront
    return DatasetStore(hubfront.db_url, hubfront.data_dir, secret_key(handler.authenticator, hubfront.data_dir),
                        handler.hub.base_url, gid_of=isolation(hubfront).unix_gid)


def dataset_settings(handler) -> Datasets:
    return Datasets.instance(config=handler.hubfront.config)
