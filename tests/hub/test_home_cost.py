"""What the home page costs the hub (issue 27): one database read per panel at most, and the storage
figure never measured while the page waits (it is measured in the background and the page says how old
it is)."""

import asyncio
import re
import importlib
import threading

from sqlalchemy import event
from sqlalchemy.engine import Engine

from conftest_helpers import login, make_user
from hub_ext.portal.common import base
from hub_ext.portal.home import panels
from hub_ext.settings import Hubfront
from hub_ext.storage import usage
from hub_ext.storage.tree import group_root

home_page = importlib.import_module("hub_ext.portal.home.handlers")  # the package exports its routes as `handlers`


class _Reads:
    """SQL statements run in this process while a named part of the page was being made."""

    def __init__(self):
        self.part, self.counts = None, {}

    def __call__(self, *_args):
        if self.part is not None:
            self.counts[self.part] = self.counts.get(self.part, 0) + 1

    def timed(self, name, provider):
        async def wrapper(*args):
            self.part = name
            try:
                return await provider(*args)
            finally:
                self.part = None
        return wrapper


async def test_each_home_panel_reads_the_database_once_at_most_and_not_again_while_nothing_changed(app, monkeypatch):
    await make_user(app, "cost-ann", groups=["cost-g1", "cost-g2"])
    s = await login(app, "cost-ann")
    assert (await s.get("hub/home")).status_code == 200  # once: what is read once per process is read
    reads = _Reads()
    for name, panel in list(panels.PANELS.items()):
        monkeypatch.setitem(panels.PANELS, name, panel.__class__(**{**panel.__dict__,
                                                                    "provider": reads.timed(name, panel.provider)}))
    monkeypatch.setattr(home_page, "start_menu", reads.timed("start", home_page.start_menu))  # the Start dialog
    panels.PARTS.clear()  # built anew: what a first look costs (each panel, and the home's block holding them)
    base.KEPT_PAGES.clear()
    event.listen(Engine, "before_cursor_execute", reads)
    try:
        r = await s.get("hub/home")
        first = dict(reads.counts)
        reads.counts.clear()
        again = await s.get("hub/home")
    finally:
        event.remove(Engine, "before_cursor_execute", reads)
    assert r.status_code == 200 and 'id="hf-resources"' in r.text and 'id="hf-recent"' in r.text
    assert first and all(n <= 1 for n in first.values()), first
    # the ones that show what only the database knows read it, each once
    assert first.get("recent") == 1 and first.get("quicklaunch") == 1
    assert first.get("start") == 1  # the datasets it offers (the group's use was read for Quick launch)
    # looked at again with nothing changed: the panels are the ones built before, nothing of theirs is read
    assert again.status_code == 200 and 'id="hf-resources"' in again.text and 'id="hf-recent"' in again.text
    assert reads.counts == {}, reads.counts
    assert _forms_token(again.text) and _forms_token(r.text) == _forms_token(again.text)  # each form its token
    assert _XSRF.sub("", again.text) == _XSRF.sub("", r.text)


_XSRF = re.compile(r'name="_xsrf" value="([^"]*)"')


def _forms_token(html: str) -> set:
    return {m.group(1) for m in _XSRF.finditer(html)} - {""}


async def test_the_storage_figure_is_measured_behind_the_page_which_says_how_old_it_is(app, monkeypatch):
    await make_user(app, "cost-bo", groups=["cost-store"], policies={"cost-store": {"quota": {"storage": "10Mi"}}})
    hubfront = Hubfront.instance()
    root = group_root(hubfront.data_dir, "cost-store")
    root.mkdir(parents=True, exist_ok=True)
    (root / "three.bin").write_bytes(b"\0" * (3 * 1024 * 1024))
    loop_thread = threading.get_ident()
    measured_on = []
    real_measure = usage.measure

    def measure(*roots):
        measured_on.append(threading.get_ident())
        return real_measure(*roots)

    monkeypatch.setattr(usage, "measure", measure)
    usage.invalidate("cost-store")
    s = await login(app, "cost-bo")
    first = (await s.get("hub/home")).text
    storage_row = first.split('id="hf-storage"')[1].split("</tr>")[0]
    # never measured before: the page does not wait for it, it says so
    assert "being measured" in storage_row or "3 MiB / 10 MiB" in storage_row
    for _ in range(100):
        if usage.latest(hubfront.data_dir, "cost-store", hubfront.db_url):
            break
        await asyncio.sleep(0.05)
    r = await s.get("hub/home")
    storage_row = r.text.split('id="hf-storage"')[1].split("</tr>")[0]
    assert "3 MiB / 10 MiB" in storage_row and "measured just now" in storage_row
    assert 'class="small text-muted hf-storage-age"' in storage_row
    assert measured_on and loop_thread not in measured_on  # always in the background, never on the page's loop
    # the API still measures when asked (an upload's quota check, the dashboard's refresh) and says when
    usage.invalidate("cost-store")
    (root / "one.bin").write_bytes(b"\0" * (1024 * 1024))
    storage = (await s.api("GET", "/portal/groups/cost-store/usage")).json()["storage"]
    assert storage["used_text"] == "4 MiB" and storage["age_text"] == "measured just now" and storage["measured_at"]
