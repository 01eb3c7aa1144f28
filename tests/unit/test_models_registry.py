"""hub_ext.portal.models.registry against a real MLflow tracking server (tests/support_mlflow.py):
what the Models page lists, and how fast and how clearly it gives up on a server that is not there."""

from __future__ import annotations

import asyncio
import socket
import sqlite3
import time

import pytest

from hub_ext.policy import GroupPolicy, PolicyError, merge_policy, parse_policy
from hub_ext.portal.groups.settings_form import form_values
from hub_ext.apps.registry import tracking_uri_of
from hub_ext.portal.models import registry
from support_mlflow import mlflow_server  # noqa: F401  (the fixture)

NAME = "hfml-unit-classifier"


@pytest.fixture(autouse=True)
def _mlflow_env(monkeypatch):
    """The registry sets MLflow's HTTP settings in os.environ (as the hub does): put them back after."""
    for name in ("MLFLOW_HTTP_REQUEST_TIMEOUT", "MLFLOW_HTTP_REQUEST_MAX_RETRIES"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def registered(mlflow_server):  # noqa: F811
    """Two versions of one model (the first with an alias and the stage Staging) and a second model."""
    first = mlflow_server.register_sklearn_model(NAME, alias="champion", description="Tells big from small")
    client = mlflow_server.client()
    logged = client.get_model_version(NAME, first)
    # more versions of the same logged model: registering is what is listed, training again adds nothing
    same = {"source": logged.source, "run_id": logged.run_id, "model_id": logged.source.split("/")[-1]}
    second = client.create_model_version(NAME, **same).version
    client.create_registered_model(NAME + "-other")
    client.create_model_version(NAME + "-other", **same)
    with pytest.warns(FutureWarning):  # stages are deprecated in MLflow 3, and still shown where set
        client.transition_model_version_stage(NAME, first, "Staging")
    return {"first": first, "second": second, "run": client.get_model_version(NAME, first).run_id}


def listing(uri, **kw):
    return asyncio.run(registry.list_models(uri, **kw))


def test_lists_models_with_their_versions_newest_first(mlflow_server, registered):  # noqa: F811
    found = listing(mlflow_server.url)
    assert found.tracking_uri == mlflow_server.url and not found.truncated
    by_name = {m.name: m for m in found.models}
    assert {NAME, NAME + "-other"} <= set(by_name)
    model = by_name[NAME]
    assert model.description == "Tells big from small"
    assert model.aliases == {"champion": registered["first"]}
    assert [v.version for v in model.versions] == [registered["second"], registered["first"]]
    newest, first = model.versions
    assert first.aliases == ["champion"] and first.stage == "Staging"
    assert newest.aliases == [] and newest.stage == ""
    assert first.run_id == registered["run"] and first.source.startswith("models:/")
    assert first.status == "READY" and first.model_uri == f"models:/{NAME}/{registered['first']}"
    assert first.created.tzinfo is not None and abs(time.time() - first.created.timestamp()) < 3600


def test_the_json_carries_iso_times_and_an_encoded_deploy_link(mlflow_server, registered):  # noqa: F811
    models = registry.as_json(listing(mlflow_server.url), "/prefix/hub/")
    model = next(m for m in models if m["name"] == NAME)
    version = model["versions"][-1]
    assert version["deploy_url"] == (f"/prefix/hub/portal/deployments/new?model_uri=models%3A%2F{NAME}%2F"
                                     f"{registered['first']}")
    assert version["created"].endswith("+00:00")


def test_a_long_registry_is_cut_and_says_so(mlflow_server, registered):  # noqa: F811
    found = listing(mlflow_server.url, max_models=1)
    assert len(found.models) == 1 and found.truncated


def test_a_refused_connection_is_reported_at_once_with_mlflows_reason():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        uri = f"http://127.0.0.1:{s.getsockname()[1]}"
    start = time.monotonic()
    with pytest.raises(registry.RegistryError) as info:
        listing(uri, timeout=5)
    assert time.monotonic() - start < 3
    assert f"The MLflow tracking server at {uri} could not be read" in str(info.value)
    assert "Connection refused" in str(info.value)


def test_a_server_that_never_answers_is_given_up_on_after_the_timeout():
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        uri = f"http://127.0.0.1:{silent.getsockname()[1]}"
        start = time.monotonic()
        with pytest.raises(registry.RegistryError) as info:
            listing(uri, timeout=1)
        waited = time.monotonic() - start
    assert 0.9 < waited < 4, waited
    assert "timed out" in str(info.value).lower() or "did not answer" in str(info.value)


def test_a_local_registry_is_read_but_never_created(tmp_path, mlflow_server, registered):  # noqa: F811
    # the server's own SQLite file, read directly (what sqlite:////… in a policy does)
    found = listing(f"sqlite:///{mlflow_server.directory / 'mlflow.sqlite'}")
    assert NAME in {m.name for m in found.models}
    missing = tmp_path / "nothing.db"
    with pytest.raises(registry.RegistryError, match="does not exist"):
        listing(f"sqlite:///{missing}")
    assert not missing.exists()
    other = tmp_path / "other.db"  # some other application's database: MLflow would add its tables
    sqlite3.connect(other).execute("create table notes (text)").connection.commit()
    with pytest.raises(registry.RegistryError, match="no registered models table"):
        listing(f"sqlite:///{other}")
    tables = {r[0] for r in sqlite3.connect(other).execute("select name from sqlite_master")}
    assert tables == {"notes"}
    with pytest.raises(registry.RegistryError, match="does not exist"):
        listing(f"file://{tmp_path / 'mlruns'}")
    assert not (tmp_path / "mlruns").exists()


def test_the_group_policy_wins_over_the_platform_default():
    assert tracking_uri_of(GroupPolicy(), "http://platform:5000") == "http://platform:5000"
    assert tracking_uri_of(GroupPolicy(mlflow_tracking_uri="http://group:5000"),
                                    "http://platform:5000") == "http://group:5000"
    assert tracking_uri_of(GroupPolicy(), "") == ""


def test_a_password_in_the_platforms_uri_is_never_shown():
    assert registry.shown_uri("https://bot:s3cret@mlflow.example.org") == "https://bot:***@mlflow.example.org"


@pytest.mark.parametrize("uri, problem", [
    ("ftp://mlflow", "must start with http://"),
    ("mlflow.example.org:5000", "must start with http://"),
    ("http://", "needs a host"),
    ("https://bot:s3cret@mlflow.example.org", "must not hold a user name or password"),
    ("sqlite:///relative.db", "absolute path"),
    ("file://server/share", "absolute path"),
    ("http://a b", "no spaces"),
])
def test_the_policy_refuses_a_tracking_uri_it_cannot_use_naming_the_field(uri, problem):
    with pytest.raises(PolicyError) as info:
        parse_policy({"mlflow_tracking_uri": uri})
    assert problem in info.value.errors["mlflow_tracking_uri"]


def test_the_console_form_shows_the_tracking_uri_and_an_empty_one_is_the_platforms():
    policy = parse_policy({"mlflow_tracking_uri": " http://mlflow:5000 "})
    assert policy.mlflow_tracking_uri == "http://mlflow:5000"
    assert form_values(policy)["mlflow_tracking_uri"] == "http://mlflow:5000"
    # the console's form sends an emptied field as "" (a string field): back to the platform's, as null is
    assert merge_policy(policy, {"mlflow_tracking_uri": ""}).mlflow_tracking_uri == ""
    assert merge_policy(policy, {"mlflow_tracking_uri": None}).mlflow_tracking_uri == ""
