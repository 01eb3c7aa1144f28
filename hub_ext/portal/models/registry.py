"""A group's registered models, read from its MLflow model registry with MLflow's own client.

No tornado here. The registry is the group policy's ``mlflow_tracking_uri``, else
the platform's ``c.Hubfront.mlflow_tracking_uri`` (:func:`tracking_uri_of`, which
the deployments feature asks too, so a model deployed from the Models page is
loaded from the registry it was listed from).

Why the process environment: MLflow's client takes its HTTP timeout and retry
count only from ``MLFLOW_HTTP_REQUEST_TIMEOUT`` and
``MLFLOW_HTTP_REQUEST_MAX_RETRIES``, read from ``os.environ`` on every request;
its defaults (120 s, 7 retries with back-off) would keep a page waiting for
minutes on a server that is down. There is no per-client or per-call option,
and ``os.environ`` is one for the whole process, so setting them around each
call would race with other threads: :func:`_prepare` sets them for the hub
process, from the hub's config (``Hubfront.mlflow_timeout``/``mlflow_retries``).
Only MLflow reads them, and workloads get their environment from the
spawner and executors, not from the hub's. MLflow also reports its use over
the network unless told not to; the hub tells it not to before importing it
(an operator who wants it sets ``MLFLOW_DISABLE_TELEMETRY=false``).

The blocking client runs on a small pool of its own threads, so a slow server
never takes the threads other hub features use; the whole read has a deadline.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import quote, urlsplit

MAX_MODELS = 500  # registered models listed, at most (the page says when there are more)
MAX_VERSIONS = 5000  # model versions listed, at most, over all models
PAGE = 200  # results per request
DEPLOY_FORM = "portal/deployments/new"  # the deployments form, relative to the hub prefix; takes ?model_uri=

_POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="mlflow-registry")


class RegistryError(Exception):
    """The registry could not be read: what the page and the API say, with MLflow's own reason."""


class AppNotAnswering(RegistryError):
    """The registry is an app of the group that the runner does not reach now: why (stopped, restarting…)."""


@dataclass(frozen=True)
class Version:
    name: str
    version: str
    aliases: list[str]
    stage: str  # MLflow's deprecated stage ("Production", …), or "" when none
    status: str  # READY, PENDING_REGISTRATION or FAILED_REGISTRATION
    status_message: str
    run_id: str
    source: str
    description: str
    created: datetime | None
    model_uri: str  # models:/<name>/<version>, what a deployment serves


@dataclass(frozen=True)
class Model:
    name: str
    description: str
    aliases: dict[str, str]  # alias -> version
    created: datetime | None
    updated: datetime | None
    versions: list[Version] = field(default_factory=list)  # newest first


@dataclass(frozen=True)
class Listing:
    tracking_uri: str  # as shown to members (no secrets)
    models: list[Model]
    truncated: bool  # more models or versions than listed


def model_uri(name: str, version: str) -> str:
    return f"models:/{name}/{version}"


def deploy_link(hub_prefix: str, uri: str) -> str:
    """The deployments form pre-filled with ``uri`` (``hub_prefix`` ends with a slash: ``/hub/``)."""
    return f"{hub_prefix}{DEPLOY_FORM}?model_uri={quote(uri, safe='')}"


def shown_uri(uri: str) -> str:
    """``uri`` without a password, if it holds one (the platform's may; a group policy's may not)."""
    try:
        parts = urlsplit(uri)
        if parts.password:
            return uri.replace(f":{parts.password}@", ":***@", 1)
    except ValueError:
        pass
    return uri


def _prepare(timeout: int, retries: int) -> None:
    """MLflow's settings for the hub process (see the module's docstring for why not per call)."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] = str(int(timeout))
    os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = str(int(retries))


def _check_local(uri: str) -> None:
    """Refuse a local registry that is not there yet: MLflow would create it (files, or its tables
    in whatever SQLite database the URI names), and the hub writes nothing on a page view."""
    scheme, _, rest = uri.partition("://")
    scheme = scheme.lower()
    if scheme == "file":
        if not Path(rest).is_dir():
            raise RegistryError(f"No MLflow registry at {uri}: the directory does not exist")
    elif scheme == "sqlite":
        path = Path(rest[1:])
        if not path.is_file():
            raise RegistryError(f"No MLflow registry at {uri}: the file does not exist")
        try:
            with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
                found = db.execute("select 1 from sqlite_master where type='table' and name='registered_models'"
                                   ).fetchone()
        except sqlite3.Error as exc:
            raise RegistryError(f"No MLflow registry at {uri}: {exc}") from None
        if not found:
            raise RegistryError(f"No MLflow registry at {uri}: the database holds no registered models table")


def _when(ms) -> datetime | None:
    return datetime.fromtimestamp(ms / 1000, timezone.utc) if ms else None


def _pages(search, limit: int, **kw):
    """Every result of an MLflow search (paged), up to ``limit``; and whether there were more."""
    found, token = [], None
    while True:
        page = search(max_results=min(PAGE, limit - len(found) + 1), page_token=token, **kw)
        found.extend(page)
        token = page.token
        if len(found) > limit:
            return found[:limit], True
        if not token:
            return found, False


def read_registry(uri: str, timeout: int = 5, retries: int = 0, max_models: int = MAX_MODELS,
                  max_versions: int = MAX_VERSIONS) -> Listing:
    """The registered models at ``uri`` and their versions (blocking; see :func:`list_models`).

    Raises :class:`RegistryError` naming the server and MLflow's reason when it cannot be read.
    """
    _prepare(timeout, retries)
    if urlsplit(uri).scheme in ("file", "sqlite"):
        _check_local(uri)
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    try:
        client = MlflowClient(tracking_uri=uri, registry_uri=uri)
        registered, more_models = _pages(client.search_registered_models, max_models, order_by=["name ASC"])
        versions, more_versions = _pages(client.search_model_versions, max_versions,
                                         order_by=["name ASC", "version_number DESC"])
    except (MlflowException, OSError, ValueError) as exc:
        reason = str(getattr(exc, "message", "") or exc).replace(uri, shown_uri(uri))
        raise RegistryError(f"The MLflow tracking server at {shown_uri(uri)} could not be read: {reason}") from None
    by_name: dict[str, list] = {}
    for v in versions:
        by_name.setdefault(v.name, []).append(v)
    models = []
    for m in registered:
        aliases = dict(m.aliases or {})
        models.append(Model(
            name=m.name, description=m.description or "", aliases=aliases,
            created=_when(m.creation_timestamp), updated=_when(m.last_updated_timestamp),
            versions=[_version(v, aliases) for v in sorted(by_name.get(m.name, []), key=_number, reverse=True)]))
    return Listing(shown_uri(uri), models, more_models or more_versions)


def _number(v) -> int:
    try:
        return int(v.version)
    except (TypeError, ValueError):
        return 0


def _version(v, aliases: dict[str, str]) -> Version:
    stage = v.current_stage or ""
    return Version(
        name=v.name, version=str(v.version),
        aliases=sorted(a for a, target in aliases.items() if str(target) == str(v.version)),
        stage="" if stage == "None" else stage, status=v.status or "", status_message=v.status_message or "",
        run_id=v.run_id or "", source=v.source or "", description=v.description or "",
        created=_when(v.creation_timestamp), model_uri=model_uri(v.name, str(v.version)))


async def list_models(uri: str, timeout: int = 5, retries: int = 0, **limits) -> Listing:
    """:func:`read_registry` on the registry's own threads, given at most three times ``timeout``
    seconds (each request has ``timeout``, and a listing makes a few)."""
    loop = asyncio.get_running_loop()
    work = loop.run_in_executor(_POOL, lambda: read_registry(uri, timeout, retries, **limits))
    try:
        return await asyncio.wait_for(work, 3 * timeout)
    except asyncio.TimeoutError:
        raise RegistryError(f"The MLflow tracking server at {shown_uri(uri)} did not answer "
                            f"in {3 * timeout} s") from None


def as_json(listing: Listing, hub_prefix: str) -> list[dict]:
    """The models as the API answers them: times in ISO 8601 (UTC), each version with its Deploy link."""
    def iso(value):
        return value.isoformat() if value else None

    out = []
    for m in listing.models:
        item = {**asdict(m), "created": iso(m.created), "updated": iso(m.updated), "versions": []}
        for v in m.versions:
            item["versions"].append({**asdict(v), "created": iso(v.created),
                                     "deploy_url": deploy_link(hub_prefix, v.model_uri)})
        out.append(item)
    return out
