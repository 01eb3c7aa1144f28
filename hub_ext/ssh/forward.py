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

import asyncssh

from ..isolation.sandbox import join_network

CONNECT_TIMEOUT = 15.0


def connect_in(netns: str, host: str, port: int, timeout: float = CONNECT_TIMEOUT) -> socket.socket:
    """A TCP connection to ``host:port`` made in the network namespace ``netns`` ("": this process's)."""
    result: dict = {}

    def run() -> None:
        try:
            if netns:
                join_network(netns)
            result["sock"] = socket.create_connection((host, port), timeout)
        except BaseException as exc:  # handed to the caller
            result["error"] = exc

    thread = threading.Thread(target=run, name="ssh-forward-connect", daemon=True)
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    return result["sock"]


class _Socket(asyncio.Protocol):
    """The namespace's side of a forwarded connection."""

    def __init__(self):
        self.chan = None
        self.transport = None
        self.client_eof = False  # the client sent its EOF (written on to the socket)
        self.socket_eof = False  # the namespace's side sent its EOF (written on to the channel)

    def connection_made(self, transport) -> None:
        self.transport = transport
        transport.pause_reading()  # until the channel is there

    def data_received(self, data: bytes) -> None:
        self.chan.write(data)

    def eof_received(self) -> bool:
        self.socket_eof = True
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

    def connection_made(self, chan) -> None:
        self.side.chan = chan
        self.side.transport.resume_reading()

    def data_received(self, data: bytes, datatype) -> None:
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
