"""Built environments: which are used (an image has it, unfinished, a process runs from it, just changed)."""

import os
import subprocess
import sys
import time

from hub_ext.maintenance.envs import environments, remove_unused
from hub_ext.policy import Image, LocalEnvironment
from hub_ext.images.environments import EnvironmentBuilder


def _env(root, name, ready=True, age=7200):
    path = root / name
    (path / "bin").mkdir(parents=True)
    (path / "bin" / "python").write_text("x" * 100)
    if ready:
        (path / ".ready").write_text("")
    then = time.time() - age
    os.utime(path, (then, then))
    return path


def test_only_environments_nothing_uses_are_removed(tmp_path):
    image = Image(name="cowsay", local=LocalEnvironment(packages=["cowsay==6.1"]))
    current = _env(tmp_path, EnvironmentBuilder(tmp_path).path_for(image).name)
    old = _env(tmp_path, "cowsay-000000000000")  # the image's packages changed since
    building = _env(tmp_path, "new-111111111111", ready=False)
    fresh = _env(tmp_path, "fresh-222222222222", age=10)
    busy = _env(tmp_path, "busy-333333333333")
    # a process naming a path inside it (one process: a shell would leave its sleep behind when killed)
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", str(busy / "bin" / "python")])
    try:
        for _ in range(100):  # until it has exec'd (before that its command line is pytest's)
            if str(busy) in open(f"/proc/{proc.pid}/cmdline").read():
                break
            time.sleep(0.02)
        found = {e["name"]: e for e in environments(tmp_path, [image])}
        assert found[current.name]["used"] and found[current.name]["reason"] == "image cowsay"
        assert found[old.name] == {"name": old.name, "size": 100, "ready": True, "used": False,
                                   "reason": "no image uses it"}
        assert found[building.name]["used"] and "not finished" in found[building.name]["reason"]
        assert found[fresh.name]["used"] and found[busy.name]["reason"] == "a running process uses it"
        removed = remove_unused(tmp_path, [image])
        assert [e["name"] for e in removed] == [old.name]
        assert not old.exists() and current.exists() and building.exists() and fresh.exists() and busy.exists()
    finally:
        proc.kill()
        proc.wait()


def test_no_environments_folder(tmp_path):
    assert environments(tmp_path / "envs", []) == []


def test_an_installed_apps_environment_is_kept_while_the_app_is_installed(tmp_path, sqlite_url):
    """A stopped app's environment stays (starting it again needs no rebuild); uninstalled, it goes."""
    from sqlalchemy import update

    from hub_ext.apps.templates import environment_image, template
    from hub_ext.store import session_scope
    from hub_ext.store.models_apps import App

    streamlit = EnvironmentBuilder(tmp_path).path_for(environment_image(template("streamlit"))).name
    code_server = template("code-server").local
    npm = EnvironmentBuilder(tmp_path).npm_path_for(code_server.npm, code_server.npm_setup).name
    env, npm_env = _env(tmp_path, streamlit), _env(tmp_path, npm)
    with session_scope(sqlite_url) as s:
        s.add(App(group="lab", name="dash", template="streamlit", username="ann", instance_type="small",
                  stopped=True, phase="Stopped"))
        s.add(App(group="lab", name="vscode", template="code-server", username="ann", instance_type="small"))
    found = {e["name"]: e for e in environments(tmp_path, [], db_url=sqlite_url)}
    assert found[streamlit]["used"] and found[streamlit]["reason"] == "app dash of group lab"
    assert found[npm]["reason"] == "app vscode of group lab"
    assert remove_unused(tmp_path, [], db_url=sqlite_url) == [] and env.exists() and npm_env.exists()

    with session_scope(sqlite_url) as s:
        s.execute(update(App).where(App.name == "dash").values(delete_requested=True))
    assert [e["name"] for e in remove_unused(tmp_path, [], db_url=sqlite_url)] == [streamlit]
    assert not env.exists() and npm_env.exists()
