"""The child side of starting a local workload, run between fork and exec.

Standard library only: the hub's spawner and a job's keeper process both use
it, and the keeper must start fast.
"""

from __future__ import annotations

import os

from .sandbox import Sandbox, enter, no_new_privs


def enter_workload(*, cgroup_procs: list[str], identity: tuple[int, int, tuple[int, ...]] | None, home: str | None,
                   workdir: str | None = None, cpus=(), sandbox: Sandbox | dict | None = None) -> None:
    """Join the cgroup (as root, first, so everything forked is counted), enter the workload's own
    namespace (``sandbox``: private /tmp and /dev/shm, /proc of its own account, nosuid member trees),
    drop to the account ``identity`` = (uid, primary gid, supplementary gids) with umask 077, set
    ``no_new_privs``, and go to ``home``.

    ``workdir`` (inside the home) is made after the drop, so a symlink the user
    put in their home cannot make root create anything. Without an identity the
    workload stays the hub's user, and the home is made if missing (none: a build, which stays where it is).
    Any failure raises: a workload whose sandbox could not be made never starts.
    """
    for path in cgroup_procs:
        with open(path, "w") as f:
            f.write(str(os.getpid()))
    if isinstance(sandbox, dict):
        sandbox = Sandbox.from_dict(sandbox)
    if sandbox is not None:
        enter(sandbox)  # as root: mounts need it
    if identity is not None:
        uid, gid, groups = identity
        os.setgroups([gid, *groups])
        os.setgid(gid)
        os.setuid(uid)
        os.umask(0o077)
    elif home is not None:
        os.makedirs(home, 0o700, exist_ok=True)
    if sandbox is not None:
        no_new_privs()
    if home is not None:
        os.chdir(home)
    if workdir:
        os.makedirs(workdir, 0o700, exist_ok=True)
        os.chdir(workdir)
    if cpus:
        os.sched_setaffinity(0, list(cpus))
