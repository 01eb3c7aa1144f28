"""The License page and API (the logic lives in hub_ext.license)."""

from .handlers import handlers  # noqa: E402,F401 - this feature's routes (hub_ext.portal.portal_handlers)
