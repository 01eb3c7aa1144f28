"""The runner's side of git datasets: clone and keep each one in sync, on its schedule or on demand.

The hub asks for a sync by setting ``sync_requested`` (POST …/datasets/{dataset}/sync, and on
create or a change of URL or branch); the runner looks for such datasets, and for those whose
``sync_interval`` has passed, every ``Datasets.sync_poll`` seconds. A sync claims its dataset
(status Syncing) before git runs, so a second runner pass never runs it twice. A new commit or a
failure is an activity; an unchanged periodic sync is not.

Each group has its own queue and syncs one dataset at a time (:class:`GroupQueues`); at most
``Datasets.sync_concurrency`` syncs run at once, on threads of their own. So a group whose repository
hangs (an ssh server that accepts and never answers) waits for its own deadline alone: every other
group's datasets go on syncing.

With isolation on, git runs as the group's service account (the account its apps run as), through
the workload entry (``Isolation.preexec``: its own cgroup with ``Datasets.git_memory``/``git_cpu``,
its namespaces, ``no_new_privs``), with the group's own ``~/.ssh/known_hosts``; the cgroup is removed
afterwards, with anything still running in it. Before git runs, the URL's host is resolved and checked
again (``datasets.addresses``: DNS may have changed since the dataset was saved), and git connects to
the address that was checked.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import timedelta
from typing import Callable, Iterator

from sqlalchemy import or_, select, update

from .. import activity
from ..bodies import BodyError
from ..datasets import disk
from ..datasets.addresses import RefusedAddress, remote_of, resolve
from ..datasets.git import GitError, Pin, RunAs, sync
from ..datasets.records import REPO, dataset_dir
from ..datasets.requests import check_git_url, is_local
from ..datasets.settings import Datasets
from ..isolation.accounts import IsolationError
from ..times import utc
from ..store import session_scope
from ..store.engine import read_scope
from ..store.models import utcnow
from ..store.models_storage import Dataset

log = logging.getLogger("hubfront.runner")

RETRY_AFTER = 60  # seconds before a scheduled sync that failed is tried again (on demand: at once)
CGROUP_KIND = "gitsync"


def due_by_group(db_url: str, failed: dict | None = None) -> list[tuple[str, str]]:
    """(name, group) of git datasets asked to sync, or whose interval has passed since their last sync
    (``failed``: name -> when its last scheduled sync failed, tried again after the interval or a minute)."""
    now = utcnow()
    failed = failed or {}
    with read_scope(db_url) as s:
        rows = list(s.scalars(select(Dataset).where(Dataset.kind == "git", or_(
            Dataset.sync_requested.is_(True), Dataset.sync_interval > 0))))

    def scheduled(r: Dataset) -> bool:
        last = max([utc(r.synced)] * (r.synced is not None) + [failed[r.name]] * (r.name in failed), default=None)
        wait = r.sync_interval if r.name not in failed else min(r.sync_interval, RETRY_AFTER)
        return last is None or last + timedelta(seconds=wait) <= now

    return [(r.name, r.group) for r in rows if r.sync_requested or scheduled(r)]


def due(db_url: str, failed: dict | None = None) -> list[str]:
    """The names of the git datasets :func:`due_by_group` lists."""
    return [name for name, _ in due_by_group(db_url, failed)]


def _claim(db_url: str, name: str) -> Dataset | None:
    with session_scope(db_url) as s:
        claimed = s.execute(update(Dataset).where(Dataset.name == name, Dataset.sync_status != "Syncing").values(
            sync_requested=False, sync_status="Syncing")).rowcount
        return s.get(Dataset, name) if claimed else None


@contextmanager
def run_as_group(isolation, group: str, name: str, settings: Datasets, keep=()) -> Iterator[RunAs]:
    """How git runs for a sync of ``group``'s dataset ``name``: as the group's service account in a
    cgroup of its own (removed afterwards, with whatever still runs in it) when isolation is on; as the
    hub's own account otherwise, with the same home (the group's known_hosts) when there is an Isolation."""
    if isolation is None:
        yield RunAs()
        return
    home = isolation.service_home(group)
    if not isolation.enabled:
        yield RunAs(home=home, preexec=isolation.preexec(None, None, home))
        return
    account = isolation.service_account(group)
    cgroup = isolation.create_cgroup(CGROUP_KIND, name, isolation.limits(memory=settings.git_memory,
                                                                         cpu=settings.git_cpu))
    try:
        network = isolation.create_network(CGROUP_KIND, name)  # git reaches the outside world, not the host
        yield RunAs(home=account.home, preexec=isolation.preexec(account, cgroup, account.home, keep=keep,
                                                                 network=network),
                    uid=account.uid, kill=cgroup.kill if cgroup is not None else None)
    finally:
        if cgroup is not None:
            cgroup.remove()
        isolation.remove_network(CGROUP_KIND, name)


def pin_for(url: str, settings: Datasets) -> Pin | None:
    """The URL's host resolved now, every address checked (RefusedAddress; GitError: it does not resolve);
    None for a local repository."""
    remote = remote_of(url)
    if remote is None:
        return None
    try:
        addresses = resolve(remote.host, remote.port, settings.networks())
    except (OSError, UnicodeError) as exc:
        raise GitError(f"{remote.host}: the name does not resolve ({getattr(exc, 'strerror', None) or exc})") \
            from None
    return Pin(remote.scheme, remote.host, remote.port, tuple(addresses))


def sync_dataset(db_url: str, data_dir: str, name: str, settings: Datasets,
                 hub_prefix: str = "/hub/", isolation=None) -> Dataset | None:
    """Bring one git dataset's clone up to date and record how it went (None: gone or already syncing).
    ``isolation``: the runner's Isolation (None: git runs as this process, with no home of its own)."""
    row = _claim(db_url, name)
    if row is None:
        return None
    url, branch = row.git_url, row.git_branch or "main"
    protocols = list(settings.git_protocols)
    try:
        check_git_url(url, settings.allow_local_git_urls, settings.networks())
        local = is_local(url)
        if local:
            protocols.append("file")
        pin = None if local else pin_for(url, settings)
        keep = [url.removeprefix("file://")] if local else []  # a local repository is seen where it is
        with run_as_group(isolation, row.group, name, settings, keep) as runas:
            synced = sync(dataset_dir(data_dir, name) / REPO, url, branch, protocols=protocols,
                          timeout=settings.git_timeout, runas=runas, pin=pin)
    except Exception as exc:  # noqa: BLE001 - whatever went wrong, the dataset must not stay Syncing
        if isinstance(exc, BodyError):
            message = "; ".join(exc.errors.values())
        elif isinstance(exc, RefusedAddress):
            message = f"refused: {exc}"
        elif isinstance(exc, (GitError, OSError, IsolationError)):
            message = str(exc)
        else:
            log.exception("Sync of dataset %s failed", name)
            message = f"the sync failed unexpectedly ({type(exc).__name__}); the runner's log says more"
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


def recover(db_url: str, isolation=None) -> None:
    """At start: a sync the last runner was killed in is asked for again, and what it left running (its
    git, no longer watched by any deadline) is stopped with its cgroup."""
    with session_scope(db_url) as s:
        names = list(s.scalars(select(Dataset.name).where(Dataset.kind == "git", Dataset.sync_status == "Syncing")))
        s.execute(update(Dataset).where(Dataset.name.in_(names)).values(sync_status="Waiting", sync_requested=True))
    for name in names if isolation is not None else []:
        cgroup = isolation.existing_cgroup(CGROUP_KIND, name)
        if cgroup is not None:
            cgroup.remove()
        isolation.remove_network(CGROUP_KIND, name)


class GroupQueues:
    """One queue per group, worked by one task (one sync of the group at a time), at most ``cap`` syncs
    at once on threads of their own: one group's hung clone never delays another group's sync."""

    def __init__(self, run: Callable[[str], Dataset | None], cap: int,
                 done: Callable[[str, Dataset | None], None] = lambda name, row: None):
        self.run, self.done = run, done
        self.cap = max(1, cap)
        self.queues: dict[str, deque[str]] = {}
        self.workers: dict[str, asyncio.Task] = {}
        self.pending: set[str] = set()  # queued or syncing
        self.executor = ThreadPoolExecutor(max_workers=self.cap, thread_name_prefix="gitsync")
        self.slots = asyncio.Semaphore(self.cap)

    def submit(self, group: str, name: str) -> None:
        if name in self.pending:
            return
        self.pending.add(name)
        self.queues.setdefault(group, deque()).append(name)
        if group not in self.workers:
            self.workers[group] = asyncio.create_task(self._work(group))

    async def _work(self, group: str) -> None:
        queue = self.queues[group]
        try:
            while queue:
                name = queue.popleft()
                try:
                    async with self.slots:
                        row = await asyncio.get_running_loop().run_in_executor(self.executor, self.run, name)
                    self.done(name, row)
                except Exception:  # noqa: BLE001 - one bad sync is logged; the queue goes on
                    log.exception("Sync of dataset %s failed", name)
                finally:
                    self.pending.discard(name)
        finally:
            self.workers.pop(group, None)
            if not queue:
                self.queues.pop(group, None)

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)


async def follow(db_url: str, data_dir: str, settings: Datasets, hub_prefix: str = "/hub/",
                 isolation=None) -> None:
    """The runner's loop for git datasets: due syncs go to their group's queue (:class:`GroupQueues`)."""
    recover(db_url, isolation)
    failed: dict = {}

    def done(name: str, row: Dataset | None) -> None:
        if row is not None and row.sync_status == "Failed":
            failed[name] = utcnow()
        elif row is not None:
            failed.pop(name, None)

    queues = GroupQueues(lambda name: sync_dataset(db_url, data_dir, name, settings, hub_prefix, isolation),
                         settings.sync_concurrency, done)
    try:
        while True:
            try:
                for name, group in due_by_group(db_url, failed):
                    queues.submit(group, name)
            except Exception:  # noqa: BLE001 - a bad pass is logged; the next one tries again
                log.exception("Dataset sync pass failed")
            await asyncio.sleep(settings.sync_poll)
    finally:
        queues.close()
