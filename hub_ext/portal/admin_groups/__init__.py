"""The Groups console (hub admins; a group's admins for their own groups): every group with its members,
quota use and policy, created, renamed and deleted; the whole policy edited in one form."""

from .api import handlers as _api
from .pages import handlers as _pages

handlers = _pages + _api  # this feature's routes (hub_ext.portal.portal_handlers)
