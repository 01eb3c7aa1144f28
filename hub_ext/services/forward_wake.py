"""A deployment scaled to zero still answers: the first request wakes it and is held until a replica is ready.

The deployer hands the forwarder a :class:`.forward_routes.Route` with ``wakes`` set while the
deployment is at zero and while it wakes. A request that then finds no ready replica:

1. past ``EndpointForwarder.max_held`` requests already held for the deployment, is answered 503 with
   ``Retry-After`` at once (the held queue is bounded: each held request is an open connection);
2. asks the :class:`Waker` (the deployer, :meth:`.deployer.Deployer.wake`) to wake it. Every request
   held at once shares one wake; the wake admits the replicas in the ledger like any start, so a group
   whose quota is full gets 503 with the ledger's message (``Retry-After`` too: quota may free up);
3. waits until a replica is ready (:func:`until_ready`), at most the route's
   ``cold_start_timeout`` from its arrival, then goes on as any request (:meth:`.forward._Exchange._ready`);
   past it, 503 with ``Retry-After`` (the deployment keeps waking).

Tornado reads a held request's body only once it is admitted, so a held request costs a connection and
its headers, not its body.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol

from .forward_routes import Deployment, RouteTable


class Waker(Protocol):
    async def wake(self, deployment_id: str) -> str:
        """Start the deployment's replicas (admitted in the ledger); "" once they are starting (or already
        were), else why they cannot start, in words for the caller (the quota's refusal)."""


async def hold_while_waking(exchange, headers):
    """Hold ``exchange`` (a request of a deployment at zero, without a ready replica) while the deployment
    wakes; then forward it (the awaitable :meth:`~.forward._Exchange._ready` returns, if any) or refuse it."""
    ep, d = exchange.ep, exchange.dep
    dep_id, settings = d.route.deployment_id, ep.settings
    retry = {"Retry-After": str(settings.retry_after)}
    waker = ep.table.waker
    if waker is None:
        return exchange._refuse(*exchange._unavailable(None))
    if d.held >= settings.max_held:
        return exchange._refuse(503, f"Deployment {dep_id} is waking up and {d.held} requests wait for it "
                                     "already; try again in a few seconds", retry)
    timeout = d.route.cold_start_timeout
    deadline = time.monotonic() + timeout
    d.held += 1
    try:
        refusal = await waker.wake(dep_id)
        if refusal:
            return exchange._refuse(503, f"Deployment {dep_id} is scaled to zero and cannot wake now: {refusal}",
                                    retry)
        ready = await until_ready(ep.table, dep_id, deadline - time.monotonic())
    finally:
        d.held -= 1
    if ready is None:
        return exchange._refuse(404, f"No such deployment: {dep_id}")
    if not ready.ready:
        return exchange._refuse(503, f"Deployment {dep_id} was woken but no replica was ready within "
                                     f"{timeout:g} s (its cold start timeout); try again", retry)
    if exchange.gone:
        return None
    exchange.dep = ready
    return exchange._ready(headers)


async def until_ready(table: RouteTable, deployment_id: str, timeout: float) -> Deployment | None:
    """The deployment once a replica of it is ready, or as it is after ``timeout`` seconds (None: removed).
    Its waiters share one event, set by :meth:`.forward_routes.Deployment.rotate` once one is ready."""
    deadline = time.monotonic() + timeout
    while (d := table.deployments.get(deployment_id)) is not None and not d.ready:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        if d.woken is None:
            d.woken = asyncio.Event()
        try:
            await asyncio.wait_for(d.woken.wait(), left)
        except asyncio.TimeoutError:
            pass
    return d
