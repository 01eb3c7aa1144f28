"""Apps: the REST API (thin: parse, check permission, call the store, wake the runner).

``/hub/api/portal/apps/templates`` lists the catalog; ``/hub/api/portal/groups/{group}/apps``
a group's installed apps. Members (and hub admins) read; the group's admins and hub admins
install, change, stop, start, uninstall and bind an app as the group's Models registry.
A group the caller may not see, and an app of it, answer 404.
"""

from __future__ import annotations

from jupyterhub.scopes import needs_scope
from pydantic import Field
from tornado import web

from ... import activity
from ...apps import sizing
from ...apps.records import Conflict, may_change
from ...apps.registry import bound_app
from ...apps.requests import AppInstall, AppPatch, check_env
from ...bodies import BodyError, NoFields, Strict
from ...groups import group_policy
from ...jobs import logs as logs_mod
from ...jobs.requests import placed_in
from ...scopes import READ, WRITE
from ...store.models_apps import App
from ..groups.handlers import store_policy
from ..common.member import MemberAPIHandler
from ..common.runner import wake_runner
from ..common.logstream import LogAPI
from .service import app_store, catalog_of, apps_origin, template_of


class RegistryBind(Strict):
    """``POST …/apps/{app}/registry``: make this MLflow app the group's Models registry."""

    bind: bool = Field(default=True, description="true: bind; false: unbind (the group then has no registry)")


class _AppsAPI(MemberAPIHandler):
    @property
    def store(self):
        return app_store(self)

    def group_of(self, group_name: str):
        group = self.visible_group(group_name)  # 404 for groups the caller may not see
        return group

    def app(self, group_name: str, name: str) -> tuple[object, App]:
        group = self.group_of(group_name)
        row = self.store.get(group.name, name[:63])
        if row is None:
            raise web.HTTPError(404, f"No such app in group {group.name}: {name}")
        return group, row

    def changeable(self, group_name: str, name: str) -> tuple[object, App]:
        group, row = self.app(group_name, name)
        if not may_change(self.viewer, row):
            raise web.HTTPError(403, f"Only admins of group {group.name} install, change, stop and remove its apps")
        return group, row

    def placed(self, name: str | None, group, resource_group: str | None = None, template=None, sized=True):
        """The instance type and resource group asked for, checked against the group's policy and, when
        ``sized``, against what ``template`` needs at least (400 naming each)."""
        policy = group_policy(group)
        try:
            instance_type = sizing.choose(template if sized else None, name, policy, self.catalog, group.name)
            return instance_type, placed_in(resource_group, instance_type, policy, self.catalog, group.name)
        except BodyError as exc:  # a RequestError of placed_in too
            self.field_error(exc.errors)

    def app_json(self, row: App) -> dict:
        return self.store.as_json(row, self.viewer, template_of(self, row.template), apps_origin(self))


class TemplatesAPIHandler(_AppsAPI):
    """GET /hub/api/portal/apps/templates: the catalog of templates one may install."""

    @needs_scope(READ)
    def get(self):
        self.write_json({"templates": [t.as_json() for t in catalog_of(self).values()]})


class GroupAppsAPIHandler(_AppsAPI):
    """GET (members: the installed apps), POST (group admins: install one)."""

    @needs_scope(READ)
    def get(self, group_name):
        group = self.group_of(group_name)
        policy = group_policy(group)
        bound = bound_app(policy, group.name)
        apps = [{**self.app_json(r), "bound_registry": r.name == bound} for r in self.store.list(group.name)]
        self.write_json({"group": group.name, "may_change": may_change(self.viewer, group.name), "apps": apps})

    @needs_scope(WRITE)
    def post(self, group_name):
        group = self.group_of(group_name)
        if not may_change(self.viewer, group.name):
            raise web.HTTPError(403, f"Only admins of group {group.name} install apps")
        body = self.body(AppInstall)
        template = catalog_of(self).get(body.template)
        if template is None:
            self.field_error({"template": f"no template named {body.template!r} is offered"})
        try:
            env = check_env(template, body.env)
        except BodyError as exc:
            self.field_error(exc.errors)
        instance_type, resource_group = self.placed(body.instance_type, group, body.resource_group, template)
        try:
            row = self.store.install(group=group.name, username=self.current_user.name, body=body,
                                     template=template, instance_type=instance_type, env=env,
                                     resource_group=resource_group.name)
        except Conflict as exc:
            self.field_error({"name": str(exc)}, 409)
        wake_runner(self)
        self.set_status(201)
        self.write_json(self.app_json(row))


class AppAPIHandler(_AppsAPI):
    """GET (members), PATCH (settings) and DELETE (uninstall; ``?delete_data=1`` removes its data too)."""

    @needs_scope(READ)
    def get(self, group_name, name):
        self.write_json(self.app_json(self.app(group_name, name)[1]))

    @needs_scope(WRITE)
    def patch(self, group_name, name):
        group, row = self.changeable(group_name, name)
        body = self.body(AppPatch)
        fields = body.model_dump(exclude_unset=True)
        instance_type = resource_group = None
        if fields.get("instance_type") or fields.get("resource_group"):
            # the size is checked when the instance type changes (one chosen before minimums existed stays)
            instance_type, resource_group = self.placed(
                fields.get("instance_type") or row.instance_type, group,
                fields.get("resource_group") or row.resource_group or None, template_of(self, row.template),
                sized=bool(fields.get("instance_type")) and fields.get("instance_type") != row.instance_type)
            fields["resource_group"] = resource_group.name
        if fields.get("env") is not None:
            template = template_of(self, row.template)
            try:
                fields["env"] = check_env(template, fields["env"]) if template else fields["env"]
            except BodyError as exc:
                self.field_error(exc.errors)
            # a secret is never shown: sent back empty, it keeps its value
            current = self.store.open_env(row.env_encrypted)
            for name in (template.secrets if template else ()):
                if fields["env"].get(name) == "" and current.get(name):
                    fields["env"][name] = current[name]
        row = self.store.update(row, fields, instance_type, self.current_user.name)
        wake_runner(self)
        self.write_json(self.app_json(row))

    @needs_scope(WRITE)
    def delete(self, group_name, name):
        group, row = self.changeable(group_name, name)
        flag = self.get_query_argument("delete_data", "0")
        if flag not in ("0", "1", "true", "false", ""):
            self.field_error({"delete_data": "1 or true to remove the app's data too; 0 or false to keep it"})
        if self.request.body and self.body(NoFields) is None:  # the choice is ?delete_data=1, not a body
            return
        if bound_app(group_policy(group), group.name) == row.name:
            self._unbind(group, row)
        self.store.uninstall(row, self.current_user.name, delete_data=flag in ("1", "true"))
        wake_runner(self)
        self.set_status(204)
        self.finish()

    def _unbind(self, group, row: App) -> None:
        policy = group_policy(group).model_copy(update={"mlflow_tracking_uri": ""})
        store_policy(self, group, policy)


class _StateAPI(_AppsAPI):
    action = ""

    @needs_scope(WRITE)
    def post(self, group_name, name):
        group, row = self.changeable(group_name, name)
        self.body(NoFields)
        change = self.store.stop if self.action == "stop" else self.store.start
        row = change(row, self.current_user.name)
        wake_runner(self)
        self.set_status(202)
        self.write_json(self.app_json(row))


class StopAPIHandler(_StateAPI):
    action = "stop"


class StartAPIHandler(_StateAPI):
    action = "start"


class RegistryAPIHandler(_AppsAPI):
    """POST: bind an MLflow app as the group's Models registry (or unbind it)."""

    @needs_scope(WRITE)
    def post(self, group_name, name):
        group, row = self.changeable(group_name, name)
        body = self.body(RegistryBind)
        template = template_of(self, row.template)
        if template is None or not template.registry:
            self.field_error({"bind": f"app {row.name} ({row.template}) is no MLflow tracking server"}, 409)
        policy = group_policy(group)
        url = self.app_json(row)["url"].rstrip("/")
        if body.bind:
            policy = policy.model_copy(update={"mlflow_tracking_uri": url})
            message = f"App {row.name!r} bound as the Models registry of {group.name} by {self.current_user.name}"
        elif bound_app(policy, group.name) == row.name:
            policy = policy.model_copy(update={"mlflow_tracking_uri": ""})
            message = f"App {row.name!r} unbound as the Models registry of {group.name} by {self.current_user.name}"
        else:
            message = ""
        if message:
            store_policy(self, group, policy)
            activity.record(self.db_url, username=self.current_user.name, group=group.name, kind="app",
                            action="registry", status="ok", message=message, workload_id=f"{group.name}/{row.name}",
                            link=f"{self.hub.base_url}portal/apps")
        self.write_json({"group": group.name, "mlflow_tracking_uri": policy.mlflow_tracking_uri,
                         "bound": bound_app(policy, group.name) == row.name})


class LogAPIHandler(LogAPI, _AppsAPI):
    """GET: the app's output (its environment's build, then the server's; ``LogAPI``); followed until the
    client leaves (or the app is stopped and everything was read)."""

    owner = logs_mod.APPS

    def log_of(self, group_name, name):
        group, row = self.app(group_name, name)

        def ended(offset: int) -> bool:
            current = self.store.by_id(row.id)
            return current is None or current.delete_requested or (
                current.stopped and current.phase == "Stopped" and offset >= current.log_size)

        return row.id, f"app-{row.name}.log", ended


_G = r"([^/]+)"
handlers = [
    (r"/api/portal/apps/templates", TemplatesAPIHandler),
    (rf"/api/portal/groups/{_G}/apps", GroupAppsAPIHandler),
    (rf"/api/portal/groups/{_G}/apps/{_G}", AppAPIHandler),
    (rf"/api/portal/groups/{_G}/apps/{_G}/stop", StopAPIHandler),
    (rf"/api/portal/groups/{_G}/apps/{_G}/start", StartAPIHandler),
    (rf"/api/portal/groups/{_G}/apps/{_G}/registry", RegistryAPIHandler),
    (rf"/api/portal/groups/{_G}/apps/{_G}/log", LogAPIHandler),
]
from .pages import handlers as _pages; handlers += _pages  # noqa: E402
