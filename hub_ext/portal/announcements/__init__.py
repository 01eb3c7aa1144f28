"""Announcements: admins tell users things, on home and as banners."""

from .handlers import handlers  # noqa: E402,F401 - this feature's routes (hub_ext.portal.portal_handlers)
