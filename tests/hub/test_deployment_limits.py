"""One truth for deployment limits (issue 24): on the free tier (1 deployment platform-wide) a group whose
policy allows 2 is told 1, and why, by the form and the API; once one runs the page offers no Create and
says why, exactly when the API refuses the next one; a stopped deployment's Start is offered only when it
would be admitted. On a MockHub whose runner does nothing (tests/hub/test_deployments_pages.py)."""

from __future__ import annotations

import html
import json
import re

from conftest_helpers import login, make_user
from test_deployments_pages import hub_config as idle_runner

from hub_ext.license import DEPLOYMENTS_TEXT

FREE_TIER = "This group may run at most 1 deployment at a time: the platform's license allows 1"


def hub_config(cfg, data):
    idle_runner(cfg, data)
    cfg.HubfrontLicense.check_interval = 0  # the tests count deployments behind the license's cache
    cfg.HubfrontLicense.free_tier_max_deployments = 1


def create(session, group: str, dep_id: str):
    return session.api("POST", f"/portal/groups/{group}/deployments",
                       data=json.dumps({"id": dep_id, "name": dep_id.title(), "command": "python -m http.server $PORT"}))


def text_of(page: str, element_id: str) -> str:
    found = re.search(rf'id="{element_id}"[^>]*>(.*?)</(?:span|div)>', page, re.S)
    assert found, element_id
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", found.group(1))).split())


async def test_the_form_and_the_api_say_the_licenses_one_and_offer_nothing_that_is_refused(app):
    await make_user(app, "hfdl-ann", groups=["hfdl-lab"],
                    policies={"hfdl-lab": {"deployments_enabled": True, "deployments_max": 2}})
    ann = await login(app, "hfdl-ann")

    page = (await ann.get("hub/portal/deployments")).text
    assert text_of(page, "hf-deployments-most") == FREE_TIER + "."
    assert 'id="hf-deployment-form"' in page and 'id="hf-create-toggle"' in page
    limits = (await ann.api("GET", "/portal/groups/hfdl-lab/deployments")).json()["limits"]
    assert limits == {"enabled": True, "most": 1, "because": "the platform's license allows 1", "group_max": 2,
                      "license_allows": 1, "running": 0, "platform": 0, "may_create": True, "refusal": None,
                      "summary": FREE_TIER, "why_not": None}

    r = await create(ann, "hfdl-lab", "hfdl-first")
    assert r.status_code == 201, r.text
    # one runs: no Create, and why; the API refuses the second with the license's words, as the page foretold
    page = (await ann.get("hub/portal/deployments")).text
    assert 'id="hf-deployment-form"' not in page and 'id="hf-create-toggle"' not in page
    assert text_of(page, "hf-deployments-why") == (
        "The platform's license allows 1 deployment at a time and 1 runs. Stop or delete one to create another, "
        "or ask an administrator to upgrade the license.")
    limits = (await ann.api("GET", "/portal/groups/hfdl-lab/deployments")).json()["limits"]
    assert (limits["may_create"], limits["refusal"], limits["running"]) == (False, DEPLOYMENTS_TEXT, 1)
    r = await create(ann, "hfdl-lab", "hfdl-second")
    assert r.status_code == 403 and r.json()["message"] == DEPLOYMENTS_TEXT

    # the license's place is the platform's: another group is told so too, naming where it is taken
    await make_user(app, "hfdl-bo", groups=["hfdl-other"], policies={"hfdl-other": {"deployments_enabled": True}})
    bo = await login(app, "hfdl-bo")
    page = (await bo.get("hub/portal/deployments")).text
    assert "1 runs, 1 of them in other groups" in text_of(page, "hf-deployments-why")
    assert (await create(bo, "hfdl-other", "hfdl-theirs")).status_code == 403

    # stopped, it frees the place: the form offers Create again, and its own Start is offered
    assert (await ann.api("POST", "/portal/deployments/hfdl-first/stop", data="{}")).status_code == 202
    page = (await ann.get("hub/portal/deployments")).text
    assert 'id="hf-deployment-form"' in page
    page = (await ann.get("hub/portal/deployments/hfdl-first")).text
    assert 'id="hf-dep-start-why"' not in page and re.search(r'id="hf-dep-start"(?![^>]*disabled)', page)

    # another takes the place meanwhile: Start is not offered, and the page says why (the API agrees)
    assert (await create(bo, "hfdl-other", "hfdl-theirs")).status_code == 201
    page = (await ann.get("hub/portal/deployments/hfdl-first")).text
    assert re.search(r'id="hf-dep-start"[^>]*disabled', page)
    assert "Stop or delete one to start this one" in text_of(page, "hf-dep-start-why")
    r = await ann.api("POST", "/portal/deployments/hfdl-first/start", data="{}")
    assert r.status_code == 403 and r.json()["message"] == DEPLOYMENTS_TEXT
    for session, dep_id in ((ann, "hfdl-first"), (bo, "hfdl-theirs")):
        assert (await session.api("DELETE", f"/portal/deployments/{dep_id}")).status_code == 204


async def test_the_groups_maximum_when_it_is_the_smaller(app):
    await make_user(app, "hfdl-cy", groups=["hfdl-one"],
                    policies={"hfdl-one": {"deployments_enabled": True, "deployments_max": 0}})
    cy = await login(app, "hfdl-cy")
    page = (await cy.get("hub/portal/deployments")).text
    assert text_of(page, "hf-deployments-why") == ("This group runs 0 of at most 0 deployments (the group's policy). "
                                                  "Stop or delete one to create another.")
    assert text_of(page, "hf-deployments-most") == \
        "This group may run at most 0 deployments at a time: the group's policy allows 0."
    r = await create(cy, "hfdl-one", "hfdl-none")
    assert r.status_code == 403 and "maximum of 0 deployments (deployments_max)" in r.json()["message"]
