"""Where users reach the SSH gateway, and the command lines that reach it.

The one place for both, so the SSH keys page and the home's Desktop & SSH panel show the same host,
port and lines. Reading it costs nothing: the settings are in memory and the host is the one the
browser reached the hub at (unless ``c.SSHGateway.public_host`` names another).
"""

from __future__ import annotations

import shlex
from dataclasses import asdict, dataclass

from ...ssh.settings import SERVICE_NAME, SSHGateway


@dataclass(frozen=True)
class GatewayAddress:
    enabled: bool  # the hub runs the gateway (hub_ext.configure adds it as a managed service)
    host: str
    port: int

    def as_json(self) -> dict:
        return asdict(self)


def gateway_address(handler) -> GatewayAddress:
    """The gateway as the caller reaches it: ``public_host``, else the host their browser reached the hub at."""
    settings = SSHGateway.instance(config=handler.hubfront.config)
    host = settings.public_host or handler.request.host_name or "localhost"
    services = handler.hubfront.config.JupyterHub.get("services") or []
    enabled = any(s.get("name") == SERVICE_NAME for s in services)
    return GatewayAddress(enabled=enabled, host=host, port=settings.shown_port())


def connect_lines(username: str, group: str | None, address: GatewayAddress) -> dict[str, str]:
    """The ssh, sftp, scp and rsync lines into the user's notebook (of ``group`` where one is given), each
    ready to paste into a shell, and the ``~/.ssh/config`` entry ``hubfront-<group>`` (VS Code Remote-SSH)."""
    port = address.port
    at = f"{username}@{address.host}"
    lines = {"ssh": shlex.join(["ssh", "-p", str(port), at])}
    if not group:
        return lines
    login = f"{username}+{group}"
    there = f"{login}@{address.host}"
    alias = f"hubfront-{group}"
    lines.update({
        "ssh_group": shlex.join(["ssh", "-p", str(port), there]),
        "sftp": shlex.join(["sftp", "-P", str(port), there]),
        "scp": shlex.join(["scp", "-P", str(port), "data.tar.gz", f"{there}:shared/"]),
        "rsync": shlex.join(["rsync", "-a", "-e", f"ssh -p {port}", "results/", f"{there}:shared/results/"]),
        "config_host": alias,
        "config": f"Host {alias}\n    HostName {address.host}\n    Port {port}\n    User {login}",
    })
    return lines
