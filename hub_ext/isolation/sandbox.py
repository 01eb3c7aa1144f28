"""A workload's own view of the machine: its mount namespace, private /tmp and /dev/shm, /proc showing
only its account's processes, and ``no_new_privs``. Run in the workload's child, as root, before it drops
to its account (``process.enter_workload``).

Standard library only (ctypes): a job's keeper imports it and must start fast.

Why each piece:

- ``no_new_privs`` (prctl): exec never grants more privileges, so a set-user-ID binary a member got hold
  of (or one the system ships) runs with the member's own ids. It is inherited by every child and can
  never be unset, so the notebook's kernels and terminals have it too.
- a mount namespace (``unshare(CLONE_NEWNS)``), with ``/`` made a *slave* of the host: mounts of the host
  (storage attached later) still reach the workload, nothing mounted inside ever reaches the host. It goes
  away with the workload's last process, and with it everything mounted inside (the tmpfs included).
- fresh tmpfs on /tmp, /var/tmp and /dev/shm (nosuid, nodev, mode 1777): no workload sees what another
  planted there (a symlink to another group's file, a lock, a socket). Paths beneath them that workloads
  must still reach (the data dir when it lies under /tmp, the hub's Python) are opened with ``O_PATH``
  before, recreated inside the new tmpfs (the folders on the way with their owners and modes) and
  bind-mounted back from ``/proc/self/fd/N``, so they stay at the same paths.
- member-writable trees (the data dir: homes, group storage, datasets, folders) bind-remounted nosuid,
  nodev (recursively, with ``mount_setattr`` where the kernel has it).
- /proc mounted again with ``hidepid=invisible``: a workload lists only its own account's processes (and
  their command lines). A PID namespace would hide more, but needs an init process inside it between the
  supervisor and the workload (the pid the spawner and the keeper watch would no longer be the
  workload's), so ``hidepid`` it is: each mount of /proc has its own options since Linux 5.8.

- its own network namespace (``netns``: made by ``network.Networks`` with its veth, pinned in /run/netns),
  joined first: its loopback is its own, and the host's rules decide what its one interface reaches.

:func:`enter` is the one place a workload's namespaces are entered.
"""

from __future__ import annotations

import ctypes
import os
from dataclasses import asdict, dataclass

PR_SET_NO_NEW_PRIVS = 38
CLONE_NEWNS, CLONE_NEWNET = 0x00020000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 0x1, 0x2, 0x4, 0x8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE, MS_SLAVE = 0x20, 0x1000, 0x4000, 0x40000, 0x80000
MS_NOATIME, MS_NODIRATIME, MS_RELATIME = 0x400, 0x800, 0x200000
# statvfs flags -> mount flags kept when a bind mount is remounted
_KEEP_FLAGS = {os.ST_RDONLY: MS_RDONLY, os.ST_NOEXEC: MS_NOEXEC, os.ST_NOATIME: MS_NOATIME,
               os.ST_NODIRATIME: MS_NODIRATIME, os.ST_RELATIME: MS_RELATIME}
SYS_MOUNT_SETATTR = 442  # the same number on every architecture since Linux 5.12
AT_FDCWD, AT_RECURSIVE = -100, 0x8000
MOUNT_ATTR_NOSUID, MOUNT_ATTR_NODEV = 0x2, 0x4

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]


class SandboxError(OSError):
    """The workload's sandbox could not be set up: it must not start (never unconfined)."""


class _MountAttr(ctypes.Structure):
    _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64),
                ("propagation", ctypes.c_uint64), ("userns_fd", ctypes.c_uint64)]


@dataclass(frozen=True)
class Sandbox:
    """What a workload's namespace holds; plain data (the keeper gets it as JSON)."""

    private_dirs: tuple[str, ...] = ()  # each gets a fresh tmpfs (/tmp, /var/tmp, /dev/shm)
    tmp_size: str = "50%"  # each tmpfs's size (tmpfs's size=: bytes, k/m/g or % of memory)
    keep: tuple[str, ...] = ()  # real paths beneath a private dir that stay visible
    nosuid: tuple[str, ...] = ()  # trees remounted nosuid,nodev
    hide_processes: bool = True  # /proc with hidepid=invisible
    netns: str = ""  # the workload's network namespace (a /run/netns path); "": the host's network

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Sandbox:
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})

    @property
    def namespaced(self) -> bool:
        return bool(self.private_dirs or self.nosuid or self.hide_processes or self.netns)


def _fail(what: str, err: int | None = None) -> SandboxError:
    err = ctypes.get_errno() if err is None else err
    return SandboxError(err, f"the workload's sandbox could not be set up: {what}: {os.strerror(err)}")


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    enc = lambda s: None if s is None else s.encode()  # noqa: E731
    if _libc.mount(enc(source), enc(target), enc(fstype), flags, enc(data)) != 0:
        raise _fail(f"mount {fstype or source} on {target}")


def no_new_privs() -> None:
    """exec never grants privileges from here on (set-user-ID bits and file capabilities are ignored)."""
    if _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise _fail("prctl(PR_SET_NO_NEW_PRIVS)")


def beneath(path: str, directory: str) -> bool:
    return path != directory and path.startswith(directory.rstrip("/") + "/")


def _kept(sandbox: Sandbox, private: list[str]) -> list[tuple[str, int, list]]:
    """``(path, O_PATH fd, [(folder on the way, its stat)])`` of each kept path strictly beneath a private
    dir, outermost only: taken before the tmpfs hides them."""
    wanted = sorted({p for p in sandbox.keep if any(beneath(p, d) for d in private)})
    outermost = [p for p in wanted if not any(beneath(p, q) for q in wanted)]
    kept = []
    for path in outermost:
        top = next(d for d in private if beneath(path, d))
        way, folder = [], os.path.dirname(path)
        while beneath(folder, top):
            way.insert(0, folder)
            folder = os.path.dirname(folder)
        try:
            fd = os.open(path, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            continue  # nothing to keep
        except OSError as exc:
            raise _fail(f"open {path}", exc.errno) from None
        try:
            kept.append((path, fd, [(folder, os.lstat(folder)) for folder in way]))
        except OSError as exc:
            os.close(fd)
            raise _fail(f"stat the folders above {path}", exc.errno) from None
    return kept


def _recreate(path: str, fd: int, way: list) -> None:
    """The mount point of a kept path inside the fresh tmpfs, and the folders on the way to it with the
    owner and mode they had (the host's permissions still decide who passes). Nobody else writes in the
    new tmpfs yet, so nothing on the way can be a planted link."""
    for folder, st in way:
        if not os.path.isdir(folder):
            os.mkdir(folder, 0o700)
            os.chown(folder, st.st_uid, st.st_gid)
            os.chmod(folder, st.st_mode & 0o7777)
    if os.path.isdir(f"/proc/self/fd/{fd}"):
        os.mkdir(path, 0o700)
    else:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600))


def _nosuid(path: str) -> None:
    """``path`` and everything mounted below it: nosuid, nodev (other flags kept)."""
    _mount(path, path, None, MS_BIND | MS_REC)
    attr = _MountAttr(MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, 0, 0, 0)
    rc = _libc.syscall(SYS_MOUNT_SETATTR, AT_FDCWD, path.encode(), AT_RECURSIVE, ctypes.byref(attr),
                       ctypes.sizeof(attr))
    if rc == 0:
        return
    if ctypes.get_errno() != 38:  # ENOSYS: a kernel before 5.12 remounts the top mount only
        raise _fail(f"mount_setattr nosuid,nodev {path}")
    flags = os.statvfs(path).f_flag
    keep = sum(mount_flag for st_flag, mount_flag in _KEEP_FLAGS.items() if flags & st_flag)
    _mount(None, path, None, MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV | keep)


def join_network(path: str) -> None:
    """Move the calling thread into the network namespace at ``path`` (a workload's; a link is refused)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        raise _fail(f"open {path}", exc.errno) from None
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            raise _fail(f"setns {path}")
    finally:
        os.close(fd)


def enter(sandbox: Sandbox) -> None:
    """Give the calling process (the workload's child, as root) its own namespace as ``sandbox`` says."""
    if not sandbox.namespaced:
        return
    if sandbox.netns:
        join_network(sandbox.netns)
    if _libc.unshare(CLONE_NEWNS) != 0:
        raise _fail("unshare(CLONE_NEWNS)")
    _mount(None, "/", None, MS_REC | MS_SLAVE)  # nothing mounted from here on leaks out to the host
    private = [d for d in sandbox.private_dirs if os.path.isdir(d) and not os.path.islink(d)]
    kept = _kept(sandbox, private)
    try:
        for directory in private:
            _mount("tmpfs", directory, "tmpfs", MS_NOSUID | MS_NODEV, f"mode=1777,size={sandbox.tmp_size}")
        for path, fd, way in kept:
            try:
                _recreate(path, fd, way)
            except OSError as exc:
                raise _fail(f"recreate {path}", exc.errno) from None
            _mount(f"/proc/self/fd/{fd}", path, None, MS_BIND | MS_REC)
    finally:
        for _, fd, _ in kept:
            os.close(fd)
    for path in sandbox.nosuid:
        if os.path.isdir(path):
            _nosuid(path)
    if sandbox.hide_processes:
        _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, "hidepid=invisible")
