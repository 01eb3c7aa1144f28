"""The SSH gateway's Kubernetes landing without a cluster: asyncssh's client signs in to the gateway's server, whose
sessions run through kubernetes_asyncio's real exec and port-forward requests against a fake API server that
speaks the Kubernetes channel protocol over websockets (``v5.channel.k8s.io``/``v4.channel.k8s.io``: the first
byte of each message is its channel). The bridge must keep stdout, stderr and stdin apart, lose no byte either
way, pass the client's EOF where the protocol can, resize the terminal, and end with the exec's own exit status;
the exec must name the user's own pod (checked by its annotation), the ``notebook`` container and the client's
command as one argument."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
from types import SimpleNamespace

import aiohttp
import asyncssh
import pytest
from aiohttp import web
from kubernetes_asyncio.client import Configuration
from traitlets.config import Config

from hub_ext.auth.throttle import LoginThrottle
from hub_ext.isolation import Isolation
from hub_ext.ssh.landings import LocalLandings, PodLandings, landings_for
from hub_ext.ssh.pod_exec import V4, V5, command_argv, exit_status
from hub_ext.ssh.pod_target import KubeSSH
from hub_ext.ssh.settings import SSHGateway
from support_ssh import serve_gateway

POD, NAMESPACE = "jupyter-ann--lab", "hubfront"
SUCCESS = {"metadata": {}, "status": "Success"}


def exited(code: int) -> dict:
    return {"metadata": {}, "status": "Failure", "message": f"command terminated with non-zero exit code: {code}",
            "reason": "NonZeroExitCode", "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]}}


class FakeKube:
    """The API server's part the gateway uses: read a pod, exec in it, forward one of its ports. Each websocket
    request is answered by the test's script (``exec_script``/``forward_script``: ``async (ws) -> None``)."""

    def __init__(self, protocol: str = V5):
        self.protocol = protocol
        self.owner = "ann"  # the pod's hub.jupyter.org/username annotation
        self.execs: list[dict] = []
        self.forwards: list[dict] = []
        self.exec_script = None
        self.forward_script = None
        self.refuse_exec = 0  # an HTTP status to refuse the exec's upgrade with

    async def pod(self, request):
        return web.json_response({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": request.match_info["pod"], "namespace": request.match_info["ns"],
                         "annotations": {"hub.jupyter.org/username": self.owner}},
            "spec": {"containers": [{"name": "notebook", "image": "x"}]}, "status": {"phase": "Running"}})

    def seen(self, request) -> dict:
        query = request.query
        # booleans as the API server reads them (kubernetes_asyncio sends True/False; "false" in any case is false)
        return {"path": request.path, "command": query.getall("command", []),
                **{k: v.lower() if v.lower() in ("true", "false") else v for k, v in query.items() if k != "command"},
                "protocols": request.headers.get(
                    "Sec-WebSocket-Protocol", "")}

    async def exec(self, request):
        self.execs.append(self.seen(request))
        if self.refuse_exec:
            raise web.HTTPForbidden(text='{"kind":"Status","message":"pods \\"x\\" is forbidden"}')
        ws = web.WebSocketResponse(protocols=(self.protocol,), max_msg_size=0)
        await ws.prepare(request)
        await self.exec_script(ws)
        await ws.close()
        return ws

    async def forward(self, request):
        self.forwards.append(self.seen(request))
        ws = web.WebSocketResponse(protocols=(V4,), max_msg_size=0)
        await ws.prepare(request)
        port = int(request.query["ports"]).to_bytes(2, "little")
        await ws.send_bytes(b"\0" + port)
        await ws.send_bytes(b"\1" + port)
        await self.forward_script(ws)
        await ws.close()
        return ws


async def stdin_of(ws):
    """Each stdin message's data (b"" for v5's close of stdin), as the pod receives them."""
    async for message in ws:
        if message.type != aiohttp.WSMsgType.BINARY:
            continue
        if message.data[:2] == b"\xff\x00":
            yield b""
            return
        assert message.data[0] == 0, f"channel {message.data[0]} where stdin was expected"
        yield message.data[1:]


class FakeHub:
    async def token_owner(self, token):
        return {"ann-token": "ann"}.get(token)

    async def user(self, name):
        return {"name": name, "groups": ["lab"],
                "servers": {"lab": {"ready": True, "state": {"pod_name": POD, "namespace": NAMESPACE}}}}

    async def activity(self, name, server, when):
        pass


class FakeGateway:
    def __init__(self, db_url, api_port):
        self.db_url = db_url
        self.settings = SSHGateway(config=Config({"SSHGateway": {"start_on_demand": False}}))
        self.throttle = LoginThrottle(db_url=db_url)
        self.isolation = Isolation(isolate="never")
        self.hub = FakeHub()
        self.landings = PodLandings(self, KubeSSH(), configuration=Configuration(host=f"http://127.0.0.1:{api_port}"))
        self.opened: list[tuple[str, str]] = []

    def session_opened(self, username, server):
        self.opened.append((username, server))

    def session_closed(self, username, server):
        pass


@pytest.fixture(params=[V5])
async def kube(request):
    fake = FakeKube(request.param)
    app = web.Application()
    app.router.add_get("/api/v1/namespaces/{ns}/pods/{pod}", fake.pod)
    app.router.add_get("/api/v1/namespaces/{ns}/pods/{pod}/exec", fake.exec)
    app.router.add_get("/api/v1/namespaces/{ns}/pods/{pod}/portforward", fake.forward)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    fake.port = site._server.sockets[0].getsockname()[1]
    yield fake
    await runner.cleanup()


@pytest.fixture
async def gateway(sqlite_url, kube):
    gw = FakeGateway(sqlite_url, kube.port)
    server = await serve_gateway(gw)
    yield gw
    server.close()
    await server.wait_closed()
    for api in await gw.landings.apis():
        await api.api_client.close()


def connect(gw):
    return asyncssh.connect("127.0.0.1", gw.port, username="ann", password="ann-token", known_hosts=None,
                            client_keys=None, agent_path=None, preferred_auth="password")


# --- the exec ----------------------------------------------------------------------------------


async def test_a_command_runs_in_the_users_pod_as_one_argument_with_its_exit_status_and_streams_apart(gateway, kube):
    async def script(ws):
        for i in range(50):  # interleaved: any mix-up of channels shows
            await ws.send_bytes(b"\1" + f"out{i};".encode())
            await ws.send_bytes(b"\2" + f"err{i};".encode())
        await ws.send_bytes(b"\3" + json.dumps(exited(7)).encode())

    kube.exec_script = script
    command = "echo $HOME; rm -rf / # 'quoted' \"and\" `not` $(run)"
    async with connect(gateway) as conn:
        result = await conn.run(command, encoding=None)
    assert result.exit_status == 7
    assert result.stdout == b"".join(f"out{i};".encode() for i in range(50))
    assert result.stderr == b"".join(f"err{i};".encode() for i in range(50))
    [seen] = kube.execs
    assert seen["path"] == f"/api/v1/namespaces/{NAMESPACE}/pods/{POD}/exec"
    assert (seen["container"], seen["stdin"], seen["stdout"], seen["stderr"], seen["tty"]) == \
        ("notebook", "true", "true", "true", "false")
    assert seen["command"][-3:] == ["/bin/bash", "-lc", command]  # the client's command: one argument, as typed
    assert seen["command"][0] == "/usr/bin/env"
    assert "HUBFRONT_GROUP=lab" in seen["command"] and all("=" in a for a in seen["command"][1:-3])
    assert V5 in seen["protocols"] and V4 in seen["protocols"]
    assert gateway.opened == [("ann", "lab")]


async def test_input_reaches_the_pod_whole_and_its_end_is_passed_on(gateway, kube):
    payload = os.urandom(3 * 1024 * 1024 + 17)  # past the SSH window and the input limit

    async def script(ws):  # cat: what comes in goes out, until stdin is closed
        async for data in stdin_of(ws):
            if not data:
                break
            await ws.send_bytes(b"\1" + data)
        await ws.send_bytes(b"\3" + json.dumps(SUCCESS).encode())

    kube.exec_script = script
    async with connect(gateway) as conn:
        result = await conn.run("cat", input=payload, encoding=None)
    assert result.exit_status == 0
    assert hashlib.sha256(result.stdout).hexdigest() == hashlib.sha256(payload).hexdigest()


async def test_output_waits_for_a_client_that_does_not_read_and_loses_nothing(gateway, kube):
    """Flow control: while the client reads nothing, the pod's sends stall (the gateway stops reading the exec's
    websocket once the SSH channel's window is full); then every byte arrives, in order."""
    payload = os.urandom(48 * 1024 * 1024)
    sent = [0]

    async def script(ws):
        for i in range(0, len(payload), 65536):
            await ws.send_bytes(b"\1" + payload[i:i + 65536])
            sent[0] = i + 65536
        await ws.send_bytes(b"\3" + json.dumps(SUCCESS).encode())

    kube.exec_script = script
    async with connect(gateway) as conn:
        process = await conn.create_process("cat big", encoding=None)
        process.stdin.write_eof()
        await asyncio.sleep(1.5)
        held = sent[0]  # what left the pod while nobody read: the window and the sockets' buffers, no more
        got = bytearray()
        while chunk := await process.stdout.read(1 << 20):
            got += chunk
        await process.wait()
    assert held < len(payload) // 2, f"{held} bytes sent to a client that read nothing"
    assert process.exit_status == 0 and bytes(got) == payload


async def test_input_waits_for_a_pod_that_does_not_read_and_loses_nothing(gateway, kube):
    """Flow control the other way: while the pod reads nothing, the gateway holds a bounded part of the client's
    input (it stops taking more from the SSH channel); then all of it arrives, in order."""
    payload = os.urandom(48 * 1024 * 1024)
    sessions, reading = [], asyncio.Event()
    make = gateway.landings.session
    gateway.landings.session = lambda connection: sessions.append(make(connection)) or sessions[-1]

    async def script(ws):  # reads nothing until told, then counts what comes
        await reading.wait()
        digest, size = hashlib.sha256(), 0
        async for data in stdin_of(ws):
            if not data:
                break
            digest.update(data)
            size += len(data)
        await ws.send_bytes(b"\1" + f"{size} {digest.hexdigest()}".encode())
        await ws.send_bytes(b"\3" + json.dumps(SUCCESS).encode())

    kube.exec_script = script
    async with connect(gateway) as conn:
        process = await conn.create_process("sha256sum", encoding=None)
        process.stdin.write(payload)
        process.stdin.write_eof()
        await asyncio.sleep(1.5)
        [session] = sessions
        held = len(session.pending)  # what the gateway holds for the pod: its input limit and the window at most
        reading.set()
        out = await process.stdout.read()
        await process.wait()
    assert held <= 4 * 1024 * 1024, f"{held} bytes held for a pod that read nothing"
    assert out.decode() == f"{len(payload)} {hashlib.sha256(payload).hexdigest()}" and process.exit_status == 0


async def test_without_an_exit_status_the_session_fails_and_says_so(gateway, kube):
    async def script(ws):
        await ws.send_bytes(b"\1partial")  # the stream ends with no word on channel 3

    kube.exec_script = script
    async with connect(gateway) as conn:
        result = await conn.run("true")
    assert result.stdout == "partial"
    assert result.exit_status == 1 and "connection to your notebook's pod was lost" in result.stderr


@pytest.mark.parametrize("kube", [V4], indirect=True)
async def test_with_v4_the_stream_still_carries_everything_and_its_status(gateway, kube):
    async def script(ws):
        got = b""
        async for data in stdin_of(ws):
            got += data
            if len(got) >= 5:
                break
        await ws.send_bytes(b"\1" + got.upper())
        await ws.send_bytes(b"\3" + json.dumps(exited(3)).encode())

    kube.exec_script = script
    async with connect(gateway) as conn:
        result = await conn.run("tr a-z A-Z", input="hello")
    assert (result.stdout, result.exit_status) == ("HELLO", 3)


async def test_a_terminal_gets_a_tty_its_size_and_its_resizes(gateway, kube):
    sizes = []

    async def script(ws):
        async for message in ws:
            channel, data = message.data[0], message.data[1:]
            if channel == 4:
                sizes.append(json.loads(data))
                if len(sizes) == 2:
                    break
            elif channel == 0 and data:
                await ws.send_bytes(b"\1" + b"typed:" + data)
        await ws.send_bytes(b"\3" + json.dumps(SUCCESS).encode())

    kube.exec_script = script
    async with connect(gateway) as conn:
        process = await conn.create_process(term_type="xterm-256color", term_size=(100, 30))
        process.stdin.write("ls\n")
        assert await process.stdout.readexactly(9) == "typed:ls\n"
        process.change_terminal_size(120, 40)
        await process.wait()
    assert sizes == [{"Width": 100, "Height": 30}, {"Width": 120, "Height": 40}]
    [seen] = kube.execs
    assert (seen["tty"], seen["stderr"]) == ("true", "false")
    assert seen["command"][-2:] == ["/bin/bash", "-l"] and "TERM=xterm-256color" in seen["command"]
    assert process.exit_status == 0


async def test_sftp_runs_the_images_sftp_server_or_says_the_image_lacks_it(gateway, kube):
    async def script(ws):
        await ws.send_bytes(b"\3" + json.dumps({
            "status": "Failure", "reason": "InternalError",
            "message": 'failed to exec in container: exec: "/usr/lib/openssh/sftp-server": stat '
                       "/usr/lib/openssh/sftp-server: no such file or directory"}).encode())

    kube.exec_script = script
    async with connect(gateway) as conn:
        result = await conn.run(subsystem="sftp", encoding=None)
    [seen] = kube.execs
    assert seen["command"] == ["/usr/lib/openssh/sftp-server"] and seen["tty"] == "false"
    assert result.exit_status == 1
    assert b"openssh-sftp-server" in result.stderr and result.stdout == b""  # nothing in the SFTP stream


async def test_another_users_pod_is_never_entered(gateway, kube):
    kube.owner = "bob"  # the hub's state named a pod that is not ann's (a reused name, a stale state)
    async with connect(gateway) as conn:
        result = await conn.run("id")
    assert result.exit_status == 1 and "is not running" in result.stderr
    assert kube.execs == []


async def test_a_refused_exec_is_told_in_words(gateway, kube):
    kube.refuse_exec = 403
    async with connect(gateway) as conn:
        result = await conn.run("id")
    assert result.exit_status == 1 and "pods/exec" in result.stderr and "rbac.yaml" in result.stderr


# --- ssh -L ------------------------------------------------------------------------------------


async def test_a_forwarded_port_is_the_pods_own_and_carries_bytes_both_ways(gateway, kube):
    payload = os.urandom(1024 * 1024)

    async def script(ws):  # an echo server on the pod's port 8888
        async for message in ws:
            assert message.data[0] == 0, "data on the error channel"
            await ws.send_bytes(message.data)

    kube.forward_script = script
    async with connect(gateway) as conn:
        reader, writer = await conn.open_connection("localhost", 8888, encoding=None)
        writer.write(payload)
        got = await reader.readexactly(len(payload))
        writer.close()
        with pytest.raises(asyncssh.ChannelOpenError):
            await conn.open_connection("10.0.0.5", 8888)  # another address: not through the pod
    assert got == payload
    assert [f["path"] for f in kube.forwards] == [f"/api/v1/namespaces/{NAMESPACE}/pods/{POD}/portforward"]
    assert kube.forwards[0]["ports"] == "8888"


async def test_a_port_nobody_listens_on_closes_the_connection(gateway, kube):
    async def script(ws):
        await ws.send_bytes(b"\1an error occurred forwarding 9999 -> 9999: connection refused")

    kube.forward_script = script
    async with connect(gateway) as conn:
        reader, writer = await conn.open_connection("127.0.0.1", 9999, encoding=None)
        assert await asyncio.wait_for(reader.read(), 10) == b""


# --- the parts -----------------------------------------------------------------------------------


def test_exit_status_reads_channel_3():
    assert exit_status(json.dumps(SUCCESS).encode()) == (0, "")
    assert exit_status(json.dumps(exited(130)).encode()) == (130, "")
    code, words = exit_status(b'{"status":"Failure","message":"container not found (\\"notebook\\")"}')
    assert code is None and "container not found" in words


def test_the_command_is_argv_never_a_string_for_a_shell():
    argv = command_argv("exec", "a; b", "/bin/bash", "/x/sftp-server", {"LANG": "C.UTF-8"})
    assert argv == ["/usr/bin/env", "LANG=C.UTF-8", "/bin/bash", "-lc", "a; b"]
    assert command_argv("sftp", "ignored", "/bin/bash", "/x/sftp-server", {"LANG": "C"}) == ["/x/sftp-server"]
    assert command_argv("shell", "", "/bin/zsh", "/x", {}) == ["/bin/zsh", "-l"]


def test_the_hub_chooses_pods_on_kubernetes_and_local_processes_otherwise(tmp_path):
    from hub_ext.ssh.service import SECTIONS, hand_over_config

    assert "KubeSSH" in SECTIONS
    for spawner, pods in (("hubfront-kube", True), ("hubfront-local", False)):
        config = Config({"JupyterHub": {"spawner_class": spawner}, "Isolation": {"isolate": "never"}})
        service = SimpleNamespace(managed=True, environment={})
        app = SimpleNamespace(_service_map={"hubfront-ssh": service}, config=config)
        try:
            hand_over_config(app, SimpleNamespace(data_dir=str(tmp_path), db_url="sqlite://"))
        finally:
            SSHGateway.clear_instance()
            Isolation.clear_instance()
        handed = Config(json.loads(service.environment["HUBFRONT_SSH_CONFIG"]))
        landings = landings_for(SimpleNamespace(), handed)
        assert isinstance(landings, PodLandings if pods else LocalLandings)
