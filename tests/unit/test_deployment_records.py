"""Deployments in the portal DB: limits, update history and rollback, clients, validation."""

from datetime import datetime, timedelta, timezone

import pytest
from cryptography.fernet import Fernet

from hub_ext.keys import token_digest
from hub_ext.bodies import BodyError, parse_body
from hub_ext.deployments.records import Conflict, DeploymentStore, LimitError
from hub_ext.license import DEPLOYMENTS_TEXT
from hub_ext.deployments.requests import DeploymentCreate, DeploymentPatch, resolve
from hub_ext.jobs.records import Viewer
from hub_ext.policy import parse_catalog, parse_policy

CATALOG = parse_catalog({"instance_types": [{"name": "small", "cpu": 1, "memory": "1Gi"},
                                            {"name": "big", "cpu": 4, "memory": "8Gi"}],
                         "images": [{"name": "base"}]})
POLICY = parse_policy({"deployments_enabled": True, "deployments_max": 2}, CATALOG)


def store(url, license_max=10):
    return DeploymentStore(url, Fernet.generate_key(), license_max=lambda: license_max)


def create(s, dep_id, policy=POLICY, group="research", **fields):
    body = parse_body(DeploymentCreate, {"id": dep_id, "name": dep_id.title(), "command": "serve", **fields})
    runtime = resolve(body.instance_type, body.image, policy, CATALOG, group)
    return s.create(group=group, username="ann", body=body, runtime=runtime, policy=policy)


@pytest.mark.parametrize("bad, field", [
    ({"id": "Bad_Id"}, "id"), ({"id": "-x"}, "id"), ({"id": "a" * 64}, "id"),
    ({"replicas": 0}, "replicas"), ({"health_path": "health"}, "health_path"),
    ({"model_uri": "runs:/abc/model"}, "model_uri"), ({"surprise": 1}, "surprise"),
    ({"env": {"HOME": "/x"}}, "env"),
])
def test_bad_fields_are_named(bad, field):
    with pytest.raises(BodyError) as err:
        parse_body(DeploymentCreate, {"id": "ok", "name": "Ok", "command": "serve", **bad})
    assert field in err.value.errors


def test_a_deployment_serves_either_a_command_or_a_model():
    with pytest.raises(BodyError) as err:
        parse_body(DeploymentCreate, {"id": "both", "name": "B", "command": "x", "model_uri": "models:/m/1"})
    assert "model_uri" in err.value.errors
    with pytest.raises(BodyError):
        parse_body(DeploymentCreate, {"id": "none", "name": "N"})
    body = parse_body(DeploymentCreate, {"id": "m", "name": "M", "model_uri": "models:/iris/3"})
    assert body.model_uri == "models:/iris/3"


def test_group_maximum_and_disabled_groups_are_refused_by_name(sqlite_url):
    s = store(sqlite_url)
    create(s, "one")
    create(s, "two")
    with pytest.raises(LimitError, match=r"maximum of 2 deployments \(deployments_max\)"):
        create(s, "three")
    s.stop(s.get("one"), "ann")  # a stopped deployment does not count
    create(s, "three")
    with pytest.raises(LimitError, match=r"maximum of 2"):
        s.start(s.get("one"), "ann", POLICY)
    off = parse_policy({"deployments_enabled": False}, CATALOG)
    with pytest.raises(LimitError, match="not enabled in group other"):
        create(s, "four", policy=off, group="other")


def test_the_license_admits_ten_percent_more_then_refuses_with_its_message(sqlite_url):
    s = store(sqlite_url, license_max=10)
    unlimited = parse_policy({"deployments_enabled": True}, CATALOG)
    for i in range(11):
        create(s, f"d{i}", policy=unlimited)
    with pytest.raises(LimitError) as err:
        create(s, "d11", policy=unlimited)
    assert str(err.value) == DEPLOYMENTS_TEXT


def test_ids_are_unique_on_the_platform(sqlite_url):
    s = store(sqlite_url)
    create(s, "same")
    with pytest.raises(Conflict):
        create(s, "same", group="other", policy=parse_policy({"deployments_enabled": True}, CATALOG))


def test_changes_make_revisions_with_history_and_rollback(sqlite_url):
    s = store(sqlite_url)
    row = create(s, "svc", env={"MODE": "a"})
    row = s.update(row, parse_body(DeploymentPatch, {"description": "just words"}).model_dump(exclude_unset=True),
                   None, "ann")
    assert row.revision == 1  # metadata changes need no new replicas
    row = s.update(row, {"command": "serve --v2", "env": {"MODE": "b"}}, None, "ben")
    assert (row.revision, row.phase) == (2, "Updating")
    history = [s.revision_json(e) for e in s.history("svc")]
    assert [h["revision"] for h in history] == [2, 1, 1]
    assert history[0]["username"] == "ben"
    assert history[0]["changes"]["command"] == ["serve", "serve --v2"]
    assert history[0]["changes"]["env"] == [["MODE"], ["MODE"]]  # names only: values may be secrets
    back = s.rollback_fields(row, 1)
    assert back["command"] == "serve" and back["env"] == {"MODE": "a"}
    row = s.update(row, back, None, "ann")
    assert row.revision == 3 and row.command == "serve" and s.open_env(row.env_encrypted) == {"MODE": "a"}
    assert s.rollback_fields(row, 99) is None


def test_history_keeps_the_last_32(sqlite_url):
    s = store(sqlite_url)
    row = create(s, "busy")
    for i in range(40):
        row = s.update(row, {"replicas": 1 + i % 2}, None, "ann")
    assert len(s.history("busy")) == 32


def test_client_tokens_are_kept_as_digests_shown_once_and_revocable(sqlite_url):
    s = store(sqlite_url)
    row = create(s, "private", access="private")
    expires = datetime.now(timezone.utc) + timedelta(hours=1)
    client, token = s.add_client(row, "app", expires, "ann")
    assert len(token) >= 40
    kept = s.clients("private")[0]
    assert kept.token_digest == token_digest(token) and token not in kept.token_digest
    assert "token" not in s.client_json(kept)
    with pytest.raises(Conflict):
        s.add_client(row, "app", None, "ann")
    assert s.revoke_client(row, "app", "ann") is True
    assert s.revoke_client(row, "app", "ann") is False
    assert s.clients("private")[0].revoked is not None


def test_members_see_and_only_owner_or_group_admins_change(sqlite_url):
    from hub_ext.deployments.records import may_change, sees

    row = create(store(sqlite_url), "shared")
    member = Viewer("ben", member_of=frozenset({"research"}))
    group_admin = Viewer("cat", member_of=frozenset({"research"}), group_admin_of=frozenset({"research"}))
    outsider = Viewer("dan", member_of=frozenset({"other"}))
    assert sees(member, row) and not may_change(member, row)
    assert may_change(group_admin, row) and may_change(Viewer("ann", member_of=frozenset({"research"})), row)
    assert not sees(outsider, row)
    env_hidden = store(sqlite_url).as_json(row, member)
    assert env_hidden["endpoint"].endswith("/deployments/shared/")


def test_the_form_and_admission_read_one_limit_the_smaller_of_the_groups_and_the_licenses(sqlite_url):
    """The free tier's 1 under a group maximum of 2: the form says 1 and why, and once one runs it offers no
    Create (why_not) exactly when admission refuses the next one, with the license's message."""
    s = store(sqlite_url, license_max=1)
    limits = s.limits("research", POLICY)
    assert (limits.most, limits.group_max, limits.license_allows, limits.refusal) == (1, 2, 1, "")
    assert limits.summary == "This group may run at most 1 deployment at a time: the platform's license allows 1"
    create(s, "one")
    limits = s.limits("research", POLICY)
    assert limits.refusal == DEPLOYMENTS_TEXT and not limits.json()["may_create"]
    assert limits.why_not == ("The platform's license allows 1 deployment at a time and 1 runs. Stop or delete one "
                              "to create another, or ask an administrator to upgrade the license.")
    with pytest.raises(LimitError, match="upgrade your license"):
        create(s, "two")
    # the license's places are platform-wide: another group's deployment takes them too
    other = parse_policy({"deployments_enabled": True}, CATALOG)
    limits = s.limits("other", other)
    assert limits.most == 1 and limits.running == 0 and limits.platform == 1
    assert "1 runs, 1 of them in other groups" in limits.why_not
    # a stopped deployment may start again once it is the only one
    s.stop(s.get("one"), "ann")
    assert s.limits("research", POLICY, exclude="one").refusal == ""
    assert s.limits("research", POLICY).json()["may_create"] is True


def test_the_groups_maximum_when_it_is_the_smaller_and_the_licenses_grace():
    from hub_ext.deployments.limits import DeploymentLimits

    group_first = DeploymentLimits("lab", True, 2, 10, running=2, platform=5)
    assert group_first.summary == "This group may run at most 2 deployments at a time: the group's policy allows 2"
    assert group_first.why_not == ("This group runs 2 of at most 2 deployments (the group's policy). Stop or "
                                   "delete one to create another.")
    assert group_first.refusal == "Group lab has reached its maximum of 2 deployments (deployments_max)"
    licensed = DeploymentLimits("lab", True, None, 10, running=0, platform=10)
    assert licensed.most == 11 and licensed.refusal == ""  # 10% grace: the eleventh is admitted
    assert licensed.because == "the platform's license allows 11 (10 and a 10% grace)"
    assert DeploymentLimits("lab", True, 1, 1, 0, 0).because == "the group's policy and the platform's license allow 1"
    assert DeploymentLimits("lab", True, None, None, 3, 3).summary == ""  # nothing limits it
    assert DeploymentLimits("lab", False, None, 1, 0, 0).refusal == "Deployments are not enabled in group lab"
