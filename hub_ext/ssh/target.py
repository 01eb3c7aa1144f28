"""Where an SSH login lands: ``<user>@host`` in the user's running notebook server of their working group,
``<user>+<group>@host`` in that group's. What a session there runs as and in comes from the server itself
and from ``hub_ext.isolation`` (the one place for OS accounts, cgroups and namespaces): the user's OS
account, the server's cgroup and network namespace, the server's environment and home.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Callable

from .. import context
from ..isolation import Isolation, IsolationError
from ..ledger.workloads import NOTEBOOK, notebook_id
from spawner.plan import server_name_for


class Unavailable(Exception):
    """The session cannot start; ``message`` says why, in words for the person at the terminal."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class NotRunning(Unavailable):
    """The user's notebook in ``group`` is not running (the gateway may start it: ``c.SSHGateway.start_on_demand``)."""

    def __init__(self, group: str, server: str, pending: str | None = None):
        super().__init__(f"Your notebook in {group} is still starting: try again in a moment" if pending == "spawn"
                         else f"Your notebook in {group} is not running: start it on the Notebooks page")
        self.group, self.server, self.pending = group, server, pending


def split_login(login: str) -> tuple[str, str | None]:
    """``alice+research`` -> ``("alice", "research")``; ``alice`` -> ``("alice", None)``."""
    user, plus, group = login.partition("+")
    return user, (group if plus else None)


@dataclass
class Landing:
    username: str
    group: str
    server: str
    pid: int  # the notebook server's process
    uid: int | None  # the OS account's (None: not isolated)
    home: str
    env: dict[str, str] = field(repr=False)
    netns: str  # the server's network namespace ("": the host's network)
    preexec: Callable[[], Callable[[], None]] = field(repr=False)  # a fresh preexec_fn per child


def read_environ(pid: int) -> dict[str, str]:
    with open(f"/proc/{pid}/environ", "rb") as f:
        raw = f.read()
    env = {}
    for item in raw.split(b"\0"):
        name, eq, value = item.partition(b"=")
        if eq and name:
            env[name.decode(errors="replace")] = value.decode(errors="replace")
    return env


def process_uid(pid: int) -> int:
    return os.stat(f"/proc/{pid}").st_uid


def choose_group(db_url: str, username: str, groups: list[str], asked: str | None) -> str:
    if asked is not None:
        if asked not in groups:
            raise Unavailable(f"You are not a member of group {asked}")
        return asked
    group = context.current_group(db_url, username, groups)
    if group is None:
        raise Unavailable("No group available: ask an admin to add you to a group")
    return group


def running_server(user: dict, asked_group: str | None, db_url: str) -> tuple[str, str, dict]:
    """The group ``user`` (the hub's user model) lands in, its server's name and model (with the spawner's
    state: a local process's pid, a pod's name). Raises :class:`NotRunning` or :class:`Unavailable`."""
    group = choose_group(db_url, user["name"], list(user.get("groups") or []), asked_group)
    server_name = server_name_for(group)
    server = (user.get("servers") or {}).get(server_name)
    if not server or server.get("stopped") or not server.get("ready"):
        raise NotRunning(group, server_name, (server or {}).get("pending"))
    return group, server_name, server


def resolve(user: dict, asked_group: str | None, db_url: str, isolation: Isolation) -> Landing:
    """Where ``user`` (the hub's user model, with groups and servers' state) lands. Raises :class:`Unavailable`."""
    username, groups = user["name"], list(user.get("groups") or [])
    group, server_name, server = running_server(user, asked_group, db_url)
    pid = (server.get("state") or {}).get("pid")
    if not isinstance(pid, int) or pid <= 0:
        raise Unavailable(f"Your notebook in {group} does not run on this machine: SSH into it is not available yet")
    workload = notebook_id(username, server_name)
    cgroup = isolation.existing_cgroup(NOTEBOOK, workload)
    if isolation.enabled and isolation.hierarchy is not None and (cgroup is None or pid not in cgroup.pids()):
        raise Unavailable(f"Your notebook in {group} is not running: start it on the Notebooks page")
    try:
        env = read_environ(pid)
        owner = process_uid(pid)
    except OSError:
        raise Unavailable(f"Your notebook in {group} is not running: start it on the Notebooks page") from None
    home = env.get("HOME") or ""
    if not home:
        raise Unavailable(f"Your notebook in {group} has no home directory")
    try:
        account = isolation.account(username, groups, home)
    except (IsolationError, OSError) as exc:
        raise Unavailable(f"Your session could not be isolated: {exc}") from None
    if account is None and os.geteuid() == 0:
        raise Unavailable("SSH is not available: workloads are not isolated on this hub (they would run as root)")
    if account is not None and owner != account.uid:
        raise Unavailable(f"Your notebook in {group} is not running: start it on the Notebooks page")
    network = isolation.existing_network(NOTEBOOK, workload)
    if isolation.networks is not None and network is None:
        raise Unavailable(f"Your notebook in {group} has no network: restart it on the Notebooks page")
    return Landing(username, group, server_name, pid, account.uid if account else None, home, env,
                   network.path if network is not None else "", lambda: isolation.preexec(account, cgroup, home, network=network))
