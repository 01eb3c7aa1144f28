"""The Groups console's logic on a real portal database: which deployments and apps still count as running
(a group is deleted only when none does), the quota use and policy summary of the list, and the resource
groups field offered only where there is a choice."""

from cryptography.fernet import Fernet
from sqlalchemy import update

from hub_ext.apps.records import AppStore
from hub_ext.apps.requests import AppInstall
from hub_ext.apps.templates import template
from hub_ext.bodies import parse_body
from hub_ext.deployments.records import DeploymentStore
from hub_ext.deployments.requests import DeploymentCreate, resolve
from hub_ext.ledger import Ledger, Request
from hub_ext.policy import Quota, parse_catalog, parse_policy
from hub_ext.portal.admin_groups import console
from hub_ext.store import session_scope
from hub_ext.store.models_apps import App
from hub_ext.store.models_deployments import Deployment

CATALOG = parse_catalog({
    "instance_types": [{"name": "cpu-small", "display_name": "CPU small", "cpu": "500m", "memory": "1Gi"},
                       {"name": "cpu-medium", "display_name": "CPU medium", "cpu": 2, "memory": "4Gi"}],
    "images": [{"name": "base", "display_name": "Python"}, {"name": "pytorch", "display_name": "PyTorch"}],
    "resource_groups": [{"name": "general"}, {"name": "gpu-pool", "node_selector": {"pool": "gpu"}}],
})
POLICY = parse_policy({"deployments_enabled": True, "instance_types": ["cpu-small", "cpu-medium"],
                       "images": ["base", "pytorch"], "default_instance_type": "cpu-medium",
                       "quota": {"cpu": 4, "memory": "8Gi"}}, CATALOG)


def _phase(url, model, key, **values):
    with session_scope(url) as s:
        s.execute(update(model).where(model.id == key).values(**values))


def test_deployments_and_apps_count_until_they_have_stopped(sqlite_url):
    key = Fernet.generate_key()
    deployments = DeploymentStore(sqlite_url, key, license_max=lambda: 10)
    body = parse_body(DeploymentCreate, {"id": "iris", "name": "Iris", "command": "serve"})
    runtime = resolve(body.instance_type, body.image, POLICY, CATALOG, "vision")
    dep = deployments.create(group="vision", username="ann", body=body, runtime=runtime, policy=POLICY)
    apps = AppStore(sqlite_url, key)
    app = apps.install(group="vision", username="ann", body=parse_body(AppInstall, {"name": "tracker", "template": "mlflow"}),
                       template=template("mlflow"), instance_type=CATALOG.instance_type("cpu-medium"), env={})
    assert console.running_workloads(sqlite_url, "vision", set()) == ["deployment iris (Deploying)",
                                                                     "app tracker (Installing)"]
    assert console.running_workloads(sqlite_url, "other", set()) == []  # another group's are not this one's
    # asked to stop, still stopping: still running
    deployments.stop(dep, "ann")
    apps.stop(apps.get("vision", "tracker"), "ann")
    assert console.running_workloads(sqlite_url, "vision", set()) == ["deployment iris (stopping)",
                                                                     "app tracker (stopping)"]
    # stopped (as the runner writes it when its replicas are gone): nothing runs
    _phase(sqlite_url, Deployment, "iris", phase="Stopped")
    _phase(sqlite_url, App, app.id, phase="Stopped")
    assert console.running_workloads(sqlite_url, "vision", set()) == []
    # being removed, replicas not gone yet: running
    deployments.delete(deployments.get("iris"), "ann")
    _phase(sqlite_url, Deployment, "iris", phase="Stopping")
    assert console.running_workloads(sqlite_url, "vision", set()) == ["deployment iris (being removed)"]


def test_notebooks_count_from_the_ledger_and_the_hubs_own_list(sqlite_url):
    Ledger(sqlite_url).reserve(kind="notebook", workload_id="ann/vision", username="ann", group="vision",
                               request=Request(cpu=0.5, memory=2**30), group_quota=Quota(), user_quota=Quota())
    running = console.running_workloads(sqlite_url, "vision", {"bob/vision", "carl/other"})
    assert running == ["notebook server of ann", "notebook server of bob"]
    assert "notebook server of bob" in console.refusal("vision", running)


def test_the_list_row_shows_quota_use_against_the_quota_and_the_policy_in_short():
    summary = console.policy_summary(POLICY, CATALOG)
    assert summary == ["Instance types: CPU small, CPU medium", "Images: Python, PyTorch", "Default: CPU medium",
                       "Deployments: on"]
    usage = {u["resource"]: u["text"] for u in console.usage_of(POLICY, {"cpu": 2.5, "memory": 2**31})}
    assert usage == {"cpu": "2.5 / 4", "memory": "2 GiB / 8 GiB", "gpu": "0 / unlimited", "sessions": "0 / unlimited"}


def test_resource_groups_are_offered_only_where_there_is_a_choice():
    on_nodes = console.form_choices(POLICY, CATALOG.placed(local=False))
    assert [rg.name for rg in on_nodes["resource_groups"]] == ["general", "gpu-pool"]
    assert on_nodes["all_resource_groups"] and on_nodes["values"]["quota.memory"] == "8Gi"
    assert console.form_choices(POLICY, CATALOG.placed(local=True))["resource_groups"] == []  # "local" alone
    one = parse_catalog({"instance_types": [{"name": "cpu-small"}], "resource_groups": [{"name": "general"}]})
    assert console.form_choices(parse_policy({}), one.placed(local=False))["resource_groups"] == []
