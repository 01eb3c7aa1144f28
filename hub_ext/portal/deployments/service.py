"""The hub's side of deployments: the store and the endpoints' public address. No handlers here."""

from __future__ import annotations

from ... import license
from ...deployments.records import DeploymentStore
from ...keys import hub_key


def deployment_store(handler) -> DeploymentStore:
    hubfront = handler.hubfront
    db_url = hubfront.db_url
    return DeploymentStore(db_url, hub_key(hubfront.data_dir, handler.authenticator), handler.hub.base_url,
                           license_max=lambda: license.evaluate(db_url).max_deployments)


def public_url(handler) -> str:
    """The hub's public address as this request reached it, with its base URL: endpoints are at
    ``<public_url>/deployments/<id>/``."""
    return f"{handler.request.protocol}://{handler.request.host}{handler.base_url.rstrip('/')}"
