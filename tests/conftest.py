"""Fixtures shared by every test folder. See support.py for the helpers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from support import (
    ACCOUNT_PREFIX,
    PG_ADMIN_URL,
    RealHub,
    create_pg_database,
    drop_pg_database,
    need,
    pg_available,
    proxy_command,
)

pytest_plugins = ["jupyterhub.tests.conftest"]

CHROMIUM = os.environ.get("HUBFRONT_CHROMIUM", "/usr/bin/chromium")
os.environ["HUBFRONT_ACCOUNT_PREFIX"] = ACCOUNT_PREFIX  # for the real hubs the tests start


@pytest.fixture(scope="session", autouse=True)
def workload_accounts():
    """Remove the OS accounts the tests' hubs made (as root)."""
    yield
    if os.geteuid() != 0:
        return
    from hub_ext.isolation.accounts import remove_accounts

    remove_accounts(ACCOUNT_PREFIX)


@pytest.fixture(scope="session", autouse=True)
def no_process_left_behind(workload_accounts, tmp_path_factory):
    """After this worker's last test (before its accounts are removed): no process of a test hub (runner,
    keeper, replica, app, notebook, quota guard, mlflow server…) may still run. They are known by the
    worker's temporary tree in their command line, working directory or environment; any found is killed
    and the run fails naming it (a process left behind holds ports and logs into the next runs)."""
    root = str(tmp_path_factory.getbasetemp())
    yield
    from support import leftover_processes

    import psutil

    left = leftover_processes(root)
    _, left = psutil.wait_procs(left, timeout=15)  # a hub stopping ends its own a moment later
    if os.geteuid() == 0 and not left:
        from support import remove_test_cgroups

        remove_test_cgroups(root)  # the hubs' (empty) cgroup subtrees: nothing of the tests stays on the machine
    if left:
        named = "; ".join(f"{p.pid} {p.info['username']} {' '.join(p.info['cmdline'] or [])[:160]}" for p in left)
        for p in left:
            try:
                p.kill()
            except psutil.NoSuchProcess:
                pass
        pytest.fail(f"{len(left)} process(es) of the tests' hubs were left running: {named}", pytrace=False)


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    """A migrated, empty portal database on SQLite."""
    from hub_ext.store import upgrade

    url = f"sqlite:///{tmp_path / 'hubfront.sqlite'}"
    upgrade(url)
    return url


@pytest.fixture(scope="session")
def pg_server() -> str:
    """The admin URL of the real PostgreSQL server (skip visibly, or fail under CI)."""
    need(*pg_available())
    return PG_ADMIN_URL


@pytest.fixture
def pg_url(pg_server) -> str:
    """A fresh, migrated portal database on the real PostgreSQL server, dropped afterwards."""
    url = create_pg_database()
    yield url
    drop_pg_database(url)


@pytest.fixture
def real_hub(tmp_path_factory):
    """Start the real jupyterhub (configurable-http-proxy included) in a temp data dir."""
    need(proxy_command() is not None, "configurable-http-proxy is not installed (run `make test`)")
    hub = RealHub(Path(tmp_path_factory.mktemp("hubdata")))
    hub.start()
    yield hub
    hub.close()


@pytest.fixture(scope="module")
def browser():
    """Debian's chromium driven by Playwright (no browser download needed).

    Module-scoped: Playwright's sync API runs an event loop in this thread while
    it is open, and pytest-asyncio's fixtures in later test modules need the
    thread free of it.
    """
    need(Path(CHROMIUM).exists(), f"chromium not found at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import expect, sync_playwright

    # a page's state may take a while on a busy machine (an API answer, a refresh, an animation): what a
    # test expects of the page gets as long as its actions do (20 s, the page fixture's default), not 5 s
    expect.set_options(timeout=20_000)

    with sync_playwright() as pw:
        b = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        )
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    pg = context.new_page()
    pg.set_default_timeout(20_000)
    yield pg
    context.close()


# the folders whose files take longest go first, so that parallel workers (pytest-xdist) do not end
# with one long file left running alone
_SLOW_FIRST = ("e2e", "browser", "isolation", "hub", "postgres", "unit")
# single files of minutes (the route fuzzer, the apps' browser tests): before everything else
_SLOWEST = ("hub/test_input_robustness.py", "browser/test_apps_browser.py", "e2e/test_bench_smoke.py")


def pytest_collection_modifyitems(items):
    def rank(item) -> int:
        relative = Path(str(item.fspath)).relative_to(Path(__file__).parent)
        if relative.as_posix() in _SLOWEST:
            return -1
        parts = relative.parts
        return _SLOW_FIRST.index(parts[0]) if parts and parts[0] in _SLOW_FIRST else len(_SLOW_FIRST)

    items.sort(key=rank)  # a stable sort: the order within a folder stays


def pytest_sessionfinish(session, exitstatus):
    """Namespaces this worker made ahead go now: an xdist worker may end without running atexit; and those of
    hubs and runners the tests killed outright (never started again, so no start of theirs removed them)."""
    from hub_ext.isolation import netspares

    netspares.drop_all()
    if os.geteuid() == 0:
        netspares.remove_orphans()
