"""App templates: what the catalog offers to install into a group, and how each runs.

A template says what the Apps page shows (name, description, icon, documentation
link, version), what may be set (environment variables with defaults and
descriptions), and per mode how to run it:

- ``local`` (the embedded default): pip packages (built once into a venv under
  ``<data>/envs``, layered on the hub's, as images are) or an npm package (built
  once into an npm prefix there), and a command run by ``/bin/bash -c``;
- ``kubernetes``: a container image and its arguments.

Apps are served at the root of an origin of their own (``c.Apps.origin``, :mod:`.origin`),
never on the hub's. Commands and arguments may use ``{prefix}`` (the public path the app is
served under: "" now that each app has its own host; kept so that templates written for
``/apps/<group>/<app>`` still work), ``{port}`` (the port it
must listen on: locally a free port per app, also given as ``$PORT``), ``{host}`` (the address it must
listen on: locally its loopback, also given as ``$HOST``, which the runner reaches from outside its network
namespace; ``0.0.0.0`` in a pod),
``{data}`` (the app's own folder in the group's storage,
``<group storage>/apps/<app>``, also given as ``$HUBFRONT_APP_DATA``) and ``{shared}`` (the group's
storage); in a pod both are where the pod mounts the group's volume. ``health_path`` is a plain path at
the app's root, the same for every group (a group's name appears in no path of an app). Built-ins name
exact versions: pinned pip packages, npm packages and images (never a moving tag such as ``latest``).
In a local command values are shell-quoted; a pod's
``command`` and ``args`` are words, each expanded as it is. (``base_prefix`` is accepted
for older operator templates; every app is served at its root.) ``min_memory`` and ``min_cpu``
are what the app needs at least: an instance type below either is not offered for it and
refused (400 naming ``instance_type``).

The catalog is ``c.Apps.enabled`` (names, in the order shown) over the built-ins of
:data:`BUILTIN` (:mod:`.builtins`) plus ``c.Apps.templates`` (operator templates, or built-ins
redefined by name). Built-ins that run here: ``mlflow``, ``streamlit`` and
``code-server``; ``label-studio`` and ``tensorboard`` are documented
templates an operator enables by name.
"""

from __future__ import annotations

import re
import shlex

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from traitlets import Int, List, Unicode, observe, validate
from traitlets.config import SingletonConfigurable

from ..quantities import Cpu, Memory, format_cpu, format_memory
from .builtins import BUILTIN, DEFAULT_ENABLED
from .origin import app_origin, check_origin

NAME = re.compile(r"^[a-z]([a-z0-9-]{0,30}[a-z0-9])?$")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
# a path and query needing no percent-encoding (RFC 3986 characters but "%"): what a probe sends as it is
HEALTH_PATH = re.compile(r"/[A-Za-z0-9._~!$&'()*+,;=:@/-]*(\?[A-Za-z0-9._~!$&'()*+,;=:@/?-]*)?")
PLACEHOLDERS = ("prefix", "port", "host", "data", "shared")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EnvVar(_Model):
    name: str = Field(pattern=ENV_NAME.pattern)
    default: str = ""
    description: str = ""
    secret: bool = False  # shown as a password field; its value is never echoed to members


class LocalRun(_Model):
    """How the app runs as a local process (the embedded mode)."""

    pip: list[str] = []  # packages of its venv ([]: the hub's own Python, e.g. for mlflow)
    npm: str = ""  # or one npm package spec ("code-server@4.100.3"); its bin/ is put first on PATH
    # with npm: a bash script run in the npm prefix after ``npm install --ignore-scripts`` (install scripts that
    # would download from elsewhere than the registry, done another way); "": npm runs the install scripts
    npm_setup: str = ""
    command: str

    @model_validator(mode="after")
    def _one_kind(self):
        if self.pip and self.npm:
            raise ValueError("give pip packages or an npm package, not both")
        return self


class KubeRun(_Model):
    """How the app runs as a pod: ``command`` then ``args``, run by the shell (the image's entrypoint is not)."""

    image: str
    command: list[str] = []
    args: list[str] = []


class AppTemplate(_Model):
    name: str = Field(pattern=NAME.pattern)
    display_name: str
    description: str = ""
    icon: str = ""  # inline <svg>…</svg>, or a URL (an image under the portal's static files)
    docs_url: str = ""
    version: str = ""
    env: list[EnvVar] = []
    port: int | None = Field(default=None, ge=1, le=65535)  # fixed container port; None: $PORT
    base_prefix: bool = True  # accepted for older operator templates: every app is served at its own root
    health_path: str = "/"  # a path at the app's root ({prefix} allowed, now "")
    start_timeout: float = Field(default=300.0, gt=0)  # seconds it may take to answer its health check
    local: LocalRun | None = None
    kubernetes: KubeRun | None = None
    registry: bool = False  # an MLflow tracking server: a group can bind it as its Models registry
    # what it needs at least (quantities as the catalog's: "2Gi", "500m"): smaller instance types are refused
    min_memory: Memory = 0
    min_cpu: Cpu = 0.0

    @field_validator("icon")
    @classmethod
    def _icon(cls, value: str) -> str:
        value = value.strip()
        if value.startswith("<") and not (value.startswith("<svg") and value.endswith("</svg>")):
            raise ValueError("an inline icon must be one <svg>…</svg> element")
        if "<script" in value.lower() or re.search(r"\son\w+\s*=", value, re.I):
            raise ValueError("an inline icon may not hold scripts or event handlers")
        return value

    @field_validator("health_path")
    @classmethod
    def _health_path(cls, value: str) -> str:
        if not HEALTH_PATH.fullmatch(value.replace("{prefix}", "")):
            raise ValueError("health_path: a path at the app's root such as /health ({prefix} allowed), "
                             "of characters that need no percent-encoding")
        return value

    @model_validator(mode="after")
    def _runnable(self):
        if self.local is None and self.kubernetes is None:
            raise ValueError("a template needs a local or a kubernetes way to run")
        names = [v.name for v in self.env]
        if len(set(names)) != len(names):
            raise ValueError("environment variable names must be unique")
        return self

    @property
    def defaults(self) -> dict[str, str]:
        return {v.name: v.default for v in self.env}

    @property
    def secrets(self) -> set[str]:
        return {v.name for v in self.env if v.secret}

    def needs(self) -> str:
        """What it needs at least, in words ("1 GiB of memory and 0.5 CPU"; "" when nothing is declared)."""
        parts = ([f"{format_memory(self.min_memory)} of memory"] if self.min_memory else []) + \
            ([f"{format_cpu(self.min_cpu)} CPU"] if self.min_cpu else [])
        return " and ".join(parts)

    def shortfall(self, instance_type) -> str:
        """What ``instance_type`` lacks to hold this app, in plain words ("needs at least 1 GiB of memory"),
        or "" when it holds it."""
        lacks = []
        if instance_type.memory < self.min_memory:
            lacks.append(f"{format_memory(self.min_memory)} of memory")
        if instance_type.cpu + 1e-9 < self.min_cpu:
            lacks.append(f"{format_cpu(self.min_cpu)} CPU")
        return f"needs at least {' and '.join(lacks)}" if lacks else ""

    def too_small(self, instance_type) -> str:
        """Why ``instance_type`` cannot hold this app, naming both ("MLflow tracking server needs at least
        1 GiB of memory; cpu-tiny has 512 MiB"), or ""."""
        lacks = self.shortfall(instance_type)
        if not lacks:
            return ""
        has = [format_memory(instance_type.memory)] if instance_type.memory < self.min_memory else []
        has += [f"{format_cpu(instance_type.cpu)} CPU"] if instance_type.cpu + 1e-9 < self.min_cpu else []
        return f"{self.display_name} {lacks}; {instance_type.name} has {' and '.join(has)}"

    def as_json(self) -> dict:
        data = self.model_dump(exclude={"local", "kubernetes"})
        data["modes"] = [m for m in ("local", "kubernetes") if getattr(self, m) is not None]
        data["npm"] = self.local.npm if self.local else ""
        data["pip"] = list(self.local.pip) if self.local else []
        return data


def expand(text: str, values: dict[str, str], quote_values: bool = True) -> str:
    """``text`` with ``{prefix}``, ``{port}``, ``{host}``, ``{data}`` and ``{shared}`` replaced (shell-quoted for a
    command; other braces are left alone, so shell ``${VAR:-x}`` keeps working)."""
    def sub(match):
        value = str(values[match.group(1)])
        if value.startswith("$") and quote_values:  # "$PORT": expanded by the shell
            return f'"{value}"'
        if match.group(1) in ("port", "host") or not quote_values:
            return value
        return shlex.quote(value)

    return re.sub(r"\{(" + "|".join(PLACEHOLDERS) + r")\}", sub, text)


class Apps(SingletonConfigurable):
    """The app catalog (the hub and the runner read the same)."""

    enabled = List(
        Unicode(), list(DEFAULT_ENABLED),
        help="""Names of the templates offered, in this order: built-ins (mlflow, streamlit,
        code-server; documented: label-studio, tensorboard) and those of ``templates``.""",
    ).tag(config=True)

    templates = List(
        help="""Operator templates (dicts of the AppTemplate fields: name, display_name,
        description, icon, docs_url, version, env, port, base_prefix, health_path, min_memory,
        min_cpu, local, kubernetes); one named like a built-in replaces it. Offered when named in
        ``enabled``.""",
    ).tag(config=True)

    max_restarts = Int(
        5, help="""Restarts in a row (its process ended, out of memory or otherwise, without staying up
        in between) after which an app is no longer restarted: it shows Failed with the reason
        (e.g. "Out of memory (limit 1 GiB): restarted 5 times — choose a larger instance type") until
        its settings change or it is started again. 0: restarted for ever.""",
    ).tag(config=True)

    origin = Unicode(
        "http://{app}--{group}.apps.localhost:8002",
        help="""Where each app is served: an http(s) origin whose host name holds ``{app}`` (the app's
        name) and ``{group}`` (a DNS-safe label of its group's name), e.g.
        ``https://{app}--{group}.apps.example.org`` with a wildcard DNS name and certificate for
        ``*.apps.example.org``. It must be a host name apart from the hub's (not merely another port:
        browsers send a host's cookies to every port of it), so that an app's pages never run with the
        hub's authority. ``*.localhost`` names reach the loopback in browsers (the embedded default,
        ``$HUBFRONT_APPS_ORIGIN``).""",
    ).tag(config=True)

    port = Int(
        0, help="""Port on which the runner serves the apps' origin (0: the port of ``origin``). On
        Kubernetes the wildcard Ingress sends the apps' host names to this port of the runner.""",
    ).tag(config=True)

    bind_ip = Unicode(
        "127.0.0.1", help="""Address the runner's apps port listens on: like the proxy's public port
        (the embedded default binds the loopback; on Kubernetes 0.0.0.0).""",
    ).tag(config=True)

    @validate("origin")
    def _origin(self, proposal):
        return check_origin(proposal["value"])

    def origin_of(self, group: str, app: str) -> str:
        """The origin of ``app`` of ``group`` (``scheme://host[:port]``, no slash)."""
        return app_origin(self.origin, group, app)

    def listen_port(self) -> int:
        from urllib.parse import urlsplit

        parts = urlsplit(self.origin.replace("{app}", "a").replace("{group}", "g"))
        return self.port or parts.port or (443 if parts.scheme == "https" else 80)

    kube_name_prefix = Unicode(
        "hubfront-app-",
        help="""Prefix of the Kubernetes Deployment and Service names of apps (then ``<app>-<id>``);
        it must differ from ``KubernetesDeployments.name_prefix`` (``hubfront-deploy-``) so that an
        app's objects never take a deployment's names.""",
    ).tag(config=True)

    @observe("enabled", "templates")
    def _forget_catalog(self, _change) -> None:
        self._catalog = None

    def catalog(self) -> dict[str, AppTemplate]:
        """The enabled templates, validated once per configuration (the Apps page shows them on every view)."""
        if getattr(self, "_catalog", None) is None:
            self._catalog = catalog(self.enabled, self.templates)
        return self._catalog


def catalog(enabled, extra=()) -> dict[str, AppTemplate]:
    """The enabled templates by name (ValueError naming a template that is unknown or malformed)."""
    known = {**BUILTIN, **{t.get("name"): t for t in extra}}
    out = {}
    for name in enabled:
        if name not in known:
            raise ValueError(f"Apps.enabled: no template named {name!r}")
        try:
            out[name] = AppTemplate.model_validate(known[name])
        except ValueError as exc:
            raise ValueError(f"Apps.templates: template {name!r}: {exc}") from None
    return out


def template(name: str, config=None) -> AppTemplate | None:
    """One template of the configured catalog, enabled or not (an installed app keeps running after
    its template is disabled)."""
    apps = Apps.instance(config=config) if config is not None else Apps.instance()
    known = {**BUILTIN, **{t.get("name"): t for t in apps.templates}}
    return AppTemplate.model_validate(known[name]) if name in known else None


def environment_image(template: AppTemplate):
    """The image whose environment a pip template's app runs from (the builder's ``path_for`` names it)."""
    from ..policy import Image, LocalEnvironment

    return Image(name=f"app-{template.name}", display_name=template.display_name,
                 local=LocalEnvironment(packages=list(template.local.pip)))


def environments_used(db_url: str, builder, config=None) -> dict[str, str]:
    """``{environment name: why}`` for the installed apps (stopped ones too: starting one again must
    not rebuild it), named by ``builder`` (an ``EnvironmentBuilder`` of the environments' directory)."""
    from sqlalchemy import select

    from ..store.engine import read_scope
    from ..store.models_apps import App

    with read_scope(db_url) as s:
        rows = s.execute(select(App.template, App.group, App.name).where(App.delete_requested.is_(False))).all()
    used: dict[str, str] = {}
    for template_name, group, name in rows:
        found = template(template_name, config)
        if found is None or found.local is None:
            continue
        if found.local.npm:
            path = builder.npm_path_for(found.local.npm, found.local.npm_setup)
        elif found.local.pip:
            path = builder.path_for(environment_image(found))
        else:
            continue
        used.setdefault(path.name, f"app {name} of group {group}")
    return used
