"""OS accounts for hub users and Unix groups for hub groups (needs root).

Each hub user gets a system account (``useradd --system``, no password, shell
/bin/bash, home ``<data>/homes/<username>``) whose primary group is shared by
all workload accounts; each hub group gets a system Unix group, and the
account belongs to exactly the Unix groups of its hub groups (synced at every
launch). Each hub group also has a service account its apps run as
(``names.service_account_name``), a member of that group's Unix group only.
Accounts are recognised by their comment field, so an unrelated
account that happens to carry the same name is never taken over.
"""

from __future__ import annotations

import fcntl
import grp
import os
import pwd
import stat
import subprocess
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from . import fdtree, safefs
from .names import COMMENT, account_name, primary_group_name, service_account_name, unix_group_name


class IsolationError(Exception):
    """Isolation cannot be set up for a workload; the message says why."""


@dataclass(frozen=True)
class Account:
    name: str
    uid: int
    gid: int
    groups: tuple[int, ...]  # supplementary: the Unix groups of the user's hub groups
    home: str


def _run(cmd: list[str]) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        raise IsolationError(f"{' '.join(cmd[:1])} failed: {(proc.stderr or proc.stdout).strip()}")


class Accounts:
    """Creates and syncs accounts; one at a time per machine (a file lock), as useradd wants."""

    _thread_lock = threading.Lock()

    def __init__(self, prefix: str, lock_file: str | Path):
        self.prefix = prefix
        self.lock_file = Path(lock_file)

    @contextmanager
    def _locked(self):
        with self._thread_lock:
            self.lock_file.parent.mkdir(parents=True, exist_ok=True)
            with open(self.lock_file, "a") as f:
                fcntl.flock(f, fcntl.LOCK_EX)
                yield

    def _group(self, name: str) -> int:
        try:
            return grp.getgrnam(name).gr_gid
        except KeyError:
            _run(["groupadd", "--system", name])
            return grp.getgrnam(name).gr_gid

    def ensure(self, username: str, hub_groups: list[str], home: str | Path) -> Account:
        """The account of ``username``, created if missing, in exactly its hub groups' Unix groups."""
        return self._ensure(account_name(self.prefix, username), hub_groups, home)

    def ensure_service(self, group: str, home: str | Path) -> Account:
        """The service account of hub group ``group`` (its apps run as it), created if missing, in exactly
        the group's Unix group: it reads and writes the group's storage, nothing of its members'."""
        return self._ensure(service_account_name(self.prefix, group), [group], home)

    def _ensure(self, name: str, hub_groups: list[str], home: str | Path) -> Account:
        wanted_names = sorted(unix_group_name(self.prefix, g) for g in hub_groups)
        with self._locked():
            primary = self._group(primary_group_name(self.prefix))
            wanted = {n: self._group(n) for n in wanted_names}
            try:
                entry = pwd.getpwnam(name)
            except KeyError:
                _run(["useradd", "--system", "--no-create-home", "--home-dir", str(home),
                      "--shell", "/bin/bash", "--gid", str(primary), "--comment", COMMENT, name])
                entry = pwd.getpwnam(name)
            if entry.pw_gecos != COMMENT:
                raise IsolationError(f"OS account {name} exists but was not created by Hubfront; "
                                     "set a different Isolation.account_prefix")
            current = {g.gr_name for g in grp.getgrall() if name in g.gr_mem}
            if current != set(wanted):
                _run(["usermod", "--groups", ",".join(wanted_names), name])
        self.prepare_home(Path(home), entry.pw_uid, primary)
        return Account(name, entry.pw_uid, primary, tuple(sorted(wanted.values())), str(home))

    @staticmethod
    def prepare_home(home: Path, uid: int, gid: int) -> None:
        """The home exists, mode 0700, and everything in it belongs to the account.

        A home made before isolation was on (its workloads ran as root) is handed over once, by
        descriptors (:mod:`.safefs`): the member wrote that tree and may have put links in it, so
        nothing is reached through a name again, no link is followed (a link itself is given to the
        account, its target never touched), a file with a second name (another account's, linked
        in) keeps its owner, and set-ID bits are dropped from what changes hands. The home itself
        changes hands last, so an interrupted hand-over is finished at the next launch.
        """
        if not home.parent.is_dir():  # homes/: the hub's own; others may pass through, not list
            safefs.ensure_dir(home.parent, 0o711)
        parent = safefs.open_dir(home.parent)
        try:
            top = safefs.make_dir(parent, home.name, 0o700)
        finally:
            os.close(parent)
        try:
            st = os.fstat(top)
            if st.st_uid == uid:
                return
            for fd, est, rel in fdtree.iter_tree(top):
                if stat.S_ISLNK(est.st_mode):
                    where = safefs.open_beneath(top, os.path.dirname(rel))
                    try:
                        safefs.link_owner(where, os.path.basename(rel), uid, gid)
                    finally:
                        os.close(where)
                else:  # root's files too: before isolation every workload of this home ran as root
                    safefs.set_owner(fd, est, uid, gid, root_ok=True)
            safefs.set_owner(top, st, uid, gid)
        finally:
            os.close(top)


def remove_accounts(prefix: str) -> list[str]:
    """Delete the workload accounts and Unix groups made under ``prefix`` (tests, benchmarks).

    Best effort: an account still running processes is left in place.
    """
    users = [e.pw_name for e in pwd.getpwall() if e.pw_name.startswith(prefix) and e.pw_gecos == COMMENT]
    groups = [g.gr_name for g in grp.getgrall()
              if g.gr_name.startswith(prefix + "g-") or g.gr_name == primary_group_name(prefix)]
    removed = []
    for command, name in [("userdel", u) for u in users] + [("groupdel", g) for g in groups]:
        try:
            _run([command, name])
        except IsolationError:
            continue
        removed.append(name)
    return removed
