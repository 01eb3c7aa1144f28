"""``ssh -R``, where an operator allows it (``c.SSHGateway.allow_remote_forwarding``): the port listens *inside*
the notebook server's network namespace, never on the gateway's or the host's network. ``ssh -R 9000:localhost:
9000`` makes the notebook's ``localhost:9000`` (and only the notebook's: its namespace is its own, and the
host's rules keep other workloads out) reach port 9000 of the person's laptop.

The listening socket is made in the namespace by :func:`.forward.in_namespace`; once bound, it stays there
whichever thread accepts on it. Ports under 1024 are
refused: the member could not listen there themselves, and the gateway (root) must not do it for them.
"""

from __future__ import annotations

import asyncio
import logging
import socket

import asyncssh

from .forward import ForwardSession, _Socket, in_namespace

FIRST_PORT = 1024  # below: privileged ports
BACKLOG = 32
log = logging.getLogger("hubfront.ssh")


class RefusedListen(OSError):
    """asyncssh answers an OSError from ``server_requested`` with a plain refusal to the client."""


def listen_in(netns: str, host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` in the network namespace ``netns`` ("": this process's)."""

    def listen() -> socket.socket:
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
            sock.listen(BACKLOG)
        except BaseException:
            sock.close()
            raise
        return sock

    return in_namespace(netns, listen)


def bind_address(listen_host: str) -> str:
    """What the client's listen host means inside the namespace: "" and localhost are its loopback."""
    host = (listen_host or "").strip().lower()
    if host in ("", "localhost", "ip6-localhost"):
        return "127.0.0.1"
    if host == "*":
        return "0.0.0.0"
    return host


class _Inbound(_Socket):
    """A connection made to the forwarded port inside the namespace, carried to the client on a channel."""

    def __init__(self, conn, listen_host: str, listen_port: int):
        super().__init__()
        self.conn, self.listen_host, self.listen_port = conn, listen_host, listen_port

    def connection_made(self, transport) -> None:
        super().connection_made(transport)  # paused until the channel is there
        self.saw_data = getattr(self.conn.get_owner(), "saw_data", self.saw_data)
        peer = transport.get_extra_info("peername") or ("", 0)
        asyncio.ensure_future(self._open(str(peer[0]), int(peer[1])))

    async def _open(self, orig_host: str, orig_port: int) -> None:
        try:
            await self.conn.create_connection(lambda: ForwardSession(self), self.listen_host, self.listen_port,
                                              orig_host, orig_port)
        except (asyncssh.Error, OSError) as exc:  # the client refused it, or is gone
            log.info("Remote-forwarded connection to %s:%s not taken by the client: %s", self.listen_host,
                     self.listen_port, exc)
            self.transport.close()


class NamespaceListener(asyncssh.SSHListener):
    """What asyncssh keeps for one ``-R`` (closed on ``cancel-tcpip-forward`` and with the connection)."""

    def __init__(self, server: asyncio.AbstractServer, port: int):
        super().__init__()
        self.server, self.port = server, port

    def get_port(self) -> int:
        return self.port

    def close(self) -> None:
        self.server.close()

    async def wait_closed(self) -> None:
        await self.server.wait_closed()


async def open_remote_forward(conn, netns: str, listen_host: str, listen_port: int) -> NamespaceListener:
    """Listen on ``listen_host:listen_port`` in ``netns`` for the client; RefusedListen/OSError: refused."""
    if listen_port and listen_port < FIRST_PORT:
        raise RefusedListen(f"port {listen_port} is privileged")
    sock = await asyncio.to_thread(listen_in, netns, bind_address(listen_host), listen_port)
    port = sock.getsockname()[1]
    sock.setblocking(False)
    server = await asyncio.get_running_loop().create_server(
        lambda: _Inbound(conn, listen_host, port), sock=sock)
    return NamespaceListener(server, port)
