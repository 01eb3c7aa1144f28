"""No 500 for user input: every portal route, walked with out-of-range ids and wrong types.

The routes are read from the handler list the authenticator's ``get_handlers()``
returns (what the hub routes), so a route added later is walked too. Each is
called as a hub admin and as a plain member, with GET/POST/PUT/PATCH/DELETE,
with path ids that no column can hold, query arguments of the wrong type, forms
whose every field is out of range, and JSON bodies that are not objects, carry
the wrong types or numbers that overflow to infinity. No answer may be a 5xx,
and every JSON answer must be strict JSON (no NaN, no Infinity).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
from urllib.parse import unquote, urlencode

from jupyterhub.tests.utils import async_requests, public_url
from tornado.web import RequestHandler

from conftest_helpers import login, make_user

HUGE = "9" * 30
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")

# candidates for each path group; a group gets those its own pattern accepts
PATH_SAMPLES = [HUGE, "99999999999999999999", "2147483648", "0", "walk-g", "no-such-name", "x" * 128,
                "user-guide", "%E2%80%AE", "1e999", "-1", "NaN", "tus.min.js"]
QUERIES = [
    {},
    {"before": "9" * 23, "limit": HUGE, "id": HUGE, "group": HUGE, "user": "walk-member", "all": "1", "errors": "1"},
    {"before": "abc", "limit": "1e999", "id": "-1", "group": "walk-g", "saved": "1", "required": "1",
     "next": "//evil.example"},
    {"before": "1_0", "limit": "0", "id": "١٢", "user": HUGE},
]
FORM_FIELDS = [
    "id", "title", "body", "severity", "audience", "groups", "starts", "expires", "published", "expires_days",
    "max_uses", "username", "password", "confirm_password", "current_password", "new_password", "code",
    "full_name", "email", "license", "default_group", "timezone", "next", "display_name", "admins",
    "quota.cpu", "quota.memory", "quota.gpu", "quota.sessions", "user_quota.cpu", "user_quota.memory",
    "job_default_timeout", "deployments_enabled", "deployments_max", "before", "limit", "admin", "temporary",
    "quota.storage", "expires", "path",
]
FORM_ACTIONS = ["create", "update", "publish", "unpublish", "delete", "bogus", ""]
BAD_VALUES = [HUGE, "1e999", "0001-01-01T00:00", "9999-12-31T23:59", "-1", "NaN"]
JSON_BODIES = [
    "{",
    "[]",
    "null",
    '{"title": NaN}',
    '{"id": 99999999999999999999999, "before": 1e999, "limit": -1e999, "group": 99999999999999999999,'
    ' "title": 123, "body": [], "severity": {}, "audience": 7, "starts": 5, "expires": true,'
    ' "published": "maybe", "license": 5, "timezone": [], "default_group": 1e999, "full_name": 5,'
    ' "email": 5, "password": 5, "current_password": [], "new_password": {}, "instance_type": 123}',
    '{"policy": {"quota": {"cpu": 1e999, "memory": -1e999, "gpu": 1e999, "sessions": "x"},'
    ' "user_quota": 5, "job_default_timeout": 1e999, "deployments_max": 99999999999999999999999}}',
    '{"quota": {"cpu": 1e999}, "display_name": 99999999999999999999, "admins": [1e999]}',
]


def _strict(constant):
    raise ValueError(f"{constant} in a JSON response")


def route_paths(pattern: str) -> list[str]:
    """Concrete paths for a route pattern: each group filled with the samples it accepts."""
    groups = [m.group(1) for m in re.finditer(r"\(([^()]*)\)", pattern)]
    choices = []
    for regex in groups:
        fits = [s for s in PATH_SAMPLES if re.fullmatch(regex, unquote(s))]
        assert fits, f"no path sample fits {regex!r} in {pattern!r}: add one to PATH_SAMPLES"
        choices.append(fits[:5])
    paths = []
    for combo in itertools.product(*choices):
        it = iter(combo)
        paths.append(re.sub(r"\(([^()]*)\)", lambda _m: next(it), pattern).replace("\\", "").rstrip("$"))
    return paths[:8]


def implemented(cls, method: str) -> bool:
    return getattr(cls, method.lower(), None) is not getattr(RequestHandler, method.lower())


def requests_for(path: str, method: str, xsrf: str, full: bool = True):
    """(method, path + query, kwargs) for the input variants of one path and method.

    ``full`` False (a method the handler does not implement): one request, which must be a clean 405.
    """
    if method == "GET":
        for q in QUERIES if full else QUERIES[1:2]:
            yield method, path + ("?" + urlencode(q) if q else ""), {}
        return
    for body in JSON_BODIES if full else JSON_BODIES[-1:]:
        yield method, path + "?" + urlencode(QUERIES[1]), {
            "data": body, "headers": {"X-XSRFToken": xsrf, "Content-Type": "application/json"}}
    if method != "POST" or not full:
        return
    for action, group in itertools.product(FORM_ACTIONS, ("walk-g", HUGE)):
        for bad in BAD_VALUES if group == "walk-g" and action in ("create", "update") else BAD_VALUES[:1]:
            form = dict.fromkeys(FORM_FIELDS, bad)
            form.update(action=action, group=group, _xsrf=xsrf)
            yield method, path, {"data": form}


async def walk(app, session, routes) -> dict[str, str]:
    """Every variant of every route; the bad answers, one example per route and method."""
    base = public_url(app) + "hub"
    failures: dict[str, str] = {}

    async def one(pattern, method, target, kw):
        r = await async_requests.request(method, base + target, cookies=session.cookies, allow_redirects=False,
                                         **kw)
        problem = None
        if r.status_code >= 500:
            problem = f"{r.status_code}: {r.text[:160]}"
        elif "json" in r.headers.get("Content-Type", "") and r.content:
            try:
                json.loads(r.text, parse_constant=_strict)
            except ValueError as exc:
                problem = f"not strict JSON ({exc}): {r.text[:160]}"
        if problem:
            failures.setdefault(f"{method} {pattern}", f"{method} {target[:120]} -> {problem}")

    calls = [
        (pattern, method, target, kw)
        for pattern, cls in routes
        for path in route_paths(pattern)
        for method in METHODS
        for method, target, kw in requests_for(path, method, session.xsrf, implemented(cls, method))
    ]
    for i in range(0, len(calls), 8):
        await asyncio.gather(*(one(*c) for c in calls[i:i + 8]))
    return failures


def registered_routes(app) -> list[tuple[str, type]]:
    """(pattern, handler class) of the authenticator's handlers, logout last (it ends the session)."""
    routes: dict[str, type] = {}
    for route in app.authenticator.get_handlers(app):
        routes.setdefault(route[0], route[1])  # the first of a pattern is the one routed
    assert "/api/portal/announcements/(\\d+)" in routes and "/portal/logs" in routes
    return sorted(routes.items(), key=lambda r: r[0].endswith("/logout"))


async def test_every_portal_route_answers_user_input_without_5xx(app):
    await make_user(app, "walk-admin", admin=True, groups=["walk-g"])
    await make_user(app, "walk-member", groups=["walk-g"])
    routes = registered_routes(app)
    assert len(routes) > 25  # the whole portal, not a sample
    failures = []
    for name in ("walk-member", "walk-admin"):
        session = await login(app, name)
        # something to find, so ids in range also reach the database
        r = await session.api("POST", "/portal/announcements", data=json.dumps({"title": "Walk", "published": True}))
        assert r.status_code in (201, 403)
        failures += [f"[{name}] {example}" for example in (await walk(app, session, routes)).values()]
    assert not failures, f"{len(failures)} routes and methods answered badly:\n" + "\n".join(failures)


async def test_the_reported_500s_answer_400_or_404_naming_the_field(app):
    await make_user(app, "walk-root", admin=True, groups=["walk-g"])
    s = await login(app, "walk-root")
    range_message = "id: must be a whole number from 1 to 2147483647"

    r = await s.api("PUT", "/portal/announcements/99999999999999999999", data=json.dumps({"title": "x"}))
    assert r.status_code == 404 and r.json()["message"] == range_message
    for method in ("GET", "DELETE"):
        assert (await s.api(method, "/portal/announcements/99999999999999999999")).status_code == 404
    assert (await s.api("POST", f"/portal/announcements/{HUGE}/dismiss")).status_code == 404

    r = await s.post("hub/portal/announcements", {"action": "delete", "id": HUGE})
    assert r.status_code == 400 and range_message in r.text
    for bad in ("abc", "", "-3", "1e3"):
        r = await s.post("hub/portal/announcements", {"action": "publish", "id": bad})
        assert r.status_code == 400 and range_message in r.text
    r = await s.post("hub/portal/announcements", {"action": "explode", "id": "1"})
    assert r.status_code == 400 and "action: one of create, update, publish, unpublish, delete" in r.text

    r = await s.post("hub/portal/invitations/999999999999999999999/revoke")
    assert r.status_code == 404 and range_message in r.text

    r = await s.get("hub/portal/logs?before=99999999999999999999999")
    assert r.status_code == 400 and "before: must be a whole number from 1 to 2147483647" in r.text
    r = await s.api("GET", "/portal/me/activities?before=99999999999999999999999&limit=1e999")
    assert r.status_code == 400 and set(r.json()["errors"]) == {"before", "limit"}

    # ids in range still work: the parser changed nothing for real ids
    created = await s.api("POST", "/portal/announcements", data=json.dumps({"title": "Real one"}))
    ident = created.json()["id"]
    r = await s.post("hub/portal/announcements", {"action": "delete", "id": str(ident)}, allow_redirects=False)
    assert r.status_code == 302
    assert (await s.api("GET", f"/portal/announcements/{ident}")).status_code == 404
    assert (await s.get("hub/portal/logs?before=2147483647")).status_code == 200
