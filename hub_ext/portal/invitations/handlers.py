"""Invite Users: the home panel, creating and revoking links, and the link's page.

The link's page (/hub/invite/<token>) is open to people without an account:
it is a plain BaseHandler page (no @web.authenticated). Its sign-up form still
posts with the XSRF token, which JupyterHub checks for every POST.
"""

from __future__ import annotations

import asyncio

from tornado import web

from jupyterhub import orm

from ... import context
from ...groups import group_policy
from ...store.models_accounts import Invitation
from ..common.base import PortalHandler
from ..home.panels import HomePanel, register_panel
from ..users_admin import users
from . import invites


def group_title(db, name: str) -> str:
    """A group as people read it: its display name (its name when it has none or is gone)."""
    group = orm.Group.find(db, name)
    return (group_policy(group).display_name or name) if group is not None else name


def _membership_managed_elsewhere(authenticator) -> bool:
    """In OAuth mode the identity provider decides group membership."""
    return bool(getattr(authenticator, "manage_groups", False))


async def _panel(handler) -> dict | None:
    nav = handler.nav()
    if not nav.group or not nav.is_group_admin or _membership_managed_elsewhere(handler.authenticator):
        return None
    active = [i for i in invites.for_group(handler.db_url, nav.group) if i["state"] == "valid"]
    return {"group": nav.group, "invitations": active, "default_days": invites.DEFAULT_DAYS}


register_panel(HomePanel("invitations", "portal/invitation_panel.html", 40, _panel))


class InvitationsPage(PortalHandler):
    """POST /hub/portal/invitations: create a link for a group (its admins and hub admins)."""

    @web.authenticated
    async def post(self):
        group = self.visible_group(self.get_body_argument("group", ""))
        self.require_group_admin(group)
        if _membership_managed_elsewhere(self.authenticator):
            raise web.HTTPError(403, "Group membership is managed by the identity provider")
        values, errors = invites.parse_request(self.get_body_argument("expires_days", ""),
                                               self.get_body_argument("max_uses", ""))
        if errors:
            self.set_status(400)
            return await self.render_portal("portal/invitation_created.html", errors=errors, link=None,
                                            invitation=None, group=group.name,
                                            group_title=group_title(self.db, group.name))
        invitation, token = invites.create(self.db_url, group.name, self.current_user.name,
                                           values["days"], values["max_uses"])
        link = f"{self.request.protocol}://{self.request.host}{self.hub.base_url}invite/{token}"
        self.set_header("Cache-Control", "no-store")
        await self.render_portal("portal/invitation_created.html", errors={}, link=link,
                                 invitation=invitation, group=group.name, group_title=group_title(self.db, group.name))


class RevokeInvitation(PortalHandler):
    """POST /hub/portal/invitations/<id>/revoke."""

    @web.authenticated
    def post(self, invitation_id):
        invitation = invites.get(self.db_url, self.parse_id(invitation_id, "id", Invitation.id, status=404))
        if invitation is None:
            raise web.HTTPError(404, "No such invitation")
        self.require_group_admin(self.visible_group(invitation["group"]))
        invites.revoke(self.db_url, invitation["id"])
        self.redirect(self.hub.base_url + "home")


class InvitationLink(PortalHandler):
    """GET/POST /hub/invite/<token>: sign up (new person) or join (logged-in user)."""

    async def _page(self, status=200, **ns):
        self.set_status(status)
        self.set_header("Cache-Control", "no-store")
        nav = self.nav() if self.current_user else None
        ns.setdefault("errors", {})
        ns.setdefault("form", {})
        if ns.get("invitation"):
            ns["group_title"] = group_title(self.db, ns["invitation"]["group"])
        html = await self.render_template("portal/invitation.html", hubfront=nav,
                                          local=bool(getattr(self.authenticator, "local_accounts", False)),
                                          managed=_membership_managed_elsewhere(self.authenticator), **ns)
        self.finish(html)

    async def _valid(self, token):
        try:
            return invites.lookup(self.db_url, token)
        except invites.InvitationUnusable as exc:
            await self._page(status=404 if exc.state == "unknown" else 410, unusable=str(exc))
            return None

    async def get(self, token):
        invitation = await self._valid(token)
        if invitation:
            await self._page(invitation=invitation, token=token)

    async def post(self, token):
        invitation = await self._valid(token)
        if not invitation:
            return
        if _membership_managed_elsewhere(self.authenticator):
            raise web.HTTPError(403, "Group membership is managed by the identity provider")
        user = self.current_user
        if user is not None:
            return await self._join(user, invitation, token, created=False)
        if not getattr(self.authenticator, "local_accounts", False):
            raise web.HTTPError(403, "Sign in with your identity provider first")
        name = self.get_body_argument("username", "").strip()
        password = self.get_body_argument("password", "")
        form = {"username": name}
        errors = users.new_account_errors(self.db, self.db_url, name, password)
        if not errors and password != self.get_body_argument("confirm_password", ""):
            errors["confirm_password"] = "does not match the password"
        if errors:
            return await self._page(status=400, invitation=invitation, token=token, errors=errors, form=form)
        try:  # spend the use first: a link that cannot be used creates nothing
            invites.consume(self.db_url, token, name, created_account=True)
        except invites.InvitationUnusable as exc:
            return await self._page(status=410, unusable=str(exc))
        await asyncio.to_thread(users.create_account, self.db_url, name, password, False)
        user = self.user_from_username(name)
        self.set_login_cookie(user)  # signed in as the new account
        await self._join(user, invitation, token, created=True, consumed=True)

    async def _join(self, user, invitation, token, created: bool, consumed: bool = False):
        group = invitation["group"]
        if not consumed and not any(g.name == group for g in user.orm_user.groups):
            try:
                invites.consume(self.db_url, token, user.name, created_account=False)
            except invites.InvitationUnusable as exc:
                return await self._page(status=410, unusable=str(exc))
        try:
            users.join_group(self.db, user.orm_user, group)
        except LookupError:
            raise web.HTTPError(404, f"Group {group} no longer exists") from None
        names = [g.name for g in user.orm_user.groups]
        context.set_group(self.db_url, user.name, group, names)
        self.redirect(self.hub.base_url + "home")


handlers = [
    (r"/portal/invitations", InvitationsPage),
    (r"/portal/invitations/(\d+)/revoke", RevokeInvitation),
    (r"/invite/([A-Za-z0-9_-]{1,128})", InvitationLink),
]
