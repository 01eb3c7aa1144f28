"""The child side of starting a local workload, run between fork and exec.

Standard library only: the hub's spawner and a job's keeper process both use
it, and the keeper must start fast.
"""

from __future__ import annotations

import os


def enter_workload(*, cgroup_procs: list[str], identity: tuple[int, int, tuple[int, ...]] | None, home: str,
                   workdir: str | None = None, cpus=()) -> None:
    """Join the cgroup (as root, first, so everything forked is counted), drop to the account
    ``identity`` = (uid, primary gid, supplementary gids) with umask 077, and go to ``home``.

    ``workdir`` (inside the home) is made after the drop, so a symlink the user
    put in their home cannot make root create anything. Without an identity the
    workload stays the hub's user, and the home is made if missing.
    """
    for path in cgroup_procs:
        with open(path, "w") as f:
            f.write(str(os.getpid()))
    if identity is not None:
        uid, gid, groups = identity
        os.setgroups([gid, *groups])
        os.setgid(gid)
        os.setuid(uid)
        os.umask(0o077)
    else:
        os.makedirs(home, 0o700, exist_ok=True)
    os.chdir(home)
    if workdir:
        os.makedirs(workdir, 0o700, exist_ok=True)
        os.chdir(workdir)
    if cpus:
        os.sched_setaffinity(0, list(cpus))
