"""Wire Hubfront into a JupyterHub config object.

``jupyterhub_config.py`` calls ``configure(c)``; so do the tests, so that the
hub under test is set up exactly like the one users run.
"""

from __future__ import annotations

import os

from . import template_dir
from .scopes import CUSTOM_SCOPES, READ, WRITE


def configure(c, *, spawner: str = "hubfront-local") -> None:
    """Authenticator, spawner, templates, scopes and roles for the portal."""
    from .portal.nav import template_var

    c.JupyterHub.authenticator_class = "hubfront"
    c.JupyterHub.spawner_class = spawner
    c.JupyterHub.template_paths = [template_dir()]
    c.JupyterHub.template_vars = {"hubfront": template_var}
    c.JupyterHub.custom_scopes = CUSTOM_SCOPES
    # every user may use the portal API for their own groups; what they may see
    # inside it is decided by group membership
    c.JupyterHub.load_roles = [
        {"name": "user", "description": "Hubfront user", "scopes": ["self", READ, WRITE]},
    ]
    admin = os.environ.get("HUBFRONT_ADMIN_USER", "admin")
    c.Authenticator.admin_users = {admin}
    # one server per group per user, named after the group
    c.JupyterHub.allow_named_servers = True
    c.JupyterHub.default_url = "/hub/home"
    # servers outlive a hub restart; their reservations stay in the ledger and
    # the ones that died meanwhile are released when the hub polls them
    c.JupyterHub.cleanup_servers = False
    # Preferences: put the user's default group in focus at each login
    # (composed with a post_auth_hook set before configure() runs)
    from .portal.preferences.prefs import default_group_hook

    previous = c.Authenticator.post_auth_hook if "post_auth_hook" in c.Authenticator else None
    if not getattr(previous, "hubfront_default_group", False):
        c.Authenticator.post_auth_hook = default_group_hook(previous)
