"""Member trees walked, read, copied and removed by descriptors (the tree half of :mod:`.safefs`).

Every folder is reopened from the descriptor whose ``fstat`` was checked (``O_NOFOLLOW``), so a
folder swapped for a link between the listing and the descent is never entered; files are read
only when :func:`.safefs.may_read` allows it, and removal is the fd-based ``shutil.rmtree``.
Use these through :mod:`.safefs` (``fdtree.iter_tree`` …), which forwards the names.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
from pathlib import Path
from typing import Callable, Iterator

from .safefs import DIR_FLAGS, _proc, entry, may_read, open_dir, reopen_dir, safe_mode

if not shutil.rmtree.avoids_symlink_attacks:  # the fd-based rmtree (Linux) is what remove_at relies on
    raise ImportError("this platform's shutil.rmtree follows symbolic links: root cannot remove member trees safely")

def iter_tree(top_fd: int, dirs_only: bool = False) -> Iterator[tuple[int, os.stat_result, str]]:
    """``(O_PATH fd, fstat, relative path)`` of every entry under the directory ``top_fd`` (links
    included: the caller decides), descending only into real directories, each reopened from the
    descriptor that was checked; the fd is valid until the next item. Vanished entries are skipped."""
    stack: list[tuple[int, str]] = [(reopen_dir(top_fd), "")]
    try:
        while stack:
            dfd, prefix = stack.pop()
            below: list[tuple[int, str]] = []
            try:
                with os.scandir(dfd) as it:
                    names = sorted(e.name for e in it if not dirs_only or e.is_dir(follow_symlinks=False))
                for name in names:
                    try:
                        fd, st = entry(dfd, name)
                    except FileNotFoundError:
                        continue
                    try:
                        yield fd, st, prefix + name
                        if stat.S_ISDIR(st.st_mode):
                            try:
                                below.append((reopen_dir(fd), prefix + name + "/"))
                            except (FileNotFoundError, PermissionError):
                                pass
                    finally:
                        os.close(fd)
            finally:
                os.close(dfd)
                stack.extend(reversed(below))  # folders in name order, each after its parent's entries
    finally:
        for dfd, _ in stack:
            os.close(dfd)


def walk(top_fd: int, visit: Callable[[int, os.stat_result, str], None], dirs_only: bool = False) -> None:
    """``visit(O_PATH fd, fstat, relative path)`` on every entry under ``top_fd`` (:func:`iter_tree`)."""
    for fd, st, rel in iter_tree(top_fd, dirs_only):
        visit(fd, st, rel)


def reopen_read(path_fd: int, st: os.stat_result) -> int | None:
    """A read descriptor of the file an ``O_PATH`` descriptor holds, if :func:`may_read` allows it
    (``st``: its fstat; the reopened descriptor is checked to be the same inode)."""
    if not may_read(st):
        return None
    try:
        fd = os.open(_proc(path_fd), os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    now = os.fstat(fd)
    if (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino) or not may_read(now):
        os.close(fd)
        return None
    return fd


def remove_at(dir_fd: int, name: str) -> bool:
    """Remove ``name`` in ``dir_fd``: a folder with everything in it (fd-based rmtree), else the entry
    itself (a link is unlinked, never followed). False when it was not there."""
    try:
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    if stat.S_ISDIR(st.st_mode):
        shutil.rmtree(name, dir_fd=dir_fd)
    else:
        try:
            os.unlink(name, dir_fd=dir_fd)
        except IsADirectoryError:  # swapped for a folder meanwhile
            shutil.rmtree(name, dir_fd=dir_fd)
    return True


def unlink_at(dir_fd: int, name: str, missing_ok: bool = True) -> None:
    """Unlink the entry ``name`` (a file or link; never what a link points at)."""
    try:
        os.unlink(name, dir_fd=dir_fd)
    except FileNotFoundError:
        if not missing_ok:
            raise


def remove_empty_dir(dir_fd: int, name: str) -> bool:
    """Remove the folder ``name`` if it is empty (rmdir never follows a link); False if it stays."""
    try:
        os.rmdir(name, dir_fd=dir_fd)
    except OSError:
        return False
    return True


def rename_at(src_fd: int, src: str, dst_fd: int, dst: str) -> None:
    """Rename an entry between two open directories (links are moved as links, never followed)."""
    os.rename(src, dst, src_dir_fd=src_fd, dst_dir_fd=dst_fd)


def remove_path(path: str | Path) -> bool:
    """Remove ``path`` (its parents the hub's own, see :func:`open_dir`) and everything in it."""
    path = Path(path)
    try:
        parent = open_dir(path.parent)
    except FileNotFoundError:
        return False
    try:
        return remove_at(parent, path.name)
    finally:
        os.close(parent)


def copy_fd(src: int, dst: int) -> int:
    """Copy the whole open file ``src`` into ``dst`` (in the kernel where it can); the bytes copied."""
    total = 0
    while True:
        try:
            n = os.copy_file_range(src, dst, 1 << 30)
        except OSError as exc:
            if exc.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
                raise
            n = os.sendfile(dst, src, None, 1 << 30)
        if n == 0:
            return total
        total += n


def open_read(dir_fd: int, name: str) -> int | None:
    """``name`` opened for reading if :func:`may_read` allows it (checked on the descriptor), else None."""
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dir_fd)
    except OSError:
        return None
    if not may_read(os.fstat(fd)):
        os.close(fd)
        return None
    return fd


MAX_DEPTH = 200  # folders deep: a copy deeper than this is refused (descriptors and stack stay bounded)


def copy_tree(src_fd: int, dst_fd: int, file_mode: Callable[[os.stat_result], int], dir_mode: int = 0o755,
              depth: int = 0) -> None:
    """Copy the member tree ``src_fd`` into the (empty, hub-only) directory ``dst_fd``: folders,
    regular files :func:`may_read` allows (made with ``file_mode(st)``), links as links; others left out."""
    if depth > MAX_DEPTH:
        raise OSError(errno.ELOOP, f"folders nested more than {MAX_DEPTH} deep")
    with os.scandir(src_fd) as it:
        names = sorted(e.name for e in it)
    for name in names:
        try:
            fd, st = entry(src_fd, name)
        except FileNotFoundError:
            continue
        try:
            if stat.S_ISLNK(st.st_mode):
                os.symlink(os.readlink(name, dir_fd=src_fd), name, dir_fd=dst_fd)
            elif stat.S_ISDIR(st.st_mode):
                sub_src = reopen_dir(fd)
                os.mkdir(name, 0o700, dir_fd=dst_fd)
                sub_dst = os.open(name, DIR_FLAGS, dir_fd=dst_fd)
                try:
                    copy_tree(sub_src, sub_dst, file_mode, dir_mode, depth + 1)
                    os.chmod(_proc(sub_dst), dir_mode)
                finally:
                    os.close(sub_src)
                    os.close(sub_dst)
            elif stat.S_ISREG(st.st_mode):
                rfd = open_read(src_fd, name)
                if rfd is None:
                    continue
                try:
                    rst = os.fstat(rfd)
                    out = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                                  0o600, dir_fd=dst_fd)
                    try:
                        copy_fd(rfd, out)
                        os.fchmod(out, safe_mode(rst, file_mode(rst)))
                        os.utime(out, ns=(rst.st_atime_ns, rst.st_mtime_ns))
                    finally:
                        os.close(out)
                finally:
                    os.close(rfd)
        finally:
            os.close(fd)
