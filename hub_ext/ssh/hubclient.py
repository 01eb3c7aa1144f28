"""The gateway's two questions to the hub's REST API: whose is this token, and what does the hub know of this
user (groups, servers and their spawner state: the notebook server's process)."""

from __future__ import annotations

import json
from urllib.parse import quote

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

TIMEOUT = 20.0


def reaches_servers(scopes: list[str], name: str) -> bool:
    """Whether a token with ``scopes`` (as ``GET /hub/api/user`` lists them) may use ``name``'s servers: a shell
    in one is no more than that. A token made only to read something (``read:users:name``) opens no shell."""
    return any(s == "access:servers" or s == f"access:servers!user={name}"
               or s.startswith(f"access:servers!server={name}/") for s in scopes)


class HubClient:
    def __init__(self, api_url: str, token: str):
        self.api_url = api_url.rstrip("/")
        self.token = token

    async def _get(self, path: str, token: str) -> dict | None:
        request = HTTPRequest(f"{self.api_url}{path}", headers={"Authorization": f"token {token}"},
                              request_timeout=TIMEOUT, connect_timeout=TIMEOUT)
        try:
            response = await AsyncHTTPClient().fetch(request)
        except HTTPClientError as exc:
            if exc.code in (401, 403, 404):
                return None
            raise
        return json.loads(response.body)

    async def token_owner(self, token: str) -> str | None:
        """The user a hub API token belongs to (None: not a valid user token)."""
        if not token or len(token) > 1024 or any(c.isspace() for c in token):
            return None
        model = await self._get("/user", token)
        if not model or model.get("kind", "user") != "user" or not isinstance(model.get("name"), str):
            return None
        return model["name"] if reaches_servers(model.get("scopes") or [], model["name"]) else None

    async def activity(self, name: str, server: str, when: str) -> None:
        """Tell the hub ``name``'s ``server`` was in use at ``when`` (ISO): an SSH session is activity, which
        the idle culler counts as a JupyterLab terminal's."""
        body = json.dumps({"last_activity": when, "servers": {server: {"last_activity": when}}})
        request = HTTPRequest(f"{self.api_url}/users/{quote(name, safe='')}/activity", method="POST", body=body,
                              headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
                              request_timeout=TIMEOUT, connect_timeout=TIMEOUT)
        await AsyncHTTPClient().fetch(request)

    async def start_server(self, name: str, server: str, group: str) -> str | None:
        """Start ``name``'s notebook for ``group`` with the group's defaults, as the Notebooks page's quick launch
        does (the hub admits it into the quota); None when it is starting, else the hub's refusal in words."""
        request = HTTPRequest(f"{self.api_url}/users/{quote(name, safe='')}/servers/{quote(server, safe='')}",
                              method="POST", body=json.dumps({"group": group}),
                              headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
                              request_timeout=TIMEOUT * 3, connect_timeout=TIMEOUT)
        try:
            await AsyncHTTPClient().fetch(request)
        except HTTPClientError as exc:
            if exc.code == 400 and exc.response is not None and b"already" in (exc.response.body or b""):
                return None  # started meanwhile (another session)
            try:
                return json.loads(exc.response.body).get("message") or str(exc)
            except (AttributeError, TypeError, ValueError):
                return str(exc)
        return None

    async def user(self, name: str) -> dict | None:
        """The hub's model of ``name``: groups, and servers with their state (None: no such user)."""
        return await self._get(f"/users/{quote(name, safe='')}", self.token)
