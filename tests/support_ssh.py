"""The SSH gateway's server for tests without a hub: ``GatewayServer`` over a fake gateway, on a free loopback port."""

from __future__ import annotations

import asyncssh

from hub_ext.ssh.server import GatewayServer


async def serve_gateway(gw, **options):
    """Listen for ``gw`` (its ``port`` set) with a fresh host key; close the returned server when done."""
    server = await asyncssh.create_server(
        lambda: GatewayServer(gw), "127.0.0.1", 0, server_host_keys=[asyncssh.generate_private_key("ssh-ed25519")],
        encoding=None, line_editor=False, **options)
    gw.port = server.sockets[0].getsockname()[1]
    return server
