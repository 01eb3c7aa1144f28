"""The SSH gateway's operator switches, with asyncssh's client against the gateway's server on the loopback and a
landing in this process's own network (no hub; the real namespaces are the e2e tests'): remote forwarding and
agent forwarding only where allowed, remote ports listening where the landing is and never privileged, the agent
reached from a session through a socket only its account opens, and idle connections closed while a running
command keeps its connection."""

from __future__ import annotations

import asyncio
import os
import shutil
import stat
import subprocess

import asyncssh
import pytest
from traitlets.config import Config

from hub_ext.auth.throttle import LoginThrottle
from hub_ext.bodies import parse_body
from hub_ext.isolation import Isolation
from hub_ext.ssh import keys
from hub_ext.ssh.landings import LocalLandings
from hub_ext.ssh.settings import SSHGateway
from support_ssh import serve_gateway
from hub_ext.ssh.target import Landing


class OneLanding(LocalLandings):
    """The user's notebook "runs" in this process's network, as this process's account (no isolation here)."""

    async def resolve(self, user, asked_group):
        return Landing(user["name"], "lab", "lab", os.getpid(), None, os.environ.get("HOME", "/"),
                       {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/")}, "",
                       lambda: (lambda: None))


class FakeHub:
    async def user(self, name):
        return {"name": name, "groups": ["lab"], "servers": {}}

    async def activity(self, name, server, when):
        pass


class Gateway:
    def __init__(self, db_url, **settings):
        self.db_url = db_url
        self.settings = SSHGateway(config=Config({"SSHGateway": settings}))
        self.throttle = LoginThrottle(db_url=db_url)
        self.isolation = Isolation(isolate="never")
        self.hub = FakeHub()
        self.landings = OneLanding(self)

    def session_opened(self, username, server):
        pass

    def session_closed(self, username, server):
        pass


@pytest.fixture
async def start(sqlite_url):
    servers = []

    async def started(**settings) -> Gateway:
        gw = Gateway(sqlite_url, **settings)
        servers.append(await serve_gateway(gw, agent_forwarding=gw.settings.allow_agent_forwarding))
        gw.key = asyncssh.generate_private_key("ssh-ed25519", comment=f"laptop-{len(servers)}")
        keys.add_key(sqlite_url, "ann", parse_body(keys.SSHKeyAdd, {"public_key": gw.key.export_public_key().decode()}))
        return gw

    yield started
    for server in servers:
        server.close()
        await server.wait_closed()


def connect(gw, **kw):
    kw.setdefault("agent_path", None)
    return asyncssh.connect("127.0.0.1", gw.port, username="ann", known_hosts=None, client_keys=[gw.key], **kw)


async def echo_server():
    async def echo(reader, writer):
        writer.write(b"laptop says: " + await reader.readline())
        await writer.drain()
        writer.close()

    return await asyncio.start_server(echo, "127.0.0.1", 0)


async def test_remote_forwarding_is_refused_unless_allowed(start):
    gw = await start()
    async with connect(gw) as conn:
        with pytest.raises(asyncssh.ChannelListenError):
            await conn.forward_remote_port("localhost", 0, "127.0.0.1", 9)


async def test_a_remote_port_listens_where_the_notebook_is_and_reaches_the_laptop(start):
    gw = await start(allow_remote_forwarding=True)
    laptop = await echo_server()
    try:
        async with connect(gw) as conn:
            listener = await conn.forward_remote_port("localhost", 0, "127.0.0.1", laptop.sockets[0].getsockname()[1])
            port = listener.get_port()
            assert port >= 1024
            reader, writer = await asyncio.open_connection("127.0.0.1", port)  # from "inside the notebook"
            writer.write(b"hello\n")
            assert await asyncio.wait_for(reader.read(), 30) == b"laptop says: hello\n"
            writer.close()
            with pytest.raises(asyncssh.ChannelListenError):  # root must not listen on a privileged port for them
                await conn.forward_remote_port("localhost", 80, "127.0.0.1", 9)
            listener.close()
            await listener.wait_closed()
            await asyncio.sleep(0.5)
            with pytest.raises(OSError):  # cancelled: nothing listens there any more
                await asyncio.open_connection("127.0.0.1", port)
    finally:
        laptop.close()
        await laptop.wait_closed()


@pytest.fixture
def laptop_agent(tmp_path):
    """A real ssh-agent (Debian's openssh-client) holding one key, as on the person's laptop."""
    if not shutil.which("ssh-agent"):
        pytest.fail("ssh-agent (openssh-client) is needed: make installs it")
    sock = str(tmp_path / "agent.sock")
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", sock], stdout=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if os.path.exists(sock):
                break
            subprocess.run(["sleep", "0.05"])
        key = asyncssh.generate_private_key("ssh-ed25519", comment="laptop-key")
        (tmp_path / "id").write_bytes(key.export_private_key())
        (tmp_path / "id").chmod(0o600)
        subprocess.run(["ssh-add", str(tmp_path / "id")], env={**os.environ, "SSH_AUTH_SOCK": sock}, check=True,
                       capture_output=True)
        yield sock, key.get_fingerprint()
    finally:
        agent.terminate()
        agent.wait(10)


async def test_the_agent_is_reached_from_a_session_only_where_allowed(start, laptop_agent):
    sock, fingerprint = laptop_agent
    listing = "ssh-add -l; echo sock=$SSH_AUTH_SOCK"
    gw = await start()
    async with connect(gw, agent_path=sock, agent_forwarding=True) as conn:
        result = await conn.run(listing)
    assert fingerprint not in result.stdout and "sock=\n" in result.stdout

    gw = await start(allow_agent_forwarding=True)
    async with connect(gw, agent_path=sock, agent_forwarding=True) as conn:
        result = await conn.run(listing)
        out = result.stdout
        assert fingerprint in out and "laptop-key" in out
        path = out.split("sock=", 1)[1].strip()
        st = os.stat(path)
        assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600
        folder = os.stat(os.path.dirname(path))
        assert folder.st_uid == 0 and stat.S_IMODE(folder.st_mode) == 0o711  # passable, not listable
    await asyncio.sleep(0.5)
    assert not os.path.exists(path)  # gone with the connection


async def openssh(gw, tmp_path, *args, stdin=asyncio.subprocess.DEVNULL):
    """Debian's OpenSSH client against the gateway, with the key registered for ann."""
    identity = tmp_path / "id_ann"
    identity.write_bytes(gw.key.export_private_key())
    identity.chmod(0o600)
    return await asyncio.create_subprocess_exec(
        "ssh", "-p", str(gw.port), "-i", str(identity), "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
        "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
        "ann@127.0.0.1", *args, stdin=stdin, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)


async def test_an_idle_connection_is_closed_saying_why_and_a_running_command_keeps_it(start, tmp_path):
    gw = await start(idle_timeout="2")
    command = await openssh(gw, tmp_path, "sleep 5; echo done")  # longer than the timeout, printing nothing
    out, err = await asyncio.wait_for(command.communicate(), 60)
    assert (command.returncode, out) == (0, b"done\n"), err

    shell = await openssh(gw, tmp_path, "-tt", stdin=asyncio.subprocess.PIPE)  # a terminal nobody types in
    try:
        out, err = await asyncio.wait_for(shell.communicate(), 60)
    finally:
        if shell.returncode is None:
            shell.kill()
            await shell.wait()
    assert shell.returncode == 255
    assert "Closed after 2 s without activity" in err.decode()
