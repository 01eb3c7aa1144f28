"""Launching notebooks: JupyterHub's spawn page and server API, made safe (see handlers.py)."""

from .handlers import handlers  # noqa: E402,F401 - this feature's routes (hub_ext.portal.portal_handlers)
