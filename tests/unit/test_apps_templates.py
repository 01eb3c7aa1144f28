"""App templates, the service account's name, and the registry binding's address (no hub needed)."""

from __future__ import annotations

import pytest

from hub_ext.apps.registry import app_of, bound_app
from hub_ext.apps.templates import BUILTIN, DEFAULT_ENABLED, AppTemplate, app_prefix, catalog, expand, prefix_for
from hub_ext.isolation.names import MAX_LENGTH, account_name, service_account_name, unix_group_name
from hub_ext.policy import GroupPolicy


def test_the_builtins_are_valid_and_the_default_catalog_is_the_three_that_run_here():
    every = catalog(list(BUILTIN))
    assert list(catalog(DEFAULT_ENABLED)) == ["mlflow", "streamlit", "code-server"]
    assert every["mlflow"].registry and not every["streamlit"].registry
    assert every["code-server"].local.npm.startswith("code-server@") and every["streamlit"].local.pip == ["streamlit"]
    for t in every.values():
        assert t.icon.startswith("<svg") and t.docs_url.startswith("https://") and t.kubernetes is not None


def test_operator_templates_extend_or_replace_and_bad_ones_are_named():
    mine = {"name": "mlflow", "display_name": "Our MLflow", "local": {"command": "exec our-mlflow --port {port}"}}
    assert catalog(["mlflow"], [mine])["mlflow"].display_name == "Our MLflow"
    with pytest.raises(ValueError, match="no template named 'nope'"):
        catalog(["nope"])
    with pytest.raises(ValueError, match="template 'x'"):
        catalog(["x"], [{"name": "x", "display_name": "X"}])  # no way to run it
    with pytest.raises(ValueError, match="pip packages or an npm package"):
        AppTemplate(name="y", display_name="Y", local={"pip": ["a"], "npm": "b", "command": "c"})
    with pytest.raises(ValueError, match="scripts"):
        AppTemplate(name="z", display_name="Z", icon='<svg onload="alert(1)"></svg>', local={"command": "c"})


def test_placeholders_are_expanded_and_shell_quoted():
    values = {"prefix": app_prefix("/", "my group", "st"), "port": "$PORT", "data": "/d/my group/apps/st",
              "shared": "/d/my group"}
    assert values["prefix"] == "/apps/my%20group/st"
    cmd = expand("cd {data} && run --port {port} --base {prefix} ${X:-1} {other}", values)
    assert cmd == "cd '/d/my group/apps/st' && run --port \"$PORT\" --base /apps/my%20group/st ${X:-1} {other}"
    assert expand("{prefix}/health", values, quote_values=False) == "/apps/my%20group/st/health"
    assert app_prefix("/base/", "g", "a") == "/base/apps/g/a"


def test_prefix_for_tells_the_forwarder_which_apps_are_served_at_their_root():
    assert prefix_for("mlflow") and prefix_for("streamlit") and not prefix_for("code-server")
    assert prefix_for("unknown-template")


@pytest.mark.parametrize("group", ["research", "ml-team", "Data Science", "x" * 40, "émile", "a_b"])
def test_a_groups_service_account_is_never_a_users_account(group):
    prefix = "hubfront-"
    name = service_account_name(prefix, group)
    assert len(name) <= MAX_LENGTH and name.startswith(prefix)
    # whatever users are called (the group's own name, the account name itself, anything slugged)
    for user in (group, name, name[len(prefix):], f"{group}_app", group + "-app", "research_app"):
        assert account_name(prefix, user) != name
    assert name != unix_group_name(prefix, group)
    assert service_account_name(prefix, group) == name  # stable
    assert service_account_name(prefix, group + "2") != name


def test_a_bound_registry_is_an_app_of_the_same_group():
    assert app_of("http://hub.example.org/apps/lab/mlflow", "lab") == ("mlflow", "/apps/lab/mlflow")
    assert app_of("https://hub.example.org/base/apps/my%20lab/mlflow/", "my lab") == (
        "mlflow", "/base/apps/my%20lab/mlflow")
    assert app_of("http://hub.example.org/apps/other/mlflow", "lab") is None
    assert app_of("http://mlflow.example.org:5000", "lab") is None
    assert app_of("file:///srv/apps/lab/mlflow", "lab") is None
    policy = GroupPolicy(mlflow_tracking_uri="http://hub.example.org/apps/lab/tracking")
    assert bound_app(policy, "lab") == "tracking" and bound_app(GroupPolicy(), "lab") is None


def test_a_notebook_token_goes_to_the_hubs_own_app_address_only():
    """A group admin may write any tracking URI: a server elsewhere with an /apps/<group>/<app> path
    gets no member's hub token."""
    from hub_ext.policy import GroupPolicy
    from spawner.mixin import mlflow_env

    hub = ["http://127.0.0.1:8000"]
    ours = GroupPolicy(mlflow_tracking_uri="http://localhost:8000/apps/lab/mlflow")
    assert mlflow_env(ours, "lab", "tok", hub) == {"MLFLOW_TRACKING_URI": "http://localhost:8000/apps/lab/mlflow",
                                                   "MLFLOW_TRACKING_TOKEN": "tok"}
    elsewhere = GroupPolicy(mlflow_tracking_uri="https://collector.example.org/apps/lab/mlflow")
    assert mlflow_env(elsewhere, "lab", "tok", hub) == {
        "MLFLOW_TRACKING_URI": "https://collector.example.org/apps/lab/mlflow"}
    other_port = GroupPolicy(mlflow_tracking_uri="http://127.0.0.1:9999/apps/lab/mlflow")
    assert "MLFLOW_TRACKING_TOKEN" not in mlflow_env(other_port, "lab", "tok", hub)
