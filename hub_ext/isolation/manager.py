"""The Isolation configurable: modes, accounts, cgroups and start-up checks (see the package docstring)."""

from __future__ import annotations

import contextlib
import hashlib
import os
import pwd
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from traitlets import Bool, CaselessStrEnum, Float, Int, List, Unicode, default, validate
from traitlets.config import SingletonConfigurable

from .accounts import COMMENT, Account, Accounts, IsolationError
from .cgroups import Cgroup, Hierarchy, Limits, detect, device_rules
from .hardening import protect_links, reachable_check, secure_data_dir
from . import netspares
from .netgate import loopback_ports, open_gateway, through_gateway
from .network import Network, Networks
from .names import account_name, check_prefix, service_account_name, unix_group_name
from .process import enter_workload
from .sandbox import Sandbox

# where ``import hub_ext`` and ``import spawner`` find their packages (site-packages, or a source tree)
_PACKAGES = str(Path(__file__).resolve().parents[2])
NOT_ROOT = "Workloads are not isolated: the hub runs without root privileges"
TURNED_OFF = "Workloads are not isolated: isolation is turned off (Isolation.isolate = never)"
SHARED_NETWORK = ("Workloads share the network of the machine: each can reach any server that another "
                  "workload, the hub or the runner listens on")
# hub variables a workload must never inherit, whatever env_keep says
HUB_ONLY = ("CONFIGPROXY_AUTH_TOKEN", "JUPYTERHUB_CRYPT_KEY")
WORKLOAD_VARS = ("HUBFRONT_GROUP", "HUBFRONT_INSTANCE_TYPE", "HUBFRONT_IMAGE")
_SECRET_NAME = re.compile(r"PASSWORD|SECRET|PRIVATE_KEY", re.I)


def _enter(exit_on_error: bool, **how) -> None:
    """``enter_workload`` in a child, saying why it failed on its stderr (subprocess says only "preexec_fn")."""
    try:
        enter_workload(**how)
    except BaseException as exc:
        os.write(2, f"hubfront: the workload could not start: {exc}\n".encode())
        if exit_on_error:
            os._exit(126)
        raise


@dataclass
class IsolationStatus:
    isolated: bool  # workloads run as their owner's account
    confinement: str  # e.g. "cgroup v1 (memory, cpu, pids)", or "" when no limits are enforced
    warnings: list[str] = field(default_factory=list)


class Isolation(SingletonConfigurable):
    isolate = CaselessStrEnum(
        ["auto", "always", "never"], "auto",
        help="""Run local workloads as their owner's OS account in their own cgroup.
        auto: when the hub runs as root (otherwise as the hub's user, with a
        warning and an admin banner); always: refuse to start without root;
        never: workloads run as the hub's user.""",
    ).tag(config=True)

    account_prefix = Unicode(
        "hubfront-",
        help="""Prefix of the OS account of each hub user (hubfront-alice) and,
        with "g-" added, of the Unix group of each hub group (hubfront-g-research).
        The accounts' shared primary group is the prefix without its last dash.""",
    ).tag(config=True)

    pids_limit = Int(2048, help="Most processes and threads one workload may have at once (0: no limit).").tag(
        config=True)

    cgroup_root = Unicode(
        "hubfront",
        help="""Directory, relative to each cgroup tree's mount point, under which
        workload cgroups are created (one subtree per hub data dir). On a cgroup
        v2 host under systemd, point it at a subtree delegated to the hub.""",
    ).tag(config=True)

    gpu_device_template = Unicode(
        "/dev/nvidia{index}",
        help="Device node of GPU {index}; nodes of GPUs a workload was not granted are denied to it.",
    ).tag(config=True)

    oom_check_interval = Float(1.0, help="Seconds between checks of a workload's cgroup for an out-of-memory kill.").tag(
        config=True)

    data_dir = Unicode(help="The hub's data dir (default: Hubfront.data_dir).").tag(config=True)

    private_tmp = Bool(True, help="""Give each isolated workload (notebook, job, replica, app, build) its own empty /tmp,
        /var/tmp and /dev/shm (tmpfs in its own mount namespace, gone when it ends): nothing one
        workload plants there (a symlink, a lock) is seen by another.""",
    ).tag(config=True)

    private_tmp_dirs = List(Unicode(), ["/tmp", "/var/tmp", "/dev/shm"],
                            help="The directories that get a fresh tmpfs in each workload (with private_tmp).").tag(
        config=True)

    tmp_size = Unicode(
        "50%",
        help="""Size of each private tmpfs: bytes, with k/m/g, or a percentage of the machine's memory.
        What a workload writes there counts against its own memory limit.""",
    ).tag(config=True)

    hide_processes = Bool(True, help="""Mount /proc inside each workload with hidepid=invisible: a workload lists only its own
        account's processes (not other tenants' processes and command lines).""",
    ).tag(config=True)

    keep_paths = List(
        Unicode(),
        help="""Paths beneath a private tmp directory that workloads must still see at the same path
        (the data dir and the hub's Python are kept anyway), e.g. a shared read-only tool tree.""",
    ).tag(config=True)

    nosuid_paths = List(
        Unicode(),
        help="""Trees mounted nosuid,nodev inside each workload besides the data dir (homes, group
        storage, datasets, folders: always), e.g. homes kept elsewhere.""",
    ).tag(config=True)

    protect_sysctls = Bool(True, help="""At start, set fs.protected_symlinks/hardlinks/fifos=1 and fs.protected_regular=2 where
        they are lower (as root, on the host); where they cannot be set, admins are warned.""",
    ).tag(config=True)

    network = Bool(True, help="""Give each isolated workload its own network namespace (its loopback and one interface to the
        host): it reaches the hub's API, the proxy's public port and the outside world, never another
        workload or any other port of the host. Off: workloads share the host's network.""",
    ).tag(config=True)

    network_range = Unicode(
        "10.213.0.0/16",
        help="""Private IPv4 range of the workloads' namespaces (a /31 each; the first pair is the hub's
        gateway). The hub refuses to start when anything else on the machine uses it.""",
    ).tag(config=True)

    spare_networks = Int(2, min=0, help="""Namespaces each process (the hub, the runner) keeps made ahead, so
        that a start takes one instead of waiting for its own (0: each is made at its start).""").tag(config=True)

    # where workloads reach the hub's API and the proxy's public port (set by the hub at start, handed to
    # the runner): their addresses become the gateway's in a namespace
    hub_api_url = Unicode("").tag(config=True)
    public_url = Unicode("").tag(config=True)

    host_services = List(
        Unicode(),
        help="""URLs (or host:port) of services on this machine's loopback workloads may use besides the hub
        and the proxy (a platform-wide MLflow server, a package proxy): reached at the gateway, their URLs in a
        workload's environment rewritten to it (the hub adds its MLflow URI and proxy variables).""",
    ).tag(config=True)

    @validate("tmp_size")
    def _check_tmp_size(self, proposal):
        if not re.fullmatch(r"[1-9][0-9]*[kmgKMG%]?", proposal["value"]):
            raise IsolationError(f"Isolation.tmp_size: {proposal['value']!r} is not a size (e.g. 2g or 50%)")
        return proposal["value"]

    @default("data_dir")
    def _data_dir_default(self):
        from ..settings import Hubfront

        return Hubfront.instance(config=self.config).data_dir

    @validate("account_prefix")
    def _check_prefix(self, proposal):
        try:
            return check_prefix(proposal["value"])
        except ValueError as exc:
            raise IsolationError(f"Isolation.account_prefix: {exc}") from None

    _hierarchy: Hierarchy | None = None
    _cgroup_reason: str | None = None
    _problems: list[str] = []  # workloads refuse to start while any holds
    _warnings: list[str] = []  # shown to admins, workloads start
    _local = True  # False when no workload runs on this machine (KubeGroupSpawner: pods isolate them)

    # -- mode ------------------------------------------------------------

    @property
    def enabled(self) -> bool:
        """Whether workloads run as their owner's account."""
        if self.isolate == "never":
            return False
        return os.geteuid() == 0 or self.isolate == "always"

    @property
    def hierarchy(self) -> Hierarchy | None:
        if not self.enabled:
            return None
        if self._cgroup_reason is None:
            self._hierarchy, self._cgroup_reason = detect(f"{self.cgroup_root.strip('/')}/{self.tag}")
        return self._hierarchy

    @property
    def tag(self) -> str:
        """This hub's mark on the machine's shared things (cgroup subtree, namespaces, nftables table)."""
        return hashlib.sha256(str(Path(self.data_dir).resolve()).encode()).hexdigest()[:8]

    def status(self) -> IsolationStatus:
        if not self._local:
            return IsolationStatus(True, "Kubernetes pods")
        if not self.enabled:
            return IsolationStatus(False, "", [TURNED_OFF if self.isolate == "never" else NOT_ROOT, SHARED_NETWORK])
        hierarchy = self.hierarchy
        warnings = [*self._problems, *self._warnings] + ([] if self.network else [SHARED_NETWORK])
        if hierarchy is None:
            warnings.append(f"Workloads are not confined: {self._cgroup_reason}; memory, CPU and process "
                            "limits are not enforced")
        confinement = ", ".join(filter(None, [hierarchy.describe() if hierarchy else "",
                                              "network namespaces" if self.network else ""]))
        return IsolationStatus(True, confinement, warnings)

    def startup(self, log, hub_python: list[str], local: bool = True) -> IsolationStatus:
        """At hub start: protect the data dir, check workloads can reach what they need, report.

        ``local`` is False when the hub's workloads are not local processes (Kubernetes pods).
        """
        self._local = local
        if not local:
            return self.status()
        if self.isolate == "always" and os.geteuid() != 0:
            raise IsolationError("Isolation.isolate is 'always' but the hub does not run as root")
        if self.enabled:
            for fix in secure_data_dir(self.data_dir):
                log.warning("Hubfront: data dir was readable by others, fixed %s", fix)
            where = [("the data dir", self.data_dir)]
            where += [("the hub's Python", os.path.realpath(p)) for p in dict.fromkeys(hub_python)]
            self._problems = reachable_check(where)
            if self.protect_sysctls:
                fixes, self._warnings = protect_links()
                for fix in fixes:
                    log.info("Hubfront: %s", fix)
            self._problems += self.sandbox_check()
            self.remove_stale_cgroups()
            if self.networks is not None:
                self._problems += open_gateway(self, self.networks, log)
        status = self.status()
        for warning in status.warnings:
            log.warning("Hubfront: %s", warning)
        if status.isolated:
            log.info("Hubfront: workloads run as their owners' OS accounts, confined by %s",
                     status.confinement or "nothing")
        return status

    # -- accounts --------------------------------------------------------

    def account(self, username: str, hub_groups: list[str], home: str) -> Account | None:
        """The OS account a workload of ``username`` runs as (None: the hub's own user)."""
        if not self.enabled:
            return None
        if self._problems:
            raise IsolationError(self._problems[0])
        accounts = Accounts(self.account_prefix, Path(self.data_dir) / ".accounts.lock")
        return accounts.ensure(username, hub_groups, home)

    def service_account(self, group: str) -> Account | None:
        """The OS account the apps of hub group ``group`` run as (None: the hub's own user), home service_home."""
        if not self.enabled:
            return None
        if self._problems:
            raise IsolationError(self._problems[0])
        accounts = Accounts(self.account_prefix, Path(self.data_dir) / ".accounts.lock")
        return accounts.ensure_service(group, self.service_home(group))

    def service_home(self, group: str) -> str:
        """``<data>/service-homes/<service account name>``: apart from users' homes (a hub user may be
        named like anything, an OS name included)."""
        return str(Path(self.data_dir) / "service-homes" / service_account_name(self.account_prefix, group))

    def unix_gid(self, group: str) -> int | None:
        """The Unix group of hub group ``group`` (created if missing); None when isolation is off."""
        if not self.enabled:
            return None
        accounts = Accounts(self.account_prefix, Path(self.data_dir) / ".accounts.lock")
        with accounts._locked():
            return accounts._group(unix_group_name(self.account_prefix, group))

    def uid_of(self, username: str) -> int | None:
        """The uid of ``username``'s OS account; None when isolation is off or it has none yet."""
        if not self.enabled:
            return None
        try:
            entry = pwd.getpwnam(account_name(self.account_prefix, username))
        except KeyError:
            return None
        return entry.pw_uid if entry.pw_gecos == COMMENT else None

    # -- cgroups ---------------------------------------------------------

    @staticmethod
    def cgroup_name(kind: str, workload_id: str) -> str:
        slug = re.sub(r"[^a-z0-9-]+", "-", workload_id.lower()).strip("-")[:40]
        return f"{kind}-{slug}-{hashlib.sha256(workload_id.encode()).hexdigest()[:8]}"

    def limits(self, *, memory: int | None, cpu: float | None, granted_gpus=(), gpu_inventory=()) -> Limits:
        node = lambda index: self.gpu_device_template.format(index=index)  # noqa: E731
        return Limits(memory=memory or None, cpu=cpu or None, pids=self.pids_limit or None,
                      deny_devices=device_rules(granted_gpus, gpu_inventory, node))

    def starting(self):
        """Hold around a workload's start: its child then joins its cgroup without waiting (``cgroup_warmth``)."""
        return self.hierarchy.joins_kept_fast() if self.hierarchy is not None else contextlib.nullcontext()

    def create_cgroup(self, kind: str, workload_id: str, limits: Limits) -> Cgroup | None:
        hierarchy = self.hierarchy
        return hierarchy.create(self.cgroup_name(kind, workload_id), limits) if hierarchy else None

    def existing_cgroup(self, kind: str, workload_id: str) -> Cgroup | None:
        hierarchy = self.hierarchy
        return hierarchy.existing(self.cgroup_name(kind, workload_id)) if hierarchy else None

    # -- network namespaces (``network``, ``netgate``) ----------------------

    @property
    def networks(self) -> Networks | None:
        """This hub's workload namespaces; None: the host's network (or the gateway is not open: no hub_api_url)."""
        if not (self.enabled and self.network and self._local and self.hub_api_url):
            return None
        try:
            return Networks(self.tag, self.network_range, self.spare_networks)
        except ValueError as exc:
            raise IsolationError(str(exc)) from None

    def create_network(self, kind: str, workload_id: str) -> Network | None:
        return (n := self.networks) and n.create(self.cgroup_name(kind, workload_id), loopback_ports(self))

    def prime_networks(self) -> None:  # this process's spare namespaces, made now (the runner's start)
        if (n := self.networks) is not None:
            netspares.prime(n, loopback_ports(self))

    def existing_network(self, kind: str, workload_id: str) -> Network | None:
        return (n := self.networks) and n.existing(self.cgroup_name(kind, workload_id))

    def remove_network(self, kind: str, workload_id: str) -> None:
        if (n := self.networks) is not None:
            n.remove(n.ns_prefix + self.cgroup_name(kind, workload_id))

    def workload_env(self, env: dict[str, str], network: Network | None) -> dict[str, str]:
        """``env`` as a workload in ``network`` must see it (URLs of the host's loopback: at the gateway)."""
        return through_gateway(self, network, env) if network is not None else env

    def remove_stale_cgroups(self) -> list[str]:
        """Remove this hub's workload cgroups that no process is in any more (left by a crash)."""
        hierarchy, removed = self.hierarchy, []
        for name in hierarchy.names() if hierarchy else []:
            group = hierarchy.existing(name)
            if group is not None and not group.pids() and group.remove():
                removed.append(name)
        return removed

    # -- the workload's process ------------------------------------------

    def sandbox(self, keep=(), network: Network | None = None) -> Sandbox | None:
        """What each workload's namespace holds (``sandbox.Sandbox``); None when isolation is off.

        ``keep``: more paths the workload must reach where they are (its environment), besides the data
        dir, the hub's Python, where Hubfront's own packages are imported from (a notebook's ``hubfront``
        command, a job's keeper: an editable install's source may lie under /tmp) and ``keep_paths``."""
        if not self.enabled:
            return None
        real = lambda paths: tuple(dict.fromkeys(os.path.realpath(p) for p in paths if p))  # noqa: E731
        return Sandbox(
            private_dirs=real(self.private_tmp_dirs) if self.private_tmp else (), tmp_size=self.tmp_size,
            keep=real([self.data_dir, sys.prefix, sys.base_prefix, _PACKAGES, *self.keep_paths, *keep]),
            nosuid=real([self.data_dir, *self.nosuid_paths]), hide_processes=self.hide_processes,
            netns=network.path if network is not None else "")

    def sandbox_check(self) -> list[str]:
        """Enter the sandbox once (as root, running ``true``): if the kernel refuses, every workload would
        fail; better to say why once, clearly, than to start any unconfined."""
        sandbox = self.sandbox()
        if sandbox is None:
            return []
        try:
            proc = subprocess.run(["true"], capture_output=True, text=True, timeout=30, preexec_fn=lambda: _enter(
                True, cgroup_procs=[], identity=None, home=None, sandbox=sandbox))
        except (OSError, subprocess.SubprocessError) as exc:
            return [f"Workloads cannot be sandboxed here: {exc}"]
        if proc.returncode != 0:
            return [f"Workloads cannot be sandboxed here: {proc.stderr.strip() or proc.returncode}"]
        return []

    def preexec(self, account: Account | None, cgroup: Cgroup | None, home: str, cpus: list[int] = (), keep=(),
                network: Network | None = None):
        """A ``preexec_fn``: join the cgroup as root, enter the sandbox (``keep``: as :meth:`sandbox`; the
        ``network`` namespace), drop to the account, umask 077, no_new_privs, cd home (``enter_workload``)."""
        procs = [str(p / "cgroup.procs") for p in cgroup.paths] if cgroup is not None else []
        identity = (account.uid, account.gid, account.groups) if account is not None else None
        sandbox = self.sandbox(keep, network)
        return lambda: _enter(False, cgroup_procs=procs, identity=identity, home=home, cpus=cpus, sandbox=sandbox)

    @staticmethod
    def scrub(env: dict) -> dict:
        """The environment without the hub's own variables (what JupyterHub passes on purpose stays)."""
        return {k: v for k, v in env.items()
                if k not in HUB_ONLY and not _SECRET_NAME.search(k)
                and (not k.startswith("HUBFRONT_") or k in WORKLOAD_VARS)}
