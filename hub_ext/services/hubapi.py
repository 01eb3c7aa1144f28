"""What the runner asks the hub: groups, their policies and members (the hub's REST API).

Hub and runner share the portal DB and nothing else: group policies live in
the hub's own database (``group.properties``), so the runner reads them with
its service token, once per reconcile pass.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from urllib.parse import quote

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

from ..policy import GroupPolicy, policy_of
from ..store import changes

GROUP_TABLES = ("groups", "user_group_map")  # JupyterHub's: what the groups' policies and members come from
_GROUP_STAMPS = changes.Stamps.offsets(GROUP_TABLES)
KEPT_FOR = 10.0  # what the stamps cannot tell (a change made outside the hub's process) is seen this late at most


@dataclass(frozen=True)
class Groups:
    policies: dict[str, GroupPolicy] = field(default_factory=dict)
    members: dict[str, frozenset[str]] = field(default_factory=dict)

    def user_groups(self, username: str) -> tuple[str, ...]:
        return tuple(sorted(g for g, users in self.members.items() if username in users))


def hub_request(api_url: str, path: str, *, token: str | None = None, method: str = "GET", body: str | None = None,
                timeout: float = 30, headers: dict | None = None) -> HTTPRequest:
    """The one way the runner builds a request to the hub's REST API (``<api_url>/<path>``): with ``token``
    (the runner's own, or a browser's when checking it) and ``body`` already encoded."""
    headers = dict(headers or {})
    if token is not None:
        headers["Authorization"] = f"token {token}"
    return HTTPRequest(f"{api_url.rstrip('/')}/{path}", method=method, headers=headers, body=body,
                       connect_timeout=timeout, request_timeout=timeout, allow_nonstandard_methods=True)


class HubUnreachable(Exception):
    """The hub's REST API did not answer: a runner pass (it needs the groups' policies) is skipped, an app's
    access check refuses the request (503), never lets it through."""


class HubAPI:
    def __init__(self, api_url: str | None = None, token: str | None = None, db_url: str | None = None,
                 hub_changes: str = ""):
        self.db_url = db_url  # the portal DB: group images made by builds resolve to their version in use
        # the hub's database's change stamps: its groups are asked for again only once its group tables changed
        self.hub_changes = changes.stamps_at(hub_changes) if hub_changes else None
        self._kept: tuple[tuple, float, tuple[dict, dict]] | None = None
        self.api_url = (api_url or os.environ["JUPYTERHUB_API_URL"]).rstrip("/")
        self.token = token or os.environ["JUPYTERHUB_API_TOKEN"]
        self.client = AsyncHTTPClient()
        self._minted: dict[tuple[str, str], str] = {}  # (user, note) -> id of the token this process made

    async def _get(self, path: str):
        response = await self.client.fetch(hub_request(self.api_url, path, token=self.token,
                                                       headers={"Accept": "application/jupyterhub-pagination+json"}))
        return json.loads(response.body), response.headers

    async def groups(self) -> Groups:
        """Every group with its policy and members (paged through the hub's group list; the last answer while
        the hub's group tables are unchanged and it is under ``KEPT_FOR`` seconds old)."""
        shared = self.hub_changes
        seen = shared.of(_GROUP_STAMPS) if shared is not None else None
        kept = self._kept
        if kept is not None and kept[0] == seen and time.monotonic() - kept[1] < KEPT_FOR:
            policies, members = kept[2]
        else:
            asked = time.monotonic()
            policies, members = await self._all_groups()
            self._kept = (seen, asked, (policies, members)) if seen is not None else None
        if self.db_url:
            from ..images.resolve import resolved_policies

            policies = resolved_policies(policies, self.db_url)
        return Groups(policies, members)

    async def _all_groups(self) -> tuple[dict, dict]:
        policies, members = {}, {}
        offset = 0
        while True:
            body, _ = await self._get(f"groups?offset={offset}&limit=200")
            items = body["items"] if isinstance(body, dict) else body
            for g in items:
                policies[g["name"]] = policy_of(g.get("properties") or {})
                members[g["name"]] = frozenset(g.get("users") or [])
            if not isinstance(body, dict) or not body.get("_pagination", {}).get("next"):
                break
            offset += len(items)
        return policies, members

    async def user_groups(self, username: str) -> list[str]:
        body, _ = await self._get(f"users/{quote(username, safe='')}")
        return sorted(body.get("groups") or [])

    async def running_servers(self) -> list[tuple[str, str, dict]]:
        """(user, server name, the hub's server model) of every named server that is ready, paged through
        the hub's active users (as jupyterhub-idle-culler reads them)."""
        found, offset = [], 0
        while True:
            body, _ = await self._get(f"users?state=active&offset={offset}&limit=200")
            items = body["items"] if isinstance(body, dict) else body
            for user in items:
                for name, server in (user.get("servers") or {}).items():
                    if name and server.get("ready") and not server.get("pending"):
                        found.append((user["name"], name, server))
            if not isinstance(body, dict) or not body.get("_pagination", {}).get("next"):
                break
            offset += len(items)
        return found

    async def stop_server(self, username: str, server: str) -> None:
        """Stop a user's named server (the hub's stop: the spawner releases its reservation)."""
        await self.client.fetch(hub_request(self.api_url, f"users/{quote(username, safe='')}/servers/"
                                            f"{quote(server, safe='')}", token=self.token, method="DELETE",
                                            timeout=120))

    async def _send(self, method: str, path: str, body: dict | None = None):
        response = await self.client.fetch(hub_request(self.api_url, path, token=self.token, method=method,
                                                       body=None if body is None else json.dumps(body)))
        return json.loads(response.body) if response.body else None

    async def workload_token(self, username: str, note: str, expires_in: int | None) -> dict[str, str]:
        """The environment that lets a workload of ``username`` call the hub's and the portal's API as its
        owner: ``JUPYTERHUB_API_URL`` and a token with the portal's scopes (what the owner may do there),
        noted ``note`` and expiring after ``expires_in`` seconds (None: the hub's longest; revoked sooner by
        :meth:`revoke_workload_tokens` when the workload ends)."""
        from ..scopes import READ, WRITE

        body = {"note": note, "scopes": [READ, WRITE]}
        if expires_in is not None:
            body["expires_in"] = int(expires_in)
        made = await self._send("POST", f"users/{quote(username, safe='')}/tokens", body)
        if made.get("id"):
            self._minted[username, note] = made["id"]
        return {"JUPYTERHUB_API_URL": self.api_url, "JUPYTERHUB_API_TOKEN": made["token"]}

    async def revoke_workload_tokens(self, username: str, note: str) -> int:
        """Revoke ``username``'s tokens noted ``note``, or ``note`` and more words (the hub adds who asked for
        them); how many. The one this process made with exactly ``note`` goes by its id, without listing the
        user's tokens (one call: a job's end is recorded once its token is revoked)."""
        user = quote(username, safe="")
        token_id = self._minted.pop((username, note), None)
        if token_id is not None:
            try:
                await self._send("DELETE", f"users/{user}/tokens/{token_id}")
            except HTTPClientError as exc:
                if exc.code != 404:  # 404: gone already
                    raise
                return 0
            return 1
        for key in [k for k in self._minted if k[0] == username and k[1].startswith(note + " ")]:
            del self._minted[key]  # listed and revoked below
        listed = await self._send("GET", f"users/{user}/tokens")
        doomed = [t["id"] for t in listed.get("api_tokens", [])
                  if (t.get("note") or "") == note or (t.get("note") or "").startswith(note + " ")]
        for token_id in doomed:
            await self._send("DELETE", f"users/{user}/tokens/{token_id}")
        return len(doomed)

    # -- apps: each running app is a hub service of its own (the group's service account on the hub) ----------

    async def app_service(self, name: str, token: str) -> dict[str, str]:
        """The environment that lets an app call the hub's API as the hub service ``name`` (made with ``token``
        if the hub does not have it yet; an app adopted after a restart keeps the one it has). The service has
        no role: its token tells who it is (``GET /hub/api/user``) and reaches nothing of a user or a group."""
        try:
            await self._get(f"services/{quote(name, safe='')}")
        except HTTPClientError as exc:
            if exc.code != 404:
                raise
            await self._send("POST", f"services/{quote(name, safe='')}",
                             {"api_token": token, "display": False, "info": {"hubfront": "app"}})
        return {"JUPYTERHUB_API_URL": self.api_url, "JUPYTERHUB_API_TOKEN": token}

    async def remove_app_service(self, name: str) -> bool:
        """Remove the hub service ``name`` and with it its token; False when there was none."""
        try:
            await self._send("DELETE", f"services/{quote(name, safe='')}")
        except HTTPClientError as exc:
            if exc.code == 404:
                return False
            raise
        return True

    async def app_services(self, prefix: str) -> list[str]:
        """The names of the hub's services that start with ``prefix`` (apps' services a crash left behind)."""
        body, _ = await self._get("services")
        return sorted(name for name in (body if isinstance(body, dict) else {}) if name.startswith(prefix))
