"""The one seam between a signed-in connection and where its sessions run: :func:`landings_for` gives the
gateway either the local landings (the embedded default: the notebook is a process on this machine, joined
through ``hub_ext.isolation``) or the pod landings (Kubernetes: the notebook is a pod, reached through its
exec and port-forward APIs). ``server.GatewayServer`` asks it three things, the same way for both:

- ``resolve(user, asked_group)``: where the user lands (raises ``target.Unavailable``/``NotRunning``);
- ``session(connection)``: the asyncssh session of a session channel (shell, command, sftp);
- ``forward(landing, host, port)``: the asyncssh session of an ``ssh -L``/``-W`` connection.
"""

from __future__ import annotations

import asyncio

import asyncssh

from .agent import AgentRelay
from .forward import open_forward
from .pod_exec import PROTOCOLS, PodSession
from .pod_forward import PodForward, check_destination
from .remote_forward import RefusedListen, open_remote_forward
from .pod_target import KubeSSH, PodLanding, check_pod, resolve_pod
from .session import GatewaySession
from .target import Landing, Unavailable, resolve


class LocalLandings:
    """Notebooks that are processes of this machine (``target``, ``session``, ``forward``)."""

    def __init__(self, gateway):
        self.gateway = gateway

    async def resolve(self, user: dict, asked_group: str | None) -> Landing:
        gw = self.gateway
        return await asyncio.to_thread(resolve, user, asked_group, gw.db_url, gw.isolation)

    def session(self, connection) -> GatewaySession:
        return GatewaySession(connection)

    async def forward(self, landing: Landing, host: str, port: int):
        return await open_forward(landing.netns, host, port)

    async def remote_forward(self, conn, landing: Landing, listen_host: str, listen_port: int):
        """``ssh -R``: a port listening in the notebook's network namespace (:mod:`.remote_forward`)."""
        return await open_remote_forward(conn, landing.netns, listen_host, listen_port)

    async def agent(self, conn, landing: Landing) -> AgentRelay:
        """``ssh -A``: the connection's ``SSH_AUTH_SOCK``, for the landing's account (:mod:`.agent`)."""
        relay = AgentRelay(conn, landing.uid)
        await relay.start()
        return relay


class PodLandings:
    """Notebooks that are KubeSpawner pods (``pod_target``, ``pod_exec``, ``pod_forward``). ``configuration``:
    the Kubernetes client's (default: the pod's service account, else the kubeconfig)."""

    def __init__(self, gateway, settings: KubeSSH, configuration=None):
        self.gateway, self.settings = gateway, settings
        self.configuration = configuration
        self._apis = None  # (CoreV1Api for reads, CoreV1Api over websockets for exec and port-forward)
        self._lock = asyncio.Lock()

    async def apis(self):
        async with self._lock:
            if self._apis is None:
                from kubernetes_asyncio import client
                from kubernetes_asyncio.stream import WsApiClient

                from ..kube import cluster_configuration

                configuration = self.configuration or await cluster_configuration()
                self._apis = (client.CoreV1Api(client.ApiClient(configuration=configuration)),
                              client.CoreV1Api(WsApiClient(configuration=configuration)))
            return self._apis

    async def resolve(self, user: dict, asked_group: str | None) -> PodLanding:
        from kubernetes_asyncio.client.exceptions import ApiException

        from ..kube import api_message, plain  # here: kubespawner's import takes seconds, which local landings never pay

        landing = await asyncio.to_thread(resolve_pod, user, asked_group, self.gateway.db_url, self.settings.container)
        core, _ = await self.apis()
        try:
            pod = await core.read_namespaced_pod(landing.pod, landing.namespace)
        except ApiException as exc:
            if exc.status == 404:
                raise Unavailable(f"Your notebook in {landing.group} is not running: start it on the Notebooks "
                                  "page") from None
            raise Unavailable(f"The SSH gateway cannot read your notebook's pod: {api_message(exc)}") from None
        check_pod(landing, plain(pod))
        return landing

    def session(self, connection) -> PodSession:
        return PodSession(connection, self)

    async def _connect(self, what: str, request):
        """The websocket of an exec or port-forward ``request`` (a coroutine of the API call)."""
        import aiohttp

        try:
            return await (await request)
        except aiohttp.WSServerHandshakeError as exc:
            if exc.status == 403:
                raise Unavailable(f"The SSH gateway may not {what} in your notebook's pod (its service account "
                                  "needs pods/exec and pods/portforward: config/kubernetes/rbac.yaml)") from None
            if exc.status == 404:
                raise Unavailable("Your notebook is not running: start it on the Notebooks page") from None
            raise Unavailable(f"Kubernetes refused to {what} in your notebook's pod ({exc.status})") from None
        except (aiohttp.ClientError, OSError) as exc:
            raise Unavailable(f"The SSH gateway cannot reach the Kubernetes API: {exc}") from None

    async def exec(self, landing: PodLanding, argv: list[str], tty: bool):
        """The exec websocket of ``argv`` in the landing's container (stdin, stdout, and stderr unless ``tty``)."""
        _, ws_core = await self.apis()
        return await self._connect("run commands", ws_core.connect_get_namespaced_pod_exec(
            landing.pod, landing.namespace, command=argv, container=landing.container, stdin=True, stdout=True,
            stderr=not tty, tty=tty, _preload_content=False, _headers={"sec-websocket-protocol": PROTOCOLS}))

    async def forward(self, landing: PodLanding, host: str, port: int) -> PodForward:
        check_destination(host, port)
        _, ws_core = await self.apis()
        try:
            ws = await self._connect("forward ports", ws_core.connect_get_namespaced_pod_portforward(
                landing.pod, landing.namespace, ports=port, _preload_content=False))
        except Unavailable as exc:
            raise asyncssh.ChannelOpenError(asyncssh.OPEN_CONNECT_FAILED, exc.message) from None
        return PodForward(ws, f"{landing.namespace}/{landing.pod}:{port}")

    async def remote_forward(self, conn, landing: PodLanding, listen_host: str, listen_port: int):
        raise RefusedListen("remote forwarding into a pod is not supported")

    async def agent(self, conn, landing: PodLanding):
        raise Unavailable("Agent forwarding into a pod is not supported")


def landings_for(gateway, config) -> LocalLandings | PodLandings:
    """The gateway's landings: in pods when ``c.KubeSSH.enabled`` (the hub sets it on Kubernetes), else local."""
    settings = KubeSSH(config=config)
    return PodLandings(gateway, settings) if settings.enabled else LocalLandings(gateway)
