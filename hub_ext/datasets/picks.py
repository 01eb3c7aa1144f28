"""Datasets a job or a notebook picks: ``["imagenet", "labels@v3"]`` (a name, or a files dataset's version).

Every dataset a group may use is mounted into its workloads anyway; a pick says the workload
needs it (refused at submit or launch when the group may not use it) and ``name@v<N>`` pins a
read-only version in place of the current files. Jobs and recurring jobs keep their picks in
their ``datasets`` column (a JSON list, migration 0008), notebooks in their launch options;
``pins_of`` gives what the mounts need.
"""

from __future__ import annotations

import re

from sqlalchemy import and_, bindparam, or_, select

from ..bodies import BodyError
from ..store.engine import read_connection, read_scope
from ..store.models_storage import Dataset, DatasetGrant, DatasetVersion
from .records import usable_by

PICK = re.compile(r"^([a-z](?:[a-z0-9-]{0,61}[a-z0-9])?)(?:@v([1-9][0-9]{0,8}))?$")
MAX_PICKS = 50


def check_syntax(picks: list[str]) -> list[str]:
    """``name`` or ``name@v<N>``, each dataset once (ValueError for the field validator)."""
    if len(picks) > MAX_PICKS:
        raise ValueError(f"at most {MAX_PICKS} datasets")
    seen = set()
    for pick in picks:
        m = PICK.match(pick)
        if not m:
            raise ValueError(f"{pick!r} is not a dataset name, or name@v<version>")
        if m.group(1) in seen:
            raise ValueError(f"dataset {m.group(1)} is picked twice")
        seen.add(m.group(1))
    return picks


def pins_of(picks) -> dict[str, int]:
    """``{"labels": 3}`` from picks."""
    out = {}
    for pick in picks or ():
        m = PICK.match(pick)
        if m and m.group(2):
            out[m.group(1)] = int(m.group(2))
    return out


def check_picks(db_url: str, group: str, picks: list[str] | None) -> None:
    """Each pick is a dataset ``group`` may use, and each pinned version exists (BodyError on ``datasets``)."""
    if not picks:
        return
    with read_scope(db_url) as s:
        usable = {row.name: row for row, _mode in usable_by(s, group)}
        problems = []
        for pick in picks:
            name, _, version = pick.partition("@v")
            row = usable.get(name)
            if row is None:
                problems.append(f"no dataset {name} for group {group}")
            elif version and row.kind != "files":
                problems.append(f"{name} is a {row.kind} dataset: only files datasets have versions")
            elif version and s.scalars(select(DatasetVersion).where(
                    DatasetVersion.dataset == name, DatasetVersion.version == int(version))).first() is None:
                problems.append(f"dataset {name} has no version v{version}")
    if problems:
        raise BodyError({"datasets": "; ".join(problems)})


_GROUP = bindparam("group")
_CHOICES = (  # built once (forms are pages): a grant is one per dataset and group
    select(Dataset.name, Dataset.kind, Dataset.group, DatasetGrant.mode, DatasetVersion.version)
    .outerjoin(DatasetGrant, and_(DatasetGrant.dataset == Dataset.name, DatasetGrant.group == _GROUP))
    .outerjoin(DatasetVersion, DatasetVersion.dataset == Dataset.name)
    .where(or_(Dataset.group == _GROUP, DatasetGrant.id.is_not(None)))
    .order_by(Dataset.name, DatasetVersion.version.desc()))


def choices(db_url: str, group: str) -> list[dict]:
    """What the job and spawn forms offer: ``[{name, kind, versions: [3, 2, 1]}]`` for each dataset the group may use
    (those it owns, mode "rw", and those granted to it, the grant's mode), by name: one query."""
    out: dict[str, dict] = {}
    with read_connection(db_url) as conn:
        for name, kind, owner, mode, version in conn.execute(_CHOICES, {"group": group}):
            row = out.get(name)
            if row is None:
                row = out[name] = {"name": name, "kind": kind, "mode": "rw" if owner == group else mode,
                                   "versions": []}
            if version is not None:
                row["versions"].append(version)
    return list(out.values())


def picked(picks) -> dict[str, str]:
    """``{name: "" | "3"}`` from picks (to check the form's boxes again)."""
    out = {}
    for pick in picks or ():
        name, _, version = str(pick).partition("@v")
        out[name] = version
    return out
