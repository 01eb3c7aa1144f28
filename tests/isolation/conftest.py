"""The isolation module's fixture: an ``Isolation`` as root on this machine's real cgroup tree."""

from __future__ import annotations

import os

import pytest

from hub_ext.isolation import Isolation
from support import ACCOUNT_PREFIX, let_workloads_pass, need


@pytest.fixture
def isolation(tmp_path):
    need(os.geteuid() == 0, "isolation needs root (CI runs the suite as root)")
    let_workloads_pass(tmp_path)
    data = tmp_path / "data"
    data.mkdir()
    # the tests' files (fake device nodes) lie beside the data dir, under /tmp: workloads still see them
    iso = Isolation(isolate="always", account_prefix=ACCOUNT_PREFIX, data_dir=str(data), keep_paths=[str(tmp_path)])
    need(iso.hierarchy is not None, f"no writable cgroup tree here: {iso.status().warnings}")
    return iso
