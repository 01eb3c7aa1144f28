"""Password rules, one by one, and the profile's field rules."""

import pytest

from hub_ext.auth.passwords import RULE_MESSAGES, broken_rules, rule_errors, set_password
from hub_ext.portal.account import profile


@pytest.mark.parametrize("password, rule", [
    ("a1!bcde", "length"),           # 7 characters
    ("12345678!", "letter"),
    ("abcdefgh!", "number"),
    ("abcdefg12", "symbol"),
    ("a1!" + "x" * 126, "max"),      # 129 characters
])
def test_each_rule_alone_is_enforced_with_its_own_message(password, rule):
    assert broken_rules(password, "someone") == [rule]
    assert RULE_MESSAGES[rule] in rule_errors(password, "someone")


def test_boundaries_are_accepted():
    assert broken_rules("a1!bcdef", "someone") == []          # exactly 8
    assert broken_rules("a1!" + "x" * 125, "someone") == []   # exactly 128
    assert broken_rules("Ünïcode1€", "someone") == []         # non-ASCII letters and symbols count


def test_must_differ_from_username_and_current():
    assert broken_rules("Alice-2024", "alice-2024") == ["username"]
    assert broken_rules("Old-pass1", "bob", current="Old-pass1") == ["current"]
    assert broken_rules("New-pass1", "bob", current="Old-pass1") == []


def test_several_broken_rules_are_all_named():
    message = rule_errors("abc", "bob")
    for rule in ("length", "number", "symbol"):
        assert RULE_MESSAGES[rule] in message


def test_password_errors_name_the_fields(sqlite_url):
    set_password(sqlite_url, "carol", "Current-1")
    errors = profile.password_errors(sqlite_url, "carol", "wrong", "New-pass1")
    assert set(errors) == {"current_password"}
    errors = profile.password_errors(sqlite_url, "carol", "Current-1", "Current-1")
    assert errors == {"new_password": "new password " + RULE_MESSAGES["current"]}
    errors = profile.password_errors(sqlite_url, "carol", "Current-1", "New-pass1", confirm="other")
    assert set(errors) == {"confirm_password"}
    assert profile.password_errors(sqlite_url, "carol", "Current-1", "New-pass1", confirm="New-pass1") == {}


def test_full_name_length_and_email():
    assert profile.validate_profile({"full_name": "A" * 64}) == ({"full_name": "A" * 64}, {})
    assert "full_name" in profile.validate_profile({"full_name": "A" * 65})[1]
    assert "full_name" in profile.validate_profile({"full_name": ""})[1]
    assert "email" in profile.validate_profile({"email": "not an email"})[1]
    assert profile.validate_profile({"email": ""}) == ({"email": ""}, {})
    assert "username" in profile.validate_profile({"username": "root"})[1]
