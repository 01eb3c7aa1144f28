"""The gateway between the workloads' namespaces and the hub: opened at the hub's start, closed at its end.

A workload reaches a few services of the host, and only at the gateway address of its range: the hub's API
(``Isolation.hub_api_url``), the proxy's public port (``Isolation.public_url``) and what the operator lists
in ``Isolation.host_services`` (a platform-wide MLflow server, a package proxy on the host's loopback), each
translated to where it really listens. In a namespace the host's loopback is not the workload's, so
:func:`through_gateway` rewrites every URL of the workload's environment that names one of them
(``JUPYTERHUB_API_URL``, ``MLFLOW_TRACKING_URI``, ``HTTP_PROXY``, ...) to the gateway.
"""

from __future__ import annotations

import atexit
import ipaddress
import socket
import time
from urllib.parse import urlsplit, urlunsplit

from . import netrules, netspares
from .accounts import IsolationError
from .network import Network, Networks


LOOPBACK_NAMES = ("localhost", "0.0.0.0", "::", "::1")


def _is_local(address: str) -> bool:
    """Whether ``address`` is one of this host's own (it can be bound)."""
    try:
        with socket.socket() as s:
            s.bind((address, 0))
        return True
    except OSError:
        return False


def _door(url: str, public: bool = False) -> netrules.Door | None:
    """The door for a service of this host at ``url`` (None: another machine's, reached through the host).

    On the host's loopback (``127.0.0.1``, ``localhost``): at the gateway (the workload's environment names
    the gateway instead); a ``*.localhost`` name resolves to the workload's own loopback, where its port is
    led on to the gateway (``by_name``). ``public``: the proxy's address, also open on the host's own
    addresses (a name that resolves to one, as a public hub's name does)."""
    parts = urlsplit(url if "//" in url else f"http://{url}")
    host = parts.hostname or ""
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return None
    if host in LOOPBACK_NAMES or host.endswith(".localhost"):
        return netrules.Door(port, "127.0.0.1", port, public, by_name=host.endswith(".localhost"))
    try:
        address = str(ipaddress.IPv4Address(host))
    except ValueError:
        try:
            address = socket.gethostbyname(host)
        except OSError:
            return None
    if ipaddress.IPv4Address(address).is_loopback:
        return netrules.Door(port, address, port, public)
    return netrules.Door(port, address, port, True, by_name=True) if _is_local(address) else None


def doors(isolation) -> list[netrules.Door]:
    found = [_door(isolation.hub_api_url), _door(isolation.public_url, public=True),
             *(_door(url) for url in isolation.host_services)]
    return list(dict.fromkeys(d for d in found if d))


def open_gateway(isolation, networks: Networks, log) -> list[str]:
    """Refuse a range the machine already uses (the hub does not start), remove namespaces left by a crash,
    and (re)install this hub's rules, which go when the hub's process ends. Returns the problems that keep
    workloads from starting (rules that could not be set: no workload may run without them)."""
    conflicts = netrules.range_conflicts(str(networks.range))
    for _ in range(10):  # an interface being removed (a workload's, or one made ahead, that just went) shows
        if not conflicts:  # a moment by its index alone: only what stays is a conflict
            break
        time.sleep(0.1)
        conflicts = [c for c in netrules.range_conflicts(str(networks.range)) if c in conflicts]
    if conflicts:
        raise IsolationError(f"Isolation.network_range {networks.range} is already used on this machine "
                             f"({'; '.join(conflicts[:3])}): choose a free private range for the workloads")
    removed = networks.remove_stale()
    netspares.reopen(networks)
    try:
        netrules.install(networks.tag, networks.veth_prefix, str(networks.range), networks.gateway,
                         doors(isolation))
    except (IsolationError, OSError) as exc:
        return [f"Workloads cannot get networks of their own: {exc}"]
    atexit.register(close_gateway, networks)
    log.info("Hubfront: each workload gets its own network namespace in %s (gateway %s)%s", networks.range,
             networks.gateway, f"; removed {len(removed)} stale" if removed else "")
    return []


def close_gateway(networks: Networks) -> bool:
    """Remove this hub's rules when no workload of it is left (notebooks and jobs outlive a hub's restart,
    and must never run without them). Whether they were removed. This process's spare namespaces go."""
    netspares.close(networks)
    if networks.names():
        networks.remove_stale()
        if networks.names():
            return False
    try:
        netrules.remove(networks.tag)
    except IsolationError:
        pass  # already gone
    return True


def loopback_ports(isolation) -> tuple[int, ...]:
    """The ports a workload's own loopback leads on to the gateway (``*.localhost`` names: the apps' origin)."""
    return tuple(sorted({d.port for d in doors(isolation) if d.by_name and d.target.startswith("127.")}))


def through_gateway(isolation, network: Network, env: dict[str, str]) -> dict[str, str]:
    """``env`` with each URL of the host's loopback that names a door rewritten to the gateway, and
    ``HUBFRONT_PUBLIC_URL``, the proxy's public address as the workload reaches it."""
    ports = {d.port for d in doors(isolation) if not d.by_name}

    def moved(value: str) -> str:
        if "://" not in value or " " in value:
            return value
        parts = urlsplit(value)
        door = _door(value)
        if door is None or door.by_name or door.port not in ports:
            return value
        auth = parts.netloc.rpartition("@")[0]
        return urlunsplit(parts._replace(netloc=f"{auth + '@' if auth else ''}{network.gateway}:{door.port}"))

    moved_env = {key: moved(value) for key, value in env.items()}
    if isolation.public_url:
        moved_env["HUBFRONT_PUBLIC_URL"] = moved(isolation.public_url)
    return moved_env
