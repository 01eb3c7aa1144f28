"""The desktop app (issue 26): the portal as an installable app, the ``hubfront.pyz`` client, and the home's
Desktop & SSH panel."""

from . import panel  # noqa: F401 - registers the home panel
from .handlers import handlers  # noqa: F401 - this feature's routes (hub_ext.portal.portal_handlers)
