"""The hub's side of datasets: the store (with the hub's key and Unix groups) and the settings."""

from __future__ import annotations

from ...datasets.settings import Datasets
from ...datasets.store import DatasetStore
from ...isolation import Isolation
from ...keys import hub_key


def isolation(hubfront) -> Isolation:
    return Isolation.instance(config=hubfront.config)


def dataset_store(handler) -> DatasetStore:
    hubfront = handler.hubfront
    return DatasetStore(hubfront.db_url, hubfront.data_dir, hub_key(hubfront.data_dir, handler.authenticator),
                        handler.hub.base_url, gid_of=isolation(hubfront).unix_gid)


def dataset_settings(handler) -> Datasets:
    return Datasets.instance(config=handler.hubfront.config)
