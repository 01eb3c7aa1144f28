"""App requests: the pydantic models that validate what users send (API bodies, the page's forms,
the OpenAPI document), checked against the template (environment variables it declares)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from ..bodies import BodyError, Strict
from ..quantities import Lifetime
from ..jobs.requests import _check_env
from ..store.models_apps import ACCESS_SCOPES
from .templates import NAME, AppTemplate

RESERVED_NAMES = ("new",)
Access = Literal["group", "users", "public"]
assert set(ACCESS_SCOPES) == {"group", "users", "public"}


class _Settings(Strict):
    display_name: str | None = Field(default=None, max_length=200, description="Shown on the Apps page")
    instance_type: str | None = Field(default=None, max_length=255,
                                      description="Default: the group's default instance type")
    resource_group: str | None = Field(default=None, max_length=255,
                                       description="Where it runs; default: the first the group may use")
    env: dict[str, str] | None = Field(default=None, description="Overrides of the template's variables")
    access: Access | None = Field(default=None, description="`group` (members only, the default), `users` "
                                                            "(any logged-in user) or `public` (anyone)")
    idle_timeout: Lifetime | None = Field(default=None, description="Stop the app after this long without "
                                          "requests (seconds, or 30m, 2h, 1d; `never` or 0: never, the default: "
                                          "apps are shared)")

    _env = field_validator("env")(lambda cls, v: v if v is None else _check_env(v))


class AppInstall(_Settings):
    """``POST /groups/{group}/apps``: install a template of the catalog into the group."""

    name: str = Field(max_length=32, description="The app's name in the group: its address is /apps/<group>/<name>/")
    template: str = Field(max_length=63, description="A template of GET /apps/templates")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not NAME.match(value):
            raise ValueError("1-32 lower-case letters, digits or -, starting with a letter")
        if value in RESERVED_NAMES:
            raise ValueError(f"{value!r} is reserved")
        return value


class AppPatch(_Settings):
    """``PATCH /groups/{group}/apps/{app}``: only the fields sent change. A new instance type or
    environment restarts a running app (a new revision); display name and access change at once."""


def check_env(template: AppTemplate, env: dict[str, str] | None) -> dict[str, str]:
    """The overrides, each a variable the template declares (400 naming ``env.<NAME>`` otherwise)."""
    declared = {v.name for v in template.env}
    has = ", ".join(sorted(declared)) or "none"
    unknown = {f"env.{k}": f"not a variable of template {template.name} (it has: {has})"
               for k in env or {} if k not in declared}
    if unknown:
        raise BodyError(unknown)
    return dict(env or {})
