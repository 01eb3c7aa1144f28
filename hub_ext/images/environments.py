"""Local Python environments for catalog images (embedded mode).

An image's ``local`` section names an existing interpreter, or a package list
that is built once into a cached venv under ``<data>/envs``. The venv layers
on top of the hub's own environment (a .pth file), so the single-user server
and JupyterLab come from the hub and only the image's packages are installed.
Builds report each line of pip's output, which the spawn page folds under its Details (and image builds
store as their log), and how far they are (``BuildProgress``); cancelling the task that awaits ``ensure`` kills pip and removes the half-made venv.
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import os
import re
import shlex
import shutil
import site
import subprocess
import sys
from collections import deque
from pathlib import Path
from typing import Callable

from hub_ext.isolation.process import enter_workload
from hub_ext.policy import Image


def _build_preexec(sandbox):
    """In a build's child: its own sandbox (as every workload: private /tmp, no_new_privs; builds run as
    the hub's account, so nothing a member planted in a shared /tmp may steer them), then umask 022: built
    environments are read and run by workload accounts, never written by them."""
    def preexec() -> None:
        if sandbox is not None:
            try:
                enter_workload(cgroup_procs=[], identity=None, home=None, sandbox=sandbox)
            except BaseException as exc:
                os.write(2, f"hubfront: the build could not start: {exc}\n".encode())
                raise
        os.umask(0o022)
    return preexec


def _named_paths(steps) -> list[str]:
    """Absolute paths the build's commands name (a wheel, a --find-links folder): they stay reachable."""
    words = (word.split("=", 1)[-1] for cmd in steps for word in cmd)
    return [word for word in words if word.startswith("/") and os.path.exists(word)]


SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"  # the repository's install helpers a setup script may run


def _node_version() -> str:
    node = shutil.which("node")
    if node is None:
        return ""
    try:
        return subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


GROUP_PIP_ARGS = ["--only-binary=:all:"]
Progress = Callable[[float, str], None]  # (fraction done 0-1, what the build does now)
_PACKAGE = re.compile(r"^(?:Collecting|Requirement already satisfied:)\s+([A-Za-z0-9][A-Za-z0-9._-]*)")


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _package_name(spec: str) -> str:
    """The distribution a requirement, or a wheel, archive or folder named by its path, installs:
    ``numpy>=1.26`` and ``/wheels/numpy-1.26.4-cp311-none-any.whl`` are both ``numpy``."""
    spec = spec.strip()
    if "/" in spec or spec.endswith((".whl", ".tar.gz", ".zip")):
        return Path(spec.rstrip("/")).name.split("-", 1)[0]
    return re.split(r"[<>=!~\[; @]", spec, maxsplit=1)[0]


class BuildProgress:
    """How far a venv build is, from what it has done: the venv made (10 %), each package pip collects
    (the packages asked for take the bar to 60 %; the ones they need, which pip names only as it finds
    them, move it on towards 70 %), then installing (75 %) and installed (97 %)."""

    def __init__(self, asked: list[str], tell: Progress | None):
        self.asked = {_canonical(_package_name(spec)) for spec in asked}
        self.tell = tell or (lambda fraction, message: None)
        self.collected: set[str] = set()

    def stage(self, fraction: float, message: str) -> None:
        self.tell(fraction, message)

    def line(self, text: str) -> None:
        found = _PACKAGE.match(text)
        if found or text.startswith("Processing "):  # a wheel or folder named by its path
            name = _canonical(found.group(1) if found else _package_name(text.split(maxsplit=1)[-1]))
            if name in self.collected:
                return
            self.collected.add(name)
            asked = len(self.asked & self.collected)
            needed = len(self.collected) - asked
            share = asked / len(self.asked) if self.asked else 1.0
            self.tell(0.1 + 0.5 * share + 0.1 * (1 - 0.9 ** needed),
                      f"Getting packages: {asked} of {len(self.asked)} asked for, {needed} more they need")
        elif text.startswith("Installing collected packages:"):
            count = len([n for n in text.partition(":")[2].split(",") if n.strip()])
            self.tell(0.75, f"Installing {count} package{'s' if count != 1 else ''}")
        elif text.startswith("Successfully installed"):
            self.tell(0.97, "Packages installed")


class EnvironmentBuildFailed(Exception):
    def __init__(self, image: str, log_tail: str):
        self.image = image
        self.log_tail = log_tail
        super().__init__(f"Building the environment of image {image!r} failed:\n{log_tail}")


class EnvironmentBuilder:
    def __init__(self, root: str | Path, base_python: str = sys.executable, pip_args: list[str] | None = None,
                 npm_args: list[str] | None = None, group_pip_args: list[str] | None = None, isolation=None):
        self.root = Path(root)
        self.isolation = isolation  # hub_ext.isolation.Isolation (default: the process's, when made)
        self.base_python = base_python
        self.pip_args = list(pip_args or [])
        # added for a group's image (``Image.from_group``): building a source distribution runs its
        # code as the hub's account, so by default wheels only (``c.ImageBuilds.only_binary``)
        self.group_pip_args = list(GROUP_PIP_ARGS if group_pip_args is None else group_pip_args)
        self.npm_args = list(npm_args or [])
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

    async def ensure(self, image: Image, report: Callable[[str], None], progress: Progress | None = None) -> str:
        """The image's interpreter, built first when needed (``report``: each output line; ``progress``:
        how far the build is)."""
        ready = self.python_for(image)
        if ready:
            return ready
        path = self.path_for(image)
        await self._once(path, lambda: self._build(image, path, report, progress))
        return str(path / "bin" / "python")

    async def _once(self, path: Path, build) -> None:
        """Run ``build`` unless ``path`` is ready: one build per environment in this process and across
        processes (a lock file beside it)."""
        lock = self._locks.setdefault(path, asyncio.Lock())
        async with lock:
            self.root.mkdir(parents=True, exist_ok=True)
            lockfile = open(self.root / f".{path.name}.lock", "w")
            try:
                await asyncio.to_thread(fcntl.flock, lockfile, fcntl.LOCK_EX)
                if not (path / ".ready").exists():
                    await build()
            finally:
                lockfile.close()

    # -- npm packages (apps such as code-server) ---------------------------------------------

    def npm_path_for(self, package: str, setup: str = "") -> Path:
        """``<root>/npm-<name>-<hash>``: content-addressed by the package spec, its setup script and the
        node version."""
        spec = "\n".join(["npm", package, setup, shutil.which("node") or "", _node_version()])
        slug = "".join(c if c.isalnum() or c in "-." else "-" for c in package.lstrip("@"))[:40]
        return self.root / f"npm-{slug}-{hashlib.sha256(spec.encode()).hexdigest()[:12]}"

    def npm_bin_for(self, package: str, setup: str = "") -> str | None:
        """The ``bin`` folder of a built npm package, or None when a build is still needed."""
        path = self.npm_path_for(package, setup)
        return str(path / "node_modules" / ".bin") if (path / ".ready").exists() else None

    async def ensure_npm(self, package: str, report: Callable[[str], None], setup: str = "") -> str:
        """Install ``package`` once into its own npm prefix; its ``bin`` folder (put it first on PATH).

        ``setup``: a bash script run in the prefix after ``npm install --ignore-scripts``, for packages
        whose own install scripts fetch from elsewhere than the registry (code-server's download
        ripgrep from GitHub): it does their work another way (``$HUBFRONT_SCRIPTS``: the repository's
        ``scripts/``, with ``install-code-server.sh``)."""
        path = self.npm_path_for(package, setup)
        await self._once(path, lambda: self._build_npm(package, path, report, setup))
        return str(path / "node_modules" / ".bin")

    async def _build_npm(self, package: str, path: Path, report: Callable[[str], None], setup: str = "") -> None:
        npm = shutil.which("npm")
        if npm is None:
            raise EnvironmentBuildFailed(package, "npm is not installed on this machine")
        report(f"Installing the npm package {package}")
        # as root npm drops to nobody for install scripts unless told otherwise
        env = {**os.environ, "npm_config_unsafe_perm": "true", "npm_config_update_notifier": "false",
               "HUBFRONT_SCRIPTS": str(SCRIPTS)}
        steps = [[npm, "install", "--prefix", str(path), "--no-audit", "--no-fund", "--omit=dev",
                  *(["--ignore-scripts"] if setup else []), *self.npm_args, package]]
        if setup:
            steps.append(["/bin/bash", "-c", f"set -e; cd {shlex.quote(str(path))}\n{setup}"])
        await self._steps(package, path, steps, report, env=env)
        (path / ".ready").write_text("ok\n")
        path.chmod(0o755)
        report(f"{package} is ready")

    def sandbox(self, steps, network=None):
        """The builds' sandbox (``Isolation.sandbox``; None when isolation is off): the environments, the
        install scripts and the paths the commands name stay reachable; ``network``: its own namespace."""
        return self._isolation().sandbox(keep=[str(self.root), str(SCRIPTS), *_named_paths(steps)], network=network)

    def _isolation(self):
        from hub_ext.isolation import Isolation

        if self.isolation is not None:
            return self.isolation
        return Isolation.instance() if Isolation.initialized() else Isolation(data_dir=str(self.root))

    async def _steps(self, name: str, path: Path, steps, report, env=None, between=None) -> None:
        """Run each command, reporting its output; on a failure remove ``path`` and raise with the tail."""
        tail: deque[str] = deque(maxlen=25)
        path.mkdir(parents=True, exist_ok=True)
        isolation = self._isolation()
        network = await asyncio.to_thread(isolation.create_network, "build", name)  # package code runs in it
        try:
            await self._run_steps(name, path, steps, report, env, between, self.sandbox(steps, network), tail)
        finally:
            await asyncio.to_thread(isolation.remove_network, "build", name)

    async def _run_steps(self, name, path, steps, report, env, between, sandbox, tail) -> None:
        preexec = _build_preexec(sandbox)
        for i, cmd in enumerate(steps):
            if between is not None:
                between(i)
            proc = await asyncio.create_subprocess_exec(
                *cmd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
                preexec_fn=preexec, env=env,
            )
            assert proc.stdout is not None
            async for raw in proc.stdout:
                line = raw.decode(errors="replace").rstrip()
                if line:
                    tail.append(line)
                    report(line)
            if await proc.wait() != 0:
                shutil.rmtree(path, ignore_errors=True)
                raise EnvironmentBuildFailed(name, "\n".join(tail))

    async def _build(self, image: Image, path: Path, report: Callable[[str], None],
                     progress: Progress | None = None) -> None:
        shutil.rmtree(path, ignore_errors=True)
        measure = BuildProgress(image.local.packages, progress)
        measure.stage(0.02, f"Creating the environment for {image.title}")
        report(f"Creating the environment for {image.title}")
        steps = [
            [self.base_python, "-m", "venv", "--without-pip", str(path)],
            [self.base_python, "-m", "pip", "--python", str(path / "bin" / "python"), "install",
             "--progress-bar", "off", *self.pip_args, *(self.group_pip_args if image.from_group else []),
             *image.local.packages],
        ]

        def between(i: int) -> None:
            if i == 1:
                self._layer_on_hub(path)
                report(f"Installing {', '.join(image.local.packages)}")
                measure.stage(0.1, f"Getting packages: {', '.join(map(_package_name, image.local.packages))}")

        def line(text: str) -> None:
            report(text)
            measure.line(text)

        await self._steps(image.name, path, steps, line, between=between)
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
