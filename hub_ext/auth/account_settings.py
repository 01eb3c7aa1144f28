"""Platform-wide account settings that admins change from the portal."""

from __future__ import annotations

from ..store import session_scope
from ..store.models_accounts import AccountSetting

REQUIRE_2FA = "require_2fa"
# HubfrontAuthenticator.require_2fa, recorded at hub start for code that has no
# authenticator at hand (the banner provider)
_configured_default = {"require_2fa": False}


def configure_default(require: bool) -> None:
    _configured_default["require_2fa"] = bool(require)


def require_2fa(db_url: str, default: bool | None = None) -> bool:
    """Whether every local account must use 2FA (the portal setting, else the configured default)."""
    with session_scope(db_url) as s:
        row = s.get(AccountSetting, REQUIRE_2FA)
    if row is None:
        return _configured_default["require_2fa"] if default is None else default
    return row.value == "true"


def set_require_2fa(db_url: str, value: bool) -> None:
    with session_scope(db_url) as s:
        row = s.get(AccountSetting, REQUIRE_2FA)
        if row is None:
            s.add(AccountSetting(key=REQUIRE_2FA, value="true" if value else "false"))
        else:
            row.value = "true" if value else "false"
