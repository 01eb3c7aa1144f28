"""Artifacts: the files a job wrote under ``./artifacts``, kept with the job.

Collected once, when the job has ended, within limits on the total size and
the number of files. What does not fit is left out, and the job's page says
what and why; the job's own outcome does not change.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field

from ..isolation import fdtree, safefs
from ..policy import format_memory


@dataclass
class Collected:
    files: list[tuple[str, bytes]] = field(default_factory=list)
    left_out: list[str] = field(default_factory=list)
    reasons: set[str] = field(default_factory=set)

    def note(self, max_bytes: int, max_files: int) -> str:
        if not self.left_out:
            return ""
        why = []
        if "size" in self.reasons:
            why.append(f"over the {format_memory(max_bytes)} limit")
        if "count" in self.reasons:
            why.append(f"over the {max_files}-file limit")
        if "kind" in self.reasons:
            why.append("not regular files")
        shown = ", ".join(self.left_out[:10]) + (f" and {len(self.left_out) - 10} more" if len(self.left_out) > 10 else "")
        return f"{len(self.left_out)} file(s) not kept ({'; '.join(why)}): {shown}"


def collect(root: str, max_bytes: int, max_files: int) -> Collected:
    """Read the regular files under ``root`` (links are not followed), smallest paths first.

    Runs with the runner's privileges over a directory the job's account owns,
    so every open refuses symbolic links: a job cannot make the runner read a
    file outside its own ``artifacts`` directory.
    """
    out = Collected()
    try:
        top = safefs.open_dir(root)
    except OSError:  # missing, or a link
        return out
    try:
        _collect(top, out, max_bytes, max_files)
    finally:
        os.close(top)
    return out


def _collect(top: int, out: Collected, max_bytes: int, max_files: int) -> None:
    total = 0
    for path_fd, pst, rel in fdtree.iter_tree(top):
        if stat.S_ISDIR(pst.st_mode):
            continue
        fd = fdtree.reopen_read(path_fd, pst)
        if fd is None:  # a link, a special file, a file with another account's name elsewhere
            out.left_out.append(rel)
            out.reasons.add("kind")
            continue
        with os.fdopen(fd, "rb") as f:
            st = os.fstat(f.fileno())
            if len(out.files) >= max_files:
                out.left_out.append(rel)
                out.reasons.add("count")
                continue
            if total + st.st_size > max_bytes:
                out.left_out.append(rel)
                out.reasons.add("size")
                continue
            data = f.read(max_bytes - total + 1)
            if total + len(data) > max_bytes:  # it grew meanwhile
                out.left_out.append(rel)
                out.reasons.add("size")
                continue
            total += len(data)
            out.files.append((rel, data))


NOTE_MEMBER = ".hubfront-left-out.json"


def to_tar(collected: Collected, out) -> None:
    import io
    import json
    import tarfile

    with tarfile.open(fileobj=out, mode="w|") as tar:
        for rel, data in collected.files:
            info = tarfile.TarInfo(rel)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        note = json.dumps({"left_out": collected.left_out, "reasons": sorted(collected.reasons)}).encode()
        info = tarfile.TarInfo(NOTE_MEMBER)
        info.size = len(note)
        tar.addfile(info, io.BytesIO(note))


def from_tar(blob: bytes, max_bytes: int, max_files: int) -> Collected:
    """What a collecting child sent, checked again: it ran as the job's account, so it is not trusted."""
    import io
    import json
    import posixpath
    import tarfile

    out = Collected()
    total = 0
    try:
        with tarfile.open(fileobj=io.BytesIO(blob), mode="r|") as tar:
            for member in tar:
                name = posixpath.normpath(member.name)
                if not member.isfile() or name.startswith(("/", "..")) or "\0" in name or len(name) > 1024:
                    continue
                data = tar.extractfile(member).read()
                if name == NOTE_MEMBER:
                    note = json.loads(data)
                    out.left_out.extend(str(n) for n in note.get("left_out", [])[:10000])
                    out.reasons.update(r for r in note.get("reasons", []) if r in ("size", "count", "kind"))
                    continue
                if len(out.files) >= max_files:
                    out.left_out.append(name)
                    out.reasons.add("count")
                elif total + len(data) > max_bytes:
                    out.left_out.append(name)
                    out.reasons.add("size")
                else:
                    total += len(data)
                    out.files.append((name, data))
    except (tarfile.TarError, ValueError, OSError):
        out.left_out.append("(the rest: the collection was cut short)")
        out.reasons.add("kind")
    return out


if __name__ == "__main__":  # run as the job's OS account: python -m hub_ext.jobs.artifacts ROOT MAX_BYTES MAX_FILES
    import sys

    to_tar(collect(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])), sys.stdout.buffer)
