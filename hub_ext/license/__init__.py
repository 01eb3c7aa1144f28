"""The license: what the vendor granted, whether it holds, and the banners it causes.

A license is a token signed by the vendor with Ed25519 (``license.token``: keys,
signing, checking). ``evaluate()`` is the one place that decides what the
license allows and which banners it causes, for every page and for admission. It
never raises: a missing, malformed, tampered, foreign or not-yet-started license
falls back to the free tier (``free_tier_max_*``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from pydantic import Field
from sqlalchemy import func, select
from traitlets import Enum, Float, Int, List, Unicode, default
from traitlets.config import Configurable

from ..bodies import Strict
from ..store import get_engine, session_scope
from ..store.models import utcnow
from ..store.models_deployments import Deployment
from ..store.models_portal import InstalledLicense
from .token import (  # noqa: F401 - the vendor side's names, used from here too
    LicenseError, LicenseTerms, _verified, issue, keygen, parse_when,
)

log = logging.getLogger("hubfront.license")

EXPIRED_TEXT = "Your license has expired. Please contact your sales team to extend your license."
NODES_TEXT = "You are using more nodes than your license allows. Please contact your system administrator."
DEPLOYMENTS_TEXT = ("Please contact your system administrator for assistance to upgrade your license "
                    "to run more models.")


class HubfrontLicense(Configurable):
    public_keys = List(
        Unicode(),
        help="""Vendor public keys that may sign licenses: base64 of the raw 32-byte
        Ed25519 key (as printed by ``hubfront license keygen``) or PEM. Several keys
        allow a key rotation. Defaults to $HUBFRONT_LICENSE_PUBLIC_KEYS (comma-separated).""",
    ).tag(config=True)

    @default("public_keys")
    def _public_keys_default(self):
        return [k.strip() for k in os.environ.get("HUBFRONT_LICENSE_PUBLIC_KEYS", "").split(",") if k.strip()]

    license = Unicode(
        "",
        help="""A license token given in configuration. A license installed from the
        License page takes precedence; this one is used while none is installed.""",
    ).tag(config=True)
    license_file = Unicode(
        help="""A file holding the license token (e.g. a mounted Kubernetes secret);
        read when ``license`` is empty and no license was installed from the page.
        Defaults to $HUBFRONT_LICENSE_FILE.""",
    ).tag(config=True)

    @default("license_file")
    def _license_file_default(self):
        return os.environ.get("HUBFRONT_LICENSE_FILE", "")

    free_tier_max_nodes = Int(
        1, help="Nodes allowed without a valid license (the free tier).",
    ).tag(config=True)
    free_tier_max_deployments = Int(
        1, help="Model deployments allowed without a valid license (the free tier).",
    ).tag(config=True)
    node_counter = Enum(
        ["local", "kubernetes"], "local",
        help="""How nodes are counted against the license: ``local`` is the one machine
        of the embedded default; ``kubernetes`` counts the cluster's nodes (matching
        ``kubernetes_node_selector``) with kubernetes_asyncio.""",
    ).tag(config=True)
    kubernetes_node_selector = Unicode(
        "", help="Label selector of the Kubernetes nodes that count against the license.",
    ).tag(config=True)
    check_interval = Float(
        5.0, help="""Seconds for which pages reuse one license check (its deployment
        count included); installing a license from the page takes effect at once.""",
    ).tag(config=True)
    node_count_interval = Float(
        60.0, help="Seconds between two counts of the Kubernetes nodes.",
    ).tag(config=True)


_settings: dict[int, HubfrontLicense] = {}


def settings() -> HubfrontLicense:
    """This process's license settings, from the hub's traitlets config."""
    from ..settings import Hubfront

    config = Hubfront.instance().config
    found = _settings.get(id(config))
    if found is None or found.config is not config:
        _settings.clear()
        found = _settings[id(config)] = HubfrontLicense(config=config)
    return found


class LicenseInstall(Strict):
    """``PUT /api/portal/license``: install a license token."""

    license: str = Field(min_length=1, description="The license token from your vendor")


@dataclass(frozen=True)
class LicenseState:
    """``status``: valid, expired, not_started, invalid or missing."""

    status: str
    reason: str = ""
    terms: LicenseTerms | None = None

    @property
    def valid(self) -> bool:
        return self.status == "valid"


def verify(token: str | None, public_keys, now: datetime | None = None) -> LicenseState:
    if not token or not token.strip():
        return LicenseState("missing", "No license is installed.")
    try:
        terms = _verified(token.strip(), tuple(public_keys))
    except LicenseError as exc:
        return LicenseState("invalid", f"The license is invalid: {exc}.")
    now = now or utcnow()
    if now < terms.starts:
        return LicenseState("not_started", f"The license starts on {terms.starts:%Y-%m-%d}.", terms)
    if now >= terms.expires:
        return LicenseState("expired", f"The license expired on {terms.expires:%Y-%m-%d}.", terms)
    return LicenseState("valid", "", terms)


class _KubernetesNodes:
    """The cluster's node count, refreshed in the background (never on a page's path)."""

    def __init__(self):
        self.count: int | None = None
        self.checked = 0.0
        self.task = None

    def current(self, cfg: HubfrontLicense) -> int:
        stale = time.monotonic() - self.checked > cfg.node_count_interval
        if stale and (self.task is None or self.task.done()):
            with suppress(RuntimeError):  # no running loop (a script): keep the last count
                self.task = asyncio.get_running_loop().create_task(self._refresh(cfg.kubernetes_node_selector))
                self.checked = time.monotonic()
        return self.count or 0

    async def _refresh(self, selector: str) -> None:
        try:
            from ..kube_nodes import list_nodes

            self.count = len(await list_nodes(selector=selector or None))
        except Exception:  # noqa: BLE001 - the license check must never take the hub down
            log.exception("Counting Kubernetes nodes failed; keeping the last count")


_kube_nodes = _KubernetesNodes()


def count_nodes(cfg: HubfrontLicense) -> int:
    """Nodes in use: the one local machine, or the Kubernetes cluster's nodes."""
    if cfg.node_counter == "kubernetes":
        return _kube_nodes.current(cfg)
    return 1


def count_deployments(db_url: str) -> int:
    """Model deployments that count against the license: those not stopped (and not being deleted)."""
    d = Deployment.__table__
    with get_engine(db_url).connect() as conn:
        return conn.execute(select(func.count()).select_from(d).where(
            d.c.stopped.is_(False), d.c.delete_requested.is_(False))).scalar() or 0


def deployments_over(max_deployments: int, used: int) -> bool:
    """Whether ``used`` deployments are more than the license allows, with its 10% grace (exactly
    +10% is still fine). The banner asks it of the deployments there are; admission of one more."""
    return used * 10 > max_deployments * 11


@dataclass(frozen=True)
class LicenseWarning:
    id: str
    text: str
    level: str  # bootstrap alert level


@dataclass
class LicenseReport:
    state: LicenseState
    source: str  # "page", "config" or "none"
    max_nodes: int
    max_deployments: int
    used_nodes: int
    used_deployments: int
    warnings: list[LicenseWarning] = field(default_factory=list)

    @property
    def type(self) -> str:
        return "Enterprise" if self.state.valid else "Free tier"


def warnings_for(state: LicenseState, max_nodes: int, max_deployments: int, used_nodes: int,
                 used_deployments: int) -> list[LicenseWarning]:
    found = []
    if state.status == "expired":
        found.append(LicenseWarning("license-expired", EXPIRED_TEXT, "danger"))
    if used_nodes > max_nodes:
        found.append(LicenseWarning("license-nodes", NODES_TEXT, "warning"))
    if deployments_over(max_deployments, used_deployments):
        found.append(LicenseWarning("license-deployments", DEPLOYMENTS_TEXT, "warning"))
    return found


def installed_token(db_url: str, cfg: HubfrontLicense) -> tuple[str | None, str]:
    """The token in force and where it comes from: the newest page install, else config."""
    t = InstalledLicense.__table__
    with get_engine(db_url).connect() as conn:
        token = conn.execute(select(t.c.token).order_by(t.c.id.desc()).limit(1)).scalar()
    if token:
        return token, "page"
    if cfg.license.strip():
        return cfg.license, "config"
    if cfg.license_file:
        try:
            return Path(cfg.license_file).read_text(), "config"
        except OSError as exc:
            log.warning("Cannot read the license file %s: %s", cfg.license_file, exc)
    return None, "none"


_reports: dict[str, tuple[float, LicenseReport]] = {}


def evaluate(db_url: str, cfg: HubfrontLicense | None = None, now: datetime | None = None,
             fresh: bool = False) -> LicenseReport:
    """What the license allows now, what is used, and the banners that follow. Never raises.

    Pages call it several times a second, so with the configured settings the
    report is reused for ``check_interval`` seconds (``fresh=True`` skips that).
    """
    shared = cfg is None and now is None
    cfg = cfg or settings()
    cached = _reports.get(db_url) if shared and not fresh else None
    if cached and time.monotonic() - cached[0] < cfg.check_interval:
        return cached[1]
    try:
        token, source = installed_token(db_url, cfg)
        state = verify(token, cfg.public_keys, now)
        used_deployments = count_deployments(db_url)
    except Exception as exc:  # noqa: BLE001 - e.g. the database is briefly unavailable
        log.exception("License check failed")
        state, source, used_deployments = LicenseState("invalid", f"The license check failed: {exc}"), "none", 0
    terms = state.terms if state.valid else None
    max_nodes = terms.max_nodes if terms else cfg.free_tier_max_nodes
    max_deployments = terms.max_deployments if terms else cfg.free_tier_max_deployments
    used_nodes = count_nodes(cfg)
    report = LicenseReport(state, source, max_nodes, max_deployments, used_nodes, used_deployments,
                           warnings_for(state, max_nodes, max_deployments, used_nodes, used_deployments))
    if shared:
        _reports[db_url] = (time.monotonic(), report)
    return report


def install(db_url: str, token: str, username: str, cfg: HubfrontLicense | None = None) -> LicenseState:
    """Install a token from the License page. Refuses (LicenseError) one whose signature fails."""
    cfg = cfg or settings()
    token = "".join((token or "").split())
    state = verify(token, cfg.public_keys)
    if state.status in ("missing", "invalid"):
        raise LicenseError(state.reason)
    with session_scope(db_url) as s:
        s.add(InstalledLicense(token=token, installed_by=username, installed=utcnow()))
    _reports.pop(db_url, None)
    return state
