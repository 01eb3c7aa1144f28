"""The portal's context: its pages and API."""

from .handlers import handlers  # noqa: E402,F401 - this feature's routes (hub_ext.portal.portal_handlers)
