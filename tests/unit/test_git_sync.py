"""Git dataset syncs with real git and real servers (no root needed): a URL to this machine is refused
at sync time, also for a name that resolves to it only now, and the server is never asked; git connects
to the address that was checked (http and git daemon), and a redirect elsewhere is not followed."""

from __future__ import annotations

import socket

import pytest
from sqlalchemy import update

from hub_ext.datasets.requests import DatasetCreate
from hub_ext.datasets.settings import Datasets
from hub_ext.datasets.store import DatasetStore
from hub_ext.services.dataset_sync import sync_dataset
from hub_ext.store import session_scope
from hub_ext.store.models_storage import Dataset
from support import bare_repository, git
from support_git import git_daemon, http_server, non_loopback_address

KEY = b"y3Jb1K7bQ2q0aXw5o2wq1iV7bQ0m3rJm6tQy8c1Zq9E="


@pytest.fixture
def store(tmp_path, sqlite_url):
    data = tmp_path / "data"
    data.mkdir()
    return DatasetStore(sqlite_url, str(data), KEY)


def fake_dns(monkeypatch, answers: dict[str, str]) -> None:
    """Names of ``answers`` resolve to their address (as a DNS server would answer), others as before."""
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if host in answers:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (answers[host], int(port)))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def point(store, name: str, url: str) -> None:
    """The dataset's URL as it is in the database now (saved earlier, when it was allowed), sync asked."""
    with session_scope(store.db_url) as s:
        s.execute(update(Dataset).where(Dataset.name == name).values(git_url=url, sync_requested=True))


def test_a_url_to_this_machine_is_refused_at_sync_and_never_fetched(store, tmp_path, monkeypatch):
    row = store.create(DatasetCreate(name="gs-code", kind="git", git_url="https://example.org/r.git"),
                       "gs-lab", "gs-owner")
    settings = Datasets(git_timeout=30)
    with http_server(tmp_path, "127.0.0.1") as (port, hits):
        for url, says in [(f"http://127.0.0.1:{port}/r.git", "127.0.0.1 is a loopback address"),
                          (f"http://localhost:{port}/r.git", "localhost is this machine"),
                          (f"http://[::1]:{port}/r.git", "::1 is the loopback address"),
                          (f"http://0x7f.1:{port}/r.git", "0x7f.1 (127.0.0.1) is a loopback address"),
                          ("http://169.254.169.254/latest/meta-data/", "link-local"),
                          (f"ssh://git@[::ffff:127.0.0.1]:{port}/x", "loopback")]:
            point(store, row.name, url)
            failed = sync_dataset(store.db_url, store.data_dir, row.name, settings)
            assert failed.sync_status == "Failed" and failed.sync_message.startswith("refused: "), url
            assert says in failed.sync_message, (url, failed.sync_message)
        # a name that was fine when the dataset was saved, and resolves to this machine now
        fake_dns(monkeypatch, {"repo.example.test": "127.0.0.1"})
        point(store, row.name, f"http://repo.example.test:{port}/r.git")
        failed = sync_dataset(store.db_url, store.data_dir, row.name, settings)
        assert failed.sync_status == "Failed"
        assert "repo.example.test (127.0.0.1) is a loopback address" in failed.sync_message
        assert hits == []  # git never ran: the internal server was never asked


def test_git_fetches_from_the_checked_address_and_follows_no_redirect(store, tmp_path, monkeypatch):
    address = non_loopback_address()
    served = tmp_path / "served"
    served.mkdir()
    bare, work = bare_repository(served, "pinned\n")
    # the name exists only in the answer the runner checked: git reaches the server only through that pin
    fake_dns(monkeypatch, {"pinned.example.test": address})
    settings = Datasets(git_timeout=60)
    with http_server(served, address) as (port, hits):
        row = store.create(DatasetCreate(name="gs-pinned", kind="git",
                                         git_url=f"http://pinned.example.test:{port}/origin.git"), "gs-lab", "gs-owner")
        synced = sync_dataset(store.db_url, store.data_dir, row.name, settings)
        assert synced.sync_status == "Synced", synced.sync_message
        assert synced.commit == git("rev-parse", "HEAD", cwd=work) and synced.sync_message == "First commit"
        assert any(path.startswith("/origin.git/info/refs") for path in hits)

        # nothing new: only the branch's commit is asked for, the clone stays as it is
        store.request_sync(row, "gs-owner")
        again = sync_dataset(store.db_url, store.data_dir, row.name, settings)
        assert (again.sync_status, again.commit) == ("Synced", synced.commit)

        # a server that answers with a redirect to this machine's loopback: not followed
        with http_server(served, "127.0.0.1") as (inner_port, inner_hits), \
                http_server(served, address, redirect=f"http://127.0.0.1:{inner_port}") as (outer_port, _):
            point(store, row.name, f"http://pinned.example.test:{outer_port}/origin.git")
            failed = sync_dataset(store.db_url, store.data_dir, row.name, settings)
        assert failed.sync_status == "Failed" and inner_hits == []
        assert failed.commit == synced.commit  # the clone is kept as it was


def test_a_git_daemon_is_reached_at_the_checked_address(store, tmp_path, monkeypatch):
    address = non_loopback_address()
    served = tmp_path / "served"
    served.mkdir()
    bare, work = bare_repository(served, "daemon\n")
    fake_dns(monkeypatch, {"daemon.example.test": address})  # only the runner's check knows this name
    with git_daemon(served, address) as port:
        row = store.create(DatasetCreate(name="gs-daemon", kind="git",
                                         git_url=f"git://daemon.example.test:{port}/origin.git"), "gs-lab", "gs-owner")
        synced = sync_dataset(store.db_url, store.data_dir, row.name, Datasets(git_timeout=60))
    assert synced.sync_status == "Synced", synced.sync_message
    assert synced.commit == git("rev-parse", "HEAD", cwd=work)
