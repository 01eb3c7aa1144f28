"""Image environments for the local spawner: built once into a cached venv, layered on the hub.

Real builds (venv + pip) of a tiny local wheel, offline.
"""

import asyncio
import contextlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from support import build_tiny_wheel

from hub_ext.policy import Image
from hub_ext.images.environments import EnvironmentBuilder, EnvironmentBuildFailed

OFFLINE = ["--no-index", "--disable-pip-version-check"]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    return build_tiny_wheel(tmp_path_factory.mktemp("wheel"))


def image(*packages, name="tiny", python=None) -> Image:
    local = {"packages": list(packages)}
    if python:
        local["python"] = python
    return Image.model_validate({"name": name, "display_name": "Tiny", "local": local})


def run(python: str, code: str, env: dict | None = None) -> str:
    proc = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **(env or {})})
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


async def test_builds_once_then_reuses_the_cache(tmp_path, wheel):
    im = image(str(wheel))
    builder = EnvironmentBuilder(tmp_path / "envs", pip_args=OFFLINE)
    assert builder.python_for(im) is None  # not built yet
    events: list[str] = []
    python = await builder.ensure(im, events.append)

    assert Path(python).parent.parent == builder.path_for(im)
    assert events[0] == "Creating the environment for Tiny"
    assert any(line.startswith("Successfully installed hftiny-0.1") for line in events), events
    assert events[-1] == "Environment for Tiny is ready"
    # the image's package and the hub's own packages (the single-user server) are both there
    assert run(python, "import hftiny, jupyterhub.singleuser, sys; print(hftiny.VALUE, sys.prefix)") == (
        f"42 {builder.path_for(im)}"
    )

    # with the layering variables the server finds the hub's Jupyter config: JupyterLab is on
    enabled = (
        "from jupyter_core.paths import jupyter_config_path\n"
        "from jupyter_server.extension.config import ExtensionConfigManager\n"
        "print(ExtensionConfigManager(read_config_path=jupyter_config_path()).enabled('jupyterlab'))"
    )
    assert run(python, enabled, env=builder.layer_env()) == "True"

    ready = builder.path_for(im) / ".ready"
    stamp = ready.stat().st_mtime_ns
    again: list[str] = []
    assert await builder.ensure(im, again.append) == python
    # a fresh builder (a restarted hub) finds the cache too
    assert await EnvironmentBuilder(tmp_path / "envs", pip_args=OFFLINE).ensure(im, again.append) == python
    assert again == [] and ready.stat().st_mtime_ns == stamp


async def test_a_build_says_how_far_it_is_from_what_pip_did(tmp_path, wheel):
    """The spawn page's bar moves with the build's real steps (not 0 % under pip's output for a minute)."""
    steps: list[tuple[float, str]] = []
    await EnvironmentBuilder(tmp_path / "envs", pip_args=OFFLINE).ensure(
        image(str(wheel)), lambda line: None, progress=lambda fraction, message: steps.append((fraction, message)))
    fractions = [f for f, _ in steps]
    assert fractions == sorted(fractions) and fractions[0] < 0.1 and fractions[-1] >= 0.97, steps
    messages = [m for _, m in steps]
    assert messages[0] == "Creating the environment for Tiny"
    assert "Getting packages: 1 of 1 asked for, 0 more they need" in messages  # the wheel, named by its path
    assert "Installing 1 package" in messages and messages[-1] == "Packages installed"


async def test_a_different_package_list_is_another_environment(tmp_path, wheel):
    builder = EnvironmentBuilder(tmp_path / "envs", pip_args=OFFLINE)
    assert builder.path_for(image(str(wheel))) != builder.path_for(image(str(wheel), "other"))
    assert builder.path_for(image(str(wheel))) == builder.path_for(image(str(wheel)))


async def test_concurrent_launches_build_once(tmp_path, wheel):
    im = image(str(wheel))
    one = EnvironmentBuilder(tmp_path / "envs", pip_args=OFFLINE)
    other = EnvironmentBuilder(tmp_path / "envs", pip_args=OFFLINE)  # as a second process would
    events: list[list[str]] = [[] for _ in range(4)]
    pythons = await asyncio.gather(
        one.ensure(im, events[0].append), one.ensure(im, events[1].append),
        other.ensure(im, events[2].append), other.ensure(im, events[3].append),
    )
    assert len(set(pythons)) == 1
    builds = [e for e in events if "Creating the environment for Tiny" in e]
    assert len(builds) == 1, events
    assert sum(len(e) for e in events) == len(builds[0])  # the others reported nothing
    assert run(pythons[0], "import hftiny; print(hftiny.VALUE)") == "42"


async def test_failed_build_raises_with_the_log_tail_and_leaves_nothing(tmp_path):
    missing = tmp_path / "nowhere" / "hfmissing-0.1-py3-none-any.whl"
    im = image(str(missing))
    builder = EnvironmentBuilder(tmp_path / "envs", pip_args=OFFLINE)
    events: list[str] = []
    with pytest.raises(EnvironmentBuildFailed) as info:
        await builder.ensure(im, events.append)
    assert info.value.image == "tiny"
    assert "does not exist" in info.value.log_tail
    assert info.value.log_tail in str(info.value)
    assert not builder.path_for(im).exists()
    assert builder.python_for(im) is None
    # not cached as failed: the next launch tries again (and reports again)
    again: list[str] = []
    with pytest.raises(EnvironmentBuildFailed):
        await builder.ensure(im, again.append)
    assert "Creating the environment for Tiny" in again


async def test_images_without_packages_need_no_build(tmp_path):
    builder = EnvironmentBuilder(tmp_path / "envs")
    events: list[str] = []
    assert await builder.ensure(image(), events.append) == sys.executable
    assert await builder.ensure(image(python="/opt/py/bin/python"), events.append) == "/opt/py/bin/python"
    assert events == [] and not (tmp_path / "envs").exists()


def _sdist_that_marks(workdir: Path, marker: Path) -> Path:
    """``hfsdist-0.1.tar.gz``, a source distribution whose build writes ``marker`` (runs its own code)."""
    import tarfile

    src = workdir / "hfsdist-0.1"
    src.mkdir(parents=True)
    (src / "setup.py").write_text(
        f"from pathlib import Path\nPath({str(marker)!r}).write_text('ran')\n"
        "from setuptools import setup\nsetup(name='hfsdist', version='0.1', py_modules=[])\n")
    (src / "PKG-INFO").write_text("Metadata-Version: 2.1\nName: hfsdist\nVersion: 0.1\n")
    index = workdir / "index"
    index.mkdir()
    with tarfile.open(index / "hfsdist-0.1.tar.gz", "w:gz") as tar:
        tar.add(src, arcname="hfsdist-0.1")
    return index


async def test_a_group_images_packages_install_from_wheels_only(tmp_path):
    """A group admin's packages never run their build code as the hub's account at launch: a source
    distribution is refused for a group's image, while the operator's catalog image may build one."""
    marker = tmp_path / "envs" / "setup-py-ran"  # where a sandboxed build (private /tmp) writes through
    index = _sdist_that_marks(tmp_path / "src", marker)
    args = [*OFFLINE, "--find-links", str(index), "--no-build-isolation"]
    group_image = image("hfsdist", name="groupimg").model_copy(update={"from_group": True})

    with pytest.raises(EnvironmentBuildFailed) as failed:
        await EnvironmentBuilder(tmp_path / "envs", pip_args=args).ensure(group_image, lambda line: None)
    assert "hfsdist" in failed.value.log_tail
    assert not marker.exists()

    # the operator's own image (not from a group) may use the same source distribution: pip runs its
    # setup.py (whether the build then completes depends on the build tools at hand)
    with contextlib.suppress(EnvironmentBuildFailed):
        await EnvironmentBuilder(tmp_path / "envs", pip_args=args).ensure(image("hfsdist", name="catalog"),
                                                                            lambda line: None)
    assert marker.read_text() == "ran"


def test_the_install_helpers_a_template_names_are_where_builds_look():
    """The code-server app's setup runs ``$HUBFRONT_SCRIPTS/install-code-server.sh``: the builder must point there."""
    from hub_ext.apps.templates import BUILTIN
    from hub_ext.images.environments import SCRIPTS

    assert "$HUBFRONT_SCRIPTS/install-code-server.sh" in BUILTIN["code-server"]["local"]["npm_setup"]
    assert (SCRIPTS / "install-code-server.sh").is_file()
