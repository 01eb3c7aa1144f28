"""Authentication: local accounts (and, later, TOTP, lockout and OAuth)."""

from .authenticator import HubfrontAuthenticator, PortalHandlersMixin  # noqa: F401
