"""The host's rules for the workloads' namespaces: Hubfront's own nftables table, nothing else touched.

One table per hub, ``inet hubfront-<tag>``, replaced as a whole at each start (``nft -f``: atomic) and
deleted at shutdown. For the hub's interfaces (``hf<tag:6>*``, one per workload) it says:

- *prerouting*: the gateway's ports (the hub's API, the proxy's public port) are translated to where they
  really listen (127.0.0.1 as a rule; ``route_localnet`` is set on these interfaces only);
- *input*: from a workload, the host accepts those translated connections and the answers to its own
  connections, nothing else: no other host port (the runner, the proxy's API, PostgreSQL, sshd), on any of
  the host's addresses;
- *forward*: a workload reaches no other workload (any hub's interface) and nothing in the range; the
  outside world yes (masqueraded, like a container runtime's bridge); nothing reaches a workload from
  outside but answers; no IPv6 at all;
- *output*: only the hub's own user (the hub, the proxy, the runner) opens a connection to a workload.

If the machine did not forward packets, turning forwarding on must not make it a router for anything else:
then (marker ``/run/hubfront-forwarding``) every hub's table drops forwarding that is not to or from a
Hubfront interface.
"""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
from dataclasses import dataclass

from .accounts import IsolationError
from .network import VETH_NAME

FORWARDING = "/proc/sys/net/ipv4/ip_forward"
MARKER = "/run/hubfront-forwarding"
ANY_VETH = "hf*"


@dataclass(frozen=True)
class Door:
    """A port of the gateway a workload may open, and where it really listens."""

    port: int
    target: str  # an IPv4 address
    target_port: int
    public: bool = False  # the proxy's: also open on the host's own addresses
    by_name: bool = False  # reached by a name (not rewritten in the workload's environment)


def table_name(tag: str) -> str:
    return f"hubfront-{tag}"


def ruleset(tag: str, veth_prefix: str, cidr: str, gateway: str, doors: list[Door], uid: int,
            closed_router: bool) -> str:
    ours = f'iifname "{veth_prefix}*"'
    to_ours = f'oifname "{veth_prefix}*"'
    dnat = [f"{ours} ip daddr {gateway} tcp dport {d.port} dnat ip to {d.target}:{d.target_port}" for d in doors]
    public = sorted({d.target_port for d in doors if d.public})
    lines = [
        f"table inet {table_name(tag)} {{",
        "  chain prerouting {", "    type nat hook prerouting priority dstnat; policy accept;",
        *(f"    {rule}" for rule in dnat), "  }",
        "  chain input {", "    type filter hook input priority filter; policy accept;",
        f"    {ours} ct state established,related accept",
        f"    {ours} ct status dnat ip daddr {{ {', '.join(sorted({d.target for d in doors}))} }} "
        f"tcp dport {{ {', '.join(str(p) for p in sorted({d.target_port for d in doors}))} }} accept" if doors else "",
        f"    {ours} fib daddr type local tcp dport {{ {', '.join(str(p) for p in public)} }} accept" if public else "",
        f"    {ours} drop", "  }",
        "  chain forward {", "    type filter hook forward priority filter; policy accept;",
        f'    {ours} oifname "{ANY_VETH}" drop',
        f"    {ours} ip daddr {cidr} drop",
        f"    {ours} meta nfproto ipv6 drop",
        f"    {to_ours} ct state established,related accept",
        f"    {to_ours} drop",
        f'    iifname != "{ANY_VETH}" oifname != "{ANY_VETH}" drop' if closed_router else "",
        "  }",
        "  chain postrouting {", "    type nat hook postrouting priority srcnat; policy accept;",
        f'    {ours} oifname != "{ANY_VETH}" masquerade', "  }",
        "  chain output {", "    type filter hook output priority filter; policy accept;",
        f"    {to_ours} ct state new meta skuid != {uid} drop", "  }",
        "}",
    ]
    return "\n".join(line for line in lines if line) + "\n"


def _nft(script: str) -> None:
    try:
        proc = subprocess.run(["nft", "-f", "-"], input=script, capture_output=True, text=True, timeout=30)
    except FileNotFoundError:
        raise IsolationError("nftables is not installed (apt-get install nftables), so workloads' networks "
                             "cannot be kept apart") from None
    except (OSError, subprocess.SubprocessError) as exc:
        raise IsolationError(f"the workloads' network rules could not be set: {exc}") from None
    if proc.returncode != 0:
        raise IsolationError(f"the workloads' network rules could not be set: {proc.stderr.strip()}")


def install(tag: str, veth_prefix: str, cidr: str, gateway: str, doors: list[Door]) -> None:
    """Replace this hub's table (creating it first makes the delete safe), forwarding on."""
    closed_router = os.path.exists(MARKER)
    with open(FORWARDING) as f:
        forwarding = f.read().strip() == "1"
    if not forwarding:
        with open(MARKER, "w"):
            pass
        closed_router = True
    table = table_name(tag)
    _nft(f"table inet {table}\ndelete table inet {table}\n"
         + ruleset(tag, veth_prefix, cidr, gateway, doors, os.geteuid(), closed_router))
    if not forwarding:
        with open(FORWARDING, "w") as f:
            f.write("1")


def remove(tag: str) -> None:
    table = table_name(tag)
    _nft(f"table inet {table}\ndelete table inet {table}\n")


def range_conflicts(cidr: str, own=lambda name: bool(VETH_NAME.match(name))) -> list[str]:
    """What on this machine already uses ``cidr`` (an address or a route not of a Hubfront interface)."""
    net, found = ipaddress.IPv4Network(cidr), []
    for args in (["-4", "addr", "show"], ["-4", "route", "show", "table", "all"]):
        try:
            out = subprocess.run(["ip", "-j", *args], capture_output=True, text=True, timeout=30).stdout
            entries = json.loads(out or "[]")
        except (OSError, subprocess.SubprocessError, ValueError):
            continue
        for entry in entries:
            if "addr_info" in entry:
                if own(entry.get("ifname", "")):
                    continue
                for info in entry["addr_info"]:
                    other = ipaddress.IPv4Network(f"{info['local']}/{info['prefixlen']}", strict=False)
                    if other.overlaps(net):
                        found.append(f"address {info['local']}/{info['prefixlen']} on {entry.get('ifname')}")
            elif not own(entry.get("dev", "")) and entry.get("dst") not in (None, "default"):
                try:
                    other = ipaddress.IPv4Network(entry["dst"], strict=False)
                except ValueError:
                    continue
                if other.overlaps(net) and entry.get("type") not in ("local", "broadcast"):
                    found.append(f"route {entry['dst']} via {entry.get('dev', '?')}")
    return list(dict.fromkeys(found))
