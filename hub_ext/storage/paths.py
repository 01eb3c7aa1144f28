"""User paths confined to a storage tree.

A path a user sends (``data/train.csv``) is cleaned first (:func:`clean`: no
``..``, no absolute path, no NUL, no empty component), then resolved under
its tree's root (:func:`resolve`): symlinks are followed, and one that leads
outside the root is refused. The hub acts as root, and members' workloads
can change the tree at any moment (swap a folder for a symlink to ``/etc``
right after the check), so the operations themselves never follow a path
by name: :func:`parent_fd` walks from the root to the resolved path's parent
one component at a time with ``O_NOFOLLOW``, and the caller acts relative to
that directory descriptor. A symlink met on that walk (the resolved path has
none) means the tree changed under us: refused.
"""

from __future__ import annotations

import errno
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from ..isolation import safefs
MAX_PATH = 4096  # bytes, Linux PATH_MAX
MAX_NAME = 255  # bytes, one component


class BadPath(ValueError):
    """A path refused; the message names the problem (the API answers 400 naming field ``path``)."""


def clean(rel: str) -> str:
    """A user path in normal form: components joined by "/", no trailing slash; "" is the root.

    Refuses NUL bytes, absolute paths, ``..`` and ``.`` components and empty
    components (``a//b``). A trailing "/" is accepted, "" and "/" are the root.
    """
    if not isinstance(rel, str):
        raise BadPath("must be text")
    if "\x00" in rel:
        raise BadPath("a NUL character is not allowed in a file name")
    if rel in ("", "/"):
        return ""
    if rel.startswith("/"):
        raise BadPath("give the path from the folder's root, without a leading '/'")
    if len(rel.encode("utf-8", "surrogateescape")) > MAX_PATH:
        raise BadPath(f"a path is at most {MAX_PATH} bytes long")
    parts = rel[:-1].split("/") if rel.endswith("/") else rel.split("/")
    for part in parts:
        if part == "":
            raise BadPath("a name cannot be empty (two '/' in a row)")
        if part in (".", ".."):
            raise BadPath(f"'{part}' is not allowed in a file name")
        if len(part.encode("utf-8", "surrogateescape")) > MAX_NAME:
            raise BadPath(f"a file name is at most {MAX_NAME} bytes long")
    return "/".join(parts)


def clean_name(name: str) -> str:
    """One file or folder name (no "/"), as :func:`clean` wants it."""
    cleaned = clean(name)
    if not cleaned or "/" in cleaned:
        raise BadPath("give one file or folder name, without '/'")
    return cleaned


def _inside(root: Path, path: Path) -> bool:
    return path == root or root in path.parents


def target(root: Path, rel: str) -> Path:
    """Where ``rel`` leads under ``root`` (symlinks that exist followed), whether or not it exists.

    BadPath if it leads outside the root. Folders missing on the way are not
    checked: a caller creating them walks with :func:`make_dirs`.
    """
    real_root = Path(os.path.realpath(root))
    cleaned = clean(rel)
    real = Path(os.path.realpath(real_root / cleaned)) if cleaned else real_root
    if not _inside(real_root, real):
        raise BadPath("leads outside the folder (through a symbolic link)")
    return real


def entry(root: Path, rel: str) -> Path:
    """The entry ``rel`` itself (a link stays a link: what delete and move act on), its folder resolved.

    FileNotFoundError when it does not exist; BadPath for the root itself.
    """
    cleaned = clean(rel)
    if not cleaned:
        raise BadPath("must name a file or folder, not the root")
    parent, _, name = cleaned.rpartition("/")
    real = resolve(root, parent) / name
    if not os.path.lexists(real):
        raise FileNotFoundError(cleaned)
    return real


def resolve(root: Path, rel: str, *, must_exist: bool = True) -> Path:
    """The real path of ``rel`` under ``root``, symlinks followed; BadPath if it leads outside.

    ``must_exist``: FileNotFoundError when the path does not exist. Otherwise
    only its parent must exist (a file or folder about to be created).
    """
    real_root = Path(os.path.realpath(root))
    real = target(real_root, rel)
    cleaned = clean(rel)
    if must_exist:
        if not os.path.lexists(real):
            raise FileNotFoundError(cleaned)
    elif real != real_root and not real.parent.is_dir():
        raise FileNotFoundError(cleaned.rpartition("/")[0] or cleaned)
    return real


def relative(root: Path, real: Path) -> str:
    """``real`` (from :func:`resolve`) relative to ``root``, "" for the root itself."""
    rel = Path(real).relative_to(os.path.realpath(root)).as_posix()
    return "" if rel == "." else rel


def _walk(real_root: Path, parts: list[str], make=None) -> int:
    """A descriptor of ``real_root/parts…`` (:func:`hub_ext.isolation.safefs.walk_open`: each step
    ``O_NOFOLLOW``); ``make(fd, part)``, if given, is called on each folder made where one was missing."""
    root_fd = safefs.open_dir(real_root)
    try:
        return safefs.walk_open(root_fd, parts, make)
    except safefs.Refused:  # a symlink: the tree changed under us
        raise BadPath("the folder changed while it was being opened") from None
    except NotADirectoryError as exc:
        if make is not None:
            raise BadPath(f"'{exc.filename}' is a file, not a folder") from None
        raise BadPath("the folder changed while it was being opened") from None
    finally:
        os.close(root_fd)


@contextmanager
def parent_fd(root: Path, real: Path) -> Iterator[tuple[int, str]]:
    """``(directory fd, name)`` of the resolved path ``real``'s parent, reached without following links.

    Act on ``name`` relative to the fd (``dir_fd=``, ``follow_symlinks=False``).
    For the root itself the name is "." and the fd is the root's.
    """
    real_root = Path(os.path.realpath(root))
    rel = relative(real_root, real)
    parts = rel.split("/") if rel else []
    fd = _walk(real_root, parts[:-1])
    try:
        yield fd, (parts[-1] if parts else ".")
    finally:
        os.close(fd)


@contextmanager
def dir_fd(root: Path, real: Path) -> Iterator[int]:
    """A descriptor of the resolved directory ``real``, reached without following links."""
    real_root = Path(os.path.realpath(root))
    rel = relative(real_root, real)
    fd = _walk(real_root, rel.split("/") if rel else [])
    try:
        yield fd
    finally:
        os.close(fd)


def open_file(root: Path, real: Path, flags: int = os.O_RDONLY, mode: int = 0o660) -> int:
    """A descriptor of the resolved file ``real`` (``O_NOFOLLOW``), reached without following links."""
    with parent_fd(root, real) as (fd, name):
        try:
            return os.open(name, flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode, dir_fd=fd)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise BadPath("the folder changed while it was being opened") from None
            raise


def make_dirs(root: Path, real: Path, owner=None) -> int:
    """A descriptor of the folder ``real`` (from :func:`target`), missing folders made on the way.

    Walks from the root with ``O_NOFOLLOW``; each folder it makes is passed to
    ``owner(dir_fd, name)`` (ownership and mode). The caller closes the fd.
    """
    real_root = Path(os.path.realpath(root))
    rel = relative(real_root, real)
    return _walk(real_root, rel.split("/") if rel else [], make=owner or (lambda fd, part: None))
