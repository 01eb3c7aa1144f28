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

from pydantic import BaseModel

from .model import JSON, OPENAPI_VERSION, PATH_PARAMS, Operation, Param  # noqa: F401 - spec.Operation, spec.PATH_PARAMS
from .ops_admin_groups import OPERATIONS as _ADMIN_GROUPS
from .ops_apps import OPERATIONS as _APPS
from .ops_core import OPERATIONS as _CORE
from .ops_datasets import OPERATIONS as _DATASETS
from .ops_files import OPERATIONS as _FILES
from .ops_folders import OPERATIONS as _FOLDERS
from .ops_images import OPERATIONS as _IMAGES
from .ops_maintenance import OPERATIONS as _MAINTENANCE
from .ops_shares import OPERATIONS as _SHARES
from .ops_ssh import OPERATIONS as _SSH

# each feature declares its operations in a module of its own; the document lists them in this order
OPERATIONS: tuple[Operation, ...] = (_CORE + _FILES + _SHARES + _DATASETS + _FOLDERS + _MAINTENANCE + _IMAGES + _APPS
                                      + _ADMIN_GROUPS + _SSH)

TAGS = {
    "me": "The caller: profile, password, group in focus, preferences, activities, SSH keys",
    "groups": "Groups (the hub admins' console: create, rename, delete, members), their policies and quota use",
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
