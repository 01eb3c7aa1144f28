"""The home's Desktop & SSH panel: install the app, the SSH command lines, the ``hubfront`` client.

Cheap to render, as the home must be: the gateway's address and the command lines come from memory
(:mod:`..common.ssh`), the one database read is whether the user has SSH keys, and the client's install
lines only name the archive's address (it is built on its first download, not here).
"""

from __future__ import annotations

from sqlalchemy import func, select

from ...store.engine import read_connection
from ...store.models_ssh import SSHKey
from ..common.ssh import connect_lines, gateway_address
from ..home.panels import HomePanel, register_panel
from . import pyz

SSH_KEYS_PAGE = "portal/ssh-keys"
TOKEN_PAGE = "token"


def user_os(user_agent: str) -> str:
    """``windows``, ``macos`` or ``linux`` (anything else: the Unix lines suit it best)."""
    agent = user_agent.lower()
    if "windows" in agent:
        return "windows"
    if "mac os x" in agent or "macintosh" in agent:
        return "macos"
    return "linux"


def install_lines(hub_url: str) -> dict[str, str]:
    """The client's install and first command: ``unix`` (Linux, macOS) and ``windows`` (PowerShell)."""
    pyz_url, api_url = f"{hub_url}portal/desktop/{pyz.FILENAME}", f"{hub_url}api"
    return {
        "unix": (f"mkdir -p ~/.local/bin && curl -fsSL '{pyz_url}' -o ~/.local/bin/hubfront"
                 " && chmod +x ~/.local/bin/hubfront\n"
                 f"export HUBFRONT_URL='{api_url}' HUBFRONT_TOKEN='<your API token>'\n"
                 "hubfront jobs list"),
        "windows": (f"Invoke-WebRequest -Uri '{pyz_url}' -OutFile hubfront.pyz\n"
                    f"$env:HUBFRONT_URL = '{api_url}'; $env:HUBFRONT_TOKEN = '<your API token>'\n"
                    "py hubfront.pyz jobs list"),
    }


def key_count(db_url: str, username: str) -> int:
    with read_connection(db_url) as db:
        return db.scalar(select(func.count()).select_from(SSHKey).where(SSHKey.username == username)) or 0


async def _panel(handler) -> dict:
    nav = handler.nav()
    address = gateway_address(handler)
    hub_url = f"{handler.request.protocol}://{handler.request.host}{handler.hub.base_url}"
    agent_os = user_os(handler.request.headers.get("User-Agent", ""))
    return {
        "gateway": address.as_json(),
        "lines": connect_lines(nav.username, nav.group, address),
        "keys": key_count(handler.db_url, nav.username),
        "os": agent_os,
        "install": install_lines(hub_url),
        "unix_first": agent_os != "windows",
        "ssh_keys_page": SSH_KEYS_PAGE,
        "token_page": TOKEN_PAGE,
    }


def _request_view(handler) -> tuple:
    """The lines name the address the browser used, and the install lines suit its system."""
    return (handler.request.protocol, handler.request.host, user_os(handler.request.headers.get("User-Agent", "")))


register_panel(HomePanel("desktop", "portal/panels/desktop.html", 45, _panel, width="col-12", varies=_request_view))
