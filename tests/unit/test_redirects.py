"""The one check of every redirect's ``next``: a path on the hub's own origin, inside its base_url."""

import pytest

from hub_ext.redirects import safe_next

FALLBACK = "/jhub/hub/home"
ORIGINS = ["https://hub.example"]


def check(target, base_url="/jhub/", subdomain_host=""):
    return safe_next(target, base_url=base_url, fallback=FALLBACK, own_origins=ORIGINS, subdomain_host=subdomain_host)


@pytest.mark.parametrize("target", [
    "/jhub/hub/home",
    "/jhub/hub/jobs?group=research#top",
    "/jhub/user/ann/lab/tree/my%20notes.ipynb",  # an encoded space in a file name is a path
    "/jhub/hub/spawn?next=%2Fjhub%2Fuser%2Fann%2F",
    "/jhub/hub/a/../home",  # stays inside the prefix
    "/jhub/",
])
def test_paths_inside_the_prefix_pass_unchanged(target):
    assert check(target) == target


@pytest.mark.parametrize("target", [
    "/\t/evil.example/x",  # browsers drop the tab: //evil.example/x
    "/\n/evil.example", "/\r/evil.example", " /jhub/hub/home", "/jhub/hub/home\x00", "/jhub/x\u2028",
    "/\u200b/evil.example",  # a zero-width space (a format character)
    "//evil.example/x", "///evil.example", "/\\evil.example", "\\\\evil.example", "/jhub/\\x",
    "https://evil.example/jhub/", "http:evil.example", "https:/evil.example", "javascript:alert(1)",
    "data:text/html,x", "evil.example", "jhub/hub/home",
    "/%09/evil.example", "/%2F%2Fevil.example", "/%2f/evil.example", "/%5Cevil.example", "/%5c%5cevil.example",
    "/%252F%252Fevil.example",  # twice encoded
    "/jhub/../evil", "/jhub/%2e%2e/evil", "/jhub/hub/../../evil",
    "/hub/home",  # outside the hub's base_url
    "https://user@hub.example/jhub/", "https://hub.example.evil.example/jhub/",
    "", None, 42, "/" + "a" * 9000,
])
def test_anything_else_falls_back(target):
    assert check(target) == FALLBACK


def test_the_hubs_own_origin_becomes_its_path():
    assert check("https://hub.example/jhub/hub/home?x=1#f") == "/jhub/hub/home?x=1#f"
    assert check("HTTPS://HUB.EXAMPLE/jhub/hub/home") == "/jhub/hub/home"
    assert check("https://hub.example//evil.example") == FALLBACK
    assert check("http://hub.example/jhub/hub/home") == FALLBACK  # another origin (scheme)


def test_user_servers_on_the_subdomain_host_pass_only_with_it():
    url = "https://ann.hub.example/jhub/user/ann/lab"
    assert check(url) == FALLBACK
    assert check(url, subdomain_host="https://hub.example") == url
    assert check("https://ann.hub.example//evil", subdomain_host="https://hub.example") == FALLBACK
    assert check("http://ann.hub.example/jhub/", subdomain_host="https://hub.example") == FALLBACK


def test_root_base_url_takes_every_same_origin_path():
    assert safe_next("/hub/home", fallback="F") == "/hub/home"
    assert safe_next("/\t/evil.example/x", fallback="F") == "F"


def test_an_escaped_base_url_compares_decoded():
    base = "/@/space%20word/"
    assert safe_next("/@/space%20word/hub/jobs", base_url=base, fallback="F") == "/@/space%20word/hub/jobs"
    assert safe_next("/@/other/hub/jobs", base_url=base, fallback="F") == "F"
