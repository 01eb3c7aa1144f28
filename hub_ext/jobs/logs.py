"""A workload's output (a job's, a deployment's, an image build's, an app's), persisted by the
runner in the portal DB, so it outlives the process or pod.

Offsets count every byte the workload wrote, so a reader that asks "from byte N on"
gets the same answer however much was dropped before it. Each job keeps at
most ``cap`` bytes: past it the oldest chunks go, and at least three quarters
of the cap, the latest output, stays.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, func, select, update

from ..store.engine import read_scope
from ..store.models_apps import App, AppLogChunk
from ..store.models_deployments import Deployment, DeploymentLogChunk
from ..store.models_images import ImageBuild, ImageBuildLogChunk
from ..store.models_jobs import Job, JobLogChunk

CHUNK = 256 * 1024  # bytes per stored row, at most


@dataclass(frozen=True)
class Owner:
    """Whose output a log table holds: the chunk model, its key column, and the owner's size column."""

    chunk: type
    key: str  # the chunk's column naming the owner
    model: type
    size: object  # the owner's column of bytes written


JOBS = Owner(JobLogChunk, "job_id", Job, Job.log_size)
DEPLOYMENTS = Owner(DeploymentLogChunk, "deployment_id", Deployment, Deployment.log_size)
BUILDS = Owner(ImageBuildLogChunk, "build_id", ImageBuild, ImageBuild.log_size)
APPS = Owner(AppLogChunk, "app_id", App, App.log_size)


@dataclass(frozen=True)
class Piece:
    data: bytes
    start: int  # offset of data[0]; greater than asked when older output was dropped
    next: int  # the offset to ask from next
    dropped: int  # bytes before ``start`` that are no longer kept


def append(session, job_id, offset: int, data: bytes, cap: int, owner: Owner = JOBS) -> None:
    """Store ``data`` (written from byte ``offset`` on) and trim the owner's log to ``cap``."""
    chunk, key = owner.chunk, getattr(owner.chunk, owner.key)
    for i in range(0, len(data), CHUNK):
        session.add(chunk(**{owner.key: job_id}, offset=offset + i, data=data[i:i + CHUNK]))
    session.flush()
    end = offset + len(data)
    session.execute(update(owner.model).where(owner.model.id == job_id).values({owner.size: end}))
    kept = session.scalar(select(func.coalesce(func.sum(func.length(chunk.data)), 0)).where(key == job_id))
    if kept <= cap:
        return
    # drop whole chunks, oldest first, while what stays is still over the cap
    rows = session.execute(select(chunk.id, func.length(chunk.data)).where(key == job_id)
                           .order_by(chunk.offset)).all()
    drop = []
    for chunk_id, size in rows[:-1]:
        if kept <= cap:
            break
        drop.append(chunk_id)
        kept -= size
    if drop:
        session.execute(delete(chunk).where(chunk.id.in_(drop)))


def read(db_url: str, job_id, offset: int = 0, limit: int = 4 * 2**20, owner: Owner = JOBS) -> Piece:
    """Output from ``offset`` on (at most about ``limit`` bytes)."""
    chunk = owner.chunk
    with read_scope(db_url) as s:
        rows = s.execute(
            select(chunk.offset, chunk.data).where(
                getattr(chunk, owner.key) == job_id,
                chunk.offset + func.length(chunk.data) > offset,
            ).order_by(chunk.offset)
        ).all()
    if not rows:
        return Piece(b"", offset, offset, 0)
    first = rows[0][0]
    start = max(offset, first)
    parts, size = [], 0
    for chunk_offset, data in rows:
        part = data[max(0, start - chunk_offset):] if not parts else data
        parts.append(part)
        size += len(part)
        if size >= limit:
            break
    data = b"".join(parts)
    return Piece(data, start, start + len(data), max(0, start - offset))


def size(db_url: str, job_id, owner: Owner = JOBS) -> int:
    with read_scope(db_url) as s:
        return s.scalar(select(owner.size).where(owner.model.id == job_id)) or 0
