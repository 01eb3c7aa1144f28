"""Sign-in to the SSH gateway, one :class:`GatewayServer` per connection (asyncssh's ``SSHServer``).

Two ways in, as the issue asks:

- a public key the user registered on the SSH keys page (its last use is recorded);
- a hub API token as the password (for scripts, jupyterhub-ssh's way): the hub's ``GET /hub/api/user``
  with that token must name the same user, and the token must reach their servers (``access:servers``). Accounts with TOTP two-factor sign-in may use keys only.

Every refused credential counts toward the login page's own throttle (``hub_ext.auth.throttle``): a wrong
password each time, the keys of one connection once (a client offers every key it has, one after the
other, before the right one). While the throttle says wait, nothing is checked and the client is told
why in the sign-in banner. Disabled accounts cannot sign in at all.

Local forwarding (``-L``, ``-W``) reaches ports inside the notebook's network namespace (:mod:`.forward`);
remote forwarding listens there (:mod:`.remote_forward`) and the agent is relayed to a socket only the user's
account opens (:mod:`.agent`), each only where an operator allows it; X11 forwarding is refused. A connection
without data for ``c.SSHGateway.idle_timeout`` is closed (a command still running keeps it).
"""

from __future__ import annotations

import asyncio
import logging
import time

import asyncssh

from .. import activity
from ..auth.account_state import is_disabled
from ..auth.addresses import client_address
from ..auth.otp import is_enabled as otp_enabled
from ..auth.throttle import retry_message
from ..quantities import format_duration
from . import keys
from .remote_forward import RefusedListen
from .target import Landing, NotRunning, Unavailable, split_login

log = logging.getLogger("hubfront.ssh")
MAX_TRIES = 10  # refused credentials one connection may offer before it is closed (OpenSSH: MaxAuthTries 6)


class GatewayServer(asyncssh.SSHServer):
    def __init__(self, gateway):
        self.gateway = gateway  # ``service.Gateway``: settings, hub client, throttle, isolation
        self.conn = None
        self.login = ""
        self.username = ""
        self.asked_group: str | None = None
        self.peer = ("", 0)
        self.local = ("", 0)
        self.address = "unknown"
        self.blocked = False
        self.two_factor = False
        self.authorized: dict[str, int] = {}
        self.key_failed = False
        self.tries = 0
        self.key_id: int | None = None
        self.method = ""
        self._landing: asyncio.Future | None = None
        self._signed_in: asyncio.Future | None = None
        self._agent: asyncio.Future | None = None
        self.last_data = time.monotonic()  # channel data either way (the SSH idle timeout's clock)
        self.running_commands = 0  # ``ssh host cmd`` still running: never idle
        self.sessions: set = set()  # the open session channels (told why when the connection is closed)
        self._idle_watch: asyncio.Task | None = None

    # -- the connection --------------------------------------------------------------

    def connection_made(self, conn) -> None:
        self.conn = conn
        self.peer = conn.get_extra_info("peername")[:2]
        self.local = conn.get_extra_info("sockname")[:2]
        self.address = client_address(self.peer[0], None, [])
        timeout = self.gateway.settings.idle_timeout_seconds()
        if timeout:
            self._idle_watch = asyncio.ensure_future(self._close_when_idle(timeout))

    def connection_lost(self, exc) -> None:
        if self._idle_watch is not None:
            self._idle_watch.cancel()
        if self._agent is not None:
            self._agent.add_done_callback(_close_relay)
        if self.method:
            log.info("SSH connection of %s from %s closed", self.username, self.address)

    def saw_data(self) -> None:
        """Data went through one of this connection's channels."""
        self.last_data = time.monotonic()

    async def _close_when_idle(self, timeout: float) -> None:
        """``c.SSHGateway.idle_timeout``: closed after that long without data (a running command is never idle)."""
        while True:
            await asyncio.sleep(max(1.0, min(timeout / 4, 30.0)))
            if self.running_commands:
                self.saw_data()
            elif time.monotonic() - self.last_data >= timeout:
                why = f"Closed after {format_duration(timeout)} without activity"
                log.info("Closing the SSH connection of %s from %s: idle for %s", self.username, self.address,
                         format_duration(timeout))
                for session in list(self.sessions):
                    session.say(why)
                self.conn.disconnect(asyncssh.DISC_BY_APPLICATION, why)
                return

    # -- sign-in -----------------------------------------------------------------------

    async def begin_auth(self, username: str) -> bool:
        gw = self.gateway
        self.login = username
        self.username, self.asked_group = split_login(username)
        if not self.username or len(self.username) > 255 or any(ord(c) < 32 for c in username):
            self.blocked = True  # no hub user is named so; nothing to look up or count
            return True
        wait = await asyncio.to_thread(gw.throttle.check, self.username, self.address)
        if wait:
            self.blocked = True
            self.conn.send_auth_banner(retry_message(wait) + "\r\n")
            log.warning("Throttled SSH sign-in to %r from %s: %.0f s to wait", self.username, self.address, wait)
            return True
        if await asyncio.to_thread(is_disabled, gw.db_url, self.username):
            self.blocked = True
            self.conn.send_auth_banner("This account is disabled.\r\n")
            return True
        self.two_factor = await asyncio.to_thread(otp_enabled, gw.db_url, self.username)
        self.authorized = await asyncio.to_thread(keys.authorized, gw.db_url, self.username)
        return True

    def public_key_auth_supported(self) -> bool:
        return True

    async def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        if self.blocked:
            return False
        key_id = self.authorized.get(keys.key_line(key))
        if key_id is None:
            self._tried()
            if not self.key_failed:
                self.key_failed = True
                await self._failed()
            return False
        self.key_id, self.method = key_id, "key"
        return True

    def password_auth_supported(self) -> bool:
        return True

    async def validate_password(self, username: str, password: str) -> bool:
        if self.blocked:
            return False
        if self.two_factor:  # a token alone would pass by the second factor
            self.conn.send_auth_banner("Your account uses two-factor sign-in: use an SSH key you added on the "
                                       "SSH keys page.\r\n")
            return False
        self._tried()
        try:
            owner = await self.gateway.hub.token_owner(password)
        except Exception as exc:  # noqa: BLE001 - the hub is not answering: refused, not counted
            log.warning("Could not check an SSH token of %r with the hub: %s", self.username, exc)
            return False
        if owner is None or owner != self.username:
            await self._failed()
            return False
        self.method = "token"
        return True

    def _tried(self) -> None:
        self.tries += 1
        if self.tries > MAX_TRIES:
            self.blocked = True
            self.conn.disconnect(asyncssh.DISC_NO_MORE_AUTH_METHODS_AVAILABLE, "Too many authentication failures")

    async def _failed(self) -> None:
        wait = await asyncio.to_thread(self.gateway.throttle.record_failure, self.username, self.address)
        log.warning("Refused SSH sign-in to %r from %s", self.username, self.address)
        if wait:
            self.blocked = True

    def auth_completed(self) -> None:
        # asyncssh lets the client open channels while this runs: sessions wait for it (``landing``)
        self._signed_in = asyncio.ensure_future(self._record_sign_in())

    async def _record_sign_in(self) -> None:
        gw = self.gateway
        await asyncio.to_thread(gw.throttle.record_success, self.username, self.address)
        if self.key_id is not None:
            await asyncio.to_thread(keys.mark_used, gw.db_url, self.key_id)
        log.info("SSH sign-in of %s from %s with a %s", self.username, self.address,
                 "key" if self.method == "key" else "token")

    # -- channels ----------------------------------------------------------------------

    def session_requested(self):
        return self.gateway.landings.session(self)  # local, or in the notebook's pod (:mod:`.landings`)

    def connection_requested(self, dest_host, dest_port, orig_host, orig_port):
        """``ssh -L``/``-W``: a connection made inside the notebook's network namespace (:mod:`.forward`)."""
        if not self.gateway.settings.allow_local_forwarding:
            raise asyncssh.ChannelOpenError(asyncssh.OPEN_ADMINISTRATIVELY_PROHIBITED,
                                            "Port forwarding is not enabled on this gateway")
        return self._forward(dest_host, dest_port)

    async def _forward(self, host: str, port: int):
        try:
            landing = await self.landing()
        except Unavailable as exc:
            raise asyncssh.ChannelOpenError(asyncssh.OPEN_CONNECT_FAILED, exc.message) from None
        session = await self.gateway.landings.forward(landing, host, port)
        session.watch_activity(self.saw_data)
        return session

    def server_requested(self, listen_host, listen_port):
        """``ssh -R``, where an operator allows it: the port listens inside the notebook (:mod:`.remote_forward`)."""
        if not self.gateway.settings.allow_remote_forwarding:
            return False
        return self._remote_forward(listen_host, listen_port)

    async def _remote_forward(self, listen_host: str, listen_port: int):
        try:
            landing = await self.landing()
        except Unavailable as exc:
            raise RefusedListen(exc.message) from None
        return await self.gateway.landings.remote_forward(self.conn, landing, listen_host, listen_port)

    async def agent_socket(self, landing, chan) -> str | None:
        """``ssh -A``, where an operator allows it: the path the sessions' ``SSH_AUTH_SOCK`` names, made once per
        connection (None: the client did not ask, or it could not be made: said in the gateway's log)."""
        if not self.gateway.settings.allow_agent_forwarding or chan.get_agent_path() is None:
            return None
        if self._agent is None:
            self._agent = asyncio.ensure_future(self.gateway.landings.agent(self.conn, landing))
        try:
            return (await asyncio.shield(self._agent)).path
        except (OSError, Unavailable) as exc:
            log.warning("No agent forwarding for %s: %s", self.username, getattr(exc, "message", exc))
            return None

    def unix_connection_requested(self, dest_path):
        raise asyncssh.ChannelOpenError(asyncssh.OPEN_ADMINISTRATIVELY_PROHIBITED,
                                        "Forwarding is not enabled on this gateway")

    def unix_server_requested(self, listen_path):
        return False

    async def landing(self, say=None) -> Landing:
        """Where this connection's sessions run (resolved once; each login recorded as an activity). ``say``:
        how to tell the person at the terminal what takes a while (their notebook starting)."""
        if self._landing is None:
            self._landing = asyncio.ensure_future(self._resolve(say or (lambda text: None)))
        return await asyncio.shield(self._landing)

    async def _resolve(self, say) -> Landing:
        gw = self.gateway
        if self._signed_in is not None:
            await self._signed_in
        deadline = time.monotonic() + gw.settings.start_timeout_seconds
        started = False
        while True:
            user = await gw.hub.user(self.username)
            if user is None:
                raise Unavailable("No such user")
            try:
                landing = await gw.landings.resolve(user, self.asked_group)
                break
            except NotRunning as exc:
                if not gw.settings.start_on_demand:
                    raise
                if exc.pending is None:  # nothing is going on with it
                    if started:
                        raise Unavailable(f"Your notebook in {exc.group} could not start: see the Notebooks "
                                          "page") from None
                    say(f"Starting your notebook in {exc.group}...")
                    refusal = await gw.hub.start_server(self.username, exc.server, exc.group)
                    if refusal:
                        raise Unavailable(f"Your notebook in {exc.group} could not start: {refusal}") from None
                    started = True
                if time.monotonic() > deadline:
                    raise Unavailable(f"Your notebook in {exc.group} did not start in time: see the Notebooks "
                                      "page") from None
                await asyncio.sleep(1)
        await asyncio.to_thread(
            activity.record, gw.db_url, username=self.username, group=landing.group, kind="ssh", action="login",
            message=f"SSH sign-in from {self.address} into your notebook in {landing.group}",
            workload_id=f"{self.username}/{landing.server}")
        return landing


def _close_relay(made: asyncio.Future) -> None:
    if not made.cancelled() and made.exception() is None:
        made.result().close()
