"""Datasets pages (thin: read the store, render; every change goes through the REST API).

``/hub/portal/datasets`` lists the datasets the group in focus owns or was granted, with the
create form; ``/hub/portal/datasets/<name>`` is one dataset: its description (Markdown, rendered
safely), its files in the Shared Files browser (``…/<name>/files/<folder>``: read-only where the
group may only read it), upload (files), versions, grants, git sync status, env variables
(secrets masked).
"""

from __future__ import annotations

from tornado import web

from ...datasets.requests import DNS_LABEL, MASK
from ...policy import format_memory
from ...storage.kube import hub_reaches_group_storage
from ...storage.paths import BadPath, clean
from ..common.markdown import markdown_text, render_markdown
from ..jobs.pages import _JobsPage
from ..nav import MenuEntry, register_menu
from .service import dataset_settings, dataset_store

KINDS = {"files": "Files", "git": "Git repository", "env": "Environment variables"}
MODES = {"rw": "read-write", "ro": "read-only"}


def size_text(nbytes: int) -> str:
    return format_memory(nbytes or 0)


class _DatasetsPage(_JobsPage):
    @property
    def store(self):
        return dataset_store(self)

    def common(self) -> dict:
        return {**super().common(), "kinds": KINDS, "modes": MODES, "size_text": size_text, "mask": MASK,
                "markdown_text": markdown_text}

    def api_base(self, group: str) -> str:
        return f"{self.hub.base_url}api/portal/groups/{group}/datasets"


class DatasetsPageHandler(_DatasetsPage):
    """GET /hub/portal/datasets: the group's datasets (owned and granted) and the Create form."""

    @web.authenticated
    async def get(self):
        group = self.current_group()
        store, viewer = self.store, self.viewer
        rows = [store.as_json(row, mode, viewer) for row, mode in store.list(group.name)]
        settings = dataset_settings(self)
        await self.render_portal(
            "portal/datasets.html", datasets=rows, group=group.name, api=self.api_base(group.name),
            member=group.name in viewer.member_of, allow_local=settings.allow_local_git_urls,
            min_interval=settings.min_sync_interval, **self.common())


class DatasetPageHandler(_DatasetsPage):
    """GET /hub/portal/datasets/{name}[/files/{folder}]: one dataset the group in focus may use (its files
    browser opened on ``folder``)."""

    @web.authenticated
    async def get(self, name, folder=""):
        try:
            folder = clean(folder or "")
        except BadPath as exc:
            raise web.HTTPError(400, f"Path: {exc}") from None
        group = self.current_group()
        store = self.store
        found = store.visible(name, group.name) if DNS_LABEL.match(name) else None
        if found is None:
            raise web.HTTPError(404, f"No such dataset: {name}")
        row, mode = found
        data = store.as_json(row, mode, self.viewer, fresh=True)
        manage = data["may_manage"] and row.group == group.name
        granted = {g["group"] for g in data["grants"]} | {row.group}
        others = sorted(g.name for g in self.db.query(type(group)).all() if g.name not in granted) if manage else []
        api = f"{self.api_base(group.name)}/{row.name}"
        files = None
        if row.kind != "env" and hub_reaches_group_storage(self.hubfront.config):
            files = {"api": f"{api}/files/", "folder": folder, "writable": row.kind == "files" and mode == "rw",
                     "page_base": f"{self.hub.base_url}portal/datasets/{row.name}/files"}
        await self.render_portal(
            "portal/dataset.html", ds=data, group=group.name, manage=manage, other_groups=others, files=files,
            description=render_markdown(row.description or ""),
            versions=[store.version_json(v) for v in store.versions(row.name)],
            api=api, uploads_api=f"{self.hub.base_url}api/portal/groups/{group.name}/uploads", **self.common())


register_menu(MenuEntry("Datasets", "portal/datasets", "fa-database"))

handlers = [
    (r"/portal/datasets", DatasetsPageHandler),
    (r"/portal/datasets/([^/]+)", DatasetPageHandler),
    (r"/portal/datasets/([^/]+)/files/?(.*)", DatasetPageHandler),
]
