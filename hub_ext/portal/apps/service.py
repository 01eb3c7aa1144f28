"""The hub's side of apps: the store, the template catalog, the apps' origin. No handlers here."""

from __future__ import annotations

from ...apps.records import AppStore
from ...apps.templates import Apps, AppTemplate, template
from ...keys import hub_key

__all__ = ["app_store", "catalog_of", "template_of", "apps_origin"]


def app_store(handler) -> AppStore:
    hubfront = handler.hubfront
    return AppStore(hubfront.db_url, hub_key(hubfront.data_dir, handler.authenticator), handler.hub.base_url)


def catalog_of(handler) -> dict[str, AppTemplate]:
    """The templates offered for installing (``c.Apps.enabled``)."""
    return Apps.instance(config=handler.hubfront.config).catalog()


def template_of(handler, name: str) -> AppTemplate | None:
    """An installed app's template, enabled or not."""
    return template(name, handler.hubfront.config)


def apps_origin(handler) -> str:
    """``c.Apps.origin``: the template of every app's own origin (apps are never on the hub's)."""
    return Apps.instance(config=handler.hubfront.config).origin
