"""About: Hubfront and JupyterHub versions, and the license type."""

from .handlers import handlers  # noqa: E402,F401 - this feature's routes (hub_ext.portal.portal_handlers)
