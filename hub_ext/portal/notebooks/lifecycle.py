"""The notebooks' lifecycle on the hub's pages (issue 25): what the runner's culler saw of each of a user's
servers, the warning before one is stopped (a banner on every page, the Notebooks page, the home's
running card) and Keep running. The decisions are :mod:`hub_ext.lifecycle`'s; this only reads and words them."""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import datetime

from hub_ext.groups import group_policy
from hub_ext.lifecycle import records
from hub_ext.lifecycle.decide import MAX_AGE, keep_refusal, warning_text
from hub_ext.lifecycle.rules import IdleRules, rules_for
from hub_ext.lifecycle.settings import lifecycle_settings
from hub_ext.quantities import format_duration
from hub_ext.times import iso, utc, utcnow

from ..nav import Banner


@dataclass
class IdleView:
    server: str
    group: str
    warning: str  # "Stops in 9 min: idle since 14:02 UTC" inside the warning window, else ""
    cull_at: str | None  # ISO time it will be stopped (None: never)
    reason: str  # idle, max_age or ""
    stops: str  # "Stops at 15:02 UTC if still idle" / "Not stopped for being idle"
    last_activity: str
    cpu: str  # "0.01 cores" over the culler's last look, or "not measured"
    gpu: str
    can_keep: bool
    keep_refusal: str
    extensions: int
    max_extensions: int

    def as_json(self) -> dict:
        return dict(self.__dict__)


def _clock(value: datetime | None) -> str:
    return utc(value).strftime("%H:%M UTC") if value else "—"


def _rules(catalog, policies: dict, row, settings=None) -> IdleRules:
    policy = policies.get(row.group)
    it = catalog.instance_type(row.instance_type) if row.instance_type else None
    if it is None and policy is not None:
        it = policy.default_instance(catalog)
    return rules_for(settings or lifecycle_settings(), policy, it)


def idle_views(db_url: str, orm_user, catalog, now: datetime | None = None) -> dict[str, IdleView]:
    """Each running server of ``orm_user`` the culler has seen, by server name (one query; none for a user
    without a server: the culler records running servers only, and a server's end forgets it)."""
    spawners = getattr(orm_user, "_orm_spawners", None)  # JupyterHub's, in memory
    if spawners is not None and not any(s.server_id is not None for s in spawners):
        return {}
    rows = records.rows_of(db_url, orm_user.name)
    if not rows:
        return {}
    now = now or utcnow()
    policies = {g.name: group_policy(g) for g in orm_user.groups}
    settings = lifecycle_settings()  # the platform's defaults, read once per page
    views = {}
    for (_, server), row in rows.items():
        rules = _rules(catalog, policies, row, settings)
        decision = records.decision_of(row, rules)
        refusal = keep_refusal(rules, decision, row.extensions)
        if decision.cull_at is None:
            stops = "Not stopped for being idle"
        elif decision.reason == MAX_AGE:
            stops = f"Stops at {_clock(decision.cull_at)} (maximum age {format_duration(rules.max_age)})"
        else:
            stops = f"Stops at {_clock(decision.cull_at)} if still idle ({format_duration(rules.idle_timeout)})"
        views[server] = IdleView(
            server=server, group=row.group,
            warning=warning_text(decision, now, rules) if decision.warning(now, rules) else "",
            cull_at=iso(decision.cull_at), reason=decision.reason, stops=stops,
            last_activity=_clock(row.last_activity),
            cpu=f"{row.cpu_cores:.2f} cores" if row.cpu_cores is not None else "not measured",
            gpu=f"{row.gpu_percent:.0f} %" if row.gpu_percent is not None else "not measured",
            can_keep=not refusal, keep_refusal=refusal, extensions=row.extensions,
            max_extensions=rules.max_extensions,
        )
    return views


def keep_running(db_url: str, orm_user, server: str, catalog) -> IdleView:
    """Keep running: raise records.KeepRefused saying why not."""
    rows = records.rows_of(db_url, orm_user.name)
    row = rows.get((orm_user.name, server))
    if row is None:
        raise records.KeepRefused("This notebook is not running (or the culler has not looked at it yet).")
    policies = {g.name: group_policy(g) for g in orm_user.groups}
    records.keep(db_url, orm_user.name, server, _rules(catalog, policies, row))
    return idle_views(db_url, orm_user, catalog)[server]


def page_idle_views(handler) -> dict[str, IdleView]:
    """:func:`idle_views` of the caller, read once per page: the banner (built with the page's nav) read
    them already, the Notebooks page and the home's running card take the same."""
    nav = handler.nav()
    views = nav.idle_views
    if views is None:
        views = nav.idle_views = idle_views(handler.db_url, handler.current_user.orm_user, handler.catalog)
    return views


def lifecycle_banners(orm_user, nav, db_url) -> list[Banner]:
    """A banner on every page for each of the user's notebooks about to be stopped, with Keep running."""
    from hub_ext.settings import Hubfront

    banners = []
    nav.idle_views = idle_views(db_url, orm_user, Hubfront.instance().catalog)  # for the page (page_idle_views)
    for server, view in sorted(nav.idle_views.items()):
        if not view.warning:
            continue
        title = next((g["display_name"] for g in nav.groups if g["name"] == view.group), view.group)
        button = (f'<button type="button" class="btn btn-sm btn-warning hf-keep-running" '
                  f'data-server="{html.escape(server)}">Keep running</button>') if view.can_keep else ""
        banners.append(Banner(id=f"idle-{server}", text=f"Notebook in {title} — {view.warning}", level="warning",
                              html=button,  # home's running card says it for the group in focus
                              home_panel="quicklaunch" if view.group == nav.group else ""))
    return banners
