"""A plain (non-editable) wheel carries everything the hub needs at run time."""

import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_wheel_contains_templates_static_docs_and_entry_points(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp_path), str(REPO)],
        check=True, capture_output=True,
    )
    wheel = next(tmp_path.glob("hubfront-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in ["hub_ext/_data/templates/page.html", "hub_ext/_data/templates/portal/home.html",
                   "hub_ext/_data/static/portal.css", "hub_ext/_data/hubfront.yaml",
                   "hub_ext/_data/docs/user-guide.md", "hub_ext/store/migrations/env.py",
                   "spawner/local.py", "spawner/kube.py"]:
        assert needed in names, needed
    entry_points = zipfile.ZipFile(wheel).read(
        next(n for n in names if n.endswith("entry_points.txt"))).decode()
    assert "hubfront = hub_ext.auth:HubfrontAuthenticator" in entry_points
    assert "hubfront-local = spawner.local:LocalGroupSpawner" in entry_points
    assert "hubfront-kube = spawner.kube:KubeGroupSpawner" in entry_points


def test_entry_points_resolve_in_jupyterhub():
    from jupyterhub.app import JupyterHub

    from hub_ext.auth import HubfrontAuthenticator
    from spawner.local import LocalGroupSpawner

    hub = JupyterHub(authenticator_class="hubfront", spawner_class="hubfront-local")
    assert hub.authenticator_class is HubfrontAuthenticator
    assert hub.spawner_class is LocalGroupSpawner


def test_db_upgrade_command(tmp_path):
    from hub_ext.cli import main

    url = f"sqlite:///{tmp_path / 'portal.sqlite'}"
    assert main(["db", "upgrade", "--db-url", url]) == 0
    assert main(["db", "upgrade", "--db-url", url]) == 0  # idempotent
