"""App templates, the service account's name, and the registry binding's address (no hub needed)."""

from __future__ import annotations

import re

import pytest

from hub_ext.apps.registry import app_of, bound_app
from hub_ext.apps.templates import Apps, BUILTIN, DEFAULT_ENABLED, AppTemplate, catalog, expand
from hub_ext.isolation.names import MAX_LENGTH, account_name, service_account_name, unix_group_name
from hub_ext.policy import GroupPolicy


def test_the_builtins_are_valid_and_the_default_catalog_is_the_three_that_run_here():
    every = catalog(list(BUILTIN))
    assert list(catalog(DEFAULT_ENABLED)) == ["mlflow", "streamlit", "code-server"]
    assert every["mlflow"].registry and not every["streamlit"].registry
    assert every["code-server"].local.npm.startswith("code-server@") and every["streamlit"].local.pip == ["streamlit==1.67.0"]
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
    values = {"prefix": "", "port": "$PORT", "data": "/d/my group/apps/st", "shared": "/d/my group"}
    cmd = expand("cd {data} && run --port {port} --base {prefix} ${X:-1} {other}", values)
    assert cmd == "cd '/d/my group/apps/st' && run --port \"$PORT\" --base '' ${X:-1} {other}"
    assert expand("{prefix}/health", values, quote_values=False) == "/health"


def test_builtin_apps_are_served_at_the_root_of_their_own_origin():
    for name in DEFAULT_ENABLED:
        t = AppTemplate.model_validate(BUILTIN[name])
        assert "{prefix}" not in t.local.command + t.health_path + " ".join(t.kubernetes.args), name


# an exact version: a tag of three numbers or more ("v3.18.0", "3.12.12-slim", not "latest" or "3.12-slim"),
# or a digest
_PINNED_IMAGE = re.compile(r"[^:@\s]+(:v?\d+\.\d+\.\d+[\w.-]*|@sha256:[0-9a-f]{64})")


def _version_of_image(image: str) -> str:
    return image.rsplit(":", 1)[1].lstrip("v").split("-")[0]


def _agrees(declared: str, actual: str) -> bool:
    """Whether ``actual`` is ``declared`` or a release of it ("3" agrees with 3.18.0, "3.1" does not with 3.18.0)."""
    return actual.split(".")[:len(declared.split("."))] == declared.split(".")


def test_builtin_templates_name_exact_versions_of_what_they_run():
    for name, spec in BUILTIN.items():
        t = AppTemplate.model_validate(spec)
        image = t.kubernetes.image
        assert _PINNED_IMAGE.fullmatch(image), f"{name}: image {image!r} is not pinned to a version"
        # what it installs, here and in its pod: every package with its exact version
        script = " ".join(t.kubernetes.command + t.kubernetes.args)
        pod_pip = [w for m in re.finditer(r"pip install ([^&;|]*)", script) for w in m.group(1).split()
                   if not w.startswith("-")]
        local = t.local.pip + ([t.local.npm] if t.local.npm else [])
        for package in pod_pip + t.local.pip:
            assert re.fullmatch(r"[A-Za-z0-9._-]+==\d+(\.\d+)+", package), f"{name}: {package!r} is not pinned"
        if t.local.npm:
            assert re.fullmatch(r"[@\w./-]+@\d+(\.\d+)+", t.local.npm), f"{name}: {t.local.npm!r} is not pinned"
        # the version the Apps page shows is the one that runs: the app's own image, its pins here and there
        own = [_version_of_image(image)] if image.split(":")[0].rsplit("/", 1)[-1] == name else []
        pins = [re.split("==|@(?=\\d)", p)[-1] for p in pod_pip + local if re.split("==|@(?=\\d)", p)[0] == name]
        assert t.version and own + pins, f"{name}: nothing says which version runs"
        for version in own + pins:
            assert _agrees(t.version, version), f"{name}: version {t.version!r} but {version!r} runs"


def test_the_mlflow_servers_image_is_within_the_hubs_mlflow_client_range():
    """The hub talks to a group's MLflow app with its own client (mlflow-skinny): the pod's server is a release
    the project declares it works with (the local app runs the hub's own MLflow)."""
    from pathlib import Path

    from packaging.specifiers import SpecifierSet

    pyproject = (Path(__file__).resolve().parents[2] / "pyproject.toml").read_text()
    client = SpecifierSet(re.search(r'"mlflow-skinny([^"]+)"', pyproject).group(1))
    server = _version_of_image(BUILTIN["mlflow"]["kubernetes"]["image"])
    assert server in client, (server, client)
    assert AppTemplate.model_validate(BUILTIN["mlflow"]).local.pip == []  # the hub's MLflow, nothing else


def test_a_health_path_is_a_plain_path_at_the_apps_root():
    for good in ["/", "/health", "{prefix}/_stcore/health", "/api/2.0/mlflow/experiments/list?max_results=1"]:
        assert AppTemplate(name="t", display_name="T", health_path=good, local={"command": "c"}).health_path == good
    for bad in ["health", "/apps/Data%20Science%20%28EU%29/x/health", "/a b", "{data}/health", "http://x/health", ""]:
        with pytest.raises(ValueError, match="health_path"):
            AppTemplate(name="t", display_name="T", health_path=bad, local={"command": "c"})


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


ORIGIN = "https://{app}--{group}.apps.example.org"


def test_a_bound_registry_is_an_app_of_the_same_group_at_its_own_origin():
    assert app_of("https://mlflow--lab.apps.example.org", "lab", ORIGIN) == ("mlflow", "")
    assert app_of("https://ml--flow--lab.apps.example.org/", "lab", ORIGIN) == ("ml--flow", "")
    spaced = "https://mlflow--my-lab-" + __import__("hashlib").sha256(b"my lab").hexdigest()[:10] + ".apps.example.org"
    assert app_of(spaced, "my lab", ORIGIN) == ("mlflow", "") and app_of(spaced, "lab", ORIGIN) is None
    for uri in ["https://mlflow--other.apps.example.org", "http://mlflow--lab.apps.example.org",
                "https://mlflow--lab.apps.example.org:444", "https://mlflow--lab.apps.example.org/x",
                "https://hub.example.org/apps/lab/mlflow", "https://u@mlflow--lab.apps.example.org",
                "file:///srv/apps/lab/mlflow", "http://mlflow.example.org:5000"]:
        assert app_of(uri, "lab", ORIGIN) is None, uri
    Apps.clear_instance()
    Apps.instance(origin=ORIGIN)
    try:
        policy = GroupPolicy(mlflow_tracking_uri="https://tracking--lab.apps.example.org")
        assert bound_app(policy, "lab") == "tracking" and bound_app(GroupPolicy(), "lab") is None
    finally:
        Apps.clear_instance()


def test_a_notebook_token_goes_to_the_groups_app_origin_only():
    """A group admin may write any tracking URI: only the operator's origin of an app of the group gets a
    member's hub token (where the forwarder takes it and never passes it on)."""
    from spawner.mixin import mlflow_env

    Apps.clear_instance()
    Apps.instance(origin=ORIGIN)
    try:
        ours = GroupPolicy(mlflow_tracking_uri="https://mlflow--lab.apps.example.org/")
        assert mlflow_env(ours, "lab", "tok") == {"MLFLOW_TRACKING_URI": "https://mlflow--lab.apps.example.org",
                                                  "MLFLOW_TRACKING_TOKEN": "tok"}
        for elsewhere in ["https://collector.example.org/apps/lab/mlflow", "https://mlflow--other.apps.example.org",
                          "http://127.0.0.1:8000/apps/lab/mlflow"]:
            assert mlflow_env(GroupPolicy(mlflow_tracking_uri=elsewhere), "lab", "tok") == {
                "MLFLOW_TRACKING_URI": elsewhere}
    finally:
        Apps.clear_instance()
