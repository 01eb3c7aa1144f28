"""``hub_ext.pod_metrics``: the cluster's PodMetrics read (recorded answers in the shape metrics-server
gives), summed over containers, kept a few seconds, and a plain reason when the metrics API cannot answer."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import datetime, timezone

import aiohttp
import pytest
from kubernetes_asyncio.client.exceptions import ApiException
from kubernetes_asyncio.config import ConfigException

from hub_ext import pod_metrics
from hub_ext.pod_metrics import (
    NOT_ANSWERING,
    NOT_INSTALLED,
    UNREACHABLE,
    PodMetrics,
    parse_duration,
    parse_quantity,
    pod_usage,
    pod_usage_of,
)

# `kubectl get --raw /apis/metrics.k8s.io/v1beta1/namespaces/hubfront/pods` on a cluster with metrics-server
ANSWER = {
    "kind": "PodMetricsList", "apiVersion": "metrics.k8s.io/v1beta1", "metadata": {},
    "items": [
        {"metadata": {"name": "jupyter-alice--research", "namespace": "hubfront",
                      "creationTimestamp": "2026-12-06T19:20:31Z",
                      "labels": {"component": "singleuser-server", "hubfront.io/user": "alice"}},
         "timestamp": "2026-12-06T19:20:17Z", "window": "15.034s",
         "containers": [{"name": "notebook", "usage": {"cpu": "250000000n", "memory": "524288Ki"}}]},
        {"metadata": {"name": "hubfront-job-42-x7k2p", "namespace": "hubfront",
                      "creationTimestamp": "2026-12-06T19:20:31Z"},
         "timestamp": "2026-12-06T19:20:11Z", "window": "1m0s",
         "containers": [{"name": "job", "usage": {"cpu": "1500m", "memory": "1Gi"}},
                        {"name": "sidecar", "usage": {"cpu": "1", "memory": "512Mi"}}]},
    ],
}


class MetricsApi:
    """A CustomObjectsApi that records its calls and answers ``reply`` (a value or an exception), after ``delay``."""

    def __init__(self, reply=ANSWER, delay=0.0):
        self.reply, self.delay, self.calls = reply, delay, []

    async def list_namespaced_custom_object(self, **kwargs):
        self.calls.append(kwargs)
        await asyncio.sleep(self.delay)
        if isinstance(self.reply, BaseException):
            raise self.reply
        return json.loads(json.dumps(self.reply))


def api_error(status, message="boom"):
    exc = ApiException(status=status, reason="Reason")
    exc.body = json.dumps({"message": message})
    return exc


@pytest.fixture(autouse=True)
def fresh():
    pod_metrics.forget()
    yield
    pod_metrics.forget()


# --- quantities --------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "number"), [
    ("123456789n", 0.123456789), ("250m", 0.25), ("1", 1), ("2.5", 2.5), ("12u", 0.000012), ("1e3", 1000),
    ("512Mi", 512 * 2**20), ("123456Ki", 123456 * 1024), ("1Gi", 2**30), ("2G", 2 * 10**9), ("0", 0),
])
def test_kubernetes_quantities_are_read(text, number):
    assert float(parse_quantity(text)) == pytest.approx(number)


@pytest.mark.parametrize("text", ["", "abc", "1x", "1e", "Mi", "1.2.3"])
def test_what_is_not_a_quantity_is_refused(text):
    with pytest.raises(ValueError):
        parse_quantity(text)


@pytest.mark.parametrize(("text", "seconds"), [("15.034s", 15.034), ("1m0s", 60), ("500ms", 0.5), ("0s", 0),
                                               ("1h2m3.5s", 3723.5)])
def test_windows_are_read_as_go_durations(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


def test_a_pods_use_is_the_sum_over_its_containers():
    job = pod_usage_of(ANSWER["items"][1])
    assert (job.name, job.namespace, job.containers) == ("hubfront-job-42-x7k2p", "hubfront", 2)
    assert job.cpu == pytest.approx(2.5) and job.memory == 2**30 + 512 * 2**20
    assert job.window == 60 and job.timestamp == datetime(2026, 12, 6, 19, 20, 11, tzinfo=timezone.utc)
    notebook = pod_usage_of(ANSWER["items"][0])
    assert notebook.cpu == pytest.approx(0.25) and notebook.memory == 512 * 2**20 and notebook.window == 15.034
    assert notebook.labels["hubfront.io/user"] == "alice"


# --- reading -----------------------------------------------------------------------------------


async def test_a_namespace_is_read_once_for_every_hubfront_pod_and_answers_the_pods_asked_for():
    api = MetricsApi()
    usage = await pod_usage("hubfront", ["jupyter-alice--research", "jupyter-bob--research"], api=api)
    assert usage.unavailable == "" and list(usage.by_pod) == ["jupyter-alice--research"]  # bob: no sample yet
    assert usage.by_pod["jupyter-alice--research"].cpu == pytest.approx(0.25)
    [call] = api.calls
    assert call == {"group": "metrics.k8s.io", "version": "v1beta1", "namespace": "hubfront", "plural": "pods",
                    "label_selector": "hubfront.io/user", "_request_timeout": 5.0}
    everything = await pod_usage("hubfront", api=api)
    assert sorted(everything.by_pod) == ["hubfront-job-42-x7k2p", "jupyter-alice--research"]
    assert [p.name for p in everything.starting("hubfront-job-42-")] == ["hubfront-job-42-x7k2p"]
    assert everything.starting("hubfront-job-4-") == []
    assert len(api.calls) == 1  # kept: the second asker cost no request


async def test_answers_are_kept_a_few_seconds_then_read_again(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(pod_metrics.time, "monotonic", lambda: now[0])
    api = MetricsApi()
    for _ in range(20):  # many pages refreshing within the same seconds
        await pod_usage("hubfront", ["jupyter-alice--research"], api=api)
    assert len(api.calls) == 1
    now[0] += 4.9
    await pod_usage("hubfront", api=api)
    assert len(api.calls) == 1
    now[0] += 0.2
    await pod_usage("hubfront", api=api)
    assert len(api.calls) == 2
    await pod_usage("jobs", api=api)  # another namespace is another request
    await pod_usage("hubfront", selector="hubfront.io/deployment=web", api=api)  # and another selector
    assert [(c["namespace"], c["label_selector"]) for c in api.calls[2:]] == [
        ("jobs", "hubfront.io/user"), ("hubfront", "hubfront.io/deployment=web")]


async def test_askers_who_arrive_while_the_request_is_on_its_way_wait_for_it():
    api = MetricsApi(delay=0.05)
    answers = await asyncio.gather(*(pod_usage("hubfront", [f"jupyter-{i}"], api=api) for i in range(30)))
    assert len(api.calls) == 1 and all(a.unavailable == "" for a in answers)


async def test_the_cache_time_is_configurable(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(pod_metrics.time, "monotonic", lambda: now[0])
    api = MetricsApi()
    reader = PodMetrics(cache_seconds=30.0, api=api)
    await reader.usage("hubfront")
    now[0] += 20
    await reader.usage("hubfront")
    assert len(api.calls) == 1


# --- when it cannot answer ---------------------------------------------------------------------


@pytest.mark.parametrize(("error", "reason"), [
    (api_error(404, "the server could not find the requested resource"), NOT_INSTALLED),
    (api_error(403, 'pods.metrics.k8s.io is forbidden: User "system:serviceaccount:hubfront:hub" cannot list'),
     ("The hub may not read pod metrics in namespace hubfront (config/kubernetes/rbac.yaml grants its service "
      "account list on pods in metrics.k8s.io)")),
    (api_error(503, "the server is currently unable to handle the request"), NOT_ANSWERING),
    (aiohttp.ClientConnectionError("Cannot connect to host 10.0.0.1:443"), UNREACHABLE),
    (asyncio.TimeoutError(), UNREACHABLE),
    (ConfigException("Service host/port is not set."), pod_metrics.NO_CLUSTER),
    (api_error(500, "etcd is on fire"), "The cluster's metrics API refused to answer: etcd is on fire"),
], ids=["404", "403", "503", "connection", "timeout", "no-config", "500"])
async def test_when_the_metrics_api_cannot_answer_there_is_a_reason_and_no_error(error, reason):
    usage = await pod_usage("hubfront", ["jupyter-alice--research"], api=MetricsApi(error))
    assert usage.by_pod == {} and usage.unavailable == reason


async def test_the_reason_is_logged_once_and_kept_before_asking_again(monkeypatch, caplog):
    now = [1000.0]
    monkeypatch.setattr(pod_metrics.time, "monotonic", lambda: now[0])
    api = MetricsApi(api_error(404))
    with caplog.at_level(logging.INFO, logger="hubfront.pod_metrics"):
        for _ in range(3):
            assert (await pod_usage("hubfront", api=api)).unavailable == NOT_INSTALLED
        assert len(api.calls) == 1
        now[0] += 10  # past cache_seconds, within retry_seconds: still not asked again
        await pod_usage("hubfront", api=api)
        assert len(api.calls) == 1
        now[0] += 25
        await pod_usage("hubfront", api=api)
        assert len(api.calls) == 2
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1 and NOT_INSTALLED in warnings[0].getMessage()
        api.reply = ANSWER  # metrics-server installed: figures again, and said so once
        now[0] += 31
        usage = await pod_usage("hubfront", api=api)
        assert usage.unavailable == "" and usage.by_pod
        assert [r.getMessage() for r in caplog.records if r.levelno == logging.INFO] == [
            "Pod metrics in namespace hubfront are readable again"]


async def test_an_item_of_another_shape_is_skipped_not_fatal():
    odd = {"items": [{"metadata": {"name": "broken"}, "containers": [{"usage": {"cpu": "lots"}}]},
                     ANSWER["items"][0], {"no": "metadata"}]}
    usage = await pod_usage("hubfront", api=MetricsApi(odd))
    assert list(usage.by_pod) == ["jupyter-alice--research"] and usage.unavailable == ""


async def test_no_cluster_configuration_is_a_reason(monkeypatch):
    """Without an injected API the reader loads the cluster's config; none here (no service account, no kubeconfig)."""
    monkeypatch.setenv("KUBECONFIG", "/nonexistent/kubeconfig")
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    usage = await pod_usage("hubfront")
    assert usage.by_pod == {} and usage.unavailable == pod_metrics.NO_CLUSTER
