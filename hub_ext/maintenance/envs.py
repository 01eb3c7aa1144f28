"""Built image environments (``<data>/envs``, :mod:`hub_ext.images.environments`): which are used, remove the others.

An environment is *used*, and never removed, when any of these holds:

- it is the environment of an image of the catalog or of a group's own images (the builder's
  ``path_for``: name and packages, so an image whose packages changed leaves its old one unused);
- it is the version in use of a group image made by image builds, or a build waits for it or writes
  it (``db_url`` given: :func:`hub_ext.images.builds.environments_used`);
- it is the environment of an installed app (``db_url`` given: :func:`hub_ext.apps.templates.environments_used`;
  a stopped app too, so that starting it again does not rebuild it);
- it is not finished (no ``.ready``: a build may be writing it);
- a process on this machine runs from it (its command line names a path inside it): a notebook,
  job or deployment started before its image changed keeps its environment;
- it was changed in the last ``grace`` seconds.

No tornado here: the portal calls these in a thread.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from hub_ext.images.environments import EnvironmentBuilder

from ..isolation import fdtree
from ..storage.usage import measure


def _in_use_by_processes(root: Path) -> set[str]:
    """Names of the environments under ``root`` that a running process's command line points into."""
    prefix = str(root).rstrip("/") + "/"
    names: set[str] = set()
    for pid in os.listdir("/proc") if os.path.isdir("/proc") else ():
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                args = f.read().decode(errors="replace").split("\0")
        except OSError:
            continue
        for arg in args:
            at = arg.find(prefix)
            if at >= 0:
                names.add(arg[at + len(prefix):].split("/", 1)[0])
    return names


def environments(root: str | Path, images, grace: float = 3600.0, db_url: str | None = None,
                 config=None) -> list[dict]:
    """Every environment under ``root``: ``{name, size, ready, used, reason}``."""
    root = Path(root)
    if not root.is_dir():
        return []
    builder = EnvironmentBuilder(root)
    wanted = {builder.path_for(im).name: im.name for im in images if im.local.packages}
    if db_url:
        from ..apps.templates import environments_used as apps_use
        from ..images.builds import environments_used

        wanted = {**apps_use(db_url, builder, config), **environments_used(db_url), **wanted}
    running = _in_use_by_processes(root)
    now = time.time()
    out = []
    for path in sorted(p for p in root.iterdir() if p.is_dir() and not p.is_symlink()):
        ready = (path / ".ready").exists()
        if path.name in wanted:
            reason = wanted[path.name] if wanted[path.name].startswith("app ") else f"image {wanted[path.name]}"
        elif not ready:
            reason = "not finished (a build may be writing it)"
        elif path.name in running:
            reason = "a running process uses it"
        elif now - path.stat().st_mtime < grace:
            reason = "changed in the last hour"
        else:
            reason = ""
        out.append({"name": path.name, "size": measure(path), "ready": ready, "used": bool(reason),
                    "reason": reason or "no image uses it"})
    return out


def remove_unused(root: str | Path, images, grace: float = 3600.0, db_url: str | None = None,
                  config=None) -> list[dict]:
    """Remove the environments nothing uses (decided again now); the removed ones."""
    removed = []
    for env in environments(root, images, grace, db_url, config):
        if not env["used"]:
            try:
                fdtree.remove_path(Path(root) / env["name"])  # the hub's own <data>/envs; a link is unlinked
            except OSError:
                continue
            removed.append(env)
    return removed
