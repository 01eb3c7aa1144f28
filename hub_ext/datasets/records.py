"""Datasets on disk and in workloads: where each kind lives and what a group's workloads get.

Layout under the hub's data dir (``<data>``)::

    <data>/datasets/<name>/            root's; the owner group and every granted group may pass (ACLs)
    <data>/datasets/<name>/current/    a files dataset's contents (the owner group's, group rw)
    <data>/datasets/<name>/v<N>/       version N of a files dataset: a read-only copy
    <data>/datasets/<name>/repo/       a git dataset's clone, root's and read-only for everyone

Env datasets have no folder: their key/values (encrypted in the DB) become
``<NAME>_<KEY>`` environment variables of every workload of a group that may use them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import or_, select

from ..store.models_storage import Dataset, DatasetGrant

DATASETS = "datasets"
CURRENT = "current"
REPO = "repo"


@dataclass(frozen=True)
class DatasetMount:
    """One dataset a workload gets: a folder (``path``, mounted at ``/datasets/<name>``) or variables (``env``)."""

    name: str
    path: Path | None  # None for env datasets
    writable: bool
    env: dict[str, str] = field(default_factory=dict)  # env datasets: NAME_KEY -> value
    version: int | None = None  # a pinned version (read-only)


def datasets_root(data_dir) -> Path:
    return Path(data_dir) / DATASETS


def dataset_dir(data_dir, name: str) -> Path:
    return datasets_root(data_dir) / name


def version_dir(data_dir, name: str, n: int) -> Path:
    return dataset_dir(data_dir, name) / f"v{int(n)}"


def content_dir(data_dir, row: Dataset) -> Path | None:
    """The folder a workload sees for ``row`` (the current files or the clone); None for env datasets."""
    if row.kind == "files":
        return dataset_dir(data_dir, row.name) / CURRENT
    if row.kind == "git":
        return dataset_dir(data_dir, row.name) / REPO
    return None


def env_prefix(name: str) -> str:
    """``imagenet-small`` -> ``IMAGENET_SMALL``: the prefix of an env dataset's variables."""
    return name.upper().replace("-", "_")


def env_vars(name: str, values: dict[str, str]) -> dict[str, str]:
    prefix = env_prefix(name)
    return {f"{prefix}_{key}": value for key, value in values.items()}


def open_values(key: bytes | None, sealed: str) -> list[dict]:
    """An env dataset's entries ``[{key, value, secret}]`` from the sealed column ([] if the key fails)."""
    from ..keys import decrypt

    if not sealed or key is None:
        return []
    plain = decrypt(key, sealed)
    return json.loads(plain) if plain else []


def usable_by(session, group: str) -> list[tuple[Dataset, str]]:
    """Every dataset ``group`` owns (mode "rw") or was granted (the grant's mode), by name."""
    granted = {g.dataset: g.mode for g in session.scalars(select(DatasetGrant).where(DatasetGrant.group == group))}
    rows = session.scalars(select(Dataset).where(or_(Dataset.group == group, Dataset.name.in_(list(granted))))
                           .order_by(Dataset.name))
    return [(row, "rw" if row.group == group else granted[row.name]) for row in rows]


def mounts_for_group(session, data_dir, group: str, pins: dict[str, int] | None = None,
                     key: bytes | None = None) -> list[DatasetMount]:
    """What every workload of ``group`` gets: each dataset the group owns or was granted.

    Files datasets are writable for the owner group and for groups granted read-write;
    git datasets and pinned versions (``pins={"name": 3}`` -> ``v3``) are always read-only.
    A pin of a dataset the group may not use, or of a version that does not exist, raises
    LookupError. ``key`` opens env datasets' values (default: the hub's key from ``data_dir``).
    """
    pins = dict(pins or {})
    mounts = []
    for row, mode in usable_by(session, group):
        if row.kind == "env":
            if key is None:
                from ..keys import hub_key

                key = hub_key(str(data_dir))
            values = {e["key"]: e["value"] for e in open_values(key, row.env_encrypted)}
            mounts.append(DatasetMount(row.name, None, False, env_vars(row.name, values)))
            continue
        pin = pins.pop(row.name, None)
        if pin is not None:
            path = version_dir(data_dir, row.name, pin)
            if row.kind != "files" or not path.is_dir():
                raise LookupError(f"Dataset {row.name} has no version v{pin}")
            mounts.append(DatasetMount(row.name, path, False, version=int(pin)))
            continue
        mounts.append(DatasetMount(row.name, content_dir(data_dir, row), row.kind == "files" and mode == "rw"))
    if pins:
        raise LookupError(f"No such dataset for group {group}: {', '.join(sorted(pins))}")
    return mounts


def upload_root(db_url: str, data_dir: str, group: str, username: str, name: str) -> Path:
    """Where uploads to the area ``dataset:<name>`` go (the tus uploader's resolver): the files of a
    dataset ``group`` owns or was granted read-write. LookupError (404) when the group may not see it,
    PermissionError (403) when it may only read it."""
    from ..store.engine import read_scope

    with read_scope(db_url) as s:
        row = s.get(Dataset, name)
        mode = None if row is None else (usable_by_one(s, row, group) or {}).get("mode")
    if row is None or mode is None:
        raise LookupError(f"No such dataset: {name}")
    if row.kind != "files":
        raise PermissionError(f"Dataset {name} is a {row.kind} dataset: nothing is uploaded into it")
    if mode != "rw":
        raise PermissionError(f"Group {group} may only read dataset {name}")
    return dataset_dir(data_dir, name) / CURRENT


def usable_by_one(session, row: Dataset, group: str) -> dict | None:
    """``{"mode": "rw"|"ro"}`` when ``group`` owns or was granted ``row``, else None."""
    if row.group == group:
        return {"mode": "rw"}
    grant = session.scalars(select(DatasetGrant).where(DatasetGrant.dataset == row.name,
                                                       DatasetGrant.group == group)).first()
    return {"mode": grant.mode} if grant is not None else None
