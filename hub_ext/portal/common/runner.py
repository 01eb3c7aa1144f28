"""The hub's calls to the runner service (``hubfront-runner``): wake it for a pass now, ask its health.

The one place that builds a request to the runner: its URL and prefix from the hub's service
record, the service's own token. A runner on this machine is woken with one datagram on its Unix socket in
the data dir (``hub_ext.services.webapp.hear_wakes``), one elsewhere (or not listening) over HTTP.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket

from tornado.httpclient import AsyncHTTPClient, HTTPRequest

from ...services.webapp import SERVICE_NAME, wake_socket

log = logging.getLogger("hubfront.runner")


def _request(handler, path: str, method: str = "GET", timeout: float = 5) -> HTTPRequest | None:
    """A request to the runner's ``api/<path>``, or None when this hub has no runner service."""
    service = handler.services.get(SERVICE_NAME)
    if service is None or not service.url:
        return None
    return HTTPRequest(f"{service.url.rstrip('/')}{service.prefix}api/{path}", method=method,
                       body=b"" if method == "POST" else None, request_timeout=timeout,
                       headers={"Authorization": f"token {service.api_token}"})


_datagrams: list[socket.socket] = []


def _datagram(handler, service, loop: str) -> bool:
    """Wake a runner on this machine with a datagram; False where none listens (it is elsewhere, or starting)."""
    hubfront = getattr(handler, "hubfront", None)
    if hubfront is None or not service.api_token:
        return False
    if not _datagrams:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.setblocking(False)
        _datagrams.append(sock)
    try:
        _datagrams[0].sendto(f"{loop or 'all'} {service.api_token}".encode(), wake_socket(hubfront.data_dir))
    except OSError:  # no such socket, nobody bound to it, or its queue is full: over HTTP
        return False
    return True


def wake_runner(handler, loop: str = "") -> None:
    """Ask the runner for a reconcile pass now (fire and forget: its timer is the fallback). ``loop``:
    only that one of its loops ("jobs": jobs, schedules and deployments; "apps"), "": all of them."""
    service = handler.services.get(SERVICE_NAME)
    if service is not None and _datagram(handler, service, loop):
        return
    request = _request(handler, f"wake?loop={loop}" if loop else "wake", "POST")
    if request is None:
        return

    async def _send():
        try:
            await AsyncHTTPClient().fetch(request)
        except Exception as exc:  # noqa: BLE001 - the runner's timer catches up
            log.debug("Runner not woken: %s", exc)

    asyncio.ensure_future(_send())


async def runner_health(handler) -> dict:
    """Whether the runner answers its health check, and when its last pass ended."""
    request = _request(handler, "health", timeout=3)
    if request is None:
        return {"configured": False, "up": False, "last_pass": None, "message": "No runner service on this hub"}
    try:
        answer = await AsyncHTTPClient().fetch(request)
        data = json.loads(answer.body or b"{}")
    except Exception as exc:  # noqa: BLE001 - down, starting, or not answering: all "not up"
        return {"configured": True, "up": False, "last_pass": None, "message": f"Not answering: {exc}"}
    return {"configured": True, "up": True, "last_pass": data.get("last_pass"), "message": "Answering"}
