"""SSH keys: the page of the profile menu and ``/hub/api/portal/me/ssh-keys`` (issue 26)."""

from .handlers import handlers  # noqa: F401 - this feature's routes (hub_ext.portal.portal_handlers)
