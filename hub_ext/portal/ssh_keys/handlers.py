"""The SSH keys page (form POSTs) and GET/POST ``/hub/api/portal/me/ssh-keys``, DELETE ``…/{key}``.

Thin: the keys are ``hub_ext.ssh.keys``; the gateway's host keys and settings ``hub_ext.ssh``. Each change
is an activity of the user's.
"""

from __future__ import annotations

import asyncio

from jupyterhub.scopes import needs_scope
from tornado import web

from ... import activity
from ...bodies import BodyError, parse_body
from ...scopes import READ, WRITE
from ...ssh import keys
from ...ssh.hostkeys import fingerprints
from ...store.models_ssh import SSHKey
from ..common.base import PortalAPIHandler, PortalHandler, Refused
from ..common.ssh import connect_lines, gateway_address
from ..preferences.prefs import format_time, user_zone


def _record(handler, action: str, message: str) -> None:
    activity.record(handler.db_url, username=handler.current_user.name, group=None, kind="ssh", action=action,
                    message=message, link=f"{handler.hub.base_url}portal/ssh-keys")


def add(handler, body: keys.SSHKeyAdd) -> keys.KeyView:
    view = keys.add_key(handler.db_url, handler.current_user.name, body)
    _record(handler, "key-added", f"SSH key {view.name} added ({view.fingerprint})")
    return view


def remove(handler, key_id: int) -> keys.KeyView:
    view = keys.remove_key(handler.db_url, handler.current_user.name, key_id)
    if view is None:
        raise web.HTTPError(404, "No such SSH key")
    _record(handler, "key-removed", f"SSH key {view.name} removed ({view.fingerprint})")
    return view


class _Gateway:
    def gateway(self) -> dict:
        """What the page shows of the gateway: whether it runs, where to reach it, its host keys."""
        return {**gateway_address(self).as_json(),
                "host_keys": [k.as_json() for k in fingerprints(self.hubfront.data_dir)]}


class SSHKeysPage(_Gateway, PortalHandler):
    async def _render(self, errors: dict | None = None, form: dict | None = None, added: str = "",
                      removed: str = ""):
        if errors:
            self.set_status(400)
        name = self.current_user.name
        zone = user_zone(self.db_url, name)
        rows = [{**k.as_json(), "added_text": format_time(k.added, zone),
                 "last_used_text": format_time(k.last_used, zone) if k.last_used else "never"}
                for k in keys.list_keys(self.db_url, name)]
        lines = connect_lines(name, self.nav().group, gateway_address(self))  # as the home's Desktop & SSH panel
        await self.render_portal("portal/ssh_keys.html", keys=rows, gateway=self.gateway(), lines=lines,
                                 errors=errors or {}, form=form or {}, added=added, removed=removed)

    @web.authenticated
    async def get(self):
        await self._render(removed=self.get_argument("removed", "")[:20])

    @web.authenticated
    async def post(self):
        form = {"name": self.get_body_argument("name", ""), "public_key": self.get_body_argument("public_key", "")}
        try:
            view = await asyncio.to_thread(add, self, parse_body(keys.SSHKeyAdd, form))
        except BodyError as exc:
            return await self._render(exc.errors, form)
        await self._render(added=view.name)


class SSHKeyRemovePage(PortalHandler):
    @web.authenticated
    async def post(self, key: str):
        key_id = self.parse_id(key, "key", SSHKey.id, 404)
        view = await asyncio.to_thread(remove, self, key_id)
        self.redirect(f"{self.hub.base_url}portal/ssh-keys?removed={view.id}")


class SSHKeysAPIHandler(_Gateway, PortalAPIHandler):
    @needs_scope(READ)
    def get(self):
        self.write_json({"keys": [k.as_json() for k in keys.list_keys(self.db_url, self.current_user.name)],
                         "gateway": self.gateway()})

    @needs_scope(WRITE)
    def post(self):
        body = self.body(keys.SSHKeyAdd)
        try:
            view = add(self, body)
        except BodyError as exc:
            raise Refused(400, exc.errors) from None
        self.set_status(201)
        self.write_json(view.as_json())


class SSHKeyAPIHandler(PortalAPIHandler):
    @needs_scope(WRITE)
    def delete(self, key: str):
        key_id = self.parse_id(key, "key", SSHKey.id, 404)
        remove(self, key_id)
        self.set_status(204)
        self.finish()


handlers = [
    (r"/portal/ssh-keys", SSHKeysPage),
    (r"/portal/ssh-keys/([^/]+)/remove", SSHKeyRemovePage),
    (r"/api/portal/me/ssh-keys", SSHKeysAPIHandler),
    (r"/api/portal/me/ssh-keys/([^/]+)", SSHKeyAPIHandler),
]
