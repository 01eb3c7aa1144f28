"""What a workload in its own network namespace is told and let through (no namespaces made here): the
doors of the gateway, the URLs of its environment rewritten to them, and the host's rules as text."""

from __future__ import annotations

import pytest

from hub_ext.isolation import Isolation
from hub_ext.isolation.netgate import doors, loopback_ports, through_gateway
from hub_ext.isolation.netrules import Door, ruleset
from hub_ext.isolation.network import Network, Networks, parse_range

NET = Network("hf-abc-job-1", "hfabcdef0001", "10.213.0.3", "10.213.0.2", "10.213.0.1")


def isolation(**kw) -> Isolation:
    return Isolation(data_dir="/srv/hub", hub_api_url="http://127.0.0.1:8081/hub/api",
                     public_url="http://127.0.0.1:8000/", **kw)


def test_the_hub_the_proxy_and_listed_host_services_are_the_only_doors():
    iso = isolation(host_services=["http://{app}--{group}.apps.localhost:8002", "localhost:5000",
                                   "http://pypi-mirror.example.org:3141"])
    assert doors(iso) == [Door(8081, "127.0.0.1", 8081), Door(8000, "127.0.0.1", 8000, public=True),
                          Door(8002, "127.0.0.1", 8002, by_name=True), Door(5000, "127.0.0.1", 5000)]
    assert loopback_ports(iso) == (8002,)  # *.localhost names resolve to the workload's own loopback


def test_urls_of_the_hosts_loopback_are_rewritten_to_the_gateway_and_nothing_else():
    iso = isolation(host_services=["http://127.0.0.1:5000", "http://{app}--{group}.apps.localhost:8002"])
    env = through_gateway(iso, NET, {
        "JUPYTERHUB_API_URL": "http://127.0.0.1:8081/hub/api",
        "JUPYTERHUB_ACTIVITY_URL": "http://127.0.0.1:8081/hub/api/users/alice/activity",
        "MLFLOW_TRACKING_URI": "http://user:secret@localhost:5000",
        "HTTP_PROXY": "http://127.0.0.1:3128",  # not a door: left as it is (and unreachable)
        "APP": "http://mlflow--lab.apps.localhost:8002",  # by name: its Host header must stay
        "NOTE": "see http://127.0.0.1:8081 for details",
    })
    assert env == {
        "JUPYTERHUB_API_URL": "http://10.213.0.1:8081/hub/api",
        "JUPYTERHUB_ACTIVITY_URL": "http://10.213.0.1:8081/hub/api/users/alice/activity",
        "MLFLOW_TRACKING_URI": "http://user:secret@10.213.0.1:5000",
        "HTTP_PROXY": "http://127.0.0.1:3128",
        "APP": "http://mlflow--lab.apps.localhost:8002",
        "NOTE": "see http://127.0.0.1:8081 for details",
        "HUBFRONT_PUBLIC_URL": "http://10.213.0.1:8000/",
    }
    assert isolation().workload_env({"A": "http://127.0.0.1:8081"}, None) == {"A": "http://127.0.0.1:8081"}


def test_the_rules_keep_workloads_apart_and_translate_only_the_doors():
    text = ruleset("abc12345", "hfabc123", "10.213.0.0/16", "10.213.0.1",
                   [Door(8081, "127.0.0.1", 8081), Door(8000, "127.0.0.1", 8000, public=True)], 0, False)
    assert 'iifname "hfabc123*" ip daddr 10.213.0.1 tcp dport 8081 dnat ip to 127.0.0.1:8081' in text
    assert 'iifname "hfabc123*" oifname "hf*" drop' in text  # no workload reaches another (any hub's)
    assert 'iifname "hfabc123*" drop' in text  # and no other port of the host
    assert 'oifname "hfabc123*" ct state new meta skuid != 0 drop' in text  # only the hub's user opens to them
    assert 'iifname != "hf*" oifname != "hf*" drop' not in text  # the host forwarded before: left alone
    assert 'iifname != "hf*" oifname != "hf*" drop' in ruleset("a", "hfa", "10.213.0.0/16", "10.213.0.1", [], 0, True)


def test_addresses_come_in_pairs_and_the_range_is_checked():
    nets = Networks("abcdef12", "10.213.0.0/16")
    assert nets.gateway == "10.213.0.1" and nets._pair(1) == ("10.213.0.2", "10.213.0.3")
    assert nets._network("job-1", 0x12).veth == "hfabcdef0012"
    slot = nets._slot_for("job-1", set())
    assert nets._slot_for("job-1", {slot}) != slot and 0 < slot < 2**15
    with pytest.raises(ValueError, match="not an IPv4 network"):
        parse_range("10.213.0.1/16")
    with pytest.raises(ValueError, match="must be a private range"):
        parse_range("8.8.0.0/16")
