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
for older operator templates; every app is served at its root.)

The catalog is ``c.Apps.enabled`` (names, in the order shown) over the built-ins of
:data:`BUILTIN` plus ``c.Apps.templates`` (operator templates, or built-ins
redefined by name). Built-ins that run here: ``mlflow``, ``streamlit`` and
``code-server``; ``label-studio`` and ``tensorboard`` are documented
templates an operator enables by name.
"""

from __future__ import annotations

import re
import shlex

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from traitlets import Int, List, Unicode, validate
from traitlets.config import SingletonConfigurable

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


# -- built-ins ---------------------------------------------------------------------------------

_ICON = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32" width="32" height="32">{}</svg>'
_STREAMLIT_EXAMPLE = '''import streamlit as st

st.title("Hello from your group's Streamlit app")
st.write("Edit this file in the group's storage (apps/<app>/app.py) and the page reloads.")
n = st.slider("How many?", 1, 100, 25)
st.line_chart([i * i for i in range(n)])
'''
_STREAMLIT = "1.67.0"
_STREAMLIT_RUN = ("mkdir -p {{data}} && cd {{data}} && app=\"${{STREAMLIT_APP:-app.py}}\" && "
                  "{{ [ -e \"$app\" ] || cat > \"$app\" <<'EOF'\n" + _STREAMLIT_EXAMPLE.replace("{", "{{").replace("}", "}}")
                  + "EOF\n}} && exec {streamlit} run \"$app\" --server.address {{host}} --server.port {{port}} "
                  "--server.headless true --server.enableXsrfProtection false --browser.gatherUsageStats false")
_LABEL_STUDIO = "1.23.2"
_LABEL_STUDIO_RUN = ("mkdir -p {data} && LABEL_STUDIO_BASE_DATA_DIR={data} exec label-studio start --no-browser "
                     "--internal-host {host} --port {port}")  # its projects in the app's folder, here and in a pod
_TENSORBOARD = "2.21.0"
_TENSORBOARD_RUN = "cd {shared} && exec tensorboard --logdir \"${LOGDIR:-logs}\" --host {host} --port {port}"

BUILTIN: dict[str, dict] = {
    "mlflow": {
        "name": "mlflow", "display_name": "MLflow tracking server",
        "description": "Experiment tracking and a model registry for the group. Runs, metrics and models are "
                       "kept in the group's storage (a SQLite database and an artifacts folder). Bind it as the "
                       "group's registry and the Models page lists what members register.",
        "icon": _ICON.format('<rect width="32" height="32" rx="6" fill="#0194e2"/><path d="M7 22l6-9 5 6 3-4 4 7" '
                             'stroke="#fff" stroke-width="2.5" fill="none" stroke-linejoin="round"/>'),
        "docs_url": "https://mlflow.org/docs/latest/tracking.html", "version": "3",
        "env": [{"name": "MLFLOW_WORKERS", "default": "1", "description": "Server worker processes"}],
        "health_path": "/health", "registry": True,
        "local": {"command": "mkdir -p {data}/artifacts && exec mlflow server --host {host} --port {port} "
                             "--workers \"${MLFLOW_WORKERS:-1}\" --backend-store-uri sqlite:///{data}/mlflow.db "
                             "--artifacts-destination {data}/artifacts --serve-artifacts "
                             "--allowed-hosts '*' --cors-allowed-origins '*'"},
        # the server's version within the hub's MLflow client's range (pyproject.toml, mlflow-skinny)
        "kubernetes": {"image": "ghcr.io/mlflow/mlflow:v3.18.0", "command": ["/bin/sh", "-c"],
                       "args": ["mkdir -p {data}/artifacts && exec mlflow server --host {host} --port {port} "
                                "--workers \"${MLFLOW_WORKERS:-1}\" --backend-store-uri sqlite:///{data}/mlflow.db "
                                "--artifacts-destination {data}/artifacts --serve-artifacts --allowed-hosts '*' "
                                "--cors-allowed-origins '*'"]},
    },
    "streamlit": {
        "name": "streamlit", "display_name": "Streamlit",
        "description": "Serves a Streamlit app file from the group's storage. Without one it writes a small "
                       "example (apps/<app>/app.py) to start from.",
        "icon": _ICON.format('<rect width="32" height="32" rx="6" fill="#fff"/><path d="M16 5l11 19H5z" '
                             'fill="#ff4b4b"/><path d="M16 12l6 12H10z" fill="#7d353b"/>'),
        "docs_url": "https://docs.streamlit.io/", "version": _STREAMLIT,
        "env": [{"name": "STREAMLIT_APP", "default": "app.py",
                 "description": "The app file, relative to the app's folder in the group's storage"}],
        "health_path": "/_stcore/health",
        "local": {"pip": [f"streamlit=={_STREAMLIT}"], "command": _STREAMLIT_RUN.format(streamlit="streamlit")},
        # the image's uid has no home: Streamlit goes into a user site under /tmp
        "kubernetes": {"image": "python:3.12.12-slim", "command": ["/bin/sh", "-c"],
                       "args": [f"export HOME=/tmp && python -m pip install --user --quiet --no-cache-dir "
                                f"--disable-pip-version-check streamlit=={_STREAMLIT} && "
                                + _STREAMLIT_RUN.format(streamlit="python -m streamlit")]},
    },
    "code-server": {
        "name": "code-server", "display_name": "VS Code (code-server)",
        "description": "VS Code in the browser on the group's storage, for everyone the app's access allows. "
                       "Extensions and settings are kept in the app's folder.",
        "icon": _ICON.format('<rect width="32" height="32" rx="6" fill="#007acc"/><path d="M22 6l-11 10 11 10V6z'
                             'M11 16L6 12v8z" fill="#fff"/>'),
        "docs_url": "https://coder.com/docs/code-server", "version": "4.100.3",
        "base_prefix": False, "health_path": "/healthz",
        # its install scripts fetch from GitHub: scripts/install-code-server.sh does their work from the registry
        "local": {"npm": "code-server@4.100.3",
                  "npm_setup": "sh \"$HUBFRONT_SCRIPTS/install-code-server.sh\" \"$PWD\" 4.100.3",
                  "command": "mkdir -p {data} && exec code-server --auth none --bind-addr {host}:{port} "
                             "--disable-telemetry --disable-update-check --user-data-dir {data}/user-data "
                             "--extensions-dir {data}/extensions {shared}"},
        "kubernetes": {"image": "codercom/code-server:4.100.3", "command": ["code-server"],
                       "args": ["--auth", "none", "--bind-addr", "0.0.0.0:{port}", "--disable-telemetry",
                                "--user-data-dir", "{data}/user-data", "{shared}"]},
    },
    # documented templates: an operator enables them by name (c.Apps.enabled)
    "label-studio": {
        "name": "label-studio", "display_name": "Label Studio",
        "description": "Data labelling for images, text and audio; projects are kept in the group's storage.",
        "icon": _ICON.format('<rect width="32" height="32" rx="6" fill="#ff7557"/><path d="M9 8h4v12h10v4H9z" '
                             'fill="#fff"/>'),
        "docs_url": "https://labelstud.io/guide/", "version": _LABEL_STUDIO,
        "env": [{"name": "LABEL_STUDIO_USERNAME", "default": "admin@example.org",
                 "description": "The first user's login"},
                {"name": "LABEL_STUDIO_PASSWORD", "description": "The first user's password", "secret": True}],
        "base_prefix": False, "health_path": "/health",
        "local": {"pip": [f"label-studio=={_LABEL_STUDIO}"], "command": _LABEL_STUDIO_RUN},
        "kubernetes": {"image": f"heartexlabs/label-studio:{_LABEL_STUDIO}", "command": ["/bin/sh", "-c"],
                       "args": [_LABEL_STUDIO_RUN]},
    },
    "tensorboard": {
        "name": "tensorboard", "display_name": "TensorBoard",
        "description": "TensorBoard over a log folder of the group's storage (env LOGDIR, relative to it).",
        "icon": _ICON.format('<rect width="32" height="32" rx="6" fill="#ff6f00"/><path d="M16 5l10 6v10l-10 6'
                             '-10-6V11z" fill="#fff"/>'),
        "docs_url": "https://www.tensorflow.org/tensorboard", "version": _TENSORBOARD,
        "env": [{"name": "LOGDIR", "default": "logs", "description": "Log folder, relative to the group's storage"}],
        "health_path": "/",
        "local": {"pip": [f"tensorboard=={_TENSORBOARD}"], "command": _TENSORBOARD_RUN},
        # TensorFlow's image of the same version (its TensorBoard is of that version)
        "kubernetes": {"image": f"tensorflow/tensorflow:{_TENSORBOARD}", "command": ["/bin/sh", "-c"],
                       "args": [_TENSORBOARD_RUN]},
    },
}
DEFAULT_ENABLED = ("mlflow", "streamlit", "code-server")


class Apps(SingletonConfigurable):
    """The app catalog (the hub and the runner read the same)."""

    enabled = List(
        Unicode(), list(DEFAULT_ENABLED),
        help="""Names of the templates offered, in this order: built-ins (mlflow, streamlit,
        code-server; documented: label-studio, tensorboard) and those of ``templates``.""",
    ).tag(config=True)

    templates = List(
        help="""Operator templates (dicts of the AppTemplate fields: name, display_name,
        description, icon, docs_url, version, env, port, base_prefix, health_path, local,
        kubernetes); one named like a built-in replaces it. Offered when named in ``enabled``.""",
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

    def catalog(self) -> dict[str, AppTemplate]:
        return catalog(self.enabled, self.templates)


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
