"""Shared storage and folder invitations enforced by the OS, with real accounts (as root): processes run
as the members' accounts through the isolation module (umask 077, as every workload), see the links
made in their homes, and the kernel decides what they may do."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time

import pytest

from hub_ext.folders.service import Folders
from hub_ext.storage.adopter import PermissionKeeper
from hub_ext.storage.mounts import MountSource
from support import isolated_data_dir, need

pytestmark = pytest.mark.isolation


class Member:
    """A hub user's account with the storage links in their home, and a way to run code as it."""

    def __init__(self, rig, name, groups):
        self.rig, self.name, self.groups = rig, name, groups
        self.home = str(rig.data / "homes" / name)
        self.account = rig.iso.account(name, groups, self.home)

    def mount(self, group=None):
        return self.rig.source.apply(self.name, group or self.groups[0], self.home, self.account)

    def run(self, code: str) -> dict:
        """Run ``code`` as the account in its home; it sets ``out`` (JSON), exceptions come back by name."""
        wrapper = ("import json, os\nout = None\ntry:\n" + "".join(f"    {line}\n" for line in code.splitlines())
                   + "    print(json.dumps({'ok': out}))\nexcept OSError as e:\n"
                   "    print(json.dumps({'error': type(e).__name__}))\n")
        proc = subprocess.run([sys.executable, "-c", wrapper], capture_output=True, text=True, timeout=60,
                              env={"PATH": os.defpath, "HOME": self.home},
                              preexec_fn=self.rig.iso.preexec(self.account, None, self.home))
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)


class Rig:
    def __init__(self, tmp_path, sqlite_url):
        self.data, self.iso = isolated_data_dir(tmp_path)
        self.db_url = sqlite_url
        self.source = MountSource(sqlite_url, self.data, self.iso)
        self.folders = Folders(sqlite_url, str(self.data), self.iso)

    def member(self, name, groups):
        return Member(self, name, groups)


@pytest.fixture
def rig(tmp_path, sqlite_url):
    need(os.geteuid() == 0, "OS accounts need root (CI runs the suite as root)")
    return Rig(tmp_path, sqlite_url)


def test_members_share_the_group_tree_and_others_cannot_reach_it(rig):
    ann, bob = rig.member("ann", ["mtg"]), rig.member("bob", ["mtg"])
    cy = rig.member("cy", ["other"])
    for m in (ann, bob, cy):
        m.mount()
    assert ann.run("open('shared/x.csv', 'w').write('a,b\\n'); out = os.environ.get('HOME')") == {"ok": ann.home}
    assert bob.run("out = open(os.path.expanduser('~/shared/x.csv')).read()") == {"ok": "a,b\n"}
    assert bob.run("open('shared/x.csv', 'a').write('1,2\\n'); open('shared/out.csv', 'w').write('B')") == {"ok": None}
    assert ann.run("open('shared/out.csv', 'a').write('A'); out = open('shared/x.csv').read()") == {"ok": "a,b\n1,2\n"}
    assert bob.run("out = open('shared/out.csv').read()") == {"ok": "BA"}
    group_tree = str(rig.data / "groups" / "mtg")
    assert cy.run(f"out = os.listdir({group_tree!r})") == {"error": "PermissionError"}
    assert cy.run(f"out = open({group_tree + '/x.csv'!r}).read()") == {"error": "PermissionError"}
    assert cy.run("out = os.path.realpath('shared')") == {"ok": str(rig.data / "groups" / "other")}


async def test_a_file_moved_in_becomes_writable_for_every_member(rig):
    ann, bob = rig.member("ann", ["mtg"]), rig.member("bob", ["mtg"])
    ann.mount()
    bob.mount()
    # moved in while no keeper runs (the runner was down): as it is, another member cannot write it
    assert ann.run("open('early.txt', 'w').write('e')\nos.rename('early.txt', 'shared/early.txt')") == {"ok": None}
    assert bob.run("open('shared/early.txt', 'a').write('+bob')") == {"error": "PermissionError"}
    keeper = PermissionKeeper(rig.data, rig.db_url, rig.iso)
    stop = asyncio.Event()
    task = asyncio.create_task(keeper.run(stop))
    try:
        while not keeper.started:  # watching, first sweep done
            await asyncio.sleep(0.05)
        # the keeper's first sweep adopted it
        assert await asyncio.to_thread(bob.run, "open('shared/early.txt', 'a').write('+bob')") == {"ok": None}
        moved = await asyncio.to_thread(ann.run, "os.makedirs('results', exist_ok=True)\n"
                                        "open('results/r.txt', 'w').write('mine')\n"
                                        "open('private.txt', 'w').write('secret-ish')\n"
                                        "os.rename('private.txt', 'shared/private.txt')\n"
                                        "os.rename('results', 'shared/results')")
        assert moved == {"ok": None}  # 0600, ann's primary group: bob could not touch it as it is
        until, result = time.monotonic() + 30, None  # the keeper acts on the move's event (it has no timer)
        while time.monotonic() < until:
            result = await asyncio.to_thread(bob.run, "open('shared/private.txt', 'a').write('+bob')\n"
                                             "open('shared/results/r.txt', 'a').write('+bob')")
            if result == {"ok": None}:
                break
            await asyncio.sleep(0.1)
        assert result == {"ok": None}, "a member could not write a file moved into the group's tree"
        assert ann.run("out = open('shared/private.txt').read() + open('shared/results/r.txt').read()") == {
            "ok": "secret-ish+bobmine+bob"}
    finally:
        stop.set()
        task.cancel()


def test_folder_invitation_permissions_are_enforced_by_the_os(rig):
    ann, bob = rig.member("ann", ["mtg"]), rig.member("bob", ["other"])
    rig.folders.create_folder("ann", ["mtg"], "papers")
    ann.mount()
    assert ann.run("open('my-folders/papers/a.txt', 'w').write('draft')") == {"ok": None}
    shared = os.path.join(bob.home, "shared-with-me", "ann", "papers")
    read = f"out = open({shared + '/a.txt'!r}).read()"
    write_new = f"open({shared + '/b.txt'!r}, 'w').write('from bob')"
    append = f"open({shared + '/a.txt'!r}, 'a').write('+bob')"
    delete = f"os.unlink({shared + '/a.txt'!r})"

    inv = rig.folders.invite("ann", "papers", "bob", "ro")
    bob.mount()
    assert not os.path.lexists(shared)  # pending: nothing yet
    assert bob.run(f"out = os.listdir({str(rig.data / 'folders' / 'ann' / 'papers')!r})") == {"error": "PermissionError"}

    rig.folders.accept(inv.id, "bob", ["other"])  # his running workloads see it at once: no new launch
    assert bob.run(read) == {"ok": "draft"}
    assert bob.run(append) == {"error": "PermissionError"}
    assert bob.run(write_new) == {"error": "PermissionError"}

    rig.folders.set_permission(inv.id, "ann", "rw")
    assert bob.run(append) == {"ok": None}
    assert bob.run(write_new) == {"ok": None}
    assert bob.run(delete) == {"error": "PermissionError"}  # rw: not the owner's files
    assert bob.run(f"os.unlink({shared + '/b.txt'!r})") == {"ok": None}  # his own: yes
    assert ann.run("out = open('my-folders/papers/a.txt').read()") == {"ok": "draft+bob"}
    assert ann.run("open('my-folders/papers/c.txt', 'w').write('later')") == {"ok": None}  # made after the grant
    assert bob.run(f"out = open({shared + '/c.txt'!r}).read()") == {"ok": "later"}

    rig.folders.set_permission(inv.id, "ann", "rwd")
    assert bob.run(delete) == {"ok": None}

    rig.folders.revoke(inv.id, "ann")
    assert bob.run(f"out = open({str(rig.data / 'folders' / 'ann' / 'papers' / 'c.txt')!r}).read()") == {
        "error": "PermissionError"}
    assert not os.path.lexists(shared)  # the link went with the access


async def test_a_job_sees_the_groups_tree_datasets_variables_and_a_pinned_version(rig):
    from hub_ext.services.executors.base import JobSpec
    from hub_ext.services.executors.local import LocalExecutor
    from hub_ext.store import session_scope
    from hub_ext.store.models_storage import Dataset

    with session_scope(rig.db_url) as s:
        s.add(Dataset(name="imgs", group="mtg", username="ann", kind="files"))
    for version, text in (("current", "now"), ("v2", "then")):
        (rig.data / "datasets" / "imgs" / version).mkdir(parents=True)
        (rig.data / "datasets" / "imgs" / version / "f.txt").write_text(text)
    os.chmod(rig.data / "datasets", 0o755)
    for d in (rig.data / "datasets" / "imgs").rglob("*"):
        os.chmod(d, 0o755 if d.is_dir() else 0o644)
    os.chmod(rig.data / "datasets" / "imgs", 0o755)
    ann = rig.member("ann", ["mtg"])
    executor = LocalExecutor(isolation=rig.iso, gpu_inventory=[], kill_grace=1.0)
    executor.mounts = rig.source
    command = ("echo job > ~/shared/from-job.txt && echo shared=$HUBFRONT_SHARED && "
               "cat $HUBFRONT_DATASETS/imgs/f.txt && echo && cat ~/datasets/imgs/f.txt")
    for job_id, pins, expected in ((1, {}, "now\nnow"), (2, {"imgs": 2}, "then\nnow")):
        handle = await executor.start(JobSpec(job_id=job_id, username="ann", group="mtg", groups=("mtg",),
                                              command=command, dataset_pins=pins))
        until = time.monotonic() + 30
        while not (status := await executor.status(handle)).done and time.monotonic() < until:
            await asyncio.sleep(0.1)
        log = (await executor.logs(handle))[0].decode()
        assert status.phase == "Succeeded", log
        assert f"shared={rig.data / 'groups' / 'mtg'}\n{expected}" in log
    assert ann.run("out = open('shared/from-job.txt').read()") == {"ok": "job\n"}
