"""What the files API and the uploads API share: the group's tree, the acting member's account,
and one translation of storage errors into answers."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tornado import web

from ...activity import name_groups, record
from ...field_messages import labelled
from ...groups import display_name, group_policy
from ...isolation import Isolation, IsolationError
from ...ledger import Ledger, QuotaExceeded
from ...storage import usage
from ...storage.paths import BadPath
from ...storage.kube import UNREACHABLE, hub_reaches_group_storage
from ...storage.tree import ensure_group_root
from ..common.base import Refused  # noqa: F401 - the files handlers raise it from here
from ..common.member import MemberAPIHandler
from .service import Conflict, TreeFiles


def require_group_storage(hubfront) -> None:
    """404 saying so where the hub does not reach the groups' storage (Kubernetes without
    ``KubeStorage.data_claim``): the page, the APIs and share links are absent there."""
    if not hub_reaches_group_storage(hubfront.config):
        raise web.HTTPError(404, UNREACHABLE)


class StorageAPIHandler(MemberAPIHandler):
    """Base of the files and uploads APIs: members of the group only (others: 404)."""

    @property
    def isolation(self) -> Isolation:
        return Isolation.instance(config=self.hubfront.config)

    @property
    def data_dir(self) -> str:
        return self.hubfront.data_dir

    async def group_root(self, group: str) -> Path:
        require_group_storage(self.hubfront)
        return await asyncio.to_thread(ensure_group_root, self.data_dir, group, self.isolation)

    async def member_uid(self) -> int | None:
        """The acting member's account (made now if they never ran a workload); None without isolation."""
        isolation, name = self.isolation, self.current_user.name
        if not isolation.enabled:
            return None
        uid = isolation.uid_of(name)
        if uid is not None:
            return uid
        groups = [g.name for g in self.current_user.orm_user.groups]
        home = str(Path(self.data_dir) / "homes" / name)
        try:
            return (await asyncio.to_thread(isolation.account, name, groups, home)).uid
        except IsolationError as exc:
            self.log.warning("Files of %s stay root's: %s", name, exc)
            return None

    async def tree(self, group: str) -> TreeFiles:
        return TreeFiles(await self.group_root(group), await self.member_uid())

    async def storage_check(self, group, upload_id: str, size: int) -> None:
        """Hold ``size`` bytes of the group's storage quota for ``upload_id`` (QuotaExceeded if over, naming
        the group by its display name)."""
        used = await asyncio.to_thread(usage.used, self.data_dir, group.name, self.db_url)
        try:
            await asyncio.to_thread(Ledger(self.db_url).reserve_storage, group.name, upload_id,
                                    self.current_user.name, size, used, group_policy(group).quota.storage)
        except QuotaExceeded as exc:
            raise QuotaExceeded([name_groups(line, {group.name: display_name(group)}) for line in exc.over]) from None

    async def release(self, upload_id: str) -> None:
        await asyncio.to_thread(Ledger(self.db_url).release_storage, upload_id)

    def activity(self, group: str, action: str, message: str) -> None:
        record(self.db_url, username=self.current_user.name, group=group, kind="files", action=action,
               message=message, status="ok")

    async def storage(self, fn, *args, field: str = "path", named: str = ""):
        """Run a storage operation on a thread; its errors become 400 (``field``), 403, 404 or 409. A refused
        path is told in plain words naming the field as the page asks for it (``named``, e.g. "Name": the
        name of a new folder is part of the path), else as :func:`hub_ext.field_messages.label` names it."""
        try:
            return await asyncio.to_thread(fn, *args)
        except BadPath as exc:
            raise Refused(400, {field: f"{named}: {exc}" if named else labelled(field, str(exc))}) from None
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise Refused(404, {field: f"no such file or folder: {exc.args[-1] if exc.args else ''}"}) from None
        except (Conflict, FileExistsError, IsADirectoryError) as exc:
            raise Refused(409, {field: str(exc)}) from None
        except PermissionError:
            raise Refused(403, {field: "not allowed"}) from None
        except OSError as exc:
            if exc.errno in (36, 22):  # ENAMETOOLONG, EINVAL
                raise Refused(400, {field: exc.strerror or "invalid"}) from None
            raise
