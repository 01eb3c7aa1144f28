"""The culler's look on Kubernetes (issue 25), without a cluster: the hub's server list (KubeSpawner's state
names each pod) and the metrics API's recorded answer decide which notebook is busy; an idle one past its
timeout is stopped through the hub with the culler's words, a busy one is not."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest
from traitlets.config import Config

from hub_ext import pod_metrics
from hub_ext.lifecycle import records
from hub_ext.lifecycle.settings import Lifecycle
from hub_ext.policy import parse_catalog, parse_policy
from hub_ext.services.culler import Culler, PodUsage
from hub_ext.services.hubapi import Groups
from hub_ext.store import upgrade
from test_pod_metrics import MetricsApi

NOW = datetime(2026, 12, 6, 19, 30, tzinfo=timezone.utc)
STARTED = (NOW - timedelta(hours=2)).isoformat()
QUIET = (NOW - timedelta(minutes=90)).isoformat()


def server(pod: str) -> dict:
    return {"name": "research", "ready": True, "pending": None, "started": STARTED, "last_activity": QUIET,
            "user_options": {"group": "research", "instance_type": "cpu"},
            "state": {"pod_name": pod, "namespace": "hubfront"}}


class Hub:
    def __init__(self, servers):
        self.servers, self.stopped = servers, []

    async def running_servers(self):
        return self.servers

    async def stop_server(self, user, name):
        self.stopped.append((user, name))


def answer(cpu_by_pod: dict[str, str]) -> dict:
    return {"kind": "PodMetricsList", "apiVersion": "metrics.k8s.io/v1beta1", "metadata": {}, "items": [
        {"metadata": {"name": pod, "namespace": "hubfront"}, "timestamp": NOW.isoformat(), "window": "15s",
         "containers": [{"name": "notebook", "usage": {"cpu": cpu, "memory": "100Mi"}}]}
        for pod, cpu in cpu_by_pod.items()]}


@pytest.fixture
def portal_url(tmp_path):
    url = f"sqlite:///{tmp_path}/portal.sqlite"
    upgrade(url)
    pod_metrics.forget()
    yield url
    pod_metrics.forget()


def test_on_kubernetes_the_metrics_api_keeps_a_busy_pod_and_the_idle_one_is_stopped(portal_url):
    hub = Hub([("alice", "research", server("jupyter-alice--research")),
               ("bob", "research", server("jupyter-bob--research"))])
    api = MetricsApi(answer({"jupyter-alice--research": "900m", "jupyter-bob--research": "1m"}))
    groups = Groups({"research": parse_policy({"idle_timeout": "1h"})}, {"research": frozenset({"alice", "bob"})})

    async def the_groups():
        return groups

    culler = Culler(db_url=portal_url, hub=hub, settings=Lifecycle(config=Config()),
                    catalog=parse_catalog({"instance_types": [{"name": "cpu", "cpu": 2, "memory": "4Gi"}]}),
                    usage=PodUsage(api=api), groups=the_groups, clock=lambda: NOW)
    summary = asyncio.run(culler.look())
    assert hub.stopped == [("bob", "research")] and summary["stopped"] == 1
    rows = records.rows_of(portal_url)
    assert rows[("alice", "research")].cpu_cores == pytest.approx(0.9)
    assert rows[("alice", "research")].busy_at is not None
    assert rows[("bob", "research")].stop_message == "Stopped after 1 h idle (no activity, CPU < 2 %)"
    assert api.calls and api.calls[0]["group"] == "metrics.k8s.io"
