"""The License page and API (hub admins), and the license banners on every page."""

from __future__ import annotations

from jupyterhub.scopes import needs_scope
from tornado import web

from ... import license as lic
from ...scopes import READ, WRITE
from ..common.base import PortalAPIHandler, PortalHandler
from ..nav import Banner, register_banner
from ..preferences.prefs import format_time, user_zone


def report_json(report: lic.LicenseReport) -> dict:
    terms = report.state.terms
    return {
        "status": report.state.status, "valid": report.state.valid, "reason": report.state.reason,
        "type": report.type, "source": report.source, "terms": terms.as_json() if terms else None,
        "limits": {"nodes": report.max_nodes, "deployments": report.max_deployments},
        "usage": {"nodes": report.used_nodes, "deployments": report.used_deployments},
        "banners": [w.text for w in report.warnings],
    }


class _AdminOnly:
    def require_admin(self):
        if not self.current_user.admin:
            raise web.HTTPError(403, "Only administrators manage the license")


class LicensePageHandler(_AdminOnly, PortalHandler):
    async def _render(self, error: str = "", installed: bool = False):
        self.require_admin()
        zone = user_zone(self.db_url, self.current_user.name)
        await self.render_portal("portal/license.html", report=lic.evaluate(self.db_url), error=error,
                                 installed=installed, when=lambda dt: format_time(dt, zone),
                                 has_keys=bool(lic.settings().public_keys))

    @web.authenticated
    async def get(self):
        await self._render()

    @web.authenticated
    async def post(self):
        self.require_admin()
        try:
            lic.install(self.db_url, self.get_body_argument("license", ""), self.current_user.name)
        except lic.LicenseError as exc:
            self.set_status(400)
            return await self._render(error=str(exc))
        await self._render(installed=True)


class LicenseAPIHandler(_AdminOnly, PortalAPIHandler):
    """GET: the license, its limits and current usage. PUT {"license": token}: install."""

    @needs_scope(READ)
    def get(self):
        self.require_admin()
        self.write_json(report_json(lic.evaluate(self.db_url)))

    @needs_scope(WRITE)
    def put(self):
        self.require_admin()
        body = self.body(lic.LicenseInstall)
        token = body.license
        if not token.strip():
            self.field_error({"license": "required: the license token from your vendor"})
        try:
            lic.install(self.db_url, token, self.current_user.name)
        except lic.LicenseError as exc:
            self.field_error({"license": str(exc)})
        self.write_json(report_json(lic.evaluate(self.db_url)))


def license_banners(orm_user, nav, db_url) -> list[Banner]:
    return [Banner(id=w.id, text=w.text, level=w.level) for w in lic.evaluate(db_url).warnings]


register_banner(license_banners)

handlers = [
    (r"/portal/license", LicensePageHandler),
    (r"/api/portal/license", LicenseAPIHandler),
]
