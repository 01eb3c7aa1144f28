"""``ssh -A``, where an operator allows it (``c.SSHGateway.allow_agent_forwarding``): the sessions of one
connection get ``SSH_AUTH_SOCK``, a socket that only the user's OS account may open, relaying to the agent on
the person's laptop (``git clone`` of a private repository without a key on the platform).

asyncssh's own agent socket is the gateway's (root's, in root's /tmp, which a workload's private /tmp hides),
so each connection gets one more: ``/run/hubfront-ssh/<random>.sock``, in a folder only root writes (no
member can plant a link there, so nothing root does there follows a path a member controls), owned by the
user's account with mode 0600 (the kernel checks write permission on a socket file before a connect), named
at random (the folder is not listable). Each connection to it opens an agent channel back to the client.
It is removed with the connection.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import stat

log = logging.getLogger("hubfront.ssh")
AGENT_DIR = "/run/hubfront-ssh"
CHUNK = 65536


def _agent_dir(path: str = AGENT_DIR) -> str:
    """The folder, made once: root's own, 0711 (passable, not listable). Anything else there is refused."""
    try:
        os.mkdir(path, 0o711)
    except FileExistsError:
        pass
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & 0o022:
        raise PermissionError(f"{path} is not the gateway's own folder")
    os.chmod(path, 0o711)
    return path


async def _pipe(reader, writer) -> None:
    try:
        while True:
            data = await reader.read(CHUNK)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except (OSError, ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        try:
            writer.write_eof()
        except (OSError, RuntimeError, AttributeError):
            pass


class AgentRelay:
    """One connection's ``SSH_AUTH_SOCK``, for the sessions of one user's account (``uid``)."""

    def __init__(self, conn, uid: int | None, folder: str = AGENT_DIR):
        self.conn, self.uid, self.folder = conn, uid, folder
        self.path = ""
        self.server: asyncio.AbstractServer | None = None

    async def start(self) -> str:
        folder = _agent_dir(self.folder)
        path = os.path.join(folder, f"{secrets.token_hex(16)}.sock")
        # its random name is the guard until the chmod: the folder cannot be listed
        self.server = await asyncio.start_unix_server(self._relay, path)
        os.chmod(path, 0o600)
        if self.uid is not None:
            os.chown(path, self.uid, -1, follow_symlinks=False)
        self.path = path
        return path

    async def _relay(self, local_reader, local_writer) -> None:
        try:
            agent_reader, agent_writer = await self.conn.open_agent_connection()
        except Exception as exc:  # noqa: BLE001 - the client's agent is gone or refused: this caller is told by EOF
            log.info("The client's agent could not be reached: %s", exc)
            local_writer.close()
            return
        await asyncio.gather(_pipe(local_reader, agent_writer), _pipe(agent_reader, local_writer))
        local_writer.close()
        agent_writer.close()

    def close(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None
        if self.path:
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass
            self.path = ""
