"""OAuth / OpenID Connect mode: oauthenticator's GenericOAuthenticator plus the portal.

Identity, passwords and second factors belong to the identity provider; the
portal's password and 2FA pages say so. Group membership is synced from a
claim of the user info at every login (oauthenticator's ``manage_groups``), so
the provider is the source of truth for who is in which group.

Example (``jupyterhub_config.py``)::

    c.JupyterHub.authenticator_class = "hubfront-oauth"
    c.HubfrontOAuthenticator.client_id = "hubfront"
    c.HubfrontOAuthenticator.client_secret = "..."
    c.HubfrontOAuthenticator.oauth_callback_url = "https://hub.example.org/hub/oauth_callback"
    c.HubfrontOAuthenticator.authorize_url = "https://idp.example.org/authorize"
    c.HubfrontOAuthenticator.token_url = "https://idp.example.org/token"
    c.HubfrontOAuthenticator.userdata_url = "https://idp.example.org/userinfo"
    c.HubfrontOAuthenticator.groups_claim = "groups"
"""

from __future__ import annotations

from oauthenticator.generic import GenericOAuthenticator
from traitlets import Unicode, default

from .authenticator import PortalHandlersMixin


class HubfrontOAuthenticator(PortalHandlersMixin, GenericOAuthenticator):
    """Log in with an OAuth 2 / OIDC provider; groups come from a claim."""

    local_accounts = False

    groups_claim = Unicode(
        "groups",
        help="""Claim of the provider's user info that lists the user's groups.
        At every login the user's hub groups are set to exactly these (groups
        are created as needed). A dotted name reaches into nested claims
        (``realm_access.roles``). Ignored when ``auth_state_groups_key`` is set.""",
    ).tag(config=True)

    @default("manage_groups")
    def _manage_groups_default(self):
        return True

    @default("auth_state_groups_key")
    def _auth_state_groups_key_default(self):
        return f"{self.user_auth_state_key}.{self.groups_claim}"

    @default("scope")
    def _scope_default(self):
        return ["openid", "profile", "email"]

    @default("login_service")
    def _login_service_default(self):
        return "your organization's account"
