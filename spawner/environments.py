"""Local Python environments for catalog images (embedded mode).

An image's ``local`` section names an existing interpreter, or a package list
that is built once into a cached venv under ``<data>/envs``. The venv layers
on top of the hub's own environment (a .pth file), so the single-user server
and JupyterLab come from the hub and only the image's packages are installed.
Builds report each line of pip's output, which the spawn page shows.
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import os
import shutil
import site
import sys
from collections import deque
from pathlib import Path
from typing import Callable

from hub_ext.policy import Image


def _readable_by_workloads() -> None:
    """Built environments are read and run by workload accounts, never written by them."""
    os.umask(0o022)


class EnvironmentBuildFailed(Exception):
    def __init__(self, image: str, log_tail: str):
        self.image = image
        self.log_tail = log_tail
        super().__init__(f"Building the environment of image {image!r} failed:\n{log_tail}")


class EnvironmentBuilder:
    def __init__(self, root: str | Path, base_python: str = sys.executable, pip_args: list[str] | None = None):
        self.root = Path(root)
        self.base_python = base_python
        self.pip_args = list(pip_args or [])
        self._locks: dict[Path, asyncio.Lock] = {}

    def path_for(self, image: Image) -> Path:
        spec = "\n".join([self.base_python, *sorted(image.local.packages)])
        return self.root / f"{image.name}-{hashlib.sha256(spec.encode()).hexdigest()[:12]}"

    def python_for(self, image: Image) -> str | None:
        """The interpreter to use, or None when a build is still needed."""
        if not image.local.packages:
            return image.local.python or self.base_python
        path = self.path_for(image)
        return str(path / "bin" / "python") if (path / ".ready").exists() else None

    async def ensure(self, image: Image, report: Callable[[str], None]) -> str:
        ready = self.python_for(image)
        if ready:
            return ready
        path = self.path_for(image)
        lock = self._locks.setdefault(path, asyncio.Lock())
        async with lock:  # one build per environment in this process ...
            self.root.mkdir(parents=True, exist_ok=True)
            lockfile = open(self.root / f".{path.name}.lock", "w")
            try:  # ... and across processes
                await asyncio.to_thread(fcntl.flock, lockfile, fcntl.LOCK_EX)
                if (path / ".ready").exists():
                    return str(path / "bin" / "python")
                await self._build(image, path, report)
            finally:
                lockfile.close()
        return str(path / "bin" / "python")

    async def _build(self, image: Image, path: Path, report: Callable[[str], None]) -> None:
        shutil.rmtree(path, ignore_errors=True)
        tail: deque[str] = deque(maxlen=25)
        report(f"Creating the environment for {image.title}")
        steps = [
            [self.base_python, "-m", "venv", "--without-pip", str(path)],
            [self.base_python, "-m", "pip", "--python", str(path / "bin" / "python"), "install",
             "--progress-bar", "off", *self.pip_args, *image.local.packages],
        ]
        for i, cmd in enumerate(steps):
            if i == 1:
                self._layer_on_hub(path)
                report(f"Installing {', '.join(image.local.packages)}")
            proc = await asyncio.create_subprocess_exec(
                *cmd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
                preexec_fn=_readable_by_workloads,
            )
            assert proc.stdout is not None
            async for raw in proc.stdout:
                line = raw.decode(errors="replace").rstrip()
                if line:
                    tail.append(line)
                    report(line)
            if await proc.wait() != 0:
                shutil.rmtree(path, ignore_errors=True)
                raise EnvironmentBuildFailed(image.name, "\n".join(tail))
        (path / ".ready").write_text("ok\n")
        path.chmod(0o755)
        report(f"Environment for {image.title} is ready")

    @staticmethod
    def layer_env() -> dict[str, str]:
        """Environment variables a server in a built venv needs to find the hub's Jupyter files.

        The .pth layering makes the hub's packages importable, but the venv has
        its own ``sys.prefix``: without these, the JupyterLab server extension
        (enabled under <hub prefix>/etc/jupyter) is off and its assets and
        kernel specs (<hub prefix>/share/jupyter) are missing, so the server
        starts without a UI.
        """
        prefix = Path(sys.prefix)
        return {
            "JUPYTER_CONFIG_PATH": str(prefix / "etc" / "jupyter"),
            "JUPYTER_PATH": str(prefix / "share" / "jupyter"),
            "JUPYTERLAB_DIR": str(prefix / "share" / "jupyter" / "lab"),
        }

    def _layer_on_hub(self, path: Path) -> None:
        """Make the hub's packages (jupyterhub, jupyterlab) visible inside the new venv."""
        lib = next((path / "lib").glob("python*/site-packages"))
        hub_sites = [p for p in site.getsitepackages() if Path(p).is_dir()]
        (lib / "_hubfront_base.pth").write_text("\n".join(hub_sites) + "\n")
        (lib / "_hubfront_base.pth").chmod(0o644)  # read by workload accounts, whatever the hub's umask
