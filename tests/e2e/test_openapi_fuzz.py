"""schemathesis against the real hub: the portal API keeps the promises of its OpenAPI document.

The document is loaded from the live hub (``GET /hub/api/portal/openapi.json``)
and every operation in it gets generated requests, valid ones and invalid ones
(wrong types, unknown fields, out-of-range values), sent by a plain member of
a group and by a hub admin. No answer may be a 5xx, every status must be one
the document lists, with the media type it lists, and invalid data must be
refused. Examples are few and derandomized, so the run is short and the same
every time; jobs it submits really run (random text, by bash, as the member's
unprivileged account).
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode, checks

from hub_ext.portal.openapi import spec

from support import RealHub, need, proxy_command, stop_leftover_servers, user_token

pytestmark = pytest.mark.e2e

PASSWORD = "Fuzz-Passw0rd!x"
GROUP = "research"
EXAMPLES = 25  # per operation, valid and invalid requests together
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.negative_data_rejection,
]

# tus PATCH bodies are bytes like any octet-stream
schemathesis.serializer.alias("application/offset+octet-stream", "application/octet-stream")


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    need(proxy_command() is not None, "configurable-http-proxy is not installed (run `make test`)")
    hub = RealHub(tmp_path_factory.mktemp("openapi") / "data").start()
    try:
        hub.add_user("fz-member", PASSWORD, [GROUP])
        yield hub
    finally:
        hub.stop()
        stop_leftover_servers(hub.data_dir)  # the app the fuzzing may start outlives the runner by design


@pytest.fixture(scope="module")
def tokens(hub) -> dict[str, str]:
    admin = hub.admin()
    return {"member": user_token(hub.login("fz-member", PASSWORD), "fz-member", "fuzz"),
            "admin": user_token(admin, "admin", "fuzz")}


@pytest.fixture(scope="module")
def known(hub) -> dict[str, object]:
    """Path parameters that name things that exist, so requests get past the 404s: a job, a
    recurring job and an announcement (the fuzzing may delete them, as it may anything)."""
    member, admin = hub.login("fz-member", PASSWORD), hub.admin()
    job = member.api("POST", f"/portal/groups/{GROUP}/jobs",
                     json={"name": "fuzz", "command": "mkdir -p artifacts; echo 1 > artifacts/result.txt"})
    assert job.status_code == 201, job.text
    schedule = member.api("POST", f"/portal/groups/{GROUP}/schedules",
                          json={"name": "fuzz", "command": "true", "recurrence": "inactive"})
    assert schedule.status_code == 201, schedule.text
    note = admin.api("POST", "/portal/announcements", json={"title": "Fuzzing", "published": True})
    assert note.status_code == 201, note.text
    app = admin.api("POST", f"/portal/groups/{GROUP}/apps", json={"name": "fuzz", "template": "mlflow"})
    assert app.status_code == 201, app.text
    admin.api("POST", f"/portal/groups/{GROUP}/apps/fuzz/stop", json={})
    build = admin.api("POST", f"/portal/groups/{GROUP}/images/fuzzimg/builds",
                      json={"base": "base", "packages": {"pip": ["cowsay==6.1"]}})
    assert build.status_code == 201, build.text
    # not "user": a launch for a real user would start notebook servers, which is not this test's business
    return {"group": GROUP, "job": job.json()["id"], "schedule": schedule.json()["id"],
            "id": note.json()["id"], "name": "fz-member", "path": "result.txt", "app": "fuzz",
            "image": "fuzzimg", "number": build.json()["number"]}


@pytest.fixture(scope="module")
def portal_schema(hub, tokens):
    config = schemathesis.Config.from_dict({
        "base-url": hub.base_url + "/hub",
        "request-timeout": 30,
        "generation": {"max-examples": EXAMPLES, "deterministic": True, "mode": "all",
                       "database": "none",
                       # an unknown query argument is ignored, as HTTP APIs do; unknown body fields are refused
                       "allow-extra-parameters": False,
                       # the token is ours (the test's two users), not generated
                       "with-security-parameters": False},
        # the explicit examples and generated data; no stateful chains (they multiply requests)
        "phases": {"examples": {"enabled": True}, "fuzzing": {"enabled": True},
                   "coverage": {"enabled": False}, "stateful": {"enabled": False}},
    })
    return schemathesis.openapi.from_url(hub.base_url + "/hub/api/portal/openapi.json", config=config,
                                         headers={"Authorization": f"token {tokens['member']}"})


def _label(op) -> str:
    return f"{op.method.upper()} {op.path}"


@pytest.mark.parametrize("op", spec.OPERATIONS, ids=_label)
def test_the_portal_api_keeps_its_documented_promises(op, portal_schema, tokens, known):
    # the operation as the live hub documents it (a KeyError here: the hub serves another table)
    operation = portal_schema[op.path][op.method.upper()]
    real = {name: known[name] for name in spec.path_params(op.path) if name in known}
    cases = st.one_of(*(operation.as_strategy(mode, path_parameters=params)
                        for params in ([None, real] if real else [None])
                        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)))

    @given(case=cases)
    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def fuzz(case):
        if case.query and str(case.query.get("follow", "")).lower() in ("1", "true"):
            # following a log streams until the job (or build) ends: a random job may run for hours
            case.query = {**case.query, "follow": "0"}
        for who in ("member", "admin"):
            case.call_and_validate(headers={"Authorization": f"token {tokens[who]}"}, checks=CHECKS)

    fuzz()


def test_the_document_is_served_to_token_holders_only_and_the_docs_page_lists_it(hub, tokens):
    import requests

    url = hub.base_url + "/hub/api/portal/openapi.json"
    assert requests.get(url, timeout=10).status_code == 403
    doc = requests.get(url, headers={"Authorization": f"token {tokens['member']}"}, timeout=10).json()
    assert doc["openapi"] == "3.1.0" and doc["servers"] == [{"url": "/hub"}]
    page = hub.login("fz-member", PASSWORD).get(hub.base_url + "/hub/portal/docs/rest-api").text
    for item in doc["paths"].values():
        for op in item.values():
            assert f'id="op-{op["operationId"]}"' in page, op["operationId"]
