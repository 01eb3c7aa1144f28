"""Fixtures shared by every test folder. See support.py for the helpers."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from support import REPO, RealHub, need, proxy_command

pytest_plugins = ["jupyterhub.tests.conftest"]

PG_ADMIN_URL = os.environ.get("HUBFRONT_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
CHROMIUM = os.environ.get("HUBFRONT_CHROMIUM", "/usr/bin/chromium")


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
    import sqlalchemy as sa

    try:
        engine = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
        engine.dispose()
        ok, reason = True, ""
    except Exception as exc:  # noqa: BLE001 - any failure means no server
        ok, reason = False, f"PostgreSQL not reachable at {PG_ADMIN_URL}: {exc.__class__.__name__}"
    need(ok, reason)
    return PG_ADMIN_URL


@pytest.fixture
def pg_url(pg_server) -> str:
    """A fresh, migrated portal database on the real PostgreSQL server, dropped afterwards."""
    import sqlalchemy as sa

    from hub_ext.store import upgrade
    from hub_ext.store.engine import get_engine

    name = f"hubfront_test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(pg_server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = pg_server.rsplit("/", 1)[0] + f"/{name}"
    upgrade(url)
    yield url
    get_engine(url).dispose()
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def real_hub(tmp_path_factory):
    """Start the real jupyterhub (configurable-http-proxy included) in a temp data dir."""
    need(proxy_command() is not None, "configurable-http-proxy is not installed (run `make test`)")
    hub = RealHub(Path(tmp_path_factory.mktemp("hubdata")))
    hub.start()
    yield hub
    hub.stop()


@pytest.fixture(scope="session")
def browser():
    """Debian's chromium driven by Playwright (no browser download needed)."""
    need(Path(CHROMIUM).exists(), f"chromium not found at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

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


SCREENSHOTS = REPO / "data" / "screenshots"


def screenshot(pg, name: str) -> Path:
    """Keep a screenshot of what the test saw (data/screenshots/) for people to look at."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    pg.screenshot(path=str(path), full_page=True)
    return path
