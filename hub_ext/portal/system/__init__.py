"""System Resources: nodes, sessions and utilisation (admins), own sessions (users)."""

from .handlers import handlers  # noqa: E402,F401 - this feature's routes (hub_ext.portal.portal_handlers)
