"""Uploads without HTTP: tus header parsing, pluggable areas, and the sweep of stalled uploads."""

from __future__ import annotations

import base64
from datetime import timedelta
from pathlib import Path

import pytest

from hub_ext.ledger import Ledger
from hub_ext.store.models import utcnow
from hub_ext.storage.uploads import (STALE_AFTER, UploadError, UploadStore, area_root, parse_count, parse_metadata,
                                     register_area, remove_stale, upload_target)


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_metadata_pairs_and_the_target():
    meta = parse_metadata(f"path {b64('data/ü.csv')},area {b64('')},filename {b64('ü.csv')},flag")
    assert meta == {"path": "data/ü.csv", "area": "", "filename": "ü.csv", "flag": ""}
    assert upload_target(meta) == ("data/ü.csv", "")
    for bad in ("path !!!", f"path {b64('a')},path {b64('b')}", "path a b"):
        with pytest.raises(UploadError) as exc:
            parse_metadata(bad)
        assert exc.value.status == 400 and "Upload-Metadata" in exc.value.errors
    for meta in ({}, {"path": ""}, {"path": "../x"}, {"path": "/etc/x"}, {"path": "a\x00"}):
        with pytest.raises(UploadError) as exc:
            upload_target(meta)
        assert "path" in exc.value.errors


def test_lengths_are_whole_numbers_within_the_maximum():
    assert parse_count("0", "Upload-Length") == 0 and parse_count(" 42 ", "Upload-Length") == 42
    for bad in (None, "", "-1", "1.5", "0x10", "١٢", "9" * 20):
        with pytest.raises(UploadError) as exc:
            parse_count(bad, "Upload-Length")
        assert exc.value.status == 400 and "Upload-Length" in exc.value.errors
    with pytest.raises(UploadError) as exc:
        parse_count(str(2**50), "Upload-Length")
    assert exc.value.status == 413


def test_areas_are_pluggable(tmp_path):
    def resolver(db_url, data_dir, group, username, name):
        if name == "secret":
            raise PermissionError("read-only for your group")
        if name != "images":
            raise LookupError(f"no dataset {name}")
        return Path(data_dir) / "datasets" / name / "current"

    register_area("testarea", resolver)
    args = {"db_url": "sqlite://", "data_dir": tmp_path, "group": "g", "username": "u"}
    assert area_root("testarea:images", **args) == tmp_path / "datasets" / "images" / "current"
    with pytest.raises(PermissionError):
        area_root("testarea:secret", **args)
    with pytest.raises(LookupError):
        area_root("testarea:nope", **args)
    for bad in ("elsewhere:x", "testarea:", "testarea"):
        with pytest.raises(UploadError) as exc:
            area_root(bad, **args)
        assert "area" in exc.value.errors


def test_stalled_uploads_are_removed_with_their_holds_after_a_day(tmp_path, sqlite_url):
    store, ledger = UploadStore(sqlite_url, tmp_path), Ledger(sqlite_url)
    for upload_id in ("a" * 32, "b" * 32):
        store.create(upload_id=upload_id, group="g", username="u", target="x", area="", length=10)
        ledger.reserve_storage("g", upload_id, "u", 10, 0, None)
        store.part(upload_id).write_bytes(b"12345")
    assert store.offset("a" * 32) == 5 and store.get("a" * 32).length == 10
    assert remove_stale(store, ledger) == []
    store.touch("b" * 32)
    later = utcnow() + STALE_AFTER + timedelta(minutes=1)
    assert sorted(remove_stale(store, ledger, now=later)) == ["a" * 32, "b" * 32]
    assert ledger.storage_held("g") == 0 and not list(store.dir.glob("*.part"))
    assert store.get("a" * 32) is None and store.get("not-an-id") is None
