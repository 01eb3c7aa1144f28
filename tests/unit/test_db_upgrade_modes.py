"""``hubfront db upgrade`` makes the SQLite files 0600 in a private data dir, before the hub ever starts."""

import os
import stat

from hub_ext.cli import main
from hub_ext.settings import Hubfront


def mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


def run_upgrade(monkeypatch, data):
    monkeypatch.setenv("HUBFRONT_DATA_DIR", str(data))
    monkeypatch.delenv("HUBFRONT_DB_URL", raising=False)
    Hubfront.clear_instance()
    try:
        assert main(["db", "upgrade"]) == 0
    finally:
        Hubfront.clear_instance()


def test_a_new_data_dir_and_database_are_private(tmp_path, monkeypatch):
    old = os.umask(0o022)
    try:
        run_upgrade(monkeypatch, tmp_path / "data")
    finally:
        os.umask(old)
    assert mode(tmp_path / "data") & 0o077 in (0, 0o011)
    assert mode(tmp_path / "data" / "hubfront.sqlite") == 0o600


def test_existing_loose_files_and_dir_are_tightened(tmp_path, monkeypatch):
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    data.chmod(0o755)
    for suffix in ("", "-wal", "-shm", "-journal"):
        (data / f"hubfront.sqlite{suffix}").touch(mode=0o644)
        os.chmod(data / f"hubfront.sqlite{suffix}", 0o644)
    (data / "hubfront.sqlite-wal").write_bytes(b"")  # an empty WAL: SQLite ignores it
    os.unlink(data / "hubfront.sqlite")
    run_upgrade(monkeypatch, data)
    assert mode(data) == 0o711  # others may pass to their homes, not list
    for suffix in ("", "-wal", "-shm", "-journal"):
        path = data / f"hubfront.sqlite{suffix}"
        if path.exists():
            assert mode(path) == 0o600, suffix


def test_a_symlink_in_place_of_the_database_is_not_followed(tmp_path, monkeypatch):
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    victim = tmp_path / "victim"
    victim.write_text("keep")
    victim.chmod(0o644)
    (data / "hubfront.sqlite-shm").symlink_to(victim)
    try:
        run_upgrade(monkeypatch, data)
    except OSError:
        pass  # refusing is fine; changing the victim is not
    assert mode(victim) == 0o644 and victim.read_text() == "keep"
