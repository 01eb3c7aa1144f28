"""Recent activities: the home panel and GET /hub/api/portal/me/activities."""

from .handlers import handlers  # noqa: E402,F401 - this feature's routes (hub_ext.portal.portal_handlers)
