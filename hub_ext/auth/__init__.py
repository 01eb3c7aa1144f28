"""Authentication: local accounts (argon2, sign-in throttling, TOTP 2FA) and OAuth/OIDC mode."""

from .authenticator import HubfrontAuthenticator, PortalHandlersMixin  # noqa: F401


def __getattr__(name):
    # oauthenticator is imported only when the OAuth mode is used
    if name == "HubfrontOAuthenticator":
        from .oauth import HubfrontOAuthenticator

        return HubfrontOAuthenticator
    raise AttributeError(name)
