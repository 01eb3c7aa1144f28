"""Platform-wide account settings that admins change from the portal."""

from __future__ import annotations

from ..store import session_scope
from ..store.models_accounts import AccountSetting

REQUIRE_2FA = "require_2fa"


def require_2fa(db_url: str, default: bool) -> bool:
    """Whether every local account must use 2FA (the portal setting, else ``default``)."""
    with session_scope(db_url) as s:
        row = s.get(AccountSetting, REQUIRE_2FA)
    return default if row is None else row.value == "true"


def set_require_2fa(db_url: str, value: bool) -> None:
    with session_scope(db_url) as s:
        row = s.get(AccountSetting, REQUIRE_2FA)
        if row is None:
            s.add(AccountSetting(key=REQUIRE_2FA, value="true" if value else "false"))
        else:
            row.value = "true" if value else "false"
