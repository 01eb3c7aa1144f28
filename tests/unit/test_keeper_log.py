"""A job's capped log when its output arrives in small pieces (the keeper reads whatever the pipe holds):
a compaction reads back the tail it keeps, which once failed the job's supervisor (EBADF)."""

from __future__ import annotations

from hub_ext.services.executors.keeper import CappedLog


def test_small_writes_past_the_cap_keep_the_tail(tmp_path):
    path = tmp_path / "job.log"
    compactions = []
    log = CappedLog(str(path), 100, lambda: compactions.append(1))
    lines = [f"line-{i}\n".encode() for i in range(50)]
    for line in lines:
        log.write(line)
    log.close()
    kept = path.read_bytes()
    assert compactions and 75 <= len(kept) <= 100  # 3/4 of the cap at least, cut at a line start
    assert kept.endswith(b"line-48\nline-49\n") and kept.startswith(b"line-")
    assert log.dropped + len(kept) == sum(map(len, lines))  # offsets still count every byte


def test_one_big_write_keeps_at_least_three_quarters_from_a_line_start(tmp_path):
    path = tmp_path / "job.log"
    log = CappedLog(str(path), 4096, lambda: None)
    data = b"".join(f"line-{i}\n".encode() for i in range(5000))
    log.write(data)
    log.close()
    kept = path.read_bytes()
    assert 3072 <= len(kept) <= 4096 and kept.startswith(b"line-") and data.endswith(kept)
