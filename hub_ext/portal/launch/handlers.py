"""JupyterHub's spawn page and named-server API, with three rules on top.

- Launch options are checked (``spawner.plan.launch_options``) before JupyterHub
  stores them: unknown or malformed options are a 400 naming the field.
- A launch that is refused leaves no server row behind: a row this request
  created is removed when the server never started.
- Starting is a state change: ``GET /hub/spawn/...?group=...`` only pre-fills the
  launch form; servers start on a POST with the XSRF token.

The routes are the same as JupyterHub's, and portal routes are matched first.
"""

from __future__ import annotations

from jupyterhub.apihandlers.users import UserServerAPIHandler
from jupyterhub.handlers.pages import SpawnHandler
from tornado import web

from spawner.mixin import OPTION_KEYS
from spawner.plan import LaunchRefused, launch_options

from ..common.base import _PortalMixin

# query arguments JupyterHub itself reads on the spawn page
PAGE_ARGUMENTS = ("next", "display_name")


def forget_unstarted(db, user, server_name: str) -> bool:
    """Remove ``server_name``'s row when its server never started (a refused launch)."""
    orm_spawner = user.orm_user.orm_spawners.get(server_name)
    spawner = user.spawners.get(server_name)
    if orm_spawner is None or orm_spawner.server is not None or (spawner is not None and spawner.active):
        return False
    user.spawners.pop(server_name, None)
    db.delete(orm_spawner)
    db.commit()
    return True


class _Launch(_PortalMixin):
    async def launch_once(self, user, server_name: str, launch):
        """Run ``launch``; if it leaves a new row whose server never started, remove the row."""
        new = bool(server_name) and user is not None and server_name not in user.orm_user.orm_spawners
        try:
            return await launch
        finally:
            if new:
                forget_unstarted(self.db, user, server_name)


class LaunchAPIHandler(_Launch, UserServerAPIHandler):
    """POST /hub/api/users/{user}/servers/{name}."""

    async def post(self, user_name, server_name=""):
        try:
            launch_options(self.get_json_body())
        except LaunchRefused as exc:
            raise web.HTTPError(exc.status, exc.message) from None
        return await self.launch_once(self.find_user(user_name), server_name, super().post(user_name, server_name))


class SpawnPageHandler(_Launch, SpawnHandler):
    """GET/POST /hub/spawn[/{user}[/{name}]]."""

    def get(self, user_name=None, server_name=""):
        # remembered for the form (GroupPolicy.render_form), never used to start anything
        self.launch_prefill = {k: v[-1].decode(errors="replace") for k, v in self.request.query_arguments.items()
                               if k in OPTION_KEYS and v}
        self.request.query_arguments = {k: v for k, v in self.request.query_arguments.items() if k in PAGE_ARGUMENTS}
        return super().get(user_name, server_name)

    def post(self, user_name=None, server_name="", display_name=""):
        current = self.current_user
        user = self.find_user(user_name) if user_name else current
        launch = super().post(user_name, server_name, display_name)
        if launch is None or current is None:  # not logged in: tornado has redirected
            return launch
        return self.launch_once(user, server_name or "", launch)


handlers = [
    (r"/api/users/([^/]+)/servers/([^/]*)", LaunchAPIHandler),
    (r"/spawn", SpawnPageHandler),
    (r"/spawn/([^/]+)", SpawnPageHandler),
    (r"/spawn/([^/]+)/([^/]+)", SpawnPageHandler),
]
