"""What a person reads when a form is refused: plain words naming the field (hub_ext.field_messages), for
every request model a page sends; pydantic's own wording never reaches them."""

from __future__ import annotations

import re

import pytest

from hub_ext.apps.requests import AppInstall, AppPatch
from hub_ext.bodies import BodyError, parse_body
from hub_ext.datasets.requests import DatasetCreate, DatasetPatch, GrantSet, VersionCreate
from hub_ext.deployments.requests import ClientCreate, DeploymentCreate, DeploymentPatch
from hub_ext.field_messages import label, labelled, named, summary
from hub_ext.folders.requests import FolderCreate, InvitationCreate
from hub_ext.images.builds import BuildCreate
from hub_ext.images.group import ImageCreate
from hub_ext.jobs.requests import JobSubmit, ScheduleCreate, SchedulePatch
from hub_ext.policy import PolicyError, parse_policy
from hub_ext.portal.account.profile import ProfilePatch
from hub_ext.portal.announcements.board import AnnouncementCreate
from hub_ext.portal.files.handlers import MoveBody
from hub_ext.portal.preferences.prefs import PreferencesUpdate

# the forms of jobs, schedules, deployments, apps, files, datasets, images, folders and the account
FORMS = [JobSubmit, ScheduleCreate, SchedulePatch, DeploymentCreate, DeploymentPatch, ClientCreate, AppInstall,
         AppPatch, DatasetCreate, DatasetPatch, GrantSet, VersionCreate, MoveBody, ProfilePatch, BuildCreate,
         ImageCreate, FolderCreate, InvitationCreate, AnnouncementCreate, PreferencesUpdate]
# pydantic's wording: a developer's, not the form's
PYDANTIC = re.compile(r"should be|should have|Field required|Input should|Value error|validation error|"
                      r"after validation|Extra inputs", re.I)
WRONG = [5, 2.5, True, "", "   ", "x" * 70000, [], ["a"], {}, {"A": 1}, "2030-13-45", -1, 10**9]


def refused(model, data: dict) -> dict[str, str]:
    with pytest.raises(BodyError) as info:
        parse_body(model, data)
    return info.value.errors


def test_the_issues_messages():
    assert refused(JobSubmit, {"name": "Nightly", "command": "   "}) == {"command": "Command: enter a command to run"}
    errors = refused(DeploymentCreate, {"id": "web", "name": "Web", "command": " \n "})
    assert list(errors.values()) == ["Command: enter a command to run, or serve a model from the registry instead"]
    assert refused(JobSubmit, {}) == {"name": "Name: enter a name", "command": "Command: enter a command to run"}


@pytest.mark.parametrize("data, field, message", [
    ({"replicas": 99}, "replicas", "Replicas: must be at most 20"),
    ({"replicas": 0}, "replicas", "Replicas: must be at least 1"),
    ({"access": "everyone"}, "access", "Access: choose 'public' or 'private'"),
    ({"name": "n" * 201}, "name", "Name: use at most 200 characters"),
    ({"env": {"MODE": 3}}, "env.MODE", "Environment variables (MODE): must be text"),
    ({"instance_type": 7}, "instance_type", "Instance type: must be text"),
    ({"model_uri": "runs:/x"}, "model_uri", "Model URI: give a model version as models:/<name>/<version>, such as models:/iris/3"),
])
def test_deployment_fields_in_plain_words(data, field, message):
    assert refused(DeploymentPatch, data) == {field: message}


def test_a_refusal_message_names_its_fields_in_plain_words():
    with pytest.raises(BodyError) as info:
        parse_body(ScheduleCreate, {"name": "", "command": "x", "recurrence": "daily", "overlap": "queue"})
    assert str(info.value) == "Name: enter a name; Overlap: choose 'skip' or 'allow'"
    # a message a module worded without the field keeps the field's name, as before
    assert summary({"instance_type": "'huge' is not allowed in group g"}) == \
        "instance_type: 'huge' is not allowed in group g"
    assert summary({"colour": "unknown field"}) == "colour: unknown field"  # a caller's typo stays one
    assert labelled("to", "'..' is not allowed in a file name") == "Name: '..' is not allowed in a file name"
    assert labelled("to", "Name: x") == "Name: x"
    assert (label("time_zone"), label("quota.memory"), label("id")) == ("Time zone", "Quota (memory)", "ID")


def test_policy_errors_are_worded_the_same_way():
    with pytest.raises(PolicyError) as info:
        parse_policy({"deployments_max": "three", "quota": {"sessions": -1}})
    for field, message in info.value.errors.items():
        assert not PYDANTIC.search(message), (field, message)
        assert message.startswith(label(field) + ": "), (field, message)


@pytest.mark.parametrize("model", FORMS, ids=lambda m: m.__name__)
def test_no_form_shows_pydantics_wording(model):
    """Every field of every form, sent each wrong value a person (or a page's script) could send: each
    refusal names its field in plain words, and never in pydantic's."""
    seen = 0
    for name in model.model_fields:
        for value in WRONG:
            try:
                parse_body(model, {name: value})
            except BodyError as exc:
                for field, message in exc.errors.items():
                    seen += 1
                    assert not PYDANTIC.search(message), (model.__name__, name, value, field, message)
                    # named by its field (the one where a deployment's source is told names the command)
                    assert message == "unknown field" or named(message), (model.__name__, name, value, field, message)
                    assert "[" not in field, (field, message)  # no union member's tag in the field's name
    assert seen
