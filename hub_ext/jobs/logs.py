"""A job's output, persisted by the runner in the portal DB, so it outlives the process or pod.

Offsets count every byte the job wrote, so a reader that asks "from byte N on"
gets the same answer however much was dropped before it. Each job keeps at
most ``cap`` bytes: past it the oldest chunks go, and at least three quarters
of the cap, the latest output, stays.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, func, select, update

from ..store import session_scope
from ..store.engine import read_scope
from ..store.models_jobs import Job, JobLogChunk

CHUNK = 256 * 1024  # bytes per stored row, at most


@dataclass(frozen=True)
class Piece:
    data: bytes
    start: int  # offset of data[0]; greater than asked when older output was dropped
    next: int  # the offset to ask from next
    dropped: int  # bytes before ``start`` that are no longer kept


def append(session, job_id: int, offset: int, data: bytes, cap: int) -> None:
    """Store ``data`` (written by the job from byte ``offset`` on) and trim the job's log to ``cap``."""
    for i in range(0, len(data), CHUNK):
        session.add(JobLogChunk(job_id=job_id, offset=offset + i, data=data[i:i + CHUNK]))
    session.flush()
    end = offset + len(data)
    session.execute(update(Job).where(Job.id == job_id).values(log_size=end))
    kept = session.scalar(select(func.coalesce(func.sum(func.length(JobLogChunk.data)), 0))
                          .where(JobLogChunk.job_id == job_id))
    if kept <= cap:
        return
    # drop whole chunks, oldest first, while what stays is still over the cap
    rows = session.execute(select(JobLogChunk.id, func.length(JobLogChunk.data))
                           .where(JobLogChunk.job_id == job_id).order_by(JobLogChunk.offset)).all()
    drop = []
    for chunk_id, size in rows[:-1]:
        if kept <= cap:
            break
        drop.append(chunk_id)
        kept -= size
    if drop:
        session.execute(delete(JobLogChunk).where(JobLogChunk.id.in_(drop)))


def read(db_url: str, job_id: int, offset: int = 0, limit: int = 4 * 2**20) -> Piece:
    """Output from ``offset`` on (at most about ``limit`` bytes)."""
    with read_scope(db_url) as s:
        rows = s.execute(
            select(JobLogChunk.offset, JobLogChunk.data).where(
                JobLogChunk.job_id == job_id,
                JobLogChunk.offset + func.length(JobLogChunk.data) > offset,
            ).order_by(JobLogChunk.offset)
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


def size(db_url: str, job_id: int) -> int:
    with read_scope(db_url) as s:
        return s.scalar(select(Job.log_size).where(Job.id == job_id)) or 0
