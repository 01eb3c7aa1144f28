"""Base classes for portal pages and APIs: thin HTTP glue over the logic modules.

The one error path: a handler raises, it never answers an error itself. ``Refused`` (a
status and one message per field), a ``BodyError`` from a logic module (400 with its
fields) and tornado's ``HTTPError`` are all rendered here, as JSON ``{status, message,
errors}`` by the API base and as the hub's error page by the page base.
"""

from __future__ import annotations

import inspect
import json
import secrets
from typing import Awaitable, Callable, NoReturn

from jupyterhub.apihandlers.base import APIHandler
from jupyterhub.handlers.base import BaseHandler
from markupsafe import Markup
from tornado import web

from ... import scopes  # noqa: F401  (defines the custom scopes before any needs_scope)
from ...groups import find_group, group_policy, is_group_admin
from ...ledger import Ledger
from ...store import changes
from . import ids
from .fragments import XSRF, FragmentCache, Identity, with_xsrf
from ...bodies import BodyError, parse_body
from ...field_messages import summary
from ..nav import build_nav


KEPT_PAGES = FragmentCache()
_MAIN = f"hf-main-{secrets.token_hex(8)}"  # marks a page's main block while it is built: never in a page


def _not_json(constant: str):
    raise ValueError(f"{constant} is not JSON")


class Refused(web.HTTPError):
    """An answer with field errors (``{status, message, errors}``), and headers to send with it."""

    def __init__(self, status: int, errors: dict[str, str], headers: dict[str, str] | None = None):
        self.errors, self.headers = errors, headers or {}
        super().__init__(status, summary(errors))


def _refusal(exc) -> Refused | None:
    """The refusal an exception that reached the handler's top stands for (None: not a refusal)."""
    if isinstance(exc, Refused):
        return exc
    if isinstance(exc, BodyError):
        return Refused(400, exc.errors)
    return None


class _PortalMixin:
    def initialize(self, hubfront):
        self.hubfront = hubfront

    @property
    def db_url(self) -> str:
        return self.hubfront.db_url

    @property
    def catalog(self):
        return self.hubfront.catalog

    def nav(self):
        if not hasattr(self, "_nav"):
            self._nav = build_nav(self.current_user.orm_user, self.db_url)
        return self._nav

    def ledger_snapshot(self, group: str):
        """The group's quota use, read once per request however many panels need it."""
        cache = self.__dict__.setdefault("_snapshots", {})
        if group not in cache:
            with changes.recording() as read:
                cache[group] = (Ledger(self.db_url).snapshot(group), read)
        snapshot, read = cache[group]
        changes.note_reads(read)  # a page part built from it depends on what it read (.fragments)
        return snapshot

    def page_key(self) -> tuple:
        """What a kept page part is built from besides the database (``.fragments``): the caller, their groups
        and each group's policy (JupyterHub's own tables), the group in focus, the menu, their servers, their
        time zone, the catalog."""
        found = self.__dict__.get("_hf_page_key")
        if found is not None:
            return found
        from ..preferences.prefs import user_zone

        nav, user = self.nav(), self.current_user
        groups = tuple((g.name, Identity(group_policy(g))) for g in user.orm_user.groups)
        servers = tuple(sorted((name, bool(sp.ready), str(sp.pending)) for name, sp in user.spawners.items()))
        key = self._hf_page_key = (
            user.name, nav.group, nav.is_admin, nav.is_group_admin, groups, servers,
            tuple(entry.path for entry in nav.menu), str(user_zone(self.db_url, user.name)), Identity(self.catalog))
        return key

    def current_group(self):
        """The group in focus, if the caller may see it; 404 when they have none."""
        nav = self.nav()
        if not nav.group:
            raise web.HTTPError(404, "No group available")
        return self.visible_group(nav.group)

    def visible_group(self, group_name: str):
        """The group if the caller may see it (member or hub admin), else 404."""
        user = self.current_user.orm_user
        group = next((g for g in user.groups if g.name == group_name), None)
        if group is not None:
            return group
        group = find_group(self.db, group_name) if user.admin else None
        if group is None:
            raise web.HTTPError(404, f"No such group: {group_name}")
        return group

    def parse_id(self, value, field: str, column, status: int = 400, optional: bool = False,
                 low: int = 1) -> int | None:
        """An id from a path (pass 404), a form or a query (:mod:`.ids`); refused naming ``field``."""
        try:
            return (ids.optional_id if optional else ids.parse_id)(value, field, column, low)
        except ids.BadId as exc:
            raise web.HTTPError(status, str(exc)) from None

    def require_group_admin(self, group):
        if not is_group_admin(self.current_user.orm_user, group):
            raise web.HTTPError(403, f"Only admins of group {group.name} may do this")

    def log_exception(self, typ, value, tb):
        if isinstance(value, BodyError):  # a refusal, not a fault: logged as the 400 it is answered with
            self.log.warning("400 %s %s: %s", self.request.method, self.request.uri, value)
            return
        super().log_exception(typ, value, tb)


class PortalHandler(_PortalMixin, BaseHandler):
    """A portal page, rendered inside templates/page.html; errors are the hub's error page."""

    def write_error(self, status_code, **kwargs):
        refusal = _refusal(kwargs.get("exc_info", (None, None, None))[1])
        if refusal is not None and refusal is not kwargs["exc_info"][1]:
            kwargs["exc_info"] = (type(refusal), refusal, None)
            self.set_status(refusal.status_code)
            status_code = refusal.status_code
        return super().write_error(status_code, **kwargs)

    async def render_portal(self, template: str, **ns) -> None:
        # the hub's sync Jinja environment (same loader and options): nothing a portal page renders is
        # awaited, and the async one pays a coroutine per block, include and macro call
        html = self.render_template(template, sync=True, hubfront=self.nav(), **ns)
        self.finish(html)

    async def render_kept(self, template: str, data: Callable[[], dict | Awaitable[dict]], key=(),
                          on_kept: Callable[[str], None] | None = None, **ns) -> None:
        """``template`` with its ``main`` block kept between requests while nothing it was built from changed
        (``.fragments``): ``data()`` (maybe async) reads what the block shows and is called only to build it;
        the block depends on :meth:`page_key` and ``key`` besides; ``ns`` is what the rest of the page needs;
        ``on_kept(block)`` is called before the page around a kept block is rendered.
        (``portal/kept.html`` renders the page with the kept block, or marks the block while it is built.)"""
        built = []

        async def build() -> str:
            found = data()
            found = await found if inspect.isawaitable(found) else found
            page = self.render_template("portal/kept.html", sync=True, page=template, kept_main=None, marker=_MAIN,
                                        hubfront=self.nav(), xsrf_token=XSRF, **ns, **found)
            built.append(page.replace(_MAIN, ""))
            return page.split(_MAIN)[1]

        main = await KEPT_PAGES.get(self.db_url, (template, self.page_key(), key), build)
        if not built and on_kept is not None:
            on_kept(main)
        page = built[0] if built else self.render_template(
            "portal/kept.html", sync=True, page=template, kept_main=Markup(main), hubfront=self.nav(), **ns)
        self.finish(with_xsrf(page, self))


class PortalAPIHandler(_PortalMixin, APIHandler):
    """A portal REST endpoint under /hub/api/portal/."""

    def json_body(self) -> dict:
        """The JSON object in the body, or 400 naming the problem."""
        try:
            data = json.loads(self.request.body or b"{}", parse_constant=_not_json)
        except ValueError as exc:
            raise web.HTTPError(400, f"body: invalid JSON ({exc})") from None
        if not isinstance(data, dict):
            raise web.HTTPError(400, "body: expected a JSON object")
        return data

    def body(self, model):
        """The JSON body validated by the pydantic ``model`` (:mod:`hub_ext.bodies`); refused with 400
        naming each bad field (unknown ones included)."""
        try:
            return parse_body(model, self.json_body())
        except BodyError as exc:
            raise Refused(400, exc.errors) from None

    def field_error(self, errors: dict[str, str], status: int = 400) -> NoReturn:
        """Refuse with one message per field at fault (raises :class:`Refused`)."""
        raise Refused(status, errors)

    def write_error(self, status_code, **kwargs):
        refusal = _refusal(kwargs.get("exc_info", (None, None, None))[1])
        if refusal is None:
            return super().write_error(status_code, **kwargs)
        self.set_status(refusal.status_code)
        for name, value in refusal.headers.items():
            self.set_header(name, value)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"status": refusal.status_code, "message": refusal.log_message,
                                "errors": refusal.errors}, allow_nan=False))

    def write_json(self, data) -> None:
        """Strict JSON only: NaN or Infinity (not JSON) is a bug to fix where it came from."""
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(data, default=str, allow_nan=False))
