"""The OpenAPI document covers every portal API route, with the models the handlers really use."""

from __future__ import annotations

import inspect
import json
import re

import pytest
from tornado.web import RequestHandler

from hub_ext.portal import FEATURES, portal_handlers
from hub_ext.portal.openapi import spec
from hub_ext.portal.launch.handlers import LaunchAPIHandler

METHODS = ("get", "post", "put", "patch", "delete", "head", "options")
GROUP = re.compile(r"\((?:[^()]|\([^()]*\))*\)")


def api_routes() -> list[tuple[str, type]]:
    """Every route a portal feature registers under /api/ (the portal's and its launch override)."""
    return [(pattern, cls) for pattern, cls, _ in portal_handlers(None) if pattern.startswith("/api/")]


def shape_of_pattern(pattern: str) -> str:
    return GROUP.sub("{}", pattern).replace("\\", "")


def shape_of_path(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "{}", path)


def implemented(cls: type) -> set[str]:
    """The HTTP methods the handler class answers (tornado's default answers 405)."""
    from jupyterhub.apihandlers.base import APIHandler  # its OPTIONS (CORS) is JupyterHub's business

    return {m for m in METHODS if getattr(cls, m) not in (getattr(RequestHandler, m), getattr(APIHandler, m))}


def handler_for(op: spec.Operation) -> type:
    shape = shape_of_path(op.path)
    found = [cls for pattern, cls in api_routes() if shape_of_pattern(pattern) == shape]
    assert found, f"{op.method.upper()} {op.path}: no route serves it"
    return found[0]


def test_every_portal_api_route_and_method_is_documented():
    assert "openapi" in FEATURES
    documented = {(shape_of_path(op.path), op.method) for op in spec.OPERATIONS}
    missing = []
    for pattern, cls in api_routes():
        if not pattern.startswith("/api/portal/") and cls is not LaunchAPIHandler:
            continue
        # JupyterHub's own methods on the launch route (DELETE, GET) are its documentation's business
        methods = {"post"} if cls is LaunchAPIHandler else implemented(cls)
        missing += [f"{m.upper()} {pattern}" for m in sorted(methods) if (shape_of_pattern(pattern), m) not in documented]
    assert not missing, f"add these to hub_ext/portal/openapi/spec.py OPERATIONS: {missing}"


def test_every_documented_operation_is_served():
    for op in spec.OPERATIONS:
        cls = handler_for(op)
        assert op.method in implemented(cls), f"{op.method.upper()} {op.path}: {cls.__name__} has no {op.method}"


@pytest.mark.parametrize("op", [op for op in spec.OPERATIONS if op.body is not None],
                         ids=lambda op: f"{op.method.upper()} {op.path}")
def test_each_documented_body_model_is_the_one_the_handler_validates_with(op):
    cls = handler_for(op)
    name = op.body.__name__
    method_source = inspect.getsource(getattr(cls, op.method))
    module_source = inspect.getsource(inspect.getmodule(cls))
    if name == "GroupPolicy":  # the policy handlers validate through parse_policy/merge_policy
        assert "parse_policy" in module_source and "merge_policy" in module_source
        return
    if name == "LaunchOptions":  # spawner.plan.launch_options validates with LaunchOptions
        assert "launch_options(" in method_source
        return
    assert re.search(rf"\b{name}\b", method_source), f"{cls.__name__}.{op.method} does not use {name}"


def test_request_models_refuse_unknown_fields_and_their_schemas_say_so():
    doc = spec.build()
    for op in spec.OPERATIONS:
        if op.body is None:
            continue
        assert op.body.model_config.get("extra") == "forbid", op.body
        assert doc["components"]["schemas"][op.body.__name__]["additionalProperties"] is False


def test_the_document_is_openapi_3_1_with_token_auth_and_strict_json():
    doc = json.loads(json.dumps(spec.build("/prefix/hub"), allow_nan=False))
    assert doc["openapi"] == "3.1.0" and doc["servers"] == [{"url": "/prefix/hub"}]
    assert doc["components"]["securitySchemes"]["token"] == {
        "type": "apiKey", "in": "header", "name": "Authorization",
        "description": doc["components"]["securitySchemes"]["token"]["description"]}
    refs = re.findall(r'"\$ref": "#/components/schemas/([^"]+)"', json.dumps(doc))
    assert refs and set(refs) <= set(doc["components"]["schemas"])
    assert "$defs" not in json.dumps(doc)
    ids = [op["operationId"] for item in doc["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids)) == len(spec.OPERATIONS)
    for path, item in doc["paths"].items():
        for method, op in item.items():
            declared = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
            assert declared == set(spec.path_params(path)), (method, path)
            assert all(int(s) in range(200, 600) for s in op["responses"]), (method, path)


def test_a_field_a_model_does_not_declare_is_refused_by_name():
    from hub_ext.bodies import BodyError, parse_body
    from hub_ext.portal.announcements.board import AnnouncementUpdate

    with pytest.raises(BodyError) as exc:
        parse_body(AnnouncementUpdate, {"title": "x", "colour": "red", "published": "yes"})
    assert exc.value.errors == {"colour": "unknown field", "published": "Published: must be true or false"}


def test_the_docs_reference_lists_every_operation_with_its_body_fields():
    from hub_ext.portal.openapi import reference

    doc = spec.build()
    views = [op for section in reference.sections(doc) for op in section.operations]
    assert len(views) == len(spec.OPERATIONS)
    submit = next(v for v in views if v.id == "post_groups_group_jobs")
    assert submit.body == "JobSubmit" and submit.scopes == ["custom:hubfront:write"]
    assert [s for s, _, _ in submit.statuses] == ["201", "400", "403", "404"]
    fields = {f.name: f for name, _, fs in reference.body_models(doc) if name == "JobSubmit" for f in fs}
    assert fields["command"].required and fields["timeout"].type.startswith("number 1–")
    assert str(reference.prose("`a<b`")) == "<code>a&lt;b</code>"
