"""The hub's own pages and APIs (JupyterHub's and every portal route) say that no other origin may frame them,
so that a member's page elsewhere cannot overlay them (issue 20). JupyterHub 6.1 sends
``frame-ancestors 'none'`` by default, stricter than ``'self'``; the portal's handlers must keep it."""

from __future__ import annotations

import re

from conftest_helpers import login, make_user  # noqa: F401


def _framing_forbidden(policy: str) -> bool:
    directives = {d.strip().split(" ", 1)[0]: d.strip() for d in policy.split(";") if d.strip()}
    return directives.get("frame-ancestors") in ("frame-ancestors 'none'", "frame-ancestors 'self'")


def _portal_paths(app) -> list[str]:
    """Every portal route of the hub that takes no path parameter (``/hub/...``)."""
    paths = []
    for rule in app.tornado_application.wildcard_router.rules:
        target = rule.target
        pattern = getattr(rule.matcher, "regex", None)
        if pattern is None or not getattr(target, "__module__", "").startswith("hub_ext"):
            continue
        path = pattern.pattern.rstrip("$")
        if re.search(r"[()\[\]*+?\\]", path.replace(".*", "")) or path.endswith(".*"):
            continue
        paths.append(path)
    return sorted(set(paths))


async def test_every_portal_page_and_api_forbids_framing_by_other_origins(app):
    await make_user(app, "csp-admin", groups=["csp-lab"], admin=True)
    s = await login(app, "csp-admin")
    paths = [p[p.index("/hub/"):] for p in _portal_paths(app) if "/hub/" in p]  # MockHub's base URL is odd
    assert len(paths) > 20 and "/hub/home" in paths and any(p.startswith("/hub/api/portal") for p in paths), paths
    for path in paths:
        r = await s.get(path.lstrip("/"), allow_redirects=False)
        assert r.status_code < 500, (path, r.status_code)
        assert _framing_forbidden(r.headers.get("Content-Security-Policy", "")), (path, r.headers)
    for path in ["hub/portal/nothing-here", "hub/api/portal/nothing-here", "hub/login"]:  # refusals too
        r = await s.get(path, allow_redirects=False)
        assert _framing_forbidden(r.headers.get("Content-Security-Policy", "")), (path, r.headers)
