"""The OpenAPI 3.1 document of the portal REST API, built from one table of operations.

No tornado here. Each operation is declared once, in ``OPERATIONS``: method,
path (relative to the hub prefix, ``/hub/``), summary, scope, query parameters,
the pydantic model that validates its body (the same class the handler passes
to ``PortalAPIHandler.body``), and the statuses it answers with. Request
schemas come from ``model_json_schema()``, their ``$defs`` moved into
``components/schemas``. A test checks that every ``/api/portal/`` route the
portal features register is in the table, so an endpoint cannot be forgotten.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field

from pydantic import BaseModel

from spawner.plan import LaunchOptions

from ...bodies import NoFields
from ...context import ContextChange
from ...deployments.requests import ClientCreate, DeploymentCreate, DeploymentPatch, Rollback
from ...jobs.requests import JobSubmit, ScheduleCreate, SchedulePatch
from ...license import LicenseInstall
from ...policy import GroupPolicy
from ...scopes import READ, WRITE
from ...store.models_jobs import PHASES
from ..account.profile import PasswordChange, ProfilePatch
from ..announcements.board import AnnouncementCreate, AnnouncementUpdate
from ..preferences.prefs import PreferencesUpdate

OPENAPI_VERSION = "3.1.0"
JSON = "application/json"


@dataclass(frozen=True)
class Param:
    name: str
    schema: dict
    description: str
    required: bool = False


@dataclass(frozen=True)
class Operation:
    method: str  # lower case, as OpenAPI writes it
    path: str  # relative to the hub prefix, e.g. /api/portal/groups/{group}/jobs
    summary: str
    tag: str
    scope: str  # the token scope it needs
    responses: dict[int, str]  # status -> when
    query: tuple[Param, ...] = ()
    body: type[BaseModel] | None = None
    body_required: bool = True
    produces: dict[int, str | tuple[str, ...]] = field(default_factory=dict)  # status -> media type(s), if not JSON
    description: str = ""
    headers: tuple[Param, ...] = ()  # request headers it reads (the tus protocol's)
    raw_body: str | None = None  # the media type of a body that is bytes, not a JSON model


# Path parameters: one meaning per name across the API.
PATH_PARAMS = {
    "group": Param("group", {"type": "string", "minLength": 1}, "A group's name (yours; hub admins: any)", True),
    "id": Param("id", {"type": "integer", "minimum": 1}, "The announcement's id", True),
    "job": Param("job", {"type": "integer", "minimum": 1}, "The job's id", True),
    "schedule": Param("schedule", {"type": "integer", "minimum": 1}, "The recurring job's id", True),
    "deployment": Param("deployment", {"type": "string", "pattern": "^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$"},
                        "The deployment's id", True),
    "client": Param("client", {"type": "string", "minLength": 1, "maxLength": 63}, "The client's name", True),
    "path": Param("path", {"type": "string", "minLength": 1}, "The artifact's path under the job's outputs", True),
    "name": Param("name", {"type": "string", "minLength": 1}, "A hub user's name", True),
    "user": Param("user", {"type": "string", "minLength": 1}, "A hub user's name", True),
    "server_name": Param("server_name", {"type": "string", "pattern": "^[a-z][a-z0-9-]{0,29}$"},
                         "The server's name (the portal names a group's server after the group)", True),
}

_FLAG = {"type": "string", "examples": ["1"], "description": "`1` or `true` for yes; anything else is no"}
LIMIT = Param("limit", {"type": "integer", "minimum": 1, "maximum": 200},
              "At most this many (default: the feed's recent limit)")
BEFORE = Param("before", {"type": "integer", "minimum": 1, "maximum": 2147483647}, "Only those older than this id")

# The usual reasons, so that the table below says only what is particular.
OK = "Done"
DENIED = "The token lacks the scope, or the caller may not do this"
NOT_FOUND = "No such thing, or one the caller may not see"
INVALID = "Malformed body or parameter: `errors` names each field at fault (unknown fields too)"

PORTAL = "/api/portal"
OPERATIONS: tuple[Operation, ...] = (
    # -- the caller ---------------------------------------------------------------------
    Operation("get", f"{PORTAL}/me", "Your profile", "me", READ, {200: "Your profile", 403: DENIED}),
    Operation("patch", f"{PORTAL}/me", "Change your full name or email", "me", WRITE,
              {200: "Your profile, changed", 400: INVALID, 403: DENIED}, body=ProfilePatch),
    Operation("put", f"{PORTAL}/me/password", "Change your password (ends your other sessions)", "me", WRITE,
              {200: "Changed", 400: INVALID,
               403: DENIED + " (passwords managed by an identity provider)"}, body=PasswordChange),
    Operation("get", f"{PORTAL}/me/context", "Your group in focus and your groups", "me", READ,
              {200: "`{group, groups}`", 403: DENIED}),
    Operation("put", f"{PORTAL}/me/context", "Put one of your groups in focus", "me", WRITE,
              {200: "`{group, groups}`, changed", 400: INVALID, 403: DENIED + " (not a member of the group)"},
              body=ContextChange),
    Operation("get", f"{PORTAL}/me/preferences", "Your preferences", "me", READ,
              {200: "`{default_group, timezone}`", 403: DENIED}),
    Operation("put", f"{PORTAL}/me/preferences", "Change your preferences (only the fields sent)", "me", WRITE,
              {200: "`{default_group, timezone}`, changed", 400: INVALID, 403: DENIED}, body=PreferencesUpdate),
    Operation("get", f"{PORTAL}/me/activities", "Recent activities in a group", "me", READ,
              {200: "`{group, scope, activities}`, newest first", 400: INVALID,
               403: DENIED + " (scope=group: group admins only)", 404: NOT_FOUND},
              query=(Param("group", {"type": "string"}, "A group of yours (default: the group in focus)"),
                     Param("scope", {"type": "string", "enum": ["mine", "group"]},
                           "`mine` (default), or `group`: every member's (group admins)"),
                     LIMIT, BEFORE, Param("errors", _FLAG, "Only failures"))),
    # -- groups -------------------------------------------------------------------------
    Operation("get", f"{PORTAL}/groups/{{group}}/policy", "A group's policy", "groups", READ,
              {200: "`{group, policy}`", 403: DENIED, 404: NOT_FOUND}),
    Operation("put", f"{PORTAL}/groups/{{group}}/policy", "Replace a group's policy (hub admins)", "groups",
              "admin:groups", {200: "`{group, policy}`, stored", 400: INVALID, 403: DENIED, 404: NOT_FOUND},
              body=GroupPolicy,
              description="A field left out gets its default. The body is the policy, or `{\"policy\": {…}}`."),
    Operation("patch", f"{PORTAL}/groups/{{group}}/policy", "Change some fields of a group's policy", "groups",
              WRITE, {200: "`{group, policy}`, stored", 400: INVALID,
                      403: DENIED + " (group admins change only the default job timeout and the MLflow tracking URI)", 404: NOT_FOUND},
              body=GroupPolicy,
              description="A JSON merge patch (RFC 7386): the fields sent change, `null` resets one to its "
                          "default. Hub admins change anything; a group's admins its default job timeout and MLflow tracking URI."),
    Operation("get", f"{PORTAL}/groups/{{group}}/usage", "Quota use of a group", "groups", READ,
              {200: "Totals and yours (group admins: per member too)", 403: DENIED, 404: NOT_FOUND}),
    # -- jobs ---------------------------------------------------------------------------
    Operation("get", f"{PORTAL}/groups/{{group}}/jobs", "A group's jobs, newest first", "jobs", READ,
              {200: "`{group, jobs}`", 400: INVALID, 403: DENIED, 404: NOT_FOUND},
              query=(Param("phase", {"type": "string", "enum": list(PHASES)}, "Only jobs in this phase"),
                     Param("limit", {"type": "integer", "minimum": 1, "maximum": 500}, "At most this many (50)"),
                     BEFORE, Param("user", {"type": "string"}, "Only this member's"))),
    Operation("post", f"{PORTAL}/groups/{{group}}/jobs", "Submit a job", "jobs", WRITE,
              {201: "The job, queued", 400: INVALID, 403: DENIED, 404: NOT_FOUND}, body=JobSubmit),
    Operation("get", f"{PORTAL}/jobs/{{job}}", "A job", "jobs", READ, {200: "The job", 403: DENIED, 404: NOT_FOUND}),
    Operation("post", f"{PORTAL}/jobs/{{job}}/cancel", "Cancel a job", "jobs", WRITE,
              {202: "Cancelling: the job", 403: DENIED, 404: NOT_FOUND, 409: "The job has already ended"}),
    Operation("post", f"{PORTAL}/jobs/{{job}}/rerun", "Submit a job again, with the same template", "jobs", WRITE,
              {201: "The new job", 400: INVALID, 403: DENIED + " (the owner's only)", 404: NOT_FOUND},
              body=NoFields, body_required=False),
    Operation("get", f"{PORTAL}/jobs/{{job}}/log", "A job's output", "jobs", READ,
              {200: "The output from `offset` on (header `X-Log-Offset`: where to go on)", 400: INVALID,
               403: DENIED, 404: NOT_FOUND},
              query=(Param("offset", {"type": "integer", "minimum": 0}, "Start at this byte"),
                     Param("follow", _FLAG, "Stream until the job ends"),
                     Param("download", _FLAG, "As a file (Content-Disposition)")),
              produces={200: "text/plain"}),
    Operation("get", f"{PORTAL}/jobs/{{job}}/artifacts", "A job's artifacts", "jobs", READ,
              {200: "`{job, note, artifacts: [{path, size, url}]}`", 403: DENIED, 404: NOT_FOUND}),
    Operation("get", f"{PORTAL}/jobs/{{job}}/artifacts/{{path}}", "Download one artifact", "jobs", READ,
              {200: "The file", 403: DENIED, 404: NOT_FOUND}, produces={200: "application/octet-stream"}),
    Operation("delete", f"{PORTAL}/jobs/{{job}}", "Delete a job (stopping it), its log and artifacts", "jobs",
              WRITE, {204: "Deleted", 403: DENIED + " (the owner's, or a hub admin's)", 404: NOT_FOUND}),
    Operation("get", f"{PORTAL}/groups/{{group}}/schedules", "A group's recurring jobs", "jobs", READ,
              {200: "`{group, schedules}`", 403: DENIED, 404: NOT_FOUND}),
    Operation("post", f"{PORTAL}/groups/{{group}}/schedules", "Create a recurring job", "jobs", WRITE,
              {201: "The recurring job", 400: INVALID, 403: DENIED, 404: NOT_FOUND}, body=ScheduleCreate),
    Operation("get", f"{PORTAL}/schedules/{{schedule}}", "A recurring job, with its recent runs", "jobs", READ,
              {200: "The recurring job", 403: DENIED, 404: NOT_FOUND}),
    Operation("patch", f"{PORTAL}/schedules/{{schedule}}", "Change a recurring job (only the fields sent)", "jobs",
              WRITE, {200: "The recurring job, changed", 400: INVALID, 403: DENIED + " (the owner's only)",
                      404: NOT_FOUND}, body=SchedulePatch),
    Operation("post", f"{PORTAL}/schedules/{{schedule}}/run", "Run a recurring job now", "jobs", WRITE,
              {201: "The job", 400: INVALID, 403: DENIED + " (the owner's only)", 404: NOT_FOUND},
              body=NoFields, body_required=False),
    Operation("delete", f"{PORTAL}/schedules/{{schedule}}", "Delete a recurring job", "jobs", WRITE,
              {204: "Deleted", 403: DENIED + " (the owner's, or a hub admin's)", 404: NOT_FOUND}),
    # -- deployments ---------------------------------------------------------------------
    Operation("get", f"{PORTAL}/groups/{{group}}/deployments", "A group's deployments", "deployments", READ,
              {200: "`{group, deployments}`", 403: DENIED, 404: NOT_FOUND}),
    Operation("post", f"{PORTAL}/groups/{{group}}/deployments", "Create a deployment", "deployments", WRITE,
              {201: "The deployment, being deployed", 400: INVALID,
               403: DENIED + " (or a limit: deployments not enabled, the group's maximum, the license's)",
               404: NOT_FOUND, 409: "The id is taken"}, body=DeploymentCreate),
    Operation("get", f"{PORTAL}/deployments/{{deployment}}", "A deployment", "deployments", READ,
              {200: "The deployment", 403: DENIED, 404: NOT_FOUND}),
    Operation("patch", f"{PORTAL}/deployments/{{deployment}}", "Change a deployment (only the fields sent)",
              "deployments", WRITE, {200: "The deployment; a change of what runs rolls out a new revision",
                                     400: INVALID, 403: DENIED, 404: NOT_FOUND}, body=DeploymentPatch),
    Operation("delete", f"{PORTAL}/deployments/{{deployment}}", "Delete a deployment (stopping it)",
              "deployments", WRITE, {204: "Deleted", 403: DENIED, 404: NOT_FOUND}),
    Operation("post", f"{PORTAL}/deployments/{{deployment}}/stop", "Stop a deployment (its endpoint answers 503)",
              "deployments", WRITE, {202: "Stopping", 400: INVALID, 403: DENIED, 404: NOT_FOUND},
              body=NoFields, body_required=False),
    Operation("post", f"{PORTAL}/deployments/{{deployment}}/start", "Start a stopped deployment again",
              "deployments", WRITE, {202: "Deploying", 400: INVALID, 403: DENIED + " (or a limit)",
                                     404: NOT_FOUND}, body=NoFields, body_required=False),
    Operation("post", f"{PORTAL}/deployments/{{deployment}}/rollback", "Roll out an earlier revision again",
              "deployments", WRITE, {200: "The deployment, rolling back", 400: INVALID, 403: DENIED,
                                     404: NOT_FOUND}, body=Rollback),
    Operation("get", f"{PORTAL}/deployments/{{deployment}}/history", "A deployment's update history (last 32)",
              "deployments", READ, {200: "`{deployment, history}`, newest first", 403: DENIED, 404: NOT_FOUND}),
    Operation("get", f"{PORTAL}/deployments/{{deployment}}/log", "A deployment's replicas' output", "deployments",
              READ, {200: "The output from `offset` on (header `X-Log-Offset`: where to go on)", 400: INVALID,
                     403: DENIED, 404: NOT_FOUND},
              query=(Param("offset", {"type": "integer", "minimum": 0}, "Start at this byte"),
                     Param("follow", _FLAG, "Stream until the deployment is stopped"),
                     Param("download", _FLAG, "As a file (Content-Disposition)")),
              produces={200: "text/plain"}),
    Operation("get", f"{PORTAL}/deployments/{{deployment}}/clients", "A private deployment's clients",
              "deployments", READ, {200: "`{deployment, clients}` (never their tokens)", 403: DENIED,
                                    404: NOT_FOUND}),
    Operation("post", f"{PORTAL}/deployments/{{deployment}}/clients", "Add a client (its token is shown once)",
              "deployments", WRITE, {201: "The client with its `token`", 400: INVALID, 403: DENIED,
                                     404: NOT_FOUND, 409: "The name is taken"}, body=ClientCreate),
    Operation("delete", f"{PORTAL}/deployments/{{deployment}}/clients/{{client}}", "Revoke a client's token",
              "deployments", WRITE, {204: "Revoked", 403: DENIED, 404: NOT_FOUND}),
    # -- models -------------------------------------------------------------------------
    Operation("get", f"{PORTAL}/groups/{{group}}/models", "Registered models of the group's MLflow registry",
              "models", READ, {200: "`{group, configured, tracking_uri, models, truncated}` (`configured`: false, "
                                    "with a `message`, when no tracking server is set)", 403: DENIED,
                               404: NOT_FOUND + " (members of the group only)",
                               502: "The tracking server could not be read: `message` says why"}),
    # -- notebooks ----------------------------------------------------------------------
    Operation("post", "/api/users/{user}/servers/{server_name}", "Launch a notebook server", "notebooks",
              "start:servers", {201: "Started", 202: "Starting", 400: INVALID + " (or the server is busy)",
                                403: DENIED + " (or over quota: the ledger's message)", 404: NOT_FOUND},
              body=LaunchOptions, body_required=False, produces={201: "text/plain", 202: "text/plain"},
              description="JupyterHub's own endpoint, with the launch options checked first."),
    # -- announcements ------------------------------------------------------------------
    Operation("get", f"{PORTAL}/announcements", "Announcements for you", "announcements", READ,
              {200: "`{announcements}`", 403: DENIED + " (all=1: admins only)"},
              query=(Param("all", _FLAG, "Every announcement, drafts and expired ones too (admins)"),)),
    Operation("post", f"{PORTAL}/announcements", "Create an announcement (admins)", "announcements", WRITE,
              {201: "The announcement", 400: INVALID, 403: DENIED}, body=AnnouncementCreate),
    Operation("get", f"{PORTAL}/announcements/{{id}}", "An announcement", "announcements", READ,
              {200: "The announcement", 403: DENIED, 404: NOT_FOUND}),
    Operation("put", f"{PORTAL}/announcements/{{id}}", "Change an announcement (only the fields sent; admins)",
              "announcements", WRITE, {200: "The announcement, changed", 400: INVALID, 403: DENIED,
                                       404: NOT_FOUND}, body=AnnouncementUpdate),
    Operation("post", f"{PORTAL}/announcements/{{id}}/dismiss", "Hide an announcement's banner (until edited)",
              "announcements", WRITE, {200: "`{dismissed: id}`", 400: INVALID, 403: DENIED, 404: NOT_FOUND},
              body=NoFields, body_required=False),
    Operation("delete", f"{PORTAL}/announcements/{{id}}", "Delete an announcement (admins)", "announcements",
              WRITE, {204: "Deleted", 403: DENIED, 404: NOT_FOUND}),
    # -- administration -----------------------------------------------------------------
    Operation("get", f"{PORTAL}/license", "The license, its limits and current use (admins)", "admin", READ,
              {200: "The license report", 403: DENIED}),
    Operation("put", f"{PORTAL}/license", "Install a license (admins)", "admin", WRITE,
              {200: "The license report", 400: INVALID + " (or a token whose signature fails)", 403: DENIED},
              body=LicenseInstall),
    Operation("get", f"{PORTAL}/system/resources", "System resources (admins: the host's; others: yours)", "admin",
              READ, {200: "The resources", 403: DENIED}),
    Operation("post", f"{PORTAL}/admin/users/{{name}}/unlock", "Clear an account's failed sign-ins (no address waits any more)",
              "admin", "admin:users", {200: "`{name, locked: false}`", 400: INVALID, 403: DENIED,
                                       404: NOT_FOUND}, body=NoFields, body_required=False),
    Operation("delete", f"{PORTAL}/admin/users/{{name}}/2fa", "Reset an account's two-factor authentication",
              "admin", "admin:users", {200: "`{name, two_factor: false}`", 403: DENIED, 404: NOT_FOUND}),
    Operation("get", f"{PORTAL}/openapi.json", "This document", "meta", READ,
              {200: "The OpenAPI document", 403: DENIED}),
)

# Issue 12's features declare their operations in modules of their own (one per feature, so that
# they can be written side by side); each module's ``OPERATIONS`` is appended here.
from .ops_datasets import OPERATIONS as _DATASETS  # noqa: E402
from .ops_files import OPERATIONS as _FILES  # noqa: E402
from .ops_folders import OPERATIONS as _FOLDERS  # noqa: E402
from .ops_images import OPERATIONS as _IMAGES  # noqa: E402
from .ops_shares import OPERATIONS as _SHARES  # noqa: E402
from .ops_maintenance import OPERATIONS as _MAINTENANCE  # noqa: E402
from .ops_apps import OPERATIONS as _APPS  # noqa: E402

OPERATIONS = OPERATIONS + _FILES + _SHARES + _DATASETS + _FOLDERS + _MAINTENANCE
OPERATIONS += _IMAGES
OPERATIONS += _APPS

TAGS = {
    "me": "The caller: profile, password, group in focus, preferences, activities",
    "groups": "Group policies and quota use",
    "jobs": "Jobs and recurring jobs",
    "deployments": "Model deployments, their endpoints' clients and history",
    "models": "Registered models from the group's MLflow model registry",
    "files": "Group storage: shared files, resumable uploads",
    "shares": "Share links to files and folders of group storage",
    "datasets": "Datasets, their grants to groups and their versions",
    "folders": "Folder invitations between users",
    "images": "A group's own images (group admins add them; members use them)",
    "apps": "Apps installed into a group from the template catalog (group admins manage them; members use them)",
    "notebooks": "Notebook servers",
    "announcements": "Announcements",
    "admin": "Administration",
    "maintenance": "Admins' maintenance: recompute quota use, the runner's health, clean finished jobs now",
    "meta": "About the API",
}

ERROR_SCHEMA = {
    "type": "object",
    "properties": {
        "status": {"type": "integer", "description": "The HTTP status"},
        "message": {"type": ["string", "null"],
                    "description": "What went wrong (JupyterHub's own 404 has none); for 400, `field: problem; …`"},
        "errors": {"type": "object", "additionalProperties": {"type": "string"},
                   "description": "400: one message per field at fault (`quota.cpu`, an unknown field, …)"},
    },
    "required": ["status", "message"],
}


def path_params(path: str) -> list[str]:
    return re.findall(r"\{([^}]+)\}", path)


def _no_null_defaults(schema):
    """pydantic writes ``default: null`` for an optional field that may not be null (left out
    means unchanged): a default the field's own type refuses. Drop those, here and below."""
    if isinstance(schema, dict):
        if schema.get("default", 0) is None and "type" in schema and "null" not in schema["type"]:
            schema = {k: v for k, v in schema.items() if k != "default"}
        return {k: _no_null_defaults(v) for k, v in schema.items()}
    if isinstance(schema, list):
        return [_no_null_defaults(v) for v in schema]
    return schema


def model_schema(model: type[BaseModel], components: dict) -> dict:
    """A reference to ``model``'s schema, which goes into ``components`` with its ``$defs``."""
    schema = _no_null_defaults(model.model_json_schema(ref_template="#/components/schemas/{model}"))
    for name, sub in {**schema.pop("$defs", {}), model.__name__: schema}.items():
        if components.setdefault(name, sub) != sub:
            raise ValueError(f"two request models are both called {name}: rename one")
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _parameter(param: Param, where: str) -> dict:
    return {"name": param.name, "in": where, "required": param.required or where == "path",
            "description": param.description, "schema": copy.deepcopy(param.schema)}


def _responses(op: Operation) -> dict:
    out = {}
    for status, text in sorted(op.responses.items()):
        if status == 204:
            out[str(status)] = {"description": text}
        elif status >= 400:
            out[str(status)] = {"description": text,
                                "content": {JSON: {"schema": {"$ref": "#/components/schemas/Error"}}}}
        else:
            media = op.produces.get(status, JSON)  # one media type, or a tuple of those it may be
            out[str(status)] = {"description": text, "content": {
                m: {"schema": {"type": "object"} if m == JSON else {"type": "string"}}
                for m in (media if isinstance(media, tuple) else (media,))}}
    return out


def operation_id(op: Operation) -> str:
    words = [w.strip("{}").replace(".", "_") for w in op.path.split("/") if w and w not in ("api", "portal")]
    return "_".join([op.method, *words])


def build(server_url: str = "/hub", version: str = "0.1.0") -> dict:
    """The whole document; ``server_url`` is the hub prefix the paths are under (no trailing slash)."""
    components: dict = {"Error": ERROR_SCHEMA}
    paths: dict = {}
    for op in OPERATIONS:
        entry = {
            "operationId": operation_id(op), "summary": op.summary, "tags": [op.tag],
            "security": [{"token": [op.scope]}],
            "parameters": [_parameter(PATH_PARAMS[name], "path") for name in path_params(op.path)]
            + [_parameter(p, "query") for p in op.query] + [_parameter(p, "header") for p in op.headers],
            "responses": _responses(op),
        }
        if op.description:
            entry["description"] = op.description
        if op.body is not None:
            entry["requestBody"] = {"required": op.body_required,
                                    "content": {JSON: {"schema": model_schema(op.body, components)}}}
        if op.raw_body is not None:
            entry["requestBody"] = {"required": op.body_required,
                                    "content": {op.raw_body: {"schema": {"type": "string", "format": "binary"}}}}
        if not entry["parameters"]:
            del entry["parameters"]
        methods = paths.setdefault(op.path, {})
        if op.method in methods:
            raise ValueError(f"{op.method.upper()} {op.path} is declared twice")
        methods[op.method] = entry
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "Hubfront portal REST API",
            "version": version,
            "description": "The portal's endpoints under the hub's API. Errors are JSON "
                           "`{status, message, errors?}`; a body with a field the endpoint does not "
                           "take is refused with 400 naming it.",
        },
        "servers": [{"url": server_url}],
        "tags": [{"name": name, "description": text} for name, text in TAGS.items()],
        "security": [{"token": []}],
        "paths": paths,
        "components": {
            "schemas": dict(sorted(components.items())),
            "securitySchemes": {"token": {
                "type": "apiKey", "in": "header", "name": "Authorization",
                "description": "A JupyterHub API token: `Authorization: token <token>`. Tokens carry scopes; "
                               "the portal's are `custom:hubfront:read` and `custom:hubfront:write`."}},
        },
    }
