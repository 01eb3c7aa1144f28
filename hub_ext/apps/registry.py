"""An MLflow app as its group's Models registry ("bind as registry").

Binding stores the app's public address (its own origin, ``c.Apps.origin``, e.g.
``http://mlflow--lab.apps.localhost:8002``) as the group policy's ``mlflow_tracking_uri``:
members see it on the Settings page, notebooks get it as ``MLFLOW_TRACKING_URI`` with their
own hub token as ``MLFLOW_TRACKING_TOKEN`` (the forwarder accepts ``Authorization: Bearer
<hub token>`` and never passes it on), and the Settings page can unbind or point elsewhere as
for any tracking server. An address bound before apps had their own origins
(``<hub>/apps/<group>/<app>``) is no app's any more: bind the app again.

The hub's own reads (the Models page) and the deployments' replicas do not go through
the forwarder: :func:`reachable_uri` turns the public address of a running app of the
same group into the address the runner reaches it at (``App.endpoint`` plus the prefix
it serves under), so nothing needs a token or the public name of the hub.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from sqlalchemy import select

from ..store.engine import read_scope
from ..store.models_apps import App
from . import restarts
from .origin import app_origin, apps_in


def tracking_uri_of(policy, default: str = "") -> str:
    """The MLflow tracking (and registry) URI of a group: its policy's, else the platform's ``default``."""
    return (policy.mlflow_tracking_uri or default or "").strip()


def _origin_template(origin: str | None) -> str:
    """``origin``, else ``c.Apps.origin`` of this process (in the hub, from the hub's own config even when
    nothing made the Apps settings yet; the runner makes them from its config at start)."""
    if origin is not None:
        return origin
    from .templates import Apps

    if not Apps.initialized():
        from jupyterhub.app import JupyterHub

        if JupyterHub.initialized():
            return Apps.instance(config=JupyterHub.instance().config).origin
    return Apps.instance().origin


def app_of(uri: str, group: str, origin: str | None = None) -> tuple[str, str] | None:
    """``(app name, "")`` when ``uri`` is the public address of an app of ``group``: the app's own origin
    (``origin``: ``c.Apps.origin``) exactly."""
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 - a malformed port raises here
    except ValueError:
        return None
    if parts.scheme not in ("http", "https"):
        return None
    if parts.path.strip("/") or parts.query or parts.username:
        return None
    template, given = _origin_template(origin), f"{parts.scheme}://{parts.netloc.lower()}"
    try:
        names = apps_in(template, given)
    except ValueError:  # a malformed c.Apps.origin: no address is an app's
        return None
    return next(((name, "") for name in names if app_origin(template, group, name) == given), None)


def canonical_uri(uri: str, group: str, origin: str | None = None) -> str:
    """For an address of an app of ``group``: its origin as :func:`app_of` makes it (no trailing slash)."""
    found = app_of(uri, group, origin)
    return app_origin(_origin_template(origin), group, found[0]) if found else uri


def reachable_uri(db_url: str, group: str, uri: str) -> str:
    """``uri``, or for a bound app of ``group`` that runs, its endpoint plus prefix (the hub reads there)."""
    found = app_of(uri, group) if uri else None
    if found is None:
        return uri
    name, prefix = found
    with read_scope(db_url) as s:
        endpoint = s.scalar(select(App.endpoint).where(App.group == group, App.name == name,
                                                       App.delete_requested.is_(False)))
    return f"{endpoint.rstrip('/')}{prefix}" if endpoint else uri


def not_answering(db_url: str, group: str, uri: str) -> str:
    """Why the app of ``group`` at ``uri`` cannot answer now, for the Models page ("The group's MLflow app is
    not answering (restarting after running out of memory). …"); "" when ``uri`` is no app of the group or
    the runner reaches it (it runs, or its previous settings serve while new ones start)."""
    found = app_of(uri, group) if uri else None
    if found is None:
        return ""
    with read_scope(db_url) as s:
        app = s.scalars(select(App).where(App.group == group, App.name == found[0],
                                          App.delete_requested.is_(False))).first()
    if app is None:
        return (f"The group's registry is the address of an app named {found[0]!r}, which is not installed: "
                "a group admin binds another on the Apps page")
    if app.endpoint:
        return ""
    why = restarts.not_answering(app.phase, app.reason, app.restarts, app.restart_reason)
    return f"The group's MLflow app is not answering ({why}). It is the app {app.name!r} on the Apps page."


def bound_app(policy, group: str) -> str | None:
    """The name of the app of ``group`` its policy names as registry, if any."""
    found = app_of(policy.mlflow_tracking_uri or "", group)
    return found[0] if found else None


def mlflow_env(policy, group: str, api_token: str) -> dict[str, str]:
    """The group's MLflow tracking server for its notebooks (a group policy's URI holds no secrets); for
    an MLflow app of the group bound as its registry, its address at the app's own origin
    (``c.Apps.origin``) and the server's own hub token, which the apps' forwarder takes as ``Authorization:
    Bearer`` and never passes on (so ``mlflow.register_model`` works as the member). The token goes to
    no other address: the origin is the operator's, the URI the group admin's."""
    uri = (policy.mlflow_tracking_uri or "").strip()
    if not uri:
        return {}
    if app_of(uri, group) is None:
        return {"MLFLOW_TRACKING_URI": uri}
    env = {"MLFLOW_TRACKING_URI": canonical_uri(uri, group)}
    if api_token:
        env["MLFLOW_TRACKING_TOKEN"] = api_token
    return env
