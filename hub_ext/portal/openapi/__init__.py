"""The OpenAPI document of the portal REST API (``spec``) and the route serving it."""

from .handlers import handlers  # noqa: E402,F401 - this feature's routes (hub_ext.portal.portal_handlers)
