"""Where a git dataset may point: the one address rule (loopback, link-local, unspecified, IPv4 inside
IPv6, the operator's extra networks), URLs taken apart the way git reads them, the error naming the
field, the ssh command git gets (the group's known_hosts, nothing a member wrote), and the per-group
sync queues (a group whose sync hangs holds up no other group)."""

from __future__ import annotations

import asyncio
import ipaddress
import shlex
import threading
import time

import pytest
from traitlets import TraitError

from hub_ext.bodies import BodyError
from hub_ext.datasets.addresses import RefusedAddress, check_host, refusal, remote_of, resolve
from hub_ext.datasets.git import Pin, known_hosts, pin_config, ssh_command
from hub_ext.datasets.requests import check_git_host, check_git_url
from hub_ext.datasets.settings import Datasets
from hub_ext.services.dataset_sync import GroupQueues

REFUSED_HOSTS = ["127.0.0.1", "127.1", "0x7f.1", "2130706433", "0177.0.0.1", "127.255.255.254", "localhost",
                 "LOCALHOST.", "app.localhost", "ip6-localhost", "::1", "::ffff:127.0.0.1", "169.254.169.254",
                 "fe80::1", "0.0.0.0", "0", "::", "::ffff:169.254.169.254", "64:ff9b::a9fe:a9fe"]


@pytest.mark.parametrize("host", REFUSED_HOSTS)
def test_loopback_link_local_and_unspecified_hosts_are_refused(host):
    with pytest.raises(RefusedAddress, match="a git dataset may not point there"):
        check_host(host)


@pytest.mark.parametrize("host", ["github.com", "192.0.2.10", "10.1.2.3", "2001:db8::1", "8.8.8.8", "127.example"])
def test_public_and_private_addresses_pass_by_default(host):
    check_host(host)


def test_the_operator_adds_networks():
    extra = Datasets(refused_networks=["10.0.0.0/8", "fd00::/8"]).networks()
    assert "Datasets.refused_networks" in refusal(ipaddress.ip_address("10.1.2.3"), extra)
    assert refusal(ipaddress.ip_address("::ffff:10.9.9.9"), extra)  # also inside IPv6
    assert refusal(ipaddress.ip_address("fd12::1"), extra)
    assert refusal(ipaddress.ip_address("192.0.2.1"), extra) is None
    with pytest.raises(RefusedAddress):
        check_host("10.0.0.1", extra)
    with pytest.raises(TraitError, match="refused_networks"):
        Datasets(refused_networks=["10.0.0.0/33"])


@pytest.mark.parametrize("url, field_says", [
    ("http://127.0.0.1:8601/api/routes", "127.0.0.1 is a loopback address"),
    ("https://localhost:8000/x.git", "localhost is this machine"),
    ("http://[::1]/r.git", "::1 is the loopback address"),
    ("http://169.254.169.254/latest/meta-data/", "link-local"),
    ("ssh://git@127.0.0.1:6379/x", "loopback"),
    ("git@127.1:x.git", "loopback"),
    ("git://0x7f.1/x", "loopback"),
    ("http://2130706433/x", "loopback"),
    ("http://[::ffff:127.0.0.1]/x", "loopback"),
    ("http://0.0.0.0:8000/x", "unspecified"),
    ("http://127.0.0.1#@github.com/x", "not a repository URL"),  # read apart differently by curl: refused
    ("http://github.com?@127.0.0.1/x", "not a repository URL"),
])
def test_check_git_url_names_the_field(url, field_says):
    with pytest.raises(BodyError) as caught:
        check_git_url(url, allow_local=False)
    assert list(caught.value.errors) == ["git_url"] and field_says in caught.value.errors["git_url"]


def test_remote_urls_and_local_rules_stay():
    check_git_url("https://github.com/org/repo.git", allow_local=False)
    check_git_url("git@github.com:org/repo.git", allow_local=False)
    check_git_url("ssh://git@[2001:db8::1]:2222/r.git", allow_local=False)
    with pytest.raises(BodyError, match="local repositories are not allowed"):
        check_git_url("/srv/git/r.git", allow_local=False)
    check_git_url("/srv/git/r.git", allow_local=True)
    assert remote_of("ssh://git@[2001:db8::1]:2222/r.git").port == 2222
    assert remote_of("/srv/git/r.git") is None


def test_a_name_resolving_to_loopback_is_refused_when_saved_and_resolved(monkeypatch):
    answers = {"repo.internal.test": "127.0.0.1", "mixed.test": "192.0.2.7", "good.test": "192.0.2.8"}

    def fake(host, port, *args, **kwargs):
        found = [answers[host]] + (["::1"] if host == "mixed.test" else [])
        return [(0, 1, 6, "", (a, port)) for a in found]

    monkeypatch.setattr("socket.getaddrinfo", fake)
    with pytest.raises(RefusedAddress, match=r"repo.internal.test \(127.0.0.1\) is a loopback"):
        resolve("repo.internal.test", 443)
    with pytest.raises(RefusedAddress, match="::1"):  # one refused address among good ones is enough
        resolve("mixed.test", 443)
    assert resolve("good.test", 443) == ["192.0.2.8"]
    with pytest.raises(BodyError) as caught:
        asyncio.run(check_git_host("https://repo.internal.test/r.git", (), 5))
    assert "loopback" in caught.value.errors["git_url"]
    asyncio.run(check_git_host("https://good.test/r.git", (), 5))


def test_a_name_that_does_not_resolve_passes_on_save():
    asyncio.run(check_git_host("https://no-such-host.invalid/r.git", (), 5))


def test_ssh_uses_the_groups_known_hosts_and_no_member_config():
    home = "/data dir/service-homes/hftest-lab_app"
    command = shlex.split(ssh_command(home, Pin("ssh", "git.example.org", 2222, ("192.0.2.5",))))
    assert command[:3] == ["ssh", "-F", "/dev/null"]  # no ~/.ssh/config (the account's apps may write it)
    options = dict(o.split("=", 1) for o in command[3:] if o != "-o")
    assert options["UserKnownHostsFile"] == known_hosts(home) == f"{home}/.ssh/known_hosts"
    assert options["GlobalKnownHostsFile"] == "/dev/null" and options["StrictHostKeyChecking"] == "accept-new"
    assert options["HostName"] == "192.0.2.5"  # the address that was checked, the key kept under the name
    assert options["HostKeyAlias"] == "[git.example.org]:2222"
    assert options["ProxyCommand"] == "none" and options["BatchMode"] == "yes"


def test_git_connects_to_the_checked_address():
    pin = Pin("https", "git.example.org", 443, ("192.0.2.5", "2001:db8::5"))
    http = pin_config("https://git.example.org/r.git", pin)
    assert "http.curloptResolve=git.example.org:443:192.0.2.5,[2001:db8::5]" in http
    assert "http.followRedirects=false" in http
    daemon = pin_config("git://git.example.org/r.git", Pin("git", "git.example.org", 9418, ("192.0.2.5",)))
    assert "url.git://192.0.2.5:9418/.insteadOf=git://git.example.org/" in daemon


def test_one_groups_hung_sync_does_not_hold_up_another_group():
    release = threading.Event()
    finished: list[str] = []

    def run(name: str):
        if name.startswith("a-"):
            release.wait(30)  # group a's sync hangs until the test lets it go
        finished.append(name)
        return None

    async def scenario():
        queues = GroupQueues(run, cap=2)
        queues.submit("a", "a-hung")
        queues.submit("a", "a-next")
        queues.submit("b", "b-one")
        queues.submit("b", "b-two")
        queues.submit("b", "b-one")  # already queued: not twice
        deadline = time.monotonic() + 30
        while len(finished) < 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert finished == ["b-one", "b-two"]  # b went on while a hung; a's second waits for a's first
        release.set()
        while len(finished) < 4 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert finished[2:] == ["a-hung", "a-next"] and not queues.pending
        queues.close()

    asyncio.run(scenario())
