"""Deployment requests: the pydantic models that validate what users send (API bodies, the
pages' forms and the OpenAPI document), and their resolution against the group's policy.

A deployment serves **either** an image plus a serve command that listens on
``$PORT``, **or** a model URI served by MLflow's own ``mlflow models serve``
(``--env-manager local``: nothing is installed at serve time).
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from ..jobs.requests import _check_env, choose_runtime, placed_in, request_of
from ..ledger import Request
from ..policy import Catalog, GroupPolicy, Image, InstanceType, ResourceGroup
from ..quantities import Duration

DNS_LABEL = re.compile(r"^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$")
MODEL_URI = re.compile(r"^models:/[^/\s]{1,256}/[1-9][0-9]{0,8}$")
MAX_REPLICAS = 20
RESERVED_IDS = ("new",)  # /hub/portal/deployments/new is the create form
# spec fields whose change starts new replicas (a new revision); the rest change in place
REVISION_FIELDS = ("instance_type", "resource_group", "image", "command", "model_uri", "health_path", "replicas", "env")
MODEL_HEALTH_PATH = "/ping"  # mlflow models serve answers here once the model is loaded
MAX_COLD_START_TIMEOUT = 3600  # seconds a request may be held while a deployment wakes from zero
MIN_OVER_REPLICAS = "Min replicas: at most the replicas ({replicas})"
# what a deployment serves: a command or a model, exactly one (the pages show it at the one they show)
NO_SOURCE = "Command: enter a command to run, or serve a model from the registry instead"
TWO_SOURCES = "What it serves: give a serve command or a model URI, not both"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def _check_path(value: str | None) -> str | None:
    if value is not None and (not value.startswith("/") or any(c.isspace() for c in value)):
        raise ValueError("give a path that starts with / and has no spaces, such as /health")
    return value


class _Spec(_Strict):
    """What may be set at creation and changed later."""

    name: str | None = Field(default=None, min_length=1, max_length=200, description="Display name")
    description: str | None = Field(default=None, max_length=4000)
    instance_type: str | None = Field(default=None, max_length=255,
                                      description="Default: the group's default instance type")
    resource_group: str | None = Field(default=None, max_length=255,
                                       description="Where its replicas run; default: the first the group may use")
    image: str | None = Field(default=None, max_length=255,
                              description="Catalog or group image; default: the group's first that fits")
    command: str | None = Field(default=None, max_length=65536,
                                description="Serve command (bash -c); must listen on $PORT. Not with model_uri")
    model_uri: str | None = Field(default=None, max_length=1024,
                                  description="models:/<name>/<version> from the group's MLflow registry")
    health_path: str | None = Field(default=None, max_length=255,
                                    description="Ready when GET on it answers below 500; default / (models: /ping)")
    replicas: int | None = Field(default=None, ge=1, le=MAX_REPLICAS)
    env: dict[str, str] | None = Field(default=None, description="Environment variables")
    access: Literal["public", "private"] | None = Field(
        default=None, description="public, or private: clients need a token")
    min_replicas: int | None = Field(
        default=None, ge=0, le=MAX_REPLICAS,
        description="0: scale to zero after scale_down_after without requests (the next request wakes it and is "
                    "held until a replica is ready); default 1: the replicas stay up. At most replicas")
    scale_down_after: Duration | None = Field(
        default=None, description="With min_replicas 0: how long without requests before it scales to zero, in "
                                  "seconds or as 30m, 1h (default 30m)")
    cold_start_timeout: Duration | None = Field(
        default=None, description="How long a request that wakes the deployment from zero is held for a replica "
                                  "to be ready, in seconds or as 2m (at most 1h; default 120 s); then 503")

    _env = field_validator("env")(lambda cls, v: v if v is None else _check_env(v))
    _path = field_validator("health_path")(lambda cls, v: _check_path(v))

    @field_validator("cold_start_timeout")
    @classmethod
    def _cold_start(cls, value: int | None) -> int | None:
        if value is not None and value > MAX_COLD_START_TIMEOUT:
            raise ValueError("give at most 1 h (3600 s): a request is not held longer")
        return value

    @field_validator("model_uri")
    @classmethod
    def _model_uri(cls, value: str | None) -> str | None:
        if value and not MODEL_URI.match(value):
            raise ValueError("give a model version as models:/<name>/<version>, such as models:/iris/3")
        return value or None

    @field_validator("command")
    @classmethod
    def _command(cls, value: str | None) -> str | None:
        if value is not None and "\0" in value:
            raise ValueError("may not contain a NUL character")
        return value or None


class DeploymentCreate(_Spec):
    """``POST …/groups/{group}/deployments``."""

    id: str = Field(max_length=63, description="DNS label: lower-case letters, digits and -; the endpoint's path")
    name: str = Field(min_length=1, max_length=200, description="Display name")

    @field_validator("id")
    @classmethod
    def _dns_label(cls, value: str) -> str:
        if not DNS_LABEL.match(value):
            raise ValueError("a DNS label: 1-63 lower-case letters, digits or -, starting with a letter, "
                             "not ending with -")
        if value in RESERVED_IDS:
            raise ValueError(f"{value!r} is reserved (it names a page)")
        return value

    # validated even when not sent, after ``command`` (declared before it): the one place both are known
    model_uri: str | None = Field(default=None, max_length=1024, validate_default=True,
                                  description="models:/<name>/<version> from the group's MLflow registry")

    @field_validator("model_uri", mode="after")
    @classmethod
    def _one_source(cls, value, info: ValidationInfo):
        if "command" in info.data and bool(info.data["command"]) == bool(value):
            raise PydanticCustomError("source", TWO_SOURCES if value else NO_SOURCE)
        return value


class DeploymentPatch(_Spec):
    """``PATCH /deployments/{id}``: only the fields sent change; a change of what runs
    (instance type, image, command, model, health path, replicas, environment) rolls out a new revision."""


class ClientCreate(_Strict):
    """``POST /deployments/{id}/clients``: a named client of a private deployment."""

    name: str = Field(max_length=63, description="Client name (used as the user name of HTTP basic auth)")
    expires: datetime | None = Field(default=None, description="When the token stops working (ISO 8601); "
                                                                 "default: never")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not DNS_LABEL.match(value):
            raise ValueError("1-63 lower-case letters, digits or -, starting with a letter")
        return value


class Rollback(_Strict):
    """``POST /deployments/{id}/rollback``: roll out the spec of an earlier revision again."""

    revision: int = Field(ge=1, description="The revision (from the update history) to go back to")


@dataclass(frozen=True)
class Runtime:
    """A deployment's spec checked against the group's policy: what each replica reserves."""

    instance_type: InstanceType
    image: Image
    resource_group: ResourceGroup | None = None

    @property
    def request(self) -> Request:
        return request_of(self.instance_type)

    @property
    def placed(self) -> str:
        return self.resource_group.name if self.resource_group else ""


def resolve(instance_type: str | None, image: str | None, policy: GroupPolicy, catalog: Catalog,
            group: str, resource_group: str | None = None) -> Runtime:
    it, im = choose_runtime(instance_type, image, policy, catalog, group)
    return Runtime(it, im, placed_in(resource_group, it, policy, catalog, group))


def model_serve_command(model_uri: str) -> str:
    """MLflow's own server for a registered model, on ``$PORT``, with no environment built at serve time."""
    return (f"exec mlflow models serve -m {shlex.quote(model_uri)} --env-manager local "
            "--host \"${HOST:-0.0.0.0}\" --port \"$PORT\"")
