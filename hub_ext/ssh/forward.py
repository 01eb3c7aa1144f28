"""``ssh -L`` (and ``-W``): TCP connections the client asks for, made *inside* the notebook server's network
namespace, so ``localhost:8888`` is the user's own notebook's port (TensorBoard, a dev server, VS Code's
server), never the gateway's, the host's or another user's.

The socket is made by a thread of its own that joins the namespace (``hub_ext.isolation``'s one way in) and
then ends: a network namespace is per thread, and no thread of the gateway's pool ever changes its own.
Once made, the socket belongs to that namespace whichever thread uses it.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from typing import Callable, TypeVar

import asyncssh

from ..isolation.sandbox import join_network

CONNECT_TIMEOUT = 15.0
T = TypeVar("T")


def in_namespace(netns: str, make: Callable[[], T]) -> T:
    """``make()`` run by a thread of its own that joins the network namespace ``netns`` ("": this process's)
    and then ends; what it makes (a socket) stays in that namespace whichever thread uses it."""
    result: dict = {}

    def run() -> None:
        try:
            if netns:
                join_network(netns)
            result["made"] = make()
        except BaseException as exc:  # handed to the caller
            result["error"] = exc

    thread = threading.Thread(target=run, name="ssh-namespace", daemon=True)
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    return result["made"]


def connect_in(netns: str, host: str, port: int, timeout: float = CONNECT_TIMEOUT) -> socket.socket:
    """A TCP connection to ``host:port`` made in the network namespace ``netns`` ("": this process's)."""
    return in_namespace(netns, lambda: socket.create_connection((host, port), timeout))


def _nothing() -> None:
    pass


class _Socket(asyncio.Protocol):
    """The namespace's side of a forwarded connection."""

    def __init__(self):
        self.chan = None
        self.transport = None
        self.saw_data = _nothing  # the connection's idle clock (``GatewayServer.saw_data``)
        self.early = bytearray()  # what came before the channel was there
        self.client_eof = False  # the client sent its EOF (written on to the socket)
        self.socket_eof = False  # the namespace's side sent its EOF (written on to the channel)

    def connection_made(self, transport) -> None:
        self.transport = transport
        transport.pause_reading()  # until the channel is there (Python 3.11 may still deliver once: ``early``)

    def data_received(self, data: bytes) -> None:
        self.saw_data()
        if self.chan is None:
            self.early += data
            self.transport.pause_reading()
            return
        self.chan.write(data)

    def channel_open(self, chan) -> None:
        self.chan = chan
        if self.early:
            chan.write(bytes(self.early))
            self.early.clear()
        if self.socket_eof:
            chan.write_eof()
        else:
            self.transport.resume_reading()

    def eof_received(self) -> bool:
        self.socket_eof = True
        if self.chan is None:  # said when the channel is there
            return True
        self.chan.write_eof()
        return not self.client_eof  # both ways done: the transport closes, and the channel with it

    def connection_lost(self, exc) -> None:
        if self.chan is not None:
            self.chan.close()

    def pause_writing(self) -> None:
        if self.chan is not None:
            self.chan.pause_reading()

    def resume_writing(self) -> None:
        if self.chan is not None:
            self.chan.resume_reading()


class ForwardSession(asyncssh.SSHTCPSession):
    """The client's side: the channel, bridged to the socket."""

    def __init__(self, side: _Socket):
        self.side = side

    def watch_activity(self, saw_data) -> None:
        """Call ``saw_data`` whenever data goes through (the connection's SSH idle timeout)."""
        self.side.saw_data = saw_data

    def connection_made(self, chan) -> None:
        self.side.channel_open(chan)

    def data_received(self, data: bytes, datatype) -> None:
        self.side.saw_data()
        self.side.transport.write(data)

    def eof_received(self) -> bool:
        self.side.client_eof = True
        if self.side.socket_eof:  # the answer had ended first: both ways are done
            self.side.transport.close()
            return False
        if self.side.transport.can_write_eof():
            self.side.transport.write_eof()
        return True  # the answer may still come

    def pause_writing(self) -> None:
        self.side.transport.pause_reading()

    def resume_writing(self) -> None:
        self.side.transport.resume_reading()

    def connection_lost(self, exc) -> None:
        self.side.transport.close()


async def open_forward(netns: str, host: str, port: int) -> ForwardSession:
    """The session of one forwarded connection, or ChannelOpenError (the client says "connect failed")."""
    try:
        sock = await asyncio.to_thread(connect_in, netns, host, port)
    except OSError as exc:
        raise asyncssh.ChannelOpenError(asyncssh.OPEN_CONNECT_FAILED, f"{host}:{port}: {exc.strerror or exc}") from None
    sock.settimeout(None)
    sock.setblocking(False)
    _, side = await asyncio.get_running_loop().create_connection(_Socket, sock=sock)
    return ForwardSession(side)
