"""The one reader of the cluster's pod metrics (``metrics.k8s.io/v1beta1`` PodMetrics, which
metrics-server serves): what each pod uses now, CPU in cores and memory in bytes summed over its
containers, with the sample's time and the window its CPU figure averages over. System Resources shows
it for each of a member's sessions; the idle culler asks it whether a pod is busy.

A namespace is read as one list of every Hubfront pod in it (the label selector ``hubfront.io/user``,
which notebook, job, replica and app pods all carry), kept for ``PodMetrics.cache_seconds``. However
many pages refresh and whatever pods they ask about, the API server gets at most one request per
namespace (and selector) in that time, and askers who arrive while it is on its way wait for it.

When the metrics API cannot answer, the answer has no figures and a plain reason (``Usage.unavailable``):
not installed (404), not allowed (403), not answering (503, or the API server out of reach). The reason
is logged once, when it starts, and kept for ``PodMetrics.retry_seconds``. Nothing here raises.

Kubernetes quantities (``250m``, ``123456789n``, ``512Mi``) and Go durations (``15.02s``, ``1m0s``) are
parsed here: no library in the environment reads them (``hub_ext.quantities`` reads what people write).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation

from traitlets import Any, Float
from traitlets.config import LoggingConfigurable

from .kube import USER_LABEL, api_message

log = logging.getLogger("hubfront.pod_metrics")

GROUP, VERSION, PLURAL = "metrics.k8s.io", "v1beta1", "pods"
HUBFRONT_PODS = USER_LABEL  # a label selector: every pod carrying the label (every Hubfront workload's)

NOT_INSTALLED = "The cluster has no metrics API (metrics-server is not installed)"
NOT_ALLOWED = ("The hub may not read pod metrics in namespace {namespace} (config/kubernetes/rbac.yaml grants "
               "its service account list on pods in metrics.k8s.io)")
NOT_ANSWERING = "The cluster's metrics API is not answering (metrics-server is unavailable)"
UNREACHABLE = "The Kubernetes API server cannot be reached"
NO_CLUSTER = "The hub has no Kubernetes configuration (no service account, no kubeconfig)"
REFUSED = "The cluster's metrics API refused to answer: {message}"


# -- what an answer says --------------------------------------------------------------------------

@dataclass(frozen=True)
class PodUsage:
    """One pod's use in its latest sample: the sum over its containers."""

    name: str
    namespace: str
    cpu: float  # cores, averaged over ``window``
    memory: int  # bytes (the working set)
    window: float  # seconds
    timestamp: datetime | None  # when the sample was taken (UTC)
    containers: int
    labels: Mapping[str, str] = field(default_factory=dict, compare=False)  # when metrics-server copies them


@dataclass(frozen=True)
class Usage:
    """``by_pod``: pod name -> its use, for the pods that have a sample (a pod that started in the last
    half minute, or is not Running, has none yet); ``unavailable``: why no pod has figures (empty when
    the metrics API answered)."""

    by_pod: dict[str, PodUsage] = field(default_factory=dict)
    unavailable: str = ""

    def named(self, pods: Iterable[str] | None) -> Usage:
        """The same answer for ``pods`` only (all of them for None)."""
        if pods is None:
            return self
        wanted = set(pods)
        return Usage({name: u for name, u in self.by_pod.items() if name in wanted}, self.unavailable)

    def starting(self, prefix: str) -> list[PodUsage]:
        """The pods whose names start with ``prefix`` (a Job's pods: ``<job name>-``), by name."""
        return [self.by_pod[name] for name in sorted(self.by_pod) if name.startswith(prefix)]


_SUFFIXES = {
    "n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": Decimal(1),
    "k": Decimal(10) ** 3, "M": Decimal(10) ** 6, "G": Decimal(10) ** 9, "T": Decimal(10) ** 12,
    "P": Decimal(10) ** 15, "E": Decimal(10) ** 18,
    "Ki": Decimal(2) ** 10, "Mi": Decimal(2) ** 20, "Gi": Decimal(2) ** 30, "Ti": Decimal(2) ** 40,
    "Pi": Decimal(2) ** 50, "Ei": Decimal(2) ** 60,
}
_QUANTITY = re.compile(r"^([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))(?:([eE][+-]?[0-9]+)|([a-zA-Z]*))$")
_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h)")
_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_quantity(text) -> Decimal:
    """A Kubernetes quantity as a number: ``250m`` -> 0.25, ``123456789n`` -> 0.123456789, ``1`` -> 1,
    ``512Mi`` -> 536870912, ``1e3`` -> 1000. ValueError for anything else."""
    m = _QUANTITY.match(str(text).strip())
    if not m or (m.group(3) or "") not in _SUFFIXES:
        raise ValueError(f"not a Kubernetes quantity: {text!r}")
    try:
        number = Decimal(m.group(1))
        return number * (Decimal(f"1{m.group(2)}") if m.group(2) else _SUFFIXES[m.group(3) or ""])
    except InvalidOperation:
        raise ValueError(f"not a Kubernetes quantity: {text!r}") from None


def parse_duration(text) -> float:
    """A Go duration as metrics-server writes a window, in seconds: ``15.02s``, ``1m0s``, ``500ms``."""
    text = str(text).strip()
    if text in ("0", ""):
        return 0.0
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"not a duration: {text!r}")
    return sum(float(n) * _DURATION_UNITS[u] for n, u in parts)


def _timestamp(text) -> datetime | None:
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00")) if text else None
    except ValueError:
        return None


def pod_usage_of(item: Mapping) -> PodUsage:
    """One PodMetrics object (Kubernetes JSON) read: CPU and memory summed over its containers.
    ValueError/KeyError/TypeError when it is not the shape metrics.k8s.io gives."""
    meta = item["metadata"]
    containers = item.get("containers") or []
    cpu, memory = Decimal(0), Decimal(0)
    for container in containers:
        usage = container.get("usage") or {}
        cpu += parse_quantity(usage.get("cpu", "0"))
        memory += parse_quantity(usage.get("memory", "0"))
    return PodUsage(name=meta["name"], namespace=meta.get("namespace", ""), cpu=float(cpu), memory=int(memory),
                    window=parse_duration(item.get("window") or "0"), timestamp=_timestamp(item.get("timestamp")),
                    containers=len(containers), labels=dict(meta.get("labels") or {}))


def usage_of(answer: Mapping) -> dict[str, PodUsage]:
    """A PodMetricsList (Kubernetes JSON) by pod name; an item of another shape is skipped (and logged)."""
    found = {}
    for item in answer.get("items") or []:
        try:
            pod = pod_usage_of(item)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            log.warning("Skipping a PodMetrics item that does not read (%s: %s)", type(exc).__name__, exc)
            continue
        found[pod.name] = pod
    return found


def reason_of(exc: BaseException, namespace: str) -> str:
    """Why the metrics API gave nothing, in plain words."""
    import aiohttp
    from kubernetes_asyncio.client.exceptions import ApiException
    from kubernetes_asyncio.config import ConfigException

    if isinstance(exc, ApiException):
        if exc.status == 404:
            return NOT_INSTALLED
        if exc.status == 403:
            return NOT_ALLOWED.format(namespace=namespace)
        if exc.status in (502, 503, 504):
            return NOT_ANSWERING
        return REFUSED.format(message=api_message(exc))
    if isinstance(exc, ConfigException):
        return NO_CLUSTER
    if isinstance(exc, (aiohttp.ClientError, asyncio.TimeoutError, OSError)):
        return UNREACHABLE
    return f"The cluster's pod metrics could not be read ({type(exc).__name__})"


def detail_of(exc: BaseException) -> str:
    """What the failure said, for the log: the API server's message, or the exception."""
    from kubernetes_asyncio.client.exceptions import ApiException

    return api_message(exc) if isinstance(exc, ApiException) else f"{type(exc).__name__}: {exc}"


# -- the reader -----------------------------------------------------------------------------------

@dataclass
class _Kept:
    at: float  # time.monotonic()
    by_pod: dict[str, PodUsage]
    unavailable: str


# shared by every reader in the process, so every page and the culler share one request per namespace
_kept: dict[tuple[str, str], _Kept] = {}
_pending: dict[tuple[str, str], tuple[asyncio.AbstractEventLoop, asyncio.Future]] = {}
_logged: dict[str, str] = {}  # namespace -> the reason last logged ("" once it answers again)


class PodMetrics(LoggingConfigurable):
    """Reads ``metrics.k8s.io`` PodMetrics in a namespace, kept a few seconds (see the module)."""

    cache_seconds = Float(
        5.0, help="""How long a namespace's pod metrics are kept before the metrics API is asked again, in
        seconds. metrics-server samples every 15 s by default, so a shorter time gains little.""",
    ).tag(config=True)

    retry_seconds = Float(
        30.0, help="""How long an answer that the metrics API is unavailable (not installed, not allowed,
        not answering) is kept before asking again, in seconds.""",
    ).tag(config=True)

    timeout_seconds = Float(
        5.0, help="How long one request to the metrics API may take, in seconds, before it counts as not answering.",
    ).tag(config=True)

    api = Any(None, help="A CustomObjectsApi to ask (tests); None: one from the service account or kubeconfig.")

    async def usage(self, namespace: str, pods: Iterable[str] | None = None, *,
                    selector: str = HUBFRONT_PODS) -> Usage:
        """The use of ``pods`` in ``namespace`` (every pod ``selector`` matches, for None)."""
        key = (namespace, selector)
        kept = _kept.get(key)
        if kept is None or time.monotonic() - kept.at > (self.cache_seconds if not kept.unavailable
                                                          else self.retry_seconds):
            kept = await self._single_flight(key)
        return Usage(dict(kept.by_pod), kept.unavailable).named(pods)  # a copy: the kept one is shared

    async def _single_flight(self, key: tuple[str, str]) -> _Kept:
        loop = asyncio.get_running_loop()
        pending = _pending.get(key)
        if pending is not None and pending[0] is loop and not pending[1].done():
            try:
                return await asyncio.shield(pending[1])
            except asyncio.CancelledError:
                if not pending[1].cancelled():
                    raise  # this asker was cancelled
                # the one who asked went away before the answer: ask again
        future = loop.create_future()
        _pending[key] = (loop, future)
        try:
            kept = await self._read(*key)  # raises nothing but cancellation
        except asyncio.CancelledError:
            future.cancel()
            raise
        finally:
            if _pending.get(key, (None, None))[1] is future:
                del _pending[key]
        if len(_kept) > 1000:  # namespaces x selectors: a handful; never a leak
            _kept.clear()
        _kept[key] = kept
        future.set_result(kept)
        return kept

    async def _read(self, namespace: str, selector: str) -> _Kept:
        try:
            answer = await self._list(namespace, selector)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - never into a page: every failure is a reason
            reason = reason_of(exc, namespace)

            if _logged.get(namespace) != reason:
                _logged[namespace] = reason
                log.warning("No pod metrics in namespace %s: %s (%s)", namespace, reason, detail_of(exc))
            return _Kept(time.monotonic(), {}, reason)
        if _logged.get(namespace):
            log.info("Pod metrics in namespace %s are readable again", namespace)
        _logged[namespace] = ""
        return _Kept(time.monotonic(), usage_of(answer if isinstance(answer, Mapping) else {}), "")

    async def _list(self, namespace: str, selector: str):
        if self.api is not None:
            return await self._ask(self.api, namespace, selector)
        from kubernetes_asyncio import client, config

        try:
            config.load_incluster_config()
        except config.ConfigException:
            await config.load_kube_config()
        async with client.ApiClient() as api:
            return await self._ask(client.CustomObjectsApi(api), namespace, selector)

    async def _ask(self, api, namespace: str, selector: str):
        return await api.list_namespaced_custom_object(
            group=GROUP, version=VERSION, namespace=namespace, plural=PLURAL, label_selector=selector or None,
            _request_timeout=self.timeout_seconds)


async def pod_usage(namespace: str, pods: Iterable[str] | None = None, *, selector: str = HUBFRONT_PODS,
                    config=None, api=None) -> Usage:
    """What ``pods`` in ``namespace`` use now (every pod ``selector`` matches, for None): ``Usage.by_pod``
    has the pods with a sample, ``Usage.unavailable`` says why there are no figures at all. ``config``:
    the process's traitlets config (``c.PodMetrics``); ``api``: a CustomObjectsApi to ask instead of the
    cluster's. Never raises (but for cancellation)."""
    return await PodMetrics(config=config, api=api).usage(namespace, pods, selector=selector)


def forget() -> None:
    """Drop every kept answer (tests; an operator's change of the cluster is picked up within seconds anyway)."""
    _kept.clear()
    _logged.clear()
