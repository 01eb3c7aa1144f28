"""OpenAPI operations of apps (issue 13), appended to ``spec.OPERATIONS``."""

from __future__ import annotations

from ...apps.requests import AppInstall, AppPatch
from ...bodies import NoFields
from ...scopes import READ, WRITE
from ..apps.handlers import RegistryBind
from .model import _FLAG, DENIED, INVALID, NOT_FOUND, PATH_PARAMS, PORTAL, Operation, Param

PATH_PARAMS["app"] = Param("app", {"type": "string", "pattern": "^[a-z]([a-z0-9-]{0,30}[a-z0-9])?$"},
                           "The app's name in the group", True)

ADMINS = " (installing, changing, stopping, starting and uninstalling: the group's admins and hub admins)"
GROUP = f"{PORTAL}/groups/{{group}}/apps"
ONE = f"{GROUP}/{{app}}"

OPERATIONS: tuple[Operation, ...] = (
    Operation("get", f"{PORTAL}/apps/templates", "The app templates one may install", "apps", READ,
              {200: "`{templates}`: name, display name, description, icon, docs link, version, variables, "
                    "modes, and what each needs at least (`min_memory` in bytes, `min_cpu` in cores)",
               403: DENIED}),
    Operation("get", GROUP, "A group's installed apps", "apps", READ,
              {200: "`{group, may_change, apps}`, each with its phase, address, settings and `restarts` (in a "
                    "row) with `last_restart_reason` and `last_restart_message`", 403: DENIED,
               404: NOT_FOUND}),
    Operation("post", GROUP, "Install an app into the group", "apps", WRITE,
              {201: "The app, installing (the runner builds its environment and starts it)",
               400: INVALID + " (a variable the template does not declare is named `env.<NAME>`; an instance type "
                              "smaller than the template needs is refused naming `instance_type`)",
               403: DENIED + ADMINS, 404: NOT_FOUND, 409: "`name` is taken by another app of the group"},
              body=AppInstall),
    Operation("get", ONE, "One installed app", "apps", READ, {200: "The app", 403: DENIED, 404: NOT_FOUND}),
    Operation("patch", ONE, "Change an app's settings (fields sent only)", "apps", WRITE,
              {200: "The app; a new instance type or environment restarts it (kept across restarts)",
               400: INVALID + " (an instance type smaller than the app needs: `instance_type`)",
               403: DENIED + ADMINS, 404: NOT_FOUND}, body=AppPatch),
    Operation("delete", ONE, "Uninstall an app", "apps", WRITE,
              {204: "Uninstalling: stopped, its reservation released; its data stays in the group's storage "
                    "unless `delete_data`", 400: INVALID, 403: DENIED + ADMINS, 404: NOT_FOUND},
              query=(Param("delete_data", _FLAG, "Also remove its folder in the group's storage"),),
              body=NoFields, body_required=False),
    Operation("post", f"{ONE}/stop", "Stop an app (its settings are kept)", "apps", WRITE,
              {202: "The app, stopping", 400: INVALID, 403: DENIED + ADMINS, 404: NOT_FOUND},
              body=NoFields, body_required=False),
    Operation("post", f"{ONE}/start", "Start a stopped app, or again one no longer restarted (Failed)", "apps", WRITE,
              {202: "The app, starting", 400: INVALID, 403: DENIED + ADMINS, 404: NOT_FOUND},
              body=NoFields, body_required=False),
    Operation("post", f"{ONE}/registry", "Bind an MLflow app as the group's Models registry (or unbind it)", "apps",
              WRITE, {200: "`{group, mlflow_tracking_uri, bound}`", 400: INVALID, 403: DENIED + ADMINS,
                      404: NOT_FOUND, 409: "The app is no MLflow tracking server"}, body=RegistryBind,
              body_required=False),
    Operation("get", f"{ONE}/log", "An app's output (its environment's build, then the server's)", "apps", READ,
              {200: "The output from `offset` on (header `X-Log-Offset`: where to go on)", 400: INVALID,
               403: DENIED, 404: NOT_FOUND},
              query=(Param("offset", {"type": "integer", "minimum": 0}, "Start at this byte"),
                     Param("follow", _FLAG, "Stream until the app is stopped"),
                     Param("download", _FLAG, "As a file (Content-Disposition)")),
              produces={200: "text/plain"}),
)
