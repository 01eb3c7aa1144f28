"""Group policy numbers are finite and sane; PATCH merges; the Settings form round-trips."""

import json
import math

import pytest

from hub_ext.policy import (
    GroupPolicy, PolicyError, merge_policy, parse_catalog, parse_policy, policy_of, properties_with,
)
from hub_ext.portal.groups.settings_form import form_values, memory_input


@pytest.mark.parametrize("doc, field", [
    ({"quota": {"cpu": 1e999}}, "quota.cpu"),
    ({"quota": {"cpu": -1e999}}, "quota.cpu"),
    ({"quota": {"cpu": math.nan}}, "quota.cpu"),
    ({"user_quota": {"cpu": "9" * 400}}, "user_quota.cpu"),
    ({"quota": {"cpu": 10**7}}, "quota.cpu"),
    ({"quota": {"memory": 1e999}}, "quota.memory"),
    ({"quota": {"memory": "9" * 400 + "Gi"}}, "quota.memory"),
    ({"quota": {"memory": "2000000Ti"}}, "quota.memory"),
    ({"quota": {"gpu": 1e999}}, "quota.gpu"),
    ({"quota": {"gpu": 10**30}}, "quota.gpu"),
    ({"user_quota": {"sessions": 1e999}}, "user_quota.sessions"),
    ({"job_default_timeout": 1e999}, "job_default_timeout"),
    ({"job_default_timeout": "9" * 400}, "job_default_timeout"),
    ({"job_default_timeout": "400d"}, "job_default_timeout"),
    ({"deployments_max": 99999999999999999999999}, "deployments_max"),
    ({"quota": {"cpu": 1, "warp": 2}}, "quota.warp"),
    ({"colour": "red"}, "colour"),
])
def test_non_finite_absurd_and_unknown_values_are_refused_naming_the_field(doc, field):
    with pytest.raises(PolicyError) as info:
        parse_policy(doc)
    assert field in info.value.errors, info.value.errors


def test_the_messages_say_what_is_wrong():
    errors = lambda doc: pytest.raises(PolicyError, parse_policy, doc).value.errors  # noqa: E731
    assert errors({"quota": {"cpu": 1e999}}) == {"quota.cpu": "Quota (cpu): must be a finite number"}
    assert errors({"quota": {"cpu": 2e6}}) == {"quota.cpu": "Quota (cpu): must be at most 1e+06 cores"}
    assert errors({"quota": {"memory": "-1"}})["quota.memory"].startswith("Quota (memory): invalid memory quantity")


def test_sane_values_still_pass():
    policy = parse_policy({"quota": {"cpu": "500m", "memory": "1024Ti", "gpu": 64, "sessions": 1000},
                           "job_default_timeout": "366d", "deployments_max": 0})
    assert policy.quota.cpu == 0.5 and policy.quota.memory == 2**50 and policy.job_default_timeout == 366 * 86400


def test_catalog_instance_types_are_bounded_too():
    with pytest.raises(PolicyError, match=r"Instance types \(0\.cpu\): must be a finite number"):
        parse_catalog({"instance_types": [{"name": "huge", "cpu": 1e999}]})


def test_a_stored_infinity_reads_as_the_restrictive_fallback_never_as_infinity():
    # written around the portal (the hub's own group API accepts any JSON number)
    properties = {"hubfront": {"quota": {"cpu": math.inf}, "display_name": "X"}}
    policy = policy_of(properties)
    assert policy.quota.cpu == 0 and policy.instance_types == []
    json.dumps(policy.model_dump(mode="json"), allow_nan=False)


def test_merge_keeps_what_the_patch_does_not_name():
    current = parse_policy({"display_name": "Research", "admins": ["alice"], "instance_types": ["a"],
                            "quota": {"cpu": 16, "gpu": 4}, "deployments_max": 3})
    merged = merge_policy(current, {"quota": {"cpu": 32}, "deployments_max": None})
    assert merged.display_name == "Research" and merged.admins == ["alice"] and merged.instance_types == ["a"]
    assert merged.quota.cpu == 32 and merged.quota.gpu == 4
    assert merged.deployments_max is None  # null resets to the default
    assert merge_policy(current, {"quota": None}).quota.gpu is None
    assert merge_policy(current, {}) == current
    with pytest.raises(PolicyError) as info:
        merge_policy(current, {"quota": {"cpu": 1e999}, "nonsense": 1})
    assert set(info.value.errors) == {"quota.cpu", "nonsense"}
    with pytest.raises(PolicyError, match="body"):
        merge_policy(current, ["not", "an", "object"])


def console_patch(values: dict[str, str], fields) -> dict:
    """What the Groups console's form sends for ``fields`` (static/admin_groups.js, patchOf): each field's
    value trimmed, an empty one null (unlimited, the default), nested by its dotted name."""
    doc: dict = {}
    for name in fields:
        *parents, last = name.split(".")
        node = doc
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = values[name].strip() or None
    return doc


def test_the_console_forms_values_round_trip_through_a_patch():
    policy = parse_policy({"display_name": "Research", "admins": ["alice", "bob"], "images": ["base"],
                           "quota": {"cpu": 0.5, "memory": "64Gi", "gpu": 4, "storage": "50Gi"},
                           "user_quota": {"memory": 1536 * 2**20}, "job_default_timeout": "2h",
                           "deployments_enabled": True, "deployments_max": 4})
    values = form_values(policy)
    assert values["quota.memory"] == "64Gi" and values["user_quota.memory"] == "1536Mi"
    assert values["quota.storage"] == "50Gi" and "user_quota.storage" not in values  # a group's only
    assert values["quota.sessions"] == "" and values["job_default_timeout"] == "2h"
    assert values["admins"] == "alice, bob"
    shown = [n for n in values if n.startswith(("quota.", "user_quota.")) or n in ("job_default_timeout",
                                                                                   "deployments_max")]
    assert merge_policy(policy, console_patch(values, shown)) == policy
    assert memory_input(1000) == "1000" and memory_input(None) == "" and memory_input(0) == "0"


def test_properties_keep_other_keys():
    new = properties_with({"other": 1}, GroupPolicy(display_name="X"))
    assert new["other"] == 1 and new["hubfront"]["display_name"] == "X"
