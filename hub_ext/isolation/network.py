"""Each local workload's own network namespace: its own loopback and one interface to the host.

Made with iproute2 (``ip netns``, a veth pair), like a container runtime's bridge-less mode:

- the namespace is named ``hf-<tag>-<cgroup name>`` (``<tag>``: the hub's data dir, as its cgroup subtree)
  and pinned in ``/run/netns``, so it outlives a runner or hub crash with its workload and is found again
  (adoption), and one whose processes are all gone is found stale and removed at the next start;
- the host end of the veth is ``hf<tag:6><slot:4 hex>``; slot *n* of ``Isolation.network_range`` gives the
  pair ``base + 2n`` (host) / ``base + 2n + 1`` (workload), a /31; slot 0 is kept for the *gateway*
  ``base + 1``, the one address a workload reaches the hub's API and the proxy's public port at (the
  host translates it: ``netrules``);
- inside, whatever reaches the workload's address goes to its loopback: servers bound to 127.0.0.1 (the
  notebook server, a replica, an app, a TensorBoard started in a notebook) are reached by the host there;
- a slot is taken under a machine-wide lock from the interfaces that exist (every Hubfront hub's on this
  machine), so hubs sharing a range never share an address;
- making one takes several ``ip``/``nft`` processes (tens of milliseconds, the slowest part of a start): each
  process keeps ``spares`` made ahead, and a start takes one (``netspares``).

What the workload may reach through its interface is decided by the host's rules (``netrules``), not here.
"""

from __future__ import annotations

import fcntl
import hashlib
import ipaddress
import os
import re
import subprocess
from contextlib import contextmanager
from dataclasses import dataclass

from . import netspares
from .accounts import IsolationError

RUN_NETNS = "/run/netns"
LOCK = "/run/hubfront-network.lock"
SYS_NET = "/sys/class/net"
VETH_NAME = re.compile(r"^hf[0-9a-f]{6}([0-9a-f]{4})$")
INSIDE = "eth0"  # the workload's end of its veth, as a container's


@dataclass(frozen=True)
class Network:
    """One workload's namespace: where the host reaches it and where it reaches the hub."""

    name: str  # in /run/netns
    veth: str  # the host's end
    address: str  # the workload's end: its servers listen here
    host: str  # the host's end
    gateway: str  # the hub's API and the proxy's public port, as the workload sees them

    @property
    def path(self) -> str:
        return f"{RUN_NETNS}/{self.name}"


def _ip(*args: str, batch: list[str] | None = None) -> str:
    cmd = ["ip", *args] + (["-batch", "-"] if batch is not None else [])
    try:
        proc = subprocess.run(cmd, input="\n".join(batch or []) + "\n", capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as exc:
        raise IsolationError(f"the workload's network could not be made: {exc}") from None
    if proc.returncode != 0:
        raise IsolationError(f"the workload's network could not be made: ip {' '.join(args)}: "
                             f"{proc.stderr.strip() or proc.returncode}")
    return proc.stdout


def _sysctl(path: str, value: str) -> None:
    with open(path, "w") as f:
        f.write(value)


@contextmanager
def _machine_lock():
    os.makedirs(os.path.dirname(LOCK), exist_ok=True)
    fd = os.open(LOCK, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def used_slots() -> set[int]:
    """The slots of every Hubfront interface on this machine (any hub's)."""
    try:
        names = os.listdir(SYS_NET)
    except OSError:
        return set()
    return {int(m.group(1), 16) for m in map(VETH_NAME.match, names) if m}


def namespace_inodes() -> set[tuple[int, int]]:
    """(device, inode) of the network namespace of every process on the machine."""
    found = set()
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                st = os.stat(f"/proc/{pid}/ns/net")
            except OSError:
                continue  # gone, or a kernel thread
            found.add((st.st_dev, st.st_ino))
    return found


def _inside(net: Network, gateway_ports: tuple[int, ...] = ()) -> None:
    """The namespace's own side, in one ``nsenter``: its address, loopback and default route, then the
    loopback's door: what reaches the workload's address from the host goes to its loopback, so a server
    bound to 127.0.0.1 (most are, by default) is reached by the hub, the proxy and the runner, and by nothing
    else (the host's rules let no one else send to a workload). And ``gateway_ports`` of its own loopback
    lead on to the gateway: names such as ``*.apps.localhost`` resolve to the loopback in every namespace."""
    rules = ["table ip hubfront {", " chain prerouting {", "  type nat hook prerouting priority dstnat; policy accept;",
             f'  iifname "{INSIDE}" ip daddr {net.address} dnat ip to 127.0.0.1', " }"]
    if gateway_ports:
        ports = ", ".join(map(str, gateway_ports))
        rules += [" chain output {", "  type nat hook output priority -100; policy accept;",
                  f"  ip daddr 127.0.0.1 tcp dport {{ {ports} }} dnat ip to {net.gateway}", " }",
                  " chain postrouting {", "  type nat hook postrouting priority srcnat; policy accept;",
                  f'  oifname "{INSIDE}" ip saddr 127.0.0.0/8 masquerade', " }"]
    rules = "\n".join([*rules, "}"]) + "\n"
    links = "\n".join([f"addr add {net.address}/31 dev {INSIDE}", f"link set {INSIDE} up", "link set lo up",
                       f"route add default via {net.host}"])
    script = (f"ip -batch - <<'LINKS' || exit 1\n{links}\nLINKS\n"
              f"echo 1 > /proc/sys/net/ipv4/conf/{INSIDE}/route_localnet && exec nft -f -")
    proc = subprocess.run(["nsenter", f"--net={RUN_NETNS}/{net.name}", "/bin/sh", "-c", script], input=rules,
                          capture_output=True, text=True, timeout=30)
    if proc.returncode != 0:
        raise IsolationError(f"its inside could not be set up: {proc.stderr.strip() or proc.returncode}")


class Networks:
    """The namespaces of one hub (``tag``: its data dir) in address range ``cidr``."""

    def __init__(self, tag: str, cidr: str, spares: int = 0):
        self.tag = tag
        self.range = parse_range(cidr)
        self.veth_prefix = f"hf{tag[:6]}"
        self.ns_prefix = f"hf-{tag}-"
        self.spares = spares

    @property
    def gateway(self) -> str:
        return str(self.range.network_address + 1)

    def _pair(self, slot: int) -> tuple[str, str]:
        base = self.range.network_address + 2 * slot
        return str(base), str(base + 1)

    def _slot_for(self, name: str, used: set[int]) -> int:
        count = min(self.range.num_addresses // 2, 0x10000) - 1  # slot 0: the gateway's pair
        start = int(hashlib.sha256(name.encode()).hexdigest()[:8], 16) % count
        for i in range(count):
            slot = 1 + (start + i) % count
            if slot not in used:
                return slot
        raise IsolationError(f"no free address left in Isolation.network_range {self.range}")

    def _network(self, name: str, slot: int) -> Network:
        host, address = self._pair(slot)
        return Network(self.ns_prefix + name, f"{self.veth_prefix}{slot:04x}", address, host, self.gateway)

    def create(self, name: str, gateway_ports: tuple[int, ...] = ()) -> Network:
        """A new namespace for workload ``name`` (a cgroup name); one left by a crash is replaced.
        ``gateway_ports``: of its loopback, led on to the gateway (:func:`_inside`)."""
        if os.path.exists(f"{RUN_NETNS}/{self.ns_prefix}{name}"):
            self.remove(self.ns_prefix + name)
        net = netspares.take(self, name, gateway_ports)
        if net is None:
            net = self._make(name, gateway_ports)
        netspares.prime(self, gateway_ports)
        return net

    def _make(self, name: str, gateway_ports: tuple[int, ...]) -> Network:
        with _machine_lock():
            net = self._network(name, self._slot_for(name, used_slots()))
            try:
                _ip(batch=[f"netns add {net.name}", f"link add {net.veth} type veth peer name {INSIDE} netns {net.name}",
                           f"addr add {net.host}/31 dev {net.veth}", f"link set {net.veth} up"])
            except IsolationError:
                self.remove(net.name)
                raise
        try:
            # the gateway is translated to the hub's loopback address: allowed on this interface only
            _sysctl(f"/proc/sys/net/ipv4/conf/{net.veth}/route_localnet", "1")
            _sysctl(f"/proc/sys/net/ipv6/conf/{net.veth}/disable_ipv6", "1")
            _inside(net, gateway_ports)
        except (IsolationError, OSError, subprocess.SubprocessError) as exc:
            self.remove(net.name)
            raise IsolationError(f"the workload's network could not be made: {exc}") from None
        return net

    def existing(self, name: str) -> Network | None:
        """The namespace of workload ``name`` if it is still there (a runner or hub that restarted)."""
        full = self.ns_prefix + name
        if not os.path.exists(f"{RUN_NETNS}/{full}"):
            return None
        try:
            out = _ip("-n", full, "-4", "-o", "addr", "show", "dev", INSIDE)
        except IsolationError:
            return None
        m = re.search(r"inet (\d+\.\d+\.\d+\.\d+)/31", out)
        if not m or ipaddress.IPv4Address(m.group(1)) not in self.range:
            return None
        slot = (int(ipaddress.IPv4Address(m.group(1))) - int(self.range.network_address)) // 2
        return self._network(name, slot)

    @staticmethod
    def remove(name: str) -> None:
        """Remove namespace ``name`` (its veth goes with it once no process is left in it)."""
        if os.path.exists(f"{RUN_NETNS}/{name}"):
            _ip("netns", "delete", name)

    def names(self, spares: bool = False) -> list[str]:
        """This hub's workloads' namespaces (``spares``: and the spares made ahead, every process's)."""
        try:
            found = [n for n in os.listdir(RUN_NETNS) if n.startswith(self.ns_prefix)]
        except OSError:
            return []
        return sorted(n for n in found if spares or not netspares.is_spare(n[len(self.ns_prefix):]))

    def remove_stale(self) -> list[str]:
        """Remove this hub's namespaces that no process is in any more (their workload ended while no
        hub or runner watched), and spares whose process is gone. Returns the workloads' names."""
        netspares.remove_orphans(self.ns_prefix)
        alive, removed = namespace_inodes(), []
        for name in self.names():
            try:
                st = os.stat(f"{RUN_NETNS}/{name}")
            except OSError:
                continue
            if (st.st_dev, st.st_ino) not in alive:
                try:
                    self.remove(name)
                except IsolationError:
                    continue
                removed.append(name)
        return removed


def parse_range(cidr: str) -> ipaddress.IPv4Network:
    try:
        net = ipaddress.IPv4Network(cidr, strict=True)
    except ValueError:
        raise ValueError(f"Isolation.network_range: {cidr!r} is not an IPv4 network such as 10.213.0.0/16") from None
    if not net.is_private or net.prefixlen > 24:
        raise ValueError(f"Isolation.network_range: {cidr} must be a private range of at least /24")
    return net
