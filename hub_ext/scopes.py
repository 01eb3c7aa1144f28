"""Custom JupyterHub scopes for the portal's REST API.

``define_custom_scopes`` must run before any ``needs_scope("custom:...")``
decorator is evaluated, so handler modules import this module first. The same
dict goes to ``c.JupyterHub.custom_scopes`` (see ``hub_ext.configure``).
"""

from jupyterhub.scopes import define_custom_scopes, scope_definitions

READ = "custom:hubfront:read"
WRITE = "custom:hubfront:write"

CUSTOM_SCOPES = {
    READ: {"description": "Read your portal data: group context, policies and usage of your groups."},
    WRITE: {
        "description": "Change your portal data: switch group context, launch workloads.",
        "subscopes": [READ],
    },
}

if READ not in scope_definitions:
    define_custom_scopes(CUSTOM_SCOPES)
