"""``home``: p50/p99 latency of GET /hub/home for a logged-in user.

Both hubs hold the same population (default 1,000 users, 100 groups, the
measured user in 5 groups); Hubfront also gets the seeders of bench/seed.py.
After a warm-up, each round times requests on a keep-alive session through
each hub's proxy, one to each hub in turn (stock, Hubfront, stock, …; the
other way round the next round), so that both hubs are measured at the same
moments of the machine (``bench.stats.paired``).
"""

from __future__ import annotations

import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from . import hubs
from .population import Population, mirror_groups, populate
from .seed import seed_hubfront
from .stats import Line, ms, paired, percentile, ratio, summary

TARGET = 1.10  # p50 ratio hubfront/stock (issue 27; issue 2 started at 1.5)
TARGET_P99 = 1.25  # p99 ratio hubfront/stock (issue 27)


def add_arguments(parser) -> None:
    g = parser.add_argument_group("home")
    g.add_argument("--home-rounds", type=int, help="A/B rounds (default 5, quick 2)")
    g.add_argument("--home-requests", type=int, help="requests per hub per round (default 200, quick 25)")
    g.add_argument("--home-budget", type=float, default=300,
                   help="seconds of measuring at most; rounds stop early past it (default 300)")


def settings(args) -> dict:
    quick = args.quick
    return {
        "rounds": args.home_rounds or (2 if quick else 5),
        "requests": args.home_requests or (25 if quick else 200),
        "warmup": 10 if quick else 100,
        "budget_s": args.home_budget,
    }


@contextmanager
def populated_pair(args):
    """Both hubs started, populated alike (Hubfront seeded), the measured user logged in on each and its home
    checked: yields ``(hubfront, stock, sessions, info)``; both hubs stop afterwards."""
    pop = Population.make(args.users, args.groups, args.user_groups)
    with tempfile.TemporaryDirectory(prefix="hubfront-bench-") as root:
        with hubs.side_by_side(Path(root)) as (hf, st):
            for hub in (hf, st):
                populate(hub, pop)
            mirrored = mirror_groups(hf, st)
            seeded = seed_hubfront(hf.data_dir, pop)
            sessions = {}
            for hub in (hf, st):
                hub.set_local_password(pop.measured, hubs.USER_PASSWORD)
                sessions[hub] = hub.login(pop.measured, hubs.USER_PASSWORD)
                check_page(hub, sessions[hub], "/hub/home", pop.measured)
            yield hf, st, sessions, {
                "users": len(pop.users), "groups": len(pop.groups) + len(mirrored),
                "measured_user_groups": len(pop.measured_groups), "seeders": seeded,
            }


def run(args) -> str:
    conf = settings(args)
    with populated_pair(args) as (hf, st, sessions, info):
        for hub in (hf, st):
            sample(sessions[hub], "/hub/home", conf["warmup"])
        deadline = time.monotonic() + conf["budget_s"]
        samples = paired(conf["rounds"], st, [hf], lambda hub: once(sessions[hub], "/hub/home"), conf["requests"],
                         deadline)
    hf_s, st_s = samples[hf], samples[st]
    p50 = ratio(percentile(hf_s, 50), percentile(st_s, 50))
    p99 = ratio(percentile(hf_s, 99), percentile(st_s, 99))
    text = (f"home: hubfront={fmt(hf_s)} stock={fmt(st_s)} "
            f"ratio=p50 {p50:.2f}/p99 {p99:.2f} target<={TARGET:.2f} p99<={TARGET_P99:.2f}")
    return Line(text, {
        "hubfront": summary(hf_s), "stock": summary(st_s),
        "ratio": {"p50": p50, "p99": p99}, "target": TARGET, "target_p99": TARGET_P99,
        "ok": p50 <= TARGET and p99 <= TARGET_P99, "settings": conf, **info,
    })


def fmt(samples) -> str:
    return f"p50 {ms(percentile(samples, 50))}/p99 {ms(percentile(samples, 99))}"


def check_page(hub, session, path: str, text: str) -> None:
    """The page measured is what the user sees there, not a login redirect or an error."""
    r = session.get(session.url(path), allow_redirects=False, timeout=30)
    if r.status_code != 200:
        raise RuntimeError(f"{hub.kind}: GET {path} gave {r.status_code}")
    if text not in r.text:
        raise RuntimeError(f"{hub.kind}: {path} does not show {text}")


def once(session, path: str) -> float:
    """Seconds one GET of ``path`` took (a 200, else the benchmark stops)."""
    url = session.url(path)
    t0 = time.perf_counter()
    r = session.get(url, allow_redirects=False, timeout=30)
    elapsed = time.perf_counter() - t0
    if r.status_code != 200:
        raise RuntimeError(f"GET {path} gave {r.status_code}")
    return elapsed


def sample(session, path: str, n: int, deadline: float | None = None) -> list[float]:
    """Seconds each of ``n`` GETs of ``path`` took (fewer once ``deadline`` has passed)."""
    out = []
    for _ in range(n):
        if deadline is not None and time.monotonic() > deadline and out:
            break
        out.append(once(session, path))
    return out
