"""Percentiles, A/B alternation and the result line every benchmark prints."""

from __future__ import annotations

import math
import time
from typing import Callable, Sequence


class Line(str):
    """A benchmark's printed line that also carries its numbers for the JSON results."""

    data: dict

    def __new__(cls, text: str, data: dict | None = None):
        obj = super().__new__(cls, text)
        obj.data = data or {}
        return obj


def percentile(samples: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100), linear between closest ranks."""
    if not samples:
        raise ValueError("no samples")
    xs = sorted(samples)
    pos = (len(xs) - 1) * q / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def ratio(a: float, b: float) -> float:
    return a / b if b else float("inf")


def alternate(rounds: int, contenders: Sequence, measure: Callable[[object, int], list[float]]) -> dict:
    """Run ``measure(contender, round)`` for every contender in every round, A/B then B/A.

    Alternating the order each round spreads drift (other load on the machine,
    caches, the database growing) over both sides. Returns samples per contender.
    """
    samples = {id(c): [] for c in contenders}
    for r in range(rounds):
        order = contenders if r % 2 == 0 else list(reversed(contenders))
        for c in order:
            samples[id(c)].extend(measure(c, r))
    return {c: samples[id(c)] for c in contenders}


def paired(rounds: int, base, others: Sequence, one: Callable[[object], float], n: int,
           deadline: float | None = None) -> dict:
    """Time ``n`` calls of ``one(other)`` per other contender per round, each right beside a call of
    ``one(base)`` (base, other; the next round other, base): every sample of a side has one of the base beside
    it in time, so what moves the machine for a second or two (another load, a core slowing down) moves both
    alike, and every call follows one to the other side, so neither finds the CPU's caches warm from itself.
    Stops early once ``deadline`` (``time.monotonic()``) has passed. Returns samples per contender."""
    samples = {id(c): [] for c in (base, *others)}
    for r in range(rounds):
        for _ in range(n):
            if deadline is not None and time.monotonic() > deadline and samples[id(base)]:
                break
            for other in others:
                for c in ((base, other) if r % 2 == 0 else (other, base)):
                    samples[id(c)].append(one(c))
    return {c: samples[id(c)] for c in (base, *others)}


def timed(fn: Callable[[], object]) -> float:
    """Seconds one call of ``fn`` takes (perf_counter)."""
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}ms"


def summary(samples: Sequence[float]) -> dict:
    return {"n": len(samples), "p50_s": percentile(samples, 50), "p99_s": percentile(samples, 99),
            "mean_s": sum(samples) / len(samples), "min_s": min(samples), "max_s": max(samples)}


def machine_cpu() -> tuple[float, float]:
    """CPU seconds the whole machine has been busy so far (every process and the kernel's own work), and
    seconds its host took from it (steal, on a virtual machine): what the processes of a bench did not use
    of that busy time was used by others, whose noise a figure then carries."""
    import psutil

    t = psutil.cpu_times()
    busy = t.user + t.nice + t.system + getattr(t, "irq", 0.0) + getattr(t, "softirq", 0.0)  # guest is in user
    return busy, getattr(t, "steal", 0.0)
