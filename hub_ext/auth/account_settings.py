"""Platform-wide account settings that admins change from the portal."""

from __future__ import annotations

import time

from ..store import session_scope
from ..store.models_accounts import AccountSetting

REQUIRE_2FA = "require_2fa"
# HubfrontAuthenticator.require_2fa, recorded at hub start for code that has no
# authenticator at hand (the banner provider)
_configured_default = {"require_2fa": False}


def configure_default(require: bool) -> None:
    _configured_default["require_2fa"] = bool(require)


# Read on every page (the banner): keep the stored value for a few seconds.
_CACHE_SECONDS = 5.0
_cache: dict[str, tuple[float, str | None]] = {}


def _stored(db_url: str) -> str | None:
    hit = _cache.get(db_url)
    if hit and time.monotonic() - hit[0] < _CACHE_SECONDS:
        return hit[1]
    with session_scope(db_url) as s:
        row = s.get(AccountSetting, REQUIRE_2FA)
        value = row.value if row is not None else None
    _cache[db_url] = (time.monotonic(), value)
    return value


def require_2fa(db_url: str, default: bool | None = None) -> bool:
    """Whether every local account must use 2FA (the portal setting, else the configured default)."""
    value = _stored(db_url)
    if value is None:
        return _configured_default["require_2fa"] if default is None else default
    return value == "true"


def set_require_2fa(db_url: str, value: bool) -> None:
    _cache.pop(db_url, None)
    with session_scope(db_url) as s:
        row = s.get(AccountSetting, REQUIRE_2FA)
        if row is None:
            s.add(AccountSetting(key=REQUIRE_2FA, value="true" if value else "false"))
        else:
            row.value = "true" if value else "false"
