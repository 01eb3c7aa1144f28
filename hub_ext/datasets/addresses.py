"""Where a git dataset may not point: this machine's loopback, link-local addresses (the cloud's metadata
service), the unspecified address, and the networks the operator adds (``Datasets.refused_networks``).

A member chooses the URL and the runner fetches it, so without this rule a dataset is a way to reach the
hub's own services (``http://127.0.0.1:8601/api/routes`` answered with its status: an oracle) or a cloud
machine's credentials. :func:`refusal` is the one rule; it is applied when a dataset is saved (a literal
address, or a name resolving to one) and again when the runner syncs it (:func:`resolve`: DNS may have
changed since). The address the sync checked is the one git connects to (``git.py`` pins it), so a name
that answers otherwise a moment later (DNS rebinding) is not followed.

Hosts are taken apart strictly (letters, digits, dots and dashes, or a bracketed IPv6 literal), so what is
checked here is what git and curl connect to: numeric forms such as ``127.1``, ``0x7f.1`` or
``2130706433`` are read the way the C library reads them, IPv4 inside IPv6 (``::ffff:127.0.0.1``) as
the IPv4 address.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from dataclasses import dataclass
from typing import Iterable

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

REFUSED: tuple[tuple[Network, str], ...] = tuple((ipaddress.ip_network(net), why) for net, why in (
    ("127.0.0.0/8", "a loopback address (this machine's own services)"),
    ("::1/128", "the loopback address (this machine's own services)"),
    ("169.254.0.0/16", "a link-local address (the cloud's metadata service among them)"),
    ("fe80::/10", "a link-local address"),
    ("0.0.0.0/8", "an unspecified address (this machine)"),
    ("::/128", "the unspecified address (this machine)"),
))
LOOPBACK_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback")
DEFAULT_PORTS = {"https": 443, "http": 80, "ssh": 22, "git": 9418}
_URL = re.compile(r"^(https?|ssh|git)://([^/]*)(/.*)?$", re.S)
_SCP = re.compile(r"^([A-Za-z0-9._-]+)@([A-Za-z0-9.-]+):(.*)$", re.S)
_AUTHORITY = re.compile(r"^(?:[A-Za-z0-9._~-]+@)?(?P<host>[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::(?P<port>\d{1,5}))?$")
_NUMERIC = re.compile(r"^[0-9A-Fa-fXx.]+$")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_COMPAT = ipaddress.ip_network("::/96")


class RefusedAddress(ValueError):
    """The URL's host is, or resolves to, an address a git dataset may not reach; the message says why."""


@dataclass(frozen=True)
class Remote:
    """Where a remote URL points: its transport, host (no brackets) and port."""

    scheme: str  # https, http, ssh or git
    host: str
    port: int


def parse_networks(values: Iterable[str]) -> tuple[Network, ...]:
    """The operator's extra refused networks (``10.0.0.0/8``, ``fd00::/8``); ValueError names a bad one."""
    return tuple(ipaddress.ip_network(v.strip(), strict=False) for v in values)


def _embedded(ip: Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (mapped, compatible, NAT64), if any."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _COMPAT or ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def refusal(ip: Address, extra: Iterable[Network] = ()) -> str | None:
    """Why a git dataset may not reach ``ip`` (None: it may). The one address rule."""
    for candidate in filter(None, (ip, _embedded(ip))):
        for net, why in REFUSED:
            if candidate.version == net.version and candidate in net:
                return why
        for net in extra:
            if candidate.version == net.version and candidate in net:
                return f"in {net}, refused on this platform (Datasets.refused_networks)"
    return None


def remote_of(url: str) -> Remote | None:
    """The remote a URL names (None: not a remote URL, e.g. a local path). ValueError for an authority
    that is not plainly ``[user@]host[:port]``: a host git and this module would read apart."""
    m = _URL.match(url)
    if m:
        scheme, authority = m.group(1), m.group(2)
        parts = _AUTHORITY.match(authority)
        if not parts:
            raise ValueError("the host part is not [user@]host[:port] (letters, digits, . and -, or [IPv6])")
        host = parts.group("host").strip("[]")
        port = int(parts.group("port") or DEFAULT_PORTS[scheme])
        if not 0 < port < 65536:
            raise ValueError(f"port {port} is not a port")
        return Remote(scheme, host, port)
    m = _SCP.match(url)
    if m:
        return Remote("ssh", m.group(2), 22)
    return None


def literal(host: str) -> Address | None:
    """``host`` as an address when it is one, read as the C library reads it (``127.1``, ``0x7f.1``,
    ``2130706433`` are 127.0.0.1), None for a name."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if _NUMERIC.match(host) and not host.endswith("."):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def _refuse(host: str, ip: Address, why: str) -> RefusedAddress:
    shown = host if host == str(ip) else f"{host} ({ip})"
    return RefusedAddress(f"{shown} is {why}: a git dataset may not point there")


def check_host(host: str, extra: Iterable[Network] = ()) -> None:
    """Refuse a host that is a refused address or a loopback name, without asking DNS (RefusedAddress)."""
    name = host.lower().rstrip(".")
    if name in LOOPBACK_NAMES or name.endswith(".localhost"):
        raise RefusedAddress(f"{host} is this machine (a loopback name): a git dataset may not point there")
    ip = literal(host)
    if ip is not None and (why := refusal(ip, extra)):
        raise _refuse(host, ip, why)


def resolve(host: str, port: int, extra: Iterable[Network] = ()) -> list[str]:
    """Every address ``host`` resolves to now, each allowed (else RefusedAddress); OSError when it does
    not resolve. Every address, not the first: a name answering with one good and one refused address
    is refused, whichever git would have tried."""
    check_host(host, extra)
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    found: list[str] = []
    for *_, sockaddr in infos:
        ip = ipaddress.ip_address(sockaddr[0].split("%")[0])
        why = refusal(ip, extra)
        if why:
            raise _refuse(host, ip, why)
        if str(ip) not in found:
            found.append(str(ip))
    if not found:
        raise OSError(f"{host} has no address")
    return found


async def resolves_refused(host: str, port: int, extra: Iterable[Network], timeout: float) -> None:
    """RefusedAddress when ``host`` resolves (within ``timeout`` s, off the event loop) to a refused
    address; a name that does not resolve now passes (the sync checks again, and says so then)."""
    try:
        await asyncio.wait_for(asyncio.to_thread(resolve, host, port, tuple(extra)), timeout)
    except (OSError, asyncio.TimeoutError, UnicodeError):
        return
