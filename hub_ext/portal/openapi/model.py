"""The building blocks of the portal's OpenAPI table: an operation, a parameter, and the words and
path parameters every feature's operations share (``ops_*`` modules declare them, ``spec`` builds
the document)."""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import BaseModel

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
