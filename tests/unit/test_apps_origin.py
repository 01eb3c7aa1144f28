"""Each app's own host name: DNS-safe labels for any group name, and host -> app by lookup only."""

from __future__ import annotations

import pytest

from hub_ext.apps.origin import HostMap, app_origin, check_origin, group_label

ORIGIN = "http://{app}--{group}.apps.localhost:8002"


@pytest.mark.parametrize("group", ["lab", "Data Science (EU)", "a--b", "émile", "!!!", "x" * 200, "ml-team-"])
def test_any_group_name_makes_a_dns_label(group):
    host = app_origin(ORIGIN, group, "m" * 32).split("://")[1].split(":")[0]
    label = host.split(".")[0]
    assert len(label) <= 63 and label.replace("-", "").isalnum() and label.isascii() and label == label.lower()
    assert group_label(group) == group_label(group)  # stable


def test_a_clean_name_is_kept_and_others_get_a_hash_of_the_exact_name():
    assert group_label("lab") == "lab"
    assert group_label("Lab") != "lab" and group_label("Lab").startswith("lab-")
    assert group_label("Data Science (EU)") != group_label("data science eu")


def test_hosts_map_back_by_lookup_and_a_shared_host_maps_to_neither():
    hosts = HostMap(ORIGIN, [("lab", "mlflow"), ("Data Science (EU)", "code")])
    assert hosts.find("mlflow--lab.apps.localhost:8002") == ("lab", "mlflow")
    assert hosts.find(hosts.origin("Data Science (EU)", "code").split("://")[1]) == ("Data Science (EU)", "code")
    assert hosts.find("code--data-science-eu.apps.localhost") is None  # words of a name are not a lookup
    assert hosts.find("mlflow--lab.apps.localhost.evil.example") is None and hosts.find("") is None
    clash = HostMap("http://{app}{group}.apps.test", [("b", "a"), ("ab", "")])  # "a"+"b" and ""+"ab"
    clash.update([("b", "a"), ("xb", "a")])
    assert clash.find("ab.apps.test") == ("b", "a")
    twice = HostMap("http://{group}{app}.apps.test", [("a", "bc"), ("ab", "c")])
    assert twice.find("abc.apps.test") is None  # two apps would share it: neither is served


@pytest.mark.parametrize("bad", ["http://apps.localhost", "http://{app}.apps.localhost/{group}", "ftp://{app}{group}.x",
                                 "http://{app}--{group}.x:99999", "http://x/{app}{group}"])
def test_an_origin_must_name_the_app_and_group_in_its_host(bad):
    with pytest.raises(ValueError):
        check_origin(bad)
