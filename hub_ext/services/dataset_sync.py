"""The runner's side of git datasets: clone and keep each one in sync, on its schedule or on demand.

The hub asks for a sync by setting ``sync_requested`` (POST …/datasets/{dataset}/sync, and on
create or a change of URL or branch); the runner looks for such datasets, and for those whose
``sync_interval`` has passed, every ``Datasets.sync_poll`` seconds. A sync claims its dataset
(status Syncing) before git runs, so a second runner pass never runs it twice. A new commit or a
failure is an activity; an unchanged periodic sync is not.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from sqlalchemy import or_, select, update

from .. import activity
from ..datasets import disk
from ..datasets.git import GitError, sync
from ..datasets.records import REPO, dataset_dir
from ..datasets.requests import check_git_url, is_local
from ..datasets.settings import Datasets
from ..bodies import BodyError
from ..jobs.records import utc
from ..store import session_scope
from ..store.engine import read_scope
from ..store.models import utcnow
from ..store.models_storage import Dataset

log = logging.getLogger("hubfront.runner")


RETRY_AFTER = 60  # seconds before a scheduled sync that failed is tried again (on demand: at once)


def due(db_url: str, failed: dict | None = None) -> list[str]:
    """Git datasets asked to sync, or whose interval has passed since their last sync (``failed``:
    name -> when its last scheduled sync failed, tried again after the interval or a minute)."""
    now = utcnow()
    failed = failed or {}
    with read_scope(db_url) as s:
        rows = list(s.scalars(select(Dataset).where(Dataset.kind == "git", or_(
            Dataset.sync_requested.is_(True), Dataset.sync_interval > 0))))

    def scheduled(r: Dataset) -> bool:
        last = max([utc(r.synced)] * (r.synced is not None) + [failed[r.name]] * (r.name in failed), default=None)
        wait = r.sync_interval if r.name not in failed else min(r.sync_interval, RETRY_AFTER)
        return last is None or last + timedelta(seconds=wait) <= now

    return [r.name for r in rows if r.sync_requested or scheduled(r)]


def _claim(db_url: str, name: str) -> Dataset | None:
    with session_scope(db_url) as s:
        claimed = s.execute(update(Dataset).where(Dataset.name == name, Dataset.sync_status != "Syncing").values(
            sync_requested=False, sync_status="Syncing")).rowcount
        return s.get(Dataset, name) if claimed else None


def sync_dataset(db_url: str, data_dir: str, name: str, settings: Datasets,
                 hub_prefix: str = "/hub/") -> Dataset | None:
    """Bring one git dataset's clone up to date and record how it went (None: gone or already syncing)."""
    row = _claim(db_url, name)
    if row is None:
        return None
    url, branch = row.git_url, row.git_branch or "main"
    protocols = list(settings.git_protocols)
    try:
        check_git_url(url, settings.allow_local_git_urls)
        if is_local(url):
            protocols.append("file")
        synced = sync(dataset_dir(data_dir, name) / REPO, url, branch, protocols=protocols,
                      timeout=settings.git_timeout)
    except (GitError, BodyError, OSError) as exc:
        message = "; ".join(exc.errors.values()) if isinstance(exc, BodyError) else str(exc)
        values = dict(sync_status="Failed", sync_message=message)
        status, text = "error", f"Dataset {name}: sync of {url} ({branch}) failed: {message}"
        commit = row.commit
    else:
        size, files = disk.measure(dataset_dir(data_dir, name) / REPO, fresh=True)
        values = dict(sync_status="Synced", sync_message=synced.subject, commit=synced.commit, synced=utcnow(),
                      size=size, files=files)
        status, text = "ok", f"Dataset {name}: synced {branch} at {synced.commit[:10]} ({synced.subject})"
        commit = synced.commit
    with session_scope(db_url) as s:
        s.execute(update(Dataset).where(Dataset.name == name).values(**values))
    if status == "error" or commit != row.commit or row.sync_status == "Failed":
        activity.record(db_url, username=row.username, group=row.group, kind="dataset", action="synced",
                        status=status, message=text, workload_id=name,
                        link=f"{hub_prefix}portal/datasets/{name}")
    with read_scope(db_url) as s:
        return s.get(Dataset, name)


def recover(db_url: str) -> None:
    """At start: a sync the last runner was killed in is asked for again."""
    with session_scope(db_url) as s:
        s.execute(update(Dataset).where(Dataset.kind == "git", Dataset.sync_status == "Syncing").values(
            sync_status="Waiting", sync_requested=True))


async def follow(db_url: str, data_dir: str, settings: Datasets, hub_prefix: str = "/hub/") -> None:
    """The runner's loop for git datasets (one sync at a time, on a thread: git can take minutes)."""
    recover(db_url)
    failed: dict = {}
    while True:
        try:
            for name in due(db_url, failed):
                row = await asyncio.to_thread(sync_dataset, db_url, data_dir, name, settings, hub_prefix)
                if row is not None and row.sync_status == "Failed":
                    failed[name] = utcnow()
                else:
                    failed.pop(name, None)
        except Exception:  # noqa: BLE001 - a bad pass is logged; the next one tries again
            log.exception("Dataset sync pass failed")
        await asyncio.sleep(settings.sync_poll)
