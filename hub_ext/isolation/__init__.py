"""Workload isolation on one machine: the one module every local workload uses.

Notebooks (``spawner.local``), jobs, deployment replicas and apps (the keeper), and
environment builds: each runs as its owner's OS account (``accounts``), in its own
cgroup with the instance type's limits (``cgroups``), in its own mount namespace with
private /tmp and /dev/shm, a /proc of its account and ``no_new_privs`` (``sandbox``),
with an environment scrubbed of the hub's secrets, while the hub's own state stays out
of reach (``hardening``). ``process.enter_workload`` is the one way in.

Modes (``Isolation.isolate``): ``auto`` isolates when the hub runs as root and
otherwise runs workloads as the hub's user with a warning in the log and a
banner for admins; ``always`` refuses to start without root; ``never`` turns
isolation off (workloads run as the hub's user, with the same banner).
"""

from importlib import import_module

from .process import enter_workload

# The package imports only the standard library until a name below is used, so a
# process that only enters a workload (a job's keeper) starts fast.
_LAZY = {
    "Isolation": "manager", "IsolationStatus": "manager", "NOT_ROOT": "manager", "TURNED_OFF": "manager",
    "Account": "accounts", "IsolationError": "accounts", "Cgroup": "cgroups", "Limits": "cgroups", "Stats": "cgroups",
    "Sandbox": "sandbox", "SandboxError": "sandbox",
}

__all__ = ["enter_workload", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
