"""Group images: the group admin's Images page and REST API (issue 13)."""

from .handlers import handlers  # noqa: E402,F401 - this feature's routes (hub_ext.portal.portal_handlers)
