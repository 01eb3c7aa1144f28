"""The real hub (`make run`'s configuration): user input never gets a 500, numbers stay finite,
policy changes keep what they do not name."""

import json
import re

import pytest

from support import RealHub, need, proxy_command

pytestmark = pytest.mark.e2e

HUGE = "9" * 30
JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    need(proxy_command() is not None, "configurable-http-proxy is not installed (run `make test`)")
    hub = RealHub(tmp_path_factory.mktemp("input") / "data").start()
    yield hub
    hub.close()


def strict(text: str):
    def refuse(constant):
        raise AssertionError(f"{constant} in a JSON answer: {text[:200]}")
    return json.loads(text, parse_constant=refuse)


def test_the_reported_ids_answer_400_or_404_naming_the_field(hub):
    s = hub.admin()
    r = s.api("PUT", "/portal/announcements/99999999999999999999", data='{"title": "x"}', headers=dict(JSON))
    assert r.status_code == 404 and r.json()["message"].startswith("id: must be a whole number")
    r = s.post(s.url("/hub/portal/announcements"), data={"action": "delete", "id": HUGE, "_xsrf": s.xsrf})
    assert r.status_code == 400 and "id: must be a whole number from 1 to 2147483647" in r.text
    r = s.post(s.url("/hub/portal/invitations/999999999999999999999/revoke"), data={"_xsrf": s.xsrf})
    assert r.status_code == 404 and "id: must be a whole number" in r.text
    r = s.get(s.url("/hub/portal/logs?before=99999999999999999999999"))
    assert r.status_code == 400 and "before: must be a whole number" in r.text


def test_policy_numbers_are_finite_and_patch_keeps_the_rest(hub):
    s = hub.admin()
    before = strict(s.api("GET", "/portal/groups/research/policy").text)["policy"]
    assert before["display_name"] == "Research" and before["admins"] == ["admin"]
    r = s.api("PUT", "/portal/groups/research/policy", data='{"quota": {"cpu": 1e999}}', headers=dict(JSON))
    assert r.status_code == 400 and "quota.cpu" in r.json()["errors"]
    assert strict(s.api("GET", "/portal/groups/research/policy").text)["policy"] == before
    strict(s.api("GET", "/portal/groups/research/usage").text)

    r = s.api("PATCH", "/portal/groups/research/policy", json={"user_quota": {"gpu": 1}})
    assert r.status_code == 200, r.text
    after = strict(s.api("GET", "/portal/groups/research/policy").text)["policy"]
    assert after == {**before, "user_quota": {**before["user_quota"], "gpu": 1}}

    # the Groups console's form shows the stored policy, and what it sends changes that and keeps the rest
    page = s.get(s.url("/hub/portal/admin/groups/research")).text
    assert 'id="hf-policy-console"' in page
    assert re.search(r'data-policy="quota.memory"[^>]*value="64Gi"', page.replace("\n", " "))
    r = s.api("PATCH", "/portal/groups/research/policy", json={"quota": {"sessions": "6"}})
    assert r.status_code == 200, r.text
    final = strict(s.api("GET", "/portal/groups/research/policy").text)["policy"]
    assert final == {**after, "quota": {**after["quota"], "sessions": 6}}
