"""A private deployment's clients, read again when a call is refused: a client's token works the
moment the hub has created it.

The runner's status pass hands the forwarder each private deployment's clients
(:meth:`.deployer.Deployer._route`), a second or so after the hub wrote a new one. So a
script that creates a client and calls the endpoint at once would be refused in between;
instead, a call whose token matches no client makes the forwarder read the deployment's
clients from the portal DB before it answers 401. The read happens after the call arrived,
so it sees every client the hub had created by then. Calls with wrong tokens share reads:
each waits for a read that began after it arrived, and a new one begins at most every
``every`` seconds per deployment, so they cost the database no more than that.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from dataclasses import replace
from typing import Callable, Mapping

from .forward_routes import ClientCredential, RouteTable

log = logging.getLogger("hubfront.runner")


class FreshClients:
    def __init__(self, table: RouteTable, clients_of: Callable[[str], Mapping[str, ClientCredential]],
                 every: float = 0.2):
        self.table = table
        self.clients_of = clients_of  # deployment id -> its clients, read from the portal DB (blocking)
        self.every = every
        self._reads: dict[str, tuple[float, asyncio.Future]] = {}  # deployment -> (when the last read began, it)

    async def refresh(self, deployment_id: str) -> None:
        """Return once the deployment's route holds its clients as read after this call began."""
        asked = time.monotonic()
        while True:
            began, read = self._reads.get(deployment_id, (-math.inf, None))
            if read is not None and (began >= asked or not read.done()):
                await asyncio.shield(read)
                if began >= asked:
                    return
                continue  # an older read ended: the next loop starts one of this call's own
            wait = began + self.every - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
                continue
            self._reads[deployment_id] = (time.monotonic(), asyncio.ensure_future(self._read(deployment_id)))

    async def _read(self, deployment_id: str) -> None:
        try:
            clients = dict(await asyncio.to_thread(self.clients_of, deployment_id))
        except Exception:  # noqa: BLE001 - the caller is answered 401 as before; the next pass refreshes them
            log.warning("Reading the clients of deployment %s failed", deployment_id, exc_info=True)
            return
        d = self.table.deployments.get(deployment_id)
        if d is not None and d.route.access == "private":
            d.route = replace(d.route, clients=clients)
