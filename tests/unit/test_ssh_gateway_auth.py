"""The SSH gateway's sign-in, with asyncssh's own client against the gateway's server on the loopback (no hub,
no root): registered keys sign in and are marked used, a token must be the user's own, refusals count once per
connection in the login throttle, two-factor accounts use keys only, and where a session would land is said
in words when the notebook is not running."""

from __future__ import annotations

import asyncssh
import pytest
from traitlets.config import Config

from hub_ext.auth.throttle import LoginThrottle
from hub_ext.bodies import parse_body
from hub_ext.isolation import Isolation
from hub_ext.ssh import keys
from hub_ext.ssh.hubclient import reaches_servers
from hub_ext.ssh.landings import LocalLandings
from hub_ext.ssh.settings import SSHGateway
from support_ssh import serve_gateway
from hub_ext.store import session_scope
from hub_ext.store.models_accounts import OtpCredential


class FakeHub:
    def __init__(self):
        self.tokens = {"ann-token": "ann", "bob-token": "bob"}

    async def token_owner(self, token):
        return self.tokens.get(token)

    async def user(self, name):
        return {"name": name, "groups": ["lab"], "servers": {}}

    async def activity(self, name, server, when):
        pass


class FakeGateway:
    def __init__(self, db_url):
        self.db_url = db_url
        self.settings = SSHGateway(config=Config({"SSHGateway": {"start_on_demand": False}}))
        self.throttle = LoginThrottle(db_url=db_url)
        self.isolation = Isolation(isolate="never")
        self.hub = FakeHub()
        self.landings = LocalLandings(self)


@pytest.fixture
async def gateway(sqlite_url):
    gw = FakeGateway(sqlite_url)
    server = await serve_gateway(gw)
    yield gw
    server.close()
    await server.wait_closed()


def registered(gw, username: str) -> asyncssh.SSHKey:
    key = asyncssh.generate_private_key("ssh-ed25519", comment=f"{username}@laptop")
    keys.add_key(gw.db_url, username, parse_body(keys.SSHKeyAdd, {"public_key": key.export_public_key().decode()}))
    return key


def connect(gw, username: str, **kw):
    kw.setdefault("client_keys", None)
    return asyncssh.connect("127.0.0.1", gw.port, username=username, known_hosts=None, agent_path=None,
                            preferred_auth=kw.pop("auth", "publickey,password"), **kw)


async def test_a_registered_key_signs_in_is_marked_used_and_a_stopped_notebook_is_named(gateway):
    key = registered(gateway, "ann")
    async with connect(gateway, "ann", client_keys=[key]) as conn:
        result = await conn.run("id -un")
    assert result.exit_status == 1
    assert result.stderr == "Your notebook in lab is not running: start it on the Notebooks page\n"
    assert keys.list_keys(gateway.db_url, "ann")[0].last_used is not None
    async with connect(gateway, "ann+elsewhere", client_keys=[key]) as conn:
        result = await conn.run("true")
    assert result.exit_status == 1 and result.stderr == "You are not a member of group elsewhere\n"


async def test_unknown_keys_are_refused_and_counted_once_per_connection(gateway):
    registered(gateway, "ann")
    strangers = [asyncssh.generate_private_key("ssh-ed25519") for _ in range(3)]
    with pytest.raises(asyncssh.PermissionDenied):
        await connect(gateway, "ann", client_keys=strangers, auth="publickey")
    assert LoginThrottle(db_url=gateway.db_url).state("ann").failures == 1
    with pytest.raises(asyncssh.PermissionDenied):
        await connect(gateway, "nobody", client_keys=strangers[:1], auth="publickey")
    assert LoginThrottle(db_url=gateway.db_url).state("nobody").failures == 1  # unknown names count too


async def test_a_token_signs_in_only_as_its_owner_and_a_right_one_resets_the_count(gateway):
    throttle = LoginThrottle(db_url=gateway.db_url)
    with pytest.raises(asyncssh.PermissionDenied):
        await connect(gateway, "ann", password="bob-token", auth="password")
    with pytest.raises(asyncssh.PermissionDenied):
        await connect(gateway, "ann", password="guess", auth="password")
    assert throttle.state("ann").failures == 2
    async with connect(gateway, "ann", password="ann-token", auth="password") as conn:
        await conn.run("true")  # a session starts once the sign-in is recorded
    assert throttle.state("ann").failures == 0


async def test_two_factor_accounts_use_keys_only(gateway):
    key = registered(gateway, "ann")
    with session_scope(gateway.db_url) as s:
        s.add(OtpCredential(username="ann", secret_encrypted="-", enabled=True))
    with pytest.raises(asyncssh.PermissionDenied):
        await connect(gateway, "ann", password="ann-token", auth="password")
    async with connect(gateway, "ann", client_keys=[key], auth="publickey"):
        pass


async def test_a_slowed_address_is_refused_without_checking(gateway):
    key = registered(gateway, "ann")
    gateway.throttle = LoginThrottle(db_url=gateway.db_url, config=Config({"LoginThrottle": {
        "pair_free_failures": 0, "pair_base_seconds": 600.0}}))
    with pytest.raises(asyncssh.PermissionDenied):
        await connect(gateway, "ann", password="guess", auth="password")
    with pytest.raises(asyncssh.PermissionDenied):  # the right key, but the wait is not over
        await connect(gateway, "ann", client_keys=[key], auth="publickey")
    assert keys.list_keys(gateway.db_url, "ann")[0].last_used is None


async def test_forwarding_other_than_local_is_refused(gateway):
    key = registered(gateway, "ann")
    async with connect(gateway, "ann", client_keys=[key]) as conn:
        with pytest.raises(asyncssh.ChannelListenError):
            await conn.forward_remote_port("127.0.0.1", 0, "127.0.0.1", 22)
        with pytest.raises(asyncssh.ChannelOpenError) as exc:  # -L lands in the notebook, which is not running
            await conn.open_connection("localhost", 8888)
        assert "not running" in exc.value.reason


def test_only_a_token_that_reaches_the_users_servers_opens_a_shell():
    assert reaches_servers(["access:servers!user=ann", "read:users:name!user=ann"], "ann")
    assert reaches_servers(["access:servers!server=ann/lab"], "ann")
    assert reaches_servers(["access:servers"], "ann")  # an admin's token
    assert not reaches_servers(["read:users:name!user=ann", "custom:hubfront:read"], "ann")
    assert not reaches_servers(["access:servers!user=anna", "access:servers!server=annx/lab"], "ann")


async def test_a_name_no_user_can_have_is_refused_without_a_look_up(gateway):
    for name in ("x" * 300, "+lab"):
        with pytest.raises(asyncssh.PermissionDenied):
            await connect(gateway, name, password="ann-token", auth="password")
    assert LoginThrottle(db_url=gateway.db_url).states() == {}
