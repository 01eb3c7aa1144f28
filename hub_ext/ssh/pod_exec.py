"""A session in the user's notebook pod on Kubernetes: a shell, a command or the sftp subsystem run through the
pod's exec API (``connect_get_namespaced_pod_exec`` over a websocket) and bridged to the SSH channel.

The exec websocket speaks Kubernetes' channel protocol (``v4.channel.k8s.io``, or ``v5.channel.k8s.io`` where
the API server offers it): each binary message's first byte is its channel, 0 stdin, 1 stdout, 2 stderr, 3 the
exec's end (a ``Status``: ``Success``, or the exit code in ``details.causes``), 4 the terminal's size (JSON
``{"Width", "Height"}``). v5 adds the close message (255, then the channel): the client's EOF is passed on as
stdin's close; with v4 there is none, so a command that reads its input to the end (``cat > file``) never sees
it end (sftp, scp and rsync end their streams themselves).

Nothing the client sends is ever parsed by a shell of the gateway's: the pod runs argv, the client's command
as one argument (``[shell, -lc, command]``), after ``env NAME=value ...`` for the SSH variables.

Flow control both ways: the pod's output is read from the websocket only while the channel takes more (aiohttp
then stops reading the socket, and the API server stops sending), and the client's input is taken only while
the websocket takes it.
"""

from __future__ import annotations

import asyncio
import json
import logging


from .session import CHUNK, INPUT_LIMIT, GatewaySession

STDIN, STDOUT, STDERR, STATUS, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255
V5, V4 = "v5.channel.k8s.io", "v4.channel.k8s.io"
PROTOCOLS = f"{V5},{V4}"
ENV = "/usr/bin/env"
LOST = "The connection to your notebook's pod was lost"
log = logging.getLogger("hubfront.ssh")


def exit_status(message: bytes) -> tuple[int | None, str]:
    """What channel 3 says at the exec's end: (the exit code, "") or, when the command could not run at all,
    (None, Kubernetes' words)."""
    try:
        status = json.loads(message)
    except ValueError:
        return None, message.decode(errors="replace")
    if status.get("status") == "Success":
        return 0, ""
    for cause in (status.get("details") or {}).get("causes") or []:
        if cause.get("reason") == "ExitCode":
            try:
                return int(cause.get("message")), ""
            except (TypeError, ValueError):
                break
    return None, str(status.get("message") or status.get("reason") or "the command could not run")


def protocol_of(ws) -> str:
    """The channel protocol the API server chose (aiohttp tells it only when it negotiated it itself)."""
    response = getattr(ws, "_response", None)
    return getattr(response, "headers", {}).get("Sec-WebSocket-Protocol", V4) or V4


class ExecStream:
    """One exec's websocket, read and written by channel."""

    def __init__(self, ws):
        self.ws = ws
        self.protocol = protocol_of(ws)
        self.status: tuple[int | None, str] | None = None  # from channel 3; None: the stream ended without one

    async def send(self, data: bytes) -> None:
        await self.ws.send_bytes(bytes([STDIN]) + data)

    async def close_stdin(self) -> bool:
        """Pass the client's EOF on (v5 only; False: the protocol cannot)."""
        if self.protocol != V5:
            return False
        await self.ws.send_bytes(bytes([CLOSE, STDIN]))
        return True

    async def resize(self, width: int, height: int) -> None:
        size = json.dumps({"Width": width or 80, "Height": height or 24})
        await self.ws.send_bytes(bytes([RESIZE]) + size.encode())

    async def pump(self, stdout, stderr, gate: asyncio.Event) -> None:
        """Copy channels 1 and 2 to ``stdout``/``stderr`` (each message while ``gate`` is set: the SSH channel
        takes more), until the stream ends; channel 3 sets ``status``."""
        import aiohttp

        while True:
            await gate.wait()
            message = await self.ws.receive()
            if message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED,
                                aiohttp.WSMsgType.ERROR):
                return
            if message.type != aiohttp.WSMsgType.BINARY or not message.data:
                continue
            channel, data = message.data[0], message.data[1:]
            if channel == STDOUT and data:
                stdout(data)
            elif channel == STDERR and data:
                stderr(data)
            elif channel == STATUS:
                self.status = exit_status(data)

    async def close(self) -> None:
        await self.ws.close()


def command_argv(kind: str, command: str, shell: str, sftp_server: str, env: dict[str, str]) -> list[str]:
    """The argv run in the pod: the sftp server; or the shell (a login shell, as a JupyterLab terminal's) after
    ``env`` with the session's variables, given the client's command as one argument."""
    if kind == "sftp":
        return [sftp_server]
    prefix = [ENV, *(f"{name}={value}" for name, value in env.items())] if env else []
    if kind == "exec":
        return [*prefix, shell, "-lc", command]
    return [*prefix, shell, "-l"]


def failure_words(message: str, argv0: str, kind: str) -> str:
    """What to tell the person at the terminal when the exec could not run at all."""
    missing = "no such file" in message.lower() or "not found" in message.lower()
    if kind == "sftp" and missing:
        return (f"SFTP is not available: your notebook's image has no {argv0} (the image needs OpenSSH's "
                "sftp-server, Debian package openssh-sftp-server; or set c.KubeSSH.sftp_server)")
    if missing:
        return f"Your notebook's image has no {argv0}"
    return f"Your session could not start in your notebook's pod: {message}"


class PodSession(GatewaySession):
    """What asyncssh drives for one session channel on Kubernetes (``landings.PodLandings.session``): the requests
    and the client's input are taken as for a local session (``session.GatewaySession``); the pod's exec API runs
    what they ask."""

    def __init__(self, connection, landings):
        super().__init__(connection)
        self.landings = landings  # ``landings.PodLandings``: the exec API and the settings
        self.stream: ExecStream | None = None
        self.input_ready = asyncio.Event()

    def _flush_input(self) -> None:  # the client's input (or its EOF) is there: ``_feed`` sends it
        self.input_ready.set()

    def terminal_size_changed(self, width, height, pixwidth, pixheight) -> None:
        if self.term is not None:
            self.term = (self.term[0], width, height, pixwidth, pixheight)
            if self.stream is not None:
                asyncio.ensure_future(self._resize())

    def connection_lost(self, exc) -> None:
        super().connection_lost(exc)
        self.input_ready.set()
        if self.task is not None and not self.task.done():
            self.task.cancel()  # the exec's websocket is closed: the pod's side hangs up

    async def _resize(self) -> None:
        try:
            await self.stream.resize(*self.term[1:3])
        except (OSError, ConnectionError, RuntimeError):
            pass  # the stream is ending

    async def _feed(self) -> None:
        """The client's input to stdin, as fast as the websocket takes it."""
        while True:
            await self.input_ready.wait()
            if self.pending:
                chunk = bytes(self.pending[:CHUNK])
                del self.pending[:CHUNK]
                await self.stream.send(chunk)
                if len(self.pending) <= INPUT_LIMIT:
                    self.chan.resume_reading()
                continue
            self.input_ready.clear()
            if self.input_eof:
                await self.stream.close_stdin()
                return

    async def _run(self) -> None:
        landing = await self._landed()
        if landing is None:
            return
        settings, tty = self.connection.gateway.settings, self.term is not None and self.argv_kind != "sftp"
        argv = command_argv(self.argv_kind, self.command, settings.shell, self.landings.settings.sftp_server,
                            self._ssh_environment(landing) if self.argv_kind != "sftp" else {})
        try:
            self.stream = ExecStream(await self.landings.exec(landing, argv, tty))
        except Exception as exc:  # noqa: BLE001 - refused by the API server, or out of reach
            log.warning("SSH session of %s could not start in pod %s/%s: %s", landing.username, landing.namespace,
                        landing.pod, exc)
            self.say(getattr(exc, "message", None) or "Your session could not start in your notebook's pod")
            self._exit(1)
            return
        log.info("SSH %s of %s in %s (pod %s/%s)", self.argv_kind, landing.username, landing.group, landing.namespace,
                 landing.pod)
        feed = asyncio.ensure_future(self._feed())
        try:
            with self._in_use(landing):
                if tty:
                    await self._resize()
                await self.stream.pump(self._out, self._err, self.writable)
        finally:
            feed.cancel()
            await asyncio.gather(feed, return_exceptions=True)
            await self.stream.close()
        code, failure = self.stream.status or (None, LOST)
        if code is None:
            self.say(LOST if failure == LOST else failure_words(failure, argv[0], self.argv_kind))
            code = 1 if self.argv_kind == "sftp" or failure == LOST else 127
        self._exit(code)
