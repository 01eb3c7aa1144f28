"""``ssh -L`` (and ``-W``) on Kubernetes: a TCP connection to ``localhost:<port>`` inside the user's notebook pod,
through the pod's port-forward API (``connect_get_namespaced_pod_portforward`` over a websocket), so the port is
the user's own notebook's (TensorBoard, a dev server, VS Code's server), never the gateway's or another pod's.

The port-forward websocket speaks the channel protocol (``v4.channel.k8s.io``) with two channels for the one
port: 0 its data, 1 its errors (what the kubelet says when nothing listens there). The first message on each
channel starts with the port number (2 bytes, little-endian), which is not data. The protocol has no
half-close: the client's EOF is kept until the pod's side ends, which closes the channel.
"""

from __future__ import annotations

import asyncio
import logging

import asyncssh

DATA, ERROR = 0, 1
CHUNK = 65536
INPUT_LIMIT = 1 << 20
LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1", "ip6-localhost")
log = logging.getLogger("hubfront.ssh")


def check_destination(host: str, port: int) -> None:
    """Only the pod's own loopback is reachable through its port-forward API: any other host is refused."""
    if host.lower().strip("[]") not in LOCAL_HOSTS:
        raise asyncssh.ChannelOpenError(
            asyncssh.OPEN_ADMINISTRATIVELY_PROHIBITED,
            f"{host}:{port}: on Kubernetes only ports of your notebook's pod (localhost:<port>) can be forwarded")
    if not 0 < port < 65536:
        raise asyncssh.ChannelOpenError(asyncssh.OPEN_CONNECT_FAILED, f"{host}:{port}: not a port")


class PodForward(asyncssh.SSHTCPSession):
    """One forwarded connection: the SSH channel bridged to the port-forward websocket ``ws``."""

    def __init__(self, ws, where: str):
        self.ws, self.where = ws, where
        self.chan = None
        self.pending = bytearray()
        self.client_eof = False
        self.input_ready = asyncio.Event()
        self.writable = asyncio.Event()
        self.writable.set()
        self.error = ""  # what the kubelet said on the error channel
        self.tasks: list[asyncio.Task] = []
        self.saw_data = lambda: None  # the connection's idle clock (``watch_activity``)

    def connection_made(self, chan) -> None:
        self.chan = chan
        self.tasks = [asyncio.ensure_future(self._to_client()), asyncio.ensure_future(self._to_pod())]

    def watch_activity(self, saw_data) -> None:
        """Call ``saw_data`` whenever data goes through (the connection's SSH idle timeout)."""
        self.saw_data = saw_data

    def data_received(self, data: bytes, datatype) -> None:
        self.saw_data()
        self.pending += data
        if len(self.pending) > INPUT_LIMIT:
            self.chan.pause_reading()
        self.input_ready.set()

    def eof_received(self) -> bool:
        self.client_eof = True
        return True  # the answer may still come; the pod's side ends the connection

    def pause_writing(self) -> None:
        self.writable.clear()

    def resume_writing(self) -> None:
        self.writable.set()

    def connection_lost(self, exc) -> None:
        for task in self.tasks:
            task.cancel()
        asyncio.ensure_future(self.ws.close())

    async def _to_pod(self) -> None:
        while True:
            await self.input_ready.wait()
            self.input_ready.clear()
            while self.pending:
                chunk = bytes(self.pending[:CHUNK])
                del self.pending[:CHUNK]
                await self.ws.send_bytes(bytes([DATA]) + chunk)
            self.chan.resume_reading()

    async def _to_client(self) -> None:
        import aiohttp

        first = {DATA: True, ERROR: True}  # each channel's first message starts with the port number
        try:
            while True:
                await self.writable.wait()
                message = await self.ws.receive()
                if message.type != aiohttp.WSMsgType.BINARY:
                    if message.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.PING, aiohttp.WSMsgType.PONG):
                        continue
                    break
                if not message.data:
                    continue
                channel, data = message.data[0], message.data[1:]
                if first.get(channel):
                    first[channel], data = False, data[2:]
                if channel == DATA and data:
                    self.saw_data()
                    self.chan.write(data)
                elif channel == ERROR and data:
                    self.error += data.decode(errors="replace")
                    break
        finally:
            if self.error:
                log.info("SSH forward to %s: %s", self.where, self.error.strip())
            try:
                self.chan.write_eof()
            except (OSError, asyncssh.Error):
                pass
            self.chan.close()
