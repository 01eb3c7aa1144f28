"""Each running app's token for the hub's API (issue 21).

An app runs as its group's service account, which is an OS account and not a
hub user; on the hub it is a service of its own, ``hubfront-app-<id>``, made
when the app starts and removed (with its token) when it stops. The service
has no role: its token says who it is (``GET /hub/api/user``) and reaches no
user's or group's data, so a group's app can prove to the hub that it is that
app and can do nothing a member did not grant it. The token is kept encrypted
in the app's row so that an app the runner adopts after a restart, or a
replica it restarts, keeps the token the hub knows.
"""

from __future__ import annotations

import secrets
from typing import Callable

from ..apps.records import AppStore
from ..store.models_apps import App
from .hubapi import HubAPI

SERVICE_PREFIX = "hubfront-app-"
TOKEN = "JUPYTERHUB_API_TOKEN"


def service_name(app_id: int) -> str:
    """The hub service whose token the app ``app_id`` holds while it runs."""
    return f"{SERVICE_PREFIX}{app_id}"


class AppTokens:
    def __init__(self, hub: HubAPI | None, store: AppStore, save: Callable[..., None], log):
        self.hub = hub  # None: apps run without a token (no hub API, as in the runner's unit tests)
        self.store = store
        self.save = save  # AppRunner._set: writes the row's changed columns
        self.log = log

    async def env(self, row: App) -> dict[str, str]:
        """``JUPYTERHUB_API_URL`` and the app's token (its service made now if the hub lacks it); empty when
        the hub cannot be reached (the app starts without one and the failure is logged)."""
        if self.hub is None:
            return {}
        token = self.store.open_env(row.token_encrypted).get(TOKEN) or secrets.token_hex(32)
        try:
            env = await self.hub.app_service(service_name(row.id), token)
        except Exception as exc:  # noqa: BLE001 - it runs without one
            self.log.warning("App %s/%s: no API token: %s", row.group, row.name, exc)
            return {}
        if not row.token_encrypted:
            self.save(row, token_encrypted=self.store.seal_env({TOKEN: token}))
        return env

    async def drop(self, row: App) -> None:
        """The app stopped: its service and token are removed (a new one is made when it starts again)."""
        if self.hub is None:
            return
        try:
            await self.hub.remove_app_service(service_name(row.id))
        except Exception as exc:  # noqa: BLE001 - removed at the runner's next start
            self.log.warning("App %s/%s: its hub service was not removed: %s", row.group, row.name, exc)
            return
        self.save(row, token_encrypted="")

    async def forget(self, running: set[int]) -> None:
        """Remove the services of apps other than ``running`` (what a crash of the runner left behind)."""
        if self.hub is None:
            return
        keep = {service_name(app_id) for app_id in running}
        try:
            for name in await self.hub.app_services(SERVICE_PREFIX):
                if name not in keep:
                    await self.hub.remove_app_service(name)
                    self.log.info("Removed the hub service %s of an app that no longer runs", name)
        except Exception as exc:  # noqa: BLE001 - tried again at the next start
            self.log.warning("Apps' stale hub services not removed: %s", exc)
