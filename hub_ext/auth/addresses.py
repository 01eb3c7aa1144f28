"""The client address a sign-in attempt is throttled under.

Browsers reach the hub through configurable-http-proxy, which appends the
address it saw to ``X-Forwarded-For``. Tornado's ``request.remote_ip`` is not
used: JupyterHub runs tornado with ``xheaders=True``, where a client's own
``X-Real-Ip`` (passed through by the proxy) names any address it likes, and a
client that reaches the hub's port directly (a workload talking to the hub
API) could put anything in ``X-Forwarded-For``. So the header is read only
when the connection itself comes from the proxy, and then from the right: the
last entry is what the proxy saw; only if that is a trusted proxy in front of
it (JupyterHub's ``trusted_downstream_ips``: a TLS terminator) is the entry
before it read, and so on; whatever the client wrote is never reached.

IPv6 clients are throttled by their /64 (one machine usually holds a whole
/64, so counting single addresses would let it pick a fresh one per guess).
"""

from __future__ import annotations

import ipaddress
from typing import Iterable

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
DEFAULT_TRUSTED = ("127.0.0.0/8", "::1/128")


def networks(specs: Iterable[str]) -> list[Network]:
    """``["10.0.0.0/8", "::1"]`` as networks (a bad entry raises ValueError naming it)."""
    out = []
    for spec in specs:
        try:
            out.append(ipaddress.ip_network(spec.strip(), strict=False))
        except ValueError:
            raise ValueError(f"not an IP address or network: {spec!r}") from None
    return out


def _ip(text: str | None):
    if not text:
        return None
    text = text.strip().strip("[]")
    if text.startswith("::ffff:") and "." in text:  # an IPv4 client of a dual-stack socket
        text = text[len("::ffff:"):]
    try:
        return ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None


def _trusted(ip, trusted: list[Network]) -> bool:
    return ip is not None and any(ip.version == n.version and ip in n for n in trusted)


def throttle_key(ip) -> str:
    """The address as the throttle counts it: IPv4 as is, IPv6 by its /64."""
    if ip.version == 6:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def client_address(peer: str | None, forwarded_for: str | None, proxies: list[Network],
                   downstream: list[Network] = ()) -> str:
    """The throttle's key for a request from ``peer`` carrying ``forwarded_for`` (may be None).

    ``proxies``: what may connect to the hub and speak for its clients (the configurable-http-proxy);
    ``downstream``: proxies in front of that one (JupyterHub's ``trusted_downstream_ips``).
    """
    ip = _ip(peer)
    if ip is None:
        return "unknown"
    if forwarded_for and _trusted(ip, proxies):
        for entry in reversed(forwarded_for.split(",")):
            hop = _ip(entry)
            if hop is None:
                break  # garbage where a proxy writes: keep the last good hop
            ip = hop
            if not _trusted(hop, downstream):
                break
    return throttle_key(ip)


def request_address(request, proxies: list[Network], downstream: list[Network] = ()) -> str:
    """:func:`client_address` of a tornado request, from the socket's own peer address."""
    context = getattr(request.connection, "context", None)
    peer = getattr(context, "_orig_remote_ip", None) or request.remote_ip
    return client_address(peer, request.headers.get("X-Forwarded-For"), proxies, downstream)
