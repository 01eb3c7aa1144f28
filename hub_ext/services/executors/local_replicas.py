"""What ``LocalDeployments`` knows of a deployment's replicas: the model in memory, the health
probe, and the state file's format (what a new runner reads back to find the replicas again:
each revision's spec without its environment, and per replica its keeper handle, port,
restarts and how much of its log was read).
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import time
from dataclasses import asdict, dataclass, field, replace

from hub_ext.isolation import fdtree, safefs

from . import keeper
from .deployments import DeploymentSpec
from .health_checks import checked_path, without_health_checks


def replica_name(deployment_id: str, revision: int, index: int) -> str:
    return f"{deployment_id}-r{revision}-{index}"


async def probe(host: str, port: int, path: str, timeout: float) -> str:
    """One health check: "" when the replica answered GET ``path`` below 500, else why not."""
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(host, port)
            try:
                # the marker keeps the line it causes out of the log (health_checks)
                request = f"GET {checked_path(path)} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n"
                writer.write(request.encode())
                line = await reader.readline()
            finally:
                writer.close()
    except TimeoutError:
        return f"no answer within {timeout:g} s"
    except OSError as exc:
        return exc.strerror or str(exc)
    parts = line.split()
    if len(parts) < 2 or not parts[1].isdigit():
        return "not an HTTP answer"
    return "" if int(parts[1]) < 500 else f"HTTP {int(parts[1])}"


def name_of(rev: "Revision", r: "Replica") -> str:
    return replica_name(rev.spec.deployment_id, rev.spec.revision, r.index)


def crash_message(rev: "Revision", r: "Replica") -> str:
    return (f"Replica {name_of(rev, r)} exited {r.unready_exits} times without becoming ready "
            f"(last: {r.exit}). Last log lines:\n{r.tail}")


def restart_line(r: "Replica", delay: float) -> str:
    """The line the deployment's log gets when a replica is restarted: how it ended, the how-manieth restart in
    a row, when; out of memory with what to do about it."""
    advice = " — choose a larger instance type" if r.exit_reason == "OOMKilled" else ""
    return f"[{r.exit}: restart {r.restarts} in a row, in {delay:g} s{advice}]\n"


def free_port(taken: set[int]) -> int:
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in taken:
            return port


def spec_from(data: dict) -> DeploymentSpec:
    return DeploymentSpec(**dict(data, env={}, groups=tuple(data["groups"]), tolerations=tuple(data["tolerations"]),
                                 gpu_devices=tuple(tuple(d) for d in data["gpu_devices"])))


@dataclass
class Replica:
    index: int
    port: int = 0
    host: str = "127.0.0.1"  # where it listens: its network namespace's address when it has one
    ref: str = ""  # the running process's handle; "": waiting for its restart
    restarts: int = 0  # exits since it last stayed ready a while (the back-off grows with them)
    unready_exits: int = 0  # exits in a row without becoming ready
    read: int = 0  # bytes of the running process's log already in the deployment's stream
    exit: str = ""  # how the previous process ended ("Out of memory (limit 1 GiB)")
    exit_reason: str = ""  # the same as one of deployments.RESTART_REASONS
    tail: str = ""  # and its last log lines
    # found again by the first health checks after a restart, not saved
    ready: bool = False
    ready_since: float | None = None
    failures: int = 0
    error: str = "not checked yet"
    restart_at: float = 0.0

    SAVED = ("index", "port", "host", "ref", "restarts", "unready_exits", "read", "exit", "exit_reason", "tail")


@dataclass
class Revision:
    spec: DeploymentSpec
    replicas: list[Replica]
    served: bool = False  # it became ready once (it serves, or is draining)
    failed: str = ""
    message: str = ""
    started: float = field(default_factory=time.monotonic)  # watched since (start_timeout counts from here)
    drain_at: float | None = None  # an old revision's replicas get SIGTERM then
    stopping: bool = False  # no longer watched: its replicas are being stopped
    env_known: bool = True  # False: read back from the state file, which does not keep the environment


@dataclass
class Deployment:
    id: str
    revisions: dict[int, Revision] = field(default_factory=dict)
    serving: int = 0
    latest: int = 0
    checked: float = 0.0
    log_size: int = 0  # bytes in the output stream so far
    buffer: bytearray = field(default_factory=bytearray)  # its latest bytes, ending at log_size
    source: str = ""  # the replica the last piece of the stream came from
    tasks: set = field(default_factory=set)  # stopping replicas in the background
    scaling: set = field(default_factory=set)  # of them, those ending replicas scaled away (their names come back)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    saved: str = ""

    def append(self, source: str, data: bytes, cap: int) -> None:
        """Add a replica's new output to the stream (a line naming the replica when the source changes),
        keeping only the latest ``cap`` bytes in memory."""
        data = without_health_checks(data)  # GET /ping every second is not what the log is for
        if not data:
            return
        if source != self.source:
            data = f"==> {source} <==\n".encode() + data
            self.source = source
        self.buffer += data
        self.log_size += len(data)
        del self.buffer[:max(0, len(self.buffer) - cap)]

    def know_env(self, spec: DeploymentSpec) -> None:
        """The environment of a revision read back from the state file (the rest of its spec is kept: the
        runner's spec for adoption may lack the devices)."""
        rev = self.revisions.get(spec.revision)
        if rev is not None and not rev.env_known:
            rev.spec, rev.env_known = replace(rev.spec, env=dict(spec.env)), True


def saved_state(dep: Deployment) -> dict:
    """The state file's content for ``dep`` (the environment left out: secrets are stored only encrypted)."""
    return {"deployment_id": dep.id, "serving": dep.serving, "latest": dep.latest, "log_size": dep.log_size,
            "revisions": [{"spec": {**asdict(rev.spec), "env": None}, "served": rev.served, "failed": rev.failed,
                           "message": rev.message, "retiring": rev.stopping or rev.drain_at is not None,
                           "replicas": [{k: getattr(r, k) for k in Replica.SAVED} for r in rev.replicas]}
                          for rev in dep.revisions.values()]}


def state_path(state_dir: str, deployment_id: str) -> str:
    return os.path.join(state_dir, f"{deployment_id}.json")


def save_state(dep: Deployment, state_dir: str) -> None:
    """Write ``dep``'s state file when it changed (remove it once nothing runs: nothing to find again)."""
    state = saved_state(dep)
    text = json.dumps(state, sort_keys=True)
    if not dep.revisions:
        dep.saved = ""
        fdtree.remove_path(state_path(state_dir, dep.id))  # the runner's own state dir
    elif text != dep.saved:
        safefs.ensure_dir(state_dir, 0o700)
        keeper.write_state(state_path(state_dir, dep.id), state)
        dep.saved = text


def last_lines(data: bytes, count: int) -> str:
    return "\n".join(data.decode(errors="replace").splitlines()[-count:])


def revisions_from(state: dict) -> list[tuple[Revision, bool]]:
    """The revisions a state file holds, each with whether it was being retired."""
    return [(Revision(spec_from(saved["spec"]), [Replica(**r) for r in saved["replicas"]], served=saved["served"],
                      failed=saved["failed"], message=saved["message"], env_known=False), saved["retiring"])
            for saved in state.get("revisions", [])]
