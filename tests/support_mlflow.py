"""A real MLflow tracking server for tests, and a small scikit-learn model registered in it.

``mlflow_server`` (session fixture) starts ``mlflow server`` on a free loopback
port with an SQLite backend and a local artifact directory in a temp dir, and
waits for its ``/health``. The server proxies artifacts (``mlflow-artifacts:/``),
so a model registered through it can be downloaded by anything that reaches its
URL, e.g. ``mlflow models serve -m models:/<name>/<version>`` with
``MLFLOW_TRACKING_URI`` set to ``server.url``.

Use it from a test module with ``from support_mlflow import mlflow_server  # noqa: F401``,
or start one yourself with ``start_mlflow_server(directory)`` (a context manager).
Without the ``mlflow`` package the fixture skips with the reason, and fails under ``CI=true``.
MLflow's usage telemetry is switched off here and in the server: tests send nothing out.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from support import free_port, need

# before anything imports mlflow (it reads these at import): no usage reports from tests
NO_TELEMETRY = {"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}
os.environ.update(NO_TELEMETRY)

START_TIMEOUT = 120  # seconds: the server imports much of MLflow, on a busy two-core machine


def mlflow_command() -> list[str] | None:
    """How to run the ``mlflow`` CLI of the test interpreter, or None when the full package is missing
    (``mlflow-skinny``, the hub's client, has no tracking server)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        version("mlflow")
    except PackageNotFoundError:
        return None
    return [sys.executable, "-m", "mlflow"]


@dataclass
class MlflowServer:
    url: str  # http://127.0.0.1:<port>, the tracking and registry URI
    directory: Path
    process: subprocess.Popen

    def log_tail(self, lines: int = 40) -> str:
        path = self.directory / "server.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def client(self):
        from mlflow import MlflowClient

        return MlflowClient(tracking_uri=self.url, registry_uri=self.url)

    def register_sklearn_model(self, name: str, alias: str | None = None, description: str = "") -> str:
        """Train a LogisticRegression on four made-up points and register it as a new version of
        ``name``; return the version ("1", "2", …). ``alias`` points at it when given.

        It predicts class 1 for inputs whose first feature is large: ``[[3.0, 0.0]]`` → ``[1]``,
        ``[[0.0, 0.0]]`` → ``[0]`` (the deployment tests can check a prediction).
        """
        import mlflow
        import mlflow.sklearn
        import numpy as np
        import sklearn
        from sklearn.linear_model import LogisticRegression

        features = np.array([[0.0, 0.0], [0.5, 1.0], [3.0, 0.5], [4.0, 1.0]])
        model = LogisticRegression().fit(features, np.array([0, 0, 1, 1]))
        mlflow.set_tracking_uri(self.url)
        mlflow.set_registry_uri(self.url)
        mlflow.set_experiment("hubfront-tests")
        with mlflow.start_run() as run:
            info = mlflow.sklearn.log_model(
                model, name="model", registered_model_name=name, input_example=features[:2],
                # no requirement inference (it imports and inspects packages): the same sklearn as here
                pip_requirements=[f"scikit-learn=={sklearn.__version__}"])
        client = self.client()
        version = next(v.version for v in client.search_model_versions(f"name='{name}'")
                       if v.run_id == run.info.run_id)
        if alias:
            client.set_registered_model_alias(name, alias, version)
        if description:
            client.update_registered_model(name, description=description)
        assert info.model_uri
        return str(version)


def _wait_healthy(server: MlflowServer, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"mlflow server exited with {server.process.returncode}:\n{server.log_tail()}")
        try:
            if requests.get(server.url + "/health", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"mlflow server not healthy after {timeout}s:\n{server.log_tail()}")


def _stop(process: subprocess.Popen) -> None:
    """End the server and its workers (its own process group, started by us)."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(5)


@contextlib.contextmanager
def start_mlflow_server(directory: Path, timeout: float = START_TIMEOUT):
    """Run ``mlflow server`` with its state under ``directory`` until the block ends."""
    command = mlflow_command()
    if command is None:
        raise RuntimeError("the mlflow package is not installed (pip install -e '.[test]')")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    args = [*command, "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
            "--backend-store-uri", f"sqlite:///{directory / 'mlflow.sqlite'}",
            "--artifacts-destination", str(directory / "artifacts")]
    with open(directory / "server.log", "wb") as log:
        process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   cwd=directory, env={**os.environ, **NO_TELEMETRY}, start_new_session=True)
    server = MlflowServer(f"http://127.0.0.1:{port}", directory, process)
    try:
        _wait_healthy(server, timeout)
        yield server
    finally:
        _stop(process)


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory):
    """A running MLflow tracking server (empty registry) shared by the session's tests."""
    need(mlflow_command() is not None, "the mlflow package (the tracking server) is not installed: "
                                       "pip install -e '.[test]'")
    with start_mlflow_server(tmp_path_factory.mktemp("mlflow")) as server:
        yield server
